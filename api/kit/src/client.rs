//! Who sent a request: client IP, request id, user agent. The audit log and the per-IP limits
//! read it; it knows nothing of sign-in, so both can depend on it.

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::request::Parts,
};

use crate::state::AppState;

/// Who is asking, for the audit log: client IP, request id, user agent.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub user_agent: Option<String>,
}

impl RequestMeta {
    /// Reads the meta from request parts (`trust_forwarded_for`: take the first
    /// `X-Forwarded-For` address when behind a proxy).
    pub fn from_parts(parts: &Parts, trust_forwarded_for: bool) -> Self {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|s| s.chars().take(256).collect::<String>())
        };
        RequestMeta {
            ip: client_ip(parts, trust_forwarded_for),
            request_id: header("x-request-id"),
            user_agent: header("user-agent"),
        }
    }
}

/// The client IP: the socket peer, or the first `X-Forwarded-For` hop when trusted.
pub fn client_ip(parts: &Parts, trust_forwarded_for: bool) -> Option<String> {
    if trust_forwarded_for
        && let Some(first) = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
        && let Ok(ip) = first.trim().parse::<std::net::IpAddr>()
    {
        return Some(ip.to_string());
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string())
}

impl FromRequestParts<AppState> for RequestMeta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(RequestMeta::from_parts(
            parts,
            state.config.trust_forwarded_for,
        ))
    }
}
