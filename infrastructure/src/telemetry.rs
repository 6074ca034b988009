//! Structured JSON logs with `tracing`.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use tracing_subscriber::EnvFilter;

/// Installs a JSON subscriber filtered by `RUST_LOG` (default `info`). A second
/// call is a no-op, so tests may call it freely.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_env_filter(filter)
        .try_init();
}

tokio::task_local! {
    /// The id of the HTTP request being handled, for work done on its behalf.
    pub static REQUEST_ID: String;
}

/// The current request's id, when called while handling one.
#[must_use]
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Latency buckets (seconds) of every duration histogram.
const LATENCY_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

static METRICS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's Prometheus recorder, installed on first use. `None` if
/// another recorder was installed first (metrics then go there).
pub fn metrics() -> Option<&'static PrometheusHandle> {
    METRICS
        .get_or_init(|| {
            let builder =
                PrometheusBuilder::new().set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS);
            match builder.and_then(PrometheusBuilder::install_recorder) {
                Ok(handle) => Some(handle),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

/// `GET /metrics`: Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "request counts and latency histograms per route and status, events published / delivered / dead-lettered, outbox backlog, relay lag, password hashing (queue depth, wait, refusals, hashes computed)", content_type = "text/plain")))]
pub async fn render_metrics() -> actix_web::HttpResponse {
    let body = metrics().map(PrometheusHandle::render).unwrap_or_default();
    actix_web::HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(body)
}
