//! t-SNE through the `bhtsne` crate's Barnes-Hut approximation (θ = 0.5),
//! with scikit-learn's defaults: perplexity 30 (less for fewer than 91
//! points), 1000 iterations, early exaggeration 12 for the first 250, the
//! learning rate `max(n / 48, 50)`, and the embedding started from the
//! first two principal components scaled to a standard deviation of 1e-4
//! (scikit-learn's `init="pca"`), so the same codings give the same map up
//! to the order of parallel sums.

use anyhow::{Result, bail};

use super::pca_map;

/// The fewest points t-SNE maps.
pub const MIN_POINTS: usize = 10;

/// The Barnes-Hut trade-off of accuracy for speed (scikit-learn's `angle`).
const THETA: f32 = 0.5;

/// Maps `points` (rows of `dim` finite values) to 2-D.
pub fn embed(points: &[f32], dim: usize) -> Result<Vec<(f64, f64)>> {
    let n = points.len() / dim.max(1);
    if n < MIN_POINTS {
        bail!("t-SNE needs at least {MIN_POINTS} windows, there are {n}: use --method pca");
    }
    // bhtsne asks for n - 1 >= 3 * perplexity.
    let perplexity = 30.0f32.min(((n - 1) / 3) as f32);
    let init = pca_map(points, dim)?;
    let sd = (init.iter().map(|p| p.0 * p.0).sum::<f64>() / n as f64).sqrt();
    let scale = if sd > 0.0 { 1e-4 / sd } else { 0.0 };
    let init: Vec<f32> = init
        .iter()
        .enumerate()
        .flat_map(|(i, &(x, y))| {
            // Identical points would start on top of each other: a tiny,
            // fixed spread keeps the first gradients finite.
            let jitter = 1e-6 * ((i % 97) as f64 / 97.0 - 0.5);
            [(x * scale + jitter) as f32, (y * scale - jitter) as f32]
        })
        .collect();
    let rows: Vec<&[f32]> = points.chunks_exact(dim).collect();
    let mut tsne = bhtsne::tSNE::<f32, &[f32]>::new(&rows);
    tsne.perplexity(perplexity)
        .epochs(1000)
        .initial_embedding(init)
        .barnes_hut(THETA, |a, b| {
            a.iter()
                .zip(b.iter())
                .map(|(x, y)| (x - y) * (x - y))
                .sum::<f32>()
                .sqrt()
        });
    let flat = tsne.embedding();
    if flat.len() != 2 * n || flat.iter().any(|v| !v.is_finite()) {
        bail!("t-SNE did not converge on these codings: use --method pca");
    }
    Ok(flat
        .chunks_exact(2)
        .map(|p| (f64::from(p[0]), f64::from(p[1])))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::neighbours::agreement;

    #[test]
    fn separated_clusters_stay_separated() {
        // Three tight clusters in 5-D; their map keeps every neighbour.
        let mut pts = Vec::new();
        let mut classes = Vec::new();
        for i in 0..90u16 {
            let k = i % 3;
            for d in 0..5 {
                let centre = if usize::from(k) == d { 10.0 } else { 0.0 };
                pts.push(centre + ((i as usize * 7 + d * 13) % 11) as f32 * 0.05);
            }
            classes.push(k);
        }
        let map = embed(&pts, 5).unwrap();
        let flat: Vec<f64> = map.iter().flat_map(|p| [p.0, p.1]).collect();
        assert!(agreement(&flat, 2, &classes, 10) > 0.99);
        assert!(
            embed(&pts[..5 * 9], 5)
                .unwrap_err()
                .to_string()
                .contains("at least 10")
        );
    }
}
