//! Recently analysed texts, remembered for a short while. Customer feedback repeats ("ok",
//! "great service", a templated survey answer, a retried message), and a repeated text then
//! costs a map lookup instead of an encoder pass. [`crate::AnalyzerPool`] consults it before it
//! queues a batch (and analyses identical texts of one batch once, with or without it).
//!
//! Two generations of at most `capacity / 2` entries: a lookup checks the young one, then the
//! old one (a hit there moves to the young one); when the young one is full it becomes the old
//! one and the old one is dropped. That is LRU-like eviction at O(1) per operation without
//! per-entry links. Entries older than the time-to-live are misses. Only short texts are kept
//! (at most [`MAX_TEXT_BYTES`]): they are the ones that repeat, and it bounds the memory to
//! `capacity × (MAX_TEXT_BYTES + the analysis, ~1.6 KB with a 384-float embedding)`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::analyzer::Analysis;

/// Longest text (in bytes) that is remembered.
pub const MAX_TEXT_BYTES: usize = 256;

struct Generations {
    young: HashMap<String, (Instant, Analysis)>,
    old: HashMap<String, (Instant, Analysis)>,
}

/// A bounded, time-limited memory of `text → analysis` for one model.
pub struct RecentResults {
    generations: Mutex<Generations>,
    generation_size: usize,
    ttl: Duration,
}

impl RecentResults {
    /// Remembers at most `capacity` texts (0 remembers none) for `ttl` each.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            generations: Mutex::new(Generations { young: HashMap::new(), old: HashMap::new() }),
            generation_size: capacity / 2,
            ttl,
        }
    }

    /// Whether anything is remembered at all.
    pub fn enabled(&self) -> bool {
        self.generation_size > 0 && !self.ttl.is_zero()
    }

    /// The remembered analysis of `text`, if it is younger than the time-to-live.
    pub fn get(&self, text: &str) -> Option<Analysis> {
        if !self.enabled() || text.len() > MAX_TEXT_BYTES {
            return None;
        }
        let now = Instant::now();
        let mut g = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, a)) = g.young.get(text) {
            return (now.duration_since(*at) <= self.ttl).then(|| a.clone());
        }
        let (at, a) = g.old.remove(text)?;
        if now.duration_since(at) > self.ttl {
            return None;
        }
        let hit = a.clone();
        Self::put(&mut g, self.generation_size, text.to_owned(), at, a);
        Some(hit)
    }

    /// Remembers `analysis` as the result for `text` (short texts only).
    pub fn insert(&self, text: &str, analysis: &Analysis) {
        if !self.enabled() || text.len() > MAX_TEXT_BYTES {
            return;
        }
        let mut g = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        Self::put(&mut g, self.generation_size, text.to_owned(), Instant::now(), analysis.clone());
    }

    fn put(g: &mut Generations, generation_size: usize, text: String, at: Instant, analysis: Analysis) {
        if g.young.len() >= generation_size && !g.young.contains_key(&text) {
            g.old = std::mem::take(&mut g.young);
        }
        g.young.insert(text, (at, analysis));
    }

    /// Texts remembered now (both generations; expired ones included until evicted).
    pub fn len(&self) -> usize {
        let g = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        g.young.len() + g.old.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lexicon::LexiconAnalyzer;

    fn analysis(text: &str) -> Analysis {
        LexiconAnalyzer.analyze(&[text]).remove(0)
    }

    #[test]
    fn a_remembered_text_is_answered_until_it_expires() {
        let recent = RecentResults::new(8, Duration::from_millis(200));
        let a = analysis("great service");
        recent.insert("great service", &a);
        assert_eq!(recent.get("great service"), Some(a));
        assert_eq!(recent.get("great service!"), None);
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(recent.get("great service"), None);
    }

    #[test]
    fn memory_is_bounded_and_recently_used_texts_survive() {
        let recent = RecentResults::new(4, Duration::from_secs(60));
        for t in ["a", "b"] {
            recent.insert(t, &analysis(t));
        }
        // "a" is used again: it moves with the young generation when "c" and "d" push "b" out.
        recent.insert("c", &analysis("c"));
        assert!(recent.get("a").is_some());
        recent.insert("d", &analysis("d"));
        recent.insert("e", &analysis("e"));
        assert!(recent.len() <= 4, "{} remembered", recent.len());
        assert!(recent.get("a").is_some(), "recently used text evicted");
        assert!(recent.get("b").is_none(), "least recently used text kept");
        for i in 0..100 {
            let t = format!("text {i}");
            recent.insert(&t, &analysis(&t));
        }
        assert!(recent.len() <= 4);
    }

    #[test]
    fn long_texts_and_a_zero_capacity_remember_nothing() {
        let long = "x".repeat(MAX_TEXT_BYTES + 1);
        let recent = RecentResults::new(8, Duration::from_secs(60));
        recent.insert(&long, &analysis(&long));
        assert_eq!(recent.get(&long), None);
        let off = RecentResults::new(0, Duration::from_secs(60));
        off.insert("ok", &analysis("ok"));
        assert_eq!(off.get("ok"), None);
        assert!(off.is_empty());
    }
}
