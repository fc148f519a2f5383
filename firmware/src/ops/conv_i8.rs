//! int8 convolution and transposed convolution (SPEC.md 3.3, "Feature-map
//! layers"): integer-only, bit for bit the arithmetic of the spec.
//!
//! For each output position the kernel builds its im2col column, the
//! `kh·kw·c_in` input values the filters multiply, in the order of a
//! weight row `(i, j, ch)`, each minus the input zero point and packed as
//! 16-bit values in the block order of `ops/dsp.rs` (`[x0 | x2 << 16,
//! x1 | x3 << 16]` per block of four, then one word per leftover value).
//! The `filters` outputs of that position are then exactly an int8 dense
//! layer over the column (OHWI weights are one row per filter), so the
//! dense kernel ([`int8::run`]) computes them: three filters per pass, with
//! SMLAD on a Cortex-M4 (feature `dsp`) and the portable code elsewhere,
//! which gives the same bits.
//!
//! - Convolution: a tap outside the input (padding) holds 0, i.e. it reads
//!   the input zero point, which stands for real 0.
//! - Transposed convolution: output `(p, q)` receives from input
//!   `(oy, ox)` through tap `(i, j)` exactly when `oy·sh + i = p + top` and
//!   `ox·sw + j = q + left`; every other tap of the column holds 0. With a
//!   stride above 1 most taps are such zeros (a quarter of them carry
//!   values for stride 2 × 2): the kernel spends those multiplications to
//!   keep one column layout and the dense kernel's inner loop.
//!
//! The column buffer is `packed_words(kh·kw·c_in)` words, which
//! `ScratchPlan` reserves. Indices come from a validated model; the code
//! reads through `get` and never panics.

use model_format::{ConvI8Op, DenseI8Op, WeightLayout};

use super::int8;

/// Writes values one at a time in the packed column layout.
struct Packer<'c> {
    words: core::slice::IterMut<'c, u32>,
    block: [i32; 4],
    fill: usize,
    blocks_left: usize,
}

impl<'c> Packer<'c> {
    /// A packer of `n` values into `column`.
    fn new(column: &'c mut [u32], n: usize) -> Packer<'c> {
        Packer {
            words: column.iter_mut(),
            block: [0; 4],
            fill: 0,
            blocks_left: n / 4,
        }
    }

    #[inline]
    fn push(&mut self, v: i32) {
        if self.blocks_left == 0 {
            if let Some(w) = self.words.next() {
                *w = int8::half(v);
            }
            return;
        }
        if let Some(slot) = self.block.get_mut(self.fill) {
            *slot = v;
        }
        self.fill += 1;
        if self.fill == 4 {
            for packed in int8::pack_block(self.block) {
                if let Some(w) = self.words.next() {
                    *w = packed;
                }
            }
            self.fill = 0;
            self.blocks_left -= 1;
        }
    }

    /// `count` values `x − zp` of `x`, or zeros where `x` has none.
    #[inline]
    fn values(&mut self, x: Option<&[i8]>, zp: i32, count: usize) {
        match x {
            Some(xs) => xs.iter().for_each(|q| self.push(i32::from(*q) - zp)),
            None => (0..count).for_each(|_| self.push(0)),
        }
    }
}

/// The dense computation of one output position: `filters` outputs over
/// a column of `kh·kw·c_in` values.
fn per_position<'a>(op: &ConvI8Op<'a>) -> DenseI8Op<'a> {
    DenseI8Op {
        inputs: op.geometry.patch(),
        outputs: op.geometry.output.c,
        activation: op.activation,
        layout: WeightLayout::OutputsByInputs,
        input: op.input,
        output: op.output,
        requant: op.requant,
        weights: op.weights,
        exponents: op.exponents,
        bias: op.bias,
        target_zero_point: op.target_zero_point,
        clamp_min: op.clamp_min,
        table: op.table,
    }
}

/// The input row (or column) a convolution tap reads: `base + i − pad`,
/// if it lies in `0..size`.
#[inline]
fn conv_source(base: usize, i: usize, pad: usize, size: usize) -> Option<usize> {
    (base + i).checked_sub(pad).filter(|&v| v < size)
}

/// The input row (or column) that reaches output `p` of a transposed
/// convolution through tap `i`: `(p + pad − i)/s`, if exact and in `0..size`.
#[inline]
fn transpose_source(p: usize, i: usize, pad: usize, s: usize, size: usize) -> Option<usize> {
    let d = (p + pad).checked_sub(i)?;
    (d % s == 0).then_some(d / s).filter(|&v| v < size)
}

/// Runs an int8 convolution (`transposed = false`) or transposed
/// convolution on the channel-last int8 map `x` into `y`, using `column`
/// (at least `packed_words(patch)` words). Shorter slices compute less.
fn run_any(op: &ConvI8Op<'_>, transposed: bool, x: &[i8], column: &mut [u32], y: &mut [i8]) {
    let g = &op.geometry;
    let (input, output) = (g.input, g.output);
    let (filters, cin, patch) = (output.c, input.c, g.patch());
    let [kh, kw] = g.kernel;
    let [sh, sw] = g.stride.map(|s| s.max(1));
    let [top, left] = g.pad;
    let zp = i32::from(op.input.zero_point);
    let Some(y) = y.get_mut(..output.len()) else {
        return; // unreachable with buffers sized by `ScratchPlan`
    };
    let Some(column) = column.get_mut(..int8::packed_words(patch)) else {
        return;
    };
    if filters == 0 || patch == 0 {
        return;
    }
    let dense = per_position(op);
    let mut pixels = y.chunks_exact_mut(filters);
    for p in 0..output.h {
        for q in 0..output.w {
            let Some(px) = pixels.next() else {
                return;
            };
            let mut packer = Packer::new(column, patch);
            for i in 0..kh {
                let row = if transposed {
                    transpose_source(p, i, top, sh, input.h)
                } else {
                    conv_source(p * sh, i, top, input.h)
                };
                for j in 0..kw {
                    let col = if transposed {
                        transpose_source(q, j, left, sw, input.w)
                    } else {
                        conv_source(q * sw, j, left, input.w)
                    };
                    let values = match (row, col) {
                        (Some(r), Some(c)) => {
                            let start = (r * input.w + c) * cin;
                            x.get(start..start + cin)
                        }
                        _ => None,
                    };
                    packer.values(values, zp, cin);
                }
            }
            int8::run(&dense, column, px);
        }
    }
}

/// Runs an int8 convolution on the channel-last int8 map `x` (stored
/// values, quantized with `op.input`) into `y` (quantized with
/// `op.output`), using `column` for the im2col column.
pub fn run(op: &ConvI8Op<'_>, x: &[i8], column: &mut [u32], y: &mut [i8]) {
    run_any(op, false, x, column, y);
}

/// Runs an int8 transposed convolution; as [`run`].
pub fn run_transpose(op: &ConvI8Op<'_>, x: &[i8], column: &mut [u32], y: &mut [i8]) {
    run_any(op, true, x, column, y);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_packer_writes_the_dense_layout() {
        for n in [1usize, 3, 4, 5, 8, 11] {
            let values: Vec<i32> = (0..n as i32).map(|k| k * 37 - 200).collect();
            let mut column = vec![0u32; int8::packed_words(n)];
            let mut packer = Packer::new(&mut column, n);
            values.iter().for_each(|v| packer.push(*v));
            // The same as packing the values as an int8 dense input.
            let f: Vec<f32> = values.iter().map(|v| *v as f32).collect();
            let mut want = vec![0u32; int8::packed_words(n)];
            let unit = model_format::Quant {
                scale: 1.0,
                zero_point: 0,
            };
            int8::pack_f32(&f, &unit, &mut want);
            // pack_f32 saturates to int8 first; compare on values that fit.
            let fits: Vec<bool> = values.iter().map(|v| (-128..=127).contains(v)).collect();
            if fits.iter().all(|b| *b) {
                assert_eq!(column, want, "n {n}");
            }
            for (k, v) in values.iter().enumerate() {
                assert_eq!(int8::packed_value(&column, n, k), *v, "n {n} k {k}");
            }
        }
    }

    #[test]
    fn sources() {
        // Same, kernel 3, stride 1: output 0 reads rows -1 (none), 0, 1.
        assert_eq!(conv_source(0, 0, 1, 4), None);
        assert_eq!(conv_source(0, 1, 1, 4), Some(0));
        assert_eq!(conv_source(3, 2, 1, 4), None);
        // Stride 2, pad 0: output 3 comes from input 1 through tap 1 only.
        assert_eq!(transpose_source(3, 1, 0, 2, 4), Some(1));
        assert_eq!(transpose_source(3, 0, 0, 2, 4), None);
        assert_eq!(transpose_source(3, 2, 0, 2, 4), None);
        assert_eq!(transpose_source(0, 1, 0, 2, 4), None);
        assert_eq!(transpose_source(9, 1, 0, 2, 4), None); // row 4 does not exist
    }
}
