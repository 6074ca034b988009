//! Request id, the one log line per request, and problem+json for every error
//! actix answers on its own.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::{ErrorHandlerResponse, Next};
use actix_web::{Error, HttpMessage, ResponseError};
use std::time::Instant;
use tracing::Instrument;

use super::problem::{ApiError, PROBLEM_JSON};

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the current request, as echoed in `X-Request-Id`.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// A client's id is kept if it is short, visible ASCII; otherwise we make one.
fn acceptable(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

pub async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = req
        .headers()
        .get(X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), ToOwned::to_owned);
    req.extensions_mut().insert(RequestId(id.clone()));
    // The path only: a query string may one day carry a ticket.
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.path());
    let started = Instant::now();
    let mut response = crate::telemetry::REQUEST_ID.scope(id.clone(), next.call(req)).instrument(span.clone()).await?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(X_REQUEST_ID, value);
    }
    let status = response.status().as_u16();
    let elapsed = started.elapsed().as_secs_f64();
    // The route pattern, not the path: ids must not become label values.
    let route = response.request().match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    let labels =
        [("method", response.request().method().to_string()), ("route", route), ("status", status.to_string())];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(elapsed);
    span.in_scope(|| tracing::info!(status, latency_ms = elapsed * 1000.0, "handled request"));
    Ok(response)
}

/// Replaces any error body that is not already a problem with one.
pub fn ensure_problem<B: MessageBody + 'static>(
    response: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_problem =
        response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if is_problem {
        return Ok(ErrorHandlerResponse::Response(response.map_into_left_body()));
    }
    let (request, original) = response.into_parts();
    let mut replacement = ApiError::from_status(original.status()).error_response();
    // Keep headers such as Allow on a 405.
    for (name, value) in original.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            replacement.headers_mut().insert(name.clone(), value.clone());
        }
    }
    Ok(ErrorHandlerResponse::Response(ServiceResponse::new(request, replacement).map_into_right_body()))
}
