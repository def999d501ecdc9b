//! One e-mail attempt over SMTP (lettre): multipart/alternative (plain text and HTML), with a
//! `Message-ID` derived from the delivery's idempotency key and the recipient, so that a mail
//! sent twice (a notifier killed between the server's 250 and the record) is recognisable.
//! The server's reply decides: 2xx sent; 4xx (transient) and connection failures retried;
//! 5xx (permanent) failed for good.
//!
//! `RTCX_SMTP_URL` chooses the transport the lettre way: `smtp://host:25` (plain, for a local
//! relay), `smtp://user:pass@host:587?tls=required` (STARTTLS), `smtps://user:pass@host:465`
//! (TLS from the start).

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sha2::{Digest, Sha256};

use super::render::Content;
use crate::deliveries::Outcome;

/// Bad SMTP settings.
#[derive(Debug, thiserror::Error)]
pub enum SmtpConfigError {
    #[error("RTCX_SMTP_URL: {0}")]
    Url(lettre::transport::smtp::Error),
    #[error("RTCX_SMTP_FROM {0:?}: {1}")]
    From(String, lettre::address::AddressError),
}

/// Sends e-mail deliveries.
#[derive(Clone)]
pub struct EmailSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl EmailSender {
    pub fn new(url: &str, from: &str, timeout: Duration) -> Result<Self, SmtpConfigError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(SmtpConfigError::Url)?
            .timeout(Some(timeout))
            .build();
        let from = from.parse().map_err(|e| SmtpConfigError::From(from.to_owned(), e))?;
        Ok(Self { transport, from })
    }

    /// One attempt at sending `content` to `to`.
    pub async fn send(&self, message_id: &str, to: &str, content: &Content) -> Outcome {
        let to: Mailbox = match to.parse() {
            Ok(m) => m,
            Err(e) => return Outcome::Failed { status: None, error: format!("recipient {to:?}: {e}") },
        };
        let recipient_tag = hex::encode(&Sha256::digest(to.email.to_string().as_bytes())[..6]);
        let domain = self.from.email.domain().to_owned();
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(content.subject.clone())
            .message_id(Some(format!("<{message_id}.{recipient_tag}@{domain}>")))
            .multipart(
                MultiPart::alternative()
                    .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(content.text.clone()))
                    .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(content.html.clone())),
            );
        let message = match message {
            Ok(m) => m,
            Err(e) => return Outcome::Failed { status: None, error: format!("building the message: {e}") },
        };
        match self.transport.send(message).await {
            Ok(reply) => Outcome::Sent { status: code(reply.code()) },
            Err(e) => {
                let status = e.status().map(code);
                let error = e.to_string();
                if e.is_permanent() {
                    Outcome::Failed { status, error }
                } else {
                    Outcome::Retry { status, error, retry_after: None }
                }
            }
        }
    }
}

/// The three-digit SMTP reply code.
fn code(c: lettre::transport::smtp::response::Code) -> u16 {
    c.to_string().parse().unwrap_or(0)
}
