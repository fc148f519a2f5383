//! When training stops: early stopping on the validation loss with
//! patience, and an optimizer-step budget.
//!
//! No learning-rate schedule: cutting the rate to 0.3x on plateaus (up to
//! three times) was measured on the demo and four real recordings and left
//! the validation error equal or slightly worse (kdd135 0.000717 -> 0.000733,
//! GunPoint 0.00443 -> 0.00449, MIT-BIH 0.0165 -> 0.0167), so Adam keeps
//! `--lr` throughout.
//!
//! Everything here is a function of the epochs recorded so far, so a run
//! resumed from a checkpoint makes the same decisions as an uninterrupted
//! one, and a run stopped early at its best epoch has the same weights as a
//! run told `--epochs` that many.
//!
//! Patience is counted in optimizer steps, turned into epochs by the steps
//! an epoch takes, so a small series (a dozen steps per epoch) waits many
//! epochs and a large one (hundreds of steps per epoch) few.

use serde::{Deserialize, Serialize};

use super::checkpoint::EpochRecord;

/// Steps without a significant improvement of the validation loss after
/// which a run that stops by itself stops.
pub const PATIENCE_STEPS: usize = 1_000;
/// ... but never fewer epochs than this.
pub const MIN_PATIENCE_EPOCHS: usize = 5;
/// An improvement smaller than this fraction of the best loss is not one.
pub const MIN_DELTA: f64 = 1e-4;

/// Why a phase stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StopReason {
    /// It ran the epochs asked for (`--epochs`).
    Epochs,
    /// The validation loss did not improve for the patience.
    Converged,
    /// The optimizer-step budget is spent.
    Budget,
    /// Solved in closed form (`--kind pca`).
    Solved,
}

impl StopReason {
    /// For the progress line and the report.
    pub fn describe(self) -> &'static str {
        match self {
            StopReason::Epochs => "the epochs asked for",
            StopReason::Converged => "validation loss stopped improving",
            StopReason::Budget => "step budget spent",
            StopReason::Solved => "closed form",
        }
    }
}

/// The rule of one phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Fixed epochs (`--epochs`), or `None` to stop by itself.
    pub epochs: Option<usize>,
    /// Epochs without improvement before stopping.
    pub patience: usize,
    /// Steps at most (stopping by itself only).
    pub max_steps: usize,
}

impl Plan {
    /// The plan for a phase whose epochs take `steps_per_epoch` steps.
    pub fn new(epochs: Option<usize>, steps_per_epoch: usize, max_steps: usize) -> Plan {
        let patience = PATIENCE_STEPS
            .div_ceil(steps_per_epoch.max(1))
            .max(MIN_PATIENCE_EPOCHS);
        Plan {
            epochs,
            patience,
            max_steps: if epochs.is_some() {
                usize::MAX
            } else {
                max_steps
            },
        }
    }
}

/// Where a phase stands after the epochs in `history` (that phase's only).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Standing {
    /// The epoch (1-based) with the best validation loss, 0 before any.
    pub best_epoch: usize,
    /// Its validation loss.
    pub best_loss: f64,
    /// Set when the phase is over.
    pub stop: Option<StopReason>,
}

/// Replays the rule over a phase's epochs.
pub fn judge(plan: &Plan, history: &[EpochRecord]) -> Standing {
    let mut s = Standing {
        best_epoch: 0,
        best_loss: f64::INFINITY,
        stop: None,
    };
    for (i, r) in history.iter().enumerate() {
        let epoch = i + 1;
        // Without validation windows the training loss is all there is.
        let loss = if r.val_loss.is_nan() && r.train_loss.is_finite() {
            r.train_loss
        } else {
            r.val_loss
        };
        // A NaN loss never improves; the first finite one always does.
        if loss < s.best_loss - MIN_DELTA * s.best_loss.abs()
            || (s.best_epoch == 0 && loss.is_finite())
        {
            s.best_loss = loss;
            s.best_epoch = epoch;
        }
        let since_best = epoch - s.best_epoch;
        s.stop = match plan.epochs {
            Some(n) => (epoch >= n).then_some(StopReason::Epochs),
            None if r.steps >= plan.max_steps => Some(StopReason::Budget),
            None if since_best >= plan.patience => Some(StopReason::Converged),
            None => None,
        };
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(epoch: usize, val: f64, steps: usize) -> EpochRecord {
        EpochRecord {
            phase: 0,
            phase_name: "t".into(),
            epoch,
            train_loss: val,
            val_loss: val,
            val_recon: val,
            samples_per_s: 0.0,
            steps,
            lr: 0.0,
            stop: None,
            kept_epoch: None,
        }
    }

    fn history(vals: &[f64], steps_per_epoch: usize) -> Vec<EpochRecord> {
        vals.iter()
            .enumerate()
            .map(|(i, &v)| rec(i + 1, v, (i + 1) * steps_per_epoch))
            .collect()
    }

    #[test]
    fn patience_is_counted_in_steps() {
        // 10 steps per epoch: 100 epochs of patience; 500 per epoch: the minimum.
        assert_eq!(Plan::new(None, 10, 10_000).patience, 100);
        assert_eq!(Plan::new(None, 500, 10_000).patience, MIN_PATIENCE_EPOCHS);
        assert_eq!(Plan::new(Some(7), 500, 10).max_steps, usize::MAX);
    }

    #[test]
    fn stops_after_patience_and_remembers_the_best() {
        let plan = Plan::new(None, 500, 100_000);
        let mut vals = vec![1.0, 0.5, 0.4];
        vals.extend([0.41; 4]);
        let h = history(&vals, 500);
        let s = judge(&plan, &h[..6]);
        assert_eq!((s.best_epoch, s.stop), (3, None));
        let s = judge(&plan, &h);
        assert_eq!((s.best_epoch, s.stop), (3, None));
        let mut h = h;
        h.push(rec(8, 0.40001, 4000)); // below MIN_DELTA: no improvement
        let s = judge(&plan, &h);
        assert_eq!((s.best_epoch, s.stop), (3, Some(StopReason::Converged)));
        assert_eq!(s.best_loss, 0.4);
    }

    #[test]
    fn budget_and_fixed_epochs() {
        let plan = Plan::new(None, 500, 1_000);
        let h = history(&[1.0, 0.5], 500);
        assert_eq!(judge(&plan, &h).stop, Some(StopReason::Budget));
        let plan = Plan::new(Some(2), 500, 1_000);
        let h = history(&[1.0, 2.0, 3.0], 500);
        assert_eq!(judge(&plan, &h[..1]).stop, None);
        assert_eq!(judge(&plan, &h[..2]).stop, Some(StopReason::Epochs));
    }

    #[test]
    fn nan_never_improves() {
        let plan = Plan::new(None, 500, 100_000);
        let mut h = history(&[f64::INFINITY, 0.5, f64::INFINITY], 500);
        h[0].val_loss = f64::NAN;
        h[0].train_loss = f64::NAN;
        let s = judge(&plan, &h);
        assert_eq!((s.best_epoch, s.best_loss), (2, 0.5));
        // No validation loss: the training loss decides.
        let mut h = history(&[0.9, 0.4, 0.6], 500);
        h.iter_mut().for_each(|r| r.val_loss = f64::NAN);
        assert_eq!(judge(&plan, &h).best_epoch, 2);
    }
}
