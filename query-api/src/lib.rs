//! rtcx query API: auth, users and roles, topics, alerts, feedback and dashboard analytics.
//!
//! [`auth`] holds passwords (argon2id), access tokens (EdDSA JWTs), refresh-token sessions
//! with rotation and reuse detection, and login throttling; [`app`] the state and router;
//! [`error`] the one mapping from errors to HTTP statuses.

pub mod alerts;
pub mod api_keys;
pub mod app;
pub mod auth;
pub mod cache;
pub mod config;
pub mod console;
pub mod dashboard;
pub mod demo;
pub mod embedder;
pub mod error;
pub mod feedback;
pub mod live;
pub mod notification_preferences;
pub mod openapi;
pub mod range;
pub mod saved_dashboards;
pub mod seed;
pub mod similar;
pub mod sql;
pub mod text_input;
pub mod topic_examples;
pub mod topic_reassignments;
pub mod topic_rollup;
pub mod topics;
pub mod users;
pub mod webhooks;
pub mod whole_number;
