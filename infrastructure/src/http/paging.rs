//! The `?before=&since=&limit=` of every keyset list.

use application::paging::PageRequest;
use serde::Deserialize;
use uuid::Uuid;

use super::problem::ApiError;

/// Query of a keyset list. (Not `#[serde(flatten)]`-ed into other queries:
/// serde_urlencoded then loses the number types.)
#[derive(Deserialize)]
pub struct PageQuery {
    pub before: Option<Uuid>,
    pub since: Option<Uuid>,
    pub limit: Option<u32>,
}

impl PageQuery {
    /// # Errors
    /// 422 for a limit outside 1..=100.
    pub fn request(&self) -> Result<PageRequest, ApiError> {
        Ok(PageRequest::new(self.before, self.since, self.limit)?)
    }
}
