//! Shared test fixtures: the emitter contract on a `LocalChain` (posmul-testkit), the indexer (in-process or as a child
//! process), an RPC proxy that can refuse ranges or play dead, and the mirror-vs-chain check.

use std::{
    collections::{BTreeMap, HashMap},
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use alloy::{
    primitives::{Address, U256},
    providers::Provider,
    rpc::types::Filter,
    sol,
    transports::http::reqwest,
};
use axum::{
    Router, body::Bytes, extract::State, http::StatusCode, response::IntoResponse, routing::post,
};
use posmul_core::{db::ServiceRole, deployment::Deployment};
use posmul_indexer::{
    Indexer, IndexerConfig,
    events::{Contracts, Event, decode_log},
    status::Status,
};
use posmul_testkit::roles::pool_as;
pub use posmul_testkit::{DeploymentsDir, LocalChain};
use sqlx::PgPool;

sol! {
    #[sol(rpc)]
    TransferEmitter,
    "../contracts/bench/TransferEmitter.json"
}

pub const CHAIN_ID: u64 = 31337;

/// The indexer tests' own contract on a [`LocalChain`]: an emitter of PMC-shaped `Transfer`
/// events in bulk.
pub trait Emitter {
    /// Deploys the emitter; returns its address and the deployment block.
    async fn deploy_emitter(&self) -> (Address, u64);
    /// One transaction (one block, anvil automines) emitting `count` transfers from `start`.
    async fn emit(&self, emitter: Address, start: u64, count: u64, holders: u64);
}

impl Emitter for LocalChain {
    async fn deploy_emitter(&self) -> (Address, u64) {
        let c = TransferEmitter::deploy(self.admin())
            .await
            .expect("deploy emitter");
        (*c.address(), self.head().await)
    }

    async fn emit(&self, emitter: Address, start: u64, count: u64, holders: u64) {
        let c = TransferEmitter::new(emitter, self.admin());
        c.emitTransfers(U256::from(start), U256::from(count), U256::from(holders))
            .send()
            .await
            .expect("send emitTransfers")
            .get_receipt()
            .await
            .expect("receipt");
    }
}

/// A deployment whose "PMC" is the emitter (the other two contracts are absent addresses).
pub fn emitter_deployment(emitter: Address, block: u64) -> Deployment {
    Deployment {
        chain_id: CHAIN_ID,
        pmc: emitter,
        money_wave: Address::repeat_byte(0xaa),
        donation_hub: Address::repeat_byte(0xbb),
        deployment_block: block,
        genesis: 0,
        max_supply: None,
        daily_cap: None,
    }
}

/// Fast settings for tests.
pub fn test_config(rpc_urls: Vec<String>) -> IndexerConfig {
    let mut c = IndexerConfig::local(CHAIN_ID, rpc_urls);
    c.http_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    c.poll_interval = Duration::from_millis(50);
    c.retry_base = Duration::from_millis(20);
    c.retry_max = Duration::from_millis(300);
    c.rpc_timeout = Duration::from_secs(5);
    c.standby_poll = Duration::from_millis(100);
    c
}

/// An indexer running in this process; stopped when dropped.
pub struct Running {
    pub status: Arc<Status>,
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Running {
    /// Runs the indexer over `pool`'s database as its role, `posmul_indexer`, as in
    /// production: a write outside the mirror fails the test.
    pub async fn start(config: IndexerConfig, deployment: &Deployment, pool: PgPool) -> Running {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let pool = pool_as(&pool, ServiceRole::Indexer, 5).await;
        let indexer = Indexer::build(config, deployment, pool)
            .await
            .expect("build indexer");
        let status = indexer.status();
        let addr = indexer.http_addr();
        let task = tokio::spawn(async move {
            if let Err(e) = indexer.run().await {
                panic!("indexer stopped: {e}");
            }
        });
        Running { status, addr, task }
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        http_get(self.addr, path).await
    }
}

pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    match reqwest::get(format!("http://{addr}{path}")).await {
        Ok(r) => {
            let code = r.status().as_u16();
            (code, r.text().await.unwrap_or_default())
        }
        Err(e) => (0, e.to_string()),
    }
}

/// Polls `cond` every 25 ms until it holds or `secs` pass.
pub async fn wait_for<F, Fut>(what: &str, secs: u64, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if cond().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out after {secs}s waiting for {what}");
}

/// The cursor's indexed block (-1 when absent).
pub async fn indexed(pool: &PgPool) -> i64 {
    sqlx::query_scalar!(
        "SELECT indexed_block FROM chain.cursors WHERE chain_id = $1",
        CHAIN_ID as i64,
    )
    .fetch_optional(pool)
    .await
    .expect("cursor")
    .unwrap_or(-1)
}

/// The rows of each mirrored event table but `pmc_transfers`, on the test chain.
pub async fn event_counts(pool: &PgPool) -> HashMap<&'static str, i64> {
    let c = sqlx::query!(
        r#"SELECT (SELECT count(*) FROM chain.pmc_delegate_changes WHERE chain_id = $1) AS "pmc_delegate_changes!",
                  (SELECT count(*) FROM chain.pmc_delegate_votes WHERE chain_id = $1) AS "pmc_delegate_votes!",
                  (SELECT count(*) FROM chain.waves_published WHERE chain_id = $1) AS "waves_published!",
                  (SELECT count(*) FROM chain.wave_claims WHERE chain_id = $1) AS "wave_claims!",
                  (SELECT count(*) FROM chain.wave_cap_changes WHERE chain_id = $1) AS "wave_cap_changes!",
                  (SELECT count(*) FROM chain.pause_changes WHERE chain_id = $1) AS "pause_changes!",
                  (SELECT count(*) FROM chain.role_changes WHERE chain_id = $1) AS "role_changes!",
                  (SELECT count(*) FROM chain.donation_recipients WHERE chain_id = $1) AS "donation_recipients!",
                  (SELECT count(*) FROM chain.donations WHERE chain_id = $1) AS "donations!",
                  (SELECT count(*) FROM chain.root_pending WHERE chain_id = $1) AS "root_pending!",
                  (SELECT count(*) FROM chain.root_revocations WHERE chain_id = $1) AS "root_revocations!",
                  (SELECT count(*) FROM chain.root_delay_changes WHERE chain_id = $1) AS "root_delay_changes!""#,
        CHAIN_ID as i64,
    )
    .fetch_one(pool)
    .await
    .expect("counts");
    HashMap::from([
        ("pmc_delegate_changes", c.pmc_delegate_changes),
        ("pmc_delegate_votes", c.pmc_delegate_votes),
        ("waves_published", c.waves_published),
        ("wave_claims", c.wave_claims),
        ("wave_cap_changes", c.wave_cap_changes),
        ("pause_changes", c.pause_changes),
        ("role_changes", c.role_changes),
        ("donation_recipients", c.donation_recipients),
        ("donations", c.donations),
        ("root_pending", c.root_pending),
        ("root_revocations", c.root_revocations),
        ("root_delay_changes", c.root_delay_changes),
    ])
}

/// Waits until the mirror reaches the node's current head.
pub async fn wait_at_head(pool: &PgPool, chain: &LocalChain, secs: u64) {
    let head = chain.head().await as i64;
    wait_for(&format!("the mirror at head {head}"), secs, || async {
        indexed(pool).await >= head
    })
    .await;
}

/// The URL of the test's own database (sqlx::test creates one per test).
pub async fn database_url(pool: &PgPool) -> String {
    let db = sqlx::query_scalar!(r#"SELECT current_database() AS "db!""#)
        .fetch_one(pool)
        .await
        .expect("db name");
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let (server, _) = base.rsplit_once('/').expect("DATABASE_URL has a database");
    format!("{server}/{db}")
}

fn hexs(b: &[u8]) -> String {
    alloy::hex::encode(b)
}

/// Asserts that the mirror equals the chain up to the cursor: the same transfers (position,
/// block hash, fields), the same count of every other event, balances recomputed from the
/// chain's transfers, and every stored block on the canonical chain.
pub async fn assert_mirror_equals_chain(
    pool: &PgPool,
    chain: &LocalChain,
    deployment: &Deployment,
) {
    let contracts = Contracts {
        pmc: deployment.pmc,
        money_wave: deployment.money_wave,
        donation_hub: deployment.donation_hub,
    };
    let upto = indexed(pool).await;
    assert!(
        upto >= deployment.deployment_block as i64,
        "nothing indexed"
    );
    let filter = Filter::new()
        .address(contracts.all().to_vec())
        .from_block(deployment.deployment_block)
        .to_block(upto as u64);
    let logs = chain.admin().get_logs(&filter).await.expect("chain logs");
    let mut expected_transfers = Vec::new();
    let mut expected_balances: BTreeMap<String, U256> = BTreeMap::new();
    let mut expected_other: HashMap<&'static str, i64> = HashMap::new();
    for log in &logs {
        let Some(e) = decode_log(&contracts, log).expect("decodes") else {
            continue;
        };
        match e.event {
            Event::Transfer { from, to, value } => {
                expected_transfers.push((
                    e.block_number as i64,
                    e.log_index as i64,
                    hexs(e.block_hash.as_slice()),
                    hexs(e.tx_hash.as_slice()),
                    hexs(from.as_slice()),
                    hexs(to.as_slice()),
                    value.to_string(),
                ));
                if from != Address::ZERO {
                    let b = expected_balances.entry(hexs(from.as_slice())).or_default();
                    *b = b
                        .checked_sub(value)
                        .expect("chain balances never go negative");
                }
                if to != Address::ZERO {
                    let b = expected_balances.entry(hexs(to.as_slice())).or_default();
                    *b += value;
                }
            }
            other => *expected_other.entry(table_of(&other)).or_default() += 1,
        }
    }
    let rows = sqlx::query!(
        r#"SELECT block_number, log_index::bigint AS "log_index!", encode(block_hash, 'hex') AS "bh!",
                  encode(tx_hash, 'hex') AS "th!", encode(from_address, 'hex') AS "fa!",
                  encode(to_address, 'hex') AS "ta!", value::text AS "v!"
           FROM chain.pmc_transfers WHERE chain_id = $1 ORDER BY block_number, log_index"#,
        CHAIN_ID as i64,
    )
    .fetch_all(pool)
    .await
    .expect("transfers");
    let mirrored: Vec<_> = rows
        .into_iter()
        .map(|r| (r.block_number, r.log_index, r.bh, r.th, r.fa, r.ta, r.v))
        .collect();
    assert_eq!(mirrored.len(), expected_transfers.len(), "transfer count");
    assert!(
        mirrored == expected_transfers,
        "mirrored transfers differ from the chain's"
    );
    for (table, n) in event_counts(pool).await {
        assert_eq!(
            n,
            expected_other.get(table).copied().unwrap_or(0),
            "rows in chain.{table}"
        );
    }
    let balances: BTreeMap<String, U256> = sqlx::query!(
        r#"SELECT encode(address, 'hex') AS "a!", balance::text AS "b!" FROM chain.pmc_balances WHERE chain_id = $1"#,
        CHAIN_ID as i64,
    )
    .fetch_all(pool)
    .await
    .expect("balances")
    .into_iter()
    .map(|r| (r.a, r.b.parse::<U256>().expect("balance")))
    .collect();
    assert!(
        balances == expected_balances,
        "mirrored balances differ from the chain's ({} vs {} holders)",
        balances.len(),
        expected_balances.len()
    );
    let blocks = sqlx::query!(
        "SELECT number, hash FROM chain.blocks WHERE chain_id = $1 ORDER BY number",
        CHAIN_ID as i64,
    )
    .fetch_all(pool)
    .await
    .expect("blocks");
    for r in blocks {
        let n = r.number;
        assert!(n <= upto, "block {n} above the cursor {upto}");
        let hash = r.hash;
        let node = chain
            .admin()
            .get_block_by_number((n as u64).into())
            .await
            .expect("block")
            .expect("exists");
        assert_eq!(
            node.header.hash.as_slice(),
            hash.as_slice(),
            "stored block {n} is not canonical"
        );
    }
}

fn table_of(e: &Event) -> &'static str {
    match e {
        Event::Transfer { .. } => "pmc_transfers",
        Event::DelegateChanged { .. } => "pmc_delegate_changes",
        Event::DelegateVotesChanged { .. } => "pmc_delegate_votes",
        Event::WavePublished { .. } => "waves_published",
        Event::Claimed { .. } => "wave_claims",
        Event::DailyCapChanged { .. } => "wave_cap_changes",
        Event::PauseChanged { .. } => "pause_changes",
        Event::RoleChanged { .. } => "role_changes",
        Event::RecipientSet { .. } => "donation_recipients",
        Event::Donated { .. } => "donations",
        Event::RootPending { .. } => "root_pending",
        Event::RootRevoked { .. } => "root_revocations",
        Event::RootDelayChanged { .. } => "root_delay_changes",
    }
}

/// A JSON-RPC proxy in front of anvil that can refuse large `eth_getLogs` ranges with
/// provider-style errors, or be "down" (answers 503 to everything).
#[derive(Clone)]
pub struct Proxy {
    pub addr: SocketAddr,
    pub max_range: Arc<AtomicU64>,
    pub down: Arc<AtomicBool>,
    pub refused: Arc<AtomicU64>,
    task: Arc<tokio::task::JoinHandle<()>>,
}

#[derive(Clone)]
struct ProxyState {
    target: String,
    client: reqwest::Client,
    max_range: Arc<AtomicU64>,
    down: Arc<AtomicBool>,
    refused: Arc<AtomicU64>,
}

const REFUSALS: &[&str] = &[
    "query returned more than 10000 results",
    "block range is too large",
    "exceed maximum block range: 5",
    "limit exceeded",
    "response size exceeded",
];

impl Proxy {
    pub async fn start(target: String) -> Proxy {
        let state = ProxyState {
            target,
            client: reqwest::Client::new(),
            max_range: Arc::new(AtomicU64::new(0)),
            down: Arc::new(AtomicBool::new(false)),
            refused: Arc::new(AtomicU64::new(0)),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let app = Router::new()
            .route("/", post(forward))
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Proxy {
            addr,
            max_range: state.max_range,
            down: state.down,
            refused: state.refused,
            task: Arc::new(task),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if Arc::strong_count(&self.task) == 1 {
            self.task.abort();
        }
    }
}

fn quantity(v: &serde_json::Value) -> Option<u64> {
    v.as_str()
        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
}

/// The provider-style error for an `eth_getLogs` over more than `max_range` blocks.
fn refuse(s: &ProxyState, body: &[u8]) -> Option<String> {
    let max = s.max_range.load(Ordering::SeqCst);
    let req = serde_json::from_slice::<serde_json::Value>(body).ok()?;
    let f = &req["params"][0];
    let (a, b) = (quantity(&f["fromBlock"])?, quantity(&f["toBlock"])?);
    if max == 0 || req["method"] != "eth_getLogs" || b.saturating_sub(a) < max {
        return None;
    }
    let n = s.refused.fetch_add(1, Ordering::SeqCst);
    let msg = REFUSALS[(n as usize) % REFUSALS.len()];
    Some(serde_json::json!({"jsonrpc": "2.0", "id": req["id"], "error": {"code": -32005, "message": msg}}).to_string())
}

async fn forward(State(s): State<ProxyState>, body: Bytes) -> impl IntoResponse {
    if s.down.load(Ordering::SeqCst) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "node unreachable".to_owned(),
        )
            .into_response();
    }
    if let Some(refusal) = refuse(&s, &body) {
        return (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            refusal,
        )
            .into_response();
    }
    match s
        .client
        .post(&s.target)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
    {
        Ok(r) => {
            let code = r.status().as_u16();
            let text = r.text().await.unwrap_or_default();
            (
                StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY),
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                text,
            )
                .into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

/// A free local port (bound then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// The `posmul-indexer` binary as a child process; killed (SIGKILL) when dropped.
pub struct Child {
    pub child: std::process::Child,
    pub addr: SocketAddr,
}

impl Child {
    pub fn spawn(
        db_url: &str,
        rpc_url: &str,
        dir: &std::path::Path,
        extra: &[(&str, &str)],
    ) -> Child {
        let port = free_port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_posmul-indexer"));
        cmd.env("CHAIN_ID", CHAIN_ID.to_string())
            .env("RPC_URLS", rpc_url)
            .env("DATABASE_URL", db_url)
            .env("DEPLOYMENTS_DIR", dir)
            .env("INDEXER_HTTP_ADDR", addr.to_string())
            .env("POLL_INTERVAL_MS", "50")
            .env("RETRY_BASE_MS", "20")
            .env("RETRY_MAX_MS", "300")
            .env("STANDBY_POLL_MS", "100")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit());
        for (k, v) in extra {
            cmd.env(k, v);
        }
        Child {
            child: cmd.spawn().expect("spawn posmul-indexer"),
            addr,
        }
    }

    /// SIGKILL: no cleanup, like a crash.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub async fn readyz(&self) -> (u16, String) {
        http_get(self.addr, "/readyz").await
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill();
    }
}
