//! Sign-In with Ethereum (U2): the happy path with an alloy local signer, and the refusals:
//! a replayed nonce, a wrong domain, a wrong chain id, an expired message, a signature by
//! another key. Wallet links: one wallet per user, one user per wallet.

use alloy::signers::{Signer, local::PrivateKeySigner};
use chrono::{Duration, SecondsFormat, Utc};
use posmul_api::testing::{TestApp, spawn_app};
use posmul_api_kit::auth::roles::Role;
use posmul_core::WalletAddress;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::assert_problem;

struct Msg {
    statement: String,
    domain: String,
    uri: String,
    chain_id: u64,
    nonce: String,
    issued_at: chrono::DateTime<Utc>,
    expiration: Option<chrono::DateTime<Utc>>,
}

impl Msg {
    fn text(&self, address: alloy::primitives::Address) -> String {
        let mut s = format!(
            "{} wants you to sign in with your Ethereum account:\n{}\n\n{}\n\nURI: {}\nVersion: 1\nChain ID: {}\nNonce: {}\nIssued At: {}",
            self.domain,
            address.to_checksum(None),
            self.statement,
            self.uri,
            self.chain_id,
            self.nonce,
            self.issued_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        );
        if let Some(exp) = self.expiration {
            s.push_str(&format!(
                "\nExpiration Time: {}",
                exp.to_rfc3339_opts(SecondsFormat::Secs, true)
            ));
        }
        s
    }
}

/// A message to sign in with, on a fresh nonce.
async fn fresh_msg(app: &TestApp) -> Msg {
    msg_for(app, "sign-in").await
}

/// A message to link a wallet with, on a fresh nonce.
async fn link_msg(app: &TestApp) -> Msg {
    msg_for(app, "link-wallet").await
}

async fn msg_for(app: &TestApp, purpose: &str) -> Msg {
    let n: Value = app
        .client
        .get(app.url(&format!("/v1/auth/siwe/nonce?purpose={purpose}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(n["purpose"], purpose);
    Msg {
        statement: n["statement"].as_str().unwrap().into(),
        domain: n["domain"].as_str().unwrap().into(),
        uri: n["uri"].as_str().unwrap().into(),
        chain_id: n["chain_id"].as_u64().unwrap(),
        nonce: n["nonce"].as_str().unwrap().into(),
        issued_at: Utc::now(),
        expiration: Some(Utc::now() + Duration::minutes(5)),
    }
}

async fn signed(signer: &PrivateKeySigner, text: &str) -> Value {
    let sig = signer.sign_message(text.as_bytes()).await.unwrap();
    json!({ "message": text, "signature": alloy::hex::encode_prefixed(sig.as_bytes()) })
}

async fn get(app: &TestApp, path: &str, token: &str) -> Value {
    let res = app.client.get(app.url(path)).bearer_auth(token).send();
    res.await.unwrap().json().await.unwrap()
}

async fn post(app: &TestApp, path: &str, body: &Value, token: Option<&str>) -> reqwest::Response {
    let mut req = app.client.post(app.url(path)).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u2_siwe_signs_in_the_wallets_user_creating_it_the_first_time(pool: PgPool) {
    let app = spawn_app(pool).await;
    let wallet = PrivateKeySigner::random();
    let body = signed(&wallet, &fresh_msg(&app).await.text(wallet.address())).await;
    let res = post(&app, "/v1/auth/siwe/verify", &body, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let first: Value = res.json().await.unwrap();

    let me = get(&app, "/v1/me", first["access_token"].as_str().unwrap()).await;
    assert_eq!(me["wallet"], wallet.address().to_checksum(None));
    assert_eq!(me["email"], Value::Null);
    assert_eq!(me["roles"], json!(["citizen"]));

    let body = signed(&wallet, &fresh_msg(&app).await.text(wallet.address())).await;
    let again: Value = post(&app, "/v1/auth/siwe/verify", &body, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        again["user_id"], first["user_id"],
        "the same wallet is the same user"
    );
    let users = sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM auth.users"#)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(users, 1);
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u2_a_replayed_siwe_nonce_is_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    let wallet = PrivateKeySigner::random();
    let body = signed(&wallet, &fresh_msg(&app).await.text(wallet.address())).await;
    assert_eq!(
        post(&app, "/v1/auth/siwe/verify", &body, None)
            .await
            .status(),
        StatusCode::OK
    );
    let replay = post(&app, "/v1/auth/siwe/verify", &body, None).await;
    let p = assert_problem(replay, StatusCode::UNAUTHORIZED, "invalid-credentials").await;
    assert!(p["detail"].as_str().unwrap().contains("nonce"), "{p}");
    let failed = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM auth.audit_log WHERE action = 'siwe_sign_in_failed' AND details->>'reason' = 'bad_nonce'"#
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(failed, 1);
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u2_a_nonce_the_server_never_issued_is_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    let wallet = PrivateKeySigner::random();
    let mut m = fresh_msg(&app).await;
    m.nonce = "madeUpNonce1234".into();
    let body = signed(&wallet, &m.text(wallet.address())).await;
    let res = post(&app, "/v1/auth/siwe/verify", &body, None).await;
    assert_problem(res, StatusCode::UNAUTHORIZED, "invalid-credentials").await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u2_a_siwe_message_for_another_domain_uri_or_chain_is_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    let wallet = PrivateKeySigner::random();
    type Change = fn(&mut Msg);
    let cases: [(&str, Change); 3] = [
        ("domain", |m| m.domain = "evil.example".into()),
        ("URI", |m| m.uri = "https://evil.example".into()),
        ("chain", |m| m.chain_id = 137),
    ];
    for (what, change) in cases {
        let mut m = fresh_msg(&app).await;
        change(&mut m);
        let body = signed(&wallet, &m.text(wallet.address())).await;
        let res = post(&app, "/v1/auth/siwe/verify", &body, None).await;
        let p = assert_problem(res, StatusCode::UNAUTHORIZED, "invalid-credentials").await;
        assert!(p["detail"].as_str().unwrap().contains(what), "{what}: {p}");
    }
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u2_an_expired_or_stale_siwe_message_is_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    let wallet = PrivateKeySigner::random();
    let mut expired = fresh_msg(&app).await;
    expired.issued_at = Utc::now() - Duration::minutes(2);
    expired.expiration = Some(Utc::now() - Duration::minutes(1));
    let body = signed(&wallet, &expired.text(wallet.address())).await;
    let p = assert_problem(
        post(&app, "/v1/auth/siwe/verify", &body, None).await,
        StatusCode::UNAUTHORIZED,
        "invalid-credentials",
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("expired"), "{p}");

    let mut stale = fresh_msg(&app).await;
    stale.issued_at = Utc::now() - Duration::hours(1);
    stale.expiration = None;
    let body = signed(&wallet, &stale.text(wallet.address())).await;
    assert_problem(
        post(&app, "/v1/auth/siwe/verify", &body, None).await,
        StatusCode::UNAUTHORIZED,
        "invalid-credentials",
    )
    .await;

    let mut future = fresh_msg(&app).await;
    future.issued_at = Utc::now() + Duration::hours(1);
    let body = signed(&wallet, &future.text(wallet.address())).await;
    assert_problem(
        post(&app, "/v1/auth/siwe/verify", &body, None).await,
        StatusCode::UNAUTHORIZED,
        "invalid-credentials",
    )
    .await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u2_a_siwe_signature_by_another_key_is_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    let wallet = PrivateKeySigner::random();
    let thief = PrivateKeySigner::random();
    let body = signed(&thief, &fresh_msg(&app).await.text(wallet.address())).await;
    let p = assert_problem(
        post(&app, "/v1/auth/siwe/verify", &body, None).await,
        StatusCode::UNAUTHORIZED,
        "invalid-credentials",
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("signature"), "{p}");

    let garbage =
        json!({ "message": fresh_msg(&app).await.text(wallet.address()), "signature": "0x1234" });
    let res = post(&app, "/v1/auth/siwe/verify", &garbage, None).await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation-failed").await;
    let not_siwe = json!({ "message": "hello", "signature": "0x1234" });
    let res = post(&app, "/v1/auth/siwe/verify", &not_siwe, None).await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation-failed").await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u2_a_user_links_one_wallet_and_a_wallet_belongs_to_one_user(pool: PgPool) {
    let app = spawn_app(pool).await;
    let alice = app.register_user("alice@example.org").await;
    let bob = app.register_user("bob@example.org").await;
    let w1 = PrivateKeySigner::random();
    let w2 = PrivateKeySigner::random();

    let body = signed(&w1, &link_msg(&app).await.text(w1.address())).await;
    let res = post(
        &app,
        "/v1/me/wallets/link",
        &body,
        Some(&alice.access_token),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let linked: Value = res.json().await.unwrap();
    assert_eq!(linked["address"], w1.address().to_checksum(None));

    let body = signed(&w1, &link_msg(&app).await.text(w1.address())).await;
    let res = post(&app, "/v1/me/wallets/link", &body, Some(&bob.access_token)).await;
    assert_problem(res, StatusCode::CONFLICT, "wallet-taken").await;

    let body = signed(&w2, &link_msg(&app).await.text(w2.address())).await;
    let res = post(
        &app,
        "/v1/me/wallets/link",
        &body,
        Some(&alice.access_token),
    )
    .await;
    assert_problem(res, StatusCode::CONFLICT, "wallet-already-linked").await;

    // Signing in with the linked wallet signs in Alice.
    let body = signed(&w1, &fresh_msg(&app).await.text(w1.address())).await;
    let pair: Value = post(&app, "/v1/auth/siwe/verify", &body, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(pair["user_id"], alice.user_id.to_string());
    let linked = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM auth.audit_log WHERE action = 'wallet_linked' AND subject_user_id = $1"#,
        alice.user_id,
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(linked, 1);

    let res = post(&app, "/v1/me/wallets/link", &body, None).await;
    assert_problem(res, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u2_a_siwe_nonce_is_consumed_once_even_under_concurrent_use(pool: PgPool) {
    let app = spawn_app(pool).await;
    let wallet = PrivateKeySigner::random();
    let body = signed(&wallet, &fresh_msg(&app).await.text(wallet.address())).await;
    let attempts = (0..8).map(|_| post(&app, "/v1/auth/siwe/verify", &body, None));
    let statuses: Vec<StatusCode> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.status())
        .collect();
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(ok, 1, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u2_an_expired_siwe_nonce_is_refused(pool: PgPool) {
    let app = posmul_api::testing::spawn_app_with(pool, |c| {
        c.siwe_nonce_ttl = std::time::Duration::from_secs(1)
    })
    .await;
    let wallet = PrivateKeySigner::random();
    let body = signed(&wallet, &fresh_msg(&app).await.text(wallet.address())).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let res = post(&app, "/v1/auth/siwe/verify", &body, None).await;
    let p = assert_problem(res, StatusCode::UNAUTHORIZED, "invalid-credentials").await;
    assert!(p["detail"].as_str().unwrap().contains("nonce"), "{p}");
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u2_a_linked_wallet_is_stored_as_20_bytes_and_every_reply_shows_it_checksummed(
    pool: PgPool,
) {
    let app = spawn_app(pool).await;
    let admin = app
        .register_with_role("admin@example.org", Role::Admin)
        .await;
    let alice = app.register_user("alice@example.org").await;
    let wallet = PrivateKeySigner::random();
    let address = wallet.address();
    let checksummed = address.to_checksum(None);

    // EIP-4361 wants the signed message's address checksummed: a lower-case one is refused.
    let mut lower = link_msg(&app).await.text(address);
    lower = lower.replace(&checksummed, &checksummed.to_lowercase());
    let body = signed(&wallet, &lower).await;
    let res = post(
        &app,
        "/v1/me/wallets/link",
        &body,
        Some(&alice.access_token),
    )
    .await;
    let problem = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation-failed").await;
    assert!(problem.to_string().contains("EIP-55"), "{problem}");

    // The checksummed (mixed-case) message links; the row holds the address's 20 bytes.
    let body = signed(&wallet, &link_msg(&app).await.text(address)).await;
    let res = post(
        &app,
        "/v1/me/wallets/link",
        &body,
        Some(&alice.access_token),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let linked: Value = res.json().await.unwrap();
    assert_eq!(linked["address"], checksummed);
    let stored = sqlx::query!(
        r#"SELECT address AS "address: WalletAddress", octet_length(address) AS "length!"
           FROM auth.wallets WHERE user_id = $1"#,
        alice.user_id,
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((stored.address.get(), stored.length), (address, 20));

    // Every reply that shows it: the link, the audit entry, /v1/me, the admin's user list.
    let me = get(&app, "/v1/me", &alice.access_token).await;
    assert_eq!(me["wallet"], checksummed);
    let audited = sqlx::query_scalar!(
        r#"SELECT details->>'address' AS "address!" FROM auth.audit_log
           WHERE action = 'wallet_linked' AND subject_user_id = $1"#,
        alice.user_id,
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(audited, checksummed);
    let users = get(&app, "/v1/admin/users", &admin.access_token).await;
    let row = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["user_id"] == alice.user_id.to_string())
        .unwrap();
    assert_eq!(row["wallet"], checksummed);

    // Signing in with the wallet finds Alice by those bytes.
    let body = signed(&wallet, &fresh_msg(&app).await.text(address)).await;
    let pair: Value = post(&app, "/v1/auth/siwe/verify", &body, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(pair["user_id"], alice.user_id.to_string());
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn e5_a_siwe_account_earns_the_signup_grant_only_by_adding_and_verifying_an_email(
    pool: PgPool,
) {
    let app = spawn_app(pool).await;
    let wallet = PrivateKeySigner::random();
    let body = signed(&wallet, &fresh_msg(&app).await.text(wallet.address())).await;
    let pair: Value = post(&app, "/v1/auth/siwe/verify", &body, None)
        .await
        .json()
        .await
        .unwrap();
    let token = pair["access_token"].as_str().unwrap();
    let user_id: uuid::Uuid = pair["user_id"].as_str().unwrap().parse().unwrap();
    let balance = |app: &TestApp| {
        let db = app.db.clone();
        async move {
            posmul_economy::ledger::balance(
                &mut db.acquire().await.unwrap(),
                posmul_economy::ledger::Account::user(user_id),
            )
            .await
            .unwrap()
            .get()
        }
    };
    // The attack this closes: a fresh key per account, a grant per key.
    assert_eq!(
        balance(&app).await,
        0,
        "E5: a new wallet earns nothing by itself"
    );
    let res = post(&app, "/v1/me/email/verification", &json!({}), Some(token)).await;
    assert_problem(res, StatusCode::CONFLICT, "no-email").await;

    let res = post(
        &app,
        "/v1/me/email",
        &json!({ "email": "Wallet@Example.org" }),
        Some(token),
    )
    .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let again = post(
        &app,
        "/v1/me/email",
        &json!({ "email": "other@example.org" }),
        Some(token),
    )
    .await;
    assert_problem(again, StatusCode::CONFLICT, "email-already-set").await;
    let mail_token = app.mailed_token("wallet@example.org", "verify-email").await;
    let res = post(
        &app,
        "/v1/auth/email/verify",
        &json!({ "token": mail_token }),
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(balance(&app).await, 1000, "E5: paid at verification");
    let me = get(&app, "/v1/me", token).await;
    assert_eq!(me["email"], "wallet@example.org");
    assert_eq!(me["email_verified"], true);

    // An address another account has is refused.
    let other = PrivateKeySigner::random();
    let body = signed(&other, &fresh_msg(&app).await.text(other.address())).await;
    let pair: Value = post(&app, "/v1/auth/siwe/verify", &body, None)
        .await
        .json()
        .await
        .unwrap();
    let res = post(
        &app,
        "/v1/me/email",
        &json!({ "email": "wallet@example.org" }),
        pair["access_token"].as_str(),
    )
    .await;
    assert_problem(res, StatusCode::CONFLICT, "email-taken").await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u2_a_sign_in_message_cannot_link_the_wallet_to_another_account(pool: PgPool) {
    // The attack: a phishing site asks the victim's wallet to "sign in", then presents that
    // signature to link the victim's wallet to the attacker's account (and its PMC claims).
    let app = spawn_app(pool).await;
    let mallory = app.register_user("mallory@example.org").await;
    let victim = PrivateKeySigner::random();
    let body = signed(&victim, &fresh_msg(&app).await.text(victim.address())).await;
    let res = post(
        &app,
        "/v1/me/wallets/link",
        &body,
        Some(&mallory.access_token),
    )
    .await;
    let p = assert_problem(res, StatusCode::UNAUTHORIZED, "invalid-credentials").await;
    assert!(
        p["detail"].as_str().unwrap().contains("Link this wallet"),
        "{p}"
    );

    // Nor by rewriting the statement over a sign-in nonce: the nonce is bound to its purpose.
    let mut m = fresh_msg(&app).await;
    m.statement = "Link this wallet to PosMul.".into();
    let body = signed(&victim, &m.text(victim.address())).await;
    let res = post(
        &app,
        "/v1/me/wallets/link",
        &body,
        Some(&mallory.access_token),
    )
    .await;
    let p = assert_problem(res, StatusCode::UNAUTHORIZED, "invalid-credentials").await;
    assert!(p["detail"].as_str().unwrap().contains("nonce"), "{p}");
    let linked = sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM auth.wallets"#)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(linked, 0);
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u2_a_link_message_cannot_sign_in(pool: PgPool) {
    let app = spawn_app(pool).await;
    let wallet = PrivateKeySigner::random();
    let body = signed(&wallet, &link_msg(&app).await.text(wallet.address())).await;
    let res = post(&app, "/v1/auth/siwe/verify", &body, None).await;
    let p = assert_problem(res, StatusCode::UNAUTHORIZED, "invalid-credentials").await;
    assert!(
        p["detail"].as_str().unwrap().contains("Sign in to PosMul"),
        "{p}"
    );

    let mut m = link_msg(&app).await;
    m.statement = "Sign in to PosMul.".into();
    let body = signed(&wallet, &m.text(wallet.address())).await;
    let res = post(&app, "/v1/auth/siwe/verify", &body, None).await;
    assert_problem(res, StatusCode::UNAUTHORIZED, "invalid-credentials").await;
    let users = sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM auth.users"#)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(users, 0, "no account was made");
}
