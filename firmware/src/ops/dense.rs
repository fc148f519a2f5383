//! Fully connected layers, plain and tied (transposed weights), f32.
//!
//! Weights are read straight from the model bytes (`f32::from_le_bytes` on
//! 4-byte groups), so they stay in flash. The dot product keeps eight
//! partial sums, which lets a desktop vectorise it and keeps a Cortex-M4's
//! FPU pipeline busy; the order of additions is fixed by this code, so every
//! target computes the same bits.

use model_format::{DenseOp, WeightLayout};

use super::activation;

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
    let mut tail = 0.0f32;
    // The tails line up only when both slices have the same number of full blocks.
    if w_blocks.len() == x_blocks.len() {
        for (wq, xi) in w_tail.iter().zip(x_tail) {
            tail += f32::from_le_bytes(*wq) * *xi;
        }
    }
    // Pairwise: lane i += lane i + width/2, halving the width each round.
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
    match op.layout {
        WeightLayout::OutputsByInputs => {
            for ((yo, row), b) in y.iter_mut().zip(weights.chunks_exact(op.inputs)).zip(bias) {
                *yo = b + dot(row, x);
            }
        }
        WeightLayout::InputsByOutputs => {
            for (yo, b) in y.iter_mut().zip(bias) {
                *yo = b;
            }
            for (xi, row) in x.iter().zip(weights.chunks_exact(op.outputs)) {
                axpy(*xi, row, y);
            }
        }
        WeightLayout::Interleaved4 => {} // int8 only (tag 14): never an f32 op
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
