//! ClickHouse migrations apply twice idempotently; the feedback table takes and returns rows
//! through the `clickhouse` crate; the hourly rollup follows inserts; the data teams' login
//! can read but not write.

mod common;

use chrono::{DurationRound as _, TimeDelta, Utc};
use clickhouse::Row;
use rtcx_migrations::clickhouse_runner::{ClickHouseMigrator, MIGRATIONS, MigrationError};
use rtcx_schemas::rows::FeedbackRow;
use rtcx_schemas::{Channel, EmotionScores, EnrichedFeedback, FeedbackEvent, ModelInfo, Sentiment, SentimentLabel};
use serde::Deserialize;

struct TempDb {
    client: clickhouse::Client,
    name: String,
}

impl TempDb {
    async fn new() -> Self {
        Self { client: common::clickhouse_admin(), name: common::unique("rtcx_chtest") }
    }
    fn client(&self) -> clickhouse::Client {
        self.client.clone().with_database(&self.name)
    }
    async fn drop(self) {
        self.client.query(&format!("DROP DATABASE IF EXISTS {}", self.name)).execute().await.expect("drop database");
    }
}

fn enriched(channel: Channel, label: SentimentLabel, score: f32, nps: Option<u8>) -> EnrichedFeedback {
    let mut ev = FeedbackEvent::from_submission(
        serde_json::from_value(serde_json::json!({"channel": channel.as_str(), "text": "The parcel was late"}))
            .expect("submission"),
        "test",
        Utc::now(),
        false,
    );
    ev.nps = nps;
    ev.customer_id = Some("c-1".into());
    ev.metadata.insert("order".into(), "o-9".into());
    EnrichedFeedback {
        feedback: ev,
        sentiment: Sentiment { label, score, confidence: 0.8 },
        emotions: EmotionScores::from_array([0.7, 0.05, 0.05, 0.0, 0.1, 0.1, 0.0]),
        dominant_emotion: rtcx_schemas::Emotion::Anger,
        key_phrases: vec!["late parcel".into()],
        topic_ids: vec![uuid::Uuid::now_v7()],
        topic_reasons: Vec::new(),
        language: "en".into(),
        model: ModelInfo { name: "test-model".into(), version: "1".into() },
        processed_at: Utc::now(),
    }
}

#[tokio::test]
async fn migrations_apply_twice_idempotently() {
    let db = TempDb::new().await;
    let migrator = ClickHouseMigrator::new(common::clickhouse_admin(), &db.name).expect("migrator");
    let first = migrator.run().await.expect("first run");
    assert_eq!(first.applied, MIGRATIONS.iter().map(|m| m.version).collect::<Vec<_>>());
    assert!(first.skipped.is_empty());

    let second = migrator.run().await.expect("second run");
    assert!(second.applied.is_empty(), "second run applied {:?}", second.applied);
    assert_eq!(second.skipped.len(), MIGRATIONS.len());

    let tables: Vec<String> = db
        .client()
        .query("SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name")
        .fetch_all()
        .await
        .expect("tables");
    for t in [
        "feedback",
        "feedback_hourly",
        "feedback_hourly_mv",
        "feedback_ids",
        "feedback_topic_hourly",
        "feedback_topic_daily",
        "feedback_emotion_hourly",
        "feedback_segment_daily",
        "feedback_journey_daily",
        "feedback_minute",
        "feedback_topic_minute",
        "feedback_topic_corrections",
        "feedback_topic_corrections_minute_mv",
        "rtcx_schema_migrations",
    ] {
        assert!(tables.iter().any(|x| x == t), "{t} missing: {tables:?}");
    }
    let recorded: u64 =
        db.client().query("SELECT count() FROM rtcx_schema_migrations").fetch_one().await.expect("count");
    assert_eq!(recorded, MIGRATIONS.len() as u64, "each migration recorded once");
    db.drop().await;
}

#[tokio::test]
async fn the_text_retention_is_a_column_ttl_that_can_be_removed() {
    let db = TempDb::new().await;
    let migrator = ClickHouseMigrator::new(common::clickhouse_admin(), &db.name).expect("migrator");
    migrator.run().await.expect("migrate");
    let ddl = || async {
        db.client()
            .query(
                "SELECT create_table_query FROM system.tables WHERE database = currentDatabase() AND name = 'feedback'",
            )
            .fetch_one::<String>()
            .await
            .expect("ddl")
    };
    migrator.set_text_retention(Some(90)).await.expect("set retention");
    let with = ddl().await;
    assert!(with.contains("trimmed' TTL toDateTime(occurred_at) + toIntervalDay(90)"), "{with}");
    // The embedding carries the text's meaning: it goes with it, keeping its codec.
    assert!(
        with.contains(
            "empty when the engine gives none' CODEC(ZSTD(3)) TTL toDateTime(occurred_at) + toIntervalDay(90)"
        ),
        "{with}"
    );
    migrator.set_text_retention(None).await.expect("remove retention");
    assert!(!ddl().await.contains("TTL toDateTime(occurred_at)"), "TTL removed");
    migrator.set_text_retention(None).await.expect("removing twice is fine");
    db.drop().await;
}

#[tokio::test]
async fn an_edited_migration_is_refused() {
    let db = TempDb::new().await;
    let migrator = ClickHouseMigrator::new(common::clickhouse_admin(), &db.name).expect("migrator");
    migrator.run().await.expect("first run");
    db.client()
        .query("ALTER TABLE rtcx_schema_migrations UPDATE checksum = 'edited' WHERE version = 1")
        .with_setting("mutations_sync", "1")
        .execute()
        .await
        .expect("tamper");
    match migrator.run().await {
        Err(MigrationError::ChecksumMismatch { version, .. }) => assert_eq!(version, 1),
        other => panic!("expected a checksum mismatch, got {other:?}"),
    }
    db.drop().await;
}

#[derive(Debug, Row, Deserialize)]
struct HourlyTotals {
    channel: String,
    sentiment_label: String,
    feedback_count: u64,
    nps_count: u64,
    nps_promoters: u64,
    nps_detractors: u64,
}

#[tokio::test]
async fn feedback_rows_round_trip_and_feed_the_hourly_rollup() {
    let db = TempDb::new().await;
    ClickHouseMigrator::new(common::clickhouse_admin(), &db.name).expect("migrator").run().await.expect("migrate");
    let client = db.client();

    let events = [
        enriched(Channel::Email, SentimentLabel::Negative, -0.8, Some(2)),
        enriched(Channel::Email, SentimentLabel::Negative, -0.6, Some(10)),
        enriched(Channel::Chat, SentimentLabel::Positive, 0.9, None),
    ];
    let rows: Vec<FeedbackRow> = events.iter().map(FeedbackRow::from).collect();
    let mut insert = client.insert::<FeedbackRow>("feedback").await.expect("insert");
    for r in &rows {
        insert.write(r).await.expect("write row");
    }
    insert.end().await.expect("end insert");

    let mut back: Vec<FeedbackRow> =
        client.query("SELECT ?fields FROM feedback ORDER BY id").fetch_all().await.expect("read rows");
    let mut expected = rows.clone();
    expected.sort_by_key(|r| r.id);
    back.sort_by_key(|r| r.id);
    // DateTime64(3) keeps milliseconds.
    for r in &mut expected {
        for t in [&mut r.occurred_at, &mut r.received_at, &mut r.processed_at] {
            *t = t.duration_trunc(TimeDelta::milliseconds(1)).expect("trunc");
        }
    }
    assert_eq!(back, expected, "rows come back field by field");

    let totals: Vec<HourlyTotals> = client
        .query(
            "SELECT channel, sentiment_label, sum(feedback_count) AS feedback_count, sum(nps_count) AS nps_count,
                    sum(nps_promoters) AS nps_promoters, sum(nps_detractors) AS nps_detractors
             FROM feedback_hourly GROUP BY channel, sentiment_label ORDER BY channel, sentiment_label",
        )
        .fetch_all()
        .await
        .expect("rollup");
    assert_eq!(totals.len(), 2, "{totals:?}");
    assert_eq!((totals[0].channel.as_str(), totals[0].sentiment_label.as_str()), ("chat", "positive"));
    assert_eq!(totals[0].feedback_count, 1);
    assert_eq!(totals[0].nps_count, 0);
    assert_eq!((totals[1].channel.as_str(), totals[1].feedback_count), ("email", 2));
    assert_eq!((totals[1].nps_count, totals[1].nps_promoters, totals[1].nps_detractors), (2, 1, 1));
    db.drop().await;
}

#[tokio::test]
async fn a_retried_insert_with_the_same_token_is_counted_once() {
    let db = TempDb::new().await;
    ClickHouseMigrator::new(common::clickhouse_admin(), &db.name).expect("migrator").run().await.expect("migrate");
    let client = db.client().with_setting("insert_deduplication_token", "raw-p0-o0-o1");
    let rows: Vec<FeedbackRow> = [
        enriched(Channel::Web, SentimentLabel::Neutral, 0.0, None),
        enriched(Channel::Web, SentimentLabel::Negative, -0.5, None),
    ]
    .iter()
    .map(FeedbackRow::from)
    .collect();
    for _attempt in 0..2 {
        let mut insert = client.insert::<FeedbackRow>("feedback").await.expect("insert");
        for r in &rows {
            insert.write(r).await.expect("write");
        }
        insert.end().await.expect("end");
    }
    let raw: u64 = db.client().query("SELECT count() FROM feedback").fetch_one().await.expect("count");
    let rolled: u64 =
        db.client().query("SELECT sum(feedback_count) FROM feedback_hourly").fetch_one().await.expect("sum");
    assert_eq!((raw, rolled), (2, 2), "a retried insert must not double count, in the table or the rollup");
    // The detectors' minute rollup too, with its per-label counts and sums of squares.
    let (minute_rows, negatives, sq): (u64, u64, f64) = db
        .client()
        .query("SELECT sum(feedback_count), sum(negative_count), sum(sentiment_score_sq_sum) FROM feedback_minute")
        .fetch_one()
        .await
        .expect("minute rollup");
    assert_eq!((minute_rows, negatives), (2, 1));
    assert!((sq - 0.25).abs() < 1e-6, "{sq}");
    db.drop().await;
}

#[tokio::test]
async fn the_analyst_login_reads_but_cannot_write() {
    let database = common::env("RTCX_CLICKHOUSE_DATABASE");
    // The stack's own database is migrated by deploy/dev.sh; make sure here too.
    ClickHouseMigrator::new(common::clickhouse_admin(), &database).expect("migrator").run().await.expect("migrate");
    let analyst = clickhouse::Client::default()
        .with_url(common::env("RTCX_CLICKHOUSE_URL"))
        .with_user(common::env("RTCX_CLICKHOUSE_ANALYST_USER"))
        .with_password(common::env("RTCX_CLICKHOUSE_ANALYST_PASSWORD"))
        .with_database(&database);
    let _: u64 = analyst.query("SELECT count() FROM feedback").fetch_one().await.expect("analyst can read feedback");
    let _: u64 =
        analyst.query("SELECT count() FROM feedback_hourly").fetch_one().await.expect("analyst can read rollups");
    let write = analyst.query("INSERT INTO feedback_hourly (channel) VALUES ('x')").execute().await;
    assert!(write.is_err(), "analyst must not write");
    let ddl = analyst.query("CREATE TABLE x (a UInt8) ENGINE = Memory").execute().await;
    assert!(ddl.is_err(), "analyst must not create tables");
    let wrong = clickhouse::Client::default()
        .with_url(common::env("RTCX_CLICKHOUSE_URL"))
        .with_user(common::env("RTCX_CLICKHOUSE_ANALYST_USER"))
        .with_password("wrong-password");
    assert!(wrong.query("SELECT 1").fetch_one::<u8>().await.is_err(), "a wrong password is refused");
}
