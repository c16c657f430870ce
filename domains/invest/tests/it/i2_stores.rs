//! I2, the Local League stores: search by distance (verified only, within the radius, nearest
//! first, filtered, cursor-paged, through the GiST index), rate-event boundaries, reviews after
//! a paid payment, and who may verify stores and add events.

use chrono::{DateTime, Duration, Utc};
use posmul_api::testing::TestUser;
use posmul_api_kit::auth::roles::Role;
use posmul_invest::stores::{self, SEARCH_SQL};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::{World, dev_payments, dev_provider, world};

const LAT: f64 = 37.5665;
const LON: f64 = 126.978;
/// Metres per degree of latitude on PostgreSQL's earth sphere (radius 6,378,168 m).
const M_PER_DEG: f64 = 6_378_168.0 * std::f64::consts::PI / 180.0;

fn problem(kind: &str) -> String {
    format!("https://posmul.dev/problems/{kind}")
}

/// Registers a store `north_m` metres north of the point (as `merchant`); its id.
async fn store_at(
    w: &World,
    merchant: &TestUser,
    name: &str,
    category: &str,
    north_m: f64,
) -> String {
    let (status, body) = w
        .post(
            merchant,
            "/v1/stores",
            json!({
                "name": name, "category": category, "address": format!("{name} street 1"),
                "lat": LAT + north_m / M_PER_DEG, "lon": LON, "non_franchise": true
            }),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(body["verified_at"].is_null());
    body["id"].as_str().unwrap().to_owned()
}

async fn verify(w: &World, id: &str) {
    let (status, body) = w
        .post(
            &w.admin,
            &format!("/v1/admin/stores/{id}/verify"),
            json!(null),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn verified_store(w: &World, name: &str, category: &str, north_m: f64) -> String {
    let id = store_at(w, &w.merchant, name, category, north_m).await;
    verify(w, &id).await;
    id
}

async fn search(w: &World, query: &str) -> (StatusCode, Value) {
    let res = w
        .client
        .get(w.url(&format!("/v1/stores?{query}")))
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn names(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect()
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn i2_search_returns_only_verified_stores_within_the_radius_nearest_first(pool: PgPool) {
    let w = world(pool, dev_payments(&dev_provider())).await;
    verified_store(&w, "Far", "cafe", 900.0).await;
    verified_store(&w, "Near", "cafe", 100.0).await;
    verified_store(&w, "Middle", "bakery", 500.0).await;
    verified_store(&w, "Outside", "cafe", 1_500.0).await;
    // Nearer than all, but unverified: not found.
    store_at(&w, &w.merchant, "Unverified", "cafe", 50.0).await;

    let (status, page) = search(&w, &format!("lat={LAT}&lon={LON}&radius_m=1000")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(names(&page), ["Near", "Middle", "Far"]);
    assert!(page["next_cursor"].is_null());
    for (item, metres) in page["items"]
        .as_array()
        .unwrap()
        .iter()
        .zip([100.0, 500.0, 900.0])
    {
        let d = item["distance_m"].as_f64().unwrap();
        assert!((d - metres).abs() < 1.0, "{d} is not about {metres}");
    }

    // Filters: category, and text in the name or address (case-insensitive).
    let (_, page) = search(
        &w,
        &format!("lat={LAT}&lon={LON}&radius_m=1000&category=cafe"),
    )
    .await;
    assert_eq!(names(&page), ["Near", "Far"]);
    let (_, page) = search(&w, &format!("lat={LAT}&lon={LON}&radius_m=2000&q=mIdDlE")).await;
    assert_eq!(names(&page), ["Middle"]);
    let (_, page) = search(
        &w,
        &format!("lat={LAT}&lon={LON}&radius_m=2000&q=OUTSIDE%20street"),
    )
    .await;
    assert_eq!(names(&page), ["Outside"]);
    let (_, page) = search(
        &w,
        &format!("lat={LAT}&lon={LON}&radius_m=2000&category=cafe&q=far"),
    )
    .await;
    assert_eq!(names(&page), ["Far"]);

    // Bad points and radii are the domain's problems.
    for (query, kind) in [
        (format!("lat=91&lon={LON}"), "store-coordinates-invalid"),
        (format!("lat={LAT}&lon=-180.5"), "store-coordinates-invalid"),
        (format!("lat=north&lon={LON}"), "store-coordinates-invalid"),
        (format!("lon={LON}"), "store-coordinates-invalid"),
        (
            format!("lat={LAT}&lon={LON}&radius_m=50001"),
            "store-radius-out-of-range",
        ),
        (
            format!("lat={LAT}&lon={LON}&radius_m=0"),
            "store-radius-out-of-range",
        ),
        (
            format!("lat={LAT}&lon={LON}&radius_m=NaN"),
            "store-radius-out-of-range",
        ),
    ] {
        let (status, body) = search(&w, &query).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        assert_eq!(body["type"], problem(kind), "{query}");
    }
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn i2_search_pages_with_a_cursor_without_duplicates_or_gaps(pool: PgPool) {
    let w = world(pool, dev_payments(&dev_provider())).await;
    // 23 stores, several at the same distance so that ties cross page boundaries.
    for i in 0..23 {
        let north = f64::from(i / 3) * 100.0 + 10.0;
        verified_store(&w, &format!("Store {i:02}"), "cafe", north).await;
    }
    let (_, all) = search(&w, &format!("lat={LAT}&lon={LON}&radius_m=5000&limit=200")).await;
    let all: Vec<(f64, String)> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["distance_m"].as_f64().unwrap(),
                s["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(all.len(), 23);
    assert!(
        all.windows(2).all(|p| p[0].0 <= p[1].0),
        "sorted by distance"
    );

    let mut paged = vec![];
    let mut cursor: Option<String> = None;
    loop {
        let mut query = format!("lat={LAT}&lon={LON}&radius_m=5000&limit=4");
        if let Some(c) = &cursor {
            query.push_str(&format!("&cursor={c}"));
        }
        let (status, page) = search(&w, &query).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for s in page["items"].as_array().unwrap() {
            paged.push((
                s["distance_m"].as_f64().unwrap(),
                s["id"].as_str().unwrap().to_owned(),
            ));
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        paged, all,
        "the pages are the whole list, in order, each store once"
    );

    let (status, body) = search(&w, &format!("lat={LAT}&lon={LON}&cursor=garbage")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn i2_the_search_query_uses_the_gist_index(pool: PgPool) {
    let w = world(pool, dev_payments(&dev_provider())).await;
    let pool = w.app.db.clone();
    let merchant = w.merchant.user_id;
    // 4,970 verified stores on a grid around the point, about a kilometre apart.
    sqlx::query(
        "INSERT INTO invest.stores (id, merchant_id, name, category, address, lat, lon, non_franchise, verified_at, verified_by)
         SELECT gen_random_uuid(), $1, 'Grid ' || i || '-' || j, 'cafe', 'Grid street', $2 + i * 0.01, $3 + j * 0.01, true, now(), $1
           FROM generate_series(-35, 34) i, generate_series(-35, 35) j",
    )
    .bind(merchant)
    .bind(LAT)
    .bind(LON)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE invest.stores")
        .execute(&pool)
        .await
        .unwrap();

    let mut tx = pool.begin().await.unwrap();
    // Proves the index usable for this exact query, whatever the planner would choose for a
    // table this size.
    sqlx::query("SET LOCAL enable_seqscan = off")
        .execute(&mut *tx)
        .await
        .unwrap();
    let plan: Vec<String> =
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("EXPLAIN {SEARCH_SQL}")))
            .bind(LAT)
            .bind(LON)
            .bind(3_000.0_f64)
            .bind(None::<String>)
            .bind(None::<String>)
            .bind(None::<f64>)
            .bind(None::<Uuid>)
            .bind(50_i64)
            .fetch_all(&mut *tx)
            .await
            .unwrap();
    let plan = plan.join("\n");
    assert!(
        plan.contains("stores_location"),
        "the GiST index is not used:\n{plan}"
    );
    tx.rollback().await.unwrap();

    // And the search answers from it: every store within 3 km, nearest first.
    let found = stores::search(
        &pool,
        &stores::Search {
            lat: LAT,
            lon: LON,
            radius_m: 3_000.0,
            category: None,
            text: None,
            after: None,
            limit: 1_000,
        },
    )
    .await
    .unwrap();
    assert!(!found.is_empty());
    assert!(found.iter().all(|f| f.distance_m <= 3_000.0));
    assert!(found.windows(2).all(|p| p[0].distance_m <= p[1].distance_m));
    let exact: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM invest.stores WHERE earth_distance(ll_to_earth($1, $2), ll_to_earth(lat, lon)) <= 3000",
    )
    .bind(LAT)
    .bind(LON)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        i64::try_from(found.len()).unwrap(),
        exact,
        "the box loses nothing in the circle"
    );
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn i2_rate_event_boundaries_the_event_rate_from_starts_at_the_base_rate_from_ends_at(
    pool: PgPool,
) {
    let w = world(pool, dev_payments(&dev_provider())).await;
    let id = verified_store(&w, "Events", "cafe", 100.0).await;
    let store: Uuid = id.parse().unwrap();
    let (starts, ends) = ("2030-03-01T09:00:00Z", "2030-03-01T18:00:00Z");
    let (status, event) = w
        .post(
            &w.merchant,
            &format!("/v1/stores/{id}/rate-events"),
            json!({ "starts_at": starts, "ends_at": ends }),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{event}");
    assert_eq!(event["rate_bp"], 200, "an event's default rate is 2 %");

    let tick = Duration::microseconds(1);
    let rate = |t: DateTime<Utc>| stores::rate_at(&w.app.db, store, t);
    assert_eq!(
        rate(at(starts) - tick).await.unwrap(),
        100,
        "before: the base 1 %"
    );
    assert_eq!(
        rate(at(starts)).await.unwrap(),
        200,
        "at starts_at: the event's"
    );
    assert_eq!(
        rate(at(ends) - tick).await.unwrap(),
        200,
        "just before ends_at: the event's"
    );
    assert_eq!(
        rate(at(ends)).await.unwrap(),
        100,
        "at ends_at: the base rate"
    );

    // Overlapping events: the highest rate in force.
    let (status, _) = w
        .post(
            &w.merchant,
            &format!("/v1/stores/{id}/rate-events"),
            json!({ "rate_bp": 350, "starts_at": "2030-03-01T12:00:00Z", "ends_at": "2030-03-01T13:00:00Z" }),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(rate(at("2030-03-01T12:30:00Z")).await.unwrap(), 350);
    assert_eq!(rate(at("2030-03-01T13:00:00Z")).await.unwrap(), 200);

    // The store's page shows the rate in force now.
    let now = Utc::now();
    let (status, _) = w
        .post(
            &w.merchant,
            &format!("/v1/stores/{id}/rate-events"),
            json!({ "rate_bp": 250, "starts_at": now - Duration::hours(1), "ends_at": now + Duration::hours(1) }),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, detail) = w.get(&w.payer, &format!("/v1/stores/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["rate_bp"], 250);
    assert_eq!(detail["base_rate_bp"], 100);

    // A window that ends where it starts is refused.
    let (status, body) = w
        .post(
            &w.merchant,
            &format!("/v1/stores/{id}/rate-events"),
            json!({ "starts_at": starts, "ends_at": starts }),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn i2_only_admins_verify_stores_and_only_the_owner_adds_rate_events(pool: PgPool) {
    let w = world(pool, dev_payments(&dev_provider())).await;
    let other_merchant = w
        .app
        .register_with_role("other-merchant@example.org", Role::Merchant)
        .await;
    let moderator = w
        .app
        .register_with_role("moderator@example.org", Role::Moderator)
        .await;
    let id = store_at(&w, &w.merchant, "Owned", "cafe", 100.0).await;

    // A citizen may not register a store.
    let (status, _) = w
        .post(
            &w.payer,
            "/v1/stores",
            json!({ "name": "Mine", "category": "cafe", "address": "x", "lat": LAT, "lon": LON, "non_franchise": true }),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Nor a franchise.
    let (status, body) = w
        .post(
            &w.merchant,
            "/v1/stores",
            json!({ "name": "Chain", "category": "cafe", "address": "x", "lat": LAT, "lon": LON, "non_franchise": false }),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = w
        .post(
            &w.merchant,
            "/v1/stores",
            json!({ "name": "Nowhere", "category": "cafe", "address": "x", "lat": 95.0, "lon": LON, "non_franchise": true }),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["type"], problem("store-coordinates-invalid"));

    // Not public until verified.
    let (status, _) = w.get(&w.payer, &format!("/v1/stores/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    for who in [&w.payer, &w.merchant, &moderator] {
        let (status, _) = w
            .post(
                who,
                &format!("/v1/admin/stores/{id}/verify"),
                json!(null),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    verify(&w, &id).await;
    let (status, body) = w
        .post(
            &w.admin,
            &format!("/v1/admin/stores/{id}/verify"),
            json!(null),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["type"], problem("store-already-verified"));
    let (status, _) = w.get(&w.payer, &format!("/v1/stores/{id}")).await;
    assert_eq!(status, StatusCode::OK);

    let event = json!({ "starts_at": "2030-01-01T00:00:00Z", "ends_at": "2030-01-02T00:00:00Z" });
    let path = format!("/v1/stores/{id}/rate-events");
    let (status, body) = w.post(&other_merchant, &path, event.clone(), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["type"], problem("store-not-owner"));
    let (status, _) = w.post(&w.payer, &path, event.clone(), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = w.post(&w.merchant, &path, event, None).await;
    assert_eq!(status, StatusCode::CREATED);

    // Both audited, once each.
    for action in ["store_verified", "store_rate_event_added"] {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM auth.audit_log WHERE action = $1")
            .bind(action)
            .fetch_one(&w.app.db)
            .await
            .unwrap();
        assert_eq!(n, 1, "{action}");
    }
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn i2_a_citizen_reviews_a_store_once_and_only_after_a_paid_payment_there(pool: PgPool) {
    let w = world(pool, dev_payments(&dev_provider())).await;
    let id = verified_store(&w, "Reviewed", "cafe", 100.0).await;
    let unverified = store_at(&w, &w.merchant, "Pending", "cafe", 200.0).await;
    let review = json!({ "stars": 4, "text": "Good coffee" });
    let path = format!("/v1/stores/{id}/reviews");

    let (status, body) = w.post(&w.payer, &path, review.clone(), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["type"], problem("store-review-without-payment"));

    // A payment to the merchant but not at this store is no proof either.
    w.create("dev", 5_000).await;
    let (status, body) = w.post(&w.payer, &path, review.clone(), None).await;
    assert_eq!(
        body["type"],
        problem("store-review-without-payment"),
        "{status}"
    );

    // Paying at an unverified store is refused.
    let (status, body) = w
        .post(
            &w.payer,
            "/v1/payments",
            json!({ "provider": "dev", "amount": 5_000, "merchant_id": w.merchant.user_id, "store_id": unverified }),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["type"], problem("store-not-verified"));

    // Paid at the store (the dev provider pays at once): one review.
    let (status, payment) = w
        .post(
            &w.payer,
            "/v1/payments",
            json!({ "provider": "dev", "amount": 5_000, "merchant_id": w.merchant.user_id, "store_id": id }),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{payment}");
    assert_eq!(payment["state"], "paid");
    let (status, body) = w.post(&w.payer, &path, review.clone(), None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = w
        .post(
            &w.payer,
            &path,
            json!({ "stars": 1, "text": "changed my mind" }),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["type"], problem("store-review-duplicate"));

    // Stars out of range.
    let (status, _) = w
        .post(&w.payer, &path, json!({ "stars": 6, "text": "" }), None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // A second citizen who paid there: the average of both.
    let other = w.app.register_user("other-payer@example.org").await;
    let (status, _) = w
        .post(
            &other,
            "/v1/payments",
            json!({ "provider": "dev", "amount": 1_000, "merchant_id": w.merchant.user_id, "store_id": id }),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = w
        .post(&other, &path, json!({ "stars": 5, "text": "" }), None)
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, detail) = w.get(&w.payer, &format!("/v1/stores/{id}")).await;
    assert_eq!(detail["stars"]["reviews"], 2);
    assert_eq!(detail["stars"]["average"], 4.5);

    // An unverified store is not reviewed.
    let (status, body) = w
        .post(
            &w.payer,
            &format!("/v1/stores/{unverified}/reviews"),
            review,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["type"], problem("store-not-verified"));
}
