//! The shaku module: which adapter stands behind each port, and the use cases
//! built from them. Handlers receive use cases through it.

use application::auth::AuthService;
use application::ports::{Clock, PasswordHasher, RefreshTokenStore, RevocationList, TokenIssuer, UserRepository};
use application::user::UserService;
use shaku::{Component, HasComponent, Interface, ModuleBuildContext, module};
use std::sync::Arc;

use crate::clock::SystemClock;
use crate::persistence::{
    PgPool, PgRefreshTokenStore, PgRefreshTokenStoreParameters, PgUserRepository, PgUserRepositoryParameters,
};
use crate::security::{Argon2Hasher, JwtTokenIssuer, RevocationCache};

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
}

/// Resolves the twin of a port and hands it out as the port itself.
fn port<I: ?Sized + Interface>(context: &mut ModuleBuildContext<AppModule>) -> Arc<I>
where
    AppModule: HasComponent<I>,
{
    AppModule::build_component(context)
}

/// Settings of the use cases that do not come from a port.
#[derive(Default)]
pub struct AuthSettings {
    pub refresh_ttl: chrono::Duration,
}

impl Component<AppModule> for AuthService {
    type Interface = Self;
    type Parameters = AuthSettings;

    fn build(context: &mut ModuleBuildContext<AppModule>, settings: AuthSettings) -> Box<Self> {
        Box::new(Self::new(
            port::<dyn UserRepositoryPort>(context),
            port::<dyn PasswordHasherPort>(context),
            port::<dyn TokenIssuerPort>(context),
            port::<dyn RefreshTokenStorePort>(context),
            port::<dyn RevocationListPort>(context),
            port::<dyn ClockPort>(context),
            settings.refresh_ttl,
        ))
    }
}

impl Component<AppModule> for UserService {
    type Interface = Self;
    type Parameters = ();

    fn build(context: &mut ModuleBuildContext<AppModule>, (): ()) -> Box<Self> {
        Box::new(Self::new(
            port::<dyn UserRepositoryPort>(context),
            port::<dyn PasswordHasherPort>(context),
            port::<dyn TokenIssuerPort>(context),
            port::<dyn RevocationListPort>(context),
            port::<dyn ClockPort>(context),
        ))
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
            AuthService,
            UserService,
        ],
        providers = []
    }
}

/// Adapters that need I/O to be built, made before the module.
pub struct Adapters {
    pub pool: PgPool,
    pub hasher: Argon2Hasher,
    pub tokens: JwtTokenIssuer,
    pub revocations: RevocationCache,
    pub auth: AuthSettings,
}

impl AppModule {
    #[must_use]
    pub fn wire(adapters: Adapters) -> Self {
        Self::builder()
            .with_component_parameters::<PgUserRepository>(PgUserRepositoryParameters { pool: adapters.pool.clone() })
            .with_component_parameters::<PgRefreshTokenStore>(PgRefreshTokenStoreParameters { pool: adapters.pool })
            .with_component_override::<dyn PasswordHasherPort>(Box::new(adapters.hasher))
            .with_component_override::<dyn TokenIssuerPort>(Box::new(adapters.tokens))
            .with_component_override::<dyn RevocationListPort>(Box::new(adapters.revocations))
            .with_component_parameters::<AuthService>(adapters.auth)
            .build()
    }
}
