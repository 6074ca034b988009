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

pub async fn follow(follows: Follows, caller: Authenticated, id: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    follows.follow(&caller.0, UserId::from_uuid(id.into_inner())).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn unfollow(follows: Follows, caller: Authenticated, id: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    follows.unfollow(&caller.0, UserId::from_uuid(id.into_inner())).await?;
    Ok(HttpResponse::NoContent().finish())
}

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
