//! The hub's outlet over an actix-ws session: frames go straight into the
//! connection's own bounded send queue, without waiting and without waking a
//! task of ours. A socket catching up (`?since=`) holds live frames until its
//! replay is sent, then lets through those the replay did not carry.

use actix_ws::{CloseCode, Message, Session};
use futures::Sink;
use std::collections::HashSet;
use std::pin::Pin;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use uuid::Uuid;

use super::hub::{Frame, Offer, Outlet, Queued, close};

/// Live frames a socket may hold while it catches up, as many as actix-ws
/// queues in front of a live socket: past that, the client is too slow.
pub const HELD_DURING_CATCH_UP: usize = 32;

struct State {
    session: Session,
    /// `Some` while the catch-up is being sent: live frames wait here.
    held: Option<Vec<Arc<Frame>>>,
    /// Ids the catch-up sent whose live copy has not come yet: a live event
    /// still in flight through the broker when the replay read it must not
    /// be sent a second time when it lands.
    replayed: HashSet<Uuid>,
    heard: Instant,
}

pub struct SocketOutlet {
    state: Mutex<State>,
    code: AtomicU16,
    kicked: Notify,
    silence_limit: Duration,
}

impl SocketOutlet {
    /// An outlet over `session`, holding live frames when `catching_up`.
    pub fn new(session: Session, catching_up: bool, silence_limit: Duration) -> Self {
        Self {
            state: Mutex::new(State {
                session,
                held: catching_up.then(Vec::new),
                replayed: HashSet::new(),
                heard: Instant::now(),
            }),
            code: AtomicU16::new(0),
            kicked: Notify::new(),
            silence_limit,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every update leaves the state whole before it can panic: keep going.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The client said something (a pong, a ping): it is alive.
    pub fn heard(&self) {
        self.state().heard = Instant::now();
    }

    /// Answers a client's ping; a full queue means a slow client, closed.
    pub fn pong(&self, bytes: actix_web::web::Bytes) {
        let offered = try_send(&mut self.state().session, Message::Pong(bytes));
        self.judge(offered);
    }

    /// The catch-up is sent: the held frames the replay did not carry go out,
    /// then every frame goes straight to the socket, but for the live copies
    /// of what the replay carried, whenever they come.
    pub fn go_live(&self, replayed: HashSet<Uuid>) {
        let mut state = self.state();
        state.replayed = replayed;
        for frame in state.held.take().unwrap_or_default() {
            let offered = send_unless_replayed(&mut state, &frame);
            if offered != Offer::Taken {
                drop(state);
                self.judge(offered);
                return;
            }
        }
    }

    /// The close code the hub or this outlet decided, once it decided one.
    pub fn verdict(&self) -> Option<u16> {
        Some(self.code.load(Ordering::Relaxed)).filter(|code| *code != 0)
    }

    /// Resolves once the socket is condemned (at once if it already is).
    pub async fn condemned(&self) {
        if self.verdict().is_none() {
            self.kicked.notified().await;
        }
    }

    fn judge(&self, offered: Offer) {
        if offered == Offer::Full {
            self.condemn(close::TRY_AGAIN_LATER);
        }
    }
}

impl Outlet for SocketOutlet {
    fn offer(&self, queued: &Queued) -> Offer {
        if self.verdict().is_some() {
            return Offer::Closed;
        }
        let mut state = self.state();
        match queued {
            Queued::Frame(frame) => match &mut state.held {
                Some(held) if held.len() >= HELD_DURING_CATCH_UP => Offer::Full,
                Some(held) => {
                    held.push(Arc::clone(frame));
                    Offer::Taken
                }
                None => send_unless_replayed(&mut state, frame),
            },
            // The replay fills the queue as fast as the client reads: a ping
            // then would read as a slow client. The socket is judged once live.
            Queued::Ping if state.held.is_some() => Offer::Taken,
            Queued::Ping if state.heard.elapsed() > self.silence_limit => {
                drop(state);
                self.condemn(u16::from(CloseCode::Policy));
                Offer::Closed
            }
            Queued::Ping => try_send(&mut state.session, Message::Ping(actix_web::web::Bytes::new())),
        }
    }

    fn condemn(&self, code: u16) {
        if self.code.compare_exchange(0, code, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
            // A stored permit: the socket's task wakes even if it is not waiting yet.
            self.kicked.notify_one();
        }
    }
}

/// Queues a live frame, unless the catch-up already sent it (once: an id
/// comes live at most once).
fn send_unless_replayed(state: &mut State, frame: &Frame) -> Offer {
    if !state.replayed.is_empty() && state.replayed.remove(&frame.id) {
        return Offer::Taken;
    }
    try_send(&mut state.session, Message::Text(frame.text.clone()))
}

/// Queues `message` without waiting: actix-ws's session is a bounded queue
/// whose `poll_ready`, polled once with a waker that does nothing, is a
/// try-send (pending = full).
fn try_send(session: &mut Session, message: Message) -> Offer {
    let mut cx = Context::from_waker(Waker::noop());
    match Pin::new(&mut *session).poll_ready(&mut cx) {
        Poll::Ready(Ok(())) => match Pin::new(&mut *session).start_send(message) {
            Ok(()) => Offer::Taken,
            Err(_) => Offer::Closed,
        },
        Poll::Ready(Err(_)) => Offer::Closed,
        Poll::Pending => Offer::Full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::FromRequest;
    use actix_web::http::header;
    use actix_web::test::TestRequest;
    use actix_web::web::Bytes;

    /// A session as an upgraded request gives it; the response holds the
    /// receiving end of its queue, so it must outlive the test's offers.
    async fn session() -> (Session, actix_web::HttpResponse) {
        let (request, mut payload) = TestRequest::default()
            .insert_header((header::UPGRADE, "websocket"))
            .insert_header((header::CONNECTION, "upgrade"))
            .insert_header((header::SEC_WEBSOCKET_VERSION, "13"))
            .insert_header((header::SEC_WEBSOCKET_KEY, "dGhlIHNhbXBsZSBub25jZQ=="))
            .to_http_parts();
        let body = actix_web::web::Payload::from_request(&request, &mut payload).await.expect("a payload");
        let (response, session, _messages) = actix_ws::handle(&request, body).expect("an upgrade");
        (session, response)
    }

    fn frame() -> Arc<Frame> {
        Arc::new(Frame::new(Uuid::now_v7(), Bytes::from_static(b"{}")).expect("UTF-8"))
    }

    /// Offers fresh frames until one is refused; answers how many were taken.
    fn fill(outlet: &SocketOutlet) -> (usize, Offer) {
        for taken in 0.. {
            let offered = outlet.offer(&Queued::Frame(frame()));
            if offered != Offer::Taken {
                return (taken, offered);
            }
        }
        unreachable!("the loop returns")
    }

    #[tokio::test]
    async fn a_live_socket_takes_what_its_queue_holds_then_answers_full() {
        let (session, _response) = session().await;
        let outlet = SocketOutlet::new(session, false, Duration::from_secs(60));
        assert_eq!(fill(&outlet), (HELD_DURING_CATCH_UP, Offer::Full));
    }

    #[tokio::test]
    async fn live_frames_wait_for_the_catch_up_and_those_it_replayed_are_not_sent_twice() {
        let (session, _response) = session().await;
        let outlet = SocketOutlet::new(session, true, Duration::from_secs(60));
        let held: Vec<Arc<Frame>> = (0..3).map(|_| frame()).collect();
        for frame in &held {
            assert_eq!(outlet.offer(&Queued::Frame(Arc::clone(frame))), Offer::Taken);
        }
        // The replay carried the first one: only the other two reach the queue.
        outlet.go_live(HashSet::from([held[0].id]));
        assert_eq!(fill(&outlet), (HELD_DURING_CATCH_UP - 2, Offer::Full));
        assert_eq!(outlet.verdict(), None, "the hub condemns a socket that answers Full");
    }

    #[tokio::test]
    async fn a_socket_catching_up_is_not_pinged_nor_judged_silent() {
        let (session, _response) = session().await;
        let outlet = SocketOutlet::new(session, true, Duration::ZERO);
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(outlet.offer(&Queued::Ping), Offer::Taken);
        assert_eq!(outlet.verdict(), None);
        outlet.go_live(HashSet::new());
        // The ping took no slot of the queue.
        assert_eq!(fill(&outlet), (HELD_DURING_CATCH_UP, Offer::Full));
    }

    #[tokio::test]
    async fn a_replayed_event_whose_live_copy_lands_after_the_catch_up_is_not_sent_twice() {
        let (session, _response) = session().await;
        let outlet = SocketOutlet::new(session, true, Duration::from_secs(60));
        let late = frame();
        outlet.go_live(HashSet::from([late.id]));
        // Skipped: it takes no slot, so the queue still takes all it holds.
        assert_eq!(outlet.offer(&Queued::Frame(Arc::clone(&late))), Offer::Taken);
        assert_eq!(fill(&outlet), (HELD_DURING_CATCH_UP, Offer::Full));
    }

    #[tokio::test]
    async fn a_socket_catching_up_holds_a_bounded_number_of_live_frames() {
        let (session, _response) = session().await;
        let outlet = SocketOutlet::new(session, true, Duration::from_secs(60));
        assert_eq!(fill(&outlet), (HELD_DURING_CATCH_UP, Offer::Full));
    }

    #[tokio::test]
    async fn a_silent_client_is_closed_at_the_next_ping_and_takes_nothing_more() {
        let (session, _response) = session().await;
        let outlet = SocketOutlet::new(session, false, Duration::ZERO);
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(outlet.offer(&Queued::Ping), Offer::Closed);
        assert_eq!(outlet.verdict(), Some(u16::from(CloseCode::Policy)));
        assert_eq!(outlet.offer(&Queued::Frame(frame())), Offer::Closed);
        outlet.condemned().await;
    }

    #[tokio::test]
    async fn the_first_verdict_wins_and_wakes_the_task_even_before_it_waits() {
        let (session, _response) = session().await;
        let outlet = SocketOutlet::new(session, false, Duration::from_secs(60));
        outlet.condemn(close::REVOKED);
        outlet.condemn(close::TRY_AGAIN_LATER);
        assert_eq!(outlet.verdict(), Some(close::REVOKED));
        tokio::time::timeout(Duration::from_secs(5), outlet.condemned()).await.expect("woken");
    }
}
