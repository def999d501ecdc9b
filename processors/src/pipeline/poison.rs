//! Inference with bounded retries: a batch's texts run as concurrent chunks; a chunk that
//! fails is retried text by text, so one poison text cannot sink its neighbours, and a text
//! that still fails after `max_attempts` attempts in all gets its error (the pipeline
//! dead-letters it as `processing_failed`).

use std::future::Future;

use crate::inference::{Analysis, InferenceError};

/// Analyses `texts` through `run` (one call per chunk of at most `chunk` texts, all chunks
/// at once); results come back in input order.
pub async fn analyze_with_retries<F, Fut>(
    texts: &[String],
    chunk: usize,
    max_attempts: u32,
    run: F,
) -> Vec<Result<Analysis, String>>
where
    F: Fn(Vec<String>) -> Fut,
    Fut: Future<Output = Result<Vec<Analysis>, InferenceError>>,
{
    let chunk = chunk.max(1);
    let results = futures::future::join_all(texts.chunks(chunk).map(|c| run(c.to_vec()))).await;
    let mut out = Vec::with_capacity(texts.len());
    for (chunk_texts, result) in texts.chunks(chunk).zip(results) {
        match result {
            Ok(analyses) if analyses.len() == chunk_texts.len() => out.extend(analyses.into_iter().map(Ok)),
            first => {
                let first = match first {
                    Err(e) => e.to_string(),
                    Ok(_) => "inference returned the wrong number of results".to_owned(),
                };
                tracing::warn!(error = %first, texts = chunk_texts.len(), "inference failed; retrying text by text");
                for t in chunk_texts {
                    let mut last = first.clone();
                    let mut done = None;
                    // The chunk was the first attempt.
                    for _ in 1..max_attempts.max(1) {
                        match run(vec![t.clone()]).await {
                            Ok(mut a) if a.len() == 1 => {
                                done = a.pop();
                                break;
                            }
                            Ok(_) => last = "inference returned no result".into(),
                            Err(e) => last = e.to_string(),
                        }
                    }
                    if done.is_none() {
                        metrics::counter!("rtcx_processors_poison_texts_total").increment(1);
                    }
                    out.push(done.ok_or(last));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::inference::LexiconAnalyzer;

    #[tokio::test]
    async fn a_poison_text_fails_alone_after_its_attempts_and_the_rest_flow() {
        let calls_with_poison = AtomicUsize::new(0);
        let run = |texts: Vec<String>| {
            let poisoned = texts.iter().any(|t| t.contains("poison"));
            if poisoned {
                calls_with_poison.fetch_add(1, Ordering::SeqCst);
            }
            async move {
                if poisoned {
                    Err(InferenceError::Workers("the engine panicked on this batch".into()))
                } else {
                    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                    Ok(LexiconAnalyzer.analyze(&refs))
                }
            }
        };
        let texts: Vec<String> =
            ["great service", "poison pill", "terrible support", "fine", "awful"].map(String::from).to_vec();
        let out = analyze_with_retries(&texts, 2, 3, run).await;
        assert_eq!(out.len(), 5);
        assert!(out[1].as_ref().is_err_and(|e| e.contains("panicked")), "{:?}", out[1].as_ref().err());
        for i in [0, 2, 3, 4] {
            assert!(out[i].is_ok(), "text {i} must not suffer from its neighbour");
        }
        assert!(out[0].as_ref().is_ok_and(|a| a.sentiment.score > 0.0), "results stay in input order");
        assert!(out[2].as_ref().is_ok_and(|a| a.sentiment.score < 0.0));
        assert_eq!(calls_with_poison.load(Ordering::SeqCst), 3, "the chunk, then two single attempts");
    }
}
