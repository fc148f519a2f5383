//! What the firmware's integration tests share: a small deterministic
//! generator of test values and the recurrent model builders.
#![allow(dead_code)] // each test crate uses its own part

use model_format::build::{InputBuf, LayerBuf, ModelBuf, ScoringBuf};
use model_format::{Activation, Cell, MapShape, ModelKind, Padding};

/// xorshift64, seeded: the same values on every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in [-a, a).
    pub fn f32(&mut self, a: f32) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * a
    }

    pub fn values(&mut self, n: usize, a: f32) -> Vec<f32> {
        (0..n).map(|_| self.f32(a)).collect()
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// A recurrent layer over `steps` steps of `inputs` values, PyTorch's
/// initialisation (uniform in ±1/√hidden) drawn from `rng`.
pub fn recurrent(
    cell: Cell,
    steps: usize,
    inputs: usize,
    hidden: usize,
    sequences: bool,
    rng: &mut Rng,
) -> LayerBuf {
    let rows = cell.gates() * hidden;
    let a = 1.0 / (hidden as f32).sqrt();
    LayerBuf::Recurrent {
        cell,
        shape: MapShape::line(steps as u32, inputs as u32),
        hidden: hidden as u32,
        sequences,
        w_ih: rng.values(rows * inputs, a),
        w_hh: rng.values(rows * hidden, a),
        b_ih: rng.values(rows, a),
        b_hh: match cell {
            Cell::Lstm => vec![],
            Cell::Gru => rng.values(rows, a),
        },
    }
}

/// The repeat vector of a recurrent decoder: the codings once per step
/// (an upsampling by `(1, window)`).
pub fn repeat(codings: usize, window: usize) -> LayerBuf {
    LayerBuf::Upsample {
        shape: MapShape::line(1, codings as u32),
        factor: [1, window as u32],
    }
}

/// A time-distributed dense layer from `hidden` to `channels` values per
/// step (a 1 × 1 convolution), weights from `rng`.
pub fn time_distributed(window: usize, hidden: usize, channels: usize, rng: &mut Rng) -> LayerBuf {
    LayerBuf::Conv {
        shape: MapShape::line(window as u32, hidden as u32),
        filters: channels as u32,
        kernel: [1, 1],
        stride: [1, 1],
        padding: Padding::Valid,
        activation: Activation::Identity,
        weights: rng.values(channels * hidden, 1.0 / (hidden as f32).sqrt()),
        bias: rng.values(channels, 0.1),
    }
}

/// Encoder: LSTM `channels → h1` (every step), `cell` `h1 → codings` (last
/// step, the codings); decoder: repeat vector (upsampling by `(1,
/// window)`), `cell` `codings → h2` (every step), time-distributed dense
/// (a 1 × 1 convolution back to `channels`). Normalisation and scoring are
/// not the identity.
#[allow(clippy::too_many_arguments)]
pub fn autoencoder(
    cell: Cell,
    channels: usize,
    window: usize,
    hop: usize,
    h1: usize,
    codings: usize,
    h2: usize,
    seed: u64,
) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let layers = vec![
        recurrent(Cell::Lstm, window, channels, h1, true, &mut rng),
        recurrent(cell, window, h1, codings, false, &mut rng),
        repeat(codings, window),
        recurrent(cell, window, codings, h2, true, &mut rng),
        time_distributed(window, h2, channels, &mut rng),
    ];
    let mean = rng.values(channels, 1.0);
    let scale = (0..channels).map(|_| 1.5 + rng.f32(1.0)).collect();
    ModelBuf {
        kind: ModelKind::Recurrent,
        layers,
        codings_layer: 1,
        scoring: ScoringBuf {
            threshold: 0.5,
            clear_threshold: 0.3,
            smoothing: 0.5,
            ..ScoringBuf::default()
        },
        ..ModelBuf::new(InputBuf {
            mean,
            scale,
            ..InputBuf::identity(channels as u32, window as u32, hop as u32)
        })
    }
    .encode()
    .unwrap()
}
