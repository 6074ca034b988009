//! What both backends' follow repositories share: a page of follow entries
//! from the (follow id, user id) pairs read and their profiles.

use application::paging::Page;
use application::ports::{FollowEntry, Profile};
use uuid::Uuid;

/// The entries of `pairs` (one more than `limit` tells there is a next page),
/// in their order; a pair whose user is gone from `profiles` is skipped.
pub(crate) fn follow_page(pairs: Vec<(Uuid, Uuid)>, profiles: &[Profile], limit: u32) -> Page<FollowEntry> {
    let entries = pairs
        .into_iter()
        .filter_map(|(follow_id, user)| {
            let profile = profiles.iter().find(|p| *p.user.id.as_uuid() == user)?.clone();
            Some(FollowEntry { follow_id, profile })
        })
        .collect();
    Page::from_rows(entries, limit, |e| e.follow_id)
}
