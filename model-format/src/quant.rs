//! int8 layers (format version 2): borrowed integer arrays, quantization
//! parameters, and the dense and tied dense layers whose weights, activations
//! and arithmetic are integers. SPEC.md section 3.3 gives the arithmetic.

use serde::{Deserialize, Serialize};

use crate::Activation;

/// A borrowed array of int8 values (two's complement), one byte each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct I8s<'a>(#[serde(borrow)] pub &'a [u8]);

impl<'a> I8s<'a> {
    /// Wraps the bytes.
    pub const fn new(bytes: &'a [u8]) -> Self {
        I8s(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// Number of values.
    pub const fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no values.
    pub const fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value at `index`, if there is one.
    pub fn get(&self, index: usize) -> Option<i8> {
        self.0.get(index).map(|b| *b as i8)
    }

    /// The values in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = i8> + Clone + 'a {
        self.0.iter().map(|b| *b as i8)
    }
}

/// A borrowed array of little-endian i32 values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct I32s<'a>(#[serde(borrow)] pub &'a [u8]);

impl<'a> I32s<'a> {
    /// Wraps little-endian bytes.
    pub const fn new(bytes: &'a [u8]) -> Self {
        I32s(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// Number of whole values.
    pub const fn len(&self) -> usize {
        self.0.len() / 4
    }

    /// True when there are no values.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = i32> + Clone + 'a {
        self.0
            .as_chunks::<4>()
            .0
            .iter()
            .map(|b| i32::from_le_bytes(*b))
    }

    /// The value at `index`, if there is one.
    pub fn get(&self, index: usize) -> Option<i32> {
        self.0
            .as_chunks::<4>()
            .0
            .get(index)
            .map(|b| i32::from_le_bytes(*b))
    }
}

/// Per-output-channel weight exponents, two 4-bit values per byte: channel
/// `o` is the low nibble of byte `o / 2` when `o` is even, the high nibble
/// when it is odd. Channel `o`'s weight scale is `weight_scale · 2^-e[o]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Nibbles<'a>(#[serde(borrow)] pub &'a [u8]);

impl<'a> Nibbles<'a> {
    /// No bytes: every exponent reads as 0 (a tied layer, one weight scale).
    pub const EMPTY: Nibbles<'static> = Nibbles(&[]);

    /// Wraps the bytes.
    pub const fn new(bytes: &'a [u8]) -> Self {
        Nibbles(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// Bytes needed for `count` nibbles.
    pub const fn bytes_for(count: usize) -> usize {
        count.div_ceil(2)
    }

    /// Exponent of channel `index` (0 past the end).
    pub fn get(&self, index: usize) -> u8 {
        let byte = self.0.get(index / 2).copied().unwrap_or(0);
        if index.is_multiple_of(2) {
            byte & 0x0f
        } else {
            byte >> 4
        }
    }

    /// True when every exponent is 0.
    pub fn all_zero(&self) -> bool {
        self.0.iter().all(|b| *b == 0)
    }
}

/// Affine quantization of a tensor: `real = scale · (q − zero_point)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Quant {
    /// Real value of one step, finite and > 0.
    pub scale: f32,
    /// The int8 value that stands for real 0.
    pub zero_point: i8,
}

impl Quant {
    /// Same scale bits and zero point (what chaining two int8 layers needs).
    pub fn same_as(&self, other: &Quant) -> bool {
        self.scale.to_bits() == other.scale.to_bits() && self.zero_point == other.zero_point
    }
}

/// A real multiplier `M = multiplier · 2^(shift − 31)` in TFLite's form:
/// `multiplier` in `[2^30, 2^31)` (or 0 for `M = 0`), `shift` in `[-31, 30]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Requant {
    /// Q31 mantissa.
    pub multiplier: i32,
    /// Power of two, positive to the left.
    pub shift: i8,
}

/// A 256-entry lookup table applied after requantization: `y = table[q + 128]`.
/// Carries SELU, sigmoid and tanh in int8 layers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Lut<'a> {
    /// Quantization of the table's input (the requantized pre-activation).
    pub input: Quant,
    /// 256 int8 outputs, in the layer's output quantization.
    #[serde(borrow)]
    pub table: I8s<'a>,
}

/// An int8 fully connected layer (tag 2).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DenseI8<'a> {
    /// Input width.
    pub inputs: u32,
    /// Output width.
    pub outputs: u32,
    /// Fused activation: identity and ReLU by clamping, the others by `lut`.
    pub activation: Activation,
    /// Quantization of the input.
    pub input: Quant,
    /// Quantization of the output.
    pub output: Quant,
    /// Weight scale of a channel whose exponent is 0.
    pub weight_scale: f32,
    /// `input.scale · weight_scale / target.scale`, target being the LUT's
    /// input when there is a LUT, else `output`.
    pub requant: Requant,
    /// `outputs × inputs` values in −127..=127, row-major.
    #[serde(borrow)]
    pub weights: I8s<'a>,
    /// Per-output-channel exponents (`ceil(outputs / 2)` bytes).
    #[serde(borrow)]
    pub exponents: Nibbles<'a>,
    /// `outputs` values, in units of `input.scale` times the channel's weight scale.
    #[serde(borrow)]
    pub bias: I32s<'a>,
    /// Present exactly for SELU, sigmoid and tanh.
    #[serde(borrow)]
    pub lut: Option<Lut<'a>>,
}

/// An int8 dense layer with the transposed weights of an earlier
/// [`DenseI8`] layer whose exponents are all 0 (tag 3).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TiedDenseI8<'a> {
    /// Index of the [`DenseI8`] layer whose weights are reused; must be earlier.
    pub source: u16,
    /// Fused activation.
    pub activation: Activation,
    /// Quantization of the input.
    pub input: Quant,
    /// Quantization of the output.
    pub output: Quant,
    /// `input.scale · source.weight_scale / target.scale`.
    pub requant: Requant,
    /// The source's `inputs` values.
    #[serde(borrow)]
    pub bias: I32s<'a>,
    /// Present exactly for SELU, sigmoid and tanh.
    #[serde(borrow)]
    pub lut: Option<Lut<'a>>,
}

/// An int8 dense computation with every reference resolved and every
/// length checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DenseI8Op<'a> {
    /// Input width.
    pub inputs: usize,
    /// Output width.
    pub outputs: usize,
    /// Fused activation.
    pub activation: Activation,
    /// Weight layout.
    pub layout: crate::WeightLayout,
    /// Quantization of the input.
    pub input: Quant,
    /// Quantization of the output.
    pub output: Quant,
    /// Layer multiplier.
    pub requant: Requant,
    /// `inputs * outputs` values in `layout`.
    pub weights: I8s<'a>,
    /// Per-output exponents ([`Nibbles::EMPTY`] for a tied layer).
    pub exponents: Nibbles<'a>,
    /// `outputs` values.
    pub bias: I32s<'a>,
    /// Zero point added after requantization: the LUT input's, else the output's.
    pub target_zero_point: i8,
    /// Lowest value kept after requantization: the output zero point for
    /// ReLU, −128 otherwise.
    pub clamp_min: i8,
    /// 256 values for SELU, sigmoid and tanh; empty otherwise.
    pub table: I8s<'a>,
}
