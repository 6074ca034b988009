//! `/health/live` and `/health/ready`, for the api and the notifier alike.

use actix_web::{HttpResponse, web};
use serde_json::json;

use std::sync::Arc;

use crate::messaging::EventBus;
use crate::persistence::Database;

/// What readiness checks.
#[derive(Clone)]
pub struct Readiness {
    pub database: Database,
    pub bus: Arc<dyn EventBus>,
}

#[utoipa::path(get, path = "/health/live", tag = "operations", responses((status = 200, description = "the process runs")))]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "live"}))
}

/// Ready when PostgreSQL answers and the broker connection is up; otherwise
/// 503 naming what is down.
#[utoipa::path(get, path = "/health/ready", tag = "operations",
    responses((status = 200, description = "database and broker reachable"), (status = 503, description = "`checks` names what is down")))]
pub async fn ready(readiness: web::Data<Readiness>) -> HttpResponse {
    let database = readiness.database.is_ready().await;
    let broker = readiness.bus.is_up();
    let state = |up: bool| if up { "up" } else { "down" };
    let checks = json!({"database": state(database), "broker": state(broker)});
    if database && broker {
        HttpResponse::Ok().json(json!({"status": "ready", "checks": checks}))
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header((actix_web::http::header::RETRY_AFTER, 5))
            .json(json!({"status": "unavailable", "checks": checks}))
    }
}
