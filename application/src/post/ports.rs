//! What the post use cases need from persistence.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::{Envelope, Notification, Post, PostId, UserId};

use crate::PortError;
use crate::paging::{Page, PageRequest};

/// Which posts a list shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostScope {
    /// Everyone's posts.
    Everyone,
    /// Posts by one author.
    Author(UserId),
    /// The home timeline of a user: their own posts and those of everyone they follow.
    Timeline(UserId),
}

/// A post list request: a scope and an optional full-text query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostQuery {
    pub scope: PostScope,
    /// User-typed search text; adapters MUST treat it as data, never as syntax.
    pub text: Option<String>,
}

/// A post with everything its creation writes in the same transaction.
#[derive(Debug, Clone)]
pub struct NewPost {
    pub post: Post,
    pub notifications: Vec<Notification>,
    pub events: Vec<Envelope>,
}

/// A client's idempotency key; a stored key older than `not_before` has expired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    pub key: String,
    pub not_before: DateTime<Utc>,
}

/// At most `limit` posts created per author on the UTC day that starts at
/// `since`; deleting a post does not give its slot back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyQuota {
    pub limit: u32,
    pub since: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreatePostOutcome {
    Created(Post),
    /// The key was seen within its window: the first post, nothing written.
    Replayed(Post),
    QuotaExceeded,
}

/// Storage of posts, their mentions and the outbox.
#[async_trait]
pub trait PostRepository: Send + Sync {
    /// In ONE transaction: replays a live idempotency key (writing nothing), else
    /// checks the quota, else stores the post, its mentions, notifications and
    /// events, and remembers the key. Concurrent calls for one author MUST NOT
    /// both pass the quota or both use one key.
    ///
    /// # Errors
    /// `PortError::Unknown` on storage failure, in which case nothing is written.
    async fn create(
        &self,
        new: NewPost,
        key: Option<IdempotencyKey>,
        quota: Option<DailyQuota>,
    ) -> Result<CreatePostOutcome, PortError>;

    /// # Errors
    /// Only `PortError::Unknown`; an absent post is `Ok(None)`.
    async fn find(&self, id: PostId) -> Result<Option<Post>, PortError>;

    /// Deletes the post (its mentions and notifications go with it) and stores
    /// `event` in the same transaction. `false`, with nothing written, if absent.
    ///
    /// # Errors
    /// Only `PortError::Unknown`.
    async fn delete(&self, id: PostId, event: Envelope) -> Result<bool, PortError>;

    /// One page of posts, newest first.
    ///
    /// # Errors
    /// Only `PortError::Unknown`.
    async fn list(&self, query: &PostQuery, page: PageRequest) -> Result<Page<Post>, PortError>;
}
