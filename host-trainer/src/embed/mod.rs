//! Maps of the codings (`edgeae embed`): the codings of many windows laid
//! out in 2-D by t-SNE ([`tsne`]) or by their first two principal
//! components, and how well a map keeps each point's neighbours of the same
//! class ([`neighbours`]).

pub mod neighbours;
pub mod tsne;

use anyhow::{Result, bail};
use serde::Serialize;

use crate::train::pca::Pca;

/// How codings are mapped to 2-D.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Barnes-Hut t-SNE (perplexity 30, 1000 iterations).
    #[default]
    Tsne,
    /// The first two principal components of the codings: fast, linear.
    Pca,
}

impl Method {
    /// The name reports print.
    pub fn name(self) -> &'static str {
        match self {
            Method::Tsne => "t-SNE",
            Method::Pca => "PCA",
        }
    }
}

/// Maps `points` (rows of `dim` values) to 2-D.
pub fn map(points: &[f32], dim: usize, method: Method) -> Result<Vec<(f64, f64)>> {
    if dim == 0 || points.is_empty() {
        bail!("there are no codings to map");
    }
    if points.iter().any(|v| !v.is_finite()) {
        bail!("the model gives non-finite codings, which cannot be mapped");
    }
    match method {
        Method::Tsne => tsne::embed(points, dim),
        Method::Pca => pca_map(points, dim),
    }
}

/// The first two principal components of `points` (the second is 0 for
/// one-dimensional points).
pub fn pca_map(points: &[f32], dim: usize) -> Result<Vec<(f64, f64)>> {
    let pca = Pca::fit(points, dim, dim.min(2))?;
    Ok(points
        .chunks_exact(dim)
        .map(|p| {
            let z = pca.project(p);
            (
                z.first().copied().unwrap_or(0.0),
                z.get(1).copied().unwrap_or(0.0),
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pca_map_keeps_the_widest_direction_first() {
        // Points along (1, 1, 0) with a little spread along (0, 0, 1).
        let pts: Vec<f32> = (0..50)
            .flat_map(|i| {
                let t = i as f32 - 25.0;
                [t, t, if i % 2 == 0 { 0.1 } else { -0.1 }]
            })
            .collect();
        let m = pca_map(&pts, 3).unwrap();
        let sx: f64 = m.iter().map(|p| p.0 * p.0).sum();
        let sy: f64 = m.iter().map(|p| p.1 * p.1).sum();
        assert!(sx > 1000.0 * sy, "{sx} {sy}");
        assert_eq!(pca_map(&[1.0, 2.0, 3.0], 1).unwrap()[2].1, 0.0);
        assert!(map(&[f32::NAN, 1.0], 1, Method::Pca).is_err());
    }
}
