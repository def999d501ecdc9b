//! Validation rules for feedback, defined once and used by ingest (HTTP input) and by the
//! processors (messages produced straight to Kafka).
//!
//! Every violated rule yields a [`ValidationError`] with the field path, a stable machine code
//! and a human message; all violations of a message are reported together.

use std::fmt;

use chrono::{DateTime, Duration, TimeZone, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::feedback::{FeedbackEvent, FeedbackSubmission, Metadata};
use crate::text::{self, TextKind};

/// Limits enforced by the validation rules.
pub mod limits {
    /// Maximum feedback text length in characters (Unicode scalar values), after trimming.
    pub const TEXT_MAX_CHARS: usize = 10_000;
    /// How far in the future `occurred_at` may lie (clock skew allowance), in seconds.
    pub const MAX_FUTURE_SKEW_SECS: i64 = 5 * 60;
    /// Earliest accepted `occurred_at` (Unix seconds): 2000-01-01T00:00:00Z.
    pub const MIN_OCCURRED_AT_UNIX: i64 = 946_684_800;
    /// Star rating range.
    pub const RATING: (u8, u8) = (1, 5);
    /// NPS answer range.
    pub const NPS: (u8, u8) = (0, 10);
    /// CSAT answer range.
    pub const CSAT: (u8, u8) = (1, 5);
    /// Maximum length of `customer_id`, `external_id` and `idempotency_key`.
    pub const ID_MAX_CHARS: usize = 256;
    /// Maximum length of `segment` and `journey_stage`.
    pub const LABEL_MAX_CHARS: usize = 64;
    /// Maximum length of a language tag.
    pub const LANGUAGE_MAX_CHARS: usize = 35;
    /// Maximum length of `source`.
    pub const SOURCE_MAX_CHARS: usize = 128;
    /// Maximum number of metadata entries.
    pub const METADATA_MAX_ENTRIES: usize = 50;
    /// Maximum metadata key length.
    pub const METADATA_KEY_MAX_CHARS: usize = 64;
    /// Maximum metadata value length.
    pub const METADATA_VALUE_MAX_CHARS: usize = 1_024;
    /// Maximum total size of metadata keys and values, in bytes (UTF-8).
    pub const METADATA_MAX_BYTES: usize = 8 * 1024;
}

/// Stable machine-readable code of a violated rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ValidationCode {
    /// A required value is empty (or only whitespace).
    Empty,
    /// A string is longer than allowed.
    TooLong,
    /// A number lies outside its range.
    OutOfRange,
    /// A timestamp lies too far in the future.
    InFuture,
    /// A timestamp lies before the earliest accepted time.
    TooOld,
    /// A string does not have the required format.
    InvalidFormat,
    /// A collection has too many entries or bytes.
    TooLarge,
}

/// One violated rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ValidationError {
    /// Path of the offending field, e.g. `text`, `metadata.order_id`.
    pub field: String,
    /// Machine-readable rule code.
    pub code: ValidationCode,
    /// Human-readable explanation.
    pub message: String,
}

impl ValidationError {
    fn new(field: impl Into<String>, code: ValidationCode, message: impl Into<String>) -> Self {
        Self { field: field.into(), code, message: message.into() }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// All violations found in one message (never empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, thiserror::Error)]
#[serde(transparent)]
pub struct ValidationErrors(pub Vec<ValidationError>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl ValidationErrors {
    /// The violations.
    pub fn errors(&self) -> &[ValidationError] {
        &self.0
    }

    /// Whether some violation concerns `field`.
    pub fn has(&self, field: &str, code: ValidationCode) -> bool {
        self.0.iter().any(|e| e.field == field && e.code == code)
    }
}

/// The fields that submissions and events have in common, borrowed for validation.
struct Fields<'a> {
    text: &'a str,
    occurred_at: Option<DateTime<Utc>>,
    rating: Option<u8>,
    nps: Option<u8>,
    csat: Option<u8>,
    customer_id: Option<&'a str>,
    segment: Option<&'a str>,
    journey_stage: Option<&'a str>,
    language: Option<&'a str>,
    metadata: &'a Metadata,
    external_id: Option<&'a str>,
    idempotency_key: Option<&'a str>,
}

/// Validates a submission received over HTTP; `now` is the receive time.
pub fn validate_submission(sub: &FeedbackSubmission, now: DateTime<Utc>) -> Result<(), ValidationErrors> {
    let mut errors = Vec::new();
    check_fields(
        &Fields {
            text: &sub.text,
            occurred_at: sub.occurred_at,
            rating: sub.rating,
            nps: sub.nps,
            csat: sub.csat,
            customer_id: sub.customer_id.as_deref(),
            segment: sub.segment.as_deref(),
            journey_stage: sub.journey_stage.as_deref(),
            language: sub.language.as_deref(),
            metadata: &sub.metadata,
            external_id: sub.external_id.as_deref(),
            idempotency_key: sub.idempotency_key.as_deref(),
        },
        now,
        &mut errors,
    );
    finish(errors)
}

/// Validates an event read from the raw topic (it may come from a direct Kafka producer);
/// `now` is the processing time.
pub fn validate_event(ev: &FeedbackEvent, now: DateTime<Utc>) -> Result<(), ValidationErrors> {
    let mut errors = Vec::new();
    check_fields(
        &Fields {
            text: &ev.text,
            occurred_at: Some(ev.occurred_at),
            rating: ev.rating,
            nps: ev.nps,
            csat: ev.csat,
            customer_id: ev.customer_id.as_deref(),
            segment: ev.segment.as_deref(),
            journey_stage: ev.journey_stage.as_deref(),
            language: ev.language.as_deref(),
            metadata: &ev.metadata,
            external_id: ev.external_id.as_deref(),
            idempotency_key: ev.idempotency_key.as_deref(),
        },
        now,
        &mut errors,
    );
    check_time("received_at", ev.received_at, now, &mut errors);
    check_source(&ev.source, &mut errors);
    if ev.id.is_nil() {
        errors.push(ValidationError::new("id", ValidationCode::Empty, "id must not be the nil UUID"));
    }
    finish(errors)
}

fn finish(errors: Vec<ValidationError>) -> Result<(), ValidationErrors> {
    if errors.is_empty() { Ok(()) } else { Err(ValidationErrors(errors)) }
}

fn check_fields(f: &Fields<'_>, now: DateTime<Utc>, errors: &mut Vec<ValidationError>) {
    let text_chars = f.text.trim().chars().count();
    if !text::has_visible(f.text) {
        errors.push(ValidationError::new(
            "text",
            ValidationCode::Empty,
            "text must not be empty or only whitespace and invisible characters",
        ));
    } else if text_chars > limits::TEXT_MAX_CHARS {
        errors.push(ValidationError::new(
            "text",
            ValidationCode::TooLong,
            format!("text has {text_chars} characters after trimming; at most {} allowed", limits::TEXT_MAX_CHARS),
        ));
    }
    if text::has_visible(f.text) {
        check_characters("text", f.text, TextKind::MultiLine, errors);
    }
    if let Some(t) = f.occurred_at {
        check_time("occurred_at", t, now, errors);
    }
    check_range("rating", f.rating, limits::RATING, errors);
    check_range("nps", f.nps, limits::NPS, errors);
    check_range("csat", f.csat, limits::CSAT, errors);
    check_optional_str("customer_id", f.customer_id, limits::ID_MAX_CHARS, errors);
    check_optional_str("segment", f.segment, limits::LABEL_MAX_CHARS, errors);
    check_optional_str("journey_stage", f.journey_stage, limits::LABEL_MAX_CHARS, errors);
    check_optional_str("external_id", f.external_id, limits::ID_MAX_CHARS, errors);
    check_optional_str("idempotency_key", f.idempotency_key, limits::ID_MAX_CHARS, errors);
    if let Some(lang) = f.language {
        check_language(lang, errors);
    }
    check_metadata(f.metadata, errors);
}

fn check_time(field: &str, t: DateTime<Utc>, now: DateTime<Utc>, errors: &mut Vec<ValidationError>) {
    let latest = now + Duration::seconds(limits::MAX_FUTURE_SKEW_SECS);
    let earliest = Utc.timestamp_opt(limits::MIN_OCCURRED_AT_UNIX, 0).single().unwrap_or(DateTime::UNIX_EPOCH);
    if t > latest {
        errors.push(ValidationError::new(
            field,
            ValidationCode::InFuture,
            format!("{field} {} is more than 5 minutes in the future (now {})", t.to_rfc3339(), now.to_rfc3339()),
        ));
    } else if t < earliest {
        errors.push(ValidationError::new(
            field,
            ValidationCode::TooOld,
            format!("{field} {} is before 2000-01-01T00:00:00Z", t.to_rfc3339()),
        ));
    }
}

fn check_range(field: &str, v: Option<u8>, (lo, hi): (u8, u8), errors: &mut Vec<ValidationError>) {
    if let Some(v) = v
        && !(lo..=hi).contains(&v)
    {
        errors.push(ValidationError::new(
            field,
            ValidationCode::OutOfRange,
            format!("{field} must be between {lo} and {hi}, got {v}"),
        ));
    }
}

fn check_optional_str(field: &str, v: Option<&str>, max: usize, errors: &mut Vec<ValidationError>) {
    let Some(v) = v else { return };
    if !text::has_visible(v) {
        errors.push(ValidationError::new(
            field,
            ValidationCode::Empty,
            format!("{field} must not be empty or invisible when present"),
        ));
        return;
    }
    let n = v.chars().count();
    if n > max {
        errors.push(ValidationError::new(
            field,
            ValidationCode::TooLong,
            format!("{field} has {n} characters; at most {max} allowed"),
        ));
    }
    check_characters(field, v, TextKind::SingleLine, errors);
}

/// The shared character rule ([`crate::text`]).
fn check_characters(field: &str, v: &str, kind: TextKind, errors: &mut Vec<ValidationError>) {
    if let Some(bad) = text::first_forbidden(v, kind) {
        errors.push(ValidationError::new(field, ValidationCode::InvalidFormat, format!("{field} {bad}")));
    }
}

/// BCP 47-shaped: a 2-3 letter primary subtag, then `-`-separated alphanumeric subtags of 1..=8.
fn check_language(lang: &str, errors: &mut Vec<ValidationError>) {
    let mut parts = lang.split('-');
    let primary_ok =
        parts.next().is_some_and(|p| (2..=3).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphabetic()));
    let rest_ok = parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if !primary_ok || !rest_ok || lang.len() > limits::LANGUAGE_MAX_CHARS {
        errors.push(ValidationError::new(
            "language",
            ValidationCode::InvalidFormat,
            format!("language {lang:?} is not a BCP 47 language tag such as \"en\" or \"pt-BR\""),
        ));
    }
}

fn check_metadata(m: &Metadata, errors: &mut Vec<ValidationError>) {
    if m.len() > limits::METADATA_MAX_ENTRIES {
        errors.push(ValidationError::new(
            "metadata",
            ValidationCode::TooLarge,
            format!("metadata has {} entries; at most {} allowed", m.len(), limits::METADATA_MAX_ENTRIES),
        ));
    }
    let mut bytes = 0usize;
    for (k, v) in m {
        bytes += k.len() + v.len();
        let path = format!("metadata.{k}");
        let kn = k.chars().count();
        if kn == 0 || kn > limits::METADATA_KEY_MAX_CHARS || text::first_forbidden(k, TextKind::SingleLine).is_some() {
            errors.push(ValidationError::new(
                path.clone(),
                ValidationCode::InvalidFormat,
                format!(
                    "metadata keys must have 1..={} characters and no control characters",
                    limits::METADATA_KEY_MAX_CHARS
                ),
            ));
        }
        check_characters(&path, v, TextKind::MultiLine, errors);
        let vn = v.chars().count();
        if vn > limits::METADATA_VALUE_MAX_CHARS {
            errors.push(ValidationError::new(
                path,
                ValidationCode::TooLong,
                format!("metadata value has {vn} characters; at most {} allowed", limits::METADATA_VALUE_MAX_CHARS),
            ));
        }
    }
    if bytes > limits::METADATA_MAX_BYTES {
        errors.push(ValidationError::new(
            "metadata",
            ValidationCode::TooLarge,
            format!("metadata keys and values take {bytes} bytes; at most {} allowed", limits::METADATA_MAX_BYTES),
        ));
    }
}

fn check_source(source: &str, errors: &mut Vec<ValidationError>) {
    let n = source.chars().count();
    if n == 0 {
        errors.push(ValidationError::new("source", ValidationCode::Empty, "source must not be empty"));
    } else if n > limits::SOURCE_MAX_CHARS {
        errors.push(ValidationError::new(
            "source",
            ValidationCode::TooLong,
            format!("source has {n} characters; at most {} allowed", limits::SOURCE_MAX_CHARS),
        ));
    } else if !source.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':')) {
        errors.push(ValidationError::new(
            "source",
            ValidationCode::InvalidFormat,
            "source may contain only ASCII letters, digits and . _ - :",
        ));
    }
}
