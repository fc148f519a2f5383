//! Element-wise math written so that the compiler vectorises it: `exp`,
//! and the logistic sigmoid and `tanh` over slices (the recurrent cells'
//! gates, [`super::recurrent`]; the fused dense layer's activations,
//! [`super::act::forward_in_place`]).
//!
//! The C library's `expf` and `tanhf` are scalar calls; over the gates of
//! an LSTM they were most of the element-wise time. f32 here uses the
//! firmware's polynomials (`firmware::ops::math`) without branches, one
//! `exp` per sigmoid or `tanh`, relative error below 4e-7 (the tests), in
//! AVX2 where the CPU has it ([`super::simd`]); f64 (the gradient checks)
//! uses the standard library.

use firmware::ops::math::{EXPM1_SMALL, LN2_HI, LN2_LO, LOG2_E, exp_reduced, expm1_small};

/// `e^a` for `a` clamped to [−80, 80], branch-free (vectorisable): the
/// integer part of `a·log2(e)` is read from the bits of `a·log2(e) +
/// 1.5·2²³` (no float-to-int conversion), the rest by the firmware's
/// polynomial.
#[inline(always)]
pub fn exp_fast(a: f32) -> f32 {
    const SHIFTER: f32 = 12_582_912.0; // 1.5 · 2^23
    let a = a.clamp(-80.0, 80.0);
    let shifted = a * LOG2_E + SHIFTER;
    let kf = shifted - SHIFTER;
    let k = shifted.to_bits().wrapping_sub(SHIFTER.to_bits()) as i32;
    let r = (a - kf * LN2_HI) - kf * LN2_LO;
    let m = exp_reduced(r);
    f32::from_bits((m.to_bits() as i32).wrapping_add(k << 23) as u32)
}

/// `1 / (1 + e^(−a))`, as the firmware computes it (its argument clamped).
#[inline(always)]
fn sigmoid_f32(a: f32) -> f32 {
    1.0 / (1.0 + exp_fast(-a))
}

/// `tanh(a)` as the firmware computes it: `e / (e + 2)` with `e =
/// expm1(2·|a|)`, the sign restored; both branches of `expm1` computed and
/// one selected, so the loop vectorises.
#[inline(always)]
fn tanh_f32(a: f32) -> f32 {
    let x = (2.0 * a.abs()).min(40.0);
    let small = expm1_small(x);
    let large = exp_fast(x) - 1.0;
    let e = if x < EXPM1_SMALL { small } else { large };
    (e / (e + 2.0)).copysign(a)
}

/// The gate activations over slices, in a float type.
pub trait GateMath: Sized + Copy {
    /// `x ← eˣ`, element-wise (f32: [`exp_fast`], its argument clamped to [−80, 80]).
    fn exp_in_place(x: &mut [Self]);
    /// `x ← σ(x)`, element-wise.
    fn sigmoid_in_place(x: &mut [Self]);
    /// `x ← tanh(x)`, element-wise.
    fn tanh_in_place(x: &mut [Self]);
}

impl GateMath for f32 {
    fn exp_in_place(x: &mut [f32]) {
        exp_dispatch(x);
    }

    fn sigmoid_in_place(x: &mut [f32]) {
        sigmoid_dispatch(x);
    }

    fn tanh_in_place(x: &mut [f32]) {
        tanh_dispatch(x);
    }
}

super::simd::avx2_dispatch! {
    /// [`exp_slice`], in AVX2 where the CPU has it.
    fn exp_dispatch(x: &mut [f32]) = exp_slice;
}
super::simd::avx2_dispatch! {
    /// [`sigmoid_slice`], in AVX2 where the CPU has it.
    fn sigmoid_dispatch(x: &mut [f32]) = sigmoid_slice;
}
super::simd::avx2_dispatch! {
    /// [`tanh_slice`], in AVX2 where the CPU has it.
    fn tanh_dispatch(x: &mut [f32]) = tanh_slice;
}

/// `x ← eˣ` ([`exp_fast`]), inlined where it is called.
#[inline(always)]
pub(super) fn exp_slice(x: &mut [f32]) {
    for v in x {
        *v = exp_fast(*v);
    }
}

/// `x ← σ(x)`, inlined where it is called.
#[inline(always)]
pub(super) fn sigmoid_slice(x: &mut [f32]) {
    for v in x {
        *v = sigmoid_f32(*v);
    }
}

/// `x ← tanh(x)`, inlined where it is called.
#[inline(always)]
pub(super) fn tanh_slice(x: &mut [f32]) {
    for v in x {
        *v = tanh_f32(*v);
    }
}

impl GateMath for f64 {
    fn exp_in_place(x: &mut [f64]) {
        for v in x {
            *v = v.exp();
        }
    }

    fn sigmoid_in_place(x: &mut [f64]) {
        for v in x {
            *v = 1.0 / (1.0 + (-*v).exp());
        }
    }

    fn tanh_in_place(x: &mut [f64]) {
        for v in x {
            *v = v.tanh();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `a`'s error relative to `b` (absolute at 0).
    fn rel(a: f32, b: f64) -> f64 {
        (f64::from(a) - b).abs() / if b == 0.0 { 1.0 } else { b.abs() }
    }

    /// `count` evenly spaced values from `lo` to `hi`.
    fn grid(lo: f32, hi: f32, count: u32) -> impl Iterator<Item = f32> {
        let step = (hi - lo) / (count - 1) as f32;
        (0..count).map(move |i| lo + step * i as f32)
    }

    #[test]
    fn f32_gates_match_f64_and_the_firmware() {
        let mut x: Vec<f32> = grid(-30.0, 30.0, 300_001).collect();
        x.extend([-1e-6, 1e-6, -1e-30, 0.0, -0.0, 90.0, -90.0, 1e4, -1e4]);
        let (mut s, mut t) = (x.clone(), x.clone());
        f32::sigmoid_in_place(&mut s);
        f32::tanh_in_place(&mut t);
        let (mut worst_s, mut worst_t) = (0.0f64, 0.0f64);
        for ((&v, &sv), &tv) in x.iter().zip(&s).zip(&t) {
            let w = f64::from(v);
            // Below about −80 the clamp keeps the sigmoid at e^−80 ≈ 2e-35.
            if v > -80.0 {
                worst_s = worst_s.max(rel(sv, 1.0 / (1.0 + (-w).exp())));
            }
            assert!((0.0..=1.0).contains(&sv), "sigmoid({v}) = {sv}");
            worst_t = worst_t.max(rel(tv, w.tanh()));
            let fw = firmware::ops::math::tanh(v);
            assert!(rel(tv, f64::from(fw)) < 3e-7, "tanh({v}): {tv} vs {fw}");
        }
        assert!(worst_s < 4e-7, "sigmoid: worst relative error {worst_s}");
        assert!(worst_t < 4e-7, "tanh: worst relative error {worst_t}");
    }

    #[test]
    fn exp_fast_is_accurate_and_clamped() {
        for v in grid(-80.0, 80.0, 160_001) {
            let e = exp_fast(v);
            assert!(rel(e, f64::from(v).exp()) < 3e-7, "exp({v}) = {e}");
        }
        assert_eq!(exp_fast(200.0), exp_fast(80.0));
        assert_eq!(exp_fast(-200.0), exp_fast(-80.0));
    }
}
