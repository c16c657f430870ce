//! I3, Cloud Funding: the moderator's approval gate, contributions in 1,000-won steps within a
//! project's bounds, cancellation before the deadline (refunded through the provider), the
//! settlement at the deadline exactly once (funded: escrow to the creator, default credits;
//! failed: everything refunded, a provider failure retried until done), a deadline racing
//! last-second contributions, and E1 at the end.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use posmul_api::testing::{TestUser, spawn_app_with_clock};
use posmul_api_kit::auth::roles::Role;
use posmul_core::Clock;
use posmul_economy::{credits, ledger::Account};
use posmul_invest::{
    funding::settle,
    payments::{Payments, dev::DevOutcome, dev::DevProvider},
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::{World, dev_payments, dev_provider};

fn problem(kind: &str) -> String {
    format!("https://posmul.dev/problems/{kind}")
}

fn t0() -> DateTime<Utc> {
    "2031-03-01T10:00:00Z".parse().unwrap()
}

/// The deadline of every project here: a day after [`t0`].
fn deadline() -> DateTime<Utc> {
    t0() + Duration::days(1)
}

struct Funding {
    w: World,
    clock: Clock,
    dev: DevProvider,
    payments: Arc<Payments>,
    creator: TestUser,
    moderator: TestUser,
}

/// The API on a manual clock at [`t0`], the invest routes over the dev provider, a creator and
/// a moderator.
async fn funding(pool: PgPool) -> Funding {
    let clock = Clock::manual(t0());
    let app = spawn_app_with_clock(pool, clock.clone(), |_| {}).await;
    let dev = dev_provider();
    let payments = Arc::new(dev_payments(&dev));
    let router = posmul_invest::router_with(payments.clone())
        .split_for_parts()
        .0
        .with_state(app.state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let payer = app.register_user("payer@example.org").await;
    let merchant = app
        .register_with_role("merchant@example.org", Role::Merchant)
        .await;
    let admin = app
        .register_with_role("admin@example.org", Role::Admin)
        .await;
    let moderator = app
        .register_with_role("moderator@example.org", Role::Moderator)
        .await;
    let creator = app.register_user("creator@example.org").await;
    Funding {
        w: World {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            app,
            payer,
            merchant,
            admin,
        },
        clock,
        dev,
        payments,
        creator,
        moderator,
    }
}

impl Funding {
    /// Proposes a project of the creator's; status and body.
    async fn propose_raw(&self, body: Value) -> (StatusCode, Value) {
        self.w
            .post(&self.creator, "/v1/funding/projects", body, None)
            .await
    }

    /// An approved project with this goal and bounds, due at [`deadline`]; its id.
    async fn project(&self, goal: i64, min: i64, max: i64) -> String {
        let (status, body) = self
            .propose_raw(json!({
                "title": "Neighbourhood library", "description": "Books for everyone",
                "goal_krw": goal, "min_contribution_krw": min, "max_contribution_krw": max,
                "deadline": deadline(),
            }))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["state"], "proposed");
        let id = body["id"].as_str().unwrap().to_owned();
        self.approve(&self.moderator, &id, StatusCode::OK).await;
        id
    }

    async fn approve(&self, who: &TestUser, id: &str, want: StatusCode) -> Value {
        let (status, body) = self
            .w
            .post(
                who,
                &format!("/v1/admin/funding/projects/{id}/approve"),
                json!(null),
                None,
            )
            .await;
        assert_eq!(status, want, "{body}");
        body
    }

    async fn contribute_raw(
        &self,
        who: &TestUser,
        project: &str,
        amount: i64,
    ) -> (StatusCode, Value) {
        self.w
            .post(
                who,
                &format!("/v1/funding/projects/{project}/contributions"),
                json!({ "provider": "dev", "amount_krw": amount }),
                None,
            )
            .await
    }

    async fn contribute(&self, who: &TestUser, project: &str, amount: i64) -> Value {
        let (status, body) = self.contribute_raw(who, project, amount).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    async fn cancel(&self, who: &TestUser, contribution: &Value) -> (StatusCode, Value) {
        let id = contribution["id"].as_str().unwrap();
        self.w
            .post(
                who,
                &format!("/v1/funding/contributions/{id}/cancel"),
                json!(null),
                None,
            )
            .await
    }

    /// Runs the settlement now through the admin route.
    async fn settle(&self) -> Value {
        let (status, body) = self
            .w
            .post(&self.w.admin, "/v1/admin/funding/settle", json!(null), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn citizen(&self, email: &str) -> TestUser {
        self.w.app.register_user(email).await
    }

    async fn escrow(&self, project: &str) -> i64 {
        self.w
            .krw(Account::krw_escrow(Uuid::parse_str(project).unwrap()))
            .await
    }

    async fn payable(&self, user: &TestUser) -> i64 {
        self.w
            .krw(Account::krw_merchant_payable(user.user_id))
            .await
    }

    /// The Cloud Funding credits of a user, in wei, as text.
    async fn credits_of(&self, user: Uuid) -> String {
        sqlx::query_scalar::<_, String>(
            "SELECT COALESCE(sum(amount), 0)::TEXT FROM credits.credits WHERE user_id = $1 AND source = 'cloud_funding'",
        )
        .bind(user)
        .fetch_one(&self.w.app.db)
        .await
        .unwrap()
    }

    async fn contribution_states(&self, project: &str) -> Vec<(String, String, i64)> {
        sqlx::query_as::<_, (String, String, i64)>(
            "SELECT id::TEXT, state, refund_attempts::BIGINT FROM invest.contributions
             WHERE project_id = $1::UUID ORDER BY id",
        )
        .bind(project)
        .fetch_all(&self.w.app.db)
        .await
        .unwrap()
    }

    async fn audits(&self, action: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM auth.audit_log WHERE action = $1")
            .bind(action)
            .fetch_one(&self.w.app.db)
            .await
            .unwrap()
    }

    /// E1 for KRW, PMP and PMC credits.
    async fn assert_e1(&self) {
        self.w.assert_e1().await;
        let mut conn = self.w.app.db.acquire().await.unwrap();
        let audit = credits::audit(&mut conn).await.unwrap();
        assert!(audit.is_exact(), "{audit:?}");
    }
}

/// `pmc` whole PMC in wei, as text.
fn pmc(pmc: u64) -> String {
    if pmc == 0 {
        "0".into()
    } else {
        format!("{pmc}000000000000000000")
    }
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn i3_a_project_takes_money_only_once_approved_and_within_its_bounds(pool: PgPool) {
    let f = funding(pool).await;
    // Proposals are checked: 1,000-won steps, min ≤ max, a deadline ahead.
    let good = json!({
        "title": "Community garden", "description": "Seeds and tools",
        "goal_krw": 100_000, "min_contribution_krw": 5_000, "max_contribution_krw": 50_000,
        "deadline": deadline(),
    });
    for (field, value) in [
        ("goal_krw", json!(100_500)),
        ("min_contribution_krw", json!(500)),
        ("max_contribution_krw", json!(4_000)),
        ("deadline", json!(t0() - Duration::minutes(1))),
        ("title", json!(" ")),
    ] {
        let mut body = good.clone();
        body[field] = value;
        let (status, problem_body) = f.propose_raw(body).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {problem_body}"
        );
        assert_eq!(
            problem_body["type"],
            problem("validation-failed"),
            "{field}"
        );
    }
    let (status, project) = f.propose_raw(good).await;
    assert_eq!(status, StatusCode::CREATED, "{project}");
    let id = project["id"].as_str().unwrap().to_owned();

    // A proposal is not public and takes no money.
    let (status, _) =
        f.w.get(&f.w.payer, &format!("/v1/funding/projects/{id}"))
            .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = f.contribute_raw(&f.w.payer, &id, 10_000).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["type"], problem("funding-project-not-open"));
    let (_, mine) = f.w.get(&f.creator, "/v1/funding/me/projects").await;
    assert_eq!(mine[0]["id"], id.as_str());
    let (_, queue) = f.w.get(&f.moderator, "/v1/admin/funding/projects").await;
    assert_eq!(queue.as_array().unwrap().len(), 1);

    // Only a moderator (or an admin) approves, once; audited.
    f.approve(&f.w.payer, &id, StatusCode::FORBIDDEN).await;
    f.approve(&f.creator, &id, StatusCode::FORBIDDEN).await;
    let approved = f.approve(&f.moderator, &id, StatusCode::OK).await;
    assert_eq!(approved["state"], "approved");
    let again = f.approve(&f.w.admin, &id, StatusCode::CONFLICT).await;
    assert_eq!(again["type"], problem("funding-project-not-approvable"));
    assert_eq!(f.audits("funding_project_approved").await, 1);
    let (status, _) =
        f.w.get(&f.w.payer, &format!("/v1/funding/projects/{id}"))
            .await;
    assert_eq!(status, StatusCode::OK);

    // Steps and bounds.
    for amount in [1_500, 4_000, 51_000, 0, -5_000] {
        let (status, body) = f.contribute_raw(&f.w.payer, &id, amount).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{amount}: {body}");
        assert_eq!(body["type"], problem("funding-amount-invalid"), "{amount}");
    }
    for amount in [5_000, 50_000, 12_000] {
        let c = f.contribute(&f.w.payer, &id, amount).await;
        assert_eq!(c["state"], "held");
        assert_eq!(c["payment_state"], "paid");
        assert_eq!(c["amount_krw"], amount);
    }
    assert_eq!(f.escrow(&id).await, 67_000);

    // A retry with the same key is the same contribution, paid once.
    let key = Uuid::new_v4().to_string();
    let path = format!("/v1/funding/projects/{id}/contributions");
    let body = json!({ "provider": "dev", "amount_krw": 6_000 });
    let (s1, first) = f.w.post(&f.w.payer, &path, body.clone(), Some(&key)).await;
    let (s2, second) = f.w.post(&f.w.payer, &path, body, Some(&key)).await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(first["id"], second["id"]);
    assert_eq!(f.escrow(&id).await, 73_000);

    let (_, project) =
        f.w.get(&f.w.payer, &format!("/v1/funding/projects/{id}"))
            .await;
    assert_eq!(project["raised_krw"], 73_000);
    let (_, mine) = f.w.get(&f.w.payer, "/v1/funding/me/contributions").await;
    assert_eq!(mine.as_array().unwrap().len(), 4);

    // At the deadline the project takes nothing more.
    f.clock.set(deadline()).unwrap();
    let (status, body) = f.contribute_raw(&f.w.payer, &id, 5_000).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["type"], problem("funding-project-not-open"));
    // A proposal whose deadline passed cannot be approved either.
    let (_, late) = f
        .propose_raw(json!({
            "title": "Late", "description": "Too late", "goal_krw": 1_000,
            "min_contribution_krw": 1_000, "max_contribution_krw": 1_000,
            "deadline": deadline() + Duration::minutes(1),
        }))
        .await;
    f.clock.set(deadline() + Duration::minutes(2)).unwrap();
    let late = f
        .approve(
            &f.moderator,
            late["id"].as_str().unwrap(),
            StatusCode::CONFLICT,
        )
        .await;
    assert_eq!(late["type"], problem("funding-project-not-approvable"));
    f.assert_e1().await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn i3_cancel_before_the_deadline_refunds_through_the_provider(pool: PgPool) {
    let f = funding(pool).await;
    let id = f.project(100_000, 1_000, 50_000).await;
    let kept = f.contribute(&f.w.payer, &id, 20_000).await;
    let c = f.contribute(&f.w.payer, &id, 10_000).await;
    assert_eq!(f.escrow(&id).await, 30_000);

    // Another's contribution is not found; a provider's refusal changes nothing.
    let other = f.citizen("other@example.org").await;
    let (status, _) = f.cancel(&other, &c).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let provider_id = DevProvider::provider_payment_id(
        Uuid::parse_str(c["payment_id"].as_str().unwrap()).unwrap(),
    );
    f.dev.set_outcome(&provider_id, DevOutcome::RefuseRefunds);
    let (status, body) = f.cancel(&f.w.payer, &c).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["type"], problem("payment-provider-refused"));
    assert_eq!(f.escrow(&id).await, 30_000);

    f.dev.set_outcome(&provider_id, DevOutcome::Approve);
    let (status, cancelled) = f.cancel(&f.w.payer, &c).await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["state"], "cancelled");
    assert_eq!(cancelled["refunded_krw"], 10_000);
    assert_eq!(cancelled["payment_state"], "refunded");
    assert_eq!(f.escrow(&id).await, 20_000);
    assert_eq!(f.audits("funding_contribution_refunded").await, 1);
    let (status, body) = f.cancel(&f.w.payer, &c).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(
        body["type"],
        problem("funding-contribution-not-cancellable")
    );

    // After the deadline a contribution is no longer cancelled.
    f.clock.set(deadline()).unwrap();
    let (status, body) = f.cancel(&f.w.payer, &kept).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(
        body["type"],
        problem("funding-contribution-not-cancellable")
    );
    assert_eq!(f.escrow(&id).await, 20_000);
    f.assert_e1().await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn i3_a_funded_project_releases_escrow_to_the_creator_and_issues_default_credits(
    pool: PgPool,
) {
    let f = funding(pool).await;
    let id = f.project(20_000, 1_000, 50_000).await;
    let a = f.citizen("a@example.org").await;
    let b = f.citizen("b@example.org").await;
    let c = f.citizen("c@example.org").await;
    let a_paid = f.contribute(&a, &id, 10_000).await;
    f.contribute(&b, &id, 15_000).await;
    // The goal is reached early; the project stays open until its deadline.
    f.contribute(&c, &id, 5_000).await;
    // A payment still waiting at the provider is not counted.
    f.dev.push_next(DevOutcome::Wait);
    let waiting = f.contribute(&c, &id, 7_000).await;
    assert_eq!(waiting["state"], "pending");

    // A final report before the settlement is refused.
    let report = json!({ "kind": "final_report", "title": "Done", "body": "We built it" });
    let path = format!("/v1/funding/projects/{id}/updates");
    let (status, body) = f.w.post(&f.creator, &path, report.clone(), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["type"], problem("funding-final-report-not-allowed"));
    let (status, _) =
        f.w.post(
            &f.creator,
            &path,
            json!({ "kind": "update", "title": "Halfway", "body": "Thanks" }),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // Nothing is due before the deadline.
    let run = f.settle().await;
    assert_eq!(run["settled"], json!([]));

    f.clock.set(deadline()).unwrap();
    let run = f.settle().await;
    assert_eq!(run["settled"].as_array().unwrap().len(), 1, "{run}");
    assert_eq!(run["settled"][0]["outcome"], "funded");
    assert_eq!(run["settled"][0]["raised_krw"], 30_000);
    assert_eq!(f.escrow(&id).await, 0);
    assert_eq!(f.payable(&f.creator).await, 30_000);
    // Default: 100 PMC per 10,000 KRW.
    assert_eq!(f.credits_of(a.user_id).await, pmc(100));
    assert_eq!(f.credits_of(b.user_id).await, pmc(150));
    assert_eq!(f.credits_of(c.user_id).await, pmc(50));
    let (_, project) = f.w.get(&a, &format!("/v1/funding/projects/{id}")).await;
    assert_eq!(project["state"], "funded");
    assert_eq!(project["raised_krw"], 30_000);
    let (_, mine) = f.w.get(&a, "/v1/funding/me/contributions").await;
    assert_eq!(mine[0]["state"], "counted");

    // The escrow went to the creator: an admin's refund of a counted contribution is refused
    // before the provider is asked, so no money leaves the provider unbooked (E4).
    let a_payment = a_paid["payment_id"].as_str().unwrap();
    let (status, body) =
        f.w.post(
            &f.w.admin,
            &format!("/v1/admin/payments/{a_payment}/refunds"),
            json!({ "amount": 10_000, "reason": "too late" }),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["type"], problem("refund-not-held"));
    let (_, paid) = f.w.get(&a, &format!("/v1/payments/{a_payment}")).await;
    assert_eq!(
        (paid["state"].clone(), paid["refunded"].clone()),
        (json!("paid"), json!(0))
    );

    // The waiting payment is paid after the settlement: refunded, never counted.
    let payment = waiting["payment_id"].as_str().unwrap();
    f.dev.set_outcome(
        &DevProvider::provider_payment_id(Uuid::parse_str(payment).unwrap()),
        DevOutcome::Approve,
    );
    let (status, body) =
        f.w.post(
            &c,
            &format!("/v1/payments/{payment}/confirm"),
            json!({}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(f.escrow(&id).await, 7_000);
    let run = f.settle().await;
    assert_eq!(run["settled"], json!([]), "settled once");
    assert_eq!(run["refunds"]["refunded"], 1, "{run}");
    assert_eq!(f.escrow(&id).await, 0);
    assert_eq!(f.payable(&f.creator).await, 30_000);
    assert_eq!(f.credits_of(c.user_id).await, pmc(50));
    let states: Vec<String> = f
        .contribution_states(&id)
        .await
        .into_iter()
        .map(|(_, s, _)| s)
        .collect();
    assert_eq!(states, ["counted", "counted", "counted", "refunded"]);
    assert_eq!(f.audits("funding_project_settled").await, 1);

    // The final report: the creator's, once.
    let (status, body) = f.w.post(&a, &path, report.clone(), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["type"], problem("funding-not-creator"));
    let (status, _) = f.w.post(&f.creator, &path, report.clone(), None).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = f.w.post(&f.creator, &path, report, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (_, updates) = f.w.get(&a, &path).await;
    assert_eq!(updates.as_array().unwrap().len(), 2);
    assert_eq!(updates[1]["kind"], "final_report");
    f.assert_e1().await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn i3_a_failed_project_refunds_everything_retrying_a_provider_failure_until_done(
    pool: PgPool,
) {
    let f = funding(pool).await;
    let id = f.project(100_000, 1_000, 50_000).await;
    let a = f.citizen("a@example.org").await;
    let b = f.citizen("b@example.org").await;
    f.contribute(&a, &id, 10_000).await;
    let stuck = f.contribute(&b, &id, 20_000).await;
    f.contribute(&b, &id, 30_000).await;
    let stuck_provider = DevProvider::provider_payment_id(
        Uuid::parse_str(stuck["payment_id"].as_str().unwrap()).unwrap(),
    );
    f.dev
        .set_outcome(&stuck_provider, DevOutcome::RefuseRefunds);

    f.clock.set(deadline() + Duration::seconds(5)).unwrap();
    let run = f.settle().await;
    assert_eq!(run["settled"][0]["outcome"], "failed", "{run}");
    assert_eq!(run["settled"][0]["raised_krw"], 60_000);
    assert_eq!(run["refunds"], json!({ "refunded": 2, "failed": 1 }));
    assert_eq!(f.escrow(&id).await, 20_000);
    let stuck_row = f
        .contribution_states(&id)
        .await
        .into_iter()
        .find(|(cid, _, _)| cid == stuck["id"].as_str().unwrap())
        .unwrap();
    assert_eq!((stuck_row.1.as_str(), stuck_row.2), ("refunding", 1));

    // Retried after its backoff, not before; again refused, again recorded.
    let run = f.settle().await;
    assert_eq!(run["refunds"], json!({ "refunded": 0, "failed": 0 }));
    f.clock.advance(Duration::seconds(31)).unwrap();
    let run = f.settle().await;
    assert_eq!(run["refunds"], json!({ "refunded": 0, "failed": 1 }));

    // The provider recovers: the next retry refunds it.
    f.dev.set_outcome(&stuck_provider, DevOutcome::Approve);
    f.clock.advance(Duration::minutes(2)).unwrap();
    let run = f.settle().await;
    assert_eq!(run["refunds"], json!({ "refunded": 1, "failed": 0 }));
    assert_eq!(f.escrow(&id).await, 0);
    assert_eq!(f.payable(&f.creator).await, 0);
    let states: Vec<String> = f
        .contribution_states(&id)
        .await
        .into_iter()
        .map(|(_, s, _)| s)
        .collect();
    assert_eq!(states, ["refunded", "refunded", "refunded"]);
    let (_, mine) = f.w.get(&b, "/v1/funding/me/contributions").await;
    for c in mine.as_array().unwrap() {
        assert_eq!(c["payment_state"], "refunded");
        assert_eq!(c["refunded_krw"], c["amount_krw"]);
    }
    // No credit for a failed project; every refund and the settlement audited.
    assert_eq!(f.credits_of(a.user_id).await, pmc(0));
    assert_eq!(f.credits_of(b.user_id).await, pmc(0));
    assert_eq!(f.audits("funding_contribution_refunded").await, 3);
    assert_eq!(f.audits("funding_project_settled").await, 1);
    let run = f.settle().await;
    assert_eq!(run["refunds"], json!({ "refunded": 0, "failed": 0 }));
    f.assert_e1().await;
}

/// Contributions paid in the last second race the settlement (run at the deadline): each one
/// is counted (escrow released, credits issued) or, if it got the project's lock after the
/// settlement, refunded. None is lost; escrow and credits are exact.
async fn race(pool: PgPool, goal: i64) {
    let f = Arc::new(funding(pool).await);
    let id = f.project(goal, 1_000, 50_000).await;
    let early = f.citizen("early@example.org").await;
    f.contribute(&early, &id, 50_000).await;
    let mut racers = vec![];
    for i in 0..10 {
        racers.push(f.citizen(&format!("racer{i}@example.org")).await);
    }
    // Half of them opened their payment earlier and the provider confirms it in the last
    // second (the payment path); the others contribute in the last second (the API path).
    let mut waiting = vec![];
    for (i, racer) in racers.iter().take(5).enumerate() {
        f.dev.push_next(DevOutcome::Wait);
        let c = f.contribute(racer, &id, 1_000 * (i as i64 + 1)).await;
        assert_eq!(c["state"], "pending");
        let payment = c["payment_id"].as_str().unwrap().to_owned();
        f.dev.set_outcome(
            &DevProvider::provider_payment_id(Uuid::parse_str(&payment).unwrap()),
            DevOutcome::Approve,
        );
        waiting.push((c, payment));
    }
    f.clock.set(deadline() - Duration::seconds(1)).unwrap();
    let mut tasks = vec![];
    for (i, racer) in racers.iter().cloned().enumerate() {
        let f = f.clone();
        let id = id.clone();
        let waiting = waiting.get(i).cloned();
        tasks.push(tokio::spawn(async move {
            let amount = 1_000 * (i as i64 + 1);
            match waiting {
                Some((contribution, payment)) => {
                    let (status, body) =
                        f.w.post(
                            &racer,
                            &format!("/v1/payments/{payment}/confirm"),
                            json!({}),
                            None,
                        )
                        .await;
                    assert_eq!(status, StatusCode::OK, "{body}");
                    (racer, amount, StatusCode::CREATED, contribution)
                }
                None => {
                    let (status, body) = f.contribute_raw(&racer, &id, amount).await;
                    (racer, amount, status, body)
                }
            }
        }));
    }
    let settler = {
        let f = f.clone();
        tokio::spawn(async move {
            tokio::task::yield_now().await;
            settle::settle_due(&f.w.app.state.db, deadline())
                .await
                .unwrap()
        })
    };
    let mut accepted = vec![];
    for t in tasks {
        let (racer, amount, status, body) = t.await.unwrap();
        match status {
            StatusCode::CREATED => accepted.push((racer, amount, body)),
            // Refused after the settlement closed it: no money was taken.
            StatusCode::UNPROCESSABLE_ENTITY => {
                assert_eq!(body["type"], problem("funding-project-not-open"), "{body}");
            }
            other => panic!("{other}: {body}"),
        }
    }
    let settled = settler.await.unwrap();
    assert_eq!(settled.len(), 1, "{settled:?}");
    // Whatever is still due after the race (nothing) and the late ones' refunds.
    assert!(
        settle::settle_due(&f.w.app.state.db, deadline())
            .await
            .unwrap()
            .is_empty()
    );
    settle::refund_pending(&f.w.app.state.db, &f.payments, deadline())
        .await
        .unwrap();

    let funded = settled[0].outcome == posmul_invest::funding::ProjectState::Funded;
    let mut counted = 50_000;
    let mut refunded = 0;
    for (racer, amount, body) in &accepted {
        let cid = body["id"].as_str().unwrap();
        let state: String =
            sqlx::query_scalar("SELECT state FROM invest.contributions WHERE id = $1::UUID")
                .bind(cid)
                .fetch_one(&f.w.app.db)
                .await
                .unwrap();
        match state.as_str() {
            "counted" => {
                assert!(funded);
                counted += amount;
                let pmc_owed = u64::try_from(*amount / 100).unwrap();
                assert_eq!(f.credits_of(racer.user_id).await, pmc(pmc_owed));
            }
            "refunded" => {
                refunded += 1;
                assert_eq!(f.credits_of(racer.user_id).await, pmc(0));
            }
            other => panic!("a racing contribution ended {other}"),
        }
    }
    let rejected = racers.len() - accepted.len();
    tracing::info!(accepted = accepted.len(), refunded, rejected, "the race");
    assert_eq!(f.escrow(&id).await, 0);
    if funded {
        assert_eq!(
            settled[0].raised_krw, counted,
            "the outcome counts exactly the counted"
        );
        assert_eq!(f.payable(&f.creator).await, counted);
        assert_eq!(f.credits_of(early.user_id).await, pmc(500));
    } else {
        assert_eq!(f.payable(&f.creator).await, 0);
        assert_eq!(f.credits_of(early.user_id).await, pmc(0));
        let left: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM invest.contributions WHERE project_id = $1::UUID AND state <> 'refunded'",
        )
        .bind(&id)
        .fetch_one(&f.w.app.db)
        .await
        .unwrap();
        assert_eq!(left, 0);
        let all: i64 = accepted.iter().map(|(_, a, _)| a).sum();
        assert!((50_000..=50_000 + all).contains(&settled[0].raised_krw));
    }
    // No payment into the escrow without its contribution.
    let orphans: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM invest.payments p WHERE p.target_kind = 'krw_escrow' AND p.target_id = $1::UUID
           AND NOT EXISTS (SELECT 1 FROM invest.contributions c WHERE c.payment_id = p.id)",
    )
    .bind(&id)
    .fetch_one(&f.w.app.db)
    .await
    .unwrap();
    assert_eq!(orphans, 0);
    f.assert_e1().await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn i3_a_deadline_racing_last_second_contributions_counts_or_refunds_each_funded(
    pool: PgPool,
) {
    race(pool, 50_000).await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn i3_a_deadline_racing_last_second_contributions_counts_or_refunds_each_failed(
    pool: PgPool,
) {
    race(pool, 10_000_000).await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn i3_settlement_run_concurrently_settles_each_project_once(pool: PgPool) {
    let f = Arc::new(funding(pool).await);
    let funded = f.project(10_000, 1_000, 50_000).await;
    let failed = f.project(90_000, 1_000, 50_000).await;
    let a = f.citizen("a@example.org").await;
    f.contribute(&a, &funded, 12_000).await;
    f.contribute(&a, &failed, 3_000).await;
    let mut runs = vec![];
    for _ in 0..4 {
        let f = f.clone();
        runs.push(tokio::spawn(async move {
            settle::settle_due(&f.w.app.state.db, deadline())
                .await
                .unwrap()
        }));
    }
    let mut settled = vec![];
    for r in runs {
        settled.extend(r.await.unwrap());
    }
    assert_eq!(settled.len(), 2, "{settled:?}");
    settle::refund_pending(&f.w.app.state.db, &f.payments, deadline())
        .await
        .unwrap();
    assert_eq!(f.payable(&f.creator).await, 12_000);
    assert_eq!(f.escrow(&funded).await, 0);
    assert_eq!(f.escrow(&failed).await, 0);
    assert_eq!(f.credits_of(a.user_id).await, pmc(120));
    let releases: i64 =
        sqlx::query_scalar("SELECT count(*) FROM ledger.transfers WHERE kind = 'escrow_release'")
            .fetch_one(&f.w.app.db)
            .await
            .unwrap();
    assert_eq!(releases, 1);
    assert_eq!(f.audits("funding_project_settled").await, 2);
    f.assert_e1().await;
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn i3_an_admin_refund_of_a_held_contribution_counts_only_what_is_left(pool: PgPool) {
    let f = funding(pool).await;
    let id = f.project(6_000, 1_000, 50_000).await;
    let a = f.citizen("a@example.org").await;
    let c = f.contribute(&a, &id, 10_000).await;
    let payment = c["payment_id"].as_str().unwrap();
    let (status, body) =
        f.w.post(
            &f.w.admin,
            &format!("/v1/admin/payments/{payment}/refunds"),
            json!({ "amount": 4_000, "reason": "asked by phone" }),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, mine) = f.w.get(&a, "/v1/funding/me/contributions").await;
    assert_eq!(mine[0]["state"], "held");
    assert_eq!(mine[0]["refunded_krw"], 4_000);
    let (_, project) = f.w.get(&a, &format!("/v1/funding/projects/{id}")).await;
    assert_eq!(project["raised_krw"], 6_000);

    f.clock.set(deadline()).unwrap();
    let run = f.settle().await;
    assert_eq!(run["settled"][0]["outcome"], "funded", "{run}");
    assert_eq!(run["settled"][0]["raised_krw"], 6_000);
    assert_eq!(f.escrow(&id).await, 0);
    assert_eq!(f.payable(&f.creator).await, 6_000);
    assert_eq!(f.credits_of(a.user_id).await, pmc(60));
    f.assert_e1().await;
}
