//! Traces over OTLP: a request to the real API becomes an OpenTelemetry span carrying its
//! request id, posted as OTLP/HTTP protobuf to a collector. The collector here is a real HTTP
//! server on loopback that accepts `POST /v1/traces` and decodes each export with the
//! OpenTelemetry protocol's own message types.

// Helpers outside #[test] functions panic on purpose: a failed step fails the test.
#![allow(clippy::unwrap_used)]

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, body::Bytes, extract::State, routing::post};
use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest,
    common::v1::{AnyValue, KeyValue, any_value::Value},
};
use posmul_api::testing::spawn_app;
use posmul_core::service::Traces;
use prost::Message;
use sqlx::PgPool;

type Received = Arc<Mutex<Vec<ExportTraceServiceRequest>>>;

/// A collector on its own thread and runtime: the exporter's flush blocks the test's thread
/// until the collector has answered.
fn start_collector() -> (SocketAddr, Received) {
    let received = Received::default();
    let (tx, rx) = std::sync::mpsc::channel();
    let store = received.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let app = Router::new()
                .route("/v1/traces", post(export))
                .with_state(store);
            axum::serve(listener, app).await.unwrap();
        });
    });
    (rx.recv().unwrap(), received)
}

async fn export(
    State(store): State<Received>,
    body: Bytes,
) -> ([(&'static str, &'static str); 1], Vec<u8>) {
    let request = ExportTraceServiceRequest::decode(body).unwrap();
    store.lock().unwrap().push(request);
    // An empty ExportTraceServiceResponse: everything accepted.
    ([("content-type", "application/x-protobuf")], Vec::new())
}

fn string(kv: &[KeyValue], key: &str) -> Option<String> {
    kv.iter()
        .find(|a| a.key == key)
        .and_then(|a| match a.value.as_ref() {
            Some(AnyValue {
                value: Some(Value::StringValue(s)),
            }) => Some(s.clone()),
            _ => None,
        })
}

/// What the test reads of a received span.
#[derive(Debug)]
struct SpanSeen {
    service: Option<String>,
    name: String,
    request_id: Option<String>,
    uri: Option<String>,
}

/// Every span received.
fn spans(received: &Received) -> Vec<SpanSeen> {
    let mut out = Vec::new();
    for request in received.lock().unwrap().iter() {
        for rs in &request.resource_spans {
            let service = rs
                .resource
                .as_ref()
                .and_then(|r| string(&r.attributes, "service.name"));
            for ss in &rs.scope_spans {
                for span in &ss.spans {
                    out.push(SpanSeen {
                        service: service.clone(),
                        name: span.name.clone(),
                        request_id: string(&span.attributes, "request_id"),
                        uri: string(&span.attributes, "uri"),
                    });
                }
            }
        }
    }
    out
}

#[sqlx::test(migrator = "posmul_core::db::MIGRATOR")]
async fn an_api_request_is_exported_as_an_otlp_span_with_its_request_id(pool: PgPool) {
    let (collector, received) = start_collector();
    let traces = Traces::new("posmul-api", &format!("http://{collector}/v1/traces"))
        .expect("the OTLP exporter builds");
    // This test's runtime has one thread: the server's tasks run on it, under this subscriber.
    let _guard = tracing::subscriber::set_default(traces.subscriber());
    let app = spawn_app(pool).await;

    let request_id = "otlp-check-7f3a";
    let response = app
        .client
        .get(app.url("/v1/clock"))
        .header("x-request-id", request_id)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], request_id);
    response.bytes().await.unwrap();

    // The span ends once the server has dropped the response: flush until it has arrived.
    let mut found = None;
    for _ in 0..50 {
        traces.flush();
        found = spans(&received)
            .into_iter()
            .find(|s| s.name == "http" && s.request_id.as_deref() == Some(request_id));
        if found.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let SpanSeen { service, uri, .. } = found.unwrap_or_else(|| {
        panic!(
            "no `http` span with request_id {request_id} among {:?}",
            spans(&received)
        )
    });
    assert_eq!(service.as_deref(), Some("posmul-api"));
    assert_eq!(uri.as_deref(), Some("/v1/clock"));
}
