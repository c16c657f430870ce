//! The operations endpoint of a service, on a listener of its own (never the API's port):
//!
//! - `GET /metrics`: the Prometheus text exposition of a [`PrometheusHandle`];
//! - `GET /healthz`: `ok` while the process serves at all;
//! - `GET /readyz`: the service's own [`ReadinessCheck`], 200 when ready, 503 otherwise, with
//!   the check's JSON body either way.
//!
//! The listener is bound first ([`OpsListener::bind`], so a port conflict fails the start and
//! port 0 picks a free port for tests), then served ([`OpsListener::serve`] or
//! [`OpsListener::spawn`]).

use std::{future::Future, io, net::SocketAddr, pin::Pin, sync::Arc, sync::OnceLock};

use axum::{
    Json, Router,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
    routing::get,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

/// What `/readyz` answers: whether the service is ready, and a JSON body saying why.
#[derive(Debug, Clone, PartialEq)]
pub struct Readiness {
    pub ready: bool,
    pub body: serde_json::Value,
}

impl Readiness {
    /// Ready or not, with `{"ready": …}` as the body.
    pub fn plain(ready: bool) -> Readiness {
        Readiness {
            ready,
            body: serde_json::json!({ "ready": ready }),
        }
    }
}

/// The service's readiness check, run on every `/readyz`.
pub type ReadinessCheck =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Readiness> + Send>> + Send + Sync>;

/// Wraps an async closure as a [`ReadinessCheck`].
pub fn readiness_check<F, Fut>(check: F) -> ReadinessCheck
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Readiness> + Send + 'static,
{
    Arc::new(move || Box::pin(check()))
}

/// The process-wide Prometheus recorder (the one `metrics::counter!` and friends record into),
/// installed on first use with the builder `configure` returns (e.g. histogram buckets; later
/// calls return the same handle and ignore theirs). When another recorder is already installed
/// (a test harness), an unattached one is returned so `/metrics` still answers.
pub fn global_metrics(
    configure: impl FnOnce(PrometheusBuilder) -> PrometheusBuilder,
) -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(
            || match configure(PrometheusBuilder::new()).install_recorder() {
                Ok(handle) => handle,
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            },
        )
        .clone()
}

/// A bound, not yet serving, operations listener.
#[derive(Debug)]
pub struct OpsListener {
    listener: TcpListener,
    addr: SocketAddr,
}

#[derive(Clone)]
struct Ops {
    metrics: PrometheusHandle,
    ready: ReadinessCheck,
}

impl OpsListener {
    /// Binds `addr` (port 0: any free port).
    pub async fn bind(addr: SocketAddr) -> io::Result<OpsListener> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        Ok(OpsListener { listener, addr })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until the listener fails.
    pub async fn serve(self, metrics: PrometheusHandle, ready: ReadinessCheck) -> io::Result<()> {
        tracing::info!(addr = %self.addr, "serving /metrics /healthz /readyz");
        axum::serve(self.listener, router(metrics, ready)).await
    }

    /// Serves in a background task, logging if it stops.
    pub fn spawn(
        self,
        metrics: PrometheusHandle,
        ready: ReadinessCheck,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            if let Err(e) = self.serve(metrics, ready).await {
                tracing::error!(error = %e, "the operations listener stopped");
            }
        })
    }
}

/// The routes, for a caller that mounts them on a listener of its own.
pub fn router(metrics: PrometheusHandle, ready: ReadinessCheck) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render))
        .with_state(Ops { metrics, ready })
}

async fn readyz(State(ops): State<Ops>) -> impl IntoResponse {
    let r = (ops.ready)().await;
    let code = if r.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(r.body))
}

async fn render(State(ops): State<Ops>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        ops.metrics.render(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("read");
        out
    }

    #[tokio::test]
    async fn the_listener_serves_metrics_health_and_the_services_readiness() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let metrics = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            metrics::counter!("posmul_test_total").increment(3)
        });
        let ready = Arc::new(AtomicBool::new(false));
        let check = {
            let ready = ready.clone();
            readiness_check(move || {
                let r = ready.load(Ordering::Relaxed);
                async move { Readiness::plain(r) }
            })
        };
        let ops = OpsListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind");
        let addr = ops.local_addr();
        let task = ops.spawn(metrics, check);

        assert!(get(addr, "/healthz").await.starts_with("HTTP/1.1 200"));
        let m = get(addr, "/metrics").await;
        assert!(m.contains("posmul_test_total 3"), "{m}");
        let r = get(addr, "/readyz").await;
        assert!(
            r.starts_with("HTTP/1.1 503") && r.contains("\"ready\":false"),
            "{r}"
        );
        ready.store(true, Ordering::Relaxed);
        assert!(get(addr, "/readyz").await.starts_with("HTTP/1.1 200"));
        task.abort();
    }
}
