//! `/api/v1/webhooks*`.

use actix_web::{HttpResponse, web};
use application::webhook::WebhookService;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shaku_actix::Inject;
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::Authenticated;
use super::problem::ApiError;
use crate::di::AppModule;
use crate::wire::rfc3339;

type Webhooks = Inject<AppModule, WebhookService>;

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"url": "https://example.com/hooks/social"}))]
pub struct CreateWebhookRequest {
    pub url: String,
}

/// Answered once, at creation: the only time the secret is shown.
#[derive(Serialize, ToSchema)]
pub struct CreatedWebhook {
    pub id: Uuid,
    pub url: String,
    /// Key of `X-Signature-256: sha256=<hex HMAC-SHA256 of the body>` on every delivery.
    pub secret: String,
    #[serde(serialize_with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookView {
    pub id: Uuid,
    pub url: String,
    #[serde(serialize_with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
}

#[utoipa::path(post, path = "/api/v1/webhooks", tag = "notifications", security(("bearer" = [])), request_body = CreateWebhookRequest,
    description = "Deliveries are POSTs with the JSON of a WebSocket event (posts of followees, own notifications), `X-Signature-256` and `X-Event-Id`; failures are retried with growing delays, then dead-lettered.",
    responses((status = 201, description = "the webhook with its secret (shown only now)", body = CreatedWebhook),
        (status = 401, description = "missing, invalid, expired or revoked token", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 422, description = "not an http(s) URL, an internal address, or 10 webhooks already", body = super::openapi::Problem, content_type = "application/problem+json")))]
pub async fn create(
    webhooks: Webhooks,
    caller: Authenticated,
    body: web::Json<CreateWebhookRequest>,
) -> Result<HttpResponse, ApiError> {
    let webhook = webhooks.create(&caller.0, &body.url).await?;
    Ok(HttpResponse::Created().json(CreatedWebhook {
        id: webhook.id,
        url: webhook.url,
        secret: webhook.secret,
        created_at: webhook.created_at,
    }))
}

#[utoipa::path(get, path = "/api/v1/webhooks", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, description = "the caller's webhooks (at most 10), without secrets", body = Vec<WebhookView>),
        (status = 401, description = "missing, invalid, expired or revoked token", body = super::openapi::Problem, content_type = "application/problem+json")))]
pub async fn list(webhooks: Webhooks, caller: Authenticated) -> Result<HttpResponse, ApiError> {
    let list: Vec<WebhookView> = webhooks
        .list(&caller.0)
        .await?
        .into_iter()
        .map(|w| WebhookView { id: w.id, url: w.url, created_at: w.created_at })
        .collect();
    Ok(HttpResponse::Ok().json(list))
}

#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "notifications", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "webhook id")),
    responses((status = 204, description = "deleted; queued deliveries are dropped"),
        (status = 401, description = "missing, invalid, expired or revoked token", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 404, description = "webhook_not_found (also someone else's)", body = super::openapi::Problem, content_type = "application/problem+json")))]
pub async fn delete(webhooks: Webhooks, caller: Authenticated, id: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    webhooks.delete(&caller.0, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
