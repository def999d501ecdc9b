//! `/v1/auth/me/notification-preferences`: which e-mails the caller gets from the notifier.
//! Without stored preferences the role's defaults apply
//! ([`rtcx_schemas::notifications::NotificationPreferences::role_default`]).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use rtcx_schemas::notifications::{
    DEFAULT_DIGEST_HOUR, DEFAULT_TIME_ZONE, DigestFrequency, NotificationPreferences, PreferenceColumns,
};
use rtcx_schemas::{AlertSeverity, AlertType};
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::auth::{AuthUser, Permission};
use crate::error::ApiError;

/// The caller's e-mail preferences.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email_opt_out": false, "alert_min_severity": "HIGH", "alert_types": ["SENTIMENT_SPIKE", "HIGH_VOLUME_NEGATIVE"], "assignments": true, "resolved": true, "digest": "weekly", "digest_hour": 8, "time_zone": "Europe/Paris"}))]
pub struct Preferences {
    /// No notification e-mail at all (account mail such as password resets still goes out).
    pub email_opt_out: bool,
    /// New and reopened alerts at least this severe (LOW, MEDIUM, HIGH, CRITICAL); null: none.
    #[schema(value_type = Option<crate::openapi::SeverityName>)]
    pub alert_min_severity: Option<AlertSeverity>,
    /// Only these alert types; null: every type.
    #[schema(value_type = Option<Vec<crate::openapi::AlertTypeName>>, min_items = 1)]
    pub alert_types: Option<Vec<AlertType>>,
    /// Alerts someone else assigns to you.
    pub assignments: bool,
    /// A notice when an alert you would have been mailed about is resolved or dismissed.
    pub resolved: bool,
    /// A summary mail: `daily` (about the day before), `weekly` (on Mondays, about the week
    /// before) or `none`; none when left out.
    #[serde(default)]
    #[schema(value_type = crate::openapi::DigestName)]
    pub digest: DigestFrequency,
    /// Hour of your day (0–23, in `time_zone`) at which the digest is sent; 8 when left out.
    #[serde(default = "default_digest_hour", deserialize_with = "crate::whole_number::whole")]
    #[schema(minimum = 0, maximum = 23)]
    pub digest_hour: u8,
    /// Your time zone, an IANA name such as `Europe/Paris` (days of the digest start at its
    /// midnight); UTC when left out.
    #[serde(default = "default_time_zone")]
    #[schema(min_length = 1, max_length = 64, example = "Europe/Paris")]
    pub time_zone: String,
}

fn default_digest_hour() -> u8 {
    DEFAULT_DIGEST_HOUR
}

fn default_time_zone() -> String {
    DEFAULT_TIME_ZONE.to_owned()
}

/// The preferences in force, and whether they are the role's defaults.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"preferences": {"email_opt_out": false, "alert_min_severity": "HIGH", "alert_types": null, "assignments": true, "resolved": false, "digest": "none", "digest_hour": 8, "time_zone": "UTC"}, "role_default": true}))]
pub struct PreferencesView {
    pub preferences: Preferences,
    /// Nothing stored: the role's defaults apply (and follow a role change).
    pub role_default: bool,
}

impl From<NotificationPreferences> for Preferences {
    fn from(p: NotificationPreferences) -> Self {
        Self {
            email_opt_out: p.email_opt_out,
            alert_min_severity: p.alert_min_severity,
            alert_types: p.alert_types,
            assignments: p.assignments,
            resolved: p.resolved,
            digest: p.digest,
            digest_hour: p.digest_hour,
            time_zone: p.time_zone,
        }
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    email_opt_out: bool,
    alert_min_severity: Option<String>,
    alert_types: Option<Vec<String>>,
    assignments: bool,
    resolved: bool,
    digest: String,
    digest_hour: i16,
    time_zone: String,
}

/// The preferences of a user (stored, else the role's defaults), and whether they are the
/// defaults.
pub async fn load(pg: &sqlx::PgPool, user: &AuthUser) -> Result<(NotificationPreferences, bool), ApiError> {
    let row: Option<Row> = sqlx::query_as(
        "SELECT email_opt_out, alert_min_severity, alert_types, assignments, resolved, digest, digest_hour, time_zone \
         FROM notification_preferences WHERE user_id = $1",
    )
    .bind(user.id)
    .fetch_optional(pg)
    .await?;
    Ok(match row {
        None => (NotificationPreferences::role_default(user.role.as_str()), true),
        Some(r) => (
            NotificationPreferences::from_columns(PreferenceColumns {
                email_opt_out: r.email_opt_out,
                alert_min_severity: r.alert_min_severity.as_deref(),
                alert_types: r.alert_types.as_deref(),
                assignments: r.assignments,
                resolved: r.resolved,
                digest: &r.digest,
                digest_hour: r.digest_hour,
                time_zone: &r.time_zone,
            }),
            false,
        ),
    })
}

/// `GET /v1/auth/me/notification-preferences`.
#[utoipa::path(
    get,
    path = "/v1/auth/me/notification-preferences",
    tag = "auth",
    summary = "Your e-mail notification preferences",
    description = "The preferences the notifier applies to your e-mail (docs/notifications.md); without stored ones, your role's defaults: ADMIN and MANAGER get new alerts from HIGH up, everyone gets assignments, nobody gets resolved notices or digests.",
    responses((status = 200, body = PreferencesView)),
    extensions(("x-rtcx-permission" = json!("manage_own_account")))
)]
pub async fn get(State(app): State<Arc<AppState>>, user: AuthUser) -> Result<Json<PreferencesView>, ApiError> {
    user.require(Permission::ManageOwnAccount)?;
    let (p, role_default) = load(&app.pg, &user).await?;
    Ok(Json(PreferencesView { preferences: p.into(), role_default }))
}

/// `PUT /v1/auth/me/notification-preferences`.
#[utoipa::path(
    put,
    path = "/v1/auth/me/notification-preferences",
    tag = "auth",
    summary = "Set your e-mail notification preferences",
    description = "Replaces them as a whole (from then on a role change no longer changes them; `DELETE` goes back to the role's defaults). `time_zone` must be an IANA time-zone name the server knows (e.g. `Europe/Paris`, `America/New_York`, `UTC`); another name is refused with 400.",
    request_body = Preferences,
    responses((status = 200, body = PreferencesView)),
    extensions(("x-rtcx-permission" = json!("manage_own_account")))
)]
pub async fn put(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    body: Result<Json<Preferences>, JsonRejection>,
) -> Result<Json<PreferencesView>, ApiError> {
    user.require(Permission::ManageOwnAccount)?;
    let Json(p) = body?;
    if p.alert_types.as_ref().is_some_and(Vec::is_empty) {
        return Err(ApiError::invalid("alert_types", "name at least one type, or null for every type"));
    }
    if p.digest_hour > 23 {
        return Err(ApiError::invalid("digest_hour", "an hour of the day, 0 to 23"));
    }
    let known: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1)")
        .bind(&p.time_zone)
        .fetch_one(&app.pg)
        .await?;
    if !known {
        return Err(ApiError::invalid("time_zone", "not an IANA time-zone name (e.g. Europe/Paris, UTC)"));
    }
    let types: Option<Vec<&str>> = p.alert_types.as_ref().map(|t| t.iter().map(|x| x.as_str()).collect());
    sqlx::query(
        "INSERT INTO notification_preferences (user_id, email_opt_out, alert_min_severity, alert_types, assignments, resolved, \
         digest, digest_hour, time_zone) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (user_id) DO UPDATE SET email_opt_out = $2, alert_min_severity = $3, alert_types = $4, \
         assignments = $5, resolved = $6, digest = $7, digest_hour = $8, time_zone = $9, updated_at = now()",
    )
    .bind(user.id)
    .bind(p.email_opt_out)
    .bind(p.alert_min_severity.map(|s| s.as_str()))
    .bind(types)
    .bind(p.assignments)
    .bind(p.resolved)
    .bind(p.digest.as_str())
    .bind(i16::from(p.digest_hour))
    .bind(&p.time_zone)
    .execute(&app.pg)
    .await?;
    Ok(Json(PreferencesView { preferences: p, role_default: false }))
}

/// `DELETE /v1/auth/me/notification-preferences`.
#[utoipa::path(
    delete,
    path = "/v1/auth/me/notification-preferences",
    tag = "auth",
    summary = "Go back to your role's default e-mail preferences",
    responses((status = 200, body = PreferencesView)),
    extensions(("x-rtcx-permission" = json!("manage_own_account")))
)]
pub async fn reset(State(app): State<Arc<AppState>>, user: AuthUser) -> Result<Json<PreferencesView>, ApiError> {
    user.require(Permission::ManageOwnAccount)?;
    sqlx::query("DELETE FROM notification_preferences WHERE user_id = $1").bind(user.id).execute(&app.pg).await?;
    let p = NotificationPreferences::role_default(user.role.as_str());
    Ok(Json(PreferencesView { preferences: p.into(), role_default: true }))
}

#[cfg(test)]
mod tests {
    use rtcx_schemas::notifications::DigestFrequency;
    use rtcx_schemas::{AlertSeverity, AlertType};

    /// The documented names are the contract's (the document states them as enums).
    #[test]
    fn documented_enums_match_the_contract() {
        let doc = crate::app::document();
        let names = |schema: &str| -> Vec<String> {
            let v = serde_json::to_value(&doc.components.as_ref().expect("components").schemas[schema]).expect("json");
            v["enum"].as_array().expect("enum").iter().map(|x| x.as_str().unwrap_or_default().to_owned()).collect()
        };
        let types: Vec<String> = AlertType::ALL.iter().map(|t| t.as_str().to_owned()).collect();
        let severities: Vec<String> = AlertSeverity::ALL.iter().map(|s| s.as_str().to_owned()).collect();
        assert_eq!(names("AlertTypeName"), types);
        assert_eq!(names("SeverityName"), severities);
        let digests: Vec<String> = DigestFrequency::ALL.iter().map(|d| d.as_str().to_owned()).collect();
        assert_eq!(names("DigestName"), digests);
    }
}
