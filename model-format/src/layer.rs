//! Layers as stored in the file, and the resolved form a runtime executes.
//!
//! The wire tag of each [`Layer`] variant is its position (postcard encodes
//! an enum as a varint of the variant index). Tags 0 and 1 are defined in
//! format version 1, tags 2 and 3 (int8) in version 2, tags 4 to 11
//! (convolution, transposed convolution, pooling and upsampling, f32 then
//! int8) in version 4, tag 12 (the recurrent layer, LSTM or GRU) in
//! version 5, tag 13 (the int8 recurrent layer) in version 6. A later format version appends its tags (never inserts).

use serde::{Deserialize, Serialize};

use crate::F32s;
use crate::conv::{
    Conv, ConvI8, ConvI8Op, ConvOp, ConvTranspose, ConvTransposeI8, Pool, PoolI8, PoolI8Op, PoolOp,
    Upsample, UpsampleI8, UpsampleI8Op, UpsampleOp,
};
use crate::quant::{DenseI8, DenseI8Op, TiedDenseI8};
use crate::recurrent::{Recurrent, RecurrentOp};
use crate::recurrent_i8::{RecurrentI8, RecurrentI8Op};

/// Most layers a model may have. Fixed so that a decoded model fits in a
/// known amount of RAM with no allocator.
pub const MAX_LAYERS: usize = 32;

/// An element-wise activation fused into a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(rename_all = "snake_case")] // names matter only to self-describing formats (JSON)
pub enum Activation {
    /// `y = x` (tag 0).
    Identity,
    /// `y = max(x, 0)` (tag 1).
    Relu,
    /// Scaled ELU, `λ·x` for `x > 0`, `λ·α·(eˣ − 1)` otherwise, with
    /// λ = 1.0507009873554805 and α = 1.6732632423543772 (tag 2).
    Selu,
    /// `y = 1 / (1 + e⁻ˣ)` (tag 3).
    Sigmoid,
    /// `y = tanh(x)` (tag 4).
    Tanh,
}

impl Activation {
    /// Lower-case name, as `edgeae inspect` prints it.
    pub const fn name(self) -> &'static str {
        match self {
            Activation::Identity => "identity",
            Activation::Relu => "relu",
            Activation::Selu => "selu",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
        }
    }
}

/// A fully connected layer: `y = act(W·x + b)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Dense<'a> {
    /// Input width.
    pub inputs: u32,
    /// Output width.
    pub outputs: u32,
    /// Fused activation.
    pub activation: Activation,
    /// `outputs × inputs` values, row-major: row `o` holds the weights of output `o`.
    #[serde(borrow)]
    pub weights: F32s<'a>,
    /// `outputs` values.
    #[serde(borrow)]
    pub bias: F32s<'a>,
}

/// A dense layer that reuses the transposed weights of an earlier
/// [`Dense`] layer (tied-weights autoencoder): with the source's `W` of
/// shape `outputs × inputs`, this layer computes `y = act(Wᵀ·x + b)`, mapping
/// the source's output width back to its input width. Only the bias is
/// stored here.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TiedDense<'a> {
    /// Index of the [`Dense`] layer whose weights are reused; must be earlier.
    pub source: u16,
    /// Fused activation.
    pub activation: Activation,
    /// One value per output, i.e. the source's `inputs` values.
    #[serde(borrow)]
    pub bias: F32s<'a>,
}

/// One layer of the model, as stored in the file.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Layer<'a> {
    /// Fully connected (tag 0).
    #[serde(borrow)]
    Dense(Dense<'a>),
    /// Fully connected with the transposed weights of an earlier layer (tag 1).
    #[serde(borrow)]
    TiedDense(TiedDense<'a>),
    /// int8 fully connected (tag 2, format version 2).
    #[serde(borrow)]
    DenseI8(DenseI8<'a>),
    /// int8 fully connected with transposed weights (tag 3, format version 2).
    #[serde(borrow)]
    TiedDenseI8(TiedDenseI8<'a>),
    /// Convolution (tag 4, format version 4).
    #[serde(borrow)]
    Conv(Conv<'a>),
    /// Transposed convolution (tag 5, format version 4).
    #[serde(borrow)]
    ConvTranspose(ConvTranspose<'a>),
    /// Max or average pooling (tag 6, format version 4).
    Pool(Pool),
    /// Nearest-neighbour upsampling (tag 7, format version 4).
    Upsample(Upsample),
    /// int8 convolution (tag 8, format version 4).
    #[serde(borrow)]
    ConvI8(ConvI8<'a>),
    /// int8 transposed convolution (tag 9, format version 4).
    #[serde(borrow)]
    ConvTransposeI8(ConvTransposeI8<'a>),
    /// int8 pooling (tag 10, format version 4).
    PoolI8(PoolI8),
    /// int8 upsampling (tag 11, format version 4).
    UpsampleI8(UpsampleI8),
    /// LSTM or GRU over a sequence (tag 12, format version 5).
    #[serde(borrow)]
    Recurrent(Recurrent<'a>),
    /// int8 LSTM or GRU over a sequence (tag 13, format version 6).
    #[serde(borrow)]
    RecurrentI8(RecurrentI8<'a>),
    /// int8 fully connected with the weights interleaved four rows at a
    /// time (tag 14, format version 8): the fields of [`DenseI8`], only the
    /// order of `weights` differs (SPEC.md 3.3, [`WeightLayout::Interleaved4`]).
    #[serde(borrow)]
    DenseI8x4(DenseI8<'a>),
}

impl<'a> Layer<'a> {
    /// Lower-case name of the layer type.
    pub const fn type_name(&self) -> &'static str {
        match self {
            Layer::Dense(_) => "dense",
            Layer::TiedDense(_) => "tied_dense",
            Layer::DenseI8(_) => "dense_i8",
            Layer::TiedDenseI8(_) => "tied_dense_i8",
            Layer::Conv(_) => "conv",
            Layer::ConvTranspose(_) => "conv_transpose",
            Layer::Pool(_) => "pool",
            Layer::Upsample(_) => "upsample",
            Layer::ConvI8(_) => "conv_i8",
            Layer::ConvTransposeI8(_) => "conv_transpose_i8",
            Layer::PoolI8(_) => "pool_i8",
            Layer::UpsampleI8(_) => "upsample_i8",
            Layer::Recurrent(_) => "recurrent",
            Layer::RecurrentI8(_) => "recurrent_i8",
            Layer::DenseI8x4(_) => "dense_i8x4",
        }
    }

    /// The first format version that has this layer.
    pub const fn min_version(&self) -> u16 {
        match self {
            Layer::Dense(_) | Layer::TiedDense(_) => 1,
            Layer::DenseI8(_) | Layer::TiedDenseI8(_) => 2,
            Layer::Conv(_)
            | Layer::ConvTranspose(_)
            | Layer::Pool(_)
            | Layer::Upsample(_)
            | Layer::ConvI8(_)
            | Layer::ConvTransposeI8(_)
            | Layer::PoolI8(_)
            | Layer::UpsampleI8(_) => 4,
            Layer::Recurrent(_) => 5,
            Layer::RecurrentI8(_) => 6,
            Layer::DenseI8x4(_) => 8,
        }
    }

    /// True for the int8 layers.
    pub const fn is_int8(&self) -> bool {
        matches!(
            self,
            Layer::DenseI8(_)
                | Layer::TiedDenseI8(_)
                | Layer::ConvI8(_)
                | Layer::ConvTransposeI8(_)
                | Layer::PoolI8(_)
                | Layer::UpsampleI8(_)
                | Layer::RecurrentI8(_)
                | Layer::DenseI8x4(_)
        )
    }

    /// The fused activation (identity for pooling, upsampling and the
    /// recurrent layer, whose gates have their own fixed nonlinearities).
    pub const fn activation(&self) -> Activation {
        match self {
            Layer::Dense(d) => d.activation,
            Layer::TiedDense(t) => t.activation,
            Layer::DenseI8(d) | Layer::DenseI8x4(d) => d.activation,
            Layer::TiedDenseI8(t) => t.activation,
            Layer::Conv(c) => c.activation,
            Layer::ConvTranspose(c) => c.activation,
            Layer::ConvI8(c) => c.activation,
            Layer::ConvTransposeI8(c) => c.activation,
            Layer::Pool(_)
            | Layer::Upsample(_)
            | Layer::PoolI8(_)
            | Layer::UpsampleI8(_)
            | Layer::Recurrent(_)
            | Layer::RecurrentI8(_) => Activation::Identity,
        }
    }

    /// Numbers stored in the file for this layer: weights and biases (a
    /// tied layer has only its bias; pooling and upsampling have none).
    pub const fn param_count(&self) -> usize {
        match self {
            Layer::Dense(d) => d.weights.len() + d.bias.len(),
            Layer::TiedDense(t) => t.bias.len(),
            Layer::DenseI8(d) => d.weights.len() + d.bias.len(),
            // The padding weights are not parameters.
            Layer::DenseI8x4(d) => (d.inputs as usize)
                .saturating_mul(d.outputs as usize)
                .saturating_add(d.bias.len()),
            Layer::TiedDenseI8(t) => t.bias.len(),
            Layer::Conv(c) => c.weights.len() + c.bias.len(),
            Layer::ConvTranspose(c) => c.weights.len() + c.bias.len(),
            Layer::ConvI8(c) => c.weights.len() + c.bias.len(),
            Layer::ConvTransposeI8(c) => c.weights.len() + c.bias.len(),
            Layer::Pool(_) | Layer::Upsample(_) | Layer::PoolI8(_) | Layer::UpsampleI8(_) => 0,
            Layer::Recurrent(r) => r.w_ih.len() + r.w_hh.len() + r.b_ih.len() + r.b_hh.len(),
            Layer::RecurrentI8(r) => r.w_ih.len() + r.w_hh.len() + r.b_ih.len() + r.b_hh.len(),
        }
    }

    /// The layer's f32 tensors, in wire order (none for the int8 layers,
    /// pooling and upsampling).
    pub fn f32_tensors(&self) -> impl Iterator<Item = F32s<'a>> + use<'a> {
        let t = match *self {
            Layer::Dense(d) => [Some(d.weights), Some(d.bias), None, None],
            Layer::TiedDense(t) => [Some(t.bias), None, None, None],
            Layer::Conv(c) => [Some(c.weights), Some(c.bias), None, None],
            Layer::ConvTranspose(c) => [Some(c.weights), Some(c.bias), None, None],
            Layer::Recurrent(r) => [Some(r.w_ih), Some(r.w_hh), Some(r.b_ih), Some(r.b_hh)],
            _ => [None; 4],
        };
        t.into_iter().flatten()
    }

    /// The layer a tied layer reads its weights from.
    pub const fn tied_source(&self) -> Option<u16> {
        match self {
            Layer::TiedDense(t) => Some(t.source),
            Layer::TiedDenseI8(t) => Some(t.source),
            _ => None,
        }
    }
}

/// How a [`DenseOp`]'s weights are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum WeightLayout {
    /// `outputs × inputs`, row-major (a [`Dense`] layer).
    OutputsByInputs,
    /// `inputs × outputs`, row-major (a [`TiedDense`] layer reading its
    /// source's weights transposed).
    InputsByOutputs,
    /// int8 only (a `DenseI8x4` layer, tag 14): rows interleaved four at a
    /// time, `G·4 × B·4` bytes with `G = ⌈outputs/4⌉` row groups and
    /// `B = ⌈inputs/4⌉` input blocks; `w[o, i]` is at byte
    /// `((o/4)·B + i/4)·16 + (o%4)·4 + i%4`, padding rows and inputs 0.
    Interleaved4,
}

/// A dense computation with every reference resolved and every length
/// checked: `weights` holds exactly `inputs * outputs` values and `bias`
/// exactly `outputs`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DenseOp<'a> {
    /// Input width.
    pub inputs: usize,
    /// Output width.
    pub outputs: usize,
    /// Fused activation.
    pub activation: Activation,
    /// Weight layout.
    pub layout: WeightLayout,
    /// `inputs * outputs` values in `layout`.
    pub weights: F32s<'a>,
    /// `outputs` values.
    pub bias: F32s<'a>,
}

/// One step a runtime executes, produced by [`crate::Model::load`] from the
/// stored layers. Its shapes are checked, so a runtime may rely on them.
/// Deliberately exhaustive: a new op must break every runtime's `match`
/// until the runtime implements it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op<'a> {
    /// Dense or tied dense, f32.
    Dense(DenseOp<'a>),
    /// Dense or tied dense, int8.
    DenseI8(DenseI8Op<'a>),
    /// Convolution, f32.
    Conv(ConvOp<'a>),
    /// Transposed convolution, f32.
    ConvTranspose(ConvOp<'a>),
    /// Pooling, f32.
    Pool(PoolOp),
    /// Upsampling, f32.
    Upsample(UpsampleOp),
    /// Convolution, int8.
    ConvI8(ConvI8Op<'a>),
    /// Transposed convolution, int8.
    ConvTransposeI8(ConvI8Op<'a>),
    /// Pooling, int8.
    PoolI8(PoolI8Op),
    /// Upsampling, int8.
    UpsampleI8(UpsampleI8Op),
    /// LSTM or GRU, f32.
    Recurrent(RecurrentOp<'a>),
    /// LSTM or GRU, int8.
    RecurrentI8(RecurrentI8Op<'a>),
}

impl Op<'_> {
    /// Input width (`h·w·c` of a map).
    pub const fn inputs(&self) -> usize {
        match self {
            Op::Dense(d) => d.inputs,
            Op::DenseI8(d) => d.inputs,
            Op::Conv(c) | Op::ConvTranspose(c) => c.geometry.input.len(),
            Op::ConvI8(c) | Op::ConvTransposeI8(c) => c.geometry.input.len(),
            Op::Pool(p) => p.input.len(),
            Op::PoolI8(p) => p.pool.input.len(),
            Op::Upsample(u) => u.input.len(),
            Op::UpsampleI8(u) => u.upsample.input.len(),
            Op::Recurrent(r) => r.input.len(),
            Op::RecurrentI8(r) => r.input.len(),
        }
    }

    /// Output width (`h·w·c` of a map).
    pub const fn outputs(&self) -> usize {
        match self {
            Op::Dense(d) => d.outputs,
            Op::DenseI8(d) => d.outputs,
            Op::Conv(c) | Op::ConvTranspose(c) => c.geometry.output.len(),
            Op::ConvI8(c) | Op::ConvTransposeI8(c) => c.geometry.output.len(),
            Op::Pool(p) => p.output.len(),
            Op::PoolI8(p) => p.pool.output.len(),
            Op::Upsample(u) => u.output.len(),
            Op::UpsampleI8(u) => u.upsample.output.len(),
            Op::Recurrent(r) => r.output.len(),
            Op::RecurrentI8(r) => r.output.len(),
        }
    }

    /// Multiply-accumulates with weights per inference: `inputs·outputs`
    /// for a dense op; `kh·kw·c_in` per output value for a convolution
    /// (padded positions included); `kh·kw·filters` per input value for a
    /// transposed convolution; `G·hidden·(in + hidden)` per step for a
    /// recurrent layer; 0 for pooling and upsampling.
    pub const fn macs(&self) -> usize {
        match self {
            Op::Dense(d) => d.inputs.saturating_mul(d.outputs),
            Op::DenseI8(d) => d.inputs.saturating_mul(d.outputs),
            Op::Conv(c) => conv_macs(&c.geometry),
            Op::ConvI8(c) => conv_macs(&c.geometry),
            Op::ConvTranspose(c) => conv_transpose_macs(&c.geometry),
            Op::ConvTransposeI8(c) => conv_transpose_macs(&c.geometry),
            Op::Recurrent(r) => r.macs(),
            Op::RecurrentI8(r) => r.macs(),
            Op::Pool(_) | Op::PoolI8(_) | Op::Upsample(_) | Op::UpsampleI8(_) => 0,
        }
    }

    /// True for int8 ops.
    pub const fn is_int8(&self) -> bool {
        matches!(
            self,
            Op::DenseI8(_)
                | Op::ConvI8(_)
                | Op::ConvTransposeI8(_)
                | Op::PoolI8(_)
                | Op::UpsampleI8(_)
                | Op::RecurrentI8(_)
        )
    }

    /// The input quantization of an int8 op.
    pub const fn input_quant(&self) -> Option<crate::Quant> {
        match self {
            Op::Dense(_)
            | Op::Conv(_)
            | Op::ConvTranspose(_)
            | Op::Pool(_)
            | Op::Upsample(_)
            | Op::Recurrent(_) => None,
            Op::DenseI8(d) => Some(d.input),
            Op::ConvI8(c) | Op::ConvTransposeI8(c) => Some(c.input),
            Op::PoolI8(p) => Some(p.quant),
            Op::UpsampleI8(u) => Some(u.quant),
            Op::RecurrentI8(r) => Some(r.input_quant),
        }
    }

    /// The output quantization of an int8 op.
    pub const fn output_quant(&self) -> Option<crate::Quant> {
        match self {
            Op::Dense(_)
            | Op::Conv(_)
            | Op::ConvTranspose(_)
            | Op::Pool(_)
            | Op::Upsample(_)
            | Op::Recurrent(_) => None,
            Op::DenseI8(d) => Some(d.output),
            Op::ConvI8(c) | Op::ConvTransposeI8(c) => Some(c.output),
            Op::PoolI8(p) => Some(p.quant),
            Op::UpsampleI8(u) => Some(u.quant),
            Op::RecurrentI8(r) => Some(r.output_quant),
        }
    }
}

const fn conv_macs(g: &crate::ConvGeometry) -> usize {
    g.output.len().saturating_mul(g.patch())
}

const fn conv_transpose_macs(g: &crate::ConvGeometry) -> usize {
    g.input
        .len()
        .saturating_mul(g.output.c)
        .saturating_mul(g.kernel[0])
        .saturating_mul(g.kernel[1])
}
