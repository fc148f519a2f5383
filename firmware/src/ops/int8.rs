//! int8 dense and tied dense layers, and the conversions at the f32 edges.
//! The arithmetic is SPEC.md section 3.3 ("int8 layers"), integer-only
//! between [`pack_f32`] (or [`pack_i8_in_place`]) and [`dequantize_in_place`].
//!
//! The input of a layer is packed once into 16-bit values with its zero
//! point subtracted (`x − zp` is in −255..=255), in the block order the
//! dual-MAC kernel wants (see `ops/dsp.rs`): per block of four
//! `[x0 | x2 << 16, x1 | x3 << 16]`, then one word per leftover value.

use model_format::{DenseI8Op, I8s, Quant, WeightLayout};

use super::{dsp, int8_x4};

/// Words of packed input for `n` values.
pub const fn packed_words(n: usize) -> usize {
    (n / 4) * 2 + n % 4
}

/// Rounds half away from zero and saturates to i32; NaN gives 0.
pub fn round_sat(t: f32) -> i32 {
    let i = t as i32; // truncates toward zero, saturates, NaN -> 0
    // Exact: for |t| < 2^23 the difference of t and its truncation is
    // representable; above, t is an integer (or i saturated and the
    // saturating step below keeps it there).
    let frac = t - i as f32;
    if frac >= 0.5 {
        i.saturating_add(1)
    } else if frac <= -0.5 {
        i.saturating_sub(1)
    } else {
        i
    }
}

/// `1 / scale`, the factor [`quantize`] multiplies by.
pub fn reciprocal(q: &Quant) -> f32 {
    1.0 / q.scale
}

/// One f32 to int8: `clamp(round(x · inv) + zp, −128, 127)`.
#[inline]
pub fn quantize(x: f32, inv: f32, zero_point: i8) -> i8 {
    let v = round_sat(x * inv).saturating_add(i32::from(zero_point));
    v.clamp(-128, 127) as i8
}

/// One int8 to f32: `(q − zp) · scale`.
#[inline]
pub fn dequantize(q: i8, quant: &Quant) -> f32 {
    (i32::from(q) - i32::from(quant.zero_point)) as f32 * quant.scale
}

/// TFLite's `MultiplyByQuantizedMultiplier` in its single-rounding form:
/// `x · m · 2^(s − 31)` rounded half up, saturated to i32 (SPEC.md 3.3).
/// On the Cortex-M4 this is one `smull` and a 64-bit shift.
#[inline]
pub fn mbqm(x: i32, m: i32, s: i32) -> i32 {
    let t = (31 - s).clamp(1, 63) as u32;
    let p = i64::from(x) * i64::from(m);
    if t > 32 {
        // The usual case (M < 2^-1): only the high word of the product
        // matters. With p = hi·2^32 + lo and k = t − 32 in 1..=31,
        // floor((p + 2^(t−1)) / 2^t) = floor((hi + 2^(k−1)) / 2^k), since
        // lo / 2^32 < 1 cannot carry past a multiple of 2^k. |hi| < 2^30,
        // so the sum fits i32 and needs no clamp.
        let hi = (p >> 32) as i32;
        let k = t - 32;
        (hi + (1 << (k - 1))) >> k
    } else if t == 32 {
        // M in [2^-2, 2^-1): the high word rounded, |x · m| / 2^32 < 2^30.
        ((p + (1i64 << 31)) >> 32) as i32
    } else {
        // |x · m| < 2^62 and the rounding term is at most 2^31: no overflow.
        let v = (p + (1i64 << (t - 1))) >> t;
        v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
    }
}

/// [`mbqm`] for `t = 31 − s = 32 + k`, `k` in 0..=31 (a shift `s ≤ −1`,
/// with `k = min(−1 − s, 31)`, as `mbqm` clamps `t` to 63): the same bits
/// without `mbqm`'s branches, for a caller that knows its shifts are in
/// this range (decided once per layer or gate, not per value).
/// `floor((p + 2^(31+k)) / 2^(32+k))` is the high word of the sum shifted
/// right by `k`; `|p| < 2^62`, so the sum fits i64 and the high word i32.
#[inline(always)]
pub fn mbqm_high(x: i32, m: i32, k: u32) -> i32 {
    let p = i64::from(x) * i64::from(m);
    let round = i64::from(1u32 << (k & 31)) << 31;
    ((p + round) >> 32) as i32 >> (k & 31)
}

/// Four values packed in the dual-MAC block order.
pub(crate) fn pack_block(x: [i32; 4]) -> [u32; 2] {
    let h = |v: i32| u32::from(v as i16 as u16);
    let [x0, x1, x2, x3] = x;
    [h(x0) | h(x2) << 16, h(x1) | h(x3) << 16]
}

/// One value as a 16-bit half in the low half of a word.
pub(crate) fn half(v: i32) -> u32 {
    u32::from(v as i16 as u16)
}

/// Quantizes f32 values with `quant` and packs them into `dst` (another buffer).
pub fn pack_f32(src: &[f32], quant: &Quant, dst: &mut [u32]) {
    let inv = reciprocal(quant);
    let zp = i32::from(quant.zero_point);
    let q = |x: &f32| i32::from(quantize(*x, inv, quant.zero_point)) - zp;
    let (blocks, tail) = src.as_chunks::<4>();
    let (head, rest) = dst.split_at_mut((blocks.len() * 2).min(dst.len()));
    // The x86-64 kernel's blocks (two at a time), then the rest here.
    #[cfg(edgeae_x86)]
    let done = dsp::x86::Simd::current().map_or(0, |simd| {
        simd.pack_f32(src, inv, quant.zero_point, head) / 4
    });
    #[cfg(not(edgeae_x86))]
    let done = 0;
    for (pair, b) in head
        .as_chunks_mut::<2>()
        .0
        .iter_mut()
        .zip(blocks)
        .skip(done)
    {
        *pair = pack_block(b.each_ref().map(q));
    }
    for (d, x) in rest.iter_mut().zip(tail) {
        *d = half(q(x));
    }
}

/// Quantizes f32 values with `quant` into int8 values (another buffer):
/// what an int8 feature-map layer reads.
pub fn quantize_into(src: &[f32], quant: &Quant, dst: &mut [i8]) {
    let inv = reciprocal(quant);
    for (d, x) in dst.iter_mut().zip(src) {
        *d = quantize(*x, inv, quant.zero_point);
    }
}

/// Quantizes the first `n` f32 values of `buf` with `quant` into int8
/// values stored in the first `n` bytes of the same buffer. Walking up,
/// byte `k` lies in word `k / 4 ≤ k`, whose value was read before (or is
/// read just before, for `k = 0`).
pub fn quantize_in_place(buf: &mut [f32], n: usize, quant: &Quant) {
    let inv = reciprocal(quant);
    for k in 0..n.min(buf.len()) {
        let x = buf.get(k).copied().unwrap_or(0.0);
        if let Some(d) = bytemuck::cast_slice_mut::<f32, i8>(buf).get_mut(k) {
            *d = quantize(x, inv, quant.zero_point);
        }
    }
}

/// Quantizes the first `n` f32 values of `buf` with `quant` and packs them
/// into the start of the same buffer. Walking up, block `b` (values
/// `4b..4b+4`) is read before words `2b, 2b+1` are written, and those words
/// held values that were read before.
pub fn pack_f32_in_place(buf: &mut [f32], n: usize, quant: &Quant) {
    let inv = reciprocal(quant);
    let zp = i32::from(quant.zero_point);
    let q = |x: f32| i32::from(quantize(x, inv, quant.zero_point)) - zp;
    let blocks = n / 4;
    for b in 0..blocks {
        let mut v = [0i32; 4];
        for (j, x) in v.iter_mut().enumerate() {
            *x = q(buf.get(4 * b + j).copied().unwrap_or(0.0));
        }
        let packed = pack_block(v);
        let words = bytemuck::cast_slice_mut::<f32, u32>(buf);
        if let Some(dst) = words.get_mut(2 * b..2 * b + 2) {
            dst.copy_from_slice(&packed);
        }
    }
    for j in 0..n % 4 {
        let x = q(buf.get(4 * blocks + j).copied().unwrap_or(0.0));
        if let Some(d) = bytemuck::cast_slice_mut::<f32, u32>(buf).get_mut(2 * blocks + j) {
            *d = half(x);
        }
    }
}

/// Packs the first `n` int8 values stored in `buf`'s bytes (the previous
/// layer's output) for a layer whose input zero point is `zero_point`, into
/// the start of the same buffer. The four values of block `b` are the bytes
/// of word `b`; walking down, word `b` is read before words `2b, 2b+1` are
/// written, and those held only values already read (the tail, words
/// `2·blocks + j` from word `blocks`, goes first).
pub fn pack_i8_in_place(buf: &mut [f32], n: usize, zero_point: i8) {
    let zp = i32::from(zero_point);
    let zp2 = u32::from(zero_point as u16) * 0x1_0001;
    let words = bytemuck::cast_slice_mut::<f32, u32>(buf);
    let blocks = n / 4;
    let v = |w: u32| w.to_le_bytes().map(|q| i32::from(q as i8) - zp);
    if !n.is_multiple_of(4) {
        let tail = v(words.get(blocks).copied().unwrap_or(0));
        for j in (0..n % 4).rev() {
            if let Some(d) = words.get_mut(2 * blocks + j) {
                *d = half(tail.get(j).copied().unwrap_or(0));
            }
        }
    }
    for b in (0..blocks).rev() {
        let packed = dsp::pack4(words.get(b).copied().unwrap_or(0), zp2);
        if let Some(dst) = words.get_mut(2 * b..2 * b + 2) {
            dst.copy_from_slice(&packed);
        }
    }
}

/// Packs int8 values with `zero_point` subtracted into `dst` (another
/// buffer, `packed_words(src.len())` words): blocks by [`dsp::pack4`], then
/// one word per leftover value.
pub(crate) fn pack_i8(src: &[i8], zero_point: i8, dst: &mut [u32]) {
    let zp2 = u32::from(zero_point as u16) * 0x1_0001;
    let (blocks, rest) = src.as_chunks::<4>();
    let (head, tail) = dst.split_at_mut((blocks.len() * 2).min(dst.len()));
    for (pair, b) in head.as_chunks_mut::<2>().0.iter_mut().zip(blocks) {
        *pair = dsp::pack4(u32::from_le_bytes(b.map(|v| v as u8)), zp2);
    }
    let zp = i32::from(zero_point);
    for (d, v) in tail.iter_mut().zip(rest) {
        *d = half(i32::from(*v) - zp);
    }
}

/// The value at index `k` of a packed vector of `n` values.
#[cfg(any(test, edgeae_x86))]
pub(crate) fn packed_value(x: &[u32], n: usize, k: usize) -> i32 {
    let blocks = n / 4;
    let (word, high) = if k < blocks * 4 {
        let r = k % 4;
        ((k / 4) * 2 + (r & 1), r >= 2)
    } else {
        (blocks * 2 + (k - blocks * 4), false)
    };
    let w = x.get(word).copied().unwrap_or(0);
    let half = if high { w >> 16 } else { w };
    i32::from(half as u16 as i16)
}

/// Requantizes an accumulator and applies the fused activation.
#[inline]
pub(crate) fn finish(op: &DenseI8Op<'_>, acc: i32, exponent: u8) -> i8 {
    let s = i32::from(op.requant.shift) - i32::from(exponent);
    let v = mbqm(acc, op.requant.multiplier, s).saturating_add(i32::from(op.target_zero_point));
    let q = v.clamp(i32::from(op.clamp_min), 127) as i8;
    lut(op.table, q)
}

#[inline]
fn lut(table: I8s<'_>, q: i8) -> i8 {
    if table.is_empty() {
        q
    } else {
        table.get(usize::from((q as u8) ^ 0x80)).unwrap_or(q)
    }
}

/// Runs `op` on the packed input `x` (`packed_words(op.inputs)` words) into
/// the first `op.outputs` values of `y`.
pub fn run<'a>(op: &DenseI8Op<'a>, x: &[u32], y: &mut [i8]) {
    let Some(y) = y.get_mut(..op.outputs) else {
        return; // unreachable with buffers sized by `ScratchPlan`
    };
    if op.inputs == 0 || op.outputs == 0 {
        return;
    }
    let weights = op.weights.as_bytes();
    let mut bias = op.bias.iter();
    match op.layout {
        WeightLayout::OutputsByInputs => {
            let blocks = op.inputs / 4;
            let (xb, xt) = x.split_at(packed_words(op.inputs).min(x.len()).min(blocks * 2));
            let xb = xb.as_chunks::<2>().0;
            let split = |r: &'a [u8]| -> (&'a [[u8; 4]], &'a [u8]) {
                let (b, t) = r.split_at((blocks * 4).min(r.len()));
                (b.as_chunks::<4>().0, t)
            };
            let tail = |acc: i32, t: &[u8]| {
                if t.is_empty() {
                    return acc;
                }
                tail_sum(acc, t, xt)
            };
            #[cfg(edgeae_x86)]
            if let Some(simd) = dsp::x86::Simd::current() {
                return super::int8_x86::dense(simd, op, x, y);
            }
            if op.inputs.is_multiple_of(4) {
                // The usual case: rows are whole blocks, no tails to add.
                let rows = weights.as_chunks::<4>().0.chunks_exact(blocks);
                dense_blocks(op, rows, xb, bias, y);
                return;
            }
            let mut rows = weights.chunks_exact(op.inputs).map(split);
            let mut o = 0;
            let mut triples = y.chunks_exact_mut(3);
            for triple in &mut triples {
                let (Some(r0), Some(r1), Some(r2)) = (rows.next(), rows.next(), rows.next()) else {
                    return; // unreachable: `weights` holds `outputs` rows
                };
                let acc = [0, 1, 2].map(|_| bias.next().unwrap_or(0));
                let [a0, a1, a2] = dsp::dot3([r0.0, r1.0, r2.0], xb, acc);
                if let [y0, y1, y2] = triple {
                    *y0 = finish(op, tail(a0, r0.1), op.exponents.get(o));
                    *y1 = finish(op, tail(a1, r1.1), op.exponents.get(o + 1));
                    *y2 = finish(op, tail(a2, r2.1), op.exponents.get(o + 2));
                }
                o += 3;
            }
            for yo in triples.into_remainder() {
                let Some((r, t)) = rows.next() else {
                    return;
                };
                let acc = dsp::dot1(r, xb, bias.next().unwrap_or(0));
                *yo = finish(op, tail(acc, t), op.exponents.get(o));
                o += 1;
            }
        }
        WeightLayout::InputsByOutputs => {
            #[cfg(edgeae_x86)]
            if let Some(simd) = dsp::x86::Simd::current() {
                return super::int8_x86::tied(simd, op, x, y);
            }
            int8_x4::run_tied(op, x, y)
        }
        WeightLayout::Interleaved4 => int8_x4::run_interleaved(op, x, y),
    }
}

/// `acc + Σ w[i]·x[i]` over the leftover inputs of a row (`w`, bytes),
/// one packed value per word of `x`.
#[inline]
pub(crate) fn tail_sum(acc: i32, w: &[u8], x: &[u32]) -> i32 {
    w.iter().zip(x).fold(acc, |a, (w, v)| {
        a.wrapping_add(i32::from(*w as i8).wrapping_mul(i32::from(*v as u16 as i16)))
    })
}

/// Tied layers: `acc + Σ_k w[k·outputs + j]·x_k`, output `j` reading column
/// `j` of the source's `inputs × outputs` weights.
#[cfg(edgeae_x86)]
pub(crate) fn tied_column(op: &DenseI8Op<'_>, x: &[u32], j: usize, acc: i32) -> i32 {
    let weights = op.weights.as_bytes();
    let mut acc = acc;
    for k in 0..op.inputs {
        let w = weights.get(k * op.outputs + j).copied().unwrap_or(0) as i8;
        acc = acc.wrapping_add(i32::from(w).wrapping_mul(packed_value(x, op.inputs, k)));
    }
    acc
}

/// [`run`] for rows that are whole blocks of four (`inputs % 4 == 0`).
fn dense_blocks<'a>(
    op: &DenseI8Op<'_>,
    mut rows: impl Iterator<Item = &'a [[u8; 4]]>,
    xb: &[[u32; 2]],
    mut bias: impl Iterator<Item = i32>,
    y: &mut [i8],
) {
    let mut o = 0;
    let mut triples = y.chunks_exact_mut(3);
    for triple in &mut triples {
        let (Some(r0), Some(r1), Some(r2)) = (rows.next(), rows.next(), rows.next()) else {
            return; // unreachable: `weights` holds `outputs` rows
        };
        let acc = [0, 1, 2].map(|_| bias.next().unwrap_or(0));
        let [a0, a1, a2] = dsp::dot3([r0, r1, r2], xb, acc);
        if let [y0, y1, y2] = triple {
            *y0 = finish(op, a0, op.exponents.get(o));
            *y1 = finish(op, a1, op.exponents.get(o + 1));
            *y2 = finish(op, a2, op.exponents.get(o + 2));
        }
        o += 3;
    }
    for yo in triples.into_remainder() {
        let Some(r) = rows.next() else {
            return;
        };
        *yo = finish(
            op,
            dsp::dot1(r, xb, bias.next().unwrap_or(0)),
            op.exponents.get(o),
        );
        o += 1;
    }
}

/// Turns the first `n` int8 values stored in `buf`'s bytes into `n` f32
/// values in `buf`'s words, in place. Values `4b..4b+4` are the bytes of
/// word `b` and go to words `4b..4b+4`; walking down, word `b` is read
/// before those are written, and they held only values already read.
pub fn dequantize_in_place(buf: &mut [f32], n: usize, quant: &Quant) {
    let n = n.min(buf.len());
    for b in (0..n.div_ceil(4)).rev() {
        let word = bytemuck::cast_slice::<f32, u32>(buf)
            .get(b)
            .copied()
            .unwrap_or(0);
        let values = word.to_le_bytes().map(|q| dequantize(q as i8, quant));
        let end = (4 * b + 4).min(n);
        if let Some(dst) = buf.get_mut(4 * b..end) {
            for (d, v) in dst.iter_mut().zip(values) {
                *d = v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_half_away_from_zero_and_saturates() {
        let cases = [
            (0.49999997, 0),
            (0.5, 1),
            (1.5, 2),
            (2.5, 3),
            (-0.5, -1),
            (-2.5, -3),
            (-0.49999997, 0),
            (8388607.5, 8388608),
            (3e9, i32::MAX),
            (-3e9, i32::MIN),
            (f32::NAN, 0),
            (f32::INFINITY, i32::MAX),
        ];
        for (t, want) in cases {
            assert_eq!(round_sat(t), want, "{t}");
        }
    }

    #[test]
    fn quantize_clamps() {
        let q = Quant {
            scale: 0.5,
            zero_point: -10,
        };
        let inv = reciprocal(&q);
        assert_eq!(quantize(0.0, inv, -10), -10);
        assert_eq!(quantize(1.0, inv, -10), -8);
        assert_eq!(quantize(1e9, inv, -10), 127);
        assert_eq!(quantize(-1e9, inv, -10), -128);
        assert_eq!(dequantize(-8, &q), 1.0);
    }

    #[test]
    fn mbqm_of_tflite_reference_values() {
        // M = 0.5: m = 2^30, s = 0. Ties round up: 2.5 -> 3, -2.5 -> -2.
        assert_eq!(mbqm(5, 1 << 30, 0), 3);
        assert_eq!(mbqm(-5, 1 << 30, 0), -2);
        // M = 0.25: 6 * 0.25 = 1.5 -> 2, -1.5 -> -1, -1.75 -> -2.
        assert_eq!(mbqm(6, 1 << 30, -1), 2);
        assert_eq!(mbqm(-6, 1 << 30, -1), -1);
        assert_eq!(mbqm(-7, 1 << 30, -1), -2);
        // M = 2: a left shift; saturates instead of overflowing.
        assert_eq!(mbqm(1000, 1 << 30, 2), 2000);
        assert_eq!(mbqm(i32::MAX, 1 << 30, 2), i32::MAX);
        assert_eq!(mbqm(i32::MIN, 1 << 30, 2), i32::MIN);
        assert_eq!(mbqm(123, 0, 0), 0);
        // The high-word path (t > 32) against the general formula.
        for (x, m, sh) in [
            (i32::MAX, i32::MAX, -2),
            (i32::MIN, 1 << 30, -5),
            (-77_777, 0x5555_5555, -20),
        ] {
            let t = (31 - sh).clamp(1, 63);
            let want = (i64::from(x) * i64::from(m) + (1i64 << (t - 1))) >> t;
            assert_eq!(i64::from(mbqm(x, m, sh)), want, "{x} {m} {sh}");
        }
        // The branch-free high path, for every k, against mbqm.
        for (x, m) in [
            (i32::MAX, i32::MAX),
            (i32::MIN, i32::MAX),
            (-77_777, 0x5555_5555),
            (5, 1 << 30),
            (-5, 1 << 30),
            (3, 1),
        ] {
            for s in -40..=-1 {
                let k = (-1 - s).min(31) as u32;
                assert_eq!(mbqm_high(x, m, k), mbqm(x, m, s), "{x} {m} {s}");
            }
        }
        // Shifts past 63 are clamped; the result is then 0, as it should be.
        assert_eq!(mbqm(i32::MAX, i32::MAX, -31), 1);
        assert_eq!(mbqm(i32::MAX, i32::MAX, -40), 0);
        assert_eq!(mbqm(i32::MIN, i32::MAX, -46), 0);
    }

    #[test]
    fn packed_values_are_found_again() {
        for n in [1usize, 3, 4, 5, 8, 11] {
            let src: Vec<i8> = (0..n).map(|k| k as i8 * 7 - 30).collect();
            let mut buf = vec![0f32; n];
            bytemuck::cast_slice_mut::<f32, i8>(&mut buf)[..n].copy_from_slice(&src);
            pack_i8_in_place(&mut buf, n, -3);
            let words = bytemuck::cast_slice::<f32, u32>(&buf);
            for (k, q) in src.iter().enumerate() {
                assert_eq!(packed_value(words, n, k), i32::from(*q) + 3, "n {n} k {k}");
            }
            // f32 values, in place and into another buffer, pack alike.
            let quant = Quant {
                scale: 0.5,
                zero_point: 4,
            };
            let xs: Vec<f32> = (0..n).map(|k| k as f32 * 3.25 - 9.0).collect();
            let mut other = vec![0u32; packed_words(n)];
            pack_f32(&xs, &quant, &mut other);
            let mut buf = xs.clone();
            pack_f32_in_place(&mut buf, n, &quant);
            let inv = reciprocal(&quant);
            for (k, x) in xs.iter().enumerate() {
                let want = i32::from(quantize(*x, inv, 4)) - 4;
                assert_eq!(packed_value(&other, n, k), want, "n {n} k {k}");
                assert_eq!(
                    packed_value(bytemuck::cast_slice(&buf), n, k),
                    want,
                    "n {n} k {k}"
                );
            }
        }
    }

    #[test]
    fn quantize_in_place_keeps_every_value() {
        let q = Quant {
            scale: 0.25,
            zero_point: -3,
        };
        let xs: Vec<f32> = (0..11).map(|k| k as f32 * 1.375 - 7.0).collect();
        let mut buf = xs.clone();
        quantize_in_place(&mut buf, 11, &q);
        let mut other = vec![0i8; 11];
        quantize_into(&xs, &q, &mut other);
        let inv = reciprocal(&q);
        let want: Vec<i8> = xs.iter().map(|x| quantize(*x, inv, -3)).collect();
        assert_eq!(&bytemuck::cast_slice::<f32, i8>(&buf)[..11], &want[..]);
        assert_eq!(other, want);
    }

    #[test]
    fn dequantize_in_place_keeps_every_value() {
        let q = Quant {
            scale: 0.25,
            zero_point: 3,
        };
        let values: Vec<i8> = (0..9).map(|k| (k * 29 - 120) as i8).collect();
        let mut buf = vec![0f32; 9];
        bytemuck::cast_slice_mut::<f32, i8>(&mut buf)[..9].copy_from_slice(&values);
        dequantize_in_place(&mut buf, 9, &q);
        let want: Vec<f32> = values.iter().map(|v| dequantize(*v, &q)).collect();
        assert_eq!(buf, want);
    }
}
