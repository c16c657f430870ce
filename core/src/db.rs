//! The PostgreSQL pool and the embedded migrations.
//!
//! All services share one database with a schema per domain (`chain`, `ledger`, …). The
//! migrations under `migrations/` are compiled into every binary, so a service can bring an
//! empty database up to date on start.
//!
//! Roles: the migrations create one NOLOGIN role per service ([`ServiceRole`]) with the least
//! privilege it needs (`migrations/20261205002000_database_roles.sql`); each service connects
//! as a login user that is a member of its role, and only the owner runs the migrations
//! (`DATABASE_MIGRATE=false` for the services, `posmul-api migrate` as the owner).
//!
//! TLS: `DATABASE_URL` takes libpq's `sslmode` (`disable`, `allow`, `prefer` the default,
//! `require`, `verify-ca`, `verify-full`) and `sslrootcert=<PEM file>`; without `sslrootcert`
//! the server's certificate must chain to the public roots or to `TLS_CA_FILE`. Outside
//! `POSMUL_ENV=dev`, a server off the host needs `require` or stronger ([`crate::tls`]).

use std::time::Duration;

use sqlx::{
    PgPool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use crate::tls::{TlsError, TlsSettings};

/// The ordered migrations of the whole system.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// The database role of a service, created by the migrations: what it may write is granted
/// there and nothing else (docs/ARCHITECTURE.md "Who writes which table").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceRole {
    /// `posmul_api`: accounts, predictions, the ledger, credit issuance, the claim queue.
    Api,
    /// `posmul_indexer`: the chain mirror only.
    Indexer,
    /// `posmul_relayer`: the waves, their transactions, a credit's wave and claim transitions.
    Relayer,
}

impl ServiceRole {
    /// Every service role.
    pub const ALL: [ServiceRole; 3] =
        [ServiceRole::Api, ServiceRole::Indexer, ServiceRole::Relayer];

    /// The role's name in PostgreSQL.
    pub const fn name(self) -> &'static str {
        match self {
            ServiceRole::Api => "posmul_api",
            ServiceRole::Indexer => "posmul_indexer",
            ServiceRole::Relayer => "posmul_relayer",
        }
    }
}

impl std::fmt::Display for ServiceRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Database failures at start-up.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The server could not be reached or refused the connection.
    #[error(
        "cannot connect to PostgreSQL at {url}: {source}; is it running? (script/dev starts one)"
    )]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    /// `DATABASE_URL` does not parse.
    #[error("DATABASE_URL {url} is malformed: {source}")]
    Url {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    /// `DATABASE_URL` would send plaintext off the host (see [`crate::tls`]).
    #[error("DATABASE_URL is refused: {0}")]
    Insecure(TlsError),
    /// A migration failed; the database is left at the last successful one.
    #[error("migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The user of `DATABASE_URL` may not migrate: a service role, not the owner.
    #[error(
        "migrations refused: {0}; the user of DATABASE_URL is not the database's owner (a service role?): \
         run the migrations as the owner (`posmul-api migrate`) and start the service with DATABASE_MIGRATE=false"
    )]
    MigrateRefused(sqlx::migrate::MigrateError),
}

/// The connection options of `url`: checked against the plaintext rule, and trusting
/// `TLS_CA_FILE` unless the URL names its own `sslrootcert`.
pub fn connect_options(url: &str, tls: &TlsSettings) -> Result<PgConnectOptions, DbError> {
    let mut options: PgConnectOptions = url.parse().map_err(|source| DbError::Url {
        url: redact(url),
        source,
    })?;
    tls.check_database(&options).map_err(DbError::Insecure)?;
    if let Some(pem) = tls.ca_pem()
        && !names_root_cert(url)
    {
        options = options.ssl_root_cert_from_pem(pem.to_vec());
    }
    Ok(options)
}

fn names_root_cert(url: &str) -> bool {
    alloy::transports::http::reqwest::Url::parse(url).is_ok_and(|u| {
        u.query_pairs()
            .any(|(k, _)| matches!(&*k, "sslrootcert" | "ssl-root-cert" | "ssl-ca"))
    })
}

/// Opens a pool of at most `max_connections` over `tls`.
pub async fn connect(
    url: &str,
    max_connections: u32,
    tls: &TlsSettings,
) -> Result<PgPool, DbError> {
    let options = connect_options(url, tls)?;
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .map_err(|source| DbError::Connect {
            url: redact(url),
            source,
        })
}

/// Opens a pool and applies every pending migration.
pub async fn connect_and_migrate(
    url: &str,
    max_connections: u32,
    tls: &TlsSettings,
) -> Result<PgPool, DbError> {
    let pool = connect(url, max_connections, tls).await?;
    MIGRATOR.run(&pool).await.map_err(|e| {
        if insufficient_privilege(&e) {
            DbError::MigrateRefused(e)
        } else {
            DbError::Migrate(e)
        }
    })?;
    Ok(pool)
}

/// Opens a pool, applying pending migrations first when `migrate` (`DATABASE_MIGRATE`).
pub async fn open(
    url: &str,
    max_connections: u32,
    tls: &TlsSettings,
    migrate: bool,
) -> Result<PgPool, DbError> {
    if migrate {
        connect_and_migrate(url, max_connections, tls).await
    } else {
        connect(url, max_connections, tls).await
    }
}

/// PostgreSQL's `insufficient_privilege` (42501) anywhere in a migration's failure.
fn insufficient_privilege(e: &sqlx::migrate::MigrateError) -> bool {
    use sqlx::migrate::MigrateError;
    let db = match e {
        MigrateError::Execute(sqlx::Error::Database(d))
        | MigrateError::ExecuteMigration(sqlx::Error::Database(d), _) => d,
        _ => return false,
    };
    db.code().as_deref() == Some("42501")
}

/// The URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &creds[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_a_message() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}
