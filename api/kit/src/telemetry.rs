//! Logging and metrics.
//!
//! - [`init_tracing`]: `RUST_LOG`-filtered logs (`LOG_FORMAT=json` for JSON lines).
//! - [`metrics_handle`]: the process-wide Prometheus recorder (installed once; every
//!   [`crate::startup::Application`] in a process shares it).
//! - [`track_metrics`]: per matched route, method and status: `http_requests_total` and the
//!   `http_request_duration_seconds` histogram. Business counters are recorded where the
//!   business happens (e.g. `auth_signins_total`, `auth_registrations_total`).

use std::{sync::OnceLock, time::Instant};

use axum::{
    extract::{MatchedPath, Request},
    middleware::Next,
    response::Response,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Initializes logging once (later calls are no-ops): core's one set-up with the API's default
/// filter.
pub fn init_tracing() {
    posmul_core::service::init_logging(
        "posmul-api",
        "info,posmul_api=debug,tower_http=info,sqlx=warn",
    );
}

/// The process-wide Prometheus handle.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("http_request_duration_seconds".into()),
                    &[
                        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                        10.0,
                    ],
                )
                .unwrap_or_else(|_| PrometheusBuilder::new());
            match builder.install_recorder() {
                Ok(handle) => handle,
                // Another recorder is installed (e.g. a test harness): keep an unattached one so
                // /metrics still answers.
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}

/// Middleware: request count and latency per matched route.
pub async fn track_metrics(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().to_string();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(start.elapsed().as_secs_f64());
    response
}
