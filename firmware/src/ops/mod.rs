//! Kernels. Each takes slices whose lengths the caller derived from a
//! validated model; on shorter slices they compute less, never panic.

pub mod act16;
pub mod activation;
pub mod conv;
pub mod conv_i8;
pub mod dense;
mod dsp;
pub mod int8;
pub mod int8_x4;
#[cfg(edgeae_x86)]
mod int8_x86;
mod kernel_path;
pub mod math;
pub mod pool;
pub mod recurrent;
pub mod recurrent_i8;
pub mod upsample;

/// The x86-64 kernels' token, for the stream's input step.
#[cfg(edgeae_x86)]
pub(crate) use dsp::x86::Simd;
pub use kernel_path::{KernelPath, PathUnavailable, kernel_path, set_kernel_path};
