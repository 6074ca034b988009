use chrono::{DateTime, Days, Duration, Utc};
use domain::{DomainEvent, Envelope, Mention, Notification, NotificationKind, Post, PostContent, PostId, UserId};
use std::sync::Arc;
use uuid::Uuid;

use super::ports::{CreatePostOutcome, DailyQuota, IdempotencyKey, NewPost, PostQuery, PostRepository, PostScope};
use crate::ApplicationError;
use crate::paging::{Page, PageRequest};
use crate::ports::{AccessClaims, Clock, UserRepository};
use crate::user::is_admin;

/// How long an `Idempotency-Key` protects against a repeat.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::hours(24);

/// The longest `Idempotency-Key` accepted.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// A created post, and whether it was created now or replayed from its key.
#[derive(Debug, Clone)]
pub struct Published {
    pub post: Post,
    pub replayed: bool,
}

/// Posting, reading, deleting and searching posts; the home timeline.
pub struct PostService {
    users: Arc<dyn UserRepository>,
    posts: Arc<dyn PostRepository>,
    clock: Arc<dyn Clock>,
    /// Posts per author per UTC day; 0 = no limit.
    daily_limit: u32,
}

/// Midnight UTC that starts the day of `now`, and the next one.
fn utc_day(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = now.date_naive().and_hms_opt(0, 0, 0).map_or(now, |midnight| midnight.and_utc());
    let end = start.checked_add_days(Days::new(1)).unwrap_or(start + Duration::days(1));
    (start, end)
}

impl PostService {
    #[must_use]
    pub fn new(
        users: Arc<dyn UserRepository>,
        posts: Arc<dyn PostRepository>,
        clock: Arc<dyn Clock>,
        daily_limit: u32,
    ) -> Self {
        Self { users, posts, clock, daily_limit }
    }

    /// Publishes a post: mentions of existing users notify them; the post, the
    /// notifications and their events are written together.
    ///
    /// # Errors
    /// `Validation` for a bad idempotency key, `QuotaExceeded` past the daily
    /// limit, `Unauthorized` if the caller's account is gone, or `Unknown`.
    pub async fn create(
        &self,
        caller: &AccessClaims,
        content: PostContent,
        idempotency_key: Option<&str>,
    ) -> Result<Published, ApplicationError> {
        let now = self.clock.now();
        let key = idempotency_key.map(|key| validate_key(key, now)).transpose()?;
        let author = self.users.author(caller.user_id).await?.ok_or_else(crate::user::account_gone)?;
        let mentioned = self.users.authors_named(&content.mentions()).await?;
        let post = Post {
            id: PostId::generate(),
            author: author.clone(),
            content,
            mentions: mentioned.iter().map(|a| Mention { user_id: a.id, username: a.username.clone() }).collect(),
            created_at: now,
        };
        let notifications: Vec<Notification> = mentioned
            .iter()
            .filter(|m| m.id != author.id)
            .map(|m| Notification {
                id: Uuid::now_v7(),
                recipient: m.id,
                actor: author.clone(),
                kind: NotificationKind::Mention(Box::new(post.clone())),
                created_at: now,
                read: false,
            })
            .collect();
        let mut events = vec![Envelope::new(DomainEvent::PostCreated(post.clone()), now)];
        events.extend(notifications.iter().map(|n| Envelope::new(DomainEvent::NotificationCreated(n.clone()), now)));
        let (today, tomorrow) = utc_day(now);
        let quota = (self.daily_limit > 0).then_some(DailyQuota { limit: self.daily_limit, since: today });
        match self.posts.create(NewPost { post, notifications, events }, key, quota).await? {
            CreatePostOutcome::Created(post) => Ok(Published { post, replayed: false }),
            CreatePostOutcome::Replayed(post) => Ok(Published { post, replayed: true }),
            CreatePostOutcome::QuotaExceeded => {
                let wait = (tomorrow - now).num_seconds().max(1).unsigned_abs();
                Err(ApplicationError::QuotaExceeded { retry_after_seconds: wait })
            }
        }
    }

    /// # Errors
    /// `NotFound("post")`, or `Unknown`.
    pub async fn get(&self, id: PostId) -> Result<Post, ApplicationError> {
        self.posts.find(id).await?.ok_or(ApplicationError::NotFound("post"))
    }

    /// Deletes a post: its author or an admin may.
    ///
    /// # Errors
    /// `NotFound("post")`, `Forbidden` for anyone else, or `Unknown`.
    pub async fn delete(&self, caller: &AccessClaims, id: PostId) -> Result<(), ApplicationError> {
        let post = self.get(id).await?;
        if post.author.id != caller.user_id && !is_admin(self.users.as_ref(), caller.user_id).await? {
            return Err(ApplicationError::Forbidden("only the author or an admin may delete a post"));
        }
        let event =
            Envelope::new(DomainEvent::PostDeleted { post_id: id, author_id: post.author.id }, self.clock.now());
        if self.posts.delete(id, event).await? { Ok(()) } else { Err(ApplicationError::NotFound("post")) }
    }

    /// Everyone's posts, or one author's, optionally matching a full-text query.
    ///
    /// # Errors
    /// `Unknown` when storage fails.
    pub async fn search(
        &self,
        author: Option<UserId>,
        text: Option<&str>,
        page: PageRequest,
    ) -> Result<Page<Post>, ApplicationError> {
        let scope = author.map_or(PostScope::Everyone, PostScope::Author);
        let text = text.map(str::trim).filter(|t| !t.is_empty()).map(ToOwned::to_owned);
        Ok(self.posts.list(&PostQuery { scope, text }, page).await?)
    }

    /// One user's posts.
    ///
    /// # Errors
    /// `NotFound("user")`, or `Unknown`.
    pub async fn by_author(&self, author: UserId, page: PageRequest) -> Result<Page<Post>, ApplicationError> {
        if self.users.find(author).await?.is_none() {
            return Err(ApplicationError::NotFound("user"));
        }
        self.search(Some(author), None, page).await
    }

    /// The caller's posts and those of everyone they follow.
    ///
    /// # Errors
    /// `Unknown` when storage fails.
    pub async fn timeline(&self, caller: &AccessClaims, page: PageRequest) -> Result<Page<Post>, ApplicationError> {
        let query = PostQuery { scope: PostScope::Timeline(caller.user_id), text: None };
        Ok(self.posts.list(&query, page).await?)
    }
}

/// A key is 1–255 visible ASCII characters.
fn validate_key(key: &str, now: DateTime<Utc>) -> Result<IdempotencyKey, ApplicationError> {
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApplicationError::invalid(
            "Idempotency-Key",
            format!("must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"),
        ));
    }
    Ok(IdempotencyKey { key: key.to_owned(), not_before: now - IDEMPOTENCY_WINDOW })
}
