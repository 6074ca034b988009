//! Collects every field error of a request before answering 422.

use application::error::FieldErrors;
use std::fmt::Display;

use super::problem::ApiError;

#[derive(Default)]
pub struct Fields(FieldErrors);

impl Fields {
    /// Keeps the value, or records why `field` is wrong.
    pub fn check<T, E: Display>(&mut self, field: &str, parsed: Result<T, E>) -> Option<T> {
        parsed.map_err(|e| self.0.entry(field.to_owned()).or_default().push(e.to_string())).ok()
    }

    /// Like [`Fields::check`] for an optional field.
    pub fn check_optional<T, E: Display>(&mut self, field: &str, parsed: Option<Result<T, E>>) -> Option<Option<T>> {
        match parsed {
            None => Some(None),
            Some(result) => self.check(field, result).map(Some),
        }
    }

    /// # Errors
    /// 422 with every recorded field error, if any.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() { Ok(()) } else { Err(ApiError::validation(self.0)) }
    }
}

/// Deserializes a field so that absent is `None` and `null` is `Some(None)`.
pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    serde::Deserialize::deserialize(deserializer).map(Some)
}
