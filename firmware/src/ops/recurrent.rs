//! LSTM and GRU layers, f32 (SPEC.md 3.3, "Recurrent layers"): PyTorch's
//! equations from a zero state, weights read straight from the model bytes.
//!
//! **Memory.** The kernel keeps no gate buffer: every gate of hidden unit
//! `j` depends only on `x_t`, the previous hidden state `h` and the weight
//! rows `k·hidden + j`, so the kernel computes the `G` gates of one unit as
//! scalars, then that unit's new state, unit after unit. What it keeps
//! between steps is the state:
//!
//! - the LSTM's cell state `c` (`hidden` words), updated in place (unit
//!   `j` reads and writes only `c[j]`);
//! - the previous hidden state `h`, which every unit reads whole, so the
//!   new one goes elsewhere. With `sequences` the output map holds every
//!   step's: step `t` reads row `t − 1` and writes row `t`. Otherwise the
//!   step alternates between the output (`hidden` values) and `hidden`
//!   words of its own, arranged so that the last step writes the output.
//!
//! **Repeated input.** A decoder's recurrent layer reads its codings
//! repeated over the window, the same input at every step, so its input
//! terms `b_ih[r] + dot(w_ih[r], x)` are the same at every step too.
//! [`run_in_place`] (what the engine calls after op 0, whose input buffer
//! nothing reads again) checks that every step's input is the same bit
//! for bit, computes the terms once into that buffer after the first
//! step, and every step reads them: the bits of [`run`], without `T − 1`
//! of the `T` input products.
//!
//! [`step`] is one step, what [`run`] does for each `t`; the streaming
//! encoder of [`crate::Stream`] calls it too, keeping the states itself,
//! so both compute the same bits.
//!
//! [`state_words`] is that amount, what [`crate::ScratchPlan`] reserves:
//! `hidden` for an LSTM, plus `hidden` without `sequences`; nothing for a
//! GRU with `sequences`.
//!
//! **Arithmetic**, in the order SPEC.md states (every operation one f32
//! operation, no fused multiply-add), with `dot` = [`dense::dot`] and
//! `σ`, `tanh` from [`math`](super::math):
//!
//! ```text
//! LSTM, gate k of unit j (row r = k·hidden + j):
//!     a[k] = (b_ih[r] + dot(w_ih[r], x_t)) + dot(w_hh[r], h)
//!     i = σ(a[0]), f = σ(a[1]), g = tanh(a[2]), o = σ(a[3])
//!     c[j] = f·c[j] + i·g;  h'[j] = o·tanh(c[j])
//! GRU:
//!     xs[k] = b_ih[r] + dot(w_ih[r], x_t);  hs[k] = b_hh[r] + dot(w_hh[r], h)
//!     r = σ(xs[0] + hs[0]), z = σ(xs[1] + hs[1]), n = tanh(xs[2] + r·hs[2])
//!     h'[j] = (1 − z)·n + z·h[j]
//! ```
//!
//! At step 0 the state is zero; the kernel then passes an empty `h`, for
//! which `dot` returns +0.0, exactly what it returns for a zero vector
//! with finite weights, so the bits are those of the definition.
//!
//! The sizes come from a validated model, so every index computed here is
//! in range; the kernel still reads through `get` and iterators and
//! computes less on shorter slices, never panicking.

use model_format::{Cell, F32s, RecurrentOp};

use super::dense::{self, dot};
use super::math::{sigmoid, tanh};

/// Words of scratch `op` needs besides its input and output (see the
/// module docs): `hidden` for the LSTM's cell state, plus `hidden` for the
/// previous hidden state when the output holds only the last one.
pub const fn state_words(op: &RecurrentOp<'_>) -> usize {
    let cell = cell_words(op);
    let previous = if op.sequences { 0 } else { op.hidden };
    cell.saturating_add(previous)
}

/// Row `r` of a row-major matrix with rows of `len` values (empty when out
/// of range).
#[inline]
fn row(w: &[[u8; 4]], r: usize, len: usize) -> &[[u8; 4]] {
    let start = r.saturating_mul(len);
    w.get(start..start.saturating_add(len)).unwrap_or_default()
}

/// Where a step's input terms `b_ih[r] + dot(w_ih[r], x_t)` come from.
#[derive(Clone, Copy)]
enum Inputs<'x> {
    /// Computed from the step's input `x_t`.
    Step(&'x [f32]),
    /// Computed once for every step, term `r` at index `r` (every step's
    /// input is the same: [`run_in_place`]).
    Cached(&'x [f32]),
}

/// The weights of one layer, as 4-byte groups (and as words where the
/// word kernels read them: [`dense::words`]).
struct Weights<'a> {
    hidden: usize,
    inputs: usize,
    w_ih: &'a [[u8; 4]],
    w_hh: &'a [[u8; 4]],
    w_ih_words: Option<&'a [f32]>,
    w_hh_words: Option<&'a [f32]>,
    b_ih: F32s<'a>,
    b_hh: F32s<'a>,
}

/// Row `r` (of `len` values) of a matrix read as words.
#[inline]
fn row_words(words: Option<&[f32]>, r: usize, len: usize) -> Option<&[f32]> {
    let start = r.checked_mul(len)?;
    words?.get(start..start.checked_add(len)?)
}

/// `dot(row r, v)` of a matrix with rows of `len` values: through
/// the word kernel where it reads the matrix, else from its bytes.
#[inline]
fn dot1(words: Option<&[f32]>, bytes: &[[u8; 4]], len: usize, r: usize, v: &[f32]) -> f32 {
    match row_words(words, r, len) {
        Some(w) => dense::dot_words(w, v),
        None => dot(row(bytes, r, len), v),
    }
}

/// `(dot(row r0, v), dot(row r1, v))`, both rows through the word kernel
/// at once where it reads the matrix: the bits of [`dot1`] twice.
#[inline]
fn dot2(
    words: Option<&[f32]>,
    bytes: &[[u8; 4]],
    len: usize,
    [r0, r1]: [usize; 2],
    v: &[f32],
) -> (f32, f32) {
    match (row_words(words, r0, len), row_words(words, r1, len)) {
        (Some(w0), Some(w1)) => dense::dot2_words(w0, w1, v),
        _ => (
            dot1(words, bytes, len, r0, v),
            dot1(words, bytes, len, r1, v),
        ),
    }
}

impl Weights<'_> {
    /// Row of gate `k` of unit `j`.
    #[inline]
    fn r(&self, k: usize, j: usize) -> usize {
        k.saturating_mul(self.hidden).saturating_add(j)
    }

    /// `b_ih[r] + dot(w_ih[r], x)`.
    #[inline]
    fn input_term(&self, r: usize, x: &[f32]) -> f32 {
        let d = dot1(self.w_ih_words, self.w_ih, self.inputs, r, x);
        self.b_ih.get(r).unwrap_or(0.0) + d
    }

    /// [`Weights::input_term`] of rows `r[0]` and `r[1]`.
    #[inline]
    fn input_terms(&self, r: [usize; 2], x: &[f32]) -> (f32, f32) {
        let (d0, d1) = dot2(self.w_ih_words, self.w_ih, self.inputs, r, x);
        let b = |r| self.b_ih.get(r).unwrap_or(0.0);
        (b(r[0]) + d0, b(r[1]) + d1)
    }

    /// The input term of row `r` from `x`.
    #[inline]
    fn term(&self, r: usize, x: Inputs<'_>) -> f32 {
        match x {
            Inputs::Step(x) => self.input_term(r, x),
            Inputs::Cached(t) => t.get(r).copied().unwrap_or(0.0),
        }
    }

    /// The input terms of rows `r[0]` and `r[1]` from `x`.
    #[inline]
    fn terms(&self, r: [usize; 2], x: Inputs<'_>) -> (f32, f32) {
        match x {
            Inputs::Step(x) => self.input_terms(r, x),
            Inputs::Cached(_) => (self.term(r[0], x), self.term(r[1], x)),
        }
    }

    /// `dot(w_hh[r], h)`.
    #[inline]
    fn state_term(&self, r: usize, h: &[f32]) -> f32 {
        dot1(self.w_hh_words, self.w_hh, self.hidden, r, h)
    }

    /// [`Weights::state_term`] of rows `r[0]` and `r[1]`.
    #[inline]
    fn state_terms(&self, r: [usize; 2], h: &[f32]) -> (f32, f32) {
        dot2(self.w_hh_words, self.w_hh, self.hidden, r, h)
    }

    /// One LSTM step: reads `x` and `h` (empty: zero), updates `c` in
    /// place and writes the new hidden state into `out`.
    fn lstm_step(&self, x: Inputs<'_>, h: &[f32], c: &mut [f32], out: &mut [f32]) {
        for (j, (cj, hj)) in c.iter_mut().zip(out.iter_mut()).enumerate() {
            let (r01, r23) = ([self.r(0, j), self.r(1, j)], [self.r(2, j), self.r(3, j)]);
            let ((x0, x1), (x2, x3)) = (self.terms(r01, x), self.terms(r23, x));
            let ((s0, s1), (s2, s3)) = (self.state_terms(r01, h), self.state_terms(r23, h));
            let i = sigmoid(x0 + s0);
            let f = sigmoid(x1 + s1);
            let g = tanh(x2 + s2);
            let o = sigmoid(x3 + s3);
            let cell = f * *cj + i * g;
            *cj = cell;
            *hj = o * tanh(cell);
        }
    }

    /// One GRU step: reads `x` and `h` (empty: zero) and writes the new
    /// hidden state into `out`.
    fn gru_step(&self, x: Inputs<'_>, h: &[f32], out: &mut [f32]) {
        for (j, hj) in out.iter_mut().enumerate() {
            let (r01, r2) = ([self.r(0, j), self.r(1, j)], self.r(2, j));
            let ((xr, xz), xn) = (self.terms(r01, x), self.term(r2, x));
            let ((s0, s1), s2) = (self.state_terms(r01, h), self.state_term(r2, h));
            let b = |r| self.b_hh.get(r).unwrap_or(0.0);
            let (hr, hz, hn) = (b(r01[0]) + s0, b(r01[1]) + s1, b(r2) + s2);
            let reset = sigmoid(xr + hr);
            let update = sigmoid(xz + hz);
            let n = tanh(xn + reset * hn);
            let previous = h.get(j).copied().unwrap_or(0.0);
            *hj = (1.0 - update) * n + update * previous;
        }
    }

    fn step(&self, cell: Cell, x: Inputs<'_>, h: &[f32], c: &mut [f32], out: &mut [f32]) {
        match cell {
            Cell::Lstm => self.lstm_step(x, h, c, out),
            Cell::Gru => self.gru_step(x, h, out),
        }
    }

    fn of<'a>(op: &RecurrentOp<'a>) -> Weights<'a> {
        Weights {
            hidden: op.hidden,
            inputs: op.step_inputs(),
            w_ih: op.w_ih.chunks(),
            w_hh: op.w_hh.chunks(),
            w_ih_words: dense::words(op.w_ih),
            w_hh_words: dense::words(op.w_hh),
            b_ih: op.b_ih,
            b_hh: op.b_hh,
        }
    }
}

/// Words of cell state one step of `op` carries besides its hidden
/// state: `hidden` for an LSTM (`c`), none for a GRU.
pub const fn cell_words(op: &RecurrentOp<'_>) -> usize {
    match op.cell {
        Cell::Lstm => op.hidden,
        Cell::Gru => 0,
    }
}

/// One step of `op`: reads the step's input `x` (`in` values) and the
/// previous hidden state `h` (`hidden` values, or empty at step 0 for the
/// zero state), updates the LSTM's cell state `c` in place (`hidden`
/// values, zero before step 0; empty for a GRU) and writes the new hidden
/// state into `out` (`hidden` values, not overlapping `h`). [`run`] is
/// this function applied step after step, so a caller that keeps the
/// state itself (the streaming encoder, [`crate::stream`]) computes the
/// same bits. Shorter slices compute less.
pub fn step(op: &RecurrentOp<'_>, x: &[f32], h: &[f32], c: &mut [f32], out: &mut [f32]) {
    Weights::of(op).step(op.cell, Inputs::Step(x), h, c, out);
}

/// Runs `op` on the sequence `x` (`T × in` values, step-major) into `y`
/// (`T × hidden` values with `sequences`, else `hidden`), using the first
/// [`state_words`] words of `state`. Shorter slices compute less.
pub fn run(op: &RecurrentOp<'_>, x: &[f32], y: &mut [f32], state: &mut [f32]) {
    let inputs = op.step_inputs().max(1);
    let xs = x.chunks_exact(inputs).map(Inputs::Step);
    run_steps(op, xs, y, state);
}

/// [`run`] on an input buffer the caller no longer needs. When every
/// step's input is the same, bit for bit (a decoder reading its codings
/// repeated over the window), the input terms `b_ih[r] + dot(w_ih[r], x)`
/// are computed once, into the buffer after the first step, and every step
/// reads them there: the same bits as [`run`], with `G·hidden` input dot
/// products instead of `T·G·hidden`. Otherwise, or when the buffer has no
/// room for the `G·hidden` terms, it is [`run`].
pub fn run_in_place(op: &RecurrentOp<'_>, x: &mut [f32], y: &mut [f32], state: &mut [f32]) {
    let (steps, inputs) = (op.steps(), op.step_inputs());
    let rows = op.cell.gates().saturating_mul(op.hidden);
    let repeated = steps > 1
        && inputs > 0
        && x.get(..steps.saturating_mul(inputs)).is_some_and(|xs| {
            let (first, rest) = xs.split_at(inputs.min(xs.len()));
            let same = |x_t: &[f32]| {
                x_t.iter()
                    .zip(first)
                    .all(|(a, b)| a.to_bits() == b.to_bits())
            };
            rest.chunks_exact(inputs).all(same)
        });
    if !repeated || x.len() < inputs.saturating_add(rows) {
        return run(op, x, y, state);
    }
    let Some((first, rest)) = x.split_at_mut_checked(inputs) else {
        return; // unreachable: checked above
    };
    let Some(cache) = rest.get_mut(..rows) else {
        return; // unreachable: checked above
    };
    let w = Weights::of(op);
    let mut r = 0;
    for pair in cache.chunks_mut(2) {
        match pair {
            [t0, t1] => (*t0, *t1) = w.input_terms([r, r + 1], first),
            [t0] => *t0 = w.input_term(r, first),
            _ => {}
        }
        r += 2;
    }
    let cached: &[f32] = cache;
    run_steps(
        op,
        core::iter::repeat_n(Inputs::Cached(cached), steps),
        y,
        state,
    );
}

/// [`run`] over the steps' inputs `xs`.
fn run_steps<'x>(
    op: &RecurrentOp<'_>,
    xs: impl Iterator<Item = Inputs<'x>>,
    y: &mut [f32],
    state: &mut [f32],
) {
    let (steps, inputs, hidden) = (op.steps(), op.step_inputs(), op.hidden);
    if steps == 0 || inputs == 0 || hidden == 0 {
        return; // never in a validated model
    }
    let Some(state) = state.get_mut(..state_words(op)) else {
        return; // unreachable with buffers sized by `ScratchPlan`
    };
    let (c, spare): (&mut [f32], &mut [f32]) = match op.cell {
        Cell::Lstm => match state.split_at_mut_checked(hidden) {
            Some(parts) => parts,
            None => return,
        },
        Cell::Gru => (&mut [], state),
    };
    c.fill(0.0);
    let w = Weights::of(op);
    let step = |x, h: &[f32], c: &mut [f32], out: &mut [f32]| w.step(op.cell, x, h, c, out);
    let xs = xs.take(steps);
    if op.sequences {
        let Some(y) = y.get_mut(..steps.saturating_mul(hidden)) else {
            return; // unreachable with buffers sized by `ScratchPlan`
        };
        // Row t − 1 of the output is the state step t reads.
        let mut h: &[f32] = &[];
        for (x_t, out) in xs.zip(y.chunks_exact_mut(hidden)) {
            step(x_t, h, c, out);
            h = out;
        }
    } else {
        let (Some(y), Some(spare)) = (y.get_mut(..hidden), spare.get_mut(..hidden)) else {
            return; // unreachable with buffers sized by `ScratchPlan`
        };
        // Step t writes `y` when T − 1 − t is even, so the last one does.
        for (t, x_t) in xs.enumerate() {
            let into_y = (steps - 1 - t).is_multiple_of(2);
            match (t == 0, into_y) {
                (true, true) => step(x_t, &[], c, y),
                (true, false) => step(x_t, &[], c, spare),
                (false, true) => step(x_t, spare, c, y),
                (false, false) => step(x_t, y, c, spare),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model_format::MapDims;
    use model_format::build::f32_bytes as le;

    fn op<'a>(
        cell: Cell,
        steps: usize,
        inputs: usize,
        hidden: usize,
        sequences: bool,
        bytes: &'a [Vec<u8>; 4],
    ) -> RecurrentOp<'a> {
        RecurrentOp {
            cell,
            input: MapDims {
                h: 1,
                w: steps,
                c: inputs,
            },
            output: MapDims {
                h: 1,
                w: if sequences { steps } else { 1 },
                c: hidden,
            },
            hidden,
            sequences,
            w_ih: F32s::new(&bytes[0]),
            w_hh: F32s::new(&bytes[1]),
            b_ih: F32s::new(&bytes[2]),
            b_hh: F32s::new(&bytes[3]),
        }
    }

    #[test]
    fn state_words_per_cell_and_output() {
        let b = [vec![], vec![], vec![], vec![]];
        assert_eq!(state_words(&op(Cell::Lstm, 3, 2, 5, true, &b)), 5);
        assert_eq!(state_words(&op(Cell::Lstm, 3, 2, 5, false, &b)), 10);
        assert_eq!(state_words(&op(Cell::Gru, 3, 2, 5, true, &b)), 0);
        assert_eq!(state_words(&op(Cell::Gru, 3, 2, 5, false, &b)), 5);
    }

    #[test]
    fn a_gru_with_zero_weights_keeps_half_of_its_state() {
        // Every pre-activation 0: r = z = 1/2, n = 0, h' = h/2 (+ 0).
        // With b_in = 1 instead, n = tanh(1) and h' = (tanh(1) + h)/2.
        let b = [
            le(&[0.0; 3]),
            le(&[0.0; 3]),
            le(&[0.0, 0.0, 1.0]),
            le(&[0.0; 3]),
        ];
        let mut y = [9.0f32; 4];
        run(
            &op(Cell::Gru, 3, 1, 1, true, &b),
            &[1.0, 2.0, 3.0],
            &mut y,
            &mut [],
        );
        let t = tanh(1.0);
        let h1 = 0.5 * t;
        let h2 = 0.5 * t + 0.5 * h1;
        let h3 = 0.5 * t + 0.5 * h2;
        assert_eq!(y, [h1, h2, h3, 9.0]);
        // The last step only, in one word of output and one of state.
        let mut last = [9.0f32; 2];
        let mut state = [7.0f32; 1];
        run(
            &op(Cell::Gru, 3, 1, 1, false, &b),
            &[1.0, 2.0, 3.0],
            &mut last,
            &mut state,
        );
        assert_eq!(last, [h3, 9.0]);
        assert_eq!(state, [h2]);
    }

    #[test]
    fn run_is_step_after_step() {
        // LSTM 2 → 2 over 3 steps, every step, then the last only.
        let w = |n: usize, k: f32| le(&(0..n).map(|i| (i as f32 * k).sin()).collect::<Vec<_>>());
        let b = [w(16, 0.7), w(16, 1.3), w(8, 0.4), vec![]];
        let x = [0.5, -1.0, 0.25, 2.0, -0.75, 0.1];
        let seq = op(Cell::Lstm, 3, 2, 2, true, &b);
        let (mut h, mut c) = ([0.0f32; 2], [0.0f32; 2]);
        let mut want = [0.0f32; 6];
        for (t, (x_t, out)) in x.chunks(2).zip(want.chunks_mut(2)).enumerate() {
            let prev: &[f32] = if t == 0 { &[] } else { &h };
            step(&seq, x_t, prev, &mut c, out);
            h.copy_from_slice(out);
        }
        let mut y = [0.0f32; 6];
        run(&seq, &x, &mut y, &mut [9.0; 2]);
        assert_eq!(y.map(f32::to_bits), want.map(f32::to_bits));
        let mut last = [0.0f32; 2];
        run(
            &op(Cell::Lstm, 3, 2, 2, false, &b),
            &x,
            &mut last,
            &mut [9.0; 4],
        );
        assert_eq!(last, h);
    }

    #[test]
    fn a_repeated_input_computed_once_gives_the_same_bits() {
        // Weights away from zero, a repeated input of 3 values over 5
        // steps; LSTM and GRU, every step and the last only.
        let w = |n: usize, k: f32| le(&(0..n).map(|i| (i as f32 * k).sin()).collect::<Vec<_>>());
        for (cell, sequences) in [
            (Cell::Lstm, true),
            (Cell::Lstm, false),
            (Cell::Gru, true),
            (Cell::Gru, false),
        ] {
            let g = cell.gates();
            let (steps, inputs, hidden) = (5, 3, 3);
            let b = [
                w(g * hidden * inputs, 0.7),
                w(g * hidden * hidden, 1.3),
                w(g * hidden, 0.4),
                w(g * hidden, 0.9),
            ];
            let op = op(cell, steps, inputs, hidden, sequences, &b);
            let out = if sequences { steps * hidden } else { hidden };
            let mut want = vec![0.0f32; out];
            let x: Vec<f32> = [0.5, -1.25, 2.0].repeat(steps);
            run(&op, &x, &mut want, &mut [0.0; 6]);
            let mut y = vec![0.0f32; out];
            let mut buffer = x.clone();
            run_in_place(&op, &mut buffer, &mut y, &mut [0.0; 6]);
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&y), bits(&want), "{cell:?}, sequences {sequences}");
            // The terms were cached in the buffer after the first step.
            assert_ne!(bits(&buffer), bits(&x), "{cell:?}: no cache written");
            // Not repeated: the buffer is left as it was, the result is run's.
            let mut x = x.clone();
            x[7] = 0.125;
            run(&op, &x, &mut want, &mut [0.0; 6]);
            let mut buffer = x.clone();
            run_in_place(&op, &mut buffer, &mut y, &mut [0.0; 6]);
            assert_eq!(bits(&y), bits(&want));
            assert_eq!(bits(&buffer), bits(&x));
        }
    }

    #[test]
    fn short_buffers_are_left_alone() {
        let b = [le(&[0.5; 4]), le(&[0.5; 4]), le(&[0.0; 4]), vec![]];
        let lstm = op(Cell::Lstm, 2, 1, 1, false, &b);
        let mut y = [9.0f32; 1];
        run(&lstm, &[1.0, 1.0], &mut y, &mut [0.0]);
        assert_eq!(y, [9.0], "no room for c and the previous h");
        let mut y = [];
        run(&lstm, &[1.0, 1.0], &mut y, &mut [0.0, 0.0]);
        // A short input runs fewer steps.
        let seq = op(Cell::Lstm, 2, 1, 1, true, &b);
        let mut y = [9.0f32; 2];
        run(&seq, &[1.0], &mut y, &mut [0.0]);
        assert!(y[0].is_finite() && y[1] == 9.0);
    }
}
