//! How much RAM a model needs at run time, and how the caller's scratch
//! buffer is divided.
//!
//! The engine keeps the input window (needed again to score the
//! reconstruction) and two ping-pong buffers: op 0, 2, 4, … write the
//! *even* buffer, op 1, 3, 5, … the *odd* one, each reading the other. Each
//! buffer is as wide as the widest output written into it, so a deep model
//! whose bottleneck sits between wide layers costs only its two widest
//! layers, not twice the widest.
//!
//! Sizes are in 4-byte words (the scratch is a slice of f32). An f32 op's
//! output takes one word per value; an int8 op's output takes a byte per
//! value, unless it is handed out as f32 (the codings, the reconstruction,
//! or the input of an f32 op), when it is dequantized in place and takes a
//! word per value. An int8 op packs its input as 16-bit values (see
//! `ops::int8`) in place in the buffer it reads (op 0 in the odd buffer),
//! so that buffer must also hold `packed_words(inputs)` words. An int8
//! feature-map op (convolution, pooling, upsampling) reads its input as
//! int8 bytes instead, quantized in place when it arrives as f32, so that
//! buffer must hold `inputs.div_ceil(4)` words; an int8 convolution also
//! builds the im2col columns of four output positions at a time,
//! `4 · packed_words(kh·kw·c_in)` words of its own (`column`,
//! `ops::conv_i8::column_words`). The f32 feature-map kernels need nothing more than
//! their input and output. A recurrent layer keeps its state between steps
//! (`state`, `ops::recurrent::state_words`): the LSTM's cell state, and the
//! previous hidden state when only the last one is output; it needs no
//! gate buffer. An int8 recurrent layer reads and writes int8 bytes as the
//! int8 feature-map layers do and keeps its int16 state and its packed
//! input and hidden state there (`ops::recurrent_i8::state_words`).
//!
//! **A stream's engine** ([`ScratchPlan::for_stream`]). A model scored in
//! int8 ([`int8_window`]: an autoencoder whose first and last layers are
//! int8) keeps no input window of its own in a [`crate::Stream`]: the
//! stream's ring holds the quantized window, copies it as int8 bytes into
//! the start of the buffer op 0 reads (where op 0 packs it in place, as it
//! packs any int8 input), and scores the reconstruction as the last op
//! leaves it, int8 bytes, against the ring (SPEC.md 3.5). So that plan has
//! no `input` words, and the last op's output takes a byte per value.

use model_format::{Model, Op, Quant};

use crate::ops::int8::packed_words;
use crate::ops::{conv_i8, recurrent, recurrent_i8};

/// The division of a scratch buffer for one model, in 4-byte words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ScratchPlan {
    /// The input window (f32; none in a stream's engine over a model
    /// scored in int8, whose ring holds the window).
    pub input: usize,
    /// Outputs of even-numbered ops.
    pub even: usize,
    /// Outputs of odd-numbered ops.
    pub odd: usize,
    /// The im2col column of the int8 convolutions (0 without them).
    pub column: usize,
    /// The state of the recurrent layers between steps (0 without them).
    pub state: usize,
}

/// The quantizations of the window and of the reconstruction when `model`
/// is scored in int8 (SPEC.md 3.5): an autoencoder (not a classifier)
/// whose first op takes int8 input and whose last op gives int8 output.
/// `None` for every other model, which is scored in f32.
pub fn int8_window(model: &Model<'_>) -> Option<(Quant, Quant)> {
    if model.classes().is_some() {
        return None;
    }
    let ops = model.ops();
    let input = ops.first()?.input_quant()?;
    let output = ops.last()?.output_quant()?;
    Some((input, output))
}

/// True when op `i`'s output leaves the int8 domain (so it is dequantized
/// in place); with `int8_out`, the last op's output stays int8.
fn hands_out_f32(model: &Model<'_>, i: usize, int8_out: bool) -> bool {
    let ops = model.ops();
    (i + 1 == ops.len() && !int8_out)
        || i == model.codings_layer()
        || ops.get(i + 1).is_some_and(|next| !next.is_int8())
}

/// Words an int8 op needs in the buffer it reads (besides what the previous
/// op wrote there): its packed input (dense) or its input as bytes
/// (feature-map ops); nothing for f32 ops.
fn input_words(op: &Op<'_>) -> usize {
    match op {
        Op::DenseI8(d) => packed_words(d.inputs),
        Op::ConvI8(_)
        | Op::ConvTransposeI8(_)
        | Op::PoolI8(_)
        | Op::UpsampleI8(_)
        | Op::RecurrentI8(_) => op.inputs().div_ceil(4),
        Op::Dense(_)
        | Op::Conv(_)
        | Op::ConvTranspose(_)
        | Op::Pool(_)
        | Op::Upsample(_)
        | Op::Recurrent(_) => 0,
    }
}

impl ScratchPlan {
    /// The plan for `model` in an [`crate::Engine`] of its own: it keeps
    /// the f32 input window and hands out an f32 reconstruction.
    pub fn for_model(model: &Model<'_>) -> ScratchPlan {
        ScratchPlan::plan(model, false)
    }

    /// The plan for the engine of a [`crate::Stream`] over `model`: for a
    /// model scored in int8 ([`int8_window`]) no input words (the stream's
    /// ring holds the window) and an int8 reconstruction; for any other
    /// model, [`ScratchPlan::for_model`].
    pub fn for_stream(model: &Model<'_>) -> ScratchPlan {
        ScratchPlan::plan(model, int8_window(model).is_some())
    }

    fn plan(model: &Model<'_>, int8: bool) -> ScratchPlan {
        let words = |i: usize, op: &Op<'_>| {
            if op.is_int8() && !hands_out_f32(model, i, int8) {
                op.outputs().div_ceil(4)
            } else {
                op.outputs()
            }
        };
        // Buffer `p` holds the outputs of ops of parity `p` and the packed
        // inputs of int8 ops of the other parity (op 0 packs into odd).
        let widest = |parity: usize| {
            model
                .ops()
                .iter()
                .enumerate()
                .map(|(i, op)| {
                    if i % 2 == parity {
                        words(i, op)
                    } else {
                        input_words(op)
                    }
                })
                .max()
                .unwrap_or(0)
        };
        let column = model
            .ops()
            .iter()
            .map(|op| match op {
                Op::ConvI8(c) | Op::ConvTransposeI8(c) => conv_i8::column_words(c.geometry.patch()),
                _ => 0,
            })
            .max()
            .unwrap_or(0);
        let state = model
            .ops()
            .iter()
            .map(|op| match op {
                Op::Recurrent(r) => recurrent::state_words(r),
                Op::RecurrentI8(r) => recurrent_i8::state_words(r),
                _ => 0,
            })
            .max()
            .unwrap_or(0);
        ScratchPlan {
            input: if int8 { 0 } else { model.input_len() },
            even: widest(0),
            odd: widest(1),
            column,
            state,
        }
    }

    /// Words in all (the length of the f32 scratch slice to give the engine).
    pub const fn total(&self) -> usize {
        self.input + self.even + self.odd + self.column + self.state
    }

    /// Bytes of RAM in all.
    pub const fn bytes(&self) -> usize {
        self.total() * core::mem::size_of::<f32>()
    }
}
