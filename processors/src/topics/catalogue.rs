//! The topic catalogue (Postgres `topics`), embedded with the pipeline's own encoder and
//! reloaded without a restart whenever a topic is added, changed, archived or deleted.

use std::sync::{Arc, PoisonError, RwLock};

use sqlx::PgPool;
use uuid::Uuid;

use super::matcher::{TopicMatcher, TopicProfile};
use crate::inference::{AnalyzerPool, InferenceError};

/// Errors loading the catalogue.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("reading topics from Postgres: {0}")]
    Postgres(#[from] sqlx::Error),
    #[error("embedding topics: {0}")]
    Inference(#[from] InferenceError),
}

#[derive(sqlx::FromRow)]
struct TopicRecord {
    id: Uuid,
    name: String,
    description: String,
    keywords: Vec<String>,
}

/// The live catalogue.
pub struct TopicCatalogue {
    pg: PgPool,
    threshold: f32,
    current: RwLock<Arc<TopicMatcher>>,
    fingerprint: RwLock<Option<String>>,
}

/// The text a topic is embedded from.
fn profile_text(t: &TopicRecord) -> String {
    let mut s = t.name.clone();
    if !t.description.is_empty() {
        s.push_str(". ");
        s.push_str(&t.description);
    }
    if !t.keywords.is_empty() {
        s.push_str(". ");
        s.push_str(&t.keywords.join(", "));
    }
    s
}

impl TopicCatalogue {
    /// An empty catalogue; call [`Self::refresh`] to load it.
    pub fn new(pg: PgPool, threshold: f32) -> Self {
        Self { pg, threshold, current: RwLock::new(Arc::new(TopicMatcher::default())), fingerprint: RwLock::new(None) }
    }

    /// The matcher for the catalogue as last loaded.
    pub fn matcher(&self) -> Arc<TopicMatcher> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Reloads the catalogue when it changed since the last load (one cheap fingerprint
    /// query otherwise). Returns true when it reloaded.
    pub async fn refresh(&self, pool: &AnalyzerPool) -> Result<bool, CatalogueError> {
        let fingerprint: Option<String> = sqlx::query_scalar(
            "SELECT md5(string_agg(id::text || updated_at::text || archived::text, ',' ORDER BY id)) FROM topics",
        )
        .fetch_one(&self.pg)
        .await?;
        let fingerprint = fingerprint.unwrap_or_default();
        if self.fingerprint.read().unwrap_or_else(PoisonError::into_inner).as_deref() == Some(fingerprint.as_str()) {
            return Ok(false);
        }
        let records: Vec<TopicRecord> = sqlx::query_as(
            "SELECT id, name, description, keywords FROM topics WHERE NOT archived ORDER BY created_at, id",
        )
        .fetch_all(&self.pg)
        .await?;
        let texts: Vec<String> = records.iter().map(profile_text).collect();
        let analyses = if texts.is_empty() { Vec::new() } else { pool.analyze(texts).await? };
        let profiles = records
            .into_iter()
            .zip(analyses)
            .map(|(r, a)| TopicProfile { id: r.id, name: r.name, keywords: r.keywords, embedding: a.embedding })
            .collect::<Vec<_>>();
        tracing::info!(topics = profiles.len(), "topic catalogue loaded");
        metrics::gauge!("rtcx_processors_catalogue_topics").set(profiles.len() as f64);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) =
            Arc::new(TopicMatcher::new(profiles, self.threshold));
        *self.fingerprint.write().unwrap_or_else(PoisonError::into_inner) = Some(fingerprint);
        Ok(true)
    }
}
