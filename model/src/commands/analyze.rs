//! `rtcx-model analyze`: one JSON object per text (sentiment, emotions, key phrases,
//! language, the model that answered), from the arguments or stdin.

use anyhow::Context as _;
use rtcx_inference::ModelArgs;

#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    /// Texts to analyze; without any, lines are read from stdin.
    pub texts: Vec<String>,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// Runs `analyze`.
pub fn run(a: AnalyzeArgs) -> anyhow::Result<()> {
    use std::io::{BufRead as _, Write as _};

    use rtcx_inference::text::{key_phrases, language};

    let analyzer = a.model.load(rtcx_inference::Batching::default()).context("loading the model")?;
    let texts: Vec<String> = if a.texts.is_empty() {
        std::io::stdin().lock().lines().collect::<Result<_, _>>().context("reading stdin")?
    } else {
        a.texts
    };
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let results = analyzer.analyze(&refs)?;
    let mut out = std::io::stdout().lock();
    for (text, r) in texts.iter().zip(results) {
        let line = serde_json::json!({
            "text": text,
            "sentiment": r.sentiment,
            "emotions": r.emotions,
            "dominant_emotion": r.emotions.dominant(),
            "key_phrases": key_phrases::extract(text, 5),
            "language": language::detect(text, None),
            "model": analyzer.model(),
        });
        writeln!(out, "{line}")?;
    }
    Ok(())
}
