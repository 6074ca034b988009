//! `/api/v1/notifications*`.

use actix_web::{HttpResponse, web};
use application::notification::NotificationService;
use serde::{Deserialize, Serialize};
use shaku_actix::Inject;
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::Authenticated;
use super::paging::PageQuery;
use super::problem::ApiError;
use crate::di::AppModule;
use crate::wire::{CursorPage, NotificationView, PublicUrls};

type Notifications = Inject<AppModule, NotificationService>;

#[derive(Deserialize, ToSchema)]
pub struct ReadRequest {
    pub up_to: Uuid,
}

#[derive(Serialize, ToSchema)]
pub struct UnreadCount {
    pub count: u64,
}

#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, description = "the caller's notifications, newest first", body = CursorPage<NotificationView>), (status = 400, description = "malformed JSON or parameter", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 401, description = "missing, invalid, expired or revoked token", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 422, description = "a field breaks a rule", body = super::openapi::Problem, content_type = "application/problem+json")))]
pub async fn list(
    notifications: Notifications,
    caller: Authenticated,
    query: web::Query<PageQuery>,
    urls: web::Data<PublicUrls>,
) -> Result<HttpResponse, ApiError> {
    let page = notifications.list(&caller.0, query.request()?).await?;
    Ok(HttpResponse::Ok().json(CursorPage::new(page, |n| NotificationView::new(&n, &urls))))
}

#[utoipa::path(get, path = "/api/v1/notifications/unread_count", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, description = "notifications newer than the read marker", body = UnreadCount), (status = 401, description = "missing, invalid, expired or revoked token", body = super::openapi::Problem, content_type = "application/problem+json")))]
pub async fn unread_count(notifications: Notifications, caller: Authenticated) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(UnreadCount { count: notifications.unread_count(&caller.0).await? }))
}

#[utoipa::path(post, path = "/api/v1/notifications/read", tag = "notifications", security(("bearer" = [])), request_body = ReadRequest,
    responses((status = 204, description = "`up_to` and everything older is read; the marker never moves back"), (status = 400, description = "malformed JSON or parameter", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 401, description = "missing, invalid, expired or revoked token", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 422, description = "a field breaks a rule", body = super::openapi::Problem, content_type = "application/problem+json")))]
pub async fn mark_read(
    notifications: Notifications,
    caller: Authenticated,
    body: web::Json<ReadRequest>,
) -> Result<HttpResponse, ApiError> {
    notifications.mark_read(&caller.0, body.up_to).await?;
    Ok(HttpResponse::NoContent().finish())
}
