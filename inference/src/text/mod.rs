//! Text analysis that needs no model: key phrases and language detection.

pub mod key_phrases;
pub mod language;
