//! The notifier's memory: who is connected (the registry) and which connected
//! users follow each author (the follower index). Delivering an event is a map
//! lookup and a non-blocking offer per socket: no I/O, no query.

use actix_web::web::Bytes;
use bytestring::ByteString;
use domain::UserId;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::mpsc::{self, error::TrySendError};
use uuid::Uuid;

/// Frames waiting for one socket before it is judged too slow.
pub const SEND_QUEUE: usize = 64;

/// What a socket's queue holds: a pointer to the frame every recipient shares,
/// or the hub's periodic ping. The queue allocates its first block of slots
/// when the socket registers, so the slot's size is paid by every idle socket
/// (32 slots of a 48-byte frame were 1.5 KiB; of a pointer, 256 bytes).
#[derive(Clone, Debug)]
pub enum Queued {
    Frame(Arc<Frame>),
    /// Time to ping the client (and to judge its silence): one timer for the
    /// whole hub, not one per socket.
    Ping,
}

/// WebSocket close codes the hub decides.
pub mod close {
    /// Going away: the server shuts down.
    pub const GOING_AWAY: u16 = 1001;
    /// Try again later: the client could not keep up.
    pub const TRY_AGAIN_LATER: u16 = 1013;
    /// The token was revoked or the user deleted.
    pub const REVOKED: u16 = 4001;
}

/// One frame for the wire, shared by every recipient.
#[derive(Clone, Debug)]
pub struct Frame {
    pub id: Uuid,
    pub text: ByteString,
}

impl Frame {
    /// # Errors
    /// When `bytes` is not UTF-8.
    pub fn new(id: Uuid, bytes: Bytes) -> Result<Self, std::str::Utf8Error> {
        Ok(Self { id, text: ByteString::try_from(bytes)? })
    }
}

/// What a session task reads besides frames: why the hub let it go.
#[derive(Debug, Default)]
pub struct Verdict(AtomicU16);

impl Verdict {
    /// The close code set by the hub, if it closed the session.
    pub fn code(&self) -> Option<u16> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            code => Some(code),
        }
    }
}

struct Session {
    id: u64,
    token_id: Uuid,
    frames: mpsc::Sender<Queued>,
    verdict: Arc<Verdict>,
}

impl Session {
    /// Dropping the session drops its only sender: the task sees its queue end
    /// and closes the socket with the verdict.
    fn condemn(self, code: u16) {
        self.verdict.0.store(code, Ordering::Relaxed);
    }
}

#[derive(Default)]
struct State {
    sessions: HashMap<UserId, Vec<Session>>,
    /// author -> connected users following them.
    followers: HashMap<UserId, HashSet<UserId>>,
    /// connected user -> whom they follow (to undo their index entries).
    followees: HashMap<UserId, HashSet<UserId>>,
}

/// A registered socket's handle on the hub.
pub struct Registration {
    pub user: UserId,
    pub session: u64,
    pub frames: mpsc::Receiver<Queued>,
    pub verdict: Arc<Verdict>,
}

#[derive(Default)]
pub struct Hub {
    state: Mutex<State>,
    next_session: AtomicU64,
}

impl Hub {
    fn state(&self) -> MutexGuard<'_, State> {
        // Every update leaves the maps consistent before it can panic: keep going.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a socket of `user` authenticated by token `token_id`. The
    /// first socket of a user loads their followees into the index.
    pub fn register(&self, user: UserId, token_id: Uuid, followees: Vec<UserId>) -> Registration {
        let (sender, frames) = mpsc::channel(SEND_QUEUE);
        let verdict = Arc::new(Verdict::default());
        let id = self.next_session.fetch_add(1, Ordering::Relaxed);
        let mut state = self.state();
        if !state.followees.contains_key(&user) {
            for author in &followees {
                state.followers.entry(*author).or_default().insert(user);
            }
            state.followees.insert(user, followees.into_iter().collect());
        }
        state.sessions.entry(user).or_default().push(Session {
            id,
            token_id,
            frames: sender,
            verdict: Arc::clone(&verdict),
        });
        Registration { user, session: id, frames, verdict }
    }

    /// Forgets a socket; the last one of a user takes them out of the index.
    pub fn unregister(&self, user: UserId, session: u64) {
        let mut state = self.state();
        let emptied = state.sessions.get_mut(&user).is_some_and(|sessions| {
            sessions.retain(|s| s.id != session);
            sessions.is_empty()
        });
        if emptied {
            state.sessions.remove(&user);
            forget_user(&mut state, user);
        }
    }

    /// Open sockets, for metrics and tests.
    pub fn connections(&self) -> usize {
        self.state().sessions.values().map(Vec::len).sum()
    }

    pub fn follow(&self, follower: UserId, followee: UserId) {
        let mut state = self.state();
        if let Some(followees) = state.followees.get_mut(&follower) {
            followees.insert(followee);
            state.followers.entry(followee).or_default().insert(follower);
        }
    }

    pub fn unfollow(&self, follower: UserId, followee: UserId) {
        let mut state = self.state();
        if let Some(followees) = state.followees.get_mut(&follower) {
            followees.remove(&followee);
            if let Some(followers) = state.followers.get_mut(&followee) {
                followers.remove(&follower);
                if followers.is_empty() {
                    state.followers.remove(&followee);
                }
            }
        }
    }

    /// Offers `frame` to every socket of every connected follower of `author`.
    /// Returns the number of sockets that took it.
    pub fn to_followers(&self, author: UserId, frame: &Frame) -> usize {
        let mut state = self.state();
        let Some(followers) = state.followers.get(&author) else { return 0 };
        let followers: Vec<UserId> = followers.iter().copied().collect();
        let frame = Queued::Frame(Arc::new(frame.clone()));
        followers.into_iter().map(|user| offer(&mut state, user, &frame)).sum()
    }

    /// Offers `frame` to every socket of `user`.
    pub fn to_user(&self, user: UserId, frame: &Frame) -> usize {
        offer(&mut self.state(), user, &Queued::Frame(Arc::new(frame.clone())))
    }

    /// Asks every socket to ping its client; a socket whose queue is full is
    /// closed as too slow, as for a frame.
    pub fn ping_all(&self) {
        let mut state = self.state();
        let users: Vec<UserId> = state.sessions.keys().copied().collect();
        for user in users {
            offer(&mut state, user, &Queued::Ping);
        }
    }

    /// Closes the sockets opened with token `token_id` (logout).
    pub fn revoke_token(&self, token_id: Uuid) {
        let mut state = self.state();
        let mut emptied = Vec::new();
        for (user, sessions) in &mut state.sessions {
            let (revoked, kept): (Vec<Session>, Vec<Session>) =
                sessions.drain(..).partition(|s| s.token_id == token_id);
            *sessions = kept;
            revoked.into_iter().for_each(|s| s.condemn(close::REVOKED));
            if sessions.is_empty() {
                emptied.push(*user);
            }
        }
        for user in emptied {
            state.sessions.remove(&user);
            forget_user(&mut state, user);
        }
    }

    /// Closes every socket of `user` with `code`.
    pub fn close_user(&self, user: UserId, code: u16) {
        let mut state = self.state();
        for session in state.sessions.remove(&user).unwrap_or_default() {
            session.condemn(code);
        }
        forget_user(&mut state, user);
    }

    /// Closes every socket (shutdown).
    pub fn close_all(&self, code: u16) {
        let mut state = self.state();
        for session in std::mem::take(&mut state.sessions).into_values().flatten() {
            session.condemn(code);
        }
        state.followers.clear();
        state.followees.clear();
    }
}

fn forget_user(state: &mut State, user: UserId) {
    for author in state.followees.remove(&user).unwrap_or_default() {
        if let Some(followers) = state.followers.get_mut(&author) {
            followers.remove(&user);
            if followers.is_empty() {
                state.followers.remove(&author);
            }
        }
    }
}

/// A socket whose queue is full is closed with 1013 rather than buffered.
fn offer(state: &mut State, user: UserId, frame: &Queued) -> usize {
    let Some(sessions) = state.sessions.get_mut(&user) else { return 0 };
    let mut delivered = 0;
    let mut slow = Vec::new();
    for (index, session) in sessions.iter().enumerate() {
        match session.frames.try_send(frame.clone()) {
            Ok(()) => delivered += 1,
            Err(TrySendError::Full(_)) => slow.push(index),
            Err(TrySendError::Closed(_)) => {}
        }
    }
    for index in slow.into_iter().rev() {
        let session = sessions.remove(index);
        tracing::info!(user_id = %user, session = session.id, "socket too slow; closing with 1013");
        session.condemn(close::TRY_AGAIN_LATER);
    }
    if sessions.is_empty() {
        state.sessions.remove(&user);
        forget_user(state, user);
    }
    delivered
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(n: u8) -> Frame {
        Frame::new(Uuid::now_v7(), Bytes::from(format!("frame {n}"))).unwrap()
    }

    fn text_of(queued: Queued) -> ByteString {
        match queued {
            Queued::Frame(frame) => frame.text.clone(),
            Queued::Ping => panic!("a ping, not a frame"),
        }
    }

    #[tokio::test]
    async fn one_ping_reaches_every_socket_and_a_full_queue_is_closed_as_slow() {
        let hub = Hub::default();
        let author = UserId::generate();
        let mut idle = hub.register(UserId::generate(), Uuid::now_v7(), vec![]);
        let mut other = hub.register(UserId::generate(), Uuid::now_v7(), vec![]);
        let stuck = hub.register(UserId::generate(), Uuid::now_v7(), vec![author]);
        for n in 0..SEND_QUEUE {
            hub.to_followers(author, &frame(n as u8));
        }
        hub.ping_all();
        assert!(matches!(idle.frames.try_recv(), Ok(Queued::Ping)));
        assert!(matches!(other.frames.try_recv(), Ok(Queued::Ping)));
        assert_eq!(stuck.verdict.code(), Some(close::TRY_AGAIN_LATER));
        assert_eq!(hub.connections(), 2);
    }

    #[tokio::test]
    async fn a_post_goes_to_every_socket_of_every_connected_follower_only() {
        let hub = Hub::default();
        let (author, fan, stranger) = (UserId::generate(), UserId::generate(), UserId::generate());
        let mut phone = hub.register(fan, Uuid::now_v7(), vec![author]);
        let mut browser = hub.register(fan, Uuid::now_v7(), vec![author]);
        let mut other = hub.register(stranger, Uuid::now_v7(), vec![]);
        assert_eq!(hub.to_followers(author, &frame(1)), 2);
        assert!(phone.frames.try_recv().is_ok() && browser.frames.try_recv().is_ok());
        assert!(other.frames.try_recv().is_err());
    }

    #[tokio::test]
    async fn follows_and_unfollows_update_the_index_of_connected_users() {
        let hub = Hub::default();
        let (author, fan) = (UserId::generate(), UserId::generate());
        let mut socket = hub.register(fan, Uuid::now_v7(), vec![]);
        assert_eq!(hub.to_followers(author, &frame(1)), 0);
        hub.follow(fan, author);
        assert_eq!(hub.to_followers(author, &frame(2)), 1);
        hub.unfollow(fan, author);
        assert_eq!(hub.to_followers(author, &frame(3)), 0);
        assert_eq!(text_of(socket.frames.try_recv().unwrap()), "frame 2");
        hub.follow(UserId::generate(), author);
        assert_eq!(hub.to_followers(author, &frame(4)), 0, "follows of users not connected here are ignored");
    }

    #[tokio::test]
    async fn a_slow_socket_is_closed_with_1013_and_others_keep_receiving() {
        let hub = Hub::default();
        let author = UserId::generate();
        let slow = hub.register(UserId::generate(), Uuid::now_v7(), vec![author]);
        let mut fast = hub.register(UserId::generate(), Uuid::now_v7(), vec![author]);
        for n in 0..=SEND_QUEUE {
            hub.to_followers(author, &frame(n as u8));
            fast.frames.try_recv().unwrap();
        }
        assert_eq!(slow.verdict.code(), Some(close::TRY_AGAIN_LATER));
        assert_eq!(hub.connections(), 1);
    }

    #[tokio::test]
    async fn more_than_128_recipients_all_get_the_frame() {
        // tokio's cooperative budget must not make healthy queues look full.
        let hub = Hub::default();
        let author = UserId::generate();
        let sockets: Vec<_> =
            (0..300).map(|_| hub.register(UserId::generate(), Uuid::now_v7(), vec![author])).collect();
        let delivered = tokio::task::unconstrained(async { hub.to_followers(author, &frame(1)) }).await;
        assert_eq!(delivered, 300);
        assert!(sockets.iter().all(|s| s.verdict.code().is_none()));
    }

    #[tokio::test]
    async fn revoking_a_token_closes_only_its_sockets_and_the_last_one_leaves_the_index() {
        let hub = Hub::default();
        let (author, fan) = (UserId::generate(), UserId::generate());
        let (revoked, kept) = (Uuid::now_v7(), Uuid::now_v7());
        let first = hub.register(fan, revoked, vec![author]);
        let second = hub.register(fan, kept, vec![author]);
        hub.revoke_token(revoked);
        assert_eq!(first.verdict.code(), Some(close::REVOKED));
        assert_eq!(second.verdict.code(), None);
        assert_eq!(hub.to_followers(author, &frame(1)), 1);
        hub.close_user(fan, close::REVOKED);
        assert_eq!(second.verdict.code(), Some(close::REVOKED));
        assert_eq!(hub.to_followers(author, &frame(2)), 0);
        assert_eq!(hub.connections(), 0);
    }
}
