//! The ingest endpoints against the real Kafka broker and Postgres: accepted events are read
//! back from Kafka, and every error of the error table has a test.

mod common;

use std::io::Write as _;
use std::time::Duration;

use common::{Options, TestApp, create_key, token};
use reqwest::StatusCode;
use rtcx_ingest::app::{Limits, RateLimits};
use rtcx_ingest::rate_limit::Rate;
use rtcx_schemas::{Channel, FeedbackEvent};
use serde_json::{Value, json};

async fn json_body(resp: reqwest::Response) -> Value {
    resp.json().await.expect("JSON body")
}

fn error_code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn single_event_is_acknowledged_and_consumed_back_field_by_field() {
    let app = TestApp::start().await;
    let body = json!({
        "channel": "email",
        "text": "  My refund still has not arrived after three weeks.  ",
        "occurred_at": "2026-11-01T10:00:00Z",
        "rating": 1, "nps": 2, "csat": 1,
        "customer_id": "cust-1", "segment": "enterprise", "journey_stage": "support",
        "language": "en-US", "metadata": {"ticket": "T-9"}, "external_id": "zd-77"
    });
    let resp = app.post("/v1/feedback", body.to_string()).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert!(resp.headers().contains_key("x-request-id"), "responses carry a request id");
    let id = json_body(resp).await["id"].as_str().expect("id").parse::<uuid::Uuid>().expect("uuid");

    let events = app.consume(1).await;
    let ev = &events[0];
    assert_eq!(ev.id, id);
    assert_eq!(ev.id, FeedbackEvent::derive_id(&app.source, None, Some("zd-77")), "external id keys the id");
    assert_eq!(ev.channel, Channel::Email);
    assert_eq!(ev.text, "My refund still has not arrived after three weeks.");
    assert_eq!(ev.occurred_at.to_rfc3339(), "2026-11-01T10:00:00+00:00");
    assert_eq!((ev.rating, ev.nps, ev.csat), (Some(1), Some(2), Some(1)));
    assert_eq!(ev.customer_id.as_deref(), Some("cust-1"));
    assert_eq!(ev.segment.as_deref(), Some("enterprise"));
    assert_eq!(ev.journey_stage.as_deref(), Some("support"));
    assert_eq!(ev.language.as_deref(), Some("en-US"));
    assert_eq!(ev.metadata.get("ticket").map(String::as_str), Some("T-9"));
    assert_eq!(ev.source, app.source);
    assert!(!ev.anonymous);
    assert!((chrono::Utc::now() - ev.received_at).num_seconds().abs() < 60);
    assert_eq!(ev.kafka_key(), format!("{}/cust-1", app.source));
}

#[tokio::test]
async fn the_same_idempotency_key_yields_the_same_id() {
    let app = TestApp::start().await;
    let send = || {
        app.http
            .post(format!("{}/v1/feedback", app.url))
            .header("x-api-key", &app.key)
            .header("content-type", "application/json")
            .header("idempotency-key", "retry-me-1")
            .body(json!({"channel": "chat", "text": "Where is my order?"}).to_string())
            .send()
    };
    let a = json_body(send().await.expect("first")).await;
    let b = json_body(send().await.expect("retry")).await;
    assert_eq!(a["id"], b["id"]);
    let events = app.consume(2).await;
    assert_eq!(events[0].id, events[1].id);
    assert_eq!(events[0].idempotency_key.as_deref(), Some("retry-me-1"));
    let without = json_body(app.post("/v1/feedback", json!({"channel": "chat", "text": "x"}).to_string()).await).await;
    assert_ne!(without["id"], a["id"], "events without a key get fresh UUIDv7 ids");
}

#[tokio::test]
async fn a_partly_invalid_batch_accepts_the_valid_items() {
    let app = TestApp::start().await;
    let batch = json!([
        {"channel": "web", "text": "Love the new design", "idempotency_key": "b-1"},
        {"channel": "web", "text": "", "rating": 9},
        {"channel": "fax", "text": "unknown channel"},
        {"channel": "survey", "text": "Okay I guess", "nps": 7}
    ]);
    let resp = app.post("/v1/feedback/batch", batch.to_string()).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let body = json_body(resp).await;
    let accepted: Vec<u64> =
        body["accepted"].as_array().expect("accepted").iter().map(|a| a["index"].as_u64().expect("index")).collect();
    assert_eq!(accepted, vec![0, 3]);
    let rejected = body["rejected"].as_array().expect("rejected");
    assert_eq!(rejected.len(), 2);
    assert_eq!(rejected[0]["index"], 1);
    assert_eq!(rejected[0]["code"], "validation_failed");
    let fields: Vec<&str> = rejected[0]["details"]
        .as_array()
        .expect("details")
        .iter()
        .map(|d| d["field"].as_str().expect("field"))
        .collect();
    assert_eq!(fields, vec!["text", "rating"]);
    assert_eq!(rejected[1]["index"], 2);
    assert_eq!(rejected[1]["code"], "malformed_json");
    assert!(rejected[1]["message"].as_str().expect("msg").contains("channel"), "{}", rejected[1]);

    let mut events = app.consume(2).await;
    events.sort_by_key(|e| e.text.clone());
    assert_eq!(events[0].text, "Love the new design");
    assert_eq!(events[0].id, FeedbackEvent::derive_id(&app.source, Some("b-1"), None));
    assert_eq!(events[1].nps, Some(7));
    let ids: Vec<&str> =
        body["accepted"].as_array().expect("accepted").iter().map(|a| a["id"].as_str().expect("id")).collect();
    for ev in &events {
        assert!(ids.contains(&ev.id.to_string().as_str()));
    }
}

#[tokio::test]
async fn a_wholly_invalid_batch_is_a_400_and_writes_nothing() {
    let app = TestApp::start().await;
    let resp = app.post("/v1/feedback/batch", json!([{"channel": "web", "text": " "}]).to_string()).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body = json_body(resp).await;
    assert_eq!(body["accepted"].as_array().map(Vec::len), Some(0));
    assert_eq!(body["rejected"][0]["details"][0]["field"], "text");
    let resp = app.post("/v1/feedback/batch", "[]").await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = app.post("/v1/feedback/batch", json!({"channel": "web"}).to_string()).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&json_body(resp).await), "malformed_json");
    // Nothing reached the topic: a valid event sent now is the first one there.
    app.post("/v1/feedback", json!({"channel": "web", "text": "marker"}).to_string()).await;
    assert_eq!(app.consume(1).await[0].text, "marker");
}

#[tokio::test]
async fn ndjson_lines_are_items_and_gzip_is_accepted() {
    let app = TestApp::start().await;
    let body =
        "{\"channel\":\"social\",\"text\":\"first\"}\n\n{\"channel\":\"social\",\"text\":\"second\"}\r\nnot json\n";
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(body.as_bytes()).expect("gzip");
    let resp = app
        .post_with(
            "/v1/feedback/ndjson",
            &[
                ("authorization", &format!("Bearer {}", app.key)),
                ("content-type", "application/x-ndjson"),
                ("content-encoding", "gzip"),
            ],
            gz.finish().expect("gzip"),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let out = json_body(resp).await;
    assert_eq!(out["accepted"].as_array().map(Vec::len), Some(2));
    assert_eq!(out["rejected"][0]["index"], 3, "index is the 0-based line number");
    let mut texts: Vec<String> = app.consume(2).await.into_iter().map(|e| e.text).collect();
    texts.sort();
    assert_eq!(texts, vec!["first", "second"]);
}

/// Found by an outside fuzzing campaign: a second gzip member was dropped with a 202, gzip
/// followed by junk was accepted, an array was read as one event, and text of NULs or
/// zero-width characters was accepted.
#[tokio::test]
async fn lenient_inputs_found_by_fuzzing_are_refused_or_read_whole() {
    let app = TestApp::start().await;
    let gzip = |data: &str| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(data.as_bytes()).expect("gzip");
        gz.finish().expect("gzip")
    };
    let auth = format!("Bearer {}", app.key);
    let gz_headers =
        [("authorization", auth.as_str()), ("content-type", "application/x-ndjson"), ("content-encoding", "gzip")];
    let ndjson_gz = |body: Vec<u8>| app.post_with("/v1/feedback/ndjson", &gz_headers, body);
    // Two members (`cat a.gz b.gz`): both are read.
    let mut two = gzip("{\"channel\":\"chat\",\"text\":\"member one\"}\n");
    two.extend(gzip("{\"channel\":\"chat\",\"text\":\"member two\"}\n"));
    let resp = ndjson_gz(two).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert_eq!(json_body(resp).await["accepted"].as_array().map(Vec::len), Some(2));
    let mut texts: Vec<String> = app.consume(2).await.into_iter().map(|e| e.text).collect();
    texts.sort();
    assert_eq!(texts, ["member one", "member two"]);
    // Junk after the gzip stream: 400, as the same junk uncompressed is.
    let mut junk = gzip("{\"channel\":\"chat\",\"text\":\"x\"}\n");
    junk.extend_from_slice(b"garbage");
    let resp = ndjson_gz(junk).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&json_body(resp).await), "malformed_json");

    // An array is not an event, on its own or inside a batch.
    let resp = app.post("/v1/feedback", r#"["web", "hi"]"#).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let out = json_body(resp).await;
    assert_eq!(error_code(&out), "malformed_json", "{out}");
    let resp = app
        .post_with(
            "/v1/feedback/batch",
            &[("authorization", &format!("Bearer {}", app.key)), ("content-type", "application/json")],
            r#"[["web", "hi"]]"#,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_body(resp).await["rejected"][0]["code"], "malformed_json");

    // Nothing visible, or a control character inside: 400 naming `text`.
    for text in [r"\u0000\u0000", r"\u200b\u200d\ufeff", r"late\u0000parcel"] {
        let resp = app.post("/v1/feedback", format!(r#"{{"channel": "web", "text": "{text}"}}"#)).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{text}");
        let out = json_body(resp).await;
        assert_eq!(error_code(&out), "validation_failed", "{out}");
        assert_eq!(out["error"]["details"][0]["field"], "text", "{out}");
    }
}

#[tokio::test]
async fn error_table_400_401_403_413_415() {
    let limits = Limits { single_body_bytes: 2_000, batch_body_bytes: 20_000, batch_max_events: 5 };
    let app = TestApp::start_with(Options { limits, ..Options::default() }).await;

    // 400 malformed JSON, with the field path
    let resp = app.post("/v1/feedback", r#"{"channel": "web", "text": "x", "rating": "five"}"#).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body = json_body(resp).await;
    assert_eq!(error_code(&body), "malformed_json");
    assert!(body["error"]["message"].as_str().expect("message").contains(": rating: invalid type"), "{body}");
    let resp = app.post("/v1/feedback", "{").await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    // 400 validation, every violation with its field
    let resp = app
        .post("/v1/feedback", json!({"channel": "web", "text": "x", "nps": 11, "language": "english"}).to_string())
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body = json_body(resp).await;
    assert_eq!(error_code(&body), "validation_failed");
    let fields: Vec<&str> =
        body["error"]["details"].as_array().expect("details").iter().map(|d| d["field"].as_str().expect("f")).collect();
    assert_eq!(fields, vec!["nps", "language"]);

    // 400 invalid Idempotency-Key header
    let resp = app
        .post_with(
            "/v1/feedback",
            &[
                ("authorization", &format!("Bearer {}", app.key)),
                ("content-type", "application/json"),
                ("idempotency-key", "a"),
            ],
            json!({"channel": "web", "text": "x", "idempotency_key": "b"}).to_string(),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&json_body(resp).await), "invalid_header");

    // 401 missing, unknown, malformed credentials, and access tokens that do not verify
    let valid = json!({"channel": "web", "text": "hello"}).to_string();
    let resp = app.post_with("/v1/feedback", &[("content-type", "application/json")], valid.clone()).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&json_body(resp).await), "unauthorized");
    for auth in ["Bearer rtcx_not-a-key", "Basic Zm9vOmJhcg==", "Bearer not.a.jwt"] {
        let resp = app
            .post_with("/v1/feedback", &[("authorization", auth), ("content-type", "application/json")], valid.clone())
            .await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{auth}");
    }
    let expired = token("API_USER", -120);
    let resp = app
        .post_with(
            "/v1/feedback",
            &[("authorization", &format!("Bearer {}", expired)), ("content-type", "application/json")],
            valid.clone(),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "expired token");
    // Swap the payload for another token's: the signature no longer matches.
    let (a, b) = (token("API_USER", 600), token("ADMIN", 600));
    let pa: Vec<&str> = a.split('.').collect();
    let pb: Vec<&str> = b.split('.').collect();
    let tampered = format!("{}.{}.{}", pa[0], pb[1], pa[2]);
    let resp = app
        .post_with(
            "/v1/feedback",
            &[("authorization", &format!("Bearer {}", tampered)), ("content-type", "application/json")],
            valid.clone(),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "tampered token");

    // 403: key without the ingest scope; role not allowed
    let (read_key, _) = create_key(&app.pool, "reader", &["read"]).await;
    app.keys.refresh(&app.pool).await.expect("refresh");
    let resp = app
        .post_with(
            "/v1/feedback",
            &[("authorization", &format!("Bearer {}", read_key)), ("content-type", "application/json")],
            valid.clone(),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(&json_body(resp).await), "forbidden");
    let resp = app
        .post_with(
            "/v1/feedback",
            &[("authorization", &format!("Bearer {}", token("AUDITOR", 600))), ("content-type", "application/json")],
            valid.clone(),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    // 413: body too large (also after gzip inflation), too many events
    let big = json!({"channel": "web", "text": "x".repeat(3_000)}).to_string();
    let resp = app.post("/v1/feedback", big).await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(&json_body(resp).await), "payload_too_large");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(json!({"channel": "web", "text": " ".repeat(50_000) + "x"}).to_string().as_bytes()).expect("gz");
    let resp = app
        .post_with(
            "/v1/feedback",
            &[
                ("authorization", &format!("Bearer {}", app.key)),
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
            ],
            gz.finish().expect("gz"),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE, "a gzip bomb is measured after inflation");
    let six: Vec<Value> = (0..6).map(|i| json!({"channel": "web", "text": format!("n{i}")})).collect();
    let resp = app.post("/v1/feedback/batch", Value::Array(six).to_string()).await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // 415: wrong content type, unsupported encoding
    let resp = app
        .post_with(
            "/v1/feedback",
            &[("authorization", &format!("Bearer {}", app.key)), ("content-type", "text/plain")],
            valid.clone(),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(error_code(&json_body(resp).await), "unsupported_media_type");
    let resp = app
        .post_with(
            "/v1/feedback/ndjson",
            &[("authorization", &format!("Bearer {}", app.key)), ("content-type", "application/json")],
            valid.clone(),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let resp = app
        .post_with(
            "/v1/feedback",
            &[
                ("authorization", &format!("Bearer {}", app.key)),
                ("content-type", "application/json"),
                ("content-encoding", "br"),
            ],
            valid.clone(),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn user_tokens_may_post() {
    let app = TestApp::start().await;
    let resp = app
        .post_with(
            "/v1/feedback",
            &[("authorization", &format!("Bearer {}", token("AGENT", 600))), ("content-type", "application/json")],
            json!({"channel": "call_center", "text": "Customer asked about pricing"}).to_string(),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let ev = &app.consume(1).await[0];
    assert!(ev.source.starts_with("user:"), "{}", ev.source);
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() {
    let generous = Rate { per_second: 1e6, burst: 1e6 };
    let rates = RateLimits {
        per_key: Rate { per_second: 0.5, burst: 3.0 },
        per_ip: generous,
        public_per_ip: Rate { per_second: 0.1, burst: 2.0 },
    };
    let app = TestApp::start_with(Options { rates, ..Options::default() }).await;
    let batch: Vec<Value> = (0..3).map(|i| json!({"channel": "web", "text": format!("n{i}")})).collect();
    assert_eq!(app.post("/v1/feedback/batch", Value::Array(batch).to_string()).await.status(), StatusCode::ACCEPTED);
    let resp = app.post("/v1/feedback", json!({"channel": "web", "text": "one more"}).to_string()).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS, "the key's 3 events/burst are used up");
    let retry: u64 = resp.headers()["retry-after"].to_str().expect("ascii").parse().expect("seconds");
    assert!((1..=3).contains(&retry), "Retry-After {retry}");
    assert_eq!(error_code(&json_body(resp).await), "rate_limited");

    // The public endpoint has its own, stricter per-IP limit.
    let public = |text: &str| {
        app.http
            .post(format!("{}/v1/public/feedback", app.url))
            .header("content-type", "application/json")
            .body(json!({"channel": "web", "text": text}).to_string())
            .send()
    };
    assert_eq!(public("a").await.expect("req").status(), StatusCode::ACCEPTED);
    assert_eq!(public("b").await.expect("req").status(), StatusCode::ACCEPTED);
    let resp = public("c").await.expect("req");
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn public_events_are_anonymous() {
    let app = TestApp::start().await;
    let resp = app
        .post_with(
            "/v1/public/feedback",
            &[("content-type", "application/json"), ("origin", "https://shop.example.com")],
            json!({"channel": "web", "text": "The size guide is confusing"}).to_string(),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert_eq!(resp.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap_or("")), Some("*"));
    let ev = &app.consume(1).await[0];
    assert!(ev.anonymous);
    assert_eq!(ev.source, "public");
}

#[tokio::test]
async fn a_revoked_key_is_refused_after_refresh_and_usage_is_persisted() {
    let app = TestApp::start().await;
    let ok = app.post("/v1/feedback", json!({"channel": "web", "text": "fine"}).to_string()).await;
    assert_eq!(ok.status(), StatusCode::ACCEPTED);
    let bad = app.post("/v1/feedback", json!({"channel": "web", "text": ""}).to_string()).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    app.usage.flush(&app.pool).await.expect("flush usage");
    let (accepted, rejected): (i64, i64) =
        sqlx::query_as("SELECT accepted, rejected FROM api_key_usage WHERE api_key_id = $1")
            .bind(app.key_id)
            .fetch_one(&app.pool)
            .await
            .expect("usage row");
    assert_eq!((accepted, rejected), (1, 1));
    let last_used: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT last_used_at FROM api_keys WHERE id = $1")
            .bind(app.key_id)
            .fetch_one(&app.pool)
            .await
            .expect("key");
    assert!(last_used.is_some());

    sqlx::query("UPDATE api_keys SET revoked_at = now() WHERE id = $1")
        .bind(app.key_id)
        .execute(&app.pool)
        .await
        .expect("revoke");
    app.keys.refresh(&app.pool).await.expect("refresh");
    let resp = app.post("/v1/feedback", json!({"channel": "web", "text": "after revocation"}).to_string()).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_unreachable_broker_gives_503_with_retry_after() {
    // A broker address where nothing listens: deliveries cannot succeed.
    let opts =
        Options { brokers: "127.0.0.1:1".into(), message_timeout: Duration::from_millis(1500), ..Options::default() };
    let app = TestApp::start_with(opts).await;
    for path in ["/v1/feedback", "/v1/feedback/batch"] {
        let body = if path.ends_with("batch") {
            json!([{"channel": "web", "text": "lost?"}]).to_string()
        } else {
            json!({"channel": "web", "text": "lost?"}).to_string()
        };
        let resp = app.post(path, body).await;
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert!(resp.headers().contains_key("retry-after"), "{path}");
    }
}

#[tokio::test]
async fn a_full_producer_queue_gives_503_for_the_items_that_did_not_fit() {
    // A one-message producer queue with a long linger: the second item of a batch cannot be
    // queued while the first waits, so it is reported `failed` and the answer is 503.
    let app = TestApp::start_with(Options { queue_max_messages: 1, ..Options::default() }).await;
    let batch: Vec<Value> = (0..20).map(|i| json!({"channel": "web", "text": format!("n{i}")})).collect();
    let resp = app.post("/v1/feedback/batch", Value::Array(batch).to_string()).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.headers().contains_key("retry-after"));
    let body = json_body(resp).await;
    let failed = body["failed"].as_array().expect("failed items");
    assert!(!failed.is_empty());
    assert!(failed.iter().all(|f| f["code"] == "unavailable"));
    let accepted = body["accepted"].as_array().expect("accepted").len();
    assert_eq!(accepted + failed.len(), 20, "every valid item is either acknowledged or reported failed");
    // What was acknowledged is in Kafka.
    let ids: std::collections::HashSet<String> = body["accepted"]
        .as_array()
        .expect("accepted")
        .iter()
        .map(|a| a["id"].as_str().expect("id").to_owned())
        .collect();
    if !ids.is_empty() {
        common::expect_ids(&common::env("RTCX_KAFKA_BROKERS"), &app.topic, &ids).await;
    }
}

#[tokio::test]
async fn known_keys_keep_working_while_postgres_is_down() {
    let app = TestApp::start().await;
    // A pool to an address where no Postgres listens: every refresh fails.
    let dead = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(500))
        .connect_lazy("postgres://rtcx:rtcx@127.0.0.1:1/rtcx")
        .expect("lazy pool");
    assert!(app.keys.refresh(&dead).await.is_err(), "refresh against a dead Postgres fails");
    let resp = app.post("/v1/feedback", json!({"channel": "web", "text": "still accepted"}).to_string()).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED, "the last known keys stay valid");
}
