//! I1: the Major League. Campaigns funded by KRW payments at the rate in force, views measured
//! by the server (the 30-second rule, heartbeat gaps, expiry), reservations that never overspend
//! the budget under concurrency, daily limits, pauses audited; E1 at the end of each.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use futures::future::join_all;
use posmul_api::testing::spawn_app_with_clock;
use posmul_api_kit::auth::roles::Role;
use posmul_core::clock::Clock;
use posmul_economy::{
    ledger::{self, Account},
    rates::{self, Rates},
};
use posmul_invest::{
    InvestError,
    ads::{self, views},
};
use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::{World, dev_payments, dev_provider};

fn start() -> DateTime<Utc> {
    "2031-03-02T09:00:00Z".parse().unwrap()
}

/// The test world with a manual clock at [`start`].
async fn ads_world(pool: PgPool) -> (World, Clock) {
    let clock = Clock::manual(start());
    let app = spawn_app_with_clock(pool, clock.clone(), |_| {}).await;
    let router = posmul_invest::router_with(Arc::new(dev_payments(&dev_provider())))
        .split_for_parts()
        .0
        .with_state(app.state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let payer = app.register_user("viewer@example.org").await;
    let merchant = app
        .register_with_role("advertiser@example.org", Role::Merchant)
        .await;
    let admin = app
        .register_with_role("admin@example.org", Role::Admin)
        .await;
    let world = World {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        app,
        payer,
        merchant,
        admin,
    };
    (world, clock)
}

fn campaign_body(length: i32, reward: i64, bonus: Option<i64>, daily_limit: i32) -> Value {
    let survey = bonus.map(|b| {
        json!({ "question": "Would you buy it?", "options": ["yes", "no", "maybe"], "bonus": b })
    });
    json!({
        "title": "Spring tea", "creative_url": "https://cdn.example.org/tea.mp4",
        "length_secs": length, "reward": reward, "survey": survey, "daily_limit": daily_limit,
        "starts_at": start(), "ends_at": start() + TimeDelta::days(30),
    })
}

/// Creates a campaign of the world's merchant and funds it with `krw` won (dev: paid at once).
async fn funded_campaign(w: &World, body: Value, krw: i64) -> Uuid {
    let (status, c) = w.post(&w.merchant, "/v1/campaigns", body, None).await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let id: Uuid = c["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(c["status"], "exhausted", "unfunded: {c}");
    let (status, p) = w
        .post(
            &w.merchant,
            &format!("/v1/campaigns/{id}/fundings"),
            json!({ "provider": "dev", "amount": krw }),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    assert_eq!(p["state"], "paid", "{p}");
    id
}

async fn budget(w: &World, id: Uuid) -> i64 {
    let mut conn = w.app.db.acquire().await.unwrap();
    ledger::balance(&mut conn, Account::campaign_budget(id))
        .await
        .unwrap()
        .get()
}

async fn pmp_of(w: &World, user: Uuid) -> i64 {
    let mut conn = w.app.db.acquire().await.unwrap();
    ledger::balance(&mut conn, Account::user(user))
        .await
        .unwrap()
        .get()
}

async fn campaign(w: &World, id: Uuid, now: DateTime<Utc>) -> ads::Campaign {
    ads::get(&w.app.db, id, now).await.unwrap()
}

/// Starts a view of the payer over HTTP; its id.
async fn start_view(w: &World, campaign: Uuid) -> (StatusCode, Value) {
    w.post(
        &w.payer,
        &format!("/v1/campaigns/{campaign}/views"),
        json!(null),
        None,
    )
    .await
}

async fn heartbeat(w: &World, view: &str) -> (StatusCode, Value) {
    w.post(
        &w.payer,
        &format!("/v1/ad-views/{view}/heartbeat"),
        json!(null),
        None,
    )
    .await
}

async fn complete(w: &World, view: &str, answer: Option<i64>) -> (StatusCode, Value) {
    w.post(
        &w.payer,
        &format!("/v1/ad-views/{view}/complete"),
        json!({ "survey_answer": answer }),
        None,
    )
    .await
}

fn problem(body: &Value) -> &str {
    body["type"]
        .as_str()
        .and_then(|t| t.rsplit('/').next())
        .unwrap_or("")
}

#[test]
fn i1_the_reward_is_zero_under_30_seconds_full_at_the_length_and_floored_between() {
    assert_eq!(views::reward_for(600, 60, 0), 0);
    assert_eq!(views::reward_for(600, 60, 29), 0);
    assert_eq!(views::reward_for(600, 60, 30), 300);
    assert_eq!(views::reward_for(100, 60, 40), 66);
    assert_eq!(views::reward_for(600, 60, 60), 600);
    assert_eq!(views::reward_for(600, 60, 61), 600);
    assert_eq!(views::reward_for(7, 45, 44), 6);
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn i1_a_funding_payment_issues_the_budget_at_the_rate_in_force_and_is_not_refunded(
    pool: PgPool,
) {
    let (w, clock) = ads_world(pool).await;
    // A citizen is no advertiser.
    let (status, _) = w
        .post(
            &w.payer,
            "/v1/campaigns",
            campaign_body(60, 100, None, 3),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Bad input is a problem, not a 500.
    let (status, body) = w
        .post(
            &w.merchant,
            "/v1/campaigns",
            campaign_body(20, 100, None, 3),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    let id = funded_campaign(&w, campaign_body(60, 100, None, 3), 10_000).await;
    assert_eq!(budget(&w, id).await, 10_000, "1 PMP per KRW by default");
    assert_eq!(w.krw(Account::KRW_REVENUE).await, 10_000);
    let c = campaign(&w, id, clock.now().await).await;
    assert_eq!((c.funded, c.status), (10_000, ads::CampaignStatus::Running));

    // A new rate applies from the next day; a funding paid then converts at it.
    rates::set_version(
        &w.app.db,
        &Rates {
            pmp_per_krw: Decimal::new(25, 1),
            ..Rates::DEFAULT
        },
        None,
        w.admin.user_id,
        clock.now().await.date_naive(),
    )
    .await
    .unwrap();
    let (_, p) = w
        .post(
            &w.merchant,
            &format!("/v1/campaigns/{id}/fundings"),
            json!({ "provider": "dev", "amount": 1_001 }),
            None,
        )
        .await;
    assert_eq!(budget(&w, id).await, 11_001, "today's rate is still 1");
    clock.advance(TimeDelta::days(1)).unwrap();
    let (status, p2) = w
        .post(
            &w.merchant,
            &format!("/v1/campaigns/{id}/fundings"),
            json!({ "provider": "dev", "amount": 1_001 }),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p2}");
    assert_eq!(budget(&w, id).await, 11_001 + 2_502, "floor(1001 × 2.5)");
    assert_eq!(w.krw(Account::KRW_REVENUE).await, 12_002);

    // Another merchant may not fund it; nobody but its advertiser (or an admin) sees its figures.
    let other = w
        .app
        .register_with_role("other@example.org", Role::Merchant)
        .await;
    let (status, body) = w
        .post(
            &other,
            &format!("/v1/campaigns/{id}/fundings"),
            json!({ "provider": "dev", "amount": 1_000 }),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(problem(&body), "campaign-not-owner");
    let (status, _) = w.get(&other, &format!("/v1/campaigns/{id}/stats")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, stats) = w.get(&w.admin, &format!("/v1/campaigns/{id}/stats")).await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    assert_eq!(stats["krw_paid"], 12_002);

    // Ad budgets are not refunded.
    let (status, body) = w
        .post(
            &w.admin,
            &format!("/v1/admin/payments/{}/refunds", p["id"].as_str().unwrap()),
            json!({ "amount": 1, "reason": "asked" }),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(problem(&body), "campaign-funding-not-refundable");
    w.assert_e1().await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn i1_the_30_second_rule_partial_and_full_views_and_the_survey_bonus(pool: PgPool) {
    let (w, clock) = ads_world(pool).await;
    let id = funded_campaign(&w, campaign_body(60, 600, Some(50), 5), 10_000).await;
    let before = pmp_of(&w, w.payer.user_id).await;
    let step = |s| clock.advance(TimeDelta::seconds(s)).unwrap();

    // 29 covered seconds: nothing, not even the bonus; the whole reservation returns.
    let (status, v) = start_view(&w, id).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["reserved"], 650);
    assert_eq!(campaign(&w, id, clock.now().await).await.reserved, 650);
    let vid = v["id"].as_str().unwrap().to_owned();
    step(10);
    heartbeat(&w, &vid).await;
    step(10);
    heartbeat(&w, &vid).await;
    step(9);
    let (status, done) = complete(&w, &vid, Some(0)).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(
        (done["paid"].as_i64(), done["released"].as_i64()),
        (Some(0), Some(650))
    );
    assert_eq!(done["view"]["watched_secs"], 29);

    // 40 of 60 seconds: floor(600 × 40 ÷ 60) = 400, and the answered survey's 50.
    let (_, v) = start_view(&w, id).await;
    let vid = v["id"].as_str().unwrap().to_owned();
    for _ in 0..4 {
        step(10);
        let (status, hb) = heartbeat(&w, &vid).await;
        assert_eq!(status, StatusCode::OK, "{hb}");
    }
    // A survey answer that is no option is refused and changes nothing.
    let (status, _) = complete(&w, &vid, Some(3)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, done) = complete(&w, &vid, Some(1)).await;
    assert_eq!(
        (done["paid"].as_i64(), done["released"].as_i64()),
        (Some(450), Some(200))
    );
    assert_eq!(
        (
            done["view"]["earned"].as_i64(),
            done["view"]["bonus"].as_i64()
        ),
        (Some(400), Some(50))
    );
    // Completing again pays nothing more.
    let (status, again) = complete(&w, &vid, Some(1)).await;
    assert_eq!(
        (status, again["paid"].as_i64()),
        (StatusCode::OK, Some(450))
    );

    // The whole length (and more) watched: the full reward, no survey answer, no bonus.
    let (_, v) = start_view(&w, id).await;
    let vid = v["id"].as_str().unwrap().to_owned();
    for _ in 0..7 {
        step(10);
        heartbeat(&w, &vid).await;
    }
    step(5);
    let (_, done) = complete(&w, &vid, None).await;
    assert_eq!(done["view"]["watched_secs"], 60);
    assert_eq!(
        (done["paid"].as_i64(), done["released"].as_i64()),
        (Some(600), Some(50))
    );

    assert_eq!(pmp_of(&w, w.payer.user_id).await - before, 1_050);
    let c = campaign(&w, id, clock.now().await).await;
    assert_eq!((c.paid, c.reserved), (1_050, 0));
    assert_eq!(budget(&w, id).await, 10_000 - 1_050);

    let (_, stats) = w
        .get(&w.merchant, &format!("/v1/campaigns/{id}/stats"))
        .await;
    assert_eq!(stats["views"], 3);
    assert_eq!(stats["completed"], 3);
    assert_eq!(stats["full_views"], 1);
    assert_eq!(stats["rewarded"], 2);
    assert_eq!(stats["spent"], 1_050);
    assert_eq!(stats["budget_left"], 8_950);
    assert!((stats["completion_rate"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9);
    w.assert_e1().await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn i1_heartbeat_gaps_count_nothing_and_abandoned_views_expire(pool: PgPool) {
    let (w, clock) = ads_world(pool).await;
    let id = funded_campaign(&w, campaign_body(60, 600, None, 5), 10_000).await;
    let step = |ms| clock.advance(TimeDelta::milliseconds(ms)).unwrap();

    let (_, v) = start_view(&w, id).await;
    let vid = v["id"].as_str().unwrap().to_owned();
    // Only one view at a time.
    let (status, body) = start_view(&w, id).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(problem(&body), "ad-view-already-active");

    step(10_000); // counts: 10 s
    heartbeat(&w, &vid).await;
    step(15_000); // a 15 s gap: the server cannot vouch for it
    let (_, hb) = heartbeat(&w, &vid).await;
    assert_eq!(hb["covered_ms"], 10_000);
    step(11_000); // within the 1 s grace: counts
    heartbeat(&w, &vid).await;
    step(11_001); // past it: nothing
    let (_, hb) = heartbeat(&w, &vid).await;
    assert_eq!(hb["covered_ms"], 21_000);
    step(10_000);
    heartbeat(&w, &vid).await;
    step(9_500); // the completion's own interval counts like a heartbeat's
    let (_, done) = complete(&w, &vid, None).await;
    assert_eq!(done["view"]["covered_ms"], 40_500);
    assert_eq!(done["view"]["watched_secs"], 40);
    assert_eq!(
        done["paid"], 400,
        "floor(600 × 40 ÷ 60), though 66.5 s passed"
    );

    // An abandoned view: no heartbeat for more than 60 s. It expires and releases everything.
    let (_, v) = start_view(&w, id).await;
    let vid = v["id"].as_str().unwrap().to_owned();
    step(10_000);
    heartbeat(&w, &vid).await;
    step(61_000);
    let (status, body) = heartbeat(&w, &vid).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(problem(&body), "ad-view-expired");
    let c = campaign(&w, id, clock.now().await).await;
    assert_eq!((c.reserved, c.paid), (0, 400));
    let (status, body) = complete(&w, &vid, None).await;
    assert_eq!(
        (status, problem(&body)),
        (StatusCode::CONFLICT, "ad-view-not-active")
    );

    // Abandoned again: the next start expires it lazily; the sweep finds nothing left.
    let (_, v) = start_view(&w, id).await;
    let abandoned = v["id"].as_str().unwrap().to_owned();
    step(120_000);
    let (status, v) = start_view(&w, id).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let (status, body) = heartbeat(&w, &abandoned).await;
    assert_eq!(
        (status, problem(&body)),
        (StatusCode::CONFLICT, "ad-view-not-active")
    );
    assert_eq!(campaign(&w, id, clock.now().await).await.reserved, 600);
    // And the sweep expires the one left behind.
    step(61_000);
    let now = clock.now().await;
    assert_eq!(
        views::expire_abandoned(&w.app.db, now, 100).await.unwrap(),
        1
    );
    assert_eq!(
        views::expire_abandoned(&w.app.db, now, 100).await.unwrap(),
        0
    );
    let c = campaign(&w, id, now).await;
    assert_eq!((c.reserved, c.paid), (0, 400));
    assert_eq!(budget(&w, id).await, 10_000 - 400);
    let (_, stats) = w
        .get(&w.merchant, &format!("/v1/campaigns/{id}/stats"))
        .await;
    assert_eq!(
        (stats["expired"].as_i64(), stats["completed"].as_i64()),
        (Some(3), Some(1))
    );
    w.assert_e1().await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn i1_daily_limits_per_campaign_and_over_all_campaigns(pool: PgPool) {
    let (w, clock) = ads_world(pool).await;
    let a = funded_campaign(&w, campaign_body(30, 10, None, 2), 1_000).await;
    let b = funded_campaign(&w, campaign_body(30, 10, None, 10), 1_000).await;
    rates::set_version(
        &w.app.db,
        &Rates {
            ad_views_per_day: 3,
            ..Rates::DEFAULT
        },
        None,
        w.admin.user_id,
        (clock.now().await - TimeDelta::days(2)).date_naive(),
    )
    .await
    .unwrap();
    let watch = |campaign: Uuid| {
        let w = &w;
        let clock = clock.clone();
        async move {
            let (status, v) = start_view(w, campaign).await;
            if status != StatusCode::CREATED {
                return Err(problem(&v).to_owned());
            }
            let vid = v["id"].as_str().unwrap().to_owned();
            for _ in 0..3 {
                clock.advance(TimeDelta::seconds(10)).unwrap();
                heartbeat(w, &vid).await;
            }
            let (_, done) = complete(w, &vid, None).await;
            Ok(done["paid"].as_i64().unwrap())
        }
    };
    assert_eq!(watch(a).await, Ok(10));
    assert_eq!(watch(a).await, Ok(10));
    assert_eq!(
        watch(a).await,
        Err("ad-view-daily-limit".into()),
        "the campaign's 2"
    );
    assert_eq!(watch(b).await, Ok(10));
    assert_eq!(
        watch(b).await,
        Err("ad-view-daily-limit".into()),
        "3 over all"
    );
    // The next UTC day counts afresh.
    let now = clock.now().await;
    let tomorrow = (now + TimeDelta::days(1))
        .date_naive()
        .and_hms_opt(0, 0, 1)
        .unwrap();
    clock.set(tomorrow.and_utc()).unwrap();
    assert_eq!(watch(a).await, Ok(10));
    w.assert_e1().await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn i1_an_admin_pause_stops_views_and_is_audited_and_the_list_shows_running_campaigns(
    pool: PgPool,
) {
    let (w, clock) = ads_world(pool).await;
    let id = funded_campaign(&w, campaign_body(60, 100, None, 5), 1_000).await;
    let tiny = funded_campaign(&w, campaign_body(60, 100, None, 5), 99).await;
    let (status, page) = w.get(&w.payer, "/v1/campaigns?limit=1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"][0]["id"], id.to_string());
    assert!(
        page["next_cursor"].is_null(),
        "the 99-PMP one cannot cover a view: {page}"
    );
    let (status, body) = start_view(&w, tiny).await;
    assert_eq!(
        (status, problem(&body)),
        (StatusCode::CONFLICT, "campaign-budget-exhausted")
    );

    let (status, _) = w
        .post(
            &w.merchant,
            &format!("/v1/admin/campaigns/{id}/pause"),
            json!(null),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, c) = w
        .post(
            &w.admin,
            &format!("/v1/admin/campaigns/{id}/pause"),
            json!(null),
            None,
        )
        .await;
    assert_eq!(
        (status, c["status"].as_str()),
        (StatusCode::OK, Some("paused"))
    );
    let (status, body) = start_view(&w, id).await;
    assert_eq!(
        (status, problem(&body)),
        (StatusCode::CONFLICT, "campaign-not-running")
    );
    let (_, page) = w.get(&w.payer, "/v1/campaigns").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 0);
    let (_, c) = w
        .post(
            &w.admin,
            &format!("/v1/admin/campaigns/{id}/resume"),
            json!(null),
            None,
        )
        .await;
    assert_eq!(c["status"], "running");
    let (status, _) = start_view(&w, id).await;
    assert_eq!(status, StatusCode::CREATED);

    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM auth.audit_log WHERE details->>'campaign_id' = $1 ORDER BY id",
    )
    .bind(id.to_string())
    .fetch_all(&w.app.db)
    .await
    .unwrap();
    assert_eq!(actions, ["campaign_paused", "campaign_resumed"]);
    let _ = clock;
    w.assert_e1().await;
}

/// Users made directly in the database (registering 200 through the API would hash 200
/// passwords); each gets a PMP account as the sign-up grant would.
async fn citizens(pool: &PgPool, n: usize) -> Vec<Uuid> {
    let ids: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
    sqlx::query("INSERT INTO auth.users (id, email) SELECT id, 'c' || id || '@example.org' FROM unnest($1::UUID[]) AS u(id)")
        .bind(&ids)
        .execute(pool)
        .await
        .unwrap();
    ids
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn i1_budget_never_overspent_with_200_concurrent_view_completions(pool: PgPool) {
    let owner = pool.clone();
    let (w, clock) = ads_world(pool).await;
    // 150 views' worth: fewer than the 200 viewers.
    let id = funded_campaign(&w, campaign_body(60, 100, None, 5), 15_000).await;
    let users = citizens(&owner, 200).await;
    let db = w.app.db.clone();

    let try_start = |user: Uuid| {
        let db = db.clone();
        let clock = clock.clone();
        async move {
            let mut tx = db.begin().await.unwrap();
            match views::start(&mut tx, clock.now().await, user, id).await {
                Ok(v) => {
                    tx.commit().await.unwrap();
                    Some(v.id)
                }
                Err(InvestError::BudgetExhausted) => None,
                Err(e) => panic!("{e:?}"),
            }
        }
    };
    let beat_all = |views: Vec<(Uuid, Uuid)>| {
        let db = db.clone();
        let clock = clock.clone();
        async move {
            let now = clock.now().await;
            join_all(views.iter().map(|(user, view)| {
                let db = db.clone();
                async move { views::heartbeat(&db, now, *user, *view).await.unwrap() }
            }))
            .await;
        }
    };

    // 200 viewers start at once: exactly 150 reservations fit.
    let started = join_all(users.iter().map(|u| try_start(*u))).await;
    let mut active: Vec<(Uuid, Uuid)> = users
        .iter()
        .zip(&started)
        .filter_map(|(u, v)| v.map(|v| (*u, v)))
        .collect();
    let waiting: Vec<Uuid> = users
        .iter()
        .zip(&started)
        .filter(|(_, v)| v.is_none())
        .map(|(u, _)| *u)
        .collect();
    assert_eq!((active.len(), waiting.len()), (150, 50));
    let c = campaign(&w, id, clock.now().await).await;
    assert_eq!(
        (c.reserved, c.status),
        (15_000, ads::CampaignStatus::Exhausted)
    );

    for _ in 0..4 {
        clock.advance(TimeDelta::seconds(10)).unwrap();
        beat_all(active.clone()).await;
    }
    // At 40 s half complete (66 each, 34 released) while the 50 waiting try again, at once.
    let finishing: Vec<(Uuid, Uuid)> = active.drain(..75).collect();
    let now = clock.now().await;
    let (done, restarted) = tokio::join!(
        join_all(finishing.iter().map(|(user, view)| {
            let db = db.clone();
            async move { views::complete(&db, now, *user, *view, None).await.unwrap() }
        })),
        join_all(waiting.iter().map(|u| try_start(*u))),
    );
    assert!(done.iter().all(|d| d.paid == 66 && d.released == 34));
    let second: Vec<(Uuid, Uuid)> = waiting
        .iter()
        .zip(&restarted)
        .filter_map(|(u, v)| v.map(|v| (*u, v)))
        .collect();
    // 75 × 34 = 2,550 released makes room for at most 25 more.
    assert!(second.len() <= 25, "{}", second.len());
    active.extend(second.iter().copied());

    for _ in 0..6 {
        clock.advance(TimeDelta::seconds(10)).unwrap();
        beat_all(active.clone()).await;
    }
    // Everyone else completes at once: the first ones at 100 s (full), the late ones at 60 s.
    let now = clock.now().await;
    let rest = join_all(active.iter().map(|(user, view)| {
        let db = db.clone();
        async move { views::complete(&db, now, *user, *view, None).await.unwrap() }
    }))
    .await;
    assert!(rest.iter().all(|d| d.paid == 100 && d.released == 0));

    let paid_out: i64 = done.iter().chain(&rest).map(|d| d.paid).sum();
    let c = campaign(&w, id, now).await;
    let left = budget(&w, id).await;
    assert_eq!(c.reserved, 0);
    assert_eq!(c.paid, paid_out);
    assert_eq!(paid_out + left, 15_000, "paid + left = funded, exactly");
    assert!(left >= 0, "{left}");
    let mut conn = w.app.db.acquire().await.unwrap();
    let mut received = 0;
    for u in &users {
        let b = ledger::balance(&mut conn, Account::user(*u)).await.unwrap();
        assert!(b.get() >= 0);
        received += b.get();
    }
    assert_eq!(received, paid_out);
    drop(conn);
    w.assert_e1().await;
}
