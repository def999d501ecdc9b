//! Each user's e-mail notification preferences, shared by query-api (which stores and serves
//! them) and the notifier (which applies them): the role defaults live here once.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{AlertEvent, AlertSeverity, AlertType};

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
}

impl NotificationPreferences {
    /// The defaults of a role (wire name): ADMIN and MANAGER get new alerts from HIGH up;
    /// everyone gets assignments; nobody gets resolved notices.
    pub fn role_default(role: &str) -> Self {
        let leads = matches!(role, "ADMIN" | "MANAGER");
        Self {
            email_opt_out: false,
            alert_min_severity: leads.then_some(AlertSeverity::High),
            alert_types: None,
            assignments: true,
            resolved: false,
        }
    }

    /// Preferences as the `notification_preferences` columns store them (wire names; a name
    /// the contract no longer knows is left out).
    pub fn from_columns(
        email_opt_out: bool,
        alert_min_severity: Option<&str>,
        alert_types: Option<&[String]>,
        assignments: bool,
        resolved: bool,
    ) -> Self {
        Self {
            email_opt_out,
            alert_min_severity: alert_min_severity.and_then(AlertSeverity::from_wire),
            alert_types: alert_types.map(|t| t.iter().filter_map(|x| AlertType::from_wire(x)).collect()),
            assignments,
            resolved,
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
    }
}
