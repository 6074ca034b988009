//! WebSocket frames: `{"id", "type", "created_at", "data"}`, serialized once per event.

use actix_web::web::Bytes;
use chrono::{DateTime, Utc};
use domain::{Notification, Post};
use uuid::Uuid;

use super::hub::Frame;
use crate::events::{ClientEvent, Envelope};
use crate::wire::{NotificationView, PostView, PublicUrls};

fn frame(id: Uuid, event: ClientEvent, created_at: DateTime<Utc>) -> Option<Frame> {
    let bytes = Envelope { id, event, created_at }.to_bytes().ok()?;
    Frame::new(id, Bytes::from(bytes)).ok()
}

/// A replayed post, as its live `post.created` event would have carried it.
pub fn post_created(post: &Post, urls: &PublicUrls) -> Option<Frame> {
    frame(*post.id.as_uuid(), ClientEvent::PostCreated { post: PostView::new(post, urls) }, post.created_at)
}

/// A replayed notification, as its live event would have carried it.
pub fn notification(notification: &Notification, urls: &PublicUrls) -> Option<Frame> {
    let view = NotificationView::new(notification, urls);
    frame(notification.id, ClientEvent::Notification { notification: view }, notification.created_at)
}

/// A `notification.created` event from the broker becomes a `notification` frame
/// without the recipient (who is the one reading it).
pub fn live_notification(id: Uuid, created_at: DateTime<Utc>, notification: &NotificationView) -> Option<Frame> {
    frame(id, ClientEvent::Notification { notification: notification.clone() }, created_at)
}
