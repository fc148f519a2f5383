//! LSTM and GRU layers, int8 (SPEC.md 3.3, "int8 recurrent layers"):
//! CMSIS-NN's integer LSTM (`arm_lstm_unidirectional_s8`, with its
//! single-rounding requantization) and a GRU from the same pieces, integer
//! only, weights read straight from the model bytes.
//!
//! **Per step**, the step's input `x` (int8, `in` values) and the previous
//! hidden state `h8` (int8, `hidden` values) are each packed once, their
//! zero points subtracted, into 16-bit halves in the dual-MAC block order
//! of `ops/dsp.rs` (`dsp::pack4`: two `sxtb16` and two `ssub16` per four
//! values on the Cortex-M4). Then unit after unit: the `G` gate rows
//! `k·hidden + j` of `w_ih` and of `w_hh` are dotted with the packed
//! vectors three rows at a time (`dsp::dot3`, SMLAD; the LSTM's fourth row
//! by `dsp::dot1`), requantized to Q3.12 with their gate multiplier and
//! row exponent, passed through the table sigmoid and tanh of
//! [`act16`](super::act16), and the unit's new state and `h8` are written.
//! As `h8` is packed before the units run, the new `h8` may overwrite the
//! old one: without `sequences` every step writes the output directly.
//!
//! **State** ([`state_words`] words, what [`crate::ScratchPlan`] reserves):
//! the int16 state (`c` or `s`, `hidden` halves) and the two packed
//! vectors, `packed_words(in) + packed_words(hidden)`.
//!
//! [`step`] is one step, what [`run`] does for each `t`, so a caller that
//! keeps the state itself computes the same bits.
//!
//! The sizes come from a validated model, so every index computed here is
//! in range; the kernel still reads through `get` and iterators and
//! computes less on shorter slices, never panicking.

use model_format::{Cell, RecurrentI8Op, Requant};

use super::act16::{sigmoid16, tanh16};
use super::dsp;
use super::int8::{mbqm, pack_i8, packed_words};

/// Words of state `op` needs besides its input and output: the int16
/// state (`ceil(hidden / 2)` words) and the packed `x` and `h8`.
pub const fn state_words(op: &RecurrentI8Op<'_>) -> usize {
    op.hidden
        .div_ceil(2)
        .saturating_add(packed_words(op.input.c))
        .saturating_add(packed_words(op.hidden))
}

/// `clamp(v, −32768, 32767)`.
#[inline(always)]
fn sat16(v: i32) -> i32 {
    v.clamp(-32768, 32767)
}

/// `(v + 2^(n−1)) >> n`, `n` in 1..=31, without overflow.
#[inline(always)]
fn rshr(v: i32, n: i32) -> i32 {
    ((i64::from(v) + (1i64 << (n - 1))) >> n) as i32
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

/// One weight row split into whole blocks of four and the leftover bytes.
#[inline(always)]
fn row(w: &[u8], r: usize, len: usize) -> (&[[u8; 4]], &[u8]) {
    let start = r.saturating_mul(len);
    let bytes = w.get(start..start.saturating_add(len)).unwrap_or_default();
    let (b, t) = bytes.split_at((len / 4 * 4).min(bytes.len()));
    (b.as_chunks::<4>().0, t)
}

/// `acc + Σ` over the leftover values.
#[inline(always)]
fn tail(acc: i32, w: &[u8], x: &[u32]) -> i32 {
    w.iter().zip(x).fold(acc, |a, (w, v)| {
        a.wrapping_add(i32::from(*w as i8).wrapping_mul(i32::from(*v as u16 as i16)))
    })
}

/// One matrix (`w_ih` or `w_hh`) with its row length.
#[derive(Clone, Copy)]
struct Matrix<'a> {
    w: &'a [u8],
    len: usize,
}

impl Matrix<'_> {
    /// `acc[k] + w[rows[k]]·x` for three rows.
    #[inline(always)]
    fn dot3(&self, rows: [usize; 3], x: Packed<'_>, acc: [i32; 3]) -> [i32; 3] {
        let r = rows.map(|r| row(self.w, r, self.len));
        let [a0, a1, a2] = dsp::dot3([r[0].0, r[1].0, r[2].0], x.blocks, acc);
        [
            tail(a0, r[0].1, x.tail),
            tail(a1, r[1].1, x.tail),
            tail(a2, r[2].1, x.tail),
        ]
    }

    /// `acc + w[r]·x`.
    #[inline(always)]
    fn dot1(&self, r: usize, x: Packed<'_>, acc: i32) -> i32 {
        let (b, t) = row(self.w, r, self.len);
        tail(dsp::dot1(b, x.blocks, acc), t, x.tail)
    }
}

/// Gate `k`'s Q3.12 parts: the input part `sat16(req(ax))` and the
/// recurrent part `req(ah)` (not saturated), for unit `j`.
struct Parts {
    xs: [i32; 4],
    hs: [i32; 4],
}

/// The gate sums of unit `j`: `G` rows of both matrices, requantized.
#[inline(always)]
fn parts(op: &RecurrentI8Op<'_>, j: usize, x: Packed<'_>, h: Option<Packed<'_>>) -> Parts {
    let hidden = op.hidden;
    let r = |k: usize| k.saturating_mul(hidden).saturating_add(j);
    let ih = Matrix {
        w: op.w_ih.as_bytes(),
        len: op.input.c,
    };
    let hh = Matrix {
        w: op.w_hh.as_bytes(),
        len: hidden,
    };
    let b_ih = |k| op.b_ih.get(r(k)).unwrap_or(0);
    let b_hh = |k| op.b_hh.get(r(k)).unwrap_or(0);
    let [a0, a1, a2] = ih.dot3([r(0), r(1), r(2)], x, [b_ih(0), b_ih(1), b_ih(2)]);
    let lstm = op.cell == Cell::Lstm;
    let a3 = if lstm { ih.dot1(r(3), x, b_ih(3)) } else { 0 };
    let mut ah = [b_hh(0), b_hh(1), b_hh(2), 0];
    if let Some(h) = h {
        let [h0, h1, h2] = hh.dot3([r(0), r(1), r(2)], h, [ah[0], ah[1], ah[2]]);
        let h3 = if lstm { hh.dot1(r(3), h, 0) } else { 0 };
        ah = [h0, h1, h2, h3];
    }
    let mut p = Parts {
        xs: [0; 4],
        hs: [0; 4],
    };
    for (k, ((xs, hs), (ax, ah))) in
        p.xs.iter_mut()
            .zip(p.hs.iter_mut())
            .zip([a0, a1, a2, a3].into_iter().zip(ah))
            .enumerate()
            .take(op.cell.gates())
    {
        let (qi, qh) = (
            op.gates_ih.get(k).copied().unwrap_or(ZERO),
            op.gates_hh.get(k).copied().unwrap_or(ZERO),
        );
        *xs = sat16(req(ax, &qi, op.exponents_ih.get(r(k))));
        *hs = req(ah, &qh, op.exponents_hh.get(r(k)));
    }
    p
}

const ZERO: Requant = Requant {
    multiplier: 0,
    shift: 0,
};

/// `clamp(req(v, hidden_requant, 0) + zh, −128, 127)`.
#[inline(always)]
fn to_h8(op: &RecurrentI8Op<'_>, v: i32) -> i8 {
    req(v, &op.hidden_requant, 0)
        .saturating_add(i32::from(op.output_quant.zero_point))
        .clamp(-128, 127) as i8
}

/// The units of one step, from the packed `x` and `h8` (`None` at step 0:
/// the zero state), updating `state` and writing `out`.
fn units(
    op: &RecurrentI8Op<'_>,
    x: Packed<'_>,
    h: Option<Packed<'_>>,
    state: &mut [i16],
    out: &mut [i8],
) {
    let p = i32::from(op.state_shift);
    for (j, (sj, hj)) in state.iter_mut().zip(out.iter_mut()).enumerate() {
        let Parts { xs, hs } = parts(op, j, x, h);
        let s = i32::from(*sj);
        let new = match op.cell {
            Cell::Lstm => {
                let mut pre = [0i32; 4];
                for (p, (h, x)) in pre.iter_mut().zip(hs.into_iter().zip(xs)) {
                    *p = sat16(h.saturating_add(x));
                }
                let [p0, p1, p2, p3] = pre;
                let i = sigmoid16(p0, 0);
                let f = sigmoid16(p1, 0);
                let g = tanh16(p2, 0);
                let o = sigmoid16(p3, 0);
                let c = sat16(rshr(f * s, 15));
                let c = sat16(rshr(i * g, 30 + p) + c);
                *hj = to_h8(op, o * tanh16(c, p + 12));
                c
            }
            Cell::Gru => {
                let hs = hs.map(sat16);
                let r = sigmoid16(sat16(xs[0] + hs[0]), 0);
                let z = sigmoid16(sat16(xs[1] + hs[1]), 0);
                let n = tanh16(sat16(xs[2] + rshr(r * hs[2], 15)), 0);
                let s = sat16(rshr((32768 - z) * n + z * s, 15));
                *hj = to_h8(op, s);
                s
            }
        };
        *sj = new as i16;
    }
}

/// Splits the state words into the int16 state and the two packed vectors.
fn split<'s>(
    op: &RecurrentI8Op<'_>,
    words: &'s mut [u32],
) -> Option<(&'s mut [i16], &'s mut [u32], &'s mut [u32])> {
    let words = words.get_mut(..state_words(op))?;
    let (s, rest) = words.split_at_mut_checked(op.hidden.div_ceil(2))?;
    let (xw, hw) = rest.split_at_mut_checked(packed_words(op.input.c))?;
    let s = bytemuck::cast_slice_mut::<u32, i16>(s).get_mut(..op.hidden)?;
    Some((s, xw, hw))
}

/// One step of `op`: reads the step's input `x` (`in` int8 values) and
/// the previous hidden state `h` (`hidden` values, or `None` at step 0 for
/// the zero state), updates the int16 state (the first `ceil(hidden/2)`
/// words of `words`, zero before step 0) and writes the new hidden state
/// into `out`. `words` holds [`state_words`] words. Shorter slices compute
/// less.
pub fn step(op: &RecurrentI8Op<'_>, x: &[i8], h: Option<&[i8]>, words: &mut [u32], out: &mut [i8]) {
    let Some((state, xw, hw)) = split(op, words) else {
        return; // unreachable with buffers sized by `ScratchPlan`
    };
    pack_i8(x, op.input_quant.zero_point, xw);
    let h = h.map(|h| {
        pack_i8(h, op.output_quant.zero_point, hw);
        Packed::of(hw, op.hidden)
    });
    units(op, Packed::of(xw, op.input.c), h, state, out);
}

/// Runs `op` on the int8 sequence `x` (`T × in` values, step-major) into
/// `y` (`T × hidden` int8 values with `sequences`, else `hidden`), using
/// the first [`state_words`] words of `words`. Shorter slices compute less.
pub fn run(op: &RecurrentI8Op<'_>, x: &[i8], y: &mut [i8], words: &mut [u32]) {
    let (steps, inputs, hidden) = (op.steps(), op.step_inputs(), op.hidden);
    if steps == 0 || inputs == 0 || hidden == 0 {
        return; // never in a validated model
    }
    let Some((state, xw, hw)) = split(op, words) else {
        return; // unreachable with buffers sized by `ScratchPlan`
    };
    state.fill(0);
    let rows = if op.sequences { steps } else { 1 };
    let Some(y) = y.get_mut(..rows.saturating_mul(hidden)) else {
        return; // unreachable with buffers sized by `ScratchPlan`
    };
    let zh = op.output_quant.zero_point;
    for (t, x_t) in x.chunks_exact(inputs).take(steps).enumerate() {
        pack_i8(x_t, op.input_quant.zero_point, xw);
        let row = if op.sequences { t } else { 0 };
        let (before, rest) = y.split_at_mut(row.saturating_mul(hidden).min(y.len()));
        // The previous h8: row t − 1 with `sequences`, else the output itself.
        let previous: &[i8] = if t == 0 {
            &[]
        } else if op.sequences {
            before
                .get(before.len().saturating_sub(hidden)..)
                .unwrap_or_default()
        } else {
            rest
        };
        let h = (t > 0).then(|| {
            pack_i8(previous, zh, hw);
            Packed::of(hw, hidden)
        });
        let out = rest.get_mut(..hidden).unwrap_or_default();
        units(op, Packed::of(xw, inputs), h, state, out);
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
