//! The topic catalogue (Postgres `topics` and `topic_examples`), embedded with the pipeline's
//! own encoder and reloaded without a restart whenever a topic or one of its examples is
//! added, changed, archived or deleted. Each load also records what it measured of every
//! topic (threshold, calibration, confusion) in `topic_quality`, which the query API serves.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use rtcx_topics::calibrate::Calibration;
use rtcx_topics::definition::{Embedded, TopicDefinition, phrasing_texts, profile_text};
use rtcx_topics::matcher::{Matcher, Settings, TopicQuality};
use sqlx::PgPool;
use uuid::Uuid;

use crate::inference::{AnalyzerPool, InferenceError};

/// Errors loading the catalogue.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("reading topics from Postgres: {0}")]
    Postgres(#[from] sqlx::Error),
    #[error("embedding topics: {0}")]
    Inference(#[from] InferenceError),
    #[error("building the matcher: {0}")]
    Build(String),
}

#[derive(sqlx::FromRow)]
struct TopicRecord {
    id: Uuid,
    name: String,
    description: String,
    keywords: Vec<String>,
    excluded_keywords: Vec<String>,
}

#[derive(sqlx::FromRow)]
struct ExampleRecord {
    id: Uuid,
    topic_id: Uuid,
    text: String,
    positive: bool,
}

/// The live catalogue.
pub struct TopicCatalogue {
    pg: PgPool,
    settings: Settings,
    current: RwLock<Arc<Matcher>>,
    fingerprint: RwLock<Option<String>>,
    /// Embeddings of texts already embedded (profiles, phrasings, examples), so that a reload
    /// embeds only what changed.
    embedded: Mutex<HashMap<String, Vec<f32>>>,
}

/// The catalogue's state in one cheap query: changes to a topic move its `updated_at`, and
/// any added or removed example changes the list of example ids.
const FINGERPRINT: &str = "SELECT md5(coalesce((SELECT string_agg(id::text || updated_at::text || archived::text, ',' \
                           ORDER BY id) FROM topics), '') || '|' || coalesce((SELECT string_agg(id::text || \
                           positive::text, ',' ORDER BY id) FROM topic_examples), ''))";

impl TopicCatalogue {
    /// An empty catalogue; call [`Self::refresh`] to load it.
    pub fn new(pg: PgPool, settings: Settings) -> Self {
        Self {
            pg,
            settings,
            current: RwLock::new(Arc::new(Matcher::default())),
            fingerprint: RwLock::new(None),
            embedded: Mutex::new(HashMap::new()),
        }
    }

    /// The matcher for the catalogue as last loaded.
    pub fn matcher(&self) -> Arc<Matcher> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Embeddings of `texts`, from the cache or the engine.
    async fn embed(&self, pool: &AnalyzerPool, texts: &[String]) -> Result<Vec<Vec<f32>>, CatalogueError> {
        let missing: Vec<String> = {
            let cache = self.embedded.lock().unwrap_or_else(PoisonError::into_inner);
            let mut m: Vec<String> = texts.iter().filter(|t| !cache.contains_key(*t)).cloned().collect();
            m.sort();
            m.dedup();
            m
        };
        if !missing.is_empty() {
            let analyses = pool.analyze(missing.clone()).await?;
            let mut cache = self.embedded.lock().unwrap_or_else(PoisonError::into_inner);
            for (t, a) in missing.into_iter().zip(analyses) {
                cache.insert(t, a.embedding);
            }
        }
        let cache = self.embedded.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(texts.iter().map(|t| cache.get(t).cloned().unwrap_or_default()).collect())
    }

    /// Reloads the catalogue when it changed since the last load (one cheap fingerprint
    /// query otherwise). Returns true when it reloaded.
    pub async fn refresh(&self, pool: &AnalyzerPool) -> Result<bool, CatalogueError> {
        let fingerprint: Option<String> = sqlx::query_scalar(FINGERPRINT).fetch_one(&self.pg).await?;
        let fingerprint = fingerprint.unwrap_or_default();
        if self.fingerprint.read().unwrap_or_else(PoisonError::into_inner).as_deref() == Some(fingerprint.as_str()) {
            return Ok(false);
        }
        let records: Vec<TopicRecord> = sqlx::query_as(
            "SELECT id, name, description, keywords, excluded_keywords FROM topics WHERE NOT archived \
             ORDER BY created_at, id",
        )
        .fetch_all(&self.pg)
        .await?;
        let examples: Vec<ExampleRecord> = sqlx::query_as(
            "SELECT e.id, e.topic_id, e.text, e.positive FROM topic_examples e JOIN topics t ON t.id = e.topic_id \
             WHERE NOT t.archived ORDER BY e.created_at, e.id",
        )
        .fetch_all(&self.pg)
        .await?;
        let profiles: Vec<String> =
            records.iter().map(|r| profile_text(&r.name, &r.description, &r.keywords)).collect();
        let phrasings: Vec<Vec<String>> = records.iter().map(|r| phrasing_texts(&r.name, &r.keywords)).collect();
        let example_texts: Vec<String> = examples.iter().map(|e| e.text.clone()).collect();
        let all: Vec<String> =
            profiles.iter().chain(phrasings.iter().flatten()).chain(example_texts.iter()).cloned().collect();
        let vectors = if all.is_empty() { Vec::new() } else { self.embed(pool, &all).await? };
        // Keep only what the catalogue still uses: edits must not grow the cache forever.
        {
            let keep: std::collections::HashSet<&str> = all.iter().map(String::as_str).collect();
            self.embedded.lock().unwrap_or_else(PoisonError::into_inner).retain(|t, _| keep.contains(t.as_str()));
        }
        let vector: HashMap<&str, &Vec<f32>> = all.iter().map(String::as_str).zip(vectors.iter()).collect();
        let get = |t: &str| vector.get(t).map(|v| (*v).clone()).unwrap_or_default();
        let mut by_topic: HashMap<Uuid, (Vec<Embedded>, Vec<Embedded>)> = HashMap::new();
        for e in &examples {
            let entry = by_topic.entry(e.topic_id).or_default();
            let embedded = Embedded { id: e.id, embedding: get(&e.text) };
            if e.positive { entry.0.push(embedded) } else { entry.1.push(embedded) }
        }
        let definitions: Vec<TopicDefinition> = records
            .into_iter()
            .zip(profiles.iter().zip(&phrasings))
            .map(|(r, (profile, phrases))| {
                let (examples, negatives) = by_topic.remove(&r.id).unwrap_or_default();
                TopicDefinition {
                    id: r.id,
                    description: get(profile),
                    phrasings: phrases.iter().map(|p| get(p)).collect(),
                    name: r.name,
                    keywords: r.keywords,
                    excluded_keywords: r.excluded_keywords,
                    examples,
                    negatives,
                }
            })
            .collect();
        let (topics, with_examples) =
            (definitions.len(), definitions.iter().filter(|d| !d.examples.is_empty()).count());
        // Calibration, the classifier's training and the quality figures are CPU work
        // (seconds for a large catalogue): off the async threads.
        let settings = self.settings;
        let (matcher, quality) = tokio::task::spawn_blocking(move || {
            let matcher = Matcher::new(definitions, settings);
            let quality = matcher.quality();
            (matcher, quality)
        })
        .await
        .map_err(|e| CatalogueError::Build(e.to_string()))?;
        // The figures are for people reading them; a failure to write them (a topic deleted
        // meanwhile) must not keep the new catalogue from the pipeline.
        if let Err(e) = self.record_quality(&quality, &pool.model().version).await {
            tracing::warn!(error = %e, "recording topic quality failed");
        }
        tracing::info!(topics, with_examples, examples = examples.len(), "topic catalogue loaded");
        metrics::gauge!("rtcx_processors_catalogue_topics").set(topics as f64);
        metrics::gauge!("rtcx_processors_catalogue_examples").set(examples.len() as f64);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(matcher);
        *self.fingerprint.write().unwrap_or_else(PoisonError::into_inner) = Some(fingerprint);
        Ok(true)
    }

    /// Writes what the load measured of each topic to `topic_quality` (one statement).
    async fn record_quality(&self, quality: &[TopicQuality], model_version: &str) -> Result<(), CatalogueError> {
        if quality.is_empty() {
            return Ok(());
        }
        let mut ids = Vec::new();
        let (mut examples, mut negatives, mut thresholds, mut methods) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut recalls, mut precisions, mut confused, mut confusion) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for q in quality {
            ids.push(q.topic);
            examples.push(i32::try_from(q.examples).unwrap_or(i32::MAX));
            negatives.push(i32::try_from(q.negatives).unwrap_or(i32::MAX));
            thresholds.push(q.threshold);
            let (method, recall, precision) = match q.calibration {
                Calibration::Default => ("DEFAULT", None, None),
                Calibration::LeaveOneOut { recall, precision, .. } => ("LEAVE_ONE_OUT", Some(recall), Some(precision)),
            };
            methods.push(method);
            recalls.push(recall);
            precisions.push(precision);
            confused.push(q.confused_with);
            confusion.push(q.confusion);
        }
        sqlx::query(
            "INSERT INTO topic_quality (topic_id, examples, negatives, threshold, calibration, recall, precision, \
             confused_with, confusion, model_version, measured_at) \
             SELECT q.*, $10, now() FROM unnest($1::uuid[], $2::int[], $3::int[], $4::real[], $5::text[], $6::real[], \
             $7::real[], $8::uuid[], $9::real[]) AS q(topic_id, examples, negatives, threshold, calibration, recall, \
             precision, confused_with, confusion) \
             WHERE EXISTS (SELECT 1 FROM topics t WHERE t.id = q.topic_id) \
             ON CONFLICT (topic_id) DO UPDATE SET examples = EXCLUDED.examples, negatives = EXCLUDED.negatives, \
             threshold = EXCLUDED.threshold, calibration = EXCLUDED.calibration, recall = EXCLUDED.recall, \
             precision = EXCLUDED.precision, confused_with = EXCLUDED.confused_with, confusion = EXCLUDED.confusion, \
             model_version = EXCLUDED.model_version, measured_at = EXCLUDED.measured_at",
        )
        .bind(&ids)
        .bind(&examples)
        .bind(&negatives)
        .bind(&thresholds)
        .bind(&methods)
        .bind(&recalls)
        .bind(&precisions)
        .bind(&confused)
        .bind(&confusion)
        .bind(model_version)
        .execute(&self.pg)
        .await?;
        Ok(())
    }
}
