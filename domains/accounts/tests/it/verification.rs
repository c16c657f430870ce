//! Accounts that prove something before they earn (U2, E5): e-mail verification with single-use,
//! expiring, hashed tokens; the sign-up grant paid at verification, once, under a daily global
//! limit; password reset; mail through a real SMTP conversation.

use std::{sync::Arc, time::Duration};

use chrono::TimeZone;
use posmul_api::testing::{
    TEST_PASSWORD, TestApp, TestUser, decode_mail, spawn_app, spawn_app_with, spawn_app_with_clock,
    token_in,
};
use posmul_api_kit::config::MailSetting;
use posmul_core::Clock;
use posmul_economy::ledger::{self, Account};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::assert_problem;

async fn pmp(app: &TestApp, user: uuid::Uuid) -> i64 {
    ledger::balance(&mut app.db.acquire().await.unwrap(), Account::user(user))
        .await
        .unwrap()
        .get()
}

async fn post(app: &TestApp, path: &str, body: Value, token: Option<&str>) -> reqwest::Response {
    let mut req = app.client.post(app.url(path)).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

async fn me(app: &TestApp, user: &TestUser) -> Value {
    app.client
        .get(app.url("/v1/me"))
        .bearer_auth(&user.access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn verify(app: &TestApp, token: &str) -> reqwest::Response {
    post(
        app,
        "/v1/auth/email/verify",
        json!({ "token": token }),
        None,
    )
    .await
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn e5_the_signup_grant_waits_for_a_verified_email_and_is_paid_once(pool: PgPool) {
    let app = spawn_app(pool).await;
    let alice = app.register_unverified("alice@example.org").await;

    // The attack this closes: register, collect, repeat.
    assert_eq!(
        pmp(&app, alice.user_id).await,
        0,
        "E5: nothing before verification"
    );
    let before = me(&app, &alice).await;
    assert_eq!(before["email_verified"], false);
    assert_eq!(before["signup_grant"]["status"], "unverified");

    let token = app.mailed_token("alice@example.org", "verify-email").await;
    let res = verify(&app, &token).await;
    assert_eq!(res.status(), StatusCode::OK);
    let verified: Value = res.json().await.unwrap();
    assert_eq!(verified["email"], "alice@example.org");
    assert_eq!(verified["signup_grant"]["status"], "paid");
    assert_eq!(verified["signup_grant"]["amount"], 1000);
    assert_eq!(pmp(&app, alice.user_id).await, 1000);

    // A retry of the same token answers the state and pays nothing again.
    let again = verify(&app, &token).await;
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["signup_grant"], verified["signup_grant"]);
    // Neither does a second token, nor a claim.
    let res = post(
        &app,
        "/v1/me/email/verification",
        json!({}),
        Some(&alice.access_token),
    )
    .await;
    assert_problem(res, StatusCode::CONFLICT, "email-already-verified").await;
    let claim = post(
        &app,
        "/v1/me/signup-grant",
        json!({}),
        Some(&alice.access_token),
    )
    .await;
    assert_eq!(claim.status(), StatusCode::OK);
    assert_eq!(pmp(&app, alice.user_id).await, 1000, "E5: exactly once");
    let after = me(&app, &alice).await;
    assert_eq!(after["email_verified"], true);
    assert_eq!(after["signup_grant"]["status"], "paid");
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u2_email_tokens_are_stored_hashed_single_use_and_expiring(pool: PgPool) {
    let app = spawn_app_with(pool, |c| c.email_token_ttl = Duration::from_secs(2)).await;
    let bob = app.register_unverified("bob@example.org").await;
    let first = app.mailed_token("bob@example.org", "verify-email").await;

    // Only the SHA-256 is stored.
    let hashes: Vec<Vec<u8>> = sqlx::query_scalar("SELECT token_hash FROM auth.email_tokens")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(hashes, vec![Sha256::digest(first.as_bytes()).to_vec()]);
    let plain: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM auth.email_tokens WHERE position($1::bytea in token_hash) > 0",
    )
    .bind(first.as_bytes())
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(plain, 0);

    // A new link spends the old one; a token of another purpose or a made-up one proves nothing.
    let res = post(
        &app,
        "/v1/me/email/verification",
        json!({}),
        Some(&bob.access_token),
    )
    .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let mails = app.wait_for_mail("bob@example.org", 2).await;
    let second = token_in(&mails[1], "verify-email").unwrap();
    assert_ne!(first, second);
    assert_problem(
        verify(&app, &first).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "email-token-refused",
    )
    .await;
    assert_problem(
        verify(&app, "not-a-token").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "email-token-refused",
    )
    .await;
    let res = post(
        &app,
        "/v1/auth/password/reset",
        json!({ "token": second, "password": "a brand new password" }),
        None,
    )
    .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "email-token-refused").await;

    // Expired.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_problem(
        verify(&app, &second).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "email-token-refused",
    )
    .await;
    assert_eq!(pmp(&app, bob.user_id).await, 0);
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn e5_parallel_verifications_never_pay_past_the_daily_limit(pool: PgPool) {
    let clock = Clock::manual(chrono::Utc.with_ymd_and_hms(2030, 5, 1, 12, 0, 0).unwrap());
    let app =
        Arc::new(spawn_app_with_clock(pool, clock.clone(), |c| c.signup_grants_per_day = 5).await);
    let mut farm = Vec::new();
    for i in 0..20 {
        let email = format!("farm{i}@example.org");
        let user = app.register_unverified(&email).await;
        let token = app.mailed_token(&email, "verify-email").await;
        farm.push((user, token));
    }
    let tasks: Vec<_> = farm
        .iter()
        .map(|(_, token)| {
            let (app, token) = (Arc::clone(&app), token.clone());
            tokio::spawn(async move {
                let res = verify(&app, &token).await;
                assert_eq!(res.status(), StatusCode::OK);
                res.json::<Value>().await.unwrap()["signup_grant"]["status"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
        })
        .collect();
    let mut paid = 0;
    for t in tasks {
        match t.await.unwrap().as_str() {
            "paid" => paid += 1,
            "waiting" => {}
            other => panic!("{other}"),
        }
    }
    assert_eq!(paid, 5, "E5: the day's limit, not one more");
    let mut total = 0;
    for (user, _) in &farm {
        total += pmp(&app, user.user_id).await;
    }
    assert_eq!(total, 5 * 1000);

    // A waiting account asks again: refused until the next UTC day of the API's clock.
    let mut waiting = None;
    for (user, _) in &farm {
        if pmp(&app, user.user_id).await == 0 {
            waiting = Some(user.clone());
            break;
        }
    }
    let waiting = waiting.unwrap();
    let res = post(
        &app,
        "/v1/me/signup-grant",
        json!({}),
        Some(&waiting.access_token),
    )
    .await;
    assert!(res.headers().contains_key("retry-after"));
    let body = assert_problem(
        res,
        StatusCode::TOO_MANY_REQUESTS,
        "signup-grant-daily-limit",
    )
    .await;
    assert_eq!(body["retry_after"], 12 * 3600);
    clock.advance(chrono::TimeDelta::days(1)).unwrap();
    let res = post(
        &app,
        "/v1/me/signup-grant",
        json!({}),
        Some(&waiting.access_token),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let grant: Value = res.json().await.unwrap();
    assert_eq!(grant["status"], "paid");
    assert_eq!(grant["day"], "2030-05-02");
    assert_eq!(pmp(&app, waiting.user_id).await, 1000);
    let audit = ledger::audit(&mut app.db.acquire().await.unwrap())
        .await
        .unwrap();
    assert!(audit.is_exact(), "{audit:?}");
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u2_a_password_reset_works_once_and_ends_every_session(pool: PgPool) {
    let app = spawn_app(pool).await;
    let carol = app.register_user("carol@example.org").await;
    let login = post(
        &app,
        "/v1/auth/login",
        json!({ "email": "carol@example.org", "password": TEST_PASSWORD }),
        None,
    )
    .await;
    let second: Value = login.json().await.unwrap();

    let res = post(
        &app,
        "/v1/auth/password/forgot",
        json!({ "email": "Carol@Example.org" }),
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let token = app
        .mailed_token("carol@example.org", "reset-password")
        .await;
    let new_password = "a brand new password";
    let reset = |password: &'static str| {
        let (app, token) = (&app, token.clone());
        async move {
            post(
                app,
                "/v1/auth/password/reset",
                json!({ "token": token, "password": password }),
                None,
            )
            .await
        }
    };
    let res = reset("short").await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation-failed").await;
    let res = reset(new_password).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    // Every refresh-token family of the account is revoked.
    for refresh in [
        carol.refresh_token.as_str(),
        second["refresh_token"].as_str().unwrap(),
    ] {
        let res = post(
            &app,
            "/v1/auth/refresh",
            json!({ "refresh_token": refresh }),
            None,
        )
        .await;
        assert_problem(res, StatusCode::UNAUTHORIZED, "invalid-credentials").await;
    }
    let live: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM auth.refresh_tokens WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(carol.user_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(live, 0);

    // Single use.
    let res = reset("yet another new password").await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "email-token-refused").await;
    let old = post(
        &app,
        "/v1/auth/login",
        json!({ "email": "carol@example.org", "password": TEST_PASSWORD }),
        None,
    )
    .await;
    assert_problem(old, StatusCode::UNAUTHORIZED, "invalid-credentials").await;
    let new = post(
        &app,
        "/v1/auth/login",
        json!({ "email": "carol@example.org", "password": new_password }),
        None,
    )
    .await;
    assert_eq!(new.status(), StatusCode::OK);
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM auth.audit_log WHERE action = 'password_reset' AND subject_user_id = $1",
    )
    .bind(carol.user_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(audited, 1);
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u2_a_password_reset_token_expires(pool: PgPool) {
    let app = spawn_app_with(pool, |c| c.reset_token_ttl = Duration::from_secs(1)).await;
    app.register_user("dave@example.org").await;
    post(
        &app,
        "/v1/auth/password/forgot",
        json!({ "email": "dave@example.org" }),
        None,
    )
    .await;
    let token = app.mailed_token("dave@example.org", "reset-password").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let res = post(
        &app,
        "/v1/auth/password/reset",
        json!({ "token": token, "password": "a brand new password" }),
        None,
    )
    .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "email-token-refused").await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u2_a_reset_request_never_reveals_whether_an_email_has_an_account(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.register_user("erin@example.org").await;
    let mut answers = Vec::new();
    for email in ["erin@example.org", "nobody@example.org"] {
        let res = post(
            &app,
            "/v1/auth/password/forgot",
            json!({ "email": email }),
            None,
        )
        .await;
        let status = res.status();
        let headers: Vec<String> = res
            .headers()
            .keys()
            .filter(|k| !["date", "x-request-id"].contains(&k.as_str()))
            .map(|k| k.to_string())
            .collect();
        answers.push((status, headers, res.bytes().await.unwrap()));
    }
    assert_eq!(
        answers[0], answers[1],
        "the same answer for a known and an unknown address"
    );
    assert_eq!(answers[0].0, StatusCode::ACCEPTED);
    app.mailed_token("erin@example.org", "reset-password").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(app.mails_to("nobody@example.org").is_empty());
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u2_mail_requests_are_bounded_per_address(pool: PgPool) {
    let app = spawn_app_with(pool, |c| c.mails_per_address_per_hour = 2).await;
    for _ in 0..2 {
        let res = post(
            &app,
            "/v1/auth/password/forgot",
            json!({ "email": "x@example.org" }),
            None,
        )
        .await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
    }
    let res = post(
        &app,
        "/v1/auth/password/forgot",
        json!({ "email": "x@example.org" }),
        None,
    )
    .await;
    assert!(res.headers().contains_key("retry-after"));
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS, "mail-quota").await;
}

/// A tiny SMTP server speaking the wire protocol: it greets, accepts one message per
/// connection, and hands the DATA it received to the test.
async fn smtp_server() -> (u16, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write
                    .write_all(b"220 localhost ESMTP test\r\n")
                    .await
                    .unwrap();
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(body) = data.as_mut() {
                        if line == "." {
                            tx.send(std::mem::take(body)).unwrap();
                            data = None;
                            write.write_all(b"250 OK queued\r\n").await.unwrap();
                        } else {
                            body.push_str(line.strip_prefix('.').unwrap_or(&line));
                            body.push('\n');
                        }
                        continue;
                    }
                    let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 localhost\r\n",
                        "MAIL" | "RCPT" | "RSET" | "NOOP" => b"250 OK\r\n",
                        "DATA" => {
                            data = Some(String::new());
                            b"354 End data with <CR><LF>.<CR><LF>\r\n"
                        }
                        "QUIT" => {
                            write.write_all(b"221 Bye\r\n").await.unwrap();
                            return;
                        }
                        _ => b"502 Command not implemented\r\n",
                    };
                    write.write_all(reply).await.unwrap();
                }
            });
        }
    });
    (port, rx)
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u2_verification_mail_goes_through_smtp_when_configured(pool: PgPool) {
    let (port, mut received) = smtp_server().await;
    let app = spawn_app_with(pool, |c| {
        c.mail = MailSetting::Smtp {
            url: format!("smtp://127.0.0.1:{port}").into(),
            timeout: Duration::from_secs(5),
        };
        c.web_url = "https://app.posmul.example".into();
    })
    .await;
    let frank = app.register_unverified("frank@example.org").await;
    let message = tokio::time::timeout(Duration::from_secs(10), received.recv())
        .await
        .expect("a mail within 10 s")
        .unwrap();
    let message = decode_mail(&message);
    assert!(message.contains("To: frank@example.org"), "{message}");
    assert!(
        message.contains("Subject: Verify your e-mail address"),
        "{message}"
    );
    assert!(
        message.contains("https://app.posmul.example/verify-email?token="),
        "{message}"
    );
    let token = token_in(&message, "verify-email").unwrap();
    let res = verify(&app, &token).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(pmp(&app, frank.user_id).await, 1000);
}
