//! The OpenAPI 3.1 document of the api, and Swagger UI served from the binary.

use std::collections::BTreeMap;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

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
    info(title = "social", description = "REST api of the social network. Live events are served by the notifier over WebSocket (`GET /ws`, see API.md)."),
    paths(
        auth::register, auth::login, auth::refresh, auth::logout, auth::ws_ticket,
        users::me, users::update_me, users::delete_me, media::upload_avatar, media::serve, users::lookup, users::list, users::profile, users::change_role, admin::stats,
        posts::create, posts::search, posts::get, posts::delete, posts::by_author, posts::timeline,
        follows::follow, follows::unfollow, follows::followers, follows::following,
        notifications::list, notifications::unread_count, notifications::mark_read,
        webhooks::create, webhooks::list, webhooks::delete,
        health::live, health::ready, crate::telemetry::render_metrics,
    ),
    components(schemas(Problem, wire::UserView, wire::ProfileView, wire::PostView, wire::NotificationView)),
    modifiers(&BearerAuth),
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
