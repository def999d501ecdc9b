//! Topic suggestions: cluster recent feedback that no catalogue topic claimed and propose
//! each large cluster as a new topic (label from its most frequent key phrases, size,
//! example texts), stored in Postgres `topic_suggestions` for an admin to accept or reject.
//!
//! Clustering is single-pass leader clustering on unit-length embeddings: each text joins the
//! most similar cluster centroid when the cosine reaches the threshold, otherwise it starts a
//! new cluster; centroids are running means. Deterministic for a given input order, linear in
//! texts × clusters, and it needs no cluster count up front.

use std::collections::HashMap;

use uuid::Uuid;

use rtcx_topics::cosine;

/// One piece of unassigned feedback.
#[derive(Debug, Clone)]
pub struct Unassigned {
    pub id: Uuid,
    pub text: String,
    pub key_phrases: Vec<String>,
    /// Unit-length embedding.
    pub embedding: Vec<f32>,
}

/// A proposed topic.
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    pub label: String,
    pub key_phrases: Vec<String>,
    pub size: usize,
    /// (id, text) of the members closest to the centroid.
    pub examples: Vec<(Uuid, String)>,
}

/// Clustering parameters.
#[derive(Debug, Clone, Copy)]
pub struct ClusterParams {
    /// Cosine similarity a text needs to join a cluster.
    pub threshold: f32,
    /// Smallest cluster worth proposing.
    pub min_size: usize,
    /// Most suggestions returned (largest clusters first).
    pub max_suggestions: usize,
    /// Example texts per suggestion.
    pub examples: usize,
}

impl Default for ClusterParams {
    fn default() -> Self {
        Self { threshold: 0.55, min_size: 5, max_suggestions: 10, examples: 3 }
    }
}

fn normalize(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

/// Clusters `items` and returns the suggestions, largest cluster first.
pub fn suggest(items: &[Unassigned], p: ClusterParams) -> Vec<Suggestion> {
    // (sum of members' embeddings, unit centroid, member indices)
    let mut clusters: Vec<(Vec<f32>, Vec<f32>, Vec<usize>)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if item.embedding.is_empty() {
            continue;
        }
        let best = clusters
            .iter()
            .enumerate()
            .map(|(c, (_, centroid, _))| (c, cosine(&item.embedding, centroid)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        match best {
            Some((c, sim)) if sim >= p.threshold => {
                let (sum, centroid, members) = &mut clusters[c];
                sum.iter_mut().zip(&item.embedding).for_each(|(s, x)| *s += x);
                centroid.copy_from_slice(sum);
                normalize(centroid);
                members.push(i);
            }
            _ => clusters.push((item.embedding.clone(), item.embedding.clone(), vec![i])),
        }
    }
    let mut big: Vec<_> = clusters.into_iter().filter(|c| c.2.len() >= p.min_size).collect();
    big.sort_by(|a, b| b.2.len().cmp(&a.2.len()).then(a.2[0].cmp(&b.2[0])));
    big.into_iter()
        .take(p.max_suggestions)
        .map(|(_, centroid, members)| {
            let mut counts: HashMap<&str, usize> = HashMap::new();
            for &m in &members {
                for phrase in &items[m].key_phrases {
                    *counts.entry(phrase.as_str()).or_default() += 1;
                }
            }
            let mut phrases: Vec<(&str, usize)> = counts.into_iter().collect();
            phrases.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            let key_phrases: Vec<String> = phrases.iter().take(5).map(|(s, _)| (*s).to_owned()).collect();
            let label = if key_phrases.is_empty() {
                items[members[0]].text.chars().take(60).collect()
            } else {
                key_phrases.iter().take(2).cloned().collect::<Vec<_>>().join(" / ")
            };
            let mut by_closeness: Vec<usize> = members.clone();
            by_closeness.sort_by(|&a, &b| {
                cosine(&items[b].embedding, &centroid).total_cmp(&cosine(&items[a].embedding, &centroid))
            });
            let examples =
                by_closeness.iter().take(p.examples).map(|&m| (items[m].id, items[m].text.clone())).collect();
            Suggestion { label, key_phrases, size: members.len(), examples }
        })
        .collect()
}

/// Errors of the suggestion job's I/O.
#[derive(Debug, thiserror::Error)]
pub enum SuggestError {
    #[error("reading feedback from ClickHouse: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
    #[error("storing suggestions in Postgres: {0}")]
    Postgres(#[from] sqlx::Error),
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct UnassignedRow {
    #[serde(with = "clickhouse::serde::uuid")]
    id: Uuid,
    text: String,
    key_phrases: Vec<String>,
    embedding: Vec<i8>,
}

/// The most recent feedback of the last `days` days that has no topic, with its stored
/// embedding (`feedback.embedding`, back to unit length); empty where none was stored (before
/// migration 0009, erased by the text retention, or the lexicon): the caller computes those.
pub async fn load_unassigned(ch: &clickhouse::Client, days: u32, limit: u64) -> Result<Vec<Unassigned>, SuggestError> {
    let rows: Vec<UnassignedRow> = ch
        .query(
            "SELECT id, text, key_phrases, embedding FROM feedback \
             WHERE empty(topic_ids) AND text != '' AND occurred_at >= now64(3) - toIntervalDay(?) \
             ORDER BY occurred_at DESC LIMIT 1 BY id LIMIT ?",
        )
        .bind(days)
        .bind(limit)
        .fetch_all()
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| Unassigned {
            id: r.id,
            text: r.text,
            key_phrases: r.key_phrases,
            embedding: rtcx_schemas::embedding::dequantise(&r.embedding),
        })
        .collect())
}

/// Stores the suggestions as PENDING rows of `topic_suggestions`, skipping labels that are
/// already pending or already a topic's name. Returns how many were stored.
pub async fn store_suggestions(pg: &sqlx::PgPool, suggestions: &[Suggestion]) -> Result<usize, SuggestError> {
    let mut stored = 0;
    for s in suggestions {
        let examples: Vec<serde_json::Value> =
            s.examples.iter().map(|(id, text)| serde_json::json!({"id": id, "text": text})).collect();
        let size = i32::try_from(s.size).unwrap_or(i32::MAX);
        let done = sqlx::query(
            "INSERT INTO topic_suggestions (label, key_phrases, size, examples) \
             SELECT $1, $2, $3, $4 WHERE NOT EXISTS ( \
               SELECT 1 FROM topic_suggestions WHERE status = 'PENDING' AND lower(label) = lower($1)) \
             AND NOT EXISTS (SELECT 1 FROM topics WHERE lower(name) = lower($1))",
        )
        .bind(&s.label)
        .bind(&s.key_phrases)
        .bind(size)
        .bind(serde_json::Value::Array(examples))
        .execute(pg)
        .await?;
        stored += done.rows_affected() as usize;
    }
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(n: u128, phrase: &str, e: [f32; 3]) -> Unassigned {
        let mut embedding = e.to_vec();
        normalize(&mut embedding);
        Unassigned { id: Uuid::from_u128(n), text: format!("text {n}"), key_phrases: vec![phrase.into()], embedding }
    }

    #[test]
    fn similar_texts_form_one_suggestion_with_their_key_phrases() {
        let mut items = Vec::new();
        for i in 0..6 {
            items.push(item(i, "late delivery", [1.0, 0.05 * i as f32, 0.0]));
        }
        for i in 6..9 {
            items.push(item(i, "refund", [0.0, 0.0, 1.0]));
        }
        items.push(item(99, "noise", [0.0, 1.0, 0.0]));
        let out = suggest(&items, ClusterParams { min_size: 4, ..ClusterParams::default() });
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].size, 6);
        assert_eq!(out[0].label, "late delivery");
        assert_eq!(out[0].examples.len(), 3);
        let smaller = suggest(&items, ClusterParams { min_size: 3, ..ClusterParams::default() });
        assert_eq!(smaller.iter().map(|s| s.size).collect::<Vec<_>>(), vec![6, 3]);
    }
}
