//! The `?before=&since=&limit=` of every keyset list.

use application::paging::PageRequest;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::problem::ApiError;

/// Query of a keyset list. (Not `#[serde(flatten)]`-ed into other queries:
/// serde_urlencoded then loses the number types.)
#[derive(Deserialize, IntoParams)]
pub struct PageQuery {
    /// Older than this id (the previous page's `next_cursor`).
    pub before: Option<Uuid>,
    /// Newer than this id.
    pub since: Option<Uuid>,
    /// 1..=100, default 20.
    pub limit: Option<u32>,
}

impl PageQuery {
    /// # Errors
    /// 422 for a limit outside 1..=100.
    pub fn request(&self) -> Result<PageRequest, ApiError> {
        Ok(PageRequest::new(self.before, self.since, self.limit)?)
    }
}
