//! Sessions = refresh-token families in Postgres (`sessions`). Every refresh rotates the
//! token: the presented row is marked rotated and a new row joins the family. Presenting a
//! token that was already rotated or revoked is reuse — someone kept a copy — and revokes the
//! whole family, so the thief and the victim both have to log in again.

use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::tokens::{new_opaque_token, token_hash};

/// A refresh token just issued.
#[derive(Debug, Clone)]
pub struct IssuedRefresh {
    pub token: String,
    pub family_id: Uuid,
    pub expires_at: DateTime<Utc>,
}

/// The outcome of presenting a refresh token.
#[derive(Debug)]
pub enum Rotation {
    /// A new token for the same family, and who it belongs to.
    Rotated { user_id: Uuid, role: String, refresh: IssuedRefresh },
    /// Unknown token.
    Unknown,
    /// Expired, or the user was deactivated.
    Expired,
    /// Already rotated or revoked: the family is now revoked.
    Reused,
}

/// An active session as listed to its user.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(example = json!({"id": "0190f5c2-8a10-7d55-b3e1-55aa1f0c9e02", "created_at": "2026-11-28T17:40:12Z", "last_used_at": "2026-11-29T08:02:40Z", "expires_at": "2026-12-13T08:02:40Z", "user_agent": "Mozilla/5.0", "ip": "203.0.113.7"}))]
pub struct SessionInfo {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// Starts a new family (login).
pub async fn start(
    pg: &PgPool,
    user_id: Uuid,
    ttl: Duration,
    user_agent: Option<&str>,
    ip: Option<&str>,
) -> Result<IssuedRefresh, sqlx::Error> {
    let token = new_opaque_token();
    let family_id = Uuid::new_v4();
    let expires_at = Utc::now() + ttl;
    sqlx::query(
        "INSERT INTO sessions (user_id, family_id, token_hash, expires_at, user_agent, ip) \
         VALUES ($1, $2, $3, $4, $5, $6::inet)",
    )
    .bind(user_id)
    .bind(family_id)
    .bind(token_hash(&token))
    .bind(expires_at)
    .bind(user_agent.map(|u| u.chars().take(512).collect::<String>()))
    .bind(ip)
    .execute(pg)
    .await?;
    Ok(IssuedRefresh { token, family_id, expires_at })
}

#[derive(sqlx::FromRow)]
struct Presented {
    id: Uuid,
    user_id: Uuid,
    family_id: Uuid,
    expires_at: DateTime<Utc>,
    rotated_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    role: String,
    active: bool,
    user_agent: Option<String>,
    ip: Option<String>,
}

/// Rotates `token` (refresh).
pub async fn rotate(pg: &PgPool, token: &str, ttl: Duration) -> Result<Rotation, sqlx::Error> {
    let mut tx = pg.begin().await?;
    let row: Option<Presented> = sqlx::query_as(
        "SELECT s.id, s.user_id, s.family_id, s.expires_at, s.rotated_at, s.revoked_at, u.role, u.active, \
         s.user_agent, host(s.ip) AS ip FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.token_hash = $1 FOR UPDATE OF s",
    )
    .bind(token_hash(token))
    .fetch_optional(&mut *tx)
    .await?;
    let Some(Presented { id, user_id, family_id, expires_at, rotated_at, revoked_at, role, active, user_agent, ip }) =
        row
    else {
        return Ok(Rotation::Unknown);
    };
    if rotated_at.is_some() || revoked_at.is_some() {
        sqlx::query(
            "UPDATE sessions SET revoked_at = now(), revoked_reason = 'reuse_detected' \
             WHERE family_id = $1 AND revoked_at IS NULL",
        )
        .bind(family_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::warn!(%user_id, %family_id, "refresh token reuse: session family revoked");
        return Ok(Rotation::Reused);
    }
    let now = Utc::now();
    if expires_at <= now || !active {
        return Ok(Rotation::Expired);
    }
    let new_token = new_opaque_token();
    let new_expires = now + ttl;
    sqlx::query("UPDATE sessions SET rotated_at = now() WHERE id = $1").bind(id).execute(&mut *tx).await?;
    sqlx::query(
        "INSERT INTO sessions (user_id, family_id, parent_id, token_hash, expires_at, user_agent, ip) \
         VALUES ($1, $2, $3, $4, $5, $6, $7::inet)",
    )
    .bind(user_id)
    .bind(family_id)
    .bind(id)
    .bind(token_hash(&new_token))
    .bind(new_expires)
    .bind(user_agent)
    .bind(ip)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Rotation::Rotated {
        user_id,
        role,
        refresh: IssuedRefresh { token: new_token, family_id, expires_at: new_expires },
    })
}

/// Revokes one family of `user_id` (logout, or revoking a listed session). Returns whether
/// anything was revoked.
pub async fn revoke_family(pg: &PgPool, user_id: Uuid, family_id: Uuid, reason: &str) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE sessions SET revoked_at = now(), revoked_reason = $3 \
         WHERE user_id = $1 AND family_id = $2 AND revoked_at IS NULL",
    )
    .bind(user_id)
    .bind(family_id)
    .bind(reason)
    .execute(pg)
    .await?;
    Ok(r.rows_affected() > 0)
}

/// Revokes every session of `user_id` except the family `keep` (when given), on `ex` (the
/// pool, or a transaction).
pub async fn revoke_all<'e>(
    ex: impl sqlx::PgExecutor<'e>,
    user_id: Uuid,
    reason: &str,
    keep: Option<Uuid>,
) -> Result<u64, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE sessions SET revoked_at = now(), revoked_reason = $2 \
         WHERE user_id = $1 AND revoked_at IS NULL AND ($3::uuid IS NULL OR family_id <> $3)",
    )
    .bind(user_id)
    .bind(reason)
    .bind(keep)
    .execute(ex)
    .await?;
    Ok(r.rows_affected())
}

/// True while the family has a live (not revoked, not expired) token.
pub async fn family_active(pg: &PgPool, family_id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sessions WHERE family_id = $1 AND revoked_at IS NULL \
         AND rotated_at IS NULL AND expires_at > now())",
    )
    .bind(family_id)
    .fetch_one(pg)
    .await
}

/// The user's active sessions (one per family, its newest token), newest first.
pub async fn list(pg: &PgPool, user_id: Uuid) -> Result<Vec<SessionInfo>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.family_id AS id, f.created_at, s.created_at AS last_used_at, s.expires_at, s.user_agent, \
         host(s.ip) AS ip FROM sessions s \
         JOIN (SELECT family_id, min(created_at) AS created_at FROM sessions WHERE user_id = $1 GROUP BY family_id) f \
           ON f.family_id = s.family_id \
         WHERE s.user_id = $1 AND s.revoked_at IS NULL AND s.rotated_at IS NULL AND s.expires_at > now() \
         ORDER BY s.created_at DESC",
    )
    .bind(user_id)
    .fetch_all(pg)
    .await
}
