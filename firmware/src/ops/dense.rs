//! Fully connected layers, plain and tied (transposed weights), f32.
//!
//! Weights are read straight from the model bytes, so they stay in flash:
//! as words when they are 4-byte aligned in memory and the target has the
//! word kernels (VLDM and VMLA on a Cortex-M4F built with the `dsp`
//! feature; a format-version-8 file aligns them), otherwise with `f32::from_le_bytes`
//! on 4-byte groups. The dot product keeps eight partial sums, which lets a
//! desktop vectorise it and keeps a Cortex-M4's FPU pipeline busy; the
//! order of additions is fixed by this code (the word kernels keep it), so
//! every target computes the same bits.

use model_format::{DenseOp, F32s, WeightLayout};

use super::activation;
use super::dsp::vfp;

const LANES: usize = 8;

/// `Σ w[i]·x[i]` over the shorter of the two, `w` as little-endian f32s.
#[inline]
pub fn dot(w: &[[u8; 4]], x: &[f32]) -> f32 {
    let (w_blocks, w_tail) = w.as_chunks::<LANES>();
    let (x_blocks, x_tail) = x.as_chunks::<LANES>();
    let mut acc = [0.0f32; LANES];
    for (wb, xb) in w_blocks.iter().zip(x_blocks) {
        for ((a, wq), xi) in acc.iter_mut().zip(wb).zip(xb) {
            *a += f32::from_le_bytes(*wq) * *xi;
        }
    }
    // The tails line up only when both slices have the same number of full blocks.
    let tail = if w_blocks.len() == x_blocks.len() {
        tail_sum(w_tail.iter().map(|q| f32::from_le_bytes(*q)), x_tail)
    } else {
        0.0
    };
    reduce(acc, tail)
}

/// [`dot`] with `w` as words: the same bits.
#[inline]
pub fn dot_words(w: &[f32], x: &[f32]) -> f32 {
    let (w_blocks, w_tail) = w.as_chunks::<LANES>();
    let (x_blocks, x_tail) = x.as_chunks::<LANES>();
    let acc = vfp::rows1(w_blocks, x_blocks, [0.0; LANES]);
    let tail = if w_blocks.len() == x_blocks.len() {
        tail_sum(w_tail.iter().copied(), x_tail)
    } else {
        0.0
    };
    reduce(acc, tail)
}

/// `(dot(w0, x), dot(w1, x))` with both rows as words, through the word
/// kernel (each input block loaded once for both): the bits of [`dot`].
#[inline(always)]
pub(crate) fn dot2_words(w0: &[f32], w1: &[f32], x: &[f32]) -> (f32, f32) {
    if w0.len() != x.len() || w1.len() != x.len() {
        return (dot_words(w0, x), dot_words(w1, x));
    }
    let (x_blocks, x_tail) = x.as_chunks::<LANES>();
    dot2_blocks(w0, w1, x_blocks, x_tail)
}

/// [`dot2_words`] of two rows as long as `x`, split into its blocks and
/// tail.
#[inline(always)]
fn dot2_blocks(w0: &[f32], w1: &[f32], x_blocks: &[[f32; LANES]], x_tail: &[f32]) -> (f32, f32) {
    let (b0, t0) = w0.as_chunks::<LANES>();
    let (b1, t1) = w1.as_chunks::<LANES>();
    let [a0, a1] = vfp::rows2(b0, b1, x_blocks, [[0.0; LANES]; 2]);
    (
        reduce(a0, tail_sum(t0.iter().copied(), x_tail)),
        reduce(a1, tail_sum(t1.iter().copied(), x_tail)),
    )
}

/// `((0 + w[0]·x[0]) + w[1]·x[1]) + …`: the values after the last block.
#[inline(always)]
fn tail_sum(w: impl Iterator<Item = f32>, x: &[f32]) -> f32 {
    w.zip(x).fold(0.0f32, |t, (wi, xi)| t + wi * xi)
}

/// The eight partial sums added pairwise (lane i += lane i + width/2,
/// halving the width each round), then the tail.
#[inline(always)]
fn reduce(mut acc: [f32; LANES], tail: f32) -> f32 {
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        if let Some((lo, hi)) = acc.split_at_mut_checked(width) {
            for (l, h) in lo.iter_mut().zip(hi.iter()) {
                *l += *h;
            }
        }
    }
    acc.first().copied().unwrap_or(0.0) + tail
}

/// `y[j] += a · w[j]`, `w` as little-endian f32s.
#[inline]
pub fn axpy(a: f32, w: &[[u8; 4]], y: &mut [f32]) {
    for (yj, wq) in y.iter_mut().zip(w) {
        *yj += a * f32::from_le_bytes(*wq);
    }
}

/// The values of `t` as words, where the word kernels exist
/// (`cfg(edgeae_vfp)`) and `t` is 4-byte aligned in memory; `None`
/// elsewhere (the byte kernels then compute the same bits).
#[inline]
pub(crate) fn words(t: F32s<'_>) -> Option<&[f32]> {
    if cfg!(all(edgeae_vfp, target_endian = "little")) {
        bytemuck::try_cast_slice(t.as_bytes()).ok()
    } else {
        None
    }
}

/// `y[o] = bias[o] + dot(w[o], x)` for the rows of `w` (`x.len()` values
/// each), two rows at a time through the word kernel: the bits of [`dot`].
pub fn rows_words(w: &[f32], x: &[f32], bias: F32s<'_>, y: &mut [f32]) {
    let n = x.len();
    if n == 0 {
        return;
    }
    let (x_blocks, x_tail) = x.as_chunks::<LANES>();
    let mut bias = bias.iter();
    for (ys, rows) in y.chunks_mut(2).zip(w.chunks(2 * n)) {
        match (ys, rows.split_at_checked(n)) {
            ([y0, y1], Some((r0, r1))) => {
                let (d0, d1) = dot2_blocks(r0, r1, x_blocks, x_tail);
                *y0 = bias.next().unwrap_or(0.0) + d0;
                *y1 = bias.next().unwrap_or(0.0) + d1;
            }
            (ys, _) => {
                for (yo, row) in ys.iter_mut().zip(rows.chunks_exact(n)) {
                    *yo = bias.next().unwrap_or(0.0) + dot_words(row, x);
                }
            }
        }
    }
}

/// `y[f] += dot(row f of the weights from value at, x)` for every output
/// `f`, where the weights (`bytes`, and `words` from [`words`] where the
/// word kernels read them) hold one row of `stride` values per output and
/// the part read is `x.len()` values from `at` (a convolution's filters
/// over one input segment): the bits of [`dot`], two rows at a time
/// through the word kernel where there are words. Rows too short are
/// skipped.
pub(crate) fn add_dots(
    bytes: &[[u8; 4]],
    words: Option<&[f32]>,
    stride: usize,
    at: usize,
    x: &[f32],
    y: &mut [f32],
) {
    let len = x.len();
    let part = |row: usize| {
        let start = row.saturating_mul(stride).saturating_add(at);
        start..start.saturating_add(len)
    };
    let Some(words) = words else {
        for (f, v) in y.iter_mut().enumerate() {
            if let Some(ws) = bytes.get(part(f)) {
                *v += dot(ws, x);
            }
        }
        return;
    };
    let mut f = 0;
    for ys in y.chunks_mut(2) {
        match (ys, words.get(part(f)), words.get(part(f + 1))) {
            ([y0, y1], Some(r0), Some(r1)) => {
                let (d0, d1) = dot2_words(r0, r1, x);
                *y0 += d0;
                *y1 += d1;
            }
            (ys, r0, _) => {
                if let (Some(y0), Some(r0)) = (ys.first_mut(), r0) {
                    *y0 += dot_words(r0, x);
                }
            }
        }
        f += 2;
    }
}

/// `y += Wᵀ·x` for `w` holding one row of `y.len()` values per value of
/// `x`, four rows at a time through the word kernel: the bits of [`axpy`]
/// row after row.
pub fn axpy_words(x: &[f32], w: &[f32], y: &mut [f32]) {
    let m = y.len();
    if m == 0 {
        return;
    }
    for (xs, rows) in x.chunks(4).zip(w.chunks(4 * m)) {
        let mut rows4 = rows.chunks_exact(m);
        match (xs, [rows4.next(), rows4.next(), rows4.next(), rows4.next()]) {
            (&[a0, a1, a2, a3], [Some(r0), Some(r1), Some(r2), Some(r3)]) => {
                let ((w0, t0), (w1, t1)) = (r0.as_chunks::<LANES>(), r1.as_chunks::<LANES>());
                let ((w2, t2), (w3, t3)) = (r2.as_chunks::<LANES>(), r3.as_chunks::<LANES>());
                let (y_blocks, y_tail) = y.as_chunks_mut::<LANES>();
                vfp::axpy4([a0, a1, a2, a3], [w0, w1, w2, w3], y_blocks);
                let tails = t0.iter().zip(t1).zip(t2).zip(t3);
                for (yj, (((p0, p1), p2), p3)) in y_tail.iter_mut().zip(tails) {
                    *yj = (((*yj + a0 * p0) + a1 * p1) + a2 * p2) + a3 * p3;
                }
            }
            _ => {
                for (a, row) in xs.iter().zip(rows.chunks_exact(m)) {
                    for (yj, wj) in y.iter_mut().zip(row) {
                        *yj += a * wj;
                    }
                }
            }
        }
    }
}

/// Runs `op` on `input` (its first `op.inputs` values) into the first
/// `op.outputs` values of `output`, activation included.
pub fn run(op: &DenseOp<'_>, input: &[f32], output: &mut [f32]) {
    let x = input.get(..op.inputs).unwrap_or(input);
    let Some(y) = output.get_mut(..op.outputs) else {
        return; // unreachable with buffers sized by `ScratchPlan`
    };
    // Widths are at least 1 in a validated model; returning on 0 also
    // lets the compiler drop `chunks_exact`'s panic path.
    if op.inputs == 0 || op.outputs == 0 {
        return;
    }
    let bias = op.bias.iter();
    let weights = op.weights.chunks();
    match (op.layout, words(op.weights)) {
        (WeightLayout::OutputsByInputs, Some(w)) => rows_words(w, x, op.bias, y),
        (WeightLayout::OutputsByInputs, None) => {
            // The x86-64 kernel's outputs (eight rows at a time), then the
            // rest here.
            #[cfg(edgeae_x86)]
            let done = super::dsp::x86::Simd::current()
                .map_or(0, |simd| simd.rows_f32(weights, x, op.bias.chunks(), y));
            #[cfg(not(edgeae_x86))]
            let done = 0;
            let rows = weights.chunks_exact(op.inputs).skip(done);
            for ((yo, row), b) in y.iter_mut().skip(done).zip(rows).zip(bias.skip(done)) {
                *yo = b + dot(row, x);
            }
        }
        (WeightLayout::InputsByOutputs, w) => {
            for (yo, b) in y.iter_mut().zip(bias) {
                *yo = b;
            }
            if let Some(w) = w {
                axpy_words(x, w, y);
            } else {
                for (xi, row) in x.iter().zip(weights.chunks_exact(op.outputs)) {
                    axpy(*xi, row, y);
                }
            }
        }
        // An int8-only layout: `Model::load` never gives it an f32 layer.
        (WeightLayout::Interleaved4, _) => return,
    }
    activation::apply(op.activation, y);
}

#[cfg(test)]
mod tests {
    use super::*;
    use model_format::{Activation, F32s};

    use model_format::build::f32_bytes as le;

    fn le4(values: &[f32]) -> Vec<[u8; 4]> {
        values.iter().map(|v| v.to_le_bytes()).collect()
    }

    #[test]
    fn dot_of_literals_and_odd_lengths() {
        let w = le4(&[1.0, 2.0, 3.0]);
        assert_eq!(dot(&w, &[4.0, 5.0, 6.0]), 32.0);
        for n in [0usize, 1, 7, 8, 9, 17, 31] {
            let wv: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 2.0).collect();
            let xv: Vec<f32> = (0..n).map(|i| 1.0 - i as f32 * 0.25).collect();
            let want: f32 = wv.iter().zip(&xv).map(|(a, b)| a * b).sum();
            assert!((dot(&le4(&wv), &xv) - want).abs() < 1e-4, "n = {n}");
        }
    }

    #[test]
    fn dense_and_tied_of_literals() {
        // W = [[1, 2], [3, 4], [5, 6]] (3 outputs x 2 inputs), b = [0.5, -1, 0]
        let w = le(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let b = le(&[0.5, -1.0, 0.0]);
        let op = DenseOp {
            inputs: 2,
            outputs: 3,
            activation: Activation::Relu,
            layout: WeightLayout::OutputsByInputs,
            weights: F32s::new(&w),
            bias: F32s::new(&b),
        };
        let mut y = [9.0; 4];
        run(&op, &[1.0, -1.0], &mut y);
        assert_eq!(y, [0.0, 0.0, 0.0, 9.0]); // [-0.5, -2, -1] through ReLU; y[3] untouched
        run(&op, &[1.0, 1.0], &mut y);
        assert_eq!(y[..3], [3.5, 6.0, 11.0]);

        // Tied: Wᵀ (2 outputs x 3 inputs), own bias.
        let bt = le(&[1.0, -1.0]);
        let tied = DenseOp {
            inputs: 3,
            outputs: 2,
            activation: Activation::Identity,
            layout: WeightLayout::InputsByOutputs,
            weights: F32s::new(&w),
            bias: F32s::new(&bt),
        };
        let mut z = [0.0; 2];
        run(&tied, &[1.0, 0.0, -1.0], &mut z);
        // Wᵀ·x = [1 - 5, 2 - 6] = [-4, -4]
        assert_eq!(z, [-3.0, -5.0]);
    }

    /// Values with every rounding visible: products and sums that differ
    /// in the last bits with another order of operations.
    fn wild(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let h = (i as u32 ^ seed).wrapping_mul(0x9E37_79B9).rotate_left(7);
                (h as f32 / u32::MAX as f32 - 0.5) * (1 + (h & 7) * 100) as f32
            })
            .collect()
    }

    #[test]
    fn word_kernels_give_the_bits_of_the_byte_kernels() {
        for (inputs, outputs) in [
            (1usize, 1usize),
            (7, 3),
            (8, 2),
            (9, 5),
            (16, 4),
            (17, 7),
            (40, 9),
        ] {
            let w = wild(inputs * outputs, 1);
            let b = wild(outputs, 2);
            let x = wild(inputs, 3);
            let bb = le(&b);
            let mut want = vec![0.0; outputs];
            for ((yo, row), bo) in want.iter_mut().zip(le4(&w).chunks(inputs)).zip(&b) {
                *yo = bo + dot(row, &x);
            }
            let mut got = vec![0.0; outputs];
            rows_words(&w, &x, F32s::new(&bb), &mut got);
            assert_eq!(bits(&got), bits(&want), "{inputs} x {outputs}");
            for (row, wq) in w.chunks(inputs).zip(le4(&w).chunks(inputs)) {
                assert_eq!(dot_words(row, &x).to_bits(), dot(wq, &x).to_bits());
            }
            // Tied: `w` as `outputs` rows of `inputs` values, `x` of
            // `outputs` values, `y` of `inputs`.
            let tx = wild(outputs, 4);
            let tb = wild(inputs, 9);
            let mut want = tb.clone();
            for (xi, row) in tx.iter().zip(le4(&w).chunks_exact(inputs)) {
                axpy(*xi, row, &mut want);
            }
            let mut got = tb.clone();
            axpy_words(&tx, &w, &mut got);
            assert_eq!(bits(&got), bits(&want), "tied {inputs} x {outputs}");
        }
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|f| f.to_bits()).collect()
    }

    #[test]
    fn aligned_and_unaligned_weights_run_to_the_same_bits() {
        let (inputs, outputs) = (19usize, 6usize);
        let w = wild(inputs * outputs, 5);
        let b = wild(outputs, 6);
        let x = wild(inputs, 7);
        let run_at = |shift: usize, layout, inputs, outputs, x: &[f32]| {
            // The weights at byte `shift` of a word-aligned buffer.
            let mut store = vec![0u32; w.len() + 1];
            let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut store);
            bytes[shift..shift + 4 * w.len()].copy_from_slice(&le(&w));
            let bias = le(&wild(outputs, 6));
            let op = DenseOp {
                inputs,
                outputs,
                activation: Activation::Selu,
                layout,
                weights: F32s::new(&bytes[shift..shift + 4 * w.len()]),
                bias: F32s::new(&bias),
            };
            let mut y = vec![0.0; outputs];
            run(&op, x, &mut y);
            bits(&y)
        };
        let plain = WeightLayout::OutputsByInputs;
        let tied = WeightLayout::InputsByOutputs;
        assert_eq!(
            run_at(0, plain, inputs, outputs, &x),
            run_at(1, plain, inputs, outputs, &x)
        );
        assert_eq!(
            run_at(0, plain, inputs, outputs, &x),
            run_at(2, plain, inputs, outputs, &x)
        );
        let tx = wild(outputs, 8);
        assert_eq!(
            run_at(0, tied, outputs, inputs, &tx),
            run_at(3, tied, outputs, inputs, &tx)
        );
        // The aligned run takes the word kernels where they exist: the
        // same bits as the byte kernels computed here.
        let mut want = vec![0.0; outputs];
        for ((yo, row), bo) in want.iter_mut().zip(le4(&w).chunks(inputs)).zip(&b) {
            *yo = bo + dot(row, &x);
        }
        activation::apply(Activation::Selu, &mut want);
        assert_eq!(run_at(0, plain, inputs, outputs, &x), bits(&want));
    }

    #[test]
    fn short_output_buffer_is_left_alone() {
        let w = le(&[1.0, 2.0]);
        let b = le(&[0.0, 0.0]);
        let op = DenseOp {
            inputs: 1,
            outputs: 2,
            activation: Activation::Identity,
            layout: WeightLayout::OutputsByInputs,
            weights: F32s::new(&w),
            bias: F32s::new(&b),
        };
        let mut y = [7.0; 1];
        run(&op, &[1.0], &mut y);
        assert_eq!(y, [7.0]);
    }
}
