//! Real-time streams (server-sent events): a game's stream (stakes, totals, status changes,
//! settlement) and a user's stream (their settlements and credits).
//!
//! Writers call [`game_event`] / [`user_event`] inside their transaction: the event is a
//! `pg_notify` on [`CHANNEL`], which PostgreSQL delivers only when the transaction commits — so a
//! stream never shows a stake that was rolled back, and every API replica (and the scheduler)
//! feeds every replica's streams. Each replica holds one `LISTEN` connection ([`Hub`]) and fans
//! the notifications out to its subscribers through a broadcast channel.
//!
//! A stream is served only to a client that asks for one (`Accept: text/event-stream`, as every
//! `EventSource` does); anything else gets a 406 `not-acceptable`, so a generic HTTP client
//! never blocks on a response that does not end.
//!
//! Open streams are bounded per client (the signed-in user, or the client address for the public
//! game streams: `SSE_STREAMS_PER_CLIENT`, 5) and per replica (`SSE_STREAMS_TOTAL`, 1000): a
//! stream beyond either is refused with 429 `too-many-streams` and `Retry-After`, so nobody holds
//! a replica's connections and memory by opening streams ([`StreamSlots`]). A slot is freed when
//! the client goes away and its response stream is dropped.

use std::{
    collections::HashMap,
    convert::Infallible,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    extract::FromRequestParts,
    http::{StatusCode, header, request::Parts},
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool, postgres::PgListener};
use tokio::sync::{OnceCell, broadcast};
use uuid::Uuid;

use posmul_api_kit::error::{ApiError, Problem};

/// The problem kind of a stream refused by [`StreamSlots`].
pub const TOO_MANY_STREAMS: &str = "too-many-streams";

/// The open streams of this replica, per client and in all.
#[derive(Debug, Default)]
pub struct StreamSlots {
    open: Mutex<(usize, HashMap<String, usize>)>,
}

/// One open stream's slot; freed when dropped (with the response stream that holds it).
#[derive(Debug)]
pub struct StreamSlot {
    slots: Arc<StreamSlots>,
    client: String,
}

impl StreamSlots {
    /// Takes a slot for `client` unless it has `per_client` open or the replica `total`.
    pub fn acquire(
        self: &Arc<Self>,
        client: String,
        per_client: usize,
        total: usize,
    ) -> Result<StreamSlot, ApiError> {
        let refused = |detail: &'static str| ApiError::Throttled {
            kind: TOO_MANY_STREAMS,
            detail: detail.into(),
            retry_after_secs: 5,
        };
        let mut open = self
            .open
            .lock()
            .map_err(|_| ApiError::internal(anyhow::anyhow!("stream slots poisoned")))?;
        if open.0 >= total {
            return Err(refused(
                "this server has as many event streams open as it serves; retry later",
            ));
        }
        let mine = open.1.entry(client.clone()).or_insert(0);
        if *mine >= per_client {
            return Err(refused(
                "you have as many event streams open as one client may; close one first",
            ));
        }
        *mine += 1;
        open.0 += 1;
        metrics::gauge!("predictions_event_streams_open").set(open.0 as f64);
        Ok(StreamSlot {
            slots: Arc::clone(self),
            client,
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.slots.open.lock() {
            open.0 = open.0.saturating_sub(1);
            if let Some(n) = open.1.get_mut(&self.client) {
                *n -= 1;
                if *n == 0 {
                    open.1.remove(&self.client);
                }
            }
            metrics::gauge!("predictions_event_streams_open").set(open.0 as f64);
        }
    }
}

/// The notification channel.
pub const CHANNEL: &str = "predictions_events";

/// One event as streamed: `event: <kind>`, `data: <this as JSON>`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StreamEvent {
    /// `created`, `updated`, `status`, `stake`, `withdrawal`, `settled`, `cancelled`,
    /// `corrected` (game streams); `settlement`, `credit`, `refund` (user streams).
    pub kind: String,
    pub game_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

/// Records a game event and notifies the game's stream at commit.
pub async fn game_event(
    conn: &mut PgConnection,
    game_id: Uuid,
    kind: &str,
    payload: serde_json::Value,
) -> sqlx::Result<()> {
    let notification = notification(kind, Some(game_id), None, &payload);
    sqlx::query!(
        "WITH e AS (INSERT INTO predictions.game_events (game_id, kind, payload) VALUES ($1, $2, $3) RETURNING 1)
         SELECT pg_notify($4, $5) FROM e",
        game_id,
        kind,
        payload,
        CHANNEL,
        notification,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Notifies a user's stream at commit.
pub async fn user_event(
    conn: &mut PgConnection,
    user_id: Uuid,
    kind: &str,
    payload: serde_json::Value,
) -> sqlx::Result<()> {
    let notification = notification(kind, None, Some(user_id), &payload);
    sqlx::query!("SELECT pg_notify($1, $2)", CHANNEL, notification)
        .execute(conn)
        .await?;
    Ok(())
}

fn notification(
    kind: &str,
    game_id: Option<Uuid>,
    user_id: Option<Uuid>,
    payload: &serde_json::Value,
) -> String {
    serde_json::to_string(&StreamEvent {
        kind: kind.to_owned(),
        game_id,
        user_id,
        payload: payload.clone(),
    })
    .unwrap_or_default()
}

/// The replica's one listener and its fan-out; started on the first subscription.
#[derive(Default)]
pub struct Hub {
    sender: OnceCell<broadcast::Sender<Arc<StreamEvent>>>,
}

impl Hub {
    /// Subscribes to every event (starting the listener if needed).
    pub async fn subscribe(
        &self,
        db: &PgPool,
    ) -> sqlx::Result<broadcast::Receiver<Arc<StreamEvent>>> {
        let sender = self
            .sender
            .get_or_try_init(|| async {
                let mut listener = PgListener::connect_with(db).await?;
                listener.listen(CHANNEL).await?;
                let (tx, _) = broadcast::channel(1024);
                let out = tx.clone();
                tokio::spawn(async move {
                    loop {
                        match listener.recv().await {
                            Ok(n) => match serde_json::from_str::<StreamEvent>(n.payload()) {
                                Ok(e) => {
                                    let _ = out.send(Arc::new(e));
                                }
                                Err(e) => tracing::warn!(error = %e, "unreadable predictions notification"),
                            },
                            Err(e) => {
                                // PgListener reconnects by itself on the next recv.
                                tracing::warn!(error = %e, "predictions listener error");
                                tokio::time::sleep(Duration::from_secs(1)).await;
                            }
                        }
                    }
                });
                Ok::<_, sqlx::Error>(tx)
            })
            .await?;
        Ok(sender.subscribe())
    }
}

/// An SSE response of the events `keep` accepts; it holds `slot` until the client goes away.
pub fn stream(
    rx: broadcast::Receiver<Arc<StreamEvent>>,
    slot: StreamSlot,
    keep: impl Fn(&StreamEvent) -> bool + Send + 'static,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let events = tokio_stream_from(rx).filter_map(move |e| {
        let _held = &slot;
        let out = if keep(&e) {
            Event::default()
                .event(e.kind.clone())
                .json_data(&*e)
                .ok()
                .map(Ok)
        } else {
            None
        };
        async move { out }
    });
    let opening = futures::stream::once(async { Ok(Event::default().event("open").data("{}")) });
    Sse::new(opening.chain(events)).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// A broadcast receiver as a stream; a lagging subscriber skips what it missed.
fn tokio_stream_from(
    rx: broadcast::Receiver<Arc<StreamEvent>>,
) -> impl Stream<Item = Arc<StreamEvent>> {
    futures::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(e) => return Some((e, rx)),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::debug!(skipped = n, "a predictions stream lagged");
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
}

/// The request asked for an event stream (`Accept: text/event-stream`); otherwise 406.
#[derive(Debug, Clone, Copy)]
pub struct AcceptsEventStream;

impl<S: Send + Sync> FromRequestParts<S> for AcceptsEventStream {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        let wants = parts
            .headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|m| {
                m.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("text/event-stream"))
            });
        if wants {
            Ok(AcceptsEventStream)
        } else {
            let mut problem = Problem::new(StatusCode::NOT_ACCEPTABLE, "not-acceptable");
            problem.detail =
                Some("this is a server-sent event stream: send `Accept: text/event-stream`".into());
            Err(problem.into_response())
        }
    }
}
