//! Shared helpers of the end-to-end tests: deterministic random models and a
//! plain f64 forward pass that shares no code with the runtime, to check the
//! runtime against.

pub mod int8_ref;

use model_format::build::{InputBuf, LayerBuf, ModelBuf, ProvenanceBuf, ScoringBuf};
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
    input: InputBuf,
    encoder_widths: &[u32],
    hidden: Activation,
    output: Activation,
    tied: bool,
) -> ModelBuf {
    let mut widths = vec![input.len() as u32];
    widths.extend_from_slice(encoder_widths);
    let mut layers = Vec::new();
    let depth = encoder_widths.len();
    for (i, pair) in widths.windows(2).enumerate() {
        let (n_in, n_out) = (pair[0], pair[1]);
        let limit = (6.0 / (n_in + n_out) as f32).sqrt();
        layers.push(LayerBuf::Dense {
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
            LayerBuf::TiedDense {
                source: k as u16,
                activation,
                bias: rng.vec(n_out as usize, 0.1),
            }
        } else {
            LayerBuf::Dense {
                inputs: n_in,
                outputs: n_out,
                activation,
                weights: rng.vec((n_in * n_out) as usize, limit),
                bias: rng.vec(n_out as usize, 0.1),
            }
        });
    }
    ModelBuf {
        kind: if tied {
            ModelKind::Tied
        } else {
            ModelKind::Stacked
        },
        input,
        layers,
        codings_layer: (depth - 1) as u16,
        scoring: ScoringBuf::default(),
        provenance: ProvenanceBuf::default(),
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

/// Layer `layer` of `def` on `h` in f64: per output, the sum `Σ w·h + b`
/// before the activation and its magnitude `Σ |w·h| + |b|` (an f32 sum's
/// rounding error is a small multiple of the magnitude, whatever the sum).
fn layer_f64(def: &ModelBuf, layer: &LayerBuf, h: &[f64]) -> Vec<(f64, f64)> {
    // Tied layers read their source's (outputs x inputs) weights transposed.
    let (weights, bias, n_out, transposed) = match layer {
        LayerBuf::Dense {
            outputs,
            weights,
            bias,
            ..
        } => (weights, bias, *outputs as usize, false),
        LayerBuf::TiedDense { source, bias, .. } => {
            let LayerBuf::Dense {
                inputs, weights, ..
            } = &def.layers[*source as usize]
            else {
                panic!("tied to a non-dense layer")
            };
            (weights, bias, *inputs as usize, true)
        }
        LayerBuf::DenseI8 { .. } | LayerBuf::TiedDenseI8 { .. } => {
            panic!("the f64 forward pass is for f32 layers (int8 ones: int8_ref)")
        }
        other => panic!("the f64 forward pass is for dense layers, not {other:?}"),
    };
    let n_in = h.len();
    (0..n_out)
        .map(|o| {
            let b = f64::from(bias[o]);
            h.iter().enumerate().fold((b, b.abs()), |(s, m), (i, v)| {
                let w = if transposed {
                    weights[i * n_out + o]
                } else {
                    weights[o * n_in + i]
                };
                let t = f64::from(w) * v;
                (s + t, m + t.abs())
            })
        })
        .collect()
}

/// The activation of a stored layer.
fn activation_of(layer: &LayerBuf) -> Activation {
    layer.activation()
}

/// For every layer of `def` on input `x`, computed in f64: the outputs, and
/// the magnitudes of what each layer sums (see [`scaled_error`]).
pub fn forward_f64_with_magnitudes(def: &ModelBuf, x: &[f64]) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let (mut outs, mut mags) = (Vec::new(), Vec::new());
    let mut cur = x.to_vec();
    for layer in &def.layers {
        let terms = layer_f64(def, layer, &cur);
        cur = terms
            .iter()
            .map(|(s, _)| activate_f64(activation_of(layer), *s))
            .collect();
        outs.push(cur.clone());
        mags.push(terms.into_iter().map(|(_, m)| m).collect());
    }
    (outs, mags)
}

/// The outputs of every layer of `def` for input `x`, computed in f64.
pub fn forward_f64(def: &ModelBuf, x: &[f64]) -> Vec<Vec<f64>> {
    forward_f64_with_magnitudes(def, x).0
}

/// `‖got − want‖₂ / max(‖want‖₂, ‖magnitude‖₂)`: the relative error of an
/// f32 computation measured against the scale of what it summed. Plain
/// relative error is unbounded when a sum cancels (fifteen terms of 0.5
/// summing to 0.005), for any f32 implementation; this is not. The
/// magnitudes come from [`forward_f64_with_magnitudes`].
pub fn scaled_error(got: &[f32], want: &[f64], magnitude: &[f64]) -> f64 {
    let diff: f64 = got
        .iter()
        .zip(want)
        .map(|(g, w)| (f64::from(*g) - w).powi(2))
        .sum::<f64>()
        .sqrt();
    let norm = want.iter().map(|w| w * w).sum::<f64>().sqrt();
    let mag = magnitude.iter().map(|m| m * m).sum::<f64>().sqrt();
    let scale = norm.max(mag);
    if scale > 0.0 { diff / scale } else { diff }
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

/// A fresh empty directory under the system temp dir, unique per test.
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("edgeae-e2e-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writes a CSV with a header and rows.
pub fn write_csv(path: &std::path::Path, header: &[&str], rows: &[Vec<f32>]) {
    let mut s = header.join(",");
    s.push('\n');
    for r in rows {
        let cells: Vec<String> = r.iter().map(|v| v.to_string()).collect();
        s.push_str(&cells.join(","));
        s.push('\n');
    }
    std::fs::write(path, s).unwrap();
}

/// A 3-channel vibration-like time series: two harmonics per channel with
/// different phases and amplitudes, plus a little noise. `rows` frames.
pub fn sensor_series(rows: usize, seed: u64, noise: f32) -> Vec<Vec<f32>> {
    let mut rng = Rng(seed);
    (0..rows)
        .map(|t| {
            let t = t as f32;
            vec![
                (t * 0.31).sin() + 0.3 * (t * 0.93).sin() + noise * rng.uniform(-1.0, 1.0),
                0.8 * (t * 0.31 + 1.0).sin()
                    + 0.2 * (t * 0.62).cos()
                    + noise * rng.uniform(-1.0, 1.0),
                2.0 + 0.5 * (t * 0.31 + 2.0).cos() + noise * rng.uniform(-1.0, 1.0),
            ]
        })
        .collect()
}

/// `n` tiny 6x6 "images" in [0, 1]: a bright bar at a random row or column
/// on a dim background; the kind of data a sigmoid output with
/// binary cross-entropy is for.
pub fn bar_images(n: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|_| {
            let vertical = rng.next_u64().is_multiple_of(2);
            let at = (rng.next_u64() % 6) as usize;
            (0..36)
                .map(|p| {
                    let (r, c) = (p / 6, p % 6);
                    let on = if vertical { c == at } else { r == at };
                    if on {
                        0.9
                    } else {
                        0.05 + 0.05 * rng.uniform(0.0, 1.0)
                    }
                })
                .collect()
        })
        .collect()
}

/// Eigen-decomposition of a symmetric `n × n` matrix (row-major) by cyclic
/// Jacobi rotations: eigenvalues in descending order with unit eigenvectors
/// (as columns of the returned row-major matrix). Accurate to ~1e-12 for
/// the small matrices of the tests; the SVD of centred data `X` is this
/// decomposition of `XᵀX`.
pub fn symmetric_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = a.to_vec();
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |j| *j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j].powi(2))
            .sum();
        if off < 1e-30 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let sign = if theta >= 0.0 { 1.0 } else { -1.0 };
                let t = sign / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| a[j * n + j].total_cmp(&a[i * n + i]));
    let values = order.iter().map(|&i| a[i * n + i]).collect();
    let mut vectors = vec![0.0; n * n];
    for (col, &i) in order.iter().enumerate() {
        for k in 0..n {
            vectors[k * n + col] = v[k * n + i];
        }
    }
    (values, vectors)
}

/// Orthonormal basis (Gram–Schmidt) of the span of `k` vectors of length `n`.
pub fn orthonormal(vectors: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let mut basis: Vec<Vec<f64>> = Vec::new();
    for v in vectors {
        let mut u = v.clone();
        for b in &basis {
            let d: f64 = u.iter().zip(b).map(|(x, y)| x * y).sum();
            u.iter_mut().zip(b).for_each(|(x, y)| *x -= d * y);
        }
        let norm = u.iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!(norm > 1e-9, "vectors are linearly dependent");
        basis.push(u.into_iter().map(|x| x / norm).collect());
    }
    basis
}

/// Largest principal angle (degrees) between the spans of two sets of `k`
/// orthonormal vectors: `acos` of the smallest singular value of `AᵀB`.
pub fn largest_principal_angle(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    let k = a.len();
    assert_eq!(k, b.len());
    let m: Vec<f64> = (0..k)
        .flat_map(|i| (0..k).map(move |j| (i, j)))
        .map(|(i, j)| a[i].iter().zip(&b[j]).map(|(x, y)| x * y).sum())
        .collect();
    // Singular values of M: square roots of the eigenvalues of MᵀM.
    let mtm: Vec<f64> = (0..k)
        .flat_map(|i| (0..k).map(move |j| (i, j)))
        .map(|(i, j)| (0..k).map(|r| m[r * k + i] * m[r * k + j]).sum())
        .collect();
    let (eig, _) = symmetric_eigen(&mtm, k);
    let smallest = eig.last().copied().unwrap_or(0.0).max(0.0).sqrt().min(1.0);
    smallest.acos().to_degrees()
}

/// The model both calibration tests run (host and board): a random
/// 3-channel, 16-frame SELU autoencoder 48-12-4-12-48 with its own
/// normalisation, as model-file bytes.
pub fn calibration_model_bytes() -> Vec<u8> {
    let mut rng = Rng(77);
    let mut input = InputBuf::identity(3, 16, 4);
    input.mean = vec![0.1, -0.2, 2.0];
    input.scale = vec![1.4, 1.1, 2.0];
    random_autoencoder(
        &mut rng,
        input,
        &[12, 4],
        Activation::Selu,
        Activation::Identity,
        false,
    )
    .encode()
    .unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eigen_of_a_known_matrix() {
        // [[2, 1], [1, 2]] has eigenvalues 3 and 1, eigenvectors (1, 1)/√2 and (1, −1)/√2.
        let (vals, vecs) = symmetric_eigen(&[2.0, 1.0, 1.0, 2.0], 2);
        assert!((vals[0] - 3.0).abs() < 1e-12 && (vals[1] - 1.0).abs() < 1e-12);
        let s = std::f64::consts::FRAC_1_SQRT_2;
        assert!((vecs[0].abs() - s).abs() < 1e-12 && (vecs[2].abs() - s).abs() < 1e-12);
        assert!(
            (vecs[0] * vecs[2]) > 0.0,
            "first eigenvector is (1, 1) up to sign"
        );
        // A 3x3 diagonal matrix is its own decomposition.
        let (vals, _) = symmetric_eigen(&[1.0, 0.0, 0.0, 0.0, 5.0, 0.0, 0.0, 0.0, 3.0], 3);
        assert_eq!(vals, [5.0, 3.0, 1.0]);
    }

    #[test]
    fn principal_angles_of_known_planes() {
        let xy = orthonormal(&[vec![1.0, 0.0, 0.0], vec![0.0, 1.0, 0.0]]);
        let same = orthonormal(&[vec![1.0, 1.0, 0.0], vec![1.0, -1.0, 0.0]]);
        assert!(largest_principal_angle(&xy, &same) < 1e-6);
        // Tilt the plane by 10 degrees about the x axis.
        let t = 10f64.to_radians();
        let tilted = orthonormal(&[vec![1.0, 0.0, 0.0], vec![0.0, t.cos(), t.sin()]]);
        assert!((largest_principal_angle(&xy, &tilted) - 10.0).abs() < 1e-9);
    }
}
