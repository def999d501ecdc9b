//! Users and API keys over HTTP against the real Postgres: the role matrix on every route,
//! filters and pagination, hostile filter input, deactivation, and API keys shown once.

mod common;

use common::{PASSWORD, field, start};
use reqwest::{Method, StatusCode};
use rtcx_query_api::auth::{Permission, Role};
use rtcx_service_kit::testing::unique;
use serde_json::json;

#[tokio::test]
async fn every_route_enforces_the_permission_matrix() {
    let (api, database) = common::start_with_clickhouse().await;
    let (_, admin) = api.logged_in(Role::Admin).await;
    let target = api.user(Role::Agent).await;
    let (_, page) = api.send(Method::GET, &format!("/v1/users?q={target}"), &admin, None).await;
    let target_id = page["items"][0]["id"].as_str().expect("target id").to_owned();
    let (_, key) =
        api.send(Method::POST, "/v1/api-keys", &admin, Some(json!({"name": "matrix", "source": "matrix"}))).await;
    let key_id = field(&key, "id").to_owned();
    let (_, topic) = api.send(Method::POST, "/v1/topics", &admin, Some(json!({"name": unique("matrix topic")}))).await;
    let topic_id = field(&topic, "id").to_owned();

    for role in Role::ALL {
        let (_, token) = api.logged_in(role).await;
        let routes: Vec<(Method, String, Option<serde_json::Value>, Permission)> = vec![
            (Method::GET, "/v1/auth/me".into(), None, Permission::ManageOwnAccount),
            (Method::GET, "/v1/auth/sessions".into(), None, Permission::ManageOwnAccount),
            (Method::GET, "/v1/users".into(), None, Permission::ReadUsers),
            (Method::GET, format!("/v1/users/{target_id}"), None, Permission::ReadUsers),
            (
                Method::POST,
                "/v1/users".into(),
                Some(
                    json!({"email": format!("{}@example.com", unique("m").to_lowercase()), "password": PASSWORD, "role": "AGENT"}),
                ),
                Permission::ManageUsers,
            ),
            (
                Method::PATCH,
                format!("/v1/users/{target_id}"),
                Some(json!({"display_name": "Renamed"})),
                Permission::ManageUsers,
            ),
            (Method::GET, "/v1/api-keys".into(), None, Permission::ManageApiKeys),
            (
                Method::POST,
                "/v1/api-keys".into(),
                Some(json!({"name": "k", "source": "matrix"})),
                Permission::ManageApiKeys,
            ),
            (Method::DELETE, format!("/v1/api-keys/{}", uuid::Uuid::new_v4()), None, Permission::ManageApiKeys),
            (Method::GET, "/v1/topics".into(), None, Permission::ReadAnalytics),
            (Method::GET, format!("/v1/topics/{topic_id}"), None, Permission::ReadAnalytics),
            (Method::GET, format!("/v1/topics/{topic_id}/stats?range=7d"), None, Permission::ReadAnalytics),
            (Method::GET, "/v1/topics/trending?range=24h".into(), None, Permission::ReadAnalytics),
            (Method::POST, "/v1/topics".into(), Some(json!({"name": unique("t")})), Permission::ManageTopics),
            (
                Method::PATCH,
                format!("/v1/topics/{topic_id}"),
                Some(json!({"description": "d"})),
                Permission::ManageTopics,
            ),
            (Method::GET, "/v1/topics/suggestions".into(), None, Permission::ManageTopics),
            (
                Method::POST,
                format!("/v1/topics/suggestions/{}/reject", uuid::Uuid::new_v4()),
                None,
                Permission::ManageTopics,
            ),
            (Method::DELETE, format!("/v1/topics/{}", uuid::Uuid::new_v4()), None, Permission::ManageTopics),
        ];
        for (method, path, body, permission) in routes {
            let (status, answer) = api.send(method.clone(), &path, &token, body).await;
            if role.allows(permission) {
                assert!(
                    status.is_success() || status == StatusCode::NOT_FOUND,
                    "{role:?} {method} {path}: {status} {answer}"
                );
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{role:?} {method} {path}: {answer}");
                assert_eq!(answer["error"]["code"], "forbidden");
            }
        }
    }
    let (status, _) = api.send(Method::DELETE, &format!("/v1/api-keys/{key_id}"), &admin, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    common::drop_clickhouse(&database).await;
}

#[tokio::test]
async fn users_are_filtered_paginated_and_deactivated_safely() {
    let api = start(false, 50).await;
    let (_, admin) = api.logged_in(Role::Admin).await;
    let tag = unique("team").to_lowercase();
    for i in 0..3 {
        let (status, body) = api
            .send(
                Method::POST,
                "/v1/users",
                &admin,
                Some(json!({"email": format!("{tag}-{i}@example.com"), "password": PASSWORD, "display_name": format!("Member {i}"), "role": "MANAGER"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        // The account and its welcome mail's outbox row are one transaction.
        let payload: serde_json::Value = sqlx::query_scalar(
            "SELECT payload FROM outbox WHERE aggregate_type = 'user' AND event_type = 'user_created' AND aggregate_id = $1",
        )
        .bind(body["id"].as_str().expect("id"))
        .fetch_one(&api.state.pg)
        .await
        .expect("a user_created outbox row");
        assert_eq!(
            payload,
            json!({"email": format!("{tag}-{i}@example.com"), "display_name": format!("Member {i}"), "role": "MANAGER", "by_admin": true})
        );
    }
    let (status, _) = api
        .send(
            Method::POST,
            "/v1/users",
            &admin,
            Some(json!({"email": format!("{tag}-0@example.com"), "password": PASSWORD, "role": "AGENT"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let announced: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE event_type = 'user_created' AND payload->>'email' = $1")
            .bind(format!("{tag}-0@example.com"))
            .fetch_one(&api.state.pg)
            .await
            .expect("count");
    assert_eq!(announced, 1, "a refused duplicate announces nothing");
    let (status, body) = api
        .send(Method::POST, "/v1/users", &admin, Some(json!({"email": "a@b.io", "password": "weak", "role": "AGENT"})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"]["details"]["password"].is_string());
    let (status, _) = api
        .send(Method::POST, "/v1/users", &admin, Some(json!({"email": "a@b.io", "password": PASSWORD, "role": "ROOT"})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "unknown role");

    // Filters and keyset pagination.
    let (_, page1) = api.send(Method::GET, &format!("/v1/users?q={tag}&role=MANAGER&limit=2"), &admin, None).await;
    assert_eq!(page1["items"].as_array().map(Vec::len), Some(2));
    let after = field(&page1, "next_after").to_owned();
    let (_, page2) = api.send(Method::GET, &format!("/v1/users?q={tag}&limit=2&after={after}"), &admin, None).await;
    assert_eq!(page2["items"].as_array().map(Vec::len), Some(1));
    assert!(page2["next_after"].is_null());
    let emails: Vec<String> = [&page1, &page2]
        .iter()
        .flat_map(|p| {
            p["items"].as_array().into_iter().flatten().map(|u| u["email"].as_str().unwrap_or_default().to_owned())
        })
        .collect();
    assert_eq!(emails, (0..3).map(|i| format!("{tag}-{i}@example.com")).collect::<Vec<_>>());

    // Hostile input is data, not SQL.
    for q in ["' OR 1=1 --", "%", "%%_%%", "\\", "'; DROP TABLE users; --"] {
        let (status, page) = api.send(Method::GET, &format!("/v1/users?q={}", urlencode(q)), &admin, None).await;
        assert_eq!(status, StatusCode::OK, "{q}");
        assert_eq!(page["items"].as_array().map(Vec::len), Some(0), "{q} matched: {page}");
    }
    let (status, _) = api.send(Method::GET, "/v1/users?role=ROOT", &admin, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = api.send(Method::GET, "/v1/users?limit=1000", &admin, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Deactivation ends the user's sessions and refuses their logins.
    let (victim, victim_token) = api.logged_in(Role::Agent).await;
    let (_, page) = api.send(Method::GET, &format!("/v1/users?q={victim}"), &admin, None).await;
    let id = page["items"][0]["id"].as_str().expect("id").to_owned();
    let (status, body) =
        api.send(Method::PATCH, &format!("/v1/users/{id}"), &admin, Some(json!({"active": false}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["active"], false);
    assert_eq!(api.send(Method::GET, "/v1/auth/me", &victim_token, None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(api.login(&victim, PASSWORD).await.0, StatusCode::UNAUTHORIZED);
    let (status, _) = api
        .send(Method::PATCH, &format!("/v1/users/{}", uuid::Uuid::new_v4()), &admin, Some(json!({"active": false})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Nobody locks themselves out: one's own role and active flag are another admin's to change.
    let (_, me) = api.send(Method::GET, "/v1/auth/me", &admin, None).await;
    let me = me["id"].as_str().expect("id").to_owned();
    for change in [json!({"role": "MANAGER"}), json!({"active": false})] {
        let (status, body) = api.send(Method::PATCH, &format!("/v1/users/{me}"), &admin, Some(change)).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
    }
    let (status, body) = api
        .send(
            Method::PATCH,
            &format!("/v1/users/{me}"),
            &admin,
            Some(json!({"display_name": "Still me", "role": "ADMIN"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "renaming oneself is fine: {body}");
    assert_eq!(api.send(Method::GET, "/v1/auth/me", &admin, None).await.0, StatusCode::OK, "the session lives on");
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

#[tokio::test]
async fn api_keys_are_shown_once_stored_hashed_and_revocable() {
    use sha2::Digest as _;
    let api = start(false, 50).await;
    let (_, admin) = api.logged_in(Role::Admin).await;
    let (status, created) = api
        .send(
            Method::POST,
            "/v1/api-keys",
            &admin,
            Some(json!({"name": "CRM", "source": "crm.eu-1", "scopes": ["ingest", "read"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let key = field(&created, "key").to_owned();
    let id = field(&created, "id").to_owned();
    assert!(key.starts_with("rtcx_") && key.len() > 40);
    assert_eq!(field(&created, "prefix"), &key[..12]);
    let stored: Vec<u8> = sqlx::query_scalar("SELECT key_hash FROM api_keys WHERE id = $1::uuid")
        .bind(&id)
        .fetch_one(&api.state.pg)
        .await
        .expect("row");
    assert_eq!(stored, sha2::Sha256::digest(key.as_bytes()).to_vec(), "only the SHA-256 is stored");

    let (_, list) = api.send(Method::GET, "/v1/api-keys", &admin, None).await;
    let listed = list.as_array().expect("list").iter().find(|k| k["id"] == id.as_str()).expect("listed").clone();
    assert!(listed.get("key").is_none(), "the secret is never listed");
    assert_eq!(listed["accepted"], 0);
    assert_eq!(listed["scopes"], json!(["ingest", "read"]));

    let (status, body) = api
        .send(
            Method::POST,
            "/v1/api-keys",
            &admin,
            Some(json!({"name": "", "source": "bad source!", "scopes": ["admin"]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    for f in ["name", "source", "scopes"] {
        assert!(body["error"]["details"][f].is_string(), "{f}: {body}");
    }
    assert_eq!(api.send(Method::DELETE, &format!("/v1/api-keys/{id}"), &admin, None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(api.send(Method::DELETE, &format!("/v1/api-keys/{id}"), &admin, None).await.0, StatusCode::NOT_FOUND);
}
