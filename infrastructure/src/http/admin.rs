//! `/api/v1/admin/*`.

use actix_web::{HttpResponse, web};
use application::admin::{Interval, StatsService};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shaku_actix::Inject;
use utoipa::{IntoParams, ToSchema};

use super::extract::Authenticated;
use super::problem::ApiError;
use crate::di::AppModule;
use crate::wire::rfc3339;

#[derive(Deserialize, IntoParams)]
pub struct StatsQuery {
    /// `day`, `week` (7 days) or `month` (30 days), ending now; default `day`.
    pub interval: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct StatsView {
    #[schema(example = "week")]
    pub interval: &'static str,
    #[serde(serialize_with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub from: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub to: DateTime<Utc>,
    /// Users who made an authenticated request in the window (noted in memory,
    /// stored every 30 s; per-day precision).
    pub active_users: u64,
    pub new_users: u64,
    pub posts: u64,
    pub follows: u64,
}

#[utoipa::path(get, path = "/api/v1/admin/stats", tag = "users", security(("bearer" = [])), params(StatsQuery),
    responses((status = 200, description = "activity in the window", body = StatsView),
        (status = 401, description = "missing, invalid, expired or revoked token", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 403, description = "not an admin", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 422, description = "an unknown interval", body = super::openapi::Problem, content_type = "application/problem+json")))]
pub async fn stats(
    stats: Inject<AppModule, StatsService>,
    caller: Authenticated,
    query: web::Query<StatsQuery>,
) -> Result<HttpResponse, ApiError> {
    let interval = match query.interval.as_deref() {
        None => Interval::Day,
        Some(raw) => raw.parse().map_err(|e| ApiError::invalid_field("interval", e))?,
    };
    let window = stats.window(&caller.0, interval).await?;
    Ok(HttpResponse::Ok().json(StatsView {
        interval: window.interval.as_str(),
        from: window.from,
        to: window.to,
        active_users: window.counts.active_users,
        new_users: window.counts.new_users,
        posts: window.counts.posts,
        follows: window.counts.follows,
    }))
}
