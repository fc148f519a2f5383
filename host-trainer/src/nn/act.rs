//! Activations on taped tensors. dfdx has ReLU, sigmoid and tanh; SELU is
//! written here from dfdx ops, so its gradient comes from theirs (and is
//! checked against finite differences in the tests). [`forward_in_place`]
//! computes every activation and its derivative over a plain buffer in one
//! pass, for the fused dense layer ([`super::dense`]).

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

/// Applies `activation` to the pre-activations `z` in place, and writes its
/// derivative at each element into `deriv` (left empty for the identity,
/// whose derivative is 1), from the same formulas as [`apply`]'s dfdx ops:
/// ReLU `z > 0 ? 1 : 0`, SELU `λ` for `z > 0` and `λα·eᶻ` otherwise,
/// sigmoid `y(1 − y)`, tanh `1 − y²`. f32 takes `exp`, the sigmoid and
/// `tanh` from [`super::vmath`].
pub fn forward_in_place<E: Real>(activation: Activation, z: &mut [E], deriv: &mut Vec<E>) {
    deriv.clear();
    let (zero, one) = (E::zero(), E::one());
    match activation {
        Activation::Identity => {}
        Activation::Relu => {
            deriv.extend(z.iter().map(|&v| if v > zero { one } else { zero }));
            for v in z.iter_mut() {
                *v = if *v > zero { *v } else { zero };
            }
        }
        Activation::Selu => {
            let (l, la) = (c::<E>(SELU_LAMBDA), c::<E>(SELU_LAMBDA * SELU_ALPHA));
            deriv.extend(z.iter().map(|&v| v.min(zero)));
            E::exp_in_place(deriv);
            for (v, d) in z.iter_mut().zip(deriv.iter_mut()) {
                let (y, dy) = if *v > zero {
                    (*v * l, l)
                } else {
                    ((*d - one) * la, *d * la)
                };
                *v = y;
                *d = dy;
            }
        }
        Activation::Sigmoid => {
            E::sigmoid_in_place(z);
            deriv.extend(z.iter().map(|&y| y * (one - y)));
        }
        Activation::Tanh => {
            E::tanh_in_place(z);
            deriv.extend(z.iter().map(|&y| one - y * y));
        }
    }
}
