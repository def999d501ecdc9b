//! Webhook bodies. `standard`: the Standard Webhooks shape, `{"type", "timestamp", "data"}`,
//! with the alert event (the `rtcx.alerts.v1` message, JSON Schema in `schemas/`) as `data`,
//! or for `feedback.negative` the message as the live rooms deliver it (`FeedbackUpdate`).
//! `slack`: a Slack incoming-webhook message (`{"text": …}` in Slack's mrkdwn; Mattermost,
//! Rocket.Chat and Discord's `/slack` endpoints take the same), rendered at send time from the
//! standard body so that switching an endpoint's format applies to what is still queued.

use serde_json::{Value, json};

/// The body to POST for an endpoint of `format`.
pub fn render(format: &str, standard: &Value, console_url: Option<&str>) -> Value {
    match format {
        "slack" => json!({ "text": slack_text(standard, console_url) }),
        _ => standard.clone(),
    }
}

/// The Standard Webhooks body of an event.
pub fn standard(event_type: &str, timestamp: chrono::DateTime<chrono::Utc>, data: Value) -> Value {
    json!({
        "type": event_type,
        "timestamp": timestamp.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": data,
    })
}

/// Escapes the three characters Slack's mrkdwn reserves.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn slack_text(standard: &Value, console_url: Option<&str>) -> String {
    let data = &standard["data"];
    if standard["type"] == "feedback.negative" {
        let text: String = data["text"].as_str().unwrap_or_default().chars().take(500).collect();
        let mut out = format!(
            "*Negative feedback* on {} ({:.2}, {}): {}",
            escape(data["channel"].as_str().unwrap_or("?")),
            data["sentiment"]["score"].as_f64().unwrap_or_default(),
            escape(data["dominant_emotion"].as_str().unwrap_or("?")),
            escape(&text)
        );
        if let (Some(base), Some(id)) = (console_url, data["id"].as_str()) {
            out.push_str(&format!("\n<{}/feedback/{id}|Open in rtcx>", base.trim_end_matches('/')));
        }
        return out;
    }
    let str_of = |k: &str| data[k].as_str().unwrap_or_default();
    let verb = match standard["type"].as_str() {
        Some("alert.created") => "New alert",
        Some("alert.resolved") => "Alert closed",
        _ => "Alert updated",
    };
    let mut text = format!("*{verb}* [{}] {}", str_of("severity"), escape(str_of("title")));
    if let (Some(obs), Some(base)) = (data["observed"].as_f64(), data["baseline"].as_f64()) {
        text.push_str(&format!("\n{}: {obs:.3} (expected {base:.3})", escape(str_of("metric"))));
    }
    if let Some(status) = data["workflow"]["status"].as_str() {
        text.push_str(&format!("\nStatus: {status}"));
    }
    if let Some(note) = data["workflow"]["note"].as_str() {
        text.push_str(&format!("\nNote: {}", escape(note)));
    }
    if let (Some(base), Some(id)) = (console_url, data["id"].as_str()) {
        text.push_str(&format!("\n<{}/alerts/{id}|Open in rtcx>", base.trim_end_matches('/')));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> Value {
        standard(
            "alert.created",
            chrono::DateTime::from_timestamp(1_764_590_400, 0).expect("time"),
            json!({"id": "a1", "severity": "HIGH", "title": "Negative share <email> spiking", "metric": "negative_share",
                   "observed": 0.42, "baseline": 0.1}),
        )
    }

    #[test]
    fn negative_feedback_reads_as_one_slack_line() {
        let b = standard(
            "feedback.negative",
            chrono::DateTime::from_timestamp(1_764_590_400, 0).expect("time"),
            json!({"id": "f1", "channel": "email", "text": "Refund <still> missing", "sentiment": {"label": "negative", "score": -0.91},
                   "dominant_emotion": "anger"}),
        );
        let slack = render("slack", &b, Some("https://rtcx.example"));
        assert_eq!(
            slack["text"],
            "*Negative feedback* on email (-0.91, anger): Refund &lt;still&gt; missing\n<https://rtcx.example/feedback/f1|Open in rtcx>"
        );
    }

    #[test]
    fn standard_bodies_are_passed_through() {
        let b = body();
        assert_eq!(b["timestamp"], "2025-12-01T12:00:00.000Z");
        assert_eq!(render("standard", &b, Some("https://rtcx.example")), b);
    }

    #[test]
    fn slack_messages_summarise_and_link() {
        let slack = render("slack", &body(), Some("https://rtcx.example/"));
        assert_eq!(
            slack["text"],
            "*New alert* [HIGH] Negative share &lt;email&gt; spiking\nnegative_share: 0.420 (expected 0.100)\n\
             <https://rtcx.example/alerts/a1|Open in rtcx>"
        );
        assert_eq!(slack.as_object().map(|o| o.len()), Some(1));
    }
}
