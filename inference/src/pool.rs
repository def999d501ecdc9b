//! A pool of inference workers: one engine instance per OS thread, fed from one queue.
//!
//! On a 2-core machine two single-threaded model instances side by side out-run one instance
//! using both cores (../shared/README.md: ~320 vs ~212 texts/s), so the processors run
//! `workers` instances and set `RAYON_NUM_THREADS=1` (read by candle's CPU matmul) in their
//! environment — see `deploy/dev.sh` and `rtcx-model bench --workers`.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rtcx_schemas::ModelInfo;

use super::analyzer::Analysis;
use super::engine::Engine;
use super::error::InferenceError;

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
        Ok(Self { queue: Some(tx), workers: handles, model })
    }

    /// Number of worker threads.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// Which model the workers run.
    pub fn model(&self) -> &ModelInfo {
        &self.model
    }

    /// Analyzes `texts` on the next free worker.
    pub async fn analyze(&self, texts: Vec<String>) -> Result<Vec<Analysis>, InferenceError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let queue = self.queue.as_ref().ok_or_else(|| InferenceError::Workers("pool is shut down".into()))?;
        queue.send(Job { texts, reply }).map_err(|_| InferenceError::Workers("inference workers are gone".into()))?;
        rx.await.map_err(|_| InferenceError::Workers("an inference worker died".into()))?
    }
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
}
