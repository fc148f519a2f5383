//! Convolution and transposed convolution, f32 (SPEC.md 3.3, "Feature-map
//! layers"): channel-last maps, OHWI weights read straight from the model
//! bytes, TensorFlow padding.
//!
//! Neither kernel needs a buffer of its own. For one output position the
//! `filters` outputs are contiguous (channel-last), so they are the
//! accumulators: each starts at its bias and gathers its terms.
//!
//! - The convolution walks the kernel rows that fall inside the input; in
//!   such a row the kernel columns inside the input read `(j1 − j0)·c`
//!   contiguous input values, and the matching part of each filter's weight
//!   row is contiguous too (OHWI), so each is one [`dense::dot`] (two filters
//!   at a time over words: `dense::add_dots`). Padding is
//!   never read: it would only add zeros.
//! - The transposed convolution is written as the gather of the scatter
//!   that defines it: output `(p, q)` receives from input `(oy, ox)`
//!   through kernel tap `(i, j)` exactly when `oy·sh + i = p + top` and
//!   `ox·sw + j = q + left`, so for each tap `i ≡ p + top (mod sh)` with
//!   `oy` inside the input it adds `w[f][i][j][·] · x[oy, ox, ·]`, a dot
//!   product over the input channels.
//!
//! The geometry comes from a validated model, so every index computed here
//! is in range; the kernels still read through `get` and skip what would
//! not be, and never panic.

use model_format::ConvOp;

use super::{activation, dense};

/// The kernel rows (or columns) `lo..hi` of a window starting at `base`
/// (before padding) whose input row `base + i − pad` lies in `0..size`.
#[inline]
fn rows_inside(base: usize, pad: usize, kernel: usize, size: usize) -> (usize, usize) {
    // Input row of kernel row i: base + i − pad, inside when in 0..size.
    let lo = pad.saturating_sub(base);
    let hi = kernel.min((size + pad).saturating_sub(base));
    (lo, hi)
}

/// Runs a convolution on the channel-last map `x` into `y`, activation
/// included. `x` holds `input.len()` values and `y` at least
/// `output.len()`; shorter slices compute less.
pub fn run(op: &ConvOp<'_>, x: &[f32], y: &mut [f32]) {
    let g = &op.geometry;
    let (input, output) = (g.input, g.output);
    let (filters, cin, patch) = (output.c, input.c, g.patch());
    let [kh, kw] = g.kernel;
    let [sh, sw] = g.stride;
    let [top, left] = g.pad;
    let Some(y) = y.get_mut(..output.len()) else {
        return; // unreachable with buffers sized by `ScratchPlan`
    };
    if filters == 0 || patch == 0 {
        return;
    }
    let (bytes, words) = (op.weights.chunks(), dense::words(op.weights));
    let mut pixels = y.chunks_exact_mut(filters);
    for oy in 0..output.h {
        let base_y = oy * sh;
        let (i0, i1) = rows_inside(base_y, top, kh, input.h);
        for ox in 0..output.w {
            let Some(px) = pixels.next() else {
                return;
            };
            for (v, b) in px.iter_mut().zip(op.bias.iter()) {
                *v = b;
            }
            let base_x = ox * sw;
            let (j0, j1) = rows_inside(base_x, left, kw, input.w);
            if j0 >= j1 {
                continue;
            }
            let seg = (j1 - j0) * cin;
            let x0 = base_x + j0 - left;
            for i in i0..i1 {
                let start = ((base_y + i - top) * input.w + x0) * cin;
                let Some(xs) = x.get(start..start + seg) else {
                    continue;
                };
                dense::add_dots(bytes, words, patch, (i * kw + j0) * cin, xs, px);
            }
        }
    }
    activation::apply(op.activation, y);
}

/// Runs a transposed convolution on the channel-last map `x` into `y`,
/// activation included. Slices as for [`run`].
pub fn run_transpose(op: &ConvOp<'_>, x: &[f32], y: &mut [f32]) {
    let g = &op.geometry;
    let (input, output) = (g.input, g.output);
    let (filters, cin, patch) = (output.c, input.c, g.patch());
    let [kh, kw] = g.kernel;
    let [sh, sw] = g.stride.map(|s| s.max(1));
    let [top, left] = g.pad;
    let Some(y) = y.get_mut(..output.len()) else {
        return; // unreachable with buffers sized by `ScratchPlan`
    };
    if filters == 0 || patch == 0 {
        return;
    }
    let (bytes, words) = (op.weights.chunks(), dense::words(op.weights));
    let mut pixels = y.chunks_exact_mut(filters);
    for p in 0..output.h {
        let py = p + top;
        for q in 0..output.w {
            let Some(px) = pixels.next() else {
                return;
            };
            for (v, b) in px.iter_mut().zip(op.bias.iter()) {
                *v = b;
            }
            let qx = q + left;
            // Taps i ≤ py with i ≡ py (mod sh); the input row (py − i)/sh
            // must exist.
            for i in (py % sh..kh.min(py + 1)).step_by(sh) {
                let oy = (py - i) / sh;
                if oy >= input.h {
                    continue;
                }
                for j in (qx % sw..kw.min(qx + 1)).step_by(sw) {
                    let ox = (qx - j) / sw;
                    if ox >= input.w {
                        continue;
                    }
                    let start = (oy * input.w + ox) * cin;
                    let Some(xs) = x.get(start..start + cin) else {
                        continue;
                    };
                    dense::add_dots(bytes, words, patch, (i * kw + j) * cin, xs, px);
                }
            }
        }
    }
    activation::apply(op.activation, y);
}

#[cfg(test)]
mod tests {
    use super::*;
    use model_format::build::f32_bytes as le;
    use model_format::{Activation, ConvGeometry, F32s, MapDims};

    fn geometry(
        input: [usize; 3],
        filters: usize,
        kernel: [usize; 2],
        stride: [usize; 2],
        pad: [usize; 2],
        output: [usize; 2],
    ) -> ConvGeometry {
        let [h, w, c] = input;
        ConvGeometry {
            input: MapDims { h, w, c },
            output: MapDims {
                h: output[0],
                w: output[1],
                c: filters,
            },
            kernel,
            stride,
            pad,
        }
    }

    #[test]
    fn conv1d_of_literals() {
        // 1 x 4 x 1, kernel 3, same: one zero each side (SPEC.md section 5).
        let w = le(&[0.25, 0.5, 0.25, -0.5, 0.0, 0.5]);
        let b = le(&[0.0, 0.125]);
        let op = ConvOp {
            geometry: geometry([1, 4, 1], 2, [1, 3], [1, 1], [0, 1], [1, 4]),
            activation: Activation::Relu,
            weights: F32s::new(&w),
            bias: F32s::new(&b),
        };
        let mut y = [9.0; 9];
        run(&op, &[1.0, 2.0, 3.0, 4.0], &mut y);
        assert_eq!(y, [1.0, 1.125, 2.0, 1.125, 3.0, 1.125, 2.75, 0.0, 9.0]);
    }

    #[test]
    fn transposed_of_literals() {
        // 1 x 4 x 2 -> 1 x 4 x 1, kernel 3, same (SPEC.md section 5).
        let w = le(&[0.5, -0.5, 0.25, 0.25, 0.5, 0.0]);
        let b = le(&[0.0]);
        let op = ConvOp {
            geometry: geometry([1, 4, 2], 1, [1, 3], [1, 1], [0, 1], [1, 4]),
            activation: Activation::Identity,
            weights: F32s::new(&w),
            bias: F32s::new(&b),
        };
        let x = [2.0, 1.125, 2.0, 1.125, 3.0, 1.125, 3.0, 1.125];
        let mut y = [0.0; 4];
        run_transpose(&op, &x, &mut y);
        assert_eq!(y, [1.21875, 2.71875, 2.96875, 2.53125]);
        // Stride 2, valid, kernel 2: each input fills its own two outputs.
        let w = le(&[1.0, 10.0]);
        let op = ConvOp {
            geometry: geometry([1, 3, 1], 1, [1, 2], [1, 2], [0, 0], [1, 6]),
            activation: Activation::Identity,
            weights: F32s::new(&w),
            bias: F32s::new(&b),
        };
        let mut y = [0.0; 6];
        run_transpose(&op, &[1.0, 2.0, 3.0], &mut y);
        assert_eq!(y, [1.0, 10.0, 2.0, 20.0, 3.0, 30.0]);
    }

    #[test]
    fn short_buffers_are_left_alone() {
        let w = le(&[1.0; 3]);
        let b = le(&[0.0]);
        let op = ConvOp {
            geometry: geometry([1, 4, 1], 1, [1, 3], [1, 1], [0, 1], [1, 4]),
            activation: Activation::Identity,
            weights: F32s::new(&w),
            bias: F32s::new(&b),
        };
        let mut y = [7.0; 3];
        run(&op, &[1.0; 4], &mut y);
        run_transpose(&op, &[1.0; 4], &mut y);
        assert_eq!(y, [7.0; 3]);
        // A short input reads nothing past its end.
        let mut y = [0.0; 4];
        run(&op, &[1.0; 2], &mut y);
        assert!(y.iter().all(|v| v.is_finite()));
    }
}
