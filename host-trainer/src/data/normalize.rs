//! Per-channel standardisation.

use firmware::Model;

/// Per-channel normalisation: `normalised = (x - mean[c]) * scale[c]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalizer {
    /// Mean of each channel.
    pub mean: Vec<f32>,
    /// Multiplier of each channel after subtracting the mean (1/std).
    pub scale: Vec<f32>,
}

impl Normalizer {
    /// mean 0, scale 1.
    pub fn identity(channels: usize) -> Self {
        Self {
            mean: vec![0.0; channels],
            scale: vec![1.0; channels],
        }
    }

    /// Mean and 1/std (population std, computed in f64) per channel over row-major `values`
    /// with `channels` columns. A channel with std below 1e-12 (constant) gets scale 1.0.
    /// Non-finite values are left out; a channel with no finite values gets mean 0, scale 1.
    pub fn fit(values: &[f32], channels: usize) -> Self {
        if channels == 0 {
            return Self::identity(0);
        }
        let mut count = vec![0u64; channels];
        let mut sum = vec![0f64; channels];
        for row in values.chunks(channels) {
            for ((&x, n), s) in row.iter().zip(&mut count).zip(&mut sum) {
                if x.is_finite() {
                    *n += 1;
                    *s += f64::from(x);
                }
            }
        }
        let mean: Vec<f64> = sum
            .iter()
            .zip(&count)
            .map(|(&s, &n)| if n == 0 { 0.0 } else { s / n as f64 })
            .collect();
        let mut squares = vec![0f64; channels];
        for row in values.chunks(channels) {
            for ((&x, &m), sq) in row.iter().zip(&mean).zip(&mut squares) {
                if x.is_finite() {
                    let d = f64::from(x) - m;
                    *sq += d * d;
                }
            }
        }
        let scale = squares
            .iter()
            .zip(&count)
            .map(|(&sq, &n)| {
                let std = if n == 0 { 0.0 } else { (sq / n as f64).sqrt() };
                if std >= 1e-12 {
                    (1.0 / std) as f32
                } else {
                    1.0
                }
            })
            .collect();
        Self {
            mean: mean.iter().map(|&m| m as f32).collect(),
            scale,
        }
    }

    /// Normalises row-major `values` (any number of rows of `channels`, or of window*channels values: channel of
    /// element i is i % channels) in place.
    pub fn apply(&self, values: &mut [f32]) {
        let channels = self.mean.len();
        if channels == 0 {
            return;
        }
        for row in values.chunks_mut(channels) {
            for ((x, &m), &s) in row.iter_mut().zip(&self.mean).zip(&self.scale) {
                *x = (*x - m) * s;
            }
        }
    }

    /// Inverse of apply; a channel whose scale is 0 maps back to its mean.
    pub fn invert(&self, values: &mut [f32]) {
        let channels = self.mean.len();
        if channels == 0 {
            return;
        }
        for row in values.chunks_mut(channels) {
            for ((x, &m), &s) in row.iter_mut().zip(&self.mean).zip(&self.scale) {
                *x = if s == 0.0 { m } else { *x / s + m };
            }
        }
    }
}

/// True if every value lies in [0, 1] (data for a sigmoid output with binary cross-entropy).
/// NaN is not in range; an empty slice is.
pub fn is_unit_range(values: &[f32]) -> bool {
    values.iter().all(|v| (0.0..=1.0).contains(v))
}

/// The normalisation stored in a model.
pub fn normalizer(model: &Model<'_>) -> Normalizer {
    Normalizer {
        mean: model.input().mean.iter().collect(),
        scale: model.input().scale.iter().collect(),
    }
}
