//! `/v1/auth/*`: register, login, refresh, logout, logout-all, me, change password, sessions,
//! password reset (request + confirm).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use utoipa::ToSchema;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::sessions::{self, IssuedRefresh, Rotation, SessionInfo};
use super::tokens::{new_opaque_token, token_hash};
use super::{AuthUser, Permission, Role, password};
use crate::app::AppState;
use crate::error::ApiError;

/// A user as the API shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
#[schema(example = json!({"id": "0190f5c2-7b7e-7cc1-9a43-1e0b8f3c2a11", "email": "ana@example.com", "display_name": "Ana Ruiz", "role": "MANAGER", "active": true, "created_at": "2026-11-02T09:14:00Z", "last_login_at": "2026-11-28T17:40:12Z"}))]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    #[schema(value_type = Role)]
    pub role: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

const USER_COLUMNS: &str = "id, email, display_name, role, active, created_at, last_login_at";

/// Tokens answered by login and refresh.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"access_token": "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJzdWIiOi4uLn0.c2ln", "token_type": "Bearer", "expires_in": 900, "refresh_token": "rt_2YpQm4s8XcVb0nHk3LwZr7Tq9uAe1fGd", "refresh_expires_at": "2026-12-13T10:00:00Z", "user": {"id": "0190f5c2-7b7e-7cc1-9a43-1e0b8f3c2a11", "email": "ana@example.com", "display_name": "Ana Ruiz", "role": "MANAGER", "active": true, "created_at": "2026-11-02T09:14:00Z", "last_login_at": "2026-11-28T17:40:12Z"}}))]
pub struct TokenResponse {
    pub access_token: String,
    #[schema(value_type = String, example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds the access token lives.
    pub expires_in: i64,
    pub refresh_token: String,
    pub refresh_expires_at: DateTime<Utc>,
    pub user: UserView,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ana@example.com", "password": "correct horse battery staple"}))]
pub struct Credentials {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "sam@example.com", "password": "a long passphrase 2026", "display_name": "Sam Lee"}))]
pub struct RegisterRequest {
    pub email: String,
    #[schema(min_length = 12, max_length = 128)]
    pub password: String,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub display_name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"refresh_token": "rt_2YpQm4s8XcVb0nHk3LwZr7Tq9uAe1fGd"}))]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"current_password": "correct horse battery staple", "new_password": "another long passphrase 7"}))]
pub struct ChangePasswordRequest {
    pub current_password: String,
    #[schema(min_length = 12, max_length = 128)]
    pub new_password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ana@example.com"}))]
pub struct ResetRequest {
    pub email: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "prt_Vb0nHk3LwZr7Tq9uAe1fGd2YpQm4s8Xc", "new_password": "another long passphrase 7"}))]
pub struct ResetConfirm {
    pub token: String,
    #[schema(min_length = 12, max_length = 128)]
    pub new_password: String,
}

/// Longest email address, in characters as sent.
pub const EMAIL_MAX: usize = 254;

/// The email rule as a JSON Schema pattern, exactly [`normalize_email`]'s (the length aside) and
/// the character rule's: surrounding whitespace (not a control character), then something
/// without whitespace, control characters or `@`, `@`, and a domain without whitespace or
/// control characters that holds a dot and does not start with one. A test checks the two agree.
pub const EMAIL_PATTERN: &str = r"^[\t\n\r \u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[^\t\n\u000B\u000C\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000@\u0000-\u001F\u007F-\u009F]+@[^\t\n\u000B\u000C\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000.\u0000-\u001F\u007F-\u009F][^\t\n\u000B\u000C\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\u0000-\u001F\u007F-\u009F]*\.[^\t\n\u000B\u000C\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\u0000-\u001F\u007F-\u009F]*[\t\n\r \u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$";

/// Normalised email, or a validation error.
pub fn normalize_email(email: &str) -> Result<String, ApiError> {
    let e = email.trim().to_lowercase();
    let ok = email.chars().count() <= EMAIL_MAX
        && e.split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.') && !domain.starts_with('.'))
        && !e.chars().any(char::is_whitespace);
    if ok { Ok(e) } else { Err(ApiError::invalid("email", "must be an email address")) }
}

/// Checks the password policy; the error lists every rule broken.
pub fn check_password(field: &str, password: &str, email: &str) -> Result<(), ApiError> {
    let v = password::policy_violations(password, email);
    if v.is_empty() { Ok(()) } else { Err(ApiError::invalid(field, format!("password {}", v.join("; ")))) }
}

/// Password hashes computed at once: argon2id takes 19 MiB and a core's worth of time each, so a
/// flood of logins waits here instead of growing memory and starving the other requests.
static ARGON2_PERMITS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// Hashes on the blocking pool (argon2 takes tens of milliseconds).
pub async fn hash_password(p: String) -> Result<String, ApiError> {
    let _permit = ARGON2_PERMITS.acquire().await.map_err(|e| ApiError::Internal(e.to_string()))?;
    tokio::task::spawn_blocking(move || password::hash(&p))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::Internal(e.to_string()))
}

async fn verify_password(p: String, phc: String) -> Result<bool, ApiError> {
    let _permit = ARGON2_PERMITS.acquire().await.map_err(|e| ApiError::Internal(e.to_string()))?;
    tokio::task::spawn_blocking(move || password::verify(&p, &phc)).await.map_err(|e| ApiError::Internal(e.to_string()))
}

fn client_ip(app: &AppState, headers: &HeaderMap, peer: SocketAddr) -> String {
    rtcx_service_kit::client_ip(peer, headers, app.trust_forwarded_for)
}

async fn user_view(app: &AppState, id: Uuid) -> Result<UserView, ApiError> {
    sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(&app.pg)
        .await?
        .ok_or(ApiError::NotFound("user"))
}

fn tokens_for(app: &AppState, user: UserView, refresh: IssuedRefresh) -> Result<TokenResponse, ApiError> {
    let access = app
        .tokens
        .issue(user.id, &user.role, refresh.family_id, Utc::now())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(TokenResponse {
        access_token: access,
        token_type: "Bearer",
        expires_in: app.tokens.access_ttl().num_seconds(),
        refresh_token: refresh.token,
        refresh_expires_at: refresh.expires_at,
        user,
    })
}

/// `POST /v1/auth/register`: open self-registration (off by default), role AGENT.
#[utoipa::path(
    post,
    path = "/v1/auth/register",
    tag = "auth",
    summary = "Register an account (role AGENT)",
    description = "Open self-registration; off unless `RTCX_SELF_REGISTRATION=true` (403 otherwise). The password policy is listed in the README.",
    request_body = RegisterRequest,
    responses((status = 201, description = "Account created", body = UserView), (status = 400, response = crate::openapi::BadRequest), (status = 403, response = crate::openapi::Forbidden), (status = 409, response = crate::openapi::Conflict))
)]
pub async fn register(
    State(app): State<Arc<AppState>>,
    body: Result<Json<RegisterRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    if !app.self_registration {
        return Err(ApiError::Forbidden("self-registration is disabled; ask an administrator for an account"));
    }
    let Json(r) = body?;
    let email = normalize_email(&r.email)?;
    check_password("password", &r.password, &email)?;
    let user = create_user(&app, &email, &r.display_name, &r.password, Role::Agent, Welcome::SelfRegistered).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// Inserts a user; 409 when the email is taken.
/// Whether a new account is announced by e-mail (a `user_created` outbox row for the
/// notifier, in the account's transaction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Welcome {
    /// No mail (the command line, the demo set-up).
    None,
    /// Created by an administrator through the API.
    ByAdmin,
    /// Self-registered.
    SelfRegistered,
}

pub async fn create_user(
    app: &AppState,
    email: &str,
    display_name: &str,
    password: &str,
    role: Role,
    welcome: Welcome,
) -> Result<UserView, ApiError> {
    if display_name.chars().count() > 200 {
        return Err(ApiError::invalid("display_name", "at most 200 characters"));
    }
    let hash = hash_password(password.to_owned()).await?;
    let mut tx = app.pg.begin().await?;
    let user: Option<UserView> = sqlx::query_as(&format!(
        "INSERT INTO users (email, display_name, password_hash, role) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (email) DO NOTHING RETURNING {USER_COLUMNS}"
    ))
    .bind(email)
    .bind(display_name.trim())
    .bind(hash)
    .bind(role.as_str())
    .fetch_optional(&mut *tx)
    .await?;
    let user = user.ok_or(ApiError::Conflict("an account with this email exists"))?;
    if welcome != Welcome::None {
        let payload = serde_json::json!({
            "email": user.email, "display_name": user.display_name, "role": role.as_str(),
            "by_admin": welcome == Welcome::ByAdmin,
        });
        sqlx::query(
            "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload) VALUES ('user', $1, 'user_created', $2)",
        )
        .bind(user.id.to_string())
        .bind(payload)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(user)
}

/// `POST /v1/auth/login`.
#[utoipa::path(
    post,
    path = "/v1/auth/login",
    tag = "auth",
    summary = "Log in: access and refresh tokens",
    description = "Answers the same 401 for an unknown account, a wrong password or a deactivated account. After 5 failed attempts for an account (20 from one client) in 15 minutes: 429 with `Retry-After`.",
    request_body = Credentials,
    responses((status = 200, description = "Logged in", body = TokenResponse), (status = 400, response = crate::openapi::BadRequest), (status = 401, response = crate::openapi::Unauthorized), (status = 429, response = crate::openapi::RateLimited))
)]
pub async fn login(
    State(app): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Json<Credentials>, JsonRejection>,
) -> Result<Json<TokenResponse>, ApiError> {
    let Json(c) = body?;
    let email = c.email.trim().to_lowercase();
    let ip = client_ip(&app, &headers, peer);
    if let Some(wait) = app.throttle.check(&email, &ip, Instant::now()) {
        return Err(ApiError::RateLimited { retry_after_secs: wait.as_secs().max(1) });
    }
    let row: Option<(Uuid, String, bool)> =
        sqlx::query_as("SELECT id, password_hash, active FROM users WHERE email = $1")
            .bind(&email)
            .fetch_optional(&app.pg)
            .await?;
    // Unknown accounts verify against a dummy hash: same work, same answer, no enumeration.
    let (phc, found) = match &row {
        Some((_, h, _)) => (h.clone(), true),
        None => (password::dummy_hash().to_owned(), false),
    };
    let ok = verify_password(c.password, phc).await?;
    let Some((id, _, active)) = row.filter(|_| ok && found) else {
        app.throttle.failed(&email, &ip, Instant::now());
        metrics::counter!("rtcx_query_api_logins_total", "outcome" => "failed").increment(1);
        return Err(ApiError::Unauthorized("wrong email or password"));
    };
    if !active {
        app.throttle.failed(&email, &ip, Instant::now());
        return Err(ApiError::Unauthorized("wrong email or password"));
    }
    app.throttle.succeeded(&email);
    sqlx::query("UPDATE users SET last_login_at = now() WHERE id = $1").bind(id).execute(&app.pg).await?;
    let agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok());
    let refresh = sessions::start(&app.pg, id, app.refresh_ttl, agent, Some(&ip)).await?;
    metrics::counter!("rtcx_query_api_logins_total", "outcome" => "ok").increment(1);
    Ok(Json(tokens_for(&app, user_view(&app, id).await?, refresh)?))
}

/// `POST /v1/auth/refresh`: rotates the refresh token; reuse revokes the session.
#[utoipa::path(
    post,
    path = "/v1/auth/refresh",
    tag = "auth",
    summary = "Rotate the refresh token",
    description = "Presenting a refresh token that was already rotated ends the whole session (reuse detection) and answers 401.",
    request_body = RefreshRequest,
    responses((status = 200, description = "New token pair; the presented refresh token is used up", body = TokenResponse), (status = 400, response = crate::openapi::BadRequest), (status = 401, response = crate::openapi::Unauthorized))
)]
pub async fn refresh(
    State(app): State<Arc<AppState>>,
    body: Result<Json<RefreshRequest>, JsonRejection>,
) -> Result<Json<TokenResponse>, ApiError> {
    let Json(r) = body?;
    match sessions::rotate(&app.pg, r.refresh_token.trim(), app.refresh_ttl).await? {
        Rotation::Rotated { user_id, refresh, .. } => {
            Ok(Json(tokens_for(&app, user_view(&app, user_id).await?, refresh)?))
        }
        Rotation::Unknown | Rotation::Expired => Err(ApiError::Unauthorized("invalid or expired refresh token")),
        Rotation::Reused => Err(ApiError::Unauthorized("refresh token reuse detected; the session was ended")),
    }
}

/// `POST /v1/auth/logout`: ends the caller's session.
#[utoipa::path(
    post,
    path = "/v1/auth/logout",
    tag = "auth",
    summary = "End this session",
    responses((status = 204, description = "Done")),
    extensions(("x-rtcx-permission" = json!("manage_own_account")))
)]
pub async fn logout(State(app): State<Arc<AppState>>, user: AuthUser) -> Result<StatusCode, ApiError> {
    user.require(Permission::ManageOwnAccount)?;
    sessions::revoke_family(&app.pg, user.id, user.session, "logout").await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/auth/logout-all`: ends every session of the caller.
#[utoipa::path(
    post,
    path = "/v1/auth/logout-all",
    tag = "auth",
    summary = "End every session of the caller",
    responses((status = 204, description = "Done")),
    extensions(("x-rtcx-permission" = json!("manage_own_account")))
)]
pub async fn logout_all(State(app): State<Arc<AppState>>, user: AuthUser) -> Result<StatusCode, ApiError> {
    user.require(Permission::ManageOwnAccount)?;
    sessions::revoke_all(&app.pg, user.id, "logout_all", None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller, with what its role may do (so that a client offers only that).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "0190f5c2-7b7e-7cc1-9a43-1e0b8f3c2a11", "email": "ana@example.com", "display_name": "Ana Ruiz", "role": "AGENT", "active": true, "created_at": "2026-11-02T09:14:00Z", "last_login_at": "2026-11-28T17:40:12Z", "permissions": ["manage_own_account", "read_analytics", "handle_alerts"]}))]
pub struct Me {
    #[serde(flatten)]
    pub user: UserView,
    /// The role's permissions (docs/permissions.md), by their snake_case names.
    pub permissions: Vec<&'static str>,
}

/// `GET /v1/auth/me`.
#[utoipa::path(
    get,
    path = "/v1/auth/me",
    tag = "auth",
    summary = "The caller and its permissions",
    responses((status = 200, description = "The caller, with the permissions of its role", body = Me)),
    extensions(("x-rtcx-permission" = json!("manage_own_account")))
)]
pub async fn me(State(app): State<Arc<AppState>>, user: AuthUser) -> Result<Json<Me>, ApiError> {
    user.require(Permission::ManageOwnAccount)?;
    let view = user_view(&app, user.id).await?;
    let permissions = match Role::parse(&view.role) {
        Some(role) => Permission::ALL.into_iter().filter(|p| role.allows(*p)).map(Permission::as_str).collect(),
        None => Vec::new(),
    };
    Ok(Json(Me { user: view, permissions }))
}

/// `POST /v1/auth/change-password`: other sessions end; this one stays.
#[utoipa::path(
    post,
    path = "/v1/auth/change-password",
    tag = "auth",
    summary = "Change the password",
    request_body = ChangePasswordRequest,
    responses((status = 204, description = "Changed; the caller's other sessions ended"), (status = 400, response = crate::openapi::BadRequest)),
    extensions(("x-rtcx-permission" = json!("manage_own_account")))
)]
pub async fn change_password(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    body: Result<Json<ChangePasswordRequest>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    user.require(Permission::ManageOwnAccount)?;
    let Json(r) = body?;
    let (email, phc): (String, String) =
        sqlx::query_as("SELECT email, password_hash FROM users WHERE id = $1").bind(user.id).fetch_one(&app.pg).await?;
    if !verify_password(r.current_password, phc).await? {
        return Err(ApiError::invalid("current_password", "is wrong"));
    }
    check_password("new_password", &r.new_password, &email)?;
    let hash = hash_password(r.new_password).await?;
    let mut tx = app.pg.begin().await?;
    set_password(&mut tx, user.id, &hash, Some(user.session)).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Stores a new password hash and ends the user's sessions except `keep`, in `tx`.
pub async fn set_password(
    tx: &mut sqlx::PgConnection,
    user_id: Uuid,
    hash: &str,
    keep: Option<Uuid>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET password_hash = $2, password_changed_at = now(), updated_at = now() WHERE id = $1")
        .bind(user_id)
        .bind(hash)
        .execute(&mut *tx)
        .await?;
    sessions::revoke_all(&mut *tx, user_id, "password_changed", keep).await?;
    Ok(())
}

/// `GET /v1/auth/sessions`: the caller's active sessions.
#[utoipa::path(
    get,
    path = "/v1/auth/sessions",
    tag = "auth",
    summary = "The caller's active sessions",
    responses((status = 200, description = "Newest first", body = Vec<SessionInfo>)),
    extensions(("x-rtcx-permission" = json!("manage_own_account")))
)]
pub async fn list_sessions(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
) -> Result<Json<Vec<SessionInfo>>, ApiError> {
    user.require(Permission::ManageOwnAccount)?;
    Ok(Json(sessions::list(&app.pg, user.id).await?))
}

/// `DELETE /v1/auth/sessions/{id}`: ends one of the caller's sessions.
#[utoipa::path(
    delete,
    path = "/v1/auth/sessions/{id}",
    tag = "auth",
    summary = "End one of the caller's sessions",
    params(("id" = Uuid, Path, description = "Session id")),
    responses((status = 204, description = "Done"), (status = 404, response = crate::openapi::NotFound)),
    extensions(("x-rtcx-permission" = json!("manage_own_account")))
)]
pub async fn revoke_session(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    user.require(Permission::ManageOwnAccount)?;
    if sessions::revoke_family(&app.pg, user.id, id, "logout").await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("session"))
    }
}

/// `POST /v1/auth/password-reset/request`: always 202 (no enumeration). For an active
/// account, a single-use token (valid 30 minutes) is stored hashed and a
/// `password_reset_requested` event carrying it goes to the outbox in the same transaction,
/// for the notifications relay to e-mail.
#[utoipa::path(
    post,
    path = "/v1/auth/password-reset/request",
    tag = "auth",
    summary = "Request a password reset e-mail",
    description = "For an active account, stores a single-use token (30 minutes) and queues the e-mail through the outbox.",
    request_body = ResetRequest,
    responses((status = 202, description = "Always, whether or not the account exists"), (status = 400, response = crate::openapi::BadRequest))
)]
pub async fn request_reset(
    State(app): State<Arc<AppState>>,
    body: Result<Json<ResetRequest>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(r) = body?;
    let email = r.email.trim().to_lowercase();
    let user: Option<Uuid> = sqlx::query_scalar("SELECT id FROM users WHERE email = $1 AND active")
        .bind(&email)
        .fetch_optional(&app.pg)
        .await?;
    if let Some(id) = user {
        let token = new_opaque_token();
        let expires_at = Utc::now() + Duration::minutes(30);
        let mut tx = app.pg.begin().await?;
        sqlx::query("INSERT INTO password_reset_tokens (user_id, token_hash, expires_at) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(token_hash(&token))
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload) \
             VALUES ('user', $1, 'password_reset_requested', $2)",
        )
        .bind(id.to_string())
        .bind(serde_json::json!({"email": email, "token": token, "expires_at": expires_at}))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    }
    Ok(StatusCode::ACCEPTED)
}

/// `POST /v1/auth/password-reset/confirm`: sets the password, uses the token up and ends
/// every session of the account.
#[utoipa::path(
    post,
    path = "/v1/auth/password-reset/confirm",
    tag = "auth",
    summary = "Set a new password with a reset token",
    request_body = ResetConfirm,
    responses((status = 204, description = "Password set; every session of the account ended"), (status = 400, response = crate::openapi::BadRequest), (status = 401, response = crate::openapi::Unauthorized))
)]
pub async fn confirm_reset(
    State(app): State<Arc<AppState>>,
    body: Result<Json<ResetConfirm>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(r) = body?;
    let mut tx = app.pg.begin().await?;
    let row: Option<(Uuid, Uuid, String)> = sqlx::query_as(
        "SELECT t.id, t.user_id, u.email FROM password_reset_tokens t JOIN users u ON u.id = t.user_id \
         WHERE t.token_hash = $1 AND t.used_at IS NULL AND t.expires_at > now() AND u.active FOR UPDATE OF t",
    )
    .bind(token_hash(r.token.trim()))
    .fetch_optional(&mut *tx)
    .await?;
    let Some((token_id, user_id, email)) = row else {
        return Err(ApiError::Unauthorized("invalid or expired reset token"));
    };
    check_password("new_password", &r.new_password, &email)?;
    let hash = hash_password(r.new_password).await?;
    sqlx::query("UPDATE password_reset_tokens SET used_at = now() WHERE id = $1")
        .bind(token_id)
        .execute(&mut *tx)
        .await?;
    set_password(&mut tx, user_id, &hash, None).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
