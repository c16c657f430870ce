//! `GET /v1/me/pmc/claim` and `POST /v1/me/pmc/claim-for-me` (docs/DESIGN.md M5) over a
//! wave stored the way the relayer stores it (`posmul_relayer::wave`), on a fresh database.

use alloy::primitives::{Address, B256, U256};
use posmul_api::testing::{TestApp, TestUser, spawn_app};
use posmul_core::{
    WalletAddress,
    merkle::{self, StandardMerkleTree},
    money::Wei,
};
use posmul_relayer::wave::{self, Leaf};
use serde_json::Value;
use sqlx::PgPool;

const CHAIN: i64 = 31337;
const MONEY_WAVE: Address = Address::repeat_byte(0x3e);

fn pmc(n: u64) -> U256 {
    Wei::from_pmc(n).as_u256()
}

/// Stores wave `day` with these cumulative entitlements, in state `status`, as the relayer does
/// (leaves and node array with `posmul_relayer::wave::store_leaves_and_tree`); returns its root.
async fn publish_wave(db: &PgPool, day: u64, status: &str, values: &[(Address, U256)]) -> B256 {
    let mut values = values.to_vec();
    values.sort_by_key(|v| v.0);
    let tree = StandardMerkleTree::build(values.clone()).expect("a tree");
    let leaves: Vec<Leaf> = values
        .iter()
        .map(|(a, c)| Leaf {
            address: *a,
            cumulative: *c,
            increment: *c,
        })
        .collect();
    let total: U256 = values.iter().map(|v| v.1).sum();
    let mined = status != "built" && status != "submitted";
    let mut tx = db.begin().await.expect("tx");
    sqlx::query!(
        "INSERT INTO relayer.waves (day, date, chain_id, money_wave, status, amount, total_cumulative, cap, budget, root,
                                    allocation_hash, leaf_count, credit_count, tx_hash, block_number)
         VALUES ($1, DATE '2026-11-01' + ($1::BIGINT)::INT, $2, $3, $4, $5, $5, $5, 0, $6, $7, $8, 0, $9, $10)",
        day as i64,
        CHAIN,
        MONEY_WAVE.as_slice(),
        status,
        Wei::from_u256(total) as _,
        tree.root().to_vec(),
        wave::allocation_hash(&leaves).to_vec(),
        leaves.len() as i32,
        mined.then(|| vec![0xaa_u8; 32]),
        mined.then_some(10i64 + day as i64),
    )
    .execute(&mut *tx)
    .await
    .expect("wave row");
    wave::store_leaves_and_tree(&mut tx, day, &leaves, &tree)
        .await
        .expect("leaves and tree");
    tx.commit().await.expect("commit");
    tree.root()
}

async fn link(app: &TestApp, user: &TestUser, address: Address) {
    sqlx::query!(
        "INSERT INTO auth.wallets (address, user_id) VALUES ($1, $2)",
        address.as_slice(),
        user.user_id,
    )
    .execute(&app.db)
    .await
    .expect("wallet");
}

/// A `Claimed` event as the indexer mirrors it.
async fn mirrored_claim(db: &PgPool, account: Address, cumulative: U256) {
    sqlx::query!(
        "INSERT INTO chain.wave_claims (chain_id, block_number, block_hash, tx_hash, log_index, finalized, block_time, account, amount, cumulative_amount)
         VALUES ($1, 20, $2, $2, 0, true, now(), $3, $4, $4)",
        CHAIN,
        &[0xcc_u8; 32][..],
        account.as_slice(),
        Wei::from_u256(cumulative) as _,
    )
    .execute(db)
    .await
    .expect("claim");
}

async fn get_claim(app: &TestApp, user: &TestUser) -> (u16, Value) {
    let res = app
        .client
        .get(app.url("/v1/me/pmc/claim"))
        .bearer_auth(&user.access_token)
        .send()
        .await
        .expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.expect("json"))
}

async fn claim_for_me(app: &TestApp, user: &TestUser) -> reqwest::Response {
    app.client
        .post(app.url("/v1/me/pmc/claim-for-me"))
        .bearer_auth(&user.access_token)
        .send()
        .await
        .expect("request")
}

fn word(v: &Value) -> B256 {
    v.as_str().expect("hex").parse().expect("32 bytes")
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn m5_the_proof_returned_verifies_against_the_stored_root(pool: PgPool) {
    let app = spawn_app(pool).await;
    let alice = app.register_user("alice@example.org").await;
    let a = Address::repeat_byte(0xa1);
    link(&app, &alice, a).await;
    let others: Vec<(Address, U256)> = (1..=40u8)
        .map(|i| (Address::repeat_byte(i), pmc(u64::from(i))))
        .collect();
    let mut values = others.clone();
    values.push((a, pmc(12)));
    // Wave 0 is on chain; wave 1 (alice 20) is only built, so its root is not MoneyWave's yet.
    let root0 = publish_wave(&app.db, 0, "finalized", &values).await;
    values.pop();
    values.push((a, pmc(20)));
    publish_wave(&app.db, 1, "built", &values).await;

    let (status, body) = get_claim(&app, &alice).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["chain_id"], CHAIN);
    assert_eq!(body["day"], 0);
    assert_eq!(body["contract"], MONEY_WAVE.to_checksum(None));
    let stored = sqlx::query_scalar!("SELECT root FROM relayer.waves WHERE day = 0")
        .fetch_one(&app.db)
        .await
        .expect("root");
    assert_eq!(word(&body["root"]), B256::from_slice(&stored));
    assert_eq!(word(&body["root"]), root0);
    let claim = &body["claims"][0];
    assert_eq!(body["claims"].as_array().map(Vec::len), Some(1));
    let account: Address = claim["account"]
        .as_str()
        .expect("account")
        .parse()
        .expect("address");
    assert_eq!(account, a);
    let cumulative: U256 = claim["cumulative_amount"]["wei"]
        .as_str()
        .expect("wei")
        .parse()
        .expect("U256");
    assert_eq!(cumulative, pmc(12));
    assert_eq!(claim["cumulative_amount"]["pmc"], "12");
    let proof: Vec<B256> = claim["proof"]
        .as_array()
        .expect("proof")
        .iter()
        .map(word)
        .collect();
    assert!(!proof.is_empty());
    assert!(
        merkle::verify(root0, account, cumulative, &proof),
        "the proof verifies"
    );
    assert!(
        !merkle::verify(root0, account, pmc(13), &proof),
        "and only for the stored amount"
    );
    assert_eq!(claim["claimed"]["wei"], "0");
    assert_eq!(claim["claimable"]["wei"], pmc(12).to_string());

    // Once the indexer mirrors a claim of 5, 7 remain claimable; the proof is the same.
    mirrored_claim(&app.db, a, pmc(5)).await;
    let (_, body) = get_claim(&app, &alice).await;
    assert_eq!(body["claims"][0]["claimed"]["pmc"], "5");
    assert_eq!(body["claims"][0]["claimable"]["pmc"], "7");
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn m5_a_user_with_nothing_to_claim_gets_a_problem_saying_why(pool: PgPool) {
    let app = spawn_app(pool).await;
    let bob = app.register_user("bob@example.org").await;
    let problem = |body: &Value, kind: &str| {
        assert_eq!(
            body["type"],
            format!("https://posmul.dev/problems/{kind}"),
            "{body}"
        );
        assert_eq!(body["status"], 404);
        assert!(
            body["detail"].as_str().is_some_and(|d| d.len() > 20),
            "{body}"
        );
    };

    // No wave on chain yet (a built one does not count).
    publish_wave(&app.db, 0, "built", &[(Address::repeat_byte(1), pmc(1))]).await;
    let res = app
        .client
        .get(app.url("/v1/me/pmc/claim"))
        .bearer_auth(&bob.access_token)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 404);
    assert_eq!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    problem(&res.json().await.expect("json"), "no-wave-yet");

    // A wave on chain, but bob has no wallet.
    sqlx::query!(
        "UPDATE relayer.waves SET status = 'mined', tx_hash = $1, block_number = 5 WHERE day = 0",
        &[0xaa_u8; 32][..],
    )
    .execute(&app.db)
    .await
    .expect("mined");
    let (status, body) = get_claim(&app, &bob).await;
    assert_eq!(status, 404);
    problem(&body, "no-wallet-linked");

    // A wallet without a leaf.
    link(&app, &bob, Address::repeat_byte(0xb0)).await;
    let (status, body) = get_claim(&app, &bob).await;
    assert_eq!(status, 404);
    problem(&body, "nothing-to-claim");
    let res = claim_for_me(&app, &bob).await;
    assert_eq!(res.status(), 404);
    problem(&res.json().await.expect("json"), "nothing-to-claim");
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn m5_claim_for_me_is_queued_once_per_address_and_rate_limited(pool: PgPool) {
    let app = spawn_app(pool).await;
    let carol = app.register_user("carol@example.org").await;
    let (c, e) = (Address::repeat_byte(0xc0), Address::repeat_byte(0xe0));
    link(&app, &carol, c).await;
    publish_wave(
        &app.db,
        0,
        "finalized",
        &[(c, pmc(3)), (e, pmc(1)), (Address::repeat_byte(1), pmc(1))],
    )
    .await;

    let res = claim_for_me(&app, &carol).await;
    assert_eq!(res.status(), 202);
    let body: Value = res.json().await.expect("json");
    let id = body["requests"][0]["id"].as_i64().expect("id");
    assert_eq!(body["requests"][0]["status"], "queued");
    assert_eq!(body["requests"][0]["account"], c.to_checksum(None));
    let row = sqlx::query!(
        r#"SELECT user_id, address AS "address: WalletAddress", status FROM relayer.claim_requests WHERE id = $1"#,
        id,
    )
    .fetch_one(&app.db)
    .await
    .expect("queued for the relayer");
    assert_eq!(
        (row.user_id, row.address.get(), row.status.as_str()),
        (carol.user_id, c, "queued")
    );

    // A repeat returns the open request; nothing new is queued.
    let again: Value = claim_for_me(&app, &carol).await.json().await.expect("json");
    assert_eq!(again["requests"][0]["id"], id);
    let open = sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM relayer.claim_requests"#)
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(open, 1);

    // Three a minute: the fourth is refused with Retry-After.
    assert_eq!(claim_for_me(&app, &carol).await.status(), 202);
    let res = claim_for_me(&app, &carol).await;
    assert_eq!(res.status(), 429);
    let retry: u64 = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["type"], "https://posmul.dev/problems/rate-limited");

    // The limit is per user: another user is served.
    let dave = app.register_user("dave@example.org").await;
    let res = claim_for_me(&app, &dave).await;
    assert_eq!(
        res.status(),
        404,
        "dave has no wallet, but is not rate limited"
    );

    // A wallet whose whole entitlement is claimed already has nothing to queue.
    let erin = app.register_user("erin@example.org").await;
    link(&app, &erin, e).await;
    mirrored_claim(&app.db, e, pmc(1)).await;
    let res = claim_for_me(&app, &erin).await;
    assert_eq!(res.status(), 404);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["type"], "https://posmul.dev/problems/nothing-to-claim");
    let (status, body) = get_claim(&app, &erin).await;
    assert_eq!(status, 200, "the proof is still served");
    assert_eq!(body["claims"][0]["claimable"]["wei"], "0");
}

/// Sets wave `day`'s `claimable_at` (its RootPending) to now + `seconds`.
async fn claimable_in(db: &PgPool, day: u64, seconds: i64) {
    sqlx::query!(
        "UPDATE relayer.waves SET claimable_at = now() + make_interval(secs => $2::bigint), pending_first_day = day WHERE day = $1",
        day as i64,
        seconds,
    )
    .execute(db)
    .await
    .expect("claimable_at");
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn m6_a_root_in_its_delay_is_not_offered_and_a_revoked_root_never_is(pool: PgPool) {
    let app = spawn_app(pool).await;
    let alice = app.register_user("alice@example.org").await;
    let a = Address::repeat_byte(0xa1);
    link(&app, &alice, a).await;
    let root0 = publish_wave(&app.db, 0, "finalized", &[(a, pmc(12))]).await;
    claimable_in(&app.db, 0, -60).await;
    let root1 = publish_wave(&app.db, 1, "mined", &[(a, pmc(20))]).await;
    claimable_in(&app.db, 1, 3_600).await;

    // Wave 1 waits out its delay: the proof is wave 0's, which the chain accepts now, and the
    // pending wave is named with the time it becomes claimable.
    let (status, body) = get_claim(&app, &alice).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["day"].clone(), word(&body["root"])),
        (0.into(), root0)
    );
    assert_eq!(body["claims"][0]["claimable"]["pmc"], "12");
    assert_eq!(body["pending"]["day"], 1);
    assert_eq!(word(&body["pending"]["root"]), root1);
    assert!(body["pending"]["claimable_at"].is_string(), "{body}");
    let wallet = app
        .client
        .get(app.url("/v1/me/wallet"))
        .bearer_auth(&alice.access_token)
        .send()
        .await
        .expect("request")
        .json::<Value>()
        .await
        .expect("json");
    assert_eq!(
        wallet["pmc_claimable"]["pmc"], "12",
        "wave 0 only: {wallet}"
    );

    // Once the delay passed, wave 1 is current.
    claimable_in(&app.db, 1, -1).await;
    let (_, body) = get_claim(&app, &alice).await;
    assert_eq!(word(&body["root"]), root1);
    assert!(body.get("pending").is_none(), "{body}");

    // The guardian revoked wave 1 (mirrored after it was mined): it is never offered again.
    let guardian = Address::repeat_byte(0x9a);
    sqlx::query!(
        "INSERT INTO chain.root_revocations (chain_id, block_number, block_hash, tx_hash, log_index, finalized,
                                            block_time, first_day, last_day, root, burned, account)
         VALUES ($1, 12, $2, $2, 0, false, now(), 1, 1, $3, 0, $4)",
        CHAIN,
        &[0xdd_u8; 32][..],
        root1.as_slice(),
        guardian.as_slice(),
    )
    .execute(&app.db)
    .await
    .expect("revocation");
    let (_, body) = get_claim(&app, &alice).await;
    assert_eq!(word(&body["root"]), root0, "{body}");
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn m6_every_published_wave_s_allocation_file_is_public_and_cacheable(pool: PgPool) {
    let app = spawn_app(pool).await;
    let values: Vec<(Address, U256)> = (1..=9u8)
        .map(|i| (Address::repeat_byte(i), pmc(u64::from(i))))
        .collect();
    let root0 = publish_wave(&app.db, 0, "mined", &values).await;
    claimable_in(&app.db, 0, 3_600).await;
    publish_wave(&app.db, 1, "built", &values).await;

    // No sign-in; a pending root's file is served too, so anyone can check it during the delay.
    let res = app
        .client
        .get(app.url("/v1/waves/0/allocation"))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status().as_u16(), 200);
    let cache = res
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(cache.contains("public"), "{cache}");
    let dump: merkle::Dump = res.json().await.expect("a merkle-tree dump");
    let tree = StandardMerkleTree::load(&dump).expect("a valid dump");
    assert_eq!(tree.root(), root0);
    assert_eq!(tree.len(), 9);

    // A wave only built, a day without a wave, and a path that is no day.
    for (path, status, kind) in [
        ("/v1/waves/1/allocation", 404, "wave-not-published"),
        ("/v1/waves/7/allocation", 404, "wave-not-published"),
        ("/v1/waves/yesterday/allocation", 422, "validation-failed"),
    ] {
        let res = app.client.get(app.url(path)).send().await.expect("request");
        assert_eq!(res.status().as_u16(), status, "{path}");
        let body: Value = res.json().await.expect("json");
        assert!(
            body["type"].as_str().is_some_and(|t| t.ends_with(kind)),
            "{path}: {body}"
        );
    }
}
