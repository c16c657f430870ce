//! The one way the services open a JSON-RPC provider: `http://`, `https://`, `ws://` or
//! `wss://`, over the shared TLS settings ([`crate::tls`]), with no fillers (each service adds
//! what it signs or fills itself).
//!
//! alloy's own WebSocket connector builds its TLS configuration inside and trusts the public
//! roots only; [`TlsWsConnect`] is the same connector over [`TlsSettings::client_config`], so a
//! `wss://` node behind a private CA (`TLS_CA_FILE`) works like an `https://` one.

use std::time::Duration;

use alloy::{
    providers::{DynProvider, Provider, ProviderBuilder},
    pubsub::{ConnectionHandle, PubSubConnect},
    transports::{
        TransportError, TransportErrorKind, TransportResult,
        http::reqwest,
        utils::guess_local_url,
        ws::{WsBackend, WsConnect},
    },
};
use tokio_tungstenite::{Connector, tungstenite::client::IntoClientRequest};

use crate::tls::TlsSettings;

/// alloy's defaults for a WebSocket: a ping every 10 s, 10 reconnection tries 3 s apart.
const WS_KEEPALIVE: Duration = Duration::from_secs(10);
const WS_MAX_RETRIES: u32 = 10;
const WS_RETRY_INTERVAL: Duration = Duration::from_secs(3);

/// Opens a provider for `url` after checking it against the plaintext rule. `http_timeout`
/// bounds each HTTP request (a WebSocket has its keepalive instead).
pub async fn connect(
    url: &str,
    tls: &TlsSettings,
    http_timeout: Option<Duration>,
) -> TransportResult<DynProvider> {
    tls.check_rpc_url(url)
        .map_err(|e| TransportErrorKind::custom_str(&e.to_string()))?;
    if url.starts_with("ws://") || url.starts_with("wss://") {
        let provider = ProviderBuilder::new()
            .disable_recommended_fillers()
            .connect_pubsub_with(TlsWsConnect::new(url, tls))
            .await?;
        return Ok(provider.erased());
    }
    let parsed: reqwest::Url = url
        .parse()
        .map_err(|e| TransportError::local_usage_str(&format!("bad URL: {e}")))?;
    let mut client =
        reqwest::Client::builder().tls_backend_preconfigured((*tls.client_config()).clone());
    if let Some(t) = http_timeout {
        client = client.timeout(t);
    }
    let client = client
        .build()
        .map_err(|e| TransportError::local_usage_str(&format!("HTTP client: {e}")))?;
    Ok(ProviderBuilder::new()
        .disable_recommended_fillers()
        .connect_reqwest(client, parsed)
        .erased())
}

/// A WebSocket connection (`ws://`, `wss://`) whose TLS trusts the shared roots.
#[derive(Clone, Debug)]
pub struct TlsWsConnect {
    inner: WsConnect,
    tls: std::sync::Arc<rustls::ClientConfig>,
}

impl TlsWsConnect {
    /// `url` may carry `user:password@` (sent as basic authorization, as alloy does).
    pub fn new(url: &str, tls: &TlsSettings) -> Self {
        TlsWsConnect {
            inner: WsConnect::new(url),
            tls: tls.client_config(),
        }
    }
}

impl PubSubConnect for TlsWsConnect {
    fn is_local(&self) -> bool {
        guess_local_url(self.inner.url())
    }

    async fn connect(&self) -> TransportResult<ConnectionHandle> {
        let request = self
            .inner
            .clone()
            .into_client_request()
            .map_err(TransportErrorKind::custom)?;
        let (socket, _) = tokio_tungstenite::connect_async_tls_with_config(
            request,
            None,
            false,
            Some(Connector::Rustls(self.tls.clone())),
        )
        .await
        .map_err(TransportErrorKind::custom)?;
        let (handle, interface) = ConnectionHandle::new();
        WsBackend::from_socket(socket, interface, WS_KEEPALIVE).spawn();
        Ok(handle
            .with_max_retries(WS_MAX_RETRIES)
            .with_retry_interval(WS_RETRY_INTERVAL))
    }
}

/// `scheme://host[:port]` of `url`, for messages: a node provider's URL often carries its API
/// key in the path or the query.
pub fn origin(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port()) {
            (Some(h), Some(p)) => format!("{}://{h}:{p}", u.scheme()),
            (Some(h), None) => format!("{}://{h}", u.scheme()),
            _ => format!("{}://", u.scheme()),
        },
        Err(_) => "<malformed URL>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::origin;

    #[test]
    fn an_origin_hides_the_path_and_the_credentials() {
        assert_eq!(
            origin("https://user:pw@polygon.example.com/v2/SECRETKEY?x=1"),
            "https://polygon.example.com"
        );
        assert_eq!(origin("ws://127.0.0.1:8546"), "ws://127.0.0.1:8546");
        assert_eq!(origin("::"), "<malformed URL>");
    }
}
