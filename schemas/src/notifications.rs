//! Each user's e-mail notification preferences, shared by query-api (which stores and serves
//! them) and the notifier (which applies them): the role defaults live here once.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{AlertEvent, AlertSeverity, AlertType};

/// The digest hour without a stored choice.
pub const DEFAULT_DIGEST_HOUR: u8 = 8;
/// The time zone without a stored choice.
pub const DEFAULT_TIME_ZONE: &str = "UTC";

/// What a user wants by e-mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationPreferences {
    /// No notification e-mail at all (account mail such as password resets still goes out).
    pub email_opt_out: bool,
    /// New and reopened alerts at least this severe; null: none.
    pub alert_min_severity: Option<AlertSeverity>,
    /// Only these alert types; null: every type.
    pub alert_types: Option<Vec<AlertType>>,
    /// Alerts someone else assigns to the user.
    pub assignments: bool,
    /// A notice when an alert the user would have been mailed about is resolved or dismissed.
    pub resolved: bool,
    /// A summary mail of the past day or week; none by default.
    pub digest: DigestFrequency,
    /// Hour of the user's day (0–23, in `time_zone`) at which the digest is sent.
    pub digest_hour: u8,
    /// The user's time zone (IANA name, e.g. `Europe/Paris`): the digest's days start at its
    /// midnight.
    pub time_zone: String,
}

/// How often a user gets a digest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DigestFrequency {
    #[default]
    None,
    /// Every day, about the day before.
    Daily,
    /// Every Monday, about the week before (Monday to Sunday).
    Weekly,
}

impl DigestFrequency {
    pub const ALL: [Self; 3] = [Self::None, Self::Daily, Self::Weekly];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Daily => "daily",
            Self::Weekly => "weekly",
        }
    }

    pub fn from_wire(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

/// The columns of a `notification_preferences` row (wire names).
#[derive(Debug, Clone, Copy)]
pub struct PreferenceColumns<'a> {
    pub email_opt_out: bool,
    pub alert_min_severity: Option<&'a str>,
    pub alert_types: Option<&'a [String]>,
    pub assignments: bool,
    pub resolved: bool,
    pub digest: &'a str,
    pub digest_hour: i16,
    pub time_zone: &'a str,
}

impl NotificationPreferences {
    /// The defaults of a role (wire name): ADMIN and MANAGER get new alerts from HIGH up;
    /// everyone gets assignments; nobody gets resolved notices or digests (opt-in: a digest
    /// nobody asked for is the mail people learn to ignore).
    pub fn role_default(role: &str) -> Self {
        let leads = matches!(role, "ADMIN" | "MANAGER");
        Self {
            email_opt_out: false,
            alert_min_severity: leads.then_some(AlertSeverity::High),
            alert_types: None,
            assignments: true,
            resolved: false,
            digest: DigestFrequency::None,
            digest_hour: DEFAULT_DIGEST_HOUR,
            time_zone: DEFAULT_TIME_ZONE.to_owned(),
        }
    }

    /// Preferences as the `notification_preferences` columns store them (wire names; a name
    /// the contract no longer knows is left out).
    pub fn from_columns(c: PreferenceColumns<'_>) -> Self {
        Self {
            email_opt_out: c.email_opt_out,
            alert_min_severity: c.alert_min_severity.and_then(AlertSeverity::from_wire),
            alert_types: c.alert_types.map(|t| t.iter().filter_map(|x| AlertType::from_wire(x)).collect()),
            assignments: c.assignments,
            resolved: c.resolved,
            digest: DigestFrequency::from_wire(c.digest).unwrap_or(DigestFrequency::None),
            digest_hour: u8::try_from(c.digest_hour).ok().filter(|h| *h < 24).unwrap_or(DEFAULT_DIGEST_HOUR),
            time_zone: c.time_zone.to_owned(),
        }
    }

    /// Whether the user wants mail about alerts like `e` (severity and type), ignoring the
    /// opt-out.
    pub fn covers(&self, e: &AlertEvent) -> bool {
        self.alert_min_severity.is_some_and(|m| e.severity >= m)
            && self.alert_types.as_ref().is_none_or(|t| t.contains(&e.alert_type))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_defaults_follow_the_documented_rule() {
        assert_eq!(NotificationPreferences::role_default("ADMIN").alert_min_severity, Some(AlertSeverity::High));
        assert_eq!(NotificationPreferences::role_default("MANAGER").alert_min_severity, Some(AlertSeverity::High));
        assert_eq!(NotificationPreferences::role_default("AGENT").alert_min_severity, None);
        assert!(NotificationPreferences::role_default("AGENT").assignments);
        assert!(!NotificationPreferences::role_default("ADMIN").resolved);
        assert_eq!(NotificationPreferences::role_default("MANAGER").digest, DigestFrequency::None);
    }

    #[test]
    fn digest_frequencies_read_their_wire_names() {
        for f in DigestFrequency::ALL {
            assert_eq!(DigestFrequency::from_wire(f.as_str()), Some(f));
            assert_eq!(serde_json::to_value(f).expect("json"), serde_json::json!(f.as_str()));
        }
        assert_eq!(DigestFrequency::from_wire("hourly"), None);
    }
}
