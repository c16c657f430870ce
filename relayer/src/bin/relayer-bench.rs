//! Benchmark: build a wave of 1,000,000 addresses (tree, then storing leaves and
//! tree in PostgreSQL), with time and peak memory, then the latency of proof lookups (the query
//! behind `GET /v1/me/pmc/claim`) with those leaves stored.
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!   cargo run --release -p posmul-relayer --bin relayer-bench -- [leaves (default 1000000)] [lookups (default 5000)]
//! ```
//! It creates (and drops first) the database `posmul_relayer_bench` on that server, and drops it
//! at the end unless `RELAYER_BENCH_KEEP` is set (to look at query plans). It prints
//! the machine's load average before and after (the figures depend on what else runs), the
//! leaves and the tree storage times separately, and measures lookups after a warm-up of
//! `min(lookups, 1000)` unmeasured ones (each pooled connection prepares its statement once),
//! and, as the floor the machine allows, the latency of `SELECT 1` through the same pool.

use std::time::Instant;

use alloy::primitives::{Address, U256, keccak256};
use anyhow::Context;
use posmul_core::{merkle::StandardMerkleTree, money::Wei};
use posmul_relayer::wave::{self, Leaf};
use sqlx::{Connection, PgConnection};

/// Peak resident memory of this process so far (Linux `VmHWM`), in MiB.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// `/proc/loadavg`'s first three fields.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args
        .first()
        .map_or(Ok(1_000_000), |s| s.parse())
        .context("leaves must be a number")?;
    let lookups: usize = args
        .get(1)
        .map_or(Ok(5_000), |s| s.parse())
        .context("lookups must be a number")?;
    let base = posmul_core::config::database_url(&posmul_core::config::Env::process());
    let admin_url = match base.rfind('/') {
        Some(i)
            if base[..i].contains("://") && base[..i].len() > base.find("://").unwrap_or(0) + 3 =>
        {
            base[..i].to_owned()
        }
        _ => base.clone(),
    };
    let mut admin = PgConnection::connect(&format!("{admin_url}/postgres"))
        .await
        .context("failed to connect to PostgreSQL")?;
    // Statements on the server, not on the migrated schema the query! macros are checked against.
    sqlx::query("DROP DATABASE IF EXISTS posmul_relayer_bench WITH (FORCE)")
        .execute(&mut admin)
        .await?;
    sqlx::query("CREATE DATABASE posmul_relayer_bench")
        .execute(&mut admin)
        .await?;
    let pool = posmul_core::db::connect_and_migrate(
        &format!("{admin_url}/posmul_relayer_bench"),
        4,
        &Default::default(),
    )
    .await?;

    println!(
        "wave of {n} addresses (load average {}, {} cores)",
        load_average(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let t = Instant::now();
    let mut values: Vec<(Address, U256)> = (0..n as u64)
        .map(|i| {
            (
                Address::from_word(keccak256(i.to_be_bytes())),
                U256::from(1_000_000_000_000_000u64 + i),
            )
        })
        .collect();
    values.sort_unstable_by_key(|v| v.0);
    let leaves: Vec<Leaf> = values
        .iter()
        .map(|(a, c)| Leaf {
            address: *a,
            cumulative: *c,
            increment: *c,
        })
        .collect();
    let total: U256 = values.iter().map(|v| v.1).sum();
    println!("  input generated in {:.2?}", t.elapsed());

    let t = Instant::now();
    let tree = StandardMerkleTree::build(values)?;
    let tree_time = t.elapsed();
    let hash = wave::allocation_hash(&leaves);
    println!(
        "  tree + allocationHash: {:.2?} (peak RSS so far {:.0} MiB)",
        tree_time,
        peak_rss_mib()
    );

    let t = Instant::now();
    let mut tx = pool.begin().await?;
    sqlx::query!(
        "INSERT INTO relayer.waves (day, date, chain_id, money_wave, status, amount, total_cumulative, cap, budget, root,
                                    allocation_hash, leaf_count, credit_count, tx_hash, block_number)
         VALUES (0, DATE '2026-01-01', 31337, $1, 'finalized', $2, $2, $2, 0, $3, $4, $5, 0, $6, 1)",
        Address::ZERO.as_slice(),
        Wei::from_u256(total) as _,
        tree.root().to_vec(),
        hash.as_slice(),
        n as i32,
        [0u8; 32].as_slice(),
    )
    .execute(&mut *tx)
    .await?;
    let t_leaves = Instant::now();
    wave::store_leaves(&mut tx, 0, &leaves, &tree).await?;
    let leaves_time = t_leaves.elapsed();
    let t_tree = Instant::now();
    wave::store_tree(&mut tx, 0, &tree).await?;
    let tree_store_time = t_tree.elapsed();
    tx.commit().await?;
    let store_time = t.elapsed();
    println!(
        "  store: leaves (binary COPY) {leaves_time:.2?}, tree (binary COPY) {tree_store_time:.2?}, total with commit {store_time:.2?}"
    );
    println!(
        "  BUILD TOTAL (tree + store): {:.2?}, peak RSS {:.0} MiB",
        tree_time + store_time,
        peak_rss_mib()
    );

    let wave0 = posmul_economy::wave::PublishedWave {
        chain_id: 0,
        day: 0,
        root: tree.root(),
        money_wave: Address::ZERO,
    };
    let mut lat = Vec::with_capacity(lookups);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let warm_up = lookups.min(1000);
    for k in 0..warm_up + lookups {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let who = leaves[(seed % n as u64) as usize].address;
        let t = Instant::now();
        let p = posmul_economy::wave::proof(&pool, &wave0, who).await?;
        if k >= warm_up {
            lat.push(t.elapsed());
        }
        anyhow::ensure!(p.is_some(), "no proof for {who}");
    }
    lat.sort();
    let pct = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
    println!(
        "  proof lookup ({lookups} random addresses, verified): p50 {:.2?}, p99 {:.2?}, max {:.2?}",
        pct(0.50),
        pct(0.99),
        lat[lat.len() - 1]
    );
    // The floor under the same load: a `SELECT 1` round trip through the same pool.
    let mut floor = Vec::with_capacity(lookups);
    for _ in 0..lookups {
        let t = Instant::now();
        sqlx::query!("SELECT 1 AS one").fetch_one(&pool).await?;
        floor.push(t.elapsed());
    }
    floor.sort();
    let fpct = |q: f64| floor[((floor.len() as f64 * q) as usize).min(floor.len() - 1)];
    println!(
        "  floor (SELECT 1 through the same pool): p50 {:.2?}, p99 {:.2?}, max {:.2?}",
        fpct(0.50),
        fpct(0.99),
        floor[floor.len() - 1]
    );
    println!("  load average after: {}", load_average());
    drop(pool);
    if std::env::var_os("RELAYER_BENCH_KEEP").is_none() {
        sqlx::query("DROP DATABASE IF EXISTS posmul_relayer_bench WITH (FORCE)")
            .execute(&mut admin)
            .await?;
    }
    Ok(())
}
