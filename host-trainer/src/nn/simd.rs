//! Element-wise loops compiled for AVX2 when the CPU has it, chosen at run
//! time: the build targets baseline x86-64 (SSE2, four f32 lanes), and the
//! binary-cross-entropy kernel ([`super::fused`]) and the f32 activations
//! ([`super::vmath`]) vectorise to eight lanes under AVX2.
//!
//! The code is the same; only the vector width changes. FMA is not enabled
//! and Rust never contracts `a·b + c` on its own, and the kernels keep
//! their sums in fixed lanes, so both paths give the same bits (the tests
//! compare them).
//!
//! The only `unsafe` in the crate is here: the call of the
//! `#[target_feature(enable = "avx2")]` function, made only after
//! `is_x86_feature_detected!("avx2")` (CPUID and the OS's saved AVX state)
//! said yes. The function runs safe code, so no memory is touched except
//! through safe references.
#![allow(unsafe_code)]

/// Runs `f`, compiled for AVX2 where the CPU has it. `f`'s body is
/// inlined into an AVX2 function, so it should call `#[inline(always)]`
/// code (anything it calls out of line runs as built).
#[inline(always)]
pub fn avx2<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, the only feature `run_avx2` enables.
        return unsafe { run_avx2(f) };
    }
    f()
}

/// `f()` with AVX2 code generation.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn run_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(test)]
mod tests {
    use super::super::{fused::BceMath, vmath::GateMath};

    /// The AVX2 path (where the CPU has it) against the portable one on
    /// the same inputs: equal bits.
    #[test]
    fn avx2_and_portable_kernels_give_the_same_bits() {
        let x: Vec<f32> = (0..10_007)
            .map(|i| (i as f32 - 5_000.0) * 7.3e-3)
            .collect();
        let t: Vec<f32> = (0..x.len()).map(|i| (i % 13) as f32 / 12.0).collect();
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        let (mut g_fast, mut g_plain) = (vec![0.0f32; x.len()], vec![0.0f32; x.len()]);
        let fast = f32::bce_terms(&x, &t, 0.25, &mut g_fast);
        let plain = super::super::fused::bce_terms_f32(&x, &t, 0.25, &mut g_plain);
        assert_eq!(fast.to_bits(), plain.to_bits(), "{fast} vs {plain}");
        assert_eq!(bits(&g_fast), bits(&g_plain));
        type Pair = (fn(&mut [f32]), fn(&mut [f32]));
        let pairs: [Pair; 3] = [
            (f32::exp_in_place, super::super::vmath::exp_slice),
            (f32::sigmoid_in_place, super::super::vmath::sigmoid_slice),
            (f32::tanh_in_place, super::super::vmath::tanh_slice),
        ];
        for f in pairs {
            let (mut a, mut b) = (x.clone(), x.clone());
            (f.0)(&mut a);
            (f.1)(&mut b);
            assert_eq!(bits(&a), bits(&b));
        }
    }
}
