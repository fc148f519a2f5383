//! Shared helpers of the end-to-end tests: deterministic random models and a
//! plain f64 forward pass that shares no code with the runtime, to check the
//! runtime against.

use host_trainer::export::{InputDef, LayerDef, ModelDef, ProvenanceDef, ScoringDef};
use model_format::{Activation, ModelKind};

/// SplitMix64: a tiny deterministic generator for test data.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        let u = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        lo + (hi - lo) * u
    }

    /// `n` values uniform in [-limit, limit).
    pub fn vec(&mut self, n: usize, limit: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform(-limit, limit)).collect()
    }
}

/// A symmetric autoencoder `input → hidden… → codings → …hidden → input`
/// with Glorot-uniform random weights; `tied` makes every decoder layer
/// reuse its mirror encoder layer's weights.
pub fn random_autoencoder(
    rng: &mut Rng,
    input: InputDef,
    encoder_widths: &[u32],
    hidden: Activation,
    output: Activation,
    tied: bool,
) -> ModelDef {
    let mut widths = vec![input.len() as u32];
    widths.extend_from_slice(encoder_widths);
    let mut layers = Vec::new();
    let depth = encoder_widths.len();
    for (i, pair) in widths.windows(2).enumerate() {
        let (n_in, n_out) = (pair[0], pair[1]);
        let limit = (6.0 / (n_in + n_out) as f32).sqrt();
        layers.push(LayerDef::Dense {
            inputs: n_in,
            outputs: n_out,
            activation: if i + 1 == depth {
                Activation::Identity
            } else {
                hidden
            },
            weights: rng.vec((n_in * n_out) as usize, limit),
            bias: rng.vec(n_out as usize, 0.1),
        });
    }
    for (k, pair) in widths.windows(2).enumerate().rev() {
        let (n_in, n_out) = (pair[1], pair[0]);
        let activation = if k == 0 { output } else { hidden };
        let limit = (6.0 / (n_in + n_out) as f32).sqrt();
        layers.push(if tied {
            LayerDef::TiedDense {
                source: k as u16,
                activation,
                bias: rng.vec(n_out as usize, 0.1),
            }
        } else {
            LayerDef::Dense {
                inputs: n_in,
                outputs: n_out,
                activation,
                weights: rng.vec((n_in * n_out) as usize, limit),
                bias: rng.vec(n_out as usize, 0.1),
            }
        });
    }
    ModelDef {
        kind: if tied {
            ModelKind::Tied
        } else {
            ModelKind::Stacked
        },
        input,
        layers,
        codings_layer: (depth - 1) as u16,
        scoring: ScoringDef::default(),
        provenance: ProvenanceDef::default(),
    }
}

/// An activation in f64 with the standard library's functions.
pub fn activate_f64(activation: Activation, x: f64) -> f64 {
    match activation {
        Activation::Identity => x,
        Activation::Relu => x.max(0.0),
        Activation::Selu => {
            let (lambda, alpha) = (1.050_700_987_355_480_5, 1.673_263_242_354_377_2);
            if x > 0.0 {
                lambda * x
            } else {
                lambda * alpha * x.exp_m1()
            }
        }
        Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        Activation::Tanh => x.tanh(),
    }
}

/// The outputs of every layer of `def` for input `x`, computed in f64.
pub fn forward_f64(def: &ModelDef, x: &[f64]) -> Vec<Vec<f64>> {
    let mut outs: Vec<Vec<f64>> = Vec::new();
    let mut cur = x.to_vec();
    for layer in &def.layers {
        let next: Vec<f64> = match layer {
            LayerDef::Dense {
                inputs,
                outputs,
                activation,
                weights,
                bias,
            } => (0..*outputs as usize)
                .map(|o| {
                    let row = &weights[o * *inputs as usize..(o + 1) * *inputs as usize];
                    let s: f64 = row.iter().zip(&cur).map(|(w, x)| f64::from(*w) * x).sum();
                    activate_f64(*activation, s + f64::from(bias[o]))
                })
                .collect(),
            LayerDef::TiedDense {
                source,
                activation,
                bias,
            } => {
                let LayerDef::Dense {
                    inputs, weights, ..
                } = &def.layers[*source as usize]
                else {
                    panic!("tied to a non-dense layer")
                };
                let n_out = *inputs as usize;
                (0..n_out)
                    .map(|j| {
                        let s: f64 = cur
                            .iter()
                            .enumerate()
                            .map(|(i, x)| f64::from(weights[i * n_out + j]) * x)
                            .sum();
                        activate_f64(*activation, s + f64::from(bias[j]))
                    })
                    .collect()
            }
        };
        outs.push(next.clone());
        cur = next;
    }
    outs
}

/// `‖got − want‖₂ / ‖want‖₂` (absolute when `want` is all zeros).
pub fn relative_error(got: &[f32], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len(), "length mismatch");
    let diff: f64 = got
        .iter()
        .zip(want)
        .map(|(g, w)| (f64::from(*g) - w).powi(2))
        .sum::<f64>()
        .sqrt();
    let norm: f64 = want.iter().map(|w| w * w).sum::<f64>().sqrt();
    if norm > 0.0 { diff / norm } else { diff }
}
