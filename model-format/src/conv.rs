//! Convolutional, pooling and upsampling layers (format version 4), f32
//! and int8, as stored in the file, and the resolved ops a runtime
//! executes. The shapes and the size arithmetic are in [`crate::map`];
//! SPEC.md section 3.3 ("Feature-map layers") gives the exact semantics.
//!
//! Weights are OHWI, `[filters][kh][kw][c_in]`, row-major: one row of
//! `kh·kw·c_in` values per filter (output channel), for the convolution and
//! for the transposed convolution alike (for the latter, `filters` are its
//! output channels and `c_in` = `shape.c` its input channels, as TFLite's
//! `TRANSPOSE_CONV`).

use serde::{Deserialize, Serialize};

use crate::map::{ConvGeometry, MapDims, MapShape, Padding, PoolKind};
use crate::{Activation, F32s, I8s, I32s, Lut, Nibbles, Quant, Requant};

/// A 2-D (or, with `shape.h = 1` and `kernel[0] = 1`, 1-D) convolution:
/// `y[oy, ox, f] = act(b[f] + Σ_{i,j,ch} w[f][i][j][ch] · x[oy·sh + i − top, ox·sw + j − left, ch])`,
/// reading 0 outside the input (tag 4).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Conv<'a> {
    /// Input map.
    pub shape: MapShape,
    /// Output channels.
    pub filters: u32,
    /// Kernel (rows, columns).
    pub kernel: [u32; 2],
    /// Stride (rows, columns).
    pub stride: [u32; 2],
    /// Padding.
    pub padding: Padding,
    /// Fused activation.
    pub activation: Activation,
    /// `filters·kh·kw·c` values, OHWI.
    #[serde(borrow)]
    pub weights: F32s<'a>,
    /// `filters` values.
    #[serde(borrow)]
    pub bias: F32s<'a>,
}

/// A transposed convolution (Keras `Conv2DTranspose`, no output padding):
/// the adjoint of the convolution from its output back to its input with
/// the same kernel, stride and padding, plus a bias per filter (tag 5).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ConvTranspose<'a> {
    /// Input map.
    pub shape: MapShape,
    /// Output channels.
    pub filters: u32,
    /// Kernel (rows, columns).
    pub kernel: [u32; 2],
    /// Stride (rows, columns): the upsampling factor.
    pub stride: [u32; 2],
    /// Padding.
    pub padding: Padding,
    /// Fused activation.
    pub activation: Activation,
    /// `filters·kh·kw·c` values, `[out][kh][kw][in]`.
    #[serde(borrow)]
    pub weights: F32s<'a>,
    /// `filters` values.
    #[serde(borrow)]
    pub bias: F32s<'a>,
}

/// Pooling over non-overlapping windows of `size` (stride = size, no
/// padding), each channel separately (tag 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    /// Input map.
    pub shape: MapShape,
    /// Window (rows, columns), also the stride.
    pub size: [u32; 2],
    /// Max or average.
    pub kind: PoolKind,
}

/// Nearest-neighbour upsampling: each value repeated over a
/// `factor[0] × factor[1]` block (tag 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upsample {
    /// Input map.
    pub shape: MapShape,
    /// Factor (rows, columns).
    pub factor: [u32; 2],
}

/// An int8 [`Conv`]: the numbers as in [`crate::DenseI8`], one weight row
/// (and exponent and bias) per filter (tag 8).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ConvI8<'a> {
    /// Input map.
    pub shape: MapShape,
    /// Output channels.
    pub filters: u32,
    /// Kernel (rows, columns).
    pub kernel: [u32; 2],
    /// Stride (rows, columns).
    pub stride: [u32; 2],
    /// Padding; padded positions read `input.zero_point` (real 0).
    pub padding: Padding,
    /// Fused activation: identity and ReLU by clamping, the others by `lut`.
    pub activation: Activation,
    /// Quantization of the input.
    pub input: Quant,
    /// Quantization of the output.
    pub output: Quant,
    /// Weight scale of a filter whose exponent is 0.
    pub weight_scale: f32,
    /// `input.scale · weight_scale / target.scale` (target: the LUT's
    /// input when there is a LUT, else `output`).
    pub requant: Requant,
    /// `filters·kh·kw·c` values in −127..=127, OHWI.
    #[serde(borrow)]
    pub weights: I8s<'a>,
    /// One exponent per filter (`ceil(filters / 2)` bytes).
    #[serde(borrow)]
    pub exponents: Nibbles<'a>,
    /// `filters` values, in units of `input.scale` times the filter's weight scale.
    #[serde(borrow)]
    pub bias: I32s<'a>,
    /// Present exactly for SELU, sigmoid and tanh.
    #[serde(borrow)]
    pub lut: Option<Lut<'a>>,
}

/// An int8 [`ConvTranspose`] (tag 9); fields as [`ConvI8`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ConvTransposeI8<'a> {
    /// Input map.
    pub shape: MapShape,
    /// Output channels.
    pub filters: u32,
    /// Kernel (rows, columns).
    pub kernel: [u32; 2],
    /// Stride (rows, columns).
    pub stride: [u32; 2],
    /// Padding.
    pub padding: Padding,
    /// Fused activation.
    pub activation: Activation,
    /// Quantization of the input.
    pub input: Quant,
    /// Quantization of the output.
    pub output: Quant,
    /// Weight scale of a filter whose exponent is 0.
    pub weight_scale: f32,
    /// `input.scale · weight_scale / target.scale`.
    pub requant: Requant,
    /// `filters·kh·kw·c` values in −127..=127, `[out][kh][kw][in]`.
    #[serde(borrow)]
    pub weights: I8s<'a>,
    /// One exponent per filter (`ceil(filters / 2)` bytes).
    #[serde(borrow)]
    pub exponents: Nibbles<'a>,
    /// `filters` values, in units of `input.scale` times the filter's weight scale.
    #[serde(borrow)]
    pub bias: I32s<'a>,
    /// Present exactly for SELU, sigmoid and tanh.
    #[serde(borrow)]
    pub lut: Option<Lut<'a>>,
}

/// An int8 [`Pool`]: the same quantization in and out (tag 10). Max
/// pooling is exact; average pooling rounds the mean of the stored int8
/// values half away from zero (SPEC.md).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PoolI8 {
    /// Input map.
    pub shape: MapShape,
    /// Window (rows, columns), also the stride.
    pub size: [u32; 2],
    /// Max or average.
    pub kind: PoolKind,
    /// Quantization of the input and the output.
    pub quant: Quant,
}

/// An int8 [`Upsample`]: the same quantization in and out (tag 11).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct UpsampleI8 {
    /// Input map.
    pub shape: MapShape,
    /// Factor (rows, columns).
    pub factor: [u32; 2],
    /// Quantization of the input and the output.
    pub quant: Quant,
}

/// A convolution or transposed convolution, f32, with its geometry
/// resolved and its lengths checked: `weights` holds exactly
/// `output.c · patch` values and `bias` exactly `output.c`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConvOp<'a> {
    /// Sizes, strides and padding.
    pub geometry: ConvGeometry,
    /// Fused activation.
    pub activation: Activation,
    /// OHWI weights, one row of [`ConvGeometry::patch`] values per filter.
    pub weights: F32s<'a>,
    /// One value per filter.
    pub bias: F32s<'a>,
}

/// A convolution or transposed convolution, int8, with its geometry
/// resolved and every length checked (as [`crate::DenseI8Op`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConvI8Op<'a> {
    /// Sizes, strides and padding.
    pub geometry: ConvGeometry,
    /// Fused activation.
    pub activation: Activation,
    /// Quantization of the input.
    pub input: Quant,
    /// Quantization of the output.
    pub output: Quant,
    /// Layer multiplier.
    pub requant: Requant,
    /// OHWI weights, one row of [`ConvGeometry::patch`] values per filter.
    pub weights: I8s<'a>,
    /// One exponent per filter.
    pub exponents: Nibbles<'a>,
    /// One value per filter.
    pub bias: I32s<'a>,
    /// Zero point added after requantization: the LUT input's, else the output's.
    pub target_zero_point: i8,
    /// Lowest value kept after requantization: the output zero point for
    /// ReLU, −128 otherwise.
    pub clamp_min: i8,
    /// 256 values for SELU, sigmoid and tanh; empty otherwise.
    pub table: I8s<'a>,
}

/// A pooling, resolved: `output` is `⌊h/ph⌋ × ⌊w/pw⌋ × c`, at least 1×1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolOp {
    /// Input map.
    pub input: MapDims,
    /// Output map.
    pub output: MapDims,
    /// Window (rows, columns), also the stride; each at least 1.
    pub size: [usize; 2],
    /// Max or average.
    pub kind: PoolKind,
}

/// An upsampling, resolved: `output` is `h·fh × w·fw × c`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpsampleOp {
    /// Input map.
    pub input: MapDims,
    /// Output map.
    pub output: MapDims,
    /// Factor (rows, columns); each at least 1.
    pub factor: [usize; 2],
}

/// An int8 pooling: [`PoolOp`] on int8 values of one quantization.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoolI8Op {
    /// The pooling.
    pub pool: PoolOp,
    /// Quantization of the input and the output.
    pub quant: Quant,
}

/// An int8 upsampling: [`UpsampleOp`] on int8 values of one quantization.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UpsampleI8Op {
    /// The upsampling.
    pub upsample: UpsampleOp,
    /// Quantization of the input and the output.
    pub quant: Quant,
}
