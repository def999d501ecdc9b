//! Key phrase extraction with RAKE (Rose et al., 2010): candidate phrases are the runs of words
//! between stop words and punctuation; a word scores degree / frequency over the text; a
//! phrase scores the sum of its words. Phrases of 1–4 words, lower-cased, best first.
//!
//! The English stop-word list is rtcx's own.

use std::collections::HashMap;

const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "are",
    "aren't",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "can't",
    "cannot",
    "cant",
    "could",
    "couldn't",
    "did",
    "didn't",
    "do",
    "does",
    "doesn't",
    "doing",
    "don't",
    "dont",
    "down",
    "during",
    "each",
    "even",
    "ever",
    "every",
    "few",
    "for",
    "from",
    "further",
    "get",
    "got",
    "had",
    "hadn't",
    "has",
    "hasn't",
    "have",
    "haven't",
    "having",
    "he",
    "hello",
    "her",
    "here",
    "hers",
    "herself",
    "hi",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "i'd",
    "i'll",
    "i'm",
    "i've",
    "if",
    "im",
    "in",
    "into",
    "is",
    "isn't",
    "it",
    "it's",
    "its",
    "itself",
    "ive",
    "just",
    "let",
    "me",
    "more",
    "most",
    "much",
    "my",
    "myself",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "ok",
    "okay",
    "on",
    "once",
    "one",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "please",
    "really",
    "same",
    "she",
    "should",
    "so",
    "some",
    "still",
    "such",
    "than",
    "thank",
    "thanks",
    "that",
    "that's",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "us",
    "very",
    "was",
    "wasn't",
    "we",
    "were",
    "weren't",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "won't",
    "wont",
    "would",
    "wouldn't",
    "yes",
    "yet",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

fn is_stop(word: &str) -> bool {
    STOP_WORDS.binary_search(&word).is_ok()
}

/// Up to `max` key phrases of `text`, most salient first.
pub fn extract(text: &str, max: usize) -> Vec<String> {
    // Candidate phrases: fragments between punctuation, cut further at stop words.
    let mut phrases: Vec<Vec<String>> = Vec::new();
    let lower = text.to_lowercase();
    for fragment in lower.split(|c: char| !(c.is_alphanumeric() || c.is_whitespace() || c == '\'' || c == '-')) {
        let mut current: Vec<String> = Vec::new();
        for token in fragment.split_whitespace() {
            let word = token.trim_matches(|c: char| c == '\'' || c == '-');
            if word.is_empty() || is_stop(word) || word.chars().all(char::is_numeric) {
                if !current.is_empty() {
                    phrases.push(std::mem::take(&mut current));
                }
            } else {
                current.push(word.to_owned());
            }
        }
        if !current.is_empty() {
            phrases.push(current);
        }
    }
    phrases.retain(|p| p.len() <= 4 && p.iter().any(|w| w.chars().count() >= 3));

    let mut freq: HashMap<&str, f64> = HashMap::new();
    let mut degree: HashMap<&str, f64> = HashMap::new();
    for p in &phrases {
        for w in p {
            *freq.entry(w).or_default() += 1.0;
            *degree.entry(w).or_default() += p.len() as f64;
        }
    }
    let mut scored: Vec<(f64, String)> =
        phrases.iter().map(|p| (p.iter().map(|w| degree[w.as_str()] / freq[w.as_str()]).sum(), p.join(" "))).collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let mut out: Vec<String> = Vec::new();
    for (_, phrase) in scored {
        if !out.contains(&phrase) {
            out.push(phrase);
        }
        if out.len() == max {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_words_are_sorted_for_binary_search() {
        assert!(STOP_WORDS.windows(2).all(|w| w[0] < w[1]), "keep STOP_WORDS sorted and unique");
    }

    #[test]
    fn extracts_multi_word_phrases_first() {
        let p = extract("The delivery was very late and the box was damaged. Customer support did not answer.", 5);
        assert_eq!(p[0], "customer support");
        assert!(p.contains(&"delivery".to_owned()));
        assert!(p.contains(&"box".to_owned()));
        assert!(p.contains(&"damaged".to_owned()));
    }

    #[test]
    fn odd_inputs_give_no_phrases() {
        assert!(extract("", 5).is_empty());
        assert!(extract("the and of 123 !!!", 5).is_empty());
        assert_eq!(extract("😡😡😡 refund now", 5), vec!["refund"]);
    }
}
