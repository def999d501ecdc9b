//! `/v1/topics`: the catalogue the processors assign feedback to (Postgres), its suggestions,
//! and per-topic analytics read from the ClickHouse rollup `feedback_topic_hourly`.
//!
//! Every change bumps `updated_at`, which the processors' catalogue fingerprint notices, so
//! assignment follows the catalogue without a restart. Example messages, counter-examples,
//! corrections and the per-topic quality report are in [`crate::topic_examples`].

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::{AuthUser, Permission};
use crate::error::ApiError;
use crate::range::{RangeQuery, TimeRange};
use crate::sql::contains_pattern;

/// A catalogue topic.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(example = json!({"id": "0190f5c3-1a2b-7c3d-8e4f-5a6b7c8d9e0f", "name": "Delivery delays", "category": "logistics", "keywords": ["late delivery", "parcel", "courier"], "excluded_keywords": ["delivery options"], "description": "Orders arriving after the promised date", "archived": false, "created_at": "2026-10-01T08:00:00Z", "updated_at": "2026-11-12T16:20:00Z"}))]
pub struct Topic {
    pub id: Uuid,
    pub name: String,
    pub category: String,
    pub keywords: Vec<String>,
    /// Words and phrases that keep the topic off a feedback whatever its score.
    pub excluded_keywords: Vec<String>,
    pub description: String,
    pub archived: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, name, category, keywords, excluded_keywords, description, archived, created_at, updated_at";

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Case-insensitive substring of name, keywords or description.
    pub q: Option<String>,
    /// Exact category.
    pub category: Option<String>,
    /// Include archived topics (default false).
    #[serde(default)]
    pub include_archived: bool,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Delivery delays", "category": "logistics", "keywords": ["late delivery", "parcel", "courier"], "description": "Orders arriving after the promised date"}))]
pub struct NewTopic {
    pub name: String,
    #[serde(default = "general")]
    pub category: String,
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Words and phrases that keep the topic off a feedback whatever its score.
    #[serde(default)]
    pub excluded_keywords: Vec<String>,
    #[serde(default)]
    pub description: String,
}

fn general() -> String {
    "general".to_owned()
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"keywords": ["late delivery", "courier", "tracking"], "archived": false}))]
pub struct TopicPatch {
    pub name: Option<String>,
    pub category: Option<String>,
    pub keywords: Option<Vec<String>>,
    pub excluded_keywords: Option<Vec<String>>,
    pub description: Option<String>,
    pub archived: Option<bool>,
}

/// Checks and normalises topic fields; every problem is reported.
/// Longest topic name, category, keyword (characters as sent); most keywords; longest description.
pub const NAME_MAX: usize = 120;
pub const CATEGORY_MAX: usize = 60;
pub const KEYWORD_MAX: usize = 80;
pub const KEYWORDS_MAX: usize = 50;
pub const DESCRIPTION_MAX: usize = 2000;

struct Fields<'a> {
    name: Option<&'a str>,
    category: Option<&'a str>,
    keywords: Option<&'a [String]>,
    excluded_keywords: Option<&'a [String]>,
    description: Option<&'a str>,
}

fn check(f: Fields<'_>) -> Result<(), ApiError> {
    let Fields { name, category, keywords, excluded_keywords, description } = f;
    let mut errors = Vec::new();
    use crate::text_input::name_ok;
    if name.is_some_and(|n| !name_ok(n, NAME_MAX)) {
        errors.push(("name".to_owned(), format!("must have 1..={NAME_MAX} characters, something visible")));
    }
    if category.is_some_and(|c| !name_ok(c, CATEGORY_MAX)) {
        errors.push(("category".to_owned(), format!("must have 1..={CATEGORY_MAX} characters, something visible")));
    }
    for (field, list) in [("keywords", keywords), ("excluded_keywords", excluded_keywords)] {
        if let Some(k) = list
            && (k.len() > KEYWORDS_MAX || k.iter().any(|w| !name_ok(w, KEYWORD_MAX)))
        {
            errors.push((
                field.to_owned(),
                format!("at most {KEYWORDS_MAX} keywords of 1..={KEYWORD_MAX} characters, something visible"),
            ));
        }
    }
    if description.is_some_and(|d| d.chars().count() > DESCRIPTION_MAX) {
        errors.push(("description".to_owned(), format!("at most {DESCRIPTION_MAX} characters")));
    }
    if errors.is_empty() { Ok(()) } else { Err(ApiError::Validation(errors)) }
}

fn clean_keywords(k: &[String]) -> Vec<String> {
    let mut out: Vec<String> = k.iter().map(|w| w.trim().to_lowercase()).collect();
    out.sort();
    out.dedup();
    out
}

/// `GET /v1/topics`.
#[utoipa::path(
    get,
    path = "/v1/topics",
    tag = "topics",
    summary = "List topics",
    params(ListQuery),
    responses((status = 200, description = "By name", body = Vec<Topic>), (status = 400, response = crate::openapi::BadRequest)),
    extensions(("x-rtcx-permission" = json!("read_analytics")))
)]
pub async fn list(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Vec<Topic>>, ApiError> {
    user.require(Permission::ReadAnalytics)?;
    let Query(q) = query?;
    let pattern = q.q.as_deref().map(contains_pattern);
    let rows = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM topics WHERE ($1 OR NOT archived) AND ($2::text IS NULL OR category = $2) \
         AND ($3::text IS NULL OR name ILIKE $3 OR description ILIKE $3 OR EXISTS (SELECT 1 FROM unnest(keywords) k WHERE k ILIKE $3)) \
         ORDER BY lower(name)"
    ))
    .bind(q.include_archived)
    .bind(q.category)
    .bind(pattern)
    .fetch_all(&app.pg)
    .await?;
    Ok(Json(rows))
}

/// `GET /v1/topics/{id}`.
#[utoipa::path(
    get,
    path = "/v1/topics/{id}",
    tag = "topics",
    summary = "One topic",
    params(("id" = Uuid, Path, description = "Topic id")),
    responses((status = 200, body = Topic), (status = 404, response = crate::openapi::NotFound)),
    extensions(("x-rtcx-permission" = json!("read_analytics")))
)]
pub async fn get(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<Topic>, ApiError> {
    user.require(Permission::ReadAnalytics)?;
    one(&app, id).await.map(Json)
}

async fn one(app: &AppState, id: Uuid) -> Result<Topic, ApiError> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM topics WHERE id = $1"))
        .bind(id)
        .fetch_optional(&app.pg)
        .await?
        .ok_or(ApiError::NotFound("topic"))
}

/// `POST /v1/topics`.
#[utoipa::path(
    post,
    path = "/v1/topics",
    tag = "topics",
    summary = "Create a topic",
    request_body = NewTopic,
    responses((status = 201, description = "Created; processors pick it up within their refresh interval", body = Topic), (status = 400, response = crate::openapi::BadRequest), (status = 409, response = crate::openapi::Conflict)),
    extensions(("x-rtcx-permission" = json!("manage_topics")))
)]
pub async fn create(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    body: Result<Json<NewTopic>, JsonRejection>,
) -> Result<(StatusCode, Json<Topic>), ApiError> {
    user.require(Permission::ManageTopics)?;
    let Json(t) = body?;
    check(Fields {
        name: Some(&t.name),
        category: Some(&t.category),
        keywords: Some(&t.keywords),
        excluded_keywords: Some(&t.excluded_keywords),
        description: Some(&t.description),
    })?;
    let topic = sqlx::query_as(&format!(
        "INSERT INTO topics (name, category, keywords, description, created_by, excluded_keywords) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
    ))
    .bind(t.name.trim())
    .bind(t.category.trim())
    .bind(clean_keywords(&t.keywords))
    .bind(t.description.trim())
    .bind(user.id)
    .bind(clean_keywords(&t.excluded_keywords))
    .fetch_one(&app.pg)
    .await
    .map_err(ApiError::on_unique_violation("a topic with this name exists"))?;
    Ok((StatusCode::CREATED, Json(topic)))
}

/// `PATCH /v1/topics/{id}` (archiving included).
#[utoipa::path(
    patch,
    path = "/v1/topics/{id}",
    tag = "topics",
    summary = "Change or archive a topic",
    params(("id" = Uuid, Path, description = "Topic id")),
    request_body = TopicPatch,
    responses((status = 200, body = Topic), (status = 400, response = crate::openapi::BadRequest), (status = 404, response = crate::openapi::NotFound), (status = 409, response = crate::openapi::Conflict)),
    extensions(("x-rtcx-permission" = json!("manage_topics")))
)]
pub async fn update(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    body: Result<Json<TopicPatch>, JsonRejection>,
) -> Result<Json<Topic>, ApiError> {
    user.require(Permission::ManageTopics)?;
    let Json(p) = body?;
    check(Fields {
        name: p.name.as_deref(),
        category: p.category.as_deref(),
        keywords: p.keywords.as_deref(),
        excluded_keywords: p.excluded_keywords.as_deref(),
        description: p.description.as_deref(),
    })?;
    let topic: Option<Topic> = sqlx::query_as(&format!(
        "UPDATE topics SET name = COALESCE($2, name), category = COALESCE($3, category), \
         keywords = COALESCE($4, keywords), description = COALESCE($5, description), \
         archived = COALESCE($6, archived), excluded_keywords = COALESCE($7, excluded_keywords), updated_at = now() \
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(p.name.map(|n| n.trim().to_owned()))
    .bind(p.category.map(|c| c.trim().to_owned()))
    .bind(p.keywords.map(|k| clean_keywords(&k)))
    .bind(p.description.map(|d| d.trim().to_owned()))
    .bind(p.archived)
    .bind(p.excluded_keywords.map(|k| clean_keywords(&k)))
    .fetch_optional(&app.pg)
    .await
    .map_err(ApiError::on_unique_violation("a topic with this name exists"))?;
    topic.map(Json).ok_or(ApiError::NotFound("topic"))
}

/// Number of stored feedback events assigned to `id`.
async fn usage(app: &AppState, id: Uuid) -> Result<u64, ApiError> {
    app.ch
        .query("SELECT toUInt64(ifNull(sum(feedback_count), 0)) FROM feedback_topic_hourly WHERE topic_id = toUUID(?)")
        .bind(id.to_string())
        .fetch_one::<u64>()
        .await
        .map_err(ApiError::from)
}

/// `DELETE /v1/topics/{id}`: refused while feedback references the topic and it is not
/// archived (archive it instead, which keeps its history and stops new assignments).
#[utoipa::path(
    delete,
    path = "/v1/topics/{id}",
    tag = "topics",
    summary = "Delete a topic",
    description = "409 while stored feedback references the topic and it is not archived: archive it instead (keeps its history, stops new assignments).",
    params(("id" = Uuid, Path, description = "Topic id")),
    responses((status = 204, description = "Done"), (status = 404, response = crate::openapi::NotFound), (status = 409, response = crate::openapi::Conflict)),
    extensions(("x-rtcx-permission" = json!("manage_topics")))
)]
pub async fn delete(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    user.require(Permission::ManageTopics)?;
    let topic = one(&app, id).await?;
    if !topic.archived && usage(&app, id).await? > 0 {
        return Err(ApiError::Conflict("feedback references this topic; archive it instead"));
    }
    sqlx::query("DELETE FROM topics WHERE id = $1").bind(id).execute(&app.pg).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Per-topic analytics over a range.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"topic_id": "0190f5c3-1a2b-7c3d-8e4f-5a6b7c8d9e0f", "from": "2026-11-22T10:00:00Z", "to": "2026-11-29T10:00:00Z", "feedback_count": 1840, "average_sentiment": -0.41, "sentiment": {"negative": 1120, "neutral": 430, "positive": 290}, "channels": {"email": 610, "chat": 702, "social": 528}}))]
pub struct TopicStats {
    pub topic_id: Uuid,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub feedback_count: u64,
    pub average_sentiment: Option<f64>,
    /// Counts by sentiment label.
    pub sentiment: std::collections::BTreeMap<String, u64>,
    /// Counts by channel.
    pub channels: std::collections::BTreeMap<String, u64>,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct StatRow {
    channel: String,
    sentiment_label: String,
    n: u64,
    score: f64,
}

/// `GET /v1/topics/{id}/stats?range=7d` (or `from`/`to`).
#[utoipa::path(
    get,
    path = "/v1/topics/{id}/stats",
    tag = "topics",
    summary = "Volume, sentiment and channels of a topic",
    params(("id" = Uuid, Path, description = "Topic id"), RangeQuery),
    responses((status = 200, body = TopicStats), (status = 400, response = crate::openapi::BadRequest), (status = 404, response = crate::openapi::NotFound)),
    extensions(("x-rtcx-permission" = json!("read_analytics")))
)]
pub async fn stats(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    query: Result<Query<RangeQuery>, QueryRejection>,
) -> Result<Json<TopicStats>, ApiError> {
    user.require(Permission::ReadAnalytics)?;
    let Query(q) = query?;
    let r = TimeRange::resolve(&q, Utc::now())?;
    one(&app, id).await?;
    let rows: Vec<StatRow> = app
        .ch
        .query(
            "SELECT channel, sentiment_label, toUInt64(sum(feedback_count)) AS n, sum(sentiment_score_sum) AS score \
             FROM feedback_topic_hourly WHERE topic_id = toUUID(?) AND hour >= toStartOfHour(fromUnixTimestamp(?)) \
             AND hour < fromUnixTimestamp(?) GROUP BY channel, sentiment_label",
        )
        .bind(id.to_string())
        .bind(r.from.timestamp())
        .bind(r.to.timestamp())
        .fetch_all()
        .await
        .map_err(ApiError::from)?;
    let mut s = TopicStats {
        topic_id: id,
        from: r.from,
        to: r.to,
        feedback_count: 0,
        average_sentiment: None,
        sentiment: Default::default(),
        channels: Default::default(),
    };
    let mut score = 0.0;
    for row in rows {
        s.feedback_count += row.n;
        score += row.score;
        *s.sentiment.entry(row.sentiment_label).or_default() += row.n;
        *s.channels.entry(row.channel).or_default() += row.n;
    }
    if s.feedback_count > 0 {
        s.average_sentiment = Some(score / s.feedback_count as f64);
    }
    Ok(Json(s))
}

/// A topic's volume now and in the previous equal window.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"topic_id": "0190f5c3-1a2b-7c3d-8e4f-5a6b7c8d9e0f", "name": "Delivery delays", "current": 412, "previous": 160, "growth": 1.575}))]
pub struct Trending {
    pub topic_id: Uuid,
    pub name: String,
    pub current: u64,
    pub previous: u64,
    /// (current − previous) / previous; null when the topic is new in this window.
    pub growth: Option<f64>,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct TrendRow {
    #[serde(with = "clickhouse::serde::uuid")]
    topic_id: Uuid,
    current: u64,
    previous: u64,
}

/// `GET /v1/topics/trending?range=24h`: topics by growth against the previous window (new
/// topics first, then by growth, then by volume).
#[utoipa::path(
    get,
    path = "/v1/topics/trending",
    tag = "topics",
    summary = "Topics by growth against the previous window",
    params(RangeQuery),
    responses((status = 200, description = "New topics first, then by growth, then by volume", body = Vec<Trending>), (status = 400, response = crate::openapi::BadRequest)),
    extensions(("x-rtcx-permission" = json!("read_analytics")), ("x-rtcx-cached" = json!(true)))
)]
pub async fn trending(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    RawQuery(raw): RawQuery,
    query: Result<Query<RangeQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    user.require(Permission::ReadAnalytics)?;
    crate::dashboard::cached(&app, "topics/trending", raw, compute_trending(&app, query)).await
}

async fn compute_trending(
    app: &AppState,
    query: Result<Query<RangeQuery>, QueryRejection>,
) -> Result<Json<Vec<Trending>>, ApiError> {
    let Query(q) = query?;
    let r = TimeRange::resolve(&q, Utc::now())?;
    let p = r.previous();
    // The rollup and the (small) catalogue at once.
    // One scan of the hourly rollup over both windows: measured faster here than splitting
    // each window into daily and hourly parts (four subqueries), which pays off for drivers.
    let rollup = async {
        app.ch
            .query(
                "SELECT topic_id, toUInt64(sumIf(feedback_count, hour >= fromUnixTimestamp(?))) AS current, \
                 toUInt64(sumIf(feedback_count, hour < fromUnixTimestamp(?))) AS previous \
                 FROM feedback_topic_hourly WHERE hour >= toStartOfHour(fromUnixTimestamp(?)) AND hour < fromUnixTimestamp(?) \
                 GROUP BY topic_id HAVING current > 0",
            )
            .bind(r.from.timestamp())
            .bind(r.from.timestamp())
            .bind(p.from.timestamp())
            .bind(r.to.timestamp())
            .fetch_all::<TrendRow>()
            .await
            .map_err(ApiError::from)
    };
    let catalogue = async {
        sqlx::query_as::<_, (Uuid, String)>("SELECT id, name FROM topics WHERE NOT archived")
            .fetch_all(&app.pg)
            .await
            .map_err(ApiError::from)
    };
    let (rows, names) = tokio::try_join!(rollup, catalogue)?;
    let mut out: Vec<Trending> = rows
        .into_iter()
        .filter_map(|row| {
            let name = names.iter().find(|(id, _)| *id == row.topic_id)?.1.clone();
            let growth = (row.previous > 0).then(|| (row.current as f64 - row.previous as f64) / row.previous as f64);
            Some(Trending { topic_id: row.topic_id, name, current: row.current, previous: row.previous, growth })
        })
        .collect();
    out.sort_by(|a, b| {
        let g = |t: &Trending| t.growth.unwrap_or(f64::INFINITY);
        g(b).total_cmp(&g(a)).then(b.current.cmp(&a.current))
    });
    Ok(Json(out))
}

/// A feedback the clustering job put in a suggestion (as stored by it).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SuggestionExample {
    pub id: Uuid,
    pub text: String,
}

/// A pending suggestion from the processors' clustering job.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(example = json!({"id": "0190f5c4-0000-7aaa-8bbb-0c0d0e0f1011", "label": "refund still pending", "key_phrases": ["refund", "still pending", "two weeks"], "size": 37, "examples": [{"id": "0190f5c4-1111-7aaa-8bbb-0c0d0e0f1011", "text": "My refund is still pending after two weeks"}, {"id": "0190f5c4-2222-7aaa-8bbb-0c0d0e0f1011", "text": "Still waiting on the refund"}], "status": "PENDING", "created_at": "2026-11-29T03:00:00Z"}))]
pub struct Suggestion {
    pub id: Uuid,
    pub label: String,
    pub key_phrases: Vec<String>,
    pub size: i32,
    #[schema(value_type = Vec<SuggestionExample>)]
    pub examples: serde_json::Value,
    pub status: String,
    pub created_at: DateTime<Utc>,
}

/// `GET /v1/topics/suggestions`: pending suggestions, newest first.
#[utoipa::path(
    get,
    path = "/v1/topics/suggestions",
    tag = "topics",
    summary = "Pending topic suggestions",
    responses((status = 200, description = "Newest first (at most 200)", body = Vec<Suggestion>)),
    extensions(("x-rtcx-permission" = json!("manage_topics")))
)]
pub async fn suggestions(State(app): State<Arc<AppState>>, user: AuthUser) -> Result<Json<Vec<Suggestion>>, ApiError> {
    user.require(Permission::ManageTopics)?;
    Ok(Json(
        sqlx::query_as(
            "SELECT id, label, key_phrases, size, examples, status, created_at FROM topic_suggestions \
             WHERE status = 'PENDING' ORDER BY created_at DESC LIMIT 200",
        )
        .fetch_all(&app.pg)
        .await?,
    ))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Refund delays", "category": "billing"}))]
pub struct Accept {
    pub name: Option<String>,
    pub category: Option<String>,
    pub keywords: Option<Vec<String>>,
}

/// `POST /v1/topics/suggestions/{id}/accept`: creates the topic (name defaults to the label,
/// keywords to the key phrases) and marks the suggestion accepted. The JSON body is required;
/// `{}` accepts the suggestion as it is.
#[utoipa::path(
    post,
    path = "/v1/topics/suggestions/{id}/accept",
    tag = "topics",
    summary = "Accept a suggestion as a topic",
    params(("id" = Uuid, Path, description = "Suggestion id")),
    request_body = Accept,
    responses((status = 201, description = "The topic created (name defaults to the label, keywords to the key phrases)", body = Topic), (status = 400, response = crate::openapi::BadRequest), (status = 404, response = crate::openapi::NotFound), (status = 409, response = crate::openapi::Conflict)),
    extensions(("x-rtcx-permission" = json!("manage_topics")))
)]
pub async fn accept(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    body: Result<Json<Accept>, JsonRejection>,
) -> Result<(StatusCode, Json<Topic>), ApiError> {
    user.require(Permission::ManageTopics)?;
    // The body is required (`{}` takes every default): a missing or malformed one is a 400,
    // never silently read as "use the defaults".
    let Json(a) = body?;
    let mut tx = app.pg.begin().await?;
    let s: Option<(String, Vec<String>)> = sqlx::query_as(
        "SELECT label, key_phrases FROM topic_suggestions WHERE id = $1 AND status = 'PENDING' FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let (label, phrases) = s.ok_or(ApiError::NotFound("pending suggestion"))?;
    let name = a.name.unwrap_or(label);
    let category = a.category.unwrap_or_else(general);
    let keywords = clean_keywords(&a.keywords.unwrap_or(phrases));
    check(Fields {
        name: Some(&name),
        category: Some(&category),
        keywords: Some(&keywords),
        excluded_keywords: None,
        description: None,
    })?;
    let topic: Topic = sqlx::query_as(&format!(
        "INSERT INTO topics (name, category, keywords, created_by) VALUES ($1, $2, $3, $4) RETURNING {COLUMNS}"
    ))
    .bind(name.trim())
    .bind(category.trim())
    .bind(&keywords)
    .bind(user.id)
    .fetch_one(&mut *tx)
    .await
    .map_err(ApiError::on_unique_violation("a topic with this name exists"))?;
    sqlx::query(
        "UPDATE topic_suggestions SET status = 'ACCEPTED', topic_id = $2, decided_by = $3, decided_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(topic.id)
    .bind(user.id)
    .execute(&mut *tx)
    .await?;
    // The suggestion's example messages become the new topic's first examples.
    sqlx::query(
        "INSERT INTO topic_examples (topic_id, text, positive, source, feedback_id, created_by) \
         SELECT $2, left(e->>'text', 2000), true, 'SUGGESTION', \
         CASE WHEN e->>'id' ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN (e->>'id')::uuid END, $3 \
         FROM topic_suggestions s, jsonb_array_elements(s.examples) e \
         WHERE s.id = $1 AND length(coalesce(e->>'text', '')) > 0 \
         ON CONFLICT (topic_id, md5(text)) DO NOTHING",
    )
    .bind(id)
    .bind(topic.id)
    .bind(user.id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(topic)))
}

/// `POST /v1/topics/suggestions/{id}/reject`.
#[utoipa::path(
    post,
    path = "/v1/topics/suggestions/{id}/reject",
    tag = "topics",
    summary = "Reject a suggestion",
    params(("id" = Uuid, Path, description = "Suggestion id")),
    responses((status = 204, description = "Done"), (status = 404, response = crate::openapi::NotFound)),
    extensions(("x-rtcx-permission" = json!("manage_topics")))
)]
pub async fn reject(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    user.require(Permission::ManageTopics)?;
    let r = sqlx::query(
        "UPDATE topic_suggestions SET status = 'REJECTED', decided_by = $2, decided_at = now() \
         WHERE id = $1 AND status = 'PENDING'",
    )
    .bind(id)
    .bind(user.id)
    .execute(&app.pg)
    .await?;
    if r.rows_affected() == 1 { Ok(StatusCode::NO_CONTENT) } else { Err(ApiError::NotFound("pending suggestion")) }
}
