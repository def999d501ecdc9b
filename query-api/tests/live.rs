//! Live updates against the real Kafka, Postgres and ClickHouse: `GET /v1/ws` and
//! `GET /v1/events` of in-process API instances reading test topics of their own.
//!
//! Each instance reads from the latest offset, so every test first sends warm-up events until
//! one arrives (the consumer group has joined), then the events it checks.

mod common;

use std::time::{Duration, Instant};

use common::events::{alert, enriched, produce, producer};
use common::{Api, live_args, start_live, start_with_clickhouse};
use futures::{SinkExt, StreamExt};
use rdkafka::producer::{FutureProducer, FutureRecord};
use reqwest::StatusCode;
use rtcx_query_api::auth::Role;
use rtcx_schemas::{AlertChange, AlertSeverity, AlertStatus, SentimentLabel, WorkflowChange};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use uuid::Uuid;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn ws_url(api: &Api) -> String {
    format!("{}/v1/ws", api.base.replacen("http", "ws", 1))
}

/// Opens a WebSocket, with the token in the `Authorization` header when given.
async fn open(api: &Api, header_token: Option<&str>) -> Result<Ws, WsError> {
    let mut req = ws_url(api).into_client_request().expect("request");
    if let Some(t) = header_token {
        req.headers_mut().insert("authorization", format!("Bearer {t}").parse().expect("header"));
    }
    tokio_tungstenite::connect_async(req).await.map(|(ws, _)| ws)
}

/// A connection authenticated by header, its `welcome` read.
async fn connect(api: &Api, token: &str) -> Ws {
    let mut ws = open(api, Some(token)).await.expect("connect");
    let welcome = next(&mut ws, Duration::from_secs(5)).await.expect("welcome");
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    ws
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.expect("send");
}

/// The next JSON message within `wait` (control frames skipped); `None` on timeout.
async fn next(ws: &mut Ws, wait: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return None,
            Ok(Some(Ok(Message::Text(t)))) => return Some(serde_json::from_str(t.as_str()).expect("json")),
            Ok(Some(Ok(Message::Close(c)))) => panic!("closed: {c:?}"),
            Ok(Some(Ok(_))) => continue,
            Ok(other) => panic!("connection ended: {other:?}"),
        }
    }
}

/// The close code the server ends the connection with (within `wait`).
async fn close_code(ws: &mut Ws, wait: Duration) -> Option<u16> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return None,
            Ok(Some(Ok(Message::Close(c)))) => return c.map(|c| u16::from(c.code)),
            Ok(Some(Ok(_))) => continue,
            Ok(_) => return None,
        }
    }
}

async fn subscribe(ws: &mut Ws, room: &str, filter: Value) -> Value {
    send(ws, json!({"type": "subscribe", "room": room, "filter": filter})).await;
    next(ws, Duration::from_secs(10)).await.expect("answer to subscribe")
}

/// Sends `payload` to `topic` every 300 ms until `ws` receives a message of type `kind`
/// (the instance's consumer has joined); returns that message.
async fn warm_up(p: &FutureProducer, topic: &str, payload: &[u8], ws: &mut Ws, kind: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        produce(p, topic, payload).await;
        if let Some(m) = next(ws, Duration::from_millis(300)).await {
            assert_eq!(m["type"], kind, "{m}");
            // Drain the other warm-up copies still on their way.
            while next(ws, Duration::from_millis(700)).await.is_some() {}
            return m;
        }
    }
    panic!("the live consumer never delivered a warm-up event");
}

/// The next message of one of `types`, skipping others (within `wait`).
async fn next_of(ws: &mut Ws, types: &[&str], wait: Duration) -> Option<Value> {
    let deadline = Instant::now() + wait;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let m = next(ws, left).await?;
        if types.contains(&m["type"].as_str().unwrap_or_default()) {
            return Some(m);
        }
    }
    None
}

#[tokio::test]
async fn websocket_authentication_by_header_or_first_message() {
    let api = start_live(&live_args().await, None).await;
    let (_, token) = api.logged_in(Role::Agent).await;

    // A bad header is refused before the upgrade.
    match open(&api, Some("not-a-token")).await {
        Err(WsError::Http(resp)) => assert_eq!(resp.status(), StatusCode::UNAUTHORIZED),
        other => panic!("expected 401, got {other:?}"),
    }
    // So is an expired token.
    let expired = rtcx_query_api::auth::tokens::TokenService::from_ed_pem(
        common::PRIVATE,
        common::PUBLIC,
        "rtcx",
        chrono::Duration::seconds(-600),
    )
    .expect("keys");
    let me: Value = api.get("/v1/auth/me", &token).await.1;
    let stale =
        expired.issue(field_uuid(&me, "id"), Role::Agent.as_str(), Uuid::now_v7(), chrono::Utc::now()).expect("token");
    match open(&api, Some(&stale)).await {
        Err(WsError::Http(resp)) => assert_eq!(resp.status(), StatusCode::UNAUTHORIZED),
        other => panic!("expected 401, got {other:?}"),
    }

    // Without a header, nothing is answered before an auth message; none in time: 4001.
    let mut silent = open(&api, None).await.expect("upgrade");
    assert_eq!(close_code(&mut silent, Duration::from_secs(5)).await, Some(4001));
    // A wrong first message: 4001.
    let mut wrong = open(&api, None).await.expect("upgrade");
    send(&mut wrong, json!({"type": "subscribe", "room": "alerts"})).await;
    assert_eq!(close_code(&mut wrong, Duration::from_secs(5)).await, Some(4001));
    let mut bad = open(&api, None).await.expect("upgrade");
    send(&mut bad, json!({"type": "auth", "token": "forged"})).await;
    assert_eq!(close_code(&mut bad, Duration::from_secs(5)).await, Some(4001));
    // The browser way.
    let mut browser = open(&api, None).await.expect("upgrade");
    send(&mut browser, json!({"type": "auth", "token": token})).await;
    let welcome = next(&mut browser, Duration::from_secs(5)).await.expect("welcome");
    assert_eq!(welcome["type"], "welcome");
    assert_eq!(welcome["role"], "AGENT");
    assert_eq!(welcome["rooms"], json!(["dashboard", "alerts", "channel:<name>", "topic:<id>", "user"]));
    send(&mut browser, json!({"type": "ping"})).await;
    assert_eq!(next(&mut browser, Duration::from_secs(5)).await.expect("pong")["type"], "pong");
    send(&mut browser, json!({"type": "auth", "token": token})).await;
    assert_eq!(next(&mut browser, Duration::from_secs(5)).await.expect("error")["code"], "bad_message");

    // A plain GET is not an upgrade.
    let resp = api.http.get(format!("{}/v1/ws", api.base)).bearer_auth(&token).send().await.expect("get");
    assert_eq!(resp.status(), StatusCode::UPGRADE_REQUIRED);
}

fn field_uuid(v: &Value, name: &str) -> Uuid {
    common::field(v, name).parse().expect("uuid")
}

#[tokio::test]
async fn alert_rooms_follow_roles_and_filters() {
    let args = live_args().await;
    let api = start_live(&args, None).await;
    let p = producer();
    let (_, admin) = api.logged_in(Role::Admin).await;
    let (_, agent) = api.logged_in(Role::Agent).await;
    let (_, integration) = api.logged_in(Role::ApiUser).await;
    let agent_id = field_uuid(&api.get("/v1/auth/me", &agent).await.1, "id");

    let mut urgent = connect(&api, &admin).await;
    let answer = subscribe(&mut urgent, "alerts", json!({"min_severity": "HIGH"})).await;
    assert_eq!(answer["type"], "subscribed", "{answer}");
    let mut all = connect(&api, &agent).await;
    assert_eq!(subscribe(&mut all, "alerts", json!({})).await["type"], "subscribed");
    assert_eq!(subscribe(&mut all, "user", json!({})).await["type"], "subscribed");
    let mut api_user = connect(&api, &integration).await;
    let refused = subscribe(&mut api_user, "user", json!({})).await;
    assert_eq!((refused["type"].as_str(), refused["code"].as_str()), (Some("error"), Some("forbidden")), "{refused}");
    let refused = subscribe(&mut api_user, "alerts", json!({"sentiment": ["negative"]})).await;
    assert_eq!(refused["code"], "bad_filter", "{refused}");
    let refused = subscribe(&mut api_user, "rooms:everything", json!({})).await;
    assert_eq!(refused["code"], "unknown_room", "{refused}");

    let warm = serde_json::to_vec(&alert(AlertSeverity::Critical, "warm-up")).expect("json");
    warm_up(&p, &args.alerts_topic, &warm, &mut urgent, "alert").await;
    while next(&mut all, Duration::from_millis(500)).await.is_some() {}

    let low = alert(AlertSeverity::Low, "low");
    let high = alert(AlertSeverity::High, "high");
    let mut assigned = alert(AlertSeverity::Medium, "assigned");
    assigned.change = AlertChange::Assigned;
    assigned.workflow = Some(WorkflowChange {
        by: Uuid::now_v7(),
        status: AlertStatus::InProgress,
        assignee_id: Some(agent_id),
        note: None,
    });
    let sent = Instant::now();
    for a in [&low, &high, &assigned] {
        produce(&p, &args.alerts_topic, &serde_json::to_vec(a).expect("json")).await;
    }
    let got = next(&mut urgent, Duration::from_secs(10)).await.expect("the HIGH alert");
    assert_eq!((got["room"].as_str(), got["data"]["title"].as_str()), (Some("alerts"), Some("high")), "{got}");
    assert!(sent.elapsed() < Duration::from_secs(5), "delivered within seconds");
    assert_eq!(got["event_type"], "alert_raised");
    assert!(next(&mut urgent, Duration::from_secs(1)).await.is_none(), "LOW and MEDIUM are filtered out");

    let mut titles = Vec::new();
    while let Some(m) = next(&mut all, Duration::from_secs(3)).await {
        titles.push(format!("{}:{}", m["room"].as_str().unwrap_or("?"), m["data"]["title"].as_str().unwrap_or("?")));
    }
    // The assignment reaches the agent once, for the first room it matches.
    assert_eq!(titles, ["alerts:low", "alerts:high", "alerts:assigned"], "{titles:?}");
    assert_eq!(subscribe(&mut all, "alerts", json!({})).await["type"], "subscribed");
    send(&mut all, json!({"type": "unsubscribe", "room": "alerts"})).await;
    assert_eq!(next(&mut all, Duration::from_secs(5)).await.expect("unsubscribed")["type"], "unsubscribed");
    produce(&p, &args.alerts_topic, &serde_json::to_vec(&assigned).expect("json")).await;
    let mine = next(&mut all, Duration::from_secs(10)).await.expect("the assignment in the user room");
    assert_eq!((mine["room"].as_str(), mine["event_type"].as_str()), (Some("user"), Some("alert_assigned")), "{mine}");
}

#[tokio::test]
async fn feedback_rooms_deliver_their_channel_and_topic_with_sentiment_filters() {
    let args = live_args().await;
    let api = start_live(&args, None).await;
    let p = producer();
    let (_, agent) = api.logged_in(Role::Agent).await;
    let topic = Uuid::now_v7();
    let mut negative_email = connect(&api, &agent).await;
    subscribe(&mut negative_email, "channel:email", json!({"sentiment": ["negative"]})).await;
    let mut by_topic = connect(&api, &agent).await;
    subscribe(&mut by_topic, &format!("topic:{topic}"), json!({})).await;
    subscribe(&mut by_topic, "channel:email", json!({})).await;

    let warm = serde_json::to_vec(&enriched("email", SentimentLabel::Negative, &[], "warm-up")).expect("json");
    warm_up(&p, &args.enriched_topic, &warm, &mut negative_email, "feedback").await;
    while next(&mut by_topic, Duration::from_millis(500)).await.is_some() {}

    for (channel, label, topics, text) in [
        ("email", SentimentLabel::Positive, vec![], "thanks a lot"),
        ("email", SentimentLabel::Negative, vec![], "still no refund"),
        ("web", SentimentLabel::Negative, vec![topic], "checkout keeps failing"),
        ("web", SentimentLabel::Neutral, vec![], "unrelated"),
    ] {
        produce(&p, &args.enriched_topic, &serde_json::to_vec(&enriched(channel, label, &topics, text)).expect("json"))
            .await;
    }
    let got = next(&mut negative_email, Duration::from_secs(10)).await.expect("negative email");
    assert_eq!(got["type"], "feedback");
    assert_eq!(got["data"]["text"], "still no refund");
    assert_eq!(got["data"]["sentiment"]["label"], "negative");
    assert_eq!(got["data"]["dominant_emotion"], "anger");
    assert!(next(&mut negative_email, Duration::from_secs(2)).await.is_none(), "positive and web are filtered out");

    let mut texts = Vec::new();
    while let Some(m) = next(&mut by_topic, Duration::from_secs(3)).await {
        texts.push(format!("{}:{}", m["room"].as_str().unwrap_or("?"), m["data"]["text"].as_str().unwrap_or("?")));
    }
    texts.sort();
    assert_eq!(
        texts,
        [
            "channel:email:still no refund".to_string(),
            "channel:email:thanks a lot".into(),
            format!("topic:{topic}:checkout keeps failing")
        ]
    );
}

#[tokio::test]
async fn logout_closes_the_socket_and_limits_hold() {
    let mut args = live_args().await;
    args.live_max_connections_per_user = 2;
    let api = start_live(&args, None).await;
    let (_, token) = api.logged_in(Role::Manager).await;
    let mut first = connect(&api, &token).await;
    let _second = connect(&api, &token).await;
    match open(&api, Some(&token)).await {
        Err(WsError::Http(resp)) => assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS),
        other => panic!("expected 429, got {other:?}"),
    }
    let resp =
        api.http.post(format!("{}/v1/auth/logout-all", api.base)).bearer_auth(&token).send().await.expect("logout");
    assert!(resp.status().is_success(), "{}", resp.status());
    assert_eq!(close_code(&mut first, Duration::from_secs(5)).await, Some(4003), "the session check closes it");
}

#[tokio::test]
async fn a_slow_client_is_dropped_while_a_fast_one_keeps_receiving() {
    let mut args = live_args().await;
    args.live_send_buffer = 16;
    args.live_write_timeout_secs = 2;
    let api = start_live(&args, None).await;
    let p = producer();
    let (_, token) = api.logged_in(Role::Agent).await;
    let mut fast = connect(&api, &token).await;
    subscribe(&mut fast, "channel:chat", json!({})).await;
    let mut slow = connect(&api, &token).await;
    subscribe(&mut slow, "channel:chat", json!({})).await;
    let warm = serde_json::to_vec(&enriched("chat", SentimentLabel::Neutral, &[], "warm-up")).expect("json");
    warm_up(&p, &args.enriched_topic, &warm, &mut fast, "feedback").await;
    while next(&mut slow, Duration::from_millis(500)).await.is_some() {}
    assert_eq!(api.state.live.connections(), 2);

    // The slow client stops reading: 3 000 messages of ~4 KB outgrow the socket buffers.
    let text = "the app crashes again and again ".repeat(120);
    let n = 3000;
    let reader = tokio::spawn(async move {
        let mut got = 0;
        while got < n {
            match next(&mut fast, Duration::from_secs(30)).await {
                Some(m) if m["type"] == "feedback" => got += 1,
                Some(_) => {}
                None => break,
            }
        }
        (got, fast)
    });
    let payload = serde_json::to_vec(&enriched("chat", SentimentLabel::Negative, &[], &text)).expect("json");
    let sends: Vec<_> = (0..n)
        .map(|_| p.send(FutureRecord::<(), [u8]>::to(&args.enriched_topic).payload(&payload), Duration::from_secs(30)))
        .collect();
    for s in sends {
        s.await.expect("produce");
    }
    let (got, _fast) = reader.await.expect("reader");
    assert_eq!(got, n, "the fast client received every message");
    let deadline = Instant::now() + Duration::from_secs(10);
    while api.state.live.connections() > 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(api.state.live.connections(), 1, "the slow client was dropped");
    // Reading at last, it finds the close frame (4008) after what was buffered, or a reset.
    let code = close_code(&mut slow, Duration::from_secs(10)).await;
    assert!(matches!(code, Some(4008) | None), "{code:?}");
}

#[tokio::test]
async fn two_instances_both_deliver_the_same_alert() {
    let args = live_args().await;
    let (one, two) = (start_live(&args, None).await, start_live(&args, None).await);
    let p = producer();
    let (_, token) = one.logged_in(Role::Agent).await;
    let mut a = connect(&one, &token).await;
    let mut b = connect(&two, &token).await;
    subscribe(&mut a, "alerts", json!({})).await;
    subscribe(&mut b, "alerts", json!({})).await;
    let warm = serde_json::to_vec(&alert(AlertSeverity::Low, "warm-up")).expect("json");
    warm_up(&p, &args.alerts_topic, &warm, &mut a, "alert").await;
    warm_up(&p, &args.alerts_topic, &warm, &mut b, "alert").await;
    while next(&mut a, Duration::from_millis(500)).await.is_some() {}
    let e = alert(AlertSeverity::Critical, "both");
    produce(&p, &args.alerts_topic, &serde_json::to_vec(&e).expect("json")).await;
    for ws in [&mut a, &mut b] {
        let m = next(ws, Duration::from_secs(10)).await.expect("alert");
        assert_eq!(m["data"]["id"], e.id.to_string(), "{m}");
    }
}

/// Reads SSE events from a streaming response until `count` events or `wait` elapses.
async fn sse_events(resp: &mut reqwest::Response, count: usize, wait: Duration) -> Vec<(String, String, Value)> {
    let deadline = tokio::time::Instant::now() + wait;
    let (mut buf, mut out) = (String::new(), Vec::new());
    while out.len() < count {
        let chunk = match tokio::time::timeout_at(deadline, resp.chunk()).await {
            Ok(Ok(Some(c))) => c,
            _ => break,
        };
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let (mut id, mut event, mut data) = (String::new(), String::new(), String::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("event:") {
                    event = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            if !data.is_empty() {
                out.push((id, event, serde_json::from_str(&data).expect("json data")));
            }
        }
    }
    out
}

async fn open_sse(api: &Api, token: &str, query: &str, last: Option<&str>) -> reqwest::Response {
    let mut r = api.http.get(format!("{}/v1/events?{query}", api.base)).bearer_auth(token);
    if let Some(l) = last {
        r = r.header("last-event-id", l);
    }
    r.send().await.expect("events")
}

#[tokio::test]
async fn server_sent_events_filter_refuse_and_resume() {
    let args = live_args().await;
    let api = start_live(&args, None).await;
    let p = producer();
    let (_, agent) = api.logged_in(Role::Agent).await;
    let (_, integration) = api.logged_in(Role::ApiUser).await;
    assert_eq!(open_sse(&api, &integration, "rooms=user", None).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(open_sse(&api, &agent, "rooms=nowhere", None).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(open_sse(&api, &agent, "rooms=alerts&sentiment=negative", None).await.status(), StatusCode::BAD_REQUEST);
    let resp = api.http.get(format!("{}/v1/events?rooms=alerts", api.base)).send().await.expect("no token");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    let mut stream = open_sse(&api, &agent, "rooms=alerts,channel:email&min_severity=HIGH", None).await;
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(stream.headers()["content-type"].to_str().unwrap_or_default().starts_with("text/event-stream"));
    let warm = serde_json::to_vec(&alert(AlertSeverity::Critical, "warm-up")).expect("json");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "the live consumer never delivered");
        produce(&p, &args.alerts_topic, &warm).await;
        if !sse_events(&mut stream, 1, Duration::from_millis(300)).await.is_empty() {
            break;
        }
    }
    sse_events(&mut stream, 100, Duration::from_secs(1)).await;
    for a in [
        alert(AlertSeverity::Low, "low"),
        alert(AlertSeverity::High, "first"),
        alert(AlertSeverity::Critical, "second"),
    ] {
        produce(&p, &args.alerts_topic, &serde_json::to_vec(&a).expect("json")).await;
    }
    let email = enriched("email", SentimentLabel::Positive, &[], "lovely");
    produce(&p, &args.enriched_topic, &serde_json::to_vec(&email).expect("json")).await;
    let got = sse_events(&mut stream, 3, Duration::from_secs(10)).await;
    let names: Vec<_> = got
        .iter()
        .map(|(_, e, d)| format!("{e}:{}", d["data"]["title"].as_str().or(d["data"]["text"].as_str()).unwrap_or("?")))
        .collect();
    assert_eq!(names, ["alert:first", "alert:second", "feedback:lovely"], "LOW is filtered out");
    assert!(got.iter().all(|(id, _, d)| !id.is_empty() && d["id"] == id.as_str()));
    drop(stream);

    // Resuming after "first" replays "second" and the feedback.
    let mut resumed = open_sse(&api, &agent, "rooms=alerts,channel:email&min_severity=HIGH", Some(&got[0].0)).await;
    let again = sse_events(&mut resumed, 2, Duration::from_secs(5)).await;
    assert_eq!(again.iter().map(|(id, _, _)| id.clone()).collect::<Vec<_>>(), [got[1].0.clone(), got[2].0.clone()]);
    // An id from another instance (or too old) asks for a resync.
    let mut foreign = open_sse(&api, &agent, "rooms=alerts", Some("1-1")).await;
    let first = sse_events(&mut foreign, 1, Duration::from_secs(5)).await;
    assert_eq!(first.first().map(|(_, e, _)| e.as_str()), Some("resync"));
    // Logging out ends the stream with a closing event.
    let resp =
        api.http.post(format!("{}/v1/auth/logout-all", api.base)).bearer_auth(&agent).send().await.expect("logout");
    assert!(resp.status().is_success());
    let closing = sse_events(&mut resumed, 1, Duration::from_secs(5)).await;
    assert_eq!(closing.first().map(|(_, e, d)| (e.as_str(), d["code"].as_u64())), Some(("closing", Some(4003))));
}

#[tokio::test]
async fn the_dashboard_room_sends_the_overview_on_joining_and_when_it_changes() {
    let args = live_args().await;
    let (base, database) = start_with_clickhouse().await;
    let api = start_live(&args, Some(base.state.ch.clone())).await;
    let (_, token) = api.logged_in(Role::Agent).await;
    let mut ws = connect(&api, &token).await;
    assert_eq!(subscribe(&mut ws, "dashboard", json!({"range": "7d", "channel": "web"})).await["type"], "subscribed");
    let first = next_of(&mut ws, &["dashboard"], Duration::from_secs(10)).await.expect("snapshot");
    let (status, rest) = api.get("/v1/dashboard/overview?range=7d&channel=web", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["data"]["current"], rest["current"], "the same figures as the REST answer");
    assert_eq!(first["data"]["current"]["volume"], 0);

    // New feedback lands in ClickHouse: the next tick pushes the changed figures.
    api.state
        .ch
        .query(&format!(
            "INSERT INTO feedback (id, received_at, occurred_at, processed_at, channel, source, text, sentiment_label, sentiment_score, \
             sentiment_confidence, dominant_emotion, language) VALUES ('{}', now(), now(), now(), 'web', 'test', 'late again', \
             'negative', -0.8, 0.9, 'anger', 'en')",
            Uuid::now_v7()
        ))
        .execute()
        .await
        .expect("insert");
    // (Other figures, e.g. open alerts raised by other tests, may change first.)
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left = deadline.checked_duration_since(Instant::now()).expect("no update with the new row in time");
        let changed = next_of(&mut ws, &["dashboard"], left).await.expect("update");
        if changed["data"]["current"]["volume"] == 1 {
            assert_eq!(changed["data"]["sentiment"]["negative"], 1, "{changed}");
            break;
        }
    }
    let refused = subscribe(&mut ws, "dashboard", json!({"range": "2d"})).await;
    assert_eq!(refused["code"], "bad_filter");
    common::drop_clickhouse(&database).await;
}
