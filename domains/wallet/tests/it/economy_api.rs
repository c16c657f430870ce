//! `POST /v1/admin/economy` and `GET /v1/admin/economy` (DESIGN.md M1, U1, U2): admin-only,
//! versioned, effective from the next UTC day, audited.

use chrono::{Days, NaiveDate};
use posmul_api::testing::{TestApp, TestUser, spawn_app, spawn_app_with_clock};
use posmul_api_kit::auth::roles::Role;
use posmul_core::{Clock, money::Wei};
use posmul_economy::config as economy;
use serde_json::{Value, json};
use sqlx::PgPool;

async fn post(app: &TestApp, user: &TestUser, body: Value) -> (u16, Value) {
    let res = app
        .client
        .post(app.url("/v1/admin/economy"))
        .bearer_auth(&user.access_token)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.expect("json"))
}

async fn list(app: &TestApp, user: &TestUser) -> (u16, Value) {
    let res = app
        .client
        .get(app.url("/v1/admin/economy"))
        .bearer_auth(&user.access_token)
        .send()
        .await
        .expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.expect("json"))
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u1_only_admins_read_or_set_the_economy_configuration(pool: PgPool) {
    let app = spawn_app(pool).await;
    let body = json!({ "annual_ebit_pmc": "365" });
    for role in [
        None,
        Some(Role::Merchant),
        Some(Role::Moderator),
        Some(Role::Resolver),
    ] {
        let email = format!("{}@example.org", role.map_or("citizen", |r| r.as_str()));
        let user = match role {
            Some(r) => app.register_with_role(&email, r).await,
            None => app.register_user(&email).await,
        };
        let (status, problem) = post(&app, &user, body.clone()).await;
        assert_eq!(status, 403, "{email}: {problem}");
        assert_eq!(problem["type"], "https://posmul.dev/problems/forbidden");
        assert_eq!(list(&app, &user).await.0, 403, "{email}");
    }
    let anonymous = app
        .client
        .post(app.url("/v1/admin/economy"))
        .json(&body)
        .send()
        .await
        .expect("request");
    assert_eq!(anonymous.status(), 401);
    let stored = sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM relayer.economy_config"#)
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(stored, 0, "nothing was stored by a refused request");
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn m1_versions_are_kept_apply_from_the_next_utc_day_and_give_the_budget(pool: PgPool) {
    // The API's clock decides what "the next UTC day" is (the chain's day in demo mode): half a
    // minute before midnight here, and the API tells clients so.
    let clock = Clock::manual("2031-05-14T23:59:30Z".parse().expect("time"));
    let app = spawn_app_with_clock(pool, clock.clone(), |_| {}).await;
    let admin = app
        .register_with_role("admin@example.org", Role::Admin)
        .await;
    let now: Value = app
        .client
        .get(app.url("/v1/clock"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(
        now,
        json!({ "now": "2031-05-14T23:59:30Z", "day": "2031-05-14", "kind": "manual" })
    );
    let today = NaiveDate::from_ymd_opt(2031, 5, 14).expect("date");
    let tomorrow = today.checked_add_days(Days::new(1)).expect("tomorrow");

    // EBIT 365 PMC, default tax 0.495, no interest: B = 0.505 PMC a day.
    let (status, v1) = post(
        &app,
        &admin,
        json!({ "annual_ebit_pmc": "365", "note": "first" }),
    )
    .await;
    assert_eq!(status, 201, "{v1}");
    assert_eq!(v1["tax_rate"], "0.495");
    assert_eq!(v1["interest_rate"], "0");
    assert_eq!(v1["annual_ebit"]["pmc"], "365");
    assert_eq!(v1["uncapped_daily_budget"]["pmc"], "0.505");
    assert_eq!(v1["effective_from"], tomorrow.to_string());
    assert_eq!(v1["set_by"], admin.user_id.to_string());

    let (status, v2) = post(
        &app,
        &admin,
        json!({ "annual_ebit_pmc": "730", "tax_rate": "0.5", "interest_rate": "0.1" }),
    )
    .await;
    assert_eq!(status, 201, "{v2}");
    assert!(v2["version"].as_i64() > v1["version"].as_i64());
    // 730 × 0.4 / 365 = 0.8 PMC.
    assert_eq!(v2["uncapped_daily_budget"]["pmc"], "0.8");

    // Both versions are kept, newest first.
    let (status, all) = list(&app, &admin).await;
    assert_eq!(status, 200);
    let versions: Vec<i64> = all
        .as_array()
        .expect("list")
        .iter()
        .map(|v| v["version"].as_i64().expect("version"))
        .collect();
    assert_eq!(
        versions,
        vec![
            v2["version"].as_i64().expect("v2"),
            v1["version"].as_i64().expect("v1")
        ]
    );

    // Nothing applies today; tomorrow the newest version does (the budget relayer and
    // predictions read through posmul_economy::config).
    assert_eq!(economy::in_force(&app.db, today).await.expect("db"), None);
    let in_force = economy::in_force(&app.db, tomorrow)
        .await
        .expect("db")
        .expect("a version tomorrow");
    assert_eq!(in_force.version, v2["version"].as_i64().expect("v2"));
    assert_eq!(
        economy::daily_budget(Some(&in_force), Wei::from_pmc(1_000)),
        Wei::parse_pmc("0.8").expect("pmc")
    );
    assert_eq!(
        economy::daily_budget(Some(&in_force), Wei::parse_pmc("0.5").expect("pmc")),
        Wei::parse_pmc("0.5").expect("pmc"),
        "B(d) never exceeds the on-chain cap"
    );
    // A minute later it is the next day by the clock: a new version counts from the day after.
    clock
        .advance(chrono::TimeDelta::minutes(1))
        .expect("manual clock");
    let (status, v3) = post(&app, &admin, json!({ "annual_ebit_pmc": "365" })).await;
    assert_eq!(status, 201, "{v3}");
    assert_eq!(v3["effective_from"], "2031-05-16");

    let far = NaiveDate::from_ymd_opt(2100, 1, 1).expect("date");
    assert_eq!(
        economy::in_force(&app.db, far)
            .await
            .expect("db")
            .map(|v| v.version),
        v3["version"].as_i64()
    );
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u2_setting_the_economy_configuration_is_written_to_the_audit_log(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app
        .register_with_role("admin@example.org", Role::Admin)
        .await;
    let (status, v) = post(
        &app,
        &admin,
        json!({ "annual_ebit_pmc": "1000", "tax_rate": "0.3", "note": "Q4" }),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let row = sqlx::query!(
        "SELECT actor_user_id, ip, details FROM auth.audit_log WHERE action = 'economy_config_set'",
    )
    .fetch_one(&app.db)
    .await
    .expect("one audit entry");
    assert_eq!(row.actor_user_id, Some(admin.user_id));
    assert!(row.ip.is_some());
    let details: Value = row.details;
    assert_eq!(details["version"], v["version"]);
    assert_eq!(details["annual_ebit_wei"], Wei::from_pmc(1000).to_string());
    assert_eq!(details["tax_rate"], "0.3");
    assert_eq!(details["effective_from"], v["effective_from"]);
    assert_eq!(details["note"], "Q4");

    // The admin audit view shows it too.
    let res = app
        .client
        .get(app.url("/v1/admin/audit?action=economy_config_set"))
        .bearer_auth(&admin.access_token)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    let text = res.text().await.expect("body");
    assert!(text.contains("economy_config_set"), "{text}");

    // A refused version is neither stored nor audited.
    let (status, problem) = post(
        &app,
        &admin,
        json!({ "annual_ebit_pmc": "1", "tax_rate": "0.7", "interest_rate": "0.4" }),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(
        problem["type"],
        "https://posmul.dev/problems/economy-config-invalid"
    );
    let audited = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM auth.audit_log WHERE action = 'economy_config_set'"#,
    )
    .fetch_one(&app.db)
    .await
    .expect("count");
    assert_eq!(audited, 1);
    let stored = sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM relayer.economy_config"#)
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(stored, 1);
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn m1_malformed_amounts_and_rates_are_refused_field_by_field(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app
        .register_with_role("admin@example.org", Role::Admin)
        .await;
    for (body, field) in [
        (json!({ "annual_ebit_pmc": "-5" }), "annual_ebit_pmc"),
        (json!({ "annual_ebit_pmc": "ten" }), "annual_ebit_pmc"),
        (
            json!({ "annual_ebit_pmc": "1", "tax_rate": "half" }),
            "tax_rate",
        ),
        (
            json!({ "annual_ebit_pmc": "1", "interest_rate": "1e" }),
            "interest_rate",
        ),
    ] {
        let (status, problem) = post(&app, &admin, body.clone()).await;
        assert_eq!(status, 422, "{body}: {problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let (status, _) = post(
        &app,
        &admin,
        json!({ "annual_ebit_pmc": "1", "extra": true }),
    )
    .await;
    assert_eq!(status, 422, "unknown fields are refused");
}
