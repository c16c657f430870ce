//! Configuration from environment variables.
//!
//! Every setting has a documented default (see the README's configuration table) except the
//! few that cannot have a safe one. A missing required variable or a malformed value is a
//! [`ConfigError`] that names the variable and what was expected, so a service refuses to
//! start instead of running on a guess.

use std::{fmt::Display, str::FromStr};

/// A variable was missing or could not be parsed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is not set.
    #[error("environment variable {name} is required: {hint}")]
    Missing { name: String, hint: &'static str },
    /// A variable parses but names a link the TLS rule refuses (see [`crate::tls`]).
    #[error("environment variable {name}={value:?} is refused: {reason}")]
    Refused {
        name: String,
        value: String,
        reason: String,
    },
    /// A variable is set but does not parse.
    #[error("environment variable {name}={value:?} is malformed: {reason}")]
    Malformed {
        name: String,
        value: String,
        reason: String,
    },
}

/// Reads typed values from a variable source (the process environment, or a map in tests).
pub struct Env<F = fn(&str) -> Option<String>> {
    lookup: F,
}

impl Env {
    /// The process environment. Empty values count as unset.
    pub fn process() -> Self {
        Env {
            lookup: |name| std::env::var(name).ok().filter(|v| !v.is_empty()),
        }
    }
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    /// A custom source, e.g. a `HashMap` in tests.
    pub fn from_fn(lookup: F) -> Self {
        Env { lookup }
    }

    /// The raw value, if set.
    pub fn raw(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
    }

    /// A parsed value, or `default` when unset.
    pub fn or<T>(&self, name: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        Ok(self.optional(name)?.unwrap_or(default))
    }

    /// A parsed value, or `None` when unset.
    pub fn optional<T>(&self, name: &str) -> Result<Option<T>, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        match self.raw(name) {
            None => Ok(None),
            Some(value) => {
                value
                    .trim()
                    .parse::<T>()
                    .map(Some)
                    .map_err(|e| ConfigError::Malformed {
                        name: name.to_owned(),
                        reason: e.to_string(),
                        value,
                    })
            }
        }
    }

    /// A parsed value that must be set.
    pub fn required<T>(&self, name: &str, hint: &'static str) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        self.optional(name)?.ok_or_else(|| ConfigError::Missing {
            name: name.to_owned(),
            hint,
        })
    }

    /// A comma-separated list; empty items are skipped. `default` when unset.
    pub fn list(&self, name: &str, default: &[&str]) -> Vec<String> {
        match self.raw(name) {
            Some(v) => v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            None => default.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    /// A duration in milliseconds (`NAME` holds an integer number of ms).
    pub fn millis(&self, name: &str, default_ms: u64) -> Result<std::time::Duration, ConfigError> {
        self.or(name, default_ms)
            .map(std::time::Duration::from_millis)
    }
}

/// The database URL: `DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/posmul`.
pub fn database_url<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> String {
    env.raw("DATABASE_URL")
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned())
}

/// `DATABASE_MIGRATE` (default `true`): whether a service applies pending migrations on start.
/// Only the database's owner may; a service that connects as its own role
/// ([`crate::db::ServiceRole`]) runs with `false` after the owner migrated (`posmul-api migrate`).
pub fn database_migrate<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<bool, ConfigError> {
    env.or("DATABASE_MIGRATE", true)
}

/// Default for `DATABASE_URL`.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/posmul";

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Env<impl Fn(&str) -> Option<String>> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Env::from_fn(move |k| map.get(k).cloned())
    }

    #[test]
    fn a_missing_variable_takes_its_default() {
        assert_eq!(env(&[]).or("PORT", 8080u16).unwrap(), 8080);
    }

    #[test]
    fn a_malformed_variable_is_an_error_naming_it() {
        let err = env(&[("PORT", "eighty")]).or("PORT", 8080u16).unwrap_err();
        assert!(err.to_string().contains("PORT=\"eighty\""), "{err}");
    }

    #[test]
    fn a_required_variable_must_be_set() {
        let err = env(&[])
            .required::<u64>("CHAIN_ID", "the chain to index")
            .unwrap_err();
        assert!(matches!(err, ConfigError::Missing { .. }));
    }

    #[test]
    fn lists_split_on_commas_and_skip_blanks() {
        let e = env(&[("RPC_URLS", "http://a, ,http://b")]);
        assert_eq!(e.list("RPC_URLS", &[]), vec!["http://a", "http://b"]);
        assert_eq!(e.list("OTHER", &["x"]), vec!["x"]);
    }
}
