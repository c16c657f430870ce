//! Sign-In with Ethereum (EIP-4361), for signing in and for linking a wallet (U2).
//!
//! 1. `GET /v1/auth/siwe/nonce?purpose=sign-in|link-wallet` stores a random nonce for that
//!    [`SiwePurpose`] (single use, expiring after `SIWE_NONCE_TTL_SECS`) and returns it with the
//!    domain, URI, chain id and the statement (the purpose, in words) to put in the message.
//! 2. The wallet signs the EIP-4361 message (EIP-191 `personal_sign`).
//! 3. `POST /v1/auth/siwe/verify {message, signature}` (purpose `sign-in`) — or
//!    `POST /v1/me/wallets/link` for a signed-in user (purpose `link-wallet`) — goes through
//!    [`verify_signed_message`]: the message is parsed ([`SiweMessage::parse`]), its statement
//!    must be the route's purpose, its domain, URI, chain id and version must be ours, `Issued At`
//!    must be neither in the future (60 s skew) nor older than `SIWE_MAX_AGE_SECS`,
//!    `Expiration Time` must be ahead and `Not Before` behind; the signature must recover to the
//!    message's address; and the nonce is consumed atomically in the caller's transaction, only
//!    for the purpose it was issued for (a replay finds it gone). So a signature a wallet gave
//!    to sign in cannot link that wallet to another account, nor a link signature sign in (U2).
//!
//! Sign-in then finds the wallet's user or creates one ([`super::accounts::create`]).

use std::str::FromStr;

use alloy::primitives::{Address, Signature};
use axum::extract::Query;
use axum::extract::State;
use chrono::{DateTime, FixedOffset, Utc};
use posmul_core::WalletAddress;
use rand::{Rng, distr::Alphanumeric};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use utoipa::{IntoParams, ToSchema};

use super::{
    accounts::{self, NewAccount},
    extract::RequestMeta,
    session::{self, TokenPair},
};
use crate::{
    audit::{self, Action, Entry},
    config::ApiConfig,
    error::{AccountsError, ApiError, ApiJson, ApiResult, Problem},
    state::AppState,
};

/// Allowed clock skew for `Issued At` and `Not Before`.
pub const CLOCK_SKEW_SECS: i64 = 60;

/// What a signed message is for (U2): its statement says it, and its nonce was issued for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SiwePurpose {
    /// `POST /v1/auth/siwe/verify`: sign in (or create the wallet's account).
    #[default]
    SignIn,
    /// `POST /v1/me/wallets/link`: link the wallet to the signed-in account.
    LinkWallet,
}

impl SiwePurpose {
    /// The EIP-4361 `statement` a message for this purpose must carry, exactly.
    pub const fn statement(self) -> &'static str {
        match self {
            SiwePurpose::SignIn => "Sign in to PosMul.",
            SiwePurpose::LinkWallet => "Link this wallet to PosMul.",
        }
    }

    /// The stored name (`auth.siwe_nonces.purpose`).
    const fn as_db(self) -> &'static str {
        match self {
            SiwePurpose::SignIn => "sign_in",
            SiwePurpose::LinkWallet => "link_wallet",
        }
    }
}

/// A parsed EIP-4361 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiweMessage {
    pub domain: String,
    pub address: WalletAddress,
    pub statement: Option<String>,
    pub uri: String,
    pub version: String,
    pub chain_id: u64,
    pub nonce: String,
    pub issued_at: DateTime<FixedOffset>,
    pub expiration_time: Option<DateTime<FixedOffset>>,
    pub not_before: Option<DateTime<FixedOffset>>,
    pub request_id: Option<String>,
    pub resources: Vec<String>,
}

/// Why a SIWE message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SiweError {
    #[error("not an EIP-4361 message: {0}")]
    Malformed(String),
    #[error("the message is for domain {0:?}, not this service")]
    WrongDomain(String),
    #[error("the message is for URI {0:?}, not this service")]
    WrongUri(String),
    #[error("the message is for chain {0}, not this service's chain")]
    WrongChainId(u64),
    #[error("unsupported message version {0:?}; use 1")]
    WrongVersion(String),
    #[error("the message is issued in the future")]
    IssuedInFuture,
    #[error("the message is too old; ask for a new nonce")]
    TooOld,
    #[error("the message has expired")]
    Expired,
    #[error("the message is not valid yet")]
    NotYetValid,
    #[error("the signature is malformed")]
    MalformedSignature,
    #[error("the signature was not made by the message's address")]
    WrongSigner,
    #[error(
        "the nonce is unknown, already used, expired or for another purpose; ask for a new one"
    )]
    BadNonce,
    #[error(
        "the message's statement must be {expected:?}: this route accepts only messages signed for that purpose"
    )]
    WrongPurpose { expected: &'static str },
}

impl SiweError {
    /// A short stable reason for the audit log.
    pub fn reason(&self) -> &'static str {
        match self {
            SiweError::Malformed(_) => "malformed",
            SiweError::WrongDomain(_) => "wrong_domain",
            SiweError::WrongUri(_) => "wrong_uri",
            SiweError::WrongChainId(_) => "wrong_chain_id",
            SiweError::WrongVersion(_) => "wrong_version",
            SiweError::IssuedInFuture => "issued_in_future",
            SiweError::TooOld => "too_old",
            SiweError::Expired => "expired",
            SiweError::NotYetValid => "not_yet_valid",
            SiweError::MalformedSignature => "malformed_signature",
            SiweError::WrongSigner => "wrong_signer",
            SiweError::BadNonce => "bad_nonce",
            SiweError::WrongPurpose { .. } => "wrong_purpose",
        }
    }
}

const PREAMBLE: &str = " wants you to sign in with your Ethereum account:";

impl SiweMessage {
    /// Parses the EIP-4361 text form. The address must be EIP-55 checksummed, as EIP-4361
    /// requires of the signed text (unlike an address elsewhere in a request, which may come in
    /// any case). A message without a statement may have one or two blank lines before `URI:`.
    pub fn parse(text: &str) -> Result<SiweMessage, SiweError> {
        let bad = |m: &str| SiweError::Malformed(m.to_owned());
        if text.contains('\r') {
            return Err(bad("use \\n line endings"));
        }
        let lines: Vec<&str> = text.split('\n').collect();
        let mut i = 0;
        let mut next = || -> Option<&str> {
            let l = lines.get(i).copied();
            i += 1;
            l
        };
        let domain = next()
            .and_then(|l| l.strip_suffix(PREAMBLE))
            .filter(|d| !d.is_empty() && !d.contains(char::is_whitespace))
            .ok_or_else(|| bad("the first line must be `<domain> wants you to sign in with your Ethereum account:`"))?
            .to_owned();
        let address_line = next().ok_or_else(|| bad("the second line must be the address"))?;
        let address = Address::parse_checksummed(address_line, None)
            .map(WalletAddress::new)
            .map_err(|_| bad("the address must be an EIP-55 checksummed 0x address"))?;
        if next() != Some("") {
            return Err(bad("a blank line must follow the address"));
        }
        let mut statement = None;
        let mut line = next().ok_or_else(|| bad("the URI field is missing"))?;
        if line.is_empty() {
            line = next().ok_or_else(|| bad("the URI field is missing"))?;
        } else if !line.starts_with("URI: ") {
            statement = Some(line.to_owned());
            if next() != Some("") {
                return Err(bad("a blank line must follow the statement"));
            }
            line = next().ok_or_else(|| bad("the URI field is missing"))?;
        }
        let field = |line: Option<&str>, tag: &str| -> Result<String, SiweError> {
            line.and_then(|l| l.strip_prefix(tag))
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| SiweError::Malformed(format!("expected the `{tag}` field")))
        };
        let time = |v: &str| {
            DateTime::parse_from_rfc3339(v).map_err(|_| bad("timestamps must be RFC 3339"))
        };
        let uri = field(Some(line), "URI: ")?;
        let version = field(next(), "Version: ")?;
        let chain_id = field(next(), "Chain ID: ")?
            .parse::<u64>()
            .map_err(|_| bad("the chain id must be a decimal integer"))?;
        let nonce = field(next(), "Nonce: ")?;
        if nonce.len() < 8 || !nonce.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(bad("the nonce must be at least 8 alphanumeric characters"));
        }
        let issued_at = time(&field(next(), "Issued At: ")?)?;
        let mut msg = SiweMessage {
            domain,
            address,
            statement,
            uri,
            version,
            chain_id,
            nonce,
            issued_at,
            expiration_time: None,
            not_before: None,
            request_id: None,
            resources: vec![],
        };
        let mut rest = lines[i.min(lines.len())..].iter().copied().peekable();
        if let Some(v) = rest
            .peek()
            .and_then(|l| l.strip_prefix("Expiration Time: "))
        {
            msg.expiration_time = Some(time(v)?);
            rest.next();
        }
        if let Some(v) = rest.peek().and_then(|l| l.strip_prefix("Not Before: ")) {
            msg.not_before = Some(time(v)?);
            rest.next();
        }
        if let Some(v) = rest.peek().and_then(|l| l.strip_prefix("Request ID: ")) {
            msg.request_id = Some(v.to_owned());
            rest.next();
        }
        if rest.peek() == Some(&"Resources:") {
            rest.next();
            while let Some(r) = rest.peek().and_then(|l| l.strip_prefix("- ")) {
                msg.resources.push(r.to_owned());
                rest.next();
            }
        }
        // Tolerate one trailing newline, nothing else.
        match (rest.next(), rest.next()) {
            (None, _) | (Some(""), None) => Ok(msg),
            _ => Err(bad("unexpected lines after the last field")),
        }
    }

    /// Checks everything but the signature and the nonce against our settings at `now`.
    pub fn check(&self, config: &ApiConfig, now: DateTime<Utc>) -> Result<(), SiweError> {
        if self.domain != config.siwe_domain {
            return Err(SiweError::WrongDomain(self.domain.clone()));
        }
        if self.uri != config.siwe_uri {
            return Err(SiweError::WrongUri(self.uri.clone()));
        }
        if self.version != "1" {
            return Err(SiweError::WrongVersion(self.version.clone()));
        }
        if self.chain_id != config.chain_id {
            return Err(SiweError::WrongChainId(self.chain_id));
        }
        let skew = chrono::Duration::seconds(CLOCK_SKEW_SECS);
        let issued = self.issued_at.with_timezone(&Utc);
        if issued > now + skew {
            return Err(SiweError::IssuedInFuture);
        }
        let max_age =
            chrono::Duration::from_std(config.siwe_max_age).unwrap_or(chrono::Duration::MAX);
        if issued < now - max_age {
            return Err(SiweError::TooOld);
        }
        if let Some(exp) = self.expiration_time
            && exp.with_timezone(&Utc) <= now
        {
            return Err(SiweError::Expired);
        }
        if let Some(nbf) = self.not_before
            && nbf.with_timezone(&Utc) > now + skew
        {
            return Err(SiweError::NotYetValid);
        }
        Ok(())
    }
}

/// Recovers the EIP-191 signer of `message` from a 65-byte hex signature.
pub fn recover_signer(message: &str, signature: &str) -> Result<Address, SiweError> {
    let sig = Signature::from_str(signature.trim()).map_err(|_| SiweError::MalformedSignature)?;
    sig.recover_address_from_msg(message.as_bytes())
        .map_err(|_| SiweError::WrongSigner)
}

/// Verifies a signed message for `purpose` and consumes its nonce in `conn`'s transaction.
/// Returns the message on success; its `address` is what `auth.wallets` stores and responses
/// show.
pub async fn verify_signed_message(
    conn: &mut PgConnection,
    config: &ApiConfig,
    purpose: SiwePurpose,
    message: &str,
    signature: &str,
) -> Result<Result<SiweMessage, SiweError>, ApiError> {
    let msg = match SiweMessage::parse(message) {
        Ok(m) => m,
        Err(e) => return Ok(Err(e)),
    };
    if msg.statement.as_deref() != Some(purpose.statement()) {
        return Ok(Err(SiweError::WrongPurpose {
            expected: purpose.statement(),
        }));
    }
    if let Err(e) = msg.check(config, Utc::now()) {
        return Ok(Err(e));
    }
    match recover_signer(message, signature) {
        Ok(signer) if signer == msg.address.get() => {}
        Ok(_) => return Ok(Err(SiweError::WrongSigner)),
        Err(e) => return Ok(Err(e)),
    }
    let consumed = sqlx::query_scalar!(
        "DELETE FROM auth.siwe_nonces WHERE nonce = $1 AND purpose = $2 AND expires_at > now()
         RETURNING nonce",
        msg.nonce,
        purpose.as_db(),
    )
    .fetch_optional(&mut *conn)
    .await?;
    if consumed.is_none() {
        return Ok(Err(SiweError::BadNonce));
    }
    Ok(Ok(msg))
}

/// What to put in the message.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NonceResponse {
    /// Put in the message's `Nonce:` field. Single use.
    pub nonce: String,
    /// After this, the nonce is refused.
    pub expires_at: DateTime<Utc>,
    /// The `domain` the message must name.
    pub domain: String,
    /// The `URI:` the message must name.
    pub uri: String,
    /// The `Chain ID:` the message must name.
    pub chain_id: u64,
    /// The `Version:` the message must name (`1`).
    pub version: String,
    /// What the nonce is for: only the route of that purpose accepts it.
    pub purpose: SiwePurpose,
    /// The statement the message must carry, exactly (the purpose, in words).
    #[schema(example = "Sign in to PosMul.")]
    pub statement: String,
}

/// `GET /v1/auth/siwe/nonce` query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NonceQuery {
    /// `sign-in` (the default: `POST /v1/auth/siwe/verify`) or `link-wallet`
    /// (`POST /v1/me/wallets/link`).
    #[serde(default)]
    #[param(inline)]
    pub purpose: SiwePurpose,
}

/// Issues a single-use, expiring nonce for one purpose: signing in, or linking a wallet (U2).
#[utoipa::path(get, path = "/v1/auth/siwe/nonce", tag = "auth",
    params(NonceQuery),
    responses(
        (status = 200, description = "a fresh nonce and the message parameters", body = NonceResponse),
        (status = 400, description = "an unknown purpose", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate limited", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn nonce(
    State(state): State<AppState>,
    Query(query): Query<NonceQuery>,
) -> ApiResult<ApiJson<NonceResponse>> {
    let nonce: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(24)
        .map(char::from)
        .collect();
    let ttl = chrono::Duration::from_std(state.config.siwe_nonce_ttl)
        .map_err(|e| ApiError::internal(anyhow::Error::new(e)))?;
    let expires_at = Utc::now() + ttl;
    sqlx::query!("DELETE FROM auth.siwe_nonces WHERE expires_at < now()")
        .execute(&state.db)
        .await?;
    sqlx::query!(
        "INSERT INTO auth.siwe_nonces (nonce, expires_at, purpose) VALUES ($1, $2, $3)",
        nonce,
        expires_at,
        query.purpose.as_db(),
    )
    .execute(&state.db)
    .await?;
    Ok(ApiJson(NonceResponse {
        nonce,
        expires_at,
        domain: state.config.siwe_domain.clone(),
        uri: state.config.siwe_uri.clone(),
        chain_id: state.config.chain_id,
        version: "1".into(),
        purpose: query.purpose,
        statement: query.purpose.statement().into(),
    }))
}

/// A signed EIP-4361 message.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignedMessage {
    /// The EIP-4361 message, exactly as signed.
    #[schema(max_length = 4096)]
    pub message: String,
    /// The EIP-191 signature, 0x-prefixed hex of 65 bytes.
    #[schema(example = "0x…", max_length = 200)]
    pub signature: String,
}

/// Signs in with an Ethereum wallet; creates the account on first sign-in. The message must be
/// for signing in: statement `Sign in to PosMul.`, nonce from `?purpose=sign-in`.
#[utoipa::path(post, path = "/v1/auth/siwe/verify", tag = "auth",
    request_body = SignedMessage,
    responses(
        (status = 200, description = "signed in (account created if new)", body = TokenPair),
        (status = 401, description = "refused: wrong purpose, domain, URI, chain id, time, nonce or signer", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`banned`: the wallet's account is banned", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "the wallet was linked concurrently", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "not an EIP-4361 message or not a signature", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate limited", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn verify(
    State(state): State<AppState>,
    meta: RequestMeta,
    ApiJson(req): ApiJson<SignedMessage>,
) -> ApiResult<ApiJson<TokenPair>> {
    let mut tx = state.db.begin().await?;
    let address = match verify_signed_message(
        &mut tx,
        &state.config,
        SiwePurpose::SignIn,
        &req.message,
        &req.signature,
    )
    .await?
    {
        Ok(msg) => msg.address,
        Err(e) => {
            drop(tx);
            audit_failure(&state, &meta, &e, None).await?;
            return Err(AccountsError::from(e).into());
        }
    };
    let existing = sqlx::query_scalar!(
        "SELECT user_id FROM auth.wallets WHERE address = $1",
        address.as_slice(),
    )
    .fetch_optional(&mut *tx)
    .await?;
    let (user_id, created) = match existing {
        Some(id) => (id, false),
        None => (
            accounts::create(&mut tx, NewAccount::Wallet { address }, &meta).await?,
            true,
        ),
    };
    audit::record(
        &mut *tx,
        Entry {
            action: Action::SiweSignIn,
            actor: Some(user_id),
            subject: Some(user_id),
            meta: &meta,
            details: serde_json::json!({
                "address": address,
                "created": created,
            }),
        },
    )
    .await?;
    let pair = session::issue(&mut tx, &state, user_id, None).await?;
    tx.commit().await?;
    metrics::counter!("auth_signins_total", "method" => "siwe", "outcome" => "ok").increment(1);
    Ok(ApiJson(pair))
}

/// Audits a refused SIWE message (outside the refused transaction).
pub async fn audit_failure(
    state: &AppState,
    meta: &RequestMeta,
    error: &SiweError,
    user: Option<uuid::Uuid>,
) -> Result<(), ApiError> {
    metrics::counter!("auth_signins_total", "method" => "siwe", "outcome" => "failed").increment(1);
    audit::record(
        &state.db,
        Entry {
            action: Action::SiweSignInFailed,
            actor: user,
            subject: user,
            meta,
            details: serde_json::json!({ "reason": error.reason() }),
        },
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADDR: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

    fn text(statement: Option<&str>, extra: &str) -> String {
        let st = statement
            .map(|s| format!("{s}\n\n"))
            .unwrap_or_else(|| "\n".into());
        format!(
            "localhost:8080 wants you to sign in with your Ethereum account:\n{ADDR}\n\n{st}URI: http://localhost:8080\nVersion: 1\nChain ID: 31337\nNonce: abcdefgh12\nIssued At: 2026-11-26T10:00:00Z{extra}"
        )
    }

    #[test]
    fn u2_an_eip4361_message_parses_with_and_without_a_statement() {
        let m = SiweMessage::parse(&text(Some("Sign in to PosMul"), "")).unwrap();
        assert_eq!(m.domain, "localhost:8080");
        assert_eq!(m.statement.as_deref(), Some("Sign in to PosMul"));
        assert_eq!(m.chain_id, 31337);
        assert_eq!(m.nonce, "abcdefgh12");
        let m = SiweMessage::parse(&text(
            None,
            "\nExpiration Time: 2026-11-26T10:10:00Z\nResources:\n- https://a\n- https://b",
        ))
        .unwrap();
        assert!(m.statement.is_none());
        assert!(m.expiration_time.is_some());
        assert_eq!(m.resources, vec!["https://a", "https://b"]);
    }

    #[test]
    fn u2_a_siwe_message_with_a_lowercase_address_or_junk_is_malformed() {
        let lower = text(None, "").replace(
            ADDR,
            &ADDR.to_lowercase().replace(
                "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
                "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92267",
            ),
        );
        assert!(matches!(
            SiweMessage::parse(&lower),
            Err(SiweError::Malformed(_))
        ));
        assert!(matches!(
            SiweMessage::parse(&text(None, "\nJunk: 1")),
            Err(SiweError::Malformed(_))
        ));
        assert!(matches!(
            SiweMessage::parse("hello"),
            Err(SiweError::Malformed(_))
        ));
    }
}
