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
//! The only `unsafe` in the crate is in [`avx2_dispatch`]'s expansion: the
//! call of its `#[target_feature(enable = "avx2")]` function, made only
//! after `is_x86_feature_detected!("avx2")` (CPUID and the OS's saved AVX
//! state) said yes. That function runs safe code, so no memory is touched
//! except through safe references.

/// Defines `fn $name(args) -> R` that runs `$body(args)` compiled for AVX2
/// where the CPU has it, as built otherwise. `$body` must be
/// `#[inline(always)]` (so it is compiled inside the AVX2 function), and so
/// must whatever it calls for the loop to vectorise.
macro_rules! avx2_dispatch {
    ($(#[$doc:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? = $body:path;) => {
        $(#[$doc])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2")]
            fn avx2($($arg: $ty),*) $(-> $ret)? {
                $body($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2, the only feature `avx2` enables.
                #[allow(unsafe_code)]
                return unsafe { avx2($($arg),*) };
            }
            $body($($arg),*)
        }
    };
}
pub(crate) use avx2_dispatch;

#[cfg(test)]
mod tests {
    use super::super::{fused::BceMath, vmath::GateMath};

    /// The AVX2 path (where the CPU has it) against the portable one on
    /// the same inputs: equal bits.
    #[test]
    fn avx2_and_portable_kernels_give_the_same_bits() {
        let x: Vec<f32> = (0..10_007).map(|i| (i as f32 - 5_000.0) * 7.3e-3).collect();
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
