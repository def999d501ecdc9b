//! `GET /v1/feedback/similar?text=…|id=…`: the stored feedback nearest in meaning to a text or
//! to one stored feedback, by the cosine of their sentence embeddings (`feedback.embedding`,
//! int8, migration 0009), with the search's filters.
//!
//! With the coarse quantiser beside the model's heads ([`rtcx_schemas::embedding_lists`]), the
//! search compares the query only with the rows of its `RTCX_SIMILAR_PROBES` nearest lists
//! (and the unfiled rows, list 0), which ClickHouse reads from a projection ordered by list
//! (migration 0011): an inverted-file (IVF) search. It is exact (every row of the range that
//! passes the filters) with `exact=true`, without a quantiser, and when a filter reads a column
//! the projection does not hold (topic, segment, journey stage, customer, text): such filters
//! narrow the rows themselves. Partitions outside the range are never read. What each costs,
//! and the recall of the lists against the exact search, is in docs/benchmarks.md ("Similar
//! feedback").

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use chrono::Utc;
use rtcx_schemas::ModelInfo;
use rtcx_schemas::embedding_lists::{EmbeddingLists, UNFILED};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::{AuthUser, Permission};
use crate::embedder::EmbedError;
use crate::error::ApiError;
use crate::feedback::{COLUMNS, FeedbackItem, Filters, SearchQuery, validate};
use crate::range::{RangeQuery, TimeRange};

/// Most neighbours one search returns.
pub const MAX_NEIGHBOURS: u64 = 50;
/// Longest `text`, in characters.
pub const MAX_TEXT_CHARS: usize = 2_000;

/// What to find neighbours of: exactly one of `text` and `id`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SimilarQuery {
    /// A text to search by meaning (1 to 2 000 characters, something visible).
    #[param(min_length = 1, max_length = 2000)]
    pub text: Option<String>,
    /// A stored feedback whose neighbours to find (it is not among them).
    pub id: Option<Uuid>,
    /// Only neighbours at least this similar (cosine, −1..1).
    pub min_similarity: Option<f64>,
    /// Compare every row of the range instead of the nearest lists' (slower, finds all).
    pub exact: Option<bool>,
}

/// The coarse quantiser the processors file embeddings with, and how many of its lists a
/// search reads (`RTCX_SIMILAR_PROBES`); without one every search is exact.
#[derive(Debug, Clone, Default)]
pub struct ListIndex {
    pub lists: Option<Arc<EmbeddingLists>>,
    pub probes: usize,
}

impl ListIndex {
    /// The lists to read for `query` (with the unfiled list 0), or `None` for an exact search:
    /// asked for, no quantiser, an embedding of another length, or a filter outside the
    /// projection's columns.
    pub fn lists_for(&self, query: &[i8], search: &SearchQuery, exact: bool) -> Option<Vec<u16>> {
        let outside_projection = search.topic.is_some()
            || search.segment.is_some()
            || search.journey_stage.is_some()
            || search.customer_id.is_some()
            || search.q.is_some();
        if exact || outside_projection {
            return None;
        }
        let mut probes = self.lists.as_ref()?.probes(query, self.probes.max(1));
        if probes.is_empty() {
            return None;
        }
        probes.insert(0, UNFILED);
        Some(probes)
    }
}

/// One neighbour: the feedback as listed, and how close it is.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SimilarFeedback {
    #[serde(flatten)]
    pub feedback: FeedbackItem,
    /// Cosine of the two embeddings (1: same meaning; computed on the stored int8 form).
    pub similarity: f32,
}

/// The nearest feedback, most similar first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"items": [{"id": "0190f5c5-2b3c-7d4e-9f50-61728394a5b6", "occurred_at": "2026-11-29T09:58:41.120Z", "channel": "chat", "text": "Courier left my parcel in the rain, again.", "sentiment_label": "negative", "sentiment_score": -0.83, "dominant_emotion": "anger", "key_phrases": ["courier", "parcel", "rain"], "topic_ids": [], "topic_reasons": [], "segment": "", "journey_stage": "", "customer_id": "", "language": "en", "rating": null, "nps": null, "csat": null, "similarity": 0.71}], "model": {"name": "rtcx-minilm-heads", "version": "3f2a9c0d1e4b"}}))]
pub struct SimilarPage {
    pub items: Vec<SimilarFeedback>,
    /// The model that embedded `text` (null for a search by `id`: the stored embedding is used).
    pub model: Option<EmbeddingModel>,
}

/// A model as the enriched rows name it (`model_name`, `model_version`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EmbeddingModel {
    pub name: String,
    pub version: String,
}

impl From<&ModelInfo> for EmbeddingModel {
    fn from(m: &ModelInfo) -> Self {
        Self { name: m.name.clone(), version: m.version.clone() }
    }
}

/// `GET /v1/feedback/similar`.
#[utoipa::path(
    get,
    path = "/v1/feedback/similar",
    tag = "feedback",
    summary = "Find feedback by meaning",
    description = "The stored feedback nearest in meaning to `text` (embedded by the processors' model) or to the stored feedback `id`, most similar first, by the cosine of their sentence embeddings. Takes the search filters (`cursor` excepted: one page of `limit` ≤ 50 neighbours, default 10); the range defaults to the last 30 days. Only feedback stored with an embedding (by rtcx's own model) is found. By default only the rows filed in the lists nearest the query are compared (an inverted-file index: fast, and it may miss a neighbour filed in a farther list); `exact=true`, and any filter on topic, segment, journey stage, customer or text, compare every row of the range that passes the filters. 503 also when `text` is given and no model is loaded (RTCX_MODEL_DIR) or 8 searches already wait for it.",
    params(SimilarQuery, SearchQuery, RangeQuery),
    responses(
        (status = 200, description = "Most similar first", body = SimilarPage),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 404, response = crate::openapi::NotFound)
    ),
    extensions(("x-rtcx-permission" = json!("read_analytics")))
)]
pub async fn similar(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    what: Result<Query<SimilarQuery>, QueryRejection>,
    filters: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Json<SimilarPage>, ApiError> {
    user.require(Permission::ReadAnalytics)?;
    let Query(what) = what?;
    let Query(mut search) = filters?;
    let (target, limit) = check(what.text, what.id, what.min_similarity, &search)?;
    if search.range.range.is_none() && search.range.from.is_none() && search.range.to.is_none() {
        search.range.range = Some("30d".into());
    }
    let r = TimeRange::resolve(&search.range, Utc::now())?;
    let exclude = match target {
        Target::Id(id) => Some(id),
        Target::Text(_) => None,
    };
    let (query, model) = match target {
        Target::Text(text) => {
            let embedder = app.embedder.as_ref().ok_or(ApiError::Unavailable("the model that embeds text"))?;
            let embedding = embedder.embed(text.trim()).await.map_err(|e| match e {
                EmbedError::Busy => ApiError::Unavailable("the model that embeds text (busy)"),
                EmbedError::NoEmbedding => ApiError::Unavailable("the model that embeds text (it gives none)"),
                EmbedError::Model(e) => ApiError::Internal(e.to_string()),
            })?;
            (rtcx_schemas::embedding::quantise(&embedding), Some(EmbeddingModel::from(embedder.model())))
        }
        Target::Id(id) => (stored_embedding(&app, id).await?, None),
    };
    let lists = app.similar.lists_for(&query, &search, what.exact.unwrap_or(false));
    let neighbours = Nearest {
        query: &query,
        exclude,
        search: &search,
        range: r,
        min_similarity: what.min_similarity,
        lists: lists.as_deref(),
        limit,
    }
    .fetch(&app.ch)
    .await
    .map_err(ApiError::from)?;
    let items = with_items(&app, neighbours, r).await?;
    Ok(Json(SimilarPage { items, model }))
}

/// What the neighbours are sought of.
enum Target {
    Text(String),
    Id(Uuid),
}

/// Exactly one of `text` and `id`, a visible text of bounded length, a similarity in [−1, 1],
/// no cursor and the usual filters; returns the target and the number of neighbours wanted.
fn check(
    text: Option<String>,
    id: Option<Uuid>,
    min_similarity: Option<f64>,
    search: &SearchQuery,
) -> Result<(Target, u64), ApiError> {
    let mut errors = Vec::new();
    let target = match (text, id) {
        (Some(_), Some(_)) => {
            errors.push(("text".to_owned(), "give text or id, not both".to_owned()));
            None
        }
        (None, None) => {
            errors.push(("text".to_owned(), "give text or id".to_owned()));
            None
        }
        (Some(t), None) if !crate::text_input::name_ok(&t, MAX_TEXT_CHARS) => {
            errors
                .push(("text".to_owned(), format!("must hold something visible, at most {MAX_TEXT_CHARS} characters")));
            None
        }
        (Some(t), None) => Some(Target::Text(t)),
        (None, Some(id)) => Some(Target::Id(id)),
    };
    if min_similarity.is_some_and(|v| !(-1.0..=1.0).contains(&v)) {
        errors.push(("min_similarity".to_owned(), "must be in [-1, 1]".to_owned()));
    }
    if search.cursor.is_some() {
        errors.push(("cursor".to_owned(), "similar-feedback search has one page: raise limit instead".to_owned()));
    }
    let limit = match validate(search, 10, MAX_NEIGHBOURS) {
        Ok(limit) => limit,
        Err(ApiError::Validation(more)) => {
            errors.extend(more);
            0
        }
        Err(other) => return Err(other),
    };
    match target {
        Some(target) if errors.is_empty() => Ok((target, limit)),
        _ => Err(ApiError::Validation(errors)),
    }
}

/// The stored embedding of feedback `id`: 404 when there is no such feedback, 400 when it was
/// stored without one.
async fn stored_embedding(app: &AppState, id: Uuid) -> Result<Vec<i8>, ApiError> {
    let stored: Option<Vec<i8>> = app
        .ch
        .query("SELECT embedding FROM feedback WHERE id = toUUID(?) LIMIT 1")
        .bind(id.to_string())
        .fetch_optional()
        .await
        .map_err(ApiError::from)?;
    let embedding = stored.ok_or(ApiError::NotFound("feedback"))?;
    if embedding.is_empty() {
        return Err(ApiError::invalid(
            "id",
            "this feedback was stored without an embedding (before migration 0009, or by the lexicon or the Hugging Face pair)",
        ));
    }
    Ok(embedding)
}

/// One row the search found, and its cosine with the query.
#[derive(Debug, clickhouse::Row, Deserialize)]
pub struct Neighbour {
    #[serde(with = "clickhouse::serde::uuid")]
    pub id: Uuid,
    pub similarity: f32,
}

/// The search's SQL. With `lists`, only rows filed in them are compared (their numbers are
/// written into the SQL: they are computed here, never read from the request), read from the
/// projection ordered by list (migration 0011) through `mergeTreeProjection`: asked to prefer
/// the projection, ClickHouse still compares granule counts, and the projection's granules
/// are eight times smaller than the table's (1 024 rows), so past ~40 lists it read the whole
/// table instead (measured: 48 lists took 0.20 s at 1 M rows where 32 took 0.05 s). Parts
/// the projection has not been built for yet (existing parts while `MATERIALIZE PROJECTION`
/// runs) are read from the table in another branch, so no row is skipped; a part merged
/// between the two reads can be missed by that one search.
///
/// Placeholders, once per branch (the count returned with the SQL: two when it reads lists,
/// one for an exact search): the query's length, the query embedding, the
/// range (ms, ms), the query's length again, the filters, the excluded id (with `exclude`),
/// the similarity floor (with `floor`); then the row limit. Only embeddings of the query's
/// length are compared (another model's are skipped). ClickHouse may compute the similarity
/// of rows the filter then drops (it did for an empty embedding, and refused arrays of
/// unequal sizes), so the stored array is brought to the query's length first (a no-op for
/// those compared).
fn nearest_sql(filters: &str, exclude: bool, floor: bool, lists: Option<&[u16]>) -> (String, usize) {
    let mut condition = String::new();
    if let Some(lists) = lists {
        let numbers: Vec<String> = lists.iter().map(u16::to_string).collect();
        condition.push_str(&format!("embedding_list IN ({}) AND ", numbers.join(", ")));
    }
    condition.push_str(&format!(
        "occurred_at >= fromUnixTimestamp64Milli(?) AND occurred_at < fromUnixTimestamp64Milli(?) \
         AND length(embedding) = ?{filters}"
    ));
    if exclude {
        condition.push_str(" AND id != toUUID(?)");
    }
    if floor {
        condition.push_str(" AND similarity >= ?");
    }
    let select = |from: &str, extra: &str| {
        format!(
            "SELECT id, toFloat32(1 - cosineDistance(arrayResize(embedding, ?), ?)) AS similarity \
             FROM {from} WHERE {extra}{condition}"
        )
    };
    let order = " ORDER BY similarity DESC, id LIMIT ?";
    if lists.is_none() {
        return (select("feedback", "") + order, 1);
    }
    // The table's branch comes first: the other way round, ClickHouse 26.9 failed the query
    // ("Bad get: has String, requested UInt64") whenever a part lacked the projection.
    let sql = format!(
        "SELECT id, similarity FROM ({} UNION ALL {}){order}",
        select(
            "feedback",
            "_part IN (SELECT name FROM system.parts WHERE database = currentDatabase() \
             AND table = 'feedback' AND active AND name NOT IN (SELECT parent_name \
             FROM system.projection_parts WHERE database = currentDatabase() \
             AND table = 'feedback' AND name = 'by_embedding_list' AND active)) AND "
        ),
        select("mergeTreeProjection(currentDatabase(), 'feedback', 'by_embedding_list')", ""),
    );
    (sql, 2)
}

/// One search, as checked. Public for `examples/similar_bench.rs`, which measures exactly what
/// the endpoint runs.
pub struct Nearest<'a> {
    pub query: &'a [i8],
    pub exclude: Option<Uuid>,
    pub search: &'a SearchQuery,
    pub range: TimeRange,
    pub min_similarity: Option<f64>,
    /// The lists to read (list 0 among them), or none for an exact search.
    pub lists: Option<&'a [u16]>,
    pub limit: u64,
}

impl Nearest<'_> {
    /// The `limit` rows of the range nearest to `query` that pass the filters, most similar
    /// first.
    pub async fn fetch(&self, ch: &clickhouse::Client) -> clickhouse::error::Result<Vec<Neighbour>> {
        let Nearest { query, exclude, search, range: r, min_similarity, lists, limit } = *self;
        let filters = Filters::of(search);
        let (sql, branches) = nearest_sql(filters.sql(), exclude.is_some(), min_similarity.is_some(), lists);
        let dim = query.len() as u64;
        let mut q = ch.query(&sql);
        for _ in 0..branches {
            q = q.bind(dim).bind(query).bind(r.from.timestamp_millis()).bind(r.to.timestamp_millis()).bind(dim);
            q = filters.bind(q);
            if let Some(id) = exclude {
                q = q.bind(id.to_string());
            }
            if let Some(m) = min_similarity {
                q = q.bind(m as f32);
            }
        }
        // A row stored twice (before the table merges) is dropped below: ask for a few more.
        let mut rows: Vec<Neighbour> = q.bind(limit + 4).fetch_all().await?;
        let mut seen = std::collections::HashSet::new();
        rows.retain(|n| seen.insert(n.id));
        rows.truncate(limit as usize);
        Ok(rows)
    }
}

/// The neighbours as listed by the search, in their order.
async fn with_items(
    app: &AppState,
    neighbours: Vec<Neighbour>,
    r: TimeRange,
) -> Result<Vec<SimilarFeedback>, ApiError> {
    if neighbours.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = neighbours.iter().map(|n| n.id.to_string()).collect();
    let items: Vec<FeedbackItem> = app
        .ch
        .query(&format!(
            "SELECT {COLUMNS} FROM feedback WHERE occurred_at >= fromUnixTimestamp64Milli(?) \
             AND occurred_at < fromUnixTimestamp64Milli(?) AND id IN (SELECT arrayJoin(arrayMap(x -> toUUID(x), ?))) LIMIT 1 BY id"
        ))
        .bind(r.from.timestamp_millis())
        .bind(r.to.timestamp_millis())
        .bind(ids)
        .fetch_all()
        .await
        .map_err(ApiError::from)?;
    let mut by_id: HashMap<Uuid, FeedbackItem> = items.into_iter().map(|i| (i.id, i)).collect();
    Ok(neighbours
        .into_iter()
        .filter_map(|n| by_id.remove(&n.id).map(|feedback| SimilarFeedback { feedback, similarity: n.similarity }))
        .collect())
}
