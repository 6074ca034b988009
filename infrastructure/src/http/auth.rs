//! `/api/v1/auth/*`: register, login, refresh, logout.

use actix_web::http::header::{CACHE_CONTROL, HeaderValue};
use actix_web::{HttpResponse, web};
use application::ApplicationError;
use application::auth::{AuthService, RegisterCommand, Tokens};
use domain::{Email, Password, Role, Username};
use serde::{Deserialize, Serialize};
use shaku_actix::Inject;
use std::time::Duration;
use utoipa::ToSchema;

use super::client::ClientAddress;
use super::extract::{Authenticated, MaybeAuthenticated, optional_json};
use super::fields::Fields;
use super::problem::ApiError;
use crate::di::AppModule;
use crate::wire::{PublicUrls, UserView};

type Auth = Inject<AppModule, AuthService>;

/// How long a throttled attempt is held before its 429. A client that keeps
/// hammering a limit it has already reached gains nothing from speed, and
/// answering it as fast as it asks is what hurts everyone else: 64 connections
/// got 35k 429s a second here and took 60 % of GET /users/me's throughput.
/// Holding the answer costs a timer, not a thread.
const THROTTLED_PAUSE: Duration = Duration::from_secs(1);

/// Passes `result` through, after [`THROTTLED_PAUSE`] if it is a throttling refusal.
async fn paced<T>(result: Result<T, ApplicationError>) -> Result<T, ApplicationError> {
    if matches!(result, Err(ApplicationError::TooManyAttempts { .. })) {
        tokio::time::sleep(THROTTLED_PAUSE).await;
    }
    result
}

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"username": "alice", "password": "correct horse", "email": "alice@example.com"}))]
pub struct RegisterRequest {
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub email: Option<String>,
    /// Admins only.
    #[serde(default)]
    pub role: Option<String>,
}

impl RegisterRequest {
    fn validate(self) -> Result<RegisterCommand, ApiError> {
        let mut fields = Fields::default();
        let username = fields.check("username", Username::new(&self.username));
        let password = fields.check("password", Password::new(&self.password));
        let email = fields.check_optional("email", self.email.as_deref().map(Email::new));
        let role = fields.check_optional("role", self.role.as_deref().map(str::parse::<Role>));
        fields.finish()?;
        match (username, password, email, role) {
            (Some(username), Some(password), Some(email), Some(role)) => {
                Ok(RegisterCommand { username, password, email, role })
            }
            _ => Err(ApiError::validation(Default::default())),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"username": "alice", "password": "correct horse"}))]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Deserialize, Default, ToSchema)]
pub struct LogoutRequest {
    #[serde(default)]
    pub refresh_token: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TokensView {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub refresh_token: String,
    pub refresh_expires_in: i64,
}

/// Token answers must never be cached (RFC 6749 §5.1).
fn tokens_response(tokens: Tokens) -> HttpResponse {
    HttpResponse::Ok().insert_header((CACHE_CONTROL, HeaderValue::from_static("no-store"))).json(TokensView {
        access_token: tokens.access_token,
        token_type: "Bearer",
        expires_in: tokens.expires_in,
        refresh_token: tokens.refresh_token,
        refresh_expires_in: tokens.refresh_expires_in,
    })
}

#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    description = "Creates an account. A `role` is accepted only from an admin (bearer token).",
    security((), ("bearer" = [])),
    responses((status = 201, description = "the new user", body = UserView), (status = 400, description = "malformed JSON or parameter", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 401, description = "missing, invalid, expired or revoked token", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 403, description = "a role without an admin token", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 409, description = "username_taken or email_taken", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 422, description = "a field breaks a rule", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "too_many_attempts: the client address used up its registrations (`REGISTER_PER_HOUR`; a taken username counts too); `Retry-After` says when one frees (answered after a 1 s pause)", body = super::openapi::Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "seconds until a registration is possible again"))),
        (status = 503, description = "busy: password hashing is saturated, or unavailable: the database is down", body = super::openapi::Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "seconds to wait before retrying")))))]
pub async fn register(
    auth: Auth,
    caller: MaybeAuthenticated,
    client: ClientAddress,
    body: web::Json<RegisterRequest>,
    urls: web::Data<PublicUrls>,
) -> Result<HttpResponse, ApiError> {
    let command = body.into_inner().validate()?;
    let user = paced(auth.register(command, caller.0.as_ref(), client.0).await).await?;
    Ok(HttpResponse::Created().json(UserView::new(user, &urls)))
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    description = "Signs in. After `LOGIN_MAX_FAILURES` failures for one username from one client address within `LOGIN_WINDOW_SECONDS`, or ten times that from one address, attempts are refused with 429 without checking the password; a success resets the username's count.",
    responses((status = 200, description = "a token pair", body = TokensView), (status = 400, description = "malformed JSON or parameter", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 401, description = "invalid_credentials", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 422, description = "a field breaks a rule", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "too_many_attempts: too many failed logins for this username or from this address; the password was not checked (answered after a 1 s pause)", body = super::openapi::Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "seconds until the window frees"))),
        (status = 503, description = "busy: password hashing is saturated (answered at once), or unavailable: the database is down", body = super::openapi::Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "seconds to wait before retrying")))))]
pub async fn login(auth: Auth, client: ClientAddress, body: web::Json<LoginRequest>) -> Result<HttpResponse, ApiError> {
    Ok(tokens_response(paced(auth.login(&body.username, &body.password, client.0).await).await?))
}

#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    description = "Trades a refresh token for a new pair; the old refresh token stops working. Presenting a spent one revokes its family.",
    responses((status = 200, description = "a new token pair", body = TokensView), (status = 400, description = "malformed JSON or parameter", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 401, description = "invalid_refresh_token or refresh_token_reused", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 422, description = "a field breaks a rule", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 503, description = "unavailable: the database is down (refresh hashes no password, so it is never `busy`)", body = super::openapi::Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "seconds to wait before retrying")))))]
pub async fn refresh(auth: Auth, body: web::Json<RefreshRequest>) -> Result<HttpResponse, ApiError> {
    Ok(tokens_response(auth.refresh(&body.refresh_token).await?))
}

#[derive(Serialize, ToSchema)]
pub struct TicketView {
    pub ticket: String,
    pub expires_in: i64,
}

#[utoipa::path(post, path = "/api/v1/auth/ws-ticket", tag = "auth", security(("bearer" = [])),
    description = "A single-use ticket, valid 30 s, for `GET /ws?ticket=` on the notifier (browsers cannot set headers on a WebSocket).",
    responses((status = 201, description = "the ticket", body = TicketView), (status = 401, description = "missing, invalid, expired or revoked token", body = super::openapi::Problem, content_type = "application/problem+json")))]
pub async fn ws_ticket(auth: Auth, caller: Authenticated) -> Result<HttpResponse, ApiError> {
    let (ticket, expires_in) = auth.ws_ticket(&caller.0).await?;
    Ok(HttpResponse::Created()
        .insert_header((CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(TicketView { ticket, expires_in }))
}

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body(content = Option<LogoutRequest>, description = "optional"),
    security(("bearer" = [])),
    responses((status = 204, description = "the access token and the refresh token (with its family) stop working on every instance"), (status = 400, description = "malformed JSON or parameter", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 401, description = "missing, invalid, expired or revoked token", body = super::openapi::Problem, content_type = "application/problem+json")))]
pub async fn logout(auth: Auth, caller: Authenticated, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let request: LogoutRequest = optional_json(&body)?.unwrap_or_default();
    auth.logout(&caller.0, request.refresh_token.as_deref()).await?;
    Ok(HttpResponse::NoContent().finish())
}
