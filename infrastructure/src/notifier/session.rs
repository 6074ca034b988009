//! `GET /ws`: authentication before the upgrade, optional catch-up, then a
//! task per socket that reads the client's frames and closes. Live frames and
//! pings are queued by the hub straight into the connection ([`SocketOutlet`]).

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
use std::time::Duration;
use uuid::Uuid;

use super::Notifier;
use super::catch_up::{self, CatchUp};
use super::outlet::SocketOutlet;
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
    let outlet = Arc::new(SocketOutlet::new(session.clone(), query.since.is_some(), SILENCE_LIMIT));
    let id = notifier.hub.register(claims.user_id, claims.token_id, followees, Arc::clone(&outlet) as _);
    metrics::gauge!("websocket_connections").increment(1.0);
    tracing::info!(user_id = %claims.user_id, session = id, "socket open");
    let socket = Socket { user: claims.user_id, id, outlet };
    actix_web::rt::spawn(run(
        Arc::clone(&notifier),
        session,
        messages.max_frame_size(MAX_INBOUND_FRAME),
        socket,
        query.since,
    ));
    Ok(response)
}

/// A registered socket, as its task knows it.
struct Socket {
    user: domain::UserId,
    id: u64,
    outlet: Arc<SocketOutlet>,
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
async fn replay(notifier: &Notifier, session: &mut actix_ws::Session, socket: &Socket, since: Uuid) -> Replay {
    let user = socket.user;
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
            if socket.outlet.verdict().is_some() {
                return Replay::Failed;
            }
            sent.insert(frame.id);
            if session.text(frame.text).await.is_err() {
                return Replay::Failed;
            }
        }
    }
}

/// The life of one socket. Live frames are held by the outlet while the
/// catch-up is sent; then those the replay did not carry go out.
async fn run(
    notifier: Arc<Notifier>,
    mut session: actix_ws::Session,
    mut messages: actix_ws::MessageStream,
    socket: Socket,
    since: Option<Uuid>,
) {
    // The catch-up and the close run once: boxed, their state is not part of
    // every idle socket's task.
    let replayed = match since {
        Some(since) => Box::pin(replay(&notifier, &mut session, &socket, since)).await,
        None => Replay::Complete(HashSet::new()),
    };
    let code = match replayed {
        Replay::Complete(replayed) => {
            // Offers poll tokio's semaphore: no cooperative budget for them.
            tokio::task::unconstrained(async { socket.outlet.go_live(replayed) }).await;
            read(&mut messages, &socket.outlet).await
        }
        Replay::Partial => Some(CloseCode::Again),
        Replay::Failed => socket.outlet.verdict().map(CloseCode::from).or(Some(CloseCode::Error)),
    };
    notifier.hub.unregister(socket.user, socket.id);
    metrics::gauge!("websocket_connections").decrement(1.0);
    if let Some(code) = code {
        let _ = Box::pin(session.close(Some(CloseReason { code, description: None }))).await;
    }
    tracing::info!(user_id = %socket.user, session = socket.id, "socket closed");
}

/// Reads the client's frames until either side ends; returns the close code to send.
async fn read(messages: &mut actix_ws::MessageStream, outlet: &SocketOutlet) -> Option<CloseCode> {
    loop {
        tokio::select! {
            biased;
            () = outlet.condemned() => return outlet.verdict().map(CloseCode::from),
            message = messages.next() => match message {
                Some(Ok(Message::Ping(bytes))) => {
                    outlet.heard();
                    outlet.pong(bytes);
                }
                Some(Ok(Message::Close(_))) | None => return None,
                Some(Err(_)) => return Some(CloseCode::Protocol),
                Some(Ok(_)) => outlet.heard(),
            },
        }
    }
}
