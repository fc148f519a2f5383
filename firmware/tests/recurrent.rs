//! The recurrent kernel (LSTM, GRU) against a reference loop written here
//! from PyTorch's equations (SPEC.md 3.3, "Recurrent layers") in f64, with
//! f64 `exp` and `tanh`; then against the f32 order of operations that
//! SPEC.md states, bit for bit; then whole models through the engine: an
//! LSTM autoencoder (encoder, repeat vector as an upsampling, decoder,
//! time-distributed dense as a 1 × 1 convolution), its exact scratch, and
//! the golden file.
//!
//! Tolerance against f64: `|got − want| ≤ 1e-5 · max(|want|, 0.1)`, i.e.
//! 1e-5 relative for states of magnitude 0.1 and more, 1e-6 absolute
//! below (a hidden state passes through 0 as its sign changes, where a
//! relative error means nothing).

use firmware::ops::math::{sigmoid, tanh};
use firmware::ops::recurrent::{self, state_words};
use firmware::{Engine, Model, ScratchPlan, ScratchTooSmall};
use model_format::build::{InputBuf, LayerBuf, ModelBuf, f32_bytes};
use model_format::{Cell, F32s, MapDims, MapShape, RecurrentOp};
use proptest::prelude::*;

mod common;
use common::Rng;

/// A recurrent layer's sizes and values, as the tests hold them.
#[derive(Debug, Clone)]
struct Rnn {
    cell: Cell,
    steps: usize,
    inputs: usize,
    hidden: usize,
    sequences: bool,
    w_ih: Vec<f32>,
    w_hh: Vec<f32>,
    b_ih: Vec<f32>,
    b_hh: Vec<f32>,
}

impl Rnn {
    /// PyTorch's initialisation, uniform in ±1/√hidden
    /// ([`common::recurrent`]).
    fn random(
        cell: Cell,
        steps: usize,
        inputs: usize,
        hidden: usize,
        sequences: bool,
        seed: u64,
    ) -> Rnn {
        let layer = common::recurrent(cell, steps, inputs, hidden, sequences, &mut Rng::new(seed));
        let LayerBuf::Recurrent {
            w_ih,
            w_hh,
            b_ih,
            b_hh,
            ..
        } = layer
        else {
            unreachable!("common::recurrent builds a recurrent layer")
        };
        Rnn {
            cell,
            steps,
            inputs,
            hidden,
            sequences,
            w_ih,
            w_hh,
            b_ih,
            b_hh,
        }
    }

    fn out_len(&self) -> usize {
        self.hidden * if self.sequences { self.steps } else { 1 }
    }

    fn layer(&self) -> LayerBuf {
        LayerBuf::Recurrent {
            cell: self.cell,
            shape: MapShape::line(self.steps as u32, self.inputs as u32),
            hidden: self.hidden as u32,
            sequences: self.sequences,
            w_ih: self.w_ih.clone(),
            w_hh: self.w_hh.clone(),
            b_ih: self.b_ih.clone(),
            b_hh: self.b_hh.clone(),
        }
    }

    /// The layer's byte strings, which [`Rnn::op`] borrows.
    fn bytes(&self) -> [Vec<u8>; 4] {
        [
            f32_bytes(&self.w_ih),
            f32_bytes(&self.w_hh),
            f32_bytes(&self.b_ih),
            f32_bytes(&self.b_hh),
        ]
    }

    fn op<'a>(&self, bytes: &'a [Vec<u8>; 4]) -> RecurrentOp<'a> {
        RecurrentOp {
            cell: self.cell,
            input: MapDims {
                h: 1,
                w: self.steps,
                c: self.inputs,
            },
            output: MapDims {
                h: 1,
                w: if self.sequences { self.steps } else { 1 },
                c: self.hidden,
            },
            hidden: self.hidden,
            sequences: self.sequences,
            w_ih: F32s::new(&bytes[0]),
            w_hh: F32s::new(&bytes[1]),
            b_ih: F32s::new(&bytes[2]),
            b_hh: F32s::new(&bytes[3]),
        }
    }

    /// The kernel's output for `x`, in an output and a state of exactly
    /// the planned sizes (filled with NaN: nothing may be read unwritten).
    fn run(&self, x: &[f32]) -> Vec<f32> {
        let bytes = self.bytes();
        let op = self.op(&bytes);
        let mut y = vec![f32::NAN; self.out_len() + 2];
        let mut state = vec![f32::NAN; state_words(&op)];
        recurrent::run(&op, x, &mut y, &mut state);
        assert!(
            y[self.out_len()..].iter().all(|v| v.is_nan()),
            "wrote past the output"
        );
        y.truncate(self.out_len());
        y
    }

    /// PyTorch's equations in f64, from a zero state.
    fn reference(&self, x: &[f64]) -> Vec<f64> {
        let (n, hd) = (self.inputs, self.hidden);
        let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
        let w = |m: &[f32], r: usize, len: usize, v: &[f64]| -> f64 {
            (0..len).map(|k| f64::from(m[r * len + k]) * v[k]).sum()
        };
        let (mut h, mut c) = (vec![0.0f64; hd], vec![0.0f64; hd]);
        let mut out = Vec::new();
        for t in 0..self.steps {
            let xt = &x[t * n..(t + 1) * n];
            let mut next = vec![0.0; hd];
            for j in 0..hd {
                let bi = |k: usize| f64::from(self.b_ih[k * hd + j]);
                let wx = |k: usize| w(&self.w_ih, k * hd + j, n, xt);
                let wh = |k: usize| w(&self.w_hh, k * hd + j, hd, &h);
                match self.cell {
                    Cell::Lstm => {
                        let a = |k| wx(k) + bi(k) + wh(k);
                        let (i, f, g, o) = (sig(a(0)), sig(a(1)), a(2).tanh(), sig(a(3)));
                        c[j] = f * c[j] + i * g;
                        next[j] = o * c[j].tanh();
                    }
                    Cell::Gru => {
                        let bh = |k: usize| f64::from(self.b_hh[k * hd + j]);
                        let r = sig(wx(0) + bi(0) + wh(0) + bh(0));
                        let z = sig(wx(1) + bi(1) + wh(1) + bh(1));
                        let nn = (wx(2) + bi(2) + r * (wh(2) + bh(2))).tanh();
                        next[j] = (1.0 - z) * nn + z * h[j];
                    }
                }
            }
            h = next;
            if self.sequences || t + 1 == self.steps {
                out.extend_from_slice(&h);
            }
        }
        out
    }

    /// SPEC.md's order of f32 operations, written here from the spec with
    /// its own `dot8` (the firmware's `σ` and `tanh`, which SPEC.md names).
    fn spec_order(&self, x: &[f32]) -> Vec<f32> {
        let (n, hd) = (self.inputs, self.hidden);
        let row = |m: &[f32], r: usize, len: usize| m[r * len..(r + 1) * len].to_vec();
        let (mut h, mut c) = (vec![0.0f32; hd], vec![0.0f32; hd]);
        let mut out = Vec::new();
        for t in 0..self.steps {
            let xt = &x[t * n..(t + 1) * n];
            let mut next = vec![0.0f32; hd];
            for j in 0..hd {
                let r = |k: usize| k * hd + j;
                let xs = |k| self.b_ih[r(k)] + dot8(&row(&self.w_ih, r(k), n), xt);
                let hs = |k| dot8(&row(&self.w_hh, r(k), hd), &h);
                match self.cell {
                    Cell::Lstm => {
                        let a = |k| xs(k) + hs(k);
                        let (i, f, g, o) =
                            (sigmoid(a(0)), sigmoid(a(1)), tanh(a(2)), sigmoid(a(3)));
                        c[j] = f * c[j] + i * g;
                        next[j] = o * tanh(c[j]);
                    }
                    Cell::Gru => {
                        let hb = |k| self.b_hh[r(k)] + hs(k);
                        let reset = sigmoid(xs(0) + hb(0));
                        let update = sigmoid(xs(1) + hb(1));
                        let nn = tanh(xs(2) + reset * hb(2));
                        next[j] = (1.0 - update) * nn + update * h[j];
                    }
                }
            }
            h = next;
            if self.sequences || t + 1 == self.steps {
                out.extend_from_slice(&h);
            }
        }
        out
    }
}

/// SPEC.md's `dot8`: eight partial sums over the full blocks of eight, a
/// sequential tail, the partial sums halved pairwise, the tail last.
fn dot8(w: &[f32], x: &[f32]) -> f32 {
    let n = w.len();
    let full = n / 8 * 8;
    let mut acc = [0.0f32; 8];
    for b in (0..full).step_by(8) {
        for l in 0..8 {
            acc[l] += w[b + l] * x[b + l];
        }
    }
    let mut tail = 0.0f32;
    for k in full..n {
        tail += w[k] * x[k];
    }
    for l in 0..4 {
        acc[l] += acc[l + 4];
    }
    for l in 0..2 {
        acc[l] += acc[l + 2];
    }
    acc[0] += acc[1];
    acc[0] + tail
}

/// The largest `|got − want| / max(|want|, 0.1)`.
fn worst_error(got: &[f32], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    got.iter()
        .zip(want)
        .map(|(g, w)| (f64::from(*g) - w).abs() / w.abs().max(0.1))
        .fold(0.0, f64::max)
}

fn check_against_f64(rnn: &Rnn, seed: u64) -> f64 {
    let x = Rng::new(seed).values(rnn.steps * rnn.inputs, 2.0);
    let got = rnn.run(&x);
    let want = rnn.reference(&x.iter().map(|v| f64::from(*v)).collect::<Vec<_>>());
    let worst = worst_error(&got, &want);
    assert!(
        worst <= 1e-5,
        "{:?} {} -> {} over {} steps, sequences {}: worst error {worst:e}",
        rnn.cell,
        rnn.inputs,
        rnn.hidden,
        rnn.steps,
        rnn.sequences
    );
    // SPEC.md's order of operations gives the same bits.
    let spec: Vec<u32> = rnn.spec_order(&x).iter().map(|v| v.to_bits()).collect();
    let bits: Vec<u32> = got.iter().map(|v| v.to_bits()).collect();
    assert_eq!(bits, spec, "{:?}: the order SPEC.md states", rnn.cell);
    worst
}

#[test]
fn lstm_and_gru_over_200_steps_match_the_f64_reference() {
    let mut worst = [0.0f64; 2];
    for (k, cell) in [Cell::Lstm, Cell::Gru].into_iter().enumerate() {
        for sequences in [true, false] {
            for (inputs, hidden, seed) in [(3, 16, 1), (1, 5, 2), (9, 8, 3), (6, 33, 4)] {
                let rnn = Rnn::random(cell, 200, inputs, hidden, sequences, seed);
                worst[k] = worst[k].max(check_against_f64(&rnn, seed + 10));
            }
        }
    }
    // Measured: 7.8e-7 (LSTM) and 1.1e-6 (GRU).
    eprintln!("worst error: LSTM {:e}, GRU {:e}", worst[0], worst[1]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn any_recurrent_layer_matches_the_f64_reference(
        gru in any::<bool>(),
        sequences in any::<bool>(),
        steps in 1usize..40,
        inputs in 1usize..20,
        hidden in 1usize..20,
        seed in any::<u64>(),
    ) {
        let cell = if gru { Cell::Gru } else { Cell::Lstm };
        let rnn = Rnn::random(cell, steps, inputs, hidden, sequences, seed);
        check_against_f64(&rnn, seed ^ 0x55);
    }
}

#[test]
fn a_one_unit_lstm_by_hand() {
    // Gates i, f, g, o: w_ih = (0.5, −0.5, 1, 0.25), w_hh = (0.1, 0.2,
    // −0.3, 0.4), b = (0, 0.5, 0, −0.5); x = (1, −2).
    // Step 1, from h = c = 0: pre-activations (0.5, 0, 1, −0.25), so
    // c₁ = σ(0.5)·tanh(1) = 0.62245933·0.76159416 = 0.47406139 and
    // h₁ = σ(−0.25)·tanh(c₁) = 0.43782350·0.44147750 = 0.19328813.
    // Step 2: pre-activations (−1 + 0.1h₁, 1.5 + 0.2h₁, −2 − 0.3h₁,
    // −1 + 0.4h₁) = (−0.98067119, 1.53865763, −2.05798644, −0.92268475),
    // c₂ = σ(1.5387)·c₁ + σ(−0.9807)·tanh(−2.0580) = 0.12627629,
    // h₂ = σ(−0.9227)·tanh(c₂) = 0.03572470.
    let rnn = Rnn {
        cell: Cell::Lstm,
        steps: 2,
        inputs: 1,
        hidden: 1,
        sequences: true,
        w_ih: vec![0.5, -0.5, 1.0, 0.25],
        w_hh: vec![0.1, 0.2, -0.3, 0.4],
        b_ih: vec![0.0, 0.5, 0.0, -0.5],
        b_hh: vec![],
    };
    let y = rnn.run(&[1.0, -2.0]);
    let want = [0.193_288_126_505_991_5, 0.035_724_704_159_515_7];
    for (g, w) in y.iter().zip(want) {
        // A few units in the last place of f32.
        assert!((f64::from(*g) - w).abs() < 4e-7 * w, "{g} against {w}");
    }
    // The last step only: the same h₂.
    let last = Rnn {
        sequences: false,
        ..rnn
    };
    assert_eq!(last.run(&[1.0, -2.0]), [y[1]]);
}

#[test]
fn a_one_unit_gru_by_hand() {
    // Gates r, z, n: w_ih = (0.5, −1, 2), w_hh = (0.25, 0.5, −1),
    // b_ih = (0, 0.5, 0), b_hh = (0.5, 0, 0.25); x = (1, −1).
    // Step 1, from h = 0: r = σ(0.5 + 0.5) = 0.73105858,
    // z = σ(−1 + 0.5) = 0.37754067, n = tanh(2 + r·0.25) = 0.97490308,
    // h₁ = (1 − z)·n = 0.60683752.
    // Step 2: r = σ(−0.5 + 0.5 + 0.25h₁) = 0.53785477,
    // z = σ(1.5 + 0.5h₁) = 0.85856459, n = tanh(−2 + r·(0.25 − h₁))
    // = −0.97535315, h₂ = (1 − z)·n + z·h₁ = 0.38305973.
    let rnn = Rnn {
        cell: Cell::Gru,
        steps: 2,
        inputs: 1,
        hidden: 1,
        sequences: true,
        w_ih: vec![0.5, -1.0, 2.0],
        w_hh: vec![0.25, 0.5, -1.0],
        b_ih: vec![0.0, 0.5, 0.0],
        b_hh: vec![0.5, 0.0, 0.25],
    };
    let y = rnn.run(&[1.0, -1.0]);
    let want = [0.606_837_516_325_803_5, 0.383_059_728_529_112];
    for (g, w) in y.iter().zip(want) {
        // A few units in the last place of f32.
        assert!((f64::from(*g) - w).abs() < 4e-7 * w, "{g} against {w}");
    }
}

#[test]
fn zero_weights_give_the_closed_form() {
    // All pre-activations 0: an LSTM's i = f = o = 1/2 and g = 0, so it
    // stays at 0; a GRU's n = tanh(b_in) and h_t = (1 − 2^−t)·tanh(b_in).
    let mut lstm = Rnn::random(Cell::Lstm, 5, 2, 3, true, 9);
    lstm.w_ih.fill(0.0);
    lstm.w_hh.fill(0.0);
    lstm.b_ih.fill(0.0);
    assert!(lstm.run(&[1.0; 10]).iter().all(|v| *v == 0.0));
    let mut gru = Rnn::random(Cell::Gru, 3, 1, 1, true, 9);
    gru.w_ih.fill(0.0);
    gru.w_hh.fill(0.0);
    gru.b_ih = vec![0.0, 0.0, 0.5];
    gru.b_hh.fill(0.0);
    let n = tanh(0.5);
    let y = gru.run(&[3.0; 3]);
    let (h1, h2) = (0.5 * n, 0.5 * n + 0.5 * (0.5 * n));
    assert_eq!(y, [h1, h2, 0.5 * n + 0.5 * h2]);
    for (t, v) in y.iter().enumerate() {
        let closed = (1.0 - 0.5f64.powi(t as i32 + 1)) * f64::from(n);
        assert!((f64::from(*v) - closed).abs() < 1e-7);
    }
}

// --- whole models ------------------------------------------------------------

/// An autoencoder over `channels` × `window` with `cell`: encoder to
/// `codings` units (last step) → repeat vector (upsampling by `(1, window)`)
/// → decoder of `hidden` units (every step) → time-distributed dense (a
/// 1 × 1 convolution back to `channels`).
fn recurrent_autoencoder(
    cell: Cell,
    channels: usize,
    window: usize,
    codings: usize,
    hidden: usize,
    seed: u64,
) -> (ModelBuf, [Rnn; 2]) {
    let encoder = Rnn::random(cell, window, channels, codings, false, seed);
    let decoder = Rnn::random(cell, window, codings, hidden, true, seed + 1);
    let mut rng = Rng::new(seed + 2);
    let layers = vec![
        encoder.layer(),
        common::repeat(codings, window),
        decoder.layer(),
        common::time_distributed(window, hidden, channels, &mut rng),
    ];
    let def = ModelBuf {
        kind: model_format::ModelKind::Recurrent,
        layers,
        codings_layer: 0,
        ..ModelBuf::new(InputBuf::identity(
            channels as u32,
            window as u32,
            window as u32 / 2,
        ))
    };
    (def, [encoder, decoder])
}

/// The f64 forward pass of [`recurrent_autoencoder`]: the codings and the
/// reconstruction.
fn autoencoder64(def: &ModelBuf, rnns: &[Rnn; 2], x: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let codings = rnns[0].reference(x);
    let window = rnns[1].steps;
    let repeated: Vec<f64> = (0..window).flat_map(|_| codings.clone()).collect();
    let decoded = rnns[1].reference(&repeated);
    let LayerBuf::Conv {
        weights,
        bias,
        filters,
        ..
    } = &def.layers[3]
    else {
        unreachable!()
    };
    let (c, hd) = (*filters as usize, rnns[1].hidden);
    let y = decoded
        .chunks(hd)
        .flat_map(|h| {
            (0..c).map(move |f| {
                f64::from(bias[f])
                    + (0..hd)
                        .map(|k| f64::from(weights[f * hd + k]) * h[k])
                        .sum::<f64>()
            })
        })
        .collect();
    (codings, y)
}

/// Runs the autoencoder in exactly its planned scratch, filled with NaN,
/// against the f64 reference; returns the plan and the worst error.
fn check_autoencoder(def: &ModelBuf, rnns: &[Rnn; 2], seed: u64) -> (ScratchPlan, f64) {
    let bytes = def.encode().unwrap();
    let model = Model::load(&bytes).unwrap();
    assert_eq!(model.header().version, 8);
    let plan = ScratchPlan::for_model(&model);
    let mut scratch = vec![f32::NAN; plan.total()];
    let mut engine = Engine::new(&model, &mut scratch).unwrap();
    let x = Rng::new(seed).values(model.input_len(), 1.5);
    engine.input_mut().copy_from_slice(&x);
    let x64: Vec<f64> = x.iter().map(|v| f64::from(*v)).collect();
    let (codings, want) = autoencoder64(def, rnns, &x64);
    let (input, y) = engine.reconstruct();
    assert_eq!(input, &x[..]);
    // The 1 × 1 convolution sums `hidden` terms of magnitude ≤ 1: compare
    // its output with an absolute floor of 1, like the conv tests.
    let worst = y
        .iter()
        .zip(&want)
        .map(|(g, w)| (f64::from(*g) - w).abs() / w.abs().max(1.0))
        .fold(0.0, f64::max);
    assert!(worst <= 1e-5, "reconstruction: worst error {worst:e}");
    let got = engine.encode().to_vec();
    let coded = worst_error(&got, &codings);
    assert!(coded <= 1e-5, "codings: worst error {coded:e}");
    // Decoding the codings again gives the reconstruction, bit for bit.
    let again = engine.decode().to_vec();
    assert_eq!(again, engine.last_reconstruction().1);
    (plan, worst.max(coded))
}

/// The engine refuses one word less than the plan, and runs in the plan.
fn check_scratch_is_exact(def: &ModelBuf) {
    let bytes = def.encode().unwrap();
    let model = Model::load(&bytes).unwrap();
    let total = Engine::scratch_len(&model);
    let mut scratch = vec![0.0f32; total];
    assert_eq!(
        Engine::new(&model, &mut scratch[..total - 1]).unwrap_err(),
        ScratchTooSmall {
            needed: total,
            given: total - 1
        }
    );
    assert!(Engine::new(&model, &mut scratch).is_ok());
}

#[test]
fn an_lstm_autoencoder_runs_in_the_engine_in_its_exact_scratch() {
    // 3 channels x 64 steps → 8 codings → 64 x 16 → 64 x 3.
    let (def, rnns) = recurrent_autoencoder(Cell::Lstm, 3, 64, 8, 16, 21);
    let (plan, worst) = check_autoencoder(&def, &rnns, 22);
    // Even ops write 8 (the codings) and 64·16 values, odd ones 64·8 and
    // 64·3; the encoder keeps c and the previous h (2·8 words), the
    // decoder c only (16): the larger is reserved.
    assert_eq!(
        plan,
        ScratchPlan {
            input: 192,
            even: 1024,
            odd: 512,
            column: 0,
            state: 16
        }
    );
    assert_eq!(plan.bytes(), 6_976);
    check_scratch_is_exact(&def);
    let model_bytes = def.encode().unwrap();
    let model = Model::load(&model_bytes).unwrap();
    // 32·(3 + 8)·64 + 0 + 64·(8 + 16)·64 + 64·16·3.
    assert_eq!(model.macs(), 22_528 + 98_304 + 3_072);
    eprintln!("LSTM autoencoder: worst error {worst:e}");
}

#[test]
fn a_gru_autoencoder_runs_in_the_engine_in_its_exact_scratch() {
    let (def, rnns) = recurrent_autoencoder(Cell::Gru, 2, 50, 6, 10, 31);
    let (plan, worst) = check_autoencoder(&def, &rnns, 32);
    // A GRU keeps no cell state: the encoder's previous h only (6); the
    // decoder reads it from its own output.
    assert_eq!(
        plan,
        ScratchPlan {
            input: 100,
            even: 500,
            odd: 300,
            column: 0,
            state: 6
        }
    );
    check_scratch_is_exact(&def);
    eprintln!("GRU autoencoder: worst error {worst:e}");
}

#[test]
fn the_golden_recurrent_model_runs_as_the_reference_says() {
    // model-format/tests/data/recurrent_v5.eam: LSTM 2 → 3 (every step),
    // GRU 3 → 2 (last step, the codings), upsampling by 4.
    let bytes = include_bytes!("../../model-format/tests/data/recurrent_v5.eam");
    let model = Model::load(bytes).unwrap();
    let def = ModelBuf::from_model(&model);
    let rnn = |k: usize| {
        let LayerBuf::Recurrent {
            cell,
            shape,
            hidden,
            sequences,
            w_ih,
            w_hh,
            b_ih,
            b_hh,
        } = def.layers[k].clone()
        else {
            panic!("layer {k} is recurrent")
        };
        Rnn {
            cell,
            steps: shape.w as usize,
            inputs: shape.c as usize,
            hidden: hidden as usize,
            sequences,
            w_ih,
            w_hh,
            b_ih,
            b_hh,
        }
    };
    let (lstm, gru) = (rnn(0), rnn(1));
    let plan = ScratchPlan::for_model(&model);
    // Outputs 12 (even), 2 (odd), 8 (even); LSTM c (3), GRU previous h (2).
    assert_eq!(
        plan,
        ScratchPlan {
            input: 8,
            even: 12,
            odd: 2,
            column: 0,
            state: 3
        }
    );
    let mut scratch = vec![f32::NAN; plan.total()];
    let mut engine = Engine::new(&model, &mut scratch).unwrap();
    let x = [1.0, -1.0, 0.5, 0.25, -0.5, 2.0, 0.0, -1.5];
    engine.input_mut().copy_from_slice(&x);
    let x64: Vec<f64> = x.iter().map(|v| f64::from(*v)).collect();
    let codings = gru.reference(&lstm.reference(&x64));
    let got = engine.encode().to_vec();
    assert!(
        worst_error(&got, &codings) <= 1e-6,
        "{got:?} against {codings:?}"
    );
    let spec = gru.spec_order(&lstm.spec_order(&x));
    assert_eq!(got, spec);
    let (_, y) = engine.reconstruct();
    assert_eq!(y, [got.clone(), got.clone(), got.clone(), got].concat());
}

#[test]
fn the_streaming_scorer_runs_a_recurrent_model() {
    use firmware::Stream;
    let (def, _) = recurrent_autoencoder(Cell::Lstm, 3, 32, 4, 8, 41);
    let bytes = def.encode().unwrap();
    let model = Model::load(&bytes).unwrap();
    let mut scratch = vec![0.0f32; Stream::scratch_len(&model)];
    let mut stream = Stream::new(&model, &mut scratch).unwrap();
    let samples = Rng::new(42).values(3 * (32 + 16 * 3), 1.0);
    let mut scores = Vec::new();
    stream.push_samples(&samples, |e| {
        if let firmware::Event::Window(w) = e {
            scores.push(w.score);
        }
    });
    assert_eq!(scores.len(), 4);
    // Each score is the MSE of the engine's reconstruction of that window.
    let mut es = vec![0.0f32; Engine::scratch_len(&model)];
    let mut engine = Engine::new(&model, &mut es).unwrap();
    for (k, score) in scores.iter().enumerate() {
        let window = &samples[k * 16 * 3..][..32 * 3];
        engine.input_mut().copy_from_slice(window);
        let (x, y) = engine.reconstruct();
        let mse = firmware::scoring::window_error(&model_format::Metric::Mse, 3, x, y);
        assert_eq!(*score, mse, "window {k}");
    }
}

/// Whatever recurrent model `Model::load` accepts runs in the engine
/// without a panic: the golden file mutated (body bytes changed, CRC
/// fixed), as the fuzz target does.
fn run_if_valid(mut bytes: Vec<u8>) {
    let body_len = (bytes.len() - 16) as u32;
    bytes[8..12].copy_from_slice(&body_len.to_le_bytes());
    let crc = model_format::crc32(&bytes[16..]);
    bytes[12..16].copy_from_slice(&crc.to_le_bytes());
    let Ok(model) = Model::load(&bytes) else {
        return;
    };
    let need = Engine::scratch_len(&model);
    if need > 1 << 16 || model.macs() > 1 << 22 {
        return;
    }
    let mut scratch = vec![0.0f32; need];
    let mut engine = Engine::new(&model, &mut scratch).unwrap();
    engine.input_mut().fill(0.5);
    let _ = engine.reconstruct();
    let _ = engine.encode();
    let _ = engine.decode();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn mutated_recurrent_models_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let golden = include_bytes!("../../model-format/tests/data/recurrent_v5.eam");
        let mut bytes = golden.to_vec();
        for (at, value) in edits {
            let i = 16 + at.index(bytes.len() - 16);
            bytes[i] = value;
        }
        run_if_valid(bytes);
    }
}
