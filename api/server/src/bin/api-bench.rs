//! `api-bench`: the PMP ledger over HTTP against PostgreSQL's own limit (docs/DESIGN.md#e1, the ledger at the database's limit), through its ledger-writing routes: stakes and withdrawals (E2).
//!
//! ```text
//! cargo run --release -p posmul-api --bin api-bench
//! ```
//!
//! In one run, against the PostgreSQL of `DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`; only its server is used):
//! 1. creates a fresh database `posmul_bench_<pid>`, migrates it, serves the whole API (every
//!    layer) in-process on a free port, registers and verifies `BENCH_USERS` citizens (the
//!    sign-up grant is their PMP) and a moderator who creates `BENCH_GAMES` games;
//! 2. runs `BENCH_CLIENTS` concurrent clients for `BENCH_SECONDS`, each sending stake +
//!    withdraw pairs (`POST /v1/predictions/games/{id}/stakes` of 1 PMP on a random game with a
//!    fresh `Idempotency-Key`, then `POST /v1/predictions/predictions/{id}/withdraw`,
//!    bearer-authenticated): two ledger-writing requests a pair, each a transaction that moves
//!    PMP (E2: PMP moves only into and out of stakes); ledger writes/s, p50 and p99 of a pair;
//! 3. the same clients against `GET /v1/me/wallet`, then against a trivial axum handler on the
//!    same machine: requests/s, p50, p99;
//! 4. drops the API's pool and database, then runs pgbench's built-in tpcb-like script with the
//!    same client count (`pgbench -i -s BENCH_PGBENCH_SCALE` into a scratch database, then
//!    `pgbench -c <clients> -j 2 -T <seconds>`), and prints the ratio ledger writes/s ÷ pgbench
//!    tps (goal ≥ 0.5).
//!
//! Variables: `BENCH_CLIENTS` (64), `BENCH_SECONDS` (15), `BENCH_READ_SECONDS` (5),
//! `BENCH_USERS` (64), `BENCH_GAMES` (64), `BENCH_POOL` (API pool size, 32),
//! `BENCH_PGBENCH_SCALE` (16), `PGBENCH` (the pgbench binary, `pgbench`).

mod bench;

use std::{process::Command, sync::Arc, time::Duration};

use anyhow::{Context as _, bail};
use axum::{Router, routing::get};
use bench::{create_database, create_game, drop_database, load, load_timed, register, succeeded};
use posmul_api::Application;
use posmul_api_kit::ApiConfig;
use posmul_core::config::Env;
use rand::{Rng, rngs::StdRng};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use uuid::Uuid;

struct Settings {
    server_url: String,
    clients: usize,
    seconds: u64,
    read_seconds: u64,
    users: usize,
    games: usize,
    pool: u32,
    pgbench_scale: u32,
    pgbench: String,
}

impl Settings {
    fn from_env() -> anyhow::Result<Self> {
        let env = Env::process();
        Ok(Settings {
            server_url: bench::server_url(&env),
            clients: env.or("BENCH_CLIENTS", 64)?,
            seconds: env.or("BENCH_SECONDS", 15)?,
            read_seconds: env.or("BENCH_READ_SECONDS", 5)?,
            users: env.or("BENCH_USERS", 64)?,
            games: env.or("BENCH_GAMES", 64)?,
            pool: env.or("BENCH_POOL", 32)?,
            pgbench_scale: env.or("BENCH_PGBENCH_SCALE", 16)?,
            pgbench: env.raw("PGBENCH").unwrap_or_else(|| "pgbench".into()),
        })
    }

    fn url(&self, db: &str) -> String {
        format!("{}/{db}", self.server_url)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let s = Settings::from_env()?;
    if s.users < 2 || s.clients == 0 || s.games == 0 {
        bail!("BENCH_USERS must be at least 2, BENCH_CLIENTS and BENCH_GAMES at least 1");
    }
    let db_name = format!("posmul_bench_{}", std::process::id());
    let scratch = format!("posmul_pgbench_{}", std::process::id());
    println!(
        "api-bench: {} clients, {} s stake + withdraw pairs, {} s reads, {} users; PostgreSQL at {}",
        s.clients,
        s.seconds,
        s.read_seconds,
        s.users,
        posmul_core::db::redact(&s.server_url)
    );

    let result = run(&s, &db_name, &scratch).await;
    // Clean up whatever happened.
    drop_database(&s.server_url, &db_name).await.ok();
    drop_database(&s.server_url, &scratch).await.ok();
    result
}

async fn run(s: &Settings, db_name: &str, scratch: &str) -> anyhow::Result<()> {
    create_database(&s.server_url, db_name).await?;
    let pool = posmul_core::db::connect_and_migrate(&s.url(db_name), s.pool, &Default::default())
        .await
        .context("failed to migrate the bench database")?;

    let mut config = ApiConfig::for_tests(s.url(db_name));
    config.signup_grant_pmp = 1_000_000_000;
    config.signup_grants_per_day = u32::MAX;
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
    sqlx::query("INSERT INTO auth.user_roles (user_id, role) VALUES ($1, 'moderator')")
        .bind(moderator)
        .execute(&pool)
        .await
        .context("failed to make the moderator")?;
    let starts = chrono::Utc::now() + chrono::Duration::seconds(2);
    let mut games = Vec::with_capacity(s.games);
    for i in 0..s.games {
        games.push(create_game(&client, &base, &moderator_token, i, starts).await?);
    }
    let games = Arc::new(games);
    let users = Arc::new(users);
    tokio::time::sleep(
        (starts - chrono::Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(200),
    )
    .await;
    println!(
        "registered {} citizens, {} games open; stake + withdraw pairs for {} s …",
        users.len(),
        games.len(),
        s.seconds
    );

    // PMP moves only into and out of stakes (E2): a stake and its withdrawal are the API's
    // ledger-writing requests; the pair's latency is recorded.
    let pairs = load_timed(s.clients, Duration::from_secs(s.seconds), {
        let (client, base, users, games) = (
            client.clone(),
            base.clone(),
            Arc::clone(&users),
            Arc::clone(&games),
        );
        move |worker, rng: &mut StdRng| {
            let (client, base, users) = (client.clone(), base.clone(), Arc::clone(&users));
            let game = games[rng.random_range(0..games.len())];
            async move {
                let start = std::time::Instant::now();
                let token = &users[worker % users.len()].1;
                let res = client
                    .post(format!("{base}/v1/predictions/games/{game}/stakes"))
                    .bearer_auth(token)
                    .header("Idempotency-Key", Uuid::new_v4().to_string())
                    .json(&json!({ "option": worker % 2, "amount": 1 }))
                    .send()
                    .await
                    .ok()?;
                if res.status() != 201 {
                    return None;
                }
                let placed: Value = res.json().await.ok()?;
                let id = placed["id"].as_str()?.to_owned();
                let res = client
                    .post(format!("{base}/v1/predictions/predictions/{id}/withdraw"))
                    .bearer_auth(token)
                    .send()
                    .await;
                succeeded(res, 200).await.then(|| start.elapsed())
            }
        }
    })
    .await;
    let writes_per_sec = 2.0 * pairs.rate();

    println!(
        "reading wallets, then a trivial handler, {} s each …",
        s.read_seconds
    );
    let wallet = load(s.clients, Duration::from_secs(s.read_seconds), {
        let (client, base, users) = (client.clone(), base.clone(), Arc::clone(&users));
        move |worker, _: &mut StdRng| {
            let (client, base, users) = (client.clone(), base.clone(), Arc::clone(&users));
            async move {
                let res = client
                    .get(format!("{base}/v1/me/wallet"))
                    .bearer_auth(&users[worker % users.len()].1)
                    .send()
                    .await;
                succeeded(res, 200).await
            }
        }
    })
    .await;

    let trivial_listener = TcpListener::bind("127.0.0.1:0").await?;
    let trivial_base = format!("http://{}", trivial_listener.local_addr()?);
    let trivial_server = tokio::spawn(async move {
        axum::serve(
            trivial_listener,
            Router::new().route("/", get(|| async { "ok" })),
        )
        .await
    });
    let trivial = load(s.clients, Duration::from_secs(s.read_seconds), {
        let (client, base) = (client.clone(), trivial_base.clone());
        move |_, _: &mut StdRng| {
            let (client, base) = (client.clone(), base.clone());
            async move {
                let res = client.get(format!("{base}/")).send().await;
                succeeded(res, 200).await
            }
        }
    })
    .await;
    trivial_server.abort();

    // Prove the run left the ledger exact, then free the connections for pgbench.
    let audit = posmul_economy::ledger::audit(&mut *pool.acquire().await?).await?;
    if !audit.is_exact() {
        bail!("the ledger is not exact after the run: {audit:?}");
    }
    server.abort();
    // Background jobs of the API may still hold a connection: close what is idle, then drop the
    // database with FORCE so that pgbench gets every connection it needs.
    let _ = tokio::time::timeout(Duration::from_secs(2), pool.close()).await;
    drop_database(&s.server_url, db_name).await?;

    println!();
    println!("{}", pairs.line("stake + withdraw (pairs)"));
    println!(
        "{:<34} {:>10.0}/s",
        "ledger writes (2 a pair)", writes_per_sec
    );
    println!("{}", wallet.line("GET /v1/me/wallet"));
    println!("{}", trivial.line("GET / (trivial axum handler)"));
    println!(
        "ledger audit after the run: exact ({} stake + withdraw pairs written)",
        pairs.ok
    );
    println!();

    println!(
        "running pgbench (tpcb-like, scale {}) with {} clients for {} s …",
        s.pgbench_scale, s.clients, s.seconds
    );
    let pgbench = pgbench(s, scratch).await?;
    let ratio = writes_per_sec / pgbench.tps;
    println!(
        "{:<34} {:>10.0}/s   avg {:>7.2} ms   (pgbench -c {} -j 2 -T {}, scale {})",
        "pgbench tpcb-like", pgbench.tps, pgbench.latency_ms, s.clients, s.seconds, s.pgbench_scale
    );
    println!(
        "{:<34} {:>10.0}/s",
        "ledger writes (stake, withdraw)", writes_per_sec
    );
    println!(
        "{:<34} {:>10.2}    (goal >= 0.5)",
        "ratio ledger writes/s ÷ pgbench tps", ratio
    );
    Ok(())
}

struct PgbenchResult {
    tps: f64,
    latency_ms: f64,
}

async fn pgbench(s: &Settings, scratch: &str) -> anyhow::Result<PgbenchResult> {
    create_database(&s.server_url, scratch).await?;
    let url = s.url(scratch);
    let init = Command::new(&s.pgbench)
        .args(["-i", "-q", "-s", &s.pgbench_scale.to_string(), &url])
        .output()
        .with_context(|| {
            format!(
                "failed to run {} (install postgresql-client or set PGBENCH)",
                s.pgbench
            )
        })?;
    if !init.status.success() {
        bail!(
            "pgbench -i failed: {}",
            String::from_utf8_lossy(&init.stderr)
        );
    }
    // Other clients of a shared server may hold connections for a moment: retry a refused start.
    let mut attempt = 0;
    let text = loop {
        attempt += 1;
        let out = Command::new(&s.pgbench)
            .args([
                "-c",
                &s.clients.to_string(),
                "-j",
                "2",
                "-T",
                &s.seconds.to_string(),
                &url,
            ])
            .output()
            .context("failed to run pgbench")?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            break text;
        }
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        if attempt < 5 && err.contains("too many clients") {
            println!("pgbench: the server has too few free connections; retrying in 5 s");
            tokio::time::sleep(Duration::from_secs(5)).await;
            continue;
        }
        bail!("pgbench failed: {text}{err}");
    };
    let number_after = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<f64>().ok())
    };
    Ok(PgbenchResult {
        tps: number_after("tps = ").context("no tps line in pgbench's output")?,
        latency_ms: number_after("latency average = ").unwrap_or(0.0),
    })
}
