//! Recurrent layers (format version 5): an LSTM or GRU cell run over a
//! sequence, as stored in the file, and the resolved op a runtime
//! executes. SPEC.md section 3.3 ("Recurrent layers") gives the exact
//! arithmetic.
//!
//! The input is a sequence of `T` steps of `in` values, the channel-last
//! map `1 × T × in` (time along `w`), so the model's input window, which is
//! time-major, is already one. The output is the map `1 × T × hidden` of
//! every step's hidden state (`sequences`), or `1 × 1 × hidden`, the last
//! one. The equations are PyTorch's `nn.LSTM` and `nn.GRU` with one layer,
//! `batch_first`, from a zero state; the weights are PyTorch's
//! `weight_ih_l0`, `weight_hh_l0`, `bias_ih_l0` and `bias_hh_l0` as they
//! are (row-major, gates stacked in PyTorch's order), except that an LSTM
//! stores one bias, `b_ih + b_hh`.
//!
//! A recurrent autoencoder needs no other new layer: its "repeat vector"
//! is an [`crate::Upsample`] of the `1 × 1 × k` codings by `(1, T)`, and
//! its time-distributed dense layer a 1 × 1 [`crate::Conv`] over the
//! `1 × T × h` map.

use serde::{Deserialize, Serialize};

use crate::F32s;
use crate::map::{MapDims, MapShape};

/// Which recurrent cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(rename_all = "snake_case")] // names matter only to self-describing formats (JSON)
pub enum Cell {
    /// Long short-term memory, gates `i, f, g, o` (tag 0).
    Lstm,
    /// Gated recurrent unit, gates `r, z, n` (tag 1).
    Gru,
}

impl Cell {
    /// Gates per hidden unit, `G`: 4 for the LSTM, 3 for the GRU.
    pub const fn gates(self) -> usize {
        match self {
            Cell::Lstm => 4,
            Cell::Gru => 3,
        }
    }

    /// Lower-case name.
    pub const fn name(self) -> &'static str {
        match self {
            Cell::Lstm => "lstm",
            Cell::Gru => "gru",
        }
    }
}

/// An LSTM or GRU layer over the sequence `shape` (`1 × T × in`), from a
/// zero state (tag 12, format version 5). With `G` = [`Cell::gates`]:
///
/// - LSTM: `i, f, g, o` = `σ, σ, tanh, σ` of `W_i·x_t + b + W_h·h`, gate by
///   gate; `c' = f⊙c + i⊙g`, `h' = o⊙tanh(c')`.
/// - GRU: `r = σ(W_ir·x + b_ir + W_hr·h + b_hr)`, `z` likewise,
///   `n = tanh(W_in·x + b_in + r⊙(W_hn·h + b_hn))`, `h' = (1 − z)⊙n + z⊙h`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Recurrent<'a> {
    /// LSTM or GRU.
    pub cell: Cell,
    /// Input map, `1 × T × in`: `T` steps (`w`) of `in` values (`c`).
    pub shape: MapShape,
    /// Hidden units.
    pub hidden: u32,
    /// True: output every step's hidden state (`1 × T × hidden`); false:
    /// the last step's (`1 × 1 × hidden`).
    pub sequences: bool,
    /// `G·hidden × in` values, row-major; row `k·hidden + j` is gate `k` of unit `j`.
    #[serde(borrow)]
    pub w_ih: F32s<'a>,
    /// `G·hidden × hidden` values, row-major, rows as `w_ih`.
    #[serde(borrow)]
    pub w_hh: F32s<'a>,
    /// `G·hidden` values (an LSTM's is PyTorch's `b_ih + b_hh`).
    #[serde(borrow)]
    pub b_ih: F32s<'a>,
    /// `G·hidden` values for the GRU; empty for the LSTM.
    #[serde(borrow)]
    pub b_hh: F32s<'a>,
}

/// A recurrent layer, resolved: `w_ih` holds exactly `G·hidden·input.c`
/// values, `w_hh` `G·hidden·hidden`, `b_ih` `G·hidden` and `b_hh`
/// `G·hidden` (GRU) or none (LSTM).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecurrentOp<'a> {
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
    /// Input weights, `G·hidden × in`.
    pub w_ih: F32s<'a>,
    /// Recurrent weights, `G·hidden × hidden`.
    pub w_hh: F32s<'a>,
    /// Input bias, `G·hidden`.
    pub b_ih: F32s<'a>,
    /// Recurrent bias, `G·hidden` (GRU) or empty (LSTM).
    pub b_hh: F32s<'a>,
}

impl RecurrentOp<'_> {
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
        macs(self.cell, self.input, self.hidden)
    }
}

/// `G·hidden·(in + hidden)·T` for the sequence `input` (`1 × T × in`).
pub(crate) const fn macs(cell: Cell, input: MapDims, hidden: usize) -> usize {
    cell.gates()
        .saturating_mul(hidden)
        .saturating_mul(input.c.saturating_add(hidden))
        .saturating_mul(input.w)
}
