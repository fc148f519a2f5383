//! The int8 dot products, with the Cortex-M4's dual 16-bit multiply-accumulate.
//!
//! # Audit
//!
//! This is the only module of the crate allowed `unsafe`, and only for
//! `core::arch::asm!` of the instructions below on Arm targets with the DSP
//! extension, when the `dsp` feature asks for them (`cfg(edgeae_dsp)`, set
//! by the build script for `thumbv7em-*` and `thumbv8m.main-*` only):
//!
//! - `sxtb16 rd, rm[, ror #8]`: sign-extends bytes 0 and 2 (1 and 3 with the
//!   rotation) of `rm` into the two halfwords of `rd`.
//! - `smlad rd, rn, rm, ra`: `rd = ra + rn.lo·rm.lo + rn.hi·rm.hi` (signed
//!   16-bit halves, 32-bit wrapping sum; it only sets the Q flag on overflow,
//!   which nothing here reads).
//! - `ssub16 rd, rn, rm`: subtracts the halfwords of `rm` from those of
//!   `rn` (each wrapping to 16 bits; it sets the GE flags, which no code
//!   reads).
//! - `ldrd rt, rt2, [rn, #imm]` (post-indexed `[rn], #8` in `dot4x4`) and
//!   `ldr rt, [rn], #4`: loads, in `block4` and `dot4x4` only.
//! - `pkhbt rd, rn, rm, lsl #16` and `pkhtb rd, rn, rm, asr #16`: pack
//!   one halfword of each operand into `rd` (register-only, no flags), in
//!   `dot_columns4`.
//!
//! `dot4x4` (the interleaved int8 dense layer, `ops::int8_x4`) is one
//! `asm!` loop over `n ≥ 1` units, unrolled twice: `sub`/`tst`/`bne` pick
//! the entry (an odd `n` starts at the second copy), each unit is
//! `ldrd x0, x1, [px], #8` (the input block, post-indexed), the four rows'
//! weight words by `ldrd w0, w1, [pw], #8` twice when `pw` is word-aligned
//! (checked at run time; LDRD faults on an unaligned address) or by
//! `ldr w, [pw], #4` four times otherwise (unaligned LDR is allowed on the
//! Cortex-M4), eight `sxtb16` and eight `smlad`; `cmp px, end` / `bne`
//! close the loop. It reads exactly `16n` bytes from `pw` and `8n` from
//! `px` (the caller passes pointers of live slices of at least `n` units
//! and blocks, `px` word-aligned) and writes only its register operands;
//! the flags it sets are declared clobbered (no `preserves_flags`), and
//! `options(pure, readonly, nostack)` states that it has no other effect.
//!
//! `finish4_high` (the requantization of one row group of `int8_x4`) is
//! one register-only `asm!` block: per output `smmul` (the high word of
//! the signed 64-bit product), `asr` by a register, `add`, `asr #1`,
//! `ssat #8` and `bfi` (insert the byte into the result word); then
//! `ssub8` (which sets the GE flags, declared clobbered) and `sel` (takes
//! each byte from the first operand where its GE flag is set) give the
//! bytewise maximum with the clamp's lower bound. No memory, no stack
//! (`options(pure, nomem, nostack)`).
//!
//! `dense4_high` runs a whole interleaved layer (its common case) as one
//! `asm!` loop over the row groups: the `dot4x4` units with word-aligned
//! weights between the group's bias loads (`ldr`, post-indexed) and the
//! `finish4_high` steps (with `ldrb` of the two exponent bytes, `and` and
//! `add` for the shifts), then one `str` of the four outputs. Its pointers
//! and constants live in a `#[repr(C)]` struct (`Layer4`) that it reads
//! and updates (`ldr`/`str` at fixed offsets) through a register that it
//! saves with `push` and restores with `pop` around the units (so no
//! `nostack`); it reads exactly the weights, input blocks, biases and
//! exponents of the layer and writes exactly its `4·G` output bytes, which
//! the safe wrapper checks the slices hold before it runs.
//!
//! The first three read only their register operands and write only `rd`:
//! no memory, no stack (`options(pure, nomem, nostack)` states exactly
//! this, so the compiler may schedule them freely; `smlad` and `ssub16` are
//! not marked `preserves_flags`, so the compiler assumes flags are
//! clobbered). `block4` is one `asm!` block of these plus four `ldrd`s,
//! which read the 32 bytes of a live `&[u32; 8]` (word-aligned, as LDRD
//! needs) and nothing else (`options(pure, readonly, nostack)`); it writes
//! only its register operands. Memory is otherwise only touched through
//! safe slices in the callers below. Every
//! other target uses the portable code, which computes the same sums:
//! wrapping i32 addition is associative, so the order of the products does
//! not change the bits.
//!
//! Data layout (see [`crate::ops::int8`]): the input vector, offset by its
//! zero point, is packed as 16-bit values, two per `u32` word, in blocks of
//! four: `[x0 | x2 << 16, x1 | x3 << 16]`, so that `sxtb16(w)` (weights 0
//! and 2) pairs with the first word and `sxtb16(w ror 8)` (weights 1 and 3)
//! with the second.
//!
//! The f32 kernels ([`vfp`]) add two `asm!` loops on hard-float Arm
//! targets when the `dsp` feature asks for them (`cfg(edgeae_vfp)`, set by
//! the build script for `thumbv7em-*eabihf` and `thumbv8m.main-*eabihf`):
//! `vldmia rn!, {s..}` (loads 8 consecutive words into 8 consecutive
//! single-precision registers and advances `rn`), `vstmia rn!, {s..}` (the
//! store), `vmla.f32 sd, sn, sm` (`sd += sn·sm`, product and sum each
//! rounded: the non-fused multiply-accumulate, the bits of `a + w * x`),
//! `subs` and `bne` (the loop; they clobber the flags, which the blocks do
//! not declare preserved). Each loop runs `n >= 1` times (the callers check
//! `n > 0`), where `n` is at most the number of 32-byte blocks of every
//! slice it walks: the weight and input slices are `&[[f32; 8]]` (4-byte
//! aligned, as VLDM needs) and only read; the sums are a local array the
//! loop loads first and stores last, and the one written slice,
//! `&mut [[f32; 8]]`, is borrowed mutably for the call. Every operand is a
//! core register (a pointer or the count); the floating-point registers a
//! loop uses are saved with `vpush` on entry and restored with `vpop`
//! (the stack is used, so the blocks are not `nostack`). The weights come from the model bytes through
//! `bytemuck::try_cast_slice` (no unsafe), which refuses a slice that is
//! not 4-byte aligned; those take the byte kernels, with the same bits.
//!
//! ## x86-64 (`x86.rs`)
//!
//! With the `std` feature on x86-64 (`cfg(edgeae_x86)`, set by the build
//! script), the submodule `x86` holds the host kernels for AVX2, AVX-512
//! (F, BW) and AVX-512 VNNI, chosen at run time. Its only `unsafe` is the
//! calls of its `#[target_feature]` functions, each made from a method of
//! `x86::Simd`, a token whose only constructor, `Simd::new`, checks with
//! `is_x86_feature_detected!` (CPUID and the OS's XCR0 state) that the CPU
//! has every feature the token's level lets its methods call (every level
//! includes AVX2; AVX-512 F and BW for `Avx512`; and VNNI for `Vnni`).
//! Inside those functions the intrinsics are safe calls; vectors are made
//! from and turned back into arrays with `bytemuck::cast` (by value, no
//! pointers), so no memory is touched except through safe slices.
//!
//! The integer kernels use `vpmaddwd` / `vpdpwssd` (never the saturating
//! `vpdpwssds`) on the packed 16-bit input: each pair sum
//! `w·x + w'·x'` with `|w| ≤ 128`, `|x| ≤ 255` is exact, and the lanes are
//! added with wrapping i32 adds, so the bits equal the portable sums.
#![allow(unsafe_code)]

pub mod vfp;

#[cfg(edgeae_x86)]
pub(crate) mod x86;

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

    /// One block of one weight row over four columns (see [`super::dot1x4`]):
    /// the weight word sign-extended once, each column's two words loaded
    /// just before their two SMLADs. One `asm!` block, because the compiler,
    /// left to schedule the loads, hoists all eight and spills them.
    #[inline(always)]
    pub fn block4(w: u32, x: &[u32; 8], acc: [i32; 4]) -> [i32; 4] {
        let [mut a0, mut a1, mut a2, mut a3] = acc;
        // SAFETY: reads the 32 bytes of `x`, a live, 4-byte aligned
        // `&[u32; 8]` (LDRD needs word alignment), and writes only
        // registers; see the module's audit note.
        unsafe {
            core::arch::asm!(
                "sxtb16 {lo}, {w}",
                "sxtb16 {hi}, {w}, ror #8",
                "ldrd {t0}, {t1}, [{x}]",
                "smlad {a0}, {lo}, {t0}, {a0}",
                "smlad {a0}, {hi}, {t1}, {a0}",
                "ldrd {t0}, {t1}, [{x}, #8]",
                "smlad {a1}, {lo}, {t0}, {a1}",
                "smlad {a1}, {hi}, {t1}, {a1}",
                "ldrd {t0}, {t1}, [{x}, #16]",
                "smlad {a2}, {lo}, {t0}, {a2}",
                "smlad {a2}, {hi}, {t1}, {a2}",
                "ldrd {t0}, {t1}, [{x}, #24]",
                "smlad {a3}, {lo}, {t0}, {a3}",
                "smlad {a3}, {hi}, {t1}, {a3}",
                w = in(reg) w,
                x = in(reg) x.as_ptr(),
                lo = out(reg) _,
                hi = out(reg) _,
                t0 = out(reg) _,
                t1 = out(reg) _,
                a0 = inout(reg) a0,
                a1 = inout(reg) a1,
                a2 = inout(reg) a2,
                a3 = inout(reg) a3,
                options(pure, readonly, nostack),
            );
        }
        [a0, a1, a2, a3]
    }

    /// `[a.lo | b.lo << 16]`.
    #[inline(always)]
    pub fn pkhbt(a: u32, b: u32) -> u32 {
        let r;
        // SAFETY: register-only instruction, see the module's audit note.
        unsafe {
            core::arch::asm!("pkhbt {0}, {1}, {2}, lsl #16", lateout(reg) r, in(reg) a, in(reg) b,
                options(pure, nomem, nostack, preserves_flags));
        }
        r
    }

    /// `[a.hi | b.hi << 16]`.
    #[inline(always)]
    pub fn pkhtb(b: u32, a: u32) -> u32 {
        let r;
        // SAFETY: register-only instruction, see the module's audit note.
        unsafe {
            core::arch::asm!("pkhtb {0}, {1}, {2}, asr #16", lateout(reg) r, in(reg) b, in(reg) a,
                options(pure, nomem, nostack, preserves_flags));
        }
        r
    }

    /// One row of a unit of [`dot4x4`]: the weight word `{w}` sign-extended
    /// into its even and odd bytes, two `smlad`s into `{a}`.
    macro_rules! row {
        ($a:literal, $w:literal) => {
            concat!(
                "sxtb16 {t}, {",
                $w,
                "}\n",
                "sxtb16 {",
                $w,
                "}, {",
                $w,
                "}, ror #8\n",
                "smlad {",
                $a,
                "}, {t}, {x0}, {",
                $a,
                "}\n",
                "smlad {",
                $a,
                "}, {",
                $w,
                "}, {x1}, {",
                $a,
                "}\n",
            )
        };
    }

    /// One unit of [`dot4x4`] with the weights loaded by two `ldrd`s
    /// (word-aligned weights): 19 instructions per 16 multiply-accumulates.
    macro_rules! unit_ldrd {
        () => {
            concat!(
                "ldrd {x0}, {x1}, [{px}], #8\n",
                "ldrd {w0}, {w1}, [{pw}], #8\n",
                row!("a0", "w0"),
                row!("a1", "w1"),
                "ldrd {w0}, {w1}, [{pw}], #8\n",
                row!("a2", "w0"),
                row!("a3", "w1"),
            )
        };
    }

    /// One unit of [`dot4x4`] with the weights loaded by four `ldr`s
    /// (unaligned loads are allowed for `ldr`, not for `ldrd`): 21
    /// instructions per 16 multiply-accumulates.
    macro_rules! unit_ldr {
        () => {
            concat!(
                "ldrd {x0}, {x1}, [{px}], #8\n",
                "ldr {w0}, [{pw}], #4\n",
                row!("a0", "w0"),
                "ldr {w1}, [{pw}], #4\n",
                row!("a1", "w1"),
                "ldr {w0}, [{pw}], #4\n",
                row!("a2", "w0"),
                "ldr {w1}, [{pw}], #4\n",
                row!("a3", "w1"),
            )
        };
    }

    /// The loop of [`super::dot4x4`] over `n ≥ 1` units, unrolled twice:
    /// an odd `n` enters at the second unit (bit 3 of the input's byte
    /// length `8n`); the loop is `cmp` and `bne` per two units.
    macro_rules! dot4x4_loop {
        ($unit:ident, $w:expr, $x:expr, $end:expr, $acc:expr) => {{
            let [mut a0, mut a1, mut a2, mut a3] = $acc;
            // SAFETY: the caller's contract: reads `n ≥ 1` units at `w`
            // and `n` word-aligned input blocks at `x`, up to `end`;
            // writes only registers. See the module's audit note.
            unsafe {
                core::arch::asm!(
                    "sub {x0}, {end}, {px}",
                    "tst {x0}, #8",
                    "bne 3f",
                    "2:",
                    $unit!(),
                    "3:",
                    $unit!(),
                    "cmp {px}, {end}",
                    "bne 2b",
                    px = inout(reg) $x => _,
                    pw = inout(reg) $w => _,
                    end = in(reg) $end,
                    x0 = out(reg) _,
                    x1 = out(reg) _,
                    w0 = out(reg) _,
                    w1 = out(reg) _,
                    t = out(reg) _,
                    a0 = inout(reg) a0,
                    a1 = inout(reg) a1,
                    a2 = inout(reg) a2,
                    a3 = inout(reg) a3,
                    options(pure, readonly, nostack),
                );
            }
            [a0, a1, a2, a3]
        }};
    }

    /// The loop of [`super::dot4x4`] over `n ≥ 1` units: per unit one
    /// `ldrd` of the input block, the four rows' weight words (two `ldrd`s
    /// when `w` is word-aligned, else four `ldr`s), eight `sxtb16` and
    /// eight `smlad`.
    ///
    /// # Safety
    ///
    /// `w` must point to `n` readable units of 16 bytes and `x` to `n`
    /// readable, word-aligned pairs of words, `n ≥ 1`.
    #[inline(always)]
    pub unsafe fn dot4x4(w: *const u8, x: *const [u32; 2], n: usize, acc: [i32; 4]) -> [i32; 4] {
        let end = x.wrapping_add(n);
        if w.addr().is_multiple_of(4) {
            dot4x4_loop!(unit_ldrd, w, x, end, acc)
        } else {
            dot4x4_loop!(unit_ldr, w, x, end, acc)
        }
    }

    /// One output of [`finish4_high`] in place: `{a} = ssat8((((a·m) >> 32
    /// >> {k}) + {c}) >> 1)` (`smmul` keeps the high word, floored).
    macro_rules! requant {
        ($a:literal, $k:literal, $m:literal, $c:literal) => {
            concat!(
                "smmul {", $a, "}, {", $a, "}, {", $m, "}\n", "asr {", $a, "}, {", $a, "}, {", $k,
                "}\n", "add {", $a, "}, {", $a, "}, {", $c, "}\n", "asr {", $a, "}, {", $a,
                "}, #1\n", "ssat {", $a, "}, #8, {", $a, "}\n",
            )
        };
    }

    /// The four outputs in `{a0}..{a3}` requantized and packed into the
    /// bytes of `{a0}` (`bfi`, output 0 lowest).
    macro_rules! requant4 {
        ($k0:literal, $k1:literal, $k2:literal, $k3:literal, $m:literal, $c:literal) => {
            concat!(
                requant!("a0", $k0, $m, $c),
                requant!("a1", $k1, $m, $c),
                "bfi {a0}, {a1}, #8, #8\n",
                requant!("a2", $k2, $m, $c),
                "bfi {a0}, {a2}, #16, #8\n",
                requant!("a3", $k3, $m, $c),
                "bfi {a0}, {a3}, #24, #8\n",
            )
        };
    }

    /// The bytewise maximum of `{a0}` and `{lo}` (`ssub8` sets the GE
    /// flags where `a0 ≥ lo`, `sel` takes `{a0}`'s byte there); `{a1}` is
    /// clobbered.
    macro_rules! max4 {
        ($lo:literal) => {
            concat!(
                "ssub8 {a1}, {a0}, {",
                $lo,
                "}\n",
                "sel {a0}, {a0}, {",
                $lo,
                "}\n",
            )
        };
    }

    /// What [`dense4_high`] reads and updates, in memory (its registers
    /// all go to the dot-product loop).
    #[repr(C)]
    pub struct Layer4 {
        /// The next group's four i32 biases (any alignment).
        pub bias: *const u8,
        /// The next group's two exponent bytes.
        pub exps: *const u8,
        /// Where the next group's four int8 outputs go.
        pub y: *mut u8,
        /// The layer's multiplier.
        pub m: i32,
        /// `1 + 2·zp`.
        pub c: i32,
        /// The clamp's lower bound in each byte.
        pub lo4: u32,
        /// `−2 − shift` (add a channel's exponent for its `k − 1`).
        pub base: i32,
        /// The packed input's first block (word-aligned).
        pub x: *const u32,
        /// One past its last whole block.
        pub x_end: *const u32,
        /// One past the last output.
        pub y_end: *mut u8,
    }

    /// A whole interleaved layer with high-word shifts and no table, in
    /// one `asm!` loop over its row groups: per group the four biases
    /// (`ldr`), the units as in [`dot4x4`] with word-aligned weights, then
    /// the requantization of [`finish4_high`] with the exponents' nibbles
    /// and one `str` of the four outputs.
    ///
    /// # Safety
    ///
    /// `w` must be word-aligned and point to `G·n` readable units of 16
    /// bytes, where `n ≥ 1` is the number of blocks from `st.x` to
    /// `st.x_end` (word-aligned, readable) and `G ≥ 1` is `(st.y_end −
    /// st.y) / 4`; `st.bias` must point to `16·G` readable bytes,
    /// `st.exps` to `2·G`, and `st.y` to `4·G` writable bytes that nothing
    /// else borrows.
    pub unsafe fn dense4_high(w: *const u8, st: &mut Layer4) {
        // SAFETY: the caller's contract; the block reads and writes `*st`
        // (through `{t}`, pushed while the loop needs the register) and
        // the memory the contract names, and restores the stack pointer.
        unsafe {
            core::arch::asm!(
                "4:",
                "ldr {x0}, [{t}, #0]",
                "ldr {a0}, [{x0}], #4",
                "ldr {a1}, [{x0}], #4",
                "ldr {a2}, [{x0}], #4",
                "ldr {a3}, [{x0}], #4",
                "str {x0}, [{t}, #0]",
                "ldr {px}, [{t}, #28]",
                "ldr {end}, [{t}, #32]",
                "push {{{t}}}",
                "sub {x0}, {end}, {px}",
                "tst {x0}, #8",
                "bne 3f",
                "2:",
                unit_ldrd!(),
                "3:",
                unit_ldrd!(),
                "cmp {px}, {end}",
                "bne 2b",
                "pop {{{t}}}",
                // The exponents: k_r = base + nibble r.
                "ldr {px}, [{t}, #4]",
                "ldrb {x0}, [{px}], #1",
                "ldrb {x1}, [{px}], #1",
                "str {px}, [{t}, #4]",
                "ldr {w0}, [{t}, #24]",
                "and {end}, {x0}, #15",
                "add {end}, {end}, {w0}",
                "add {x0}, {w0}, {x0}, lsr #4",
                "and {w1}, {x1}, #15",
                "add {w1}, {w1}, {w0}",
                "add {x1}, {w0}, {x1}, lsr #4",
                "ldr {w0}, [{t}, #12]",
                "ldr {px}, [{t}, #16]",
                requant4!("end", "x0", "w1", "x1", "w0", "px"),
                "ldr {w0}, [{t}, #20]",
                max4!("w0"),
                "ldr {w1}, [{t}, #8]",
                "str {a0}, [{w1}], #4",
                "str {w1}, [{t}, #8]",
                "ldr {w0}, [{t}, #36]",
                "cmp {w1}, {w0}",
                "bne 4b",
                pw = inout(reg) w => _,
                t = inout(reg) core::ptr::from_mut(st) => _,
                px = out(reg) _,
                end = out(reg) _,
                x0 = out(reg) _,
                x1 = out(reg) _,
                w0 = out(reg) _,
                w1 = out(reg) _,
                a0 = out(reg) _,
                a1 = out(reg) _,
                a2 = out(reg) _,
                a3 = out(reg) _,
            );
        }
    }

    /// [`super::finish4_high`]: one `asm!` block, 26 instructions.
    #[inline(always)]
    pub fn finish4_high(acc: [i32; 4], k: [u32; 4], m: i32, c: i32, lo4: u32) -> u32 {
        let [mut a0, a1, a2, a3] = acc;
        let [k0, k1, k2, k3] = k;
        // SAFETY: register-only instructions (`ssub8` sets the GE flags,
        // which `sel` reads and nothing after this block does; they are
        // declared clobbered), see the module's audit note.
        unsafe {
            core::arch::asm!(
                requant4!("k0", "k1", "k2", "k3", "m", "c"),
                max4!("lo"),
                a0 = inout(reg) a0,
                a1 = inout(reg) a1 => _,
                a2 = inout(reg) a2 => _,
                a3 = inout(reg) a3 => _,
                k0 = in(reg) k0,
                k1 = in(reg) k1,
                k2 = in(reg) k2,
                k3 = in(reg) k3,
                m = in(reg) m,
                c = in(reg) c,
                lo = in(reg) lo4,
                options(pure, nomem, nostack),
            );
        }
        a0 as u32
    }

    /// `a − b` on each 16-bit half.
    #[inline(always)]
    pub fn ssub16(a: u32, b: u32) -> u32 {
        let r;
        // SAFETY: register-only instruction (it sets the GE flags, which no
        // code reads), see the module's audit note.
        unsafe {
            core::arch::asm!("ssub16 {0}, {1}, {2}", lateout(reg) r, in(reg) a, in(reg) b,
                options(pure, nomem, nostack));
        }
        r
    }
}

/// One block: `acc + w0·x0 + w1·x1 + w2·x2 + w3·x3`, weights as 4 bytes and
/// the input as its two packed words.
#[inline(always)]
pub(super) fn block(acc: i32, w: [u8; 4], x: &[u32; 2]) -> i32 {
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

/// `Σ w[i]·x_k[i]` over whole blocks of four for one weight row and four
/// columns at once: block `b` of column `k` is `x[b][2k..2k + 2]` (the four
/// columns' blocks interleaved, so one pointer walks them). Each weight
/// word is sign-extended once for the four columns: 15 instructions per
/// 16 multiply-accumulates on the Cortex-M4, against 19 per 12 for
/// [`dot3`].
#[inline]
pub fn dot1x4(w: &[[u8; 4]], x: &[[u32; 8]], acc: [i32; 4]) -> [i32; 4] {
    let [mut a0, mut a1, mut a2, mut a3] = acc;
    for (wb, xb) in w.iter().zip(x) {
        #[cfg(edgeae_dsp)]
        {
            [a0, a1, a2, a3] = arm::block4(u32::from_le_bytes(*wb), xb, [a0, a1, a2, a3]);
        }
        #[cfg(not(edgeae_dsp))]
        {
            a0 = block(a0, *wb, &[xb[0], xb[1]]);
            a1 = block(a1, *wb, &[xb[2], xb[3]]);
            a2 = block(a2, *wb, &[xb[4], xb[5]]);
            a3 = block(a3, *wb, &[xb[6], xb[7]]);
        }
    }
    [a0, a1, a2, a3]
}

/// `Σ w[r][i]·x[i]` over whole blocks of four for the four rows `r` of one
/// interleaved row group ([`super::int8_x4`]): unit `b` holds the four
/// weights of block `b` of row 0, then of rows 1, 2 and 3. Each input
/// block is loaded once for the four rows: on the Cortex-M4, 20
/// instructions per 16 multiply-accumulates, loop included (22 when the
/// weights are not word-aligned).
#[inline]
pub fn dot4x4(w: &[[u8; 16]], x: &[[u32; 2]], acc: [i32; 4]) -> [i32; 4] {
    #[cfg(edgeae_dsp)]
    {
        let n = w.len().min(x.len());
        if n == 0 {
            return acc;
        }
        // SAFETY: `w` and `x` hold at least `n ≥ 1` units and blocks, and
        // `x` is word-aligned (it is a `[[u32; 2]]`).
        unsafe { arm::dot4x4(w.as_ptr().cast(), x.as_ptr(), n, acc) }
    }
    #[cfg(not(edgeae_dsp))]
    {
        let mut acc = acc;
        for (unit, xb) in w.iter().zip(x) {
            for (a, row) in acc.iter_mut().zip(unit.as_chunks::<4>().0) {
                *a = block(*a, *row, xb);
            }
        }
        acc
    }
}

/// `Σ_k w[k][j + c]·x[k]` over whole blocks of four inputs for the four
/// columns `c` of a row-major `rows × width` matrix `w` (a tied layer
/// reading its source transposed), `j + 4 ≤ width`. Per block the four
/// rows' words of the four columns are loaded, sign-extended by
/// `sxtb16` and paired across rows (rows 0 and 2, 1 and 3, as the packed
/// input pairs its values) by `pkhbt`/`pkhtb`: 8 of each and 8 `smlad`
/// per 16 multiply-accumulates.
#[inline]
pub fn dot_columns4(w: &[u8], width: usize, j: usize, x: &[[u32; 2]], acc: [i32; 4]) -> [i32; 4] {
    let word = |k: usize| {
        w.get(k * width + j..k * width + j + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .unwrap_or([0; 4])
    };
    let mut acc = acc;
    for (b, xb) in x.iter().enumerate() {
        let k = 4 * b;
        let rows = [word(k), word(k + 1), word(k + 2), word(k + 3)];
        #[cfg(edgeae_dsp)]
        {
            let [r0, r1, r2, r3] = rows.map(u32::from_le_bytes);
            let [c0, c1, c2, c3] = &mut acc;
            let (e0, o0, e2, o2) = (
                arm::sxtb16(r0),
                arm::sxtb16_ror8(r0),
                arm::sxtb16(r2),
                arm::sxtb16_ror8(r2),
            );
            *c0 = arm::smlad(arm::pkhbt(e0, e2), xb[0], *c0);
            *c1 = arm::smlad(arm::pkhbt(o0, o2), xb[0], *c1);
            *c2 = arm::smlad(arm::pkhtb(e2, e0), xb[0], *c2);
            *c3 = arm::smlad(arm::pkhtb(o2, o0), xb[0], *c3);
            let (e1, o1, e3, o3) = (
                arm::sxtb16(r1),
                arm::sxtb16_ror8(r1),
                arm::sxtb16(r3),
                arm::sxtb16_ror8(r3),
            );
            *c0 = arm::smlad(arm::pkhbt(e1, e3), xb[1], *c0);
            *c1 = arm::smlad(arm::pkhbt(o1, o3), xb[1], *c1);
            *c2 = arm::smlad(arm::pkhtb(e3, e1), xb[1], *c2);
            *c3 = arm::smlad(arm::pkhtb(o3, o1), xb[1], *c3);
        }
        #[cfg(not(edgeae_dsp))]
        {
            for (c, a) in acc.iter_mut().enumerate() {
                let col = rows.map(|r| r.get(c).copied().unwrap_or(0));
                *a = block(*a, col, xb);
            }
        }
    }
    acc
}

/// Four int8 values (the bytes of `v`, little-endian) minus the zero point
/// `zp`, packed in the block order: `[x0 | x2 << 16, x1 | x3 << 16]`.
/// `zp2` is `zp` in both halves (`zp as u16 · 0x1_0001`).
#[inline(always)]
pub fn pack4(v: u32, zp2: u32) -> [u32; 2] {
    #[cfg(edgeae_dsp)]
    {
        [
            arm::ssub16(arm::sxtb16(v), zp2),
            arm::ssub16(arm::sxtb16_ror8(v), zp2),
        ]
    }
    #[cfg(not(edgeae_dsp))]
    {
        let zp = i32::from(zp2 as u16 as i16);
        let h = |b: u32| u32::from((i32::from((v >> b) as u8 as i8) - zp) as i16 as u16);
        [h(0) | h(16) << 16, h(8) | h(24) << 16]
    }
}

/// The requantization of four accumulators with high-word shifts
/// ([`super::int8_x4`]'s common case, a layer shift in −17..=−2): output
/// `r` is `clamp(((hi_r >> k[r]) + c) >> 1, lo, 127)` with `hi_r` the high
/// word of `acc[r] · m` (floored), `k[r]` in 0..=30, `c = 1 + 2·zp` and
/// `lo` the clamp's lower bound, given in each byte of `lo4`; the four
/// int8 results are the bytes of the word returned, output 0 lowest.
#[inline(always)]
pub fn finish4_high(acc: [i32; 4], k: [u32; 4], m: i32, c: i32, lo4: u32) -> u32 {
    #[cfg(edgeae_dsp)]
    {
        arm::finish4_high(acc, k, m, c, lo4)
    }
    #[cfg(not(edgeae_dsp))]
    {
        let lo = i32::from(lo4 as u8 as i8);
        let one = |a: i32, k: u32| {
            let hi = ((i64::from(a) * i64::from(m)) >> 32) as i32;
            let v = (((hi >> (k & 31)).wrapping_add(c)) >> 1).clamp(-128, 127);
            u32::from(v.max(lo) as u8)
        };
        let [a0, a1, a2, a3] = acc;
        let [k0, k1, k2, k3] = k;
        one(a0, k0) | one(a1, k1) << 8 | one(a2, k2) << 16 | one(a3, k3) << 24
    }
}

/// Runs a whole interleaved layer in its common case (a layer shift in
/// −17..=−2, no table, inputs and outputs multiples of 4, word-aligned
/// weights) on the Cortex-M4: the sums of [`dot4x4`] from the biases, then
/// [`finish4_high`] with each channel's `k = base + exponent`, for every
/// group of four outputs in `y`. `w`, `bias` and `exps` are the layer's
/// weights, biases (4 bytes each) and exponent nibbles, `x` its packed
/// input's blocks. Returns false, and does nothing, on any other target or
/// when the slices do not hold the layer (then the caller's portable loop
/// runs it).
#[allow(clippy::too_many_arguments)]
#[inline]
pub fn dense4_high(
    w: &[u8],
    bias: &[u8],
    exps: &[u8],
    x: &[[u32; 2]],
    y: &mut [i8],
    m: i32,
    c: i32,
    lo4: u32,
    base: i32,
) -> bool {
    #[cfg(edgeae_dsp)]
    {
        let (n, g) = (x.len(), y.len() / 4);
        let fits = n >= 1
            && g >= 1
            && y.len().is_multiple_of(4)
            && w.as_ptr().addr().is_multiple_of(4)
            && w.len() >= g * n * 16
            && bias.len() >= 16 * g
            && exps.len() >= 2 * g;
        if !fits {
            return false;
        }
        let range = y.as_mut_ptr_range();
        let xs = x.as_ptr_range();
        let mut st = arm::Layer4 {
            bias: bias.as_ptr(),
            exps: exps.as_ptr(),
            y: range.start.cast(),
            m,
            c,
            lo4,
            base,
            x: xs.start.cast(),
            x_end: xs.end.cast(),
            y_end: range.end.cast(),
        };
        // SAFETY: checked above: `w` is word-aligned with `g·n` units,
        // `x` holds `n ≥ 1` word-aligned blocks, `bias` `16g` bytes,
        // `exps` `2g`, and `y` is `4g ≥ 4` bytes borrowed mutably here.
        unsafe { arm::dense4_high(w.as_ptr(), &mut st) };
        true
    }
    #[cfg(not(edgeae_dsp))]
    {
        let _ = (w, bias, exps, x, y, m, c, lo4, base);
        false
    }
}
