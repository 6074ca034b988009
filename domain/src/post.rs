//! Posts: validated content, mentions, and the post as readers see it.

use chrono::{DateTime, Utc};
use std::fmt;

use crate::text::{ContainsNul, storable};
use crate::user::{DisplayName, UserId, Username};

uuid_id!(
    /// Identifies a post. UUIDv7: ids sort by creation time, which keyset paging relies on.
    PostId
);

/// The text of a post: trimmed, 1–500 Unicode scalar values, not blank.
#[derive(Clone, PartialEq, Eq)]
pub struct PostContent(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostContentError {
    #[error("must not be blank")]
    Blank,
    #[error("must be at most {max} characters", max = PostContent::MAX)]
    TooLong,
    #[error(transparent)]
    Nul(#[from] ContainsNul),
}

impl PostContent {
    pub const MAX: usize = 500;
    /// More mentions than this in one post are ignored (no notification spam).
    pub const MAX_MENTIONS: usize = 10;

    /// # Errors
    /// `Blank` when nothing but whitespace remains, `TooLong` past 500 characters,
    /// `Nul` for a NUL character.
    pub fn parse(raw: &str) -> Result<Self, PostContentError> {
        let trimmed = storable(raw.trim())?;
        if trimmed.is_empty() {
            return Err(PostContentError::Blank);
        }
        if trimmed.chars().count() > Self::MAX {
            return Err(PostContentError::TooLong);
        }
        Ok(Self(trimmed.to_owned()))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The distinct `@username`s the text names, in order of first appearance,
    /// compared case-insensitively. An `@` inside a word (`a@b.com`) is no mention.
    #[must_use]
    pub fn mentions(&self) -> Vec<Username> {
        let mut found: Vec<Username> = Vec::new();
        let mut previous: Option<char> = None;
        let mut chars = self.0.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            let starts_mention = c == '@' && !previous.is_some_and(|p| p.is_alphanumeric() || p == '_');
            previous = Some(c);
            if !starts_mention {
                continue;
            }
            let start = at + 1;
            let mut end = start;
            while let Some(&(i, n)) = chars.peek() {
                if !(n.is_ascii_alphanumeric() || n == '_') {
                    break;
                }
                end = i + n.len_utf8();
                previous = Some(n);
                chars.next();
            }
            let Ok(name) = Username::new(&self.0[start..end]) else { continue };
            let followed_by_word = chars.peek().is_some_and(|&(_, n)| n.is_alphanumeric());
            let seen = found.iter().any(|f| f.as_str().eq_ignore_ascii_case(name.as_str()));
            if !followed_by_word && !seen && found.len() < Self::MAX_MENTIONS {
                found.push(name);
            }
        }
        found
    }
}

impl fmt::Debug for PostContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PostContent({:?})", self.0)
    }
}

/// Who wrote something, as shown next to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    pub id: UserId,
    pub username: Username,
    pub display_name: Option<DisplayName>,
    pub avatar: Option<String>,
}

/// A user named in a post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mention {
    pub user_id: UserId,
    pub username: Username,
}

/// A post as readers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Post {
    pub id: PostId,
    pub author: Author,
    pub content: PostContent,
    pub mentions: Vec<Mention>,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<String> {
        PostContent::parse(text).unwrap().mentions().iter().map(|u| u.as_str().to_owned()).collect()
    }

    #[test]
    fn content_is_trimmed_and_counted_in_characters() {
        assert_eq!(PostContent::parse("  hi  ").unwrap().as_str(), "hi");
        assert!(PostContent::parse(&"é".repeat(500)).is_ok());
        assert_eq!(PostContent::parse(&"é".repeat(501)), Err(PostContentError::TooLong));
        assert_eq!(PostContent::parse(" \n\t "), Err(PostContentError::Blank));
        assert_eq!(PostContent::parse(""), Err(PostContentError::Blank));
    }

    #[test]
    fn content_with_a_nul_character_is_refused() {
        assert_eq!(PostContent::parse("hi\0there"), Err(PostContentError::Nul(ContainsNul)));
        assert_eq!(PostContent::parse("\0"), Err(PostContentError::Nul(ContainsNul)));
    }

    #[test]
    fn mentions_are_found_once_each_in_order() {
        assert_eq!(names("hi @bob and @Alice, @BOB again"), ["bob", "Alice"]);
        assert_eq!(names("@carol: first!"), ["carol"]);
        assert_eq!(names("(@dave)"), ["dave"]);
    }

    #[test]
    fn things_that_look_like_mentions_but_are_not() {
        assert!(names("mail me at a@example.com").is_empty());
        assert!(names("@ab is too short, @ alone too").is_empty());
        assert!(names(&format!("@{}", "x".repeat(31))).is_empty());
        assert!(names("@émile").is_empty());
        assert!(names("@bobé").is_empty());
    }

    #[test]
    fn mentions_are_capped() {
        let text: String = (0..15).map(|i| format!("@user{i:02} ")).collect();
        assert_eq!(names(&text).len(), PostContent::MAX_MENTIONS);
    }
}
