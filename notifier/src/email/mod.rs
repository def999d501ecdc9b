//! E-mail over SMTP: [`render`] (the templates: subject, plain-text and HTML parts) and
//! [`sender`] (one attempt through lettre, and its classification).

pub mod render;
pub mod sender;
