//! Errors of the inference engine.

use std::path::PathBuf;

/// Why a model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum InferenceError {
    #[error("model file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("model config {path}: {message}")]
    Config { path: PathBuf, message: String },
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("model: {0}")]
    Model(String),
    #[error("training data: {0}")]
    Data(String),
    #[error("inference workers: {0}")]
    Workers(String),
    #[error("tensor computation: {0}")]
    Candle(#[from] candle_core::Error),
}
