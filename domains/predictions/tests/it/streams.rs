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
