//! rtcx ingest: the HTTP front door that validates customer feedback, authenticates the
//! sender and publishes each event to Kafka, answering 2xx only once the broker has it.

pub mod api_keys;
pub mod app;
pub mod auth;
pub mod body;
pub mod config;
pub mod error;
pub mod handlers;
pub mod jwt;
pub mod openapi;
pub mod rate_limit;
pub mod sink;
pub mod usage;
