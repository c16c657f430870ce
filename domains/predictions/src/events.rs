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

use std::{convert::Infallible, sync::Arc, time::Duration};

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

use posmul_api_kit::error::Problem;

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

/// An SSE response of the events `keep` accepts.
pub fn stream(
    rx: broadcast::Receiver<Arc<StreamEvent>>,
    keep: impl Fn(&StreamEvent) -> bool + Send + 'static,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let events = tokio_stream_from(rx).filter_map(move |e| {
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
