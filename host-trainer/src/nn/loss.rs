//! The autoencoder losses: reconstruction (MSE, or binary cross-entropy on
//! logits for [0, 1] data), the sparsity penalties, and the variational
//! terms. Each returns a scalar tensor carrying the tape of its inputs.
//!
//! A tensor used in two terms must be split with `retaped()` first (one
//! copy per term), and every term must end up in the final sum: a term
//! dropped while it holds part of the tape silently loses those gradients.
//! The finite-difference checks in the tests guard against exactly that.

use dfdx::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Backend, Mat, Real, c};

/// Scalar loss.
pub type Scalar<E, D, T> = Tensor<Rank0, E, D, T>;

/// How the reconstruction is compared with the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Recon {
    /// Mean squared error of the output.
    Mse,
    /// Binary cross-entropy of `sigmoid(logits)` against targets in [0, 1],
    /// computed from the logits for stability.
    BceWithLogits,
}

/// Mean reconstruction loss per element.
pub fn reconstruction<E: Real, D: Backend<E>, T: Tape<E, D> + Merge<T>>(
    recon: Recon,
    output: Mat<E, D, T>,
    target: Mat<E, D>,
) -> Scalar<E, D, T> {
    match recon {
        Recon::Mse => mse_loss(output, target),
        Recon::BceWithLogits => D::bce_with_logits(output, target),
    }
}

/// L1 activity penalty: `weight · mean(|codings|)`.
pub fn l1_penalty<E: Real, D: Backend<E>, T: Tape<E, D>>(
    codings: Mat<E, D, T>,
    weight: f64,
) -> Scalar<E, D, T> {
    codings.abs().mean() * c::<E>(weight)
}

/// KL sparsity penalty: `weight · Σⱼ KL(ρ ‖ ρ̂ⱼ)`, with `ρ̂ⱼ` the mean
/// activation of coding unit `j` over the batch (codings in (0, 1), e.g.
/// sigmoid) and `KL(ρ‖q) = ρ·ln(ρ/q) + (1−ρ)·ln((1−ρ)/(1−q))`. `ρ̂` is
/// clamped to `[1e-7, 1 − 1e-7]` so a dead or saturated unit gives a large
/// but finite penalty.
pub fn kl_sparsity<E: Real, D: Backend<E>, T: Tape<E, D> + Merge<T>>(
    codings: Mat<E, D, T>,
    target: f64,
    weight: f64,
) -> Scalar<E, D, T> {
    let rho_hat = codings.mean::<_, Axis<0>>().clamp(1e-7, 1.0 - 1e-7);
    let units = rho_hat.shape().0 as f64;
    let constant = if target > 0.0 && target < 1.0 {
        target * target.ln() + (1.0 - target) * (1.0 - target).ln()
    } else {
        0.0
    };
    // Σ [ρ ln ρ + (1−ρ) ln(1−ρ)] − Σ [ρ ln ρ̂ + (1−ρ) ln(1−ρ̂)]
    let log_q = rho_hat.retaped::<T>().ln() * c::<E>(target);
    let log_1mq = (rho_hat.negate() + c::<E>(1.0)).ln() * c::<E>(1.0 - target);
    let cross = (log_q + log_1mq).sum::<Rank0, _>();
    (cross.negate() + c::<E>(constant * units)) * c::<E>(weight)
}

/// VAE latent loss: `−½ · mean over the batch of Σⱼ (1 + γⱼ − μⱼ² − exp γⱼ)`,
/// the KL divergence of `N(μ, exp γ)` from `N(0, 1)` per sample.
pub fn vae_kl<E: Real, D: Backend<E>, T: Tape<E, D> + Merge<T>>(
    mean: Mat<E, D, T>,
    logvar: Mat<E, D, T>,
) -> Scalar<E, D, T> {
    let (batch, _) = *mean.shape();
    let terms = logvar.retaped::<T>() + c::<E>(1.0) - mean.square() - logvar.exp();
    terms.sum::<Rank0, _>() * c::<E>(-0.5 / batch.max(1) as f64)
}

/// Reparameterization: `z = μ + exp(γ / 2) · ε` with `ε` given (standard normal).
pub fn reparameterize<E: Real, D: Backend<E>, T: Tape<E, D> + Merge<T>>(
    mean: Mat<E, D, T>,
    logvar: Mat<E, D, T>,
    eps: Mat<E, D>,
) -> Mat<E, D, T> {
    mean + (logvar * c::<E>(0.5)).exp() * eps
}
