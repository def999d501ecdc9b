//! Every validation rule has a passing and a failing case, and the failing case names the
//! field and the rule precisely.

use chrono::{DateTime, Duration, TimeZone, Utc};
use rtcx_schemas::validation::{ValidationCode, limits, validate_event, validate_submission};
use rtcx_schemas::{Channel, FeedbackEvent, FeedbackSubmission};
use serde_json::json;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).single().expect("valid time")
}

fn valid() -> FeedbackSubmission {
    serde_json::from_value(json!({
        "channel": "survey",
        "text": "The checkout was quick and painless.",
        "occurred_at": "2026-11-29T11:59:00Z",
        "rating": 5, "nps": 10, "csat": 5,
        "customer_id": "c-42", "segment": "smb", "journey_stage": "purchase",
        "language": "en-GB",
        "metadata": {"order_id": "o-1"},
        "external_id": "zd-1", "idempotency_key": "k-1"
    }))
    .expect("valid submission")
}

/// Applies `edit` to a valid submission and expects exactly the violation (field, code).
fn expect_violation(edit: impl FnOnce(&mut FeedbackSubmission), field: &str, code: ValidationCode) {
    let mut sub = valid();
    edit(&mut sub);
    let err = validate_submission(&sub, now()).expect_err("should be invalid");
    assert!(err.has(field, code), "expected {field}/{code:?}, got {err}");
    assert_eq!(err.errors().len(), 1, "only one rule should fail: {err}");
    assert!(!err.errors()[0].message.is_empty());
}

#[test]
fn a_complete_submission_is_valid() {
    validate_submission(&valid(), now()).expect("valid");
    let minimal: FeedbackSubmission = serde_json::from_value(json!({"channel": "web", "text": "ok"})).expect("parse");
    validate_submission(&minimal, now()).expect("minimal is valid");
}

#[test]
fn text_must_not_be_empty_or_whitespace() {
    expect_violation(|s| s.text = String::new(), "text", ValidationCode::Empty);
    expect_violation(|s| s.text = " \n\t ".into(), "text", ValidationCode::Empty);
}

#[test]
fn text_length_counts_characters_after_trimming() {
    let max = limits::TEXT_MAX_CHARS;
    let mut sub = valid();
    // multi-byte characters count once; surrounding whitespace does not count
    sub.text = format!("  {}  ", "é".repeat(max));
    validate_submission(&sub, now()).expect("exactly the maximum is valid");
    expect_violation(|s| s.text = "a".repeat(max + 1), "text", ValidationCode::TooLong);
}

#[test]
fn ratings_have_ranges() {
    expect_violation(|s| s.rating = Some(0), "rating", ValidationCode::OutOfRange);
    expect_violation(|s| s.rating = Some(6), "rating", ValidationCode::OutOfRange);
    expect_violation(|s| s.nps = Some(11), "nps", ValidationCode::OutOfRange);
    expect_violation(|s| s.csat = Some(0), "csat", ValidationCode::OutOfRange);
    expect_violation(|s| s.csat = Some(6), "csat", ValidationCode::OutOfRange);
    let mut sub = valid();
    sub.nps = Some(0);
    sub.rating = Some(1);
    sub.csat = Some(1);
    validate_submission(&sub, now()).expect("lower bounds are valid");
}

#[test]
fn occurred_at_may_be_at_most_five_minutes_ahead() {
    let mut sub = valid();
    sub.occurred_at = Some(now() + Duration::minutes(5));
    validate_submission(&sub, now()).expect("5 minutes of skew is tolerated");
    expect_violation(|s| s.occurred_at = Some(now() + Duration::seconds(301)), "occurred_at", ValidationCode::InFuture);
    expect_violation(
        |s| s.occurred_at = Some(Utc.with_ymd_and_hms(1999, 12, 31, 23, 59, 59).single().expect("time")),
        "occurred_at",
        ValidationCode::TooOld,
    );
}

#[test]
fn identifiers_have_length_limits_and_no_control_characters() {
    let long = "x".repeat(limits::ID_MAX_CHARS + 1);
    expect_violation(|s| s.customer_id = Some(long.clone()), "customer_id", ValidationCode::TooLong);
    expect_violation(|s| s.external_id = Some(long.clone()), "external_id", ValidationCode::TooLong);
    expect_violation(|s| s.idempotency_key = Some(long.clone()), "idempotency_key", ValidationCode::TooLong);
    expect_violation(|s| s.customer_id = Some("  ".into()), "customer_id", ValidationCode::Empty);
    expect_violation(|s| s.customer_id = Some("a\u{0}b".into()), "customer_id", ValidationCode::InvalidFormat);
    let label = "y".repeat(limits::LABEL_MAX_CHARS + 1);
    expect_violation(|s| s.segment = Some(label.clone()), "segment", ValidationCode::TooLong);
    expect_violation(|s| s.journey_stage = Some(label), "journey_stage", ValidationCode::TooLong);
}

#[test]
fn text_must_be_visible_and_free_of_control_characters() {
    // Made only of NULs or of zero-width characters: nothing a person could read.
    expect_violation(|s| s.text = "\u{0}\u{0}\u{0}".into(), "text", ValidationCode::Empty);
    expect_violation(|s| s.text = "\u{200b}\u{200d}\u{feff}\u{2060}".into(), "text", ValidationCode::Empty);
    // A NUL (or another control character) inside real text is refused and named.
    expect_violation(|s| s.text = "late\u{0} parcel".into(), "text", ValidationCode::InvalidFormat);
    expect_violation(|s| s.text = "bell\u{7}".into(), "text", ValidationCode::InvalidFormat);
    // Line breaks and tabs are free text.
    let mut sub = valid();
    sub.text = "line one\r\nline two\tend".into();
    validate_submission(&sub, now()).expect("line breaks are fine in text");
    expect_violation(
        |s| {
            s.metadata.insert("order".into(), "A\u{0}1".into());
        },
        "metadata.order",
        ValidationCode::InvalidFormat,
    );
    expect_violation(|s| s.customer_id = Some("\u{200b}".into()), "customer_id", ValidationCode::Empty);
    expect_violation(|s| s.segment = Some("vip\nsegment".into()), "segment", ValidationCode::InvalidFormat);
}

#[test]
fn language_must_look_like_bcp47() {
    for ok in ["en", "pt-BR", "zh-Hant-TW", "yue"] {
        let mut sub = valid();
        sub.language = Some(ok.into());
        validate_submission(&sub, now()).unwrap_or_else(|e| panic!("{ok} should be valid: {e}"));
    }
    for bad in ["e", "english", "en_US", "en-", "12", "en-toolongsubtag"] {
        expect_violation(|s| s.language = Some(bad.into()), "language", ValidationCode::InvalidFormat);
    }
}

#[test]
fn metadata_is_capped() {
    expect_violation(
        |s| s.metadata = (0..=limits::METADATA_MAX_ENTRIES).map(|i| (format!("k{i}"), "v".into())).collect(),
        "metadata",
        ValidationCode::TooLarge,
    );
    expect_violation(
        |s| s.metadata = [("k".to_string(), "v".repeat(limits::METADATA_VALUE_MAX_CHARS + 1))].into(),
        "metadata.k",
        ValidationCode::TooLong,
    );
    expect_violation(
        |s| s.metadata = [("k".repeat(limits::METADATA_KEY_MAX_CHARS + 1), "v".into())].into(),
        &format!("metadata.{}", "k".repeat(limits::METADATA_KEY_MAX_CHARS + 1)),
        ValidationCode::InvalidFormat,
    );
    expect_violation(
        |s| s.metadata = (0..10).map(|i| (format!("k{i}"), "v".repeat(1000))).collect(),
        "metadata",
        ValidationCode::TooLarge,
    );
}

#[test]
fn all_violations_are_reported_together() {
    let mut sub = valid();
    sub.text = String::new();
    sub.rating = Some(9);
    sub.language = Some("??".into());
    let err = validate_submission(&sub, now()).expect_err("invalid");
    assert_eq!(err.errors().len(), 3, "{err}");
    let body = serde_json::to_value(&err).expect("serialize");
    assert_eq!(body[0]["field"], "text");
    assert_eq!(body[0]["code"], "empty");
}

fn event() -> FeedbackEvent {
    FeedbackEvent::from_submission(valid(), "crm", now(), false)
}

#[test]
fn direct_kafka_events_are_validated_with_the_same_rules() {
    validate_event(&event(), now()).expect("valid event");
    let mut ev = event();
    ev.text = "  ".into();
    assert!(validate_event(&ev, now()).expect_err("empty").has("text", ValidationCode::Empty));
    let mut ev = event();
    ev.nps = Some(42);
    assert!(validate_event(&ev, now()).expect_err("nps").has("nps", ValidationCode::OutOfRange));
    let mut ev = event();
    ev.occurred_at = now() + Duration::hours(1);
    assert!(validate_event(&ev, now()).expect_err("future").has("occurred_at", ValidationCode::InFuture));
}

#[test]
fn event_only_rules() {
    let mut ev = event();
    ev.source = String::new();
    assert!(validate_event(&ev, now()).expect_err("source").has("source", ValidationCode::Empty));
    ev.source = "has space".into();
    assert!(validate_event(&ev, now()).expect_err("source").has("source", ValidationCode::InvalidFormat));
    ev.source = "s".repeat(129);
    assert!(validate_event(&ev, now()).expect_err("source").has("source", ValidationCode::TooLong));
    let mut ev = event();
    ev.id = uuid::Uuid::nil();
    assert!(validate_event(&ev, now()).expect_err("id").has("id", ValidationCode::Empty));
    let mut ev = event();
    ev.received_at = now() + Duration::hours(2);
    assert!(validate_event(&ev, now()).expect_err("received_at").has("received_at", ValidationCode::InFuture));
}

#[test]
fn malformed_json_fails_to_parse_with_the_field_named() {
    let err =
        serde_json::from_value::<FeedbackSubmission>(json!({"channel": "fax", "text": "x"})).expect_err("bad channel");
    assert!(err.to_string().contains("fax"), "{err}");
    let err = serde_json::from_value::<FeedbackSubmission>(json!({"channel": "web"})).expect_err("no text");
    assert!(err.to_string().contains("text"), "{err}");
    let err = serde_json::from_value::<FeedbackSubmission>(json!({"channel": "web", "text": "x", "rating": 300}))
        .expect_err("rating overflows u8");
    assert!(err.to_string().contains("300"), "{err}");
    let parsed: FeedbackSubmission =
        serde_json::from_value(json!({"channel": "call_center", "text": "x"})).expect("ok");
    assert_eq!(parsed.channel, Channel::CallCenter);
}

/// The JSON Schema patterns published for text fields accept exactly what the Rust rule
/// accepts (a fuzzer generating from the document must find no difference either way).
#[test]
fn text_patterns_accept_only_what_the_rule_accepts() {
    use rtcx_schemas::text::{self, TextKind};
    let samples = [
        "hello",
        " padded ",
        "line\nbreak",
        "tab\tbed",
        "cr\r\n",
        "\u{0}",
        "a\u{0}b",
        "\u{7}",
        "\u{85}x",
        "\u{9f}",
        "",
        " ",
        "\n\t",
        "\u{200b}",
        "\u{200b}a",
        "\u{feff}\u{2060}",
        "\u{00a0}",
        "\u{3000}x",
        "日本語",
        "😀",
        "\u{00ad}",
        "a\u{1b}[31m",
        "\u{1680}",
        "a\u{2003}b",
        "\u{2009}",
        "\u{2003}x",
        "\u{202e}",
        "\u{2066}\u{2069}",
        "\u{3164}",
        "\u{fe0f}",
        "\u{e0041}",
    ];
    for (pattern, kind, visible) in [
        (text::MULTI_LINE_PATTERN, TextKind::MultiLine, false),
        (text::VISIBLE_MULTI_LINE_PATTERN, TextKind::MultiLine, true),
        (text::SINGLE_LINE_PATTERN, TextKind::SingleLine, false),
        (text::VISIBLE_SINGLE_LINE_PATTERN, TextKind::SingleLine, true),
    ] {
        let schema = serde_json::json!({"type": "string", "pattern": pattern});
        let validator = jsonschema::validator_for(&schema).expect("pattern compiles");
        for s in samples {
            let rule = text::first_forbidden(s, kind).is_none() && (!visible || text::has_visible(s));
            let matched = validator.is_valid(&serde_json::json!(s));
            assert_eq!(matched, rule, "{pattern} and the rule disagree on {s:?}");
        }
    }
}

/// JSON Schema counts `3.0` as an integer; the contracts read it as 3 (and refuse 3.5).
#[test]
fn whole_numbers_written_with_a_fraction_are_integers() {
    let parse = |v: serde_json::Value| serde_json::from_value::<FeedbackSubmission>(v);
    let sub = parse(json!({"channel": "web", "text": "x", "rating": 4.0, "nps": 10, "csat": null})).expect("whole");
    assert_eq!((sub.rating, sub.nps, sub.csat), (Some(4), Some(10), None));
    for bad in [json!(3.5), json!(-1), json!(256), json!(1e300), json!("3")] {
        assert!(parse(json!({"channel": "web", "text": "x", "rating": bad})).is_err(), "{bad}");
    }
}
