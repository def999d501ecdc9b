//! E-mail contents from the templates in `notifier/templates/` (minijinja, compiled into the
//! binary): a subject, a plain-text part and an HTML part (HTML-escaped) for each kind. The
//! rendered examples in `docs/notifications/` are these functions' output (a test keeps them
//! equal).

use std::sync::LazyLock;

use minijinja::{AutoEscape, Environment, context};
use rtcx_schemas::AlertEvent;

use crate::digests::figures::{self, Figures};
use serde::{Deserialize, Serialize};

/// A rendered e-mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Content {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// A template failed to render (a bug: the templates are compiled in and tested).
#[derive(Debug, thiserror::Error)]
#[error("rendering {0}: {1}")]
pub struct RenderError(&'static str, minijinja::Error);

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|name| if name.ends_with(".html.j2") { AutoEscape::Html } else { AutoEscape::None });
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(false);
    env.add_filter("pad", |s: String| format!("{s:<10}"));
    env.add_filter("left", |s: String, width: usize| format!("{s:<width$}"));
    env.add_filter("right", |s: String, width: usize| format!("{s:>width$}"));
    for (name, source) in [
        ("alert.subject.j2", include_str!("../../templates/alert.subject.j2")),
        ("alert.txt.j2", include_str!("../../templates/alert.txt.j2")),
        ("alert.html.j2", include_str!("../../templates/alert.html.j2")),
        ("password_reset.subject.j2", include_str!("../../templates/password_reset.subject.j2")),
        ("password_reset.txt.j2", include_str!("../../templates/password_reset.txt.j2")),
        ("password_reset.html.j2", include_str!("../../templates/password_reset.html.j2")),
        ("alert_group.subject.j2", include_str!("../../templates/alert_group.subject.j2")),
        ("alert_group.txt.j2", include_str!("../../templates/alert_group.txt.j2")),
        ("alert_group.html.j2", include_str!("../../templates/alert_group.html.j2")),
        ("welcome.subject.j2", include_str!("../../templates/welcome.subject.j2")),
        ("welcome.txt.j2", include_str!("../../templates/welcome.txt.j2")),
        ("welcome.html.j2", include_str!("../../templates/welcome.html.j2")),
        ("digest.subject.j2", include_str!("../../templates/digest.subject.j2")),
        ("digest.txt.j2", include_str!("../../templates/digest.txt.j2")),
        ("digest.html.j2", include_str!("../../templates/digest.html.j2")),
    ] {
        // The templates are part of the binary and rendered by the unit tests.
        if let Err(e) = env.add_template(name, source) {
            panic!("template {name}: {e}");
        }
    }
    env
});

fn render(kind: &'static str, ctx: minijinja::Value) -> Result<Content, RenderError> {
    let one = |part: &str| -> Result<String, RenderError> {
        let name = format!("{kind}.{part}.j2");
        TEMPLATES.get_template(&name).and_then(|t| t.render(&ctx)).map_err(|e| RenderError(kind, e))
    };
    // A subject is one line: no header injection through an alert title.
    let subject: String = one("subject")?.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    Ok(Content { subject: subject.trim().to_owned(), text: one("txt")? + "\n", html: one("html")? + "\n" })
}

/// A link safe to put in an HTML attribute unescaped (the templates mark links `safe`, so
/// that `/` is not turned into `&#x2f;`): the characters that could end the attribute or
/// open a tag are percent-encoded. Links are built from the configured console URL and ids
/// or tokens rtcx generated.
fn attribute_safe(url: String) -> String {
    url.replace('"', "%22").replace('\'', "%27").replace('<', "%3C").replace('>', "%3E").replace(' ', "%20")
}

/// Up to five of the most negative texts of an alert's evidence (the evaluator's
/// `most_negative`).
fn samples(event: &AlertEvent) -> Vec<String> {
    let list = event.evidence["most_negative"].as_array();
    list.into_iter()
        .flatten()
        .filter_map(|s| s["text"].as_str())
        .take(5)
        .map(|s| s.chars().take(300).collect())
        .collect()
}

/// Up to five key phrases that grew, from the evidence's `what_changed`:
/// "refund: 48 mentions (expected 3.1)".
fn changes(event: &AlertEvent) -> Vec<String> {
    let list = event.evidence["what_changed"]["key_phrases"].as_array();
    list.into_iter()
        .flatten()
        .filter_map(|c| Some((c["term"].as_str()?, c["incident"].as_u64()?, c["expected"].as_f64()?)))
        .take(5)
        .map(|(term, n, expected)| format!("{term}: {n} mentions (expected {expected:.1})"))
        .collect()
}

/// An alert e-mail. `verb` says what happened ("New alert", "Alert assigned to you"), `reason`
/// why this recipient gets it ("a MANAGER of rtcx").
pub fn alert(event: &AlertEvent, verb: &str, reason: &str, console_url: Option<&str>) -> Result<Content, RenderError> {
    let link = console_url.map(|u| attribute_safe(format!("{}/alerts/{}", u.trim_end_matches('/'), event.id)));
    render(
        "alert",
        context! { alert => event, verb, reason, link, samples => samples(event), changes => changes(event) },
    )
}

/// A password-reset e-mail with its single-use link.
pub fn password_reset(
    email: &str,
    token: &str,
    expires_at: chrono::DateTime<chrono::Utc>,
    console_url: &str,
) -> Result<Content, RenderError> {
    let link = attribute_safe(format!("{}/reset-password?token={token}", console_url.trim_end_matches('/')));
    let expires_at = expires_at.format("%Y-%m-%d %H:%M UTC").to_string();
    render("password_reset", context! { email, link, expires_at })
}

/// What a grouped mail needs of one alert: the event, what happened, why the reader gets it
/// and the link (stored with the queued mail, so that a group can be rendered later).
pub fn group_entry(event: &AlertEvent, verb: &str, reason: &str, console_url: Option<&str>) -> serde_json::Value {
    let link = console_url.map(|u| attribute_safe(format!("{}/alerts/{}", u.trim_end_matches('/'), event.id)));
    serde_json::json!({ "event": event, "verb": verb, "reason": reason, "link": link })
}

/// One mail for several alerts of a rule to one reader (`entries` as [`group_entry`] made
/// them, oldest first); the payload to store, with the entries kept under `group`.
pub fn alert_group(entries: &[serde_json::Value]) -> Result<serde_json::Value, RenderError> {
    let rule = entries
        .first()
        .map(|e| e["event"]["rule"].as_str().or(e["event"]["alert_type"].as_str()).unwrap_or("?").to_owned())
        .unwrap_or_default();
    let reason = entries.first().and_then(|e| e["reason"].as_str()).unwrap_or_default();
    let content = render("alert_group", context! { alerts => entries, n => entries.len(), rule, reason })?;
    let mut payload = serde_json::to_value(content).unwrap_or_default();
    payload["group"] = serde_json::Value::Array(entries.to_vec());
    Ok(payload)
}

/// What a role may do, in the words of docs/permissions.md.
fn abilities(role: &str) -> &'static str {
    match role {
        "ADMIN" => "do everything: users, API keys, webhooks, topics, alert rules and the analytics",
        "MANAGER" => {
            "read the analytics and users, manage topics, and raise, assign and work alerts, rules and silences"
        }
        "AGENT" => "read the analytics and work alerts: take them, change their status and comment",
        _ => "read the analytics through the API",
    }
}

/// A welcome e-mail for a new account (`by_admin`: created by an administrator, else
/// self-registered).
pub fn welcome(email: &str, name: &str, role: &str, by_admin: bool, console_url: &str) -> Result<Content, RenderError> {
    let link = attribute_safe(format!("{}/", console_url.trim_end_matches('/')));
    let name = if name.trim().is_empty() { email } else { name.trim() };
    render("welcome", context! { email, name, role, by_admin, link, abilities => abilities(role) })
}

/// `12,345`.
fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `18.2%`.
fn percent(share: f64) -> String {
    format!("{:.1}%", 100.0 * share)
}

/// How `now` compares with `before`: `+12%`, `-3%`, `no change`, `new` (nothing before).
fn change(now: u64, before: u64) -> String {
    if before == 0 {
        return if now == 0 { "no change".into() } else { "new".into() };
    }
    let pct = (100.0 * (now as f64 - before as f64) / before as f64).round();
    if pct == 0.0 { "no change".into() } else { format!("{pct:+}%") }
}

/// `+0.21`.
fn signed(x: Option<f64>, decimals: usize) -> String {
    x.map_or_else(|| "–".into(), |v| format!("{v:+.decimals$}"))
}

/// A digest mail for `name` (a user's display name); the figures are shared by every reader of
/// the period.
pub fn digest(f: &Figures, name: &str, console_url: &str) -> Result<Content, RenderError> {
    use rtcx_schemas::notifications::DigestFrequency;
    let p = &f.period;
    let weekly = p.frequency == DigestFrequency::Weekly;
    let (title, before) = if weekly { ("Weekly", "the week before") } else { ("Daily", "the day before") };
    let period = if weekly {
        let last = p.first_day + chrono::Days::new(6);
        format!("{} to {}", p.first_day.format("%A %-d %B"), last.format("%A %-d %B %Y"))
    } else {
        p.first_day.format("%A %-d %B %Y").to_string()
    };
    let (cur, prev) = (&f.current, &f.previous);
    let mut headline = vec![
        [
            "Feedback".to_owned(),
            count(cur.feedback),
            format!("{} {before}: {}", count(prev.feedback), change(cur.feedback, prev.feedback)),
        ],
        ["Negative".to_owned(), percent(cur.negative_share()), format!("{} {before}", percent(prev.negative_share()))],
        [
            "Mean sentiment".to_owned(),
            signed(cur.mean_score(), 2),
            format!("{} {before}", signed(prev.mean_score(), 2)),
        ],
    ];
    if let Some(nps) = cur.nps() {
        headline.push([
            "NPS".to_owned(),
            format!("{nps:+.0}"),
            format!("from {} answers; {} {before}", count(cur.nps_answers), signed(prev.nps(), 0)),
        ]);
    }
    let days: Vec<[String; 3]> = f
        .days
        .iter()
        .map(|d| [d.day.format("%a %-d %b").to_string(), count(d.totals.feedback), percent(d.totals.negative_share())])
        .collect();
    let topics: Vec<[String; 4]> = f
        .topics
        .iter()
        .map(|t| {
            [
                t.name.chars().take(60).collect(),
                count(t.feedback),
                percent(figures::ratio(t.negative, t.feedback)),
                change(t.feedback, t.previous),
            ]
        })
        .collect();
    let emotions: Vec<String> =
        f.emotions.iter().map(|(e, n)| format!("{e} {}", percent(figures::ratio(*n, cur.feedback)))).collect();
    let console = console_url.trim_end_matches('/');
    let open: Vec<serde_json::Value> = f
        .alerts
        .open
        .iter()
        .map(|a| {
            serde_json::json!({
                "severity": a.severity, "title": a.title, "status": a.status,
                "since": a.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                "link": attribute_safe(format!("{console}/alerts/{}", a.id)),
            })
        })
        .collect();
    let open_by_severity: Vec<String> = f.alerts.open_by_severity.iter().map(|(s, n)| format!("{n} {s}")).collect();
    let name = if name.trim().is_empty() { "there" } else { name.trim() };
    render(
        "digest",
        context! {
            name, title, period, before, time_zone => p.time_zone, headline, days, topics, emotions,
            feedback => count(cur.feedback), negative => percent(cur.negative_share()), any_feedback => cur.feedback > 0,
            raised => f.alerts.raised, open_total => f.alerts.open_total(), open_by_severity, open,
            dashboard => attribute_safe(format!("{console}/dashboard")),
            settings => attribute_safe(format!("{console}/settings/notifications")),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn example_alert() -> AlertEvent {
        serde_json::from_value(serde_json::json!({
            "id": "0190f5d0-3b1c-7d2e-9f40-5a6b7c8d9e0f", "alert_type": "HIGH_VOLUME_NEGATIVE", "severity": "CRITICAL",
            "title": "Negative feedback on email <surging>", "description": "48 negative messages on email in 5 minutes against 12 expected.",
            "dimension": {"channel": "email"}, "window_start": "2026-12-01T10:00:00Z", "window_end": "2026-12-01T10:05:00Z",
            "metric": "negative_count", "observed": 48.0, "baseline": 12.25,
            "evidence": {
                "most_negative": [{"id": "0190f5d1-0000-7000-8000-000000000001", "text": "Still waiting for my refund & nobody answers", "sentiment_score": -0.93},
                                  {"id": "0190f5d1-0000-7000-8000-000000000002", "text": "Order 2417 delayed again", "sentiment_score": -0.81}],
                "what_changed": {"key_phrases": [{"term": "refund", "incident": 31, "expected": 2.4, "lift": 12.92}]}
            },
            "created_at": "2026-12-01T10:07:10Z", "rule": "channel_negative_volume"
        }))
        .expect("event")
    }

    #[test]
    fn alert_mails_have_both_parts_escaped_where_it_matters() {
        let c =
            alert(&example_alert(), "New alert", "a MANAGER of rtcx", Some("https://rtcx.example/")).expect("render");
        assert_eq!(c.subject, "[rtcx] New alert: CRITICAL Negative feedback on email <surging>");
        assert!(c.text.contains("Negative feedback on email <surging>"), "plain text is not escaped");
        assert!(c.text.contains("channel:   email"), "{}", c.text);
        assert!(c.text.contains("negative_count = 48.0 (expected 12.25)"), "{}", c.text);
        assert!(c.text.contains("  - \"Still waiting for my refund & nobody answers\""));
        assert!(c.text.contains("  - refund: 31 mentions (expected 2.4)"), "{}", c.text);
        assert!(c.text.contains("Open it: https://rtcx.example/alerts/0190f5d0-3b1c-7d2e-9f40-5a6b7c8d9e0f"));
        assert!(c.html.contains("Negative feedback on email &lt;surging&gt;"), "HTML is escaped");
        assert!(c.html.contains("refund &amp; nobody"));
        assert!(c.html.contains("Order 2417 delayed again"));
        assert!(!c.html.contains("<surging>"));
    }

    #[test]
    fn subjects_stay_on_one_line() {
        let mut e = example_alert();
        e.title = "two\r\nBcc: victim@example.com".into();
        let c = alert(&e, "New alert", "x", None).expect("render");
        assert!(!c.subject.contains('\n') && !c.subject.contains('\r'), "{:?}", c.subject);
        assert!(!c.text.contains("Open it"), "no link without a console URL");
    }

    #[test]
    fn reset_mails_carry_the_link_and_its_expiry() {
        let at = chrono::DateTime::from_timestamp(1_764_583_200, 0).expect("time");
        let c = password_reset("ana@example.com", "tok123", at, "https://rtcx.example").expect("render");
        assert_eq!(c.subject, "[rtcx] Reset your password");
        assert!(c.text.contains("https://rtcx.example/reset-password?token=tok123"));
        assert!(c.text.contains("until 2025-12-01 10:00 UTC"));
        assert!(c.html.contains("href=\"https://rtcx.example/reset-password?token=tok123\""), "{}", c.html);
        let odd = password_reset("a@b.c", "x\"><script>", at, "https://rtcx.example").expect("render");
        assert!(odd.html.contains("token=x%22%3E%3Cscript%3E\""), "{}", odd.html);
    }

    #[test]
    fn welcome_mails_name_the_role_and_escape_the_name() {
        let c = welcome("ana@example.com", "Ana <b>", "MANAGER", false, "https://rtcx.example").expect("render");
        assert_eq!(c.subject, "[rtcx] Welcome to rtcx, Ana <b>");
        assert!(c.text.contains("You registered an rtcx account: ana@example.com, role MANAGER."), "{}", c.text);
        assert!(c.text.contains("Sign in: https://rtcx.example/"));
        assert!(!c.text.contains("first password"), "no admin-set password when self-registered");
        assert!(c.html.contains("Ana &lt;b&gt;") && !c.html.contains("Ana <b>"), "{}", c.html);
        let c = welcome("x@example.com", " ", "ADMIN", true, "https://rtcx.example").expect("render");
        assert_eq!(c.subject, "[rtcx] Welcome to rtcx, x@example.com");
        assert!(c.text.contains("An administrator created an rtcx account for you"));
    }

    fn example_group() -> Vec<serde_json::Value> {
        let first = example_alert();
        let mut second = example_alert();
        second.id = uuid::Uuid::nil();
        second.severity = rtcx_schemas::AlertSeverity::High;
        second.title = "Negative feedback on chat surging".into();
        second.dimension = [("channel".to_string(), "chat".to_string())].into();
        let console = Some("https://rtcx.example.com");
        vec![
            group_entry(&first, "New alert", "a MANAGER of rtcx", console),
            group_entry(&second, "New alert", "a MANAGER of rtcx", console),
        ]
    }

    #[test]
    fn grouped_alerts_are_one_mail_that_keeps_its_alerts() {
        let payload = alert_group(&example_group()).expect("render");
        let c: Content = serde_json::from_value(payload.clone()).expect("content");
        assert_eq!(
            c.subject,
            "[rtcx] 2 new alerts of channel_negative_volume: CRITICAL Negative feedback on email <surging>; HIGH Negative feedback on chat surging"
        );
        assert!(c.text.contains("1. New alert: CRITICAL Negative feedback on email <surging>"), "{}", c.text);
        assert!(c.text.contains("Open it:  https://rtcx.example.com/alerts/00000000-0000-0000-0000-000000000000"));
        assert!(c.html.contains("&lt;surging&gt;") && !c.html.contains("<surging>"), "{}", c.html);
        assert_eq!(payload["group"].as_array().map(Vec::len), Some(2), "kept for a later re-render");
    }

    pub(crate) fn example_figures() -> Figures {
        use crate::digests::figures::{Alerts, Day, OpenAlert, Period, Topic, Totals};
        use chrono::{NaiveDate, TimeZone, Utc};
        let day = |d: u32| NaiveDate::from_ymd_opt(2026, 11, d).expect("date");
        let at = |d: u32, h: u32| Utc.with_ymd_and_hms(2026, 11, d, h, 0, 0).single().expect("time");
        let totals = |feedback: u64, negative: u64, score_sum: f64| Totals {
            feedback,
            negative,
            neutral: feedback / 4,
            positive: feedback - negative - feedback / 4,
            score_sum,
            nps_answers: 0,
            promoters: 0,
            detractors: 0,
        };
        let mut current = totals(12_480, 2_271, 1_996.8);
        (current.nps_answers, current.promoters, current.detractors) = (412, 180, 131);
        Figures {
            period: Period {
                frequency: rtcx_schemas::notifications::DigestFrequency::Daily,
                time_zone: "Europe/Paris".into(),
                first_day: day(30),
                start: at(29, 23),
                end: Utc.with_ymd_and_hms(2026, 12, 1, 23, 0, 0).single().expect("time"),
                previous_start: at(28, 23),
                days: (24..=30).map(|d| (day(d), at(d - 1, 23))).collect(),
            },
            current,
            previous: totals(11_102, 1_554, 2_442.4),
            days: [9_870, 10_212, 11_904, 12_055, 8_410, 11_102, 12_480]
                .iter()
                .zip(24..=30)
                .map(|(n, d)| Day { day: day(d), totals: totals(*n, n * (10 + u64::from(d) % 9) / 100, 0.0) })
                .map(|mut d| {
                    // The period and the day before, as in the headline.
                    d.totals.negative = match d.totals.feedback {
                        12_480 => 2_271,
                        11_102 => 1_554,
                        _ => d.totals.negative,
                    };
                    d
                })
                .collect(),
            topics: vec![
                Topic {
                    id: uuid::Uuid::nil(),
                    name: "Refunds & returns".into(),
                    feedback: 1_630,
                    negative: 912,
                    previous: 801,
                },
                Topic {
                    id: uuid::Uuid::nil(),
                    name: "Delivery".into(),
                    feedback: 1_211,
                    negative: 302,
                    previous: 1_190,
                },
                Topic { id: uuid::Uuid::nil(), name: "App <login>".into(), feedback: 402, negative: 97, previous: 0 },
            ],
            emotions: vec![
                ("joy".into(), 4_120),
                ("neutral".into(), 3_900),
                ("anger".into(), 2_210),
                ("sadness".into(), 1_102),
            ],
            alerts: Alerts {
                raised: 3,
                open_by_severity: vec![("CRITICAL".into(), 1), ("HIGH".into(), 2)],
                open: vec![OpenAlert {
                    id: uuid::Uuid::nil(),
                    title: "Negative feedback on email surging".into(),
                    severity: "CRITICAL".into(),
                    status: "OPEN".into(),
                    created_at: at(30, 14),
                }],
            },
        }
    }

    #[test]
    fn digests_state_the_figures_against_the_period_before() {
        let c = digest(&example_figures(), "Ana <b>", "https://rtcx.example.com/").expect("render");
        assert_eq!(
            c.subject,
            "[rtcx] Daily digest, Monday 30 November 2026: 12,480 feedback, 18.2% negative, 3 open alerts"
        );
        assert!(c.text.contains("Feedback:        12,480  (11,102 the day before: +12%)"), "{}", c.text);
        assert!(c.text.contains("Negative:         18.2%  (14.0% the day before)"), "{}", c.text);
        assert!(c.text.contains("Mean sentiment:   +0.16  (+0.22 the day before)"), "{}", c.text);
        assert!(c.text.contains("NPS:                +12  (from 412 answers; – the day before)"), "{}", c.text);
        assert!(c.text.contains("Mon 30 Nov       12,480     18.2%"), "{}", c.text);
        assert!(c.text.contains("  - Refunds & returns: 1,630, 56.0% negative, +103%"), "{}", c.text);
        assert!(c.text.contains("  - App <login>: 402, 24.1% negative, new"), "{}", c.text);
        assert!(
            c.text.contains("Dominant emotions: joy 33.0%, neutral 31.2%, anger 17.7%, sadness 8.8%"),
            "{}",
            c.text
        );
        assert!(c.text.contains("3 raised in the period; 3 open now (1 CRITICAL, 2 HIGH)."), "{}", c.text);
        assert!(c.text.contains("https://rtcx.example.com/alerts/00000000-0000-0000-0000-000000000000"));
        assert!(c.text.contains("Hello Ana <b>,"), "plain text is not escaped");
        assert!(c.html.contains("Hello Ana &lt;b&gt;,") && c.html.contains("App &lt;login&gt;"), "{}", c.html);
        assert!(c.html.contains("href=\"https://rtcx.example.com/settings/notifications\""), "{}", c.html);
        let mut weekly = example_figures();
        weekly.period.frequency = rtcx_schemas::notifications::DigestFrequency::Weekly;
        weekly.period.first_day = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).expect("date");
        let c = digest(&weekly, " ", "https://rtcx.example.com").expect("render");
        assert!(
            c.subject.starts_with("[rtcx] Weekly digest, Monday 23 November to Sunday 29 November 2026:"),
            "{}",
            c.subject
        );
        assert!(c.text.starts_with("Hello there,"), "{}", c.text);
        assert!(!c.text.contains("No feedback arrived"), "{}", c.text);
        let mut quiet = example_figures();
        quiet.current = Default::default();
        let c = digest(&quiet, "Ana", "https://rtcx.example.com").expect("render");
        assert!(c.text.contains("(Europe/Paris).\nNo feedback arrived in this period.\n"), "{}", c.text);
        assert!(c.text.contains("Mean sentiment:       –  (+0.22 the day before)"), "{}", c.text);
        assert!(c.html.contains("<p>No feedback arrived in this period.</p>"), "{}", c.html);
    }

    #[test]
    fn counts_and_changes_read_like_prose() {
        assert_eq!(
            (count(0), count(999), count(1_000), count(12_345_678)),
            ("0".into(), "999".into(), "1,000".into(), "12,345,678".into())
        );
        assert_eq!(
            (change(0, 0), change(5, 0), change(10, 10), change(15, 10), change(5, 10)),
            ("no change".into(), "new".into(), "no change".into(), "+50%".into(), "-50%".into())
        );
    }

    /// The rendered examples in docs/notifications/ are this code's output
    /// (`RTCX_BLESS=1 cargo test -p rtcx-notifier --lib` rewrites them).
    #[test]
    fn documented_examples_are_current() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/notifications");
        let at = chrono::DateTime::from_timestamp(1_764_583_200, 0).expect("time");
        let examples = [
            ("alert", alert(&example_alert(), "New alert", "a MANAGER of rtcx", Some("https://rtcx.example.com"))),
            ("password-reset", password_reset("ana@example.com", "EXAMPLE-TOKEN", at, "https://rtcx.example.com")),
            ("welcome", welcome("ana@example.com", "Ana Silva", "AGENT", true, "https://rtcx.example.com")),
            (
                "alert-group",
                alert_group(&example_group()).map(|p| serde_json::from_value::<Content>(p).expect("content")),
            ),
            ("digest", digest(&example_figures(), "Ana Silva", "https://rtcx.example.com")),
        ];
        for (name, content) in examples {
            let c = content.expect("render");
            for (ext, body) in [("txt", format!("Subject: {}\n\n{}", c.subject, c.text)), ("html", c.html)] {
                let path = format!("{dir}/{name}-email.{ext}");
                if std::env::var_os("RTCX_BLESS").is_some() {
                    std::fs::create_dir_all(dir).expect("docs dir");
                    std::fs::write(&path, &body).expect("write example");
                }
                let committed = std::fs::read_to_string(&path).unwrap_or_default();
                assert!(committed == body, "{path} is stale: run RTCX_BLESS=1 cargo test -p rtcx-notifier --lib");
            }
        }
    }
}
