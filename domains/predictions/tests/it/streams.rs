use std::time::Duration;

use posmul_predictions::scheduler;
use serde_json::Value;
use sqlx::PgPool;

use crate::support::{GameBuilder, World, set_budget, wei};

/// An SSE response read event by event (what was read past an event is kept for the next).
pub(crate) struct Events {
    res: reqwest::Response,
    buf: String,
}

impl Events {
    /// Opens a stream and reads its `open` event.
    pub(crate) async fn open(req: reqwest::RequestBuilder) -> Events {
        let res = req
            .header("accept", "text/event-stream")
            .send()
            .await
            .expect("open the stream");
        assert_eq!(res.status(), 200);
        let mut events = Events {
            res,
            buf: String::new(),
        };
        events.next("open").await;
        events
    }

    /// The next event of `kind` (earlier events of other kinds are skipped).
    pub(crate) async fn next(&mut self, kind: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(at) = self.buf.find(&format!("event: {kind}\ndata: "))
                && let Some(len) = self.buf[at..].find("\n\n")
            {
                let block: String = self.buf[at..at + len].to_owned();
                self.buf.drain(..at + len + 2);
                let data = block
                    .lines()
                    .find_map(|l| l.strip_prefix("data: "))
                    .unwrap_or("null");
                return serde_json::from_str(data).expect("JSON event data");
            }
            let chunk = tokio::time::timeout_at(deadline, self.res.chunk())
                .await
                .expect("event in time")
                .expect("stream readable");
            self.buf
                .push_str(&String::from_utf8_lossy(&chunk.expect("stream open")));
        }
    }
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn game_and_user_streams_deliver_stakes_settlements_and_credits(pool: PgPool) {
    let w = World::new(pool.clone()).await;
    let resolver = w.resolver().await;
    let a = w.user("a@example.org").await;
    set_budget(&pool, wei(24_000)).await;
    let game = w.game(GameBuilder::new("sports", "Derby winner")).await;
    let events_url = w.app.url(&game.path("/events"));
    let plain = w.app.client.get(&events_url).send().await.unwrap();
    assert_eq!(
        plain.status(),
        406,
        "a stream only for clients that ask for one"
    );
    let mut game_stream = Events::open(w.app.client.get(&events_url)).await;
    let mut user_stream = Events::open(
        w.app
            .client
            .get(w.app.url("/v1/predictions/me/events"))
            .bearer_auth(&a.access_token),
    )
    .await;

    game.stake(&w.app, &a, 0, 100).await;
    let e = game_stream.next("stake").await;
    assert_eq!(e["payload"]["amount"], 100);
    assert_eq!(e["payload"]["totals"][0]["total_staked"], 100);
    game.close(&w).await;
    scheduler::transitions(&pool, w.now().await).await.unwrap();
    // (The app's own scheduler may have streamed `active` before.)
    let mut e = game_stream.next("status").await;
    if e["payload"]["status"] == "active" {
        e = game_stream.next("status").await;
    }
    assert_eq!(
        e["payload"]["status"], "closed",
        "state changes are streamed"
    );
    game.settle(&w.app, &resolver, 0).await;
    let e = game_stream.next("settled").await;
    assert_eq!(e["payload"]["winning_option"], 0);
    let e = user_stream.next("credit").await;
    assert_eq!(e["payload"]["amount_wei"], "1000");
    let no_stream = w
        .app
        .client
        .get(w.app.url("/v1/predictions/me/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_stream.status(), 401);
}

/// A stream's request, sent; the response is returned whatever its status.
async fn request_stream(req: reqwest::RequestBuilder) -> reqwest::Response {
    req.header("accept", "text/event-stream")
        .send()
        .await
        .expect("stream request")
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn u2_event_streams_are_bounded_per_client_and_in_total(pool: PgPool) {
    // The attack: one client opens streams until the replica's connections and memory are gone.
    let w = World::with_config(pool, |c| {
        c.sse_streams_per_client = 2;
        c.sse_streams_total = 3;
    })
    .await;
    let a = w.user("a@example.org").await;
    let b = w.user("b@example.org").await;
    let mine = || {
        w.app
            .client
            .get(w.app.url("/v1/predictions/me/events"))
            .bearer_auth(&a.access_token)
    };
    let first = Events::open(mine()).await;
    let second = Events::open(mine()).await;
    let third = request_stream(mine()).await;
    assert_eq!(third.status(), 429, "a third stream of one user");
    assert!(third.headers().contains_key("retry-after"));
    let body: Value = third.json().await.unwrap();
    assert_eq!(body["type"], "https://posmul.dev/problems/too-many-streams");

    // Another user has slots of their own, up to the replica's total.
    let theirs = || {
        w.app
            .client
            .get(w.app.url("/v1/predictions/me/events"))
            .bearer_auth(&b.access_token)
    };
    let _b1 = Events::open(theirs()).await;
    let over = request_stream(theirs()).await;
    assert_eq!(over.status(), 429, "the replica's total is reached");

    // A closed stream frees its slot.
    drop(first);
    let mut reopened = None;
    for _ in 0..100 {
        let res = request_stream(mine()).await;
        if res.status() == 200 {
            reopened = Some(res);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        reopened.is_some(),
        "the slot came back when the stream closed"
    );
    drop(second);
}
