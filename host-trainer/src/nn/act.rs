//! Activations on taped tensors. dfdx has ReLU, sigmoid and tanh; SELU is
//! written here from dfdx ops, so its gradient comes from theirs (and is
//! checked against finite differences in the tests).

use dfdx::prelude::*;
use model_format::Activation;

use super::{Backend, Real, c};

/// SELU λ (Klambauer et al. 2017), the same constant as the firmware's.
pub const SELU_LAMBDA: f64 = 1.050_700_987_355_480_5;
/// SELU α.
pub const SELU_ALPHA: f64 = 1.673_263_242_354_377_2;

/// `selu(x) = λ·max(x, 0) + λα·(exp(min(x, 0)) − 1)`.
pub fn selu<S: Shape, E: Real, D: Backend<E>, T: Tape<E, D> + Merge<T>>(
    x: Tensor<S, E, D, T>,
) -> Tensor<S, E, D, T> {
    let positive = x.retaped::<T>().relu() * c::<E>(SELU_LAMBDA);
    let negative =
        (x.clamp(f64::NEG_INFINITY, 0.0).exp() - c::<E>(1.0)) * c::<E>(SELU_LAMBDA * SELU_ALPHA);
    positive + negative
}

/// Applies `activation`.
pub fn apply<S: Shape, E: Real, D: Backend<E>, T: Tape<E, D> + Merge<T>>(
    activation: Activation,
    x: Tensor<S, E, D, T>,
) -> Tensor<S, E, D, T> {
    match activation {
        Activation::Identity => x,
        Activation::Relu => x.relu(),
        Activation::Selu => selu(x),
        Activation::Sigmoid => x.sigmoid(),
        Activation::Tanh => x.tanh(),
    }
}
