//! Element-wise activations, applied in place after a layer's affine part.

use model_format::Activation;

use super::math::{expm1, sigmoid, tanh};

/// SELU λ (Klambauer et al. 2017).
pub const SELU_LAMBDA: f32 = 1.050_701;
/// SELU α.
pub const SELU_ALPHA: f32 = 1.673_263_2;

/// One activation of one value.
#[inline]
pub fn activate(activation: Activation, x: f32) -> f32 {
    match activation {
        Activation::Identity => x,
        Activation::Relu => x.max(0.0),
        Activation::Selu => {
            if x > 0.0 {
                SELU_LAMBDA * x
            } else {
                (SELU_LAMBDA * SELU_ALPHA) * expm1(x)
            }
        }
        Activation::Sigmoid => sigmoid(x),
        Activation::Tanh => tanh(x),
    }
}

/// Applies `activation` to every value of `values`.
pub fn apply(activation: Activation, values: &mut [f32]) {
    match activation {
        Activation::Identity => {}
        Activation::Relu => values.iter_mut().for_each(|v| *v = v.max(0.0)),
        _ => values
            .iter_mut()
            .for_each(|v| *v = activate(activation, *v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(activation: Activation, x: f64) -> f64 {
        match activation {
            Activation::Identity => x,
            Activation::Relu => x.max(0.0),
            Activation::Selu => {
                let (l, a) = (1.0507009873554805, 1.6732632423543772);
                if x > 0.0 { l * x } else { l * a * x.exp_m1() }
            }
            Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Activation::Tanh => x.tanh(),
        }
    }

    #[test]
    fn literal_values() {
        assert_eq!(activate(Activation::Relu, -2.0), 0.0);
        assert_eq!(activate(Activation::Relu, 2.5), 2.5);
        assert_eq!(activate(Activation::Sigmoid, 0.0), 0.5);
        assert_eq!(activate(Activation::Tanh, 0.0), 0.0);
        assert_eq!(activate(Activation::Selu, 0.0), 0.0);
        assert_eq!(activate(Activation::Sigmoid, -200.0), 0.0);
        assert_eq!(activate(Activation::Sigmoid, 200.0), 1.0);
        let s = activate(Activation::Selu, -1.0);
        assert!((f64::from(s) - (-1.1113307378125625)).abs() < 1e-6);
    }

    #[test]
    fn every_activation_matches_f64() {
        for act in [
            Activation::Identity,
            Activation::Relu,
            Activation::Selu,
            Activation::Sigmoid,
            Activation::Tanh,
        ] {
            let mut worst = 0.0f64;
            for i in -20_000..=20_000 {
                let x = i as f32 * 1e-3;
                let want = reference(act, f64::from(x));
                let got = f64::from(activate(act, x));
                let err = (got - want).abs() / want.abs().max(1e-6);
                worst = worst.max(err);
            }
            assert!(worst < 5e-7, "{act:?}: worst relative error {worst}");
        }
    }

    #[test]
    fn apply_matches_activate() {
        let mut v = [-3.0, -0.5, 0.0, 0.25, 4.0];
        apply(Activation::Selu, &mut v);
        for (got, x) in v.iter().zip([-3.0, -0.5, 0.0, 0.25, 4.0]) {
            assert_eq!(*got, activate(Activation::Selu, x));
        }
    }
}
