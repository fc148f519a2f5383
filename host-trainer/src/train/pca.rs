//! Principal component analysis of windows: the closed-form linear
//! autoencoder (`--kind pca`), and the baseline every report puts beside a
//! trained model.
//!
//! The top-k principal components of the centred windows are the
//! eigenvectors of their covariance with the k largest eigenvalues (the
//! right singular vectors of the centred data matrix). The encoder projects
//! a centred window onto them, the decoder maps the codings back and adds
//! the mean: among all rank-k linear reconstructions this one has the least
//! squared error on the training windows. Computed in f64.

use anyhow::{Result, bail};
use nalgebra::{DMatrix, SymmetricEigen};

use crate::nn::net::{HostNet, LayerSpec, NetSpec};
use model_format::Activation;

/// Windows per block when accumulating the covariance.
const BLOCK: usize = 4096;

/// A fitted PCA.
#[derive(Debug, Clone, PartialEq)]
pub struct Pca {
    /// Mean window, `dim` values.
    pub mean: Vec<f64>,
    /// The components, largest variance first: `k` unit rows of `dim`.
    pub components: Vec<Vec<f64>>,
    /// Variance along each component.
    pub variances: Vec<f64>,
}

impl Pca {
    /// Fits `k` components to the windows in `x` (row-major, `dim` values
    /// each).
    pub fn fit(x: &[f32], dim: usize, k: usize) -> Result<Pca> {
        if dim == 0 || x.len() < dim {
            bail!("PCA needs at least one window");
        }
        if k == 0 || k > dim {
            bail!("PCA with {k} components of {dim}-value windows: expected 1 to {dim}");
        }
        let n = x.len() / dim;
        let mut mean = vec![0.0f64; dim];
        for row in x.chunks_exact(dim) {
            for (m, v) in mean.iter_mut().zip(row) {
                *m += f64::from(*v);
            }
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        let mut cov = DMatrix::<f64>::zeros(dim, dim);
        for block in x.chunks(BLOCK * dim) {
            let rows = block.len() / dim;
            let centred =
                DMatrix::<f64>::from_fn(rows, dim, |r, c| f64::from(block[r * dim + c]) - mean[c]);
            cov += centred.transpose() * &centred;
        }
        cov /= n as f64;
        let eig = SymmetricEigen::new(cov);
        let mut order: Vec<usize> = (0..dim).collect();
        order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
        let components = order[..k]
            .iter()
            .map(|&j| {
                let v: Vec<f64> = eig.eigenvectors.column(j).iter().copied().collect();
                // A sign convention, so the same data gives the same file:
                // the largest entry of each component is positive.
                let big = v
                    .iter()
                    .copied()
                    .fold(0.0f64, |a, b| if b.abs() > a.abs() { b } else { a });
                if big < 0.0 {
                    v.iter().map(|x| -x).collect()
                } else {
                    v
                }
            })
            .collect();
        let variances = order[..k]
            .iter()
            .map(|&j| eig.eigenvalues[j].max(0.0))
            .collect();
        Ok(Pca {
            mean,
            components,
            variances,
        })
    }

    /// Values per window.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// The projections of one window on the components (its codings).
    pub fn project(&self, x: &[f32]) -> Vec<f64> {
        let centred: Vec<f64> = x
            .iter()
            .zip(&self.mean)
            .map(|(v, m)| f64::from(*v) - m)
            .collect();
        self.components
            .iter()
            .map(|c| c.iter().zip(&centred).map(|(a, b)| a * b).sum())
            .collect()
    }

    /// The reconstruction of one window.
    pub fn reconstruct(&self, x: &[f32]) -> Vec<f64> {
        let mut out = self.mean.clone();
        for (c, z) in self.components.iter().zip(self.project(x)) {
            out.iter_mut().zip(c).for_each(|(o, a)| *o += z * a);
        }
        out
    }

    /// Mean squared reconstruction error per value over the windows in `x`.
    pub fn mse(&self, x: &[f32]) -> f64 {
        let dim = self.dim().max(1);
        let (mut total, mut n) = (0.0f64, 0usize);
        for row in x.chunks_exact(dim) {
            let y = self.reconstruct(row);
            total += row
                .iter()
                .zip(&y)
                .map(|(a, b)| (f64::from(*a) - b).powi(2))
                .sum::<f64>();
            n += dim;
        }
        if n == 0 { f64::NAN } else { total / n as f64 }
    }

    /// The PCA as a two-layer network: a dense encoder (the components,
    /// bias `-components · mean`) and a decoder tied to it (its transposed
    /// weights, bias the mean), both linear.
    pub fn host_net(&self) -> HostNet {
        let (dim, k) = (self.dim(), self.components.len());
        let weights: Vec<f32> = self
            .components
            .iter()
            .flatten()
            .map(|&w| w as f32)
            .collect();
        let enc_bias: Vec<f32> = self
            .components
            .iter()
            .map(|c| -c.iter().zip(&self.mean).map(|(a, m)| a * m).sum::<f64>() as f32)
            .collect();
        HostNet {
            spec: NetSpec {
                layers: vec![
                    LayerSpec::Dense {
                        inputs: dim,
                        outputs: k,
                        activation: Activation::Identity,
                    },
                    LayerSpec::Tied {
                        source: 0,
                        activation: Activation::Identity,
                    },
                ],
                codings_layer: 0,
                logvar_head: false,
                predict_from: None,
            },
            weights: vec![Some(weights), None],
            biases: vec![enc_bias, self.mean.iter().map(|&m| m as f32).collect()],
            logvar: None,
        }
    }
}

impl Pca {
    /// Sets the parameters of `net` so that it computes exactly this PCA's
    /// reconstruction of every window in `x`, when it can: a stack of dense
    /// SELU layers (none tied) whose hidden and codings widths are all at least
    /// the number of components, with a linear output layer.
    ///
    /// SELU is linear above zero (`selu(z) = λz` for `z > 0`), so the first
    /// `k` units of every hidden layer carry the `k` projections, each
    /// scaled to unit spread by `aⱼ` and lifted by a constant `c` larger
    /// than any scaled projection in `x`: `λ(aⱼ·pⱼ + c)`, always positive. The output layer undoes scale and lift and adds the mean. The
    /// other units keep their random incoming weights, and the layers after
    /// them start with zero weights from them, so gradient descent can put
    /// them to use. Returns false (and leaves `net` alone) when `net` has
    /// another shape.
    pub fn start_from(&self, net: &mut HostNet, x: &[f32]) -> bool {
        let k = self.components.len();
        let dim = self.dim();
        let spec = &net.spec;
        let n = spec.layers.len();
        let dense = spec
            .layers
            .iter()
            .all(|l| matches!(l, LayerSpec::Dense { .. }));
        let hidden_selu = spec.layers[..n.saturating_sub(1)]
            .iter()
            .all(|l| l.activation() == Activation::Selu);
        let linear_out = spec
            .layers
            .last()
            .is_some_and(|l| l.activation() == Activation::Identity);
        let widths: Vec<(usize, usize)> = (0..n).filter_map(|i| spec.widths(i)).collect();
        let wide = widths
            .iter()
            .take(n.saturating_sub(1))
            .all(|&(_, o)| o >= k);
        if n < 2
            || !dense
            || !hidden_selu
            || !linear_out
            || !wide
            || spec.logvar_head
            || widths.first().map(|w| w.0) != Some(dim)
            || widths.last().map(|w| w.1) != Some(dim)
        {
            return false;
        }
        let lambda = crate::nn::act::SELU_LAMBDA;
        // Each projection scaled to unit spread, so that every carried unit
        // uses the same range (what int8 activations need).
        let top = self
            .variances
            .first()
            .copied()
            .unwrap_or(1.0)
            .sqrt()
            .max(1e-12);
        let a: Vec<f64> = self
            .variances
            .iter()
            .map(|v| 1.0 / v.sqrt().max(top * 1e-3))
            .collect();
        let mut largest = 0.0f64;
        for row in x.chunks_exact(dim) {
            for (c, a) in self.components.iter().zip(&a) {
                let p: f64 = c
                    .iter()
                    .zip(row.iter().zip(&self.mean))
                    .map(|(v, (x, m))| v * (f64::from(*x) - m))
                    .sum();
                largest = largest.max((a * p).abs());
            }
        }
        // Headroom for windows a little outside the training data.
        let lift = 2.0 * largest + 1.0;
        for (i, &(inputs, outputs)) in widths.iter().enumerate() {
            let (Some(Some(w)), Some(b)) = (net.weights.get_mut(i), net.biases.get_mut(i)) else {
                return false;
            };
            if i == 0 {
                // Projections of the centred input, scaled and lifted.
                for (j, (c, a)) in self.components.iter().zip(&a).enumerate() {
                    for (wv, v) in w[j * inputs..(j + 1) * inputs].iter_mut().zip(c) {
                        *wv = (a * v) as f32;
                    }
                    let shift: f64 = c.iter().zip(&self.mean).map(|(v, m)| v * m).sum();
                    b[j] = (lift - a * shift) as f32;
                }
            } else if i + 1 < n {
                // Carry the k lifted projections on: pre-activation aⱼ·pⱼ + c.
                for j in 0..outputs {
                    for l in 0..inputs {
                        if j < k {
                            w[j * inputs + l] = if l == j { (1.0 / lambda) as f32 } else { 0.0 };
                        }
                    }
                    if j < k {
                        b[j] = 0.0;
                    } else {
                        // The other units see the carriers without their
                        // lift, so they start at the scale of a random
                        // network (and int8 ranges stay narrow).
                        let from_lift: f64 = w[j * inputs..j * inputs + k]
                            .iter()
                            .map(|&x| f64::from(x) * lambda * lift)
                            .sum();
                        b[j] -= from_lift as f32;
                    }
                }
            } else {
                // y = mean + Σ_j v_j p_j from h_j = λ(aⱼ pⱼ + c).
                for r in 0..outputs {
                    for l in 0..inputs {
                        w[r * inputs + l] = if l < k {
                            (self.components[l][r] / (lambda * a[l])) as f32
                        } else {
                            0.0
                        };
                    }
                    let lifted: f64 = self
                        .components
                        .iter()
                        .zip(&a)
                        .map(|(c, a)| c[r] * lift / a)
                        .sum();
                    b[r] = (self.mean[r] - lifted) as f32;
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_axes_of_an_ellipse() {
        // Points on the line y = 2x (plus the mean), and a little noise
        // along the perpendicular: the first component is (1, 2)/√5.
        let mut x = Vec::new();
        for i in 0..200 {
            let t = f64::from(i - 100) / 10.0;
            let e = if i % 4 == 0 || i % 4 == 3 {
                0.01
            } else {
                -0.01
            };
            x.push((5.0 + t - 2.0 * e) as f32);
            x.push((-1.0 + 2.0 * t + e) as f32);
        }
        let p = Pca::fit(&x, 2, 1).unwrap();
        let c = &p.components[0];
        let s = 5f64.sqrt();
        assert!(
            (c[0] - 1.0 / s).abs() < 1e-6 && (c[1] - 2.0 / s).abs() < 1e-6,
            "{c:?}"
        );
        assert!((p.mean[0] - 4.95).abs() < 1e-9, "{:?}", p.mean);
        // The error left is the perpendicular noise: 0.01² · 5 per point, over 2 values.
        let mse = p.mse(&x);
        assert!((mse - 0.000_25).abs() < 1e-9, "{mse}");
        let both = Pca::fit(&x, 2, 2).unwrap();
        assert!(both.mse(&x) < 1e-20);
        assert!(Pca::fit(&x, 2, 3).is_err());
    }
}
