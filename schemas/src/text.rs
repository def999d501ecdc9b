//! Which characters free text may hold: one rule for every service. Also how topic keywords
//! match text ([`contains_words`]).
//!
//! Text that rtcx accepts ends up in Postgres (which refuses U+0000 in `text` and `jsonb`),
//! ClickHouse, CSV exports, e-mails and browsers. The rule, applied by ingest (feedback
//! fields), the processors (events produced straight to Kafka) and query-api (every string of
//! every JSON body and query parameter):
//!
//! * **No control characters** (Unicode general category `Cc`: U+0000–U+001F, U+007F–U+009F),
//!   except TAB, LF and CR in [`TextKind::MultiLine`] text (feedback text, descriptions,
//!   metadata values). Identifiers, names, labels and keys are [`TextKind::SingleLine`]: no
//!   control character at all.
//! * **Something visible**: a required text made only of whitespace and invisible formatting
//!   characters (zero-width space/joiners, word joiner, BOM, soft hyphen, …) counts as empty
//!   ([`has_visible`]).

use std::fmt;

/// The rule as a JSON Schema `pattern` (ECMA-262, also read by Python's `re` and Rust's
/// `regex`): multi-line text without a forbidden control character. The patterns spell
/// whitespace out instead of using `\s`, which some engines read as ASCII only.
pub const MULTI_LINE_PATTERN: &str = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$";

/// [`MULTI_LINE_PATTERN`] that also needs one visible character: exactly [`has_visible`]
/// (a test checks that pattern and function agree).
pub const VISIBLE_MULTI_LINE_PATTERN: &str = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^ \u0000-\u001F\u007F-\u00A0\u00AD\u034F\u061C\u115F\u1160\u1680\u17B4\u17B5\u180B-\u180F\u2000-\u200F\u2028-\u202F\u205F-\u206F\u3000\u3164\uFE00-\uFE0F\uFEFF\uFFA0\uFFF9-\uFFFB][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$";

/// Single-line text: no control character at all.
pub const SINGLE_LINE_PATTERN: &str = r"^[^\u0000-\u001F\u007F-\u009F]*$";

/// [`SINGLE_LINE_PATTERN`] with one visible character (see [`VISIBLE_MULTI_LINE_PATTERN`]).
pub const VISIBLE_SINGLE_LINE_PATTERN: &str = r"^[^\u0000-\u001F\u007F-\u009F]*[^ \u0000-\u001F\u007F-\u00A0\u00AD\u034F\u061C\u115F\u1160\u1680\u17B4\u17B5\u180B-\u180F\u2000-\u200F\u2028-\u202F\u205F-\u206F\u3000\u3164\uFE00-\uFE0F\uFEFF\uFFA0\uFFF9-\uFFFB][^\u0000-\u001F\u007F-\u009F]*$";

/// Where a text is used: single-line fields refuse every control character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// Identifiers, names, labels, keys, e-mail addresses.
    SingleLine,
    /// Free text: TAB, LF and CR allowed.
    MultiLine,
}

/// The first character a text may not hold, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForbiddenChar {
    /// The character.
    pub ch: char,
    /// Its position in characters (0-based).
    pub position: usize,
}

impl fmt::Display for ForbiddenChar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "must not contain control characters (U+{:04X} at position {})", u32::from(self.ch), self.position)
    }
}

/// Whether `c` is refused in text of `kind`.
pub fn is_forbidden(c: char, kind: TextKind) -> bool {
    c.is_control() && !(kind == TextKind::MultiLine && matches!(c, '\t' | '\n' | '\r'))
}

/// The first forbidden character of `s`, if any.
pub fn first_forbidden(s: &str, kind: TextKind) -> Option<ForbiddenChar> {
    s.chars().enumerate().find(|&(_, c)| is_forbidden(c, kind)).map(|(position, ch)| ForbiddenChar { ch, position })
}

/// Characters that render as nothing: whitespace, controls and invisible format characters.
pub fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(
            c,
            '\u{00AD}'                 // soft hyphen
            | '\u{034F}'               // combining grapheme joiner
            | '\u{061C}'               // Arabic letter mark
            | '\u{115F}' | '\u{1160}'  // Hangul fillers
            | '\u{17B4}' | '\u{17B5}'  // Khmer inherent vowels
            | '\u{180B}'..='\u{180F}'  // Mongolian variation selectors and vowel separator
            | '\u{200B}'..='\u{200F}'  // zero-width space, non-joiner, joiner, LRM, RLM
            | '\u{202A}'..='\u{202E}'  // bidi embeddings and overrides
            | '\u{2060}'..='\u{206F}'  // word joiner, invisible operators, bidi isolates
            | '\u{3164}'               // Hangul filler
            | '\u{FE00}'..='\u{FE0F}'  // variation selectors
            | '\u{FEFF}'               // byte-order mark / zero-width no-break space
            | '\u{FFA0}'               // half-width Hangul filler
            | '\u{FFF9}'..='\u{FFFB}'  // interlinear annotation
        )
}

/// Whether `s` holds at least one visible character.
pub fn has_visible(s: &str) -> bool {
    s.chars().any(|c| !is_invisible(c))
}

/// True when `phrase` occurs in `text` (both lower-case) bounded by non-alphanumeric
/// characters, so "app" does not match "application": how topic keywords match feedback (the
/// processors' topic matcher; the demo catalogue's coverage test).
pub fn contains_words(text: &str, phrase: &str) -> bool {
    if phrase.is_empty() {
        return false;
    }
    let is_word = |c: char| c.is_alphanumeric();
    text.match_indices(phrase).any(|(i, m)| {
        let before = text[..i].chars().next_back().is_none_or(|c| !is_word(c));
        let after = text[i + m.len()..].chars().next().is_none_or(|c| !is_word(c));
        before && after
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_refused_except_line_breaks_in_free_text() {
        for c in ['\0', '\u{1}', '\u{1b}', '\u{7f}', '\u{85}', '\u{9f}'] {
            assert!(is_forbidden(c, TextKind::SingleLine), "{c:?}");
            assert!(is_forbidden(c, TextKind::MultiLine), "{c:?}");
        }
        for c in ['\t', '\n', '\r'] {
            assert!(is_forbidden(c, TextKind::SingleLine), "{c:?}");
            assert!(!is_forbidden(c, TextKind::MultiLine), "{c:?}");
        }
        for c in ['a', 'é', '日', '\u{200b}', '😀', ' '] {
            assert!(!is_forbidden(c, TextKind::SingleLine), "{c:?}");
        }
        let f = first_forbidden("ab\u{0}c", TextKind::MultiLine).expect("NUL found");
        assert_eq!((f.ch, f.position), ('\0', 2));
        assert_eq!(f.to_string(), "must not contain control characters (U+0000 at position 2)");
        assert_eq!(first_forbidden("line one\nline two", TextKind::MultiLine), None);
    }

    #[test]
    fn invisible_only_text_has_nothing_visible() {
        assert!(!has_visible(""));
        assert!(!has_visible(" \t\n"));
        assert!(!has_visible("\u{200b}\u{200c}\u{200d}\u{2060}\u{feff}\u{00ad}"));
        assert!(!has_visible("\0\0\0"));
        assert!(has_visible("\u{200b}a"));
        assert!(has_visible("👍"));
        assert!(has_visible("日本"));
    }
}
