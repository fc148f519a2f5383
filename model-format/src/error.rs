//! The one error type of this crate.
//!
//! Every way a byte string can fail to be a model has its own variant, so a
//! caller (or a board answering with an error code) can tell a truncated
//! upload from a corrupted one, a newer file from a foreign one, and a file
//! whose layers do not chain from one whose tied layer points nowhere.

use core::fmt;

/// The part of the body that could not be decoded, see [`FormatError::Malformed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Section {
    /// The autoencoder kind tag.
    Kind,
    /// The input spec (channels, window, hop, normalization).
    Input,
    /// The layer list.
    Layers,
    /// The index of the codings layer.
    Codings,
    /// The scoring spec.
    Scoring,
    /// The provenance record.
    Provenance,
}

impl Section {
    /// The name used in messages and in SPEC.md.
    pub const fn name(self) -> &'static str {
        match self {
            Section::Kind => "kind",
            Section::Input => "input",
            Section::Layers => "layers",
            Section::Codings => "codings_layer",
            Section::Scoring => "scoring",
            Section::Provenance => "provenance",
        }
    }
}

/// A field of the model that a validation rule is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Field {
    /// `input.channels`.
    Channels,
    /// `input.window`.
    Window,
    /// `input.hop`.
    Hop,
    /// `input.mean` (one f32 per channel).
    Mean,
    /// `input.scale` (one f32 per channel).
    Scale,
    /// A layer's input width.
    Inputs,
    /// A layer's output width.
    Outputs,
    /// A layer's weights.
    Weights,
    /// A layer's bias.
    Bias,
    /// The weights of a weighted error metric: one per channel for
    /// weighted MSE, one per window value for standardized.
    MetricWeights,
    /// `scoring.threshold`.
    Threshold,
    /// `scoring.clear_threshold`.
    ClearThreshold,
    /// `scoring.smoothing`.
    Smoothing,
    /// `scoring.calibration`.
    Calibration,
    /// An int8 layer's input quantization.
    InputQuant,
    /// An int8 layer's output quantization.
    OutputQuant,
    /// An int8 layer's weight scale.
    WeightScale,
    /// An int8 layer's requantization multiplier and shift.
    Requant,
    /// An int8 layer's per-channel weight exponents.
    Exponents,
    /// An int8 layer's activation lookup table.
    Lut,
    /// The autoencoder kind.
    Kind,
    /// `scoring.metric`, the error metric.
    Metric,
    /// A feature-map layer's input map (`shape`).
    Shape,
    /// A convolution's number of filters (output channels).
    Filters,
    /// A convolution's kernel.
    Kernel,
    /// A convolution's stride.
    Stride,
    /// A pooling's window size.
    Size,
    /// An upsampling's factor.
    Factor,
    /// The quantization of an int8 pooling or upsampling (in and out).
    Quant,
    /// A recurrent layer's number of hidden units.
    Hidden,
    /// A recurrent layer's input weights `w_ih`.
    InputWeights,
    /// A recurrent layer's recurrent weights `w_hh`.
    RecurrentWeights,
    /// A recurrent layer's input bias `b_ih`.
    InputBias,
    /// A recurrent layer's recurrent bias `b_hh`.
    RecurrentBias,
    /// An int8 recurrent layer's input-part multipliers `gates_ih`.
    InputRequant,
    /// An int8 recurrent layer's recurrent-part multipliers `gates_hh`.
    RecurrentRequant,
    /// An int8 recurrent layer's `hidden_requant`.
    HiddenRequant,
    /// An int8 recurrent layer's state exponent `state_shift`.
    StateShift,
    /// An int8 recurrent layer's row exponents of `w_ih`.
    InputExponents,
    /// An int8 recurrent layer's row exponents of `w_hh`.
    RecurrentExponents,
}

impl Field {
    /// The name used in messages and in SPEC.md.
    pub const fn name(self) -> &'static str {
        match self {
            Field::Channels => "input.channels",
            Field::Window => "input.window",
            Field::Hop => "input.hop",
            Field::Mean => "input.mean",
            Field::Scale => "input.scale",
            Field::Inputs => "inputs",
            Field::Outputs => "outputs",
            Field::Weights => "weights",
            Field::Bias => "bias",
            Field::MetricWeights => "scoring.metric weights",
            Field::Threshold => "scoring.threshold",
            Field::ClearThreshold => "scoring.clear_threshold",
            Field::Smoothing => "scoring.smoothing",
            Field::Calibration => "scoring.calibration",
            Field::InputQuant => "input quantization",
            Field::OutputQuant => "output quantization",
            Field::WeightScale => "weight_scale",
            Field::Requant => "requant",
            Field::Exponents => "exponents",
            Field::Lut => "lut",
            Field::Kind => "kind",
            Field::Metric => "scoring.metric",
            Field::Shape => "shape",
            Field::Filters => "filters",
            Field::Kernel => "kernel",
            Field::Stride => "stride",
            Field::Size => "size",
            Field::Factor => "factor",
            Field::Quant => "quant",
            Field::Hidden => "hidden",
            Field::InputWeights => "w_ih",
            Field::RecurrentWeights => "w_hh",
            Field::InputBias => "b_ih",
            Field::RecurrentBias => "b_hh",
            Field::InputRequant => "gates_ih",
            Field::RecurrentRequant => "gates_hh",
            Field::HiddenRequant => "hidden_requant",
            Field::StateShift => "state_shift",
            Field::InputExponents => "exponents_ih",
            Field::RecurrentExponents => "exponents_hh",
        }
    }
}

/// Why a byte string is not a valid model. Returned by [`crate::Model::load`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum FormatError {
    /// The bytes end before the header or the body that the header announces.
    Truncated {
        /// Bytes a complete file needs.
        needed: u32,
        /// Bytes present.
        available: u32,
    },
    /// The first four bytes are not the magic `EAEM`.
    BadMagic {
        /// The four bytes found, as a little-endian u32.
        found: u32,
    },
    /// The header's format version is not one this reader understands.
    UnsupportedVersion {
        /// Version in the file.
        found: u16,
        /// The version this reader understands ([`crate::FORMAT_VERSION`]).
        supported: u16,
    },
    /// The header's reserved field (byte 6..8) is not zero.
    ReservedNotZero {
        /// The value found.
        found: u16,
    },
    /// There are bytes after the body (a strict [`crate::Model::load`] only).
    TrailingBytes {
        /// Length of the file according to its header.
        expected: u32,
        /// Length of the byte string given.
        found: u32,
    },
    /// The CRC-32 of the body does not match the header: the file is corrupt.
    ChecksumMismatch {
        /// The CRC stored in the header.
        stored: u32,
        /// The CRC computed over the body.
        computed: u32,
    },
    /// The body passed its checksum but does not decode as this version's layout.
    Malformed {
        /// The part that failed to decode.
        section: Section,
        /// Byte offset in the file where that part starts.
        offset: u32,
    },
    /// Bytes are left in the body after the last field.
    UnusedBodyBytes {
        /// Byte offset in the file of the first unused byte.
        offset: u32,
    },
    /// An f32 tensor's byte string is not a whole number of values in a
    /// file older than format version 8 (which has no padding).
    RaggedTensor {
        /// Byte offset in the file of the byte string's contents.
        offset: u32,
        /// Its length in bytes.
        len: u32,
    },
    /// From format version 8, an f32 tensor's values (from version 9, a
    /// tag-14 layer's weights) do not start at a multiple of 4 bytes from
    /// the file start.
    UnalignedTensor {
        /// Byte offset in the file of the first value.
        offset: u32,
    },
    /// From format version 8, a padding byte before an f32 tensor's
    /// values (from version 9, before a tag-14 layer's weights) is not
    /// zero.
    NonzeroPadding {
        /// Byte offset in the file of the padding byte.
        offset: u32,
    },
    /// A size that must be at least 1 is 0.
    ZeroSize {
        /// What is zero.
        field: Field,
        /// The layer it belongs to, if any.
        layer: Option<u16>,
    },
    /// A size is too large to be addressed on a 32-bit target.
    TooLarge {
        /// What is too large.
        field: Field,
        /// The layer it belongs to, if any.
        layer: Option<u16>,
    },
    /// A byte slice has a length that does not match the shapes.
    LengthMismatch {
        /// The slice.
        field: Field,
        /// The layer it belongs to, if any.
        layer: Option<u16>,
        /// Bytes expected from the shapes.
        expected: u32,
        /// Bytes present.
        found: u32,
    },
    /// An owned list (see `build`, feature `alloc`) holds a number of values
    /// that does not match the shapes; the file would not be encoded.
    CountMismatch {
        /// The list.
        field: Field,
        /// The layer it belongs to, if any.
        layer: Option<u16>,
        /// Values expected from the shapes.
        expected: u32,
        /// Values present.
        found: u32,
    },
    /// A value that must be finite (or in range) is not.
    BadValue {
        /// The field holding it.
        field: Field,
        /// The layer it belongs to, if any.
        layer: Option<u16>,
    },
    /// The model has no layers.
    NoLayers,
    /// The model has more layers than [`crate::MAX_LAYERS`].
    TooManyLayers {
        /// Number of layers.
        found: u32,
        /// The limit.
        max: u32,
    },
    /// A layer's input width is not the previous layer's output width
    /// (for layer 0: `channels * window`).
    ShapeMismatch {
        /// The layer.
        layer: u16,
        /// Width the previous layer produces.
        expected: u32,
        /// Width this layer takes.
        found: u32,
    },
    /// The last layer's output width is not the model's input width.
    OutputMismatch {
        /// The input width (`channels * window`).
        expected: u32,
        /// The last layer's output width.
        found: u32,
    },
    /// A classifier's last layer outputs fewer than 2 or more than
    /// [`crate::MAX_CLASSES`] logits.
    BadClassCount {
        /// The last layer's output width.
        found: u32,
    },
    /// A tied layer refers to a layer that does not exist, is not earlier,
    /// or is not a dense layer.
    BadTiedReference {
        /// The tied layer.
        layer: u16,
        /// The index it refers to.
        source: u16,
    },
    /// The codings layer index does not leave at least one encoder and one
    /// decoder layer.
    BadCodingsLayer {
        /// The index in the file.
        index: u16,
        /// Number of layers.
        layers: u16,
    },
    /// An int8 layer follows an int8 layer whose output quantization is not
    /// its input quantization.
    QuantMismatch {
        /// The later layer.
        layer: u16,
    },
    /// A window that must lie inside the input map does not fit along
    /// one axis: a convolution's kernel with `Valid` padding, or a pooling
    /// window.
    WindowTooLarge {
        /// The layer.
        layer: u16,
        /// [`Field::Kernel`] or [`Field::Size`].
        field: Field,
        /// The window's size along that axis.
        window: u32,
        /// The input map's size along that axis.
        input: u32,
    },
    /// A recurrent layer's input map is not a sequence: it has more than
    /// one row (a sequence is `1 × T × in`, time along the columns).
    NotASequence {
        /// The layer.
        layer: u16,
        /// The rows of its `shape` (`shape.h`).
        rows: u32,
    },
    /// A layer type that the file's format version does not have.
    LayerNeedsVersion {
        /// The layer.
        layer: u16,
        /// The first version with this layer type.
        needs: u16,
        /// The file's version.
        version: u16,
    },
    /// A kind or metric that the file's format version does not have (the
    /// tag decodes, but an older reader would not know it).
    TagNeedsVersion {
        /// Where the tag is: [`Field::Kind`] or [`Field::Metric`].
        field: Field,
        /// The tag's name, as `ModelKind::name` or `Metric::name` spells it.
        name: &'static str,
        /// The first version with this tag.
        needs: u16,
        /// The file's version.
        version: u16,
    },
}

fn layer_prefix(f: &mut fmt::Formatter<'_>, layer: Option<u16>) -> fmt::Result {
    match layer {
        Some(l) => write!(f, "layer {l}: "),
        None => Ok(()),
    }
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FormatError::Truncated { needed, available } => write!(
                f,
                "truncated: a complete model needs {needed} bytes, only {available} present"
            ),
            FormatError::BadMagic { found } => write!(
                f,
                "not an edgeae model: bytes 0..4 are {:02x?}, expected \"EAEM\"",
                found.to_le_bytes()
            ),
            FormatError::UnsupportedVersion { found, supported } => write!(
                f,
                "format version {found} is not supported (this build reads versions {} to {supported})",
                crate::MIN_FORMAT_VERSION
            ),
            FormatError::ReservedNotZero { found } => write!(
                f,
                "header bytes 6..8 are reserved and must be 0, found {found:#06x}"
            ),
            FormatError::TrailingBytes { expected, found } => write!(
                f,
                "{} unexpected bytes after the model: its header says {expected} bytes, got {found}",
                found.saturating_sub(expected)
            ),
            FormatError::ChecksumMismatch { stored, computed } => write!(
                f,
                "corrupt: body CRC-32 is {computed:#010x}, header says {stored:#010x}"
            ),
            FormatError::Malformed { section, offset } => write!(
                f,
                "malformed body: the {} section at byte {offset} does not decode",
                section.name()
            ),
            FormatError::UnusedBodyBytes { offset } => {
                write!(f, "malformed body: unused bytes from byte {offset} on")
            }
            FormatError::RaggedTensor { offset, len } => write!(
                f,
                "the f32 tensor at byte {offset} has {len} bytes, not a multiple of 4"
            ),
            FormatError::UnalignedTensor { offset } => write!(
                f,
                "the tensor values at byte {offset} do not start at a multiple of 4 bytes from the file start, as format versions 8 (f32 tensors) and 9 (tag-14 weights) require"
            ),
            FormatError::NonzeroPadding { offset } => {
                write!(
                    f,
                    "the padding byte at {offset} before a tensor's values is not 0"
                )
            }
            FormatError::ZeroSize { field, layer } => {
                layer_prefix(f, layer)?;
                write!(f, "{} must be at least 1, found 0", field.name())
            }
            FormatError::TooLarge { field, layer } => {
                layer_prefix(f, layer)?;
                write!(f, "{} is too large for a 32-bit target", field.name())
            }
            FormatError::LengthMismatch {
                field,
                layer,
                expected,
                found,
            } => {
                layer_prefix(f, layer)?;
                write!(
                    f,
                    "{} holds {found} bytes, the shapes need {expected}",
                    field.name()
                )
            }
            FormatError::CountMismatch {
                field,
                layer,
                expected,
                found,
            } => {
                layer_prefix(f, layer)?;
                write!(
                    f,
                    "{} holds {found} values, the shapes need {expected}",
                    field.name()
                )
            }
            FormatError::BadValue { field, layer } => {
                layer_prefix(f, layer)?;
                write!(
                    f,
                    "{} holds a value out of range (NaN, infinite or negative where not allowed)",
                    field.name()
                )
            }
            FormatError::NoLayers => write!(f, "the model has no layers"),
            FormatError::TooManyLayers { found, max } => {
                write!(
                    f,
                    "the model has {found} layers, at most {max} are supported"
                )
            }
            FormatError::ShapeMismatch {
                layer,
                expected,
                found,
            } => write!(
                f,
                "layer {layer} takes {found} inputs but receives {expected}"
            ),
            FormatError::OutputMismatch { expected, found } => write!(
                f,
                "the last layer outputs {found} values, a reconstruction needs {expected}"
            ),
            FormatError::BadClassCount { found } => write!(
                f,
                "the classifier's last layer outputs {found} logits; a classifier has 2 to {} classes",
                crate::MAX_CLASSES
            ),
            FormatError::BadTiedReference { layer, source } => write!(
                f,
                "layer {layer} is tied to layer {source}, which is not an earlier dense layer of the same precision (an int8 source must have one weight scale)"
            ),
            FormatError::BadCodingsLayer { index, layers } => write!(
                f,
                "codings layer {index} must leave an encoder and a decoder among {layers} layers"
            ),
            FormatError::QuantMismatch { layer } => write!(
                f,
                "layer {layer} is int8 and follows an int8 layer, but its input quantization is not that layer's output quantization"
            ),
            FormatError::WindowTooLarge {
                layer,
                field,
                window,
                input,
            } => write!(
                f,
                "layer {layer}: {} {window} does not fit in an input of {input} along one axis",
                field.name()
            ),
            FormatError::NotASequence { layer, rows } => write!(
                f,
                "layer {layer}: a recurrent layer reads a sequence, a 1 x T x c map, but its shape has {rows} rows"
            ),
            FormatError::LayerNeedsVersion {
                layer,
                needs,
                version,
            } => write!(
                f,
                "layer {layer} needs format version {needs}, the file says version {version}"
            ),
            FormatError::TagNeedsVersion {
                field,
                name,
                needs,
                version,
            } => write!(
                f,
                "{} {name} needs format version {needs}, the file says version {version}",
                field.name()
            ),
        }
    }
}

impl core::error::Error for FormatError {}
