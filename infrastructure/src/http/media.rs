//! Avatars: `PUT /api/v1/users/me/avatar` and `GET /media/{key}`.

use actix_files::NamedFile;
use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use application::user::UserService;
use futures::StreamExt;
use shaku_actix::Inject;
use std::path::PathBuf;
use utoipa::ToSchema;

use super::extract::Authenticated;
use super::problem::ApiError;
use crate::di::AppModule;
use crate::storage::LocalAvatarStorage;
use crate::wire::{PublicUrls, UserView};

/// Where avatars live and how big an upload may be.
#[derive(Clone, Debug)]
pub struct MediaSettings {
    pub dir: PathBuf,
    pub max_bytes: u64,
}

/// The multipart body of an avatar upload.
#[derive(ToSchema)]
pub struct AvatarUpload {
    /// PNG, JPEG, WebP or GIF, at most `AVATAR_MAX_BYTES`; judged by content, not by name.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}

fn too_large(limit: u64) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", format!("avatars are limited to {limit} bytes"))
}

/// Reads the part named `file`, stopping as soon as it passes `limit`.
async fn read_file_part(multipart: &mut Multipart, limit: u64) -> Result<Vec<u8>, ApiError> {
    let malformed = |e: actix_multipart::MultipartError| ApiError::bad_request("invalid_multipart", e.to_string());
    while let Some(field) = multipart.next().await {
        let mut field = field.map_err(malformed)?;
        let wanted = field.name() == Some("file");
        let mut bytes = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(malformed)?;
            if wanted {
                if (bytes.len() + chunk.len()) as u64 > limit {
                    return Err(too_large(limit));
                }
                bytes.extend_from_slice(&chunk);
            }
        }
        if wanted {
            return Ok(bytes);
        }
    }
    Err(ApiError::invalid_field("file", "a part named file is required"))
}

#[utoipa::path(put, path = "/api/v1/users/me/avatar", tag = "users", security(("bearer" = [])),
    request_body(content = AvatarUpload, content_type = "multipart/form-data"),
    description = "Replaces the caller's avatar. The image is re-encoded as a 256x256 PNG (metadata dropped); the old one is removed.",
    responses((status = 200, description = "the account with its new avatar_url", body = UserView),
        (status = 400, description = "not multipart", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 401, description = "missing, invalid, expired or revoked token", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 413, description = "over AVATAR_MAX_BYTES; nothing stored", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 415, description = "not a PNG, JPEG, WebP or GIF image", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 422, description = "no part named file", body = super::openapi::Problem, content_type = "application/problem+json")))]
pub async fn upload_avatar(
    users: Inject<AppModule, UserService>,
    caller: Authenticated,
    mut multipart: Multipart,
    media: web::Data<MediaSettings>,
    urls: web::Data<PublicUrls>,
) -> Result<HttpResponse, ApiError> {
    let image = read_file_part(&mut multipart, media.max_bytes).await?;
    let user = users.set_avatar(&caller.0, image).await?;
    Ok(HttpResponse::Ok().json(UserView::new(user, &urls)))
}

#[utoipa::path(get, path = "/media/{key}", tag = "users", params(("key" = String, Path, description = "from an avatar_url")),
    responses((status = 200, description = "the image (a key never changes content: cached for a year)", content_type = "image/png"),
        (status = 404, description = "no such file", body = super::openapi::Problem, content_type = "application/problem+json")))]
pub async fn serve(
    req: HttpRequest,
    key: web::Path<String>,
    media: web::Data<MediaSettings>,
) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such file");
    let path = LocalAvatarStorage::path_of(&media.dir, &key).ok_or_else(not_found)?;
    let file = NamedFile::open_async(path).await.map_err(|_| not_found())?;
    let mut response = file.into_response(&req);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("image/png"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    Ok(response)
}
