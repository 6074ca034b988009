//! User-typed search text as an FTS5 `MATCH` expression.
//!
//! The text is data, never FTS5 syntax: every word or phrase becomes an FTS5
//! string (`"..."`, with `"` doubled), which FTS5 only tokenizes, so `*`,
//! `(`, `:`, `^`, `NEAR`, `AND`, `NOT` typed by the user are plain text.
//! Around those strings, the few operators of PostgreSQL's
//! `websearch_to_tsquery` that the served family honours are kept:
//!
//! - words separated by spaces must all occur (AND);
//! - `"several words"` must occur next to each other, in that order (a phrase;
//!   a missing closing quote ends the phrase at the end of the text);
//! - a word joined by punctuation (`foo-bar`, `e.mail`) is a phrase of its
//!   parts, as PostgreSQL's parser splits it, except for the characters of
//!   [`SEPARATORS`], which separate words as spaces do;
//! - `-word` or `-"some phrase"` excludes posts containing it;
//! - `or` between two terms separates alternatives (AND binds tighter).
//!
//! Where FTS5 cannot follow: an alternative made only of exclusions
//! (`-word` alone) matches nothing here, while PostgreSQL returns every post
//! lacking the word (FTS5 cannot list the rows a word is absent from without
//! a scan, and such a search is of no use to a reader). A text with no word
//! at all (empty, or punctuation only) matches nothing, as on PostgreSQL.

/// One term of the text.
enum Term {
    /// A word or quoted phrase; `excluded` when it was prefixed with `-`.
    Text { text: String, excluded: bool },
    /// `or` between two terms.
    Or,
}

/// Terms of a query that count: a longer query is cut here, so that what one
/// search asks of the index stays bounded (PostgreSQL has no such cut; no
/// person types 32 words into a search box).
const MOST_TERMS: usize = 32;

/// The FTS5 `MATCH` expression for `text`, or `None` when it names no word.
pub(super) fn match_expression(text: &str) -> Option<String> {
    let mut alternatives = Vec::new();
    let mut current = Alternative::default();
    let mut terms = terms(text);
    terms.truncate(MOST_TERMS);
    let last = terms.len().saturating_sub(1);
    for (index, term) in terms.into_iter().enumerate() {
        match term {
            // `or` first, last or after another `or` is a word, as in websearch_to_tsquery.
            Term::Or if current.is_empty() || index == last => current.add("or".to_owned(), false),
            Term::Or => alternatives.extend(std::mem::take(&mut current).expression()),
            Term::Text { text, excluded } => current.add(text, excluded),
        }
    }
    alternatives.extend(current.expression());
    (!alternatives.is_empty()).then(|| alternatives.join(" OR "))
}

#[derive(Default)]
struct Alternative {
    wanted: Vec<String>,
    excluded: Vec<String>,
}

impl Alternative {
    fn is_empty(&self) -> bool {
        self.wanted.is_empty() && self.excluded.is_empty()
    }

    fn add(&mut self, text: String, excluded: bool) {
        // Only what FTS5's tokenizer keeps can match: a term without a letter
        // or digit (`*`, `(`, `:`) is dropped, as PostgreSQL drops it.
        if !text.chars().any(char::is_alphanumeric) {
            return;
        }
        let quoted = format!("\"{}\"", text.replace('"', "\"\""));
        if excluded { self.excluded.push(quoted) } else { self.wanted.push(quoted) }
    }

    fn expression(self) -> Option<String> {
        if self.wanted.is_empty() {
            return None;
        }
        let wanted = self.wanted.join(" AND ");
        Some(if self.excluded.is_empty() {
            format!("({wanted})")
        } else {
            format!("(({wanted}) NOT ({}))", self.excluded.join(" OR "))
        })
    }
}

/// Characters that end a word like a space, as in `websearch_to_tsquery`
/// (its operator characters, and `:` of its weights): `a(b` and `a:b` are two
/// words, while `a,b` or `a-b` is one, which the tokenizer splits into a phrase.
const SEPARATORS: &str = "!&|()<:";

/// Splits `text` into words, quoted phrases and `or`s.
fn terms(text: &str) -> Vec<Term> {
    let mut terms = Vec::new();
    // Between quotes (odd pieces) is a phrase; outside (even pieces), words.
    let mut exclude_next_phrase = false;
    for (index, piece) in text.split('"').enumerate() {
        if index % 2 == 1 {
            terms.push(Term::Text { text: piece.to_owned(), excluded: std::mem::take(&mut exclude_next_phrase) });
            continue;
        }
        for word in piece.split(|c: char| c.is_whitespace() || SEPARATORS.contains(c)).filter(|w| !w.is_empty()) {
            let stripped = word.trim_start_matches('-');
            if word.eq_ignore_ascii_case("or") {
                terms.push(Term::Or);
            } else {
                terms.push(Term::Text { text: stripped.to_owned(), excluded: stripped.len() < word.len() });
            }
        }
        // `-"phrase"`: the dash ends this piece, right before the quote.
        exclude_next_phrase = piece.ends_with('-');
    }
    terms
}

#[cfg(test)]
mod tests {
    use super::{MOST_TERMS, match_expression};

    #[test]
    fn a_query_counts_its_first_32_terms() {
        let long = (0..1000).map(|n| format!("w{n}")).collect::<Vec<_>>().join(" ");
        let expression = match_expression(&long).unwrap();
        assert_eq!(expression.matches('"').count(), 2 * MOST_TERMS, "{expression}");
    }

    #[test]
    fn words_are_quoted_strings_and_all_required() {
        assert_eq!(match_expression("Hello world").as_deref(), Some(r#"("Hello" AND "world")"#));
    }

    #[test]
    fn fts5_syntax_is_plain_text() {
        assert_eq!(
            match_expression("a* (b) NEAR c: ^d").as_deref(),
            Some(r#"("a*" AND "b" AND "NEAR" AND "c" AND "^d")"#)
        );
        assert_eq!(match_expression("title:x AND y").as_deref(), Some(r#"("title" AND "x" AND "AND" AND "y")"#));
        assert_eq!(match_expression("NEAR(a b) x-y").as_deref(), Some(r#"("NEAR" AND "a" AND "b" AND "x-y")"#));
    }

    #[test]
    fn quotes_make_phrases_and_never_escape_the_string() {
        assert_eq!(match_expression(r#"x "a b" y"#).as_deref(), Some(r#"("x" AND "a b" AND "y")"#));
        assert_eq!(match_expression(r#"a"b c"d"#).as_deref(), Some(r#"("a" AND "b c" AND "d")"#));
        assert_eq!(match_expression(r#""open phrase"#).as_deref(), Some(r#"("open phrase")"#));
        assert_eq!(match_expression(r#"""""#), None);
    }

    #[test]
    fn dashes_exclude_and_or_separates_alternatives() {
        assert_eq!(match_expression("a -b").as_deref(), Some(r#"(("a") NOT ("b"))"#));
        assert_eq!(match_expression(r#"a -"b c""#).as_deref(), Some(r#"(("a") NOT ("b c"))"#));
        assert_eq!(match_expression("a or b c").as_deref(), Some(r#"("a") OR ("b" AND "c")"#));
        assert_eq!(match_expression("or a OR").as_deref(), Some(r#"("or" AND "a" AND "or")"#));
        assert_eq!(match_expression("foo-bar").as_deref(), Some(r#"("foo-bar")"#));
    }

    #[test]
    fn exclusions_alone_and_punctuation_match_nothing() {
        assert_eq!(match_expression("-a"), None);
        assert_eq!(match_expression("a -"), Some(r#"("a")"#.to_owned()));
        assert_eq!(match_expression("  * ( : - ! "), None);
        assert_eq!(match_expression(""), None);
    }
}
