//! Monthly partitions (migration `monthly_partitions`, `posmul_api::partitions`): rows of the
//! ledger's postings, the audit log and the mirrored chain events written on both sides of a
//! month boundary land in the two months' partitions and read back through the parent tables;
//! `partitions.ensure_months` creates the months ahead once, for the API's role only.
//!
//! The boundary is the start of the month after next (UTC), so that both months have partitions
//! after `ensure_months(3)` whatever day the test runs.

use alloy::primitives::{Address, B256, U256};
use chrono::{DateTime, Months, Utc};
use posmul_core::{db::ServiceRole, money::Pmp};
use posmul_indexer::{
    events::{Contracts, Event, EventLog},
    status::Status,
    store::{self, Batch, BlockRow},
};
use posmul_testkit::roles::pool_as;
use sqlx::PgPool;
use uuid::Uuid;

const CHAIN: u64 = 31337;

/// The start of the month after next, and the second before it.
async fn boundary(pool: &PgPool) -> (DateTime<Utc>, DateTime<Utc>) {
    let at: DateTime<Utc> = sqlx::query_scalar(
        "SELECT (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '2 months') AT TIME ZONE 'UTC'",
    )
    .fetch_one(pool)
    .await
    .expect("the boundary");
    (at - chrono::Duration::seconds(1), at)
}

fn partition(table: &str, at: DateTime<Utc>) -> String {
    format!("{table}_p{}", at.format("%Y%m"))
}

/// The partition and partition key of every row of `table` matching `filter`, oldest first.
async fn placed(
    pool: &PgPool,
    table: &str,
    key: &str,
    filter: &str,
) -> Vec<(String, DateTime<Utc>)> {
    // Only this file's literals reach the statement.
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT tableoid::regclass::text, {key} FROM {table} WHERE {filter} ORDER BY {key}"
    )))
    .fetch_all(pool)
    .await
    .unwrap_or_else(|e| panic!("{table}: {e}"))
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn rows_across_a_month_boundary_land_in_two_partitions_and_read_through_the_parent(
    pool: PgPool,
) {
    let api = pool_as(&pool, ServiceRole::Api, 2).await;
    posmul_api::partitions::ensure_months(&api, 3)
        .await
        .expect("ensure_months as the API");
    let (before, at) = boundary(&pool).await;
    let expected = |table: &str| {
        vec![
            (partition(table, before), before),
            (partition(table, at), at),
        ]
    };
    assert_ne!(partition("t", before), partition("t", at));

    // ── The ledger: the sign-up grant through economy::ledger (this month), then two grants
    //    dated on each side of the boundary, written as the ledger writes them (a transfer, its
    //    postings summing to zero, the cached balance raised), since the ledger dates postings
    //    with the database's clock.
    let user = Uuid::new_v4();
    let mut tx = pool.begin().await.expect("a transaction");
    posmul_economy::ledger::grant_signup(&mut tx, user, Pmp::new(1000))
        .await
        .expect("the sign-up grant");
    for when in [before, at] {
        let transfer = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO ledger.transfers (id, kind, reference_kind, reference_id, created_at)
             VALUES ($1, 'partition_test', 'user', $2, $3)",
        )
        .bind(transfer)
        .bind(user)
        .bind(when)
        .execute(&mut *tx)
        .await
        .expect("a transfer");
        sqlx::query(
            "WITH upd AS (UPDATE ledger.accounts SET balance = balance + 10
                           WHERE kind = 'user' AND reference_id = $2 RETURNING id, balance)
             INSERT INTO ledger.postings (transfer_id, account_id, amount, balance_after, created_at)
             SELECT $1, a.id, CASE WHEN a.kind = 'user' THEN 10 ELSE -10 END, upd.balance, $3
               FROM ledger.accounts a LEFT JOIN upd ON upd.id = a.id
              WHERE (a.kind = 'user' AND a.reference_id = $2) OR a.kind = 'issuance'",
        )
        .bind(transfer)
        .bind(user)
        .bind(when)
        .execute(&mut *tx)
        .await
        .expect("its postings");
    }
    tx.commit().await.expect("commit");
    let user_postings = format!(
        "account_id = (SELECT id FROM ledger.accounts WHERE kind = 'user' AND reference_id = '{user}') \
         AND transfer_id IN (SELECT id FROM ledger.transfers WHERE kind = 'partition_test')"
    );
    assert_eq!(
        placed(&pool, "ledger.postings", "created_at", &user_postings).await,
        expected("ledger.postings")
    );
    let (count, sum, zero_sum): (i64, i64, bool) = sqlx::query_as(
        "SELECT count(*), sum(p.amount)::bigint,
                (SELECT postings_sum = 0 AND unbalanced_transfers = 0 AND balance_mismatches = 0
                   FROM ledger.check_zero_sum())
           FROM ledger.postings p JOIN ledger.accounts a ON a.id = p.account_id
          WHERE a.kind = 'user' AND a.reference_id = $1",
    )
    .bind(user)
    .fetch_one(&api)
    .await
    .expect("the user's postings through the parent");
    assert_eq!((count, sum, zero_sum), (3, 1020, true));
    let balance = posmul_economy::ledger::balance(
        &mut pool.acquire().await.expect("a connection"),
        posmul_economy::ledger::Account::user(user),
    )
    .await
    .expect("the balance");
    assert_eq!(balance, Pmp::new(1020));

    // ── The audit log (append-only: inserted, never rewritten).
    for (when, action) in [(before, "partition_test.before"), (at, "partition_test.at")] {
        sqlx::query("INSERT INTO auth.audit_log (action, at) VALUES ($1, $2)")
            .bind(action)
            .bind(when)
            .execute(&api)
            .await
            .expect("an audit row as the API");
    }
    assert_eq!(
        placed(
            &pool,
            "auth.audit_log",
            "at",
            "action LIKE 'partition_test.%'"
        )
        .await,
        expected("auth.audit_log")
    );
    let refused = sqlx::query("DELETE FROM auth.audit_log WHERE action LIKE 'partition_test.%'")
        .execute(&pool)
        .await;
    assert!(refused.is_err(), "the audit log is still append-only");

    // ── The chain mirror, written by the indexer's store: two blocks on each side of the
    //    boundary, each with a transfer, a claim and a donation.
    let indexer = pool_as(&pool, ServiceRole::Indexer, 2).await;
    let mut conn = indexer
        .acquire()
        .await
        .expect("a connection as the indexer");
    let contracts = Contracts {
        pmc: Address::repeat_byte(0x01),
        money_wave: Address::repeat_byte(0x02),
        donation_hub: Address::repeat_byte(0x03),
    };
    let cursor = store::load_cursor(&mut conn, CHAIN, &contracts, 1)
        .await
        .expect("the cursor");
    let alice = Address::repeat_byte(0xa1);
    let blocks: Vec<BlockRow> = [before, at]
        .iter()
        .enumerate()
        .map(|(i, when)| BlockRow {
            number: i as u64 + 1,
            hash: B256::repeat_byte(0x10 + i as u8),
            parent_hash: Some(B256::repeat_byte(0x0f + i as u8)),
            timestamp: when.timestamp() as u64,
        })
        .collect();
    let mut events = Vec::new();
    for b in &blocks {
        let event = |log_index: u64, event: Event| EventLog {
            block_number: b.number,
            block_hash: b.hash,
            tx_hash: B256::repeat_byte(0x20 + b.number as u8),
            log_index,
            event,
        };
        events.push(event(
            0,
            Event::Transfer {
                from: Address::ZERO,
                to: alice,
                value: U256::from(5),
            },
        ));
        events.push(event(
            1,
            Event::Claimed {
                account: alice,
                amount: U256::from(5),
                cumulative_amount: U256::from(5 * b.number),
            },
        ));
        events.push(event(
            2,
            Event::Donated {
                recipient_id: U256::from(1),
                donor: alice,
                beneficiary: Address::repeat_byte(0xb2),
                amount: U256::from(1),
                memo_hash: B256::ZERO,
            },
        ));
    }
    let batch = Batch {
        from: 1,
        to: 2,
        to_hash: blocks[1].hash,
        finalized_upto: 2,
        blocks,
        events,
    }
    .encode(CHAIN);
    store::write_batch(&mut conn, CHAIN, &cursor, &batch, 2, &Status::new())
        .await
        .expect("the batch");
    drop(conn);
    for table in [
        "chain.pmc_transfers",
        "chain.wave_claims",
        "chain.donations",
    ] {
        assert_eq!(
            placed(&pool, table, "block_time", "chain_id = 31337").await,
            expected(table),
            "{table}"
        );
    }
    // Through the parents, as the API reads the mirror: block_time is each block's timestamp.
    let (rows, mismatched, balance): (i64, i64, String) = sqlx::query_as(
        r#"SELECT (SELECT count(*) FROM chain.pmc_transfers WHERE chain_id = $1)
              + (SELECT count(*) FROM chain.wave_claims WHERE chain_id = $1)
              + (SELECT count(*) FROM chain.donations WHERE chain_id = $1),
                (SELECT count(*) FROM chain.pmc_transfers t
                   JOIN chain.blocks b ON b.chain_id = t.chain_id AND b.number = t.block_number
                  WHERE t.chain_id = $1 AND t.block_time <> b."timestamp"),
                chain.pmc_balance_at($1, $2, 1)::text"#,
    )
    .bind(CHAIN as i64)
    .bind(alice.as_slice())
    .fetch_one(&api)
    .await
    .expect("the mirror through the parents");
    assert_eq!((rows, mismatched, balance.as_str()), (6, 0, "5"));
    // A reorg above the first block deletes the later month's rows only.
    let mut tx = indexer.begin().await.expect("a transaction as the indexer");
    let deleted: i64 = sqlx::query_scalar("SELECT chain.rollback_above($1, 1)")
        .bind(CHAIN as i64)
        .fetch_one(&mut *tx)
        .await
        .expect("the rollback");
    let left = placed_tx(&mut tx).await;
    tx.rollback().await.expect("rollback");
    assert_eq!(deleted, 3);
    assert_eq!(left, vec![partition("chain.pmc_transfers", before)]);
}

async fn placed_tx(tx: &mut sqlx::PgConnection) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT tableoid::regclass::text FROM chain.pmc_transfers WHERE chain_id = 31337",
    )
    .fetch_all(tx)
    .await
    .expect("the transfers left")
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn ensure_months_creates_the_months_ahead_once_and_only_for_the_api(pool: PgPool) {
    let api = pool_as(&pool, ServiceRole::Api, 2).await;
    let parents: Vec<String> =
        sqlx::query_scalar("SELECT partrelid::regclass::text FROM pg_partitioned_table ORDER BY 1")
            .fetch_all(&pool)
            .await
            .expect("the partitioned tables");
    assert_eq!(parents.len(), 15, "{parents:?}");
    for table in [
        "ledger.postings",
        "auth.audit_log",
        "chain.pmc_transfers",
        "chain.root_delay_changes",
    ] {
        assert!(parents.iter().any(|p| p == table), "{table} is partitioned");
    }

    // The migration made the current month and three ahead; six ahead adds at least three more
    // months of every table, and a second call nothing.
    let first = posmul_api::partitions::ensure_months(&api, 6)
        .await
        .expect("ensure_months");
    assert!(first >= 3 * parents.len() as u64, "created {first}");
    let second = posmul_api::partitions::ensure_months(&api, 6)
        .await
        .expect("ensure_months again");
    assert_eq!(second, 0);

    let this_month: DateTime<Utc> = sqlx::query_scalar(
        "SELECT date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
    )
    .fetch_one(&pool)
    .await
    .expect("this month");
    for ahead in 0..=6 {
        let month = this_month
            .checked_add_months(Months::new(ahead))
            .expect("a month");
        for parent in &parents {
            let name = partition(parent, month);
            let (exists, parent_of): (bool, Option<String>) = sqlx::query_as(
                "SELECT to_regclass($1) IS NOT NULL,
                        (SELECT inhparent::regclass::text FROM pg_inherits WHERE inhrelid = to_regclass($1))",
            )
            .bind(&name)
            .fetch_one(&pool)
            .await
            .expect("the partition");
            assert!(exists, "{name} exists");
            assert_eq!(parent_of.as_deref(), Some(parent.as_str()), "{name}");
        }
    }
    let beyond = partition(
        "ledger.postings",
        this_month
            .checked_add_months(Months::new(7))
            .expect("a month"),
    );
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(&beyond)
        .fetch_one(&pool)
        .await
        .expect("the month beyond");
    assert!(!exists, "{beyond} was not asked for");

    // Only the API's role may call it; out-of-range requests are refused.
    let indexer = pool_as(&pool, ServiceRole::Indexer, 1).await;
    let err = sqlx::query("SELECT partitions.ensure_months(3)")
        .execute(&indexer)
        .await
        .expect_err("the indexer may not create partitions");
    assert_eq!(
        err.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("42501"),
        "{err}"
    );
    assert!(
        sqlx::query("SELECT partitions.ensure_months(-1)")
            .execute(&api)
            .await
            .is_err()
    );
}
