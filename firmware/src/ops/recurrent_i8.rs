//! LSTM and GRU layers, int8 (SPEC.md 3.3, "int8 recurrent layers"):
//! CMSIS-NN's integer LSTM (`arm_lstm_unidirectional_s8`, with its
//! single-rounding requantization) and a GRU from the same pieces, integer
//! only, weights read straight from the model bytes.
//!
//! **Per step**, the step's input `x` (int8, `in` values) and the previous
//! hidden state `h8` (int8, `hidden` values) are each packed once, their
//! zero points subtracted, into 16-bit halves in the dual-MAC block order
//! of `ops/dsp.rs` (`dsp::pack4`: two `sxtb16` and two `ssub16` per four
//! values on the Cortex-M4). Then gate-major, as CMSIS-NN does: the rows
//! of `w_ih` and `w_hh` (consecutive rows of a gate share its multiplier)
//! are dotted with the packed vectors three rows at a time (`dsp::dot3`,
//! SMLAD), requantized to Q3.12 with their gate multiplier and row
//! exponent, and kept as one word per row (the LSTM's `pre`; the GRU's
//! `xs` and `hs` as two halves, since its `n` gate needs them apart).
//! Then unit after unit: the table sigmoid and tanh of
//! [`act16`](super::act16), the new state and `h8`. As `h8` is packed
//! before the step runs, the new `h8` may overwrite the old one: without
//! `sequences` every step writes the output directly.
//!
//! **State** ([`state_words`] words, what [`crate::ScratchPlan`] reserves):
//! the int16 state (`c` or `s`, `hidden` halves), the two packed vectors,
//! `packed_words(in) + packed_words(hidden)`, and the `G·hidden` gate
//! words.
//!
//! [`step`] is one step, what [`run`] does for each `t`, so a caller that
//! keeps the state itself computes the same bits.
//!
//! The sizes come from a validated model, so every index computed here is
//! in range; the kernel still reads through `get` and iterators and
//! computes less on shorter slices, never panicking.

use model_format::{Cell, Nibbles, RecurrentI8Op, Requant};

use super::act16::{Scale, sigmoid16, tanh16, tanh16_scaled};
use super::dsp;
use super::int8::{mbqm, mbqm_high, pack_i8, packed_words};

/// Words of state `op` needs besides its input and output: the int16
/// state (`ceil(hidden / 2)` words), the packed `x` and `h8` and one word
/// per gate row.
pub const fn state_words(op: &RecurrentI8Op<'_>) -> usize {
    op.hidden
        .div_ceil(2)
        .saturating_add(packed_words(op.input.c))
        .saturating_add(packed_words(op.hidden))
        .saturating_add(op.rows())
}

/// `clamp(v, −32768, 32767)`.
#[inline(always)]
fn sat16(v: i32) -> i32 {
    v.clamp(-32768, 32767)
}

/// `(v + 2^(n−1)) >> n` in 32 bits: exact for `|v| < 2^30` and `n` in
/// 1..=30, what every caller has (products of two Q0.15 values or of a
/// Q0.15 value and the int16 state, and `n` either 15 or `30 + p` with
/// `p` in −15..=−8); wrapping, never panicking, outside that.
#[inline(always)]
fn rshr(v: i32, n: i32) -> i32 {
    let n = n as u32;
    v.wrapping_add(1i32.wrapping_shl(n.wrapping_sub(1)))
        .wrapping_shr(n)
}

/// `mbqm(acc, q.multiplier, q.shift − e)`.
#[inline(always)]
fn req(acc: i32, q: &Requant, e: u8) -> i32 {
    mbqm(acc, q.multiplier, i32::from(q.shift) - i32::from(e))
}

/// A packed vector: its whole blocks of four and its leftover words.
#[derive(Clone, Copy)]
struct Packed<'a> {
    blocks: &'a [[u32; 2]],
    tail: &'a [u32],
}

impl<'a> Packed<'a> {
    fn of(words: &'a [u32], n: usize) -> Packed<'a> {
        let words = words.get(..packed_words(n)).unwrap_or(words);
        let (b, tail) = words.split_at(((n / 4) * 2).min(words.len()));
        Packed {
            blocks: b.as_chunks::<2>().0,
            tail,
        }
    }
}

/// The rows of one matrix in order, each split into its whole blocks of
/// four and its leftover bytes.
struct Rows<'a> {
    rows: core::slice::ChunksExact<'a, u8>,
    blocks: usize,
}

impl<'a> Rows<'a> {
    fn new(w: &'a [u8], len: usize) -> Rows<'a> {
        Rows {
            rows: w.chunks_exact(len.max(1)),
            blocks: len / 4 * 4,
        }
    }

    #[inline(always)]
    fn next(&mut self) -> Option<(&'a [[u8; 4]], &'a [u8])> {
        let (b, t) = self.rows.next()?.split_at_checked(self.blocks)?;
        Some((b.as_chunks::<4>().0, t))
    }

    /// `acc[i] + row·x` for the next three rows (`acc` if there are none).
    #[inline(always)]
    fn dot3(&mut self, x: Packed<'_>, acc: [i32; 3]) -> [i32; 3] {
        let (Some(r0), Some(r1), Some(r2)) = (self.next(), self.next(), self.next()) else {
            return acc;
        };
        let [a0, a1, a2] = dsp::dot3([r0.0, r1.0, r2.0], x.blocks, acc);
        if x.tail.is_empty() {
            return [a0, a1, a2]; // rows of whole blocks, the usual case
        }
        [
            tail(a0, r0.1, x.tail),
            tail(a1, r1.1, x.tail),
            tail(a2, r2.1, x.tail),
        ]
    }

    /// `acc + row·x` for the next row.
    #[inline(always)]
    fn dot1(&mut self, x: Packed<'_>, acc: i32) -> i32 {
        self.next()
            .map_or(acc, |(b, t)| tail(dsp::dot1(b, x.blocks, acc), t, x.tail))
    }
}

/// `acc + Σ` over the leftover values.
#[inline(always)]
fn tail(acc: i32, w: &[u8], x: &[u32]) -> i32 {
    w.iter().zip(x).fold(acc, |a, (w, v)| {
        a.wrapping_add(i32::from(*w as i8).wrapping_mul(i32::from(*v as u16 as i16)))
    })
}

/// One matrix's pass over every gate row: `acc = bias + row·v` (`bias`
/// alone when `v` is `None`), requantized with its gate's multiplier and
/// its row's exponent, handed to `put` with the row's word. Gate by gate
/// (a gate's rows are consecutive and share its multiplier), rows three
/// at a time. A gate whose shift is at most −1 (every row's `t ≥ 32`,
/// the usual case) requantizes with [`mbqm_high`], decided once per gate
/// (and whether `t` can reach `mbqm`'s clamp at 63).
#[allow(clippy::too_many_arguments)] // the matrix, its numbers, the words and what to do
#[inline(always)]
fn pass(
    mut rows: Rows<'_>,
    v: Option<Packed<'_>>,
    mut bias: impl Iterator<Item = i32>,
    gates: &[Requant; 4],
    exponents: Nibbles<'_>,
    hidden: usize,
    words: &mut [u32],
    mut put: impl FnMut(&mut u32, i32),
) {
    let mut exponents = Exponents {
        bytes: exponents.as_bytes().iter(),
        left: 1,
    };
    for (block, q) in words.chunks_mut(hidden.max(1)).zip(gates) {
        let mut gate = Gate {
            rows: &mut rows,
            v,
            bias: &mut bias,
            exponents: &mut exponents,
            put: &mut put,
        };
        let (m, k0) = (q.multiplier, -1 - i32::from(q.shift));
        if (0..=16).contains(&k0) {
            // k0 + e ≤ 31 for every exponent e ≤ 15: no clamp.
            gate.run(block, |a, e| mbqm_high(a, m, (k0 + i32::from(e)) as u32));
        } else if k0 > 16 {
            gate.run(block, |a, e| {
                mbqm_high(a, m, (k0 + i32::from(e)).min(31) as u32)
            });
        } else {
            gate.run(block, |a, e| req(a, q, e));
        }
    }
}

/// The row exponents in row order, read as a stream (what
/// `Nibbles::get` gives, 0 past the end, without its index arithmetic):
/// `left` holds the nibbles of the current byte not read yet above a
/// marker bit, so `left <= 1` means the next byte is due.
struct Exponents<'a> {
    bytes: core::slice::Iter<'a, u8>,
    left: u32,
}

impl Exponents<'_> {
    #[inline(always)]
    fn next(&mut self) -> u8 {
        if self.left <= 1 {
            self.left = u32::from(self.bytes.next().copied().unwrap_or(0)) | 0x100;
        }
        let e = (self.left & 0x0f) as u8;
        self.left >>= 4;
        e
    }
}

/// What [`pass`] carries from gate to gate.
struct Gate<'g, 'a, 'e, B, P> {
    rows: &'g mut Rows<'a>,
    v: Option<Packed<'g>>,
    bias: &'g mut B,
    exponents: &'g mut Exponents<'e>,
    put: &'g mut P,
}

impl<B: Iterator<Item = i32>, P: FnMut(&mut u32, i32)> Gate<'_, '_, '_, B, P> {
    /// The rows of one gate, requantized by `req(acc, exponent)`.
    #[inline(always)]
    fn run(&mut self, block: &mut [u32], req: impl Fn(i32, u8) -> i32) {
        let mut triples = block.chunks_exact_mut(3);
        for triple in &mut triples {
            let b = [0; 3].map(|_| self.bias.next().unwrap_or(0));
            let acc = match self.v {
                Some(v) => self.rows.dot3(v, b),
                None => b,
            };
            for (w, a) in triple.iter_mut().zip(acc) {
                (self.put)(w, req(a, self.exponents.next()));
            }
        }
        for w in triples.into_remainder() {
            let b = self.bias.next().unwrap_or(0);
            let acc = match self.v {
                Some(v) => self.rows.dot1(v, b),
                None => b,
            };
            (self.put)(w, req(acc, self.exponents.next()));
        }
    }
}

/// Fills one word per gate row from the packed `x` and `h8` (`None` at
/// step 0, the zero state): the LSTM's `pre` (`sat16(xs + hs)`), the GRU's
/// `xs` in the low half and `sat16(hs)` in the high half. Two passes, the
/// input part then the recurrent part, each over one matrix.
fn gate_words(op: &RecurrentI8Op<'_>, x: Packed<'_>, h: Option<Packed<'_>>, words: &mut [u32]) {
    let hidden = op.hidden;
    let ih = Rows::new(op.w_ih.as_bytes(), op.input.c);
    let hh = Rows::new(op.w_hh.as_bytes(), hidden);
    let (e_ih, e_hh) = (op.exponents_ih, op.exponents_hh);
    let (b_ih, b_hh) = (op.b_ih.iter(), op.b_hh.iter());
    // xs, whole, in the word.
    let input = |w: &mut u32, v: i32| *w = sat16(v) as u32;
    pass(ih, Some(x), b_ih, &op.gates_ih, e_ih, hidden, words, input);
    match op.cell {
        // At step 0 an LSTM's recurrent part is 0: pre = xs.
        Cell::Lstm if h.is_none() => {}
        Cell::Lstm => {
            let add = |w: &mut u32, hs: i32| {
                *w = sat16((*w as i32).saturating_add(hs)) as u32;
            };
            pass(hh, h, b_hh, &op.gates_hh, e_hh, hidden, words, add);
        }
        Cell::Gru => {
            let high = |w: &mut u32, hs: i32| {
                *w = u32::from(*w as u16) | u32::from(sat16(hs) as u16) << 16;
            };
            pass(hh, h, b_hh, &op.gates_hh, e_hh, hidden, words, high);
        }
    }
}

/// `clamp(h + zh, −128, 127)`, `h` the requantized hidden value.
#[inline(always)]
fn to_h8(op: &RecurrentI8Op<'_>, h: i32) -> i8 {
    h.saturating_add(i32::from(op.output_quant.zero_point))
        .clamp(-128, 127) as i8
}

/// The low and high halves of a gate word.
#[inline(always)]
fn halves(w: u32) -> (i32, i32) {
    (
        i32::from(w as u16 as i16),
        i32::from((w >> 16) as u16 as i16),
    )
}

/// The units of one step, from the gate words, updating `state` and
/// writing `out`. The hidden requantization takes [`mbqm_high`] when its
/// shift is at most −1 (the usual case), decided once per step.
fn units(op: &RecurrentI8Op<'_>, words: &[u32], state: &mut [i16], out: &mut [i8]) {
    let q = &op.hidden_requant;
    if q.shift <= -1 {
        let (m, k) = (q.multiplier, (-1 - i32::from(q.shift)).min(31) as u32);
        units_with(op, words, state, out, |v| mbqm_high(v, m, k));
    } else {
        units_with(op, words, state, out, |v| req(v, q, 0));
    }
}

/// [`units`] with the hidden requantization `hq`.
#[inline(always)]
fn units_with(
    op: &RecurrentI8Op<'_>,
    words: &[u32],
    state: &mut [i16],
    out: &mut [i8],
    hq: impl Fn(i32) -> i32,
) {
    let p = i32::from(op.state_shift);
    let mut gates = words.chunks_exact(op.hidden.max(1));
    let mut gate = || gates.next().unwrap_or_default();
    let (g0, g1, g2) = (gate(), gate(), gate());
    let unit = state.iter_mut().zip(out.iter_mut());
    match op.cell {
        Cell::Lstm => {
            let g3 = gate();
            let cell = Scale::new(p + 12);
            let pre = g0.iter().zip(g1).zip(g2.iter().zip(g3));
            for ((s, h), ((wi, wf), (wg, wo))) in unit.zip(pre) {
                let i = sigmoid16(halves(*wi).0, 0);
                let f = sigmoid16(halves(*wf).0, 0);
                let g = tanh16(halves(*wg).0, 0);
                let o = sigmoid16(halves(*wo).0, 0);
                let c = sat16(rshr(f * i32::from(*s), 15));
                let c = sat16(rshr(i * g, 30 + p) + c);
                *h = to_h8(op, hq(o * tanh16_scaled(c, cell)));
                *s = c as i16;
            }
        }
        Cell::Gru => {
            for ((s, h), ((wr, wz), wn)) in unit.zip(g0.iter().zip(g1).zip(g2)) {
                let ((xr, hr), (xz, hz), (xn, hn)) = (halves(*wr), halves(*wz), halves(*wn));
                let r = sigmoid16(sat16(xr + hr), 0);
                let z = sigmoid16(sat16(xz + hz), 0);
                let n = tanh16(sat16(xn + rshr(r * hn, 15)), 0);
                let v = sat16(rshr((32768 - z) * n + z * i32::from(*s), 15));
                *h = to_h8(op, hq(v));
                *s = v as i16;
            }
        }
    }
}

/// The state words: the int16 state, the packed `x` and `h8`, one word per gate row.
struct State<'s> {
    state: &'s mut [i16],
    x: &'s mut [u32],
    h: &'s mut [u32],
    gates: &'s mut [u32],
}

fn split<'s>(op: &RecurrentI8Op<'_>, words: &'s mut [u32]) -> Option<State<'s>> {
    let words = words.get_mut(..state_words(op))?;
    let (s, rest) = words.split_at_mut_checked(op.hidden.div_ceil(2))?;
    let (x, rest) = rest.split_at_mut_checked(packed_words(op.input.c))?;
    let (h, gates) = rest.split_at_mut_checked(packed_words(op.hidden))?;
    let state = bytemuck::cast_slice_mut::<u32, i16>(s).get_mut(..op.hidden)?;
    Some(State { state, x, h, gates })
}

/// One step of `op`: reads the step's input `x` (`in` int8 values) and
/// the previous hidden state `h` (`hidden` values, or `None` at step 0 for
/// the zero state), updates the int16 state (the first `ceil(hidden/2)`
/// words of `words`, zero before step 0) and writes the new hidden state
/// into `out`. `words` holds [`state_words`] words. Shorter slices compute
/// less.
pub fn step(op: &RecurrentI8Op<'_>, x: &[i8], h: Option<&[i8]>, words: &mut [u32], out: &mut [i8]) {
    let Some(s) = split(op, words) else {
        return; // unreachable with buffers sized by `ScratchPlan`
    };
    pack_i8(x, op.input_quant.zero_point, s.x);
    let h = h.map(|h| {
        pack_i8(h, op.output_quant.zero_point, s.h);
        Packed::of(s.h, op.hidden)
    });
    gate_words(op, Packed::of(s.x, op.input.c), h, s.gates);
    units(op, s.gates, s.state, out);
}

/// Runs `op` on the int8 sequence `x` (`T × in` values, step-major) into
/// `y` (`T × hidden` int8 values with `sequences`, else `hidden`), using
/// the first [`state_words`] words of `words`. Shorter slices compute less.
pub fn run(op: &RecurrentI8Op<'_>, x: &[i8], y: &mut [i8], words: &mut [u32]) {
    let (steps, inputs, hidden) = (op.steps(), op.step_inputs(), op.hidden);
    if steps == 0 || inputs == 0 || hidden == 0 {
        return; // never in a validated model
    }
    let Some(s) = split(op, words) else {
        return; // unreachable with buffers sized by `ScratchPlan`
    };
    s.state.fill(0);
    let rows = if op.sequences { steps } else { 1 };
    let Some(y) = y.get_mut(..rows.saturating_mul(hidden)) else {
        return; // unreachable with buffers sized by `ScratchPlan`
    };
    let zh = op.output_quant.zero_point;
    for (t, x_t) in x.chunks_exact(inputs).take(steps).enumerate() {
        pack_i8(x_t, op.input_quant.zero_point, s.x);
        let row = if op.sequences { t } else { 0 };
        let (before, rest) = y.split_at_mut(row.saturating_mul(hidden).min(y.len()));
        // The previous h8: row t − 1 with `sequences`, else the output itself.
        let previous: &[i8] = if op.sequences {
            before
                .get(before.len().saturating_sub(hidden)..)
                .unwrap_or_default()
        } else {
            rest
        };
        let h = (t > 0).then(|| {
            pack_i8(previous, zh, s.h);
            Packed::of(s.h, hidden)
        });
        gate_words(op, Packed::of(s.x, inputs), h, s.gates);
        units(
            op,
            s.gates,
            s.state,
            rest.get_mut(..hidden).unwrap_or_default(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model_format::build::{i8_bytes, i32_bytes};
    use model_format::{I8s, I32s, MapDims, Nibbles, Quant};

    struct Bytes {
        w_ih: Vec<u8>,
        w_hh: Vec<u8>,
        b_ih: Vec<u8>,
        b_hh: Vec<u8>,
        e: Vec<u8>,
    }

    fn bytes(cell: Cell, inputs: usize, hidden: usize) -> Bytes {
        let rows = cell.gates() * hidden;
        let ramp = |n: usize, k: i32| {
            (0..n as i32)
                .map(|i| ((i * k) % 200 - 100) as i8)
                .collect::<Vec<_>>()
        };
        let b_hh = if cell == Cell::Gru {
            vec![300; rows]
        } else {
            vec![]
        };
        Bytes {
            w_ih: i8_bytes(&ramp(rows * inputs, 37)),
            w_hh: i8_bytes(&ramp(rows * hidden, 53)),
            b_ih: i32_bytes(&vec![-700; rows]),
            b_hh: i32_bytes(&b_hh),
            e: vec![0x10; rows.div_ceil(2)],
        }
    }

    fn op(
        cell: Cell,
        steps: usize,
        inputs: usize,
        hidden: usize,
        sequences: bool,
        b: &Bytes,
    ) -> RecurrentI8Op<'_> {
        let m = Requant {
            multiplier: 0x6000_0000,
            shift: -3,
        };
        let q = |zero_point| Quant {
            scale: 0.05,
            zero_point,
        };
        RecurrentI8Op {
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
            input_quant: q(3),
            output_quant: q(-5),
            state_shift: if cell == Cell::Lstm { -11 } else { -15 },
            gates_ih: [m; 4],
            gates_hh: [m; 4],
            hidden_requant: Requant {
                multiplier: 0x5000_0000,
                shift: if cell == Cell::Lstm { -22 } else { -7 },
            },
            w_ih: I8s::new(&b.w_ih),
            exponents_ih: Nibbles::new(&b.e),
            w_hh: I8s::new(&b.w_hh),
            exponents_hh: Nibbles::new(&b.e),
            b_ih: I32s::new(&b.b_ih),
            b_hh: I32s::new(&b.b_hh),
        }
    }

    #[test]
    fn run_is_step_after_step_and_the_last_step_is_the_last_row() {
        for cell in [Cell::Lstm, Cell::Gru] {
            let (steps, inputs, hidden) = (5, 6, 5);
            let b = bytes(cell, inputs, hidden);
            let x: Vec<i8> = (0..steps * inputs)
                .map(|i| (i as i8).wrapping_mul(29))
                .collect();
            let seq = op(cell, steps, inputs, hidden, true, &b);
            let mut words = vec![0u32; state_words(&seq)];
            let mut want = vec![0i8; steps * hidden];
            let mut h: Option<Vec<i8>> = None;
            for (x_t, out) in x.chunks(inputs).zip(want.chunks_mut(hidden)) {
                step(&seq, x_t, h.as_deref(), &mut words, out);
                h = Some(out.to_vec());
            }
            let mut y = vec![0i8; steps * hidden];
            let mut garbage = vec![0xdead_beef_u32; state_words(&seq)];
            run(&seq, &x, &mut y, &mut garbage);
            assert_eq!(y, want, "{cell:?}");
            assert!(y.iter().any(|v| *v != y[0]), "{cell:?} computes");
            let last = op(cell, steps, inputs, hidden, false, &b);
            let mut y = vec![0i8; hidden];
            run(&last, &x, &mut y, &mut garbage);
            assert_eq!(y[..], want[(steps - 1) * hidden..], "{cell:?}");
        }
    }

    #[test]
    fn short_buffers_are_left_alone() {
        let b = bytes(Cell::Lstm, 2, 3);
        let o = op(Cell::Lstm, 2, 2, 3, true, &b);
        let mut y = [9i8; 6];
        run(&o, &[1, 2, 3, 4], &mut y, &mut [0; 3]);
        assert_eq!(y, [9; 6], "no room for the state");
    }
}
