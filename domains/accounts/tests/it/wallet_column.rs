//! The migration that turned `auth.wallets.address` from lower-case 0x-hex text into the
//! address's 20 bytes (U2: a wallet belongs to one user) keeps every linked wallet.

use posmul_core::{WalletAddress, db::MIGRATOR};
use sqlx::{PgPool, migrate::Migrator};
use uuid::Uuid;

/// The version of `migrations/…_auth_wallet_address_bytes.sql`.
const WALLET_BYTES: i64 = 20261127000200;

#[sqlx::test(migrations = false)]
async fn u2_linked_wallets_keep_their_address_and_owner_when_the_column_becomes_bytes(
    pool: PgPool,
) {
    let before = Migrator::with_migrations(
        MIGRATOR
            .iter()
            .filter(|m| m.version < WALLET_BYTES)
            .cloned()
            .collect(),
    );
    before.run(&pool).await.unwrap();
    let address: WalletAddress = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
        .parse()
        .unwrap();
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    // The schema before the migration, which no query! macro is checked against: runtime SQL,
    // not kept prepared (a cached statement would still take text after the migration).
    for (user, wallet) in [
        (alice, "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"),
        (bob, "0x0000000000000000000000000000000000000001"),
    ] {
        sqlx::query("INSERT INTO auth.users (id) VALUES ($1)")
            .bind(user)
            .persistent(false)
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("INSERT INTO auth.wallets (address, user_id) VALUES ($1, $2)")
            .bind(wallet)
            .bind(user)
            .persistent(false)
            .execute(&pool)
            .await
            .unwrap();
    }

    MIGRATOR.run(&pool).await.unwrap();
    let rows = sqlx::query!(
        r#"SELECT address AS "address: WalletAddress", user_id FROM auth.wallets ORDER BY address"#
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let rows: Vec<_> = rows.into_iter().map(|r| (r.address, r.user_id)).collect();
    let one = WalletAddress::from_slice(&[[0u8; 19].as_slice(), &[1]].concat()).unwrap();
    assert_eq!(rows, vec![(one, bob), (address, alice)]);

    // Still one user per address, and only 20 bytes make an address.
    let carol = Uuid::now_v7();
    sqlx::query!("INSERT INTO auth.users (id) VALUES ($1)", carol)
        .execute(&pool)
        .await
        .unwrap();
    let taken = sqlx::query!(
        "INSERT INTO auth.wallets (address, user_id) VALUES ($1, $2)",
        address.as_slice(),
        carol,
    )
    .execute(&pool)
    .await
    .unwrap_err();
    let taken = taken.as_database_error().unwrap();
    assert_eq!(taken.constraint(), Some("wallets_pkey"));
    let short = sqlx::query!(
        "INSERT INTO auth.wallets (address, user_id) VALUES ($1, $2)",
        &address.as_slice()[..19],
        carol,
    )
    .execute(&pool)
    .await
    .unwrap_err();
    let short = short.as_database_error().unwrap();
    assert_eq!(short.constraint(), Some("wallets_address_check"));
}
