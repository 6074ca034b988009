//! The notifier service: consumes events from RabbitMQ and pushes them over
//! WebSocket to the connected users they concern.

mod catch_up;
mod hub;
mod outlet;
pub(crate) mod render;
mod seen;
mod session;
mod store;

pub use hub::{Hub, close};
pub use store::NotifierStore;

use actix_web::dev::ServerHandle;
use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::web::Bytes;
use actix_web::{App, HttpServer, web};
use anyhow::{Context, anyhow};
use domain::UserId;
use std::net::TcpListener;
use std::sync::Arc;

use crate::app::{Core, Family, build_core, public_urls};
use crate::config::Config;
use crate::di::AppModule;
use crate::events::{AUTH_REVOKED, Envelope, EventData, USER_DELETED};
use crate::http::{Readiness, health, middleware, problem::ApiError};
use crate::messaging::{EventBus, Message, sync_handler};
use crate::persistence::PgNotifierStore;
use crate::persistence::sqlite::SqliteNotifierStore;
use crate::security::RevocationCache;
use crate::wire::PublicUrls;

/// Routing keys the notifier listens to.
const BINDINGS: [&str; 7] = [
    "post.created",
    "post.deleted",
    "follow.created",
    "follow.deleted",
    "notification.created",
    AUTH_REVOKED,
    USER_DELETED,
];

/// Unacknowledged deliveries in flight: handling is a few map lookups, so a
/// few hundred keep the pipe full without holding much memory.
const PREFETCH: u16 = 256;

/// What the socket handlers share.
pub struct Notifier {
    pub module: Arc<AppModule>,
    pub store: Arc<dyn NotifierStore>,
    pub hub: Arc<Hub>,
    pub urls: PublicUrls,
    revocations: RevocationCache,
    /// Events already handed to sockets (the broker delivers at least once).
    seen: seen::Seen,
}

impl Notifier {
    /// Routes one broker message. Errors mean a malformed message: the
    /// consumer retries it a bounded number of times, then dead-letters it.
    fn handle(&self, message: &Message) -> anyhow::Result<()> {
        let event = Envelope::parse(&message.body).context("event envelope")?;
        if self.seen.contains(event.id) {
            metrics::counter!("events_duplicates_dropped_total", "type" => event.event.type_name()).increment(1);
            return Ok(());
        }
        // From the event's creation by the writing request (its commit, the
        // relay and the broker) to this notifier: the fan-out's head start.
        let lag = (chrono::Utc::now() - event.created_at).to_std().unwrap_or_default();
        metrics::histogram!("event_lag_seconds", "type" => event.event.type_name()).record(lag.as_secs_f64());
        self.route(&event, &message.body)?;
        // Only a handled event counts as seen: a failed one must be retried.
        self.seen.record(event.id);
        Ok(())
    }

    /// `published` is the event as the broker delivered it: for posts, it is
    /// already the frame clients receive, sent on without re-serializing.
    fn route(&self, event: &Envelope<EventData>, published: &[u8]) -> anyhow::Result<()> {
        let kind = event.event.type_name();
        match &event.event {
            EventData::PostCreated { post } => {
                let author = UserId::from_uuid(post.author.id);
                let frame = hub::Frame::new(event.id, Bytes::copy_from_slice(published))?;
                delivered(kind, self.hub.to_followers(author, &frame));
            }
            EventData::PostDeleted { author_id, .. } => {
                let frame = hub::Frame::new(event.id, Bytes::copy_from_slice(published))?;
                delivered(kind, self.hub.to_followers(UserId::from_uuid(*author_id), &frame));
            }
            EventData::FollowCreated(follow) => {
                self.hub.follow(UserId::from_uuid(follow.follower_id), UserId::from_uuid(follow.followee_id));
            }
            EventData::FollowDeleted(follow) => {
                self.hub.unfollow(UserId::from_uuid(follow.follower_id), UserId::from_uuid(follow.followee_id));
            }
            EventData::NotificationCreated { recipient_id, notification } => {
                let frame = render::live_notification(event.id, event.created_at, notification)
                    .ok_or_else(|| anyhow!("unrenderable notification"))?;
                delivered(kind, self.hub.to_user(UserId::from_uuid(*recipient_id), &frame));
            }
            EventData::AuthRevoked { token_id, .. } => {
                self.revocations.apply_event(&event.event)?;
                self.hub.revoke_token(*token_id);
            }
            EventData::UserDeleted { user_id, .. } => {
                self.revocations.apply_event(&event.event)?;
                self.hub.close_user(UserId::from_uuid(*user_id), close::REVOKED);
            }
        }
        Ok(())
    }
}

/// Counts frames handed to sockets, by event type.
fn delivered(kind: &str, sockets: usize) {
    metrics::counter!("events_delivered_total", "type" => kind.to_owned()).increment(sockets as u64);
}

/// A built notifier, bound to its port.
pub struct NotifierApp {
    port: u16,
    server: actix_web::dev::Server,
    hub: Arc<Hub>,
    bus: Arc<dyn EventBus>,
}

impl NotifierApp {
    /// # Errors
    /// When PostgreSQL cannot be reached or the port cannot be bound.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::start(build_core(&config).await?, config).await
    }

    /// Like [`NotifierApp::build`], on a core built already (and shared with
    /// an api in the same process).
    ///
    /// # Errors
    /// When the port cannot be bound.
    pub async fn start(core: Core, config: Config) -> anyhow::Result<Self> {
        let hub = Arc::new(Hub::default());
        let (bus, readiness) = (core.bus(), core.readiness());
        let notifier = Arc::new(Notifier {
            module: Arc::clone(&core.module),
            store: match &core.family {
                Family::Served { pool, .. } => Arc::new(PgNotifierStore::new(pool.clone())),
                Family::Embedded { db, .. } => Arc::new(SqliteNotifierStore::new(db.clone())),
            },
            hub: Arc::clone(&hub),
            urls: public_urls(&config),
            revocations: core.revocations.clone(),
            seen: seen::Seen::default(),
        });
        let consumer = Arc::clone(&notifier);
        // Fan-out calls try_send in a loop: keep tokio's cooperative budget
        // from reporting healthy queues as full: after 128 polls in one task,
        // tokio answers "full" for empty queues.
        let consuming = Arc::clone(&bus);
        let consumers = core.consumers();
        tokio::spawn(tokio::task::unconstrained(async move {
            consuming
                .consume("notifier", &BINDINGS, PREFETCH, sync_handler(move |message| consumer.handle(message)))
                .await;
        }));
        core.bound(consumers).await;
        tokio::spawn(ping_every_socket(Arc::downgrade(&hub)));
        let listener = TcpListener::bind((config.server_address, config.websocket_port))
            .with_context(|| format!("binding {}:{}", config.server_address, config.websocket_port))?;
        let port = listener.local_addr()?.port();
        let server = serve(listener, notifier, readiness, config.notifier_workers)?;
        Ok(Self { port, server, hub, bus })
    }

    #[must_use]
    pub const fn port(&self) -> u16 {
        self.port
    }

    /// Open sockets.
    #[must_use]
    pub fn connections(&self) -> usize {
        self.hub.connections()
    }

    /// A handle that stops the server; sockets are closed with 1001 first.
    #[must_use]
    pub fn stopper(&self) -> Stopper {
        Stopper { hub: Arc::clone(&self.hub), server: self.server.handle() }
    }

    /// # Errors
    /// When the server stops on an I/O error.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let outcome = self.server.await;
        self.bus.close().await;
        outcome
    }
}

/// Stops a notifier gracefully.
#[derive(Clone)]
pub struct Stopper {
    hub: Arc<Hub>,
    server: ServerHandle,
}

impl Stopper {
    pub async fn stop(&self) {
        self.hub.close_all(close::GOING_AWAY);
        // Give the socket tasks a moment to send their close frames.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        self.server.stop(true).await;
    }
}

fn serve(
    listener: TcpListener,
    notifier: Arc<Notifier>,
    readiness: Readiness,
    workers: usize,
) -> std::io::Result<actix_web::dev::Server> {
    crate::telemetry::metrics();
    let notifier = web::Data::from(notifier);
    let readiness = web::Data::new(readiness);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(ErrorHandlers::new().default_handler(middleware::ensure_problem))
            .wrap(from_fn(middleware::request_id))
            .app_data(notifier.clone())
            .app_data(readiness.clone())
            .app_data(crate::http::extract::query_config())
            .route("/ws", web::get().to(session::upgrade))
            .route("/health/live", web::get().to(health::live))
            .route("/health/ready", web::get().to(health::ready))
            .route("/metrics", web::get().to(crate::telemetry::render_metrics))
            .default_service(web::to(|| async {
                Err::<actix_web::HttpResponse, _>(ApiError::from_status(actix_web::http::StatusCode::NOT_FOUND))
            }))
    })
    .workers(workers)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok(server)
}

/// Pings every socket of the hub every [`session::PING_EVERY`], until the hub is gone.
async fn ping_every_socket(hub: std::sync::Weak<Hub>) {
    let mut tick = tokio::time::interval(session::PING_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(hub) = hub.upgrade() else { return };
        // Offers poll tokio's semaphore: keep the cooperative budget from
        // reading healthy queues as full.
        tokio::task::unconstrained(async { hub.ping_all() }).await;
    }
}
