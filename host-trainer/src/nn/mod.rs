//! The networks the trainer optimises, on dfdx tensors.
//!
//! Layer widths come from the command line, so tensors use run-time
//! dimensions (`(usize, usize)` matrices, `(usize,)` vectors): dfdx checks
//! ranks and axis types at compile time and sizes at run time. dfdx 0.13's
//! `nn` modules and optimisers only accept compile-time sizes, so this
//! module holds its own layers ([`net`]; convolutions in [`conv`], LSTM
//! and GRU layers in [`recurrent`]), the activations dfdx lacks ([`act`],
//! SELU), the autoencoder losses ([`loss`]), Adam ([`adam`]), the fused
//! dense layer ([`dense`]) over plain matrix products ([`matmul`]) and
//! vectorised element-wise math ([`vmath`], in AVX2 where the CPU has it:
//! [`simd`]).
//!
//! Everything is generic over the float type `E` (f32 to train, f64 for the
//! finite-difference gradient checks) and the device `D` (CPU; CUDA behind
//! the `cuda` feature).

pub mod act;
pub mod adam;
pub mod conv;
pub mod conv_shape;
pub mod dense;
pub mod fused;
pub mod loss;
pub mod matmul;
pub mod net;
pub mod recurrent;
pub mod simd;
pub mod vmath;

use dfdx::prelude::*;

/// A batch: `(batch, features)`.
pub type Mat<E, D, T = NoneTape> = Tensor<(usize, usize), E, D, T>;
/// A vector, e.g. a bias.
pub type Vector<E, D, T = NoneTape> = Tensor<(usize,), E, D, T>;

/// The float types the trainer runs in.
pub trait Real: Dtype + num_traits::Float + Into<f64> + fused::BceMath + vmath::GateMath {}
impl Real for f32 {}
impl Real for f64 {}

/// A constant in `E`.
pub fn c<E: Real>(x: f64) -> E {
    <E as num_traits::NumCast>::from(x).unwrap_or_else(E::zero)
}

/// Devices the trainer runs on: dfdx's `Device` whose errors `anyhow` can
/// carry, plus the losses this crate fuses where it pays.
pub trait Backend<E: Real>:
    Device<E> + HasErr<Err: std::fmt::Debug + std::fmt::Display + Send + Sync + 'static>
{
    /// Mean binary cross-entropy of `sigmoid(logits)` against `target`.
    /// The default is dfdx's composed op; the CPU fuses it ([`fused`]).
    fn bce_with_logits<T: Tape<E, Self> + Merge<T>>(
        logits: Mat<E, Self, T>,
        target: Mat<E, Self>,
    ) -> Tensor<Rank0, E, Self, T> {
        binary_cross_entropy_with_logits_loss(logits, target)
    }

    /// A dense layer `act(x·op(W) + b)`: `op(W)` is `Wᵀ` for
    /// `Layout::Transposed` (a dense layer's `(outputs, inputs)` weights),
    /// `W` for `Layout::AsStored` (a tied layer). With `input_grad` false
    /// the gradient of `x` may be left out (`x` is data). The default is
    /// dfdx's composed ops; the CPU fuses the layer ([`dense`]).
    fn dense<T: Tape<E, Self> + Merge<T>>(
        x: Mat<E, Self, T>,
        w: &Mat<E, Self>,
        w_layout: matmul::Layout,
        b: &Vector<E, Self>,
        activation: model_format::Activation,
        input_grad: bool,
    ) -> anyhow::Result<Mat<E, Self, T>> {
        let _ = input_grad;
        dense::composed(x, w, w_layout, b, activation)
    }

    /// A feature-map layer ([`conv::MapOp`]) before its activation. Only
    /// the CPU has these kernels; other devices refuse, naming the layer.
    fn map_op<T: Tape<E, Self> + Merge<T>>(
        op: &conv::MapOp,
        x: Mat<E, Self, T>,
        w: Option<&Mat<E, Self>>,
        b: &Vector<E, Self>,
    ) -> anyhow::Result<Mat<E, Self, T>> {
        let _ = (x, w, b);
        anyhow::bail!(
            "the {} layer runs on the CPU only: train this model with --device cpu",
            op.name()
        )
    }

    /// A sequence layer ([`recurrent::SeqOp`]: LSTM, GRU, repeat,
    /// time-distributed dense) before its activation. Only the CPU has
    /// these kernels; other devices refuse, naming the layer.
    fn seq_op<T: Tape<E, Self> + Merge<T>>(
        op: &recurrent::SeqOp,
        x: Mat<E, Self, T>,
        p: &recurrent::SeqParams<'_, E, Self>,
    ) -> anyhow::Result<Mat<E, Self, T>> {
        let _ = (x, p);
        anyhow::bail!(
            "the {} layer runs on the CPU only: train this model with --device cpu",
            op.name()
        )
    }
}

macro_rules! cpu_backend {
    ($($e:ty),*) => {$(
        impl Backend<$e> for Cpu {
            fn bce_with_logits<T: Tape<$e, Self> + Merge<T>>(
                logits: Mat<$e, Self, T>,
                target: Mat<$e, Self>,
            ) -> Tensor<Rank0, $e, Self, T> {
                fused::bce_with_logits_cpu(logits, target)
            }

            fn dense<T: Tape<$e, Self> + Merge<T>>(
                x: Mat<$e, Self, T>,
                w: &Mat<$e, Self>,
                w_layout: matmul::Layout,
                b: &Vector<$e, Self>,
                activation: model_format::Activation,
                input_grad: bool,
            ) -> anyhow::Result<Mat<$e, Self, T>> {
                dense::dense_cpu(x, w, w_layout, b, activation, input_grad)
            }

            fn map_op<T: Tape<$e, Self> + Merge<T>>(
                op: &conv::MapOp,
                x: Mat<$e, Self, T>,
                w: Option<&Mat<$e, Self>>,
                b: &Vector<$e, Self>,
            ) -> anyhow::Result<Mat<$e, Self, T>> {
                op.forward_cpu(x, w, b)
            }

            fn seq_op<T: Tape<$e, Self> + Merge<T>>(
                op: &recurrent::SeqOp,
                x: Mat<$e, Self, T>,
                p: &recurrent::SeqParams<'_, $e, Self>,
            ) -> anyhow::Result<Mat<$e, Self, T>> {
                op.forward_cpu(x, p)
            }
        }
    )*};
}
cpu_backend!(f32, f64);

#[cfg(feature = "cuda")]
impl Backend<f32> for Cuda {}

/// `?` for dfdx's device errors: the CPU's implement `std::error::Error`,
/// dfdx 0.13's CUDA error only `Debug` and `Display`, which `anyhow` keeps
/// as a message.
pub trait DevResult<T> {
    /// The result with its error as an [`anyhow::Error`].
    fn dev(self) -> anyhow::Result<T>;
}

impl<T, Er: std::fmt::Debug + std::fmt::Display + Send + Sync + 'static> DevResult<T>
    for Result<T, Er>
{
    fn dev(self) -> anyhow::Result<T> {
        self.map_err(anyhow::Error::msg)
    }
}

/// The value of a scalar tensor.
pub fn scalar<E: Real, D: Backend<E>, T>(t: &Tensor<Rank0, E, D, T>) -> E {
    t.as_vec().first().copied().unwrap_or_else(E::nan)
}

#[cfg(test)]
mod gradcheck;
#[cfg(test)]
mod gradcheck_conv;
#[cfg(test)]
mod gradcheck_dense;
#[cfg(test)]
mod gradcheck_recurrent;
