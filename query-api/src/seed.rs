//! `rtcx-query-api seed`: a synthetic feedback dataset generated inside ClickHouse (one
//! `INSERT … SELECT FROM numbers(N)`, so millions of rows take seconds to minutes and the
//! rollups fill through their materialized views as for real data). Deterministic per row
//! number: the same N and days give the same distributions.

/// The insert statement for `rows` rows spread over the last `days` days, with `topics`
/// (ids of catalogue topics) assigned to about 40 % of the rows.
/// Feedback rows not written by the seeder (whose rows carry source `seed`).
pub async fn real_feedback_rows(ch: &clickhouse::Client) -> Result<u64, clickhouse::error::Error> {
    ch.query("SELECT count() FROM feedback WHERE source != 'seed'").fetch_one::<u64>().await
}

pub fn seed_sql(rows: u64, days: u32, topics: &[uuid::Uuid]) -> String {
    let topic_list = topics.iter().map(|t| format!("toUUID('{t}')")).collect::<Vec<_>>().join(", ");
    let topics_expr = if topics.is_empty() {
        "CAST([] AS Array(UUID))".to_owned()
    } else {
        format!(
            "if(cityHash64(number, 9) % 10 < 4, [arrayElement([{topic_list}], 1 + cityHash64(number, 10) % {})], CAST([] AS Array(UUID)))",
            topics.len()
        )
    };
    format!(
        "INSERT INTO feedback (id, occurred_at, received_at, processed_at, channel, source, text, rating, nps, csat, \
           customer_id, segment, journey_stage, language, sentiment_label, sentiment_score, sentiment_confidence, \
           emotion_anger, emotion_disgust, emotion_fear, emotion_joy, emotion_neutral, emotion_sadness, emotion_surprise, \
           dominant_emotion, key_phrases, topic_ids, model_name, model_version) \
         SELECT generateUUIDv4(number) AS id, \
           now64(3) - toIntervalMillisecond(cityHash64(number, 1) % ({days} * 86400000)) AS occurred_at, \
           occurred_at AS received_at, occurred_at AS processed_at, \
           arrayElement(['web', 'mobile_app', 'email', 'chat', 'social', 'survey', 'call_center'], 1 + cityHash64(number, 2) % 7) AS channel, \
           'seed' AS source, \
           arrayElement(['The parcel arrived late', 'Great support, thanks', 'I was charged twice', 'Still waiting for my refund', \
                         'The app keeps crashing', 'Lovely staff in the store'], 1 + cityHash64(number, 3) % 6) AS text, \
           if(cityHash64(number, 4) % 5 = 0, toNullable(toUInt8(1 + cityHash64(number, 5) % 5)), NULL) AS rating, \
           if(cityHash64(number, 6) % 4 = 0, toNullable(toUInt8(cityHash64(number, 7) % 11)), NULL) AS nps, \
           if(cityHash64(number, 8) % 6 = 0, toNullable(toUInt8(1 + cityHash64(number, 11) % 5)), NULL) AS csat, \
           concat('c', toString(cityHash64(number, 12) % 200000)) AS customer_id, \
           arrayElement(['smb', 'enterprise', 'consumer', ''], 1 + cityHash64(number, 13) % 4) AS segment, \
           arrayElement(['awareness', 'purchase', 'onboarding', 'support', 'renewal'], 1 + cityHash64(number, 14) % 5) AS journey_stage, \
           'en' AS language, \
           multiIf(s < -0.3, 'negative', s > 0.3, 'positive', 'neutral') AS sentiment_label, \
           toFloat32(s) AS sentiment_score, toFloat32(0.5 + abs(s) / 2) AS sentiment_confidence, \
           toFloat32(if(s < -0.3, 0.4, 0.05)), toFloat32(0.05), toFloat32(0.05), toFloat32(if(s > 0.3, 0.6, 0.1)), \
           toFloat32(0.2), toFloat32(0.1), toFloat32(0.05), \
           multiIf(s < -0.3, 'anger', s > 0.3, 'joy', 'neutral') AS dominant_emotion, \
           CAST([] AS Array(String)) AS key_phrases, \
           {topics_expr} AS topic_ids, \
           'seed' AS model_name, '0' AS model_version \
         FROM (SELECT number, (cityHash64(number, 15) % 1000) / 1000.0 * 2 - 1 AS s FROM numbers({rows}))"
    )
}
