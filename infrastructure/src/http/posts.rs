//! `/api/v1/posts*`, `/api/v1/users/{id}/posts` and `/api/v1/timeline`.

use actix_web::http::header::{HeaderName, LOCATION};
use actix_web::{HttpRequest, HttpResponse, web};
use application::paging::PageRequest;
use application::post::PostService;
use domain::{PostContent, PostId, UserId, storable};
use serde::Deserialize;
use shaku_actix::Inject;
use utoipa::{IntoParams, ToSchema};
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

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"content": "hello @bob"}))]
pub struct CreatePostRequest {
    pub content: String,
}

/// `GET /posts`: its own fields, not a flattened `PageQuery` (see there).
#[derive(Deserialize, IntoParams)]
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

#[utoipa::path(post, path = "/api/v1/posts", tag = "posts", security(("bearer" = [])), request_body = CreatePostRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "the same key from the same user within 24 h answers the first post (with `Idempotent-Replayed: true`) and writes nothing")),
    responses((status = 201, description = "the post", body = PostView), (status = 400, description = "malformed JSON or parameter", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 401, description = "missing, invalid, expired or revoked token", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 422, description = "a field breaks a rule", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "quota_exceeded; Retry-After gives the seconds until the quota frees", body = super::openapi::Problem, content_type = "application/problem+json")))]
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

#[utoipa::path(get, path = "/api/v1/posts/{id}", tag = "posts", security(("bearer" = [])), params(("id" = Uuid, Path, description = "post id")),
    responses((status = 200, description = "the post", body = PostView), (status = 400, description = "malformed JSON or parameter", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 401, description = "missing, invalid, expired or revoked token", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 404, description = "post_not_found", body = super::openapi::Problem, content_type = "application/problem+json")))]
pub async fn get(
    posts: Posts,
    _caller: Authenticated,
    id: web::Path<Uuid>,
    urls: Urls,
) -> Result<HttpResponse, ApiError> {
    let post = posts.get(PostId::from_uuid(id.into_inner())).await?;
    Ok(HttpResponse::Ok().json(PostView::new(&post, &urls)))
}

#[utoipa::path(delete, path = "/api/v1/posts/{id}", tag = "posts", security(("bearer" = [])), params(("id" = Uuid, Path, description = "post id")),
    responses((status = 204, description = "deleted"), (status = 400, description = "malformed JSON or parameter", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 401, description = "missing, invalid, expired or revoked token", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 403, description = "neither the author nor an admin", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 404, description = "post_not_found", body = super::openapi::Problem, content_type = "application/problem+json")))]
pub async fn delete(posts: Posts, caller: Authenticated, id: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    posts.delete(&caller.0, PostId::from_uuid(id.into_inner())).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(get, path = "/api/v1/posts", tag = "posts", security(("bearer" = [])), params(SearchQuery),
    responses((status = 200, description = "posts newest first; `q` is full-text search (any text but a NUL character)", body = CursorPage<PostView>), (status = 400, description = "malformed JSON or parameter", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 401, description = "missing, invalid, expired or revoked token", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 422, description = "a field breaks a rule", body = super::openapi::Problem, content_type = "application/problem+json")))]
pub async fn search(
    posts: Posts,
    _caller: Authenticated,
    query: web::Query<SearchQuery>,
    urls: Urls,
) -> Result<HttpResponse, ApiError> {
    let text = query.q.as_deref().map(storable).transpose().map_err(|e| ApiError::invalid_field("q", e))?;
    let page = PageRequest::new(query.before, query.since, query.limit)?;
    let found = posts.search(query.author_id.map(UserId::from_uuid), text, page).await?;
    Ok(page_of(found, &urls))
}

#[utoipa::path(get, path = "/api/v1/users/{id}/posts", tag = "posts", security(("bearer" = [])), params(("id" = Uuid, Path, description = "author id"), PageQuery),
    responses((status = 200, description = "the user's posts, newest first", body = CursorPage<PostView>), (status = 400, description = "malformed JSON or parameter", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 401, description = "missing, invalid, expired or revoked token", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 404, description = "user_not_found", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 422, description = "a field breaks a rule", body = super::openapi::Problem, content_type = "application/problem+json")))]
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

#[utoipa::path(get, path = "/api/v1/timeline", tag = "posts", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, description = "the caller's and their followees' posts, newest first", body = CursorPage<PostView>), (status = 400, description = "malformed JSON or parameter", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 401, description = "missing, invalid, expired or revoked token", body = super::openapi::Problem, content_type = "application/problem+json"), (status = 422, description = "a field breaks a rule", body = super::openapi::Problem, content_type = "application/problem+json")))]
pub async fn timeline(
    posts: Posts,
    caller: Authenticated,
    query: web::Query<PageQuery>,
    urls: Urls,
) -> Result<HttpResponse, ApiError> {
    Ok(page_of(posts.timeline(&caller.0, query.request()?).await?, &urls))
}
