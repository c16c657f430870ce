//! Sign-in under attack (U2): repeated failures lock the login itself, whatever the client's
//! address; password hashing has a bounded number of slots, so a flood of logins neither runs
//! unbounded hashes nor grows memory without bound.

use std::{sync::Arc, time::Duration};

use posmul_api::testing::{TEST_PASSWORD, TestApp, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::assert_problem;

async fn login(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    app.client
        .post(app.url("/v1/auth/login"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap()
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u2_repeated_failed_logins_lock_the_login_whatever_the_password(pool: PgPool) {
    let app = spawn_app_with(pool, |c| {
        c.login_lock_after_failures = 5;
        c.login_lock_base = Duration::from_secs(1);
        c.login_lock_max = Duration::from_secs(60);
    })
    .await;
    let alice = app.register_user("alice@example.org").await;
    for _ in 0..5 {
        let res = login(&app, "alice@example.org", "a wrong password").await;
        assert_problem(res, StatusCode::UNAUTHORIZED, "invalid-credentials").await;
    }
    // Locked: the right and a wrong password get the same answer; the password is not checked.
    let right = login(&app, "ALICE@example.org", TEST_PASSWORD).await;
    assert_eq!(right.headers()["retry-after"], "1");
    let right = assert_problem(right, StatusCode::TOO_MANY_REQUESTS, "login-locked").await;
    let wrong = login(&app, "alice@example.org", "another wrong one").await;
    let wrong = assert_problem(wrong, StatusCode::TOO_MANY_REQUESTS, "login-locked").await;
    assert_eq!(
        right, wrong,
        "a locked answer says nothing about the password"
    );

    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM auth.audit_log WHERE action = 'sign_in_locked' AND subject_user_id = $1",
    )
    .bind(alice.user_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(audited, 1);

    // After the lock, one more failure locks again, for twice as long.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let res = login(&app, "alice@example.org", "a wrong password").await;
    assert_problem(res, StatusCode::UNAUTHORIZED, "invalid-credentials").await;
    let res = login(&app, "alice@example.org", TEST_PASSWORD).await;
    assert_eq!(res.headers()["retry-after"], "2", "the lock grows");
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS, "login-locked").await;

    // Once it passes, the right password signs in and clears the count.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        login(&app, "alice@example.org", TEST_PASSWORD)
            .await
            .status(),
        200
    );
    let res = login(&app, "alice@example.org", "a wrong password").await;
    assert_problem(res, StatusCode::UNAUTHORIZED, "invalid-credentials").await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u2_parallel_guesses_get_no_more_tries_and_unknown_logins_lock_alike(pool: PgPool) {
    let app =
        Arc::new(spawn_app_with(pool, |c| c.password_hash_wait = Duration::from_secs(30)).await);
    app.register_user("bob@example.org").await;
    for email in ["bob@example.org", "nobody@example.org"] {
        let tasks: Vec<_> = (0..40)
            .map(|i| {
                let app = Arc::clone(&app);
                tokio::spawn(async move {
                    login(&app, email, &format!("guess number {i}"))
                        .await
                        .status()
                })
            })
            .collect();
        let mut checked = 0;
        for t in tasks {
            match t.await.unwrap() {
                StatusCode::UNAUTHORIZED => checked += 1,
                StatusCode::TOO_MANY_REQUESTS => {}
                other => panic!("{other}"),
            }
        }
        assert_eq!(
            checked, 5,
            "{email}: 40 parallel guesses, 5 passwords checked"
        );
    }
}

/// The process's peak resident memory (`VmHWM`), in KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u2_600_concurrent_logins_hash_within_the_bound_and_memory_stays_bounded(pool: PgPool) {
    const LOGINS: usize = 600;
    let app = Arc::new(
        spawn_app_with(pool, |c| {
            c.password_hash_concurrency = 2;
            c.password_hash_wait = Duration::from_millis(200);
        })
        .await,
    );
    // The control: the same flood at a locked login is answered without hashing, so it shows
    // what 600 concurrent requests cost by themselves (connections, tasks, buffers).
    for _ in 0..5 {
        login(&app, "locked@example.org", "a wrong password").await;
    }
    let before_control = peak_rss_kib();
    let control: Vec<_> = (0..LOGINS)
        .map(|_| {
            let app = Arc::clone(&app);
            tokio::spawn(async move { login(&app, "locked@example.org", "x").await.status() })
        })
        .collect();
    for t in control {
        assert_eq!(t.await.unwrap(), StatusCode::TOO_MANY_REQUESTS);
    }
    let before = peak_rss_kib();
    let tasks: Vec<_> = (0..LOGINS)
        .map(|i| {
            let app = Arc::clone(&app);
            tokio::spawn(async move {
                // Distinct logins: the flood is about hashing, not about one login's lock.
                let res = login(&app, &format!("flood{i}@example.org"), "some password").await;
                let status = res.status();
                let retry = res.headers().get("retry-after").cloned();
                let body: Value = res.json().await.unwrap();
                (status, retry, body)
            })
        })
        .collect();
    let (mut refused, mut busy) = (0, 0);
    for t in tasks {
        let (status, retry, body) = t.await.unwrap();
        match status {
            StatusCode::UNAUTHORIZED => refused += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(retry.is_some(), "503 carries Retry-After");
                assert_eq!(body["type"], "https://posmul.dev/problems/overloaded");
                busy += 1;
            }
            other => panic!("{other}: {body}"),
        }
    }
    let grown_mib = (peak_rss_kib() - before) / 1024;
    let control_mib = (before - before_control) / 1024;
    eprintln!(
        "600 logins: {refused} checked (401), {busy} told to retry (503); peak hashes {}; \
         peak RSS +{control_mib} MiB for the control flood, then +{grown_mib} MiB for the logins",
        app.state.hashing.peak()
    );
    assert_eq!(refused + busy, LOGINS);
    assert!(refused >= 2, "some logins were checked");
    assert!(
        app.state.hashing.peak() <= 2,
        "U2: at most 2 hashes at once, saw {}",
        app.state.hashing.peak()
    );
    // 19 MiB a hash: two slots add about 38 MiB beyond what the requests themselves cost;
    // unbounded, hundreds of hashes at once would take gigabytes.
    assert!(
        grown_mib < 512,
        "U2: peak memory grew by {grown_mib} MiB beyond the control"
    );
}
