//! Digests against the real Postgres, ClickHouse (a fresh, migrated database of their own) and
//! the dev SMTP server: feedback rows, topics and alerts are inserted for a past week in New
//! York, the figures the test computes from those rows are compared with what the digest read,
//! and the digests due at a given moment are queued once per reader and period (by each
//! reader's hour and time zone) and arrive by mail.
//!
//! The moment is a Monday 09:30 (New York, summer time: UTC−4) of a July between 2001 and 2019,
//! drawn per run, so that the alerts of the test are the only ones of their period.

mod common;

use std::time::Duration;

use chrono::{DateTime, Datelike, Days, NaiveDate, TimeZone, Utc, Weekday};
use common::{mails_to, postgres, take_queue, user};
use rtcx_notifier::digests::figures::{self, Period, Totals};
use rtcx_notifier::digests::round;
use rtcx_notifier::dispatch::{self, DispatchSettings, Senders};
use rtcx_notifier::email::sender::EmailSender;
use rtcx_notifier::retry::RetryPolicy;
use rtcx_notifier::webhook::sender::WebhookSender;
use rtcx_notifier::webhook::ssrf::TargetPolicy;
use rtcx_schemas::notifications::DigestFrequency;
use rtcx_service_kit::testing::{env, unique};
use sqlx::PgPool;
use uuid::Uuid;

const CONSOLE: &str = "https://rtcx.example.com";
const NEW_YORK: &str = "America/New_York";
/// New York's offset in July (EDT).
const EDT_HOURS: i64 = 4;

/// A feedback row as the test inserts it.
struct Row {
    at: DateTime<Utc>,
    label: &'static str,
    score: f64,
    emotion: &'static str,
    topics: Vec<Uuid>,
    nps: Option<u8>,
}

struct Setup {
    ch: clickhouse::Client,
    database: String,
    /// Monday 00:00 in New York (UTC).
    monday: DateTime<Utc>,
    /// Monday 09:30 in New York: "now".
    now: DateTime<Utc>,
    monday_date: NaiveDate,
    rows: Vec<Row>,
    /// (id, name); the last one has no catalogue entry.
    topics: Vec<(Uuid, String)>,
    alerts: Vec<Uuid>,
}

/// A small deterministic generator (the figures must not depend on chance, the period does).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

fn new_york_midnight(day: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight")) + chrono::Duration::hours(EDT_HOURS)
}

async fn setup(pg: &PgPool) -> Setup {
    let seed = Uuid::new_v4().as_u128() as u64;
    let year = 2001 + (seed % 19) as i32;
    let mut monday_date = NaiveDate::from_ymd_opt(year, 7, 1).expect("date");
    while monday_date.weekday() != Weekday::Mon {
        monday_date = monday_date.succ_opt().expect("date");
    }
    monday_date = monday_date + Days::new(7 * ((seed >> 8) % 3));
    let monday = new_york_midnight(monday_date);
    let now = monday + chrono::Duration::minutes(9 * 60 + 30);

    let database = unique("rtcx_digest").to_lowercase();
    let server = clickhouse::Client::default().with_url(env("RTCX_CLICKHOUSE_URL"));
    rtcx_migrations::ClickHouseMigrator::new(server.clone(), &database)
        .expect("migrator")
        .run()
        .await
        .expect("migrate the test database");
    let ch = server.with_database(&database);

    let tag = unique("t");
    let mut topics = Vec::new();
    for name in ["billing", "delivery", "app login", "refunds", "staff"] {
        let id: Uuid = sqlx::query_scalar("INSERT INTO topics (name) VALUES ($1) RETURNING id")
            .bind(format!("{name} {tag}"))
            .fetch_one(pg)
            .await
            .expect("topic");
        topics.push((id, format!("{name} {tag}")));
    }
    let orphan = Uuid::new_v4();
    topics.push((orphan, orphan.to_string()));

    // Every 23 minutes from 16 days before Monday to a day after it.
    let mut rng = Lcg(7);
    let mut rows = Vec::new();
    let mut at = monday - chrono::Duration::days(16);
    let mut i = 0u64;
    while at < monday + chrono::Duration::days(1) {
        let r = rng.next();
        let label = ["negative", "neutral", "positive", "positive", "negative"][(r % 5) as usize];
        let score = match label {
            "negative" => -0.5 - (r % 7) as f64 / 20.0,
            "positive" => 0.4 + (r % 5) as f64 / 10.0,
            _ => 0.0,
        };
        let emotion = ["joy", "anger", "sadness", "neutral", "joy", "fear", "anger"][((r >> 4) % 7) as usize];
        // Topic k on every (k + 2)-th row; the orphan on one row a day.
        let mut t: Vec<Uuid> = (0..5).filter(|k| i.is_multiple_of(k + 2)).map(|k| topics[k as usize].0).collect();
        if i % 63 == 5 {
            t.push(orphan);
        }
        let nps = r.is_multiple_of(4).then_some(((r >> 7) % 11) as u8);
        rows.push(Row { at, label, score, emotion, topics: t, nps });
        at += chrono::Duration::minutes(23);
        i += 1;
    }
    // A burst on Sunday afternoon in New York (Monday morning in Tokyo): the periods differ.
    for k in 0..20 {
        let at = monday - chrono::Duration::hours(8) + chrono::Duration::minutes(k);
        rows.push(Row { at, label: "negative", score: -0.9, emotion: "anger", topics: vec![topics[1].0], nps: None });
    }
    let values: Vec<String> = rows
        .iter()
        .map(|r| {
            let topics: Vec<String> = r.topics.iter().map(|t| format!("'{t}'")).collect();
            let nps = r.nps.map_or_else(|| "NULL".to_owned(), |n| n.to_string());
            format!(
                "(generateUUIDv4(), toDateTime64({t}, 3, 'UTC'), toDateTime64({t}, 3, 'UTC'), toDateTime64({t}, 3, 'UTC'), \
                 'web', 'digest test', '{}', {}, '{}', [{}], {nps}, 'rtcx')",
                r.label,
                r.score,
                r.emotion,
                topics.join(", "),
                t = r.at.timestamp(),
            )
        })
        .collect();
    ch.query(&format!(
        "INSERT INTO feedback (id, occurred_at, received_at, processed_at, channel, text, sentiment_label, \
         sentiment_score, dominant_emotion, topic_ids, nps, model_name) VALUES {}",
        values.join(", ")
    ))
    .execute()
    .await
    .expect("insert feedback");

    // Alerts: (severity, status, created, backfill); an earlier run's that failed half-way go.
    sqlx::query("DELETE FROM alerts WHERE title LIKE 'digest alert %'").execute(pg).await.expect("old alerts");
    let sunday = monday - chrono::Duration::days(1);
    let alerts = [
        ("CRITICAL", "OPEN", sunday + chrono::Duration::hours(10), false),
        ("HIGH", "RESOLVED", sunday + chrono::Duration::hours(15), false),
        ("MEDIUM", "OPEN", sunday + chrono::Duration::hours(16), true),
        ("HIGH", "IN_PROGRESS", monday - chrono::Duration::days(5), false),
        ("LOW", "OPEN", monday - chrono::Duration::days(30), false),
        ("CRITICAL", "OPEN", monday + chrono::Duration::hours(12), false),
    ];
    let mut ids = Vec::new();
    for (n, (severity, status, created, backfill)) in alerts.into_iter().enumerate() {
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO alerts (id, alert_type, severity, status, title, window_start, window_end, created_at, backfill) \
             VALUES ($1, 'SENTIMENT_SPIKE', $2, $3, $4, $5, $5 + interval '5 minutes', $5, $6)",
        )
        .bind(id)
        .bind(severity)
        .bind(status)
        .bind(format!("digest alert {n} {tag}"))
        .bind(created)
        .bind(backfill)
        .execute(pg)
        .await
        .expect("alert");
        ids.push(id);
    }
    Setup { ch, database, monday, now, monday_date, rows, topics, alerts: ids }
}

async fn teardown(pg: &PgPool, s: &Setup) {
    sqlx::query("DELETE FROM alerts WHERE id = ANY($1)").bind(&s.alerts).execute(pg).await.expect("alerts");
    let topics: Vec<Uuid> = s.topics.iter().map(|t| t.0).collect();
    sqlx::query("DELETE FROM topics WHERE id = ANY($1)").bind(&topics).execute(pg).await.expect("topics");
    let server = clickhouse::Client::default().with_url(env("RTCX_CLICKHOUSE_URL"));
    server.query(&format!("DROP DATABASE IF EXISTS {} SYNC", s.database)).execute().await.expect("drop");
}

/// What the test expects of rows in [from, to).
fn totals(rows: &[Row], from: DateTime<Utc>, to: DateTime<Utc>) -> Totals {
    let mut t = Totals::default();
    for r in rows.iter().filter(|r| r.at >= from && r.at < to) {
        t.feedback += 1;
        match r.label {
            "negative" => t.negative += 1,
            "neutral" => t.neutral += 1,
            _ => t.positive += 1,
        }
        t.score_sum += r.score;
        if let Some(n) = r.nps {
            t.nps_answers += 1;
            t.promoters += u64::from(n >= 9);
            t.detractors += u64::from(n <= 6);
        }
    }
    t
}

fn assert_totals(got: &Totals, want: &Totals, what: &str) {
    let exact = |t: &Totals| (t.feedback, t.negative, t.neutral, t.positive, t.nps_answers, t.promoters, t.detractors);
    assert_eq!(exact(got), exact(want), "{what}");
    // The rows hold f32 scores: sums agree to f32 precision.
    assert!((got.score_sum - want.score_sum).abs() < 1e-3 * want.feedback.max(1) as f64, "{what}: {got:?} {want:?}");
}

/// The period the test expects for a New York reader.
fn new_york_period(s: &Setup, frequency: DigestFrequency) -> Period {
    let span = if frequency == DigestFrequency::Daily { 1 } else { 7 };
    let first_day = s.monday_date - Days::new(span);
    Period {
        frequency,
        time_zone: NEW_YORK.into(),
        first_day,
        start: new_york_midnight(first_day),
        end: s.monday,
        previous_start: new_york_midnight(s.monday_date - Days::new(2 * span)),
        days: (1..=7).rev().map(|k| s.monday_date - Days::new(k)).map(|d| (d, new_york_midnight(d))).collect(),
    }
}

fn expected_topics(s: &Setup, p: &Period) -> Vec<(Uuid, u64, u64, u64)> {
    let mut out: Vec<(Uuid, u64, u64, u64)> = s
        .topics
        .iter()
        .map(|(id, _)| {
            let with = |from, to| s.rows.iter().filter(move |r| r.at >= from && r.at < to && r.topics.contains(id));
            (
                *id,
                with(p.start, p.end).count() as u64,
                with(p.start, p.end).filter(|r| r.label == "negative").count() as u64,
                with(p.previous_start, p.start).count() as u64,
            )
        })
        .filter(|t| t.1 > 0)
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    out.truncate(figures::LISTED);
    out
}

#[tokio::test]
async fn digest_figures_match_the_inserted_rows_and_mail_once_per_period() {
    let pg = postgres().await;
    let _queue = take_queue(&pg).await;
    let s = setup(&pg).await;

    let mut daily_top = String::new();
    for frequency in [DigestFrequency::Daily, DigestFrequency::Weekly] {
        let p = new_york_period(&s, frequency);
        let f = figures::read(&s.ch, &pg, &p, s.now).await.expect("figures");
        let what = format!("{frequency:?}");
        assert_totals(&f.current, &totals(&s.rows, p.start, p.end), &format!("{what}: the period"));
        assert_totals(&f.previous, &totals(&s.rows, p.previous_start, p.start), &format!("{what}: the one before"));
        assert!(f.current.feedback > 50 && f.previous.feedback > 50, "{what}: {:?}", f.current);
        assert_eq!(f.days.len(), 7);
        for (d, (day, start)) in f.days.iter().zip(&p.days) {
            assert_eq!(d.day, *day);
            assert_totals(&d.totals, &totals(&s.rows, *start, *start + chrono::Duration::days(1)), &format!("{day}"));
        }
        // Topics: the busiest, by feedback, with their negatives and the period before.
        let got: Vec<(Uuid, u64, u64, u64)> =
            f.topics.iter().map(|t| (t.id, t.feedback, t.negative, t.previous)).collect();
        assert_eq!(got, expected_topics(&s, &p), "{what}: topics");
        let named = |id: Uuid| s.topics.iter().find(|t| t.0 == id).map(|t| t.1.clone());
        assert!(f.topics.iter().all(|t| Some(&t.name) == named(t.id).as_ref()), "named from the catalogue");
        if frequency == DigestFrequency::Daily {
            daily_top = f.topics[0].name.clone();
        }
        // Emotions: feedback by dominant emotion, most frequent first.
        let mut emotions: Vec<(String, u64)> = Vec::new();
        for r in s.rows.iter().filter(|r| r.at >= p.start && r.at < p.end) {
            match emotions.iter_mut().find(|(e, _)| e == r.emotion) {
                Some((_, n)) => *n += 1,
                None => emotions.push((r.emotion.to_owned(), 1)),
            }
        }
        emotions.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        assert_eq!(f.emotions, emotions, "{what}: emotions");
        // Alerts: raised in the period (not the backfilled one); open before "now", most
        // severe first.
        let raised = if frequency == DigestFrequency::Daily { 2 } else { 3 };
        assert_eq!(f.alerts.raised, raised, "{what}: alerts raised");
        let open: Vec<Uuid> = f.alerts.open.iter().map(|a| a.id).collect();
        assert_eq!(open, [s.alerts[0], s.alerts[3], s.alerts[2], s.alerts[4]], "{what}: open alerts");
        let by_severity: Vec<(&str, i64)> = f.alerts.open_by_severity.iter().map(|(s, n)| (s.as_str(), *n)).collect();
        assert_eq!(by_severity, [("CRITICAL", 1), ("HIGH", 1), ("MEDIUM", 1), ("LOW", 1)]);
    }

    // Readers: who is due at 09:30 on Monday in New York.
    let tag = unique("d").to_lowercase();
    let address = |who: &str| format!("{who}.{tag}@example.test");
    let mut readers = Vec::new();
    for (who, digest, hour, zone, opt_out) in [
        ("daily", "daily", 9, NEW_YORK, false),
        ("weekly", "weekly", 9, NEW_YORK, false),
        ("tokyo", "daily", 8, "Asia/Tokyo", false),
        ("later", "daily", 10, NEW_YORK, false),
        ("optout", "daily", 9, NEW_YORK, true),
        ("mars", "daily", 0, "Mars/Olympus_Mons", false),
        ("none", "none", 0, NEW_YORK, false),
    ] {
        let id = user(&pg, &address(who), "MANAGER").await;
        sqlx::query(
            "INSERT INTO notification_preferences (user_id, email_opt_out, digest, digest_hour, time_zone) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(opt_out)
        .bind(digest)
        .bind(hour)
        .bind(zone)
        .execute(&pg)
        .await
        .expect("preferences");
        readers.push(id);
    }
    let inactive = user(&pg, &address("inactive"), "MANAGER").await;
    sqlx::query("INSERT INTO notification_preferences (user_id, digest) VALUES ($1, 'daily')")
        .bind(inactive)
        .execute(&pg)
        .await
        .expect("preferences");
    sqlx::query("UPDATE users SET active = false WHERE id = $1").bind(inactive).execute(&pg).await.expect("deactivate");

    let queued_to = |pg: PgPool, tag: String| async move {
        let rows: Vec<(String, String, serde_json::Value)> = sqlx::query_as(
            "SELECT recipient, message_id, payload FROM notification_deliveries \
             WHERE recipient LIKE '%' || $1 || '%' ORDER BY recipient",
        )
        .bind(tag)
        .fetch_all(&pg)
        .await
        .expect("deliveries");
        rows
    };
    assert!(round(&pg, &s.ch, CONSOLE, s.now - chrono::Duration::hours(1)).await.is_ok());
    let before: Vec<String> = queued_to(pg.clone(), tag.clone()).await.into_iter().map(|r| r.0).collect();
    assert_eq!(before, [address("tokyo")], "at 08:30 New York only Tokyo's evening has come");
    round(&pg, &s.ch, CONSOLE, s.now).await.expect("round");
    let queued = queued_to(pg.clone(), tag.clone()).await;
    let who: Vec<&str> = queued.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(who, [address("daily"), address("tokyo"), address("weekly")], "due at 09:30 New York");
    let sunday = s.monday_date - Days::new(1);
    assert_eq!(queued[0].1, format!("msg_digest_daily_{}", sunday.format("%Y-%m-%d")));
    assert_eq!(queued[1].1, format!("msg_digest_daily_{}", sunday.format("%Y-%m-%d")), "Tokyo's Sunday");
    let week = s.monday_date - Days::new(7);
    assert_eq!(queued[2].1, format!("msg_digest_weekly_{}", week.format("%Y-%m-%d")));
    // Once per period, however often the notifiers look.
    round(&pg, &s.ch, CONSOLE, s.now + chrono::Duration::minutes(5)).await.expect("round");
    assert_eq!(queued_to(pg.clone(), tag.clone()).await.len(), 3, "nothing queued twice");

    // The mail says the figures of its reader's period.
    let daily = totals(&s.rows, new_york_midnight(sunday), s.monday);
    let tokyo_sunday = Utc.from_utc_datetime(&sunday.and_hms_opt(0, 0, 0).expect("t")) - chrono::Duration::hours(9);
    let tokyo = totals(&s.rows, tokyo_sunday, tokyo_sunday + chrono::Duration::days(1));
    assert_ne!(daily.feedback, tokyo.feedback, "two periods, two sets of figures");
    let settings = DispatchSettings {
        batch: 50,
        concurrency: 4,
        idle: Duration::from_millis(20),
        lease: Duration::from_secs(15),
        retry: RetryPolicy { base: Duration::from_millis(100), max: Duration::from_millis(300), max_attempts: 3 },
    };
    let senders = Senders {
        webhook: WebhookSender::new(TargetPolicy { allow_private: false }, Duration::from_secs(2), None).expect("web"),
        email: Some(
            EmailSender::new(&env("RTCX_SMTP_URL"), "rtcx <digests@rtcx.test>", Duration::from_secs(5)).expect("smtp"),
        ),
    };
    let day_name = sunday.format("%A %-d %B %Y").to_string();
    let pct = |t: &Totals| format!("{:.1}%", 100.0 * t.negative as f64 / t.feedback as f64);
    for _ in 0..100 {
        dispatch::round(&pg, &senders, &settings).await.expect("dispatch");
        if ["daily", "tokyo", "weekly"].iter().all(|w| !mails_to(&address(w)).is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mail = mails_to(&address("daily"));
    assert_eq!(mail.len(), 1, "one daily digest");
    assert!(
        mail[0].subject.starts_with(&format!(
            "[rtcx] Daily digest, {day_name}: {} feedback, {} negative",
            daily.feedback,
            pct(&daily)
        )),
        "{}",
        mail[0].subject
    );
    assert!(mail[0].text.contains(&format!("({NEW_YORK})")), "{}", mail[0].text);
    assert!(mail[0].text.contains(&format!("  - {daily_top}: ")), "the busiest topic by name: {}", mail[0].text);
    assert!(mail[0].text.contains("2 raised in the period"), "{}", mail[0].text);
    assert!(mail[0].html.contains(&format!("{CONSOLE}/alerts/{}", s.alerts[0])), "{}", mail[0].html);
    let mail = mails_to(&address("tokyo"));
    assert!(mail[0].subject.contains(&format!(": {} feedback, {} negative", tokyo.feedback, pct(&tokyo))));
    let mail = mails_to(&address("weekly"));
    let weekly = totals(&s.rows, new_york_midnight(s.monday_date - Days::new(7)), s.monday);
    assert!(mail[0].subject.starts_with("[rtcx] Weekly digest, Monday"), "{}", mail[0].subject);
    assert!(mail[0].subject.contains(&format!(": {} feedback, ", weekly.feedback)), "{}", mail[0].subject);
    for who in ["later", "optout", "mars", "none", "inactive"] {
        assert!(mails_to(&address(who)).is_empty(), "{who} gets no digest");
    }
    teardown(&pg, &s).await;
}

/// Bulk mail (digests, reminders) due earlier is claimed after a new alert's mail due later:
/// a morning's digests never delay an alert.
#[tokio::test]
async fn bulk_mail_is_claimed_after_the_rest() {
    use rtcx_notifier::deliveries::{NewDelivery, Target, claim, enqueue};
    let pg = postgres().await;
    let _queue = take_queue(&pg).await;
    let tag = unique("b").to_lowercase();
    let mut expected = Vec::new();
    for (n, bulk) in [(0, true), (1, true), (2, false)] {
        let d = NewDelivery {
            message_id: format!("msg_bulk_{tag}_{n}"),
            target: Target::Email(format!("reader.{tag}@example.test")),
            event_type: if bulk { "digest.daily".into() } else { "alert.created".into() },
            payload: serde_json::json!({"subject": "s", "text": "t", "html": "h"}),
            event_at: Utc::now(),
            sensitive: false,
            group_key: None,
            delay: Duration::ZERO,
            bulk,
        };
        assert!(enqueue(&pg, &d).await.expect("enqueue"));
        expected.push(d.message_id);
        // Each later than the one before.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first = claim(&pg, &["email"], 1, Duration::from_secs(30)).await.expect("claim");
    assert_eq!(first.iter().map(|c| c.message_id.as_str()).collect::<Vec<_>>(), [expected[2].as_str()]);
    let rest = claim(&pg, &["email"], 10, Duration::from_secs(30)).await.expect("claim");
    let ids: Vec<&str> = rest.iter().map(|c| c.message_id.as_str()).collect();
    assert_eq!(ids, [expected[0].as_str(), expected[1].as_str()], "then the bulk ones, oldest first");
    sqlx::query("UPDATE notification_deliveries SET status = 'skipped' WHERE message_id LIKE 'msg_bulk_' || $1 || '%'")
        .bind(&tag)
        .execute(&pg)
        .await
        .expect("clean up");
}
