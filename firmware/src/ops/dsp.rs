//! The int8 dot products, with the Cortex-M4's dual 16-bit multiply-accumulate.
//!
//! # Audit
//!
//! This is the only module of the crate allowed `unsafe`, and only for
//! `core::arch::asm!` of two instructions on Arm targets with the DSP
//! extension, when the `dsp` feature asks for them (`cfg(edgeae_dsp)`, set
//! by the build script for `thumbv7em-*` and `thumbv8m.main-*` only):
//!
//! - `sxtb16 rd, rm[, ror #8]`: sign-extends bytes 0 and 2 (1 and 3 with the
//!   rotation) of `rm` into the two halfwords of `rd`.
//! - `smlad rd, rn, rm, ra`: `rd = ra + rn.lo·rm.lo + rn.hi·rm.hi` (signed
//!   16-bit halves, 32-bit wrapping sum; it only sets the Q flag on overflow,
//!   which nothing here reads).
//!
//! Both read only their register operands and write only `rd`: no memory, no
//! stack, no flags that the compiler relies on (`options(pure, nomem,
//! nostack)` states exactly this, so the compiler may schedule them freely).
//! Memory is only touched through safe slices in the callers below. Every
//! other target uses the portable code, which computes the same sums:
//! wrapping i32 addition is associative, so the order of the products does
//! not change the bits.
//!
//! Data layout (see [`crate::ops::int8`]): the input vector, offset by its
//! zero point, is packed as 16-bit values, two per `u32` word, in blocks of
//! four: `[x0 | x2 << 16, x1 | x3 << 16]`, so that `sxtb16(w)` (weights 0
//! and 2) pairs with the first word and `sxtb16(w ror 8)` (weights 1 and 3)
//! with the second.
#![allow(unsafe_code)]

#[cfg(edgeae_dsp)]
mod arm {
    /// Bytes 0 and 2 of `x`, sign-extended into two halfwords.
    #[inline(always)]
    pub fn sxtb16(x: u32) -> u32 {
        let r;
        // SAFETY: register-only instruction, see the module's audit note.
        unsafe {
            core::arch::asm!("sxtb16 {0}, {1}", lateout(reg) r, in(reg) x,
                options(pure, nomem, nostack, preserves_flags));
        }
        r
    }

    /// Bytes 1 and 3 of `x`, sign-extended into two halfwords.
    #[inline(always)]
    pub fn sxtb16_ror8(x: u32) -> u32 {
        let r;
        // SAFETY: register-only instruction, see the module's audit note.
        unsafe {
            core::arch::asm!("sxtb16 {0}, {1}, ror #8", lateout(reg) r, in(reg) x,
                options(pure, nomem, nostack, preserves_flags));
        }
        r
    }

    /// `acc + a.lo·b.lo + a.hi·b.hi`.
    #[inline(always)]
    pub fn smlad(a: u32, b: u32, acc: i32) -> i32 {
        let mut r = acc;
        // SAFETY: register-only instruction (it may set the sticky Q flag,
        // which no code reads), see the module's audit note.
        unsafe {
            core::arch::asm!("smlad {0}, {1}, {2}, {0}", inout(reg) r, in(reg) a, in(reg) b,
                options(pure, nomem, nostack));
        }
        r
    }
}

/// One block: `acc + w0·x0 + w1·x1 + w2·x2 + w3·x3`, weights as 4 bytes and
/// the input as its two packed words.
#[inline(always)]
fn block(acc: i32, w: [u8; 4], x: &[u32; 2]) -> i32 {
    #[cfg(edgeae_dsp)]
    {
        let w = u32::from_le_bytes(w);
        let acc = arm::smlad(arm::sxtb16(w), x[0], acc);
        arm::smlad(arm::sxtb16_ror8(w), x[1], acc)
    }
    #[cfg(not(edgeae_dsp))]
    {
        let lo = |v: u32| i32::from(v as u16 as i16);
        let hi = |v: u32| i32::from((v >> 16) as u16 as i16);
        let [w0, w1, w2, w3] = w.map(|b| i32::from(b as i8));
        acc.wrapping_add(w0.wrapping_mul(lo(x[0])))
            .wrapping_add(w2.wrapping_mul(hi(x[0])))
            .wrapping_add(w1.wrapping_mul(lo(x[1])))
            .wrapping_add(w3.wrapping_mul(hi(x[1])))
    }
}

/// `Σ w[i]·x[i]` over whole blocks of four for three weight rows at once
/// (the input words are loaded once for all three). Three, not four: with
/// four rows the sums, row pointers, input and counter no longer fit in the
/// Cortex-M4's registers and the loop spills (measured: the same 1.75
/// instructions per MAC as two rows, against 1.6 for three).
#[inline]
pub fn dot3(w: [&[[u8; 4]]; 3], x: &[[u32; 2]], acc: [i32; 3]) -> [i32; 3] {
    let [w0, w1, w2] = w;
    let [mut a0, mut a1, mut a2] = acc;
    for (((b0, b1), b2), xb) in w0.iter().zip(w1).zip(w2).zip(x) {
        a0 = block(a0, *b0, xb);
        a1 = block(a1, *b1, xb);
        a2 = block(a2, *b2, xb);
    }
    [a0, a1, a2]
}

/// `Σ w[i]·x[i]` over whole blocks of four for one weight row.
#[inline]
pub fn dot1(w: &[[u8; 4]], x: &[[u32; 2]], acc: i32) -> i32 {
    w.iter().zip(x).fold(acc, |a, (b, xb)| block(a, *b, xb))
}
