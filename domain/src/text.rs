//! The one rule every stored text shares: PostgreSQL's `text` cannot hold U+0000.
//!
//! Each value object that reaches storage checks it in its constructor, so a NUL
//! is a validation error naming its field instead of a failed insert.

/// The text holds a NUL character (U+0000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must not contain a NUL character (U+0000)")]
pub struct ContainsNul;

/// `raw` itself, if a database can store it.
///
/// # Errors
/// `ContainsNul` when `raw` holds U+0000.
pub fn storable(raw: &str) -> Result<&str, ContainsNul> {
    if raw.contains('\0') { Err(ContainsNul) } else { Ok(raw) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_without_nul_is_storable_as_it_is() {
        assert_eq!(storable("héllo\u{1}\u{7f}"), Ok("héllo\u{1}\u{7f}"));
        assert_eq!(storable(""), Ok(""));
    }

    #[test]
    fn a_nul_anywhere_is_refused() {
        for raw in ["\0", "a\0", "\0a", "a\0b"] {
            assert_eq!(storable(raw), Err(ContainsNul), "{raw:?}");
        }
    }
}
