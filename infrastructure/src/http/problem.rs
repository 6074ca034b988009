//! Errors as `application/problem+json` (RFC 9457) with a stable `code`.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use application::error::FieldErrors;
use application::{ApplicationError, AuthFailure, Conflict};
use serde::Serialize;
use std::borrow::Cow;
use std::fmt;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// `Retry-After` of a 503 `busy`: saturation clears within a hash or two.
const BUSY_RETRY_AFTER_SECONDS: u64 = 1;
/// `Retry-After` of a 503 `unavailable`: a restarting database or broker takes seconds.
const UNAVAILABLE_RETRY_AFTER_SECONDS: u64 = 5;

/// An error answer. Never carries a cause, SQL or a path: those go to the log.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    code: Cow<'static, str>,
    detail: String,
    errors: Option<FieldErrors>,
    retry_after: Option<u64>,
}

#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'a str,
    status: u16,
    code: &'a str,
    detail: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a FieldErrors>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: impl Into<Cow<'static, str>>, detail: impl Into<String>) -> Self {
        Self { status, code: code.into(), detail: detail.into(), errors: None, retry_after: None }
    }

    #[must_use]
    pub fn validation(errors: FieldErrors) -> Self {
        Self {
            errors: Some(errors),
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "the request breaks one or more input rules",
            )
        }
    }

    /// 422 for one field.
    pub fn invalid_field(field: &str, message: impl fmt::Display) -> Self {
        Self::validation(FieldErrors::from([(field.to_owned(), vec![message.to_string()])]))
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    #[must_use]
    pub fn unauthorized(failure: AuthFailure) -> Self {
        let (code, detail) = match failure {
            AuthFailure::MissingToken => ("missing_token", "this endpoint needs an Authorization: Bearer token"),
            AuthFailure::InvalidToken => ("invalid_token", "the access token is malformed or not ours"),
            AuthFailure::TokenExpired => ("token_expired", "the access token has expired"),
            AuthFailure::TokenRevoked => ("token_revoked", "the access token was revoked"),
            AuthFailure::InvalidCredentials => ("invalid_credentials", "wrong username or password"),
            AuthFailure::InvalidRefreshToken => {
                ("invalid_refresh_token", "the refresh token is unknown, expired or revoked")
            }
            AuthFailure::RefreshTokenReused => {
                ("refresh_token_reused", "the refresh token was already used; every token of its session is revoked")
            }
        };
        Self::new(StatusCode::UNAUTHORIZED, code, detail)
    }

    /// A generic problem for a status produced outside our handlers (unknown
    /// route, wrong method, oversized body read by actix itself).
    #[must_use]
    pub fn from_status(status: StatusCode) -> Self {
        let code = match status {
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::UNAUTHORIZED => "unauthorized",
            StatusCode::FORBIDDEN => "forbidden",
            s if s.is_server_error() => "internal_error",
            _ => "bad_request",
        };
        Self::new(status, code, status.canonical_reason().unwrap_or("error"))
    }

    /// 503 `busy`: a bounded resource is full; the client should retry soon.
    #[must_use]
    pub fn busy() -> Self {
        Self {
            retry_after: Some(BUSY_RETRY_AFTER_SECONDS),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", "the server is saturated; try again shortly")
        }
    }

    /// 503 `unavailable`: a dependency (database, broker) is down.
    #[must_use]
    pub fn unavailable() -> Self {
        Self {
            retry_after: Some(UNAVAILABLE_RETRY_AFTER_SECONDS),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "a service we depend on is down; try again later",
            )
        }
    }

    #[must_use]
    pub fn code(&self) -> &str {
        &self.code
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let body = ProblemBody {
            kind: "about:blank",
            title: self.status.canonical_reason().unwrap_or("Error"),
            status: self.status.as_u16(),
            code: &self.code,
            detail: &self.detail,
            errors: self.errors.as_ref(),
        };
        let mut response = HttpResponse::build(self.status);
        response.content_type(PROBLEM_JSON);
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds));
        }
        response.json(body)
    }
}

impl From<ApplicationError> for ApiError {
    fn from(error: ApplicationError) -> Self {
        match error {
            ApplicationError::Validation(errors) => Self::validation(errors),
            ApplicationError::NotFound(what) => {
                Self::new(StatusCode::NOT_FOUND, format!("{what}_not_found"), format!("no such {what}"))
            }
            ApplicationError::Conflict(Conflict::UsernameTaken) => {
                Self::new(StatusCode::CONFLICT, "username_taken", "that username is taken")
            }
            ApplicationError::Conflict(Conflict::EmailTaken) => {
                Self::new(StatusCode::CONFLICT, "email_taken", "that e-mail is taken")
            }
            ApplicationError::Unauthorized(failure) => Self::unauthorized(failure),
            ApplicationError::Forbidden(why) => Self::new(StatusCode::FORBIDDEN, "forbidden", why),
            ApplicationError::UnsupportedMedia(why) => {
                Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", why)
            }
            ApplicationError::QuotaExceeded { retry_after_seconds } => Self {
                retry_after: Some(retry_after_seconds),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, "quota_exceeded", "the daily post quota is used up")
            },
            ApplicationError::TooManyAttempts { retry_after_seconds } => Self {
                retry_after: Some(retry_after_seconds.max(1)),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts", "too many attempts; try again later")
            },
            ApplicationError::Busy => Self::busy(),
            ApplicationError::Unavailable(cause) => {
                tracing::warn!(error = format!("{cause:#}"), "dependency unavailable");
                Self::unavailable()
            }
            ApplicationError::Unknown(cause) => {
                tracing::error!(error = format!("{cause:#}"), "request failed");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "something went wrong on our side")
            }
        }
    }
}
