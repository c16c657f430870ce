//! `stakes-bench`: prediction stakes over HTTP on one hot game and spread over 1,000 games,
//! in one run.
//!
//! ```text
//! cargo run --release -p posmul-api --bin stakes-bench
//! ```
//!
//! Against the PostgreSQL server of `DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`; only its server is used), it creates a fresh
//! database `posmul_stakes_bench_<pid>`, migrates it, serves the whole API (every layer) in
//! process on a free port with its rate limits raised out of the way (1,000,000 requests a
//! second per IP and per user), registers and verifies `BENCH_USERS` citizens with a large PMP
//! grant and a moderator, and has the moderator create one hot game and `BENCH_GAMES` other
//! games that start two seconds later (it waits for them to be ACTIVE). Then `BENCH_CLIENTS`
//! concurrent clients, each signed in as its own citizen, run three phases of `BENCH_SECONDS`
//! each (`api-bench` measures the ledger against pgbench):
//!
//! 1. **hot game** — every client stakes on the same game (one escrow account, contended) and
//!    withdraws again (P4 allows one live prediction per user and game, so each stake is paired
//!    with a withdrawal); the stake's own latency is recorded, and stakes/s counts the stakes;
//! 2. **spread, stake + withdraw** — the same pairs on a random game of the 1,000;
//! 3. **spread, stakes only** — each client walks the 1,000 games, one stake per game (no
//!    withdrawal), so every request is a placement.
//!
//! Afterwards it checks that the ledger is exact and the hot game's escrow is empty, prints a
//! table with the machine's load average before and after, and drops the database.
//!
//! Variables: `BENCH_CLIENTS` (64), `BENCH_SECONDS` (10), `BENCH_USERS` (= clients, at least
//! that many), `BENCH_GAMES` (1000), `BENCH_POOL` (API pool size, 32).

mod bench;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use bench::{create_database, create_game, drop_database, load, load_timed, register, succeeded};
use chrono::Utc;
use futures::{StreamExt, TryStreamExt, stream};
use posmul_api::Application;
use posmul_api_kit::{ApiConfig, config::Rate};
use posmul_core::config::Env;
use posmul_economy::ledger::{self, Account};
use rand::{Rng, rngs::StdRng};
use serde_json::{Value, json};
use uuid::Uuid;

struct Settings {
    server_url: String,
    clients: usize,
    seconds: u64,
    users: usize,
    games: usize,
    pool: u32,
}

impl Settings {
    fn from_env() -> anyhow::Result<Self> {
        let env = Env::process();
        let clients: usize = env.or("BENCH_CLIENTS", 64)?;
        Ok(Settings {
            server_url: bench::server_url(&env),
            clients,
            seconds: env.or("BENCH_SECONDS", 10)?,
            users: env.or("BENCH_USERS", clients)?,
            games: env.or("BENCH_GAMES", 1000)?,
            pool: env.or("BENCH_POOL", 32)?,
        })
    }
}

/// The API under load, its citizens (id, token) and games.
struct Target {
    client: reqwest::Client,
    base: String,
    users: Vec<(Uuid, String)>,
    hot: Uuid,
    games: Vec<Uuid>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let s = Settings::from_env()?;
    if s.clients == 0 || s.users < s.clients.max(2) || s.games == 0 {
        bail!("BENCH_CLIENTS ≥ 1, BENCH_USERS ≥ max(BENCH_CLIENTS, 2) and BENCH_GAMES ≥ 1");
    }
    let db_name = format!("posmul_stakes_bench_{}", std::process::id());
    println!(
        "stakes-bench: {} clients, {} s a phase, {} users, 1 hot game + {} games; PostgreSQL at {}",
        s.clients,
        s.seconds,
        s.users,
        s.games,
        posmul_core::db::redact(&s.server_url)
    );
    let result = run(&s, &db_name).await;
    drop_database(&s.server_url, &db_name).await.ok();
    result
}

async fn run(s: &Settings, db_name: &str) -> anyhow::Result<()> {
    create_database(&s.server_url, db_name).await?;
    let url = format!("{}/{db_name}", s.server_url);
    let pool = posmul_core::db::connect_and_migrate(&url, s.pool, &Default::default())
        .await
        .context("failed to migrate the bench database")?;
    let mut config = ApiConfig::for_tests(url);
    config.signup_grant_pmp = 1_000_000_000;
    config.signup_grants_per_day = u32::MAX;
    let unlimited = Rate {
        per_minute: 60_000_000,
    };
    (config.ip_rate, config.auth_ip_rate, config.user_rate) = (unlimited, unlimited, unlimited);
    let app = Application::build_with_pool(config, pool.clone()).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    let mailbox = app
        .state()
        .mailer
        .mailbox_dir()
        .context("the bench mails to a folder")?
        .to_path_buf();
    let server = tokio::spawn(app.run_until(std::future::pending()));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(s.clients)
        .build()
        .context("failed to build the HTTP client")?;

    let mut users = register(&client, &base, &mailbox, s.users + 1).await?;
    let (moderator, moderator_token) = users.pop().context("no moderator")?;
    sqlx::query!(
        "INSERT INTO auth.user_roles (user_id, role) VALUES ($1, 'moderator')",
        moderator
    )
    .execute(&pool)
    .await
    .context("failed to make the moderator")?;
    println!(
        "registered {} citizens; creating 1 + {} games …",
        users.len(),
        s.games
    );
    let starts = Utc::now() + chrono::Duration::seconds(2);
    let created: Vec<Uuid> = stream::iter(0..=s.games)
        .map(|i| create_game(&client, &base, &moderator_token, i, starts))
        .buffered(32)
        .try_collect()
        .await?;
    let (hot, games) = (created[0], created[1..].to_vec());
    let wait = (starts - Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(200);
    tokio::time::sleep(wait).await;
    let status: Value = client
        .get(format!("{base}/v1/predictions/games/{hot}"))
        .send()
        .await?
        .json()
        .await?;
    if status["status"] != "active" {
        bail!("the hot game is not ACTIVE: {status}");
    }
    let target = Arc::new(Target {
        client,
        base,
        users,
        hot,
        games,
    });
    let duration = Duration::from_secs(s.seconds);
    let load_before = loadavg();

    println!("hot game: stake + withdraw for {} s …", s.seconds);
    let hot_pairs = load_timed(s.clients, duration, {
        let t = Arc::clone(&target);
        move |worker, _: &mut StdRng| {
            let t = Arc::clone(&t);
            async move { stake_and_withdraw(&t, worker, t.hot).await }
        }
    })
    .await;

    println!("{} games: stake + withdraw for {} s …", s.games, s.seconds);
    let spread_pairs = load_timed(s.clients, duration, {
        let t = Arc::clone(&target);
        move |worker, rng: &mut StdRng| {
            let t = Arc::clone(&t);
            let game = t.games[rng.random_range(0..t.games.len())];
            async move { stake_and_withdraw(&t, worker, game).await }
        }
    })
    .await;

    println!("{} games: stakes only for {} s …", s.games, s.seconds);
    let next: Arc<Vec<AtomicUsize>> =
        Arc::new((0..s.clients).map(|_| AtomicUsize::new(0)).collect());
    let spread_stakes = load(s.clients, duration, {
        let t = Arc::clone(&target);
        move |worker, _: &mut StdRng| {
            let (t, next) = (Arc::clone(&t), Arc::clone(&next));
            async move {
                let k = next[worker].fetch_add(1, Ordering::Relaxed);
                if k >= t.games.len() {
                    // This citizen has a prediction on every game: nothing left to place.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    return false;
                }
                // Clients start at different games so that they do not move in step.
                let game = t.games[(worker * 7919 + k) % t.games.len()];
                stake(&t, worker, game).await.is_some()
            }
        }
    })
    .await;
    let load_after = loadavg();

    // The run left the books exact and the hot game's escrow empty (every stake withdrawn).
    let mut conn = pool.acquire().await?;
    let audit = ledger::audit(&mut conn).await?;
    if !audit.is_exact() {
        bail!("the ledger is not exact after the run: {audit:?}");
    }
    let escrow = ledger::balance(&mut conn, Account::game_escrow(target.hot)).await?;
    if escrow.get() != 0 {
        bail!(
            "the hot game's escrow holds {} PMP after the run",
            escrow.get()
        );
    }
    let live = sqlx::query_scalar!(
        r#"SELECT count(*) AS "live!" FROM predictions.predictions WHERE status = 'live'"#
    )
    .fetch_one(&mut *conn)
    .await?;
    drop(conn);
    server.abort();
    let _ = tokio::time::timeout(Duration::from_secs(2), pool.close()).await;

    println!();
    println!(
        "{} concurrent HTTP clients, {} s a phase, {} CPUs; load average before {load_before}, after {load_after}",
        s.clients,
        s.seconds,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    println!("{}", hot_pairs.line("hot game: stake (+ withdraw)"));
    let spread = format!("{} games:", s.games);
    println!(
        "{}",
        spread_pairs.line(&format!("{spread} stake (+ withdraw)"))
    );
    println!("{}", spread_stakes.line(&format!("{spread} stake only")));
    println!(
        "with the withdrawals, the pair phases write 2× their stakes/s: hot {:.0}/s, spread {:.0}/s",
        2.0 * hot_pairs.rate(),
        2.0 * spread_pairs.rate()
    );
    println!(
        "after the run: ledger exact, hot escrow 0 PMP, {live} live predictions (the stakes-only phase)"
    );
    Ok(())
}

/// The machine's 1/5/15-minute load average.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Places a 10-PMP stake of `worker`'s citizen on `game`; the prediction's id when placed.
async fn stake(t: &Target, worker: usize, game: Uuid) -> Option<Uuid> {
    let res = t
        .client
        .post(format!("{}/v1/predictions/games/{game}/stakes", t.base))
        .bearer_auth(&t.users[worker].1)
        .header("Idempotency-Key", Uuid::new_v4().to_string())
        .json(&json!({ "option": worker % 2, "amount": 10 }))
        .send()
        .await
        .ok()?;
    if res.status() != 201 {
        return None;
    }
    let placed: Value = res.json().await.ok()?;
    placed["id"].as_str()?.parse().ok()
}

/// A stake then its withdrawal; the stake's latency when both succeed.
async fn stake_and_withdraw(t: &Target, worker: usize, game: Uuid) -> Option<Duration> {
    let start = Instant::now();
    let id = stake(t, worker, game).await?;
    let latency = start.elapsed();
    let res = t
        .client
        .post(format!(
            "{}/v1/predictions/predictions/{id}/withdraw",
            t.base
        ))
        .bearer_auth(&t.users[worker].1)
        .send()
        .await;
    succeeded(res, 200).await.then_some(latency)
}
