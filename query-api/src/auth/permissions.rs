//! Roles and the permission matrix (docs/permissions.md), enforced by
//! [`super::AuthUser::require`] on every protected route.

use serde::{Deserialize, Serialize};

/// A user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    Admin,
    Manager,
    Agent,
    ApiUser,
}

/// Something a route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Own profile, password and sessions.
    ManageOwnAccount,
    /// List and read users.
    ReadUsers,
    /// Create, update, (de)activate users and change roles.
    ManageUsers,
    /// Read feedback, topics and dashboards.
    ReadAnalytics,
    /// Create, update and archive topics; decide suggestions.
    ManageTopics,
    /// Create and revoke API keys.
    ManageApiKeys,
    /// Work alerts: change their status, comment, take them (assign to oneself).
    HandleAlerts,
    /// Raise alerts by hand, change severities, assign anyone; alert rules, silences, previews.
    ManageAlerts,
    /// Create, change and delete webhook endpoints; read their delivery log.
    ManageWebhooks,
}

impl Permission {
    pub const ALL: [Permission; 9] = [
        Permission::ManageOwnAccount,
        Permission::ReadUsers,
        Permission::ManageUsers,
        Permission::ReadAnalytics,
        Permission::ManageTopics,
        Permission::ManageApiKeys,
        Permission::HandleAlerts,
        Permission::ManageAlerts,
        Permission::ManageWebhooks,
    ];

    /// The name used in docs/permissions.md and the OpenAPI document (`x-rtcx-permission`).
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ManageOwnAccount => "manage_own_account",
            Permission::ReadUsers => "read_users",
            Permission::ManageUsers => "manage_users",
            Permission::ReadAnalytics => "read_analytics",
            Permission::ManageTopics => "manage_topics",
            Permission::ManageApiKeys => "manage_api_keys",
            Permission::HandleAlerts => "handle_alerts",
            Permission::ManageAlerts => "manage_alerts",
            Permission::ManageWebhooks => "manage_webhooks",
        }
    }

    pub fn parse(s: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Manager, Role::Agent, Role::ApiUser];

    /// The wire name, from the contract both services read ([`rtcx_schemas::credentials::ROLES`],
    /// in the order of [`Role::ALL`]).
    pub fn as_str(self) -> &'static str {
        rtcx_schemas::credentials::ROLES[self as usize]
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The permission matrix.
    pub fn allows(self, p: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Admin => true,
            Role::Manager => {
                matches!(p, ManageOwnAccount | ReadUsers | ReadAnalytics | ManageTopics | HandleAlerts | ManageAlerts)
            }
            Role::Agent => matches!(p, ManageOwnAccount | ReadAnalytics | HandleAlerts),
            Role::ApiUser => matches!(p, ManageOwnAccount | ReadAnalytics),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_admins_manage_users_and_keys() {
        for r in Role::ALL {
            assert_eq!(r.allows(Permission::ManageUsers), r == Role::Admin);
            assert_eq!(r.allows(Permission::ManageApiKeys), r == Role::Admin);
            assert_eq!(r.allows(Permission::ManageWebhooks), r == Role::Admin);
            assert!(r.allows(Permission::ManageOwnAccount));
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert!(Role::Manager.allows(Permission::ManageTopics));
        assert!(!Role::Agent.allows(Permission::ManageTopics));
        assert!(Role::Agent.allows(Permission::HandleAlerts) && !Role::Agent.allows(Permission::ManageAlerts));
        assert!(!Role::ApiUser.allows(Permission::HandleAlerts));
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn role_names_are_the_contracts_and_serde_agrees() {
        for (i, r) in Role::ALL.into_iter().enumerate() {
            assert_eq!(r as usize, i);
            assert_eq!(r.as_str(), rtcx_schemas::credentials::ROLES[i]);
            assert_eq!(serde_json::to_value(r).expect("json"), serde_json::json!(r.as_str()));
        }
    }
}
