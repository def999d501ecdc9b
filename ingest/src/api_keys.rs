//! API keys: an in-memory copy of the non-revoked keys in Postgres, refreshed in the background.
//!
//! Keys look like `rtcx_<secret>`; Postgres stores only their SHA-256. A presented key is
//! hashed and looked up by hash, so the secret is never compared byte by byte. A key revoked in
//! query-api disappears from memory at the next refresh (every `--api-key-refresh` seconds,
//! default 10). When Postgres is unreachable the last loaded set stays in use, so ingestion
//! with already-known keys continues.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// Prefix of every rtcx API key.
pub const KEY_PREFIX: &str = "rtcx_";

/// What ingest knows about one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: Uuid,
    /// Stamped on events as their `source`.
    pub source: String,
    pub scopes: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl ApiKey {
    /// Whether the key carries `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// SHA-256 of a presented key.
pub fn hash_key(key: &str) -> [u8; 32] {
    rtcx_schemas::credentials::secret_hash(key)
}

/// `(id, source, scopes, expires_at, key_hash)` as stored in `api_keys`.
type KeyRow = (Uuid, String, Vec<String>, Option<DateTime<Utc>>, Vec<u8>);

/// The in-memory key set.
#[derive(Default)]
pub struct KeyStore {
    keys: RwLock<Arc<HashMap<[u8; 32], Arc<ApiKey>>>>,
}

/// Outcome of a lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyLookup {
    Valid(Arc<ApiKey>),
    Unknown,
    Expired,
}

impl KeyStore {
    /// Looks a presented key up.
    pub fn lookup(&self, presented: &str, now: DateTime<Utc>) -> KeyLookup {
        let hash = hash_key(presented);
        let keys = Arc::clone(&self.keys.read().unwrap_or_else(PoisonError::into_inner));
        match keys.get(&hash) {
            Some(k) if k.expires_at.is_some_and(|e| e <= now) => KeyLookup::Expired,
            Some(k) => KeyLookup::Valid(Arc::clone(k)),
            None => KeyLookup::Unknown,
        }
    }

    /// Number of keys in memory.
    pub fn len(&self) -> usize {
        self.keys.read().map(|g| g.len()).unwrap_or(0)
    }

    /// Whether no key is loaded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Replaces the key set with the non-revoked keys in Postgres.
    pub async fn refresh(&self, pool: &PgPool) -> Result<usize, sqlx::Error> {
        let rows: Vec<KeyRow> =
            sqlx::query_as("SELECT id, source, scopes, expires_at, key_hash FROM api_keys WHERE revoked_at IS NULL")
                .fetch_all(pool)
                .await?;
        let mut map = HashMap::with_capacity(rows.len());
        for (id, source, scopes, expires_at, hash) in rows {
            let Ok(hash) = <[u8; 32]>::try_from(hash.as_slice()) else {
                tracing::warn!(%id, "API key with a malformed hash ignored");
                continue;
            };
            map.insert(hash, Arc::new(ApiKey { id, source, scopes, expires_at }));
        }
        let n = map.len();
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(map);
        metrics::gauge!("rtcx_ingest_api_keys_loaded").set(n as f64);
        Ok(n)
    }

    /// Refreshes every `every` until the returned task is aborted. Failures keep the last set.
    pub fn spawn_refresher(self: &Arc<Self>, pool: PgPool, every: Duration) -> tokio::task::JoinHandle<()> {
        let store = Arc::clone(self);
        rtcx_service_kit::spawn_every(every, move || {
            let (store, pool) = (Arc::clone(&store), pool.clone());
            async move {
                match store.refresh(&pool).await {
                    Ok(n) => tracing::debug!(keys = n, "API keys refreshed"),
                    Err(e) => {
                        metrics::counter!("rtcx_ingest_api_key_refresh_failures_total").increment(1);
                        tracing::warn!(error = %e, keys = store.len(), "API key refresh failed; keeping the last known keys");
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_by_hash_and_expiry() {
        let store = KeyStore::default();
        let key = ApiKey { id: Uuid::now_v7(), source: "crm".into(), scopes: vec!["ingest".into()], expires_at: None };
        let expired = ApiKey { expires_at: Some(Utc::now() - chrono::Duration::seconds(1)), ..key.clone() };
        *store.keys.write().expect("lock") = Arc::new(HashMap::from([
            (hash_key("rtcx_live"), Arc::new(key.clone())),
            (hash_key("rtcx_old"), Arc::new(expired)),
        ]));
        assert_eq!(store.lookup("rtcx_live", Utc::now()), KeyLookup::Valid(Arc::new(key)));
        assert_eq!(store.lookup("rtcx_old", Utc::now()), KeyLookup::Expired);
        assert_eq!(store.lookup("rtcx_nope", Utc::now()), KeyLookup::Unknown);
    }
}
