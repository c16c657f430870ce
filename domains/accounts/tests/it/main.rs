//! Integration tests of posmul-api's accounts, sign-in and service behaviour (U1, U2), each
//! against a fresh migrated database and the whole API served on a free port.

// Helpers outside #[test] functions panic on purpose: a failed request fails the test.
#![allow(clippy::unwrap_used)]

mod bad_input;
mod flows;
mod jwt;
mod service;
mod siwe;
mod standing;
mod throttle;
mod verification;
mod wallet_column;

use reqwest::{Response, StatusCode};
use serde_json::Value;

/// Asserts a problem+json response with `status` and problem `kind`; returns the body.
pub async fn assert_problem(res: Response, status: StatusCode, kind: &str) -> Value {
    let got = res.status();
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    assert_eq!(got, status, "body: {body}");
    assert!(
        ct.starts_with("application/problem+json"),
        "content-type {ct:?}, body {body}"
    );
    assert_eq!(
        body["type"],
        format!("https://posmul.dev/problems/{kind}"),
        "body: {body}"
    );
    assert_eq!(body["status"], status.as_u16());
    body
}
