//! `PostRepository` on SQLite, and the post loading shared with notifications.

use application::PortError;
use application::paging::{Page, PageRequest};
use application::ports::{
    CreatePostOutcome, DailyQuota, IdempotencyKey, NewPost, PostQuery, PostRepository, PostScope,
};
use async_trait::async_trait;
use diesel::dsl::sql;
use diesel::sql_types::{Bool, Text};
use diesel::sqlite::Sqlite as Backend;
use diesel::{
    BoolExpressionMethods, ExpressionMethods, JoinOnDsl, OptionalExtension, QueryDsl, QueryResult, Queryable,
    RunQueryDsl, Selectable, SelectableHelper, SqliteConnection,
};
use domain::{Envelope, Post, PostId};
use shaku::Component;

use super::Sqlite;
use super::outbox::append;
use super::schema::{
    daily_post_counts as counts, follows, idempotency_keys, notifications, post_mentions, posts, users,
};
use super::search::match_expression;
use super::types::{Id, Instant};
use super::users::{UserRow, to_user};
use crate::persistence::outbox::Outbox;
use crate::persistence::rows::{SEARCH_WINDOW, StoredPost, assemble_posts, notification_post_id};
use crate::persistence::users::author_of;

#[derive(Component)]
#[shaku(interface = crate::di::PostRepositoryPort)]
pub struct SqlitePostRepository {
    db: Sqlite,
    outbox: Outbox,
}

impl SqlitePostRepository {
    #[must_use]
    pub const fn new(db: Sqlite, outbox: Outbox) -> Self {
        Self { db, outbox }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = posts, check_for_backend(Backend))]
pub(super) struct PostRow {
    id: Id,
    content: String,
    created_at: Instant,
}

/// Posts with their authors and mentions as read on a connection; turned
/// into domain posts once the connection is released.
pub(super) struct LoadedPosts {
    rows: Vec<(PostRow, UserRow)>,
    mentions: Vec<(Id, Id, String)>,
}

impl LoadedPosts {
    pub(super) fn into_posts(self) -> Result<Vec<Post>, PortError> {
        let mentions: Vec<_> = self.mentions.into_iter().map(|(post, user, name)| (post.0, user.0, name)).collect();
        let rows = self
            .rows
            .into_iter()
            .map(|(post, author)| {
                let post = StoredPost { id: post.id.0, content: post.content, created_at: post.created_at.0 };
                Ok((post, author_of(&to_user(author)?)))
            })
            .collect::<Result<_, PortError>>()?;
        assemble_posts(rows, &mentions)
    }
}

/// Adds the mentions of `rows`, in one query.
pub(super) fn with_mentions(conn: &mut SqliteConnection, rows: Vec<(PostRow, UserRow)>) -> QueryResult<LoadedPosts> {
    let ids: Vec<Id> = rows.iter().map(|(p, _)| p.id).collect();
    let mentions = if ids.is_empty() {
        Vec::new()
    } else {
        post_mentions::table
            .inner_join(users::table.on(users::id.eq(post_mentions::user_id)))
            .filter(post_mentions::post_id.eq_any(&ids))
            .select((post_mentions::post_id, users::id, users::username))
            .load(conn)?
    };
    Ok(LoadedPosts { rows, mentions })
}

/// Loads posts by id, in no particular order.
pub(super) fn posts_by_id(conn: &mut SqliteConnection, ids: &[Id]) -> QueryResult<LoadedPosts> {
    let rows = posts::table
        .inner_join(users::table.on(users::id.eq(posts::author_id)))
        .filter(posts::id.eq_any(ids))
        .select((PostRow::as_select(), UserRow::as_select()))
        .load(conn)?;
    with_mentions(conn, rows)
}

enum Written {
    Created(Post),
    Replayed(LoadedPosts),
    QuotaExceeded,
}

/// The body of `create`, inside its write transaction. No lock is taken:
/// every write transaction of the process goes through the one writer, so
/// two requests of one author (for one key or one quota) run one after the
/// other, each seeing what the previous one committed.
fn write(
    outbox: &Outbox,
    conn: &mut SqliteConnection,
    new: NewPost,
    key: Option<&IdempotencyKey>,
    quota: Option<DailyQuota>,
) -> QueryResult<Written> {
    let post = &new.post;
    let author = Id(*post.author.id.as_uuid());
    if let Some(key) = key {
        let first: Option<Id> = idempotency_keys::table
            .filter(idempotency_keys::user_id.eq(author))
            .filter(idempotency_keys::key.eq(&key.key))
            .filter(idempotency_keys::created_at.ge(Instant(key.not_before)))
            .select(idempotency_keys::post_id)
            .first(conn)
            .optional()?;
        if let Some(first) = first {
            // Loaded in this transaction: no delete can come between the key and its post.
            return Ok(Written::Replayed(posts_by_id(conn, &[first])?));
        }
    }
    if let Some(quota) = quota
        && !count_against(conn, author, quota)?
    {
        return Ok(Written::QuotaExceeded);
    }
    let id = Id(*post.id.as_uuid());
    diesel::insert_into(posts::table)
        .values((
            posts::id.eq(id),
            posts::author_id.eq(author),
            posts::content.eq(post.content.as_str()),
            posts::created_at.eq(Instant(post.created_at)),
        ))
        .execute(conn)?;
    let mentions: Vec<_> = post
        .mentions
        .iter()
        .map(|m| (post_mentions::post_id.eq(id), post_mentions::user_id.eq(Id(*m.user_id.as_uuid()))))
        .collect();
    diesel::insert_into(post_mentions::table).values(mentions).execute(conn)?;
    insert_notifications(conn, &new.notifications)?;
    if let Some(key) = key {
        diesel::insert_into(idempotency_keys::table)
            .values((
                idempotency_keys::user_id.eq(author),
                idempotency_keys::key.eq(&key.key),
                idempotency_keys::post_id.eq(id),
                idempotency_keys::created_at.eq(Instant(post.created_at)),
            ))
            .on_conflict((idempotency_keys::user_id, idempotency_keys::key))
            .do_update()
            .set((idempotency_keys::post_id.eq(id), idempotency_keys::created_at.eq(Instant(post.created_at))))
            .execute(conn)?;
    }
    append(outbox, conn, &new.events)?;
    Ok(Written::Created(new.post))
}

/// Stores notifications on `conn`, inside the caller's transaction.
pub(super) fn insert_notifications(conn: &mut SqliteConnection, list: &[domain::Notification]) -> QueryResult<()> {
    let rows: Vec<_> = list
        .iter()
        .map(|n| {
            (
                notifications::id.eq(Id(n.id)),
                notifications::recipient_id.eq(Id(*n.recipient.as_uuid())),
                notifications::actor_id.eq(Id(*n.actor.id.as_uuid())),
                notifications::kind.eq(n.kind.as_str()),
                notifications::post_id.eq(notification_post_id(&n.kind).map(Id)),
                notifications::created_at.eq(Instant(n.created_at)),
            )
        })
        .collect();
    diesel::insert_into(notifications::table).values(rows).execute(conn)?;
    Ok(())
}

/// Counts one more post of `author` for the quota's day, unless that would pass
/// its limit; `false` then. Read then write is safe: this runs in the one
/// writer's transaction, so no other post is counted in between.
fn count_against(conn: &mut SqliteConnection, author: Id, quota: DailyQuota) -> QueryResult<bool> {
    let limit = i32::try_from(quota.limit).unwrap_or(i32::MAX);
    let day = quota.since.date_naive();
    let created: Option<i32> = counts::table.find((author, day)).select(counts::created).first(conn).optional()?;
    if created.unwrap_or(0) >= limit {
        return Ok(false);
    }
    diesel::insert_into(counts::table)
        .values((counts::user_id.eq(author), counts::day.eq(day), counts::created.eq(1)))
        .on_conflict((counts::user_id, counts::day))
        .do_update()
        .set(counts::created.eq(counts::created + 1))
        .execute(conn)?;
    Ok(true)
}

#[async_trait]
impl PostRepository for SqlitePostRepository {
    #[tracing::instrument(skip_all, fields(post_id = %new.post.id))]
    async fn create(
        &self,
        new: NewPost,
        key: Option<IdempotencyKey>,
        quota: Option<DailyQuota>,
    ) -> Result<CreatePostOutcome, PortError> {
        let outbox = self.outbox.clone();
        let written =
            self.db.write("creating a post", move |conn| write(&outbox, conn, new, key.as_ref(), quota)).await?;
        match written {
            Written::Created(post) => {
                self.outbox.committed();
                Ok(CreatePostOutcome::Created(post))
            }
            Written::QuotaExceeded => Ok(CreatePostOutcome::QuotaExceeded),
            Written::Replayed(loaded) => loaded
                .into_posts()?
                .pop()
                .map(CreatePostOutcome::Replayed)
                .ok_or_else(|| PortError::Unknown(anyhow::anyhow!("idempotency key points to a missing post"))),
        }
    }

    async fn find(&self, id: PostId) -> Result<Option<Post>, PortError> {
        let loaded = self.db.read("finding a post", move |conn| posts_by_id(conn, &[Id(*id.as_uuid())])).await?;
        Ok(loaded.into_posts()?.pop())
    }

    #[tracing::instrument(skip_all, fields(post_id = %id))]
    async fn delete(&self, id: PostId, event: Envelope) -> Result<bool, PortError> {
        let outbox = self.outbox.clone();
        // Mentions, notifications and idempotency keys of the post go with it
        // (ON DELETE CASCADE), its full-text entry by trigger.
        let deleted = self
            .db
            .write("deleting a post", move |conn| {
                let deleted = diesel::delete(posts::table.filter(posts::id.eq(Id(*id.as_uuid())))).execute(conn)?;
                if deleted > 0 {
                    append(&outbox, conn, std::slice::from_ref(&event))?;
                }
                Ok(deleted > 0)
            })
            .await?;
        if deleted {
            self.outbox.committed();
        }
        Ok(deleted)
    }

    async fn list(&self, query: &PostQuery, page: PageRequest) -> Result<Page<Post>, PortError> {
        let scope = query.scope.clone();
        // `None`: the text names no word, so nothing matches (as on PostgreSQL).
        let search = query.text.as_deref().map(match_expression);
        let loaded = self
            .db
            .read("listing posts", move |conn| {
                let wanted = i64::from(page.limit) + 1;
                let rows = match (&scope, search) {
                    (_, Some(None)) => Vec::new(),
                    (PostScope::Everyone, Some(Some(expression))) => search_everyone(conn, &expression, page)?,
                    (PostScope::Timeline(reader), None) => {
                        let ids = timeline_ids(conn, Id(*reader.as_uuid()), page, wanted)?;
                        posts_with_authors().filter(posts::id.eq_any(ids)).order(posts::id.desc()).load(conn)?
                    }
                    (scope, search) => listed(scope, search.flatten(), page, wanted).load(conn)?,
                };
                with_mentions(conn, rows)
            })
            .await?;
        Ok(Page::from_rows(loaded.into_posts()?, page.limit, |p| *p.id.as_uuid()))
    }
}

type Listed = diesel::dsl::IntoBoxed<
    'static,
    diesel::dsl::Select<
        diesel::dsl::InnerJoinOn<posts::table, users::table, diesel::dsl::Eq<users::id, posts::author_id>>,
        (diesel::dsl::AsSelect<PostRow, Backend>, diesel::dsl::AsSelect<UserRow, Backend>),
    >,
    Backend,
>;

fn posts_with_authors() -> Listed {
    posts::table
        .inner_join(users::table.on(users::id.eq(posts::author_id)))
        .select((PostRow::as_select(), UserRow::as_select()))
        .into_boxed()
}

/// Keeps the posts strictly between the page's cursors.
fn in_range(mut select: Listed, page: PageRequest) -> Listed {
    if let Some(before) = page.before {
        select = select.filter(posts::id.lt(Id(before)));
    }
    if let Some(since) = page.since {
        select = select.filter(posts::id.gt(Id(since)));
    }
    select
}

/// The ids of a home timeline page: for the reader and each author they
/// follow, the newest `limit` posts in the page's range (a seek in
/// `posts_author_id_idx` each, the statement prepared once), merged. One
/// `author_id IN (...) ORDER BY id` would read and sort every post those
/// authors ever wrote; this reads at most `limit` per author.
fn timeline_ids(conn: &mut SqliteConnection, reader: Id, page: PageRequest, limit: i64) -> QueryResult<Vec<Id>> {
    let mut authors: Vec<Id> =
        follows::table.filter(follows::follower_id.eq(reader)).select(follows::followee_id).load(conn)?;
    authors.push(reader);
    // Open bounds as the extreme ids keep one statement shape for every page.
    let below = Id(page.before.unwrap_or(uuid::Uuid::max()));
    let above = Id(page.since.unwrap_or(uuid::Uuid::nil()));
    let mut ids = Vec::new();
    for author in authors {
        ids.extend(
            posts::table
                .filter(posts::author_id.eq(author))
                .filter(posts::id.lt(below))
                .filter(posts::id.gt(above))
                .order(posts::id.desc())
                .limit(limit)
                .select(posts::id)
                .load::<Id>(conn)?,
        );
    }
    ids.sort_unstable_by(|a, b| b.cmp(a));
    ids.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(ids)
}

/// The posts of `scope` matching `search` (an FTS5 expression) in the cursor
/// range of `page`, newest first, with their authors. Walks the posts of the
/// scope newest first and asks the full-text index about each one (a seek in
/// its doclists by rowid), so the work is bounded by the posts walked, not by
/// how common the words are.
fn listed(scope: &PostScope, search: Option<String>, page: PageRequest, limit: i64) -> Listed {
    let mut select = posts_with_authors();
    select = match *scope {
        PostScope::Everyone => select,
        PostScope::Author(author) => select.filter(posts::author_id.eq(Id(*author.as_uuid()))),
        PostScope::Timeline(reader) => {
            let reader = Id(*reader.as_uuid());
            let followees = follows::table.filter(follows::follower_id.eq(reader)).select(follows::followee_id);
            select.filter(posts::author_id.eq(reader).or(posts::author_id.eq_any(followees)))
        }
    };
    if let Some(search) = search {
        select = select.filter(
            sql::<Bool>("EXISTS (SELECT 1 FROM posts_search WHERE posts_search MATCH ")
                .bind::<Text, _>(search)
                .sql(" AND posts_search.rowid = posts.seq)"),
        );
    }
    in_range(select, page).order(posts::id.desc()).limit(limit)
}

/// Matches of `search` older than `floor` in the range of `page`, newest
/// first, found through the full-text index: FTS5 lists the matching rowids,
/// each post is fetched by its rowid, and only the matches are sorted.
fn matches_below(search: String, floor: Id, page: PageRequest, limit: i64) -> Listed {
    let candidates = sql::<Bool>("posts.seq IN (SELECT rowid FROM posts_search WHERE posts_search MATCH ")
        .bind::<Text, _>(search)
        .sql(")");
    in_range(posts_with_authors().filter(candidates).filter(posts::id.lt(floor)), page)
        .order(posts::id.desc())
        .limit(limit)
}

/// A global search, newest first, with work bounded whatever the words, as
/// on PostgreSQL: first the newest [`SEARCH_WINDOW`] posts of the range,
/// tested one by one (a common word fills the page there); then, only if the
/// page is not full, the older matches, listed by the full-text index (a rare
/// word has few).
fn search_everyone(
    conn: &mut SqliteConnection,
    search: &str,
    page: PageRequest,
) -> QueryResult<Vec<(PostRow, UserRow)>> {
    let wanted = i64::from(page.limit) + 1;
    let mut window = posts::table.select(posts::id).order(posts::id.desc()).offset(SEARCH_WINDOW - 1).into_boxed();
    if let Some(before) = page.before {
        window = window.filter(posts::id.lt(Id(before)));
    }
    if let Some(since) = page.since {
        window = window.filter(posts::id.gt(Id(since)));
    }
    let floor: Option<Id> = window.first(conn).optional()?;
    let recent = listed(&PostScope::Everyone, Some(search.to_owned()), page, wanted);
    let mut rows = match floor {
        Some(floor) => recent.filter(posts::id.ge(floor)).load(conn)?,
        None => recent.load(conn)?,
    };
    let missing = wanted - i64::try_from(rows.len()).unwrap_or(wanted);
    let Some(floor) = floor else { return Ok(rows) };
    if missing <= 0 {
        return Ok(rows);
    }
    rows.extend(matches_below(search.to_owned(), floor, page, missing).load(conn)?);
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::connection::SimpleConnection;
    use domain::{Author, DomainEvent, PostContent, UserId, Username};

    #[derive(diesel::QueryableByName)]
    struct PlanStep {
        #[diesel(sql_type = Text)]
        detail: String,
    }

    /// The steps of the plan SQLite picks for `query` (its parameters unbound:
    /// the plan does not depend on their values).
    fn plan(conn: &mut SqliteConnection, query: &Listed) -> Vec<String> {
        let sql = diesel::debug_query::<Backend, _>(query).to_string();
        let sql = sql.split(" -- binds:").next().unwrap_or_default().to_owned();
        let steps = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}")).load::<PlanStep>(conn).unwrap();
        steps.into_iter().map(|step| step.detail).collect()
    }

    fn scans_every_post(steps: &[String]) -> bool {
        steps
            .iter()
            .any(|step| step.strip_prefix("SCAN ").and_then(|rest| rest.split_whitespace().next()) == Some("posts"))
    }

    async fn open() -> (Sqlite, std::path::PathBuf) {
        let folder = std::env::temp_dir().join(format!("social-posts-{}", uuid::Uuid::now_v7()));
        (Sqlite::open(&folder.join("social.db"), 1).await.unwrap(), folder)
    }

    /// Searches never scan every post. The recent window of a global search
    /// and the scoped searches walk an index of posts and seek each post in
    /// the full-text index (`=M`: rowid and MATCH); the older matches of a
    /// global search start from the full-text index and fetch posts by rowid.
    #[tokio::test]
    async fn searches_start_from_an_index() {
        let (db, folder) = open().await;
        let floor = Id(uuid::Uuid::now_v7());
        let page = PageRequest { before: Some(uuid::Uuid::now_v7()), since: None, limit: 20 };
        let reader = UserId::generate();
        let (recent, older, scoped) = db
            .read("planning", move |conn| {
                let search = Some("\"x\"".to_owned());
                let recent =
                    plan(conn, &listed(&PostScope::Everyone, search.clone(), page, 21).filter(posts::id.ge(floor)));
                let older = plan(conn, &matches_below("\"x\"".into(), floor, page, 21));
                let scoped = [PostScope::Timeline(reader), PostScope::Author(reader)]
                    .iter()
                    .map(|scope| plan(conn, &listed(scope, search.clone(), page, 21)))
                    .collect::<Vec<_>>();
                Ok((recent, older, scoped))
            })
            .await
            .unwrap();
        assert!(recent.iter().any(|s| s.starts_with("SEARCH posts USING INDEX")), "{recent:?}");
        assert!(recent.iter().any(|s| s.contains("posts_search VIRTUAL TABLE INDEX 0:=M")), "{recent:?}");
        assert!(older.iter().any(|s| s.contains("LIST SUBQUERY")), "{older:?}");
        assert!(older.iter().any(|s| s.contains("posts_search VIRTUAL TABLE INDEX 0:M")), "{older:?}");
        assert!(older.iter().any(|s| s.contains("SEARCH posts USING INTEGER PRIMARY KEY (rowid=?)")), "{older:?}");
        for steps in scoped.iter().chain([&recent, &older]) {
            assert!(!scans_every_post(steps), "a scan of every post: {steps:?}");
        }
        for steps in &scoped {
            assert!(steps.iter().any(|s| s.contains("posts_author_id_idx")), "{steps:?}");
            assert!(steps.iter().any(|s| s.contains("posts_search VIRTUAL TABLE INDEX 0:=M")), "{steps:?}");
        }
        drop(db);
        std::fs::remove_dir_all(folder).unwrap();
    }

    /// The external-content index has no foreign key: the triggers must
    /// follow posts deleted one by one and those a deleted user takes along.
    #[tokio::test]
    async fn the_full_text_index_follows_every_deletion() {
        let (db, folder) = open().await;
        let repository = SqlitePostRepository::new(db.clone(), Outbox::default());
        let author = Author {
            id: UserId::generate(),
            username: Username::new("alice").unwrap(),
            display_name: None,
            avatar: None,
        };
        let id = Id(*author.id.as_uuid());
        db.write("inserting a user", move |conn| {
            diesel::insert_into(users::table)
                .values((
                    users::id.eq(id),
                    users::username.eq("alice"),
                    users::username_key.eq("alice"),
                    users::password_hash.eq("-"),
                    users::created_at.eq(0_i64),
                    users::updated_at.eq(0_i64),
                ))
                .execute(conn)
        })
        .await
        .unwrap();
        let mut ids = Vec::new();
        for n in 0..3 {
            let post = Post {
                id: PostId::generate(),
                author: author.clone(),
                content: PostContent::parse(&format!("word {n}")).unwrap(),
                mentions: Vec::new(),
                created_at: chrono::Utc::now(),
            };
            ids.push(post.id);
            let events = vec![Envelope::new(DomainEvent::PostCreated(post.clone()), post.created_at)];
            repository.create(NewPost { post, notifications: Vec::new(), events }, None, None).await.unwrap();
        }
        let check = "INSERT INTO posts_search (posts_search, rank) VALUES ('integrity-check', 1)";
        let event =
            Envelope::new(DomainEvent::PostDeleted { post_id: ids[0], author_id: author.id }, chrono::Utc::now());
        assert!(repository.delete(ids[0], event).await.unwrap());
        db.write("checking the index", move |conn| conn.batch_execute(check)).await.unwrap();
        let search = PostQuery { scope: PostScope::Everyone, text: Some("word".into()) };
        let page = PageRequest { before: None, since: None, limit: 10 };
        assert_eq!(repository.list(&search, page).await.unwrap().items.len(), 2);
        db.write("deleting the user", |conn| conn.batch_execute("DELETE FROM users")).await.unwrap();
        db.write("checking the index", move |conn| conn.batch_execute(check)).await.unwrap();
        assert!(repository.list(&search, page).await.unwrap().items.is_empty());
        drop(db);
        std::fs::remove_dir_all(folder).unwrap();
    }
}
