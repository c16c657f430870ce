//! Webhook signatures (I4): HMAC-SHA256, compared in constant time (`Mac::verify_slice`), and
//! a timestamp tolerance so that an old captured request cannot be sent again.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::provider::WebhookError;

type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA256 of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length, so this never fails.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// True when `candidate` is the HMAC of `message` under `key` (constant time).
fn verifies(key: &[u8], message: &[u8], candidate: &[u8]) -> bool {
    let Ok(mut mac) = <HmacSha256 as Mac>::new_from_slice(key) else {
        return false;
    };
    mac.update(message);
    mac.verify_slice(candidate).is_ok()
}

/// Whether `signed_at` is within `tolerance` of `now`, either way.
fn fresh(signed_at: i64, now: DateTime<Utc>, tolerance: chrono::Duration) -> bool {
    now.timestamp()
        .checked_sub(signed_at)
        .is_some_and(|age| age.abs() <= tolerance.num_seconds())
}

/// A Stripe-style `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…]` header over
/// `"{t}.{payload}"`. The signature is checked first, so a forged request learns nothing about
/// the clock; then the timestamp.
pub fn verify_stripe(
    header: Option<&str>,
    payload: &[u8],
    secret: &[u8],
    now: DateTime<Utc>,
    tolerance: chrono::Duration,
) -> Result<(), WebhookError> {
    let header = header.ok_or(WebhookError::Forged)?;
    let mut t: Option<&str> = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = Some(v),
            Some(("v1", v)) => candidates.push(v),
            _ => {}
        }
    }
    let t = t.ok_or(WebhookError::Forged)?;
    let signed_at: i64 = t.parse().map_err(|_| WebhookError::Forged)?;
    let mut message = Vec::with_capacity(t.len() + 1 + payload.len());
    message.extend_from_slice(t.as_bytes());
    message.push(b'.');
    message.extend_from_slice(payload);
    let ok = candidates.iter().any(|c| {
        hex::decode(c)
            .map(|bytes| verifies(secret, &message, &bytes))
            .unwrap_or(false)
    });
    if !ok {
        return Err(WebhookError::Forged);
    }
    if !fresh(signed_at, now, tolerance) {
        return Err(WebhookError::Stale);
    }
    Ok(())
}

/// The `Stripe-Signature` header for `payload` signed at `t` (the dev provider's webhooks and
/// tests).
pub fn sign_stripe(secret: &[u8], t: i64, payload: &[u8]) -> String {
    let mut message = format!("{t}.").into_bytes();
    message.extend_from_slice(payload);
    format!("t={t},v1={}", hex::encode(hmac_sha256(secret, &message)))
}

/// A Toss-style `tosspayments-webhook-signature: v1:<base64>[,v1:<base64>…]` over
/// `"{payload}:{transmission time}"`, the time in `tosspayments-webhook-transmission-time`
/// (Unix seconds or RFC 3339).
pub fn verify_toss(
    signature: Option<&str>,
    transmission_time: Option<&str>,
    payload: &[u8],
    secret: &[u8],
    now: DateTime<Utc>,
    tolerance: chrono::Duration,
) -> Result<(), WebhookError> {
    let (signature, time) = signature
        .zip(transmission_time)
        .ok_or(WebhookError::Forged)?;
    let mut message = Vec::with_capacity(payload.len() + 1 + time.len());
    message.extend_from_slice(payload);
    message.push(b':');
    message.extend_from_slice(time.as_bytes());
    let ok = signature.split(',').any(|part| {
        part.trim()
            .strip_prefix("v1:")
            .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
            .is_some_and(|bytes| verifies(secret, &message, &bytes))
    });
    if !ok {
        return Err(WebhookError::Forged);
    }
    let signed_at = time
        .parse::<i64>()
        .ok()
        .or_else(|| {
            DateTime::parse_from_rfc3339(time)
                .ok()
                .map(|t| t.timestamp())
        })
        .ok_or(WebhookError::Forged)?;
    if !fresh(signed_at, now, tolerance) {
        return Err(WebhookError::Stale);
    }
    Ok(())
}

/// The Toss-style signature header for `payload` sent at `time`.
pub fn sign_toss(secret: &[u8], time: &str, payload: &[u8]) -> String {
    let mut message = payload.to_vec();
    message.push(b':');
    message.extend_from_slice(time.as_bytes());
    format!(
        "v1:{}",
        base64::engine::general_purpose::STANDARD.encode(hmac_sha256(secret, &message))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test";

    fn at(t: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(t, 0).unwrap_or_default()
    }

    #[test]
    fn i4_stripe_signature_verifies_and_refuses_forged_and_stale() {
        let tol = chrono::Duration::minutes(5);
        let body = br#"{"id":"evt_1"}"#;
        let header = sign_stripe(SECRET, 1_000_000, body);
        assert_eq!(
            verify_stripe(Some(&header), body, SECRET, at(1_000_000 + 300), tol),
            Ok(())
        );
        // Stale: one second past the tolerance, either way.
        assert_eq!(
            verify_stripe(Some(&header), body, SECRET, at(1_000_000 + 301), tol),
            Err(WebhookError::Stale)
        );
        assert_eq!(
            verify_stripe(Some(&header), body, SECRET, at(1_000_000 - 301), tol),
            Err(WebhookError::Stale)
        );
        // Forged: another body, another secret, another timestamp, no header, garbage.
        for (h, b, s) in [
            (Some(header.as_str()), &br#"{"id":"evt_2"}"#[..], SECRET),
            (Some(header.as_str()), &body[..], &b"other"[..]),
            (None, &body[..], SECRET),
            (Some("t=1000000,v1=zz"), &body[..], SECRET),
        ] {
            assert_eq!(
                verify_stripe(h, b, s, at(1_000_000), tol),
                Err(WebhookError::Forged)
            );
        }
        let moved = header.replace("t=1000000", "t=1000001");
        assert_eq!(
            verify_stripe(Some(&moved), body, SECRET, at(1_000_000), tol),
            Err(WebhookError::Forged)
        );
        // Several v1 values (a rolled secret): one that verifies is enough.
        let two = format!("{header},v1={}", "00".repeat(32));
        assert_eq!(
            verify_stripe(Some(&two), body, SECRET, at(1_000_000), tol),
            Ok(())
        );
    }

    #[test]
    fn i4_toss_signature_verifies_and_refuses_forged_and_stale() {
        let tol = chrono::Duration::minutes(5);
        let body = br#"{"eventType":"PAYMENT_STATUS_CHANGED"}"#;
        let sig = sign_toss(SECRET, "1000000", body);
        assert_eq!(
            verify_toss(
                Some(&sig),
                Some("1000000"),
                body,
                SECRET,
                at(1_000_100),
                tol
            ),
            Ok(())
        );
        assert_eq!(
            verify_toss(
                Some(&sig),
                Some("1000000"),
                body,
                SECRET,
                at(1_000_400),
                tol
            ),
            Err(WebhookError::Stale)
        );
        assert_eq!(
            verify_toss(
                Some(&sig),
                Some("1000001"),
                body,
                SECRET,
                at(1_000_000),
                tol
            ),
            Err(WebhookError::Forged)
        );
        assert_eq!(
            verify_toss(Some(&sig), None, body, SECRET, at(1_000_000), tol),
            Err(WebhookError::Forged)
        );
    }
}
