//! A pool of inference workers: one engine instance per OS thread, fed from one queue.
//!
//! On a 2-core machine two single-threaded model instances side by side out-run one instance
//! using both cores (../shared/README.md: ~320 vs ~212 texts/s), so the processors run
//! `workers` instances and set `RAYON_NUM_THREADS=1` (read by candle's CPU matmul) in their
//! environment — see `deploy/dev.sh` and `rtcx-model bench --workers`.
//!
//! Identical texts of one call are analysed once; with [`AnalyzerPool::remember`], texts seen
//! a short while ago are answered from [`RecentResults`] without an encoder pass.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rtcx_schemas::ModelInfo;

use super::analyzer::Analysis;
use super::engine::Engine;
use super::error::InferenceError;
use super::recent::RecentResults;

type Reply = tokio::sync::oneshot::Sender<Result<Vec<Analysis>, InferenceError>>;

struct Job {
    texts: Vec<String>,
    reply: Reply,
}

/// Worker threads, each owning an [`Engine`].
pub struct AnalyzerPool {
    queue: Option<mpsc::Sender<Job>>,
    workers: Vec<JoinHandle<()>>,
    model: ModelInfo,
    recent: RecentResults,
}

impl AnalyzerPool {
    /// Starts `workers` threads, each with an engine built by `load` (called on that thread).
    pub fn start(
        workers: usize,
        load: impl Fn() -> Result<Engine, InferenceError> + Send + Sync + 'static,
    ) -> Result<Self, InferenceError> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let load = Arc::new(load);
        let (ready_tx, ready_rx) = mpsc::channel::<Result<ModelInfo, String>>();
        let mut handles = Vec::new();
        for i in 0..workers.max(1) {
            let (rx, load, ready_tx) = (Arc::clone(&rx), Arc::clone(&load), ready_tx.clone());
            let handle = std::thread::Builder::new()
                .name(format!("rtcx-infer-{i}"))
                .spawn(move || {
                    let engine = match load() {
                        Ok(engine) => engine,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.to_string()));
                            return;
                        }
                    };
                    // Warm-up: the first pass allocates buffers and faults in the weights.
                    let _ = engine.analyze(&["warm-up text for the encoder"]);
                    let _ = ready_tx.send(Ok(engine.model()));
                    loop {
                        let job = match rx.lock() {
                            Ok(guard) => guard.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = job else { return };
                        let refs: Vec<&str> = job.texts.iter().map(String::as_str).collect();
                        // A text that makes the engine panic must not take the worker down.
                        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| engine.analyze(&refs)))
                            .unwrap_or_else(|_| {
                                Err(InferenceError::Workers("the engine panicked on this batch".into()))
                            });
                        let _ = job.reply.send(result);
                    }
                })
                .map_err(|e| InferenceError::Workers(format!("cannot start a worker thread: {e}")))?;
            handles.push(handle);
        }
        drop(ready_tx);
        let mut model = None;
        let mut failed = None;
        for _ in 0..handles.len() {
            match ready_rx.recv() {
                Ok(Ok(m)) => model = Some(m),
                Ok(Err(e)) => failed = Some(e),
                Err(_) => {}
            }
        }
        // A worker that could not load its engine fails the start (the others stop when the
        // queue closes): the service never runs on less than it was configured with.
        if let Some(e) = failed {
            drop(tx);
            for h in handles {
                let _ = h.join();
            }
            return Err(InferenceError::Workers(format!("loading the engine: {e}")));
        }
        let model = model.ok_or_else(|| InferenceError::Workers("no inference worker started".into()))?;
        Ok(Self { queue: Some(tx), workers: handles, model, recent: RecentResults::new(0, Default::default()) })
    }

    /// Answers texts analysed a short while ago from `recent` from now on.
    pub fn remember(mut self, recent: RecentResults) -> Self {
        self.recent = recent;
        self
    }

    /// Number of worker threads.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// Which model the workers run.
    pub fn model(&self) -> &ModelInfo {
        &self.model
    }

    /// Analyzes `texts` on the next free worker: each distinct text not remembered from a
    /// short while ago once; results in input order.
    pub async fn analyze(&self, texts: Vec<String>) -> Result<Vec<Analysis>, InferenceError> {
        let mut known: Vec<Option<Analysis>> = texts.iter().map(|t| self.recent.get(t)).collect();
        let misses: Vec<usize> = (0..texts.len()).filter(|&i| known[i].is_none()).collect();
        let (unique, slot) = distinct(misses.iter().map(|&i| texts[i].as_str()));
        metrics::counter!("rtcx_processors_reused_analyses_total", "source" => "recent")
            .increment((texts.len() - misses.len()) as u64);
        metrics::counter!("rtcx_processors_reused_analyses_total", "source" => "batch")
            .increment((misses.len() - unique.len()) as u64);
        if unique.is_empty() {
            return Ok(known.into_iter().flatten().collect());
        }
        let fresh = self.run(unique.iter().map(|t| (*t).to_owned()).collect()).await?;
        if fresh.len() != unique.len() {
            return Err(InferenceError::Workers(format!("{} results for {} texts", fresh.len(), unique.len())));
        }
        for (text, a) in unique.iter().zip(&fresh) {
            self.recent.insert(text, a);
        }
        for (&i, &j) in misses.iter().zip(&slot) {
            known[i] = Some(fresh[j].clone());
        }
        Ok(known.into_iter().flatten().collect())
    }

    async fn run(&self, texts: Vec<String>) -> Result<Vec<Analysis>, InferenceError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let queue = self.queue.as_ref().ok_or_else(|| InferenceError::Workers("pool is shut down".into()))?;
        queue.send(Job { texts, reply }).map_err(|_| InferenceError::Workers("inference workers are gone".into()))?;
        rx.await.map_err(|_| InferenceError::Workers("an inference worker died".into()))?
    }
}

/// The distinct texts of `texts` in order of first appearance, and for each input the index
/// of its text among them.
pub fn distinct<'a>(texts: impl IntoIterator<Item = &'a str>) -> (Vec<&'a str>, Vec<usize>) {
    let mut first: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut unique = Vec::new();
    let slot = texts
        .into_iter()
        .map(|t| {
            *first.entry(t).or_insert_with(|| {
                unique.push(t);
                unique.len() - 1
            })
        })
        .collect();
    (unique, slot)
}

impl Drop for AnalyzerPool {
    fn drop(&mut self) {
        self.queue.take();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lexicon::LexiconAnalyzer;

    #[tokio::test]
    async fn jobs_are_answered_in_order_by_any_worker() {
        let pool = AnalyzerPool::start(3, || Ok(Engine::Lexicon(LexiconAnalyzer))).expect("pool");
        assert_eq!(pool.model().name, "lexicon-en");
        let jobs = (0..20).map(|i| {
            let texts = vec![if i % 2 == 0 { "great".to_owned() } else { "terrible".to_owned() }; i + 1];
            let pool = &pool;
            async move { (i, pool.analyze(texts).await.expect("analysis")) }
        });
        for (i, out) in futures::future::join_all(jobs).await {
            assert_eq!(out.len(), i + 1);
            let positive = out[0].sentiment.score > 0.0;
            assert_eq!(positive, i % 2 == 0);
        }
    }

    #[test]
    fn distinct_texts_keep_their_first_order_and_every_input_its_slot() {
        let (unique, slot) = distinct(["ok", "bad", "ok", "", "bad", ""]);
        assert_eq!(unique, ["ok", "bad", ""]);
        assert_eq!(slot, [0, 1, 0, 2, 1, 2]);
        let (unique, slot) = distinct(std::iter::empty());
        assert!(unique.is_empty() && slot.is_empty());
    }

    #[tokio::test]
    async fn repeated_texts_are_analysed_once_and_remembered() {
        let recent = RecentResults::new(16, std::time::Duration::from_secs(60));
        let pool = AnalyzerPool::start(2, || Ok(Engine::Lexicon(LexiconAnalyzer))).expect("pool").remember(recent);
        let texts: Vec<String> = ["ok", "terrible support", "ok", "great", "ok"].map(String::from).to_vec();
        let expected = LexiconAnalyzer.analyze(&texts.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(pool.analyze(texts.clone()).await.expect("analysis"), expected);
        assert_eq!(pool.recent.len(), 3, "each distinct text remembered once");
        // The second call is answered from memory, in input order, identical to the first.
        let again = vec!["great".to_owned(), "ok".to_owned()];
        assert_eq!(pool.analyze(again).await.expect("analysis"), vec![expected[3].clone(), expected[0].clone()]);
        assert_eq!(pool.recent.len(), 3);
        assert!(pool.analyze(Vec::new()).await.expect("analysis").is_empty());
    }
}
