//! Log and trace set-up: one function every binary calls first.
//!
//! Logs go to stderr, plain text or JSON lines (`LOG_FORMAT=json`). Traces go to an
//! OpenTelemetry collector over OTLP/HTTP (protobuf) when `OTEL_EXPORTER_OTLP_ENDPOINT` (a base
//! URL, `/v1/traces` is appended) or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as is) is set:
//! every `tracing` span becomes an OpenTelemetry span with its fields as attributes (the API's
//! `http` span carries `request_id`, the relayer's sends carry `tx_hash`), its events as span
//! events. Without either variable nothing is exported and no exporter thread runs.

use std::sync::OnceLock;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{Resource, trace::SdkTracerProvider};
use tracing_subscriber::{EnvFilter, Layer, Registry, fmt, prelude::*};

use crate::tls::{Environment, TlsSettings};

/// The process's trace pipeline, kept so [`flush_traces`] can empty it before exit.
static TRACES: OnceLock<Traces> = OnceLock::new();

/// Installs the process's log subscriber (later calls are no-ops, so tests may call it freely).
///
/// - `service` names the process in exported traces (`service.name`, unless
///   `OTEL_SERVICE_NAME` says otherwise);
/// - the filter is `RUST_LOG` when set and valid, else `default_filter` (e.g. `"info"`);
/// - `LOG_FORMAT=json` writes one JSON object per line, anything else plain text;
/// - logs go to stderr, so a command's output on stdout (e.g. `posmul-relayer reconcile`) stays
///   machine-readable;
/// - with an OTLP endpoint set (see the module), spans are exported too. An endpoint that cannot
///   be used (malformed, or plaintext to another host with `POSMUL_ENV=prod`, as every link) is
///   logged and the service goes on without export: telemetry never stops a service.
pub fn init_logging(service: &'static str, default_filter: &str) {
    let env = |name: &str| std::env::var(name).ok();
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let endpoint = traces_endpoint(&env);
    let service_name = env("OTEL_SERVICE_NAME")
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| service.to_owned());
    let environment = env("POSMUL_ENV")
        .and_then(|e| e.parse().ok())
        .unwrap_or_default();
    let (traces, trace_error) = match endpoint
        .as_deref()
        .map(|e| pipeline(&service_name, e, environment))
    {
        Some(Ok(t)) => (Some(t), None),
        Some(Err(e)) => (None, Some(e)),
        None => (None, None),
    };
    let otel = traces.as_ref().map(Traces::layer);
    let fmt_layer = if json_requested(env("LOG_FORMAT").as_deref()) {
        fmt::layer().json().with_writer(std::io::stderr).boxed()
    } else {
        fmt::layer().with_writer(std::io::stderr).boxed()
    };
    let installed = tracing_subscriber::registry()
        .with(otel)
        .with(fmt_layer)
        .with(filter)
        .try_init()
        .is_ok();
    if installed {
        if let Some(t) = traces {
            // By origin only, as RPC URLs: a collector's path or query may carry a key.
            let collector = crate::rpc::origin(endpoint.as_deref().unwrap_or_default());
            tracing::info!(%collector, service = %service_name, "exporting traces over OTLP/HTTP");
            let _ = TRACES.set(t);
        }
        if let Some(e) = trace_error {
            tracing::error!(error = %e, "OTLP trace export is not possible; going on without it");
        }
    }
}

/// The pipeline to `endpoint`, which must keep the plaintext rule of every link
/// (`posmul_core::tls`: with `POSMUL_ENV=prod`, `http://` only to this machine).
fn pipeline(service: &str, endpoint: &str, environment: Environment) -> Result<Traces, String> {
    TlsSettings::new(environment, None)
        .and_then(|tls| tls.check_otlp_url(endpoint))
        .map_err(|e| e.to_string())?;
    Traces::new(service, endpoint).map_err(|e| e.to_string())
}

/// Sends the spans still buffered to the collector and stops the exporter: call it as a
/// process ends (a no-op without export).
pub fn flush_traces() {
    if let Some(t) = TRACES.get() {
        t.flush();
    }
}

/// Where traces go: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as is, else
/// `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces` (the OTLP specification's rule), else nowhere.
pub fn traces_endpoint(env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let set = |name: &str| {
        env(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| {
        set("OTEL_EXPORTER_OTLP_ENDPOINT")
            .map(|base| format!("{}/v1/traces", base.trim_end_matches('/')))
    })
}

/// A trace pipeline: spans batched on the SDK's own thread and posted as OTLP protobuf.
#[derive(Debug, Clone)]
pub struct Traces {
    provider: SdkTracerProvider,
}

/// Why the OTLP exporter could not be built.
#[derive(Debug, thiserror::Error)]
#[error("OTLP exporter for {endpoint}: {source}")]
pub struct TraceSetupError {
    endpoint: String,
    source: opentelemetry_otlp::ExporterBuildError,
}

impl Traces {
    /// A pipeline to `endpoint` (the full URL, e.g. `http://127.0.0.1:4318/v1/traces`) for the
    /// service `service`.
    pub fn new(service: &str, endpoint: &str) -> Result<Traces, TraceSetupError> {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(endpoint)
            .build()
            .map_err(|source| TraceSetupError {
                endpoint: crate::rpc::origin(endpoint),
                source,
            })?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(
                Resource::builder()
                    .with_service_name(service.to_owned())
                    .build(),
            )
            .build();
        Ok(Traces { provider })
    }

    /// The `tracing` layer that turns spans into OpenTelemetry spans of this pipeline.
    pub fn layer<S>(&self) -> impl Layer<S> + 'static
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        tracing_opentelemetry::layer().with_tracer(self.provider.tracer("posmul"))
    }

    /// A subscriber exporting to this pipeline only (tests set it for their thread).
    pub fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + 'static {
        Registry::default().with(self.layer())
    }

    /// Exports every finished span now (blocks until the collector answered or timed out).
    pub fn flush(&self) {
        if let Err(e) = self.provider.force_flush() {
            eprintln!("OTLP trace flush failed: {e}");
        }
    }
}

/// `LOG_FORMAT=json` (case-insensitive) selects JSON lines.
fn json_requested(log_format: Option<&str>) -> bool {
    log_format.is_some_and(|f| f.trim().eq_ignore_ascii_case("json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_log_format_json_selects_json_lines() {
        assert!(json_requested(Some("json")));
        assert!(json_requested(Some("JSON")));
        assert!(!json_requested(Some("text")));
        assert!(!json_requested(None));
    }

    #[test]
    fn a_second_initialisation_is_harmless() {
        init_logging("posmul-test", "info");
        init_logging("posmul-test", "debug");
        tracing::info!("logging works after two initialisations");
    }

    #[test]
    fn a_plaintext_collector_off_the_host_is_refused_in_production() {
        let e = pipeline(
            "t",
            "http://collector.example:4318/v1/traces",
            Environment::Prod,
        )
        .expect_err("plaintext off the host");
        assert!(e.contains("OTLP collector"), "{e}");
        assert!(pipeline("t", "http://127.0.0.1:4318/v1/traces", Environment::Prod).is_ok());
        assert!(
            pipeline(
                "t",
                "http://collector.example:4318/v1/traces",
                Environment::Dev
            )
            .is_ok()
        );
        assert!(
            pipeline(
                "t",
                "https://collector.example/v1/traces",
                Environment::Prod
            )
            .is_ok()
        );
    }

    #[test]
    fn the_traces_endpoint_follows_the_otlp_variables() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(traces_endpoint(&env(&[])), None);
        assert_eq!(
            traces_endpoint(&env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")])),
            None
        );
        assert_eq!(
            traces_endpoint(&env(&[(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "http://collector:4318/"
            )])),
            Some("http://collector:4318/v1/traces".to_owned())
        );
        assert_eq!(
            traces_endpoint(&env(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
                (
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                    "http://other:4318/traces"
                ),
            ])),
            Some("http://other:4318/traces".to_owned())
        );
    }
}
