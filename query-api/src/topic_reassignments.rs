//! `/v1/topic-reassignments`: apply the topic catalogue as it is now to past feedback (a new
//! topic, or one whose keywords or examples changed). A request queues a job; a processor runs
//! it a UTC day after the other, changing `feedback.topic_ids` in place and correcting the
//! topic rollups exactly once (processors/src/topics/reassign.rs; docs/models.md
//! "Retroactive assignment"). Its progress is read here, and it can be cancelled.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::{AuthUser, Permission};
use crate::error::ApiError;
use crate::range::TimeRange;

/// Longest range, in days (as for every range of the API: [`crate::range::MAX_DAYS`]).
pub const MAX_DAYS: u32 = crate::range::MAX_DAYS as u32;
/// Most topics named in one request.
pub const MAX_TOPICS: usize = 100;

/// What to reassign: the feedback of the last `days` days, or of the range `[from, to)`.
/// The document states "`days`, or `from` with an optional `to`" as a `oneOf`
/// (`openapi::state_field_rules`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"days": 30, "topic_ids": ["0190f5c3-1a2b-7c3d-8e4f-5a6b7c8d9e0f"]}))]
pub struct ReassignmentBody {
    /// The feedback of the last `days` days (by event time, up to now). Give either `days`, or
    /// `from` (and `to`).
    #[schema(minimum = 1, maximum = 400)]
    #[serde(default, deserialize_with = "crate::whole_number::optional")]
    pub days: Option<u32>,
    /// Start of the range (inclusive, RFC 3339, by event time), instead of `days`; 2000-01-01
    /// or later.
    #[serde(default)]
    pub from: Option<DateTime<Utc>>,
    /// End of the range (exclusive, RFC 3339; only with `from`; default: now); before
    /// 2100-01-01 and at most 400 days after `from`.
    #[serde(default)]
    pub to: Option<DateTime<Utc>>,
    /// The topics to apply (active ones); absent or empty: every active topic. A feedback's
    /// other topics are left as they are.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub topic_ids: Vec<Uuid>,
}

impl ReassignmentBody {
    /// The range the body asks for at `now`.
    fn range(&self, now: DateTime<Utc>) -> Result<TimeRange, ApiError> {
        match (self.days, self.from, self.to) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                Err(ApiError::invalid("days", "give either days, or from (and to), not both"))
            }
            (Some(days), None, None) if (1..=MAX_DAYS).contains(&days) => {
                Ok(TimeRange { from: now - Duration::days(i64::from(days)), to: now })
            }
            (Some(_), None, None) => Err(ApiError::invalid("days", format!("must be 1..={MAX_DAYS}"))),
            (None, Some(from), to) => TimeRange::explicit(from, to, now),
            (None, None, Some(_)) => Err(ApiError::invalid("from", "required with to")),
            (None, None, None) => Err(ApiError::invalid("days", "give days, or from (and to)")),
        }
    }
}

/// A reassignment job and how far it got.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(example = json!({"id": "0190f5d1-7a2b-7c3d-8e4f-5a6b7c8d9e01", "range_from": "2026-11-01T00:00:00Z", "range_to": "2026-12-01T00:00:00Z", "topic_ids": ["0190f5c3-1a2b-7c3d-8e4f-5a6b7c8d9e0f"], "status": "RUNNING", "days_total": 31, "days_done": 12, "rows_scanned": 412000, "rows_changed": 9120, "topics_added": 9050, "topics_removed": 70, "worker": "proc-1/4121", "heartbeat_at": "2026-12-01T10:02:11Z", "error": null, "requested_by": "0190f5c2-7b7e-7cc1-9a43-1e0b8f3c2a11", "created_at": "2026-12-01T10:00:00Z", "started_at": "2026-12-01T10:00:03Z", "finished_at": null}))]
pub struct Reassignment {
    pub id: Uuid,
    pub range_from: DateTime<Utc>,
    pub range_to: DateTime<Utc>,
    pub topic_ids: Vec<Uuid>,
    /// QUEUED, RUNNING, DONE, FAILED or CANCELLED.
    pub status: String,
    /// UTC days the range touches, and how many are finished.
    pub days_total: i32,
    pub days_done: i32,
    /// Feedback read, and feedback whose topics changed.
    pub rows_scanned: i64,
    pub rows_changed: i64,
    /// Topics gained and lost, over all feedback.
    pub topics_added: i64,
    pub topics_removed: i64,
    /// The processor running it, and when it last reported.
    pub worker: Option<String>,
    pub heartbeat_at: Option<DateTime<Utc>>,
    /// The last error (the job is tried again at the processor's next poll).
    pub error: Option<String>,
    pub requested_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, range_from, range_to, topic_ids, status, days_total, days_done, rows_scanned, rows_changed, \
     topics_added, topics_removed, worker, heartbeat_at, error, requested_by, created_at, started_at, finished_at";

/// UTC days that `[from, to)` touches.
fn days_touched(from: DateTime<Utc>, to: DateTime<Utc>) -> i32 {
    let first = from.duration_trunc(Duration::days(1)).unwrap_or(from);
    let last = (to - Duration::milliseconds(1)).duration_trunc(Duration::days(1)).unwrap_or(to);
    ((last - first).num_days() + 1) as i32
}

/// `POST /v1/topic-reassignments`.
#[utoipa::path(
    post,
    path = "/v1/topic-reassignments",
    operation_id = "topic_reassignments_create",
    tag = "topics",
    summary = "Apply topics to past feedback",
    description = "Queues a job that assigns the named topics (default: every active topic) again to the feedback of the last `days` days (or of `[from, to)`, at most 400 days between 2000-01-01 and 2100-01-01), from its text and stored embedding, as the catalogue is now. Other topics of a feedback stay. Jobs run one at a time, oldest first, in a processor; the topic rollups are corrected exactly once, and a job run again over the same range changes nothing. 404: a named topic does not exist or is archived; 409: there is no active topic.",
    request_body = ReassignmentBody,
    responses((status = 202, description = "Queued", body = Reassignment), (status = 400, response = crate::openapi::BadRequest), (status = 404, response = crate::openapi::NotFound), (status = 409, response = crate::openapi::Conflict)),
    extensions(("x-rtcx-permission" = json!("manage_topics")))
)]
pub async fn create(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    body: Result<Json<ReassignmentBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Reassignment>), ApiError> {
    user.require(Permission::ManageTopics)?;
    let Json(b) = body?;
    let range = b.range(Utc::now());
    let mut errors = match &range {
        Err(ApiError::Validation(e)) => e.clone(),
        _ => Vec::new(),
    };
    if b.topic_ids.len() > MAX_TOPICS {
        errors.push(("topic_ids".to_owned(), format!("at most {MAX_TOPICS} topics")));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let active: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM topics WHERE NOT archived ORDER BY created_at, id")
        .fetch_all(&app.pg)
        .await?;
    let topics = if b.topic_ids.is_empty() {
        active
    } else {
        // As everywhere a body names a topic: an unknown (or archived) one is a 404.
        if b.topic_ids.iter().any(|t| !active.contains(t)) {
            return Err(ApiError::NotFound("topic"));
        }
        let mut t = b.topic_ids.clone();
        t.sort();
        t.dedup();
        t
    };
    if topics.is_empty() {
        return Err(ApiError::Conflict("there are no active topics to apply"));
    }
    let TimeRange { from, to } = range?;
    let job: Reassignment = sqlx::query_as(&format!(
        "INSERT INTO topic_reassignments (range_from, range_to, topic_ids, next_day, days_total, requested_by) \
         VALUES ($1, $2, $3, $1, $4, $5) RETURNING {COLUMNS}"
    ))
    .bind(from)
    .bind(to)
    .bind(&topics)
    .bind(days_touched(from, to))
    .bind(user.id)
    .fetch_one(&app.pg)
    .await?;
    metrics::counter!("rtcx_query_api_topic_reassignments_total").increment(1);
    Ok((StatusCode::ACCEPTED, Json(job)))
}

/// `GET /v1/topic-reassignments`.
#[utoipa::path(
    get,
    path = "/v1/topic-reassignments",
    operation_id = "topic_reassignments_list",
    tag = "topics",
    summary = "Reassignment jobs, newest first",
    description = "The 100 newest jobs with their progress.",
    responses((status = 200, body = Vec<Reassignment>)),
    extensions(("x-rtcx-permission" = json!("read_analytics")))
)]
pub async fn list(State(app): State<Arc<AppState>>, user: AuthUser) -> Result<Json<Vec<Reassignment>>, ApiError> {
    user.require(Permission::ReadAnalytics)?;
    let jobs: Vec<Reassignment> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM topic_reassignments ORDER BY created_at DESC, id LIMIT 100"))
            .fetch_all(&app.pg)
            .await?;
    Ok(Json(jobs))
}

/// `GET /v1/topic-reassignments/{id}`.
#[utoipa::path(
    get,
    path = "/v1/topic-reassignments/{id}",
    operation_id = "topic_reassignments_get",
    tag = "topics",
    summary = "One reassignment job",
    params(("id" = Uuid, Path, description = "Job id")),
    responses((status = 200, body = Reassignment), (status = 404, response = crate::openapi::NotFound)),
    extensions(("x-rtcx-permission" = json!("read_analytics")))
)]
pub async fn get(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<Reassignment>, ApiError> {
    user.require(Permission::ReadAnalytics)?;
    let job: Option<Reassignment> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM topic_reassignments WHERE id = $1"))
        .bind(id)
        .fetch_optional(&app.pg)
        .await?;
    job.map(Json).ok_or(ApiError::NotFound("reassignment"))
}

/// `POST /v1/topic-reassignments/{id}/cancel`.
#[utoipa::path(
    post,
    path = "/v1/topic-reassignments/{id}/cancel",
    operation_id = "topic_reassignments_cancel",
    tag = "topics",
    summary = "Cancel a reassignment job",
    description = "A queued job never runs; a running one stops before its next day (the days done stay done, exactly).",
    params(("id" = Uuid, Path, description = "Job id")),
    responses((status = 200, body = Reassignment), (status = 404, response = crate::openapi::NotFound), (status = 409, response = crate::openapi::Conflict)),
    extensions(("x-rtcx-permission" = json!("manage_topics")))
)]
pub async fn cancel(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<Reassignment>, ApiError> {
    user.require(Permission::ManageTopics)?;
    let job: Option<Reassignment> = sqlx::query_as(&format!(
        "UPDATE topic_reassignments SET status = 'CANCELLED', finished_at = now() \
         WHERE id = $1 AND status IN ('QUEUED', 'RUNNING') RETURNING {COLUMNS}"
    ))
    .bind(id)
    .fetch_optional(&app.pg)
    .await?;
    match job {
        Some(job) => Ok(Json(job)),
        None => {
            let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM topic_reassignments WHERE id = $1)")
                .bind(id)
                .fetch_one(&app.pg)
                .await?;
            Err(if exists {
                ApiError::Conflict("the job has already ended")
            } else {
                ApiError::NotFound("reassignment")
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_touched_counts_partial_days() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().expect("time");
        assert_eq!(days_touched(t("2026-11-01T00:00:00Z"), t("2026-11-02T00:00:00Z")), 1);
        assert_eq!(days_touched(t("2026-11-01T10:00:00Z"), t("2026-11-02T10:00:00Z")), 2);
        assert_eq!(days_touched(t("2026-11-01T10:00:00Z"), t("2026-11-01T11:00:00Z")), 1);
        assert_eq!(days_touched(t("2026-11-01T10:00:00Z"), t("2026-12-01T10:00:00Z")), 31);
    }
}
