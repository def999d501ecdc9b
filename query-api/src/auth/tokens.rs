//! Access tokens (short-lived EdDSA JWTs carrying user id and role) and refresh tokens
//! (opaque random strings stored only as SHA-256).
//!
//! EdDSA means services that only verify tokens (ingest) hold the public key, never the
//! signing key.

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use uuid::Uuid;

/// Access-token claims: the contract ingest verifies too.
pub use rtcx_schemas::credentials::AccessClaims as Claims;

/// Errors of the token service.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("invalid signing key: {0}")]
    Key(String),
    #[error("invalid token: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
}

/// Issues and verifies access tokens.
#[derive(Clone)]
pub struct TokenService {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    access_ttl: Duration,
}

impl TokenService {
    /// From an Ed25519 key pair in PEM (PKCS#8 private key, SPKI public key).
    pub fn from_ed_pem(
        private_pem: &[u8],
        public_pem: &[u8],
        issuer: &str,
        access_ttl: Duration,
    ) -> Result<Self, TokenError> {
        let encoding = EncodingKey::from_ed_pem(private_pem).map_err(|e| TokenError::Key(e.to_string()))?;
        let decoding = DecodingKey::from_ed_pem(public_pem).map_err(|e| TokenError::Key(e.to_string()))?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = 5;
        validation.set_issuer(&[issuer]);
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        validation.validate_aud = false;
        Ok(Self { encoding, decoding, validation, issuer: issuer.to_owned(), access_ttl })
    }

    /// How long access tokens live.
    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    /// A signed access token for `user` with `role` in session `sid`.
    pub fn issue(&self, user: Uuid, role: &str, sid: Uuid, now: DateTime<Utc>) -> Result<String, TokenError> {
        let claims = Claims {
            sub: user,
            role: role.to_owned(),
            iat: now.timestamp(),
            exp: (now + self.access_ttl).timestamp(),
            iss: self.issuer.clone(),
            sid,
        };
        Ok(encode(&Header::new(Algorithm::EdDSA), &claims, &self.encoding)?)
    }

    /// Verifies signature, issuer and expiry.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        Ok(decode::<Claims>(token, &self.decoding, &self.validation)?.claims)
    }
}

/// A new opaque refresh (or reset) token: 32 random bytes, base64url.
pub fn new_opaque_token() -> String {
    use base64::Engine as _;
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 of a token, as stored.
pub fn token_hash(token: &str) -> Vec<u8> {
    rtcx_schemas::credentials::secret_hash(token).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIVATE: &[u8] = include_bytes!("../../../ingest/tests/fixtures/jwt-test-ed25519.key.pem");
    const PUBLIC: &[u8] = include_bytes!("../../../ingest/tests/fixtures/jwt-test-ed25519.pub.pem");

    fn service() -> TokenService {
        TokenService::from_ed_pem(PRIVATE, PUBLIC, "rtcx", Duration::minutes(15)).expect("keys")
    }

    #[test]
    fn issued_tokens_verify_and_carry_user_and_role() {
        let s = service();
        let (user, sid) = (Uuid::new_v4(), Uuid::new_v4());
        let t = s.issue(user, "MANAGER", sid, Utc::now()).expect("issue");
        let c = s.verify(&t).expect("verify");
        assert_eq!((c.sub, c.role.as_str(), c.sid), (user, "MANAGER", sid));
        assert_eq!(c.exp - c.iat, 15 * 60);
    }

    #[test]
    fn expired_and_tampered_tokens_are_refused() {
        let s = service();
        let old = s.issue(Uuid::new_v4(), "ADMIN", Uuid::new_v4(), Utc::now() - Duration::hours(1)).expect("issue");
        assert!(s.verify(&old).is_err(), "expired");
        let t = s.issue(Uuid::new_v4(), "AGENT", Uuid::new_v4(), Utc::now()).expect("issue");
        let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let payload = String::from_utf8(b64.decode(&parts[1]).expect("b64")).expect("utf-8").replace("AGENT", "ADMIN");
        parts[1] = b64.encode(payload);
        assert!(s.verify(&parts.join(".")).is_err(), "tampered");
    }

    #[test]
    fn opaque_tokens_are_random_and_hashed() {
        let (a, b) = (new_opaque_token(), new_opaque_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(token_hash(&a).len(), 32);
    }
}
