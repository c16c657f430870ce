//! Email addresses and passwords, parsed once at the edge ("parse, don't validate"), and
//! argon2id hashing (U2).
//!
//! - [`Email`]: trimmed, lower-cased, `local@domain.tld` shape, at most 254 characters.
//! - [`Password`]: 10–128 characters, not all one character, not the email itself. No
//!   composition rules (NIST SP 800-63B). Hashed with argon2id (OWASP parameters: 19 MiB,
//!   2 passes, 1 lane) on the blocking pool, in one of the bounded slots of
//!   [`posmul_api_kit::hashing::HashGate`] (503 with `Retry-After` when none frees in time).

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};

use posmul_api_kit::hashing::HashGate;

use crate::error::{ApiError, FieldError};

/// A normalised email address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Trims and lower-cases `raw`, then checks its shape.
    pub fn parse(raw: &str) -> Result<Email, FieldError> {
        let email = raw.trim().to_lowercase();
        let bad = |m: &str| FieldError::new("email", m);
        if email.len() > 254 {
            return Err(bad("use at most 254 characters"));
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err(bad("an email address looks like name@example.org"));
        };
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        let domain_ok = domain.contains('.') && domain.split('.').all(label_ok);
        if local_ok && domain_ok {
            Ok(Email(email))
        } else {
            Err(bad("an email address looks like name@example.org"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password that meets the rules (not yet hashed).
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

/// Smallest accepted password length, in characters.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Largest accepted password length, in characters.
pub const MAX_PASSWORD_CHARS: usize = 128;

impl Password {
    /// Checks the rules for a new password of the account `email`.
    pub fn parse_new(raw: &str, email: &Email) -> Result<Password, FieldError> {
        let bad = |m: &str| FieldError::new("password", m);
        let n = raw.chars().count();
        if n < MIN_PASSWORD_CHARS {
            return Err(bad("use at least 10 characters"));
        }
        if n > MAX_PASSWORD_CHARS {
            return Err(bad("use at most 128 characters"));
        }
        let mut chars = raw.chars();
        let first = chars.next();
        if chars.all(|c| Some(c) == first) {
            return Err(bad("do not repeat a single character"));
        }
        if raw.trim().eq_ignore_ascii_case(email.as_str()) {
            return Err(bad("do not use your email address as the password"));
        }
        Ok(Password(raw.to_owned()))
    }
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes with argon2id and a random salt in a hashing slot; returns the PHC string.
pub async fn hash(gate: &HashGate, password: Password) -> Result<String, ApiError> {
    gate.run(move || {
        argon2()
            .hash_password(password.0.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))
    })
    .await?
    .map_err(ApiError::Internal)
}

/// A valid argon2id hash of a random password: checked against when an email is unknown, so
/// that an unknown email and a wrong password take the same time.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$n4nm1Kiv1zDhlEz2Q2jzYIf6Nxry1XUAUQ7b9MKnHJ0";

/// Checks `password` against a stored PHC hash (or against a dummy when `None`), in a hashing
/// slot.
pub async fn verify(
    gate: &HashGate,
    password: String,
    stored: Option<String>,
) -> Result<bool, ApiError> {
    gate.run(move || {
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| DUMMY_HASH.to_owned());
        let parsed = match PasswordHash::new(&phc) {
            Ok(p) => p,
            Err(e) => return Err(anyhow::anyhow!("stored password hash is malformed: {e}")),
        };
        let ok = argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(ok && known)
    })
    .await?
    .map_err(ApiError::Internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u2_emails_are_normalised_and_shape_checked() {
        assert_eq!(
            Email::parse("  Alice@Example.ORG ").unwrap().as_str(),
            "alice@example.org"
        );
        for bad in [
            "",
            "alice",
            "alice@",
            "@example.org",
            "a@b",
            "a b@c.de",
            "a..b@c.de",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn u2_password_rules_refuse_short_repetitive_and_email_passwords() {
        let email = Email::parse("alice@example.org").unwrap();
        assert!(Password::parse_new("short", &email).is_err());
        assert!(Password::parse_new("aaaaaaaaaaaa", &email).is_err());
        assert!(Password::parse_new("alice@example.org", &email).is_err());
        assert!(Password::parse_new(&"x1".repeat(65), &email).is_err());
        assert!(Password::parse_new("correct horse battery", &email).is_ok());
    }

    #[tokio::test]
    async fn u2_passwords_are_hashed_with_argon2id_and_verify() {
        let gate = HashGate::new(1, std::time::Duration::from_secs(30));
        let email = Email::parse("alice@example.org").unwrap();
        let h = hash(
            &gate,
            Password::parse_new("correct horse battery", &email).unwrap(),
        )
        .await
        .unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(
            verify(&gate, "correct horse battery".into(), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(
            !verify(&gate, "wrong horse battery".into(), Some(h))
                .await
                .unwrap()
        );
        assert!(!verify(&gate, "anything at all".into(), None).await.unwrap());
    }
}
