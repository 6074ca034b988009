//! The notifier's memory: who is connected (the registry) and which connected
//! users follow each author (the follower index). Delivering an event is a map
//! lookup and a non-blocking offer per socket: no I/O, no query, no task woken
//! but the connection's own writer.

use actix_web::web::Bytes;
use bytestring::ByteString;
use domain::UserId;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use uuid::Uuid;

/// What the hub hands a socket: a pointer to the frame every recipient
/// shares, or the periodic ping.
#[derive(Clone, Debug)]
pub enum Queued {
    Frame(Arc<Frame>),
    /// Time to ping the client (and to judge its silence): one timer for the
    /// whole hub, not one per socket.
    Ping,
}

/// What became of an offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    Taken,
    /// The socket's bounded queue is full: the client cannot keep up.
    Full,
    /// The socket is closing.
    Closed,
}

/// A socket as the hub sees it: a queue to offer to without waiting, and a
/// way to end it. The WebSocket adapter implements it over the connection's
/// own bounded send queue; tests, over a vector.
pub trait Outlet: Send + Sync {
    fn offer(&self, queued: &Queued) -> Offer;
    /// Ends the socket with the WebSocket close `code`; the first code wins.
    fn condemn(&self, code: u16);
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

struct Session {
    id: u64,
    token_id: Uuid,
    outlet: Arc<dyn Outlet>,
}

impl Session {
    fn condemn(self, code: u16) {
        self.outlet.condemn(code);
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

    /// Registers a socket of `user` authenticated by token `token_id`, and
    /// answers its session id. The first socket of a user loads their
    /// followees into the index.
    pub fn register(&self, user: UserId, token_id: Uuid, followees: Vec<UserId>, outlet: Arc<dyn Outlet>) -> u64 {
        let id = self.next_session.fetch_add(1, Ordering::Relaxed);
        let mut state = self.state();
        if !state.followees.contains_key(&user) {
            for author in &followees {
                state.followers.entry(*author).or_default().insert(user);
            }
            state.followees.insert(user, followees.into_iter().collect());
        }
        state.sessions.entry(user).or_default().push(Session { id, token_id, outlet });
        id
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
        match session.outlet.offer(frame) {
            Offer::Taken => delivered += 1,
            Offer::Full => slow.push(index),
            Offer::Closed => {}
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
    use std::sync::atomic::AtomicU16;

    /// A socket whose queue is a vector of `capacity`.
    struct Socket {
        queue: Mutex<Vec<Queued>>,
        capacity: usize,
        code: AtomicU16,
    }

    impl Outlet for Socket {
        fn offer(&self, queued: &Queued) -> Offer {
            let mut queue = self.queue.lock().unwrap();
            if queue.len() == self.capacity {
                return Offer::Full;
            }
            queue.push(queued.clone());
            Offer::Taken
        }

        fn condemn(&self, code: u16) {
            let _ = self.code.compare_exchange(0, code, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    impl Socket {
        fn code(&self) -> Option<u16> {
            Some(self.code.load(Ordering::Relaxed)).filter(|code| *code != 0)
        }

        fn take(&self) -> Vec<Queued> {
            std::mem::take(&mut *self.queue.lock().unwrap())
        }
    }

    const CAPACITY: usize = 8;

    fn connect(hub: &Hub, user: UserId, token: Uuid, followees: Vec<UserId>) -> Arc<Socket> {
        let socket = Arc::new(Socket { queue: Mutex::default(), capacity: CAPACITY, code: AtomicU16::new(0) });
        hub.register(user, token, followees, Arc::clone(&socket) as Arc<dyn Outlet>);
        socket
    }

    fn frame(n: u8) -> Frame {
        Frame::new(Uuid::now_v7(), Bytes::from(format!("frame {n}"))).unwrap()
    }

    fn texts(queued: Vec<Queued>) -> Vec<ByteString> {
        queued
            .into_iter()
            .map(|q| match q {
                Queued::Frame(frame) => frame.text.clone(),
                Queued::Ping => ByteString::from_static("ping"),
            })
            .collect()
    }

    #[test]
    fn one_ping_reaches_every_socket_and_a_full_queue_is_closed_as_slow() {
        let hub = Hub::default();
        let author = UserId::generate();
        let idle = connect(&hub, UserId::generate(), Uuid::now_v7(), vec![]);
        let other = connect(&hub, UserId::generate(), Uuid::now_v7(), vec![]);
        let stuck = connect(&hub, UserId::generate(), Uuid::now_v7(), vec![author]);
        for n in 0..CAPACITY {
            hub.to_followers(author, &frame(n as u8));
        }
        hub.ping_all();
        assert_eq!(texts(idle.take()), ["ping"]);
        assert_eq!(texts(other.take()), ["ping"]);
        assert_eq!(stuck.code(), Some(close::TRY_AGAIN_LATER));
        assert_eq!(hub.connections(), 2);
    }

    #[test]
    fn a_post_goes_to_every_socket_of_every_connected_follower_only() {
        let hub = Hub::default();
        let (author, fan, stranger) = (UserId::generate(), UserId::generate(), UserId::generate());
        let phone = connect(&hub, fan, Uuid::now_v7(), vec![author]);
        let browser = connect(&hub, fan, Uuid::now_v7(), vec![author]);
        let other = connect(&hub, stranger, Uuid::now_v7(), vec![]);
        assert_eq!(hub.to_followers(author, &frame(1)), 2);
        assert_eq!(texts(phone.take()), ["frame 1"]);
        assert_eq!(texts(browser.take()), ["frame 1"]);
        assert!(other.take().is_empty());
    }

    #[test]
    fn follows_and_unfollows_update_the_index_of_connected_users() {
        let hub = Hub::default();
        let (author, fan) = (UserId::generate(), UserId::generate());
        let socket = connect(&hub, fan, Uuid::now_v7(), vec![]);
        assert_eq!(hub.to_followers(author, &frame(1)), 0);
        hub.follow(fan, author);
        assert_eq!(hub.to_followers(author, &frame(2)), 1);
        hub.unfollow(fan, author);
        assert_eq!(hub.to_followers(author, &frame(3)), 0);
        assert_eq!(texts(socket.take()), ["frame 2"]);
        hub.follow(UserId::generate(), author);
        assert_eq!(hub.to_followers(author, &frame(4)), 0, "follows of users not connected here are ignored");
    }

    #[test]
    fn a_slow_socket_is_closed_with_1013_and_others_keep_receiving() {
        let hub = Hub::default();
        let author = UserId::generate();
        let slow = connect(&hub, UserId::generate(), Uuid::now_v7(), vec![author]);
        let fast = connect(&hub, UserId::generate(), Uuid::now_v7(), vec![author]);
        for n in 0..=CAPACITY {
            hub.to_followers(author, &frame(n as u8));
            assert_eq!(fast.take().len(), 1);
        }
        assert_eq!(slow.code(), Some(close::TRY_AGAIN_LATER));
        assert_eq!(hub.connections(), 1);
    }

    #[test]
    fn revoking_a_token_closes_only_its_sockets_and_the_last_one_leaves_the_index() {
        let hub = Hub::default();
        let (author, fan) = (UserId::generate(), UserId::generate());
        let (revoked, kept) = (Uuid::now_v7(), Uuid::now_v7());
        let first = connect(&hub, fan, revoked, vec![author]);
        let second = connect(&hub, fan, kept, vec![author]);
        hub.revoke_token(revoked);
        assert_eq!(first.code(), Some(close::REVOKED));
        assert_eq!(second.code(), None);
        assert_eq!(hub.to_followers(author, &frame(1)), 1);
        hub.close_user(fan, close::REVOKED);
        assert_eq!(second.code(), Some(close::REVOKED));
        assert_eq!(hub.to_followers(author, &frame(2)), 0);
        assert_eq!(hub.connections(), 0);
    }
}
