//! Feedback channels.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The channel a piece of feedback arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Website forms and widgets.
    Web,
    /// In-app feedback from the mobile apps.
    MobileApp,
    /// Emails to support or feedback addresses.
    Email,
    /// Live chat and chatbot transcripts.
    Chat,
    /// Social media posts and mentions.
    Social,
    /// Survey answers (NPS, CSAT, free text).
    Survey,
    /// Call-centre notes and transcripts.
    CallCenter,
}

impl Channel {
    /// Every channel, in declaration order.
    pub const ALL: [Channel; 7] = [
        Channel::Web,
        Channel::MobileApp,
        Channel::Email,
        Channel::Chat,
        Channel::Social,
        Channel::Survey,
        Channel::CallCenter,
    ];

    /// The wire name (`snake_case`), as used in JSON and in ClickHouse.
    pub const fn as_str(self) -> &'static str {
        match self {
            Channel::Web => "web",
            Channel::MobileApp => "mobile_app",
            Channel::Email => "email",
            Channel::Chat => "chat",
            Channel::Social => "social",
            Channel::Survey => "survey",
            Channel::CallCenter => "call_center",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error returned when a string names no channel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown channel {0:?}; expected one of web, mobile_app, email, chat, social, survey, call_center")]
pub struct UnknownChannel(pub String);

impl FromStr for Channel {
    type Err = UnknownChannel;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| UnknownChannel(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for c in Channel::ALL {
            let json = serde_json::to_string(&c).expect("serialize");
            assert_eq!(json, format!("\"{}\"", c.as_str()));
            assert_eq!(c.as_str().parse::<Channel>(), Ok(c));
        }
        assert_eq!(Channel::ALL.len(), 7);
    }

    #[test]
    fn unknown_channel_is_an_error() {
        let err = "fax".parse::<Channel>().expect_err("fax is no channel");
        assert!(err.to_string().contains("fax"));
        assert!(serde_json::from_str::<Channel>("\"Web\"").is_err());
    }
}
