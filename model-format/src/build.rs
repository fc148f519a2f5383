//! Owned models (feature `alloc`): [`ModelBuf`] holds every value of a model
//! in `Vec`s, encodes itself through [`ModelSpec::encode`] (so it is
//! validated exactly like a file that is read), comes back from a loaded
//! [`Model`] with [`ModelBuf::from_model`], and reads from and writes to any
//! serde format: `edgeae pack` reads it from JSON.
//!
//! This is the one way a model file is built, by the trainer and by every
//! test: nothing else writes model bytes.
//!
//! ```
//! use model_format::build::{InputBuf, LayerBuf, ModelBuf};
//! use model_format::{Activation, Model};
//!
//! let model = ModelBuf {
//!     layers: vec![
//!         LayerBuf::Dense {
//!             inputs: 2,
//!             outputs: 1,
//!             activation: Activation::Tanh,
//!             weights: vec![0.5, -0.5],
//!             bias: vec![0.0],
//!         },
//!         LayerBuf::TiedDense { source: 0, activation: Activation::Identity, bias: vec![0.0; 2] },
//!     ],
//!     ..ModelBuf::new(InputBuf::identity(2, 1, 1))
//! };
//! let bytes = model.encode().unwrap();
//! assert_eq!(ModelBuf::from_model(&Model::load(&bytes).unwrap()), model);
//! ```

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::{
    Activation, Calibration, Cell, Conv, ConvI8, ConvTranspose, ConvTransposeI8, Dense, DenseI8,
    F32s, Field, FormatError, I8s, I32s, InputSpec, Layer, Layers, Lut, MAX_LAYERS, MapShape,
    Metric, Model, ModelKind, ModelSpec, Nibbles, Padding, Pool, PoolI8, PoolKind, Provenance,
    Quant, Recurrent, RecurrentI8, Requant, ScoringSpec, TiedDense, TiedDenseI8, Upsample,
    UpsampleI8,
};

/// Input description, owned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputBuf {
    /// Samples per frame.
    pub channels: u32,
    /// Frames per window.
    pub window: u32,
    /// Frames between window starts.
    pub hop: u32,
    /// Per-channel mean.
    pub mean: Vec<f32>,
    /// Per-channel scale (1 / std).
    pub scale: Vec<f32>,
}

impl InputBuf {
    /// No normalisation (mean 0, scale 1) for `channels` channels.
    pub fn identity(channels: u32, window: u32, hop: u32) -> InputBuf {
        InputBuf {
            channels,
            window,
            hop,
            mean: vec![0.0; channels as usize],
            scale: vec![1.0; channels as usize],
        }
    }

    /// Values per window.
    pub fn len(&self) -> usize {
        self.channels as usize * self.window as usize
    }

    /// True if a window holds no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A layer, owned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum LayerBuf {
    /// `y = act(W·x + b)`, `weights` row-major `outputs × inputs`.
    Dense {
        /// Input width.
        inputs: u32,
        /// Output width.
        outputs: u32,
        /// Activation.
        activation: Activation,
        /// Row-major weights.
        weights: Vec<f32>,
        /// Bias.
        bias: Vec<f32>,
    },
    /// `y = act(Wᵀ·x + b)` with `W` of the dense layer `source`.
    TiedDense {
        /// Index of an earlier dense layer.
        source: u16,
        /// Activation.
        activation: Activation,
        /// Bias, one per output.
        bias: Vec<f32>,
    },
    /// int8 `Dense` (format version 2, SPEC.md 3.3 "int8 layers"); with
    /// `interleaved`, stored with its weights interleaved four rows at a
    /// time (tag 14, format version 8).
    DenseI8 {
        /// Input width.
        inputs: u32,
        /// Output width.
        outputs: u32,
        /// Activation (SELU, sigmoid and tanh through `lut`).
        activation: Activation,
        /// Quantization of the input.
        input: Quant,
        /// Quantization of the output.
        output: Quant,
        /// Weight scale of a channel whose exponent is 0.
        weight_scale: f32,
        /// `input.scale · weight_scale / target.scale` in fixed point.
        requant: Requant,
        /// Row-major `outputs × inputs` weights in −127..=127.
        weights: Vec<i8>,
        /// One exponent (0..=15) per output channel, packed two per byte
        /// when encoded: channel `o`'s weight scale is `weight_scale · 2^−e[o]`.
        exponents: Vec<u8>,
        /// Bias, one per output, in units of `input.scale` times the channel's weight scale.
        bias: Vec<i32>,
        /// The activation table, exactly for SELU, sigmoid and tanh.
        lut: Option<LutBuf>,
        /// Store `weights` interleaved four rows at a time (a `DenseI8x4`
        /// layer, tag 14; they stay row-major here, the encoder
        /// interleaves them). What a tied layer reads must not be.
        interleaved: bool,
    },
    /// int8 `TiedDense`: the transposed weights of the `DenseI8` layer
    /// `source`, whose exponents must all be 0.
    TiedDenseI8 {
        /// Index of an earlier int8 dense layer.
        source: u16,
        /// Activation.
        activation: Activation,
        /// Quantization of the input.
        input: Quant,
        /// Quantization of the output.
        output: Quant,
        /// `input.scale · source.weight_scale / target.scale` in fixed point.
        requant: Requant,
        /// Bias, one per output, in units of `input.scale · source.weight_scale`.
        bias: Vec<i32>,
        /// The activation table, exactly for SELU, sigmoid and tanh.
        lut: Option<LutBuf>,
    },

    /// Convolution (format version 4, SPEC.md 3.3 "Feature-map layers"):
    /// `weights` OHWI `[filters][kh][kw][shape.c]`.
    Conv {
        /// Input map.
        shape: MapShape,
        /// Output channels.
        filters: u32,
        /// Kernel (rows, columns).
        kernel: [u32; 2],
        /// Stride (rows, columns).
        stride: [u32; 2],
        /// Padding.
        padding: Padding,
        /// Activation.
        activation: Activation,
        /// `filters·kh·kw·c` weights, OHWI.
        weights: Vec<f32>,
        /// One bias per filter.
        bias: Vec<f32>,
    },
    /// Transposed convolution (format version 4): `weights`
    /// `[filters][kh][kw][shape.c]`, `filters` being its output channels.
    ConvTranspose {
        /// Input map.
        shape: MapShape,
        /// Output channels.
        filters: u32,
        /// Kernel (rows, columns).
        kernel: [u32; 2],
        /// Stride (rows, columns).
        stride: [u32; 2],
        /// Padding.
        padding: Padding,
        /// Activation.
        activation: Activation,
        /// `filters·kh·kw·c` weights, `[out][kh][kw][in]`.
        weights: Vec<f32>,
        /// One bias per filter.
        bias: Vec<f32>,
    },
    /// Pooling over windows of `size`, stride `size` (format version 4).
    Pool {
        /// Input map.
        shape: MapShape,
        /// Window (rows, columns).
        size: [u32; 2],
        /// Max or average.
        kind: PoolKind,
    },
    /// Nearest-neighbour upsampling (format version 4).
    Upsample {
        /// Input map.
        shape: MapShape,
        /// Factor (rows, columns).
        factor: [u32; 2],
    },
    /// int8 `Conv`: the numbers as in `DenseI8`, per filter.
    ConvI8 {
        /// Input map.
        shape: MapShape,
        /// Output channels.
        filters: u32,
        /// Kernel (rows, columns).
        kernel: [u32; 2],
        /// Stride (rows, columns).
        stride: [u32; 2],
        /// Padding (padded positions read the input zero point).
        padding: Padding,
        /// Activation (SELU, sigmoid and tanh through `lut`).
        activation: Activation,
        /// Quantization of the input.
        input: Quant,
        /// Quantization of the output.
        output: Quant,
        /// Weight scale of a filter whose exponent is 0.
        weight_scale: f32,
        /// `input.scale · weight_scale / target.scale` in fixed point.
        requant: Requant,
        /// `filters·kh·kw·c` weights in −127..=127, OHWI.
        weights: Vec<i8>,
        /// One exponent (0..=15) per filter, packed two per byte when encoded.
        exponents: Vec<u8>,
        /// One bias per filter, in units of `input.scale` times the filter's weight scale.
        bias: Vec<i32>,
        /// The activation table, exactly for SELU, sigmoid and tanh.
        lut: Option<LutBuf>,
    },
    /// int8 `ConvTranspose`: the numbers as in `DenseI8`, per filter.
    ConvTransposeI8 {
        /// Input map.
        shape: MapShape,
        /// Output channels.
        filters: u32,
        /// Kernel (rows, columns).
        kernel: [u32; 2],
        /// Stride (rows, columns).
        stride: [u32; 2],
        /// Padding.
        padding: Padding,
        /// Activation (SELU, sigmoid and tanh through `lut`).
        activation: Activation,
        /// Quantization of the input.
        input: Quant,
        /// Quantization of the output.
        output: Quant,
        /// Weight scale of a filter whose exponent is 0.
        weight_scale: f32,
        /// `input.scale · weight_scale / target.scale` in fixed point.
        requant: Requant,
        /// `filters·kh·kw·c` weights in −127..=127, `[out][kh][kw][in]`.
        weights: Vec<i8>,
        /// One exponent (0..=15) per filter, packed two per byte when encoded.
        exponents: Vec<u8>,
        /// One bias per filter, in units of `input.scale` times the filter's weight scale.
        bias: Vec<i32>,
        /// The activation table, exactly for SELU, sigmoid and tanh.
        lut: Option<LutBuf>,
    },
    /// int8 `Pool`, one quantization in and out.
    PoolI8 {
        /// Input map.
        shape: MapShape,
        /// Window (rows, columns).
        size: [u32; 2],
        /// Max or average.
        kind: PoolKind,
        /// Quantization of the input and the output.
        quant: Quant,
    },
    /// int8 `Upsample`, one quantization in and out.
    UpsampleI8 {
        /// Input map.
        shape: MapShape,
        /// Factor (rows, columns).
        factor: [u32; 2],
        /// Quantization of the input and the output.
        quant: Quant,
    },
    /// LSTM or GRU over the sequence `shape`, `1 × T × in` (format version
    /// 5, SPEC.md 3.3 "Recurrent layers"); `G` = [`Cell::gates`].
    Recurrent {
        /// LSTM or GRU.
        cell: Cell,
        /// Input map, `1 × T × in`.
        shape: MapShape,
        /// Hidden units.
        hidden: u32,
        /// Every step's hidden state (`1 × T × hidden`) or the last one (`1 × 1 × hidden`).
        sequences: bool,
        /// `G·hidden × in` input weights, row-major (PyTorch's `weight_ih_l0`).
        w_ih: Vec<f32>,
        /// `G·hidden × hidden` recurrent weights, row-major (`weight_hh_l0`).
        w_hh: Vec<f32>,
        /// `G·hidden` input biases (an LSTM's holds `bias_ih_l0 + bias_hh_l0`).
        b_ih: Vec<f32>,
        /// `G·hidden` recurrent biases for the GRU, empty for the LSTM.
        b_hh: Vec<f32>,
    },
    /// int8 LSTM or GRU (format version 6, SPEC.md 3.3 "int8 recurrent
    /// layers"); the fields as [`RecurrentI8`]'s, the exponents one per row.
    RecurrentI8 {
        /// LSTM or GRU.
        cell: Cell,
        /// Input map, `1 × T × in`.
        shape: MapShape,
        /// Hidden units.
        hidden: u32,
        /// Every step's hidden state or the last one.
        sequences: bool,
        /// Quantization of `x`.
        input: Quant,
        /// Quantization of `h` and of the output.
        output: Quant,
        /// Scale exponent of the int16 state.
        state_shift: i8,
        /// Input part to Q3.12, per gate (a GRU's 4th `{0, 0}`).
        gates_ih: [Requant; 4],
        /// Recurrent part to Q3.12, per gate (a GRU's 4th `{0, 0}`).
        gates_hh: [Requant; 4],
        /// To `h`.
        hidden_requant: Requant,
        /// `G·hidden × in` weights, −127..=127.
        w_ih: Vec<i8>,
        /// `G·hidden` row exponents of `w_ih`, each 0..=15.
        exponents_ih: Vec<u8>,
        /// `G·hidden × hidden` weights, −127..=127.
        w_hh: Vec<i8>,
        /// `G·hidden` row exponents of `w_hh`, each 0..=15.
        exponents_hh: Vec<u8>,
        /// `G·hidden` input biases.
        b_ih: Vec<i32>,
        /// `G·hidden` recurrent biases (GRU), empty (LSTM).
        b_hh: Vec<i32>,
    },
}

impl LayerBuf {
    /// The fused activation (identity for pooling, upsampling and the
    /// recurrent layer).
    pub fn activation(&self) -> Activation {
        match self {
            LayerBuf::Dense { activation, .. }
            | LayerBuf::TiedDense { activation, .. }
            | LayerBuf::DenseI8 { activation, .. }
            | LayerBuf::TiedDenseI8 { activation, .. }
            | LayerBuf::Conv { activation, .. }
            | LayerBuf::ConvTranspose { activation, .. }
            | LayerBuf::ConvI8 { activation, .. }
            | LayerBuf::ConvTransposeI8 { activation, .. } => *activation,
            LayerBuf::Pool { .. }
            | LayerBuf::Upsample { .. }
            | LayerBuf::PoolI8 { .. }
            | LayerBuf::UpsampleI8 { .. }
            | LayerBuf::Recurrent { .. }
            | LayerBuf::RecurrentI8 { .. } => Activation::Identity,
        }
    }

    /// True for the int8 layers.
    pub fn is_int8(&self) -> bool {
        matches!(
            self,
            LayerBuf::DenseI8 { .. }
                | LayerBuf::TiedDenseI8 { .. }
                | LayerBuf::ConvI8 { .. }
                | LayerBuf::ConvTransposeI8 { .. }
                | LayerBuf::PoolI8 { .. }
                | LayerBuf::UpsampleI8 { .. }
                | LayerBuf::RecurrentI8 { .. }
        )
    }

    /// A `DenseI8` as the same layer stored with its weights interleaved
    /// (`interleaved` set: tag 14, format version 8); any other layer
    /// unchanged. Only for a layer that no tied layer reads.
    pub fn into_interleaved(mut self) -> LayerBuf {
        if let LayerBuf::DenseI8 { interleaved, .. } = &mut self {
            *interleaved = true;
        }
        self
    }

    /// The layer a tied layer reads its weights from.
    pub fn tied_source(&self) -> Option<u16> {
        match self {
            LayerBuf::TiedDense { source, .. } | LayerBuf::TiedDenseI8 { source, .. } => {
                Some(*source)
            }
            _ => None,
        }
    }
}

/// An int8 layer's activation table, owned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LutBuf {
    /// Quantization of the table's input (the requantized pre-activation).
    pub input: Quant,
    /// 256 outputs in the layer's output quantization; entry `i` is for the
    /// input `i − 128`.
    pub table: Vec<i8>,
}

/// Error metric, owned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MetricBuf {
    /// Mean squared error.
    #[default]
    Mse,
    /// Mean absolute error.
    Mae,
    /// Per-channel weighted MSE.
    WeightedMse(Vec<f32>),
    /// MSE with one weight per value of the window (SPEC.md, metric tag 3).
    Standardized(Vec<f32>),
}

/// Scoring, owned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoringBuf {
    /// Metric.
    #[serde(default)]
    pub metric: MetricBuf,
    /// Alarm threshold (`inf`: not calibrated). JSON has no infinity: omit it.
    #[serde(default = "infinity")]
    pub threshold: f32,
    /// Clear threshold (hysteresis), at most `threshold`.
    #[serde(default = "infinity")]
    pub clear_threshold: f32,
    /// EWMA weight of the newest score, (0, 1].
    #[serde(default = "one")]
    pub smoothing: f32,
    /// Calibration statistics.
    #[serde(default)]
    pub calibration: Option<Calibration>,
}

fn infinity() -> f32 {
    f32::INFINITY
}

fn one() -> f32 {
    1.0
}

impl Default for ScoringBuf {
    fn default() -> Self {
        ScoringBuf {
            metric: MetricBuf::Mse,
            threshold: f32::INFINITY,
            clear_threshold: f32::INFINITY,
            smoothing: 1.0,
            calibration: None,
        }
    }
}

/// Provenance, owned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProvenanceBuf {
    /// RNG seed.
    pub seed: u64,
    /// Epochs trained.
    pub epochs: u32,
    /// Final training loss.
    pub train_loss: Option<f32>,
    /// Final validation loss.
    pub val_loss: Option<f32>,
    /// FNV-1a 64 of the training data.
    pub data_hash: u64,
    /// Writer.
    pub tool: String,
}

impl Default for ProvenanceBuf {
    fn default() -> Self {
        ProvenanceBuf {
            seed: 0,
            epochs: 0,
            train_loss: None,
            val_loss: None,
            data_hash: 0,
            tool: TOOL.to_string(),
        }
    }
}

/// The writer recorded by default: `edgeae <version>`.
pub const TOOL: &str = concat!("edgeae ", env!("CARGO_PKG_VERSION"));

/// A whole model, owned: what the trainer builds and `edgeae pack` reads
/// from JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelBuf {
    /// Autoencoder kind.
    #[serde(default = "custom")]
    pub kind: ModelKind,
    /// Input.
    pub input: InputBuf,
    /// Layers.
    pub layers: Vec<LayerBuf>,
    /// Index of the last encoder layer.
    pub codings_layer: u16,
    /// Scoring.
    #[serde(default)]
    pub scoring: ScoringBuf,
    /// Provenance.
    #[serde(default)]
    pub provenance: ProvenanceBuf,
}

fn custom() -> ModelKind {
    ModelKind::Custom
}

/// The little-endian bytes of `values`: what an [`F32s`] borrows.
pub fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The little-endian bytes of `values`: what an [`I32s`] borrows.
pub fn i32_bytes(values: &[i32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The bytes of `values`: what an [`I8s`] borrows.
pub fn i8_bytes(values: &[i8]) -> Vec<u8> {
    values.iter().map(|v| v.to_le_bytes()[0]).collect()
}

/// The byte strings of one layer, owned while a spec borrows them.
#[derive(Default)]
struct LayerBytes {
    weights: Vec<u8>,
    bias: Vec<u8>,
    exponents: Vec<u8>,
    table: Vec<u8>,
    /// A recurrent layer's `w_hh` (its `w_ih` is `weights`).
    recurrent_weights: Vec<u8>,
    /// A recurrent layer's `b_hh` (its `b_ih` is `bias`).
    recurrent_bias: Vec<u8>,
    /// An int8 recurrent layer's `exponents_hh` (its `exponents_ih` is `exponents`).
    recurrent_exponents: Vec<u8>,
}

impl LayerBytes {
    fn of(index: u16, layer: &LayerBuf) -> Result<LayerBytes, FormatError> {
        let table =
            |lut: &Option<LutBuf>| lut.as_ref().map(|l| i8_bytes(&l.table)).unwrap_or_default();
        Ok(match layer {
            LayerBuf::Dense { weights, bias, .. } => LayerBytes {
                weights: f32_bytes(weights),
                bias: f32_bytes(bias),
                ..LayerBytes::default()
            },
            LayerBuf::TiedDense { bias, .. } => LayerBytes {
                bias: f32_bytes(bias),
                ..LayerBytes::default()
            },
            LayerBuf::DenseI8 {
                inputs,
                outputs,
                weights,
                exponents,
                bias,
                lut,
                interleaved,
                ..
            } => LayerBytes {
                weights: if *interleaved {
                    interleave4(index, *inputs, *outputs, weights)?
                } else {
                    i8_bytes(weights)
                },
                bias: i32_bytes(bias),
                exponents: pack_nibbles(index, *outputs, exponents)?,
                table: table(lut),
                ..LayerBytes::default()
            },
            LayerBuf::TiedDenseI8 { bias, lut, .. } => LayerBytes {
                bias: i32_bytes(bias),
                table: table(lut),
                ..LayerBytes::default()
            },
            LayerBuf::Conv { weights, bias, .. }
            | LayerBuf::ConvTranspose { weights, bias, .. } => LayerBytes {
                weights: f32_bytes(weights),
                bias: f32_bytes(bias),
                ..LayerBytes::default()
            },
            LayerBuf::ConvI8 {
                filters,
                weights,
                exponents,
                bias,
                lut,
                ..
            }
            | LayerBuf::ConvTransposeI8 {
                filters,
                weights,
                exponents,
                bias,
                lut,
                ..
            } => LayerBytes {
                weights: i8_bytes(weights),
                bias: i32_bytes(bias),
                exponents: pack_nibbles(index, *filters, exponents)?,
                table: table(lut),
                ..LayerBytes::default()
            },
            LayerBuf::Recurrent {
                w_ih,
                w_hh,
                b_ih,
                b_hh,
                ..
            } => LayerBytes {
                weights: f32_bytes(w_ih),
                bias: f32_bytes(b_ih),
                recurrent_weights: f32_bytes(w_hh),
                recurrent_bias: f32_bytes(b_hh),
                ..LayerBytes::default()
            },
            LayerBuf::RecurrentI8 {
                cell,
                hidden,
                w_ih,
                exponents_ih,
                w_hh,
                exponents_hh,
                b_ih,
                b_hh,
                ..
            } => {
                let rows = u32::try_from(cell.gates())
                    .unwrap_or(u32::MAX)
                    .saturating_mul(*hidden);
                LayerBytes {
                    weights: i8_bytes(w_ih),
                    bias: i32_bytes(b_ih),
                    exponents: pack_nibbles(index, rows, exponents_ih)?,
                    recurrent_weights: i8_bytes(w_hh),
                    recurrent_bias: i32_bytes(b_hh),
                    recurrent_exponents: pack_nibbles(index, rows, exponents_hh)?,
                    ..LayerBytes::default()
                }
            }
            LayerBuf::Pool { .. }
            | LayerBuf::Upsample { .. }
            | LayerBuf::PoolI8 { .. }
            | LayerBuf::UpsampleI8 { .. } => LayerBytes::default(),
        })
    }
}

/// One exponent per channel, packed two per byte (SPEC.md `Nibbles`).
fn pack_nibbles(layer: u16, outputs: u32, exponents: &[u8]) -> Result<Vec<u8>, FormatError> {
    let found = u32::try_from(exponents.len()).unwrap_or(u32::MAX);
    if found != outputs {
        return Err(FormatError::CountMismatch {
            field: Field::Exponents,
            layer: Some(layer),
            expected: outputs,
            found,
        });
    }
    if exponents.iter().any(|e| *e > 15) {
        return Err(FormatError::BadValue {
            field: Field::Exponents,
            layer: Some(layer),
        });
    }
    Ok(exponents
        .chunks(2)
        .map(|pair| match pair {
            [lo, hi] => lo | hi << 4,
            [lo] => *lo,
            _ => 0,
        })
        .collect())
}

/// One exponent per channel from packed nibbles.
/// Byte offset of `w[o, i]` in the interleaved order of tag 14 (SPEC.md
/// 3.3): `((o / 4)·B + i / 4)·16 + (o % 4)·4 + i % 4`, `B = ceil(inputs / 4)`.
fn interleaved_offset(inputs: usize, o: usize, i: usize) -> usize {
    ((o / 4) * inputs.div_ceil(4) + i / 4) * 16 + (o % 4) * 4 + i % 4
}

/// Row-major `outputs × inputs` weights in the interleaved order of tag 14,
/// padding 0.
fn interleave4(
    layer: u16,
    inputs: u32,
    outputs: u32,
    weights: &[i8],
) -> Result<Vec<u8>, FormatError> {
    let (n_in, n_out) = (inputs as usize, outputs as usize);
    let expected = inputs.saturating_mul(outputs);
    let found = u32::try_from(weights.len()).unwrap_or(u32::MAX);
    if found != expected {
        return Err(FormatError::CountMismatch {
            field: Field::Weights,
            layer: Some(layer),
            expected,
            found,
        });
    }
    let mut out = vec![0u8; n_out.div_ceil(4) * 4 * n_in.div_ceil(4) * 4];
    for (o, row) in weights.chunks_exact(n_in.max(1)).enumerate() {
        for (i, w) in row.iter().enumerate() {
            if let Some(d) = out.get_mut(interleaved_offset(n_in, o, i)) {
                *d = w.to_le_bytes()[0];
            }
        }
    }
    Ok(out)
}

/// The row-major weights of a tag-14 layer (a loaded model's, so the
/// lengths are checked).
fn deinterleave4(weights: I8s<'_>, inputs: u32, outputs: u32) -> Vec<i8> {
    let (n_in, n_out) = (inputs as usize, outputs as usize);
    (0..n_out * n_in)
        .map(|k| {
            weights
                .get(interleaved_offset(n_in, k / n_in, k % n_in))
                .unwrap_or(0)
        })
        .collect()
}

fn unpack_nibbles(n: Nibbles<'_>, outputs: u32) -> Vec<u8> {
    (0..outputs as usize).map(|o| n.get(o)).collect()
}

fn lut_def(lut: &Option<Lut<'_>>) -> Option<LutBuf> {
    lut.as_ref().map(|l| LutBuf {
        input: l.input,
        table: l.table.iter().collect(),
    })
}

impl ModelBuf {
    /// A model of kind [`ModelKind::Custom`] reading `input`, with no
    /// layers yet, codings after layer 0, uncalibrated scoring and the
    /// default provenance.
    pub fn new(input: InputBuf) -> ModelBuf {
        ModelBuf {
            kind: ModelKind::Custom,
            input,
            layers: Vec::new(),
            codings_layer: 0,
            scoring: ScoringBuf::default(),
            provenance: ProvenanceBuf::default(),
        }
    }

    /// Encodes the model file (validated by model-format before it is returned).
    pub fn encode(&self) -> Result<Vec<u8>, FormatError> {
        self.bytes()?.spec()?.encode()
    }

    /// The byte strings of the model, from which [`SpecBytes::spec`]
    /// borrows a [`ModelSpec`]: for writing files that [`Self::encode`]
    /// would refuse (tests of the validator) or encoding them another way.
    pub fn bytes(&self) -> Result<SpecBytes<'_>, FormatError> {
        Ok(SpecBytes {
            model: self,
            mean: f32_bytes(&self.input.mean),
            scale: f32_bytes(&self.input.scale),
            metric: match &self.scoring.metric {
                MetricBuf::WeightedMse(w) | MetricBuf::Standardized(w) => f32_bytes(w),
                MetricBuf::Mse | MetricBuf::Mae => Vec::new(),
            },
            layers: self
                .layers
                .iter()
                .zip(0u16..)
                .map(|(l, i)| LayerBytes::of(i, l))
                .collect::<Result<Vec<_>, _>>()?,
        })
    }
}

/// A [`ModelBuf`]'s values as the byte strings a [`ModelSpec`] borrows
/// ([`ModelBuf::bytes`]).
pub struct SpecBytes<'m> {
    model: &'m ModelBuf,
    mean: Vec<u8>,
    scale: Vec<u8>,
    metric: Vec<u8>,
    layers: Vec<LayerBytes>,
}

impl SpecBytes<'_> {
    /// The model as a spec, not validated: [`ModelSpec::encode`] validates.
    pub fn spec(&self) -> Result<ModelSpec<'_>, FormatError> {
        let m = self.model;
        let mut layers = Layers::new();
        for (def, t) in m.layers.iter().zip(&self.layers) {
            let lut = |lut: &Option<LutBuf>| {
                lut.as_ref().map(|l| Lut {
                    input: l.input,
                    table: I8s::new(&t.table),
                })
            };
            let layer = match def {
                LayerBuf::Dense {
                    inputs,
                    outputs,
                    activation,
                    ..
                } => Layer::Dense(Dense {
                    inputs: *inputs,
                    outputs: *outputs,
                    activation: *activation,
                    weights: F32s::new(&t.weights),
                    bias: F32s::new(&t.bias),
                }),
                LayerBuf::TiedDense {
                    source, activation, ..
                } => Layer::TiedDense(TiedDense {
                    source: *source,
                    activation: *activation,
                    bias: F32s::new(&t.bias),
                }),
                LayerBuf::DenseI8 {
                    inputs,
                    outputs,
                    activation,
                    input,
                    output,
                    weight_scale,
                    requant,
                    lut: l,
                    interleaved,
                    ..
                } => {
                    let d = DenseI8 {
                        inputs: *inputs,
                        outputs: *outputs,
                        activation: *activation,
                        input: *input,
                        output: *output,
                        weight_scale: *weight_scale,
                        requant: *requant,
                        weights: I8s::new(&t.weights),
                        exponents: Nibbles::new(&t.exponents),
                        bias: I32s::new(&t.bias),
                        lut: lut(l),
                    };
                    if *interleaved {
                        Layer::DenseI8x4(d)
                    } else {
                        Layer::DenseI8(d)
                    }
                }
                LayerBuf::TiedDenseI8 {
                    source,
                    activation,
                    input,
                    output,
                    requant,
                    lut: l,
                    ..
                } => Layer::TiedDenseI8(TiedDenseI8 {
                    source: *source,
                    activation: *activation,
                    input: *input,
                    output: *output,
                    requant: *requant,
                    bias: I32s::new(&t.bias),
                    lut: lut(l),
                }),
                LayerBuf::Conv {
                    shape,
                    filters,
                    kernel,
                    stride,
                    padding,
                    activation,
                    ..
                } => Layer::Conv(Conv {
                    shape: *shape,
                    filters: *filters,
                    kernel: *kernel,
                    stride: *stride,
                    padding: *padding,
                    activation: *activation,
                    weights: F32s::new(&t.weights),
                    bias: F32s::new(&t.bias),
                }),
                LayerBuf::ConvTranspose {
                    shape,
                    filters,
                    kernel,
                    stride,
                    padding,
                    activation,
                    ..
                } => Layer::ConvTranspose(ConvTranspose {
                    shape: *shape,
                    filters: *filters,
                    kernel: *kernel,
                    stride: *stride,
                    padding: *padding,
                    activation: *activation,
                    weights: F32s::new(&t.weights),
                    bias: F32s::new(&t.bias),
                }),
                LayerBuf::Pool { shape, size, kind } => Layer::Pool(Pool {
                    shape: *shape,
                    size: *size,
                    kind: *kind,
                }),
                LayerBuf::Upsample { shape, factor } => Layer::Upsample(Upsample {
                    shape: *shape,
                    factor: *factor,
                }),
                LayerBuf::ConvI8 {
                    shape,
                    filters,
                    kernel,
                    stride,
                    padding,
                    activation,
                    input,
                    output,
                    weight_scale,
                    requant,
                    lut: l,
                    ..
                } => Layer::ConvI8(ConvI8 {
                    shape: *shape,
                    filters: *filters,
                    kernel: *kernel,
                    stride: *stride,
                    padding: *padding,
                    activation: *activation,
                    input: *input,
                    output: *output,
                    weight_scale: *weight_scale,
                    requant: *requant,
                    weights: I8s::new(&t.weights),
                    exponents: Nibbles::new(&t.exponents),
                    bias: I32s::new(&t.bias),
                    lut: lut(l),
                }),
                LayerBuf::ConvTransposeI8 {
                    shape,
                    filters,
                    kernel,
                    stride,
                    padding,
                    activation,
                    input,
                    output,
                    weight_scale,
                    requant,
                    lut: l,
                    ..
                } => Layer::ConvTransposeI8(ConvTransposeI8 {
                    shape: *shape,
                    filters: *filters,
                    kernel: *kernel,
                    stride: *stride,
                    padding: *padding,
                    activation: *activation,
                    input: *input,
                    output: *output,
                    weight_scale: *weight_scale,
                    requant: *requant,
                    weights: I8s::new(&t.weights),
                    exponents: Nibbles::new(&t.exponents),
                    bias: I32s::new(&t.bias),
                    lut: lut(l),
                }),
                LayerBuf::PoolI8 {
                    shape,
                    size,
                    kind,
                    quant,
                } => Layer::PoolI8(PoolI8 {
                    shape: *shape,
                    size: *size,
                    kind: *kind,
                    quant: *quant,
                }),
                LayerBuf::UpsampleI8 {
                    shape,
                    factor,
                    quant,
                } => Layer::UpsampleI8(UpsampleI8 {
                    shape: *shape,
                    factor: *factor,
                    quant: *quant,
                }),
                LayerBuf::Recurrent {
                    cell,
                    shape,
                    hidden,
                    sequences,
                    ..
                } => Layer::Recurrent(Recurrent {
                    cell: *cell,
                    shape: *shape,
                    hidden: *hidden,
                    sequences: *sequences,
                    w_ih: F32s::new(&t.weights),
                    w_hh: F32s::new(&t.recurrent_weights),
                    b_ih: F32s::new(&t.bias),
                    b_hh: F32s::new(&t.recurrent_bias),
                }),
                LayerBuf::RecurrentI8 {
                    cell,
                    shape,
                    hidden,
                    sequences,
                    input,
                    output,
                    state_shift,
                    gates_ih,
                    gates_hh,
                    hidden_requant,
                    ..
                } => Layer::RecurrentI8(RecurrentI8 {
                    cell: *cell,
                    shape: *shape,
                    hidden: *hidden,
                    sequences: *sequences,
                    input: *input,
                    output: *output,
                    state_shift: *state_shift,
                    gates_ih: *gates_ih,
                    gates_hh: *gates_hh,
                    hidden_requant: *hidden_requant,
                    w_ih: I8s::new(&t.weights),
                    exponents_ih: Nibbles::new(&t.exponents),
                    w_hh: I8s::new(&t.recurrent_weights),
                    exponents_hh: Nibbles::new(&t.recurrent_exponents),
                    b_ih: I32s::new(&t.bias),
                    b_hh: I32s::new(&t.recurrent_bias),
                }),
            };
            if layers.push(layer).is_err() {
                return Err(FormatError::TooManyLayers {
                    found: u32::try_from(m.layers.len()).unwrap_or(u32::MAX),
                    max: MAX_LAYERS as u32,
                });
            }
        }
        Ok(ModelSpec {
            kind: m.kind,
            input: InputSpec {
                channels: m.input.channels,
                window: m.input.window,
                hop: m.input.hop,
                mean: F32s::new(&self.mean),
                scale: F32s::new(&self.scale),
            },
            layers,
            codings_layer: m.codings_layer,
            scoring: ScoringSpec {
                metric: match &m.scoring.metric {
                    MetricBuf::Mse => Metric::Mse,
                    MetricBuf::Mae => Metric::Mae,
                    MetricBuf::WeightedMse(_) => Metric::WeightedMse(F32s::new(&self.metric)),
                    MetricBuf::Standardized(_) => Metric::Standardized(F32s::new(&self.metric)),
                },
                threshold: m.scoring.threshold,
                clear_threshold: m.scoring.clear_threshold,
                smoothing: m.scoring.smoothing,
                calibration: m.scoring.calibration,
            },
            provenance: Provenance {
                seed: m.provenance.seed,
                epochs: m.provenance.epochs,
                train_loss: m.provenance.train_loss,
                val_loss: m.provenance.val_loss,
                data_hash: m.provenance.data_hash,
                tool: &m.provenance.tool,
            },
        })
    }
}

impl ModelBuf {
    /// The owned description of a loaded model, every layer copied as it is
    /// stored (f32 or int8).
    pub fn from_model(model: &Model<'_>) -> ModelBuf {
        let input = model.input();
        let scoring = model.scoring();
        let prov = model.provenance();
        let layers = model
            .layers()
            .iter()
            .map(|layer| match layer {
                Layer::Dense(d) => LayerBuf::Dense {
                    inputs: d.inputs,
                    outputs: d.outputs,
                    activation: d.activation,
                    weights: d.weights.iter().collect(),
                    bias: d.bias.iter().collect(),
                },
                Layer::TiedDense(t) => LayerBuf::TiedDense {
                    source: t.source,
                    activation: t.activation,
                    bias: t.bias.iter().collect(),
                },
                Layer::DenseI8(d) | Layer::DenseI8x4(d) => {
                    let interleaved = matches!(layer, Layer::DenseI8x4(_));
                    LayerBuf::DenseI8 {
                        inputs: d.inputs,
                        outputs: d.outputs,
                        activation: d.activation,
                        input: d.input,
                        output: d.output,
                        weight_scale: d.weight_scale,
                        requant: d.requant,
                        weights: if interleaved {
                            deinterleave4(d.weights, d.inputs, d.outputs)
                        } else {
                            d.weights.iter().collect()
                        },
                        exponents: unpack_nibbles(d.exponents, d.outputs),
                        bias: d.bias.iter().collect(),
                        lut: lut_def(&d.lut),
                        interleaved,
                    }
                }
                Layer::TiedDenseI8(t) => LayerBuf::TiedDenseI8 {
                    source: t.source,
                    activation: t.activation,
                    input: t.input,
                    output: t.output,
                    requant: t.requant,
                    bias: t.bias.iter().collect(),
                    lut: lut_def(&t.lut),
                },
                Layer::Conv(c) => LayerBuf::Conv {
                    shape: c.shape,
                    filters: c.filters,
                    kernel: c.kernel,
                    stride: c.stride,
                    padding: c.padding,
                    activation: c.activation,
                    weights: c.weights.iter().collect(),
                    bias: c.bias.iter().collect(),
                },
                Layer::ConvTranspose(c) => LayerBuf::ConvTranspose {
                    shape: c.shape,
                    filters: c.filters,
                    kernel: c.kernel,
                    stride: c.stride,
                    padding: c.padding,
                    activation: c.activation,
                    weights: c.weights.iter().collect(),
                    bias: c.bias.iter().collect(),
                },
                Layer::Pool(p) => LayerBuf::Pool {
                    shape: p.shape,
                    size: p.size,
                    kind: p.kind,
                },
                Layer::Upsample(u) => LayerBuf::Upsample {
                    shape: u.shape,
                    factor: u.factor,
                },
                Layer::ConvI8(c) => LayerBuf::ConvI8 {
                    shape: c.shape,
                    filters: c.filters,
                    kernel: c.kernel,
                    stride: c.stride,
                    padding: c.padding,
                    activation: c.activation,
                    input: c.input,
                    output: c.output,
                    weight_scale: c.weight_scale,
                    requant: c.requant,
                    weights: c.weights.iter().collect(),
                    exponents: unpack_nibbles(c.exponents, c.filters),
                    bias: c.bias.iter().collect(),
                    lut: lut_def(&c.lut),
                },
                Layer::ConvTransposeI8(c) => LayerBuf::ConvTransposeI8 {
                    shape: c.shape,
                    filters: c.filters,
                    kernel: c.kernel,
                    stride: c.stride,
                    padding: c.padding,
                    activation: c.activation,
                    input: c.input,
                    output: c.output,
                    weight_scale: c.weight_scale,
                    requant: c.requant,
                    weights: c.weights.iter().collect(),
                    exponents: unpack_nibbles(c.exponents, c.filters),
                    bias: c.bias.iter().collect(),
                    lut: lut_def(&c.lut),
                },
                Layer::PoolI8(p) => LayerBuf::PoolI8 {
                    shape: p.shape,
                    size: p.size,
                    kind: p.kind,
                    quant: p.quant,
                },
                Layer::UpsampleI8(u) => LayerBuf::UpsampleI8 {
                    shape: u.shape,
                    factor: u.factor,
                    quant: u.quant,
                },
                Layer::Recurrent(r) => LayerBuf::Recurrent {
                    cell: r.cell,
                    shape: r.shape,
                    hidden: r.hidden,
                    sequences: r.sequences,
                    w_ih: r.w_ih.iter().collect(),
                    w_hh: r.w_hh.iter().collect(),
                    b_ih: r.b_ih.iter().collect(),
                    b_hh: r.b_hh.iter().collect(),
                },
                Layer::RecurrentI8(r) => {
                    let rows = r.cell.gates().saturating_mul(r.hidden as usize);
                    LayerBuf::RecurrentI8 {
                        cell: r.cell,
                        shape: r.shape,
                        hidden: r.hidden,
                        sequences: r.sequences,
                        input: r.input,
                        output: r.output,
                        state_shift: r.state_shift,
                        gates_ih: r.gates_ih,
                        gates_hh: r.gates_hh,
                        hidden_requant: r.hidden_requant,
                        w_ih: r.w_ih.iter().collect(),
                        exponents_ih: (0..rows).map(|i| r.exponents_ih.get(i)).collect(),
                        w_hh: r.w_hh.iter().collect(),
                        exponents_hh: (0..rows).map(|i| r.exponents_hh.get(i)).collect(),
                        b_ih: r.b_ih.iter().collect(),
                        b_hh: r.b_hh.iter().collect(),
                    }
                }
            })
            .collect();
        ModelBuf {
            kind: model.kind(),
            input: InputBuf {
                channels: input.channels,
                window: input.window,
                hop: input.hop,
                mean: input.mean.iter().collect(),
                scale: input.scale.iter().collect(),
            },
            layers,
            codings_layer: u16::try_from(model.codings_layer()).unwrap_or(u16::MAX),
            scoring: ScoringBuf {
                metric: match scoring.metric {
                    Metric::Mse => MetricBuf::Mse,
                    Metric::Mae => MetricBuf::Mae,
                    Metric::WeightedMse(w) => MetricBuf::WeightedMse(w.iter().collect()),
                    Metric::Standardized(w) => MetricBuf::Standardized(w.iter().collect()),
                },
                threshold: scoring.threshold,
                clear_threshold: scoring.clear_threshold,
                smoothing: scoring.smoothing,
                calibration: scoring.calibration,
            },
            provenance: ProvenanceBuf {
                seed: prov.seed,
                epochs: prov.epochs,
                train_loss: prov.train_loss,
                val_loss: prov.val_loss,
                data_hash: prov.data_hash,
                tool: prov.tool.to_string(),
            },
        }
    }
}
