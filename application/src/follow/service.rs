use domain::{DomainEvent, Envelope, Follow, Notification, NotificationKind, UserId};
use std::sync::Arc;
use uuid::Uuid;

use super::ports::{FollowEntry, FollowRepository, NewFollow};
use crate::ApplicationError;
use crate::paging::{Page, PageRequest};
use crate::ports::{AccessClaims, Clock, UserRepository};

/// A follower notifies the same user of a follow at most once in this window.
pub const FOLLOW_NOTICE_WINDOW: chrono::Duration = chrono::Duration::hours(24);

/// Following and unfollowing; follower lists.
pub struct FollowService {
    users: Arc<dyn UserRepository>,
    follows: Arc<dyn FollowRepository>,
    clock: Arc<dyn Clock>,
}

impl FollowService {
    #[must_use]
    pub fn new(users: Arc<dyn UserRepository>, follows: Arc<dyn FollowRepository>, clock: Arc<dyn Clock>) -> Self {
        Self { users, follows, clock }
    }

    /// Follows `target`. Idempotent: following again changes nothing and
    /// notifies no one; following again after unfollowing notifies only if
    /// the last follow notification to `target` is older than a day.
    ///
    /// # Errors
    /// `Validation` on oneself, `NotFound("user")` for an unknown target, or `Unknown`.
    pub async fn follow(&self, caller: &AccessClaims, target: UserId) -> Result<(), ApplicationError> {
        let follow = Follow::new(caller.user_id, target).map_err(|e| ApplicationError::invalid("id", e.to_string()))?;
        if self.users.find(target).await?.is_none() {
            return Err(ApplicationError::NotFound("user"));
        }
        let actor = self.users.author(caller.user_id).await?.ok_or_else(crate::user::account_gone)?;
        let now = self.clock.now();
        let mut events = vec![Envelope::new(DomainEvent::FollowCreated(follow), now)];
        // Unfollowing and following again must not become a way to ping someone.
        let notification = if self.follows.follow_notified_since(follow, now - FOLLOW_NOTICE_WINDOW).await? {
            None
        } else {
            let notification = Notification {
                id: Uuid::now_v7(),
                recipient: target,
                actor,
                kind: NotificationKind::Follow,
                created_at: now,
                read: false,
            };
            events.push(Envelope::new(DomainEvent::NotificationCreated(notification.clone()), now));
            Some(notification)
        };
        self.follows.follow(NewFollow { follow, created_at: now, notification, events }).await?;
        Ok(())
    }

    /// Stops following `target`. Idempotent, also for an unknown target.
    ///
    /// # Errors
    /// `Unknown` when storage fails.
    pub async fn unfollow(&self, caller: &AccessClaims, target: UserId) -> Result<(), ApplicationError> {
        let Ok(follow) = Follow::new(caller.user_id, target) else {
            return Ok(());
        };
        let event = Envelope::new(DomainEvent::FollowDeleted(follow), self.clock.now());
        self.follows.unfollow(follow, event).await?;
        Ok(())
    }

    /// # Errors
    /// `NotFound("user")`, or `Unknown`.
    pub async fn followers(
        &self,
        caller: &AccessClaims,
        user: UserId,
        page: PageRequest,
    ) -> Result<Page<FollowEntry>, ApplicationError> {
        self.require_user(user).await?;
        Ok(self.follows.followers(user, caller.user_id, page).await?)
    }

    /// # Errors
    /// `NotFound("user")`, or `Unknown`.
    pub async fn following(
        &self,
        caller: &AccessClaims,
        user: UserId,
        page: PageRequest,
    ) -> Result<Page<FollowEntry>, ApplicationError> {
        self.require_user(user).await?;
        Ok(self.follows.following(user, caller.user_id, page).await?)
    }

    async fn require_user(&self, user: UserId) -> Result<(), ApplicationError> {
        match self.users.find(user).await? {
            Some(_) => Ok(()),
            None => Err(ApplicationError::NotFound("user")),
        }
    }
}
