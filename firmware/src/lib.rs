#![doc = include_str!("../README.md")]
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]
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

// The `std` feature: only the host kernels' CPU detection uses it.
#[cfg(all(feature = "std", not(test)))]
extern crate std;

// Declared first so its macros are visible in every module below.
mod fmt;

pub mod classify;
mod engine;
mod error;
pub mod ops;
pub mod scoring;
mod scratch;
pub mod serve;
pub mod stream;
pub mod streaming;

pub use classify::{Classification, classify};
pub use engine::Engine;
pub use error::ScratchTooSmall;
pub use model_format;
pub use model_format::{FormatError, Model};
pub use scoring::{Calibrator, Scorer, Thresholds};
pub use scratch::{ScratchPlan, int8_window};
pub use stream::{Event, Stream};
pub use streaming::StreamCosts;
