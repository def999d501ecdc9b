//! What the engine checks about the files it loads.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::InferenceError;

/// SHA-256 of a file, hex: the identity of a model artefact (heads are tied to the encoder
/// they were trained on; the version of a model names its heads file).
pub fn file_sha256(path: &Path) -> Result<String, InferenceError> {
    let bytes = std::fs::read(path).map_err(|source| InferenceError::Io { path: path.to_path_buf(), source })?;
    Ok(hex::encode(Sha256::digest(bytes)))
}
