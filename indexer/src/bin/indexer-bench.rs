//! `indexer-bench`: end-to-end backfill throughput of posmul-indexer.
//!
//! 1. starts a local anvil and deploys `contracts/bench/TransferEmitter.sol`, which emits
//!    PMC-shaped `Transfer` events (BENCH_EVENTS in total, BENCH_EVENTS_PER_TX per transaction);
//! 2. creates a fresh database (BENCH_DATABASE on the DATABASE_URL server) and migrates it;
//! 3. runs the indexer in-process over plain JSON-RPC and times the backfill from start until
//!    the cursor reaches the last event's block (fetch, decode, COPY, balances, cursor);
//! 4. copies the same rows with one plain `COPY` into an identical table (same columns, keys
//!    and indexes): the write path's physical limit;
//! 5. prints both rates and their ratio.
//!
//! Run: `cargo run --release -p posmul-indexer --bin indexer-bench` (see indexer/README.md).

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use alloy::{
    network::EthereumWallet,
    node_bindings::Anvil,
    primitives::{Address, U256},
    providers::{Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
    sol,
};
use anyhow::{Context, bail};
use posmul_core::{config::Env, db, deployment::Deployment};
use posmul_indexer::{Indexer, IndexerConfig};
use sqlx::{Connection, PgConnection, PgPool};

sol! {
    #[sol(rpc)]
    TransferEmitter,
    "../contracts/bench/TransferEmitter.json"
}

const HOLDERS: u64 = 10_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    posmul_core::service::init_logging("indexer-bench", "warn");
    let env = Env::process();
    let events: u64 = env.or("BENCH_EVENTS", 1_000_000u64)?;
    let per_tx: u64 = env.or("BENCH_EVENTS_PER_TX", 5_000u64)?;
    let db_name: String = env.or("BENCH_DATABASE", "posmul_bench".to_owned())?;
    if !events.is_multiple_of(2) || !per_tx.is_multiple_of(2) || per_tx == 0 {
        bail!("BENCH_EVENTS and BENCH_EVENTS_PER_TX must be even and positive");
    }

    // --- chain ---------------------------------------------------------------------------
    let anvil_bin = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../node_modules/.bin/anvil");
    let anvil = if anvil_bin.exists() {
        Anvil::at(anvil_bin)
    } else {
        Anvil::new()
    }
    .args(["--gas-limit", "1000000000", "--slots-in-an-epoch", "1"])
    .try_spawn()
    .context("failed to start anvil (is node_modules/.bin/anvil installed? run npm ci)")?;
    let signer: PrivateKeySigner = anvil.keys()[0].clone().into();
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(signer))
        .connect_http(anvil.endpoint_url());
    let emitter = TransferEmitter::deploy(&provider)
        .await
        .context("failed to deploy the emitter")?;
    let deployment_block = provider.get_block_number().await?;
    println!("emitting {events} Transfer events ({per_tx} per transaction, {HOLDERS} holders)…");
    let t = Instant::now();
    let mut start = 0u64;
    let mut pending = Vec::new();
    while start < events {
        let n = per_tx.min(events - start);
        let call = emitter
            .emitTransfers(U256::from(start), U256::from(n), U256::from(HOLDERS))
            .gas(per_tx * 3_000 + 100_000);
        pending.push(call.send().await.context("emitTransfers")?);
        start += n;
    }
    let mut last_block = deployment_block;
    for p in pending {
        let r = p.get_receipt().await.context("receipt")?;
        if !r.status() {
            bail!("an emitTransfers transaction reverted");
        }
        last_block = last_block.max(r.block_number.unwrap_or_default());
    }
    // Make every event block final (finalized = head - 2 with one slot per epoch).
    provider
        .raw_request::<_, ()>("anvil_mine".into(), (U256::from(3),))
        .await?;
    println!(
        "  {} blocks emitted in {:.1}s",
        last_block - deployment_block,
        t.elapsed().as_secs_f64()
    );

    // --- database ------------------------------------------------------------------------
    let server_url = posmul_core::config::database_url(&env);
    let (server, _) = server_url
        .rsplit_once('/')
        .context("DATABASE_URL needs a database name")?;
    let mut admin = PgConnection::connect(&format!("{server}/postgres"))
        .await
        .context("connect to PostgreSQL")?;
    // A database named at run time, on the server: no query! macro can check these.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{db_name}\" WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE \"{db_name}\""
    )))
    .execute(&mut admin)
    .await?;
    let url = format!("{server}/{db_name}");
    let pool = db::connect_and_migrate(&url, 4, &posmul_core::tls::TlsSettings::default()).await?;

    // --- indexer, end to end ---------------------------------------------------------------
    let mut config = IndexerConfig::from_env(&env)?;
    config.rpc_urls = vec![anvil.endpoint()];
    config.http_addr = ([127, 0, 0, 1], 0).into();
    config.poll_interval = Duration::from_millis(20);
    let deployment = Deployment {
        chain_id: anvil.chain_id(),
        pmc: *emitter.address(),
        money_wave: Address::repeat_byte(0xaa),
        donation_hub: Address::repeat_byte(0xbb),
        deployment_block,
        genesis: 0,
        max_supply: None,
        daily_cap: None,
    };
    config.chain_id = deployment.chain_id;
    // The emitter packs BENCH_EVENTS_PER_TX events into each block. A provider with a result
    // limit would halve the 2,000-block start down to a few blocks in a few refusals; anvil has
    // no limit and would answer the first 2,000-block request with every event at once. Unless
    // BLOCK_RANGE_START is set, start at the span that holds about LOGS_PER_REQUEST events.
    if env.raw("BLOCK_RANGE_START").is_none() {
        config.block_range_start = (config.logs_per_request as u64 / per_tx).max(1);
    }
    let indexer = Indexer::build(config.clone(), &deployment, pool.clone()).await?;
    let status = indexer.status();
    let t0 = Instant::now();
    let task = tokio::spawn(indexer.run());
    while status.indexed() < last_block {
        if task.is_finished() {
            bail!("the indexer stopped early");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let e2e = t0.elapsed();
    // Let the backfill log its summary (RUST_LOG=posmul_indexer=info) before stopping it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    task.abort();
    let mirrored = sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM chain.pmc_transfers"#)
        .fetch_one(&pool)
        .await?;
    let supply =
        sqlx::query_scalar!(r#"SELECT sum(balance)::text AS "sum!" FROM chain.pmc_balances"#)
            .fetch_one(&pool)
            .await?;
    if mirrored as u64 != events || supply != events.to_string() {
        bail!("the mirror is incomplete: {mirrored} transfers, balances sum to {supply}");
    }

    // --- plain COPY of the same rows ---------------------------------------------------------
    let copy = plain_copy(&pool).await?;

    let e2e_rate = events as f64 / e2e.as_secs_f64();
    let copy_rate = events as f64 / copy.as_secs_f64();
    println!();
    println!("events                         {events}");
    println!(
        "blocks                         {}",
        last_block - deployment_block
    );
    println!(
        "indexer end to end             {:.2}s  {:>9.0} events/s   (FETCH_CONCURRENCY={}, LOGS_PER_REQUEST={}, BLOCK_RANGE_START={})",
        e2e.as_secs_f64(),
        e2e_rate,
        config.fetch_concurrency,
        config.logs_per_request,
        config.block_range_start
    );
    println!(
        "plain COPY of the same rows    {:.2}s  {:>9.0} rows/s",
        copy.as_secs_f64(),
        copy_rate
    );
    println!("ratio end to end / COPY        {:.2}", e2e_rate / copy_rate);
    println!(
        "goal >= 30000 events/s         {}",
        if e2e_rate >= 30_000.0 {
            "met"
        } else {
            "NOT met"
        }
    );
    Ok(())
}

/// Dumps the mirrored transfers, then times one `COPY` of them into a table with the same
/// columns, primary key and indexes.
async fn plain_copy(pool: &PgPool) -> anyhow::Result<Duration> {
    let mut conn = pool.acquire().await?;
    sqlx::query!("CREATE TABLE public.copy_baseline (LIKE chain.pmc_transfers INCLUDING ALL)")
        .execute(&mut *conn)
        .await?;
    let mut data = Vec::new();
    {
        use futures::TryStreamExt;
        let mut out = conn
            .copy_out_raw("COPY chain.pmc_transfers TO STDOUT")
            .await?;
        while let Some(chunk) = out.try_next().await? {
            data.extend_from_slice(&chunk);
        }
    }
    let t = Instant::now();
    let mut tx = conn.begin().await?;
    let mut copy = tx
        .copy_in_raw("COPY public.copy_baseline FROM STDIN")
        .await?;
    for chunk in data.chunks(1 << 20) {
        copy.send(chunk).await?;
    }
    copy.finish().await?;
    tx.commit().await?;
    Ok(t.elapsed())
}
