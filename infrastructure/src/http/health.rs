//! `/health/live` and `/health/ready`.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::persistence::{self, PgPool};

pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "live"}))
}

/// Ready when PostgreSQL answers; otherwise 503 naming what is down.
pub async fn ready(pool: web::Data<PgPool>) -> HttpResponse {
    if persistence::is_ready(&pool).await {
        HttpResponse::Ok().json(json!({"status": "ready", "checks": {"database": "up"}}))
    } else {
        HttpResponse::ServiceUnavailable().json(json!({"status": "unavailable", "checks": {"database": "down"}}))
    }
}
