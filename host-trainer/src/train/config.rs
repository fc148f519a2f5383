//! Training settings: what the user asked for, with every default filled
//! in, stored in checkpoints so `--resume` continues with the same settings.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use crate::nn::recurrent::Cell;

/// The autoencoder family members `edgeae train` builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum Kind {
    /// One linear encoder layer, one linear decoder layer, MSE: finds the PCA subspace.
    Linear,
    /// Deep symmetric autoencoder with SELU hidden layers.
    Stacked,
    /// Stacked, with each decoder layer reusing its mirror encoder layer's transposed weights.
    Tied,
    /// Stacked, trained one shallow autoencoder at a time, then fine-tuned whole.
    Greedy,
    /// Stacked, trained to reconstruct clean inputs from corrupted ones.
    Denoising,
    /// Sigmoid codings with an L1 or KL-divergence sparsity penalty.
    Sparse,
    /// Variational: mean and log-variance codings, reparameterization, KL term.
    Vae,
    /// Closed-form linear autoencoder: the top principal components of the
    /// training windows (SVD), no gradient training. The baseline every
    /// other kind must beat.
    Pca,
    /// Convolutional: conv2d over images, conv1d over sensor windows
    /// (`--arch`, or the default for the input shape).
    Conv,
    /// Recurrent: LSTM (or GRU, `--cell gru`) encoder to a codings vector,
    /// repeated over the window and decoded by LSTM layers and a
    /// time-distributed dense layer. Needs `--window`. Trains on the CPU;
    /// writes format version 5 (f32); `edgeae export --quant int8` gives
    /// version 6 (int8 recurrent layers).
    Recurrent,
}

impl Kind {
    /// The model-format kind.
    pub fn model_kind(self) -> model_format::ModelKind {
        use model_format::ModelKind as M;
        match self {
            Kind::Linear => M::Linear,
            Kind::Stacked => M::Stacked,
            Kind::Tied => M::Tied,
            Kind::Greedy => M::Greedy,
            Kind::Denoising => M::Denoising,
            Kind::Sparse => M::Sparse,
            Kind::Vae => M::Variational,
            Kind::Pca => M::Pca,
            Kind::Conv => M::Conv,
            Kind::Recurrent => M::Recurrent,
        }
    }

    /// Lower-case name, as the CLI spells it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Recurrent => "recurrent",
            k => k.model_kind().name(),
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Settings of `--kind recurrent` (`train::arch::recurrent_spec`).
///
/// Checkpoints carry them in a record after the version-2 body
/// (`train::checkpoint`), so that version-2 checkpoints written before
/// they existed still load (with these defaults).
///
/// The objective and horizon came later still: they ride in a record of
/// their own after that one (`checkpoint::Objectives`), so they are left
/// out of this struct's encoding, and checkpoints without that record load
/// with [`Objective::Reconstruct`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecurrentSettings {
    /// The cell of every recurrent layer.
    pub cell: Cell,
    /// Corrupt the inputs with [`TrainConfig::noise`] while training, as
    /// the denoising kind does (`--noise` given).
    pub denoise: bool,
    /// What the decoder (or decoders) output (`--objective`).
    #[serde(skip)]
    pub objective: Objective,
    /// Frames after each window that a predicting decoder outputs
    /// (`--horizon`); 0 with [`Objective::Reconstruct`].
    #[serde(skip)]
    pub horizon: usize,
}

/// What a recurrent autoencoder is trained to output from its codings
/// (Géron, *Hands-On Machine Learning*, ch. 15 and 17).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum Objective {
    /// The decoder reconstructs the window.
    #[default]
    Reconstruct,
    /// The decoder outputs the `--horizon` frames that follow the window.
    Predict,
    /// Two decoders share the codings: one reconstructs the window, one
    /// predicts the next `--horizon` frames; the loss is the sum of their
    /// mean squared errors.
    Composite,
}

impl Objective {
    /// Lower-case name, as the CLI spells it.
    pub fn name(self) -> &'static str {
        match self {
            Objective::Reconstruct => "reconstruct",
            Objective::Predict => "predict",
            Objective::Composite => "composite",
        }
    }

    /// Whether a decoder predicts the frames after the window.
    pub fn predicts(self) -> bool {
        self != Objective::Reconstruct
    }

    /// Whether a decoder reconstructs the window.
    pub fn reconstructs(self) -> bool {
        self != Objective::Predict
    }
}

impl fmt::Display for Objective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Input corruption for the denoising kind (training only).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Noise {
    /// Add `N(0, σ²)` noise (in normalised units).
    Gaussian(f64),
    /// Zero each input with probability `p`, scale the rest by `1/(1−p)` (as a dropout layer does).
    Dropout(f64),
}

impl FromStr for Noise {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        let (name, value) = s.split_once(':').unwrap_or((s, ""));
        let v: f64 = value.parse().map_err(|_| {
            anyhow::anyhow!(
                "--noise `{s}`: expected gaussian:SIGMA or dropout:P, e.g. gaussian:0.2"
            )
        })?;
        match name {
            "gaussian" if v > 0.0 && v.is_finite() => Ok(Noise::Gaussian(v)),
            "gaussian" => bail!("--noise gaussian:SIGMA needs SIGMA > 0, got {value}"),
            "dropout" if (0.0..1.0).contains(&v) && v > 0.0 => Ok(Noise::Dropout(v)),
            "dropout" => bail!("--noise dropout:P needs 0 < P < 1, got {value}"),
            _ => bail!("--noise `{s}`: expected gaussian:SIGMA or dropout:P"),
        }
    }
}

impl fmt::Display for Noise {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Noise::Gaussian(s) => write!(f, "gaussian:{s}"),
            Noise::Dropout(p) => write!(f, "dropout:{p}"),
        }
    }
}

/// Sparsity penalty for the sparse kind.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Sparsity {
    /// `weight · mean |codings|`.
    L1 {
        /// Penalty weight.
        weight: f64,
    },
    /// `weight · Σ KL(target ‖ mean activation of each coding unit)`.
    Kl {
        /// Target mean activation, in (0, 1).
        target: f64,
        /// Penalty weight.
        weight: f64,
    },
}

impl FromStr for Sparsity {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        let parts: Vec<&str> = s.split(':').collect();
        let num = |v: &str| -> Result<f64> {
            v.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .ok_or_else(|| {
                    anyhow::anyhow!("--sparsity `{s}`: `{v}` is not a non-negative number")
                })
        };
        match parts.as_slice() {
            ["l1", w] => Ok(Sparsity::L1 { weight: num(w)? }),
            ["kl", t, w] => {
                let target = num(t)?;
                if !(target > 0.0 && target < 1.0) {
                    bail!("--sparsity kl:TARGET:WEIGHT needs 0 < TARGET < 1, got {t}");
                }
                Ok(Sparsity::Kl {
                    target,
                    weight: num(w)?,
                })
            }
            _ => {
                bail!("--sparsity `{s}`: expected l1:WEIGHT or kl:TARGET:WEIGHT, e.g. kl:0.1:0.05")
            }
        }
    }
}

impl fmt::Display for Sparsity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sparsity::L1 { weight } => write!(f, "l1:{weight}"),
            Sparsity::Kl { target, weight } => write!(f, "kl:{target}:{weight}"),
        }
    }
}

/// How inputs are normalised per channel before training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum Normalize {
    /// `none` for data already in [0, 1] (images), `zscore` otherwise.
    Auto,
    /// Subtract the mean, divide by the standard deviation.
    Zscore,
    /// Subtract the mean only.
    Center,
    /// Use the values as they are.
    None,
}

/// The reconstruction loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum LossChoice {
    /// Binary cross-entropy with a sigmoid output for [0, 1] data, MSE otherwise.
    Auto,
    /// Mean squared error, linear output.
    Mse,
    /// Binary cross-entropy, sigmoid output (data must lie in [0, 1]).
    Bce,
}

/// Where to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum DeviceChoice {
    /// The CPU (all cores).
    Cpu,
    /// An NVIDIA GPU (needs the `cuda` build feature).
    Cuda,
}

/// The default optimizer-step budget of a run that stops by itself: enough
/// for a series of a thousand rows to converge, and a bound on the time a
/// large data set takes (10,000 steps of batch 64 are about 6 s for the
/// demo's 192-128-16 network on one core).
pub const DEFAULT_MAX_STEPS: usize = 10_000;

/// Everything a training run uses; defaults resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Training data (CSV or IDX).
    pub data: PathBuf,
    /// Autoencoder kind.
    pub kind: Kind,
    /// Run directory.
    pub out: PathBuf,
    /// Frames per window.
    pub window: usize,
    /// Frames between the windows the model scores (written into the model).
    pub hop: usize,
    /// Frames between training windows (1: every window, overlapping).
    pub train_hop: usize,
    /// Codings width (None: chosen from the input width).
    pub codings: Option<usize>,
    /// Encoder hidden widths (None: chosen from the input width).
    pub hidden: Option<Vec<usize>>,
    /// Epochs (per greedy stage for `greedy`); `None`: until the validation
    /// loss stops improving (see `train::schedule`), within
    /// `max_steps`.
    pub epochs: Option<usize>,
    /// Optimizer steps at most, over all phases, when `epochs` is `None`.
    pub max_steps: usize,
    /// Greedy: epochs of fine-tuning the whole stack afterwards (0: none;
    /// `None`: as `epochs`).
    pub fine_tune_epochs: Option<usize>,
    /// Mini-batch size.
    pub batch: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Seed of every random number generator.
    pub seed: u64,
    /// Fraction of windows held out for validation.
    pub val_split: f64,
    /// Denoising corruption.
    pub noise: Noise,
    /// Sparse penalty.
    pub sparsity: Sparsity,
    /// VAE: weight of the KL term.
    pub beta: f64,
    /// Normalisation.
    pub normalize: Normalize,
    /// Reconstruction loss.
    pub loss: LossChoice,
    /// Use at most this many windows (None: all), for quick runs.
    pub limit: Option<usize>,
    /// Device.
    pub device: DeviceChoice,
    /// How a window's error is scored.
    pub metric: ScoreMetric,
    /// Stacked and denoising kinds: start from the PCA solution
    /// (`Pca::start_from`) rather than random weights,
    /// and never end worse than it. Off by default: measured, it keeps the
    /// validation error at or below PCA's but the detection quality at
    /// PCA's, and int8 exports of such networks lose precision (their
    /// carried projections are heavy-tailed).
    pub pca_start: bool,
    /// The convolutional architecture (`train::conv_arch`): with `conv`,
    /// and with `stacked`, `denoising`, `sparse` and `vae` to give them
    /// convolutional layers; `auto` is the default for the input shape.
    #[serde(default)]
    pub arch: Option<String>,
    /// Rows of a CSV are `[h, w, c]` images (channel-last); IDX files say
    /// their shape themselves.
    #[serde(default)]
    pub image: Option<[usize; 3]>,
    /// `--kind recurrent`: cell and corruption. Not in the version-2 body
    /// of a checkpoint: see [`RecurrentSettings`].
    #[serde(skip)]
    pub recurrent: RecurrentSettings,
}

/// How the model scores a window (written into the model file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum ScoreMetric {
    /// Mean squared error over the window.
    Mse,
    /// Mean squared error with each value of the window divided by its mean
    /// squared error on the training windows (a diagonal Mahalanobis
    /// distance of the residual): a position that is always hard to
    /// reconstruct counts less, one that is always easy counts more.
    Standardized,
}

impl TrainConfig {
    /// The defaults for training `kind` on `data` into `out`; the CLI's
    /// options override them.
    pub fn new(data: PathBuf, kind: Kind, out: PathBuf) -> TrainConfig {
        TrainConfig {
            data,
            kind,
            out,
            window: 1,
            hop: 1,
            train_hop: 1,
            codings: None,
            hidden: None,
            epochs: None,
            max_steps: DEFAULT_MAX_STEPS,
            fine_tune_epochs: None,
            batch: 64,
            lr: 1e-3,
            seed: 42,
            val_split: 0.1,
            noise: Noise::Gaussian(0.2),
            sparsity: Sparsity::Kl {
                target: 0.1,
                weight: 0.05,
            },
            beta: 1.0,
            normalize: Normalize::Auto,
            loss: LossChoice::Auto,
            limit: None,
            device: DeviceChoice::Cpu,
            metric: ScoreMetric::Mse,
            pca_start: false,
            arch: None,
            image: None,
            recurrent: RecurrentSettings::default(),
        }
    }

    /// Sets the window and the default hop for it (half a window, at least 1).
    pub fn with_window(mut self, window: usize) -> TrainConfig {
        self.window = window;
        self.hop = (window / 2).max(1);
        self
    }

    /// Checks ranges; the messages name the flag.
    pub fn check(&self) -> Result<()> {
        if self.window == 0 {
            bail!("--window must be at least 1");
        }
        if self.hop == 0 {
            bail!("--hop must be at least 1");
        }
        if self.codings == Some(0) {
            bail!("--codings must be at least 1");
        }
        if let Some(h) = &self.hidden
            && h.contains(&0)
        {
            bail!("--hidden widths must be at least 1");
        }
        if self.train_hop == 0 {
            bail!("--train-hop must be at least 1");
        }
        if self.epochs == Some(0) {
            bail!("--epochs must be at least 1");
        }
        if self.max_steps == 0 {
            bail!("--max-steps must be at least 1");
        }
        if self.batch == 0 {
            bail!("--batch must be at least 1");
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            bail!("--lr must be a positive number");
        }
        if !(0.0..0.9).contains(&self.val_split) {
            bail!("--val-split must be in [0, 0.9)");
        }
        if !(self.beta >= 0.0 && self.beta.is_finite()) {
            bail!("--beta must be a non-negative number");
        }
        if self.limit == Some(0) {
            bail!("--limit must be at least 1");
        }
        if self.arch.is_some()
            && !matches!(
                self.kind,
                Kind::Conv | Kind::Stacked | Kind::Denoising | Kind::Sparse | Kind::Vae
            )
        {
            bail!(
                "--arch works with --kind conv, stacked, denoising, sparse and vae, not {}",
                self.kind
            );
        }
        if self.arch.is_some() && self.pca_start {
            bail!("--pca-start starts a dense network from PCA; it does not apply to --arch");
        }
        if let Some(dims) = self.image
            && dims.contains(&0)
        {
            bail!("--image sizes must be at least 1");
        }
        if self.kind == Kind::Recurrent && self.window < 2 {
            bail!(
                "--kind recurrent reads each window as a sequence: give --window N (time steps, at least 2), e.g. --window 32"
            );
        }
        if self.kind == Kind::Recurrent && self.image.is_some() {
            bail!("--kind recurrent reads sensor windows (--window), not --image rows");
        }
        let objective = self.recurrent.objective;
        if objective.predicts() {
            if self.kind != Kind::Recurrent {
                bail!(
                    "--objective {objective} needs --kind recurrent (the only kind with a predicting decoder), not --kind {}",
                    self.kind
                );
            }
            if self.recurrent.horizon == 0 {
                bail!(
                    "--horizon must be at least 1: the number of frames after each window to predict"
                );
            }
            if self.recurrent.horizon > self.window {
                bail!(
                    "--horizon {} is longer than the window ({} steps): predict at most --window frames, or give a longer --window",
                    self.recurrent.horizon,
                    self.window
                );
            }
            if self.loss == LossChoice::Bce {
                bail!(
                    "--objective {objective} trains on mean squared errors; --loss bce goes with --objective reconstruct"
                );
            }
        }
        Ok(())
    }

    /// Frames after each window that training needs: the horizon of a
    /// predicting objective, else 0.
    pub fn horizon(&self) -> usize {
        if self.kind == Kind::Recurrent && self.recurrent.objective.predicts() {
            self.recurrent.horizon
        } else {
            0
        }
    }

    /// Whether training corrupts its inputs with [`TrainConfig::noise`]:
    /// always for the denoising kind, on request for the recurrent one.
    pub fn corrupts(&self) -> bool {
        match self.kind {
            Kind::Denoising => true,
            Kind::Recurrent => self.recurrent.denoise,
            _ => false,
        }
    }

    /// Codings width for an input of `input_len` values.
    pub fn codings_for(&self, input_len: usize) -> usize {
        self.codings.unwrap_or_else(|| {
            let base = (input_len as f64 / 8.0).round().clamp(1.0, 32.0) as usize;
            let c = if self.kind == Kind::Sparse {
                (base * 4).min(300)
            } else {
                base
            };
            if input_len > 1 {
                c.min(input_len - 1).max(1)
            } else {
                1
            }
        })
    }

    /// Encoder hidden widths for an input of `input_len` values.
    pub fn hidden_for(&self, input_len: usize) -> Vec<usize> {
        if matches!(self.kind, Kind::Linear | Kind::Pca) {
            return Vec::new();
        }
        self.hidden.clone().unwrap_or_else(|| {
            let c = self.codings_for(input_len).min(input_len);
            let g = ((input_len * c) as f64).sqrt().round() as usize;
            if g > c.max(1) && g < input_len {
                vec![g]
            } else {
                Vec::new()
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_noise_and_sparsity() {
        assert_eq!(
            "gaussian:0.2".parse::<Noise>().unwrap(),
            Noise::Gaussian(0.2)
        );
        assert_eq!("dropout:0.5".parse::<Noise>().unwrap(), Noise::Dropout(0.5));
        assert!(
            "dropout:1.5"
                .parse::<Noise>()
                .unwrap_err()
                .to_string()
                .contains("0 < P < 1")
        );
        assert!("salt:1".parse::<Noise>().is_err());
        assert_eq!(
            "l1:0.001".parse::<Sparsity>().unwrap(),
            Sparsity::L1 { weight: 0.001 }
        );
        assert_eq!(
            "kl:0.1:0.05".parse::<Sparsity>().unwrap(),
            Sparsity::Kl {
                target: 0.1,
                weight: 0.05
            }
        );
        assert!(
            "kl:1.5:0.05"
                .parse::<Sparsity>()
                .unwrap_err()
                .to_string()
                .contains("0 < TARGET < 1")
        );
        assert!("kl:0.1".parse::<Sparsity>().is_err());
        for s in ["gaussian:0.2", "dropout:0.5"] {
            assert_eq!(s.parse::<Noise>().unwrap().to_string(), s);
        }
    }
}
