//! Keyset pages over UUIDv7 ids: `?before=`/`?since=` cursors, newest first.

use uuid::Uuid;

use crate::ApplicationError;

/// A validated page request: newest first, strictly between `since` and `before`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub before: Option<Uuid>,
    pub since: Option<Uuid>,
    pub limit: u32,
}

impl PageRequest {
    pub const DEFAULT_LIMIT: u32 = 20;
    pub const MAX_LIMIT: u32 = 100;

    /// # Errors
    /// `Validation` on `limit` outside 1..=100.
    pub fn new(before: Option<Uuid>, since: Option<Uuid>, limit: Option<u32>) -> Result<Self, ApplicationError> {
        let limit = limit.unwrap_or(Self::DEFAULT_LIMIT);
        if !(1..=Self::MAX_LIMIT).contains(&limit) {
            return Err(ApplicationError::invalid("limit", format!("must be between 1 and {}", Self::MAX_LIMIT)));
        }
        Ok(Self { before, since, limit })
    }
}

/// One page, newest first. `next_cursor` is the id to pass as `before` for the
/// next (older) page, `None` on the last page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<Uuid>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows fetched newest first: the extra
    /// row only proves that an older page exists.
    pub fn from_rows(mut rows: Vec<T>, limit: u32, cursor_of: impl Fn(&T) -> Uuid) -> Self {
        let limit = limit as usize;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = if more { rows.last().map(cursor_of) } else { None };
        Self { items: rows, next_cursor }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next_cursor: self.next_cursor }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_defaults_to_20_and_stays_within_1_to_100() {
        assert_eq!(PageRequest::new(None, None, None).unwrap().limit, 20);
        assert!(PageRequest::new(None, None, Some(100)).is_ok());
        assert!(PageRequest::new(None, None, Some(0)).is_err());
        assert!(PageRequest::new(None, None, Some(101)).is_err());
    }

    #[test]
    fn a_page_points_to_the_next_only_when_more_rows_exist() {
        let ids: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();
        let page = Page::from_rows(ids.clone(), 3, |id| *id);
        assert_eq!(page.items.len(), 3);
        assert_eq!(page.next_cursor, Some(ids[2]));
        let last = Page::from_rows(ids[..3].to_vec(), 3, |id| *id);
        assert_eq!(last.next_cursor, None);
    }
}
