//! Account e-mails from the outbox: the query API writes `password_reset_requested` (aggregate
//! `user`) in the transaction that stores the reset token, and `user_created` in the one that
//! creates an account through the API (by an administrator or self-registration). Notifiers
//! claim those rows with `FOR UPDATE SKIP LOCKED` and, in the same transaction, queue the mail
//! (message id `msg_user_<outbox id>`; a reset is marked sensitive: its link is erased from
//! the queue once sent), mark the row published and erase the token from it. Runs only where
//! SMTP is configured.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::{Notify, watch};

use crate::deliveries::{NewDelivery, Target, enqueue};
use crate::email::render;
use crate::schedule::{self, Schedule};

/// Rows per round.
const BATCH: i64 = 50;

#[derive(serde::Deserialize)]
struct ResetRequested {
    email: String,
    token: String,
    expires_at: DateTime<Utc>,
}

#[derive(serde::Deserialize)]
struct UserCreated {
    email: String,
    display_name: String,
    role: String,
    by_admin: bool,
}

/// Errors of a round.
#[derive(Debug, thiserror::Error)]
pub enum AccountMailError {
    #[error("Postgres: {0}")]
    Postgres(#[from] sqlx::Error),
    #[error(transparent)]
    Render(#[from] render::RenderError),
}

/// One round: returns how many mails were queued.
pub async fn round(pg: &PgPool, console_url: &str) -> Result<usize, AccountMailError> {
    let mut tx = pg.begin().await?;
    let rows: Vec<(i64, String, serde_json::Value, DateTime<Utc>)> = sqlx::query_as(
        "SELECT id, event_type, payload, created_at FROM outbox
         WHERE aggregate_type = 'user' AND published_at IS NULL AND available_at <= now()
         ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await?;
    let mut queued = 0;
    for (id, event_type, payload, created_at) in rows {
        let reset = serde_json::from_value::<ResetRequested>(payload.clone());
        let note = match (event_type.as_str(), reset) {
            ("password_reset_requested", Ok(r)) if r.expires_at > Utc::now() => {
                let content = render::password_reset(&r.email, &r.token, r.expires_at, console_url)?;
                let d = NewDelivery {
                    message_id: format!("msg_user_{id}"),
                    target: Target::Email(r.email),
                    event_type,
                    payload: serde_json::to_value(content).map_err(|e| sqlx::Error::Encode(Box::new(e)))?,
                    event_at: created_at,
                    sensitive: true,
                    group_key: None,
                    delay: Duration::ZERO,
                    bulk: false,
                };
                queued += usize::from(enqueue(&mut *tx, &d).await?);
                None
            }
            ("password_reset_requested", Ok(_)) => Some("expired before it could be sent"),
            ("password_reset_requested", Err(_)) => Some("unreadable payload"),
            ("user_created", _) => match serde_json::from_value::<UserCreated>(payload) {
                Ok(u) => {
                    let content = render::welcome(&u.email, &u.display_name, &u.role, u.by_admin, console_url)?;
                    let d = NewDelivery {
                        message_id: format!("msg_user_{id}"),
                        target: Target::Email(u.email),
                        event_type,
                        payload: serde_json::to_value(content).map_err(|e| sqlx::Error::Encode(Box::new(e)))?,
                        event_at: created_at,
                        sensitive: false,
                        group_key: None,
                        delay: Duration::ZERO,
                        bulk: false,
                    };
                    queued += usize::from(enqueue(&mut *tx, &d).await?);
                    None
                }
                Err(_) => Some("unreadable payload"),
            },
            _ => Some("no notification for this event type"),
        };
        sqlx::query(
            "UPDATE outbox SET published_at = now(), attempts = attempts + 1, last_error = $2, payload = payload - 'token'
             WHERE id = $1",
        )
        .bind(id)
        .bind(note)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(queued)
}

/// Queues account mails until shutdown, every `every`; `queued` wakes the dispatcher.
pub async fn run(
    pg: PgPool,
    console_url: String,
    every: Duration,
    queued: std::sync::Arc<Notify>,
    shutdown: watch::Receiver<bool>,
) {
    let s = Schedule { name: "account mails", metric: "rtcx_notifier_account_mails_total", every, queued, shutdown };
    schedule::run(s, || round(&pg, &console_url)).await;
}
