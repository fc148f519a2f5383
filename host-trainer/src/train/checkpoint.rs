//! Training checkpoints: everything needed to continue a run exactly where
//! it stopped (structure, parameters, optimiser moments, position, history,
//! settings), written after every epoch to a temporary name and renamed.
//!
//! # Layout
//!
//! `EAECKPT\0`, the version (`u32`, little-endian), the [`Checkpoint`] as
//! postcard, then the [`Later`] record as postcard. postcard is not
//! self-describing: a field added to a struct of the body would shift
//! every byte after it, and `#[serde(default)]` cannot fill a field that
//! is missing. Settings added after version 2 therefore ride in the
//! trailing record, which a version-2 checkpoint written before it existed
//! simply lacks (it then reads as [`Later::default`]). The same holds for
//! that record: the recurrent objective came after it, in a second
//! trailing record ([`Objectives`]) that older checkpoints lack (they load
//! as [`crate::train::config::Objective::Reconstruct`]). Enum variants
//! added at the end (new kinds, layers, parameter names) keep the body's
//! layout.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::config::{Objective, RecurrentSettings, TrainConfig};
use super::schedule::StopReason;
use crate::nn::adam::Moments;
use crate::nn::net::HostNet;

/// Bumped when the layout changes; older checkpoints are refused clearly.
pub const CHECKPOINT_VERSION: u32 = 2;
const MAGIC: &[u8; 8] = b"EAECKPT\0";

/// One epoch's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Phase index.
    pub phase: usize,
    /// Phase name.
    pub phase_name: String,
    /// Epoch within the phase (1-based).
    pub epoch: usize,
    /// Mean training objective over the epoch's batches.
    pub train_loss: f64,
    /// Validation objective (no corruption, no sampling).
    pub val_loss: f64,
    /// Validation reconstruction loss alone.
    pub val_recon: f64,
    /// Training samples per second.
    pub samples_per_s: f64,
    /// Optimizer steps in the phase so far, this epoch's included.
    pub steps: usize,
    /// The learning rate of this epoch.
    pub lr: f64,
    /// Set on the phase's last epoch: why it stopped.
    pub stop: Option<StopReason>,
    /// Set on the last epoch of a phase that stopped by itself: the epoch
    /// whose weights it kept (0: the PCA start, before any training).
    pub kept_epoch: Option<usize>,
}

/// The state of a run between two epochs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Settings of the run.
    pub config: TrainConfig,
    /// Hash of the data file the run trains on.
    pub data_hash: u64,
    /// Optimiser steps taken in the phase of the last epoch in `history`
    /// (where the run continues, unless that phase is complete).
    pub adam_t: i32,
    /// Parameters.
    pub net: HostNet,
    /// The parameters after the phase's best epoch so far, while a phase
    /// that stops by itself runs (restored when it stops).
    pub best: Option<HostNet>,
    /// Optimiser moments (first, second) per parameter.
    pub moments: Moments,
    /// Every epoch so far; the position to resume from is derived from it.
    pub history: Vec<EpochRecord>,
    /// Seconds of training so far.
    pub elapsed_s: f64,
}

/// What a checkpoint holds beyond the version-2 body, after it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Later {
    /// [`TrainConfig::recurrent`].
    pub recurrent: RecurrentSettings,
}

/// What a checkpoint holds beyond [`Later`], after it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Objectives {
    /// [`RecurrentSettings::objective`].
    pub objective: Objective,
    /// [`RecurrentSettings::horizon`].
    pub horizon: usize,
    /// [`crate::nn::net::NetSpec::predict_from`] of the network (and of
    /// the best network kept, which has the same structure).
    pub predict_from: Option<usize>,
}

/// `RUN_DIR/checkpoint.bin`.
pub fn path(run_dir: &Path) -> PathBuf {
    run_dir.join("checkpoint.bin")
}

impl Checkpoint {
    /// Writes the checkpoint atomically.
    pub fn save(&self, run_dir: &Path) -> Result<()> {
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&CHECKPOINT_VERSION.to_le_bytes());
        bytes.extend(postcard::to_allocvec(self).context("cannot encode the checkpoint")?);
        let later = Later {
            recurrent: self.config.recurrent,
        };
        bytes.extend(postcard::to_allocvec(&later).context("cannot encode the checkpoint")?);
        let objectives = Objectives {
            objective: self.config.recurrent.objective,
            horizon: self.config.recurrent.horizon,
            predict_from: self.net.spec.predict_from,
        };
        bytes.extend(postcard::to_allocvec(&objectives).context("cannot encode the checkpoint")?);
        crate::data::files::write_atomic(&path(run_dir), &bytes)
    }

    /// Reads `RUN_DIR/checkpoint.bin`.
    pub fn load(run_dir: &Path) -> Result<Checkpoint> {
        let p = path(run_dir);
        if !p.exists() {
            bail!(
                "no checkpoint to resume from: `{}` does not exist (was the run started with --out {}?)",
                p.display(),
                run_dir.display()
            );
        }
        let bytes = crate::data::files::read(&p)?;
        let Some(rest) = bytes.strip_prefix(MAGIC.as_slice()) else {
            bail!("`{}` is not an edgeae checkpoint", p.display());
        };
        let (version, body) = rest.split_at_checked(4).context("checkpoint truncated")?;
        let version = u32::from_le_bytes(version.try_into().unwrap_or_default());
        if version != CHECKPOINT_VERSION {
            bail!(
                "`{}` is a version {version} checkpoint; this edgeae reads version {CHECKPOINT_VERSION}",
                p.display()
            );
        }
        let corrupt = || format!("`{}` is corrupt", p.display());
        let (mut ck, rest): (Checkpoint, _) =
            postcard::take_from_bytes(body).with_context(corrupt)?;
        let (later, rest): (Later, _) = if rest.is_empty() {
            (Later::default(), rest)
        } else {
            postcard::take_from_bytes(rest).with_context(corrupt)?
        };
        let objectives: Objectives = if rest.is_empty() {
            Objectives::default()
        } else {
            postcard::from_bytes(rest).with_context(corrupt)?
        };
        ck.config.recurrent = RecurrentSettings {
            objective: objectives.objective,
            horizon: objectives.horizon,
            ..later.recurrent
        };
        ck.net.spec.predict_from = objectives.predict_from;
        if let Some(best) = &mut ck.best {
            best.spec.predict_from = objectives.predict_from;
        }
        Ok(ck)
    }
}
