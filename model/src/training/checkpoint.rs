//! Resumable fine-tuning: an AdamW whose moments can be saved, and the checkpoint files
//! (`rtcx-model train --tune-checkpoint DIR`).
//!
//! Tuning all six layers on the full data takes hours on a 2-core machine; a checkpoint lets a
//! run be stopped (or lose its machine) and go on where it was. The checkpoint holds the
//! trainable tensors, both optimizers' moments and the step, and a fingerprint of the run
//! (hyper-parameters and the exact batches): a checkpoint of another run is refused, never
//! silently continued. The batch order of an epoch is a function of the seed, so a resumed run
//! visits the same batches in the same order as one that never stopped, and ends with the same
//! weights up to floating-point summation order.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor, Var};
use candle_nn::ParamsAdamW;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use rtcx_inference::InferenceError;

/// AdamW with decoupled weight decay (the same update as `candle_nn::AdamW`), whose moments
/// and step count can be read and restored.
pub struct AdamW {
    vars: Vec<Var>,
    first: Vec<Tensor>,
    second: Vec<Tensor>,
    step: usize,
    pub params: ParamsAdamW,
}

impl AdamW {
    pub fn new(vars: Vec<Var>, params: ParamsAdamW) -> Result<Self, InferenceError> {
        let zeros = |v: &Var| v.as_tensor().zeros_like();
        let first = vars.iter().map(zeros).collect::<candle_core::Result<_>>()?;
        let second = vars.iter().map(zeros).collect::<candle_core::Result<_>>()?;
        Ok(Self { vars, first, second, step: 0, params })
    }

    pub fn set_learning_rate(&mut self, lr: f64) {
        self.params.lr = lr;
    }

    pub fn step(&mut self, grads: &candle_core::backprop::GradStore) -> Result<(), InferenceError> {
        self.step += 1;
        let ParamsAdamW { lr, beta1, beta2, eps, weight_decay } = self.params;
        let t = i32::try_from(self.step).unwrap_or(i32::MAX);
        let (scale_m, scale_v) = (1.0 / (1.0 - beta1.powi(t)), 1.0 / (1.0 - beta2.powi(t)));
        for ((var, m), v) in self.vars.iter().zip(&mut self.first).zip(&mut self.second) {
            let Some(g) = grads.get(var) else { continue };
            *m = ((&*m * beta1)? + (g * (1.0 - beta1))?)?;
            *v = ((&*v * beta2)? + (g.sqr()? * (1.0 - beta2))?)?;
            let adjusted = ((&*m * scale_m)? / ((&*v * scale_v)?.sqrt()? + eps)?)?;
            let next = ((var.as_tensor() * (1.0 - lr * weight_decay))? - (adjusted * lr)?)?;
            var.set(&next)?;
        }
        Ok(())
    }

    /// The variables and both moments, named under `prefix`.
    fn state(&self, prefix: &str, out: &mut HashMap<String, Tensor>) {
        for (i, ((var, m), v)) in self.vars.iter().zip(&self.first).zip(&self.second).enumerate() {
            out.insert(format!("{prefix}.{i}.var"), var.as_tensor().clone());
            out.insert(format!("{prefix}.{i}.m"), m.clone());
            out.insert(format!("{prefix}.{i}.v"), v.clone());
        }
    }

    /// Restores what [`Self::state`] wrote, checking every shape.
    fn restore(&mut self, prefix: &str, from: &HashMap<String, Tensor>, step: usize) -> Result<(), InferenceError> {
        let get = |name: String, like: &Tensor| -> Result<Tensor, InferenceError> {
            let t = from.get(&name).ok_or_else(|| InferenceError::Model(format!("checkpoint lacks {name}")))?;
            if t.dims() != like.dims() {
                return Err(InferenceError::Model(format!(
                    "checkpoint tensor {name} has shape {:?}, expected {:?}",
                    t.dims(),
                    like.dims()
                )));
            }
            Ok(t.clone())
        };
        for (i, ((var, m), v)) in self.vars.iter().zip(&mut self.first).zip(&mut self.second).enumerate() {
            var.set(&get(format!("{prefix}.{i}.var"), var.as_tensor())?)?;
            *m = get(format!("{prefix}.{i}.m"), m)?;
            *v = get(format!("{prefix}.{i}.v"), v)?;
        }
        self.step = step;
        Ok(())
    }
}

/// Where a run is, besides its tensors.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Progress {
    /// Identifies the run: see [`fingerprint`].
    pub fingerprint: String,
    /// Optimizer steps done (batches trained on, over all epochs).
    pub step: usize,
    /// The running sums of the current epoch's log line.
    pub loss_sum: f64,
    pub cos_sum: f64,
    pub batches: usize,
    pub texts: usize,
}

/// A hash of the hyper-parameters (as JSON) and the batches (lists of example rows).
pub fn fingerprint(params_json: &str, batches: &[Vec<usize>]) -> String {
    let mut h = Sha256::new();
    h.update(params_json.as_bytes());
    for b in batches {
        h.update((b.len() as u64).to_le_bytes());
        for &r in b {
            h.update((r as u64).to_le_bytes());
        }
    }
    hex::encode(h.finalize())
}

/// A checkpoint directory: `progress.json` and `state.safetensors`, each replaced atomically.
pub struct Checkpoint {
    dir: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> InferenceError + '_ {
    move |e| InferenceError::Model(format!("checkpoint {}: {e}", path.display()))
}

impl Checkpoint {
    pub fn new(dir: &Path) -> Self {
        Self { dir: dir.to_owned() }
    }

    fn progress_path(&self) -> PathBuf {
        self.dir.join("progress.json")
    }

    fn state_path(&self) -> PathBuf {
        self.dir.join("state.safetensors")
    }

    /// Saves `progress` and the optimizers' state, each file through a rename. The tensor file
    /// records its own step, which [`Self::load`] checks against the progress file: a run
    /// stopped between the two renames is detected, not resumed from a mismatched pair.
    pub fn save(&self, progress: &Progress, optimizers: &[(&str, &AdamW)]) -> Result<(), InferenceError> {
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let mut tensors = HashMap::new();
        for (prefix, opt) in optimizers {
            opt.state(prefix, &mut tensors);
        }
        tensors.insert("step".to_owned(), Tensor::new(&[progress.step as i64], &Device::Cpu)?);
        let tmp = self.dir.join("state.safetensors.tmp");
        candle_core::safetensors::save(&tensors, &tmp)?;
        std::fs::rename(&tmp, self.state_path()).map_err(io(&tmp))?;
        let json = serde_json::to_vec_pretty(progress).map_err(|e| InferenceError::Model(e.to_string()))?;
        let tmp = self.dir.join("progress.json.tmp");
        std::fs::write(&tmp, json).map_err(io(&tmp))?;
        std::fs::rename(&tmp, self.progress_path()).map_err(io(&tmp))
    }

    /// Restores the optimizers from the checkpoint of the run `fingerprint`: `None` when there
    /// is none yet; an error when it belongs to another run or its files disagree.
    pub fn load(
        &self,
        fingerprint: &str,
        optimizers: &mut [(&str, &mut AdamW)],
    ) -> Result<Option<Progress>, InferenceError> {
        let path = self.progress_path();
        let json = match std::fs::read(&path) {
            Ok(j) => j,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&path)(e)),
        };
        let progress: Progress = serde_json::from_slice(&json)
            .map_err(|e| InferenceError::Model(format!("checkpoint {}: {e}", path.display())))?;
        if progress.fingerprint != fingerprint {
            return Err(InferenceError::Model(format!(
                "checkpoint {} belongs to another run (other data or hyper-parameters); \
                 remove it or choose another --tune-checkpoint",
                self.dir.display()
            )));
        }
        let tensors = candle_core::safetensors::load(self.state_path(), &Device::Cpu)?;
        let step = tensors.get("step").map(|t| t.to_vec1::<i64>()).transpose()?.and_then(|v| v.first().copied());
        if step != Some(progress.step as i64) {
            return Err(InferenceError::Model(format!(
                "checkpoint {}: the tensors are of step {step:?}, the progress file of step {}; \
                 the run was stopped while saving: remove the directory to start over",
                self.dir.display(),
                progress.step
            )));
        }
        for (prefix, opt) in optimizers.iter_mut() {
            opt.restore(prefix, &tensors, progress.step)?;
        }
        Ok(Some(progress))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

    /// Minimises `|x − target|²` for `steps` steps.
    fn run(opt: &mut AdamW, x: &Var, target: &Tensor, steps: usize) -> TestResult {
        for _ in 0..steps {
            let loss = (x.as_tensor() - target)?.sqr()?.sum_all()?;
            opt.step(&loss.backward()?)?;
        }
        Ok(())
    }

    fn params() -> ParamsAdamW {
        ParamsAdamW { lr: 0.05, weight_decay: 0.01, ..ParamsAdamW::default() }
    }

    #[test]
    fn matches_candle_adamw() -> TestResult {
        use candle_nn::Optimizer;
        let target = Tensor::new(&[1f32, -2.0, 3.0], &Device::Cpu)?;
        let (a, b) = (Var::new(&[0f32, 0.0, 0.0], &Device::Cpu)?, Var::new(&[0f32, 0.0, 0.0], &Device::Cpu)?);
        let mut ours = AdamW::new(vec![a.clone()], params())?;
        run(&mut ours, &a, &target, 30)?;
        let mut theirs = candle_nn::AdamW::new(vec![b.clone()], params())?;
        for _ in 0..30 {
            let loss = (b.as_tensor() - &target)?.sqr()?.sum_all()?;
            theirs.step(&loss.backward()?)?;
        }
        let diff = (a.as_tensor() - b.as_tensor())?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-6, "{diff}");
        Ok(())
    }

    #[test]
    fn a_resumed_run_ends_where_an_uninterrupted_one_does() -> TestResult {
        let dir = std::env::temp_dir().join(format!("rtcx-checkpoint-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let target = Tensor::new(&[1f32, -2.0, 3.0], &Device::Cpu)?;
        let whole = Var::new(&[0f32, 0.0, 0.0], &Device::Cpu)?;
        let mut opt = AdamW::new(vec![whole.clone()], params())?;
        run(&mut opt, &whole, &target, 40)?;

        let first = Var::new(&[0f32, 0.0, 0.0], &Device::Cpu)?;
        let mut opt = AdamW::new(vec![first.clone()], params())?;
        run(&mut opt, &first, &target, 25)?;
        let cp = Checkpoint::new(&dir);
        let progress =
            Progress { fingerprint: "run".into(), step: 25, loss_sum: 1.5, cos_sum: 0.0, batches: 25, texts: 25 };
        cp.save(&progress, &[("enc", &opt)])?;

        let resumed = Var::new(&[0f32, 0.0, 0.0], &Device::Cpu)?;
        let mut opt = AdamW::new(vec![resumed.clone()], params())?;
        let back = cp.load("run", &mut [("enc", &mut opt)])?.ok_or("a checkpoint")?;
        assert_eq!(back, progress);
        run(&mut opt, &resumed, &target, 15)?;
        let diff = (whole.as_tensor() - resumed.as_tensor())?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-6, "resumed run differs by {diff}");

        // Another run's fingerprint is refused; an empty directory is "no checkpoint".
        let mut other = AdamW::new(vec![Var::new(&[0f32, 0.0, 0.0], &Device::Cpu)?], params())?;
        let err = cp.load("other", &mut [("enc", &mut other)]).err().ok_or("refused")?;
        assert!(err.to_string().contains("another run"), "{err}");
        assert!(Checkpoint::new(&dir.join("none")).load("run", &mut [("enc", &mut other)])?.is_none());
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[test]
    fn fingerprints_differ_with_batches_and_params() {
        let a = fingerprint("{}", &[vec![0, 1], vec![2]]);
        assert_eq!(a, fingerprint("{}", &[vec![0, 1], vec![2]]));
        assert_ne!(a, fingerprint("{}", &[vec![0], vec![1, 2]]));
        assert_ne!(a, fingerprint("{\"lr\":1}", &[vec![0, 1], vec![2]]));
    }
}
