//! `invest-bench`: the Local League's distance search (I2) beside a plain indexed lookup, and
//! the Major League's view completions on one hot campaign (I1) beside the ledger's own
//! transfers, in one run.
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo run --release -p posmul-invest --bin invest-bench
//! ```
//!
//! Against the PostgreSQL server of `DATABASE_URL` (only its server is used; the role must be
//! a superuser, since the stores' migration creates `earthdistance`):
//! 1. creates a fresh database `posmul_invest_bench_<pid>` and migrates it;
//! 2. inserts `BENCH_STORES` verified stores (one multi-row `INSERT … SELECT`) scattered over
//!    about 30 × 30 km around Seoul's city hall, then runs `BENCH_SEARCHES` searches within
//!    3 km of random points in that area with [`posmul_invest::stores::search`] (the first page
//!    of 50, nearest first), and as many primary-key `SELECT`s of random stores: p50 and p99 of
//!    each, one client, and their ratio;
//! 3. funds one campaign (a dev payment through [`posmul_invest::payments::create`], so the
//!    budget is issued by the real path) and runs `BENCH_CLIENTS` concurrent clients for
//!    `BENCH_SECONDS`, each viewing it with its own citizens: start, three heartbeats, complete
//!    after 30 covered seconds (a full view; times are passed explicitly, as a manual clock
//!    would give them), five transactions a view, all on the campaign's row and budget account;
//! 4. the same clients for the same time send the ledger's plain [`ledger::transfer`] of the same
//!    PMP from one hot account to the same citizens: the baseline; prints completions/s ÷
//!    transfers/s;
//! 5. checks E1 and that the campaign's paid + budget left = funded, then drops the database.
//!
//! Variables: `BENCH_STORES` (100000), `BENCH_SEARCHES` (2000), `BENCH_CLIENTS` (16),
//! `BENCH_SECONDS` (10), `BENCH_VIEWERS` (1024), `BENCH_POOL` (32).

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use chrono::{DateTime, TimeDelta, Utc};
use posmul_core::{config::Env, money::Krw, money::Pmp};
use posmul_economy::{
    ledger::{self, Account, Reference, ReferenceKind, TransferKind, TransferRequest},
    rates::{self, Rates},
};
use posmul_invest::{
    ads::{self, NewCampaign, views},
    payments::{self, NewPaymentRequest, Payments, ProviderKind, Target, dev::DevProvider},
    stores::{self, Search},
};
use sqlx::{Connection as _, PgConnection, PgPool, postgres::PgPoolOptions};
use uuid::Uuid;

const SEOUL: (f64, f64) = (37.5665, 126.9780);
/// Half the side of the area, in degrees (about 15 km north-south, 13 km east-west).
const SPREAD: f64 = 0.135;
const REWARD: i64 = 10;

struct Settings {
    server_url: String,
    stores: i64,
    searches: usize,
    clients: usize,
    seconds: u64,
    viewers: usize,
    pool: u32,
}

/// A small deterministic generator (xorshift64*): the bench needs spread, not secrecy.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [-1, 1).
    #[allow(clippy::cast_precision_loss)]
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let env = Env::process();
    let url = env
        .raw("DATABASE_URL")
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let server_url = match url.rfind('/') {
        Some(i) if i > "postgres://".len() => url[..i].to_owned(),
        _ => url,
    };
    let s = Settings {
        server_url,
        stores: env.or("BENCH_STORES", 100_000)?,
        searches: env.or("BENCH_SEARCHES", 2_000)?,
        clients: env.or("BENCH_CLIENTS", 16)?,
        seconds: env.or("BENCH_SECONDS", 10)?,
        viewers: env.or("BENCH_VIEWERS", 1_024)?,
        pool: env.or("BENCH_POOL", 32)?,
    };
    if s.clients == 0 || s.viewers < s.clients || s.stores < 1 || s.searches == 0 {
        bail!(
            "BENCH_CLIENTS ≥ 1, BENCH_VIEWERS ≥ BENCH_CLIENTS, BENCH_STORES and BENCH_SEARCHES ≥ 1"
        );
    }
    let name = format!("posmul_invest_bench_{}", std::process::id());
    admin_sql(
        &s.server_url,
        &format!("DROP DATABASE IF EXISTS \"{name}\""),
    )
    .await?;
    admin_sql(&s.server_url, &format!("CREATE DATABASE \"{name}\"")).await?;
    let result = run(&s, &name).await;
    admin_sql(
        &s.server_url,
        &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
    )
    .await?;
    result
}

async fn admin_sql(server_url: &str, sql: &str) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(&format!("{server_url}/postgres"))
        .await
        .context("failed to connect to PostgreSQL")?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await?;
    Ok(())
}

async fn run(s: &Settings, name: &str) -> anyhow::Result<()> {
    let db = PgPoolOptions::new()
        .max_connections(s.pool)
        .connect(&format!("{}/{name}", s.server_url))
        .await
        .context("failed to connect to the bench database")?;
    posmul_core::db::MIGRATOR
        .run(&db)
        .await
        .context("failed to migrate")?;
    let merchant = Uuid::now_v7();
    sqlx::query("INSERT INTO auth.users (id, email) VALUES ($1, 'bench-merchant@example.org')")
        .bind(merchant)
        .execute(&db)
        .await?;
    sqlx::query("INSERT INTO auth.user_roles (user_id, role) VALUES ($1, 'merchant')")
        .bind(merchant)
        .execute(&db)
        .await?;

    search_vs_lookup(s, &db, merchant).await?;
    views_vs_ledger(s, &db, merchant).await?;
    db.close().await;
    Ok(())
}

async fn search_vs_lookup(s: &Settings, db: &PgPool, merchant: Uuid) -> anyhow::Result<()> {
    let t = Instant::now();
    // One connection, so the seed holds for the insert: the same stores every run.
    let mut conn = db.acquire().await?;
    sqlx::query("SELECT setseed(0.42)")
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO invest.stores (id, merchant_id, name, category, address, lat, lon, non_franchise,
                                    verified_at, verified_by, created_at)
         SELECT gen_random_uuid(), $1, 'Store ' || g, (ARRAY['cafe', 'bakery', 'bookshop', 'grocery'])[1 + g % 4],
                g || ' Bench street, Seoul', $2 + (random() * 2 - 1) * $4, $3 + (random() * 2 - 1) * $4, true,
                now(), $1, now()
         FROM generate_series(1, $5) AS g",
    )
    .bind(merchant)
    .bind(SEOUL.0)
    .bind(SEOUL.1)
    .bind(SPREAD)
    .bind(s.stores)
    .execute(&mut *conn)
    .await?;
    drop(conn);
    sqlx::query("ANALYZE invest.stores").execute(db).await?;
    let ids: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM invest.stores")
        .fetch_all(db)
        .await?;
    println!(
        "inserted {} verified stores around Seoul in {:.1} s",
        ids.len(),
        t.elapsed().as_secs_f64()
    );

    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut search = Vec::with_capacity(s.searches);
    let mut found = 0usize;
    // A few warm-up queries so both sides read a warm cache.
    for _ in 0..20 {
        let _ = stores::search(
            db,
            &Search {
                lat: SEOUL.0,
                lon: SEOUL.1,
                radius_m: 3_000.0,
                category: None,
                text: None,
                after: None,
                limit: 50,
            },
        )
        .await?;
    }
    for _ in 0..s.searches {
        let (lat, lon) = (SEOUL.0 + rng.unit() * SPREAD, SEOUL.1 + rng.unit() * SPREAD);
        let t = Instant::now();
        let page = stores::search(
            db,
            &Search {
                lat,
                lon,
                radius_m: 3_000.0,
                category: None,
                text: None,
                after: None,
                limit: 50,
            },
        )
        .await?;
        search.push(t.elapsed());
        found += page.len();
    }
    let mut lookup = Vec::with_capacity(s.searches);
    for _ in 0..s.searches {
        #[allow(clippy::cast_possible_truncation)]
        let id = ids[(rng.next() % ids.len() as u64) as usize];
        let t = Instant::now();
        let row: Option<(Uuid, String, f64, f64)> =
            sqlx::query_as("SELECT id, name, lat, lon FROM invest.stores WHERE id = $1")
                .bind(id)
                .fetch_optional(db)
                .await?;
        lookup.push(t.elapsed());
        if row.is_none() {
            bail!("a store vanished");
        }
    }
    search.sort();
    lookup.sort();
    #[allow(clippy::cast_precision_loss)]
    let avg = found as f64 / s.searches as f64;
    let (sp50, sp99) = (percentile(&search, 0.5), percentile(&search, 0.99));
    let (lp50, lp99) = (percentile(&lookup, 0.5), percentile(&lookup, 0.99));
    println!(
        "store search within 3 km over {} stores, first page of 50 ({} searches, {avg:.1} found on average): p50 {sp50:.3} ms, p99 {sp99:.3} ms",
        ids.len(),
        s.searches
    );
    println!(
        "primary-key lookup of a store (same run, same client): p50 {lp50:.3} ms, p99 {lp99:.3} ms"
    );
    println!(
        "ratio search ÷ lookup: p50 {:.1}×, p99 {:.1}×",
        sp50 / lp50,
        sp99 / lp99
    );
    Ok(())
}

/// Runs `clients` loops for `seconds`; each call of `op(client, i)` is one unit of work.
async fn load<F, Fut>(
    clients: usize,
    seconds: u64,
    op: F,
) -> anyhow::Result<(u64, Vec<Duration>, f64)>
where
    F: Fn(usize, u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let op = op.clone();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                op(c, i).await?;
                lat.push(t.elapsed());
                i += 1;
            }
            anyhow::Ok(lat)
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    Ok((all.len() as u64, all, elapsed))
}

async fn views_vs_ledger(s: &Settings, db: &PgPool, merchant: Uuid) -> anyhow::Result<()> {
    let base: DateTime<Utc> = "2031-06-01T00:00:00Z".parse()?;
    // Enough views a day for the bench's citizens (the default is 20 over all campaigns).
    rates::set_version(
        db,
        &Rates {
            ad_views_per_day: 10_000,
            ..Rates::DEFAULT
        },
        None,
        merchant,
        (base - TimeDelta::days(2)).date_naive(),
    )
    .await?;
    let viewers: Vec<Uuid> = (0..s.viewers).map(|_| Uuid::now_v7()).collect();
    sqlx::query("INSERT INTO auth.users (id, email) SELECT id, 'v' || id || '@example.org' FROM unnest($1::UUID[]) AS u(id)")
        .bind(&viewers)
        .execute(db)
        .await?;
    let campaign = ads::create(
        db,
        base,
        merchant,
        &NewCampaign {
            title: "Hot campaign".into(),
            creative_url: "https://cdn.example.org/hot.mp4".into(),
            length_secs: 30,
            reward: REWARD,
            survey: None,
            daily_limit: 1_000,
            starts_at: base - TimeDelta::days(1),
            ends_at: base + TimeDelta::days(3_650),
        },
    )
    .await?;
    let payments = Payments {
        dev: Some(DevProvider::new(
            "bench-secret",
            chrono::Duration::minutes(5),
        )),
        max_krw: 1_000_000_000,
        ..Payments::default()
    };
    let mut tx = db.begin().await?;
    let payment = payments::create(
        &mut tx,
        &payments,
        base,
        merchant,
        &NewPaymentRequest {
            provider: ProviderKind::Dev,
            amount: Krw::new(100_000_000),
            target: Target::CampaignFunding(campaign.id),
            description: "bench budget".into(),
            store_id: None,
        },
    )
    .await?;
    tx.commit().await?;
    let funded = ads::get(db, campaign.id, base).await?.funded;
    println!(
        "campaign funded by payment {} ({}): {funded} PMP",
        payment.id,
        payment.state.as_str()
    );

    // Each client views with its own citizens, on its own timeline: a view every 30 s.
    let per_client = s.viewers / s.clients;
    let viewers = Arc::new(viewers);
    let (db2, vw, id) = (db.clone(), viewers.clone(), campaign.id);
    let (views_done, view_lat, view_secs) = load(s.clients, s.seconds, move |c, i| {
        let (db, vw) = (db2.clone(), vw.clone());
        async move {
            #[allow(clippy::cast_possible_truncation)]
            let user = vw[c * per_client + (i as usize % per_client)];
            #[allow(clippy::cast_possible_wrap)]
            let t0 = base + TimeDelta::seconds(i as i64 * 31);
            let mut tx = db.begin().await?;
            let view = views::start(&mut tx, t0, user, id).await?;
            tx.commit().await?;
            for k in 1..=3 {
                views::heartbeat(&db, t0 + TimeDelta::seconds(10 * k), user, view.id).await?;
            }
            let done =
                views::complete(&db, t0 + TimeDelta::seconds(30), user, view.id, None).await?;
            if done.paid != REWARD {
                bail!("a full view paid {}", done.paid);
            }
            Ok(())
        }
    })
    .await?;

    // The baseline: the same PMP from one hot account to the same citizens, plain transfers.
    let source = Account::campaign_budget(Uuid::now_v7());
    let mut tx = db.begin().await?;
    ledger::transfer(
        &mut tx,
        TransferRequest {
            from: Account::ISSUANCE,
            to: source,
            amount: Pmp::new(1_000_000_000),
            kind: TransferKind::CampaignFunding,
            reference: Reference {
                kind: ReferenceKind::Campaign,
                id: source.reference_id,
            },
            idempotency_key: None,
            memo: None,
        },
    )
    .await?;
    tx.commit().await?;
    let (db3, vw) = (db.clone(), viewers.clone());
    let (transfers, transfer_lat, transfer_secs) = load(s.clients, s.seconds, move |c, i| {
        let (db, vw) = (db3.clone(), vw.clone());
        async move {
            #[allow(clippy::cast_possible_truncation)]
            let user = vw[c * per_client + (i as usize % per_client)];
            let mut tx = db.begin().await?;
            ledger::transfer(
                &mut tx,
                TransferRequest {
                    from: source,
                    to: Account::user(user),
                    amount: Pmp::new(REWARD),
                    kind: TransferKind::AdReward,
                    reference: Reference {
                        kind: ReferenceKind::Campaign,
                        id: source.reference_id,
                    },
                    idempotency_key: None,
                    memo: None,
                },
            )
            .await?;
            tx.commit().await?;
            Ok(())
        }
    })
    .await?;

    #[allow(clippy::cast_precision_loss)]
    let (vps, tps) = (
        views_done as f64 / view_secs,
        transfers as f64 / transfer_secs,
    );
    println!(
        "view completions on one hot campaign ({} clients, start + 3 heartbeats + complete = 5 transactions): {views_done} in {view_secs:.1} s = {vps:.0}/s; per view p50 {:.2} ms, p99 {:.2} ms",
        s.clients,
        percentile(&view_lat, 0.5),
        percentile(&view_lat, 0.99)
    );
    println!(
        "ledger baseline (ledger::transfer of {REWARD} PMP from one hot account, same clients): {transfers} in {transfer_secs:.1} s = {tps:.0}/s; p50 {:.2} ms, p99 {:.2} ms",
        percentile(&transfer_lat, 0.5),
        percentile(&transfer_lat, 0.99)
    );
    println!("ratio completions/s ÷ transfers/s: {:.2}", vps / tps);

    // E1 and the campaign's books.
    let mut conn = db.acquire().await?;
    let audit = ledger::audit(&mut conn).await?;
    let left = ledger::balance(&mut conn, Account::campaign_budget(campaign.id)).await?;
    let c = ads::get(db, campaign.id, base).await?;
    #[allow(clippy::cast_possible_wrap)]
    let expected_paid = views_done as i64 * REWARD;
    if !audit.is_exact()
        || c.reserved != 0
        || c.paid + left.get() != c.funded
        || c.paid != expected_paid
    {
        bail!("the books do not hold: {audit:?}, campaign {c:?}, budget left {left}");
    }
    println!(
        "checked: E1 exact; campaign paid {} + left {} = funded {}",
        c.paid,
        left.get(),
        c.funded
    );
    Ok(())
}
