//! In-memory fakes of the ports, for the use-case tests.

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use domain::{Author, Password, Role, User, UserId, Username};
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use uuid::Uuid;

use crate::ports::*;
use crate::{AuthFailure, Conflict, PortError};

pub struct FixedClock(pub DateTime<Utc>);

impl Default for FixedClock {
    fn default() -> Self {
        Self(Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap())
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

#[derive(Default)]
pub struct InMemoryUsers {
    pub rows: Mutex<Vec<(User, PasswordHash)>>,
}

impl InMemoryUsers {
    fn taken(rows: &[(User, PasswordHash)], except: Option<UserId>, user: &User) -> Option<Conflict> {
        let others = rows.iter().map(|(u, _)| u).filter(|u| Some(u.id) != except);
        for other in others {
            if other.username.as_str().eq_ignore_ascii_case(user.username.as_str()) {
                return Some(Conflict::UsernameTaken);
            }
            if let (Some(a), Some(b)) = (&other.email, &user.email)
                && a.as_str().eq_ignore_ascii_case(b.as_str())
            {
                return Some(Conflict::EmailTaken);
            }
        }
        None
    }

    pub fn count(&self) -> usize {
        self.rows.lock().unwrap().len()
    }
}

fn author_of(user: &User) -> Author {
    Author { id: user.id, username: user.username.clone(), display_name: user.display_name.clone(), avatar: None }
}

fn profile_of(user: User) -> Profile {
    Profile { user, followers_count: 0, following_count: 0, posts_count: 0, followed_by_me: false }
}

#[async_trait]
impl UserRepository for InMemoryUsers {
    async fn insert(&self, new: NewUser) -> Result<User, PortError> {
        let mut rows = self.rows.lock().unwrap();
        let user = User {
            id: new.id,
            username: new.username,
            email: new.email,
            display_name: None,
            bio: None,
            avatar: None,
            role: new.role,
            created_at: new.created_at,
        };
        if let Some(conflict) = Self::taken(&rows, None, &user) {
            return Err(PortError::Conflict(conflict));
        }
        rows.push((user.clone(), new.password_hash));
        Ok(user)
    }

    async fn find(&self, id: UserId) -> Result<Option<User>, PortError> {
        Ok(self.rows.lock().unwrap().iter().find(|(u, _)| u.id == id).map(|(u, _)| u.clone()))
    }

    async fn find_credentials(&self, username: &str) -> Result<Option<UserCredentials>, PortError> {
        let rows = self.rows.lock().unwrap();
        let found = rows.iter().find(|(u, _)| u.username.as_str().eq_ignore_ascii_case(username));
        Ok(found.map(|(user, hash)| UserCredentials { user: user.clone(), password_hash: hash.clone() }))
    }

    async fn profile(&self, id: UserId, _viewer: UserId) -> Result<Option<Profile>, PortError> {
        Ok(self.find(id).await?.map(profile_of))
    }

    async fn profile_by_username(&self, username: &Username, _viewer: UserId) -> Result<Option<Profile>, PortError> {
        Ok(self.find_credentials(username.as_str()).await?.map(|c| profile_of(c.user)))
    }

    async fn update(&self, id: UserId, changes: UserChanges) -> Result<Option<User>, PortError> {
        let mut rows = self.rows.lock().unwrap();
        let Some(index) = rows.iter().position(|(u, _)| u.id == id) else {
            return Ok(None);
        };
        let mut user = rows[index].0.clone();
        if let Some(username) = changes.username {
            user.username = username;
        }
        if let Some(email) = changes.email {
            user.email = email;
        }
        if let Some(display_name) = changes.display_name {
            user.display_name = display_name;
        }
        if let Some(bio) = changes.bio {
            user.bio = bio;
        }
        if let Some(conflict) = Self::taken(&rows, Some(id), &user) {
            return Err(PortError::Conflict(conflict));
        }
        rows[index].0 = user.clone();
        Ok(Some(user))
    }

    async fn set_role(&self, id: UserId, role: Role) -> Result<Option<User>, PortError> {
        let mut rows = self.rows.lock().unwrap();
        Ok(rows.iter_mut().find(|(u, _)| u.id == id).map(|(u, _)| {
            u.role = role;
            u.clone()
        }))
    }

    async fn delete(&self, id: UserId) -> Result<bool, PortError> {
        let mut rows = self.rows.lock().unwrap();
        let before = rows.len();
        rows.retain(|(u, _)| u.id != id);
        Ok(rows.len() < before)
    }

    async fn set_avatar(&self, id: UserId, key: Option<String>) -> Result<Option<(User, Option<String>)>, PortError> {
        let mut rows = self.rows.lock().unwrap();
        Ok(rows.iter_mut().find(|(u, _)| u.id == id).map(|(u, _)| {
            let replaced = std::mem::replace(&mut u.avatar, key);
            (u.clone(), replaced)
        }))
    }

    async fn author(&self, id: UserId) -> Result<Option<Author>, PortError> {
        Ok(self.find(id).await?.map(|u| author_of(&u)))
    }

    async fn authors_named(&self, usernames: &[Username]) -> Result<Vec<Author>, PortError> {
        let rows = self.rows.lock().unwrap();
        Ok(usernames
            .iter()
            .filter_map(|name| rows.iter().find(|(u, _)| u.username.as_str().eq_ignore_ascii_case(name.as_str())))
            .map(|(u, _)| author_of(u))
            .collect())
    }

    async fn list(&self, prefix: Option<&str>, limit: u32, offset: u64) -> Result<UserPage, PortError> {
        let rows = self.rows.lock().unwrap();
        let mut matching: Vec<User> = rows
            .iter()
            .map(|(u, _)| u.clone())
            .filter(|u| prefix.is_none_or(|p| u.username.as_str().to_lowercase().starts_with(&p.to_lowercase())))
            .collect();
        matching.sort_by_key(|u| u.username.as_str().to_lowercase());
        let total = matching.len() as u64;
        let users = matching.into_iter().skip(offset as usize).take(limit as usize).collect();
        Ok(UserPage { users, total })
    }
}

/// "Hashes" by prefixing; counts hashes and verifications so tests can check
/// that every login attempt pays exactly one, and a refused one none. While
/// `busy` is set it refuses everything, like a saturated pool.
#[derive(Default)]
pub struct FakeHasher {
    pub hashes: AtomicUsize,
    pub verifications: AtomicUsize,
    pub busy: AtomicBool,
}

#[async_trait]
impl PasswordHasher for FakeHasher {
    async fn hash(&self, password: Password) -> Result<PasswordHash, PortError> {
        if self.busy.load(Ordering::SeqCst) {
            return Err(PortError::Busy);
        }
        self.hashes.fetch_add(1, Ordering::SeqCst);
        Ok(PasswordHash::new(format!("hashed:{}", password.expose())))
    }

    async fn verify(&self, candidate: Option<Password>, hash: Option<PasswordHash>) -> Result<bool, PortError> {
        if self.busy.load(Ordering::SeqCst) {
            return Err(PortError::Busy);
        }
        self.verifications.fetch_add(1, Ordering::SeqCst);
        Ok(match (candidate, hash) {
            (Some(candidate), Some(hash)) => hash.as_str() == format!("hashed:{}", candidate.expose()),
            _ => false,
        })
    }
}

/// Tokens are opaque keys into a map of claims.
pub struct FakeTokens {
    clock_now: DateTime<Utc>,
    issued: Mutex<HashMap<String, AccessClaims>>,
}

impl FakeTokens {
    pub fn new(clock: &FixedClock) -> Self {
        Self { clock_now: clock.0, issued: Mutex::default() }
    }
}

impl TokenIssuer for FakeTokens {
    fn issue(&self, user_id: UserId, role: Role) -> Result<IssuedAccessToken, PortError> {
        let claims = AccessClaims {
            user_id,
            role,
            token_id: Uuid::now_v7(),
            issued_at: self.clock_now,
            expires_at: self.clock_now + self.ttl(),
        };
        let token = format!("access:{}", claims.token_id);
        self.issued.lock().unwrap().insert(token.clone(), claims.clone());
        Ok(IssuedAccessToken { token, claims })
    }

    fn verify(&self, token: &str) -> Result<AccessClaims, AuthFailure> {
        self.issued.lock().unwrap().get(token).cloned().ok_or(AuthFailure::InvalidToken)
    }

    fn ttl(&self) -> Duration {
        Duration::seconds(3600)
    }
}

#[derive(Clone)]
struct RefreshRow {
    user_id: UserId,
    family: Uuid,
    expires_at: DateTime<Utc>,
    spent: bool,
    revoked: bool,
}

#[derive(Default)]
pub struct InMemoryRefreshTokens {
    rows: Mutex<HashMap<String, RefreshRow>>,
}

#[async_trait]
impl RefreshTokenStore for InMemoryRefreshTokens {
    async fn issue(&self, user_id: UserId, family: Uuid, expires_at: DateTime<Utc>) -> Result<String, PortError> {
        let token = format!("refresh:{}", Uuid::now_v7());
        let row = RefreshRow { user_id, family, expires_at, spent: false, revoked: false };
        self.rows.lock().unwrap().insert(token.clone(), row);
        Ok(token)
    }

    async fn rotate(&self, presented: &str, now: DateTime<Utc>) -> Result<RefreshOutcome, PortError> {
        let mut rows = self.rows.lock().unwrap();
        let Some(row) = rows.get_mut(presented) else {
            return Ok(RefreshOutcome::Invalid);
        };
        if row.revoked || row.expires_at <= now {
            return Ok(RefreshOutcome::Invalid);
        }
        if row.spent {
            return Ok(RefreshOutcome::Reused { user_id: row.user_id, family: row.family });
        }
        row.spent = true;
        Ok(RefreshOutcome::Rotated { user_id: row.user_id, family: row.family })
    }

    async fn revoke_family(&self, family: Uuid) -> Result<(), PortError> {
        for row in self.rows.lock().unwrap().values_mut().filter(|r| r.family == family) {
            row.revoked = true;
        }
        Ok(())
    }

    async fn revoke_presented(&self, presented: &str, owner: UserId) -> Result<(), PortError> {
        let family = self.rows.lock().unwrap().get(presented).filter(|r| r.user_id == owner).map(|r| r.family);
        if let Some(family) = family {
            self.revoke_family(family).await?;
        }
        Ok(())
    }
}

#[derive(Default)]
pub struct InMemoryRevocations {
    tokens: Mutex<HashSet<Uuid>>,
    users: Mutex<HashSet<UserId>>,
}

#[async_trait]
impl RevocationList for InMemoryRevocations {
    async fn revoke_token(&self, token_id: Uuid, _expires_at: DateTime<Utc>) -> Result<(), PortError> {
        self.tokens.lock().unwrap().insert(token_id);
        Ok(())
    }

    async fn revoke_user(&self, user_id: UserId, _until: DateTime<Utc>) -> Result<(), PortError> {
        self.users.lock().unwrap().insert(user_id);
        Ok(())
    }

    fn is_revoked(&self, claims: &AccessClaims) -> bool {
        self.tokens.lock().unwrap().contains(&claims.token_id) || self.users.lock().unwrap().contains(&claims.user_id)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum AttemptKind {
    Login,
    Registration,
}

struct AttemptRow {
    id: Uuid,
    kind: AttemptKind,
    /// Lower-cased by the use case; `None` for registrations.
    username: Option<String>,
    client: IpAddr,
    at: DateTime<Utc>,
}

/// Attempts in memory, with the port's contract: one lock makes each call atomic.
#[derive(Default)]
pub struct InMemoryAttempts {
    rows: Mutex<Vec<AttemptRow>>,
}

impl InMemoryAttempts {
    pub fn count(&self) -> usize {
        self.rows.lock().unwrap().len()
    }
}

/// How long until `limit` admits one more, given the times of the counted attempts.
fn wait_for(times: impl Iterator<Item = DateTime<Utc>>, limit: &RateLimit, now: DateTime<Utc>) -> Option<Duration> {
    let mut recent: Vec<_> = times.filter(|at| *at > now - limit.window).collect();
    if recent.len() < limit.max as usize {
        return None;
    }
    recent.sort_unstable_by(|a, b| b.cmp(a));
    let Some(blocking) = (limit.max as usize).checked_sub(1).map(|i| recent[i]) else {
        return Some(limit.window);
    };
    Some((blocking + limit.window - now).max(Duration::seconds(1)))
}

#[async_trait]
impl AttemptLimiter for InMemoryAttempts {
    async fn begin_login(
        &self,
        username: &str,
        client: IpAddr,
        limits: &LoginLimits,
        now: DateTime<Utc>,
    ) -> Result<Admission, PortError> {
        let mut rows = self.rows.lock().unwrap();
        let from_client = || rows.iter().filter(|r| r.kind == AttemptKind::Login && r.client == client);
        let waits = [
            wait_for(from_client().map(|r| r.at), &limits.per_address, now),
            wait_for(
                from_client().filter(|r| r.username.as_deref() == Some(username)).map(|r| r.at),
                &limits.per_username,
                now,
            ),
        ];
        if let Some(retry_after) = waits.into_iter().flatten().max() {
            return Ok(Admission::Refused { retry_after });
        }
        let id = Uuid::now_v7();
        rows.push(AttemptRow { id, kind: AttemptKind::Login, username: Some(username.to_owned()), client, at: now });
        Ok(Admission::Admitted(AttemptId(id)))
    }

    async fn clear_logins(&self, username: &str, client: IpAddr) -> Result<(), PortError> {
        self.rows.lock().unwrap().retain(|r| {
            !(r.kind == AttemptKind::Login && r.client == client && r.username.as_deref() == Some(username))
        });
        Ok(())
    }

    async fn begin_registration(
        &self,
        client: IpAddr,
        limit: &RateLimit,
        now: DateTime<Utc>,
    ) -> Result<Admission, PortError> {
        let mut rows = self.rows.lock().unwrap();
        let times = rows.iter().filter(|r| r.kind == AttemptKind::Registration && r.client == client).map(|r| r.at);
        if let Some(retry_after) = wait_for(times, limit, now) {
            return Ok(Admission::Refused { retry_after });
        }
        let id = Uuid::now_v7();
        rows.push(AttemptRow { id, kind: AttemptKind::Registration, username: None, client, at: now });
        Ok(Admission::Admitted(AttemptId(id)))
    }

    async fn forget(&self, attempt: AttemptId) -> Result<(), PortError> {
        self.rows.lock().unwrap().retain(|r| r.id != attempt.0);
        Ok(())
    }
}

/// The address every harness request comes from, unless a test says otherwise.
pub const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));

/// Limits no ordinary use-case test comes near.
pub const GENEROUS: crate::auth::AttemptLimits = crate::auth::AttemptLimits {
    login: LoginLimits {
        per_username: RateLimit { max: 1000, window: Duration::minutes(15) },
        per_address: RateLimit { max: 10_000, window: Duration::minutes(15) },
    },
    registration: RateLimit { max: 1000, window: Duration::hours(1) },
};

/// Both services over one set of fakes.
pub struct Harness {
    pub users: std::sync::Arc<InMemoryUsers>,
    pub content: std::sync::Arc<InMemoryContent>,
    pub clock: std::sync::Arc<FixedClock>,
    pub hasher: std::sync::Arc<FakeHasher>,
    pub avatars: std::sync::Arc<InMemoryAvatars>,
    pub activity: std::sync::Arc<RecordedActivity>,
    pub attempts: std::sync::Arc<InMemoryAttempts>,
    pub auth: crate::auth::AuthService,
    pub accounts: crate::user::UserService,
}

impl Default for Harness {
    fn default() -> Self {
        Self::with_limits(GENEROUS)
    }
}

impl Harness {
    pub fn with_limits(limits: crate::auth::AttemptLimits) -> Self {
        use std::sync::Arc;
        let clock = Arc::new(FixedClock::default());
        let users = Arc::new(InMemoryUsers::default());
        let hasher = Arc::new(FakeHasher::default());
        let tokens = Arc::new(FakeTokens::new(&clock));
        let revocations = Arc::new(InMemoryRevocations::default());
        let refresh = Arc::new(InMemoryRefreshTokens::default());
        let avatars = Arc::new(InMemoryAvatars::default());
        let activity = Arc::new(RecordedActivity::default());
        let attempts = Arc::new(InMemoryAttempts::default());
        let ports = crate::auth::AuthPorts {
            users: users.clone(),
            hasher: hasher.clone(),
            tokens: tokens.clone(),
            refresh_tokens: refresh,
            revocations: revocations.clone(),
            tickets: Arc::new(InMemoryTickets::default()),
            activity: activity.clone(),
            clock: clock.clone(),
            attempts: attempts.clone(),
        };
        let auth = crate::auth::AuthService::new(ports, Duration::days(30), limits);
        let accounts = crate::user::UserService::new(crate::user::UserPorts {
            users: users.clone(),
            hasher: hasher.clone(),
            tokens,
            revocations,
            avatars: avatars.clone(),
            clock: clock.clone(),
        });
        Self { users, content: Arc::default(), clock, hasher, avatars, activity, attempts, auth, accounts }
    }

    pub fn avatar_files(&self) -> Vec<String> {
        self.avatars.files.lock().unwrap().iter().cloned().collect()
    }

    pub fn stats(&self) -> crate::admin::StatsService {
        let stats =
            FakeStats { users: self.users.clone(), content: self.content.clone(), activity: self.activity.clone() };
        crate::admin::StatsService::new(self.users.clone(), std::sync::Arc::new(stats), self.clock.clone())
    }

    pub fn webhooks(&self) -> crate::webhook::WebhookService {
        crate::webhook::WebhookService::new(
            std::sync::Arc::new(InMemoryWebhooks::default()),
            std::sync::Arc::new(FakeGuard),
            self.clock.clone(),
        )
    }

    pub fn posts(&self, daily_limit: u32) -> crate::post::PostService {
        crate::post::PostService::new(self.users.clone(), self.content.clone(), self.clock.clone(), daily_limit)
    }

    pub fn follows(&self) -> crate::follow::FollowService {
        crate::follow::FollowService::new(self.users.clone(), self.content.clone(), self.clock.clone())
    }

    pub fn register(
        &self,
        name: &str,
        role: Option<Role>,
        caller: Option<&AccessClaims>,
    ) -> Result<User, crate::ApplicationError> {
        let command = crate::auth::RegisterCommand {
            username: Username::new(name).unwrap(),
            password: Password::new("correct horse").unwrap(),
            email: None,
            role,
        };
        futures::executor::block_on(self.auth.register(command, caller, CLIENT))
    }

    /// Registers `name` and signs in; returns the access claims and the tokens.
    pub fn signed_in(&self, name: &str) -> (AccessClaims, crate::auth::Tokens) {
        self.register(name, None, None).unwrap();
        self.login(name)
    }

    pub fn login(&self, name: &str) -> (AccessClaims, crate::auth::Tokens) {
        let tokens = futures::executor::block_on(self.auth.login(name, "correct horse", CLIENT)).unwrap();
        (self.auth.authenticate(&tokens.access_token).unwrap(), tokens)
    }

    pub fn make_admin(&self, name: &str) -> AccessClaims {
        let password = Password::new("correct horse").unwrap();
        futures::executor::block_on(self.accounts.bootstrap_admin(Username::new(name).unwrap(), password)).unwrap();
        self.login(name).0
    }
}

type KeyOwner = (UserId, String);

/// Posts, follows, notifications and the outbox in memory, with the
/// transactional contracts of the ports (each call is all-or-nothing).
#[derive(Default)]
pub struct InMemoryContent {
    pub posts: Mutex<Vec<domain::Post>>,
    pub follows: Mutex<Vec<domain::Follow>>,
    pub notifications: Mutex<Vec<domain::Notification>>,
    pub outbox: Mutex<Vec<domain::Envelope>>,
    keys: Mutex<HashMap<KeyOwner, (domain::PostId, DateTime<Utc>)>>,
    /// Posts created per author and day, deleted ones included.
    created: Mutex<HashMap<(UserId, chrono::NaiveDate), u32>>,
}

impl InMemoryContent {
    pub fn event_types(&self) -> Vec<&'static str> {
        self.outbox.lock().unwrap().iter().map(|e| e.event.type_name()).collect()
    }
}

#[async_trait]
impl PostRepository for InMemoryContent {
    async fn create(
        &self,
        new: NewPost,
        key: Option<IdempotencyKey>,
        quota: Option<DailyQuota>,
    ) -> Result<CreatePostOutcome, PortError> {
        let author = new.post.author.id;
        let mut keys = self.keys.lock().unwrap();
        let mut posts = self.posts.lock().unwrap();
        if let Some(key) = &key
            && let Some((post_id, at)) = keys.get(&(author, key.key.clone()))
            && *at >= key.not_before
        {
            let first = posts.iter().find(|p| p.id == *post_id).cloned().unwrap();
            return Ok(CreatePostOutcome::Replayed(first));
        }
        if let Some(quota) = quota {
            let mut created = self.created.lock().unwrap();
            let today = created.entry((author, quota.since.date_naive())).or_default();
            if *today >= quota.limit {
                return Ok(CreatePostOutcome::QuotaExceeded);
            }
            *today += 1;
        }
        if let Some(key) = key {
            keys.insert((author, key.key), (new.post.id, new.post.created_at));
        }
        posts.push(new.post.clone());
        self.notifications.lock().unwrap().extend(new.notifications);
        self.outbox.lock().unwrap().extend(new.events);
        Ok(CreatePostOutcome::Created(new.post))
    }

    async fn find(&self, id: domain::PostId) -> Result<Option<domain::Post>, PortError> {
        Ok(self.posts.lock().unwrap().iter().find(|p| p.id == id).cloned())
    }

    async fn delete(&self, id: domain::PostId, event: domain::Envelope) -> Result<bool, PortError> {
        let mut posts = self.posts.lock().unwrap();
        let before = posts.len();
        posts.retain(|p| p.id != id);
        let deleted = posts.len() < before;
        if deleted {
            self.outbox.lock().unwrap().push(event);
        }
        Ok(deleted)
    }

    async fn list(
        &self,
        query: &PostQuery,
        page: crate::paging::PageRequest,
    ) -> Result<crate::paging::Page<domain::Post>, PortError> {
        let follows = self.follows.lock().unwrap().clone();
        let mut rows: Vec<domain::Post> = self
            .posts
            .lock()
            .unwrap()
            .iter()
            .filter(|p| match &query.scope {
                PostScope::Everyone => true,
                PostScope::Author(a) => p.author.id == *a,
                PostScope::Timeline(me) => {
                    p.author.id == *me || follows.iter().any(|f| f.follower() == *me && f.followee() == p.author.id)
                }
            })
            .filter(|p| query.text.as_ref().is_none_or(|t| p.content.as_str().contains(t.as_str())))
            .filter(|p| {
                page.before.is_none_or(|b| *p.id.as_uuid() < b) && page.since.is_none_or(|s| *p.id.as_uuid() > s)
            })
            .cloned()
            .collect();
        rows.sort_by_key(|p| std::cmp::Reverse(p.id));
        rows.truncate(page.limit as usize + 1);
        Ok(crate::paging::Page::from_rows(rows, page.limit, |p| *p.id.as_uuid()))
    }
}

#[async_trait]
impl FollowRepository for InMemoryContent {
    async fn follow(&self, new: NewFollow) -> Result<bool, PortError> {
        let mut follows = self.follows.lock().unwrap();
        if follows.contains(&new.follow) {
            return Ok(false);
        }
        follows.push(new.follow);
        self.notifications.lock().unwrap().extend(new.notification);
        self.outbox.lock().unwrap().extend(new.events);
        Ok(true)
    }

    async fn follow_notified_since(&self, follow: domain::Follow, since: DateTime<Utc>) -> Result<bool, PortError> {
        Ok(self.notifications.lock().unwrap().iter().any(|n| {
            n.kind == domain::NotificationKind::Follow
                && n.recipient == follow.followee()
                && n.actor.id == follow.follower()
                && n.created_at >= since
        }))
    }

    async fn unfollow(&self, follow: domain::Follow, event: domain::Envelope) -> Result<bool, PortError> {
        let mut follows = self.follows.lock().unwrap();
        let before = follows.len();
        follows.retain(|f| *f != follow);
        let removed = follows.len() < before;
        if removed {
            self.outbox.lock().unwrap().push(event);
        }
        Ok(removed)
    }

    async fn followers(
        &self,
        _user: UserId,
        _viewer: UserId,
        _page: crate::paging::PageRequest,
    ) -> Result<crate::paging::Page<FollowEntry>, PortError> {
        Ok(crate::paging::Page { items: Vec::new(), next_cursor: None })
    }

    async fn following(
        &self,
        _user: UserId,
        _viewer: UserId,
        _page: crate::paging::PageRequest,
    ) -> Result<crate::paging::Page<FollowEntry>, PortError> {
        Ok(crate::paging::Page { items: Vec::new(), next_cursor: None })
    }
}

#[derive(Default)]
pub struct InMemoryTickets {
    tickets: Mutex<HashMap<String, (AccessClaims, DateTime<Utc>)>>,
}

#[async_trait]
impl TicketStore for InMemoryTickets {
    async fn issue(&self, claims: &AccessClaims, expires_at: DateTime<Utc>) -> Result<String, PortError> {
        let ticket = format!("ticket:{}", Uuid::now_v7());
        self.tickets.lock().unwrap().insert(ticket.clone(), (claims.clone(), expires_at));
        Ok(ticket)
    }

    async fn redeem(&self, ticket: &str, now: DateTime<Utc>) -> Result<Option<AccessClaims>, PortError> {
        Ok(self.tickets.lock().unwrap().remove(ticket).filter(|(_, expires)| *expires > now).map(|(claims, _)| claims))
    }
}

/// Stores "images" that start with `IMG`; anything else is unsupported.
#[derive(Default)]
pub struct InMemoryAvatars {
    pub files: Mutex<HashSet<String>>,
}

#[async_trait]
impl AvatarStorage for InMemoryAvatars {
    async fn store(&self, owner: UserId, bytes: Vec<u8>) -> Result<String, AvatarError> {
        if !bytes.starts_with(b"IMG") {
            return Err(AvatarError::Unsupported("not an image"));
        }
        let key = format!("{owner}-{}.png", Uuid::now_v7());
        self.files.lock().unwrap().insert(key.clone());
        Ok(key)
    }

    async fn delete(&self, key: &str) -> Result<(), PortError> {
        self.files.lock().unwrap().remove(key);
        Ok(())
    }
}

/// Activity as a list of who was seen; statistics count it with the stored rows.
#[derive(Default)]
pub struct RecordedActivity {
    pub seen: Mutex<Vec<UserId>>,
}

impl ActivityLog for RecordedActivity {
    fn record(&self, user: UserId, _at: DateTime<Utc>) {
        self.seen.lock().unwrap().push(user);
    }
}

/// Counts from the in-memory users and content, with the recorded activity.
pub struct FakeStats {
    pub users: std::sync::Arc<InMemoryUsers>,
    pub content: std::sync::Arc<InMemoryContent>,
    pub activity: std::sync::Arc<RecordedActivity>,
}

#[async_trait]
impl StatsRepository for FakeStats {
    async fn counts(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Counts, PortError> {
        let within = |at: DateTime<Utc>| at >= from && at <= to;
        let active: HashSet<UserId> = self.activity.seen.lock().unwrap().iter().copied().collect();
        let users = self.users.rows.lock().unwrap();
        Ok(Counts {
            active_users: active.len() as u64,
            new_users: users.iter().filter(|(u, _)| within(u.created_at)).count() as u64,
            posts: self.content.posts.lock().unwrap().iter().filter(|p| within(p.created_at)).count() as u64,
            follows: self.content.follows.lock().unwrap().len() as u64,
        })
    }
}

#[derive(Default)]
pub struct InMemoryWebhooks {
    rows: Mutex<Vec<Webhook>>,
}

#[async_trait]
impl WebhookRepository for InMemoryWebhooks {
    async fn create(
        &self,
        owner: UserId,
        url: &str,
        at: DateTime<Utc>,
        limit: usize,
    ) -> Result<Option<Webhook>, PortError> {
        let mut rows = self.rows.lock().unwrap();
        if rows.iter().filter(|w| w.owner == owner).count() >= limit {
            return Ok(None);
        }
        let webhook =
            Webhook { id: Uuid::now_v7(), owner, url: url.to_owned(), secret: "s".repeat(64), created_at: at };
        rows.push(webhook.clone());
        Ok(Some(webhook))
    }

    async fn list(&self, owner: UserId) -> Result<Vec<Webhook>, PortError> {
        Ok(self.rows.lock().unwrap().iter().filter(|w| w.owner == owner).cloned().collect())
    }

    async fn delete(&self, owner: UserId, id: Uuid) -> Result<bool, PortError> {
        let mut rows = self.rows.lock().unwrap();
        let before = rows.len();
        rows.retain(|w| !(w.owner == owner && w.id == id));
        Ok(rows.len() < before)
    }
}

/// Refuses hosts under `internal.`, as a real guard refuses private addresses.
pub struct FakeGuard;

#[async_trait]
impl UrlGuard for FakeGuard {
    async fn check(&self, url: &str) -> Result<(), String> {
        if url.contains("://internal.") { Err("must not point to an internal address".into()) } else { Ok(()) }
    }
}
