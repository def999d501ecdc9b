//! Rooms: their names, who may join them, which filters they take, and which rooms an event
//! belongs to.
//!
//! | room | delivers | permission | filters |
//! |---|---|---|---|
//! | `dashboard` | `GET /v1/dashboard/overview` figures, on joining and when they change | `read_analytics` | `range`, `channel` |
//! | `alerts` | every alert event (`rtcx.alerts.v1`) | `read_analytics` | `min_severity`, `alert_types` |
//! | `channel:<name>` | newly enriched feedback of that channel | `read_analytics` | `sentiment` |
//! | `topic:<id>` | newly enriched feedback assigned that topic | `read_analytics` | `sentiment` |
//! | `user` | changes to alerts assigned to the caller; for ADMIN and MANAGER, the CRITICAL and HIGH alerts the notifier mails them | `handle_alerts` | `min_severity`, `alert_types` |

use rtcx_schemas::live::SubscriptionFilter;
use rtcx_schemas::{AlertChange, AlertEvent, AlertSeverity, AlertType, Channel, SentimentLabel};
use uuid::Uuid;

use crate::auth::{Permission, Role};

/// A room a connection can join.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Room {
    Dashboard,
    Alerts,
    Channel(Channel),
    Topic(Uuid),
    User,
}

/// The room patterns, as `welcome` lists them.
pub const PATTERNS: [(&str, Permission); 5] = [
    ("dashboard", Permission::ReadAnalytics),
    ("alerts", Permission::ReadAnalytics),
    ("channel:<name>", Permission::ReadAnalytics),
    ("topic:<id>", Permission::ReadAnalytics),
    ("user", Permission::HandleAlerts),
];

/// The range presets the `dashboard` room takes.
pub const DASHBOARD_RANGES: [&str; 5] = ["1h", "24h", "7d", "30d", "90d"];
/// The `dashboard` room's range when the filter names none.
pub const DEFAULT_DASHBOARD_RANGE: &str = "24h";

impl Room {
    /// Reads `dashboard`, `alerts`, `channel:<name>`, `topic:<uuid>` or `user`.
    pub fn parse(s: &str) -> Option<Room> {
        match s {
            "dashboard" => Some(Room::Dashboard),
            "alerts" => Some(Room::Alerts),
            "user" => Some(Room::User),
            _ => {
                let (kind, arg) = s.split_once(':')?;
                match kind {
                    "channel" => arg.parse().ok().map(Room::Channel),
                    "topic" => Uuid::parse_str(arg).ok().map(Room::Topic),
                    _ => None,
                }
            }
        }
    }

    pub fn name(&self) -> String {
        match self {
            Room::Dashboard => "dashboard".into(),
            Room::Alerts => "alerts".into(),
            Room::Channel(c) => format!("channel:{}", c.as_str()),
            Room::Topic(t) => format!("topic:{t}"),
            Room::User => "user".into(),
        }
    }

    /// What the caller's role needs to join.
    pub fn permission(&self) -> Permission {
        match self {
            Room::User => Permission::HandleAlerts,
            _ => Permission::ReadAnalytics,
        }
    }

    /// Refuses filter fields that do not apply to this room, and bad values.
    pub fn check_filter(&self, f: &SubscriptionFilter) -> Result<(), String> {
        let feedback = matches!(self, Room::Channel(_) | Room::Topic(_));
        let alerts = matches!(self, Room::Alerts | Room::User);
        let dashboard = *self == Room::Dashboard;
        let misplaced = [
            ("sentiment", f.sentiment.is_some() && !feedback),
            ("min_severity", f.min_severity.is_some() && !alerts),
            ("alert_types", f.alert_types.is_some() && !alerts),
            ("range", f.range.is_some() && !dashboard),
            ("channel", f.channel.is_some() && !dashboard),
        ];
        if let Some((field, _)) = misplaced.iter().find(|(_, bad)| *bad) {
            return Err(format!("{field} does not apply to room {}", self.name()));
        }
        if let Some(r) = f.range.as_deref()
            && !DASHBOARD_RANGES.contains(&r)
        {
            return Err(format!("range must be one of {}", DASHBOARD_RANGES.join(", ")));
        }
        Ok(())
    }

    /// The part of a filter that applies to this room (Server-Sent Events take one filter for
    /// all their rooms).
    pub fn project(&self, f: &SubscriptionFilter) -> SubscriptionFilter {
        let mut out = SubscriptionFilter::default();
        match self {
            Room::Channel(_) | Room::Topic(_) => out.sentiment.clone_from(&f.sentiment),
            Room::Alerts | Room::User => {
                out.min_severity = f.min_severity;
                out.alert_types.clone_from(&f.alert_types);
            }
            Room::Dashboard => {
                out.range.clone_from(&f.range);
                out.channel = f.channel;
            }
        }
        out
    }
}

/// The rooms a role may join, as `welcome` lists them.
pub fn allowed_patterns(role: Role) -> Vec<String> {
    PATTERNS.iter().filter(|(_, p)| role.allows(*p)).map(|(n, _)| (*n).to_owned()).collect()
}

/// Who an event's frame is for.
#[derive(Debug, Clone, PartialEq)]
pub enum Audience {
    /// Subscribers of a feedback room (`channel:*` or `topic:*`).
    Feedback { room: Room, sentiment: SentimentLabel },
    /// Subscribers of `alerts`.
    Alerts { severity: AlertSeverity, alert_type: AlertType },
    /// The `user` room of one user (the alert's assignee), or of every ADMIN and MANAGER
    /// (`user: None`: an alert the notifier mails them).
    User { user: Option<Uuid>, severity: AlertSeverity, alert_type: AlertType },
    /// Subscribers of `dashboard` with this range and channel.
    Dashboard { range: String, channel: Option<Channel> },
}

impl Audience {
    /// The room name a frame for this audience carries.
    pub fn room_name(&self) -> String {
        match self {
            Audience::Feedback { room, .. } => room.name(),
            Audience::Alerts { .. } => Room::Alerts.name(),
            Audience::User { .. } => Room::User.name(),
            Audience::Dashboard { .. } => Room::Dashboard.name(),
        }
    }

    /// Whether a subscription of `user` (with `role`) to `room` with `filter` receives it.
    pub fn reaches(&self, room: &Room, filter: &SubscriptionFilter, user: Uuid, role: Role) -> bool {
        let alert_ok = |severity: &AlertSeverity, alert_type: &AlertType| {
            filter.min_severity.is_none_or(|m| *severity >= m)
                && filter.alert_types.as_ref().is_none_or(|t| t.contains(alert_type))
        };
        match (self, room) {
            (Audience::Feedback { room: r, sentiment }, _) => {
                r == room && filter.sentiment.as_ref().is_none_or(|s| s.contains(sentiment))
            }
            (Audience::Alerts { severity, alert_type }, Room::Alerts) => alert_ok(severity, alert_type),
            (Audience::User { user: target, severity, alert_type }, Room::User) => {
                let mine = match target {
                    Some(u) => *u == user,
                    None => matches!(role, Role::Admin | Role::Manager),
                };
                mine && alert_ok(severity, alert_type)
            }
            (Audience::Dashboard { range, channel }, Room::Dashboard) => {
                filter.range.as_deref().unwrap_or(DEFAULT_DASHBOARD_RANGE) == range && filter.channel == *channel
            }
            _ => false,
        }
    }
}

/// The audiences of an alert event: `alerts`, plus the `user` room of its assignee (changes
/// people make carry it) and, for a notifiable new CRITICAL or HIGH alert, of every ADMIN and
/// MANAGER (the notifier's e-mail rule).
pub fn alert_audiences(e: &AlertEvent) -> Vec<Audience> {
    let (severity, alert_type) = (e.severity, e.alert_type);
    let mut out = vec![Audience::Alerts { severity, alert_type }];
    if let Some(a) = e.workflow.as_ref().and_then(|w| w.assignee_id) {
        out.push(Audience::User { user: Some(a), severity, alert_type });
    }
    let urgent = severity >= AlertSeverity::High;
    if e.notify() && urgent && matches!(e.change, AlertChange::Raised | AlertChange::Reopened) {
        out.push(Audience::User { user: None, severity, alert_type });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_read_back_from_their_names() {
        let t = Uuid::now_v7();
        for r in [Room::Dashboard, Room::Alerts, Room::Channel(Channel::Email), Room::Topic(t), Room::User] {
            assert_eq!(Room::parse(&r.name()), Some(r));
        }
        for bad in ["", "channel:fax", "topic:1", "users", "channel", "alerts:x"] {
            assert_eq!(Room::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn filters_must_fit_the_room() {
        let sentiment = SubscriptionFilter { sentiment: Some(vec![SentimentLabel::Negative]), ..Default::default() };
        assert!(Room::Channel(Channel::Web).check_filter(&sentiment).is_ok());
        assert!(Room::Alerts.check_filter(&sentiment).is_err());
        let range = SubscriptionFilter { range: Some("2d".into()), ..Default::default() };
        assert!(Room::Dashboard.check_filter(&range).is_err());
        let range = SubscriptionFilter { range: Some("7d".into()), ..Default::default() };
        assert!(Room::Dashboard.check_filter(&range).is_ok());
        assert_eq!(Room::Alerts.project(&range), SubscriptionFilter::default());
    }

    #[test]
    fn audiences_follow_room_filter_and_role() {
        let me = Uuid::now_v7();
        let high = Audience::Alerts { severity: AlertSeverity::High, alert_type: AlertType::SentimentSpike };
        let critical_only = SubscriptionFilter { min_severity: Some(AlertSeverity::Critical), ..Default::default() };
        assert!(high.reaches(&Room::Alerts, &SubscriptionFilter::default(), me, Role::Agent));
        assert!(!high.reaches(&Room::Alerts, &critical_only, me, Role::Agent));
        assert!(!high.reaches(&Room::User, &SubscriptionFilter::default(), me, Role::Agent));
        let mine =
            Audience::User { user: Some(me), severity: AlertSeverity::Low, alert_type: AlertType::HighVolumeNegative };
        assert!(mine.reaches(&Room::User, &SubscriptionFilter::default(), me, Role::Agent));
        assert!(!mine.reaches(&Room::User, &SubscriptionFilter::default(), Uuid::now_v7(), Role::Admin));
        let managers =
            Audience::User { user: None, severity: AlertSeverity::High, alert_type: AlertType::HighVolumeNegative };
        assert!(managers.reaches(&Room::User, &SubscriptionFilter::default(), me, Role::Manager));
        assert!(!managers.reaches(&Room::User, &SubscriptionFilter::default(), me, Role::Agent));
        let web = Audience::Feedback { room: Room::Channel(Channel::Web), sentiment: SentimentLabel::Positive };
        let negative = SubscriptionFilter { sentiment: Some(vec![SentimentLabel::Negative]), ..Default::default() };
        assert!(web.reaches(&Room::Channel(Channel::Web), &SubscriptionFilter::default(), me, Role::ApiUser));
        assert!(!web.reaches(&Room::Channel(Channel::Web), &negative, me, Role::ApiUser));
        assert!(!web.reaches(&Room::Channel(Channel::Email), &SubscriptionFilter::default(), me, Role::ApiUser));
        let day = Audience::Dashboard { range: "24h".into(), channel: None };
        assert!(day.reaches(&Room::Dashboard, &SubscriptionFilter::default(), me, Role::Agent));
        let week = SubscriptionFilter { range: Some("7d".into()), ..Default::default() };
        assert!(!day.reaches(&Room::Dashboard, &week, me, Role::Agent));
    }
}
