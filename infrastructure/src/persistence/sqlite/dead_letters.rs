//! Dead letters of the in-process bus: events a consumer failed to handle
//! after its last attempt (RabbitMQ's dead-letter queue in the served family).

use application::PortError;
use chrono::{DateTime, Utc};
use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
use serde_json::Value;
use uuid::Uuid;

use super::Sqlite;
use super::schema::{dead_letters, outbox};
use super::types::{Id, Instant};

/// One event a consumer gave up on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub event_id: Uuid,
    pub routing_key: String,
    /// The purpose of the consumer that failed it.
    pub consumer: String,
    /// The envelope as published.
    pub body: Vec<u8>,
    /// The last failure, as the handler reported it.
    pub reason: String,
    pub attempts: i32,
}

/// Keeps `letter` until a replay.
///
/// # Errors
/// When the database fails.
pub async fn record(db: &Sqlite, letter: DeadLetter) -> Result<(), PortError> {
    db.write("recording a dead letter", move |conn| {
        diesel::insert_into(dead_letters::table)
            .values((
                dead_letters::event_id.eq(Id(letter.event_id)),
                dead_letters::routing_key.eq(letter.routing_key),
                dead_letters::consumer.eq(letter.consumer),
                dead_letters::body.eq(letter.body),
                dead_letters::reason.eq(letter.reason),
                dead_letters::attempts.eq(letter.attempts),
                dead_letters::failed_at.eq(Instant(Utc::now())),
            ))
            .execute(conn)
            .map(drop)
    })
    .await
}

/// Every dead letter, oldest first.
///
/// # Errors
/// When the database fails.
pub async fn list(db: &Sqlite) -> Result<Vec<DeadLetter>, PortError> {
    let rows = db
        .read("listing dead letters", |conn| {
            dead_letters::table
                .order(dead_letters::id)
                .select((
                    dead_letters::event_id,
                    dead_letters::routing_key,
                    dead_letters::consumer,
                    dead_letters::body,
                    dead_letters::reason,
                    dead_letters::attempts,
                ))
                .load::<(Id, String, String, Vec<u8>, String, i32)>(conn)
        })
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, routing_key, consumer, body, reason, attempts)| DeadLetter {
            event_id: id.0,
            routing_key,
            consumer,
            body,
            reason,
            attempts,
        })
        .collect())
}

/// Hands every dead event back to the relay, in one transaction: its outbox
/// row is marked unpublished again (or written anew from the dead letter if it
/// is gone), so the relay publishes it once more with its own event id, and
/// the dead letters are deleted. The bus delivers a replayed event to every
/// consumer bound to it: those that had handled it already drop it by its id.
/// Returns how many dead letters were moved.
///
/// # Errors
/// When the database fails; nothing is moved then.
pub async fn replay(db: &Sqlite) -> Result<usize, PortError> {
    db.write("replaying dead letters", |conn| {
        let letters: Vec<(i64, Id, String, Vec<u8>, Instant)> = dead_letters::table
            .order(dead_letters::id)
            .select((
                dead_letters::id,
                dead_letters::event_id,
                dead_letters::routing_key,
                dead_letters::body,
                dead_letters::failed_at,
            ))
            .load(conn)?;
        for (_, event_id, routing_key, body, failed_at) in &letters {
            let (data, created_at) = envelope_parts(body, failed_at.0);
            diesel::insert_into(outbox::table)
                .values((
                    outbox::id.eq(*event_id),
                    outbox::event_type.eq(routing_key),
                    outbox::payload.eq(data.to_string()),
                    outbox::created_at.eq(Instant(created_at)),
                ))
                .on_conflict(outbox::id)
                .do_update()
                .set(outbox::published_at.eq(None::<Instant>))
                .execute(conn)?;
        }
        let ids: Vec<i64> = letters.iter().map(|letter| letter.0).collect();
        diesel::delete(dead_letters::table.filter(dead_letters::id.eq_any(&ids))).execute(conn)?;
        Ok(letters.len())
    })
    .await
}

/// The `data` and `created_at` of a published envelope, for an outbox row
/// that no longer exists; what cannot be read is replaced (`null`, the time of
/// the failure) rather than losing the event.
fn envelope_parts(body: &[u8], failed_at: DateTime<Utc>) -> (Value, DateTime<Utc>) {
    let mut envelope: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let created_at = envelope
        .get("created_at")
        .and_then(Value::as_str)
        .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
        .map_or(failed_at, |at| at.with_timezone(&Utc));
    (envelope.get_mut("data").map(Value::take).unwrap_or(Value::Null), created_at)
}
