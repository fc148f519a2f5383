//! Pooling, f32 and int8 (SPEC.md 3.3, "Feature-map layers"): windows of
//! `ph × pw` positions, stride = size, no padding, each channel
//! separately; rows and columns past the last whole window are dropped.
//!
//! f32: max keeps the first value of the window (row-major) and each later
//! value that is greater, or NaN while the current one is not; average sums
//! from +0.0 in row-major order and multiplies by `1/n` (in f64, rounded to
//! f32 once), as the trainer does. int8 (one quantization in and out): max
//! of the stored values, average rounded half away from zero from their
//! integer sum ([`avg_i8`]).
//!
//! Indices come from a validated model; the kernels read through `get` and
//! never panic.

use model_format::{PoolKind, PoolOp};

/// The window of output position `(oy, ox)`: the start of each of its
/// `ph·pw` input positions (row-major), as offsets of channel 0.
fn window(op: &PoolOp, oy: usize, ox: usize) -> impl Iterator<Item = usize> + use<> {
    let [ph, pw] = op.size;
    let (w, c) = (op.input.w, op.input.c);
    (0..ph).flat_map(move |i| (0..pw).map(move |j| ((oy * ph + i) * w + ox * pw + j) * c))
}

/// `1/n` for a window of `n` values, as the trainer computes it.
fn reciprocal(n: usize) -> f32 {
    (1.0f64 / n as f64) as f32
}

/// Runs an f32 pooling on the channel-last map `x` into `y`.
pub fn run(op: &PoolOp, x: &[f32], y: &mut [f32]) {
    let c = op.output.c;
    let Some(y) = y.get_mut(..op.output.len()) else {
        return; // unreachable with buffers sized by `ScratchPlan`
    };
    if c == 0 {
        return;
    }
    let r = reciprocal(op.size[0].saturating_mul(op.size[1]));
    let mut pixels = y.chunks_exact_mut(c);
    for oy in 0..op.output.h {
        for ox in 0..op.output.w {
            let Some(px) = pixels.next() else {
                return;
            };
            let mut starts = window(op, oy, ox);
            match op.kind {
                PoolKind::Max => {
                    let first = starts.next().and_then(|s| x.get(s..s + c));
                    for (v, f) in px.iter_mut().zip(first.unwrap_or_default()) {
                        *v = *f;
                    }
                    for s in starts {
                        for (v, xv) in px.iter_mut().zip(x.get(s..s + c).unwrap_or_default()) {
                            if *xv > *v || (xv.is_nan() && !v.is_nan()) {
                                *v = *xv;
                            }
                        }
                    }
                }
                PoolKind::Avg => {
                    px.fill(0.0);
                    for s in starts {
                        for (v, xv) in px.iter_mut().zip(x.get(s..s + c).unwrap_or_default()) {
                            *v += *xv;
                        }
                    }
                    px.iter_mut().for_each(|v| *v *= r);
                }
            }
        }
    }
}

/// The mean of `n` int8 values whose sum is `sum`, rounded half away from
/// zero: `sign(s)·⌊(2|s| + n) / 2n⌋`, saturated to int8.
pub fn avg_i8(sum: i32, n: usize) -> i8 {
    let n = i64::try_from(n).unwrap_or(i64::MAX).max(1);
    let s = i64::from(sum);
    let m = (2 * s.abs() + n) / (2 * n);
    let v = if s < 0 { -m } else { m };
    v.clamp(-128, 127) as i8
}

/// Runs an int8 pooling on the channel-last map `x` (stored int8 values)
/// into `y`; the quantization does not change.
pub fn run_i8(op: &PoolOp, x: &[i8], y: &mut [i8]) {
    let c = op.output.c;
    let Some(y) = y.get_mut(..op.output.len()) else {
        return; // unreachable with buffers sized by `ScratchPlan`
    };
    if c == 0 {
        return;
    }
    let n = op.size[0].saturating_mul(op.size[1]);
    let mut pixels = y.chunks_exact_mut(c);
    for oy in 0..op.output.h {
        for ox in 0..op.output.w {
            let Some(px) = pixels.next() else {
                return;
            };
            for (ch, v) in px.iter_mut().enumerate() {
                let values = window(op, oy, ox).map(|s| x.get(s + ch).copied().unwrap_or(0));
                *v = match op.kind {
                    PoolKind::Max => values.max().unwrap_or(0),
                    PoolKind::Avg => avg_i8(values.map(i32::from).sum(), n),
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model_format::MapDims;

    fn op(input: [usize; 3], size: [usize; 2], kind: PoolKind) -> PoolOp {
        let [h, w, c] = input;
        PoolOp {
            input: MapDims { h, w, c },
            output: MapDims {
                h: h / size[0],
                w: w / size[1],
                c,
            },
            size,
            kind,
        }
    }

    #[test]
    fn f32_of_literals() {
        // 1 x 5 x 2, size 2: the fifth step is dropped.
        let x = [1.0, -1.0, 3.0, -2.0, 2.0, 0.5, f32::NAN, 0.25, 9.0, 9.0];
        let mut y = [0.0; 4];
        run(&op([1, 5, 2], [1, 2], PoolKind::Max), &x, &mut y);
        assert_eq!(y[..2], [3.0, -1.0]);
        assert!(y[2].is_nan(), "a NaN wins its window");
        assert_eq!(y[3], 0.5);
        run(&op([1, 5, 2], [1, 2], PoolKind::Avg), &x, &mut y);
        assert_eq!(y[..2], [2.0, -1.5]);
        assert!(y[2].is_nan());
        assert_eq!(y[3], 0.375);
        // 2 x 2 x 1, size 2 x 2.
        let mut y = [0.0; 1];
        run(
            &op([2, 2, 1], [2, 2], PoolKind::Avg),
            &[1.0, 2.0, 3.0, 5.0],
            &mut y,
        );
        assert_eq!(y, [2.75]);
        // Average of -0.0 alone is +0.0, as the trainer's sum from zero.
        let mut y = [1.0; 1];
        run(&op([1, 1, 1], [1, 1], PoolKind::Avg), &[-0.0], &mut y);
        assert!(y[0] == 0.0 && y[0].is_sign_positive());
    }

    #[test]
    fn int8_average_rounds_half_away_from_zero() {
        for (sum, n, want) in [
            (5, 2, 3),
            (-5, 2, -3),
            (3, 2, 2),
            (-3, 2, -2),
            (1, 2, 1),
            (-1, 2, -1),
            (1, 3, 0),
            (2, 3, 1),
            (-2, 3, -1),
            (0, 4, 0),
            (6, 4, 2),
            (-6, 4, -2),
            (-7, 4, -2),
            (-512, 4, -128),
            (508, 4, 127),
        ] {
            assert_eq!(avg_i8(sum, n), want, "{sum} / {n}");
        }
        let x = [-128, 127, 5, 6, -3, -4, 7, 7];
        let mut y = [0i8; 4];
        run_i8(&op([1, 8, 1], [1, 2], PoolKind::Avg), &x, &mut y);
        assert_eq!(y, [-1, 6, -4, 7]);
        run_i8(&op([1, 8, 1], [1, 2], PoolKind::Max), &x, &mut y);
        assert_eq!(y, [127, 6, -3, 7]);
    }
}
