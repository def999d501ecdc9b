//! The alert API over HTTP against the real Postgres and ClickHouse: manual alerts, filters and
//! keyset pages, the status workflow with its 409s and required notes, assignment rules per
//! role, comments, severity, statistics, rules CRUD, silences, and a rule preview over feedback
//! inserted into ClickHouse (found by the same detector code the evaluator runs).

mod common;

use std::collections::HashSet;

use common::{field, start_with_clickhouse};
use reqwest::{Method, StatusCode};
use rtcx_query_api::auth::Role;
use rtcx_service_kit::testing::unique;
use serde_json::{Value, json};

async fn my_id(api: &common::Api, token: &str) -> String {
    let (_, me) = api.send(Method::GET, "/v1/auth/me", token, None).await;
    field(&me, "id").to_owned()
}

#[tokio::test]
async fn manual_alerts_filters_pages_and_the_workflow() {
    let (api, database) = start_with_clickhouse().await;
    let (_, manager) = api.logged_in(Role::Manager).await;
    let (_, agent) = api.logged_in(Role::Agent).await;
    let (_, other_agent) = api.logged_in(Role::Agent).await;
    let (_, integration) = api.logged_in(Role::ApiUser).await;
    let agent_id = my_id(&api, &agent).await;
    let other_id = my_id(&api, &other_agent).await;
    let integration_id = my_id(&api, &integration).await;
    let tag = unique("checkout outage");

    // Raise three by hand; agents and integrations may not.
    let mut ids = Vec::new();
    for (i, severity) in ["LOW", "HIGH", "CRITICAL"].iter().enumerate() {
        let (status, a) = api
            .send(
                Method::POST,
                "/v1/alerts",
                &manager,
                Some(json!({"alert_type": "CHANNEL_PERFORMANCE", "severity": severity, "title": format!("{tag} #{i}"),
                            "dimension": {"channel": "chat"}})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{a}");
        assert_eq!((a["status"].as_str(), a["rule"].is_null()), (Some("OPEN"), true));
        assert_eq!(a["dimension"], json!({"channel": "chat"}));
        ids.push(field(&a, "id").to_owned());
    }
    let new_alert = json!({"alert_type": "SYSTEM_ANOMALY", "severity": "LOW", "title": "x"});
    for token in [&agent, &integration] {
        let (status, _) = api.send(Method::POST, "/v1/alerts", token, Some(new_alert.clone())).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let (status, body) = api
        .send(
            Method::POST,
            "/v1/alerts",
            &manager,
            Some(json!({"alert_type": "SYSTEM_ANOMALY", "severity": "LOW", "title": " ", "dimension": {"channel": "fax"}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"]["details"]["title"].is_string() && body["error"]["details"]["dimension.channel"].is_string());
    // The manual alert is an event for the live updates too.
    let events: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE aggregate_type = 'alert' AND aggregate_id = ANY($1) AND event_type = 'alert_raised'",
    )
    .bind(&ids)
    .fetch_one(&api.state.pg)
    .await
    .expect("outbox");
    assert_eq!(events, 3);

    // Filters, pages, hostile input.
    let q = tag.replace(' ', "%20");
    let (status, page) = api.send(Method::GET, &format!("/v1/alerts?q={q}&limit=2"), &integration, None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(2));
    let cursor = field(&page, "next_cursor").to_owned();
    let (_, rest) = api.send(Method::GET, &format!("/v1/alerts?q={q}&limit=2&cursor={cursor}"), &agent, None).await;
    assert_eq!(rest["items"].as_array().map(Vec::len), Some(1));
    assert!(rest["next_cursor"].is_null());
    let seen: HashSet<&str> = page["items"]
        .as_array()
        .into_iter()
        .chain(rest["items"].as_array())
        .flatten()
        .filter_map(|a| a["id"].as_str())
        .collect();
    assert_eq!(seen.len(), 3, "no alert twice, none missed");
    assert_eq!(page["items"][0]["id"], ids[2].as_str(), "newest first");
    let (_, high) =
        api.send(Method::GET, &format!("/v1/alerts?q={q}&severity=HIGH&channel=chat&status=OPEN"), &agent, None).await;
    assert_eq!(high["items"].as_array().map(Vec::len), Some(1), "{high}");
    let (status, bad) =
        api.send(Method::GET, "/v1/alerts?severity=urgent&status=closed&limit=0&assignee=bob", &agent, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    for f in ["severity", "status", "limit", "assignee"] {
        assert!(bad["error"]["details"][f].is_string(), "{f}: {bad}");
    }
    let (status, none) = api.send(Method::GET, "/v1/alerts?q=%27%20OR%201%3D1%20--", &agent, None).await;
    assert_eq!((status, none["items"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)));
    let (status, _) = api.send(Method::GET, "/v1/alerts?cursor=bm90IGEgY3Vyc29y", &agent, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Assignment: agents take and give back their own; managers assign anyone who may handle alerts.
    let id = &ids[1];
    let assign = |to: Value| Some(json!({"assignee_id": to}));
    let (status, a) =
        api.send(Method::PUT, &format!("/v1/alerts/{id}/assignee"), &agent, assign(json!(agent_id))).await;
    assert_eq!((status, a["assignee_id"].as_str()), (StatusCode::OK, Some(agent_id.as_str())), "{a}");
    let (status, _) =
        api.send(Method::PUT, &format!("/v1/alerts/{id}/assignee"), &agent, assign(json!(other_id))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "an agent may not assign others");
    let (status, _) =
        api.send(Method::PUT, &format!("/v1/alerts/{id}/assignee"), &other_agent, assign(Value::Null)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "nor unassign someone else");
    let (status, _) =
        api.send(Method::PUT, &format!("/v1/alerts/{id}/assignee"), &manager, assign(json!(integration_id))).await;
    assert_eq!(status, StatusCode::CONFLICT, "API users do not handle alerts");
    let (status, body) = api
        .send(Method::PUT, &format!("/v1/alerts/{id}/assignee"), &manager, assign(json!(uuid::Uuid::now_v7())))
        .await;
    // Not 404 (the alert exists) nor 400 (the body is well-formed): the user named cannot
    // take the alert.
    assert_eq!(status, StatusCode::CONFLICT, "an unknown assignee: {body}");
    assert_eq!(body["error"]["message"], "the assignee is not an active user");
    let (_, mine) = api.send(Method::GET, &format!("/v1/alerts?q={q}&assignee=me"), &agent, None).await;
    assert_eq!(mine["items"].as_array().map(Vec::len), Some(1));
    let (_, unassigned) = api.send(Method::GET, &format!("/v1/alerts?q={q}&assignee=none"), &agent, None).await;
    assert_eq!(unassigned["items"].as_array().map(Vec::len), Some(2));

    // Status workflow.
    let status_of = |body: Value| Some(body);
    let url = format!("/v1/alerts/{id}/status");
    let (status, a) =
        api.send(Method::POST, &url, &agent, status_of(json!({"status": "IN_PROGRESS", "note": "on it"}))).await;
    assert_eq!(status, StatusCode::OK, "{a}");
    assert!(a["acknowledged_at"].is_string() && a["resolved_at"].is_null());
    let (status, _) = api.send(Method::POST, &url, &agent, status_of(json!({"status": "IN_PROGRESS"}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "to the current status");
    let (status, _) = api.send(Method::POST, &url, &agent, status_of(json!({"status": "RESOLVED"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "notes are required");
    let (status, body) =
        api.send(Method::POST, &url, &agent, status_of(json!({"status": "RESOLVED", "resolution_notes": " \t"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"]["details"]["resolution_notes"].is_string());
    let (status, _) = api
        .send(Method::POST, &url, &integration, status_of(json!({"status": "RESOLVED", "resolution_notes": "done"})))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, a) = api
        .send(
            Method::POST,
            &url,
            &agent,
            status_of(json!({"status": "RESOLVED", "resolution_notes": "Widget redeployed"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{a}");
    assert_eq!((a["status"].as_str(), a["resolution_notes"].as_str()), (Some("RESOLVED"), Some("Widget redeployed")));
    assert!(a["resolved_at"].is_string());
    let (status, _) =
        api.send(Method::POST, &url, &agent, status_of(json!({"status": "DISMISSED", "resolution_notes": "x"}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "resolved → dismissed is not a transition");
    let (status, a) =
        api.send(Method::POST, &url, &agent, status_of(json!({"status": "OPEN", "note": "back again"}))).await;
    assert_eq!((status, a["status"].as_str()), (StatusCode::OK, Some("OPEN")));
    assert!(a["resolved_at"].is_null() && a["acknowledged_at"].is_string());

    // Comments and severity.
    let (status, c) = api
        .send(Method::POST, &format!("/v1/alerts/{id}/comments"), &agent, Some(json!({"text": "Customers confirm"})))
        .await;
    assert_eq!((status, c["action"].as_str()), (StatusCode::CREATED, Some("COMMENTED")), "{c}");
    let (status, _) =
        api.send(Method::POST, &format!("/v1/alerts/{id}/comments"), &agent, Some(json!({"text": ""}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let severity = Some(json!({"severity": "CRITICAL", "note": "all enterprise customers"}));
    let (status, _) = api.send(Method::PUT, &format!("/v1/alerts/{id}/severity"), &agent, severity.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, a) = api.send(Method::PUT, &format!("/v1/alerts/{id}/severity"), &manager, severity).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((a["severity"].as_str(), a["severity_pinned"].as_bool()), (Some("CRITICAL"), Some(true)));
    let actions: Vec<&str> =
        a["history"].as_array().expect("history").iter().filter_map(|h| h["action"].as_str()).collect();
    assert_eq!(
        actions,
        ["CREATED", "ASSIGNED", "STATUS_CHANGED", "STATUS_CHANGED", "STATUS_CHANGED", "COMMENTED", "SEVERITY_CHANGED"]
    );
    assert!(a["history"][1]["changed_by_name"].is_string());
    // Every change went to `rtcx.alerts.v1` through the outbox, in order, with who made it
    // and the workflow state after it.
    let events: Vec<(String, Value)> = sqlx::query_as(
        "SELECT event_type, payload FROM outbox WHERE aggregate_type = 'alert' AND aggregate_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&api.state.pg)
    .await
    .expect("outbox");
    let types: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        types,
        [
            "alert_raised",
            "alert_assigned",
            "alert_status_changed",
            "alert_status_changed",
            "alert_status_changed",
            "alert_commented",
            "alert_severity_changed"
        ]
    );
    for (_, e) in &events {
        let parsed: rtcx_schemas::AlertEvent = serde_json::from_value(e.clone()).expect("an AlertEvent");
        assert!(parsed.workflow.is_some(), "{e}");
    }
    let resolved = &events[3].1;
    assert_eq!(
        (resolved["change"].as_str(), resolved["workflow"]["status"].as_str()),
        (Some("STATUS_CHANGED"), Some("RESOLVED"))
    );
    assert_eq!(resolved["workflow"]["note"], "Widget redeployed");
    assert_eq!(resolved["workflow"]["by"].as_str(), Some(my_id(&api, &agent).await.as_str()));
    assert_eq!(events[1].1["workflow"]["assignee_id"].as_str(), Some(agent_id.as_str()));
    assert_eq!(events[6].1["severity"], "CRITICAL");
    let (status, _) = api.send(Method::GET, &format!("/v1/alerts/{}", uuid::Uuid::now_v7()), &agent, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Statistics count what is there (other tests' alerts included: at least ours).
    let (status, stats) = api.send(Method::GET, "/v1/alerts/stats?range=24h", &integration, None).await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    assert!(stats["total"].as_i64().is_some_and(|t| t >= 3));
    assert!(stats["by_type"]["CHANNEL_PERFORMANCE"].as_i64().is_some_and(|n| n >= 3));
    assert_eq!(stats["by_type"].as_object().map(|m| m.len()), Some(6), "every type listed");
    assert!(stats["mean_time_to_acknowledge_secs"].as_f64().is_some_and(|s| s >= 0.0));
    assert!(stats["open_by_age"]["under_1h"].as_i64().is_some_and(|n| n >= 3));

    sqlx::query("DELETE FROM alerts WHERE id::text = ANY($1)")
        .bind(&ids)
        .execute(&api.state.pg)
        .await
        .expect("cleanup");
    common::drop_clickhouse(&database).await;
}

#[tokio::test]
async fn rules_silences_and_a_preview_over_history() {
    let (api, database) = start_with_clickhouse().await;
    let (_, manager) = api.logged_in(Role::Manager).await;
    let (_, agent) = api.logged_in(Role::Agent).await;

    // The built-in catalogue, with what each rule runs with.
    let (status, rules) = api.send(Method::GET, "/v1/alert-rules", &agent, None).await;
    assert_eq!(status, StatusCode::OK);
    let builtin: Vec<&Value> = rules.as_array().expect("rules").iter().filter(|r| r["builtin"] == true).collect();
    assert_eq!(builtin.len(), 10);
    let churn = builtin.iter().find(|r| r["name"] == "customer_churn").expect("customer_churn");
    assert_eq!(
        (churn["alert_type"].as_str(), churn["scope"].as_str()),
        (Some("CUSTOMER_CHURN_RISK"), Some("customer"))
    );
    assert_eq!(churn["effective"]["min_volume"], 3);
    let (status, _) = api.send(Method::GET, "/v1/alert-rules/customer_churn/preview", &manager, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "no preview for the churn rule");
    let share = builtin.iter().find(|r| r["name"] == "channel_negative_share").expect("channel_negative_share");
    assert_eq!((share["alert_type"].as_str(), share["scope"].as_str()), (Some("SENTIMENT_SPIKE"), Some("channel")));
    assert_eq!(share["effective"]["min_volume"], 20);

    // A rule of one's own (disabled: the shared evaluator of other tests must not run it).
    let name = unique("email_share").to_lowercase();
    let draft = json!({"name": name, "detector": "channel_negative_share", "enabled": false, "sensitivity": "high",
                       "min_volume": 30, "channels": ["email", "email"], "description": "stricter"});
    let (status, _) = api.send(Method::POST, "/v1/alert-rules", &agent, Some(draft.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, r) = api.send(Method::POST, "/v1/alert-rules", &manager, Some(draft.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    assert_eq!((r["channels"].clone(), r["effective"]["min_volume"].clone()), (json!(["email"]), json!(30)));
    let (status, _) = api.send(Method::POST, "/v1/alert-rules", &manager, Some(draft)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, body) = api
        .send(
            Method::POST,
            "/v1/alert-rules",
            &manager,
            Some(json!({"name": "Bad Name", "detector": "nope", "pending_windows": 0, "channels": ["fax"]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    for f in ["name", "detector", "pending_windows", "channels"] {
        assert!(body["error"]["details"][f].is_string(), "{f}: {body}");
    }
    // null resets an override; absent fields stay.
    let (status, r) = api
        .send(
            Method::PATCH,
            &format!("/v1/alert-rules/{name}"),
            &manager,
            Some(json!({"min_volume": null, "pending_windows": 4})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!((r["min_volume"].clone(), r["effective"]["min_volume"].clone()), (Value::Null, json!(20)));
    assert_eq!((r["pending_windows"].clone(), r["sensitivity"].clone()), (json!(4), json!("high")));
    let (status, _) = api.send(Method::DELETE, "/v1/alert-rules/negative_share", &manager, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "built-in rules are disabled, not deleted");

    // Preview: steady email and chat traffic for two days, then email turns negative.
    let now = chrono::Utc::now().timestamp();
    let end = now - now.rem_euclid(300) - 300;
    let start = end - 2 * 86_400;
    for (channel, from, windows, per_window, negatives_in_five) in
        [("email", start, 576, 10, 1), ("chat", start, 576, 10, 1), ("email", end - 1800, 6, 40, 5)]
    {
        rtcx_service_kit::testing::insert_windows(&api.state.ch, from, windows, per_window, channel, negatives_in_five)
            .await;
    }
    let preview_draft = json!({"name": "try_it", "detector": "channel_negative_share", "channels": ["email"]});
    let (status, p) =
        api.send(Method::POST, "/v1/alert-rules/preview?range=24h", &manager, Some(preview_draft.clone())).await;
    assert_eq!(status, StatusCode::OK, "{p}");
    let alerts = p["alerts"].as_array().expect("alerts");
    assert_eq!(alerts.len(), 1, "one incident, one alert: {p}");
    assert_eq!(alerts[0]["dimension"], json!({"channel": "email"}));
    assert_eq!(alerts[0]["alert_type"], "SENTIMENT_SPIKE");
    let fired =
        chrono::DateTime::parse_from_rfc3339(field(&alerts[0], "fired_window_start")).expect("time").timestamp();
    assert!((end - 1800..end - 1800 + 3 * 300).contains(&fired), "found within 3 windows of its start: {p}");
    assert_eq!(p["series"], 1, "the rule watches email only");
    // The same detector on chat only: nothing.
    let chat = json!({"name": "try_chat", "detector": "channel_negative_share", "channels": ["chat"]});
    let (_, quiet) = api.send(Method::POST, "/v1/alert-rules/preview?range=24h", &manager, Some(chat)).await;
    assert_eq!(quiet["alerts"].as_array().map(Vec::len), Some(0), "{quiet}");
    // A stored rule (disabled rules preview too); agents may not preview.
    let (status, stored) =
        api.send(Method::GET, &format!("/v1/alert-rules/{name}/preview?range=24h"), &manager, None).await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    assert_eq!(stored["rule"], name.as_str());
    let (status, _) = api.send(Method::POST, "/v1/alert-rules/preview", &agent, Some(preview_draft)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Nothing was stored.
    let stored_alerts: i64 = sqlx::query_scalar("SELECT count(*) FROM alerts WHERE rule IN ($1, 'try_it')")
        .bind(&name)
        .fetch_one(&api.state.pg)
        .await
        .expect("count");
    assert_eq!(stored_alerts, 0);

    let (status, _) = api.send(Method::DELETE, &format!("/v1/alert-rules/{name}"), &manager, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = api.send(Method::GET, &format!("/v1/alert-rules/{name}"), &manager, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Silences: a matcher is required; expiring keeps the record.
    let (status, _) = api
        .send(
            Method::POST,
            "/v1/alert-silences",
            &manager,
            Some(json!({"matcher": {}, "duration_minutes": 60, "comment": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let channel_silence = json!({"matcher": {"channel": "email", "alert_type": "SENTIMENT_SPIKE"}, "duration_minutes": 60, "comment": "provider migration"});
    let (status, _) = api.send(Method::POST, "/v1/alert-silences", &agent, Some(channel_silence.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A silence of a rule that does not exist mutes nothing else in the shared database.
    let silence = json!({"matcher": {"rule": unique("no_such_rule").to_lowercase()}, "duration_minutes": 60, "comment": "provider migration"});
    let (status, s) = api.send(Method::POST, "/v1/alert-silences", &manager, Some(silence)).await;
    assert_eq!(status, StatusCode::CREATED, "{s}");
    assert_eq!(s["active"], true);
    let id = field(&s, "id").to_owned();
    let listed = |v: &Value| v.as_array().is_some_and(|l| l.iter().any(|x| x["id"] == id.as_str()));
    let (_, active) = api.send(Method::GET, "/v1/alert-silences", &agent, None).await;
    assert!(listed(&active));
    let (status, _) = api.send(Method::DELETE, &format!("/v1/alert-silences/{id}"), &manager, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, active) = api.send(Method::GET, "/v1/alert-silences", &agent, None).await;
    assert!(!listed(&active), "expired");
    let (_, all) = api.send(Method::GET, "/v1/alert-silences?include_expired=true", &agent, None).await;
    assert!(listed(&all), "the record stays");
    let (status, _) =
        api.send(Method::DELETE, &format!("/v1/alert-silences/{}", uuid::Uuid::now_v7()), &manager, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    common::drop_clickhouse(&database).await;
}
