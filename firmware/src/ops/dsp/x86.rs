//! x86-64 host kernels (AVX2, AVX-512 F+BW, AVX-512 VNNI), chosen at run
//! time through [`Simd`]. See the audit note of the parent module: the only
//! `unsafe` here is the calls of the `#[target_feature]` functions from
//! `Simd`'s methods; loads are `bytemuck::cast`s of arrays to vectors.
//!
//! Every kernel computes the same bits as the portable code: the f32 dot
//! product keeps [`crate::ops::dense::dot`]'s order, and the int8 sums are
//! wrapping i32 sums of exact pair products (`vpmaddwd`, `vpdpwssd`).

use core::arch::x86_64::*;

use crate::ops::KernelPath;

/// Which instructions a [`Simd`] may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    /// AVX2 (and AVX).
    Avx2,
    /// AVX-512 F and BW (and AVX2).
    Avx512,
    /// AVX-512 F, BW and VNNI (and AVX2).
    Vnni,
}

/// Proof that the CPU has the instructions of its level: the only
/// constructor, [`Simd::new`], asks the CPU.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Simd {
    level: Level,
}

/// An interleaved int8 layer for [`Simd::x4_layer_high`]: `units` units
/// per row group in `groups`, the packed input's blocks `x`, the bias
/// bytes, the exponent nibbles and the finishing step's constants.
#[derive(Debug, Clone, Copy)]
pub(crate) struct X4Layer<'a> {
    pub(crate) groups: &'a [[u8; 16]],
    pub(crate) units: usize,
    pub(crate) x: &'a [[u32; 2]],
    pub(crate) bias: &'a [u8],
    pub(crate) exps: &'a [u8],
    pub(crate) rq: HighRequant,
}

/// The constants of an int8 layer's high-word finishing step (see
/// [`Simd::x4_layer_high`]): output `o` with exponent `e` is
/// `((((acc · multiplier) >> 32) >> (k0 + e)) + 1) >> 1) + zero_point`,
/// saturated to int8, then at least `clamp_min`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HighRequant {
    /// `−2 − shift` (0..=15 for a high-word layer).
    pub(crate) k0: i32,
    pub(crate) multiplier: i32,
    pub(crate) zero_point: i32,
    pub(crate) clamp_min: i8,
}

impl Simd {
    /// The kernels of `path`, if the CPU has its instructions (`None` for
    /// [`KernelPath::Portable`]).
    pub(crate) fn new(path: KernelPath) -> Option<Self> {
        let avx2 = std::is_x86_feature_detected!("avx2");
        let avx512 = avx2
            && std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw");
        let (level, has) = match path {
            KernelPath::Portable => return None,
            KernelPath::Avx2 => (Level::Avx2, avx2),
            KernelPath::Avx512 => (Level::Avx512, avx512),
            KernelPath::Avx512Vnni => (
                Level::Vnni,
                avx512 && std::is_x86_feature_detected!("avx512vnni"),
            ),
        };
        has.then_some(Self { level })
    }

    /// The kernels of [`crate::ops::kernel_path`], unless that is the
    /// portable path.
    pub(crate) fn current() -> Option<Self> {
        Self::new(crate::ops::kernel_path())
    }

    /// A dense f32 layer's rows (`w`: row after row of `x.len()` values),
    /// eight at a time: `y[o] = bias[o] + dot(row o, x)`, the bits of
    /// [`crate::ops::dense::dot`] (the eight partial sums of eight rows
    /// reduced together, in the portable order). Returns how many outputs
    /// it wrote (a multiple of 8: the caller computes the rest).
    #[inline]
    pub(crate) fn rows_f32(
        self,
        w: &[[u8; 4]],
        x: &[f32],
        bias: &[[u8; 4]],
        y: &mut [f32],
    ) -> usize {
        if x.is_empty() {
            return 0;
        }
        // SAFETY: every level includes AVX2, hence AVX (checked by `new`).
        unsafe { rows_f32_avx(w, x, bias, y) }
    }

    /// A stream's int8 input step, eight samples at a time: `out[i] =
    /// quantize((x[i] − mean[i]) · scale[i], inv, zero_point)`, the bits of
    /// [`crate::ops::int8::quantize`]. Stops before the first group of
    /// eight with a non-finite normalised value (and where `mean`,
    /// `scale` or `out` end); returns how many values it wrote.
    #[inline]
    pub(crate) fn quantize_i8(
        self,
        x: &[f32],
        mean: &[[u8; 4]],
        scale: &[[u8; 4]],
        inv: f32,
        zero_point: i8,
        out: &mut [i8],
    ) -> usize {
        // SAFETY: every level includes AVX2 (checked by `new`).
        unsafe { quantize_i8_avx2(x, mean, scale, inv, zero_point, out) }
    }

    /// [`crate::ops::int8::pack_f32`] of the first values of `src` into
    /// `dst`, eight values (two packed blocks) at a time, the same bits;
    /// returns how many values it packed (a multiple of 8).
    #[inline]
    pub(crate) fn pack_f32(self, src: &[f32], inv: f32, zero_point: i8, dst: &mut [u32]) -> usize {
        // SAFETY: every level includes AVX2 (checked by `new`).
        unsafe { pack_f32_avx2(src, inv, zero_point, dst) }
    }

    /// `acc[r] + Σ_b Σ_i rows[r][b][i] · x_b[i]` over the whole blocks all
    /// four rows and `x` have (as [`super::dot1`] per row), `x` packed.
    #[inline]
    pub(crate) fn dot_i8(self, rows: [&[[u8; 4]]; 4], x: &[[u32; 2]], acc: [i32; 4]) -> [i32; 4] {
        let n = rows.iter().fold(x.len(), |n, r| n.min(r.len()));
        let wide = match self.level {
            Level::Avx2 => 0,
            Level::Avx512 | Level::Vnni => n / 8 * 8,
        };
        let n4 = wide + (n - wide) / 4 * 4;
        let cut = |a: usize, b: usize| rows.map(|r| r.get(a..b).unwrap_or_default());
        let xs = |a: usize, b: usize| x.get(a..b).unwrap_or_default();
        let acc = match self.level {
            Level::Avx2 => acc,
            // SAFETY: this level has AVX-512 F and BW (checked by `new`).
            Level::Avx512 => unsafe { i8_rows_512(cut(0, wide), xs(0, wide), acc) },
            // SAFETY: this level has AVX-512 F, BW and VNNI (checked by `new`).
            Level::Vnni => unsafe { i8_rows_vnni(cut(0, wide), xs(0, wide), acc) },
        };
        // SAFETY: every level includes AVX2 (checked by `new`).
        let acc = unsafe { i8_rows_256(cut(wide, n4), xs(wide, n4), acc) };
        let mut out = acc;
        for (a, r) in out.iter_mut().zip(cut(n4, n)) {
            *a = super::dot1(r, xs(n4, n), *a);
        }
        out
    }

    /// One row group of the interleaved layout: `acc[r] + Σ_b Σ_i
    /// units[b][4r + i] · x_b[i]` over the whole blocks both have.
    #[inline]
    pub(crate) fn dot_x4(self, units: &[[u8; 16]], x: &[[u32; 2]], acc: [i32; 4]) -> [i32; 4] {
        match self.level {
            // SAFETY: every level includes AVX2 (checked by `new`).
            Level::Avx2 => unsafe { x4_256(units, x, acc) },
            // SAFETY: this level has AVX-512 F and BW (checked by `new`).
            Level::Avx512 => unsafe { x4_512(units, x, acc) },
            // SAFETY: this level has AVX-512 F, BW and VNNI (checked by `new`).
            Level::Vnni => unsafe { x4_vnni(units, x, acc) },
        }
    }

    /// [`Simd::dot_x4`] of four row groups at once, each group's units in
    /// `groups[g]`: one permute of the input per unit pair serves all four.
    #[inline]
    pub(crate) fn dot_x4_4(
        self,
        groups: [&[[u8; 16]]; 4],
        x: &[[u32; 2]],
        acc: [[i32; 4]; 4],
    ) -> [[i32; 4]; 4] {
        let n = groups.iter().fold(x.len(), |n, g| n.min(g.len()));
        let wide = match self.level {
            Level::Avx2 => 0,
            Level::Avx512 | Level::Vnni => n / 2 * 2,
        };
        let acc = match self.level {
            Level::Avx2 => acc,
            // SAFETY: this level has AVX-512 F and BW (checked by `new`).
            Level::Avx512 => unsafe { x4x4_512(groups, x, acc) },
            // SAFETY: this level has AVX-512 F, BW and VNNI (checked by `new`).
            Level::Vnni => unsafe { x4x4_vnni(groups, x, acc) },
        };
        let xs = x.get(wide..n).unwrap_or_default();
        let mut out = acc;
        for (a, g) in out.iter_mut().zip(groups) {
            // SAFETY: every level includes AVX2 (checked by `new`).
            *a = unsafe { x4_256(g.get(wide..n).unwrap_or_default(), xs, *a) };
        }
        out
    }

    /// A whole interleaved int8 layer whose inputs fill their units
    /// (`inputs % 4 == 0`, `units` of them per row group) and whose
    /// finishing step is the high-word one, sixteen outputs (four row
    /// groups) at a time: the sums as [`Simd::dot_x4`] from the 16 bytes of
    /// bias per group, then per output the bits of `Requantizer::high` and
    /// `Requantizer::clamp` (in `ops::int8_x4`, with `rq`'s constants); no
    /// table. `exps` holds the exponent nibbles. Returns how many outputs
    /// it wrote (a multiple of 16: the caller finishes the rest), 0 on the
    /// AVX2 level.
    #[inline]
    pub(crate) fn x4_layer_high(self, layer: X4Layer<'_>, y: &mut [i8]) -> usize {
        let units = layer.units;
        let Some(x) = layer.x.get(..units).filter(|_| units > 0) else {
            return 0;
        };
        let layer = X4Layer { x, ..layer };
        match self.level {
            Level::Avx2 => 0,
            // SAFETY: this level has AVX-512 F and BW (checked by `new`).
            Level::Avx512 => unsafe { x4_layer_512(layer, y) },
            // SAFETY: this level has AVX-512 F, BW and VNNI (checked by `new`).
            Level::Vnni => unsafe { x4_layer_vnni(layer, y) },
        }
    }

    /// Tied int8 (an `inputs × outputs` source read by column): for the 16
    /// columns `j0..j0 + 16`, `acc[c] + Σ_k w[k·outputs + j0 + c] · x_k`
    /// over the `inputs` rows, `x` packed. Columns past `outputs` are not
    /// computed (their sums are left as given).
    #[inline]
    pub(crate) fn tied16(
        self,
        w: &[u8],
        outputs: usize,
        inputs: usize,
        x: &[u32],
        j0: usize,
        acc: [i32; 16],
    ) -> [i32; 16] {
        if j0 + 16 > outputs {
            return acc;
        }
        // SAFETY: every level includes AVX2 (checked by `new`).
        unsafe { tied16_256(w, outputs, inputs, x, j0, acc) }
    }
}

/// See [`Simd::rows_f32`]; `x` is not empty.
#[target_feature(enable = "avx")]
fn rows_f32_avx(w: &[[u8; 4]], x: &[f32], bias: &[[u8; 4]], y: &mut [f32]) -> usize {
    let n = x.len();
    let (xb, xt) = x.as_chunks::<8>();
    let mut done = 0;
    let groups = w
        .chunks_exact(8 * n)
        .zip(bias.as_chunks::<8>().0)
        .zip(y.as_chunks_mut::<8>().0);
    for ((rows, b), ys) in groups {
        // No closures here (`map`, `from_fn`): they are not inlined into a
        // `target_feature` function, and cost a call each per row group.
        let mut it = rows.chunks_exact(n);
        let mut rows: [&[[u8; 4]]; 8] = [&[]; 8];
        for r in rows.iter_mut() {
            *r = it.next().unwrap_or_default();
        }
        let [r0, r1, r2, r3, r4, r5, r6, r7] = rows;
        let (r0, r1, r2, r3) = (
            r0.as_chunks::<8>().0,
            r1.as_chunks::<8>().0,
            r2.as_chunks::<8>().0,
            r3.as_chunks::<8>().0,
        );
        let (r4, r5, r6, r7) = (
            r4.as_chunks::<8>().0,
            r5.as_chunks::<8>().0,
            r6.as_chunks::<8>().0,
            r7.as_chunks::<8>().0,
        );
        let mut acc = [_mm256_setzero_ps(); 8];
        let blocks = xb.iter().zip(r0).zip(r1).zip(r2).zip(r3);
        for ((((((((xk, w0), w1), w2), w3), w4), w5), w6), w7) in
            blocks.zip(r4).zip(r5).zip(r6).zip(r7)
        {
            let xv: __m256 = bytemuck::cast(*xk);
            for (a, w) in acc.iter_mut().zip([w0, w1, w2, w3, w4, w5, w6, w7]) {
                // A multiply, then an add, as the portable code (no FMA).
                let wv: __m256 = bytemuck::cast(*w);
                *a = _mm256_add_ps(*a, _mm256_mul_ps(wv, xv));
            }
        }
        // The tails, one row at a time from 0, as the portable code.
        let mut tails = [0.0f32; 8];
        if !xt.is_empty() {
            for (t, r) in tails.iter_mut().zip(rows) {
                for (w, xi) in r.as_chunks::<8>().1.iter().zip(xt) {
                    *t += f32::from_le_bytes(*w) * *xi;
                }
            }
        }
        let sums = _mm256_add_ps(reduce8(acc), bytemuck::cast(tails));
        let out = _mm256_add_ps(bytemuck::cast(*b), sums);
        *ys = bytemuck::cast(out);
        done += 8;
    }
    done
}

/// The portable reduction of each of eight partial-sum vectors (lanes
/// i += i + 4, then i += i + 2, then 0 += 1, each add with the lower lane
/// first), the eight results in one vector, row `r` in lane `r`.
#[inline]
#[target_feature(enable = "avx")]
fn reduce8(a: [__m256; 8]) -> __m256 {
    let [a0, a1, a2, a3, a4, a5, a6, a7] = a;
    // [b_r | b_r+4] with b_r[i] = a_r[i] + a_r[i + 4].
    let half = |p: __m256, q: __m256| {
        _mm256_add_ps(
            _mm256_permute2f128_ps::<0x20>(p, q),
            _mm256_permute2f128_ps::<0x31>(p, q),
        )
    };
    let (s04, s15, s26, s37) = (half(a0, a4), half(a1, a5), half(a2, a6), half(a3, a7));
    // [c_r, c_r+1 | c_r+4, c_r+5] pairs with c_r[i] = b_r[i] + b_r[i + 2].
    let quarter = |p: __m256, q: __m256| {
        _mm256_add_ps(
            _mm256_shuffle_ps::<0x44>(p, q),
            _mm256_shuffle_ps::<0xee>(p, q),
        )
    };
    let (c01, c23) = (quarter(s04, s15), quarter(s26, s37));
    // Lane r: c_r[0] + c_r[1].
    _mm256_add_ps(
        _mm256_shuffle_ps::<0x88>(c01, c23),
        _mm256_shuffle_ps::<0xdd>(c01, c23),
    )
}

/// See [`Simd::quantize_i8`].
#[target_feature(enable = "avx2")]
fn quantize_i8_avx2(
    x: &[f32],
    mean: &[[u8; 4]],
    scale: &[[u8; 4]],
    inv: f32,
    zero_point: i8,
    out: &mut [i8],
) -> usize {
    let zero = _mm256_setzero_ps();
    let (inv, zp) = (
        _mm256_set1_ps(inv),
        _mm256_set1_epi32(i32::from(zero_point)),
    );
    let mut done = 0;
    let groups = x
        .as_chunks::<8>()
        .0
        .iter()
        .zip(mean.as_chunks::<8>().0)
        .zip(scale.as_chunks::<8>().0)
        .zip(out.as_chunks_mut::<8>().0);
    for (((xv, m), s), o) in groups {
        let v = _mm256_mul_ps(
            _mm256_sub_ps(bytemuck::cast(*xv), bytemuck::cast(*m)),
            bytemuck::cast(*s),
        );
        // v − v is 0 exactly when v is finite.
        if _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_EQ_OQ>(_mm256_sub_ps(v, v), zero)) != 0xff {
            break;
        }
        *o = quantize8(v, inv, zp);
        done += 8;
    }
    done
}

/// `quantize(v[l], inv, zp)` of each lane ([`crate::ops::int8::quantize`]
/// bit for bit, any `v`): `round_sat` (truncate, then one step away
/// from zero when the exact remainder is at least one half) on `t = v · inv`
/// clamped to ±1000 first: the clamp to int8 after adding the zero point
/// gives the same value for any `|t| > 1000`; NaN gives 0, as `as i32`.
#[inline]
#[target_feature(enable = "avx2")]
fn quantize8(v: __m256, inv: __m256, zp: __m256i) -> [i8; 8] {
    let (zero, half, limit) = (
        _mm256_setzero_ps(),
        _mm256_set1_ps(0.5),
        _mm256_set1_ps(1000.0),
    );
    let t = _mm256_mul_ps(v, inv);
    let t = _mm256_and_ps(t, _mm256_cmp_ps::<_CMP_ORD_Q>(t, t));
    let t = _mm256_min_ps(_mm256_max_ps(t, _mm256_sub_ps(zero, limit)), limit);
    let i = _mm256_cvttps_epi32(t);
    let frac = _mm256_sub_ps(t, _mm256_cvtepi32_ps(i));
    // The comparisons are −1 where true.
    let up = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_GE_OQ>(frac, half));
    let down = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_LE_OQ>(frac, _mm256_sub_ps(zero, half)));
    let i = _mm256_add_epi32(_mm256_add_epi32(_mm256_sub_epi32(i, up), down), zp);
    // Saturating packs: the clamp to −128..=127.
    let w = _mm_packs_epi32(_mm256_castsi256_si128(i), _mm256_extracti128_si256::<1>(i));
    let [b, _]: [[i8; 8]; 2] = bytemuck::cast(_mm_packs_epi16(w, w));
    b
}

/// See [`Simd::pack_f32`].
#[target_feature(enable = "avx2")]
fn pack_f32_avx2(src: &[f32], inv: f32, zero_point: i8, dst: &mut [u32]) -> usize {
    let (inv, zp) = (
        _mm256_set1_ps(inv),
        _mm256_set1_epi32(i32::from(zero_point)),
    );
    let z = i32::from(zero_point);
    let mut done = 0;
    for (d, s) in dst
        .as_chunks_mut::<4>()
        .0
        .iter_mut()
        .zip(src.as_chunks::<8>().0)
    {
        let [q0, q1, q2, q3, q4, q5, q6, q7] = quantize8(bytemuck::cast(*s), inv, zp);
        // No closures here (see `rows_f32_avx`).
        let (v0, v1, v2, v3) = (
            i32::from(q0) - z,
            i32::from(q1) - z,
            i32::from(q2) - z,
            i32::from(q3) - z,
        );
        let (v4, v5, v6, v7) = (
            i32::from(q4) - z,
            i32::from(q5) - z,
            i32::from(q6) - z,
            i32::from(q7) - z,
        );
        let [a, b] = crate::ops::int8::pack_block([v0, v1, v2, v3]);
        let [c, e] = crate::ops::int8::pack_block([v4, v5, v6, v7]);
        *d = [a, b, c, e];
        done += 8;
    }
    done
}

/// Within each 8-byte block, the 16-bit values `[x0, x2, x1, x3]` (the
/// packed order) to `[x0, x1, x2, x3]`, so that `vpmaddwd` pairs
/// `(x0, x1)` and `(x2, x3)` with the sign-extended weight bytes.
const REORDER: [i8; 16] = [0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15];

/// `acc[r]` plus the wrapping sum of the eight lanes of `v[r]`, the four
/// sums together (`vphaddd` adds neighbouring lanes, wrapping).
#[target_feature(enable = "avx2")]
fn hsum4(v: [__m256i; 4], acc: [i32; 4]) -> [i32; 4] {
    let [a, b, c, d] = v;
    // [a01 a23 b01 b23 | a45 a67 b45 b67], [c.. d.. | c.. d..]
    let ab = _mm256_hadd_epi32(a, b);
    let cd = _mm256_hadd_epi32(c, d);
    // [a0..3 b0..3 c0..3 d0..3 | a4..7 b4..7 c4..7 d4..7]
    let abcd = _mm256_hadd_epi32(ab, cd);
    let sums = _mm_add_epi32(
        _mm256_castsi256_si128(abcd),
        _mm256_extracti128_si256::<1>(abcd),
    );
    bytemuck::cast(_mm_add_epi32(sums, bytemuck::cast(acc)))
}

/// Four rows over chunks of four blocks (as many as all have).
#[target_feature(enable = "avx2")]
fn i8_rows_256(rows: [&[[u8; 4]]; 4], x: &[[u32; 2]], acc: [i32; 4]) -> [i32; 4] {
    let reorder = _mm256_broadcastsi128_si256(bytemuck::cast(REORDER));
    let [r0, r1, r2, r3] = rows.map(|r| r.as_chunks::<4>().0);
    let mut v = [_mm256_setzero_si256(); 4];
    for ((((xk, w0), w1), w2), w3) in x.as_chunks::<4>().0.iter().zip(r0).zip(r1).zip(r2).zip(r3) {
        let xv = _mm256_shuffle_epi8(bytemuck::cast(*xk), reorder);
        for (a, w) in v.iter_mut().zip([w0, w1, w2, w3]) {
            let wv = _mm256_cvtepi8_epi16(bytemuck::cast(*w));
            *a = _mm256_add_epi32(*a, _mm256_madd_epi16(wv, xv));
        }
    }
    hsum4(v, acc)
}

/// Stamps out the 512-bit kernels, with `vpmaddwd` + `vpaddd` or `vpdpwssd`.
macro_rules! kernels_512 {
    ($rows:ident, $x4:ident, $x4x4:ident, $layer:ident, $features:literal, $mac:path) => {
        /// Four rows over chunks of eight blocks (as many as all have).
        #[target_feature(enable = $features)]
        fn $rows(rows: [&[[u8; 4]]; 4], x: &[[u32; 2]], acc: [i32; 4]) -> [i32; 4] {
            let reorder = _mm512_broadcast_i32x4(bytemuck::cast(REORDER));
            let [r0, r1, r2, r3] = rows.map(|r| r.as_chunks::<8>().0);
            let mut v = [_mm512_setzero_si512(); 4];
            let chunks = x.as_chunks::<8>().0.iter().zip(r0).zip(r1).zip(r2).zip(r3);
            for ((((xk, w0), w1), w2), w3) in chunks {
                let [lo, hi]: [__m256i; 2] = bytemuck::cast(*xk);
                let xv = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi);
                let xv = _mm512_shuffle_epi8(xv, reorder);
                for (a, w) in v.iter_mut().zip([w0, w1, w2, w3]) {
                    let wv = _mm512_cvtepi8_epi16(bytemuck::cast(*w));
                    *a = $mac(*a, wv, xv);
                }
            }
            let halves = v.map(|a| {
                _mm256_add_epi32(_mm512_castsi512_si256(a), _mm512_extracti64x4_epi64::<1>(a))
            });
            hsum4(halves, acc)
        }

        /// Four interleaved row groups over their whole unit pairs (as many
        /// as all four and `x` have), one permuted input per pair.
        #[target_feature(enable = $features)]
        fn $x4x4(groups: [&[[u8; 16]]; 4], x: &[[u32; 2]], acc: [[i32; 4]; 4]) -> [[i32; 4]; 4] {
            let idx = x4_index();
            let [g0, g1, g2, g3] = groups.map(|g| g.as_chunks::<2>().0);
            let mut v = [_mm512_setzero_si512(); 4];
            let pairs = x.as_chunks::<2>().0.iter().zip(g0).zip(g1).zip(g2).zip(g3);
            for ((((xb, u0), u1), u2), u3) in pairs {
                let xv = _mm512_castsi128_si512(bytemuck::cast(*xb));
                let xv = _mm512_permutexvar_epi16(idx, xv);
                for (a, u) in v.iter_mut().zip([u0, u1, u2, u3]) {
                    *a = $mac(*a, _mm512_cvtepi8_epi16(bytemuck::cast(*u)), xv);
                }
            }
            let mut out = acc;
            for (o, s) in out.iter_mut().zip(v) {
                let s =
                    _mm256_add_epi32(_mm512_castsi512_si256(s), _mm512_extracti64x4_epi64::<1>(s));
                *o = add_pairs(s, *o);
            }
            out
        }

        /// See [`Simd::x4_layer_high`]; `x` has exactly `units` blocks.
        #[target_feature(enable = $features)]
        fn $layer(layer: X4Layer<'_>, y: &mut [i8]) -> usize {
            let X4Layer {
                groups,
                units,
                x,
                bias,
                exps,
                rq,
            } = layer;
            let idx = x4_index();
            let (xp, xlast) = x.as_chunks::<2>();
            // The odd last block of `x`, as `x4_256` spreads it.
            let reorder = _mm256_broadcastsi128_si256(bytemuck::cast(REORDER));
            let xl = xlast
                .first()
                .map(|xb| _mm256_shuffle_epi8(_mm256_set1_epi64x(bytemuck::cast(*xb)), reorder));
            let mut done = 0;
            let quads = groups
                .chunks_exact(4 * units)
                .zip(y.as_chunks_mut::<16>().0)
                .zip(bias.as_chunks::<64>().0)
                .zip(exps.as_chunks::<8>().0);
            for (((w, ys), b), e) in quads {
                // No closures in the loop (see `rows_f32_avx`).
                let mut g = w.chunks_exact(units);
                let g0 = g.next().unwrap_or_default().as_chunks::<2>();
                let g1 = g.next().unwrap_or_default().as_chunks::<2>();
                let g2 = g.next().unwrap_or_default().as_chunks::<2>();
                let g3 = g.next().unwrap_or_default().as_chunks::<2>();
                let mut v = [_mm512_setzero_si512(); 4];
                let pairs = xp.iter().zip(g0.0).zip(g1.0).zip(g2.0).zip(g3.0);
                for ((((xb, u0), u1), u2), u3) in pairs {
                    let xv = _mm512_castsi128_si512(bytemuck::cast(*xb));
                    let xv = _mm512_permutexvar_epi16(idx, xv);
                    for (a, u) in v.iter_mut().zip([u0, u1, u2, u3]) {
                        *a = $mac(*a, _mm512_cvtepi8_epi16(bytemuck::cast(*u)), xv);
                    }
                }
                // Lane 2r + p of group g's half sums: pair p of row r.
                let mut h = [_mm256_setzero_si256(); 4];
                for (h, a) in h.iter_mut().zip(v) {
                    *h = _mm256_add_epi32(
                        _mm512_castsi512_si256(a),
                        _mm512_extracti64x4_epi64::<1>(a),
                    );
                }
                if let Some(xl) = xl {
                    for (a, u) in h.iter_mut().zip([g0.1, g1.1, g2.1, g3.1]) {
                        let wv = _mm256_cvtepi8_epi16(bytemuck::cast(
                            u.first().copied().unwrap_or_default(),
                        ));
                        *a = _mm256_add_epi32(*a, _mm256_madd_epi16(wv, xl));
                    }
                }
                let bias = join512(bytemuck::cast(*b));
                let q = requant_high16(_mm512_add_epi32(sums16(h), bias), e, rq);
                *ys = bytemuck::cast(q);
                done += 16;
            }
            done
        }

        /// One interleaved row group, two units per 512-bit register.
        #[target_feature(enable = $features)]
        fn $x4(units: &[[u8; 16]], x: &[[u32; 2]], acc: [i32; 4]) -> [i32; 4] {
            let idx = x4_index();
            // One accumulator in a register (indexing an array of two by
            // `k % 2` kept them on the stack).
            let mut s = _mm512_setzero_si512();
            let (uc, _) = units.as_chunks::<2>();
            let (xc, _) = x.as_chunks::<2>();
            for (u, xb) in uc.iter().zip(xc) {
                let wv = _mm512_cvtepi8_epi16(bytemuck::cast(*u));
                let xv = _mm512_castsi128_si512(bytemuck::cast(*xb));
                let xv = _mm512_permutexvar_epi16(idx, xv);
                s = $mac(s, wv, xv);
            }
            let s = _mm256_add_epi32(_mm512_castsi512_si256(s), _mm512_extracti64x4_epi64::<1>(s));
            let done = uc.len().min(xc.len()) * 2;
            x4_256(
                units.get(done..).unwrap_or_default(),
                x.get(done..).unwrap_or_default(),
                add_pairs(s, acc),
            )
        }
    };
}

/// `a + Σ pairs w·x` without VNNI: `vpmaddwd`, then `vpaddd`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
fn madd512(a: __m512i, w: __m512i, x: __m512i) -> __m512i {
    _mm512_add_epi32(a, _mm512_madd_epi16(w, x))
}

/// The `vpermw` index that spreads two packed blocks over the lanes of two
/// interleaved units: lane 16u + 4r + i takes the 16-bit value of input i
/// of block u, packed position 4u + [0, 2, 1, 3][i].
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
fn x4_index() -> __m512i {
    const IDX: [[i16; 16]; 2] = [
        [0, 2, 1, 3, 0, 2, 1, 3, 0, 2, 1, 3, 0, 2, 1, 3],
        [4, 6, 5, 7, 4, 6, 5, 7, 4, 6, 5, 7, 4, 6, 5, 7],
    ];
    let [ilo, ihi]: [__m256i; 2] = bytemuck::cast(IDX);
    _mm512_inserti64x4::<1>(_mm512_castsi256_si512(ilo), ihi)
}

kernels_512!(
    i8_rows_512,
    x4_512,
    x4x4_512,
    x4_layer_512,
    "avx512f,avx512bw",
    madd512
);
kernels_512!(
    i8_rows_vnni,
    x4_vnni,
    x4x4_vnni,
    x4_layer_vnni,
    "avx512f,avx512bw,avx512vnni",
    _mm512_dpwssd_epi32
);

/// The 512-bit vector of two 256-bit halves, the low one first
/// (`bytemuck` has no 512-bit vectors).
#[inline]
#[target_feature(enable = "avx512f")]
fn join512([lo, hi]: [__m256i; 2]) -> __m512i {
    _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi)
}

/// The sums of four row groups' half sums `h[g]` (lane `2r + p`: pair `p`
/// of row `r`), lane `4g + r` (wrapping adds).
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
fn sums16(h: [__m256i; 4]) -> __m512i {
    let [h0, h1, h2, h3] = h;
    // [g0r0 g0r1 g1r0 g1r1 | g0r2 g0r3 g1r2 g1r3], the same for g2, g3.
    let t01 = _mm256_hadd_epi32(h0, h1);
    let t23 = _mm256_hadd_epi32(h2, h3);
    let t = join512([t01, t23]);
    const IDX: [i32; 16] = [0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15];
    _mm512_permutexvar_epi32(join512(bytemuck::cast(IDX)), t)
}

/// The high-word requantization and clamp of sixteen sums `acc` with the
/// exponent nibbles `e` (lane `l`: nibble `l % 2` of byte `l / 2`, the
/// low one first): see [`HighRequant`].
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
fn requant_high16(acc: __m512i, e: &[u8; 8], rq: HighRequant) -> __m128i {
    const SPREAD: [i8; 16] = [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7];
    const NIBBLE: [i32; 16] = [0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4];
    let bytes = _mm_shuffle_epi8(
        _mm_set1_epi64x(i64::from_le_bytes(*e)),
        bytemuck::cast(SPREAD),
    );
    let ex = _mm512_srlv_epi32(_mm512_cvtepu8_epi32(bytes), join512(bytemuck::cast(NIBBLE)));
    let ex = _mm512_and_si512(ex, _mm512_set1_epi32(15));
    let k = _mm512_and_si512(
        _mm512_add_epi32(ex, _mm512_set1_epi32(rq.k0)),
        _mm512_set1_epi32(31),
    );
    let m = _mm512_set1_epi32(rq.multiplier);
    // The exact 64-bit products of the even lanes, then of the odd ones;
    // their high words, back in their lanes.
    let even = _mm512_srli_epi64::<32>(_mm512_mul_epi32(acc, m));
    let odd = _mm512_mul_epi32(_mm512_srli_epi64::<32>(acc), m);
    let hi = _mm512_mask_blend_epi32(0xaaaa, even, odd);
    let one = _mm512_set1_epi32(1);
    let q = _mm512_srai_epi32::<1>(_mm512_add_epi32(_mm512_srav_epi32(hi, k), one));
    let q = _mm512_add_epi32(q, _mm512_set1_epi32(rq.zero_point));
    _mm_max_epi8(_mm512_cvtsepi32_epi8(q), _mm_set1_epi8(rq.clamp_min))
}

/// `acc[r] + s[2r] + s[2r + 1]` (the two pair sums of row `r`).
#[target_feature(enable = "avx2")]
fn add_pairs(s: __m256i, acc: [i32; 4]) -> [i32; 4] {
    let lanes: [[i32; 2]; 4] = bytemuck::cast(s);
    let mut out = acc;
    for (o, [p, q]) in out.iter_mut().zip(lanes) {
        *o = o.wrapping_add(p).wrapping_add(q);
    }
    out
}

/// One interleaved row group, one unit per 256-bit register.
#[target_feature(enable = "avx2")]
fn x4_256(units: &[[u8; 16]], x: &[[u32; 2]], acc: [i32; 4]) -> [i32; 4] {
    let reorder = _mm256_broadcastsi128_si256(bytemuck::cast(REORDER));
    let mut s = _mm256_setzero_si256();
    for (u, xb) in units.iter().zip(x) {
        let wv = _mm256_cvtepi8_epi16(bytemuck::cast(*u));
        let xv = _mm256_set1_epi64x(bytemuck::cast(*xb));
        let xv = _mm256_shuffle_epi8(xv, reorder);
        s = _mm256_add_epi32(s, _mm256_madd_epi16(wv, xv));
    }
    add_pairs(s, acc)
}

/// Sixteen bytes of `w` from `at`, or zeros past its end.
#[inline]
#[target_feature(enable = "avx2")]
fn load16(w: &[u8], at: usize) -> __m128i {
    let bytes: [u8; 16] = w
        .get(at..at + 16)
        .and_then(|b| b.try_into().ok())
        .unwrap_or([0; 16]);
    bytemuck::cast(bytes)
}

/// See [`Simd::tied16`]; the caller checked `j0 + 16 <= outputs`.
#[target_feature(enable = "avx2")]
fn tied16_256(
    w: &[u8],
    outputs: usize,
    inputs: usize,
    x: &[u32],
    j0: usize,
    acc: [i32; 16],
) -> [i32; 16] {
    let [mut lo, mut hi]: [__m256i; 2] = bytemuck::cast(acc);
    // Rows k and k2 (zeros when `k2` is `None`) against the packed word
    // `word` (`x_k | x_k2 << 16`): interleaved bytes, sign-extended, pair sums.
    let mut pair = |k: usize, k2: Option<usize>, word: u32| {
        let a = load16(w, k * outputs + j0);
        let c = k2.map_or(_mm_setzero_si128(), |k2| load16(w, k2 * outputs + j0));
        let xv = _mm256_set1_epi32(word as i32);
        let l = _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(a, c));
        let h = _mm256_cvtepi8_epi16(_mm_unpackhi_epi8(a, c));
        lo = _mm256_add_epi32(lo, _mm256_madd_epi16(l, xv));
        hi = _mm256_add_epi32(hi, _mm256_madd_epi16(h, xv));
    };
    let blocks = inputs / 4;
    let (xb, xt) = x.split_at((blocks * 2).min(x.len()));
    for (b, [w0, w1]) in xb.as_chunks::<2>().0.iter().enumerate() {
        // Block b packs [x0 | x2 << 16, x1 | x3 << 16] of rows 4b..4b+4.
        pair(4 * b, Some(4 * b + 2), *w0);
        pair(4 * b + 1, Some(4 * b + 3), *w1);
    }
    for (t, word) in xt.iter().take(inputs % 4).enumerate() {
        // One value per word, in its low half.
        pair(4 * blocks + t, None, *word & 0xffff);
    }
    bytemuck::cast([lo, hi])
}

#[cfg(test)]
mod tests;
