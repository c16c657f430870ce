//! A relayer that is safe to leave running, on the set-up of `waves` (this is its child
//! module): the chain-id check, the fee ceiling, the gas wallet's metrics, a node that answers
//! late or rate-limits, a wave export lost after a crash, and the binary's commands (data on
//! stdout only, `--help`). The binary runs as a child process (`CARGO_BIN_EXE_posmul-relayer`)
//! against the test's anvil and database.

use std::{
    net::SocketAddr,
    process::{Command, Output, Stdio},
    time::Instant,
};

use posmul_core::service::global_metrics;
use posmul_testkit::{DeploymentsDir, rate_limit::RateLimitedNode};

use super::*;

const GWEI: u128 = 1_000_000_000;

/// The URL of the test's own database (`#[sqlx::test]` made it), for the binary.
async fn database_url(pool: &PgPool) -> String {
    let db = sqlx::query_scalar!(r#"SELECT current_database() AS "db!""#)
        .fetch_one(pool)
        .await
        .expect("db name");
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let (server, _) = base.rsplit_once('/').expect("DATABASE_URL has a database");
    format!("{server}/{db}")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// The binary with the environment of chain `c`: its database, node, deployments and key.
fn relayer_command(c: &Chain, db: &str, rpc: &str, deployments: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_posmul-relayer"));
    cmd.env_clear()
        .env("DATABASE_URL", db)
        .env("RPC_URL", rpc)
        .env("DEPLOYMENTS_DIR", deployments)
        .env("PRIVATE_KEY", c.local.keys()[0].to_bytes().to_string())
        .env("WAVE_EXPORT_DIR", &c.export_dir)
        .env("POLL_INTERVAL_MS", "100")
        .env("FINALITY_CONFIRMATIONS", "2")
        // Chatty logs: none of them may reach stdout.
        .env("RUST_LOG", "debug");
    cmd
}

fn stdout_json(out: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{stdout}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The relayer of chain `c` with `settings` (the test defaults, changed).
async fn relayer_with(c: &Chain, pool: &PgPool, settings: Settings) -> Relayer {
    let provider = posmul_core::rpc::connect(
        &c.local.url(),
        &posmul_core::tls::TlsSettings::default(),
        None,
    )
    .await
    .expect("provider");
    Relayer::new(
        pool.clone(),
        provider,
        c.local.keys()[0].clone(),
        c.deployment.money_wave,
        0,
        settings,
    )
    .await
    .expect("relayer")
}

async fn attempts(pool: &PgPool) -> Vec<(String, String)> {
    // The statement of `waves`' replacement test (one entry in `.sqlx`).
    sqlx::query!(
            r#"SELECT tx_hash, max_fee_per_gas::text AS "max_fee!", max_priority_fee_per_gas::text AS "prio!", nonce
               FROM relayer.tx_attempts ORDER BY id"#
        )
    .fetch_all(pool)
    .await
    .expect("db")
    .into_iter()
    .map(|r| (r.max_fee, r.prio))
    .collect()
}

/// The value of a counter or gauge line of the Prometheus text (`name{labels} value`).
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn the_binary_refuses_a_node_on_another_chain_than_chain_id_or_the_deployment_file(
    pool: PgPool,
) {
    let c = chain(1_000).await;
    let db = database_url(&pool).await;
    // The contracts of the test's chain (31337), described as chain 137's.
    let polygon = DeploymentsDir::write(&Deployment {
        chain_id: 137,
        ..c.deployment.clone()
    });
    let out = relayer_command(&c, &db, &c.local.url(), polygon.path())
        .env("CHAIN_ID", "137")
        .arg("reconcile")
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "CHAIN_ID=137 against 31337: {stderr}"
    );
    assert!(
        stderr.contains("on chain 31337") && stderr.contains("CHAIN_ID says 137"),
        "{stderr}"
    );

    // No CHAIN_ID: the node's chain picks the file, whose chainId must agree.
    std::fs::copy(
        polygon.path().join("137.json"),
        polygon.path().join("31337.json"),
    )
    .expect("copy");
    let out = relayer_command(&c, &db, &c.local.url(), polygon.path())
        .arg("reconcile")
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("on chain 31337") && stderr.contains("31337.json says 137"),
        "{stderr}"
    );
    assert_eq!(attempts(&pool).await.len(), 0, "nothing signed");

    // The right file and CHAIN_ID: it runs.
    let right = DeploymentsDir::write(&c.deployment);
    let out = relayer_command(&c, &db, &c.local.url(), right.path())
        .env("CHAIN_ID", "31337")
        .arg("reconcile")
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn above_the_fee_ceiling_nothing_is_sent_and_the_wave_waits_for_a_lower_base_fee(
    pool: PgPool,
) {
    let metrics = global_metrics(|b| b);
    let hits = || metric(&metrics.render(), "posmul_relayer_fee_ceiling_hits_total").unwrap_or(0.0);
    let mut c = chain(1_000).await;
    let r = relayer_with(
        &c,
        &pool,
        Settings {
            max_fee_per_gas_wei: 10 * GWEI,
            max_priority_fee_per_gas_wei: 2 * GWEI,
            ..settings(&c.export_dir)
        },
    )
    .await;
    let gas = r.gas_balance().await.expect("gas balance");
    let held = c
        .local
        .admin()
        .get_balance(c.local.keys()[0].address())
        .await
        .expect("balance");
    assert_eq!(gas.balance_wei, Wei::from_u256(held));
    assert!(
        !gas.low,
        "anvil's 10 000 ETH are above the default 1 ETH alert"
    );

    let u = user(&pool, Some(addr(0x2c))).await;
    credit(&pool, &r, u, 3, 0).await;
    c.end_day(0).await;
    // A fee spike: the base fee (50 gwei, then 43.75 for the next block) is over the ceiling.
    let admin = c.local.admin();
    admin
        .anvil_set_next_block_base_fee_per_gas(50 * GWEI)
        .await
        .expect("base fee");
    c.local.mine(1).await;
    let before = hits();
    match r.catch_up().await {
        Err(Error::FeeCeiling { what, .. }) => assert_eq!(what, "transaction"),
        other => panic!("expected the ceiling to hold the wave back, got {other:?}"),
    }
    assert!(
        hits() > before,
        "posmul_relayer_fee_ceiling_hits_total counts it"
    );
    assert_eq!(attempts(&pool).await.len(), 0, "nothing signed or sent");
    assert_eq!(c.published_days().await, Vec::<u64>::new());

    // The spike passes: the same wave goes out, within the ceiling.
    admin
        .anvil_set_next_block_base_fee_per_gas(GWEI)
        .await
        .expect("base fee");
    c.local.mine(1).await;
    c.start_miner();
    assert_eq!(r.catch_up().await.expect("published"), vec![0]);
    assert_eq!(c.published_days().await, vec![0]);
    for (max_fee, prio) in attempts(&pool).await {
        let (max_fee, prio): (u128, u128) = (max_fee.parse().expect("n"), prio.parse().expect("n"));
        assert!(max_fee <= 10 * GWEI && prio <= 2 * GWEI, "{max_fee} {prio}");
    }
    assert_reconciled(&r).await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn m4_a_missing_wave_export_is_written_again_identically_on_the_next_pass(pool: PgPool) {
    let mut c = chain(1_000).await;
    c.start_miner();
    let r = c.relayer(&pool).await;
    let (ua, ub) = (
        user(&pool, Some(addr(0x0a))).await,
        user(&pool, Some(addr(0x0b))).await,
    );
    credit(&pool, &r, ua, 4, 0).await;
    credit(&pool, &r, ub, 6, 0).await;
    c.end_day(0).await;
    assert_eq!(r.catch_up().await.expect("day 0"), vec![0]);
    let path = wave::export_path(&c.export_dir, 31337, 0);
    let written = std::fs::read(&path).expect("exported");
    // As after a crash between the build's commit and the export (or a lost file).
    std::fs::remove_file(&path).expect("delete");
    assert_eq!(r.catch_up().await.expect("a pass"), Vec::<u64>::new());
    assert_eq!(
        std::fs::read(&path).expect("written again"),
        written,
        "the same bytes"
    );
}

/// Accepts connections on `port` only from `after` on, then passes them to `upstream`: a node
/// that comes up late.
fn node_coming_up(port: u16, upstream: u16, after: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("the port is still free");
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut out) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                }
            });
        }
    })
}

/// Kills the child when dropped.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn run_waits_for_a_node_that_comes_up_late_then_publishes_and_reports_its_gas_wallet(
    pool: PgPool,
) {
    let mut c = chain(1_000).await;
    c.start_miner();
    let db = database_url(&pool).await;
    let deployments = DeploymentsDir::write(&c.deployment);
    let u = user(&pool, Some(addr(0x3d))).await;
    credit(&pool, &c.relayer(&pool).await, u, 5, 0).await;
    c.end_day(0).await;

    let port = free_port();
    let log = std::env::temp_dir().join(format!("posmul-relayer-late-{}.log", Uuid::new_v4()));
    let logs = || std::fs::read_to_string(&log).unwrap_or_default();
    let metrics_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut child = Running(
        relayer_command(
            &c,
            &db,
            &format!("http://127.0.0.1:{port}"),
            deployments.path(),
        )
        .env("METRICS_ADDR", metrics_addr.to_string())
        // Above anvil's 10 000 ETH: the wallet counts as low.
        .env("GAS_BALANCE_ALERT_WEI", "1000000000000000000000000000")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .arg("run")
        .spawn()
        .expect("spawn"),
    );
    let _node = node_coming_up(port, c.local.port(), Duration::from_secs(3));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        child.0.try_wait().expect("wait").is_none(),
        "run waits for the node instead of exiting: {}",
        logs()
    );
    let readyz = alloy::transports::http::reqwest::get(format!("http://{metrics_addr}/readyz"))
        .await
        .expect("GET /readyz while waiting");
    assert_eq!(readyz.status().as_u16(), 503);
    assert!(readyz.text().await.expect("body").contains("starting"));
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let status = wave::load(&pool, 0).await.expect("db").map(|w| w.status);
        if status == Some(Status::Finalized) {
            break;
        }
        assert!(
            child.0.try_wait().expect("wait").is_none(),
            "the relayer exited: {}",
            logs()
        );
        assert!(
            Instant::now() < deadline,
            "wave 0 not final: {status:?}\n{}",
            logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(c.published_days().await, vec![0]);

    let body = alloy::transports::http::reqwest::get(format!("http://{metrics_addr}/metrics"))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("body");
    let wallet = c.local.keys()[0].address().to_checksum(None);
    assert_eq!(
        metric(
            &body,
            &format!("posmul_relayer_gas_balance_low{{wallet=\"{wallet}\"}}")
        ),
        Some(1.0),
        "{body}"
    );
    let reported = metric(
        &body,
        &format!("posmul_relayer_gas_balance_wei{{wallet=\"{wallet}\"}}"),
    )
    .expect("the balance gauge");
    let held: f64 = c
        .local
        .admin()
        .get_balance(c.local.keys()[0].address())
        .await
        .expect("balance")
        .to_string()
        .parse()
        .expect("f64");
    assert!(
        (reported - held).abs() / held < 1e-6,
        "gauge {reported} vs balance {held}"
    );
    assert!(
        logs().contains("cannot be reached yet"),
        "the wait is logged"
    );
    drop(child);
    let _ = std::fs::remove_file(&log);
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn the_commands_print_only_json_on_stdout_and_each_has_help(pool: PgPool) {
    let mut c = chain(1_000).await;
    c.start_miner();
    let r = c.relayer(&pool).await;
    let u = user(&pool, Some(addr(0x4e))).await;
    credit(&pool, &r, u, 8, 0).await;
    c.end_day(0).await;
    assert_eq!(r.catch_up().await.expect("day 0"), vec![0]);
    let db = database_url(&pool).await;
    let deployments = DeploymentsDir::write(&c.deployment);
    let run = |args: &[&str]| {
        relayer_command(&c, &db, &c.local.url(), deployments.path())
            .args(args)
            .output()
            .expect("runs")
    };

    let out = run(&["reconcile"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = stdout_json(&out);
    assert_eq!(report["days_checked"], 1);
    assert_eq!(report["problems"], serde_json::json!([]));
    assert!(!out.stderr.is_empty(), "the logs went to stderr");

    let out = run(&["status"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = stdout_json(&out);
    assert_eq!(status["chain_id"], 31337);
    assert_eq!(
        status["relayer"],
        c.local.keys()[0].address().to_checksum(None)
    );
    assert_eq!(
        status["money_wave"],
        c.deployment.money_wave.to_checksum(None)
    );
    assert_eq!(status["chain"]["next_day"], 1);
    assert_eq!(status["last_wave"]["day"], 0);
    assert_eq!(status["last_wave"]["status"], "finalized");
    assert_eq!(status["gas"]["low"], false);
    assert!(status["gas"]["balance_wei"].is_string());

    let out = run(&["export-wave", "0"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dump = stdout_json(&out);
    let file: serde_json::Value = serde_json::from_slice(
        &std::fs::read(wave::export_path(&c.export_dir, 31337, 0)).expect("export"),
    )
    .expect("json");
    assert_eq!(dump, file, "the allocation file, from the stored tree");
    let out = run(&["export-wave", "7"]);
    assert!(!out.status.success() && out.stdout.is_empty());

    for args in [
        &["--help"][..],
        &["run", "--help"],
        &["reconcile", "--help"],
        &["export-wave", "--help"],
        &["status", "--help"],
        &["build-wave", "--help"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_posmul-relayer"))
            .env_clear()
            .args(args)
            .output()
            .expect("runs");
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && help.contains("Usage: posmul-relayer"),
            "{args:?}: {help}"
        );
    }
    let out = run(&["publish-everything"]);
    assert!(!out.status.success(), "an unknown command is refused");
}

#[tokio::test]
async fn a_rate_limited_node_is_waited_out_as_it_asks_before_an_error() {
    let c = LocalChain::start();
    let node = RateLimitedNode::start(&c.url(), 2, Some(Duration::from_secs(1))).await;
    let provider =
        posmul_core::rpc::connect(&node.url(), &posmul_core::tls::TlsSettings::default(), None)
            .await
            .expect("provider");
    let start = Instant::now();
    assert_eq!(
        provider.get_chain_id().await.expect("answered in the end"),
        31337
    );
    assert_eq!(node.requests(), 3, "two refusals, then the answer");
    assert!(
        start.elapsed() >= Duration::from_secs(2),
        "Retry-After: 1 honoured twice: {:?}",
        start.elapsed()
    );

    // A node that keeps refusing: the error comes after the retries, without the URL's key.
    let refusing = RateLimitedNode::start(&c.url(), usize::MAX, None).await;
    let provider = posmul_core::rpc::connect(
        &refusing.url(),
        &posmul_core::tls::TlsSettings::default(),
        None,
    )
    .await
    .expect("provider");
    let err = provider.get_chain_id().await.expect_err("always 429");
    assert_eq!(
        refusing.requests(),
        1 + posmul_core::rpc::RATE_LIMIT_RETRIES as usize
    );
    assert!(!err.to_string().contains("KEY"), "{err}");
}
