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

mod error;
pub mod lis3dh;
mod source;

pub use error::{Error, StreamError};
pub use lis3dh::{ADDRESS_SA0_HIGH, ADDRESS_SA0_LOW, Config, DataRate, Lis3dh, Scale};
pub use source::{FrameSource, stream_samples};
