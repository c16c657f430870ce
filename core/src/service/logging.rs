//! Log set-up: one function every binary calls first.

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Installs the process's log subscriber (later calls are no-ops, so tests may call it freely).
///
/// - the filter is `RUST_LOG` when set and valid, else `default_filter` (e.g. `"info"`);
/// - `LOG_FORMAT=json` writes one JSON object per line, anything else plain text;
/// - logs go to stderr, so a command's output on stdout (e.g. `posmul-relayer reconcile`) stays
///   machine-readable.
pub fn init_logging(default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = if json_requested(std::env::var("LOG_FORMAT").ok().as_deref()) {
        registry
            .with(fmt::layer().json().with_writer(std::io::stderr))
            .try_init()
    } else {
        registry
            .with(fmt::layer().with_writer(std::io::stderr))
            .try_init()
    };
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
        init_logging("info");
        init_logging("debug");
        tracing::info!("logging works after two initialisations");
    }
}
