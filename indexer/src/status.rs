//! What the indexer knows about itself: the numbers `/readyz` and `/metrics` report.
//!
//! Metrics live in a Prometheus recorder owned by the instance (not the process-global one), so
//! several indexers in one process (tests) keep separate counts.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, AtomicU64, Ordering},
};

use metrics::{Counter, Gauge, Key, KeyName, Label, Level, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

/// Every table the indexer writes, for the per-table row counters.
pub const TABLES: &[&str] = &[
    "blocks",
    "pmc_transfers",
    "pmc_delegate_changes",
    "pmc_delegate_votes",
    "waves_published",
    "wave_claims",
    "wave_cap_changes",
    "pause_changes",
    "role_changes",
    "donation_recipients",
    "donations",
    "root_pending",
    "root_revocations",
    "root_delay_changes",
];

const METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// The instance's Prometheus metrics.
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    pub head: Gauge,
    pub indexed: Gauge,
    pub finalized: Gauge,
    pub lag: Gauge,
    pub leader: Gauge,
    reorgs: Counter,
    deep_reorgs: Counter,
    failovers: Counter,
    deepest: Gauge,
    deepest_seen: AtomicU64,
    rpc_errors: Mutex<Vec<(&'static str, Counter)>>,
    rows: Vec<(&'static str, Counter)>,
}

impl Metrics {
    fn new() -> Metrics {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let gauge = |name: &'static str, help: &'static str| {
            recorder.describe_gauge(
                KeyName::from_const_str(name),
                None,
                SharedString::const_str(help),
            );
            recorder.register_gauge(&Key::from_static_name(name), &METADATA)
        };
        let head = gauge(
            "posmul_indexer_head_block",
            "Latest block number reported by the node",
        );
        let indexed = gauge(
            "posmul_indexer_indexed_block",
            "Last block whose events are all mirrored",
        );
        let finalized = gauge(
            "posmul_indexer_finalized_block",
            "Last mirrored block that is final",
        );
        let lag = gauge("posmul_indexer_lag_blocks", "Head minus indexed block");
        let leader = gauge(
            "posmul_indexer_leader",
            "1 while this instance holds the chain's advisory lock",
        );
        let deepest = gauge(
            "posmul_indexer_reorg_deepest_blocks",
            "Depth of the deepest reorg handled",
        );
        recorder.describe_counter(
            KeyName::from_const_str("posmul_indexer_reorgs_total"),
            Some(Unit::Count),
            SharedString::const_str("Reorgs handled"),
        );
        let reorgs = recorder.register_counter(
            &Key::from_static_name("posmul_indexer_reorgs_total"),
            &METADATA,
        );
        recorder.describe_counter(
            KeyName::from_const_str("posmul_indexer_deep_reorgs_total"),
            Some(Unit::Count),
            SharedString::const_str("Reorgs that reached below the finalized block (alert)"),
        );
        let deep_reorgs = recorder.register_counter(
            &Key::from_static_name("posmul_indexer_deep_reorgs_total"),
            &METADATA,
        );
        recorder.describe_counter(
            KeyName::from_const_str("posmul_indexer_rpc_failovers_total"),
            Some(Unit::Count),
            SharedString::const_str("Switches to the next RPC URL after a failed call"),
        );
        let failovers = recorder.register_counter(
            &Key::from_static_name("posmul_indexer_rpc_failovers_total"),
            &METADATA,
        );
        recorder.describe_counter(
            KeyName::from_const_str("posmul_indexer_rpc_errors_total"),
            Some(Unit::Count),
            SharedString::const_str("Failed RPC calls, by method"),
        );
        recorder.describe_counter(
            KeyName::from_const_str("posmul_indexer_rows_written_total"),
            Some(Unit::Count),
            SharedString::const_str("Rows written, by table"),
        );
        let rows = TABLES
            .iter()
            .map(|t| {
                let key = Key::from_parts(
                    "posmul_indexer_rows_written_total",
                    vec![Label::new("table", *t)],
                );
                (*t, recorder.register_counter(&key, &METADATA))
            })
            .collect();
        // Pre-register the common methods so the series exist at 0.
        let rpc_errors = ["eth_blockNumber", "eth_getBlockByNumber", "eth_getLogs"]
            .into_iter()
            .map(|m| (m, Self::rpc_counter(&recorder, m)))
            .collect();
        Metrics {
            recorder,
            handle,
            head,
            indexed,
            finalized,
            lag,
            leader,
            reorgs,
            deep_reorgs,
            failovers,
            deepest,
            deepest_seen: AtomicU64::new(0),
            rpc_errors: Mutex::new(rpc_errors),
            rows,
        }
    }

    fn rpc_counter(recorder: &PrometheusRecorder, method: &'static str) -> Counter {
        let key = Key::from_parts(
            "posmul_indexer_rpc_errors_total",
            vec![Label::new("method", method)],
        );
        recorder.register_counter(&key, &METADATA)
    }

    /// Counts a failed RPC call.
    pub fn rpc_error(&self, method: &'static str) {
        let mut list = self.rpc_errors.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, c)) = list.iter().find(|(m, _)| *m == method) {
            c.increment(1);
        } else {
            let c = Self::rpc_counter(&self.recorder, method);
            c.increment(1);
            list.push((method, c));
        }
    }

    /// Counts a switch to the next RPC URL.
    pub fn failover(&self) {
        self.failovers.increment(1);
    }

    /// Counts rows written to `table`.
    pub fn rows_written(&self, table: &str, n: u64) {
        if let Some((_, c)) = self.rows.iter().find(|(t, _)| *t == table) {
            c.increment(n);
        }
    }

    /// Counts a reorg of `depth` blocks; `deep` when it reached below the finalized block.
    pub fn reorg(&self, depth: u64, deep: bool) {
        self.reorgs.increment(1);
        if deep {
            self.deep_reorgs.increment(1);
        }
        let prev = self.deepest_seen.fetch_max(depth, Ordering::Relaxed);
        self.deepest.set(prev.max(depth) as f64);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// The handle the operations listener renders.
    pub fn handle(&self) -> PrometheusHandle {
        self.handle.clone()
    }
}

/// Role of this instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Starting,
    Standby,
    Leader,
}

/// Shared, lock-free view of the indexer's progress.
pub struct Status {
    pub metrics: Metrics,
    head: AtomicU64,
    indexed: AtomicU64,
    finalized: AtomicU64,
    rpc_ok: AtomicBool,
    role: Mutex<Role>,
    reorgs: AtomicU64,
}

impl Status {
    pub fn new() -> Arc<Status> {
        Arc::new(Status {
            metrics: Metrics::new(),
            head: AtomicU64::new(0),
            indexed: AtomicU64::new(0),
            finalized: AtomicU64::new(0),
            rpc_ok: AtomicBool::new(false),
            role: Mutex::new(Role::Starting),
            reorgs: AtomicU64::new(0),
        })
    }

    pub fn set_head(&self, head: u64) {
        self.head.store(head, Ordering::Relaxed);
        self.metrics.head.set(head as f64);
        self.update_lag();
    }

    pub fn set_indexed(&self, indexed: u64, finalized: u64) {
        self.indexed.store(indexed, Ordering::Relaxed);
        self.finalized.store(finalized, Ordering::Relaxed);
        self.metrics.indexed.set(indexed as f64);
        self.metrics.finalized.set(finalized as f64);
        self.update_lag();
    }

    fn update_lag(&self) {
        self.metrics.lag.set(self.lag() as f64);
    }

    pub fn set_rpc_ok(&self, ok: bool) {
        self.rpc_ok.store(ok, Ordering::Relaxed);
    }

    pub fn set_role(&self, role: Role) {
        *self.role.lock().unwrap_or_else(|e| e.into_inner()) = role;
        self.metrics
            .leader
            .set(if role == Role::Leader { 1.0 } else { 0.0 });
    }

    pub fn note_reorg(&self, depth: u64, deep: bool) {
        self.reorgs.fetch_add(1, Ordering::Relaxed);
        self.metrics.reorg(depth, deep);
    }

    pub fn head(&self) -> u64 {
        self.head.load(Ordering::Relaxed)
    }

    pub fn indexed(&self) -> u64 {
        self.indexed.load(Ordering::Relaxed)
    }

    pub fn finalized(&self) -> u64 {
        self.finalized.load(Ordering::Relaxed)
    }

    pub fn lag(&self) -> u64 {
        self.head().saturating_sub(self.indexed())
    }

    pub fn rpc_ok(&self) -> bool {
        self.rpc_ok.load(Ordering::Relaxed)
    }

    pub fn role(&self) -> Role {
        *self.role.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reorgs handled by this instance.
    pub fn reorgs(&self) -> u64 {
        self.reorgs.load(Ordering::Relaxed)
    }
}
