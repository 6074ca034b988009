//! The shaku module: which adapter stands behind each port, and the use cases
//! built from them. Handlers receive use cases through it.

use application::admin::StatsService;
use application::auth::{AttemptLimits, AuthPorts, AuthService};
use application::follow::FollowService;
use application::notification::NotificationService;
use application::ports::{
    ActivityLog, AttemptLimiter, AvatarStorage, Clock, FollowRepository, LoginLimits, NotificationRepository,
    PasswordHasher, PostRepository, RateLimit, RefreshTokenStore, RevocationList, StatsRepository, TicketStore,
    TokenIssuer, UrlGuard, UserRepository, WebhookRepository,
};
use application::post::PostService;
use application::user::{UserPorts, UserService};
use application::webhook::WebhookService;
use shaku::{Component, HasComponent, Interface, ModuleBuildContext, module};
use std::sync::Arc;

use crate::clock::SystemClock;
use crate::persistence::{
    PgActivity, PgAttemptLimiter, PgFollowRepository, PgNotificationRepository, PgPostRepository, PgRefreshTokenStore,
    PgStats, PgTicketStore, PgUserRepository, PgWebhookRepository,
};
use crate::security::{Argon2Hasher, JwtTokenIssuer, RevocationCache};
use crate::storage::LocalAvatarStorage;
use crate::webhooks::PublicUrlGuard;

/// shaku resolves only traits that extend its `Interface`, and `application`
/// must not know shaku: each port gets a local twin here, implemented by every
/// implementation of the port, and upcast back to the port when injected.
macro_rules! injectable_ports {
    ($($twin:ident => $port:ident),* $(,)?) => {$(
        pub trait $twin: $port + Interface {}
        impl<T: $port + Interface> $twin for T {}
    )*};
}

injectable_ports! {
    UserRepositoryPort => UserRepository,
    PasswordHasherPort => PasswordHasher,
    TokenIssuerPort => TokenIssuer,
    RefreshTokenStorePort => RefreshTokenStore,
    RevocationListPort => RevocationList,
    ClockPort => Clock,
    PostRepositoryPort => PostRepository,
    FollowRepositoryPort => FollowRepository,
    NotificationRepositoryPort => NotificationRepository,
    TicketStorePort => TicketStore,
    AvatarStoragePort => AvatarStorage,
    ActivityLogPort => ActivityLog,
    StatsRepositoryPort => StatsRepository,
    WebhookRepositoryPort => WebhookRepository,
    UrlGuardPort => UrlGuard,
    AttemptLimiterPort => AttemptLimiter,
}

/// Resolves the twin of a port and hands it out as the port itself.
fn port<I: ?Sized + Interface>(context: &mut ModuleBuildContext<AppModule>) -> Arc<I>
where
    AppModule: HasComponent<I>,
{
    AppModule::build_component(context)
}

/// Settings of the use cases that do not come from a port.
pub struct AuthSettings {
    pub refresh_ttl: chrono::Duration,
    pub limits: AttemptLimits,
}

impl Default for AuthSettings {
    /// The documented defaults (`.env.example`).
    fn default() -> Self {
        let window = chrono::Duration::minutes(15);
        Self {
            refresh_ttl: chrono::Duration::days(30),
            limits: AttemptLimits {
                login: LoginLimits {
                    per_username: RateLimit { max: 5, window },
                    per_address: RateLimit { max: 50, window },
                },
                registration: RateLimit { max: 10, window: chrono::Duration::hours(1) },
            },
        }
    }
}

impl Component<AppModule> for AuthService {
    type Interface = Self;
    type Parameters = AuthSettings;

    fn build(context: &mut ModuleBuildContext<AppModule>, settings: AuthSettings) -> Box<Self> {
        let ports = AuthPorts {
            users: port::<dyn UserRepositoryPort>(context),
            hasher: port::<dyn PasswordHasherPort>(context),
            tokens: port::<dyn TokenIssuerPort>(context),
            refresh_tokens: port::<dyn RefreshTokenStorePort>(context),
            revocations: port::<dyn RevocationListPort>(context),
            tickets: port::<dyn TicketStorePort>(context),
            activity: port::<dyn ActivityLogPort>(context),
            clock: port::<dyn ClockPort>(context),
            attempts: port::<dyn AttemptLimiterPort>(context),
        };
        Box::new(Self::new(ports, settings.refresh_ttl, settings.limits))
    }
}

impl Component<AppModule> for UserService {
    type Interface = Self;
    type Parameters = ();

    fn build(context: &mut ModuleBuildContext<AppModule>, (): ()) -> Box<Self> {
        Box::new(Self::new(UserPorts {
            users: port::<dyn UserRepositoryPort>(context),
            hasher: port::<dyn PasswordHasherPort>(context),
            tokens: port::<dyn TokenIssuerPort>(context),
            revocations: port::<dyn RevocationListPort>(context),
            avatars: port::<dyn AvatarStoragePort>(context),
            clock: port::<dyn ClockPort>(context),
        }))
    }
}

/// Settings of the post use cases.
#[derive(Default)]
pub struct PostSettings {
    /// Posts per author per UTC day; 0 = no limit.
    pub daily_limit: u32,
}

impl Component<AppModule> for PostService {
    type Interface = Self;
    type Parameters = PostSettings;

    fn build(context: &mut ModuleBuildContext<AppModule>, settings: PostSettings) -> Box<Self> {
        Box::new(Self::new(
            port::<dyn UserRepositoryPort>(context),
            port::<dyn PostRepositoryPort>(context),
            port::<dyn ClockPort>(context),
            settings.daily_limit,
        ))
    }
}

impl Component<AppModule> for FollowService {
    type Interface = Self;
    type Parameters = ();

    fn build(context: &mut ModuleBuildContext<AppModule>, (): ()) -> Box<Self> {
        Box::new(Self::new(
            port::<dyn UserRepositoryPort>(context),
            port::<dyn FollowRepositoryPort>(context),
            port::<dyn ClockPort>(context),
        ))
    }
}

impl Component<AppModule> for StatsService {
    type Interface = Self;
    type Parameters = ();

    fn build(context: &mut ModuleBuildContext<AppModule>, (): ()) -> Box<Self> {
        Box::new(Self::new(
            port::<dyn UserRepositoryPort>(context),
            port::<dyn StatsRepositoryPort>(context),
            port::<dyn ClockPort>(context),
        ))
    }
}

impl Component<AppModule> for WebhookService {
    type Interface = Self;
    type Parameters = ();

    fn build(context: &mut ModuleBuildContext<AppModule>, (): ()) -> Box<Self> {
        Box::new(Self::new(
            port::<dyn WebhookRepositoryPort>(context),
            port::<dyn UrlGuardPort>(context),
            port::<dyn ClockPort>(context),
        ))
    }
}

impl Component<AppModule> for NotificationService {
    type Interface = Self;
    type Parameters = ();

    fn build(context: &mut ModuleBuildContext<AppModule>, (): ()) -> Box<Self> {
        Box::new(Self::new(port::<dyn NotificationRepositoryPort>(context)))
    }
}

module! {
    pub AppModule {
        components = [
            PgUserRepository,
            PgRefreshTokenStore,
            Argon2Hasher,
            JwtTokenIssuer,
            RevocationCache,
            SystemClock,
            PgPostRepository,
            PgFollowRepository,
            PgNotificationRepository,
            PgTicketStore,
            LocalAvatarStorage,
            PgActivity,
            PgAttemptLimiter,
            PgStats,
            PgWebhookRepository,
            PublicUrlGuard,
            AuthService,
            UserService,
            PostService,
            FollowService,
            NotificationService,
            StatsService,
            WebhookService,
        ],
        providers = []
    }
}

/// The repositories of one family (PostgreSQL or SQLite), one per port.
pub struct Repositories {
    pub users: Box<dyn UserRepositoryPort>,
    pub refresh_tokens: Box<dyn RefreshTokenStorePort>,
    pub posts: Box<dyn PostRepositoryPort>,
    pub follows: Box<dyn FollowRepositoryPort>,
    pub notifications: Box<dyn NotificationRepositoryPort>,
    pub tickets: Box<dyn TicketStorePort>,
    pub activity: Box<dyn ActivityLogPort>,
    pub stats: Box<dyn StatsRepositoryPort>,
    pub attempts: Box<dyn AttemptLimiterPort>,
    pub webhooks: Box<dyn WebhookRepositoryPort>,
}

/// The adapter behind every port, made before the module: one family of
/// repositories, and the adapters both families share.
pub struct Adapters {
    pub repositories: Repositories,
    pub hasher: Argon2Hasher,
    pub tokens: JwtTokenIssuer,
    pub revocations: RevocationCache,
    pub avatars: LocalAvatarStorage,
    pub url_guard: PublicUrlGuard,
    pub auth: AuthSettings,
    pub post_settings: PostSettings,
}

impl AppModule {
    /// Every port is given its adapter explicitly, whichever family it
    /// belongs to: the components listed in the module only name the
    /// interfaces, none of them is built from parameters.
    #[must_use]
    pub fn wire(adapters: Adapters) -> Self {
        let repositories = adapters.repositories;
        Self::builder()
            .with_component_override::<dyn UserRepositoryPort>(repositories.users)
            .with_component_override::<dyn RefreshTokenStorePort>(repositories.refresh_tokens)
            .with_component_override::<dyn PostRepositoryPort>(repositories.posts)
            .with_component_override::<dyn FollowRepositoryPort>(repositories.follows)
            .with_component_override::<dyn NotificationRepositoryPort>(repositories.notifications)
            .with_component_override::<dyn TicketStorePort>(repositories.tickets)
            .with_component_override::<dyn ActivityLogPort>(repositories.activity)
            .with_component_override::<dyn StatsRepositoryPort>(repositories.stats)
            .with_component_override::<dyn AttemptLimiterPort>(repositories.attempts)
            .with_component_override::<dyn WebhookRepositoryPort>(repositories.webhooks)
            .with_component_override::<dyn PasswordHasherPort>(Box::new(adapters.hasher))
            .with_component_override::<dyn TokenIssuerPort>(Box::new(adapters.tokens))
            .with_component_override::<dyn RevocationListPort>(Box::new(adapters.revocations))
            .with_component_override::<dyn AvatarStoragePort>(Box::new(adapters.avatars))
            .with_component_override::<dyn UrlGuardPort>(Box::new(adapters.url_guard))
            .with_component_parameters::<AuthService>(adapters.auth)
            .with_component_parameters::<PostService>(adapters.post_settings)
            .build()
    }
}
