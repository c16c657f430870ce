//! What the HTTP benchmarks (`api-bench`, `stakes-bench`) share: a scratch database on the
//! server of `DATABASE_URL`, registered citizens whose e-mail is verified (so they hold the
//! sign-up grant, E5), games to stake on, and a closed-loop load generator that reports rate,
//! p50 and p99.

use std::{
    collections::HashMap,
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use posmul_core::config::Env;
use rand::{SeedableRng, rngs::StdRng};
use serde_json::json;
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

/// The server part of `DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`):
/// scheme, credentials, host and port; the database name is the bench's to choose.
pub fn server_url(env: &Env) -> String {
    let url = env
        .raw("DATABASE_URL")
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into());
    match url.rfind('/') {
        Some(i) if i > "postgres://".len() => url[..i].to_owned(),
        _ => url,
    }
}

/// Latencies and counts of one load phase.
pub struct Run {
    pub ok: u64,
    pub failed: u64,
    pub elapsed: Duration,
    /// Sorted ascending.
    pub latencies_us: Vec<u32>,
}

impl Run {
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    pub fn percentile(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let idx = ((self.latencies_us.len() - 1) as f64 * p).round() as usize;
        f64::from(self.latencies_us[idx]) / 1000.0
    }

    pub fn line(&self, name: &str) -> String {
        format!(
            "{name:<34} {:>10.0}/s   p50 {:>7.2} ms   p99 {:>7.2} ms   ({} ok, {} failed)",
            self.rate(),
            self.percentile(0.50),
            self.percentile(0.99),
            self.ok,
            self.failed
        )
    }
}

/// True when the response has status `want` and its body arrived whole.
pub async fn succeeded(res: reqwest::Result<reqwest::Response>, want: u16) -> bool {
    match res {
        Ok(r) if r.status().as_u16() == want => r.bytes().await.is_ok(),
        _ => false,
    }
}

/// Registers `n` citizens and verifies their e-mail with the tokens the API wrote to
/// `mailbox` (the bench runs the API with a mailbox folder), so each holds the sign-up grant;
/// returns (user id, access token) each.
pub async fn register(
    client: &reqwest::Client,
    base: &str,
    mailbox: &Path,
    n: usize,
) -> anyhow::Result<Vec<(Uuid, String)>> {
    let mut users = Vec::with_capacity(n);
    for i in 0..n {
        let res = client
            .post(format!("{base}/v1/auth/register"))
            .json(&json!({ "email": format!("bench{i}@example.org"), "password": "bench password 0123456789" }))
            .send()
            .await?;
        if res.status() != 201 {
            bail!(
                "register failed: {} {}",
                res.status(),
                res.text().await.unwrap_or_default()
            );
        }
        let pair: serde_json::Value = res.json().await?;
        let id = pair["user_id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .context("no user_id")?;
        let token = pair["access_token"]
            .as_str()
            .context("no access_token")?
            .to_owned();
        users.push((id, token));
    }
    let tokens = mailed_tokens(mailbox, n).await?;
    for (i, token) in tokens.iter().enumerate() {
        let res = client
            .post(format!("{base}/v1/auth/email/verify"))
            .json(&json!({ "token": token }))
            .send()
            .await?;
        if res.status() != 200 {
            bail!(
                "verifying bench{i}@example.org failed: {} {}",
                res.status(),
                res.text().await.unwrap_or_default()
            );
        }
    }
    Ok(users)
}

/// The verification tokens mailed to `bench0@…` … `bench<n-1>@…`, waiting up to 30 s for them.
async fn mailed_tokens(mailbox: &Path, n: usize) -> anyhow::Result<Vec<String>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut found: HashMap<String, String> = HashMap::new();
        if let Ok(entries) = std::fs::read_dir(mailbox) {
            for entry in entries.flatten() {
                let Ok(text) = std::fs::read_to_string(entry.path()) else {
                    continue;
                };
                // Long lines (the link) come quoted-printable: join soft breaks, decode `=3D`.
                let text = text
                    .replace("=\r\n", "")
                    .replace("=\n", "")
                    .replace("=3D", "=");
                let to = text
                    .lines()
                    .find_map(|l| l.strip_prefix("To: "))
                    .map(str::to_owned);
                let token = text.split("/verify-email?token=").nth(1).map(|rest| {
                    rest.chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                        .collect::<String>()
                });
                if let (Some(to), Some(token)) = (to, token) {
                    found.insert(to, token);
                }
            }
        }
        let tokens: Option<Vec<String>> = (0..n)
            .map(|i| found.get(&format!("bench{i}@example.org")).cloned())
            .collect();
        if let Some(tokens) = tokens {
            return Ok(tokens);
        }
        if Instant::now() > deadline {
            bail!(
                "the verification mails did not all arrive in {}",
                mailbox.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Creates game `i` (binary, stakes 1–1000 PMP) as a moderator, starting at `starts`.
pub async fn create_game(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    i: usize,
    starts: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Uuid> {
    const CATEGORIES: [&str; 4] = ["sports", "politics", "entertainment", "invest"];
    let res = client
        .post(format!("{base}/v1/predictions/games"))
        .bearer_auth(token)
        .json(&json!({
            "title": format!("Bench game {i}"),
            "description": "A game of the stakes benchmark, with a long enough description.",
            "game_type": "binary",
            "category": CATEGORIES[i % CATEGORIES.len()],
            "subcategory": "bench",
            "league": "Bench League",
            "importance": 3,
            "min_stake": 1,
            "max_stake": 1000,
            "max_participants": null,
            "starts_at": starts,
            "ends_at": starts + chrono::Duration::hours(1),
            "settles_at": starts + chrono::Duration::hours(2),
            "options": ["Yes", "No"],
        }))
        .send()
        .await?;
    if res.status() != 201 {
        bail!(
            "create game failed: {} {}",
            res.status(),
            res.text().await.unwrap_or_default()
        );
    }
    let game: serde_json::Value = res.json().await?;
    game["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .context("no game id")
}

/// Runs `clients` workers for `duration`, each awaiting `request(worker, rng)` in a loop; a
/// request's latency is the time it took when it returns true.
pub async fn load<F, Fut>(clients: usize, duration: Duration, request: F) -> Run
where
    F: Fn(usize, &mut StdRng) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    load_timed(clients, duration, move |worker, rng: &mut StdRng| {
        let fut = request(worker, rng);
        async move {
            let t = Instant::now();
            fut.await.then(|| t.elapsed())
        }
    })
    .await
}

/// Like [`load`], but each request reports the latency to record itself (`None`: it failed),
/// for requests that do more than the step they measure.
pub async fn load_timed<F, Fut>(clients: usize, duration: Duration, request: F) -> Run
where
    F: Fn(usize, &mut StdRng) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Option<Duration>> + Send,
{
    let start = Instant::now();
    let deadline = start + duration;
    let workers: Vec<_> = (0..clients)
        .map(|worker| {
            let request = request.clone();
            tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(worker as u64);
                let (mut ok, mut failed, mut latencies) = (0u64, 0u64, Vec::with_capacity(4096));
                while Instant::now() < deadline {
                    match request(worker, &mut rng).await {
                        Some(latency) => {
                            ok += 1;
                            latencies.push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
                        }
                        None => failed += 1,
                    }
                }
                (ok, failed, latencies)
            })
        })
        .collect();
    let mut run = Run {
        ok: 0,
        failed: 0,
        elapsed: Duration::ZERO,
        latencies_us: Vec::new(),
    };
    for w in workers {
        if let Ok((ok, failed, latencies)) = w.await {
            run.ok += ok;
            run.failed += failed;
            run.latencies_us.extend(latencies);
        }
    }
    run.elapsed = start.elapsed();
    run.latencies_us.sort_unstable();
    run
}

/// (Re)creates database `name` on the server at `server_url`.
pub async fn create_database(server_url: &str, name: &str) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(&format!("{server_url}/postgres"))
        .await
        .context("failed to connect to PostgreSQL")?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\""
    )))
    .execute(&mut conn)
    .await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut conn)
        .await?;
    Ok(())
}

/// Drops database `name` (with FORCE: background jobs may still hold a connection).
pub async fn drop_database(server_url: &str, name: &str) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(&format!("{server_url}/postgres")).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await?;
    Ok(())
}
