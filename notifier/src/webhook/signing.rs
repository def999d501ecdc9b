//! Standard Webhooks signatures (<https://www.standardwebhooks.com>): every delivery carries
//! `webhook-id` (the message's idempotency key, the same on every attempt),
//! `webhook-timestamp` (Unix seconds of this attempt) and `webhook-signature`
//! (`v1,<base64 HMAC-SHA256 over "{id}.{timestamp}.{body}">`). The secret is `whsec_` followed
//! by the base64 of the key bytes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rtcx_schemas::credentials::WEBHOOK_SECRET_PREFIX;
use sha2::Sha256;

/// A secret that is not `whsec_<base64>` of at least 16 bytes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a webhook secret is `whsec_` followed by the base64 of 16 to 64 bytes")]
pub struct BadSecret;

/// The key of a webhook secret.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(…)")
    }
}

impl SigningKey {
    /// Parses `whsec_<base64>`.
    pub fn from_secret(secret: &str) -> Result<Self, BadSecret> {
        let b64 = secret.strip_prefix(WEBHOOK_SECRET_PREFIX).ok_or(BadSecret)?;
        let key = STANDARD.decode(b64).map_err(|_| BadSecret)?;
        if !(16..=64).contains(&key.len()) {
            return Err(BadSecret);
        }
        Ok(Self(key))
    }

    /// The `webhook-signature` header value for one attempt.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!());
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification and its reference libraries.
    #[test]
    fn signs_the_specifications_example() {
        let key = SigningKey::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("secret");
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            key.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn refuses_malformed_secrets() {
        for bad in ["", "whsec_", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_!!!!", "whsec_c2hvcnQ="] {
            assert_eq!(SigningKey::from_secret(bad).err(), Some(BadSecret), "{bad:?}");
        }
        let fresh = rtcx_schemas::credentials::new_webhook_secret();
        assert!(SigningKey::from_secret(&fresh).is_ok());
        assert_ne!(fresh, rtcx_schemas::credentials::new_webhook_secret());
    }
}
