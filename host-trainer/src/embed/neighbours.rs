//! Neighbourhood preservation: the share of each point's `k` nearest
//! neighbours (Euclidean, the point itself left out) that are of its class,
//! averaged over the points. A map that keeps the neighbourhoods of the
//! codings has about the same agreement as the codings themselves; points
//! placed at random have about the chance level, the sum over classes of
//! their squared shares.
//!
//! Exact, by brute force over all pairs (in parallel): 10,000 points take
//! about a second.

use rayon::prelude::*;

/// The mean share of same-class points among each point's `k` nearest
/// neighbours; `points` holds rows of `dim` values, one class per row.
/// NaN when there are fewer than two points or `k` is 0.
pub fn agreement(points: &[f64], dim: usize, classes: &[u16], k: usize) -> f64 {
    let n = (points.len() / dim.max(1)).min(classes.len());
    let k = k.min(n.saturating_sub(1));
    if k == 0 || dim == 0 {
        return f64::NAN;
    }
    let total: f64 = (0..n)
        .into_par_iter()
        .map(|i| {
            let p = &points[i * dim..(i + 1) * dim];
            // The k nearest so far, by distance, nearest first.
            let mut best: Vec<(f64, usize)> = Vec::with_capacity(k + 1);
            for (j, q) in points.chunks_exact(dim).take(n).enumerate() {
                if j == i {
                    continue;
                }
                let d: f64 = p.iter().zip(q).map(|(a, b)| (a - b) * (a - b)).sum();
                if best.len() == k && best.last().is_some_and(|&(far, _)| d >= far) {
                    continue;
                }
                let at = best.partition_point(|&(e, _)| e <= d);
                best.insert(at, (d, j));
                best.truncate(k);
            }
            let same = best
                .iter()
                .filter(|&&(_, j)| classes[j] == classes[i])
                .count();
            same as f64 / k as f64
        })
        .sum();
    total / n as f64
}

/// The agreement expected of points placed at random: the chance that
/// another point is of the same class, `Σ_c n_c (n_c − 1) / (n (n − 1))`.
pub fn chance(classes: &[u16]) -> f64 {
    let n = classes.len();
    if n < 2 {
        return f64::NAN;
    }
    let mut counts = std::collections::HashMap::<u16, usize>::new();
    for &c in classes {
        *counts.entry(c).or_default() += 1;
    }
    let same: usize = counts.values().map(|&c| c * (c - 1)).sum();
    same as f64 / (n * (n - 1)) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_counts_same_class_neighbours() {
        // On a line: 0 0 1 1 at 0, 1, 10, 11. Each point's nearest is of
        // its class; with k = 2 the second nearest is the other class's.
        let pts = [0.0, 1.0, 10.0, 11.0];
        let classes = [0, 0, 1, 1];
        assert_eq!(agreement(&pts, 1, &classes, 1), 1.0);
        assert_eq!(agreement(&pts, 1, &classes, 2), 0.5);
        // k larger than the other points: all of them.
        assert!((agreement(&pts, 1, &classes, 10) - 1.0 / 3.0).abs() < 1e-12);
        // Interleaved classes: no neighbour agrees.
        assert_eq!(agreement(&pts, 1, &[0, 1, 0, 1], 1), 0.0);
        assert!(agreement(&[1.0], 1, &[0], 3).is_nan());
    }

    #[test]
    fn chance_is_the_same_class_pair_share() {
        assert_eq!(chance(&[0, 0, 1, 1]), 4.0 / 12.0);
        assert_eq!(chance(&[3; 5]), 1.0);
        assert!(chance(&[1]).is_nan());
    }

    #[test]
    fn random_points_agree_at_chance() {
        // Ten classes, points scattered uniformly: near 0.1.
        use rand::Rng;
        let n = 2000;
        let mut rng = crate::rng::seeded(3);
        let classes: Vec<u16> = (0..n).map(|i| (i % 10) as u16).collect();
        let pts: Vec<f64> = (0..2 * n).map(|_| rng.r#gen::<f64>()).collect();
        let a = agreement(&pts, 2, &classes, 10);
        assert!((a - chance(&classes)).abs() < 0.05, "{a}");
    }
}
