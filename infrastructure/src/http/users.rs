//! `/api/v1/users*`: the caller's account, profiles, and user administration.

use actix_web::{HttpResponse, web};
use application::ports::UserChanges;
use application::user::UserService;
use domain::{Bio, DisplayName, Email, Role, UserId, Username, storable};
use serde::{Deserialize, Serialize};
use shaku_actix::Inject;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::extract::Authenticated;
use super::fields::{Fields, nullable};
use super::problem::ApiError;
use crate::di::AppModule;
use crate::wire::{ProfileView, PublicUrls, UserView};

type Users = Inject<AppModule, UserService>;
type Urls = web::Data<PublicUrls>;

/// PATCH body: an absent field is left alone; `null` clears an optional one.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"display_name": "Alice", "bio": null}))]
pub struct UpdateMeRequest {
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub username: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub display_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub bio: Option<Option<String>>,
}

/// `null` and a blank string both clear an optional text.
fn optional_text<T, E>(
    raw: Option<Option<String>>,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Option<Result<Option<T>, E>> {
    raw.map(|value| match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => parse(text).map(Some),
    })
}

impl UpdateMeRequest {
    fn validate(self) -> Result<UserChanges, ApiError> {
        let mut fields = Fields::default();
        let username = match self.username {
            None => None,
            Some(None) => fields.check::<Username, _>("username", Err("cannot be null")),
            Some(Some(raw)) => fields.check("username", Username::new(&raw)),
        };
        let email = fields.check_optional("email", optional_text(self.email, Email::new));
        let display_name = fields.check_optional("display_name", optional_text(self.display_name, DisplayName::new));
        let bio = fields.check_optional("bio", optional_text(self.bio, Bio::new));
        fields.finish()?;
        Ok(UserChanges { username, email: email.flatten(), display_name: display_name.flatten(), bio: bio.flatten() })
    }
}

#[derive(Deserialize, IntoParams)]
pub struct LookupQuery {
    pub username: String,
}

#[derive(Deserialize, IntoParams)]
pub struct ListQuery {
    #[serde(default = "default_limit")]
    pub limit: u32,
    #[serde(default)]
    pub offset: u64,
    #[serde(default)]
    pub q: Option<String>,
}

const fn default_limit() -> u32 {
    20
}

#[derive(Serialize, ToSchema)]
pub struct PageMeta {
    pub total: u64,
    pub limit: u32,
    pub offset: u64,
}

#[derive(Serialize, ToSchema)]
pub struct UserList {
    pub data: Vec<UserView>,
    pub meta: PageMeta,
}

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"role": "admin"}))]
pub struct RoleRequest {
    pub role: String,
}

#[utoipa::path(get, path = "/api/v1/users/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, description = "the caller's account", body = UserView), (status = 401, description = "missing, invalid, expired or revoked token", body = super::openapi::Problem, content_type = "application/problem+json")))]
pub async fn me(users: Users, caller: Authenticated, urls: Urls) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(UserView::new(users.me(&caller.0).await?, &urls)))
}

#[utoipa::path(patch, path = "/api/v1/users/me", tag = "users", security(("bearer" = [])), request_body = UpdateMeRequest,
    description = "An absent field is left alone; `null` (or a blank string) clears email, display_name or bio.",
    responses((status = 200, description = "the updated account", body = UserView), (status = 400, description = "malformed JSON or parameter", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 401, description = "missing, invalid, expired or revoked token", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 409, description = "username_taken or email_taken", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 422, description = "a field breaks a rule", body = super::openapi::Problem, content_type = "application/problem+json")))]
pub async fn update_me(
    users: Users,
    caller: Authenticated,
    body: web::Json<UpdateMeRequest>,
    urls: Urls,
) -> Result<HttpResponse, ApiError> {
    let changes = body.into_inner().validate()?;
    Ok(HttpResponse::Ok().json(UserView::new(users.update(&caller.0, changes).await?, &urls)))
}

#[utoipa::path(delete, path = "/api/v1/users/me", tag = "users", security(("bearer" = [])),
    responses((status = 204, description = "the account, its posts, follows and notifications are gone; its tokens stop working"), (status = 401, description = "missing, invalid, expired or revoked token", body = super::openapi::Problem, content_type = "application/problem+json")))]
pub async fn delete_me(users: Users, caller: Authenticated) -> Result<HttpResponse, ApiError> {
    users.delete(&caller.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", security(("bearer" = [])), params(("id" = Uuid, Path, description = "user id")),
    responses((status = 200, description = "the profile", body = ProfileView), (status = 400, description = "malformed JSON or parameter", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 401, description = "missing, invalid, expired or revoked token", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 404, description = "user_not_found", body = super::openapi::Problem, content_type = "application/problem+json")))]
pub async fn profile(
    users: Users,
    caller: Authenticated,
    id: web::Path<Uuid>,
    urls: Urls,
) -> Result<HttpResponse, ApiError> {
    let profile = users.profile(&caller.0, UserId::from_uuid(id.into_inner())).await?;
    Ok(HttpResponse::Ok().json(ProfileView::new(profile, &urls)))
}

#[utoipa::path(get, path = "/api/v1/users/lookup", tag = "users", security(("bearer" = [])), params(LookupQuery),
    responses((status = 200, description = "the profile (username in any letter case)", body = ProfileView), (status = 400, description = "malformed JSON or parameter", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 401, description = "missing, invalid, expired or revoked token", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 404, description = "user_not_found", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 422, description = "a username with a NUL character", body = super::openapi::Problem, content_type = "application/problem+json")))]
pub async fn lookup(
    users: Users,
    caller: Authenticated,
    query: web::Query<LookupQuery>,
    urls: Urls,
) -> Result<HttpResponse, ApiError> {
    let username = storable(&query.username).map_err(|e| ApiError::invalid_field("username", e))?;
    let profile = users.lookup(&caller.0, username).await?;
    Ok(HttpResponse::Ok().json(ProfileView::new(profile, &urls)))
}

#[utoipa::path(get, path = "/api/v1/users", tag = "users", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, description = "users by username, offset paging", body = UserList), (status = 400, description = "malformed JSON or parameter", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 401, description = "missing, invalid, expired or revoked token", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 403, description = "not allowed", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 422, description = "a field breaks a rule", body = super::openapi::Problem, content_type = "application/problem+json")))]
pub async fn list(
    users: Users,
    caller: Authenticated,
    query: web::Query<ListQuery>,
    urls: Urls,
) -> Result<HttpResponse, ApiError> {
    let prefix = query.q.as_deref().map(storable).transpose().map_err(|e| ApiError::invalid_field("q", e))?;
    let page = users.list(&caller.0, prefix, query.limit, query.offset).await?;
    Ok(HttpResponse::Ok().json(UserList {
        data: page.users.into_iter().map(|u| UserView::new(u, &urls)).collect(),
        meta: PageMeta { total: page.total, limit: query.limit, offset: query.offset },
    }))
}

#[utoipa::path(patch, path = "/api/v1/users/{id}/role", tag = "users", security(("bearer" = [])), params(("id" = Uuid, Path, description = "user id")), request_body = RoleRequest,
    responses((status = 200, description = "the user with the new role", body = UserView), (status = 400, description = "malformed JSON or parameter", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 401, description = "missing, invalid, expired or revoked token", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 403, description = "not allowed", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 404, description = "user_not_found", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 422, description = "an unknown role, or one's own", body = super::openapi::Problem, content_type = "application/problem+json")))]
pub async fn change_role(
    users: Users,
    caller: Authenticated,
    id: web::Path<Uuid>,
    body: web::Json<RoleRequest>,
    urls: Urls,
) -> Result<HttpResponse, ApiError> {
    let role = body.role.parse::<Role>().map_err(|e| ApiError::invalid_field("role", e))?;
    let user = users.change_role(&caller.0, UserId::from_uuid(id.into_inner()), role).await?;
    Ok(HttpResponse::Ok().json(UserView::new(user, &urls)))
}
