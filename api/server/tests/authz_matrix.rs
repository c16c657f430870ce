//! The authorization matrix (U1): every route × every principal → the expected status, in one
//! table, checked in one test. A route missing from the table fails the test (the table is
//! compared with `/openapi.json`), so a new route must say who may call it.
//!
//! Principals: anonymous, citizen, merchant, moderator, resolver, admin. In paths and bodies,
//! `{self}` is the caller's user id (the victim's for anonymous), `{other}` another citizen's
//! (the "victim"), `{other_wallet}` the victim's linked wallet address, `{category}` a
//! prediction category, `{game}` a game the victim proposed, `{active_game}` an active game the
//! victim staked on and `{prediction}` that stake: real ids of the victim's, so a row checks
//! ownership and roles, not the answer for an id that does not exist. `{payment}` is an id no
//! payment has (the payments' ownership is checked in the invest domain's tests), `{provider}`
//! a webhook provider, `{store}` an id no store has (the stores' ownership is checked in the
//! invest domain's tests), `{project}` and `{contribution}` ids no funding project or
//! contribution has (their ownership is checked in the invest domain's tests).
//! invest domain's tests), `{campaign}` and `{ad_view}` ids no campaign or ad view has (the
//! advertisers' and viewers' ownership is checked there too).
//! Statuses other than 401/403 only show that the caller got past authorization (the body may
//! be deliberately invalid so that rows are repeatable).

// Helpers outside #[test] functions panic on purpose: a failed request fails the test.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use alloy::signers::local::PrivateKeySigner;
use posmul_api::testing::{TestUser, spawn_app};
use posmul_api_kit::auth::roles::Role;
use reqwest::Method;
use serde_json::Value;
use sqlx::PgPool;

/// Column order of the expected statuses.
const PRINCIPALS: [&str; 6] = [
    "anonymous",
    "citizen",
    "merchant",
    "moderator",
    "resolver",
    "admin",
];

struct Row {
    method: &'static str,
    path: &'static str,
    body: Option<&'static str>,
    /// anonymous, citizen, merchant, moderator, resolver, admin.
    expect: [u16; 6],
}

const fn row(
    method: &'static str,
    path: &'static str,
    body: Option<&'static str>,
    expect: [u16; 6],
) -> Row {
    Row {
        method,
        path,
        body,
        expect,
    }
}

/// THE TABLE. One line per route (and per owner/other variant where a path names a user).
#[rustfmt::skip]
const TABLE: &[Row] = &[
    // health
    row("GET", "/healthz", None, [200, 200, 200, 200, 200, 200]),
    row("GET", "/readyz", None, [200, 200, 200, 200, 200, 200]),
    // the API's clock: public (clients and the demo seed read "now" and "today" from it)
    row("GET", "/v1/clock", None, [200, 200, 200, 200, 200, 200]),
    // auth: public; invalid bodies keep rows repeatable
    row("POST", "/v1/auth/register", Some(r#"{"email":"not-an-email","password":"correct horse battery"}"#), [422, 422, 422, 422, 422, 422]),
    // a login per principal: failures lock a login after 5 (U2)
    row("POST", "/v1/auth/login", Some(r#"{"email":"nobody-{self}@example.org","password":"wrong password!"}"#), [401, 401, 401, 401, 401, 401]),
    row("POST", "/v1/auth/refresh", Some(r#"{"refresh_token":"not-a-token"}"#), [401, 401, 401, 401, 401, 401]),
    row("POST", "/v1/auth/logout", Some(r#"{"refresh_token":"not-a-token"}"#), [401, 204, 204, 204, 204, 204]),
    row("GET", "/v1/auth/siwe/nonce", None, [200, 200, 200, 200, 200, 200]),
    row("POST", "/v1/auth/siwe/verify", Some(r#"{"message":"hello","signature":"0x00"}"#), [422, 422, 422, 422, 422, 422]),
    // e-mail tokens are the proof (U2, E5); a reset request answers 202 for any address
    row("POST", "/v1/auth/email/verify", Some(r#"{"token":"not-a-token"}"#), [422, 422, 422, 422, 422, 422]),
    row("POST", "/v1/auth/password/forgot", Some(r#"{"email":"nobody@example.org"}"#), [202, 202, 202, 202, 202, 202]),
    row("POST", "/v1/auth/password/reset", Some(r#"{"token":"not-a-token","password":"a brand new password"}"#), [422, 422, 422, 422, 422, 422]),
    // me: any signed-in user, about themselves only
    row("GET", "/v1/me", None, [401, 200, 200, 200, 200, 200]),
    row("PATCH", "/v1/me/profile", Some(r#"{"bio":"matrix"}"#), [401, 200, 200, 200, 200, 200]),
    row("POST", "/v1/me/wallets/link", Some(r#"{"message":"hello","signature":"0x00"}"#), [401, 422, 422, 422, 422, 422]),
    // the caller's own e-mail and grant (E5): every principal here registered with a verified e-mail
    row("POST", "/v1/me/email", Some(r#"{"email":"matrix@example.org"}"#), [401, 409, 409, 409, 409, 409]),
    row("POST", "/v1/me/email/verification", None, [401, 409, 409, 409, 409, 409]),
    row("POST", "/v1/me/signup-grant", None, [401, 200, 200, 200, 200, 200]),
    // users: public profiles (no email, no wallet) for signed-in users
    row("GET", "/v1/users/{self}/profile", None, [401, 200, 200, 200, 200, 200]),
    row("GET", "/v1/users/{other}/profile", None, [401, 200, 200, 200, 200, 200]),
    // admin only
    row("GET", "/v1/admin/users", None, [401, 403, 403, 403, 403, 200]),
    row("GET", "/v1/admin/audit", None, [401, 403, 403, 403, 403, 200]),
    row("PUT", "/v1/admin/users/{other}/roles/merchant", None, [401, 403, 403, 403, 403, 200]),
    row("DELETE", "/v1/admin/users/{other}/roles/merchant", None, [401, 403, 403, 403, 403, 200]),
    row("PUT", "/v1/admin/users/{self}/roles/admin", None, [401, 403, 403, 403, 403, 200]),
    // bans (U1): the admin's ban of the victim is lifted by the next row
    row("PUT", "/v1/admin/users/{other}/ban", Some(r#"{"reason":"matrix"}"#), [401, 403, 403, 403, 403, 200]),
    row("DELETE", "/v1/admin/users/{other}/ban", None, [401, 403, 403, 403, 403, 200]),
    // PMP ledger (E1, E2, E5): no route moves PMP between citizens; history is the caller's own
    row("GET", "/v1/me/pmp/history", None, [401, 200, 200, 200, 200, 200]),
    // wallet views: the caller's own; explorer views are public chain data
    row("GET", "/v1/me/wallet", None, [401, 200, 200, 200, 200, 200]),
    row("GET", "/v1/me/wallet/history", None, [401, 200, 200, 200, 200, 200]),
    row("GET", "/v1/accounts/{other_wallet}/pmc", None, [200, 200, 200, 200, 200, 200]),
    row("GET", "/v1/accounts/{other_wallet}/pmc/transfers", None, [200, 200, 200, 200, 200, 200]),
    row("GET", "/v1/accounts/{other_wallet}/pmc/donations", None, [200, 200, 200, 200, 200, 200]),
    // wave allocation files (M3, M6): public; no wave is published here
    row("GET", "/v1/waves/{day}/allocation", None, [404, 404, 404, 404, 404, 404]),
    // PMC claims: the caller's own wallets
    row("GET", "/v1/me/pmc/claim", None, [401, 404, 404, 404, 404, 404]),
    row("POST", "/v1/me/pmc/claim-for-me", None, [401, 404, 404, 404, 404, 404]),
    // economy configuration (M1): admin only
    row("GET", "/v1/admin/economy", None, [401, 403, 403, 403, 403, 200]),
    row("POST", "/v1/admin/economy", Some("{}"), [401, 403, 403, 403, 403, 422]),
    // investment rates (I1-I3): public in force; versions admin only (422: out of range)
    row("GET", "/v1/economy/rates", None, [200, 200, 200, 200, 200, 200]),
    row("GET", "/v1/admin/economy/rates", None, [401, 403, 403, 403, 403, 200]),
    row("POST", "/v1/admin/economy/rates", Some(r#"{"ad_views_per_day":0}"#), [401, 403, 403, 403, 403, 422]),
    // predictions (P1-P6): reads public; proposing/staking signed in; approving moderator; settling resolver; corrections admin
    row("GET", "/v1/predictions/games", None, [200, 200, 200, 200, 200, 200]),
    // an official (sports) game: staff create it, citizens may only propose user_proposed games
    row("POST", "/v1/predictions/games", Some(r#"{"title":"Matrix official game","description":"An official game made by the authorization matrix.","game_type":"binary","category":"sports","subcategory":null,"league":null,"importance":1,"min_stake":1,"max_stake":10,"max_participants":null,"starts_at":"2098-01-01T00:00:00Z","ends_at":"2098-01-02T00:00:00Z","settles_at":"2098-01-03T00:00:00Z","options":["Yes","No"]}"#), [401, 403, 403, 201, 403, 201]),
    // real ids owned by the victim: `{game}` a game the victim proposed (CREATED), `{active_game}`
    // an ACTIVE game the victim staked on, `{prediction}` that stake; so a refusal here is about
    // ownership or role, not an id that does not exist (the victim's own withdrawal is checked
    // after the table)
    row("GET", "/v1/predictions/games/{game}", None, [200, 200, 200, 200, 200, 200]),
    row("PUT", "/v1/predictions/games/{game}", Some(r#"{"title":"Victim proposes a game","description":"A game the victim proposed, edited by the matrix.","game_type":"binary","category":"user_proposed","subcategory":null,"league":null,"importance":1,"min_stake":1,"max_stake":10,"max_participants":null,"starts_at":"2098-01-01T00:00:00Z","ends_at":"2098-01-02T00:00:00Z","settles_at":"2098-01-03T00:00:00Z","options":["Yes","No"]}"#), [401, 403, 403, 200, 403, 200]),
    // approving a citizen's proposal for the hourly pools (P6): moderators and admins; the
    // moderator approves it, the admin then finds it approved
    row("POST", "/v1/predictions/games/{game}/approval", None, [401, 403, 403, 201, 403, 409]),
    row("POST", "/v1/predictions/games/{active_game}/stakes", Some("{}"), [401, 422, 422, 422, 422, 422]),
    row("POST", "/v1/predictions/predictions/{prediction}/withdraw", None, [401, 404, 404, 404, 404, 404]),
    row("POST", "/v1/predictions/games/{active_game}/settlement", Some("{}"), [401, 403, 403, 403, 422, 422]),
    row("GET", "/v1/predictions/games/{active_game}/settlement", None, [404, 404, 404, 404, 404, 404]),
    // the resolver cancels the victim's proposal; the admin then finds it final
    row("POST", "/v1/predictions/games/{game}/cancel", None, [401, 403, 403, 403, 200, 409]),
    row("POST", "/v1/predictions/games/{active_game}/corrections", Some("{}"), [401, 403, 403, 403, 403, 422]),
    row("GET", "/v1/predictions/pools", None, [200, 200, 200, 200, 200, 200]),
    // `{hour}` stays literal: public, and past authorization a bad time is a 400
    row("GET", "/v1/predictions/pools/{hour}", None, [400, 400, 400, 400, 400, 400]),
    row("GET", "/v1/predictions/category-multipliers", None, [200, 200, 200, 200, 200, 200]),
    row("PUT", "/v1/predictions/category-multipliers/SPORTS", Some(r#"{"multiplier":"1"}"#), [401, 403, 403, 403, 403, 204]),
    row("GET", "/v1/predictions/me/stats", None, [401, 200, 200, 200, 200, 200]),
    row("GET", "/v1/predictions/users/{other}/stats", None, [200, 200, 200, 200, 200, 200]),
    row("GET", "/v1/predictions/leaderboard", None, [200, 200, 200, 200, 200, 200]),
    // event streams answer 406 unless asked with `Accept: text/event-stream`
    row("GET", "/v1/predictions/games/{active_game}/events", None, [406, 406, 406, 406, 406, 406]),
    // payments (I4): signed in to pay and to read or confirm one's own; refunds admin only;
    // webhooks are the providers' (no provider is enabled in the test config, so 422)
    row("POST", "/v1/payments", Some(r#"{"provider":"dev","amount":1000,"merchant_id":"{other}"}"#), [401, 422, 422, 422, 422, 422]),
    row("GET", "/v1/payments/{payment}", None, [401, 404, 404, 404, 404, 404]),
    row("POST", "/v1/payments/{payment}/confirm", Some("{}"), [401, 404, 404, 404, 404, 404]),
    row("POST", "/v1/admin/payments/{payment}/refunds", Some(r#"{"amount":1,"reason":"matrix"}"#), [401, 403, 403, 403, 403, 404]),
    row("POST", "/v1/payments/webhooks/{provider}", Some("{}"), [422, 422, 422, 422, 422, 422]),
    // stores (I2): merchants register (201; admins hold every role); only admins verify;
    // rate events need the merchant role, then ownership (checked in the invest domain's
    // tests; `{store}` is an id no store has); search and reading are public; reviewing needs
    // a sign-in, then a verified store and a payment there
    row("POST", "/v1/stores", Some(r#"{"name":"Matrix cafe","category":"cafe","address":"1 Matrix street","lat":37.5,"lon":127.0,"non_franchise":true}"#), [401, 403, 201, 403, 403, 201]),
    row("GET", "/v1/stores?lat=37.5&lon=127.0&radius_m=1000", None, [200, 200, 200, 200, 200, 200]),
    row("GET", "/v1/stores/{store}", None, [404, 404, 404, 404, 404, 404]),
    row("POST", "/v1/admin/stores/{store}/verify", None, [401, 403, 403, 403, 403, 404]),
    row("POST", "/v1/stores/{store}/rate-events", Some(r#"{"starts_at":"2098-01-01T00:00:00Z","ends_at":"2098-01-02T00:00:00Z"}"#), [401, 403, 404, 403, 403, 404]),
    row("POST", "/v1/stores/{store}/reviews", Some(r#"{"stars":5,"text":"matrix"}"#), [401, 404, 404, 404, 404, 404]),
    // Cloud Funding (I3): any signed-in citizen proposes (past authorization, a deadline too
    // far ahead is a 422), contributes, cancels their own and reads their own; moderators and
    // admins see and approve proposals; only admins run the settlement; projects and their
    // updates are public; `{project}` and `{contribution}` are ids nothing has
    row("POST", "/v1/funding/projects", Some(r#"{"title":"Matrix","description":"m","goal_krw":1000,"min_contribution_krw":1000,"max_contribution_krw":1000,"deadline":"2098-01-01T00:00:00Z"}"#), [401, 422, 422, 422, 422, 422]),
    row("GET", "/v1/funding/projects", None, [200, 200, 200, 200, 200, 200]),
    row("GET", "/v1/funding/projects/{project}", None, [404, 404, 404, 404, 404, 404]),
    row("GET", "/v1/funding/me/projects", None, [401, 200, 200, 200, 200, 200]),
    row("GET", "/v1/admin/funding/projects", None, [401, 403, 403, 200, 403, 200]),
    row("POST", "/v1/admin/funding/projects/{project}/approve", None, [401, 403, 403, 404, 403, 404]),
    row("POST", "/v1/funding/projects/{project}/contributions", Some(r#"{"provider":"dev","amount_krw":1000}"#), [401, 404, 404, 404, 404, 404]),
    row("GET", "/v1/funding/me/contributions", None, [401, 200, 200, 200, 200, 200]),
    row("POST", "/v1/funding/contributions/{contribution}/cancel", Some("{}"), [401, 404, 404, 404, 404, 404]),
    row("POST", "/v1/funding/projects/{project}/updates", Some(r#"{"kind":"update","title":"m","body":"m"}"#), [401, 404, 404, 404, 404, 404]),
    row("GET", "/v1/funding/projects/{project}/updates", None, [404, 404, 404, 404, 404, 404]),
    row("POST", "/v1/admin/funding/settle", None, [401, 403, 403, 403, 403, 200]),
    // Major League (I1): merchants create and fund campaigns (funding and figures need the
    // campaign's advertiser, checked in the invest domain's tests; `{campaign}` is an id no
    // campaign has, `{ad_view}` one no view has); the list and a campaign are public; viewing
    // needs a sign-in; only admins pause and resume
    row("POST", "/v1/campaigns", Some(r#"{"title":"Matrix ad","creative_url":"https://example.org/ad.mp4","length_secs":60,"reward":10,"daily_limit":1,"starts_at":"2098-01-01T00:00:00Z","ends_at":"2098-01-02T00:00:00Z"}"#), [401, 403, 201, 403, 403, 201]),
    row("GET", "/v1/campaigns", None, [200, 200, 200, 200, 200, 200]),
    row("GET", "/v1/campaigns/{campaign}", None, [404, 404, 404, 404, 404, 404]),
    row("POST", "/v1/campaigns/{campaign}/fundings", Some(r#"{"provider":"dev","amount":1000}"#), [401, 403, 404, 403, 403, 404]),
    row("GET", "/v1/campaigns/{campaign}/stats", None, [401, 403, 404, 403, 403, 404]),
    row("POST", "/v1/campaigns/{campaign}/views", Some("{}"), [401, 404, 404, 404, 404, 404]),
    row("POST", "/v1/ad-views/{ad_view}/heartbeat", None, [401, 404, 404, 404, 404, 404]),
    row("POST", "/v1/ad-views/{ad_view}/complete", Some("{}"), [401, 404, 404, 404, 404, 404]),
    row("POST", "/v1/admin/campaigns/{campaign}/pause", None, [401, 403, 403, 403, 403, 404]),
    row("POST", "/v1/admin/campaigns/{campaign}/resume", None, [401, 403, 403, 403, 403, 404]),
    row("GET", "/v1/predictions/me/events", None, [401, 406, 406, 406, 406, 406]),
    row("GET", "/v1/predictions/me/predictions", None, [401, 200, 200, 200, 200, 200]),
];

/// The victim's things the rows name.
struct Victim {
    user: TestUser,
    wallet: String,
    game: String,
    active_game: String,
    prediction: String,
}

fn fill(template: &str, me: &TestUser, v: &Victim) -> String {
    template
        .replace("{self}", &me.user_id.to_string())
        .replace("{other}", &v.user.user_id.to_string())
        .replace("{other_wallet}", &v.wallet)
        .replace("{category}", "sports")
        .replace("{active_game}", &v.active_game)
        .replace("{game}", &v.game)
        .replace("{prediction}", &v.prediction)
        .replace("{day}", "0")
        .replace("{payment}", "00000000-0000-7000-8000-000000000001")
        .replace("{provider}", "stripe")
        .replace("{store}", "00000000-0000-7000-8000-000000000002")
        .replace("{project}", "00000000-0000-7000-8000-000000000003")
        .replace("{contribution}", "00000000-0000-7000-8000-000000000004")
        .replace("{campaign}", "00000000-0000-7000-8000-000000000003")
        .replace("{ad_view}", "00000000-0000-7000-8000-000000000004")
}

/// `POST` `body` as `user`; the response's JSON (panics unless the status is `want`).
async fn post_json(
    app: &posmul_api::testing::TestApp,
    user: &TestUser,
    path: &str,
    body: Value,
    want: u16,
) -> Value {
    let res = app
        .client
        .post(app.url(path))
        .bearer_auth(&user.access_token)
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    assert_eq!(status, want, "POST {path}: {body}");
    body
}

/// `/v1/users/{user_id}/profile` and `/v1/users/{other}/profile` are the same route.
fn route_shape(path: &str) -> String {
    let is_param = |seg: &str| {
        seg.starts_with('{')
            || seg.starts_with("0x")
            || (seg.len() == 36 && seg.chars().filter(|c| *c == '-').count() == 4)
            || ["citizen", "merchant", "moderator", "resolver", "admin"].contains(&seg)
            || (!seg.is_empty() && seg.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
    };
    // A query string is no part of the route.
    let path = path.split('?').next().unwrap_or(path);
    path.split('/')
        .map(|seg| if is_param(seg) { "{}" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u1_every_route_checks_roles_and_ownership_on_the_server(pool: PgPool) {
    let app = spawn_app(pool).await;

    // Every documented route is in the table, and nothing else.
    let doc: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                documented.insert((method.to_uppercase(), route_shape(path)));
            }
        }
    }
    let tabled: BTreeSet<(String, String)> = TABLE
        .iter()
        .map(|r| (r.method.to_owned(), route_shape(r.path)))
        .collect();
    let missing: Vec<_> = documented.difference(&tabled).collect();
    let stale: Vec<_> = tabled.difference(&documented).collect();

    let victim = app.register_user("victim@example.org").await;
    let victim_wallet = format!("{:#x}", PrivateKeySigner::random().address());
    let mut principals: Vec<Option<TestUser>> = vec![None];
    for (name, role) in [
        ("citizen", None),
        ("merchant", Some(Role::Merchant)),
        ("moderator", Some(Role::Moderator)),
        ("resolver", Some(Role::Resolver)),
        ("admin", Some(Role::Admin)),
    ] {
        let email = format!("{name}@example.org");
        principals.push(Some(match role {
            Some(r) => app.register_with_role(&email, r).await,
            None => app.register_user(&email).await,
        }));
    }

    // The victim's game, and a stake of theirs on an active game (staff made it, started).
    let staff = principals[5].clone().unwrap();
    let proposal = post_json(
        &app,
        &victim,
        "/v1/predictions/games",
        serde_json::from_str(r#"{"title":"Victim proposes a game","description":"A game the victim proposed, edited by the matrix.","game_type":"binary","category":"user_proposed","subcategory":null,"league":null,"importance":1,"min_stake":1,"max_stake":10,"max_participants":null,"starts_at":"2098-01-01T00:00:00Z","ends_at":"2098-01-02T00:00:00Z","settles_at":"2098-01-03T00:00:00Z","options":["Yes","No"]}"#).unwrap(),
        201,
    )
    .await;
    let active = post_json(
        &app,
        &staff,
        "/v1/predictions/games",
        serde_json::json!({
            "title": "Matrix active game", "description": "An active game the victim stakes on.",
            "game_type": "binary", "category": "sports", "subcategory": null, "league": null,
            "importance": 1, "min_stake": 1, "max_stake": 10, "max_participants": null,
            "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2098-01-02T00:00:00Z",
            "settles_at": "2098-01-03T00:00:00Z", "options": ["Yes", "No"]
        }),
        201,
    )
    .await;
    let active_game = active["id"].as_str().unwrap().to_owned();
    let stake = post_json(
        &app,
        &victim,
        &format!("/v1/predictions/games/{active_game}/stakes"),
        serde_json::json!({ "option": 0, "amount": 5 }),
        201,
    )
    .await;
    let v = Victim {
        wallet: victim_wallet,
        game: proposal["id"].as_str().unwrap().to_owned(),
        active_game,
        prediction: stake["id"].as_str().unwrap().to_owned(),
        user: victim,
    };
    let victim = &v.user;

    let mut failures = vec![];
    for row in TABLE {
        for (i, who) in principals.iter().enumerate() {
            let me = who.as_ref().unwrap_or(victim);
            let url = app.url(&fill(row.path, me, &v));
            let method = Method::from_bytes(row.method.as_bytes()).unwrap();
            let mut req = app.client.request(method, &url);
            if let Some(u) = who {
                req = req.bearer_auth(&u.access_token);
            }
            if let Some(body) = row.body {
                req = req
                    .header("content-type", "application/json")
                    .header("idempotency-key", uuid::Uuid::new_v4().to_string())
                    .body(fill(body, me, &v));
            }
            let status = req.send().await.unwrap().status().as_u16();
            if status != row.expect[i] {
                failures.push(format!(
                    "{} {} as {}: expected {}, got {status}",
                    row.method, row.path, PRINCIPALS[i], row.expect[i]
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "authorization matrix mismatches:\n{}",
        failures.join("\n")
    );
    // The 404s for `{prediction}` were about ownership: its owner withdraws it (signed in
    // again: the admin's rows changed the victim's roles and ban, which ended its tokens, U1).
    let victim = app.login(&victim.email).await;
    post_json(
        &app,
        &victim,
        &format!("/v1/predictions/predictions/{}/withdraw", v.prediction),
        serde_json::json!({}),
        200,
    )
    .await;
    assert!(
        missing.is_empty(),
        "routes without a row in the authorization table: {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "rows for routes that do not exist: {stale:?}"
    );
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u1_no_route_lets_a_user_end_another_users_session(pool: PgPool) {
    let app = spawn_app(pool).await;
    let alice = app.register_user("alice@example.org").await;
    let mallory = app.register_user("mallory@example.org").await;
    let res = app
        .client
        .post(app.url("/v1/auth/logout"))
        .bearer_auth(&mallory.access_token)
        .json(&serde_json::json!({ "refresh_token": alice.refresh_token }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = app
        .client
        .post(app.url("/v1/auth/refresh"))
        .json(&serde_json::json!({ "refresh_token": alice.refresh_token }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        200,
        "Alice's session survives Mallory's logout attempt"
    );
}
