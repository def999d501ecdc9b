//! Smoke test of the real Kafka broker: topics are created idempotently, and a feedback event
//! produced with acks=all is consumed back unchanged.

mod common;

use std::time::Duration;

use chrono::Utc;
use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rtcx_schemas::FeedbackEvent;

#[tokio::test]
async fn produce_and_consume_a_feedback_event() {
    let brokers = common::env("RTCX_KAFKA_BROKERS");
    let topic = common::unique("rtcx.smoke");
    let created =
        rtcx_migrations::kafka_topics::ensure_topics(&brokers, &[(topic.as_str(), 3)], 1).await.expect("create topic");
    assert_eq!(created, vec![topic.clone()]);
    let again = rtcx_migrations::kafka_topics::ensure_topics(&brokers, &[(topic.as_str(), 3)], 1)
        .await
        .expect("create topic again");
    assert!(again.is_empty(), "an existing topic is left alone");

    // The stack's own topics exist (deploy/dev.sh runs `rtcx-migrate kafka`).
    rtcx_migrations::kafka_topics::ensure_topics(&brokers, &rtcx_schemas::topics::ALL, 1).await.expect("rtcx topics");

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .create()
        .expect("producer");
    let sub = serde_json::from_value(serde_json::json!({
        "channel": "social", "text": "Loving the new app update!", "customer_id": "c-7"
    }))
    .expect("submission");
    let event = FeedbackEvent::from_submission(sub, "smoke", Utc::now(), false);
    let payload = serde_json::to_vec(&event).expect("json");
    let key = event.kafka_key();
    let (partition, offset) = producer
        .send(FutureRecord::to(&topic).key(&key).payload(&payload), Duration::from_secs(10))
        .await
        .map(|d| (d.partition, d.offset))
        .expect("delivered");
    assert!(offset >= 0);

    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", common::unique("rtcx-smoke"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[&topic]).expect("subscribe");
    let msg = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
        .await
        .expect("a message within 30 s")
        .expect("consume");
    assert_eq!((msg.partition(), msg.offset()), (partition, offset));
    assert_eq!(msg.key(), Some(key.as_bytes()));
    let back: FeedbackEvent = serde_json::from_slice(msg.payload().expect("payload")).expect("parse");
    assert_eq!(back, event);
}
