//! `GET /v1/clock`: the time every rule of the API reads, so clients (and the demo seed) know
//! what "now" and "today" are, which differ from the wall clock in demo mode.

use chrono::{DateTime, SecondsFormat, Utc};
use posmul_core::UtcDay;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{error::ApiJson, state::AppState};

/// The clock route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(clock))
}

/// The API's current time.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClockView {
    /// Now, RFC 3339 in UTC.
    #[schema(value_type = String, example = "2026-11-26T07:30:00Z")]
    pub now: String,
    /// The UTC day of `now`: the day settlements credit and the economy configuration counts
    /// from.
    #[schema(example = "2026-11-26")]
    pub day: String,
    /// `system` (the machine's clock, always in production) or `chain` (demo mode: the
    /// development chain's time, a day every few minutes); `manual` only in tests.
    #[schema(example = "system")]
    pub kind: &'static str,
}

impl ClockView {
    fn at(now: DateTime<Utc>, kind: &'static str) -> ClockView {
        ClockView {
            now: now.to_rfc3339_opts(SecondsFormat::Secs, true),
            day: UtcDay::of(now).to_string(),
            kind,
        }
    }
}

/// The time the API's rules read now: game lifecycles, hourly pools, settlement days.
#[utoipa::path(get, path = "/v1/clock", tag = "health",
    responses((status = 200, description = "now, today and which clock", body = ClockView)))]
#[tracing::instrument(skip_all)]
pub async fn clock(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> ApiJson<ClockView> {
    ApiJson(ClockView::at(state.clock.now().await, state.clock.kind()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_view_is_rfc3339_utc_and_its_day() {
        let t: DateTime<Utc> = "2026-11-26T23:59:59.750Z".parse().expect("time");
        let v = ClockView::at(t, "chain");
        assert_eq!(v.now, "2026-11-26T23:59:59Z");
        assert_eq!(v.day, "2026-11-26");
        assert_eq!(v.kind, "chain");
    }
}
