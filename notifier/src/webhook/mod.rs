//! Webhook deliveries: [`signing`] (Standard Webhooks HMAC-SHA256), [`ssrf`] (which targets
//! may be reached), [`format`] (standard and Slack bodies), [`sender`] (one attempt and its
//! classification).

pub mod format;
pub mod sender;
pub mod signing;
pub mod ssrf;
