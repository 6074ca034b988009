//! Request extractors: the authenticated caller, and the error handlers that
//! turn actix's body, path and query failures into problems.

use actix_web::dev::Payload;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use application::auth::AuthService;
use application::ports::AccessClaims;
use application::{ApplicationError, AuthFailure};
use shaku::HasComponent;
use std::collections::BTreeMap;
use std::future::{Ready, ready};
use std::sync::Arc;

use super::problem::ApiError;
use crate::di::AppModule;

/// The largest JSON body any endpoint accepts.
pub const JSON_LIMIT: usize = 64 * 1024;

/// The signed-in caller: a valid, unexpired, unrevoked access token.
pub struct Authenticated(pub AccessClaims);

/// The caller if a token was sent; a token that is sent must be valid.
pub struct MaybeAuthenticated(pub Option<AccessClaims>);

/// The token of an `Authorization: Bearer` header; `None` without the header.
///
/// # Errors
/// `InvalidToken` for another scheme or an unreadable header.
pub fn bearer_token(req: &HttpRequest) -> Result<Option<&str>, AuthFailure> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| AuthFailure::InvalidToken)?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
            Ok(Some(token.trim()))
        }
        _ => Err(AuthFailure::InvalidToken),
    }
}

fn authenticate(req: &HttpRequest) -> Result<Option<AccessClaims>, ApiError> {
    let Some(token) = bearer_token(req).map_err(ApiError::unauthorized)? else {
        return Ok(None);
    };
    let module = req
        .app_data::<Arc<AppModule>>()
        .ok_or_else(|| ApiError::from(ApplicationError::Unknown(anyhow::anyhow!("AppModule missing from app data"))))?;
    let auth: Arc<AuthService> = module.resolve();
    Ok(Some(auth.authenticate(token)?))
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            authenticate(req)
                .and_then(|claims| claims.map(Self).ok_or_else(|| ApiError::unauthorized(AuthFailure::MissingToken))),
        )
    }
}

impl FromRequest for MaybeAuthenticated {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req).map(Self))
    }
}

/// Body failures: too big 413; not JSON 400; JSON of the wrong shape 422.
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default().limit(JSON_LIMIT).error_handler(|error, _req| {
        let problem = match &error {
            JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => ApiError::new(
                actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "JSON bodies are limited to 64 KiB",
            ),
            JsonPayloadError::ContentType => {
                ApiError::bad_request("invalid_content_type", "expected Content-Type: application/json")
            }
            JsonPayloadError::Deserialize(e) if e.is_data() => {
                ApiError::validation(BTreeMap::from([("body".to_owned(), vec![e.to_string()])]))
            }
            JsonPayloadError::Deserialize(e) => ApiError::bad_request("malformed_json", format!("malformed JSON: {e}")),
            _ => ApiError::bad_request("malformed_json", "the body could not be read as JSON"),
        };
        problem.into()
    })
}

/// An id in the path that does not parse is a bad request, not a missing route.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|error: PathError, _req| {
        ApiError::bad_request("invalid_parameter", format!("invalid path parameter: {error}")).into()
    })
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|error: QueryPayloadError, _req| {
        ApiError::bad_request("invalid_parameter", format!("invalid query parameter: {error}")).into()
    })
}

/// Reads an optional JSON body: empty means `None`.
///
/// # Errors
/// 400 when the body is present but not JSON of the expected shape.
pub fn optional_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<Option<T>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body).map(Some).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            ApiError::validation(BTreeMap::from([("body".to_owned(), vec![e.to_string()])]))
        }
        _ => ApiError::bad_request("malformed_json", format!("malformed JSON: {e}")),
    })
}
