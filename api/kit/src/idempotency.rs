//! HTTP idempotency for writes that move value: the `Idempotency-Key` header.
//!
//! A route that moves points or coins takes [`Idempotent`] in its signature (the header is then
//! required: 1–255 visible ASCII characters, else 422) and runs its effect through a [`Work`],
//! the transaction that owns the key. Two ways to begin, with the same guarantees:
//!
//! ```text
//! // 1. Claim first: the key row is inserted before the effect (two statements per request).
//! let mut work = match idem.begin(&s.db, user.user_id, &req).await? {
//!     Begun::Replay(response) => return Ok(response),
//!     Begun::Fresh(work) => work,
//! };
//! let out = do_the_effect(work.tx(), &req).await?;     // an error rolls back, key included
//! work.commit(StatusCode::CREATED, &out).await          // stores the response, commits
//!
//! // 2. Deferred: the key row is inserted with the response, at commit (one statement). Errors
//! //    must go through `fail`, which replays a committed duplicate instead of the error.
//! let mut work = idem.begin_deferred(&s.db, user.user_id, &req).await?;
//! match do_the_effect(work.tx(), &req).await {
//!     Ok(out) => work.commit(StatusCode::CREATED, &out).await,
//!     Err(e) => work.fail(e).await,
//! }
//! ```
//!
//! Semantics (per user; keys of different users never collide):
//! - The request is fingerprinted as SHA-256 of method, path, user and the request body as
//!   parsed (so whitespace or field order does not matter).
//! - The key row is written in the effect's own transaction, so a key names either a committed
//!   effect and its response, or nothing. Concurrent requests with one key serialize on the key's
//!   primary key (claim first: before the effect; deferred: at commit, where the loser rolls its
//!   effect back), so an effect is never applied twice.
//! - Same key, same fingerprint, committed: the stored status and body are returned byte for byte
//!   with `Idempotent-Replayed: true`, and nothing moves.
//! - Same key, different fingerprint: 409 `idempotency-key-reused`.
//! - Only successful responses are stored. A refused request (4xx) or a failure rolls everything
//!   back, key included, so the client may retry it with the same key once the cause is fixed.

use axum::{
    body::Body,
    extract::FromRequestParts,
    http::{HeaderName, HeaderValue, Method, StatusCode, header, request::Parts},
    response::Response,
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{PgPool, PgTransaction};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult, kind};

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
    db: PgPool,
    user_id: Uuid,
    key: String,
    hash: [u8; 32],
    /// The key row exists in `tx` (claim first); otherwise it is inserted at commit.
    claimed: bool,
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
        let claimed = sqlx::query!(
            "INSERT INTO ledger.idempotency_keys (user_id, key, request_hash) VALUES ($1, $2, $3)
             ON CONFLICT (user_id, key) DO NOTHING",
            user_id,
            self.key,
            &hash[..],
        )
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if claimed {
            return Ok(Begun::Fresh(Work {
                tx,
                db: db.clone(),
                user_id,
                key: self.key,
                hash,
                claimed: true,
            }));
        }
        tx.rollback().await?;
        match stored_response(db, user_id, &self.key, &hash).await? {
            Some(response) => Ok(Begun::Replay(response)),
            None => Err(ApiError::internal(anyhow::anyhow!(
                "an idempotency key conflicted but is not stored"
            ))),
        }
    }

    /// Opens the effect's transaction; the key is written at [`Work::commit`]. Route every error
    /// of the effect through [`Work::fail`].
    #[tracing::instrument(skip_all, fields(key = %self.key), err(level = "info"))]
    pub async fn begin_deferred<B: Serialize>(
        self,
        db: &PgPool,
        user_id: Uuid,
        request: &B,
    ) -> ApiResult<Work> {
        let hash = self.fingerprint(user_id, request)?;
        Ok(Work {
            tx: db.begin().await?,
            db: db.clone(),
            user_id,
            key: self.key,
            hash,
            claimed: false,
        })
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

    /// Stores `status` and `body` under the key and commits the effect with it. Deferred: when a
    /// concurrent request committed the key first, this effect is rolled back and that request's
    /// response replayed (or 409 if it was a different request).
    pub async fn commit<T: Serialize>(
        mut self,
        status: StatusCode,
        body: &T,
    ) -> ApiResult<Response> {
        let bytes = serde_json::to_vec(body).map_err(ApiError::internal)?;
        let status_code = i16::try_from(status.as_u16()).map_err(ApiError::internal)?;
        let stored = if self.claimed {
            sqlx::query!(
                "UPDATE ledger.idempotency_keys SET status = $3, response_body = $4 WHERE user_id = $1 AND key = $2",
                self.user_id,
                self.key,
                status_code,
                bytes,
            )
            .execute(&mut *self.tx)
            .await?
        } else {
            sqlx::query!(
                "INSERT INTO ledger.idempotency_keys (user_id, key, request_hash, status, response_body)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, key) DO NOTHING",
                self.user_id,
                self.key,
                &self.hash[..],
                status_code,
                bytes,
            )
            .execute(&mut *self.tx)
            .await?
        };
        if stored.rows_affected() == 1 {
            self.tx.commit().await?;
            return json_response(status, bytes);
        }
        self.tx.rollback().await?;
        stored_response(&self.db, self.user_id, &self.key, &self.hash)
            .await?
            .ok_or_else(|| {
                ApiError::internal(anyhow::anyhow!(
                    "an idempotency key conflicted but is not stored"
                ))
            })
    }

    /// Rolls the effect back after `err`. Deferred: if the key already names a committed request,
    /// answers as [`Idempotent::begin`] would have (its replayed response, or 409); otherwise
    /// returns `err`.
    pub async fn fail(self, err: ApiError) -> ApiResult<Response> {
        self.tx.rollback().await?;
        if !self.claimed
            && let Some(response) =
                stored_response(&self.db, self.user_id, &self.key, &self.hash).await?
        {
            return Ok(response);
        }
        Err(err)
    }
}

/// The committed response stored under a key: `None` if the key is free, the replay if the
/// fingerprint matches, 409 otherwise.
async fn stored_response(
    db: &PgPool,
    user_id: Uuid,
    key: &str,
    hash: &[u8; 32],
) -> ApiResult<Option<Response>> {
    let row = sqlx::query!(
        "SELECT request_hash, status, response_body FROM ledger.idempotency_keys WHERE user_id = $1 AND key = $2",
        user_id,
        key,
    )
    .fetch_optional(db)
    .await?;
    let Some(row) = row else { return Ok(None) };
    if row.request_hash != hash {
        return Err(ApiError::conflict(
            kind::IDEMPOTENCY_KEY_REUSED,
            "this Idempotency-Key was already used for a different request; use a new key",
        ));
    }
    let (Some(status), Some(body)) = (row.status, row.response_body) else {
        return Err(ApiError::internal(anyhow::anyhow!(
            "a committed idempotency key has no response"
        )));
    };
    metrics::counter!("posmul_idempotent_replays_total").increment(1);
    replayed_response(status, body).map(Some)
}

fn json_response(status: StatusCode, body: Vec<u8>) -> ApiResult<Response> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .map_err(ApiError::internal)
}

fn replayed_response(status: i16, body: Vec<u8>) -> ApiResult<Response> {
    let status = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("stored status {status} is not HTTP")))?;
    let mut response = json_response(status, body)?;
    response.headers_mut().insert(
        HeaderName::from_static(REPLAYED_HEADER),
        HeaderValue::from_static("true"),
    );
    Ok(response)
}
