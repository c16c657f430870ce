//! One error type for every handler, rendered as RFC 9457 `application/problem+json`.
//!
//! - Client errors carry a safe `detail` and a stable `type` URI,
//!   `https://posmul.dev/problems/<kind>` (see [`ApiError::kind`]); clients branch on `type`,
//!   never on `detail`. Every kind is a named constant: the kit's in [`kind`], a domain's in its
//!   own `error` module next to the one mapping of its refusals; no kind is spelled twice.
//! - Anything that broke on our side is an opaque 500 (`type` `.../internal`); the whole cause
//!   chain goes to the log with the request's span (and so its request id), never to the client.
//! - Database constraint violations are mapped by constraint name in [`CONSTRAINTS`]; an unknown
//!   constraint is a 500, so a missing mapping is loud in the log rather than a silent 4xx.
//! - [`ApiJson`] replaces `axum::Json` as the body extractor: malformed JSON, an unknown field
//!   (request types use `#[serde(deny_unknown_fields)]`), a wrong type, an over-large body or a
//!   wrong content type is a 4xx problem, never axum's plain-text rejection.
//! - [`normalize_errors`] (a middleware installed by [`crate::startup`]) turns any remaining
//!   non-problem error response (unknown route, wrong method, timeout, layer rejections) into a
//!   problem as well, so every 4xx/5xx the API emits has the same shape.

use std::{borrow::Cow, fmt::Write as _};

use axum::{
    Json,
    extract::{FromRequest, Request, rejection::JsonRejection},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use utoipa::ToSchema;

/// `Result` with [`ApiError`].
pub type ApiResult<T> = Result<T, ApiError>;

/// The base of every problem `type` URI.
pub const PROBLEM_BASE: &str = "https://posmul.dev/problems/";

/// The media type of problem responses.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The problem kinds the kit emits: the suffix of `https://posmul.dev/problems/<kind>`. Clients
/// branch on these, so they never change; a new refusal gets a new kind.
pub mod kind {
    /// The body is not JSON.
    pub const MALFORMED_JSON: &str = "malformed-json";
    /// The body is JSON of the wrong shape.
    pub const INVALID_BODY: &str = "invalid-body";
    /// A query string, path parameter or header does not parse.
    pub const BAD_REQUEST: &str = "bad-request";
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported-media-type";
    pub const PAYLOAD_TOO_LARGE: &str = "payload-too-large";
    /// Invalid fields, listed in `errors`.
    pub const VALIDATION_FAILED: &str = "validation-failed";
    /// Text the database cannot store (a NUL character).
    pub const INVALID_TEXT: &str = "invalid-text";
    pub const UNAUTHENTICATED: &str = "unauthenticated";
    pub const INVALID_CREDENTIALS: &str = "invalid-credentials";
    /// The role in `required_role` is missing.
    pub const FORBIDDEN: &str = "forbidden";
    /// The account is banned: no sign-in, no refresh, no request with a token it holds (U1).
    pub const BANNED: &str = "banned";
    pub const NOT_FOUND: &str = "not-found";
    pub const METHOD_NOT_ALLOWED: &str = "method-not-allowed";
    pub const TIMEOUT: &str = "timeout";
    /// Retry after `retry_after` seconds.
    pub const RATE_LIMITED: &str = "rate-limited";
    pub const UNAVAILABLE: &str = "unavailable";
    /// Too many requests need the same bounded resource (password hashing); retry after
    /// `retry_after` seconds.
    pub const OVERLOADED: &str = "overloaded";
    pub const INTERNAL: &str = "internal";
    /// An `Idempotency-Key` (or a business event's key) already names another request.
    pub const IDEMPOTENCY_KEY_REUSED: &str = "idempotency-key-reused";
    /// An account with this email exists (constraint `users_email_key`).
    pub const EMAIL_TAKEN: &str = "email-taken";
    /// Another account has this wallet (constraint `wallets_pkey`).
    pub const WALLET_TAKEN: &str = "wallet-taken";
    /// This account has a wallet already (constraint `wallets_user_id_key`).
    pub const WALLET_ALREADY_LINKED: &str = "wallet-already-linked";
    /// The money book refused a movement: the balance is short (E1).
    pub const INSUFFICIENT_PMP: &str = "insufficient-pmp";
    /// The money book refused a movement: from an account to itself.
    pub const SAME_ACCOUNT: &str = "same-account";
    /// The money book refused a KRW movement: the account holds less (E1, E4).
    pub const INSUFFICIENT_KRW: &str = "insufficient-krw";

    /// Every kind above, for the tests that keep them distinct and well-formed.
    pub const ALL: &[&str] = &[
        MALFORMED_JSON,
        INVALID_BODY,
        BAD_REQUEST,
        UNSUPPORTED_MEDIA_TYPE,
        PAYLOAD_TOO_LARGE,
        VALIDATION_FAILED,
        INVALID_TEXT,
        UNAUTHENTICATED,
        INVALID_CREDENTIALS,
        FORBIDDEN,
        BANNED,
        NOT_FOUND,
        METHOD_NOT_ALLOWED,
        TIMEOUT,
        RATE_LIMITED,
        UNAVAILABLE,
        OVERLOADED,
        INTERNAL,
        IDEMPOTENCY_KEY_REUSED,
        EMAIL_TAKEN,
        WALLET_TAKEN,
        WALLET_ALREADY_LINKED,
        INSUFFICIENT_PMP,
        SAME_ACCOUNT,
        INSUFFICIENT_KRW,
    ];
}

/// One field that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    /// The request field (JSON name), e.g. `password`.
    pub field: String,
    /// What is wrong and what would be accepted.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Every way a request can fail. Variants for client errors say what to do next in `detail`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not syntactically valid JSON.
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    /// The body is JSON but does not fit the request type (wrong type, unknown or missing field).
    #[error("the request body does not match the expected shape: {0}")]
    InvalidBody(String),
    /// A query string or path parameter does not parse.
    #[error("{0}")]
    BadRequest(String),
    /// The body is not `application/json`.
    #[error("send the body as application/json")]
    UnsupportedMediaType,
    /// The body is larger than the configured limit.
    #[error("the request body is larger than the server accepts")]
    PayloadTooLarge,
    /// Semantically invalid input, field by field.
    #[error("the request has invalid fields")]
    Validation(Vec<FieldError>),
    /// No usable credentials: missing, malformed, expired or forged bearer token.
    #[error("{0}")]
    Unauthenticated(Cow<'static, str>),
    /// Email/password or refresh token or SIWE message refused.
    #[error("{0}")]
    InvalidCredentials(Cow<'static, str>),
    /// Authenticated, but lacking the role the action requires.
    #[error("this action requires the {required} role")]
    Forbidden { required: &'static str },
    /// Authenticated and holding the role, but refused this action on this resource (403), with
    /// a stable kind (e.g. a domain's `conflict-of-interest`).
    #[error("{detail}")]
    Denied {
        kind: &'static str,
        detail: Cow<'static, str>,
    },
    /// The account is banned (U1): refused on its next request, whatever token it holds.
    #[error("this account is banned")]
    Banned,
    /// The resource does not exist (or is not visible to the caller).
    #[error("{0} not found")]
    NotFound(Cow<'static, str>),
    /// Nothing of the kind exists for the caller (404), with a stable kind and a detail that
    /// says what to do next (e.g. `nothing-to-claim`).
    #[error("{detail}")]
    Absent {
        kind: &'static str,
        detail: Cow<'static, str>,
    },
    /// The request conflicts with the current state; `kind` is the problem type suffix.
    #[error("{detail}")]
    Conflict {
        kind: &'static str,
        detail: Cow<'static, str>,
    },
    /// The request is well-formed but a business rule refuses it; `kind` is the type suffix.
    #[error("{detail}")]
    Unprocessable {
        kind: &'static str,
        detail: Cow<'static, str>,
    },
    /// Too many requests; retry after the given whole seconds.
    #[error("too many requests; retry after {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// Too many requests of one kind for this subject (a locked login, a mail quota): 429 with
    /// `Retry-After` and a stable `kind` of the domain's.
    #[error("{detail}")]
    Throttled {
        kind: &'static str,
        detail: Cow<'static, str>,
        retry_after_secs: u64,
    },
    /// A bounded resource (password hashing) is busy: 503 with `Retry-After`.
    #[error("the service is busy; retry after {retry_after_secs} s")]
    Overloaded { retry_after_secs: u64 },
    /// A dependency (database, Redis) is unavailable; the client may retry.
    #[error("the service is temporarily unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// Anything else: a bug or an infrastructure failure. Opaque to the client.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// A database constraint and the client error it means. Add a line here when a migration adds
/// a constraint a client can violate; any constraint not listed is an internal error.
pub struct ConstraintProblem {
    pub constraint: &'static str,
    pub status: StatusCode,
    pub kind: &'static str,
    pub detail: &'static str,
}

/// The constraints clients can violate, by name (see the migrations).
pub const CONSTRAINTS: &[ConstraintProblem] = &[
    ConstraintProblem {
        constraint: "users_email_key",
        status: StatusCode::CONFLICT,
        kind: kind::EMAIL_TAKEN,
        detail: "an account with this email already exists; log in instead",
    },
    ConstraintProblem {
        constraint: "wallets_pkey",
        status: StatusCode::CONFLICT,
        kind: kind::WALLET_TAKEN,
        detail: "this wallet is already linked to another account",
    },
    ConstraintProblem {
        constraint: "wallets_user_id_key",
        status: StatusCode::CONFLICT,
        kind: kind::WALLET_ALREADY_LINKED,
        detail: "this account already has a linked wallet (one wallet per account)",
    },
];

impl ApiError {
    /// An internal error from anything displayable with a source chain.
    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        ApiError::Internal(err.into())
    }

    /// A conflict with a stable kind.
    pub fn conflict(kind: &'static str, detail: impl Into<Cow<'static, str>>) -> Self {
        ApiError::Conflict {
            kind,
            detail: detail.into(),
        }
    }

    /// A business-rule refusal (422) with a stable kind.
    pub fn unprocessable(kind: &'static str, detail: impl Into<Cow<'static, str>>) -> Self {
        ApiError::Unprocessable {
            kind,
            detail: detail.into(),
        }
    }

    /// A 403 with a stable kind: the caller may not do this to this resource.
    pub fn denied(kind: &'static str, detail: impl Into<Cow<'static, str>>) -> Self {
        ApiError::Denied {
            kind,
            detail: detail.into(),
        }
    }

    /// A 404 with a stable kind and a detail saying what to do next.
    pub fn absent(kind: &'static str, detail: impl Into<Cow<'static, str>>) -> Self {
        ApiError::Absent {
            kind,
            detail: detail.into(),
        }
    }

    /// One invalid field.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::new(field, message)])
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MalformedJson(_) | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::InvalidBody(_) | ApiError::Validation(_) | ApiError::Unprocessable { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unauthenticated(_) | ApiError::InvalidCredentials(_) => {
                StatusCode::UNAUTHORIZED
            }
            ApiError::Forbidden { .. } | ApiError::Denied { .. } | ApiError::Banned => {
                StatusCode::FORBIDDEN
            }
            ApiError::NotFound(_) | ApiError::Absent { .. } => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::RateLimited { .. } | ApiError::Throttled { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Unavailable(_) | ApiError::Overloaded { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable suffix of the problem `type` URI.
    pub fn kind(&self) -> &'static str {
        match self {
            ApiError::MalformedJson(_) => kind::MALFORMED_JSON,
            ApiError::InvalidBody(_) => kind::INVALID_BODY,
            ApiError::BadRequest(_) => kind::BAD_REQUEST,
            ApiError::UnsupportedMediaType => kind::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge => kind::PAYLOAD_TOO_LARGE,
            ApiError::Validation(_) => kind::VALIDATION_FAILED,
            ApiError::Unauthenticated(_) => kind::UNAUTHENTICATED,
            ApiError::InvalidCredentials(_) => kind::INVALID_CREDENTIALS,
            ApiError::Forbidden { .. } => kind::FORBIDDEN,
            ApiError::Banned => kind::BANNED,
            ApiError::NotFound(_) => kind::NOT_FOUND,
            ApiError::Conflict { kind, .. }
            | ApiError::Unprocessable { kind, .. }
            | ApiError::Absent { kind, .. }
            | ApiError::Throttled { kind, .. }
            | ApiError::Denied { kind, .. } => kind,
            ApiError::RateLimited { .. } => kind::RATE_LIMITED,
            ApiError::Overloaded { .. } => kind::OVERLOADED,
            ApiError::Unavailable(_) => kind::UNAVAILABLE,
            ApiError::Internal(_) => kind::INTERNAL,
        }
    }

    /// The problem document for this error (what the client sees).
    pub fn to_problem(&self) -> Problem {
        let status = self.status();
        let mut p = Problem::new(status, self.kind());
        p.detail = Some(self.to_string());
        match self {
            ApiError::Validation(errors) => p.errors = Some(errors.clone()),
            ApiError::Forbidden { required } => p.required_role = Some((*required).to_owned()),
            ApiError::RateLimited { retry_after_secs }
            | ApiError::Throttled {
                retry_after_secs, ..
            }
            | ApiError::Overloaded { retry_after_secs } => {
                p.retry_after = Some(*retry_after_secs);
            }
            _ => {}
        }
        p
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &err
            && let Some(name) = db.constraint()
            && let Some(c) = CONSTRAINTS.iter().find(|c| c.constraint == name)
        {
            return match c.status {
                StatusCode::CONFLICT => ApiError::conflict(c.kind, c.detail),
                _ => ApiError::unprocessable(c.kind, c.detail),
            };
        }
        // Text the database cannot store (a NUL character) is the client's input, whatever
        // the route: SQLSTATE 22021 character_not_in_repertoire.
        if let sqlx::Error::Database(db) = &err
            && db.code().as_deref() == Some("22021")
        {
            return ApiError::unprocessable(
                kind::INVALID_TEXT,
                "text fields must be valid UTF-8 without NUL characters",
            );
        }
        match err {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
                ApiError::Unavailable(anyhow::Error::new(err).context("database pool"))
            }
            other => ApiError::Internal(anyhow::Error::new(other).context("database")),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        ApiError::Internal(err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Internal(cause) | ApiError::Unavailable(cause) => {
                let mut chain = String::new();
                for (i, c) in cause.chain().enumerate() {
                    let _ = write!(chain, "{}{c}", if i == 0 { "" } else { ": " });
                }
                tracing::error!(kind = self.kind(), cause = %chain, "request failed");
            }
            _ => tracing::debug!(kind = self.kind(), detail = %self, "request refused"),
        }
        let mut problem = self.to_problem();
        if matches!(self, ApiError::Internal(_)) {
            problem.detail = Some("something went wrong on our side; it has been logged".into());
        }
        let mut response = problem.into_response();
        match self {
            ApiError::RateLimited { retry_after_secs }
            | ApiError::Throttled {
                retry_after_secs, ..
            }
            | ApiError::Overloaded { retry_after_secs } => {
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(retry_after_secs.max(1)),
                );
            }
            ApiError::Unauthenticated(_) => {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"posmul\""),
                );
            }
            _ => {}
        }
        response
    }
}

/// An RFC 9457 problem document, with PosMul's extension members.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "type": "https://posmul.dev/problems/validation-failed",
    "title": "Unprocessable Entity",
    "status": 422,
    "detail": "the request has invalid fields",
    "errors": [{"field": "password", "message": "use at least 10 characters"}]
}))]
pub struct Problem {
    /// A stable URI naming the kind of problem: `https://posmul.dev/problems/<kind>`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The HTTP reason phrase of `status`.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// A human-readable explanation of this occurrence (not for branching on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// A URI reference identifying this occurrence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// For `validation-failed`: the invalid fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// For `forbidden`: the role the action requires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_role: Option<String>,
    /// For `rate-limited`, `overloaded` and other throttles: seconds to wait (also in the
    /// `Retry-After` header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl Problem {
    /// A problem of `kind` with the reason phrase of `status` as its title.
    pub fn new(status: StatusCode, kind: &str) -> Self {
        Problem {
            type_: format!("{PROBLEM_BASE}{kind}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: None,
            instance: None,
            errors: None,
            required_role: None,
            retry_after: None,
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(self)).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }
}

/// The JSON body extractor of the API: `axum::Json` with problem+json rejections.
///
/// Request types should derive `Deserialize` with `#[serde(deny_unknown_fields)]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// Maps axum's JSON rejection onto [`ApiError`].
pub fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonSyntaxError(e) => ApiError::MalformedJson(e.body_text()),
        JsonRejection::JsonDataError(e) => ApiError::InvalidBody(e.body_text()),
        JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        other if other.status().is_client_error() => ApiError::BadRequest(other.body_text()),
        other => ApiError::internal(anyhow::anyhow!(other.body_text())),
    }
}

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        Json(self.0).into_response()
    }
}

/// Middleware: any error response that is not already problem+json (unknown route, wrong
/// method, a layer's rejection such as a timeout or the body limit) becomes one, keeping its
/// status. Installed outermost-but-one by [`crate::startup`].
pub async fn normalize_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_JSON));
    if is_problem {
        return response;
    }
    let (kind, detail) = match status {
        StatusCode::NOT_FOUND => (kind::NOT_FOUND, "no such route; see /openapi.json"),
        StatusCode::METHOD_NOT_ALLOWED => (
            kind::METHOD_NOT_ALLOWED,
            "this route does not accept that method; see /openapi.json",
        ),
        StatusCode::REQUEST_TIMEOUT => (kind::TIMEOUT, "the request took too long"),
        StatusCode::PAYLOAD_TOO_LARGE => (
            kind::PAYLOAD_TOO_LARGE,
            "the request body is larger than the server accepts",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            kind::UNSUPPORTED_MEDIA_TYPE,
            "send the body as application/json",
        ),
        s if s.is_server_error() => (kind::INTERNAL, "something went wrong on our side"),
        _ => (kind::BAD_REQUEST, "the request was refused"),
    };
    let mut problem = Problem::new(status, kind);
    problem.detail = Some(detail.to_owned());
    let mut out = problem.into_response();
    for name in [header::RETRY_AFTER, header::ALLOW, header::WWW_AUTHENTICATE] {
        if let Some(v) = response.headers().get(&name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_type_is_a_stable_uri_under_the_problem_base() {
        let e = ApiError::conflict(kind::EMAIL_TAKEN, "x");
        let p = e.to_problem();
        assert_eq!(p.type_, "https://posmul.dev/problems/email-taken");
        assert_eq!(p.status, 409);
        assert_eq!(p.title, "Conflict");
    }

    #[test]
    fn problem_kinds_are_distinct_lower_case_kebab_names() {
        let mut seen = std::collections::BTreeSet::new();
        for k in kind::ALL {
            assert!(seen.insert(*k), "{k} is listed twice");
            assert!(
                !k.is_empty()
                    && !k.starts_with('-')
                    && !k.ends_with('-')
                    && k.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{k} is not a lower-case kebab name"
            );
        }
        for c in CONSTRAINTS {
            assert!(
                kind::ALL.contains(&c.kind),
                "{} is not a listed kind",
                c.kind
            );
        }
    }

    #[test]
    fn an_internal_error_does_not_show_its_cause_to_the_client() {
        let response =
            ApiError::internal(anyhow::anyhow!("password=hunter2 in a SQL string")).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
    }

    #[test]
    fn a_rate_limited_problem_carries_retry_after() {
        let response = ApiError::RateLimited {
            retry_after_secs: 7,
        }
        .into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "7");
    }

    #[test]
    fn u2_an_overloaded_problem_is_a_503_with_retry_after() {
        let response = ApiError::Overloaded {
            retry_after_secs: 2,
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    }
}
