//! The live-updates protocol of query-api: the messages a client sends over the WebSocket
//! (`GET /v1/ws`) and the messages the server sends over the WebSocket and Server-Sent
//! Events (`GET /v1/events`). docs/live.md describes the handshake, rooms and close codes.
//!
//! Every message is a JSON object with a `type`. The server's events carry an `id` (the
//! instance's epoch and a sequence number, `"<epoch>-<seq>"`), the `room` they were delivered
//! for and their `data`.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{AlertEvent, AlertSeverity, AlertType, Channel, Emotion, EnrichedFeedback, Sentiment, SentimentLabel};

/// What a client may send over the WebSocket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// The access token, as the first message, when the upgrade request carried no
    /// `Authorization` header (browsers cannot set one).
    Auth { token: String },
    /// Join a room (again: replaces its filter).
    Subscribe {
        room: String,
        #[serde(default)]
        filter: SubscriptionFilter,
    },
    /// Leave a room.
    Unsubscribe { room: String },
    /// Answered with `pong` (keeps an idle connection open through proxies).
    Ping,
}

/// Narrows what a room delivers; fields that do not apply to the room are refused.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionFilter {
    /// `channel:*` and `topic:*` rooms: only feedback with one of these sentiments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentiment: Option<Vec<SentimentLabel>>,
    /// `alerts` and `user`: only alerts at least this severe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_severity: Option<AlertSeverity>,
    /// `alerts` and `user`: only these alert types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_types: Option<Vec<AlertType>>,
    /// `dashboard`: the range preset of the figures (1h, 24h, 7d, 30d or 90d; default 24h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<String>,
    /// `dashboard`: only this channel's figures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// Authentication succeeded: who the connection belongs to and its limits.
    Welcome {
        user_id: Uuid,
        role: String,
        /// The rooms this role may join (`channel:<name>` and `topic:<id>` stand for every
        /// channel and topic).
        rooms: Vec<String>,
        /// Messages buffered for a connection before it is dropped as too slow.
        send_buffer: usize,
    },
    /// A room was joined (or its filter replaced).
    Subscribed { room: String, filter: SubscriptionFilter },
    /// A room was left.
    Unsubscribed { room: String },
    /// A client message was refused; the connection stays open.
    Error {
        /// `bad_message`, `unknown_room`, `forbidden`, `bad_filter`, `too_many_subscriptions`.
        code: String,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
    },
    /// Answer to `ping`.
    Pong,
    /// The server ends an event stream (Server-Sent Events; a WebSocket's close frame carries
    /// the same code and reason).
    Closing { code: u16, reason: String },
    /// Events were missed (a `Last-Event-ID` older than this instance remembers, or from
    /// another instance): re-read the state through the REST API.
    Resync { reason: String },
    /// Newly enriched feedback (`channel:*`, `topic:*`).
    Feedback { id: String, room: String, data: FeedbackUpdate },
    /// An alert event (`alerts`, `user`): the same document as on `rtcx.alerts.v1`.
    Alert { id: String, room: String, event_type: String, data: Box<AlertEvent> },
    /// Headline figures (`dashboard`): the body of `GET /v1/dashboard/overview` for the
    /// subscription's range and channel, sent on subscribing and whenever it changes.
    Dashboard { id: String, room: String, data: serde_json::Value },
}

/// Newly enriched feedback as the live rooms deliver it (the analysis, not the whole event).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FeedbackUpdate {
    pub id: Uuid,
    pub channel: Channel,
    pub source: String,
    pub text: String,
    pub occurred_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub processed_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<u8>,
    pub sentiment: Sentiment,
    pub dominant_emotion: Emotion,
    pub key_phrases: Vec<String>,
    pub topic_ids: Vec<Uuid>,
    pub language: String,
}

impl From<&EnrichedFeedback> for FeedbackUpdate {
    fn from(e: &EnrichedFeedback) -> Self {
        let f = &e.feedback;
        Self {
            id: f.id,
            channel: f.channel,
            source: f.source.clone(),
            text: f.text.clone(),
            occurred_at: f.occurred_at,
            received_at: f.received_at,
            processed_at: e.processed_at,
            rating: f.rating,
            sentiment: e.sentiment,
            dominant_emotion: e.dominant_emotion,
            key_phrases: e.key_phrases.clone(),
            topic_ids: e.topic_ids.clone(),
            language: e.language.clone(),
        }
    }
}

/// WebSocket close codes (RFC 6455 §7.4.2: 4000–4999 are the application's).
pub mod close {
    /// No valid access token (missing, invalid or expired), or none in time.
    pub const UNAUTHORIZED: u16 = 4001;
    /// The session ended (logout, logout everywhere, deactivation, expiry).
    pub const SESSION_ENDED: u16 = 4003;
    /// The connection fell behind: its send buffer filled up.
    pub const TOO_SLOW: u16 = 4008;
    /// Nothing heard from the client (not even a pong) within the idle timeout.
    pub const IDLE: u16 = 4009;
    /// The user or the instance has as many connections as allowed.
    pub const TOO_MANY_CONNECTIONS: u16 = 4029;
    /// The server is shutting down (reconnect, preferably elsewhere).
    pub const GOING_AWAY: u16 = 1001;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_read_as_documented() {
        let m: ClientMessage =
            serde_json::from_str(r#"{"type":"subscribe","room":"channel:email","filter":{"sentiment":["negative"]}}"#)
                .expect("subscribe");
        assert_eq!(
            m,
            ClientMessage::Subscribe {
                room: "channel:email".into(),
                filter: SubscriptionFilter { sentiment: Some(vec![SentimentLabel::Negative]), ..Default::default() }
            }
        );
        let m: ClientMessage = serde_json::from_str(r#"{"type":"ping"}"#).expect("ping");
        assert_eq!(m, ClientMessage::Ping);
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"subscribe","room":"x","extra":1}"#).is_err());
        assert!(
            serde_json::from_str::<ClientMessage>(r#"{"type":"subscribe","room":"x","filter":{"severity":"HIGH"}}"#)
                .is_err()
        );
    }

    #[test]
    fn server_messages_are_tagged() {
        let v = serde_json::to_value(ServerMessage::Resync { reason: "r".into() }).expect("json");
        assert_eq!(v, serde_json::json!({"type": "resync", "reason": "r"}));
    }
}
