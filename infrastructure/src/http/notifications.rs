//! `/api/v1/notifications*`.

use actix_web::{HttpResponse, web};
use application::notification::NotificationService;
use serde::{Deserialize, Serialize};
use shaku_actix::Inject;
use uuid::Uuid;

use super::extract::Authenticated;
use super::paging::PageQuery;
use super::problem::ApiError;
use crate::di::AppModule;
use crate::wire::{CursorPage, NotificationView, PublicUrls};

type Notifications = Inject<AppModule, NotificationService>;

#[derive(Deserialize)]
pub struct ReadRequest {
    pub up_to: Uuid,
}

#[derive(Serialize)]
pub struct UnreadCount {
    pub count: u64,
}

pub async fn list(
    notifications: Notifications,
    caller: Authenticated,
    query: web::Query<PageQuery>,
    urls: web::Data<PublicUrls>,
) -> Result<HttpResponse, ApiError> {
    let page = notifications.list(&caller.0, query.request()?).await?;
    Ok(HttpResponse::Ok().json(CursorPage::new(page, |n| NotificationView::new(&n, &urls))))
}

pub async fn unread_count(notifications: Notifications, caller: Authenticated) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(UnreadCount { count: notifications.unread_count(&caller.0).await? }))
}

pub async fn mark_read(
    notifications: Notifications,
    caller: Authenticated,
    body: web::Json<ReadRequest>,
) -> Result<HttpResponse, ApiError> {
    notifications.mark_read(&caller.0, body.up_to).await?;
    Ok(HttpResponse::NoContent().finish())
}
