//! The int8 dense layer with its weights interleaved four rows at a time
//! (tag 14, [`WeightLayout::Interleaved4`](model_format::WeightLayout)),
//! and the tied int8 layer's column kernel: the arithmetic of SPEC.md 3.3
//! ("int8 layers"), the same bits as the row-major kernel in
//! [`super::int8`].
//!
//! A row group `g` is `B = ceil(inputs / 4)` units of 16 bytes; unit `b`
//! holds inputs `4b..4b + 4` of rows `4g..4g + 4`, row after row. The
//! whole units meet the packed input's blocks (`[x0 | x2 << 16, x1 | x3 <<
//! 16]`) in `dsp::dot4x4`; a last unit over fewer than four inputs meets
//! the packed input's leftover words here. Padding rows are computed and
//! dropped; padding weights are 0 (the loader checked).
//!
//! No panics: every access is through iterators or `get`, and shorter
//! slices than a validated model gives only compute less.

use model_format::DenseI8Op;

use super::dsp;
use super::int8::{mbqm, packed_words};

/// The requantization and table step of one layer (`finish` of
/// [`super::int8`], the same bits), its branches decided once per layer
/// rather than once per output.
#[derive(Clone, Copy)]
pub(crate) struct Requantizer<'a> {
    multiplier: i32,
    shift: i32,
    zero_point: i32,
    clamp_min: i32,
    table: &'a [u8],
}

impl<'a> Requantizer<'a> {
    /// The step of `op`.
    pub(crate) fn new(op: &DenseI8Op<'a>) -> Self {
        Requantizer {
            multiplier: op.requant.multiplier,
            shift: i32::from(op.requant.shift),
            zero_point: i32::from(op.target_zero_point),
            clamp_min: i32::from(op.clamp_min),
            table: op.table.as_bytes(),
        }
    }

    /// True when the layer's shift is in −17..=−2 (the usual case, a layer
    /// multiplier from 2^−18 to 1/4): then every channel's shift `shift −
    /// exponent` is at most −2 and [`Self::high`] applies.
    pub(crate) fn is_high(&self) -> bool {
        (-17..=-2).contains(&self.shift)
    }

    /// `mbqm(acc, m, s) + zp` for `s = shift − exponent ≤ −2`: with
    /// `k = −1 − s` in 1..=31 and `hi` the high word of `acc · m`
    /// (floored), `mbqm` is `(hi + 2^(k−1)) >> k` ([`mbqm`]'s high-word
    /// path, exactly), which is `((hi >> (k − 1)) + 1) >> 1` (flooring by
    /// `2^(k−1)` first does not change the floor by `2^k`); `|hi| < 2^30`,
    /// so nothing overflows. One `smmul`, a shift, an add and a shift.
    #[inline(always)]
    pub(crate) fn high(&self, acc: i32, exponent: u8) -> i32 {
        // 0..=30 for a shift in −17..=−2 and an exponent in 0..=15.
        let k1 = (-2 - self.shift + i32::from(exponent)) as u32;
        let hi = ((i64::from(acc) * i64::from(self.multiplier)) >> 32) as i32;
        (((hi >> (k1 & 31)) + 1) >> 1) + self.zero_point
    }

    /// `mbqm(acc, m, shift − exponent) + zp`, saturating, for any shift.
    #[inline(always)]
    pub(crate) fn general(&self, acc: i32, exponent: u8) -> i32 {
        mbqm(acc, self.multiplier, self.shift - i32::from(exponent)).saturating_add(self.zero_point)
    }

    /// The clamp to `clamp_min..=127` (`clamp_min ≥ −128`, so saturating
    /// to int8 first gives the same value).
    #[inline(always)]
    pub(crate) fn clamp(&self, v: i32) -> i8 {
        v.clamp(-128, 127).max(self.clamp_min) as i8
    }

    /// The table lookup (for SELU, sigmoid and tanh).
    #[inline(always)]
    pub(crate) fn lut(&self, q: i8) -> i8 {
        self.table
            .get(usize::from((q as u8) ^ 0x80))
            .map_or(q, |t| *t as i8)
    }
}

/// Calls `$kernel($args.., finish)` with the finishing step of `$op`
/// (requantization, clamp, table) as a closure chosen once per layer: four
/// monomorphized copies of the kernel, none of which branches per output
/// on the layer's constants.
macro_rules! with_finish {
    ($op:expr, $kernel:ident($($arg:expr),*)) => {{
        let r = Requantizer::new($op);
        match (r.is_high(), r.table.is_empty()) {
            (true, true) => $kernel($($arg,)* |a, e| r.clamp(r.high(a, e))),
            (true, false) => $kernel($($arg,)* |a, e| r.lut(r.clamp(r.high(a, e)))),
            (false, true) => $kernel($($arg,)* |a, e| r.clamp(r.general(a, e))),
            (false, false) => $kernel($($arg,)* |a, e| r.lut(r.clamp(r.general(a, e)))),
        }
    }};
}

/// Runs an interleaved `op` on the packed input `x`
/// (`packed_words(op.inputs)` words) into the first `op.outputs` values of
/// `y`. Not inlined: the engine's loop over the layers keeps its
/// registers, this its own.
#[inline(never)]
pub fn run_interleaved(op: &DenseI8Op<'_>, x: &[u32], y: &mut [i8]) {
    let r = Requantizer::new(op);
    if r.is_high() && r.table.is_empty() {
        // The common case: a whole group's four outputs in one step
        // (`dsp::finish4_high`, the same bits as `r.clamp(r.high(..))`).
        let (m, c, lo) = (r.multiplier, 1 + 2 * r.zero_point, r.clamp_min);
        let base = -2 - r.shift;
        let lo4 = u32::from(lo as u8) * 0x0101_0101;
        let four = move |acc: [i32; 4], e: [u8; 4]| {
            let k = e.map(|e| (base + i32::from(e)) as u32);
            dsp::finish4_high(acc, k, m, c, lo4)
                .to_le_bytes()
                .map(|b| b as i8)
        };
        if op.inputs.is_multiple_of(4) && op.outputs.is_multiple_of(4) {
            let xb = x
                .get(..op.inputs / 2)
                .unwrap_or_default()
                .as_chunks::<2>()
                .0;
            if let Some(y) = y.get_mut(..op.outputs)
                && dsp::dense4_high(
                    op.weights.as_bytes(),
                    op.bias.as_bytes(),
                    op.exponents.as_bytes(),
                    xb,
                    y,
                    m,
                    c,
                    lo4,
                    base,
                )
            {
                return;
            }
        }
        return groups(op, x, y, |a, e| r.clamp(r.high(a, e)), four);
    }
    with_finish!(op, groups_each(op, x, y))
}

/// [`groups`] with the whole groups finished one output at a time.
#[inline(always)]
fn groups_each(op: &DenseI8Op<'_>, x: &[u32], y: &mut [i8], finish: impl Fn(i32, u8) -> i8) {
    let four = |acc: [i32; 4], e: [u8; 4]| {
        [
            finish(acc[0], e[0]),
            finish(acc[1], e[1]),
            finish(acc[2], e[2]),
            finish(acc[3], e[3]),
        ]
    };
    groups(op, x, y, &finish, four)
}

/// [`run_interleaved`] with the finishing step `finish(acc, exponent)`,
/// and `four(acc, exponents)` for a whole group of four outputs.
#[inline(always)]
fn groups(
    op: &DenseI8Op<'_>,
    x: &[u32],
    y: &mut [i8],
    finish: impl Fn(i32, u8) -> i8,
    four: impl Fn([i32; 4], [u8; 4]) -> [i8; 4],
) {
    let Some(y) = y.get_mut(..op.outputs) else {
        return; // unreachable with buffers sized by `ScratchPlan`
    };
    let blocks = op.inputs / 4;
    let units = op.inputs.div_ceil(4);
    if units == 0 {
        return;
    }
    let x = x.get(..packed_words(op.inputs)).unwrap_or(x);
    let (xb, xt) = x.split_at((blocks * 2).min(x.len()));
    let xb = xb.as_chunks::<2>().0;
    let all_units = op.weights.as_bytes().as_chunks::<16>().0;
    let groups = all_units.chunks_exact(units);
    // Per group of four outputs: 16 bytes of bias, 2 of exponents.
    let bias = op.bias.as_bytes().chunks(16);
    let exponents = op.exponents.as_bytes().chunks(2);
    #[cfg(edgeae_x86)]
    if let Some(simd) = dsp::x86::Simd::current() {
        let r = Requantizer::new(op);
        // Sixteen outputs at a time through the whole-layer kernel where it
        // applies (whole units, the high-word step), then four row groups
        // at a time (one permuted input serves them), a last one to three
        // one at a time.
        let mut done = 0;
        if blocks == units && r.is_high() {
            let rq = dsp::x86::HighRequant {
                k0: -2 - r.shift,
                multiplier: r.multiplier,
                zero_point: r.zero_point,
                clamp_min: r.clamp_min as i8,
            };
            let layer = dsp::x86::X4Layer {
                groups: all_units,
                units,
                x: xb,
                bias: op.bias.as_bytes(),
                exps: op.exponents.as_bytes(),
                rq,
            };
            done = simd.x4_layer_high(layer, y);
            if !r.table.is_empty() {
                for v in y.iter_mut().take(done) {
                    *v = r.lut(*v);
                }
            }
        }
        let mut quads = groups
            .zip(y.chunks_mut(4))
            .zip(bias)
            .zip(exponents)
            .skip(done / 4);
        while let Some(q0) = quads.next() {
            let mut next4 = [Some(q0), quads.next(), quads.next(), quads.next()];
            if let [Some(q0), Some(q1), Some(q2), Some(q3)] = &mut next4 {
                let mut qs = [q0, q1, q2, q3];
                let whole = qs
                    .each_ref()
                    .map(|q| q.0.0.0.get(..blocks).unwrap_or(q.0.0.0));
                let acc = simd.dot_x4_4(whole, xb, qs.each_ref().map(|q| bias4(q.0.1)));
                for (q, acc) in qs.iter_mut().zip(acc) {
                    let (((group, ref mut ys), _), e) = **q;
                    let last = group.get(blocks..).unwrap_or_default();
                    finish_group(acc, last, xt, e, ys, (&finish, &four));
                }
                continue;
            }
            for (((group, ys), b), e) in next4.into_iter().flatten() {
                let (whole, last) = group.split_at(blocks.min(group.len()));
                let acc = simd.dot_x4(whole, xb, bias4(b));
                finish_group(acc, last, xt, e, ys, (&finish, &four));
            }
        }
        return;
    }
    for (((group, ys), b), e) in groups.zip(y.chunks_mut(4)).zip(bias).zip(exponents) {
        let (whole, last) = group.split_at(blocks.min(group.len()));
        let acc = dsp::dot4x4(whole, xb, bias4(b));
        finish_group(acc, last, xt, e, ys, (&finish, &four));
    }
}

/// The bias of a group of four outputs (16 bytes; fewer for a last group
/// of fewer outputs).
#[inline(always)]
fn bias4(b: &[u8]) -> [i32; 4] {
    let mut acc = [0i32; 4];
    if let Ok(b) = <&[u8; 16]>::try_from(b) {
        let [b0, b1, b2, b3] = b
            .as_chunks::<4>()
            .0
            .first_chunk::<4>()
            .copied()
            .unwrap_or_default();
        acc = [b0, b1, b2, b3].map(i32::from_le_bytes);
    } else {
        for (a, v) in acc.iter_mut().zip(b.as_chunks::<4>().0) {
            *a = i32::from_le_bytes(*v);
        }
    }
    acc
}

/// The four exponents of a group of four outputs (2 bytes of nibbles).
#[inline(always)]
fn nibbles4(e: &[u8]) -> [u8; 4] {
    let e0 = e.first().copied().unwrap_or(0);
    let e1 = e.get(1).copied().unwrap_or(0);
    [e0 & 15, e0 >> 4, e1 & 15, e1 >> 4]
}

/// The rest of a group of four outputs after the whole units: the last
/// unit `last` (if any) over the leftover words `xt`, then the finishing
/// step with the exponents `e` (2 bytes) into `ys`: `four` for a whole
/// group, `finish` per output for a last group of fewer.
#[inline(always)]
fn finish_group(
    acc: [i32; 4],
    last: &[[u8; 16]],
    xt: &[u32],
    e: &[u8],
    ys: &mut [i8],
    (finish, four): (
        &impl Fn(i32, u8) -> i8,
        &impl Fn([i32; 4], [u8; 4]) -> [i8; 4],
    ),
) {
    let mut acc = acc;
    if let Some(unit) = last.first() {
        acc = leftover(unit, xt, acc);
    }
    let exps = nibbles4(e);
    if let Ok(ys) = <&mut [i8; 4]>::try_from(&mut *ys) {
        *ys = four(acc, exps);
    } else {
        for ((yo, a), ex) in ys.iter_mut().zip(acc).zip(exps) {
            *yo = finish(a, ex);
        }
    }
}

/// `acc + Σ w·x` over the leftover inputs (one packed word each).
fn tail_sum<'a>(acc: i32, w: impl Iterator<Item = &'a u8>, xt: &[u32]) -> i32 {
    w.zip(xt).fold(acc, |s, (w, v)| {
        s.wrapping_add(i32::from(*w as i8).wrapping_mul(i32::from(*v as u16 as i16)))
    })
}

/// The last unit of a row group over the fewer than four inputs left.
#[inline(never)]
fn leftover(unit: &[u8; 16], xt: &[u32], acc: [i32; 4]) -> [i32; 4] {
    let mut acc = acc;
    for (a, row) in acc.iter_mut().zip(unit.as_chunks::<4>().0) {
        *a = tail_sum(*a, row.iter(), xt);
    }
    acc
}

/// Runs a tied `op` (`WeightLayout::InputsByOutputs`: output `j` reads
/// column `j` of the source's row-major `inputs × outputs` weights) on the
/// packed input `x` into the first `op.outputs` values of `y`. Columns go
/// four at a time through `dsp::dot_columns4`; a tied layer has one
/// weight scale, so every exponent is 0. Not inlined, as
/// [`run_interleaved`].
#[inline(never)]
pub fn run_tied(op: &DenseI8Op<'_>, x: &[u32], y: &mut [i8]) {
    with_finish!(op, tied(op, x, y))
}

/// [`run_tied`] with the finishing step `finish(acc, exponent)`.
#[inline(always)]
fn tied(op: &DenseI8Op<'_>, x: &[u32], y: &mut [i8], finish: impl Fn(i32, u8) -> i8) {
    let Some(y) = y.get_mut(..op.outputs) else {
        return; // unreachable with buffers sized by `ScratchPlan`
    };
    let (n_in, n_out) = (op.inputs, op.outputs);
    if n_in == 0 || n_out == 0 {
        return;
    }
    let weights = op.weights.as_bytes();
    let blocks = n_in / 4;
    let x = x.get(..packed_words(n_in)).unwrap_or(x);
    let (xb, xt) = x.split_at((blocks * 2).min(x.len()));
    let xb = xb.as_chunks::<2>().0;
    let mut bias = op.bias.iter();
    // Rows of the source's weights: `k` for input `k`, `n_out` bytes each.
    let (head, tail_rows) = weights.split_at((blocks * 4 * n_out).min(weights.len()));
    let mut j = 0;
    for ys in y.chunks_mut(4) {
        let acc = [0; 4].map(|_: i32| bias.next().unwrap_or(0));
        let mut acc = if ys.len() == 4 {
            dsp::dot_columns4(head, n_out, j, xb, acc)
        } else {
            let mut acc = acc;
            for (c, a) in acc.iter_mut().enumerate().take(ys.len()) {
                *a = column(head, n_out, j + c, xb, *a);
            }
            acc
        };
        for (c, a) in acc.iter_mut().enumerate().take(ys.len()) {
            *a = tail_sum(*a, tail_rows.iter().skip(j + c).step_by(n_out), xt);
        }
        // A tied layer has one weight scale: every exponent is 0.
        for (yo, a) in ys.iter_mut().zip(acc) {
            *yo = finish(a, 0);
        }
        j += 4;
    }
}

/// One column `j` over the whole blocks of the input.
fn column(head: &[u8], n_out: usize, j: usize, xb: &[[u32; 2]], acc: i32) -> i32 {
    let w = |k: usize| head.get(k * n_out + j).copied().unwrap_or(0);
    xb.iter().enumerate().fold(acc, |a, (b, xw)| {
        dsp::block(a, [w(4 * b), w(4 * b + 1), w(4 * b + 2), w(4 * b + 3)], xw)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::int8::{self, finish, packed_value};
    use model_format::{Activation, I8s, I32s, Nibbles, Quant, Requant, WeightLayout};

    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u32 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) as u32
        }
        fn i8(&mut self) -> i8 {
            (self.next() % 255) as i8 // includes −127..=127 only after the shift below
        }
    }

    /// Row-major weights in the interleaved order (SPEC.md 3.3, tag 14).
    fn interleave(w: &[u8], inputs: usize, outputs: usize) -> Vec<u8> {
        let b = inputs.div_ceil(4);
        let mut out = vec![0u8; outputs.div_ceil(4) * 16 * b];
        for o in 0..outputs {
            for i in 0..inputs {
                out[((o / 4) * b + i / 4) * 16 + (o % 4) * 4 + i % 4] = w[o * inputs + i];
            }
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn op<'a>(
        inputs: usize,
        outputs: usize,
        layout: WeightLayout,
        weights: &'a [u8],
        exponents: &'a [u8],
        bias: &'a [u8],
        requant: Requant,
        table: &'a [u8],
        clamp_min: i8,
    ) -> DenseI8Op<'a> {
        let q = Quant {
            scale: 0.1,
            zero_point: 3,
        };
        DenseI8Op {
            inputs,
            outputs,
            activation: Activation::Identity,
            layout,
            input: q,
            output: q,
            requant,
            weights: I8s::new(weights),
            exponents: Nibbles::new(exponents),
            bias: I32s::new(bias),
            target_zero_point: -7,
            clamp_min,
            table: I8s::new(table),
        }
    }

    #[test]
    fn interleaved_and_tied_kernels_give_the_row_major_bits() {
        let mut rng = Lcg(7);
        let table: Vec<u8> = (0..256).map(|i| (255 - i) as u8).collect();
        for (inputs, outputs) in [
            (1usize, 1usize),
            (3, 2),
            (4, 4),
            (5, 7),
            (8, 3),
            (9, 9),
            (13, 8),
            (16, 5),
            (32, 12),
        ] {
            for (shift, with_table, clamp_min, multiplier) in [
                (-5i8, false, -128i8, 0x4000_0000),
                (-1, true, -128, 0x7fff_ffff),
                (-2, false, 0, 0x5555_5555),
                (-17, false, 0, 0x4000_0000),
                (-18, false, -128, 0x7fff_0000),
                (3, false, -128, 0x4000_0001),
                (-31, true, -3, 0x7000_0000),
                (0, false, 5, 0),
            ] {
                let w: Vec<u8> = (0..inputs * outputs)
                    .map(|_| (rng.i8().max(-127)) as u8)
                    .collect();
                let exps: Vec<u8> = (0..outputs.div_ceil(2))
                    .map(|k| {
                        let v = (rng.next() % 256) as u8;
                        // A last odd channel's high nibble is 0.
                        if 2 * k + 1 == outputs { v & 15 } else { v }
                    })
                    .collect();
                let bias: Vec<u8> = (0..outputs)
                    .flat_map(|_| ((rng.next() as i32) >> 12).to_le_bytes())
                    .collect();
                let x: Vec<i8> = (0..inputs).map(|_| rng.i8()).collect();
                let mut packed = vec![0u32; int8::packed_words(inputs)];
                int8::pack_i8(&x, -4, &mut packed);
                let requant = Requant { multiplier, shift };
                let t: &[u8] = if with_table { &table } else { &[] };
                let rows = op(
                    inputs,
                    outputs,
                    WeightLayout::OutputsByInputs,
                    &w,
                    &exps,
                    &bias,
                    requant,
                    t,
                    clamp_min,
                );
                let mut want = vec![0i8; outputs];
                int8::run(&rows, &packed, &mut want);
                let iw = interleave(&w, inputs, outputs);
                let inter = op(
                    inputs,
                    outputs,
                    WeightLayout::Interleaved4,
                    &iw,
                    &exps,
                    &bias,
                    requant,
                    t,
                    clamp_min,
                );
                let mut got = vec![0i8; outputs];
                int8::run(&inter, &packed, &mut got);
                assert_eq!(got, want, "{inputs}x{outputs} shift {shift}");
                // Tied: the transposed weights (`outputs × inputs` read as
                // `inputs × outputs` columns), one weight scale.
                let tbias: Vec<u8> = (0..inputs)
                    .flat_map(|_| ((rng.next() as i32) >> 12).to_le_bytes())
                    .collect();
                let tied = op(
                    outputs,
                    inputs,
                    WeightLayout::InputsByOutputs,
                    &w,
                    &[],
                    &tbias,
                    requant,
                    t,
                    clamp_min,
                );
                let xs: Vec<i8> = (0..outputs).map(|_| rng.i8()).collect();
                let mut xp = vec![0u32; int8::packed_words(outputs)];
                int8::pack_i8(&xs, 9, &mut xp);
                let want: Vec<i8> = (0..tied.outputs)
                    .map(|j| {
                        let acc = (0..outputs).fold(tied.bias.get(j).unwrap(), |a, k| {
                            a.wrapping_add(
                                i32::from(w[k * inputs + j] as i8) * packed_value(&xp, outputs, k),
                            )
                        });
                        finish(&tied, acc, 0)
                    })
                    .collect();
                let mut got = vec![0i8; tied.outputs];
                int8::run(&tied, &xp, &mut got);
                assert_eq!(got, want, "tied {outputs}x{inputs} shift {shift}");
            }
        }
    }
}
