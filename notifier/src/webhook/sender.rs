//! One webhook attempt: the body in the endpoint's format, signed, POSTed with a timeout, and
//! the reply classified ([`Outcome`]): 2xx sent; 408, 429, 5xx, timeouts and connection
//! errors retried (`Retry-After` honoured); 410 disables the endpoint; any other status, and
//! a target the SSRF guard refuses, fail for good. Redirects are not followed (a redirect is a
//! failure: the target must be configured as it is) and no proxy is taken from the
//! environment.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};

use super::format::render;
use super::signing::SigningKey;
use super::ssrf::{GuardedResolver, TargetPolicy};
use crate::deliveries::{Claimed, Outcome};

/// Longest reply body kept in the delivery log.
const ERROR_BODY_MAX: usize = 300;

/// Sends webhook deliveries.
#[derive(Clone)]
pub struct WebhookSender {
    client: reqwest::Client,
    policy: TargetPolicy,
    console_url: Option<String>,
}

impl WebhookSender {
    pub fn new(policy: TargetPolicy, timeout: Duration, console_url: Option<String>) -> reqwest::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(GuardedResolver::new(policy))
            .user_agent(concat!("rtcx-notifier/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client, policy, console_url })
    }

    /// One attempt at a claimed delivery.
    pub async fn send(&self, d: &Claimed) -> Outcome {
        let (Some(true), Some(url), Some(secret), Some(format)) = (d.active, &d.url, &d.secret, &d.format) else {
            // Deactivated (or deleted) after the delivery was queued.
            return Outcome::Skipped;
        };
        let url = match reqwest::Url::parse(url) {
            Ok(u) => u,
            Err(e) => return Outcome::Failed { status: None, error: format!("invalid URL: {e}") },
        };
        if let Err(refused) = self.policy.check_url(&url).await {
            return Outcome::Failed { status: None, error: format!("target refused: {refused}") };
        }
        let key = match SigningKey::from_secret(secret) {
            Ok(k) => k,
            Err(e) => return Outcome::Failed { status: None, error: e.to_string() },
        };
        let body = render(format, &d.payload, self.console_url.as_deref()).to_string();
        let timestamp = chrono::Utc::now().timestamp();
        let signature = key.sign(&d.message_id, timestamp, body.as_bytes());
        let reply = self
            .client
            .post(url)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header("webhook-id", &d.message_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        match reply {
            Ok(r) => classify(r).await,
            Err(e) => Outcome::Retry { status: None, error: describe(&e), retry_after: None },
        }
    }
}

async fn classify(r: reqwest::Response) -> Outcome {
    let status = r.status();
    let code = status.as_u16();
    if status.is_success() {
        return Outcome::Sent { status: code };
    }
    if status == StatusCode::GONE {
        return Outcome::Gone;
    }
    let retry_after = r
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let text = r.text().await.unwrap_or_default();
    let mut error = format!("HTTP {code}");
    let snippet: String = text.chars().take(ERROR_BODY_MAX).collect();
    if !snippet.trim().is_empty() {
        error = format!("{error}: {}", snippet.trim());
    }
    if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT || status == StatusCode::TOO_MANY_REQUESTS {
        Outcome::Retry { status: Some(code), error, retry_after }
    } else {
        Outcome::Failed { status: Some(code), error }
    }
}

/// A transport error with its causes (reqwest's own message is often only "error sending
/// request").
fn describe(e: &reqwest::Error) -> String {
    let mut s = if e.is_timeout() { "timed out".to_owned() } else { e.to_string() };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}
