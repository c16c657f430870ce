//! Wallet views (E3, U1): `/v1/me/wallet`, `/v1/me/wallet/history` and the public
//! `/v1/accounts/{address}/pmc`, over a mirror filled the way the indexer and relayer fill it.

// Helpers outside #[test] functions panic on purpose: a failed step fails the test.
#![allow(clippy::unwrap_used)]

use alloy::primitives::Address;
use chrono::NaiveDate;
use posmul_api::testing::{TestApp, TestUser, spawn_app};
use posmul_core::{WalletAddress, money::Wei};
use posmul_economy::{
    credits::{self, CreditRequest, CreditSource},
    ledger::{Reference, ReferenceKind},
};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

const CHAIN: i64 = 31337;
const ADDR: &str = "0x00000000000000000000000000000000000000a1";
const OTHER: &str = "0x00000000000000000000000000000000000000b2";
const ZERO: &str = "0x0000000000000000000000000000000000000000";

/// How responses show an address: EIP-55 checksummed.
fn checksummed(address: &str) -> String {
    address.parse::<Address>().unwrap().to_checksum(None)
}

fn pmc(n: &str) -> Wei {
    Wei::parse_pmc(n).unwrap()
}

fn bytes(address: &str) -> Vec<u8> {
    address
        .parse::<WalletAddress>()
        .unwrap()
        .as_slice()
        .to_vec()
}

fn tx_hash(n: u8) -> Vec<u8> {
    let mut h = vec![0u8; 32];
    h[31] = n;
    h
}

async fn credit(db: &PgPool, user: Uuid, amount: Wei, key: &str) {
    let mut tx = db.begin().await.unwrap();
    credits::issue(
        &mut tx,
        CreditRequest {
            user_id: user,
            source: CreditSource::PredictionWin,
            amount,
            day: NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
            reference: Reference {
                kind: ReferenceKind::Prediction,
                id: Uuid::from_u128(42),
            },
            idempotency_key: key.to_owned(),
            wave_eligible_at: None,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// The indexer's cursor at block 120, finalized up to 100.
/// An internal ledger movement between two users (no route lets a citizen send PMP, E5).
async fn internal_transfer(db: &PgPool, from: Uuid, to: Uuid, amount: i64) {
    let mut tx = db.begin().await.unwrap();
    posmul_economy::ledger::transfer_between_open_accounts(
        &mut tx,
        posmul_economy::ledger::TransferRequest {
            from: posmul_economy::ledger::Account::user(from),
            to: posmul_economy::ledger::Account::user(to),
            amount: posmul_core::money::Pmp::new(amount),
            kind: posmul_economy::ledger::TransferKind::UserTransfer,
            reference: posmul_economy::ledger::Reference {
                kind: posmul_economy::ledger::ReferenceKind::User,
                id: to,
            },
            idempotency_key: None,
            memo: None,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

async fn index_chain(db: &PgPool) {
    sqlx::query!(
        "INSERT INTO chain.cursors (chain_id, pmc, money_wave, donation_hub, deployment_block, indexed_block, finalized_block, head_block)
         VALUES ($1, $2, $2, $2, 1, 120, 100, 120)",
        CHAIN,
        &[0xEE_u8; 20][..],
    )
    .execute(db)
    .await
    .unwrap();
}

async fn mirror_transfer(db: &PgPool, n: u8, block: i64, from: &str, to: &str, value: Wei) {
    sqlx::query!(
        "INSERT INTO chain.pmc_transfers (chain_id, block_number, block_hash, tx_hash, log_index, finalized, block_time, from_address, to_address, value)
         VALUES ($1, $2, $3, $3, 0, $2::BIGINT <= 100, now(), $4, $5, $6)",
        CHAIN,
        block,
        tx_hash(n),
        bytes(from),
        bytes(to),
        value as _,
    )
    .execute(db)
    .await
    .unwrap();
    // The balances as the indexer keeps them: received minus sent, no row for the zero address.
    for (address, sign) in [(to, 1), (from, -1)] {
        if address == ZERO {
            continue;
        }
        sqlx::query!(
            "WITH changed AS (
                 UPDATE chain.pmc_balances SET balance = balance + $3::NUMERIC * $4::INT, last_block = $5
                  WHERE chain_id = $1 AND address = $2 RETURNING address)
             INSERT INTO chain.pmc_balances (chain_id, address, balance, last_block)
             SELECT $1::BIGINT, $2::BYTEA, $3::NUMERIC * $4::INT, $5::BIGINT
              WHERE NOT EXISTS (SELECT 1 FROM changed)",
            CHAIN,
            bytes(address),
            value as _,
            sign,
            block,
        )
        .execute(db)
        .await
        .unwrap();
    }
}

async fn link(app: &TestApp, user: &TestUser, address: &str) {
    sqlx::query!(
        "INSERT INTO auth.wallets (address, user_id) VALUES ($1, $2)",
        bytes(address),
        user.user_id,
    )
    .execute(&app.db)
    .await
    .unwrap();
}

async fn get(app: &TestApp, user: Option<&TestUser>, path: &str) -> (u16, Value) {
    let mut req = app.client.get(app.url(path));
    if let Some(u) = user {
        req = req.bearer_auth(&u.access_token);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn a_new_citizens_wallet_holds_the_signup_grant_and_nothing_on_chain(pool: PgPool) {
    let app = spawn_app(pool).await;
    let alice = app.register_user("alice@example.org").await;
    let (status, w) = get(&app, Some(&alice), "/v1/me/wallet").await;
    assert_eq!(status, 200, "{w}");
    assert_eq!(w["pmp"], 1000);
    assert_eq!(w["pmc_pending"], json!({ "wei": "0", "pmc": "0" }));
    assert_eq!(w["pmc_claimable"], json!({ "wei": "0", "pmc": "0" }));
    assert_eq!(w["wallets"], json!([]));
    assert_eq!(
        w["level"],
        json!({ "level": 2, "pmp": 1000, "pmc_whole": "0" })
    );
    assert_eq!(get(&app, None, "/v1/me/wallet").await.0, 401);
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u1_the_wallet_shows_credits_chain_balance_claimable_and_the_level(pool: PgPool) {
    let app = spawn_app(pool).await;
    let alice = app.register_user("alice@example.org").await;
    let bob = app.register_user("bob@example.org").await;
    link(&app, &alice, ADDR).await;
    index_chain(&app.db).await;
    // Alice earned 300.5 + 200 PMC of credits; 200 went into wave 0 (published), 120 of it was
    // claimed (a mint to her address at block 90), then she received 30 more at block 110.
    credit(&app.db, alice.user_id, pmc("300.5"), "c1").await;
    credit(&app.db, alice.user_id, pmc("200"), "c2").await;
    credit(&app.db, bob.user_id, pmc("7"), "c3").await;
    let c2 = sqlx::query_scalar!("SELECT id FROM credits.credits WHERE idempotency_key = 'c2'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    sqlx::query!(
        "INSERT INTO relayer.waves (day, date, chain_id, money_wave, status, amount, total_cumulative, cap, budget, root, allocation_hash, leaf_count, credit_count, tx_hash, block_number)
         VALUES (0, '2026-11-26', $1, $2, 'mined', $3, $3, $3, $3, $4, $4, 1, 1, $4, 80)",
        CHAIN,
        &[0xEE_u8; 20][..],
        pmc("200") as _,
        tx_hash(99),
    )
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query!(
        "INSERT INTO relayer.wave_leaves (day, address, cumulative, increment, tree_index) VALUES (0, $1, $2, $2, 0)",
        bytes(ADDR),
        pmc("200") as _,
    )
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query!(
        "INSERT INTO relayer.wave_credits (credit_id, day, address, amount) VALUES ($1, 0, $2, $3)",
        c2,
        bytes(ADDR),
        pmc("200") as _,
    )
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query!(
        "UPDATE credits.credits SET state = 'in_wave', wave_day = day WHERE id = $1",
        c2,
    )
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query!(
        "INSERT INTO chain.wave_claims (chain_id, block_number, block_hash, tx_hash, log_index, finalized, block_time, account, amount, cumulative_amount)
         VALUES ($1, 90, $2, $2, 1, true, now(), $3, $4, $4)",
        CHAIN,
        tx_hash(1),
        bytes(ADDR),
        pmc("120") as _,
    )
    .execute(&app.db)
    .await
    .unwrap();
    mirror_transfer(&app.db, 1, 90, ZERO, ADDR, pmc("120")).await;
    mirror_transfer(&app.db, 3, 95, ZERO, OTHER, pmc("30")).await;
    mirror_transfer(&app.db, 2, 110, OTHER, ADDR, pmc("30")).await;

    let (status, w) = get(&app, Some(&alice), "/v1/me/wallet").await;
    assert_eq!(status, 200, "{w}");
    assert_eq!(w["pmp"], 1000);
    assert_eq!(
        w["pmc_pending"],
        json!({ "wei": "300500000000000000000", "pmc": "300.5" })
    );
    assert_eq!(w["credits"]["in_wave"]["pmc"], "200");
    assert_eq!(w["credits"]["total"]["pmc"], "500.5");
    assert_eq!(
        w["pmc_claimable"]["pmc"], "80",
        "entitled 200 in the published wave, 120 claimed"
    );
    let wallet = &w["wallets"][0];
    assert_eq!(wallet["address"], checksummed(ADDR));
    assert_eq!(wallet["claimable"]["pmc"], "80");
    assert_eq!(wallet["onchain"]["balance"]["pmc"], "150");
    assert_eq!(wallet["onchain"]["valid_at_block"], 120);
    assert_eq!(
        wallet["onchain"]["finalized_balance"]["pmc"], "120",
        "the block-110 transfer is not final"
    );
    assert_eq!(wallet["onchain"]["finalized_block"], 100);
    // PMC counted: 150 held + (500.5 credited − 120 claimed) = 530.5 → 530 whole.
    assert_eq!(
        w["level"],
        json!({ "level": 2, "pmp": 1000, "pmc_whole": "530" })
    );

    // Bob sees only his own credits.
    let (_, b) = get(&app, Some(&bob), "/v1/me/wallet").await;
    assert_eq!(b["credits"]["total"]["pmc"], "7");
    assert_eq!(b["wallets"], json!([]));
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn m8_a_split_credit_shows_its_rest_pending_and_its_part_in_a_wave(pool: PgPool) {
    let app = spawn_app(pool).await;
    let alice = app.register_user("alice@example.org").await;
    link(&app, &alice, ADDR).await;
    // 300 PMC earned; wave 0 could carry only 120 of it, the rest waits for the next day.
    credit(&app.db, alice.user_id, pmc("300"), "big").await;
    let id = sqlx::query_scalar!("SELECT id FROM credits.credits WHERE idempotency_key = 'big'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    sqlx::query!(
        "INSERT INTO relayer.waves (day, date, chain_id, money_wave, status, amount, total_cumulative, cap, budget, root, allocation_hash, leaf_count, credit_count)
         VALUES (0, '2026-11-26', $1, $2, 'built', $3, $3, $3, $3, $4, $4, 1, 1)",
        CHAIN,
        &[0xEE_u8; 20][..],
        pmc("120") as _,
        tx_hash(99),
    )
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query!(
        "INSERT INTO relayer.wave_credits (credit_id, day, address, amount) VALUES ($1, 0, $2, $3)",
        id,
        bytes(ADDR),
        pmc("120") as _,
    )
    .execute(&app.db)
    .await
    .unwrap();

    let (status, w) = get(&app, Some(&alice), "/v1/me/wallet").await;
    assert_eq!(status, 200, "{w}");
    assert_eq!(w["pmc_pending"]["pmc"], "180");
    assert_eq!(w["credits"]["pending"]["pmc"], "180");
    assert_eq!(w["credits"]["in_wave"]["pmc"], "120");
    assert_eq!(w["credits"]["claimed"]["pmc"], "0");
    assert_eq!(w["credits"]["total"]["pmc"], "300");
    let (_, h) = get(&app, Some(&alice), "/v1/me/wallet/history").await;
    let line = &h["items"][0];
    assert_eq!(line["currency"], "pmc", "{h}");
    assert_eq!(line["pmc_amount"]["pmc"], "300");
    assert_eq!(line["credit_state"], "pending");
    assert_eq!(line["pmc_in_wave"]["pmc"], "120");
    assert_eq!(line["wave_day"], Value::Null);
    assert_eq!(h["items"][1]["pmc_in_wave"], Value::Null, "a PMP line");
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn the_wallet_history_merges_pmp_and_pmc_page_by_page(pool: PgPool) {
    let app = spawn_app(pool).await;
    let alice = app.register_user("alice@example.org").await;
    let bob = app.register_user("bob@example.org").await;
    for i in 0..3 {
        credit(
            &app.db,
            alice.user_id,
            pmc(&format!("{}.25", i + 1)),
            &format!("k{i}"),
        )
        .await;
        internal_transfer(&app.db, alice.user_id, bob.user_id, 10 + i).await;
    }
    let mut seen = Vec::new();
    let mut path = "/v1/me/wallet/history?limit=3".to_owned();
    loop {
        let (status, page) = get(&app, Some(&alice), &path).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/me/wallet/history?limit=3&cursor={c}"),
            None => break,
        }
    }
    let summary: Vec<String> = seen
        .iter()
        .map(|e| match e["currency"].as_str().unwrap() {
            "pmp" => format!("pmp {}", e["pmp_amount"]),
            _ => format!("pmc {}", e["pmc_amount"]["pmc"].as_str().unwrap()),
        })
        .collect();
    assert_eq!(
        summary,
        [
            "pmp -12", "pmc 3.25", "pmp -11", "pmc 2.25", "pmp -10", "pmc 1.25", "pmp 1000"
        ],
        "newest first, every entry exactly once"
    );
    assert_eq!(seen[1]["kind"], "prediction_win");
    assert_eq!(seen[1]["credit_state"], "pending");
    assert_eq!(seen[1]["reference"]["kind"], "prediction");
    assert_eq!(
        seen[0]["counter_account"]["reference_id"],
        json!(bob.user_id)
    );

    let (_, bobs) = get(&app, Some(&bob), "/v1/me/wallet/history").await;
    assert_eq!(
        bobs["items"].as_array().unwrap().len(),
        4,
        "bob: the grant and three receipts, no credits"
    );
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn an_explorer_reads_an_addresss_balance_transfers_and_donations(pool: PgPool) {
    let app = spawn_app(pool).await;
    let path = |suffix: &str| {
        format!(
            "/v1/accounts/{}/pmc{suffix}",
            ADDR.to_uppercase().replacen("0X", "0x", 1)
        )
    };

    // Before the indexer runs: no balance, empty lists.
    let (status, before) = get(&app, None, &path("")).await;
    assert_eq!(status, 200, "{before}");
    assert_eq!(before["onchain"], Value::Null);
    assert_eq!(before["transfers"]["items"], json!([]));

    index_chain(&app.db).await;
    mirror_transfer(&app.db, 1, 90, ZERO, ADDR, pmc("1000")).await;
    for n in 2..7u8 {
        mirror_transfer(&app.db, n, 100 + i64::from(n), ADDR, OTHER, pmc("0.5")).await;
    }
    mirror_transfer(&app.db, 7, 115, ADDR, ADDR, pmc("1")).await;
    sqlx::query!(
        "INSERT INTO chain.donations (chain_id, block_number, block_hash, tx_hash, log_index, finalized, block_time, recipient_id, donor, beneficiary, amount, memo_hash)
         VALUES ($1, 116, $2, $2, 3, false, now(), 12, $3, $4, $5, $2)",
        CHAIN,
        tx_hash(8),
        bytes(ADDR),
        bytes(OTHER),
        pmc("100") as _,
    )
    .execute(&app.db)
    .await
    .unwrap();

    let (status, view) = get(&app, None, &path("")).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["address"], checksummed(ADDR));
    assert_eq!(
        view["onchain"]["balance"],
        json!({ "wei": "997500000000000000000", "pmc": "997.5" })
    );
    assert_eq!(view["onchain"]["valid_at_block"], 120);
    assert_eq!(view["onchain"]["finalized_balance"]["pmc"], "1000");
    let transfers = view["transfers"]["items"].as_array().unwrap();
    assert_eq!(transfers.len(), 7, "a self-transfer is listed once");
    assert_eq!(transfers[0]["direction"], "self");
    assert_eq!(transfers[1]["direction"], "out");
    assert_eq!(transfers[6]["direction"], "in");
    assert_eq!(transfers[6]["from"], ZERO);
    assert_eq!(transfers[1]["to"], checksummed(OTHER));
    assert_eq!(transfers[6]["finalized"], true);
    let donation = &view["donations"]["items"][0];
    assert_eq!(donation["role"], "donor");
    assert_eq!(donation["donor"], checksummed(ADDR));
    assert_eq!(donation["beneficiary"], checksummed(OTHER));
    assert_eq!(donation["recipient_id"], "12");
    assert_eq!(donation["amount"]["pmc"], "100");

    // The beneficiary sees the same donation; pages of 3 cover the 5 transfers of OTHER.
    let (_, other) = get(&app, None, &format!("/v1/accounts/{OTHER}/pmc/donations")).await;
    assert_eq!(other["items"][0]["role"], "beneficiary");
    let mut blocks = Vec::new();
    let mut next = format!("/v1/accounts/{OTHER}/pmc/transfers?limit=3");
    loop {
        let (status, page) = get(&app, None, &next).await;
        assert_eq!(status, 200, "{page}");
        blocks.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["block_number"].as_i64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => next = format!("/v1/accounts/{OTHER}/pmc/transfers?limit=3&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(blocks, vec![106, 105, 104, 103, 102]);

    for bad in [
        "0x123",
        "not-an-address",
        "0xzz00000000000000000000000000000000000000",
    ] {
        let (status, problem) = get(&app, None, &format!("/v1/accounts/{bad}/pmc")).await;
        assert_eq!(status, 422, "{bad}: {problem}");
    }
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn an_address_in_a_request_parses_in_any_case_and_every_reply_shows_it_checksummed(
    pool: PgPool,
) {
    let app = spawn_app(pool).await;
    index_chain(&app.db).await;
    const CHECKSUMMED: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
    let lower = CHECKSUMMED.to_lowercase();
    let upper = format!("0x{}", &CHECKSUMMED[2..].to_uppercase());
    // Mixed case that is not the checksum: a path is not checked against it.
    let mixed = format!("0x{}{}", &lower[2..22], &upper[22..]);
    let alice = app.register_user("alice@example.org").await;
    link(&app, &alice, &lower).await;
    mirror_transfer(&app.db, 1, 90, ZERO, &lower, pmc("5")).await;
    mirror_transfer(&app.db, 2, 91, &upper, OTHER, pmc("2")).await;

    let (status, w) = get(&app, Some(&alice), "/v1/me/wallet").await;
    assert_eq!(status, 200, "{w}");
    assert_eq!(w["wallets"][0]["address"], CHECKSUMMED);
    for asked in [lower.as_str(), upper.as_str(), mixed.as_str(), CHECKSUMMED] {
        let (status, view) = get(&app, None, &format!("/v1/accounts/{asked}/pmc")).await;
        assert_eq!(status, 200, "{asked}: {view}");
        assert_eq!(view["address"], CHECKSUMMED, "{asked}");
        assert_eq!(view["onchain"]["balance"]["pmc"], "3", "{asked}");
        let transfers = &view["transfers"]["items"];
        assert_eq!(transfers[0]["from"], CHECKSUMMED, "{asked}");
        assert_eq!(transfers[0]["to"], checksummed(OTHER), "{asked}");
        assert_eq!(transfers[1]["to"], CHECKSUMMED, "{asked}");
    }
}
