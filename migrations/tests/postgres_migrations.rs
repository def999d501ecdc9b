//! Postgres migrations apply to a fresh database, roll forward idempotently, and the schema
//! enforces its rules.

mod common;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions as _, Executor as _, PgPool, Row as _};

/// Creates a throw-away database and returns a pool on it plus its name.
async fn fresh_database() -> (PgPool, PgPool, String) {
    let url = common::env("RTCX_POSTGRES_URL");
    let admin = PgPoolOptions::new().max_connections(1).connect(&url).await.expect("connect to RTCX_POSTGRES_URL");
    let name = common::unique("rtcx_migtest");
    admin.execute(format!("CREATE DATABASE {name}").as_str()).await.expect("create database");
    let opts: PgConnectOptions =
        url.parse::<PgConnectOptions>().expect("url").database(&name).disable_statement_logging();
    let pool = PgPoolOptions::new().max_connections(2).connect_with(opts).await.expect("connect to fresh database");
    (admin, pool, name)
}

async fn drop_database(admin: &PgPool, pool: PgPool, name: &str) {
    pool.close().await;
    admin.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str()).await.expect("drop database");
}

#[tokio::test]
async fn migrations_apply_to_a_fresh_database_and_roll_forward() {
    let (admin, pool, name) = fresh_database().await;

    let applied = rtcx_migrations::postgres::migrate(&pool).await.expect("first run");
    let expected = rtcx_migrations::postgres::MIGRATOR.iter().count();
    assert_eq!(applied, expected, "every migration applies on a fresh database");
    assert!(expected >= 5);

    let again = rtcx_migrations::postgres::migrate(&pool).await.expect("second run");
    assert_eq!(again, 0, "a second run applies nothing");

    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .expect("list tables");
    for t in [
        "alert_history",
        "alerts",
        "api_key_usage",
        "api_keys",
        "outbox",
        "event_time_watermarks",
        "password_reset_tokens",
        "saved_dashboards",
        "sessions",
        "topic_suggestions",
        "topics",
        "users",
    ] {
        assert!(tables.iter().any(|x| x == t), "table {t} missing: {tables:?}");
    }
    drop_database(&admin, pool, &name).await;
}

#[tokio::test]
async fn the_schema_enforces_roles_statuses_and_uniqueness() {
    let (admin, pool, name) = fresh_database().await;
    rtcx_migrations::postgres::migrate(&pool).await.expect("migrate");

    let insert_user = "INSERT INTO users (email, password_hash, role) VALUES ($1, 'x', $2) RETURNING id";
    let id: uuid::Uuid = sqlx::query(insert_user)
        .bind("ada@example.com")
        .bind("ADMIN")
        .fetch_one(&pool)
        .await
        .expect("valid user")
        .get(0);
    let err = sqlx::query(insert_user).bind("bob@example.com").bind("ROOT").execute(&pool).await;
    assert!(err.is_err(), "unknown role must be rejected");
    let err = sqlx::query(insert_user).bind("ada@example.com").bind("AGENT").execute(&pool).await;
    assert!(err.is_err(), "duplicate e-mail must be rejected");
    let err = sqlx::query(insert_user).bind("Ada@Example.com").bind("AGENT").execute(&pool).await;
    assert!(err.is_err(), "e-mails are stored lower-case");

    let alert = "INSERT INTO alerts (id, alert_type, severity, title, window_start, window_end)
                 VALUES (gen_random_uuid(), $1, $2, 't', now() - interval '1 hour', now())";
    sqlx::query(alert).bind("SENTIMENT_SPIKE").bind("HIGH").execute(&pool).await.expect("valid alert");
    assert!(sqlx::query(alert).bind("SPIKE").bind("HIGH").execute(&pool).await.is_err(), "unknown alert type");
    assert!(sqlx::query(alert).bind("SYSTEM_ANOMALY").bind("URGENT").execute(&pool).await.is_err(), "unknown severity");
    let status: String =
        sqlx::query_scalar("SELECT status FROM alerts LIMIT 1").fetch_one(&pool).await.expect("status");
    assert_eq!(status, "OPEN");

    let key = "INSERT INTO api_keys (name, source, prefix, key_hash, scopes, created_by) VALUES ('k', $1, 'rtcx_ab', $2, $3, $4)";
    sqlx::query(key)
        .bind("zendesk")
        .bind(vec![7u8; 32])
        .bind(vec!["ingest".to_string()])
        .bind(id)
        .execute(&pool)
        .await
        .expect("valid key");
    assert!(
        sqlx::query(key)
            .bind("zendesk")
            .bind(vec![8u8; 32])
            .bind(vec!["admin".to_string()])
            .bind(id)
            .execute(&pool)
            .await
            .is_err(),
        "unknown scope"
    );
    assert!(
        sqlx::query(key)
            .bind("bad source!")
            .bind(vec![9u8; 32])
            .bind(vec!["read".to_string()])
            .bind(id)
            .execute(&pool)
            .await
            .is_err(),
        "invalid source name"
    );
    assert!(
        sqlx::query(key)
            .bind("zendesk")
            .bind(vec![7u8; 32])
            .bind(vec!["read".to_string()])
            .bind(id)
            .execute(&pool)
            .await
            .is_err(),
        "duplicate key hash"
    );
    drop_database(&admin, pool, &name).await;
}
