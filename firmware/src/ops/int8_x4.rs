//! The int8 dense layer with its weights interleaved four rows at a time
//! (tag 14, [`WeightLayout::Interleaved4`](model_format::WeightLayout)),
//! and the tied int8 layer's column kernel: the arithmetic of SPEC.md 3.3
//! ("int8 layers"), the same bits as the row-major kernel in
//! [`super::int8`].
//!
//! A row group `g` is `B = ceil(inputs / 4)` units of 16 bytes; unit `b`
//! holds inputs `4b..4b + 4` of rows `4g..4g + 4`, row after row. The
//! whole units meet the packed input's blocks (`[x0 | x2 << 16, x1 | x3 <<
//! 16]`) in [`dsp::dot4x4`]; a last unit over fewer than four inputs meets
//! the packed input's leftover words here. Padding rows are computed and
//! dropped; padding weights are 0 (the loader checked).
//!
//! No panics: every access is through iterators or `get`, and shorter
//! slices than a validated model gives only compute less.

use model_format::DenseI8Op;

use super::dsp;
use super::int8::{mbqm, mbqm_high, packed_words};

/// The requantization and table step of one layer, its branches decided
/// once per layer rather than once per output.
pub(crate) struct Requantizer<'a> {
    multiplier: i32,
    shift: i32,
    zero_point: i32,
    clamp_min: i32,
    /// `shift ≤ −1`: every output's shift `shift − exponent` is too, so
    /// [`mbqm_high`] gives `mbqm`'s bits without its branches.
    high: bool,
    table: &'a [u8],
}

impl<'a> Requantizer<'a> {
    /// The step of `op`.
    pub(crate) fn new(op: &DenseI8Op<'a>) -> Self {
        let shift = i32::from(op.requant.shift);
        Requantizer {
            multiplier: op.requant.multiplier,
            shift,
            zero_point: i32::from(op.target_zero_point),
            clamp_min: i32::from(op.clamp_min),
            high: shift <= -1,
            table: op.table.as_bytes(),
        }
    }

    /// `finish` of [`super::int8`]: requantizes `acc` for a channel whose
    /// exponent is `exponent`, adds the zero point, clamps and looks up the
    /// table. On the high path `|mbqm| < 2^30`, so adding the zero point
    /// cannot saturate and a plain add gives the same bits.
    #[inline(always)]
    pub(crate) fn apply(&self, acc: i32, exponent: u8) -> i8 {
        let e = i32::from(exponent);
        let v = if self.high {
            let k = (-1 - self.shift + e).min(31) as u32;
            mbqm_high(acc, self.multiplier, k) + self.zero_point
        } else {
            mbqm(acc, self.multiplier, self.shift - e).saturating_add(self.zero_point)
        };
        let q = v.clamp(self.clamp_min, 127) as i8;
        if self.table.is_empty() {
            q
        } else {
            self.table
                .get(usize::from((q as u8) ^ 0x80))
                .map_or(q, |t| *t as i8)
        }
    }
}

/// Runs an interleaved `op` on the packed input `x`
/// (`packed_words(op.inputs)` words) into the first `op.outputs` values of
/// `y`.
pub(crate) fn run_interleaved(op: &DenseI8Op<'_>, x: &[u32], y: &mut [i8]) {
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
    let fin = Requantizer::new(op);
    let groups = op
        .weights
        .as_bytes()
        .as_chunks::<16>()
        .0
        .chunks_exact(units);
    let mut bias = op.bias.iter();
    let mut exponents = (0..).map(|o| op.exponents.get(o));
    for (group, ys) in groups.zip(y.chunks_mut(4)) {
        let (whole, last) = group.split_at(blocks.min(group.len()));
        let acc = [0; 4].map(|_: i32| bias.next().unwrap_or(0));
        let mut acc = dsp::dot4x4(whole, xb, acc);
        if let Some(unit) = last.first() {
            // Fewer than four inputs left: one leftover word each.
            for (a, row) in acc.iter_mut().zip(unit.as_chunks::<4>().0) {
                *a = row.iter().zip(xt).fold(*a, |s, (w, v)| {
                    s.wrapping_add(i32::from(*w as i8).wrapping_mul(i32::from(*v as u16 as i16)))
                });
            }
        }
        for (yo, a) in ys.iter_mut().zip(acc) {
            *yo = fin.apply(a, exponents.next().unwrap_or(0));
        }
    }
}

/// Runs a tied `op` (`WeightLayout::InputsByOutputs`: output `j` reads
/// column `j` of the source's row-major `inputs × outputs` weights) on the
/// packed input `x` into the first `op.outputs` values of `y`. Columns go
/// four at a time through [`dsp::dot_columns4`]; a tied layer has one
/// weight scale, so every exponent is 0.
pub(crate) fn run_tied(op: &DenseI8Op<'_>, x: &[u32], y: &mut [i8]) {
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
    let fin = Requantizer::new(op);
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
            let col = tail_rows.iter().skip(j + c).step_by(n_out);
            *a = col.zip(xt).fold(*a, |s, (w, v)| {
                s.wrapping_add(i32::from(*w as i8).wrapping_mul(i32::from(*v as u16 as i16)))
            });
        }
        for (yo, a) in ys.iter_mut().zip(acc) {
            *yo = fin.apply(a, 0);
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
