//! Verification of user access tokens (JWT, EdDSA) issued by query-api.
//!
//! Ingest holds only the public key (`--jwt-public-key`, PEM), so it can verify tokens but
//! never mint them.

use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
pub use rtcx_schemas::credentials::AccessClaims as Claims;

/// Roles allowed to post feedback with a user token (all of them: API_USER and above).
pub const INGEST_ROLES: [&str; 4] = rtcx_schemas::credentials::ROLES;

/// Verifies access tokens.
#[derive(Clone)]
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("invalid public key: {0}")]
    Key(String),
    #[error("invalid token: {0}")]
    Token(#[from] jsonwebtoken::errors::Error),
}

impl JwtVerifier {
    /// A verifier for EdDSA tokens signed by the private half of `public_key_pem`; `issuer`
    /// and `audience`, when set, must match the token's `iss` / `aud`.
    pub fn from_ed_pem(public_key_pem: &[u8], issuer: Option<&str>, audience: Option<&str>) -> Result<Self, JwtError> {
        let key = DecodingKey::from_ed_pem(public_key_pem).map_err(|e| JwtError::Key(e.to_string()))?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = 30;
        validation.set_required_spec_claims(&["exp", "sub"]);
        if let Some(iss) = issuer {
            validation.set_issuer(&[iss]);
        }
        match audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        Ok(Self { key, validation })
    }

    /// Verifies signature, expiry (30 s leeway) and the optional issuer/audience.
    pub fn verify(&self, token: &str) -> Result<Claims, JwtError> {
        Ok(decode::<Claims>(token, &self.key, &self.validation)?.claims)
    }
}
