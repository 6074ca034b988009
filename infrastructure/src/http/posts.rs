//! `/api/v1/posts*`, `/api/v1/users/{id}/posts` and `/api/v1/timeline`.

use actix_web::http::header::{HeaderName, LOCATION};
use actix_web::{HttpRequest, HttpResponse, web};
use application::paging::PageRequest;
use application::post::PostService;
use domain::{PostContent, PostId, UserId};
use serde::Deserialize;
use shaku_actix::Inject;
use uuid::Uuid;

use super::extract::Authenticated;
use super::paging::PageQuery;
use super::problem::ApiError;
use crate::di::AppModule;
use crate::wire::{CursorPage, PostView, PublicUrls};

type Posts = Inject<AppModule, PostService>;
type Urls = web::Data<PublicUrls>;

const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Set on the answer to a repeated `Idempotency-Key`.
const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

#[derive(Deserialize)]
pub struct CreatePostRequest {
    pub content: String,
}

/// `GET /posts`: its own fields, not a flattened `PageQuery` (see there).
#[derive(Deserialize)]
pub struct SearchQuery {
    pub q: Option<String>,
    pub author_id: Option<Uuid>,
    pub before: Option<Uuid>,
    pub since: Option<Uuid>,
    pub limit: Option<u32>,
}

fn page_of(posts: application::paging::Page<domain::Post>, urls: &PublicUrls) -> HttpResponse {
    HttpResponse::Ok().json(CursorPage::new(posts, |p| PostView::new(&p, urls)))
}

pub async fn create(
    posts: Posts,
    caller: Authenticated,
    request: HttpRequest,
    body: web::Json<CreatePostRequest>,
    urls: Urls,
) -> Result<HttpResponse, ApiError> {
    let content = PostContent::parse(&body.content).map_err(|e| ApiError::invalid_field("content", e))?;
    let key = match request.headers().get(IDEMPOTENCY_KEY) {
        None => None,
        Some(value) => Some(value.to_str().map_err(|_| ApiError::invalid_field("Idempotency-Key", "must be ASCII"))?),
    };
    let published = posts.create(&caller.0, content, key).await?;
    let mut response = HttpResponse::Created();
    response.insert_header((LOCATION, format!("/api/v1/posts/{}", published.post.id)));
    if published.replayed {
        response.insert_header((IDEMPOTENT_REPLAYED, "true"));
    }
    Ok(response.json(PostView::new(&published.post, &urls)))
}

pub async fn get(
    posts: Posts,
    _caller: Authenticated,
    id: web::Path<Uuid>,
    urls: Urls,
) -> Result<HttpResponse, ApiError> {
    let post = posts.get(PostId::from_uuid(id.into_inner())).await?;
    Ok(HttpResponse::Ok().json(PostView::new(&post, &urls)))
}

pub async fn delete(posts: Posts, caller: Authenticated, id: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    posts.delete(&caller.0, PostId::from_uuid(id.into_inner())).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn search(
    posts: Posts,
    _caller: Authenticated,
    query: web::Query<SearchQuery>,
    urls: Urls,
) -> Result<HttpResponse, ApiError> {
    let page = PageRequest::new(query.before, query.since, query.limit)?;
    let found = posts.search(query.author_id.map(UserId::from_uuid), query.q.as_deref(), page).await?;
    Ok(page_of(found, &urls))
}

pub async fn by_author(
    posts: Posts,
    _caller: Authenticated,
    id: web::Path<Uuid>,
    query: web::Query<PageQuery>,
    urls: Urls,
) -> Result<HttpResponse, ApiError> {
    let found = posts.by_author(UserId::from_uuid(id.into_inner()), query.request()?).await?;
    Ok(page_of(found, &urls))
}

pub async fn timeline(
    posts: Posts,
    caller: Authenticated,
    query: web::Query<PageQuery>,
    urls: Urls,
) -> Result<HttpResponse, ApiError> {
    Ok(page_of(posts.timeline(&caller.0, query.request()?).await?, &urls))
}
