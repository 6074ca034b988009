//! The OpenAPI 3.1 document of the api, and Swagger UI served from the binary.

use std::collections::BTreeMap;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{Modify, OpenApi, ToResponse, ToSchema};

use super::{admin, auth, follows, health, media, notifications, posts, users, webhooks};
use crate::wire;

/// An error answer (`application/problem+json`, RFC 9457).
#[derive(ToSchema)]
#[schema(example = json!({
    "type": "about:blank", "title": "Unprocessable Entity", "status": 422, "code": "validation_failed",
    "detail": "the request breaks one or more input rules", "errors": {"username": ["must be between 3 and 30 characters"]}
}))]
pub struct Problem {
    /// Always `about:blank`.
    #[schema(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// Stable snake_case name to switch on: `username_taken`, `token_expired`, `quota_exceeded`, ...
    pub code: String,
    pub detail: String,
    /// Field -> broken rules; only with `validation_failed`.
    pub errors: Option<BTreeMap<String, Vec<String>>>,
}

/// `malformed_json` (also a lone surrogate such as `"\ud800"`), `invalid_content_type`
/// (a JSON endpoint sent another Content-Type) or `invalid_parameter` (a path or query value
/// that does not parse).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct BadRequest(pub Problem);

/// `missing_token`, `invalid_token`, `token_expired` or `token_revoked`.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json", headers(("WWW-Authenticate" = String, description = "`Bearer`")))]
pub struct Unauthorized(pub Problem);

/// `payload_too_large`: JSON bodies are limited to 64 KiB.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct PayloadTooLarge(pub Problem);

/// `validation_failed`: a field breaks a rule, or the body lacks a field or has one of the
/// wrong type; `errors` names each field (`body` for the shape).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct ValidationFailed(pub Problem);

/// `too_many_attempts`: login throttle or registrations per address reached.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json", headers(("Retry-After" = u64, description = "seconds to wait")))]
pub struct TooManyAttempts(pub Problem);

/// `unavailable`: the database or the broker is down.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json", headers(("Retry-After" = u64, description = "seconds to wait")))]
pub struct Unavailable(pub Problem);

/// `busy`: the password-hashing queue is full; or `unavailable`: the database is down.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json", headers(("Retry-After" = u64, description = "seconds to wait")))]
pub struct BusyOrUnavailable(pub Problem);

/// Operations that hash a password, and so may be throttled or find the
/// hashing queue full. (Refresh tokens are compared by SHA-256 digest: refresh
/// hashes no password and is neither throttled nor ever `busy`.)
const HASHING: &[&str] = &["/api/v1/auth/register", "/api/v1/auth/login"];

/// The answers every operation of a kind can give, added by rule so that no
/// `#[utoipa::path]` has to repeat them (and none can forget one):
///
/// | operation | answers |
/// |---|---|
/// | takes a JSON body | 400, 413, 422 |
/// | under `/api/`, takes a path or query parameter (ids, numbers) | 400 |
/// | takes a bearer token | 401 |
/// | hashes a password ([`HASHING`]) | 429 `too_many_attempts`, 503 `busy` or `unavailable` |
/// | any other under `/api/` (all use the database) | 503 `unavailable` |
///
/// An operation's own answer for a status wins, except 400: its codes mean the
/// same everywhere, so the shared one replaces an inline one.
struct SharedAnswers;

impl SharedAnswers {
    fn answers(path: &str, operation: &Operation) -> Vec<(&'static str, &'static str)> {
        let mut answers = Vec::new();
        if takes_json(operation) {
            answers.extend([("400", "BadRequest"), ("413", "PayloadTooLarge"), ("422", "ValidationFailed")]);
        }
        if path.starts_with("/api/") && operation.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
            answers.push(("400", "BadRequest"));
        }
        if takes_bearer(operation) {
            answers.push(("401", "Unauthorized"));
        }
        if HASHING.contains(&path) {
            answers.extend([("429", "TooManyAttempts"), ("503", "BusyOrUnavailable")]);
        } else if path.starts_with("/api/") {
            answers.push(("503", "Unavailable"));
        }
        answers
    }
}

fn takes_json(operation: &Operation) -> bool {
    matches!(&operation.request_body, Some(RefOr::T(body)) if body.content.contains_key("application/json"))
}

fn takes_bearer(operation: &Operation) -> bool {
    operation
        .security
        .iter()
        .flatten()
        .any(|requirement| serde_json::to_value(requirement).is_ok_and(|value| value.get("bearer").is_some()))
}

fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch].into_iter().flatten()
}

impl Modify for SharedAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in &mut openapi.paths.paths {
            for operation in operations_mut(item) {
                for (status, name) in Self::answers(path, operation) {
                    let answer = RefOr::Ref(Ref::from_response_name(name));
                    let responses = &mut operation.responses.responses;
                    if status == "400" {
                        responses.insert(status.to_owned(), answer);
                    } else {
                        responses.entry(status.to_owned()).or_insert(answer);
                    }
                }
            }
        }
    }
}

/// utoipa names an operation after its handler, and handlers of several groups
/// share a name (`list`, `create`, `delete`). OpenAPI wants operation ids unique,
/// so a shared one gets the last literal segment of its path: `list_webhooks`.
struct UniqueOperationIds;

impl Modify for UniqueOperationIds {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let mut uses: BTreeMap<String, usize> = BTreeMap::new();
        for item in openapi.paths.paths.values_mut() {
            for id in operations_mut(item).filter_map(|operation| operation.operation_id.clone()) {
                *uses.entry(id).or_default() += 1;
            }
        }
        for (path, item) in &mut openapi.paths.paths {
            let noun = path.rsplit('/').find(|segment| !segment.is_empty() && !segment.starts_with('{')).unwrap_or("");
            for operation in operations_mut(item) {
                if let Some(id) = operation.operation_id.as_mut()
                    && uses.get(id.as_str()).is_some_and(|&n| n > 1)
                {
                    *id = format!("{id}_{noun}");
                }
            }
        }
    }
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "social", description = "REST api of the social network. Live events are served by the notifier over WebSocket (`GET /ws`, one JSON frame per event with `id`, `type`, `created_at` and `data`; authenticate with a bearer token or a ticket from `POST /api/v1/auth/ws-ticket`)."),
    paths(
        auth::register, auth::login, auth::refresh, auth::logout, auth::ws_ticket,
        users::me, users::update_me, users::delete_me, media::upload_avatar, media::serve, users::lookup, users::list, users::profile, users::change_role, admin::stats,
        posts::create, posts::search, posts::get, posts::delete, posts::by_author, posts::timeline,
        follows::follow, follows::unfollow, follows::followers, follows::following,
        notifications::list, notifications::unread_count, notifications::mark_read,
        webhooks::create, webhooks::list, webhooks::delete,
        health::live, health::ready, crate::telemetry::render_metrics,
    ),
    components(
        schemas(Problem, wire::UserView, wire::ProfileView, wire::PostView, wire::NotificationView),
        responses(BadRequest, Unauthorized, PayloadTooLarge, ValidationFailed, TooManyAttempts, Unavailable, BusyOrUnavailable),
    ),
    modifiers(&BearerAuth, &SharedAnswers, &UniqueOperationIds),
    tags(
        (name = "auth", description = "Registration, tokens, sign-out"),
        (name = "users", description = "Accounts, profiles, administration"),
        (name = "posts", description = "Posts, search, timeline"),
        (name = "follows", description = "Following and follower lists"),
        (name = "notifications", description = "Mentions and follows"),
        (name = "operations", description = "Health"),
    )
)]
pub struct ApiDoc;
