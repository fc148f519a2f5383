//! How much RAM a model needs at run time, and how the caller's scratch
//! buffer is divided.
//!
//! The engine keeps the input window (needed again to score the
//! reconstruction) and two ping-pong buffers: op 0, 2, 4, … write the
//! *even* buffer, op 1, 3, 5, … the *odd* one, each reading the other. Each
//! buffer is as wide as the widest output written into it, so a deep model
//! whose bottleneck sits between wide layers costs only its two widest
//! layers, not twice the widest.

use model_format::{Model, Op};

/// The division of a scratch buffer for one model, in f32 slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ScratchPlan {
    /// The input window.
    pub input: usize,
    /// Outputs of even-numbered ops.
    pub even: usize,
    /// Outputs of odd-numbered ops.
    pub odd: usize,
}

impl ScratchPlan {
    /// The plan for `model`.
    pub fn for_model(model: &Model<'_>) -> ScratchPlan {
        let widest = |parity: usize| {
            model
                .ops()
                .iter()
                .enumerate()
                .filter(|(i, _)| i % 2 == parity)
                .map(|(_, op)| Op::outputs(op))
                .max()
                .unwrap_or(0)
        };
        ScratchPlan {
            input: model.input_len(),
            even: widest(0),
            odd: widest(1),
        }
    }

    /// f32 slots in all (the length of the scratch slice to give the engine).
    pub const fn total(&self) -> usize {
        self.input + self.even + self.odd
    }

    /// Bytes of RAM in all.
    pub const fn bytes(&self) -> usize {
        self.total() * core::mem::size_of::<f32>()
    }
}
