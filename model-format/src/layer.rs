//! Layers as stored in the file, and the resolved form a runtime executes.
//!
//! The wire tag of each [`Layer`] variant is its position (postcard encodes
//! an enum as a varint of the variant index). Tags 0 and 1 are defined in
//! format version 1, tags 2 and 3 (int8) in version 2; SPEC.md reserves the
//! next tags for the convolutional, pooling, upsampling, LSTM, repeat and
//! time-distributed layers, which are appended (never inserted) when a later
//! format version adds them.

use serde::{Deserialize, Serialize};

use crate::F32s;
use crate::quant::{DenseI8, DenseI8Op, TiedDenseI8};

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
}

impl Layer<'_> {
    /// Lower-case name of the layer type.
    pub const fn type_name(&self) -> &'static str {
        match self {
            Layer::Dense(_) => "dense",
            Layer::TiedDense(_) => "tied_dense",
            Layer::DenseI8(_) => "dense_i8",
            Layer::TiedDenseI8(_) => "tied_dense_i8",
        }
    }

    /// The first format version that has this layer.
    pub const fn min_version(&self) -> u16 {
        match self {
            Layer::Dense(_) | Layer::TiedDense(_) => 1,
            Layer::DenseI8(_) | Layer::TiedDenseI8(_) => 2,
        }
    }

    /// True for the int8 layers.
    pub const fn is_int8(&self) -> bool {
        matches!(self, Layer::DenseI8(_) | Layer::TiedDenseI8(_))
    }

    /// The fused activation.
    pub const fn activation(&self) -> Activation {
        match self {
            Layer::Dense(d) => d.activation,
            Layer::TiedDense(t) => t.activation,
            Layer::DenseI8(d) => d.activation,
            Layer::TiedDenseI8(t) => t.activation,
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
}

impl Op<'_> {
    /// Input width.
    pub const fn inputs(&self) -> usize {
        match self {
            Op::Dense(d) => d.inputs,
            Op::DenseI8(d) => d.inputs,
        }
    }

    /// Output width.
    pub const fn outputs(&self) -> usize {
        match self {
            Op::Dense(d) => d.outputs,
            Op::DenseI8(d) => d.outputs,
        }
    }

    /// Multiply-accumulates per inference.
    pub const fn macs(&self) -> usize {
        match self {
            Op::Dense(d) => d.inputs.saturating_mul(d.outputs),
            Op::DenseI8(d) => d.inputs.saturating_mul(d.outputs),
        }
    }

    /// True for int8 ops.
    pub const fn is_int8(&self) -> bool {
        matches!(self, Op::DenseI8(_))
    }

    /// The input quantization of an int8 op.
    pub const fn input_quant(&self) -> Option<crate::Quant> {
        match self {
            Op::Dense(_) => None,
            Op::DenseI8(d) => Some(d.input),
        }
    }

    /// The output quantization of an int8 op.
    pub const fn output_quant(&self) -> Option<crate::Quant> {
        match self {
            Op::Dense(_) => None,
            Op::DenseI8(d) => Some(d.output),
        }
    }
}
