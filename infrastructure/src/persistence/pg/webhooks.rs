//! `WebhookRepository` on PostgreSQL, and the lookups of the delivery pipeline.

use application::PortError;
use application::ports::{Webhook, WebhookRepository};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::sql_types::{Bool, Integer};
use diesel::{ExpressionMethods, JoinOnDsl, OptionalExtension, QueryDsl};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use domain::UserId;
use shaku::Component;
use std::collections::HashMap;
use uuid::Uuid;

use super::schema::{follows, webhooks};
use super::{PgPool, checkout, failed};
use crate::persistence::secrets::random_token;
use crate::webhooks::{Audience, WebhookTargets};

#[derive(Component, Clone)]
#[shaku(interface = crate::di::WebhookRepositoryPort)]
pub struct PgWebhookRepository {
    pool: PgPool,
}

type Row = (Uuid, Uuid, String, String, DateTime<Utc>);

/// First key of the two-key advisory locks of webhook registration ("whk"):
/// two-key locks never collide with the one-key locks used elsewhere.
const LOCK_SPACE: i32 = 0x0077_686b;

/// Second key: 32 bits of the random half of the user's UUIDv7. Two users
/// sharing one only wait for each other's registration.
fn lock_key(user: UserId) -> i32 {
    let bytes = user.as_uuid().as_bytes();
    i32::from_be_bytes([bytes[12], bytes[13], bytes[14], bytes[15]])
}

fn to_webhook((id, owner, url, secret, created_at): Row) -> Webhook {
    Webhook { id, owner: UserId::from_uuid(owner), url, secret, created_at }
}

const COLUMNS: (webhooks::id, webhooks::user_id, webhooks::url, webhooks::secret, webhooks::created_at) =
    (webhooks::id, webhooks::user_id, webhooks::url, webhooks::secret, webhooks::created_at);

impl PgWebhookRepository {
    #[must_use]
    pub const fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl WebhookTargets for PgWebhookRepository {
    async fn of_followers(&self, author: UserId) -> Result<Vec<Uuid>, PortError> {
        Ok(self.of_audiences(&[Audience::FollowersOf(author)]).await?.pop().unwrap_or_default())
    }

    /// Two queries at most (followers' webhooks of every author, every
    /// user's own), sent together on one connection; the single lookups
    /// above are batches of one.
    async fn of_audiences(&self, audiences: &[Audience]) -> Result<Vec<Vec<Uuid>>, PortError> {
        let (mut authors, mut users) = (Vec::new(), Vec::new());
        for audience in audiences {
            match audience {
                Audience::FollowersOf(author) => authors.push(*author.as_uuid()),
                Audience::User(user) => users.push(*user.as_uuid()),
            }
        }
        let conn = checkout(&self.pool).await?;
        let (mut for_authors, mut for_users): (&AsyncPgConnection, &AsyncPgConnection) = (&conn, &conn);
        let of_authors = async {
            if authors.is_empty() {
                return Ok(Vec::new());
            }
            webhooks::table
                .inner_join(follows::table.on(follows::follower_id.eq(webhooks::user_id)))
                .filter(follows::followee_id.eq_any(&authors))
                .select((follows::followee_id, webhooks::id))
                .load::<(Uuid, Uuid)>(&mut for_authors)
                .await
        };
        let of_users = async {
            if users.is_empty() {
                return Ok(Vec::new());
            }
            webhooks::table
                .filter(webhooks::user_id.eq_any(&users))
                .select((webhooks::user_id, webhooks::id))
                .load::<(Uuid, Uuid)>(&mut for_users)
                .await
        };
        let (of_authors, of_users) =
            futures::try_join!(of_authors, of_users).map_err(failed("finding the webhooks of a batch of events"))?;
        let group = |pairs: Vec<(Uuid, Uuid)>| {
            let mut grouped: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
            for (owner, webhook) in pairs {
                grouped.entry(owner).or_default().push(webhook);
            }
            grouped
        };
        let (of_authors, of_users) = (group(of_authors), group(of_users));
        Ok(audiences
            .iter()
            .map(|audience| {
                let (grouped, key) = match audience {
                    Audience::FollowersOf(author) => (&of_authors, author.as_uuid()),
                    Audience::User(user) => (&of_users, user.as_uuid()),
                };
                grouped.get(key).cloned().unwrap_or_default()
            })
            .collect())
    }

    async fn of_user(&self, user: UserId) -> Result<Vec<Uuid>, PortError> {
        Ok(self.of_audiences(&[Audience::User(user)]).await?.pop().unwrap_or_default())
    }

    async fn find(&self, id: Uuid) -> Result<Option<Webhook>, PortError> {
        let mut conn = checkout(&self.pool).await?;
        let row: Option<Row> = webhooks::table
            .find(id)
            .select(COLUMNS)
            .first(&mut conn)
            .await
            .optional()
            .map_err(failed("finding a webhook"))?;
        Ok(row.map(to_webhook))
    }
}

#[async_trait]
impl WebhookRepository for PgWebhookRepository {
    #[tracing::instrument(skip_all, fields(user_id = %owner))]
    async fn create(
        &self,
        owner: UserId,
        url: &str,
        at: DateTime<Utc>,
        limit: usize,
    ) -> Result<Option<Webhook>, PortError> {
        let mut conn = checkout(&self.pool).await?;
        let row: Option<Row> = conn
            .transaction(async |conn| {
                // One owner's registrations are counted and inserted one at a
                // time, so concurrent ones cannot all see room for one more.
                diesel::select(
                    sql::<Bool>("pg_advisory_xact_lock(")
                        .bind::<Integer, _>(LOCK_SPACE)
                        .sql(", ")
                        .bind::<Integer, _>(lock_key(owner))
                        .sql(") IS NULL"),
                )
                .execute(conn)
                .await?;
                let held: i64 =
                    webhooks::table.filter(webhooks::user_id.eq(owner.as_uuid())).count().get_result(conn).await?;
                if usize::try_from(held).unwrap_or(usize::MAX) >= limit {
                    return Ok(None);
                }
                diesel::insert_into(webhooks::table)
                    .values((
                        webhooks::id.eq(Uuid::now_v7()),
                        webhooks::user_id.eq(owner.as_uuid()),
                        webhooks::url.eq(url),
                        webhooks::secret.eq(random_token()),
                        webhooks::created_at.eq(at),
                    ))
                    .returning(COLUMNS)
                    .get_result(conn)
                    .await
                    .map(Some)
            })
            .await
            .map_err(failed("creating a webhook"))?;
        Ok(row.map(to_webhook))
    }

    async fn list(&self, owner: UserId) -> Result<Vec<Webhook>, PortError> {
        let mut conn = checkout(&self.pool).await?;
        let rows: Vec<Row> = webhooks::table
            .filter(webhooks::user_id.eq(owner.as_uuid()))
            .order(webhooks::id)
            .select(COLUMNS)
            .load(&mut conn)
            .await
            .map_err(failed("listing webhooks"))?;
        Ok(rows.into_iter().map(to_webhook).collect())
    }

    async fn delete(&self, owner: UserId, id: Uuid) -> Result<bool, PortError> {
        let mut conn = checkout(&self.pool).await?;
        let deleted =
            diesel::delete(webhooks::table.filter(webhooks::id.eq(id)).filter(webhooks::user_id.eq(owner.as_uuid())))
                .execute(&mut conn)
                .await
                .map_err(failed("deleting a webhook"))?;
        Ok(deleted > 0)
    }
}
