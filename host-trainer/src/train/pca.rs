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

    /// The reconstruction of one window.
    pub fn reconstruct(&self, x: &[f32]) -> Vec<f64> {
        let centred: Vec<f64> = x
            .iter()
            .zip(&self.mean)
            .map(|(v, m)| f64::from(*v) - m)
            .collect();
        let mut out = self.mean.clone();
        for c in &self.components {
            let z: f64 = c.iter().zip(&centred).map(|(a, b)| a * b).sum();
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
            },
            weights: vec![Some(weights), None],
            biases: vec![enc_bias, self.mean.iter().map(|&m| m as f32).collect()],
            logvar: None,
        }
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
