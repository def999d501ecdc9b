//! The detectors over the stack's history: feedback rows in a real ClickHouse database feed
//! the minute rollups (migration 0007); `history::load` reads them back as window series and
//! the default rule catalogue finds the injected incident on the right dimension only.

mod common;

use chrono::{Duration, DurationRound, Utc};
use rtcx_processors::detect::backtest::run_catalogue;
use rtcx_processors::detect::detectors::Sensitivity;
use rtcx_processors::detect::history::load;
use rtcx_processors::detect::settings::ConfiguredRule;
use rtcx_schemas::AlertType;

const WINDOWS: i64 = 150;
const SPIKE_FROM: i64 = 144;

#[tokio::test]
async fn a_negative_spike_in_one_channel_is_found_there_and_nowhere_else() {
    let db = common::TempClickHouse::new("detect").await;
    let ch = db.client();

    let base = (Utc::now() - Duration::hours(14)).duration_trunc(Duration::minutes(5)).expect("trunc");
    let start = base.timestamp();
    // Steady traffic on two channels: 6 events per 5-minute window, one in five negative.
    for channel in ["email", "chat"] {
        rtcx_service_kit::testing::insert_windows(&ch, start, WINDOWS, 6, channel, 1).await;
    }
    // The incident: 30 more events per window on email for the last 30 minutes, four in five negative.
    rtcx_service_kit::testing::insert_windows(&ch, start + SPIKE_FROM * 300, WINDOWS - SPIKE_FROM, 30, "email", 4)
        .await;

    let to = base + Duration::seconds(WINDOWS * 300);
    let history = load(&ch, base, to, 300).await.expect("history");
    assert_eq!(history.len, WINDOWS as usize);
    assert_eq!(history.channels.len(), 2);
    let total: f64 = history.global.iter().map(|w| w.count).sum();
    assert_eq!(total, (WINDOWS * 12 + (WINDOWS - SPIKE_FROM) * 30) as f64, "every row counted once");

    let rules = ConfiguredRule::catalogue(Sensitivity::Medium);
    let alerts = run_catalogue(&history, &rules, 0);
    assert!(!alerts.is_empty());
    for a in &alerts {
        let on = a.dimension.get("channel").map(String::as_str);
        assert!(matches!(on, Some("email") | None), "{} fired on {:?}", a.rule.name, a.dimension);
        let fired = a.alert.incident.fired_window as i64;
        assert!((SPIKE_FROM..SPIKE_FROM + 3).contains(&fired), "{} fired in window {fired}", a.rule.name);
    }
    let on_email = |t: AlertType| {
        alerts.iter().any(|a| a.rule.alert_type() == t && a.dimension.get("channel").is_some_and(|c| c == "email"))
    };
    assert!(on_email(AlertType::SentimentSpike), "{alerts:?}");
    assert!(on_email(AlertType::HighVolumeNegative), "{alerts:?}");
    // One alert per (rule, dimension): the incident is not split.
    let mut keys: Vec<_> = alerts.iter().map(|a| (a.rule.name.clone(), a.dimension.clone())).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), alerts.len());
    // The same history gives the same alerts.
    assert_eq!(run_catalogue(&history, &rules, 0), alerts);

    db.drop().await;
}
