//! Who is sending: an API key, a user with an access token, or nobody (public endpoint).

use std::sync::Arc;

use axum::http::{HeaderMap, header};
use chrono::Utc;
use uuid::Uuid;

use crate::api_keys::{ApiKey, KEY_PREFIX, KeyLookup, KeyStore};
use crate::error::ApiError;
use crate::jwt::{INGEST_ROLES, JwtVerifier};

/// The authenticated sender of a request.
#[derive(Debug, Clone)]
pub enum Principal {
    /// An integration's API key (scope `ingest`).
    ApiKey(Arc<ApiKey>),
    /// A user with a valid access token.
    User { id: Uuid, role: String },
    /// The public widget endpoint.
    Anonymous,
}

/// The `source` stamped on anonymous events.
pub const PUBLIC_SOURCE: &str = "public";

impl Principal {
    /// The `source` of events this principal sends.
    pub fn source(&self) -> String {
        match self {
            Principal::ApiKey(k) => k.source.clone(),
            Principal::User { id, .. } => format!("user:{id}"),
            Principal::Anonymous => PUBLIC_SOURCE.to_owned(),
        }
    }

    /// The rate-limit bucket of this principal.
    pub fn rate_key(&self) -> String {
        match self {
            Principal::ApiKey(k) => format!("key:{}", k.id),
            Principal::User { id, .. } => format!("user:{id}"),
            Principal::Anonymous => PUBLIC_SOURCE.to_owned(),
        }
    }
}

/// Authenticates a request from `X-Api-Key` or `Authorization: Bearer …`.
pub fn authenticate(headers: &HeaderMap, keys: &KeyStore, jwt: Option<&JwtVerifier>) -> Result<Principal, ApiError> {
    let api_key = headers.get("x-api-key").map(|v| v.to_str().unwrap_or(""));
    let bearer = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or(""))
        .map(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")).unwrap_or("").trim());
    let credential = match (api_key, bearer) {
        (Some(k), _) => Credential::ApiKey(k.trim()),
        (None, Some(b)) if b.starts_with(KEY_PREFIX) => Credential::ApiKey(b),
        (None, Some(b)) if !b.is_empty() => Credential::Token(b),
        (None, Some(_)) => {
            return Err(ApiError::Unauthorized("Authorization must be `Bearer <API key or access token>`"));
        }
        (None, None) => {
            return Err(ApiError::Unauthorized(
                "missing credentials: send `Authorization: Bearer <API key or access token>` or `X-Api-Key`",
            ));
        }
    };
    match credential {
        Credential::ApiKey(k) => match keys.lookup(k, Utc::now()) {
            KeyLookup::Valid(key) if key.has_scope("ingest") => Ok(Principal::ApiKey(key)),
            KeyLookup::Valid(_) => Err(ApiError::Forbidden("this API key lacks the `ingest` scope")),
            KeyLookup::Expired => Err(ApiError::Unauthorized("API key expired")),
            KeyLookup::Unknown => Err(ApiError::Unauthorized("unknown or revoked API key")),
        },
        Credential::Token(t) => {
            let verifier = jwt.ok_or(ApiError::Unauthorized("access tokens are not accepted here; use an API key"))?;
            let claims = verifier.verify(t).map_err(|_| ApiError::Unauthorized("invalid or expired access token"))?;
            if INGEST_ROLES.contains(&claims.role.as_str()) {
                Ok(Principal::User { id: claims.sub, role: claims.role })
            } else {
                Err(ApiError::Forbidden("this role may not post feedback"))
            }
        }
    }
}

enum Credential<'a> {
    ApiKey(&'a str),
    Token(&'a str),
}
