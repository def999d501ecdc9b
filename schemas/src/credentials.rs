//! Credentials that cross a process boundary, defined once: the access-token claims
//! (query-api signs them, ingest verifies them), the role names they carry, and the hash under
//! which secrets are stored (API keys that query-api issues and ingest checks; refresh and
//! reset tokens), and the webhook signing secrets query-api issues and the notifier signs with.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The role names, as tokens and the API carry them.
pub const ROLES: [&str; 4] = ["ADMIN", "MANAGER", "AGENT", "API_USER"];

/// Claims of an access token (EdDSA JWT).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// User id.
    pub sub: Uuid,
    /// One of [`ROLES`].
    pub role: String,
    /// Issued at (seconds since the epoch).
    #[serde(default)]
    pub iat: i64,
    /// Expiry (seconds since the epoch); verifiers require it.
    pub exp: i64,
    /// Issuer (query-api's `RTCX_JWT_ISSUER`); verifiers check it when configured.
    #[serde(default)]
    pub iss: String,
    /// Session (refresh-token family) the token was issued for; nil when absent.
    #[serde(default)]
    pub sid: Uuid,
}

/// The hash under which a secret (API key, refresh or reset token) is stored: SHA-256 of its
/// UTF-8 bytes. High-entropy random secrets need no salt or slow hash; a leaked table reveals
/// no usable key.
pub fn secret_hash(secret: &str) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(secret.as_bytes()).into()
}

/// The prefix of a webhook signing secret (Standard Webhooks): `whsec_` + the base64 of the key.
pub const WEBHOOK_SECRET_PREFIX: &str = "whsec_";

/// A new random webhook signing secret (24 bytes of key).
pub fn new_webhook_secret() -> String {
    use base64::Engine as _;
    let key: [u8; 24] = rand::random();
    format!("{WEBHOOK_SECRET_PREFIX}{}", base64::engine::general_purpose::STANDARD.encode(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_hash_to_sha256() {
        // The well-known SHA-256 of the empty string and of "abc".
        assert_eq!(hex(&secret_hash("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(hex(&secret_hash("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn claims_read_what_either_side_writes() {
        let full = AccessClaims {
            sub: Uuid::now_v7(),
            role: "AGENT".into(),
            iat: 1,
            exp: 901,
            iss: "rtcx".into(),
            sid: Uuid::now_v7(),
        };
        let back: AccessClaims = serde_json::from_value(serde_json::to_value(&full).expect("json")).expect("claims");
        assert_eq!(back, full);
        // Only what a verifier requires: the rest defaults.
        let minimal: AccessClaims =
            serde_json::from_value(serde_json::json!({"sub": full.sub, "role": "ADMIN", "exp": 5})).expect("minimal");
        assert_eq!((minimal.iat, minimal.iss.as_str(), minimal.sid), (0, "", Uuid::nil()));
        assert!(ROLES.contains(&minimal.role.as_str()));
    }
}
