//! The int8 recurrent layer (SPEC.md 3.3, "int8 recurrent layers"),
//! written from the SPEC alone: the layer as stored ([`RecurrentI8`], not
//! the resolved op), plain `i64` arithmetic with the SPEC's saturations
//! spelled out, one unit and one gate at a time, and the sigmoid table
//! read from the appendix of SPEC.md itself at run time (so a table typed
//! wrong in the firmware cannot agree with it by sharing a constant).
//!
//! [`Mutation`]s of the recurrent arithmetic bend one rule each.

use std::sync::OnceLock;

use model_format::{Cell, Quant, RecurrentI8, Requant};

use super::{Mutation, exponents, i8s, i32s, mbqm_with};

/// SPEC.md, whose appendix lists `T`.
const SPEC: &str = include_str!("../../../model-format/SPEC.md");

/// The 256 values of `T`, parsed from the code block after the line that
/// starts with "Appendix: `T`".
pub fn table() -> &'static [i64; 256] {
    static TABLE: OnceLock<[i64; 256]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let start = SPEC
            .find("Appendix: `T`")
            .expect("SPEC.md has the appendix");
        let block = &SPEC[start..];
        let open = block.find("```text").expect("a code block") + "```text".len();
        let close = open + block[open..].find("```").expect("its end");
        let values: Vec<i64> = block[open..close]
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().expect("a number"))
            .collect();
        values.try_into().expect("256 values")
    })
}

fn sat16(v: i64) -> i64 {
    v.clamp(-32768, 32767)
}

/// `(v + 2^(n−1)) >> n` (floor with the truncating mutation).
fn rshr(v: i64, n: i64, mutation: Mutation) -> i64 {
    if mutation == Mutation::RecurrentRshrTruncates {
        return v >> n;
    }
    (v + (1 << (n - 1))) >> n
}

#[derive(Clone, Copy, PartialEq)]
enum Act {
    Sigmoid,
    Tanh,
}

/// `act16(v, ls, kind)` of the SPEC, term by term.
fn act16(v: i64, ls: i64, kind: Act, mutation: Mutation) -> i64 {
    let t = table();
    let (sh, top) = match kind {
        Act::Sigmoid => (9, 32767 * 1024),
        Act::Tanh => (8, 65535 * 256),
    };
    let m = if ls < 0 { 3 } else { 3 * (1 << ls) };
    let a = if ls < 0 { -ls } else { 0 };
    let u = (v * m + if a > 0 { 1 << (a - 1) } else { 0 }) >> a;
    let au = u.abs();
    let uh = au >> sh;
    let res = if uh >= 255 {
        top
    } else {
        let (lo, hi) = (t[uh as usize], t[uh as usize + 1]);
        let frac = au % (1 << sh);
        if mutation == Mutation::RecurrentTableNotInterpolated {
            lo * (1 << sh)
        } else {
            lo * (1 << sh) + frac * (hi - lo)
        }
    };
    match (kind, u >= 0) {
        (Act::Sigmoid, true) => (res + 512) >> 10,
        (Act::Sigmoid, false) => ((1 << 25) - res + 511) >> 10,
        (Act::Tanh, true) => (res - (1 << 23) + 128) >> 8,
        (Act::Tanh, false) => ((1 << 23) - res + 127) >> 8,
    }
}

fn sigma(v: i64, ls: i64, mutation: Mutation) -> i64 {
    act16(v, ls, Act::Sigmoid, mutation)
}

fn tanh(v: i64, ls: i64, mutation: Mutation) -> i64 {
    act16(v, ls, Act::Tanh, mutation)
}

/// `req(acc, q, e) = mbqm(acc, q.multiplier, q.shift − e)`.
fn req(acc: i64, q: &Requant, e: u8, mutation: Mutation) -> i64 {
    let acc = acc as i32; // the SPEC's i32 accumulator wraps
    i64::from(mbqm_with(
        acc,
        q.multiplier,
        i32::from(q.shift) - i32::from(e),
        mutation,
    ))
}

/// `Σ w[r, i]·(v[i] − zero_point)`.
fn dot(w: &[i8], r: usize, len: usize, v: &[i8], zero_point: i8) -> i64 {
    (0..len)
        .map(|i| i64::from(w[r * len + i]) * (i64::from(v[i]) - i64::from(zero_point)))
        .sum()
}

fn clamp8(v: i64) -> i8 {
    v.clamp(-128, 127) as i8
}

/// The layer `r` on the int8 sequence `x` (`T × in`), its int8 output
/// (`T × hidden` with `sequences`, else `hidden`) and quantization.
pub fn run(r: &RecurrentI8<'_>, x: &[i8], mutation: Mutation) -> (Vec<i8>, Quant) {
    let (steps, inputs, hidden) = (r.shape.w as usize, r.shape.c as usize, r.hidden as usize);
    let gates = r.cell.gates();
    let rows = gates * hidden;
    let (w_ih, w_hh) = (i8s(r.w_ih), i8s(r.w_hh));
    let (b_ih, b_hh) = (i32s(r.b_ih), i32s(r.b_hh));
    let e_ih = exponents(r.exponents_ih.as_bytes(), rows, mutation);
    let e_hh = exponents(r.exponents_hh.as_bytes(), rows, mutation);
    let (zx, zh) = (r.input.zero_point, r.output.zero_point);
    let p = i64::from(r.state_shift);
    // Gate k's rows; the gate-order mutation swaps the first two gates.
    let gate = |k: usize| {
        if mutation == Mutation::RecurrentGatesSwapped && k < 2 {
            1 - k
        } else {
            k
        }
    };
    let mut state = vec![0i64; hidden];
    let mut h8 = vec![zh; hidden];
    let mut out = Vec::new();
    for t in 0..steps {
        let xt = &x[t * inputs..(t + 1) * inputs];
        let mut next = vec![0i8; hidden];
        for j in 0..hidden {
            let mut xs = [0i64; 4];
            let mut hs = [0i64; 4];
            for k in 0..gates {
                let row = gate(k) * hidden + j;
                let ax = i64::from(b_ih[row]) + dot(&w_ih, row, inputs, xt, zx);
                let bias = if r.cell == Cell::Gru {
                    i64::from(b_hh[row])
                } else {
                    0
                };
                let ah = bias + dot(&w_hh, row, hidden, &h8, zh);
                let (qi, qh) = (&r.gates_ih[gate(k)], &r.gates_hh[gate(k)]);
                xs[k] = sat16(req(ax, qi, e_ih[row], mutation));
                hs[k] = req(ah, qh, e_hh[row], mutation);
            }
            let pre = |v: i64| {
                if mutation == Mutation::RecurrentNoSaturation {
                    i64::from(v as i16)
                } else {
                    sat16(v)
                }
            };
            match r.cell {
                Cell::Lstm => {
                    // hs[k] + xs[k] saturates in i32 first; both fit, so it cannot.
                    let g = |k: usize| pre(hs[k] + xs[k]);
                    let (i, f) = (sigma(g(0), 0, mutation), sigma(g(1), 0, mutation));
                    let (gg, o) = (tanh(g(2), 0, mutation), sigma(g(3), 0, mutation));
                    let cell_shift = if mutation == Mutation::RecurrentCellShiftOffByOne {
                        31 + p
                    } else {
                        30 + p
                    };
                    let c = sat16(rshr(f * state[j], 15, mutation));
                    let c = sat16(rshr(i * gg, cell_shift, mutation) + c);
                    state[j] = c;
                    let v = o * tanh(c, p + 12, mutation);
                    next[j] = clamp8(req(v, &r.hidden_requant, 0, mutation) + i64::from(zh));
                }
                Cell::Gru => {
                    let hs = hs.map(sat16);
                    let rg = sigma(pre(xs[0] + hs[0]), 0, mutation);
                    let z = sigma(pre(xs[1] + hs[1]), 0, mutation);
                    let n = tanh(pre(xs[2] + rshr(rg * hs[2], 15, mutation)), 0, mutation);
                    let s = sat16(rshr((32768 - z) * n + z * state[j], 15, mutation));
                    state[j] = s;
                    next[j] = clamp8(req(s, &r.hidden_requant, 0, mutation) + i64::from(zh));
                }
            }
        }
        h8 = next;
        if r.sequences {
            out.extend_from_slice(&h8);
        }
    }
    if !r.sequences {
        out = h8;
    }
    (out, r.output)
}
