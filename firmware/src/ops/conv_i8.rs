//! int8 convolution and transposed convolution (SPEC.md 3.3, "Feature-map
//! layers"): integer-only, bit for bit the arithmetic of the spec.
//!
//! # How
//!
//! Output positions are computed four at a time. For a group of four the
//! kernel builds their im2col columns, the input values the filters
//! multiply (each minus the input zero point, as 16-bit values), and then
//! runs every filter's weight row over the four columns at once
//! (`dsp::dot1x4`: each weight word is loaded and sign-extended once for
//! four positions; SMLAD on a Cortex-M4 with feature `dsp`, the portable
//! code elsewhere, which gives the same bits). Then each sum is requantized
//! as a dense layer's (`int8::finish`).
//!
//! Which taps a column holds:
//!
//! - **Per tap** (`c_in` a multiple of 4 and at most 64 taps): only the
//!   taps that can reach the group's positions, each a whole number of
//!   blocks of four, multiplied with the matching `c_in` weights of the
//!   row. A convolution's positions all use every tap (a tap in the
//!   padding reads the input zero point, i.e. 0). A transposed
//!   convolution's output `(p, q)` receives from input `(oy, ox)` through
//!   tap `(i, j)` exactly when `oy·sh + i = p + top` and `ox·sw + j = q +
//!   left`, so the taps that can reach it depend only on `(p mod sh, q mod
//!   sw)`: the kernel groups positions by that phase, and its columns hold
//!   only those taps (a quarter of them for stride 2 × 2) instead of the
//!   zeros of the others.
//! - **Whole rows** (any other layer, e.g. 3 input channels): the column
//!   is a whole weight row's `kh·kw·c_in` values, taps that do not reach the
//!   position (padding, or a transposed convolution's other phases) as
//!   zeros; a last partial block is padded with zeros (and the row's last
//!   weights with zeros to match).
//!
//! The column buffer is [`column_words`] words (four columns), which
//! `ScratchPlan` reserves. Layout, for `n` values per column: block `b` of
//! column `k` (values `4b..4b + 4`, zeros past `n`) is words `8b + 2k` and
//! `8b + 2k + 1` in the order of `ops/dsp.rs` (`[x0 | x2 << 16, x1 | x3 <<
//! 16]`), `⌈n/4⌉` blocks.
//! A group with fewer than four positions computes zero columns for the
//! missing ones and writes nothing for them. Indices come from a validated
//! model; the code reads through `get` and never panics.

use model_format::{ConvI8Op, DenseI8Op, WeightLayout};

use super::{dsp, int8};

/// Output positions computed together.
pub const COLUMNS: usize = 4;

/// Words of column buffer a layer with `patch` values per weight row needs.
pub const fn column_words(patch: usize) -> usize {
    COLUMNS * 2 * patch.div_ceil(4)
}

/// The per-position dense computation: `filters` outputs over a column,
/// for `int8::finish`.
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

/// One layer's geometry, as the kernel walks it.
struct Walk<'o, 'a> {
    op: &'o ConvI8Op<'a>,
    transposed: bool,
    /// Per-tap columns: the taps of the current phase, bit `i·kw + j`.
    /// `None`: whole-row columns.
    per_tap: Option<u64>,
}

impl Walk<'_, '_> {
    /// The input position tap `(i, j)` of output `(p, q)` reads, if any.
    #[inline]
    fn source(&self, p: usize, q: usize, i: usize, j: usize) -> Option<usize> {
        let g = &self.op.geometry;
        let (input, [top, left]) = (g.input, g.pad);
        let [sh, sw] = g.stride.map(|s| s.max(1));
        let (row, col) = if self.transposed {
            (
                transpose_source(p, i, top, sh, input.h)?,
                transpose_source(q, j, left, sw, input.w)?,
            )
        } else {
            (
                conv_source(p * sh, i, top, input.h)?,
                conv_source(q * sw, j, left, input.w)?,
            )
        };
        Some((row * input.w + col) * input.c)
    }

    /// The taps (bit `i·kw + j`) that can reach outputs of phase `(a, b)`.
    fn phase_taps(&self, a: usize, b: usize) -> u64 {
        let g = &self.op.geometry;
        let [kh, kw] = g.kernel;
        let [sh, sw] = g.stride.map(|s| s.max(1));
        let [top, left] = g.pad;
        let mut mask = 0u64;
        for i in 0..kh {
            for j in 0..kw {
                let reach = !self.transposed
                    || ((a + top + sh * kh - i).is_multiple_of(sh)
                        && (b + left + sw * kw - j).is_multiple_of(sw));
                if reach {
                    mask |= 1 << (i * kw + j);
                }
            }
        }
        mask
    }

    /// Builds the columns of the positions in `group` (`None`: a zero
    /// column) into `column`; returns the number of values per column.
    fn pack(
        &self,
        group: &[Option<(usize, usize)>; COLUMNS],
        x: &[i8],
        column: &mut [u32],
    ) -> usize {
        let g = &self.op.geometry;
        let [kh, kw] = g.kernel;
        let cin = g.input.c;
        let zp = self.op.input.zero_point;
        match self.per_tap {
            Some(mask) => {
                let blocks = column.as_chunks_mut::<8>().0;
                // Whole blocks: one input word gives one block of a column.
                let zp2 = u32::from(zp as i16 as u16) * 0x1_0001;
                let per_tap = cin / 4;
                for (k, pos) in group.iter().enumerate() {
                    let mut b0 = 0;
                    for tap in Bits(mask) {
                        let (i, j) = (tap / kw, tap % kw);
                        let dst = blocks.get_mut(b0..b0 + per_tap).unwrap_or(&mut []);
                        let src = pos.and_then(|(p, q)| self.source(p, q, i, j));
                        match src.and_then(|s| x.get(s..s + cin)) {
                            Some(xs) => {
                                for (d, v) in dst.iter_mut().zip(xs.as_chunks::<4>().0) {
                                    let pair =
                                        dsp::pack4(u32::from_le_bytes(v.map(|b| b as u8)), zp2);
                                    if let Some(d) = d.get_mut(2 * k..2 * k + 2) {
                                        d.copy_from_slice(&pair);
                                    }
                                }
                            }
                            None => {
                                for d in dst.iter_mut() {
                                    if let Some(d) = d.get_mut(2 * k..2 * k + 2) {
                                        d.fill(0);
                                    }
                                }
                            }
                        }
                        b0 += per_tap;
                    }
                }
                mask.count_ones() as usize * cin
            }
            None => {
                let n = g.patch();
                let zp = i32::from(zp);
                let blocks = column.as_chunks_mut::<8>().0;
                let blocks = blocks.get_mut(..n.div_ceil(4)).unwrap_or(&mut []);
                for (k, pos) in group.iter().enumerate() {
                    let mut w = Writer {
                        blocks: blocks.iter_mut(),
                        k,
                        fill: 0,
                        values: [0; 4],
                    };
                    for i in 0..kh {
                        for j in 0..kw {
                            let src = pos.and_then(|(p, q)| self.source(p, q, i, j));
                            match src.and_then(|s| x.get(s..s + cin)) {
                                Some(xs) => xs.iter().for_each(|q| w.push(i32::from(*q) - zp)),
                                None => (0..cin).for_each(|_| w.push(0)),
                            }
                        }
                    }
                    w.finish();
                }
                n
            }
        }
    }
}

/// Writes one column's values in order (layout in the module notes); call
/// [`Writer::finish`] after the last.
struct Writer<B> {
    blocks: B,
    k: usize,
    fill: usize,
    values: [i32; 4],
}

impl<'c, B: Iterator<Item = &'c mut [u32; 8]>> Writer<B> {
    #[inline]
    fn push(&mut self, v: i32) {
        if let Some(slot) = self.values.get_mut(self.fill) {
            *slot = v;
        }
        self.fill += 1;
        if self.fill == 4 {
            self.fill = 0;
            self.write();
        }
    }

    #[inline]
    fn write(&mut self) {
        if let Some(block) = self.blocks.next()
            && let Some(d) = block.get_mut(2 * self.k..2 * self.k + 2)
        {
            d.copy_from_slice(&int8::pack_block(self.values));
        }
    }

    /// Pads a last partial block with zeros and writes it.
    fn finish(mut self) {
        if self.fill > 0 {
            self.values.iter_mut().skip(self.fill).for_each(|v| *v = 0);
            self.write();
        }
    }
}

/// The set bits of a mask, lowest first.
struct Bits(u64);

impl Iterator for Bits {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        if self.0 == 0 {
            return None;
        }
        let t = self.0.trailing_zeros() as usize;
        self.0 &= self.0 - 1;
        Some(t)
    }
}

/// The runs of consecutive set bits of a mask, lowest first, as
/// `(first bit, length)`.
struct Runs(u64);

impl Iterator for Runs {
    type Item = (usize, usize);
    fn next(&mut self) -> Option<(usize, usize)> {
        if self.0 == 0 {
            return None;
        }
        let first = self.0.trailing_zeros();
        let len = (self.0 >> first).trailing_ones();
        self.0 = self
            .0
            .checked_shr(first + len)
            .map_or(0, |rest| rest << (first + len));
        Some((first as usize, len as usize))
    }
}

/// Runs an int8 convolution (`transposed = false`) or transposed
/// convolution on the channel-last int8 map `x` into `y`, using `column`
/// (at least [`column_words`] words). Shorter slices compute less.
fn run_any(op: &ConvI8Op<'_>, transposed: bool, x: &[i8], column: &mut [u32], y: &mut [i8]) {
    let g = &op.geometry;
    let output = g.output;
    let (filters, cin, patch) = (output.c, g.input.c, g.patch());
    let [kh, kw] = g.kernel;
    let [sh, sw] = if transposed {
        g.stride.map(|s| s.max(1))
    } else {
        [1, 1]
    };
    let Some(y) = y.get_mut(..output.len()) else {
        return; // unreachable with buffers sized by `ScratchPlan`
    };
    let Some(column) = column.get_mut(..column_words(patch)) else {
        return;
    };
    if filters == 0 || patch == 0 {
        return;
    }
    let per_tap = cin.is_multiple_of(4) && kh * kw <= 64;
    let dense = per_position(op);
    let weights = op.weights.as_bytes();
    let mut walk = Walk {
        op,
        transposed,
        per_tap: None,
    };
    // Phases (a, b): the outputs p ≡ a (mod sh), q ≡ b (mod sw); a
    // convolution has one.
    for a in 0..sh.min(output.h) {
        for b in 0..sw.min(output.w) {
            walk.per_tap = per_tap.then(|| walk.phase_taps(a, b));
            let mut positions = (a..output.h)
                .step_by(sh)
                .flat_map(|p| (b..output.w).step_by(sw).map(move |q| (p, q)))
                .peekable();
            while positions.peek().is_some() {
                let mut group = [None; COLUMNS];
                for slot in &mut group {
                    *slot = positions.next();
                }
                let n = walk.pack(&group, x, column);
                let bases = group.map(|pos| pos.map(|(p, q)| (p * output.w + q) * filters));
                let xb = column.as_chunks::<8>().0;
                let xb = xb.get(..n.div_ceil(4)).unwrap_or(&[]);
                for (f, (row, bias)) in weights.chunks_exact(patch).zip(op.bias.iter()).enumerate()
                {
                    let mut acc = [bias; COLUMNS];
                    match walk.per_tap {
                        Some(mask) => {
                            // Consecutive taps are consecutive in the row and
                            // the column: one run each (a convolution has one).
                            let mut b0 = 0;
                            for (first, count) in Runs(mask) {
                                let w = row.get(first * cin..(first + count) * cin).unwrap_or(&[]);
                                let xs = xb.get(b0..).unwrap_or(&[]);
                                acc = dsp::dot1x4(w.as_chunks::<4>().0, xs, acc);
                                b0 += count * cin / 4;
                            }
                        }
                        None => {
                            let (wb, wt) = row.as_chunks::<4>();
                            acc = dsp::dot1x4(wb, xb, acc);
                            if !wt.is_empty() {
                                // The partial last block, zeros past the row.
                                let mut last = [0u8; 4];
                                last.iter_mut().zip(wt).for_each(|(d, w)| *d = *w);
                                let xs = xb.get(wb.len()..).unwrap_or(&[]);
                                acc = dsp::dot1x4(&[last], xs, acc);
                            }
                        }
                    }
                    let e = op.exponents.get(f);
                    for (base, a) in bases.iter().zip(acc) {
                        if let Some(out) = base.and_then(|b| y.get_mut(b + f)) {
                            *out = int8::finish(&dense, a, e);
                        }
                    }
                }
            }
        }
    }
}

/// Runs an int8 convolution on the channel-last int8 map `x` (stored
/// values, quantized with `op.input`) into `y` (quantized with
/// `op.output`), using `column` for the im2col columns.
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
    use model_format::{Activation, ConvGeometry, I8s, I32s, MapDims, Nibbles, Quant, Requant};

    #[test]
    fn the_writer_writes_the_documented_layout() {
        for n in [1usize, 3, 4, 5, 8, 11] {
            let mut column = vec![u32::MAX; column_words(n)];
            let blocks = column.as_chunks_mut::<8>().0;
            for k in 0..COLUMNS {
                let mut w = Writer {
                    blocks: blocks.iter_mut(),
                    k,
                    fill: 0,
                    values: [0; 4],
                };
                (0..n).for_each(|v| w.push((v * 37 + k * 5) as i32 - 200));
                w.finish();
            }
            for k in 0..COLUMNS {
                for v in 0..n.div_ceil(4) * 4 {
                    // Zeros pad the last block.
                    let want = if v < n {
                        (v * 37 + k * 5) as i32 - 200
                    } else {
                        0
                    };
                    let (b, r) = (v / 4, v % 4);
                    let w = column[8 * b + 2 * k + (r & 1)];
                    let got = (if r < 2 { w } else { w >> 16 }) as u16 as i16 as i32;
                    assert_eq!(got, want, "n {n} k {k} v {v}");
                }
            }
        }
    }

    #[test]
    fn pack4_subtracts_the_zero_point_in_block_order() {
        for zp in [-128i8, -3, 0, 5, 127] {
            let zp2 = u32::from(zp as i16 as u16) * 0x1_0001;
            let bytes = [-128i8, 127, 0, -1];
            let v = u32::from_le_bytes(bytes.map(|b| b as u8));
            let d: Vec<i32> = bytes
                .iter()
                .map(|b| i32::from(*b) - i32::from(zp))
                .collect();
            let h = |x: i32| u32::from(x as i16 as u16);
            assert_eq!(
                dsp::pack4(v, zp2),
                [h(d[0]) | h(d[2]) << 16, h(d[1]) | h(d[3]) << 16]
            );
        }
    }

    #[test]
    fn runs_of_set_bits() {
        let runs = |m: u64| Runs(m).collect::<Vec<_>>();
        assert_eq!(runs(0), vec![]);
        assert_eq!(runs(0b1), vec![(0, 1)]);
        assert_eq!(runs(0b1_1101_1000), vec![(3, 2), (6, 3)]);
        assert_eq!(runs(u64::MAX), vec![(0, 64)]);
        assert_eq!(runs(1 << 63 | 1), vec![(0, 1), (63, 1)]);
        assert_eq!(runs(0b10101), vec![(0, 1), (2, 1), (4, 1)]);
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

    /// A small deterministic generator.
    fn values(seed: u32, n: usize) -> Vec<i8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                ((x % 255) as i32 - 127) as i8
            })
            .collect()
    }

    /// The definition, one output at a time: the bias plus every
    /// (input, tap) pair that meets at the output, then the requantization.
    fn reference(op: &ConvI8Op<'_>, transposed: bool, x: &[i8]) -> Vec<i8> {
        let g = op.geometry;
        let (inp, out) = (g.input, g.output);
        let [kh, kw] = g.kernel;
        let [sh, sw] = g.stride;
        let [top, left] = g.pad;
        let dense = per_position(op);
        let mut y = vec![0i8; out.len()];
        for p in 0..out.h {
            for q in 0..out.w {
                for f in 0..out.c {
                    let mut acc = op.bias.get(f).unwrap();
                    for i in 0..kh {
                        for j in 0..kw {
                            // Input (r, c) meets output (p, q) through tap (i, j).
                            let (r, c) = if transposed {
                                let (dr, dc) =
                                    ((p + top) as i64 - i as i64, (q + left) as i64 - j as i64);
                                if dr < 0 || dc < 0 || dr % sh as i64 != 0 || dc % sw as i64 != 0 {
                                    continue;
                                }
                                (dr / sh as i64, dc / sw as i64)
                            } else {
                                (
                                    (p * sh + i) as i64 - top as i64,
                                    (q * sw + j) as i64 - left as i64,
                                )
                            };
                            if r < 0 || c < 0 || r >= inp.h as i64 || c >= inp.w as i64 {
                                continue;
                            }
                            for ch in 0..inp.c {
                                let xv =
                                    i32::from(x[((r as usize) * inp.w + c as usize) * inp.c + ch])
                                        - i32::from(op.input.zero_point);
                                let w = i32::from(
                                    op.weights
                                        .get(f * g.patch() + (i * kw + j) * inp.c + ch)
                                        .unwrap(),
                                );
                                acc = acc.wrapping_add(w * xv);
                            }
                        }
                    }
                    y[(p * out.w + q) * out.c + f] = int8::finish(&dense, acc, op.exponents.get(f));
                }
            }
        }
        y
    }

    #[test]
    fn both_column_layouts_match_the_definition() {
        use model_format::{Padding, conv_axis, conv_transpose_axis};
        let mut cases = 0;
        for transposed in [false, true] {
            for cin in [3usize, 4, 8] {
                for (kh, kw, sh, sw, h, w) in [
                    (1, 5, 1, 2, 1, 9),
                    (3, 3, 1, 1, 5, 4),
                    (3, 3, 2, 2, 5, 5),
                    (2, 3, 2, 1, 4, 3),
                    (5, 5, 2, 2, 3, 4), // odd padding before the map, both axes
                ] {
                    for padding in [Padding::Valid, Padding::Same] {
                        let axis = if transposed {
                            conv_transpose_axis
                        } else {
                            conv_axis
                        };
                        let (Some((oh, top)), Some((ow, left))) = (
                            axis(h as u64, kh as u64, sh as u64, padding),
                            axis(w as u64, kw as u64, sw as u64, padding),
                        ) else {
                            continue;
                        };
                        let filters = 5; // one group of three and a remainder
                        let patch = kh * kw * cin;
                        let weights: Vec<u8> = values(7 + cases, filters * patch)
                            .iter()
                            .map(|v| *v as u8)
                            .collect();
                        let bias: Vec<u8> = (0..filters as i32)
                            .flat_map(|f| (f * 300 - 700).to_le_bytes())
                            .collect();
                        let exponents = [0x21u8, 0x03, 0x01];
                        let op = ConvI8Op {
                            geometry: ConvGeometry {
                                input: MapDims { h, w, c: cin },
                                output: MapDims {
                                    h: oh as usize,
                                    w: ow as usize,
                                    c: filters,
                                },
                                kernel: [kh, kw],
                                stride: [sh, sw],
                                pad: [top as usize, left as usize],
                            },
                            activation: Activation::Identity,
                            input: Quant {
                                scale: 0.1,
                                zero_point: -3,
                            },
                            output: Quant {
                                scale: 0.1,
                                zero_point: 4,
                            },
                            requant: Requant {
                                multiplier: 1_518_500_250,
                                shift: -6,
                            },
                            weights: I8s::new(&weights),
                            exponents: Nibbles::new(&exponents),
                            bias: I32s::new(&bias),
                            target_zero_point: 4,
                            clamp_min: -128,
                            table: I8s::new(&[]),
                        };
                        let x = values(99 + cases, h * w * cin);
                        let mut column = vec![0u32; column_words(patch)];
                        let mut y = vec![0i8; op.geometry.output.len()];
                        run_any(&op, transposed, &x, &mut column, &mut y);
                        let want = reference(&op, transposed, &x);
                        assert_eq!(
                            y, want,
                            "transposed {transposed} cin {cin} kernel {kh}x{kw} stride {sh}x{sw} {h}x{w} {padding:?}"
                        );
                        // Not all outputs saturate: the case tests something.
                        assert!(want.iter().any(|v| *v != 127 && *v != -128));
                        cases += 1;
                    }
                }
            }
        }
        assert!(cases >= 40, "{cases} cases");
    }
}
