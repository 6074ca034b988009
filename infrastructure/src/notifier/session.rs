//! `GET /ws`: authentication before the upgrade, optional catch-up, then a
//! task per socket that writes frames, pings, and closes.

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{CloseCode, CloseReason, Message};
use application::auth::AuthService;
use application::ports::AccessClaims;
use application::{ApplicationError, AuthFailure};
use futures::StreamExt;
use serde::Deserialize;
use shaku::HasComponent;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

use super::Notifier;
use super::catch_up::{self, CatchUp};
use super::hub::{Queued, Registration};
use crate::http::extract::bearer_token;
use crate::http::problem::ApiError;

/// The server pings every socket this often (one timer for all of them)...
pub const PING_EVERY: Duration = Duration::from_secs(20);
/// ...and gives up on a client silent for this long.
const SILENCE_LIMIT: Duration = Duration::from_secs(60);
/// Largest frame a client may send (clients only answer pings).
const MAX_INBOUND_FRAME: usize = 4 * 1024;

#[derive(Deserialize)]
pub struct WsQuery {
    ticket: Option<String>,
    since: Option<Uuid>,
}

async fn authenticate(req: &HttpRequest, notifier: &Notifier, ticket: Option<&str>) -> Result<AccessClaims, ApiError> {
    let auth: Arc<AuthService> = notifier.module.resolve();
    match (bearer_token(req).map_err(ApiError::unauthorized)?, ticket) {
        (Some(token), _) => Ok(auth.authenticate(token)?),
        (None, Some(ticket)) => Ok(auth.authenticate_ticket(ticket).await?),
        (None, None) => Err(ApplicationError::Unauthorized(AuthFailure::MissingToken).into()),
    }
}

/// Refuses with 401 before the upgrade unless the caller is authenticated.
pub async fn upgrade(
    req: HttpRequest,
    body: web::Payload,
    query: web::Query<WsQuery>,
    notifier: web::Data<Notifier>,
) -> Result<HttpResponse, actix_web::Error> {
    let claims = authenticate(&req, &notifier, query.ticket.as_deref()).await?;
    let followees =
        notifier.store.followees(claims.user_id).await.map_err(|e| ApiError::from(ApplicationError::from(e)))?;
    let (response, session, messages) = actix_ws::handle(&req, body)?;
    let registration = notifier.hub.register(claims.user_id, claims.token_id, followees);
    metrics::gauge!("websocket_connections").increment(1.0);
    tracing::info!(user_id = %claims.user_id, session = registration.session, "socket open");
    actix_web::rt::spawn(run(
        Arc::clone(&notifier),
        session,
        messages.max_frame_size(MAX_INBOUND_FRAME),
        registration,
        query.since,
    ));
    Ok(response)
}

/// How a catch-up ended.
enum Replay {
    /// Everything missed was sent: these ids, which the live queue may hold too.
    Complete(HashSet<Uuid>),
    /// [`catch_up::MOST_FRAMES`] were sent and more remain: the client is to
    /// reconnect with the last id it got.
    Partial,
    /// The store failed or the socket closed.
    Failed,
}

/// Sends what the user missed since `since`, oldest first.
async fn replay(notifier: &Notifier, session: &mut actix_ws::Session, user: domain::UserId, since: Uuid) -> Replay {
    let mut catch_up = CatchUp::new(user, since);
    let mut sent = HashSet::new();
    loop {
        let frames = match catch_up.next(notifier.store.as_ref(), &notifier.urls).await {
            Ok(Some(frames)) => frames,
            Ok(None) => return Replay::Complete(sent),
            Err(e) => {
                tracing::warn!(user_id = %user, error = %e, "catch-up query failed; closing so the client retries");
                return Replay::Failed;
            }
        };
        for frame in frames {
            if sent.len() >= catch_up::MOST_FRAMES {
                return Replay::Partial;
            }
            sent.insert(frame.id);
            if session.text(frame.text).await.is_err() {
                return Replay::Failed;
            }
        }
    }
}

/// The life of one socket. Live frames queue in the registration while the
/// catch-up is sent, and those already replayed are skipped by id.
async fn run(
    notifier: Arc<Notifier>,
    mut session: actix_ws::Session,
    mut messages: actix_ws::MessageStream,
    mut registration: Registration,
    since: Option<Uuid>,
) {
    // The catch-up and the close run once: boxed, their state is not part of
    // every idle socket's task.
    let replayed = match since {
        Some(since) => Box::pin(replay(&notifier, &mut session, registration.user, since)).await,
        None => Replay::Complete(HashSet::new()),
    };
    let code = match replayed {
        Replay::Complete(replayed) => pump(&mut session, &mut messages, &mut registration, replayed).await,
        Replay::Partial => Some(CloseCode::Again),
        Replay::Failed => Some(CloseCode::Error),
    };
    notifier.hub.unregister(registration.user, registration.session);
    metrics::gauge!("websocket_connections").decrement(1.0);
    if let Some(code) = code {
        let _ = Box::pin(session.close(Some(CloseReason { code, description: None }))).await;
    }
    tracing::info!(user_id = %registration.user, session = registration.session, "socket closed");
}

/// Moves frames to the socket until either side ends; returns the close code to send.
async fn pump(
    session: &mut actix_ws::Session,
    messages: &mut actix_ws::MessageStream,
    registration: &mut Registration,
    mut replayed: HashSet<Uuid>,
) -> Option<CloseCode> {
    let mut heard = Instant::now();
    loop {
        tokio::select! {
            queued = registration.frames.recv() => match queued {
                Some(Queued::Frame(frame)) => {
                    if !replayed.is_empty() && replayed.remove(&frame.id) {
                        continue;
                    }
                    if session.text(frame.text.clone()).await.is_err() {
                        return None;
                    }
                }
                Some(Queued::Ping) => {
                    if heard.elapsed() > SILENCE_LIMIT {
                        return Some(CloseCode::Policy);
                    }
                    if session.ping(b"").await.is_err() {
                        return None;
                    }
                }
                None => return Some(CloseCode::Other(registration.verdict.code().unwrap_or(1011))),
            },
            message = messages.next() => match message {
                Some(Ok(Message::Pong(_))) => heard = Instant::now(),
                Some(Ok(Message::Ping(bytes))) => {
                    heard = Instant::now();
                    if session.pong(&bytes).await.is_err() {
                        return None;
                    }
                }
                Some(Ok(Message::Close(_))) | None => return None,
                Some(Err(_)) => return Some(CloseCode::Protocol),
                Some(Ok(_)) => heard = Instant::now(),
            },
        }
    }
}
