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
        // Dead webhook jobs are not events: `webhooks::replay_dead_letters` moves them.
        let letters: Vec<(i64, Id, String, Vec<u8>, Instant)> = dead_letters::table
            .filter(dead_letters::consumer.ne(super::webhooks::DEAD_LETTER_CONSUMER))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Envelope, EventData, Stored};
    use crate::persistence::outbox::Outbox;

    async fn db() -> Sqlite {
        let path = std::env::temp_dir().join("social-dead-letters").join(format!("{}.db", Uuid::now_v7().simple()));
        Sqlite::open(&path, 1).await.unwrap()
    }

    /// `(id, published, payload)` of every outbox row.
    async fn outbox_rows(db: &Sqlite) -> Vec<(Uuid, bool, Value)> {
        db.read("outbox", |conn| {
            outbox::table
                .order(outbox::id)
                .select((outbox::id, outbox::published_at.is_not_null(), outbox::payload))
                .load::<(Id, bool, String)>(conn)
        })
        .await
        .unwrap()
        .into_iter()
        .map(|(id, published, payload)| (id.0, published, serde_json::from_str(&payload).unwrap()))
        .collect()
    }

    fn letter(event_id: Uuid, data: &Value, consumer: &str) -> DeadLetter {
        let body = Envelope {
            id: event_id,
            event: Stored { kind: "auth.revoked", data },
            created_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        }
        .to_bytes()
        .unwrap();
        DeadLetter {
            event_id,
            routing_key: "auth.revoked".into(),
            consumer: consumer.into(),
            body,
            reason: "refused".into(),
            attempts: 3,
        }
    }

    #[tokio::test]
    async fn replaying_hands_each_dead_event_back_to_the_relay_once() {
        let db = db().await;
        let outbox = Outbox::default();
        let event = EventData::AuthRevoked { token_id: Uuid::now_v7(), expires_at: Utc::now() };
        let written = outbox.clone();
        db.write("appending", move |conn| super::super::outbox::append_system(&written, conn, &event)).await.unwrap();
        db.write("publishing", |conn| {
            diesel::update(outbox::table).set(outbox::published_at.eq(Instant(Utc::now()))).execute(conn)
        })
        .await
        .unwrap();
        let [(published_id, true, data)] = <[_; 1]>::try_from(outbox_rows(&db).await).unwrap() else {
            panic!("one published row");
        };
        // Two consumers failed the published event; one event's row is gone.
        let gone = Uuid::now_v7();
        let gone_data = serde_json::json!({"token_id": Uuid::now_v7(), "expires_at": "2027-01-15T08:00:00Z"});
        for letter in [letter(published_id, &data, "notifier"), letter(published_id, &data, "api revocations")] {
            record(&db, letter).await.unwrap();
        }
        record(&db, letter(gone, &gone_data, "notifier")).await.unwrap();

        assert_eq!(replay(&db).await.unwrap(), 3);
        assert_eq!(outbox_rows(&db).await, vec![(published_id, false, data), (gone, false, gone_data)]);
        assert!(list(&db).await.unwrap().is_empty());
        assert_eq!(replay(&db).await.unwrap(), 0, "nothing left to replay");
    }
}
