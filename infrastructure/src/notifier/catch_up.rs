//! Catch-up on a reconnection with `?since=`: what the user missed, oldest
//! first, read in pages of each kind (followed authors' posts, the user's
//! notifications) and merged by id, so that nothing between the reconnection
//! point and the live stream is skipped however long the client was away.

use application::PortError;
use domain::UserId;
use uuid::Uuid;

use super::hub::Frame;
use super::render;
use super::store::NotifierStore;
use crate::wire::PublicUrls;

/// Items of each kind read per query.
pub const PAGE: i64 = 500;
/// Frames one connection replays at most. A client further behind gets these,
/// then a close with 1013 (try again later): it reconnects with `?since=` the
/// last id it received and goes on from there, so the work and the memory of
/// one connection stay bounded and nothing is skipped.
pub const MOST_FRAMES: usize = 5_000;

/// Where a catch-up stands: every frame up to `cursor` has been handed out.
pub struct CatchUp {
    user: UserId,
    cursor: Uuid,
    page: i64,
    done: bool,
}

impl CatchUp {
    #[must_use]
    pub const fn new(user: UserId, since: Uuid) -> Self {
        Self { user, cursor: since, page: PAGE, done: false }
    }

    /// The next frames in id order, or `None` once everything missed was
    /// handed out. Each kind is read a page at a time; a kind may have more
    /// after its page's last row, so only frames up to the smallest last id
    /// of the two pages are certainly complete: those are handed out, and the
    /// rest is read again from there. (Whether a page was "full" cannot be
    /// told from what comes back: a notification whose post was deleted
    /// meanwhile is dropped from its page.) It ends when both kinds have
    /// nothing left after the cursor.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn next(
        &mut self,
        store: &dyn NotifierStore,
        urls: &PublicUrls,
    ) -> Result<Option<Vec<Frame>>, PortError> {
        if self.done {
            return Ok(None);
        }
        let posts = store.posts_since(self.user, self.cursor, self.page).await?;
        let notifications = store.notifications_since(self.user, self.cursor, self.page).await?;
        let last_post = posts.last().map(|post| *post.id.as_uuid());
        let last_notification = notifications.last().map(|notification| notification.id);
        let Some(horizon) = [last_post, last_notification].into_iter().flatten().min() else {
            self.done = true;
            return Ok(None);
        };
        let mut frames: Vec<Frame> = posts.iter().filter_map(|post| render::post_created(post, urls)).collect();
        frames.extend(notifications.iter().filter_map(|notification| render::notification(notification, urls)));
        frames.retain(|frame| frame.id <= horizon);
        frames.sort_by_key(|frame| frame.id);
        self.cursor = horizon;
        Ok(Some(frames))
    }

    #[cfg(test)]
    const fn with_page(mut self, page: i64) -> Self {
        self.page = page;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use chrono::Utc;
    use domain::{Author, Notification, NotificationKind, Post, PostContent, PostId, Username};

    /// `posts` and `notifications` ids interleaved in time order.
    struct Store {
        posts: Vec<Post>,
        notifications: Vec<Notification>,
    }

    fn author() -> Author {
        Author {
            id: UserId::from_uuid(Uuid::now_v7()),
            username: Username::new("author").unwrap(),
            display_name: None,
            avatar: None,
        }
    }

    fn store(posts: usize, notifications: usize) -> Store {
        let (mut p, mut n) = (Vec::new(), Vec::new());
        let who = author();
        for i in 0..posts.max(notifications) * 2 {
            let id = Uuid::now_v7();
            if i % 2 == 0 && p.len() < posts || n.len() >= notifications {
                if p.len() < posts {
                    p.push(Post {
                        id: PostId::from_uuid(id),
                        author: who.clone(),
                        content: PostContent::parse("hello").unwrap(),
                        mentions: Vec::new(),
                        created_at: Utc::now(),
                    });
                }
            } else {
                n.push(Notification {
                    id,
                    recipient: UserId::from_uuid(Uuid::nil()),
                    kind: NotificationKind::Follow,
                    actor: who.clone(),
                    created_at: Utc::now(),
                    read: false,
                });
            }
        }
        Store { posts: p, notifications: n }
    }

    #[async_trait]
    impl NotifierStore for Store {
        async fn followees(&self, _: UserId) -> Result<Vec<UserId>, PortError> {
            Ok(Vec::new())
        }

        async fn posts_since(&self, _: UserId, since: Uuid, max: i64) -> Result<Vec<Post>, PortError> {
            let max = usize::try_from(max).unwrap();
            Ok(self.posts.iter().filter(|p| *p.id.as_uuid() > since).take(max).cloned().collect())
        }

        async fn notifications_since(&self, _: UserId, since: Uuid, max: i64) -> Result<Vec<Notification>, PortError> {
            let max = usize::try_from(max).unwrap();
            Ok(self.notifications.iter().filter(|n| n.id > since).take(max).cloned().collect())
        }
    }

    async fn replay_all(store: &Store, since: Uuid, page: i64) -> Vec<Uuid> {
        let mut catch_up = CatchUp::new(UserId::from_uuid(Uuid::now_v7()), since).with_page(page);
        let mut ids = Vec::new();
        while let Some(frames) = catch_up.next(store, &PublicUrls::default()).await.unwrap() {
            ids.extend(frames.iter().map(|frame| frame.id));
        }
        ids
    }

    #[tokio::test]
    async fn many_pages_of_both_kinds_arrive_whole_in_id_order_once_each() {
        let store = store(237, 111);
        let mut expected: Vec<Uuid> =
            store.posts.iter().map(|p| *p.id.as_uuid()).chain(store.notifications.iter().map(|n| n.id)).collect();
        expected.sort();
        for page in [1, 7, 50, 500] {
            assert_eq!(replay_all(&store, Uuid::nil(), page).await, expected, "page of {page}");
        }
    }

    /// A store that drops a row from its pages, as one does when a
    /// notification's post is deleted between its two statements.
    struct Lossy(Store);

    #[async_trait]
    impl NotifierStore for Lossy {
        async fn followees(&self, user: UserId) -> Result<Vec<UserId>, PortError> {
            self.0.followees(user).await
        }

        async fn posts_since(&self, user: UserId, since: Uuid, max: i64) -> Result<Vec<Post>, PortError> {
            self.0.posts_since(user, since, max).await
        }

        async fn notifications_since(
            &self,
            user: UserId,
            since: Uuid,
            max: i64,
        ) -> Result<Vec<Notification>, PortError> {
            let mut page = self.0.notifications_since(user, since, max).await?;
            page.retain(|n| n.id != self.0.notifications[4].id);
            Ok(page)
        }
    }

    #[tokio::test]
    async fn a_page_short_of_a_dropped_row_does_not_end_the_catch_up() {
        let lossy = Lossy(store(0, 40));
        let mut catch_up = CatchUp::new(UserId::from_uuid(Uuid::now_v7()), Uuid::nil()).with_page(5);
        let mut ids = Vec::new();
        while let Some(frames) = catch_up.next(&lossy, &PublicUrls::default()).await.unwrap() {
            ids.extend(frames.iter().map(|frame| frame.id));
        }
        assert_eq!(ids.len(), 39, "every notification but the dropped one");
    }

    #[tokio::test]
    async fn only_what_follows_since_is_replayed() {
        let store = store(30, 30);
        let since = *store.posts[9].id.as_uuid();
        let replayed = replay_all(&store, since, 4).await;
        assert!(replayed.iter().all(|id| *id > since));
        assert_eq!(replayed.len(), store.posts.len() + store.notifications.len() - replayed_before(&store, since));
    }

    fn replayed_before(store: &Store, since: Uuid) -> usize {
        store.posts.iter().filter(|p| *p.id.as_uuid() <= since).count()
            + store.notifications.iter().filter(|n| n.id <= since).count()
    }
}
