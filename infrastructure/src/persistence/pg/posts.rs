//! `PostRepository` on PostgreSQL, and the post loading shared with notifications.

use application::PortError;
use application::paging::{Page, PageRequest};
use application::ports::{
    CreatePostOutcome, DailyQuota, IdempotencyKey, NewPost, PostQuery, PostRepository, PostScope,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::declare_sql_function;
use diesel::dsl::sql;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use diesel::{
    BoolExpressionMethods, ExpressionMethods, OptionalExtension, QueryDsl, Queryable, Selectable, SelectableHelper,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use domain::{Envelope, Post, PostId, UserId};
use shaku::Component;
use uuid::Uuid;

use super::outbox::Outbox;
use super::schema::{follows, idempotency_keys, notifications, post_details, post_mentions, posts};
use super::{PgPool, checkout, failed};
use crate::persistence::rows::{SEARCH_WINDOW, StoredMention, StoredPost, assemble_posts, notification_post_id};
use crate::persistence::users::StoredAuthor;

#[derive(Component)]
#[shaku(interface = crate::di::PostRepositoryPort)]
pub struct PgPostRepository {
    pool: PgPool,
    outbox: Outbox,
}

impl PgPostRepository {
    #[must_use]
    pub const fn new(pool: PgPool, outbox: Outbox) -> Self {
        Self { pool, outbox }
    }
}

/// A row of the `post_details` view: a post with its author and mentions.
#[derive(Queryable, Selectable)]
#[diesel(table_name = post_details, check_for_backend(diesel::pg::Pg))]
pub(super) struct PostRow {
    id: Uuid,
    content: String,
    created_at: DateTime<Utc>,
    author_id: Uuid,
    author_username: String,
    author_display_name: Option<String>,
    author_avatar: Option<String>,
    mention_ids: Vec<Uuid>,
    mention_names: Vec<String>,
}

impl PostRow {
    fn into_stored(self) -> (StoredPost, StoredAuthor, Vec<StoredMention>) {
        let mentions =
            self.mention_ids.into_iter().zip(self.mention_names).map(|(id, name)| (self.id, id, name)).collect();
        let author = StoredAuthor {
            id: self.author_id,
            username: self.author_username,
            display_name: self.author_display_name,
            avatar: self.author_avatar,
        };
        (StoredPost { id: self.id, content: self.content, created_at: self.created_at }, author, mentions)
    }
}

/// Posts from `post_details` rows, in their order.
pub(super) fn to_posts(rows: Vec<PostRow>) -> Result<Vec<Post>, PortError> {
    let mut mentions = Vec::new();
    let mut posts = Vec::with_capacity(rows.len());
    for row in rows {
        let (post, author, mentioned) = row.into_stored();
        mentions.extend(mentioned);
        posts.push((post, author.into_author()?));
    }
    assemble_posts(posts, &mentions)
}

/// One post by id, through the primary keys (an equality, so one plan fits every id).
pub(super) async fn post_by_id(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Option<Post>, PortError> {
    let row = post_details::table
        .find(id)
        .select(PostRow::as_select())
        .first(conn)
        .await
        .optional()
        .map_err(failed("loading a post"))?;
    Ok(to_posts(row.into_iter().collect())?.pop())
}

#[declare_sql_function]
extern "SQL" {
    /// Counts a post against the daily quota (migration `count_post`).
    fn count_post(
        author: diesel::sql_types::Uuid,
        on_day: diesel::sql_types::Date,
        quota: diesel::sql_types::Integer,
    ) -> Bool;

    /// The ids of one timeline page, one per row (migration `post_details`).
    fn timeline_ids(
        reader: diesel::sql_types::Uuid,
        before: Nullable<diesel::sql_types::Uuid>,
        since: Nullable<diesel::sql_types::Uuid>,
        n: BigInt,
    ) -> diesel::sql_types::Uuid;
}

/// A stable 64-bit advisory-lock key per user (the random half of the UUIDv7).
fn lock_key(user: UserId) -> i64 {
    let bytes = user.as_uuid().as_bytes();
    let mut low = [0u8; 8];
    low.copy_from_slice(&bytes[8..]);
    i64::from_be_bytes(low)
}

enum Written {
    Created,
    Replayed(Uuid),
}

/// Why `write` rolled its transaction back.
enum NotWritten {
    QuotaExceeded,
    Failed(diesel::result::Error),
}

impl From<diesel::result::Error> for NotWritten {
    fn from(e: diesel::result::Error) -> Self {
        Self::Failed(e)
    }
}

impl PgPostRepository {
    /// The body of `create`, inside its transaction.
    async fn write(
        &self,
        conn: &mut AsyncPgConnection,
        new: &NewPost,
        key: Option<&IdempotencyKey>,
        quota: Option<DailyQuota>,
    ) -> Result<Written, NotWritten> {
        let post = &new.post;
        let author = *post.author.id.as_uuid();
        if let Some(key) = key {
            // Requests with one author's key are written one at a time, so two
            // concurrent requests cannot both claim it.
            diesel::select(
                sql::<Bool>("pg_advisory_xact_lock(").bind::<BigInt, _>(lock_key(post.author.id)).sql(") IS NULL"),
            )
            .execute(conn)
            .await?;
            let first: Option<Uuid> = idempotency_keys::table
                .filter(idempotency_keys::user_id.eq(author))
                .filter(idempotency_keys::key.eq(&key.key))
                .filter(idempotency_keys::created_at.ge(key.not_before))
                .select(idempotency_keys::post_id)
                .first(conn)
                .await
                .optional()?;
            if let Some(first) = first {
                return Ok(Written::Replayed(first));
            }
        }
        // The quota's count, the post and its events do not depend on one
        // another's answers: they go out together, in one round trip
        // (diesel-async pipelines futures polled together on one connection).
        // Over quota, the transaction is rolled back, the post with it.
        let shared: &AsyncPgConnection = conn;
        let counted = async {
            match quota {
                Some(quota) => count_against(shared, author, quota).await,
                None => Ok(true),
            }
        };
        let inserted = insert_post(shared, post);
        let appended = self.outbox.append(shared, &new.events);
        let (counted, (), ()) = futures::try_join!(counted, inserted, appended)?;
        if !counted {
            return Err(NotWritten::QuotaExceeded);
        }
        // These refer to the post: sent after it is in.
        let mentions: Vec<_> = post
            .mentions
            .iter()
            .map(|m| (post_mentions::post_id.eq(post.id.as_uuid()), post_mentions::user_id.eq(m.user_id.as_uuid())))
            .collect();
        // diesel sends an empty batch as a query of its own: skip it.
        if !mentions.is_empty() {
            diesel::insert_into(post_mentions::table).values(mentions).execute(conn).await?;
        }
        insert_notifications(conn, &new.notifications).await?;
        if let Some(key) = key {
            diesel::insert_into(idempotency_keys::table)
                .values((
                    idempotency_keys::user_id.eq(author),
                    idempotency_keys::key.eq(&key.key),
                    idempotency_keys::post_id.eq(post.id.as_uuid()),
                    idempotency_keys::created_at.eq(post.created_at),
                ))
                .on_conflict((idempotency_keys::user_id, idempotency_keys::key))
                .do_update()
                .set((
                    idempotency_keys::post_id.eq(post.id.as_uuid()),
                    idempotency_keys::created_at.eq(post.created_at),
                ))
                .execute(conn)
                .await?;
        }
        Ok(Written::Created)
    }
}

async fn insert_post(mut conn: &AsyncPgConnection, post: &Post) -> diesel::QueryResult<()> {
    diesel::insert_into(posts::table)
        .values((
            posts::id.eq(post.id.as_uuid()),
            posts::author_id.eq(post.author.id.as_uuid()),
            posts::content.eq(post.content.as_str()),
            posts::created_at.eq(post.created_at),
        ))
        .execute(&mut conn)
        .await
        .map(drop)
}

/// Stores notifications on `conn`, inside the caller's transaction.
pub(super) async fn insert_notifications(
    conn: &mut AsyncPgConnection,
    list: &[domain::Notification],
) -> diesel::QueryResult<()> {
    let rows: Vec<_> = list
        .iter()
        .map(|n| {
            let post_id = notification_post_id(&n.kind);
            (
                notifications::id.eq(n.id),
                notifications::recipient_id.eq(n.recipient.as_uuid()),
                notifications::actor_id.eq(n.actor.id.as_uuid()),
                notifications::kind.eq(n.kind.as_str()),
                notifications::post_id.eq(post_id),
                notifications::created_at.eq(n.created_at),
            )
        })
        .collect();
    if !rows.is_empty() {
        diesel::insert_into(notifications::table).values(rows).execute(conn).await?;
    }
    Ok(())
}

/// Counts one more post of `author` for the quota's day, unless that would pass
/// its limit; `false` then. The row lock of the upsert (migration `count_post`)
/// serializes one author's concurrent posts at this statement only, so no
/// advisory lock is needed.
async fn count_against(mut conn: &AsyncPgConnection, author: Uuid, quota: DailyQuota) -> diesel::QueryResult<bool> {
    let limit = i32::try_from(quota.limit).unwrap_or(i32::MAX);
    if limit == 0 {
        return Ok(false);
    }
    diesel::select(count_post(author, quota.since.date_naive(), limit)).get_result(&mut conn).await
}

#[async_trait]
impl PostRepository for PgPostRepository {
    #[tracing::instrument(skip_all, fields(post_id = %new.post.id))]
    async fn create(
        &self,
        new: NewPost,
        key: Option<IdempotencyKey>,
        quota: Option<DailyQuota>,
    ) -> Result<CreatePostOutcome, PortError> {
        let mut conn = checkout(&self.pool).await?;
        let written = conn.transaction(async |conn| self.write(conn, &new, key.as_ref(), quota).await).await;
        match written {
            Ok(Written::Created) => {
                self.outbox.committed();
                Ok(CreatePostOutcome::Created(new.post))
            }
            Err(NotWritten::QuotaExceeded) => Ok(CreatePostOutcome::QuotaExceeded),
            Err(NotWritten::Failed(e)) => Err(failed("creating a post")(e)),
            Ok(Written::Replayed(first)) => {
                let post = post_by_id(&mut conn, first).await?;
                post.map(CreatePostOutcome::Replayed)
                    .ok_or_else(|| PortError::Unknown(anyhow::anyhow!("idempotency key points to a missing post")))
            }
        }
    }

    async fn find(&self, id: PostId) -> Result<Option<Post>, PortError> {
        let mut conn = checkout(&self.pool).await?;
        post_by_id(&mut conn, *id.as_uuid()).await
    }

    #[tracing::instrument(skip_all, fields(post_id = %id))]
    async fn delete(&self, id: PostId, event: Envelope) -> Result<bool, PortError> {
        let mut conn = checkout(&self.pool).await?;
        conn.transaction(async move |conn| {
            let deleted = diesel::delete(posts::table.find(id.as_uuid())).execute(conn).await?;
            if deleted > 0 {
                self.outbox.append(conn, std::slice::from_ref(&event)).await?;
            }
            Ok(deleted > 0)
        })
        .await
        .map_err(failed("deleting a post"))
        .inspect(|&deleted| {
            if deleted {
                self.outbox.committed()
            }
        })
    }

    async fn list(&self, query: &PostQuery, page: PageRequest) -> Result<Page<Post>, PortError> {
        let mut conn = checkout(&self.pool).await?;
        let rows = match (&query.scope, &query.text) {
            (PostScope::Everyone, Some(text)) => search_everyone(&mut conn, text, page).await,
            _ => listed(query, page, i64::from(page.limit) + 1).load(&mut conn).await,
        }
        .map_err(failed("listing posts"))?;
        let posts = to_posts(rows)?;
        Ok(Page::from_rows(posts, page.limit, |p| *p.id.as_uuid()))
    }
}

type Listed<'a> = diesel::dsl::IntoBoxed<
    'a,
    diesel::dsl::Select<post_details::table, diesel::dsl::AsSelect<PostRow, diesel::pg::Pg>>,
    diesel::pg::Pg,
>;

/// The posts of `query` in the cursor range of `page`, newest first, with their authors.
fn listed<'a>(query: &'a PostQuery, page: PageRequest, limit: i64) -> Listed<'a> {
    let mut select = post_details::table.select(PostRow::as_select()).into_boxed();
    select = match query.scope {
        PostScope::Everyone => select,
        PostScope::Author(author) => select.filter(post_details::author_id.eq(*author.as_uuid())),
        // The page's ids are picked author by author (see the migration); the
        // text filter below needs every post of the range, so not with a text.
        PostScope::Timeline(reader) if query.text.is_none() => {
            let ids = diesel::select(timeline_ids(*reader.as_uuid(), page.before, page.since, limit));
            select.filter(post_details::id.eq_any(ids))
        }
        PostScope::Timeline(reader) => {
            let followees =
                follows::table.filter(follows::follower_id.eq(*reader.as_uuid())).select(follows::followee_id);
            select.filter(post_details::author_id.eq(*reader.as_uuid()).or(post_details::author_id.eq_any(followees)))
        }
    };
    if let Some(text) = &query.text {
        // websearch_to_tsquery accepts any string: quotes, operators and
        // punctuation are parsed as search syntax or dropped, never as SQL.
        select = select.filter(
            sql::<Bool>("post_details.search @@ websearch_to_tsquery('simple', ")
                .bind::<Text, _>(text.clone())
                .sql(")"),
        );
    }
    if let Some(before) = page.before {
        select = select.filter(post_details::id.lt(before));
    }
    if let Some(since) = page.since {
        select = select.filter(post_details::id.gt(since));
    }
    select.order(post_details::id.desc()).limit(limit)
}

/// A global search, newest first, with work bounded whatever the word.
///
/// Walking `posts_pkey` backwards and testing each post is fastest for a word
/// in many recent posts; asking the GIN index for every match is fastest for a
/// rare one. PostgreSQL picks between them from its statistics and can pick
/// badly: a word in 0.5 % of the posts, all of them old, made it walk a million
/// rows (532 ms). So: first the newest [`SEARCH_WINDOW`] posts of the range
/// (a common word fills the page there); then, only if the page is not full,
/// the older matches, found through the index (`id = ANY(ARRAY(...))` makes the
/// index produce the candidates before anything is ordered).
async fn search_everyone(
    conn: &mut AsyncPgConnection,
    text: &str,
    page: PageRequest,
) -> diesel::QueryResult<Vec<PostRow>> {
    let wanted = i64::from(page.limit) + 1;
    let query = PostQuery { scope: PostScope::Everyone, text: Some(text.to_owned()) };
    let mut window = posts::table.select(posts::id).order(posts::id.desc()).offset(SEARCH_WINDOW - 1).into_boxed();
    if let Some(before) = page.before {
        window = window.filter(posts::id.lt(before));
    }
    if let Some(since) = page.since {
        window = window.filter(posts::id.gt(since));
    }
    let floor: Option<Uuid> = window.first(conn).await.optional()?;
    let recent = match floor {
        Some(floor) => listed(&query, page, wanted).filter(post_details::id.ge(floor)),
        None => listed(&query, page, wanted),
    };
    let mut rows = recent.load(conn).await?;
    let missing = wanted - i64::try_from(rows.len()).unwrap_or(wanted);
    let Some(floor) = floor else { return Ok(rows) };
    if missing <= 0 {
        return Ok(rows);
    }
    let older = PageRequest { before: Some(floor), ..page };
    let candidates = sql::<Bool>(
        "post_details.id = ANY(ARRAY(SELECT p.id FROM posts p WHERE p.search @@ websearch_to_tsquery('simple', ",
    )
    .bind::<Text, _>(text.to_owned())
    .sql(") AND p.id < ")
    .bind::<diesel::sql_types::Uuid, _>(floor)
    .sql("))");
    rows.extend(listed(&query, older, missing).filter(candidates).load(conn).await?);
    Ok(rows)
}
