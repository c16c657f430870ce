//! Assembling the service: state, routers, layers, the listener.
//!
//! # Adding a domain
//! A domain crate `domains/<domain>` exposes `pub fn router() -> OpenApiRouter<AppState>` whose
//! handlers carry `#[utoipa::path]` (full paths, `/v1/...`). Add one line to [`api_router`]:
//! `.merge(posmul_<domain>::router())` — it is then served, documented in `/openapi.json`,
//! rate-limited, traced and measured like the others.
//!
//! # Layers (outermost first)
//! request id (set `x-request-id` if absent) → trace span (carries the request id) → propagate
//! `x-request-id` to the response → problem+json for every error → CORS → compression →
//! timeout (408) → per-IP rate limit → body limit (413) → metrics per matched route → handler.

use std::net::SocketAddr;

use anyhow::Context as _;
use axum::{
    Router,
    extract::{DefaultBodyLimit, Request},
    http::{HeaderName, HeaderValue, Method, StatusCode, header},
    middleware,
};
use posmul_core::{
    Clock,
    service::{OpsListener, Readiness, readiness_check},
};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::{
    compression::CompressionLayer,
    cors::{AllowOrigin, Any, CorsLayer},
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::TraceLayer,
};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use posmul_api_kit::{
    AppState, clock, config::ApiConfig, error, health, openapi::ApiDoc, rate_limit, telemetry,
};

/// Every domain's routes, with their OpenAPI description. One line per domain.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(health::router())
        .merge(clock::router())
        .merge(posmul_accounts::router())
        .merge(posmul_wallet::router())
        .merge(posmul_predictions::router())
        .merge(posmul_invest::router())
}

/// The OpenAPI document (also served at `/openapi.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_router().into_openapi()
}

/// The whole application as a router: routes, docs, layers, state.
pub fn app(state: AppState) -> Router {
    let (routes, openapi) = api_router().split_for_parts();
    let config = state.config.clone();
    let x_request_id = HeaderName::from_static("x-request-id");

    let cors = {
        let base = CorsLayer::new()
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("idempotency-key"),
            ])
            .expose_headers([x_request_id.clone(), header::RETRY_AFTER]);
        if config.cors_origins.iter().any(|o| o == "*") {
            base.allow_origin(Any)
        } else {
            let origins: Vec<HeaderValue> = config
                .cors_origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok())
                .collect();
            base.allow_origin(AllowOrigin::list(origins))
        }
    };

    let trace = TraceLayer::new_for_http().make_span_with(|req: &Request| {
        let request_id = req
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        tracing::info_span!(
            "http",
            method = %req.method(),
            uri = %req.uri().path(),
            request_id = %request_id,
            user_id = tracing::field::Empty,
        )
    });

    routes
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi))
        .layer(middleware::from_fn(telemetry::track_metrics))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(
                    x_request_id.clone(),
                    MakeRequestUuid,
                ))
                .layer(trace)
                .layer(PropagateRequestIdLayer::new(x_request_id))
                .layer(middleware::from_fn(error::normalize_errors))
                .layer(cors)
                .layer(CompressionLayer::new())
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    config.request_timeout,
                ))
                .layer(middleware::from_fn_with_state(
                    state.clone(),
                    rate_limit::limit_by_ip,
                ))
                .layer(DefaultBodyLimit::max(config.body_limit_bytes))
                .layer(RequestBodyLimitLayer::new(config.body_limit_bytes)),
        )
        .with_state(state)
}

/// A built, bound, not yet serving API.
pub struct Application {
    listener: TcpListener,
    /// `/metrics`, `/healthz`, `/readyz` for operators, on `METRICS_ADDR`.
    ops: OpsListener,
    router: Router,
    state: AppState,
    /// Jobs that live as long as the process (the predictions scheduler).
    background: Vec<tokio::task::AbortHandle>,
}

impl Application {
    /// Connects to the database (migrating if configured), builds the state and binds
    /// `config.addr` (port 0 picks a free port; see [`Application::port`]).
    pub async fn build(config: ApiConfig) -> anyhow::Result<Self> {
        let db = posmul_core::db::open(
            &config.database_url,
            config.database_max_connections,
            &config.tls,
            config.migrate,
        )
        .await?;
        Self::build_with_pool(config, db).await
    }

    /// Like [`Application::build`] over an existing pool, with the clock `config.clock` names.
    pub async fn build_with_pool(config: ApiConfig, db: PgPool) -> anyhow::Result<Self> {
        let clock = posmul_api_kit::state::clock_of(&config.clock, &config.tls).await?;
        Self::build_with_clock(config, db, clock).await
    }

    /// Like [`Application::build_with_pool`] with a given clock (tests drive a manual one).
    pub async fn build_with_clock(
        config: ApiConfig,
        db: PgPool,
        clock: Clock,
    ) -> anyhow::Result<Self> {
        // The payment providers read their own settings when the router is built; a provider
        // enabled without its keys stops the start here rather than refusing payments later.
        let payment_settings = posmul_invest::payments::settings::PaymentSettings::from_env(
            &posmul_core::config::Env::process(),
        )
        .context("payment provider settings (PAYMENT_PROVIDERS, STRIPE_*, TOSS_*)")?;
        let listener = TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("failed to bind {}", config.addr))?;
        let ops = OpsListener::bind(config.metrics_addr)
            .await
            .with_context(|| format!("failed to bind METRICS_ADDR {}", config.metrics_addr))?;
        let state = AppState::with_clock(config, db, clock).await?;
        crate::business_metrics::describe();
        let scheduler = posmul_predictions::scheduler::spawn(
            state.db.clone(),
            state.clock.clone(),
            state.config.predictions,
        );
        let mut background = vec![scheduler.abort_handle()];
        let interval = state.config.business_metrics_interval;
        if !interval.is_zero() {
            let gauges = crate::business_metrics::spawn(
                state.db.clone(),
                state.clock.clone(),
                state.config.chain_id,
                interval,
            );
            background.push(gauges.abort_handle());
        }
        let partitions =
            crate::partitions::spawn(state.db.clone(), state.config.partition_months_ahead);
        background.push(partitions.abort_handle());
        let pruner = posmul_invest::payments::spawn_signature_pruner(
            state.db.clone(),
            payment_settings.tolerance,
        );
        background.push(pruner.abort_handle());
        let funding_interval = state.config.funding_settle_interval;
        if !funding_interval.is_zero() {
            let settlement = posmul_invest::funding::settle::spawn(
                state.db.clone(),
                state.clock.clone(),
                std::sync::Arc::new(posmul_invest::payments_from_env()),
                funding_interval,
            );
            background.push(settlement.abort_handle());
        }
        // I1: abandoned ad views expire and release their reservations. A manual clock (tests)
        // drives time by hand, and its tests run the sweep themselves when they mean to.
        if state.clock.kind() != "manual" {
            let ad_views = posmul_invest::ads::spawn_sweeper(state.db.clone(), state.clock.clone());
            background.push(ad_views.abort_handle());
        }
        let router = app(state.clone());
        Ok(Application {
            listener,
            ops,
            router,
            state,
            background,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    /// The bound address of the operations listener (`/metrics`).
    pub fn metrics_addr(&self) -> SocketAddr {
        self.ops.local_addr()
    }

    /// Handles of the background jobs, so an embedder (a test) can stop them with the server:
    /// the scheduler holds a pooled connection for its advisory lock, which would otherwise keep
    /// the pool from closing.
    pub fn background_tasks(&self) -> Vec<tokio::task::AbortHandle> {
        self.background.clone()
    }

    /// The shared state (tests reach the pool and keys through it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let db = self.state.db.clone();
        let ready = readiness_check(move || {
            let db = db.clone();
            async move { Readiness::plain(health::database_ready(&db).await.is_ok()) }
        });
        let ops = self.ops.spawn(self.state.metrics.clone(), ready);
        let served = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await;
        ops.abort();
        served
    }

    /// Serves until SIGINT or SIGTERM.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: draining in-flight requests");
}
