//! The int8 dense layers on the x86-64 kernels (`cfg(edgeae_x86)`, see
//! [`crate::ops::kernel_path`]): the same sums, hence the same bits, as the
//! portable code in [`crate::ops::int8::run`], four rows (or sixteen tied
//! columns) at a time.

use model_format::DenseI8Op;

use super::dsp::x86::Simd;
use super::int8::{finish, tail_sum, tied_column};

/// A row-major layer (`WeightLayout::OutputsByInputs`) on `x`
/// (`packed_words(op.inputs)` words) into `y` (`op.outputs` values).
pub(crate) fn dense(simd: Simd, op: &DenseI8Op<'_>, x: &[u32], y: &mut [i8]) {
    let blocks = op.inputs / 4;
    let (xb, xt) = x.split_at((blocks * 2).min(x.len()));
    let xb = xb.as_chunks::<2>().0;
    let tail = |acc: i32, t: &[u8]| tail_sum(acc, t, xt);
    let mut rows = op.weights.as_bytes().chunks_exact(op.inputs).map(|r| {
        let (b, t) = r.split_at((blocks * 4).min(r.len()));
        (b.as_chunks::<4>().0, t)
    });
    let mut bias = op.bias.iter();
    // Four rows at a time; a last group of fewer is padded with copies of
    // its first row.
    for (q, quad) in y.chunks_mut(4).enumerate() {
        let mut r = [rows.next().unwrap_or_default(); 4];
        for slot in r.iter_mut().take(quad.len()).skip(1) {
            *slot = rows.next().unwrap_or_default();
        }
        let acc = core::array::from_fn(|_| bias.next().unwrap_or(0));
        let sums = simd.dot_i8(r.map(|p| p.0), xb, acc);
        for (k, ((yo, s), (_, t))) in quad.iter_mut().zip(sums).zip(r).enumerate() {
            *yo = finish(op, tail(s, t), op.exponents.get(4 * q + k));
        }
    }
}

/// A tied layer (`WeightLayout::InputsByOutputs`: output `j` reads column
/// `j` of the source's `inputs × outputs` weights), sixteen columns at a
/// time, the last `outputs % 16` by the portable column sum.
pub(crate) fn tied(simd: Simd, op: &DenseI8Op<'_>, x: &[u32], y: &mut [i8]) {
    let w = op.weights.as_bytes();
    let mut bias = op.bias.iter();
    let mut sixteens = y.chunks_exact_mut(16);
    let mut j0 = 0;
    for ys in &mut sixteens {
        let acc = core::array::from_fn(|_| bias.next().unwrap_or(0));
        let sums = simd.tied16(w, op.outputs, op.inputs, x, j0, acc);
        for (yo, s) in ys.iter_mut().zip(sums) {
            *yo = finish(op, s, 0);
        }
        j0 += 16;
    }
    for (j, yj) in (j0..).zip(sixteens.into_remainder()) {
        *yj = finish(op, tied_column(op, x, j, bias.next().unwrap_or(0)), 0);
    }
}
