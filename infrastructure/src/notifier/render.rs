//! WebSocket frames: `{"id", "type", "created_at", "data"}`, serialized once per event.

use actix_web::web::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use domain::{Notification, Post};
use serde_json::{Value, json};
use uuid::Uuid;

use super::hub::Frame;
use crate::wire::{NotificationView, PostView, PublicUrls};

fn frame(id: Uuid, kind: &str, created_at: DateTime<Utc>, data: &Value) -> Option<Frame> {
    let body = json!({
        "id": id,
        "type": kind,
        "created_at": created_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "data": data,
    });
    let bytes = serde_json::to_vec(&body).ok()?;
    Frame::new(id, Bytes::from(bytes)).ok()
}

/// A replayed post, as its live `post.created` event would have carried it.
pub fn post_created(post: &Post, urls: &PublicUrls) -> Option<Frame> {
    frame(*post.id.as_uuid(), "post.created", post.created_at, &json!({"post": PostView::new(post, urls)}))
}

/// A replayed notification, as its live event would have carried it.
pub fn notification(notification: &Notification, urls: &PublicUrls) -> Option<Frame> {
    let data = json!({"notification": NotificationView::new(notification, urls)});
    frame(notification.id, "notification", notification.created_at, &data)
}

/// A `notification.created` event from the broker becomes a `notification` frame
/// without the recipient (who is the one reading it).
pub fn live_notification(id: Uuid, created_at: DateTime<Utc>, notification: &Value) -> Option<Frame> {
    frame(id, "notification", created_at, &json!({"notification": notification}))
}
