//! rtcx notifier: tells people and systems what rtcx found, reliably.
//!
//! Alert events (`rtcx.alerts.v1`, relayed from the Postgres outbox in the transaction that
//! changed the alert) are read by [`consumer`], turned into deliveries by [`router`] and queued
//! durably in Postgres ([`deliveries`]); account events (password resets, welcome mails) are
//! claimed from the outbox by [`account_mail`]; alerts left open are mailed again by
//! [`reminders`]; daily and weekly summaries are queued by [`digests`]. [`dispatch`] claims due
//! deliveries with `FOR UPDATE SKIP LOCKED`, sends them ([`webhook`], [`email`]) and records
//! the outcome, retrying with back-off ([`retry`]); the scheduled work shares one loop
//! ([`schedule`]). Several notifiers may run side by side.
//! docs/notifications.md.

pub mod account_mail;
pub mod config;
pub mod consumer;
pub mod deliveries;
pub mod digests;
pub mod dispatch;
pub mod email;
pub mod reminders;
pub mod retry;
pub mod router;
pub mod schedule;
pub mod webhook;
