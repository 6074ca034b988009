//! `/api/v1/users*`: the caller's account, profiles, and user administration.

use actix_web::{HttpResponse, web};
use application::ports::UserChanges;
use application::user::UserService;
use domain::{Bio, DisplayName, Email, Role, UserId, Username};
use serde::{Deserialize, Serialize};
use shaku_actix::Inject;
use uuid::Uuid;

use super::extract::Authenticated;
use super::fields::{Fields, nullable};
use super::problem::ApiError;
use crate::di::AppModule;
use crate::wire::{ProfileView, PublicUrls, UserView};

type Users = Inject<AppModule, UserService>;
type Urls = web::Data<PublicUrls>;

/// PATCH body: an absent field is left alone; `null` clears an optional one.
#[derive(Deserialize)]
pub struct UpdateMeRequest {
    #[serde(default, deserialize_with = "nullable")]
    pub username: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub display_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
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

#[derive(Deserialize)]
pub struct LookupQuery {
    pub username: String,
}

#[derive(Deserialize)]
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

#[derive(Serialize)]
pub struct PageMeta {
    pub total: u64,
    pub limit: u32,
    pub offset: u64,
}

#[derive(Serialize)]
pub struct UserList {
    pub data: Vec<UserView>,
    pub meta: PageMeta,
}

#[derive(Deserialize)]
pub struct RoleRequest {
    pub role: String,
}

pub async fn me(users: Users, caller: Authenticated, urls: Urls) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(UserView::new(users.me(&caller.0).await?, &urls)))
}

pub async fn update_me(
    users: Users,
    caller: Authenticated,
    body: web::Json<UpdateMeRequest>,
    urls: Urls,
) -> Result<HttpResponse, ApiError> {
    let changes = body.into_inner().validate()?;
    Ok(HttpResponse::Ok().json(UserView::new(users.update(&caller.0, changes).await?, &urls)))
}

pub async fn delete_me(users: Users, caller: Authenticated) -> Result<HttpResponse, ApiError> {
    users.delete(&caller.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn profile(
    users: Users,
    caller: Authenticated,
    id: web::Path<Uuid>,
    urls: Urls,
) -> Result<HttpResponse, ApiError> {
    let profile = users.profile(&caller.0, UserId::from_uuid(id.into_inner())).await?;
    Ok(HttpResponse::Ok().json(ProfileView::new(profile, &urls)))
}

pub async fn lookup(
    users: Users,
    caller: Authenticated,
    query: web::Query<LookupQuery>,
    urls: Urls,
) -> Result<HttpResponse, ApiError> {
    let profile = users.lookup(&caller.0, &query.username).await?;
    Ok(HttpResponse::Ok().json(ProfileView::new(profile, &urls)))
}

pub async fn list(
    users: Users,
    caller: Authenticated,
    query: web::Query<ListQuery>,
    urls: Urls,
) -> Result<HttpResponse, ApiError> {
    let page = users.list(&caller.0, query.q.as_deref(), query.limit, query.offset).await?;
    Ok(HttpResponse::Ok().json(UserList {
        data: page.users.into_iter().map(|u| UserView::new(u, &urls)).collect(),
        meta: PageMeta { total: page.total, limit: query.limit, offset: query.offset },
    }))
}

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
