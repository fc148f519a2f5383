#![doc = include_str!("../README.md")]
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

#[cfg(feature = "alloc")]
extern crate alloc;

#[cfg(feature = "alloc")]
pub mod build;
mod conv;
mod error;
mod header;
mod layer;
mod map;
mod model;
pub mod protocol;
mod quant;
mod recurrent;
mod recurrent_i8;
mod spec;
mod tensor;
mod validate;
#[cfg(feature = "alloc")]
mod write;

pub use conv::{
    Conv, ConvI8, ConvI8Op, ConvOp, ConvTranspose, ConvTransposeI8, Pool, PoolI8, PoolI8Op, PoolOp,
    Upsample, UpsampleI8, UpsampleI8Op, UpsampleOp,
};
pub use error::{Field, FormatError, Section};
pub use header::{FORMAT_VERSION, HEADER_LEN, Header, MAGIC, MIN_FORMAT_VERSION, crc32};
pub use layer::{Activation, Dense, DenseOp, Layer, MAX_LAYERS, Op, TiedDense, WeightLayout};
pub use map::{ConvGeometry, MapDims, MapShape, Padding, PoolKind, conv_axis, conv_transpose_axis};
pub use model::Model;
pub use quant::{DenseI8, DenseI8Op, I8s, I32s, Lut, Nibbles, Quant, Requant, TiedDenseI8};
pub use recurrent::{Cell, Recurrent, RecurrentOp};
pub use recurrent_i8::{
    GRU_STATE_SHIFT, MAX_STATE_SHIFT, MIN_STATE_SHIFT, RecurrentI8, RecurrentI8Op,
};
/// Most classes a [`ModelKind::Classifier`] may have (its last layer's width).
pub const MAX_CLASSES: usize = 64;

pub use spec::{
    Calibration, InputSpec, Layers, Metric, ModelKind, ModelSpec, Provenance, ScoringSpec,
};
pub use tensor::{ALIGNED_I8X4_VERSION, ALIGNED_VERSION, F32s};
