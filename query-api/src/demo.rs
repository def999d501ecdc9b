//! The demo set-up that `deploy/dev.sh up` runs (`rtcx-query-api demo`): an administrator
//! login and a small topic catalogue that fits the synthetic demo traffic, both created
//! idempotently, so that every dashboard, trending topic and driver shows data within a
//! minute of `up` and the printed login works however often `up` runs.

use std::path::Path;

use rtcx_schemas::notifications::NotificationPreferences;
use serde::Deserialize;
use sqlx::PgPool;

use crate::app::AppState;
use crate::auth::Role;
use crate::auth::handlers::{Welcome, check_password, create_user, hash_password, normalize_email, set_password};
use crate::error::ApiError;

/// One topic of the demo catalogue (deploy/demo/topics.json).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoTopic {
    pub name: String,
    pub category: String,
    pub description: String,
    pub keywords: Vec<String>,
}

/// Errors of the demo set-up.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("reading {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("parsing {path}: {source}")]
    Parse { path: String, source: serde_json::Error },
    #[error("{0:?}")]
    Api(ApiError),
    #[error("Postgres: {0}")]
    Postgres(#[from] sqlx::Error),
}

impl From<ApiError> for DemoError {
    fn from(e: ApiError) -> Self {
        DemoError::Api(e)
    }
}

/// Reads a catalogue file.
pub fn load_topics(path: &Path) -> Result<Vec<DemoTopic>, DemoError> {
    let p = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| DemoError::Read { path: p.clone(), source })?;
    serde_json::from_str(&text).map_err(|source| DemoError::Parse { path: p, source })
}

/// Inserts the topics that do not exist yet (by case-insensitive name); topics an
/// administrator has since edited are left as they are. Returns how many were created.
pub async fn ensure_topics(pg: &PgPool, topics: &[DemoTopic]) -> Result<u64, DemoError> {
    let mut created = 0;
    for t in topics {
        let keywords: Vec<String> = t.keywords.iter().map(|k| k.to_lowercase()).collect();
        created += sqlx::query(
            "INSERT INTO topics (name, category, description, keywords) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (lower(name)) DO NOTHING",
        )
        .bind(&t.name)
        .bind(&t.category)
        .bind(&t.description)
        .bind(&keywords)
        .execute(pg)
        .await?
        .rows_affected();
    }
    Ok(created)
}

/// Creates the administrator, or makes an existing account with this email an active
/// administrator with this password (so the login `up` prints always works; like any password
/// change, it ends the account's sessions). Without stored notification preferences it gets
/// a daily digest from midnight UTC, so that the demo's mailbox shows one. True when created.
pub async fn ensure_admin(app: &AppState, email: &str, password: &str) -> Result<bool, DemoError> {
    let email = normalize_email(email)?;
    check_password("password", password, &email)?;
    let created = match create_user(app, &email, "Demo administrator", password, Role::Admin, Welcome::None).await {
        Ok(_) => true,
        Err(ApiError::Conflict(_)) => {
            let hash = hash_password(password.to_owned()).await?;
            let mut tx = app.pg.begin().await?;
            let id: uuid::Uuid = sqlx::query_scalar(
                "UPDATE users SET role = $2, active = true, updated_at = now() WHERE email = $1 RETURNING id",
            )
            .bind(&email)
            .bind(Role::Admin.as_str())
            .fetch_one(&mut *tx)
            .await?;
            set_password(&mut tx, id, &hash, None).await?;
            tx.commit().await?;
            false
        }
        Err(e) => return Err(e.into()),
    };
    // The demo shows a digest at once: daily, due from midnight UTC, with the role's defaults
    // for everything else (kept if changed since).
    let defaults = NotificationPreferences::role_default(Role::Admin.as_str());
    sqlx::query(
        "INSERT INTO notification_preferences \
         (user_id, email_opt_out, alert_min_severity, alert_types, assignments, resolved, digest, digest_hour, time_zone) \
         SELECT id, $2, $3, NULL, $4, $5, 'daily', 0, 'UTC' FROM users WHERE email = $1 ON CONFLICT (user_id) DO NOTHING",
    )
    .bind(&email)
    .bind(defaults.email_opt_out)
    .bind(defaults.alert_min_severity.map(|s| s.as_str()))
    .bind(defaults.assignments)
    .bind(defaults.resolved)
    .execute(&app.pg)
    .await?;
    Ok(created)
}
