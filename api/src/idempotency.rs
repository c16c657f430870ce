//! HTTP idempotency for writes that move value: the `Idempotency-Key` header.
//!
//! A route that moves points or coins takes [`Idempotent`] in its signature (the header is then
//! required: 1–255 visible ASCII characters, else 422) and runs its effect through it:
//!
//! ```ignore
//! async fn handler(State(s): State<AppState>, user: AuthUser, idem: Idempotent, ApiJson(req): ApiJson<Req>)
//!     -> ApiResult<Response>
//! {
//!     let mut work = match idem.begin(&s.db, user.user_id, &req).await? {
//!         Begun::Replay(response) => return Ok(response),
//!         Begun::Fresh(work) => work,
//!     };
//!     let out = do_the_effect(work.tx(), &req).await?;      // the caller's writes
//!     work.commit(StatusCode::CREATED, &out).await           // stores the response, commits
//! }
//! ```
//!
//! Semantics (per user; keys of different users never collide):
//! - The request is fingerprinted as SHA-256 of method, path, user and the request body as
//!   parsed (so whitespace or field order does not matter).
//! - [`Idempotent::begin`] opens a transaction and inserts the key row first: a concurrent request
//!   with the same key waits on that row until the first commits or rolls back, so an effect is
//!   never applied twice.
//! - Same key, same fingerprint, committed: the stored status and body are returned byte for byte
//!   with `Idempotent-Replayed: true`, and nothing moves.
//! - Same key, different fingerprint: 409 `idempotency-key-reused`.
//! - Only successful responses are stored (in the effect's own transaction). A refused request
//!   (4xx) or a failure rolls everything back, key included, so the client may retry it with
//!   the same key once the cause is fixed.

use axum::{
    body::Body,
    extract::FromRequestParts,
    http::{HeaderName, HeaderValue, Method, StatusCode, header, request::Parts},
    response::Response,
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{PgPool, PgTransaction, Row};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// Set to `true` on a replayed response.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// The required `Idempotency-Key` of a write, with the method and path it was sent to.
#[derive(Debug, Clone)]
pub struct Idempotent {
    key: String,
    method: Method,
    path: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Idempotent {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let value = parts.headers.get(HEADER).ok_or_else(|| {
            ApiError::invalid_field(
                "Idempotency-Key",
                "this write needs an Idempotency-Key header (e.g. a fresh UUID per intended action)",
            )
        })?;
        let key = value
            .to_str()
            .ok()
            .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| {
                ApiError::invalid_field("Idempotency-Key", "use 1-255 visible ASCII characters")
            })?;
        Ok(Idempotent {
            key: key.to_owned(),
            method: parts.method.clone(),
            path: parts.uri.path().to_owned(),
        })
    }
}

/// What [`Idempotent::begin`] found.
pub enum Begun {
    /// A new key: do the work in [`Work::tx`], then [`Work::commit`].
    Fresh(Work),
    /// The key already names a committed request like this one: its response, replayed.
    Replay(Response),
}

/// An open transaction that owns an idempotency key until it commits.
pub struct Work {
    tx: PgTransaction<'static>,
    user_id: Uuid,
    key: String,
}

impl Idempotent {
    /// Creates a key for internal callers (tests, batch jobs) that are not behind an extractor.
    pub fn new(key: impl Into<String>, method: Method, path: impl Into<String>) -> Self {
        Idempotent {
            key: key.into(),
            method,
            path: path.into(),
        }
    }

    /// The key as sent.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Claims the key for `user_id` and this request, or finds the response to replay.
    #[tracing::instrument(skip_all, fields(key = %self.key), err(level = "info"))]
    pub async fn begin<B: Serialize>(
        self,
        db: &PgPool,
        user_id: Uuid,
        request: &B,
    ) -> ApiResult<Begun> {
        let hash = self.fingerprint(user_id, request)?;
        let mut tx = db.begin().await?;
        let claimed = sqlx::query(
            "INSERT INTO ledger.idempotency_keys (user_id, key, request_hash) VALUES ($1, $2, $3)
             ON CONFLICT (user_id, key) DO NOTHING",
        )
        .bind(user_id)
        .bind(&self.key)
        .bind(&hash[..])
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if claimed {
            return Ok(Begun::Fresh(Work {
                tx,
                user_id,
                key: self.key,
            }));
        }
        tx.rollback().await?;

        let row = sqlx::query(
            "SELECT request_hash, status, response_body FROM ledger.idempotency_keys WHERE user_id = $1 AND key = $2",
        )
        .bind(user_id)
        .bind(&self.key)
        .fetch_one(db)
        .await?;
        let stored_hash: Vec<u8> = row.try_get("request_hash")?;
        if stored_hash != hash {
            return Err(ApiError::conflict(
                "idempotency-key-reused",
                "this Idempotency-Key was already used for a different request; use a new key",
            ));
        }
        let status: Option<i16> = row.try_get("status")?;
        let body: Option<Vec<u8>> = row.try_get("response_body")?;
        let (Some(status), Some(body)) = (status, body) else {
            return Err(ApiError::internal(anyhow::anyhow!(
                "a committed idempotency key has no response"
            )));
        };
        metrics::counter!("posmul_idempotent_replays_total").increment(1);
        replayed_response(status, body)
    }

    fn fingerprint<B: Serialize>(&self, user_id: Uuid, request: &B) -> ApiResult<[u8; 32]> {
        let body = serde_json::to_vec(request).map_err(ApiError::internal)?;
        let mut h = Sha256::new();
        h.update(self.method.as_str().as_bytes());
        h.update([0]);
        h.update(self.path.as_bytes());
        h.update([0]);
        h.update(user_id.as_bytes());
        h.update(body);
        Ok(h.finalize().into())
    }
}

impl Work {
    /// The transaction to do the effect in.
    pub fn tx(&mut self) -> &mut PgTransaction<'static> {
        &mut self.tx
    }

    /// Stores `status` and `body` under the key and commits the effect with it.
    pub async fn commit<T: Serialize>(
        mut self,
        status: StatusCode,
        body: &T,
    ) -> ApiResult<Response> {
        let bytes = serde_json::to_vec(body).map_err(ApiError::internal)?;
        sqlx::query("UPDATE ledger.idempotency_keys SET status = $3, response_body = $4 WHERE user_id = $1 AND key = $2")
            .bind(self.user_id)
            .bind(&self.key)
            .bind(i16::try_from(status.as_u16()).map_err(ApiError::internal)?)
            .bind(&bytes)
            .execute(&mut *self.tx)
            .await?;
        self.tx.commit().await?;
        json_response(status, bytes)
    }
}

fn json_response(status: StatusCode, body: Vec<u8>) -> ApiResult<Response> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .map_err(ApiError::internal)
}

fn replayed_response(status: i16, body: Vec<u8>) -> ApiResult<Begun> {
    let status = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("stored status {status} is not HTTP")))?;
    let mut response = json_response(status, body)?;
    response.headers_mut().insert(
        HeaderName::from_static(REPLAYED_HEADER),
        HeaderValue::from_static("true"),
    );
    Ok(Begun::Replay(response))
}
