//! The web console in a real browser: Debian's chromium, headless, driven over WebDriver by
//! chromedriver (`RTCX_CHROMEDRIVER`, `RTCX_CHROMIUM`, set by deploy/dev.sh), against the API
//! served in-process with its live updates, on real Postgres, ClickHouse and Kafka.
//!
//! One scenario, in order: sign in; the overview's figures equal the API's for the same range;
//! an alert published on the alerts topic (as the processors' relay publishes it) appears in
//! the open alert list without a reload; open it, assign it, resolve it with a note and see the
//! history; new feedback on the enriched topic appears in the live feed; a topic created through
//! the form is stored; the feedback filter shows the API's selection; the page fits a phone
//! width; logout ends the session (its refresh token is refused afterwards); an AGENT is not
//! offered the actions of managers and admins.
//!
//! Screenshots of the main views are written to `$CARGO_TARGET_TMPDIR/console-screenshots/`,
//! or to `docs/screenshots/` with `RTCX_UPDATE_SCREENSHOTS=1` (the README's images).

mod common;

use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use common::{Api, PASSWORD, events, field, live_args, migrated_clickhouse, start_live_with_model};
use reqwest::StatusCode;
use rtcx_query_api::auth::Role;
use rtcx_schemas::embedding::quantise;
use rtcx_schemas::rows::FeedbackRow;
use rtcx_schemas::{AlertEvent, AlertSeverity, AlertType, EnrichedFeedback, SentimentLabel};
use rtcx_service_kit::browser::Browser;
use serde_json::{Value, json};
use uuid::Uuid;

/// Where the screenshots go: `docs/screenshots/` with `RTCX_UPDATE_SCREENSHOTS=1`.
fn shots() -> PathBuf {
    if std::env::var("RTCX_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/screenshots"))
    } else {
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots")
    }
}

/// A day of feedback: three channels, segments, journey stages, NPS and CSAT answers.
fn rows() -> Vec<FeedbackRow> {
    let now = Utc::now();
    (0..60usize)
        .map(|i| {
            let label = ["negative", "neutral", "positive"][i % 3];
            FeedbackRow {
                channel: ["email", "chat", "web"][(i / 3) % 3].into(),
                text: format!("Console test feedback {i}"),
                nps: (i % 2 == 0).then_some((i % 11) as u8),
                csat: (i % 3 == 0).then_some((i % 5 + 1) as u8),
                customer_id: format!("c{}", i % 7),
                segment: ["smb", "enterprise"][i % 2].into(),
                journey_stage: ["purchase", "delivery", "support"][i % 3].into(),
                sentiment_label: label.into(),
                sentiment_score: match label {
                    "negative" => -0.6,
                    "positive" => 0.7,
                    _ => 0.0,
                },
                dominant_emotion: ["anger", "neutral", "joy"][i % 3].into(),
                ..FeedbackRow::blank(now - chrono::Duration::minutes(20 * i as i64 + 5))
            }
        })
        .collect()
}

/// Messages stored with embeddings: two about one lost parcel, one about something else.
const MEANING: [&str; 3] = [
    "My parcel never arrived and the tracking has not moved for a week.",
    "The courier lost my package. Where is my delivery?",
    "The new invoice charged me twice for the same month.",
];

/// The ids a list of the console shows, in order.
async fn listed(b: &Browser, list: &str) -> Vec<String> {
    let ids = b
        .js(&format!("return [...document.querySelectorAll('[data-list={list}] li')].map(li => li.dataset.id);"))
        .await;
    ids.as_array().expect("ids").iter().map(|v| v.as_str().expect("id").to_owned()).collect()
}

/// Clicks an element after scrolling it to the middle of the window, clear of the alert
/// notices in the bottom corner.
async fn click(b: &Browser, css: &str) {
    b.wait_for(css).await;
    b.js(&format!("document.querySelector({}).scrollIntoView({{block: 'center'}});", json!(css))).await;
    b.wait_for(css).await.click().await.unwrap_or_else(|e| panic!("click {css}: {e}"));
}

/// The ids of an API page, in order.
fn ids(page: &Value) -> Vec<String> {
    page["items"].as_array().expect("items").iter().map(|i| field(i, "id").to_owned()).collect()
}

/// The alert as the relay publishes it for an alert stored in Postgres.
fn raised(alert: &Value) -> AlertEvent {
    let at = |k: &str| field(alert, k).parse().expect("time");
    AlertEvent {
        id: field(alert, "id").parse().expect("id"),
        alert_type: AlertType::ChannelPerformance,
        window_start: at("window_start"),
        window_end: at("window_end"),
        metric: field(alert, "metric").into(),
        created_at: at("created_at"),
        ..events::alert(AlertSeverity::High, field(alert, "title"))
    }
}

async fn new_alert(api: &Api, token: &str, title: &str) -> Value {
    let (status, alert) = api
        .post(
            "/v1/alerts",
            Some(token),
            json!({"alert_type": "CHANNEL_PERFORMANCE", "severity": "HIGH", "title": title, "dimension": {"channel": "email"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{alert}");
    alert
}

#[tokio::test(flavor = "multi_thread")]
async fn the_console_signs_in_shows_the_api_figures_and_works_alerts_live() {
    let args = live_args().await;
    let (ch, database) = migrated_clickhouse().await;
    let api = start_live_with_model(&args, ch).await;
    // Three messages of the last hour with the model's embeddings, for the search by meaning.
    let embedder = api.state.embedder.clone().expect("embedder");
    let mut meaning = Vec::new();
    for (i, text) in MEANING.iter().enumerate() {
        meaning.push(FeedbackRow {
            text: (*text).into(),
            channel: "email".into(),
            sentiment_label: "negative".into(),
            sentiment_score: -0.7,
            embedding: quantise(&embedder.embed(text).await.expect("embed")),
            ..FeedbackRow::blank(Utc::now() - chrono::Duration::minutes(2 + i as i64))
        });
    }
    let mut insert = api.state.ch.insert::<FeedbackRow>("feedback").await.expect("insert");
    for r in rows().iter().chain(&meaning) {
        insert.write(r).await.expect("write");
    }
    insert.end().await.expect("end");
    let (admin_email, admin) = api.logged_in(Role::Admin).await;
    let (agent_email, _) = api.logged_in(Role::Agent).await;

    let b = Browser::start(1280, 800, shots()).await;
    // The page's own policy: scripts and connections from itself only.
    let page = api.http.get(format!("{}/app/", api.base)).send().await.expect("page");
    let csp = page.headers()["content-security-policy"].to_str().expect("csp").to_owned();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    // Files go out gzip-compressed to a browser that takes it, and revalidate to a 304.
    let raw = reqwest::Client::builder().no_gzip().build().expect("client");
    let uplot = format!("{}/app/vendor/uplot/uPlot.iife.min.js", api.base);
    let resp = raw.get(&uplot).header("accept-encoding", "gzip").send().await.expect("file");
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    let etag = resp.headers()["etag"].clone();
    assert!(resp.bytes().await.expect("body").len() < 30_000, "51 kB of script compress to about a third");
    let again =
        raw.get(&uplot).header("accept-encoding", "gzip").header("if-none-match", etag).send().await.expect("file");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    // 1. Sign in; the overview shows the API's figures for the same range (24 h by default).
    b.sign_in(&api.base, &admin_email, PASSWORD).await;
    assert!(b.text("#who").await.contains("ADMIN"));
    b.wait_for("[data-table=channels]").await;
    let (_, overview) = api.get("/v1/dashboard/overview?range=24h", &admin).await;
    for (figure, value) in [
        ("volume", &overview["current"]["volume"]),
        ("nps", &overview["current"]["nps"]),
        ("csat", &overview["current"]["csat"]),
        ("average_sentiment", &overview["current"]["average_sentiment"]),
        ("open_alerts", &overview["open_alerts"]),
    ] {
        let shown = b.attr(&format!("[data-figure={figure}]"), "data-value").await;
        let shown = (!shown.is_empty()).then(|| shown.parse::<f64>().expect("a number"));
        assert_eq!(shown, value.as_f64(), "{figure}: the tile shows what the API answers ({overview})");
    }
    assert_eq!(
        overview["current"]["volume"],
        json!(
            rows().iter().chain(&meaning).filter(|r| r.occurred_at > Utc::now() - chrono::Duration::hours(24)).count()
        )
    );
    let (_, channels) = api.get("/v1/dashboard/channels?range=24h", &admin).await;
    assert_eq!(b.count("[data-table=channels] tbody tr").await, channels.as_array().expect("rows").len());
    let (_, segments) = api.get("/v1/dashboard/segments?range=24h", &admin).await;
    assert_eq!(b.count("[data-table=segments] tbody tr").await, segments.as_array().expect("rows").len());
    b.wait_for("[data-chart=sentiment-trend] canvas").await;
    b.screenshot("overview").await;

    // The tiles follow new feedback without a reload (the server pushes the figures).
    let mut more = api.state.ch.insert::<FeedbackRow>("feedback").await.expect("insert");
    for r in rows().into_iter().take(3) {
        more.write(&FeedbackRow { id: Uuid::now_v7(), ..r }).await.expect("write");
    }
    more.end().await.expect("end");
    let (_, now) = api.get("/v1/dashboard/overview?range=24h", &admin).await;
    let volume = now["current"]["volume"].to_string();
    assert_ne!(volume, overview["current"]["volume"].to_string());
    b.until(
        "the pushed volume",
        &format!("document.querySelector('[data-figure=volume]')?.dataset.value === '{volume}'"),
    )
    .await;

    // The range control asks the API again: 1 h holds only the rows of the last hour.
    b.wait_for("select[name=range]").await.select_by_value("1h").await.expect("select");
    let (_, hour) = api.get("/v1/dashboard/overview?range=1h", &admin).await;
    let expected = hour["current"]["volume"].to_string();
    b.until(
        "the 1 h volume",
        &format!("document.querySelector('[data-figure=volume]')?.dataset.value === '{expected}'"),
    )
    .await;

    // 2. An alert appears in the open list, live, without a reload.
    b.client.goto(&format!("{}/app/#/alerts", api.base)).await.expect("alerts");
    b.wait_for("[data-table=alerts], .note").await;
    b.js("window.__same_page = true; return null;").await;
    let title = format!("Console test alert {}", Uuid::now_v7().simple());
    let alert = new_alert(&api, &admin, &title).await;
    let id = field(&alert, "id").to_owned();
    events::produce(&events::producer(), &args.alerts_topic, &serde_json::to_vec(&raised(&alert)).expect("json")).await;
    let link = b.wait_for(&format!("[data-table=alerts] a[href='#/alerts/{id}']")).await;
    assert_eq!(b.js("return window.__same_page === true;").await, json!(true), "the list changed without a reload");
    assert_eq!(link.text().await.expect("text"), title);
    b.screenshot("alerts").await;

    // 3. Open it, assign it, resolve it with a note; the history shows both.
    link.click().await.expect("open the alert");
    b.wait_for("[data-alert-state=OPEN]").await;
    let (_, me) = api.get("/v1/auth/me", &admin).await;
    b.wait_for("[data-form=assign] select").await.select_by_value(field(&me, "id")).await.expect("pick");
    b.wait_for("[data-form=assign] button").await.click().await.expect("assign");
    b.until(
        "assigned",
        &format!(
            "document.querySelector('[data-field=assignee]')?.textContent === {}",
            json!(field(&me, "display_name"))
        ),
    )
    .await;
    let note = "Mail provider fixed its bounce handling";
    b.wait_for("textarea[name=notes]").await.send_keys(note).await.expect("type");
    b.wait_for("button[data-status=RESOLVED]").await.click().await.expect("resolve");
    b.wait_for("[data-alert-state=RESOLVED]").await;
    assert_eq!(b.text("[data-field=resolution]").await, note);
    let history = b.text("[data-list=history]").await;
    assert!(history.contains("assigned") && history.contains("resolved") && history.contains(note), "{history}");
    let (_, stored) = api.get(&format!("/v1/alerts/{id}"), &admin).await;
    assert_eq!((stored["status"].as_str(), stored["resolution_notes"].as_str()), (Some("RESOLVED"), Some(note)));
    assert_eq!(stored["assignee_id"], me["id"]);
    b.screenshot("alert").await;

    // 4. New feedback appears in the live feed.
    b.client.goto(&format!("{}/app/#/live", api.base)).await.expect("live");
    b.wait_for("[data-feed=feedback]").await;
    b.until("the live connection", "document.getElementById('live-state').dataset.state === 'live'").await;
    tokio::time::sleep(Duration::from_millis(500)).await; // the rooms are joined after the welcome
    let text = format!("Still waiting for my refund {}", Uuid::now_v7().simple());
    let feedback = EnrichedFeedback {
        key_phrases: vec!["refund".into()],
        ..events::enriched("chat", SentimentLabel::Negative, &[], &text)
    };
    events::produce(&events::producer(), &args.enriched_topic, &serde_json::to_vec(&feedback).expect("json")).await;
    let item = b.text("[data-feed=feedback] .item .text").await;
    assert_eq!(item, text);
    b.screenshot("live").await;

    // Topics: a topic created through the form joins the catalogue with its keywords.
    b.client.goto(&format!("{}/app/#/topics", api.base)).await.expect("topics");
    let name = format!("Console topic {}", Uuid::now_v7().simple());
    b.wait_for("[data-form=new-topic] input[name=name]").await.send_keys(&name).await.expect("type");
    b.wait_for("[data-form=new-topic] input[name=keywords]").await.send_keys("refund, money back").await.expect("type");
    b.wait_for("[data-form=new-topic] button").await.click().await.expect("create");
    b.until(
        "the new topic listed",
        &format!("document.querySelector('[data-table=topics]')?.innerText.includes({})", json!(name)),
    )
    .await;
    let (_, topics) = api.get("/v1/topics", &admin).await;
    let topic = topics.as_array().expect("topics").iter().find(|t| t["name"] == json!(name)).expect("stored").clone();
    assert_eq!(topic["keywords"], json!(["money back", "refund"]), "stored, sorted");

    // The topic's page: its quality, examples added through its form, and applying it to past
    // feedback (queued, listed with its progress, cancelled).
    let topic_id = field(&topic, "id").to_owned();
    b.wait_for(&format!("a[data-topic='{topic_id}']")).await.click().await.expect("open the topic");
    b.wait_for("[data-facts=quality]").await;
    let examples = "Where is the refund for my returned order?\nI want my money back for the broken kettle.";
    b.wait_for("[data-form=examples] textarea").await.send_keys(examples).await.expect("type");
    click(&b, "[data-form=examples] button").await;
    b.until("both examples listed", "document.querySelectorAll('[data-table=examples] tbody tr').length === 2").await;
    let (_, stored) = api.get(&format!("/v1/topics/{topic_id}/examples"), &admin).await;
    let mut texts: Vec<&str> = stored.as_array().expect("examples").iter().map(|e| field(e, "text")).collect();
    texts.sort();
    let mut typed: Vec<&str> = examples.split('\n').collect();
    typed.sort();
    assert_eq!(texts, typed, "{stored}");
    b.until(
        "the quality counts them",
        "[...document.querySelectorAll('[data-facts=quality] dt')].find(d => d.textContent === 'examples')?.nextElementSibling.textContent === '2'",
    )
    .await;
    b.js("window.scrollTo(0, 0);").await;
    b.screenshot("topic").await;
    click(&b, "[data-form=reassign] button").await;
    b.wait_for("[data-table=reassignments] [data-status]").await;
    let (_, jobs) = api.get("/v1/topic-reassignments", &admin).await;
    let job =
        jobs.as_array().expect("jobs").iter().find(|j| j["topic_ids"] == json!([topic_id])).expect("queued").clone();
    let span = field(&job, "range_to").parse::<chrono::DateTime<Utc>>().expect("to")
        - field(&job, "range_from").parse::<chrono::DateTime<Utc>>().expect("from");
    assert_eq!(span, chrono::Duration::days(30), "the form's default: the last 30 days");
    click(&b, "[data-action=cancel-job]").await;
    b.wait_for("[data-table=reassignments] [data-status=CANCELLED]").await;
    let (_, job) = api.get(&format!("/v1/topic-reassignments/{}", field(&job, "id")), &admin).await;
    assert_eq!(job["status"], "CANCELLED");

    // An alert's evidence names its topics: the topic rises in "what changed" as a link named
    // after it (the processors store ids).
    let alert_id: Uuid = field(&alert, "id").parse().expect("id");
    let evidence = json!({"what_changed": {"key_phrases": [], "topics": [{"term": topic_id, "incident": 12, "expected": 2.0, "lift": 6.0}]}});
    sqlx::query("UPDATE alerts SET evidence = $1 WHERE id = $2")
        .bind(&evidence)
        .bind(alert_id)
        .execute(&api.state.pg)
        .await
        .expect("evidence");
    b.client.goto(&format!("{}/app/#/alerts/{alert_id}", api.base)).await.expect("alert");
    b.until(
        "the topic named in the evidence",
        &format!(
            "document.querySelector({})?.textContent === {}",
            json!(format!("a[data-topic='{topic_id}']")),
            json!(name)
        ),
    )
    .await;

    // Feedback search: the sentiment filter shows what the API answers for the same selection
    // (the range chosen on the overview, 1 h, carries over).
    b.client.goto(&format!("{}/app/#/feedback", api.base)).await.expect("feedback");
    b.wait_for("[data-list=feedback], #view .note").await;
    b.wait_for("select[name=sentiment]").await.select_by_value("negative").await.expect("filter");
    let (_, page) = api.get("/v1/feedback?range=1h&sentiment=negative&limit=50", &admin).await;
    let expected = page["items"].as_array().expect("items").len();
    assert!(expected > 0, "the last hour holds negative feedback");
    b.until(
        "the negative feedback of the last hour",
        &format!(
            "(() => {{ const items = [...document.querySelectorAll('[data-list=feedback] li')];
                 return items.length === {expected} && items.every(i => i.classList.contains('negative')); }})()"
        ),
    )
    .await;
    b.screenshot("feedback").await;

    // Search by meaning, with the same filters: the API's neighbours in the API's order.
    b.wait_for("input[name=meaning]").await.send_keys("my package did not come\n").await.expect("type");
    b.wait_for("[data-list=similar] li").await;
    let (_, near) = api
        .get("/v1/feedback/similar?range=1h&sentiment=negative&text=my%20package%20did%20not%20come&limit=50", &admin)
        .await;
    assert_eq!(listed(&b, "similar").await, ids(&near), "{near}");
    let first = near["items"][0]["text"].as_str().expect("text");
    assert!(MEANING[..2].contains(&first), "the lost parcel first: {near}");

    // One message: its topics with why, a correction, and the feedback nearest to it.
    let parcel = meaning[0].id.to_string();
    b.client.goto(&format!("{}/app/#/feedback/{parcel}", api.base)).await.expect("one feedback");
    b.wait_for("[data-list=similar] li").await;
    let (_, near) = api.get(&format!("/v1/feedback/similar?id={parcel}&limit=10"), &admin).await;
    assert_eq!(listed(&b, "similar").await, ids(&near), "{near}");
    assert_eq!(near["items"][0]["id"], json!(meaning[1].id.to_string()), "the other parcel first: {near}");
    b.wait_for("[data-form=correct] select").await.select_by_value(&topic_id).await.expect("pick the topic");
    click(&b, "[data-action=about]").await;
    b.until(
        "the correction saved",
        "document.querySelector('[data-note=correction]')?.textContent.startsWith('Saved')",
    )
    .await;
    let (_, stored) = api.get(&format!("/v1/topics/{topic_id}/examples"), &admin).await;
    let correction = stored.as_array().expect("examples").iter().find(|e| e["source"] == "CORRECTION").expect("made");
    assert_eq!(correction["feedback_id"], json!(parcel));
    assert_eq!(correction["text"], json!(MEANING[0]));
    b.screenshot("feedback-one").await;

    // 5. Phone width: nothing wider than the screen.
    b.client.set_window_size(390, 844).await.expect("resize");
    b.client.goto(&format!("{}/app/#/overview", api.base)).await.expect("overview");
    b.wait_for("[data-table=channels]").await;
    b.until("no horizontal scrolling", "document.documentElement.scrollWidth <= window.innerWidth").await;
    b.screenshot("overview-phone").await;
    b.client.set_window_size(1280, 800).await.expect("resize");

    // 6. Logout ends the session: the refresh token the tab held is refused afterwards.
    let refresh = b.js("return sessionStorage.getItem('rtcx.refresh_token');").await;
    let refresh = refresh.as_str().expect("a refresh token in the tab").to_owned();
    b.wait_for("#signout").await.click().await.expect("sign out");
    b.wait_for("#signin:not([hidden])").await;
    assert_eq!(b.js("return sessionStorage.getItem('rtcx.refresh_token');").await, Value::Null);
    let (status, _) = api.post("/v1/auth/refresh", None, json!({"refresh_token": refresh})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // 7. An AGENT may take and work an alert, not assign others, change severity or edit topics.
    let open = new_alert(&api, &admin, &format!("Agent view {}", Uuid::now_v7().simple())).await;
    b.sign_in(&api.base, &agent_email, PASSWORD).await;
    b.client.goto(&format!("{}/app/#/alerts/{}", api.base, field(&open, "id"))).await.expect("alert");
    b.wait_for("[data-alert-state=OPEN]").await;
    b.wait_for("[data-action=take]").await;
    assert_eq!(b.count("[data-form=assign]").await, 0, "an agent cannot assign others");
    assert_eq!(b.count("[data-form=severity]").await, 0, "an agent cannot change severities");
    b.client.goto(&format!("{}/app/#/topics", api.base)).await.expect("topics");
    b.wait_for("[data-table=topics], .note").await;
    assert_eq!(b.count("[data-form=new-topic]").await, 0, "an agent cannot create topics");
    b.close().await;

    let (status, body) =
        api.send(reqwest::Method::DELETE, &format!("/v1/topics/{}", field(&topic, "id")), &admin, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    common::drop_clickhouse(&database).await;
    for a in [&alert, &open] {
        let id: Uuid = field(a, "id").parse().expect("id");
        sqlx::query("DELETE FROM alerts WHERE id = $1").bind(id).execute(&api.state.pg).await.expect("cleanup");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mail_links_open_the_console_and_a_reset_link_sets_the_password() {
    let api = common::start(false, 50).await;
    let email = api.user(Role::Agent).await;
    let (status, _) = api.post("/v1/auth/password-reset/request", None, json!({"email": email})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let token = common::reset_token(&api, &email).await;

    // The links of mails and webhooks lead to the console's views; nothing else is redirected.
    let plain = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let id = Uuid::now_v7();
    for (path, to) in [
        (format!("/alerts/{id}"), Some(format!("/app/#/alerts/{id}"))),
        (format!("/feedback/{id}"), Some(format!("/app/#/feedback/{id}"))),
        (format!("/reset-password?token={token}"), Some(format!("/app/#/reset-password/{token}"))),
        ("/alerts/not-an-id".to_owned(), None),
        ("/reset-password?token=a%0d%0aSet-Cookie:x".to_owned(), None),
    ] {
        let resp = plain.get(format!("{}{path}", api.base)).send().await.expect("request");
        let location = resp.headers().get("location").map(|l| l.to_str().expect("ascii").to_owned());
        assert_eq!(location, to, "{path}");
        if to.is_none() {
            assert!(resp.status().is_client_error(), "{path}: {}", resp.status());
        }
    }

    let b = Browser::start(1280, 800, shots()).await;
    b.client.goto(&format!("{}/reset-password?token={token}", api.base)).await.expect("open the link");
    let new_password = "A-fresh-Passw0rd-42";
    b.wait_for("[data-form=reset-password] input[name=new_password]")
        .await
        .send_keys(new_password)
        .await
        .expect("type");
    b.wait_for("[data-form=reset-password] button").await.click().await.expect("submit");
    b.wait_for("#signin:not([hidden])").await;
    assert!(b.text("#signin-message").await.contains("password is changed"));
    // The keyboard alone signs in: type, Tab to the next field, Enter submits.
    b.wait_for("#email").await.send_keys(&format!("{email}\u{E004}{new_password}\u{E007}")).await.expect("keys");
    b.wait_for("#app:not([hidden]) #who").await;
    assert_eq!(api.login(&email, new_password).await.0, StatusCode::OK, "the new password holds");
    assert_eq!(api.login(&email, PASSWORD).await.0, StatusCode::UNAUTHORIZED, "the old one does not");
    b.close().await;
}
