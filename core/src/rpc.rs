//! The one way the services open a JSON-RPC provider: `http://`, `https://`, `ws://` or
//! `wss://`, over the shared TLS settings ([`crate::tls`]), with no fillers (each service adds
//! what it signs or fills itself).
//!
//! alloy's own WebSocket connector builds its TLS configuration inside and trusts the public
//! roots only; [`TlsWsConnect`] is the same connector over [`TlsSettings::client_config`], so a
//! `wss://` node behind a private CA (`TLS_CA_FILE`) works like an `https://` one.
//!
//! Every provider also gets two transport layers:
//! - **rate limits**: alloy's `RetryBackoffLayer` retries a request the node refused for its rate
//!   (HTTP 429 or 503, the providers' JSON-RPC rate-limit codes, but not a log query refused as
//!   too large, [`is_range_error`], which the caller splits) up to [`RATE_LIMIT_RETRIES`]
//!   times, waiting what the node asks (`Retry-After`, a `backoff_seconds` field, "try again
//!   in …", at most 5 minutes) or [`RATE_LIMIT_BACKOFF`] without a hint. Only then does the
//!   caller see the error (the indexer fails over to its next URL, the relayer retries its
//!   pass). Other errors (a refused connection, a revert) are not retried here.
//! - **no URL in errors**: reqwest puts the whole request URL in its error messages, and a node
//!   provider's URL often carries an API key in its path or query; the layer drops it, so an
//!   error that reaches a log names at most [`origin`].

use std::time::Duration;

use alloy::{
    providers::{DynProvider, Provider, ProviderBuilder},
    pubsub::{ConnectionHandle, PubSubConnect},
    rpc::client::ClientBuilder,
    transports::{
        RpcError, TransportError, TransportErrorKind, TransportResult,
        http::reqwest,
        layers::{RateLimitRetryPolicy, RetryBackoffLayer, RetryPolicy},
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

/// How many times a rate-limited request is sent again before its error is returned.
pub const RATE_LIMIT_RETRIES: u32 = 5;
/// The wait before sending a rate-limited request again when the node gives no hint.
pub const RATE_LIMIT_BACKOFF: Duration = Duration::from_secs(1);
/// The compute units a second `RetryBackoffLayer` spaces queued requests by: high enough that
/// it never does (the node's own answers decide the pace).
const UNMETERED: u64 = u64::MAX;

fn rate_limits() -> RetryBackoffLayer<RateLimitsNotRanges> {
    RetryBackoffLayer::new_with_policy(
        RATE_LIMIT_RETRIES,
        RATE_LIMIT_BACKOFF.as_millis() as u64,
        UNMETERED,
        RateLimitsNotRanges,
    )
}

/// Provider error texts that mean "ask for less" (lower-cased substrings): a log query over too
/// many blocks or results. The indexer halves its range on them.
pub const RANGE_ERROR_TEXTS: &[&str] = &[
    "query returned more than",
    "block range is too large",
    "exceed maximum block range",
    "exceeds maximum block range",
    "limit exceeded",
    "response size exceeded",
    "response size should not greater than",
    "range too large",
    "too many results",
    "log response size exceeded",
    "query timeout exceeded",
];

/// Whether a provider error message asks for a smaller log query.
pub fn is_range_error(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    RANGE_ERROR_TEXTS.iter().any(|t| m.contains(t))
}

/// alloy's rate-limit policy, except for a refusal of a log query as too large: providers send
/// some with a rate-limit code (Infura's -32005 "query returned more than 10000 results"), and
/// asking again for the same range would only be refused again; the caller asks for less.
#[derive(Debug, Clone, Copy)]
struct RateLimitsNotRanges;

impl RetryPolicy for RateLimitsNotRanges {
    fn should_retry(&self, error: &TransportError) -> bool {
        let base = RateLimitRetryPolicy::default();
        if !base.should_retry(error) {
            return false;
        }
        match error {
            RpcError::ErrorResp(payload) => {
                base.backoff_hint(error).is_some() || !is_range_error(&payload.message)
            }
            _ => true,
        }
    }

    fn backoff_hint(&self, error: &TransportError) -> Option<Duration> {
        RateLimitRetryPolicy::default().backoff_hint(error)
    }
}

/// Opens a provider for `url` after checking it against the plaintext rule. `http_timeout`
/// bounds each HTTP request (a WebSocket has its keepalive instead).
pub async fn connect(
    url: &str,
    tls: &TlsSettings,
    http_timeout: Option<Duration>,
) -> TransportResult<DynProvider> {
    tls.check_rpc_url(url)
        .map_err(|e| TransportErrorKind::custom_str(&e.to_string()))?;
    let layers = ClientBuilder::default()
        .layer(rate_limits())
        .layer(WithoutUrls);
    if url.starts_with("ws://") || url.starts_with("wss://") {
        let client = layers
            .pubsub(TlsWsConnect::new(url, tls))
            .await
            .map_err(without_url)?;
        return Ok(ProviderBuilder::new()
            .disable_recommended_fillers()
            .connect_client(client)
            .erased());
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
        .connect_client(layers.http_with_client(client, parsed))
        .erased())
}

/// The transport layer that takes the URL out of reqwest's errors (see the module's notes).
#[derive(Debug, Clone, Copy)]
struct WithoutUrls;

impl<S> tower::Layer<S> for WithoutUrls {
    type Service = WithoutUrlsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        WithoutUrlsService { inner }
    }
}

#[derive(Debug, Clone)]
struct WithoutUrlsService<S> {
    inner: S,
}

/// The future of a call through [`WithoutUrlsService`] (alloy's `TransportFut` for a request
/// packet).
type Redacted<T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, TransportError>> + Send>>;

impl<S, Request> tower::Service<Request> for WithoutUrlsService<S>
where
    S: tower::Service<Request, Error = TransportError>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = TransportError;
    type Future = Redacted<S::Response>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(without_url)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let response = self.inner.call(request);
        Box::pin(async move { response.await.map_err(without_url) })
    }
}

/// `e` without the request URL reqwest wrote into it.
fn without_url(e: TransportError) -> TransportError {
    match e {
        RpcError::Transport(TransportErrorKind::Custom(inner)) => {
            match inner.downcast::<reqwest::Error>() {
                Ok(r) => TransportErrorKind::custom(r.without_url()),
                Err(other) => RpcError::Transport(TransportErrorKind::Custom(other)),
            }
        }
        other => other,
    }
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
    use super::*;

    #[tokio::test]
    async fn an_rpc_error_does_not_carry_the_urls_path_or_query() {
        // Nothing listens on port 9 of the loopback: the request fails at once.
        let url = "http://127.0.0.1:9/v2/SECRETKEY?apikey=SECRETQUERY";
        let provider = connect(url, &TlsSettings::default(), Some(Duration::from_secs(5)))
            .await
            .expect("an HTTP provider connects lazily");
        let err = provider.get_chain_id().await.expect_err("nothing listens");
        let msg = format!("{err} {err:?}");
        assert!(
            !msg.contains("SECRETKEY") && !msg.contains("SECRETQUERY"),
            "{msg}"
        );
    }

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
