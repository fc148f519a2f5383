//! int8 recurrent layers (format version 6): an LSTM or GRU cell whose
//! weights, hidden state and arithmetic are integers, as stored in the file
//! and as the resolved op a runtime executes. SPEC.md section 3.3 ("int8
//! recurrent layers") gives the exact arithmetic: CMSIS-NN's
//! `arm_lstm_unidirectional_s8` (TFLite Micro's integer LSTM: gate
//! pre-activations in Q3.12, gates in Q0.15 from a 256-entry sigmoid table
//! with linear interpolation, an int16 cell state with a power-of-two
//! scale), and a GRU built from the same pieces.

use serde::{Deserialize, Serialize};

use crate::map::{MapDims, MapShape};
use crate::recurrent::Cell;
use crate::{I8s, I32s, Nibbles, Quant, Requant};

/// Lowest LSTM `state_shift`: a cell scale of 2^-15 (|c| < 1).
pub const MIN_STATE_SHIFT: i8 = -15;
/// Highest LSTM `state_shift`: a cell scale of 2^-8 (|c| < 128).
pub const MAX_STATE_SHIFT: i8 = -8;
/// The GRU's `state_shift`: its state is the hidden state in Q0.15.
pub const GRU_STATE_SHIFT: i8 = -15;

/// An int8 LSTM or GRU layer over the sequence `shape` (`1 × T × in`),
/// from a zero state (tag 13, format version 6). Rows and gates as in
/// [`crate::Recurrent`] (PyTorch's order: `i, f, g, o`; `r, z, n`). The
/// weights of gate `k` have one scale per gate and matrix times a power of
/// two per row (the exponents); `gates_ih[k]` and `gates_hh[k]` bring the
/// gate's two integer sums to Q3.12, row `r`'s shift lowered by its
/// exponent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RecurrentI8<'a> {
    /// LSTM or GRU.
    pub cell: Cell,
    /// Input map, `1 × T × in`.
    pub shape: MapShape,
    /// Hidden units.
    pub hidden: u32,
    /// True: every step's hidden state out (`1 × T × hidden`); false: the last.
    pub sequences: bool,
    /// Quantization of the input `x`.
    pub input: Quant,
    /// Quantization of the hidden state `h`, which is also the output.
    pub output: Quant,
    /// The int16 state's scale is `2^state_shift`: LSTM
    /// [`MIN_STATE_SHIFT`]`..=`[`MAX_STATE_SHIFT`], GRU [`GRU_STATE_SHIFT`].
    pub state_shift: i8,
    /// Per gate `k`: `input.scale · ws_ih[k] / 2^-12` (a GRU's 4th is `{0, 0}`).
    pub gates_ih: [Requant; 4],
    /// Per gate `k`: `output.scale · ws_hh[k] / 2^-12` (a GRU's 4th is `{0, 0}`).
    pub gates_hh: [Requant; 4],
    /// LSTM: `2^-30 / output.scale`; GRU: `2^-15 / output.scale`.
    pub hidden_requant: Requant,
    /// `G·hidden × in` values in −127..=127, row-major; row `k·hidden + j`
    /// is gate `k` of unit `j`.
    #[serde(borrow)]
    pub w_ih: I8s<'a>,
    /// One exponent per row of `w_ih`.
    #[serde(borrow)]
    pub exponents_ih: Nibbles<'a>,
    /// `G·hidden × hidden` values in −127..=127, rows as `w_ih`.
    #[serde(borrow)]
    pub w_hh: I8s<'a>,
    /// One exponent per row of `w_hh`.
    #[serde(borrow)]
    pub exponents_hh: Nibbles<'a>,
    /// `G·hidden` biases, row `r` in units of `input.scale · ws_ih[k] · 2^-e_ih[r]`.
    #[serde(borrow)]
    pub b_ih: I32s<'a>,
    /// GRU: `G·hidden` biases in units of `output.scale · ws_hh[k] · 2^-e_hh[r]`;
    /// LSTM: empty.
    #[serde(borrow)]
    pub b_hh: I32s<'a>,
}

/// An int8 recurrent layer, resolved: every length checked (`w_ih` holds
/// `G·hidden·input.c` values, `w_hh` `G·hidden·hidden`, the exponents
/// `G·hidden` each, `b_ih` `G·hidden`, `b_hh` `G·hidden` or none), the
/// multipliers and `state_shift` in range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecurrentI8Op<'a> {
    /// LSTM or GRU.
    pub cell: Cell,
    /// Input map, `1 × T × in`.
    pub input: MapDims,
    /// Output map, `1 × T × hidden` (sequences) or `1 × 1 × hidden`.
    pub output: MapDims,
    /// Hidden units (`output.c`).
    pub hidden: usize,
    /// Every step's hidden state (true) or the last one's.
    pub sequences: bool,
    /// Quantization of `x`.
    pub input_quant: Quant,
    /// Quantization of `h` and of the output.
    pub output_quant: Quant,
    /// Scale exponent of the int16 state.
    pub state_shift: i8,
    /// Input part to Q3.12, per gate.
    pub gates_ih: [Requant; 4],
    /// Recurrent part to Q3.12, per gate.
    pub gates_hh: [Requant; 4],
    /// To `h`.
    pub hidden_requant: Requant,
    /// Input weights, `G·hidden × in`.
    pub w_ih: I8s<'a>,
    /// Row exponents of `w_ih`.
    pub exponents_ih: Nibbles<'a>,
    /// Recurrent weights, `G·hidden × hidden`.
    pub w_hh: I8s<'a>,
    /// Row exponents of `w_hh`.
    pub exponents_hh: Nibbles<'a>,
    /// Input biases, `G·hidden`.
    pub b_ih: I32s<'a>,
    /// Recurrent biases, `G·hidden` (GRU) or empty (LSTM).
    pub b_hh: I32s<'a>,
}

impl RecurrentI8Op<'_> {
    /// Steps `T`.
    pub const fn steps(&self) -> usize {
        self.input.w
    }

    /// Values per step, `in`.
    pub const fn step_inputs(&self) -> usize {
        self.input.c
    }

    /// Gate rows, `G·hidden`.
    pub const fn rows(&self) -> usize {
        self.cell.gates().saturating_mul(self.hidden)
    }

    /// Multiply-accumulates with weights, `G·hidden·(in + hidden)·T`.
    pub const fn macs(&self) -> usize {
        crate::recurrent::macs(self.cell, self.input, self.hidden)
    }
}
