//! Each service's database role (README "Database roles",
//! `migrations/20261205002000_database_roles.sql`): what each may write, and proof that a write
//! outside its rights is refused by PostgreSQL itself, whatever the code above it does.
//!
//! [`GRANTS`] is the decision for every table and view of every application schema and every
//! role; a table a later migration adds without a decision fails the first test. The second
//! runs the whole stack, each service as its role (see `support::Stack`): the indexer mirrors,
//! the relayer builds and publishes wave 0, the API serves it; then each role tries the writes
//! that would let it mint or forge, each refused with `insufficient_privilege`, while the same
//! statement as the owner would have written rows (checked, then rolled back), so a refusal is
//! the role's and not a broken statement's. Staking and settling as `posmul_api` run in
//! `prediction_day`, the claims and their mirror in `full_day`, both on the same `Stack`.

use std::collections::BTreeMap;

use crate::support::{Stack, earn, link_wallet, pmc, wait_for};
use posmul_core::db::ServiceRole;
use posmul_testkit::roles::pool_as;
use sqlx::PgPool;

/// Every table and view of the application schemas and what each role may do with it:
/// `(table, posmul_api, posmul_indexer, posmul_relayer)`, `-` for nothing; column grants as
/// `UPDATE(column, …)`. A new table needs its grants in its migration and a row here.
#[rustfmt::skip]
const GRANTS: &[(&str, &str, &str, &str)] = &[
    ("auth.audit_log", "SELECT, INSERT", "-", "-"),
    ("auth.email_tokens", "SELECT, INSERT, UPDATE", "-", "-"),
    (
        "auth.login_throttle",
        "SELECT, INSERT, UPDATE, DELETE",
        "-",
        "-",
    ),
    (
        "auth.password_credentials",
        "SELECT, INSERT, UPDATE",
        "-",
        "-",
    ),
    ("auth.profiles", "SELECT, INSERT, UPDATE", "-", "-"),
    ("auth.refresh_tokens", "SELECT, INSERT, UPDATE", "-", "-"),
    (
        "auth.signup_grant_days",
        "SELECT, INSERT, UPDATE(granted)",
        "-",
        "-",
    ),
    ("auth.signup_grants", "SELECT, INSERT", "-", "-"),
    ("auth.siwe_nonces", "SELECT, INSERT, DELETE", "-", "-"),
    ("auth.user_roles", "SELECT, INSERT, DELETE", "-", "-"),
    ("auth.users", "SELECT, INSERT, UPDATE", "-", "-"),
    ("auth.wallets", "SELECT, INSERT", "-", "SELECT"),
    ("chain.blocks", "SELECT", MIRROR, "SELECT"),
    ("chain.cursors", "SELECT", MIRROR, "SELECT"),
    ("chain.donation_recipients", "SELECT", MIRROR, "SELECT"),
    ("chain.donations", "SELECT", MIRROR, "SELECT"),
    ("chain.pause_changes", "SELECT", MIRROR, "SELECT"),
    ("chain.pmc_balances", "SELECT", MIRROR, "SELECT"),
    ("chain.pmc_delegate_changes", "SELECT", MIRROR, "SELECT"),
    ("chain.pmc_delegate_votes", "SELECT", MIRROR, "SELECT"),
    ("chain.pmc_transfers", "SELECT", MIRROR, "SELECT"),
    ("chain.recipients", "SELECT", "SELECT", "SELECT"),
    ("chain.role_changes", "SELECT", MIRROR, "SELECT"),
    ("chain.root_delay_changes", "SELECT", MIRROR, "SELECT"),
    ("chain.root_pending", "SELECT", MIRROR, "SELECT"),
    ("chain.root_revocations", "SELECT", MIRROR, "SELECT"),
    ("chain.wave_cap_changes", "SELECT", MIRROR, "SELECT"),
    ("chain.wave_claims", "SELECT", MIRROR, "SELECT"),
    ("chain.waves_published", "SELECT", MIRROR, "SELECT"),
    (
        "credits.accounts",
        "SELECT, INSERT, UPDATE(balance)",
        "-",
        "SELECT",
    ),
    ("credits.balance_mismatches", "SELECT", "-", "SELECT"),
    ("credits.debt_events", "SELECT, INSERT", "-", "-"),
    (
        "credits.debts",
        "SELECT, INSERT, UPDATE(outstanding, updated_at)",
        "-",
        "-",
    ),
    (
        "credits.credits",
        "SELECT, INSERT",
        "-",
        "SELECT, UPDATE(state, wave_day, claimed_at)",
    ),
    ("credits.postings", "SELECT, INSERT", "-", "SELECT"),
    ("credits.unbalanced_credits", "SELECT", "-", "SELECT"),
    ("invest.ad_views", "SELECT, INSERT, UPDATE(state, last_heartbeat_at, covered_ms, heartbeats, watched_secs, survey_answer, earned, bonus, ended_at)", "-", "-"),
    ("invest.campaign_fundings", "SELECT, INSERT", "-", "-"),
    (
        "invest.campaigns",
        "SELECT, INSERT, UPDATE(funded, reserved, paid, paused_at, paused_by)",
        "-",
        "-",
    ),
    (
        "invest.contributions",
        "SELECT, INSERT, UPDATE(refunded_krw, state, paid_at, refund_attempts, refund_error, refund_next_at, updated_at)",
        "-",
        "-",
    ),
    (
        "invest.payments",
        "SELECT, INSERT, UPDATE(provider_payment_key, refunded, state, paid_at, updated_at)",
        "-",
        "-",
    ),
    ("invest.project_updates", "SELECT, INSERT", "-", "-"),
    (
        "invest.projects",
        "SELECT, INSERT, UPDATE(state, approved_at, approved_by, settled_at, raised_krw)",
        "-",
        "-",
    ),
    (
        "invest.store_credits",
        "SELECT, INSERT, UPDATE(entitled, credit_id, updated_at)",
        "-",
        "-",
    ),
    ("invest.store_rate_events", "SELECT, INSERT", "-", "-"),
    ("invest.store_reviews", "SELECT, INSERT", "-", "-"),
    (
        "invest.stores",
        "SELECT, INSERT, UPDATE(verified_at, verified_by)",
        "-",
        "-",
    ),
    ("invest.webhook_events", "SELECT, INSERT", "-", "-"),
    ("invest.webhook_signatures", "SELECT, INSERT, DELETE", "-", "-"),
    (
        "ledger.accounts",
        "SELECT, INSERT, UPDATE(balance)",
        "-",
        "-",
    ),
    ("ledger.balance_mismatches", "SELECT", "-", "-"),
    ("ledger.currency_totals", "SELECT", "-", "-"),
    (
        "ledger.idempotency_keys",
        "SELECT, INSERT, UPDATE(status, response_body)",
        "-",
        "-",
    ),
    ("ledger.postings", "SELECT, INSERT", "-", "-"),
    ("ledger.transfers", "SELECT, INSERT", "-", "-"),
    ("ledger.unbalanced_transfers", "SELECT", "-", "-"),
    (
        "predictions.category_multipliers",
        "SELECT, UPDATE",
        "-",
        "-",
    ),
    ("predictions.corrections", "SELECT, INSERT", "-", "-"),
    ("predictions.game_events", "SELECT, INSERT", "-", "-"),
    ("predictions.games", "SELECT, INSERT, UPDATE", "-", "-"),
    ("predictions.hourly_allocations", "SELECT, INSERT", "-", "-"),
    ("predictions.hourly_pools", "SELECT, INSERT", "-", "-"),
    ("predictions.pool_releases", "SELECT, INSERT", "-", "-"),
    (
        "predictions.options",
        "SELECT, INSERT, UPDATE, DELETE",
        "-",
        "-",
    ),
    (
        "predictions.predictions",
        "SELECT, INSERT, UPDATE",
        "-",
        "-",
    ),
    ("predictions.settlements", "SELECT, INSERT", "-", "-"),
    (
        "relayer.claim_requests",
        "SELECT, INSERT",
        "-",
        "SELECT, UPDATE(status, batch_id, cumulative, tx_hash, error, done_at)",
    ),
    ("relayer.economy_config", "SELECT, INSERT", "-", "SELECT"),
    ("relayer.investment_rates", "SELECT, INSERT", "-", "-"),
    (
        "relayer.tx_attempts",
        "SELECT",
        "-",
        "SELECT, INSERT, UPDATE",
    ),
    (
        "relayer.wave_credits",
        "SELECT",
        "-",
        "SELECT, INSERT, DELETE",
    ),
    (
        "relayer.wave_leaves",
        "SELECT",
        "-",
        "SELECT, INSERT, DELETE",
    ),
    ("relayer.wave_rebuilds", "SELECT", "-", "SELECT, INSERT"),
    ("relayer.wave_revocations", "SELECT", "-", "SELECT, INSERT"),
    (
        "relayer.wave_trees",
        "SELECT",
        "-",
        "SELECT, INSERT, DELETE",
    ),
    (
        "relayer.waves",
        "SELECT",
        "-",
        "SELECT, INSERT, UPDATE, DELETE",
    ),
];

/// The indexer's rights on a mirror table.
const MIRROR: &str = "SELECT, INSERT, UPDATE, DELETE";

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn every_table_has_a_grant_decision_for_every_role(pool: PgPool) {
    // Table privileges, then column privileges where the table's is missing, per role, of
    // every relation outside the system schemas and `public` (sqlx's bookkeeping). Partitions
    // are skipped: they carry no grants, services reach their rows through the parent.
    let roles: Vec<String> = ServiceRole::ALL
        .iter()
        .map(|r| r.name().to_owned())
        .collect();
    let rows = sqlx::query!(
        r#"SELECT format('%s.%s', n.nspname, c.relname) AS "relation!", r.rolname::text AS "role!",
                  coalesce(nullif(concat_ws(', ',
                      (SELECT string_agg(p, ', ' ORDER BY o)
                         FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'])
                              WITH ORDINALITY AS t(p, o)
                        WHERE has_table_privilege(r.oid, c.oid, p)),
                      (SELECT string_agg(format('%s(%s)', x.p, x.cols), ', ' ORDER BY x.o)
                         FROM (SELECT t.p, t.o, string_agg(a.attname::text, ', ' ORDER BY a.attnum) AS cols
                                 FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'REFERENCES'])
                                      WITH ORDINALITY AS t(p, o)
                                 JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                                WHERE NOT has_table_privilege(r.oid, c.oid, t.p)
                                  AND has_column_privilege(r.oid, c.oid, a.attnum, t.p)
                                GROUP BY t.p, t.o) x)), ''), '-') AS "privileges!"
             FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
            CROSS JOIN pg_roles r
            WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
              AND NOT c.relispartition
              AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'public', 'pg_toast')
              AND n.nspname NOT LIKE 'pg\_%'
              AND r.rolname = ANY($1)"#,
        &roles,
    )
    .fetch_all(&pool)
    .await
    .expect("the privileges");
    let actual: BTreeMap<(String, String), String> = rows
        .into_iter()
        .map(|r| ((r.relation, r.role), r.privileges))
        .collect();
    let mut expected = BTreeMap::new();
    for (table, api, indexer, relayer) in GRANTS {
        for (role, privileges) in [
            (ServiceRole::Api, api),
            (ServiceRole::Indexer, indexer),
            (ServiceRole::Relayer, relayer),
        ] {
            expected.insert(
                ((*table).to_owned(), role.name().to_owned()),
                (*privileges).to_owned(),
            );
        }
    }
    let mut problems = Vec::new();
    for (key, have) in &actual {
        match expected.get(key) {
            None => problems.push(format!(
                "{} has no grant decision for {} (it has: {have}): grant in its migration and add it to GRANTS",
                key.0, key.1
            )),
            Some(want) if want != have => problems.push(format!(
                "{} for {}: granted {have}, decided {want}",
                key.0, key.1
            )),
            Some(_) => {}
        }
    }
    for key in expected.keys().filter(|k| !actual.contains_key(*k)) {
        problems.push(format!("{} in GRANTS is not in the database", key.0));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Runs `sql` as `role` (refused with `insufficient_privilege` naming `object`) and as the
/// owner (writes at least one row); both in transactions rolled back.
async fn refused(
    owner: &PgPool,
    role: &PgPool,
    name: ServiceRole,
    sql: &'static str,
    object: &str,
) {
    let mut tx = role.begin().await.expect("a transaction as the role");
    let Err(err) = sqlx::query(sql).execute(&mut *tx).await else {
        panic!("{name} wrote: {sql}");
    };
    let db = err.as_database_error().expect("a database error");
    assert_eq!(db.code().as_deref(), Some("42501"), "{name}: {sql}: {db}");
    assert!(
        db.message().contains(object),
        "{name}: {sql}: refused for {object}, not for: {}",
        db.message()
    );
    tx.rollback().await.expect("rollback");
    let mut tx = owner.begin().await.expect("a transaction as the owner");
    let done = sqlx::query(sql)
        .execute(&mut *tx)
        .await
        .unwrap_or_else(|e| panic!("as the owner: {sql}: {e}"));
    assert!(
        done.rows_affected() > 0,
        "as the owner, {sql} writes nothing: the refusal would prove nothing"
    );
    tx.rollback().await.expect("rollback");
}

// Forged writes, each of which the owner could make on the rows of a published wave.

/// A wave the relayer never built: the next day, copied from wave 0 (M3, M4).
const FORGE_WAVE: &str =
    "INSERT INTO relayer.waves (day, date, chain_id, money_wave, status, amount,
        total_cumulative, cap, budget, root, allocation_hash, leaf_count, credit_count)
     SELECT day + 1, date + 1, chain_id, money_wave, 'built', amount, total_cumulative, cap, budget,
            root, allocation_hash, leaf_count, credit_count FROM relayer.waves WHERE day = 0";
/// A larger entitlement in the stored tree's leaves, whose proofs the API serves (M5, M6).
const FORGE_LEAVES: &str = "UPDATE relayer.wave_leaves SET cumulative = cumulative * 2";
/// A transfer the chain never made, in the mirror (the indexer's alone).
const FORGE_TRANSFER: &str = "INSERT INTO chain.pmc_transfers (chain_id, block_number, block_hash,
        tx_hash, log_index, finalized, block_time, from_address, to_address, value)
     SELECT chain_id, block_number, block_hash, tx_hash, log_index + 1000, finalized, block_time,
            from_address, to_address, value FROM chain.pmc_transfers";
/// A mirrored balance the chain does not hold.
const FORGE_BALANCE: &str = "UPDATE chain.pmc_balances SET balance = balance + 1";
/// A published wave the chain never saw.
const FORGE_PUBLISHED: &str =
    "INSERT INTO chain.waves_published (chain_id, block_number, block_hash,
        tx_hash, log_index, finalized, block_time, day, root, amount, allocation_hash, total_cumulative)
     SELECT chain_id, block_number, block_hash, tx_hash, log_index + 1000, finalized, block_time,
            day + 1, root, amount, allocation_hash, total_cumulative FROM chain.waves_published";
/// A credit in a wave marked claimed before any claim (E3: only the relayer, on finalized
/// claims).
const CLAIM_CREDIT: &str =
    "UPDATE credits.credits SET state = 'claimed', claimed_at = now() WHERE state = 'in_wave'";
/// A credit nobody earned: a mint of PMC (E1, E3).
const FORGE_CREDIT: &str = "INSERT INTO credits.credits (id, user_id, source, amount, day,
        reference_kind, reference_id, idempotency_key)
     SELECT gen_random_uuid(), user_id, source, amount, day, reference_kind, gen_random_uuid(),
            'forged:' || id FROM credits.credits";
/// A credit's posting outside a transfer of economy::credits (E1).
const FORGE_CREDIT_POSTING: &str = "INSERT INTO credits.postings (credit_id, account_id, amount)
     SELECT credit_id, account_id, amount FROM credits.postings";
/// A credit handed to another citizen (the relayer moves states, not owners).
const REDIRECT_CREDIT: &str = "UPDATE credits.credits SET user_id =
        (SELECT max(user_id::text)::uuid FROM credits.credits) WHERE state = 'in_wave'";
/// PMP out of nothing: a balance raised without a posting (E1).
const RAISE_BALANCE: &str =
    "UPDATE ledger.accounts SET balance = balance + 1000 WHERE balance IS NOT NULL";
/// A posting outside economy::ledger's transfers (E1).
const FORGE_POSTING: &str = "INSERT INTO ledger.postings (transfer_id, account_id, amount)
     SELECT transfer_id, account_id, amount FROM ledger.postings";
/// A budget the admin never set (M1).
const FORGE_CONFIG: &str =
    "INSERT INTO relayer.economy_config (annual_ebit, effective_from, set_by)
     SELECT 1000000, current_date + 1, user_id FROM auth.wallets";
/// An administrator made without the admin routes.
const FORGE_ADMIN: &str = "INSERT INTO auth.user_roles (user_id, role)
     SELECT user_id, 'admin' FROM auth.wallets";
/// A pending root the chain never announced (M6: the read side would wait for it).
const FORGE_ROOT_PENDING: &str = "INSERT INTO chain.root_pending (chain_id, block_number,
        block_hash, tx_hash, log_index, finalized, block_time, day, root, first_day, claimable_at)
     SELECT chain_id, block_number, block_hash, tx_hash, log_index + 1000, finalized, block_time,
            day + 1, root, first_day, claimable_at FROM chain.root_pending";
/// A credit revoked by someone else than the API's settlement corrections (P6, E3).
const REVOKE_CREDIT: &str = "SELECT credits.revoke_pending(id) FROM credits.credits";
/// The mirror rolled back by someone else than the indexer.
const ROLL_BACK_MIRROR: &str = "SELECT chain.rollback_above(chain_id, 0) FROM chain.cursors";

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn e1_e3_m3_m5_each_service_runs_as_its_role_and_is_refused_writes_outside_it(pool: PgPool) {
    // ── The stack, each service as its role: the API verifies e-mails (the sign-up grant's
    //    postings, E5) and links wallets, the relayer builds and publishes wave 0 (M3, M4), the
    //    indexer mirrors its mint and WavePublished.
    let stack = Stack::start(pool.clone()).await;
    let app = &stack.app;
    let alice = app.register_user("alice@example.org").await;
    let bob = app.register_user("bob@example.org").await;
    link_wallet(app, &alice, &stack.chain.keys()[1]).await;
    link_wallet(app, &bob, &stack.chain.keys()[2]).await;
    let day0 = stack.relayer.date_of(0).expect("day 0");
    earn(&pool, &alice, pmc("10"), day0).await;
    earn(&pool, &bob, pmc("5"), day0).await;
    stack.end_day(0).await;
    stack.wait_wave_finalized(0).await;
    wait_for("wave 0 mirrored as final", 60, || async {
        sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!" FROM chain.waves_published WHERE day = 0 AND finalized"#
        )
        .fetch_one(&pool)
        .await
        .ok()
            == Some(1)
    })
    .await;
    let in_wave = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM credits.credits WHERE state = 'in_wave'"#
    )
    .fetch_one(&pool)
    .await
    .expect("credits");
    assert_eq!(in_wave, 2, "the relayer moved both credits into wave 0");

    let api = pool_as(&pool, ServiceRole::Api, 1).await;
    let indexer = pool_as(&pool, ServiceRole::Indexer, 1).await;
    let relayer = pool_as(&pool, ServiceRole::Relayer, 1).await;
    let (a, i, r) = (ServiceRole::Api, ServiceRole::Indexer, ServiceRole::Relayer);

    // ── posmul_api: no wave, no leaf, no mirrored transfer, balance or published wave, no
    //    credit state (M3, M5, E3), no rollback of the mirror, no pending root (M6).
    refused(&pool, &api, a, FORGE_WAVE, "waves").await;
    refused(&pool, &api, a, FORGE_LEAVES, "wave_leaves").await;
    refused(&pool, &api, a, FORGE_TRANSFER, "pmc_transfers").await;
    refused(&pool, &api, a, FORGE_BALANCE, "pmc_balances").await;
    refused(&pool, &api, a, FORGE_PUBLISHED, "waves_published").await;
    refused(&pool, &api, a, CLAIM_CREDIT, "credits").await;
    refused(&pool, &api, a, ROLL_BACK_MIRROR, "rollback_above").await;
    refused(&pool, &api, a, FORGE_ROOT_PENDING, "root_pending").await;

    // ── posmul_indexer: nothing outside the mirror: no ledger (E1), no credit, no wave.
    refused(&pool, &indexer, i, RAISE_BALANCE, "ledger").await;
    refused(&pool, &indexer, i, FORGE_POSTING, "ledger").await;
    refused(&pool, &indexer, i, FORGE_CREDIT, "credits").await;
    refused(&pool, &indexer, i, CLAIM_CREDIT, "credits").await;
    refused(&pool, &indexer, i, FORGE_WAVE, "relayer").await;
    refused(&pool, &indexer, i, FORGE_ADMIN, "auth").await;

    // ── posmul_relayer: no PMP (E1), no credit issued or given away, no credit posting (E1,
    //    E3), no mirror, no economy configuration (M1), no role, no revocation of a credit (P6).
    refused(&pool, &relayer, r, RAISE_BALANCE, "ledger").await;
    refused(&pool, &relayer, r, FORGE_POSTING, "ledger").await;
    refused(&pool, &relayer, r, FORGE_CREDIT, "credits").await;
    refused(&pool, &relayer, r, FORGE_CREDIT_POSTING, "postings").await;
    refused(&pool, &relayer, r, REDIRECT_CREDIT, "credits").await;
    refused(&pool, &relayer, r, FORGE_TRANSFER, "pmc_transfers").await;
    refused(&pool, &relayer, r, FORGE_PUBLISHED, "waves_published").await;
    refused(&pool, &relayer, r, FORGE_CONFIG, "economy_config").await;
    refused(&pool, &relayer, r, FORGE_ADMIN, "user_roles").await;
    refused(&pool, &relayer, r, FORGE_ROOT_PENDING, "root_pending").await;
    refused(&pool, &relayer, r, REVOKE_CREDIT, "revoke_pending").await;

    for p in [api, indexer, relayer] {
        p.close().await;
    }
    stack.stop().await;
}
