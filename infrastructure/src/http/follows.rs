//! `/api/v1/users/{id}/follow`, `/followers` and `/following`.

use actix_web::{HttpResponse, web};
use application::follow::FollowService;
use domain::UserId;
use shaku_actix::Inject;
use uuid::Uuid;

use super::extract::Authenticated;
use super::paging::PageQuery;
use super::problem::ApiError;
use crate::di::AppModule;
use crate::wire::{CursorPage, ProfileView, PublicUrls};

type Follows = Inject<AppModule, FollowService>;
type Urls = web::Data<PublicUrls>;

#[utoipa::path(put, path = "/api/v1/users/{id}/follow", tag = "follows", security(("bearer" = [])), params(("id" = Uuid, Path, description = "user id")),
    responses((status = 204, description = "following (idempotent)"), (status = 400, description = "malformed JSON or parameter", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 401, description = "missing, invalid, expired or revoked token", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 404, description = "user_not_found", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 422, description = "following yourself", body = super::openapi::Problem, content_type = "application/problem+json")))]
pub async fn follow(follows: Follows, caller: Authenticated, id: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    follows.follow(&caller.0, UserId::from_uuid(id.into_inner())).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(delete, path = "/api/v1/users/{id}/follow", tag = "follows", security(("bearer" = [])), params(("id" = Uuid, Path, description = "user id")),
    responses((status = 204, description = "not following (idempotent)"), (status = 400, description = "malformed JSON or parameter", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 401, description = "missing, invalid, expired or revoked token", body = super::openapi::Problem, content_type = "application/problem+json")))]
pub async fn unfollow(follows: Follows, caller: Authenticated, id: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    follows.unfollow(&caller.0, UserId::from_uuid(id.into_inner())).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(get, path = "/api/v1/users/{id}/followers", tag = "follows", security(("bearer" = [])), params(("id" = Uuid, Path, description = "user id"), PageQuery),
    responses((status = 200, description = "followers, most recent follow first", body = CursorPage<ProfileView>), (status = 400, description = "malformed JSON or parameter", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 401, description = "missing, invalid, expired or revoked token", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 404, description = "user_not_found", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 422, description = "a field breaks a rule", body = super::openapi::Problem, content_type = "application/problem+json")))]
pub async fn followers(
    follows: Follows,
    caller: Authenticated,
    id: web::Path<Uuid>,
    query: web::Query<PageQuery>,
    urls: Urls,
) -> Result<HttpResponse, ApiError> {
    let page = follows.followers(&caller.0, UserId::from_uuid(id.into_inner()), query.request()?).await?;
    Ok(HttpResponse::Ok().json(CursorPage::new(page, |e| ProfileView::new(e.profile, &urls))))
}

#[utoipa::path(get, path = "/api/v1/users/{id}/following", tag = "follows", security(("bearer" = [])), params(("id" = Uuid, Path, description = "user id"), PageQuery),
    responses((status = 200, description = "followees, most recent follow first", body = CursorPage<ProfileView>), (status = 400, description = "malformed JSON or parameter", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 401, description = "missing, invalid, expired or revoked token", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 404, description = "user_not_found", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 422, description = "a field breaks a rule", body = super::openapi::Problem, content_type = "application/problem+json")))]
pub async fn following(
    follows: Follows,
    caller: Authenticated,
    id: web::Path<Uuid>,
    query: web::Query<PageQuery>,
    urls: Urls,
) -> Result<HttpResponse, ApiError> {
    let page = follows.following(&caller.0, UserId::from_uuid(id.into_inner()), query.request()?).await?;
    Ok(HttpResponse::Ok().json(CursorPage::new(page, |e| ProfileView::new(e.profile, &urls))))
}
