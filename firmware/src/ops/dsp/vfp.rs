//! The f32 dense kernels over weights read as words: VLDM and VMLA.F32 on
//! hard-float Arm targets (`cfg(edgeae_vfp)`), portable code elsewhere,
//! the same bits on both.
//!
//! VMLA.F32 is the Arm FPU's non-fused multiply-accumulate: it rounds the
//! product, then the sum, exactly as `a + w * x` in Rust (which is also
//! what the compiler emits for that expression on these targets). No fused
//! multiply-add (VFMA) is used anywhere: it would round once and change the
//! bits. Each accumulator sees its products in the same order as the
//! portable loops below, so the kernels are interchangeable.
//!
//! See the audit note of [`super`] for the `asm!` blocks.

/// Lanes per block: the eight partial sums of [`crate::ops::dense::dot`].
pub const LANES: usize = 8;

/// `acc[r][l] += w_r[b][l] · x[b][l]` for blocks `b = 0, 1, …` in order,
/// over the blocks the three slices all have, for two weight rows at once
/// (each input block is loaded once for both).
#[inline]
pub fn rows2(
    w0: &[[f32; LANES]],
    w1: &[[f32; LANES]],
    x: &[[f32; LANES]],
    acc: [[f32; LANES]; 2],
) -> [[f32; LANES]; 2] {
    let n = x.len().min(w0.len()).min(w1.len());
    #[cfg(edgeae_vfp)]
    {
        arm::rows2(w0, w1, x, n, acc)
    }
    #[cfg(not(edgeae_vfp))]
    {
        let [mut a0, mut a1] = acc;
        for ((b0, b1), xb) in w0.iter().zip(w1).zip(x).take(n) {
            block(&mut a0, b0, xb);
            block(&mut a1, b1, xb);
        }
        [a0, a1]
    }
}

/// [`rows2`] for one row (the odd row of a layer): [`rows2`] with the
/// row twice, the second result dropped.
#[inline]
pub fn rows1(w: &[[f32; LANES]], x: &[[f32; LANES]], acc: [f32; LANES]) -> [f32; LANES] {
    let [a, _] = rows2(w, w, x, [acc, acc]);
    a
}

/// `y[b][l] = (((y[b][l] + a[0]·w_0[b][l]) + a[1]·w_1[b][l]) +
/// a[2]·w_2[b][l]) + a[3]·w_3[b][l]` over the blocks `y` and the four rows
/// all have: four rows of a transposed (tied) product at once, each output
/// loaded and stored once for the four.
#[inline]
pub fn axpy4(a: [f32; 4], w: [&[[f32; LANES]]; 4], y: &mut [[f32; LANES]]) {
    let n = w.iter().fold(y.len(), |n, r| n.min(r.len()));
    #[cfg(edgeae_vfp)]
    {
        arm::axpy4(a, w, y, n);
    }
    #[cfg(not(edgeae_vfp))]
    {
        let [w0, w1, w2, w3] = w;
        let rows = w0.iter().zip(w1).zip(w2).zip(w3);
        for (yb, (((b0, b1), b2), b3)) in y.iter_mut().zip(rows).take(n) {
            for (yl, (((p0, p1), p2), p3)) in yb.iter_mut().zip(b0.iter().zip(b1).zip(b2).zip(b3)) {
                *yl = (((*yl + a[0] * p0) + a[1] * p1) + a[2] * p2) + a[3] * p3;
            }
        }
    }
}

#[cfg(not(edgeae_vfp))]
#[inline(always)]
fn block(acc: &mut [f32; LANES], w: &[f32; LANES], x: &[f32; LANES]) {
    for ((a, wi), xi) in acc.iter_mut().zip(w).zip(x) {
        *a += wi * xi;
    }
}

#[cfg(edgeae_vfp)]
mod arm {
    //! The loops save the floating-point registers they use (VPUSH) and
    //! restore them (VPOP), so they clobber none: rustc cannot name the
    //! single-precision registers as operands on `thumbv7em-none-eabihf`
    //! (it does not know that the target's FPU implies `vfp2`), so every
    //! operand is a core register holding a pointer or a count.

    use super::LANES;

    /// VLDM/VMLA loop of [`super::rows2`]: per block one VLDM of the
    /// input (s16–s23), then per row one VLDM of its weights (s24–s31)
    /// and eight VMLAs into its sums (s0–s7, s8–s15): 21 instructions per
    /// 16 multiply-accumulates with the loop's SUBS and BNE.
    #[inline(always)]
    pub fn rows2(
        w0: &[[f32; LANES]],
        w1: &[[f32; LANES]],
        x: &[[f32; LANES]],
        n: usize,
        mut acc: [[f32; LANES]; 2],
    ) -> [[f32; LANES]; 2] {
        if n > 0 {
            // SAFETY: reads `n` blocks of 32 bytes from each of `x`, `w0`
            // and `w1` (live, 4-byte aligned `[f32; 8]` slices of at least
            // `n` blocks, `n >= 1`), reads and writes the 64 bytes of
            // `acc` (a local), restores every FP register it uses; see
            // the audit note of `super::super`.
            unsafe {
                core::arch::asm!(
                    "vpush {{d0-d15}}",
                    "vldmia {acc}, {{s0-s15}}",
                    "2:",
                    "vldmia {x}!, {{s16-s23}}",
                    "vldmia {w0}!, {{s24-s31}}",
                    "vmla.f32 s0, s24, s16",
                    "vmla.f32 s1, s25, s17",
                    "vmla.f32 s2, s26, s18",
                    "vmla.f32 s3, s27, s19",
                    "vmla.f32 s4, s28, s20",
                    "vmla.f32 s5, s29, s21",
                    "vmla.f32 s6, s30, s22",
                    "vmla.f32 s7, s31, s23",
                    "vldmia {w1}!, {{s24-s31}}",
                    "vmla.f32 s8, s24, s16",
                    "vmla.f32 s9, s25, s17",
                    "vmla.f32 s10, s26, s18",
                    "vmla.f32 s11, s27, s19",
                    "vmla.f32 s12, s28, s20",
                    "vmla.f32 s13, s29, s21",
                    "vmla.f32 s14, s30, s22",
                    "vmla.f32 s15, s31, s23",
                    "subs {n}, {n}, #1",
                    "bne 2b",
                    "vstmia {acc}, {{s0-s15}}",
                    "vpop {{d0-d15}}",
                    acc = in(reg) acc.as_mut_ptr(),
                    x = inout(reg) x.as_ptr() => _,
                    w0 = inout(reg) w0.as_ptr() => _,
                    w1 = inout(reg) w1.as_ptr() => _,
                    n = inout(reg) n => _,
                );
            }
        }
        acc
    }

    /// VLDM/VMLA/VSTM loop of [`super::axpy4`]: per block of eight outputs
    /// one VLDM of them (s0–s7), per row one VLDM of its weights (s8–s15)
    /// and eight VMLAs by its input value (s16–s19), one VSTM: 40
    /// instructions per 32 multiply-accumulates.
    #[inline(always)]
    pub fn axpy4(a: [f32; 4], w: [&[[f32; LANES]]; 4], y: &mut [[f32; LANES]], n: usize) {
        let [w0, w1, w2, w3] = w;
        if n > 0 {
            // SAFETY: reads the 16 bytes of `a` (a local) and `n` blocks
            // of 32 bytes from each of `w0`..`w3`, reads and writes `n`
            // blocks of 32 bytes of `y` (live, 4-byte aligned `[f32; 8]`
            // slices of at least `n` blocks, `n >= 1`; `y` is borrowed
            // mutably, so nothing else sees it meanwhile), restores every
            // FP register it uses. See the audit note of `super::super`.
            unsafe {
                core::arch::asm!(
                    "vpush {{d0-d9}}",
                    "vldmia {a}, {{s16-s19}}",
                    "2:",
                    "vldmia {y}, {{s0-s7}}",
                    "vldmia {w0}!, {{s8-s15}}",
                    "vmla.f32 s0, s8, s16",
                    "vmla.f32 s1, s9, s16",
                    "vmla.f32 s2, s10, s16",
                    "vmla.f32 s3, s11, s16",
                    "vmla.f32 s4, s12, s16",
                    "vmla.f32 s5, s13, s16",
                    "vmla.f32 s6, s14, s16",
                    "vmla.f32 s7, s15, s16",
                    "vldmia {w1}!, {{s8-s15}}",
                    "vmla.f32 s0, s8, s17",
                    "vmla.f32 s1, s9, s17",
                    "vmla.f32 s2, s10, s17",
                    "vmla.f32 s3, s11, s17",
                    "vmla.f32 s4, s12, s17",
                    "vmla.f32 s5, s13, s17",
                    "vmla.f32 s6, s14, s17",
                    "vmla.f32 s7, s15, s17",
                    "vldmia {w2}!, {{s8-s15}}",
                    "vmla.f32 s0, s8, s18",
                    "vmla.f32 s1, s9, s18",
                    "vmla.f32 s2, s10, s18",
                    "vmla.f32 s3, s11, s18",
                    "vmla.f32 s4, s12, s18",
                    "vmla.f32 s5, s13, s18",
                    "vmla.f32 s6, s14, s18",
                    "vmla.f32 s7, s15, s18",
                    "vldmia {w3}!, {{s8-s15}}",
                    "vmla.f32 s0, s8, s19",
                    "vmla.f32 s1, s9, s19",
                    "vmla.f32 s2, s10, s19",
                    "vmla.f32 s3, s11, s19",
                    "vmla.f32 s4, s12, s19",
                    "vmla.f32 s5, s13, s19",
                    "vmla.f32 s6, s14, s19",
                    "vmla.f32 s7, s15, s19",
                    "vstmia {y}!, {{s0-s7}}",
                    "subs {n}, {n}, #1",
                    "bne 2b",
                    "vpop {{d0-d9}}",
                    a = in(reg) a.as_ptr(),
                    y = inout(reg) y.as_mut_ptr() => _,
                    w0 = inout(reg) w0.as_ptr() => _,
                    w1 = inout(reg) w1.as_ptr() => _,
                    w2 = inout(reg) w2.as_ptr() => _,
                    w3 = inout(reg) w3.as_ptr() => _,
                    n = inout(reg) n => _,
                );
            }
        }
    }
}
