//! The outbox relay over each backend's outbox: rows reach the bus once each,
//! in id order, and are marked; a publish that fails loses nothing.

use diesel::{ExpressionMethods, QueryDsl};
use infrastructure::events::{Envelope, EventData};
use infrastructure::messaging::{EventBus, Handler, Outgoing, Relay};
use infrastructure::persistence::outbox::Outbox;
use infrastructure::persistence::sqlite::Sqlite;
use infrastructure::persistence::{PgPool, schema};
use infrastructure::wire::PublicUrls;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::support::{self, Backend, PgDatabase};

/// A bus that keeps what it was given and refuses its first `failures` batches.
#[derive(Default)]
struct Recording {
    published: Mutex<Vec<Outgoing>>,
    failures: AtomicUsize,
    calls: AtomicUsize,
}

#[async_trait::async_trait]
impl EventBus for Recording {
    async fn publish(&self, events: &[Outgoing]) -> anyhow::Result<()> {
        if self.calls.fetch_add(1, Ordering::SeqCst) < self.failures.load(Ordering::SeqCst) {
            anyhow::bail!("refused for the test");
        }
        self.published.lock().unwrap().extend_from_slice(events);
        Ok(())
    }

    async fn consume(&self, _: &'static str, _: &'static [&'static str], _: u16, _: Handler) {
        std::future::pending().await
    }

    fn is_up(&self) -> bool {
        true
    }

    async fn close(&self) {}
}

/// One backend's outbox: where to write rows and how many wait.
enum Store {
    Postgres(PgDatabase),
    Sqlite(Sqlite),
}

impl Store {
    async fn append(&self, outbox: &Outbox, event: EventData) {
        match self {
            Self::Postgres(pool) => {
                let conn = pool.get().await.unwrap();
                outbox.append_system(&conn, &event).await.unwrap();
            }
            Self::Sqlite(db) => {
                let outbox = outbox.clone();
                db.write("appending", move |conn| {
                    infrastructure::persistence::sqlite::outbox::append_system(&outbox, conn, &event)
                })
                .await
                .unwrap();
            }
        }
        outbox.committed();
    }

    async fn unpublished(&self) -> i64 {
        match self {
            Self::Postgres(pool) => {
                use diesel_async::RunQueryDsl;
                let mut conn = pool.get().await.unwrap();
                schema::outbox::table
                    .filter(schema::outbox::published_at.is_null())
                    .count()
                    .get_result(&mut conn)
                    .await
                    .unwrap()
            }
            Self::Sqlite(db) => {
                use diesel::RunQueryDsl;
                use infrastructure::persistence::sqlite::schema::outbox;
                db.read("counting", |conn| {
                    outbox::table.filter(outbox::published_at.is_null()).count().get_result(conn)
                })
                .await
                .unwrap()
            }
        }
    }
}

/// Written rows, each an `auth.revoked` of a fresh token.
async fn write(store: &Store, outbox: &Outbox, count: usize) -> Vec<Uuid> {
    let mut tokens = Vec::new();
    for _ in 0..count {
        let token_id = Uuid::now_v7();
        store.append(outbox, EventData::AuthRevoked { token_id, expires_at: chrono::Utc::now() }).await;
        tokens.push(token_id);
    }
    tokens
}

/// The tokens of the events published so far, waiting until there are `count`.
async fn published(bus: &Recording, count: usize) -> Vec<Uuid> {
    for _ in 0..100 {
        let events = bus.published.lock().unwrap().clone();
        if events.len() >= count {
            return events
                .iter()
                .map(|event| {
                    let envelope = Envelope::parse(&event.body).unwrap();
                    assert_eq!(envelope.id, event.id);
                    assert_eq!(event.routing_key, "auth.revoked");
                    match envelope.event {
                        EventData::AuthRevoked { token_id, .. } => token_id,
                        other => panic!("unexpected {other:?}"),
                    }
                })
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("fewer than {count} events published");
}

async fn unpublished_once_settled(store: &Store) -> i64 {
    let mut unpublished = store.unpublished().await;
    for _ in 0..50 {
        if unpublished == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        unpublished = store.unpublished().await;
    }
    unpublished
}

/// The URL of the database `pool` is connected to, for the relay's own connection.
async fn url_of(pool: &PgPool) -> String {
    use diesel_async::RunQueryDsl;
    let mut conn = pool.get().await.unwrap();
    let name: String = diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>("current_database()"))
        .get_result(&mut conn)
        .await
        .unwrap();
    format!("{}/{name}", support::postgres_server().unwrap())
}

#[tokio::test]
async fn rows_reach_the_bus_in_order_once_each_and_are_marked_even_after_a_failed_publish() {
    for backend in support::backends().await {
        let wake = Arc::new(Notify::new());
        let outbox = Outbox::new(PublicUrls::default(), Arc::clone(&wake));
        let bus = Arc::new(Recording { failures: AtomicUsize::new(1), ..Recording::default() });
        // A long poll: only the wake-up can explain a prompt publish.
        let poll = Duration::from_secs(60);
        let name = backend.name();
        let (store, relay) = match backend {
            Backend::Postgres(pool) => {
                let relay = Relay::postgres(url_of(&pool).await, bus.clone(), Arc::clone(&wake), poll);
                (Store::Postgres(pool), relay)
            }
            Backend::Sqlite(db) => {
                let relay = Relay::sqlite(db.clone(), bus.clone(), Arc::clone(&wake), poll);
                (Store::Sqlite(db), relay)
            }
        };
        // Rows written while no relay ran.
        let mut tokens = write(&store, &outbox, 5).await;
        let running = tokio::spawn(relay.run());
        assert_eq!(published(&bus, 5).await, tokens, "the refused batch is published again, in order: {name}");
        tokens.extend(write(&store, &outbox, 3).await);
        assert_eq!(published(&bus, 8).await, tokens, "later rows follow, once each: {name}");
        assert_eq!(unpublished_once_settled(&store).await, 0, "every row is marked: {name}");
        assert!(bus.calls.load(Ordering::SeqCst) >= 2, "the first publish was refused: {name}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(bus.published.lock().unwrap().len(), 8, "nothing is published twice: {name}");
        running.abort();
    }
}
