//! Password hashing (argon2id) and the password policy.
//!
//! Parameters: argon2id, 19 MiB memory, 2 iterations, 1 lane — OWASP's recommended minimum
//! for argon2id (m=19456, t=2, p=1); one hash takes ~25–40 ms on this project's 2-core
//! machine, slow enough to make offline guessing expensive and fast enough for logins.
//! Hashes are PHC strings, so stored hashes keep verifying after the parameters change.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Memory cost in KiB.
pub const MEMORY_KIB: u32 = 19 * 1024;
/// Iterations.
pub const ITERATIONS: u32 = 2;
/// Lanes.
pub const LANES: u32 = 1;

/// Shortest accepted password, in characters.
pub const MIN_LEN: usize = 12;
/// Longest accepted password, in characters (bounds hashing cost).
pub const MAX_LEN: usize = 128;

fn argon2() -> Argon2<'static> {
    // The constants are valid argon2 parameters; `Params::new` only rejects out-of-range ones.
    let params = Params::new(MEMORY_KIB, ITERATIONS, LANES, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Errors hashing.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// The PHC string of `password` with a fresh random salt.
pub fn hash(password: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| HashError(e.to_string()))
}

/// True when `password` matches the PHC string `phc` (constant-time comparison inside argon2).
pub fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
}

/// A hash of a random password, verified against when the account does not exist so that a
/// login for an unknown email costs the same time as one with a wrong password.
pub fn dummy_hash() -> &'static str {
    use std::sync::OnceLock;
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash(&uuid::Uuid::new_v4().to_string()).unwrap_or_default())
}

/// Why a password is refused; each message says what to change.
pub fn policy_violations(password: &str, email: &str) -> Vec<&'static str> {
    let mut out = Vec::new();
    let n = password.chars().count();
    if n < MIN_LEN {
        out.push("must have at least 12 characters");
    }
    if n > MAX_LEN {
        out.push("must have at most 128 characters");
    }
    let classes = [
        password.chars().any(|c| c.is_lowercase()),
        password.chars().any(|c| c.is_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_alphanumeric()),
    ];
    if classes.iter().filter(|&&c| c).count() < 3 {
        out.push("must mix at least three of: lower-case letters, upper-case letters, digits, symbols");
    }
    let local = email.split('@').next().unwrap_or_default().to_lowercase();
    if local.len() >= 4 && password.to_lowercase().contains(&local) {
        out.push("must not contain the email address");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let h = hash("Correct-Horse-9").expect("hash");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("Correct-Horse-9", &h));
        assert!(!verify("correct-horse-9", &h));
        assert_ne!(h, hash("Correct-Horse-9").expect("hash"), "fresh salt each time");
        assert!(!verify("anything", "not a phc string"));
    }

    #[test]
    fn the_policy_explains_what_is_wrong() {
        assert!(policy_violations("Correct-Horse-9", "ann@example.com").is_empty());
        assert_eq!(policy_violations("short", "ann@example.com").len(), 2);
        assert_eq!(
            policy_violations("alllowercaseletters", "ann@example.com"),
            vec!["must mix at least three of: lower-case letters, upper-case letters, digits, symbols"]
        );
        assert_eq!(
            policy_violations("Maria.Rossi-2026!", "maria.rossi@example.com"),
            vec!["must not contain the email address"]
        );
    }
}
