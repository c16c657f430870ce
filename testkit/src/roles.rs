//! Connections as a service's database role (`migrations/20261205002000_database_roles.sql`).
//!
//! `#[sqlx::test]` hands a test a pool of the superuser that ran the migrations; [`pool_as`]
//! opens a second pool over the same database whose every connection runs `SET ROLE`, so the
//! service under test has exactly its role's rights, as its login user would in production.

use std::time::Duration;

use posmul_core::db::ServiceRole;
use sqlx::{PgPool, postgres::PgPoolOptions};

/// A pool of `max_connections` over `pool`'s database acting as `role`. Close it before the
/// test ends (the test's database is dropped afterwards).
pub async fn pool_as(pool: &PgPool, role: ServiceRole, max_connections: u32) -> PgPool {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .idle_timeout(Some(Duration::from_secs(1)))
        .after_connect(move |conn, _| {
            Box::pin(async move {
                // A fixed name from `ServiceRole`, never input.
                sqlx::query(sqlx::AssertSqlSafe(format!("SET ROLE {}", role.name())))
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
        })
        .connect_with((*pool.connect_options()).clone())
        .await
        .unwrap_or_else(|e| panic!("a pool acting as {role}: {e}"))
}
