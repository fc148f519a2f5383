//! Kernels. Each takes slices whose lengths the caller derived from a
//! validated model; on shorter slices they compute less, never panic.

pub mod act16;
pub mod activation;
pub mod conv;
pub mod conv_i8;
pub mod dense;
mod dsp;
pub mod int8;
mod int8_x4;
pub mod math;
pub mod pool;
pub mod recurrent;
pub mod recurrent_i8;
pub mod upsample;
