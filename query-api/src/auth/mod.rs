//! Authentication: passwords, access and refresh tokens, sessions, login throttling, and the
//! request extractor every protected route uses.

pub mod handlers;
pub mod password;
pub mod permissions;
pub mod sessions;
pub mod throttle;
pub mod tokens;

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use uuid::Uuid;

use crate::app::AppState;
use crate::error::ApiError;
pub use permissions::{Permission, Role};

/// The authenticated caller of a request (from a valid access token of a live session).
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub id: Uuid,
    pub role: Role,
    /// The session (refresh-token family) the access token belongs to.
    pub session: Uuid,
}

impl AuthUser {
    /// Refuses the request (403) unless the caller's role has `p`.
    pub fn require(&self, p: Permission) -> Result<(), ApiError> {
        if self.role.allows(p) { Ok(()) } else { Err(ApiError::Forbidden("your role may not do this")) }
    }
}

/// The bearer token of an `Authorization` header, if any.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "))
}

/// The caller an access token stands for, if the token is valid and its session alive.
pub async fn authenticate(app: &AppState, token: &str) -> Result<AuthUser, ApiError> {
    let claims = app.tokens.verify(token.trim()).map_err(|_| ApiError::Unauthorized("invalid or expired token"))?;
    let role = Role::parse(&claims.role).ok_or(ApiError::Unauthorized("invalid or expired token"))?;
    // Logout, logout-all, reuse detection and deactivation end access tokens at once.
    if !sessions::family_active(&app.pg, claims.sid).await? {
        return Err(ApiError::Unauthorized("session ended"));
    }
    Ok(AuthUser { id: claims.sub, role, session: claims.sid })
}

impl FromRequestParts<Arc<AppState>> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers).ok_or(ApiError::Unauthorized("missing bearer token"))?;
        authenticate(app, token).await
    }
}
