//! Small SQL helpers shared by the Postgres-backed routes.

/// An `ILIKE` pattern matching `s` anywhere, with `\`, `%` and `_` in `s` taken literally.
pub fn contains_pattern(s: &str) -> String {
    format!("%{}%", s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn wildcards_in_the_input_are_literal() {
        assert_eq!(super::contains_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }
}
