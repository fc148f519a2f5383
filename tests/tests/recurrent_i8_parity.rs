//! int8 recurrent parity: `firmware::Engine` against
//! `e2e::int8_ref::recurrent`, the independent reference written from
//! SPEC.md 3.3 ("int8 recurrent layers"), bit for bit.
//!
//! - 200 random small models (`MODELS`): LSTM and GRU layers, random
//!   sizes (1..=6 channels, 1..=12 steps, 1..=9 hidden units, so rows of
//!   whole blocks of four and with tails), random weights, exponents,
//!   biases, gate multipliers (some saturating the Q3.12 pre-activations),
//!   state shifts and quantizations; sequence to sequence, and sequence to
//!   vector followed by an int8 repeat (upsampling) and a decoder;
//!   reconstruct, encode and decode, several inputs each;
//! - mutations: each deliberate bug of `Mutation::RECURRENT` (rounding,
//!   table interpolation, cell shift, saturation, gate order) disagrees
//!   with the firmware on the same models and inputs;
//! - the golden file `recurrent_i8_v6.eam`;
//! - the scratch plan is exactly what `Engine::new` needs;
//! - a `Stream` over an int8 recurrent encoder stays on the windowed path.

use e2e::Rng;
use e2e::int8_ref::{self, Mutation, Part};
use firmware::{Engine, ScratchTooSmall};
use model_format::build::{InputBuf, LayerBuf, ModelBuf, ProvenanceBuf, ScoringBuf};
use model_format::{Cell, MapShape, Model, ModelKind, Quant, Requant};

/// Random models checked.
const MODELS: u64 = 200;
/// Inputs per model.
const INPUTS: u64 = 4;

fn int(rng: &mut Rng, lo: i64, hi: i64) -> i64 {
    lo + (rng.next_u64() % (hi - lo + 1) as u64) as i64
}

/// `m` as `multiplier · 2^(shift − 31)`, the multiplier in `[2^30, 2^31)`.
fn requant_of(m: f64) -> Requant {
    let mut shift = m.log2().floor() as i32 + 1;
    let mut mult = (m / 2f64.powi(shift - 31)).round() as i64;
    if mult >= 1 << 31 {
        mult /= 2;
        shift += 1;
    }
    Requant {
        multiplier: mult as i32,
        shift: shift as i8,
    }
}

fn quant(rng: &mut Rng) -> Quant {
    Quant {
        scale: 2f32.powf(rng.uniform(-7.0, 0.0)),
        zero_point: int(rng, -40, 40) as i8,
    }
}

/// A random int8 recurrent layer `inputs → hidden` over `steps` steps.
fn layer(
    rng: &mut Rng,
    cell: Cell,
    (steps, inputs, hidden): (u32, u32, u32),
    sequences: bool,
    (input, output): (Quant, Quant),
) -> LayerBuf {
    let rows = cell.gates() * hidden as usize;
    let weight = |rng: &mut Rng| {
        if int(rng, 0, 15) == 0 {
            [-127, 127][int(rng, 0, 1) as usize]
        } else {
            int(rng, -127, 127) as i8
        }
    };
    let w_ih = (0..rows * inputs as usize).map(|_| weight(rng)).collect();
    let w_hh = (0..rows * hidden as usize).map(|_| weight(rng)).collect();
    let flat = int(rng, 0, 3) == 0;
    let exps = |rng: &mut Rng| -> Vec<u8> {
        (0..rows)
            .map(|_| if flat { 0 } else { int(rng, 0, 3) as u8 })
            .collect()
    };
    let exponents_ih = exps(rng);
    let exponents_hh = exps(rng);
    // Gate multipliers around what brings a typical sum (~5400·√n) to a
    // few units of Q3.12, spread by 2^±3 so some saturate and some vanish.
    let gate = |rng: &mut Rng, n: u32| {
        let typical = 1.5 / f64::from(n).sqrt();
        requant_of(typical * 2f64.powf(f64::from(rng.uniform(-3.0, 3.0))))
    };
    let unused = Requant {
        multiplier: 0,
        shift: 0,
    };
    let mut gates_ih = [unused; 4];
    let mut gates_hh = [unused; 4];
    for k in 0..cell.gates() {
        gates_ih[k] = gate(rng, inputs);
        gates_hh[k] = gate(rng, hidden);
    }
    let bias = |rng: &mut Rng| -> Vec<i32> {
        let span = [0, 500, 20_000][int(rng, 0, 2) as usize];
        (0..rows).map(|_| int(rng, -span, span) as i32).collect()
    };
    let b_ih = bias(rng);
    let (state_shift, q_state) = match cell {
        Cell::Lstm => (int(rng, -15, -8) as i8, -30),
        Cell::Gru => (-15, -15),
    };
    let b_hh = if cell == Cell::Gru { bias(rng) } else { vec![] };
    LayerBuf::RecurrentI8 {
        cell,
        shape: MapShape::line(steps, inputs),
        hidden,
        sequences,
        input,
        output,
        state_shift,
        gates_ih,
        gates_hh,
        hidden_requant: requant_of(2f64.powi(q_state) / f64::from(output.scale)),
        w_ih,
        exponents_ih,
        w_hh,
        exponents_hh,
        b_ih,
        b_hh,
    }
}

fn cell(rng: &mut Rng) -> Cell {
    if int(rng, 0, 1) == 0 {
        Cell::Lstm
    } else {
        Cell::Gru
    }
}

/// A random model: a recurrent encoder (every step out, or the last one
/// then an int8 repeat over the window) and a recurrent decoder back to
/// the channels.
fn random_model(seed: u64) -> ModelBuf {
    let mut rng = Rng(seed);
    let rng = &mut rng;
    let channels = int(rng, 1, 6) as u32;
    let window = int(rng, 1, 12) as u32;
    let hidden = int(rng, 1, 9) as u32;
    let sequences = int(rng, 0, 1) == 0;
    let (q_in, q_mid, q_out) = (quant(rng), quant(rng), quant(rng));
    let (first, second) = (cell(rng), cell(rng));
    let encoder = layer(
        rng,
        first,
        (window, channels, hidden),
        sequences,
        (q_in, q_mid),
    );
    let mut layers = vec![encoder];
    if !sequences {
        layers.push(LayerBuf::UpsampleI8 {
            shape: MapShape::line(1, hidden),
            factor: [1, window],
            quant: q_mid,
        });
    }
    layers.push(layer(
        rng,
        second,
        (window, hidden, channels),
        true,
        (q_mid, q_out),
    ));
    ModelBuf {
        kind: ModelKind::Recurrent,
        input: InputBuf::identity(channels, window, 1),
        layers,
        codings_layer: 0,
        scoring: ScoringBuf::default(),
        provenance: ProvenanceBuf {
            seed,
            ..ProvenanceBuf::default()
        },
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// The engine's reconstruction, codings and decoding of `codings`, from a
/// scratch buffer of random bits.
fn engine(model: &Model<'_>, input: &[f32], codings: &[f32], seed: u64) -> [Vec<u32>; 3] {
    let mut rng = Rng(seed ^ 0x5eed);
    let mut scratch: Vec<f32> = (0..Engine::scratch_len(model))
        .map(|_| f32::from_bits(rng.next_u64() as u32))
        .collect();
    let mut engine = Engine::new(model, &mut scratch).expect("scratch_len words are enough");
    engine.input_mut().copy_from_slice(input);
    let reconstruction = bits(engine.reconstruct().1);
    let encoded = bits(engine.encode());
    engine.codings_mut().copy_from_slice(codings);
    let decoded = bits(engine.decode());
    [reconstruction, encoded, decoded]
}

fn reference(model: &Model<'_>, input: &[f32], codings: &[f32], m: Mutation) -> [Vec<u32>; 3] {
    let part = |part, x: &[f32]| {
        let want = int8_ref::expected(model, part, x, m).expect("all int8: no f32 sum");
        assert!(want.is_exact());
        bits(&want.values)
    };
    [
        part(Part::Reconstruct, input),
        part(Part::Encode, input),
        part(Part::Decode, codings),
    ]
}

/// The inputs of model `seed`: normalised windows over several scales
/// (some far past the input quantization's range) and codings.
fn inputs(model: &Model<'_>, seed: u64) -> Vec<(Vec<f32>, Vec<f32>)> {
    let mut rng = Rng(seed ^ 0x1234);
    (0..INPUTS)
        .map(|i| {
            let scale = [0.5, 2.0, 8.0, 200.0][i as usize % 4];
            (
                rng.vec(model.input_len(), scale),
                rng.vec(model.codings_len(), scale),
            )
        })
        .collect()
}

#[test]
fn random_models_match_the_reference_bit_for_bit() {
    let (mut lstm, mut gru, mut last_only) = (0, 0, 0);
    for seed in 0..MODELS {
        let buf = random_model(seed);
        let bytes = buf.encode().expect("a valid model");
        let model = Model::load(&bytes).expect("it loads");
        for layer in &buf.layers {
            if let LayerBuf::RecurrentI8 {
                cell, sequences, ..
            } = layer
            {
                lstm += usize::from(*cell == Cell::Lstm);
                gru += usize::from(*cell == Cell::Gru);
                last_only += usize::from(!sequences);
            }
        }
        for (input, codings) in inputs(&model, seed) {
            assert_eq!(
                engine(&model, &input, &codings, seed),
                reference(&model, &input, &codings, Mutation::None),
                "model {seed}: {buf:?}"
            );
        }
    }
    // Both cells and both output modes are well covered.
    assert!(
        lstm > 150 && gru > 150 && last_only > 60,
        "{lstm} {gru} {last_only}"
    );
}

#[test]
fn every_recurrent_mutation_is_caught() {
    for mutation in Mutation::RECURRENT {
        let caught = (0..MODELS).find(|seed| {
            let bytes = random_model(*seed).encode().expect("a valid model");
            let model = Model::load(&bytes).expect("it loads");
            inputs(&model, *seed).iter().any(|(input, codings)| {
                engine(&model, input, codings, *seed) != reference(&model, input, codings, mutation)
            })
        });
        assert!(caught.is_some(), "{mutation:?} goes unnoticed");
    }
}

#[test]
fn the_golden_file_matches_the_reference() {
    let bytes = include_bytes!("../../model-format/tests/data/recurrent_i8_v6.eam");
    let model = Model::load(bytes).expect("the golden file loads");
    let mut codings_seen = Vec::new();
    for (input, codings) in inputs(&model, 6) {
        let got = engine(&model, &input, &codings, 6);
        assert_eq!(got, reference(&model, &input, &codings, Mutation::None));
        codings_seen.push(got[1].clone());
    }
    // The codings depend on the input: the layers do compute.
    assert!(codings_seen.iter().any(|c| *c != codings_seen[0]));
}

#[test]
fn the_scratch_plan_is_exactly_enough() {
    for seed in 0..20 {
        let bytes = random_model(seed).encode().expect("a valid model");
        let model = Model::load(&bytes).expect("it loads");
        let len = Engine::scratch_len(&model);
        let mut short = vec![0.0f32; len - 1];
        assert!(matches!(
            Engine::new(&model, &mut short),
            Err(ScratchTooSmall { .. })
        ));
        let mut exact = vec![0.0f32; len];
        assert!(Engine::new(&model, &mut exact).is_ok());
    }
}

#[test]
fn a_stream_over_an_int8_recurrent_encoder_stays_windowed() {
    // The golden model's encoder is int8 recurrent layers only, of the
    // shape the f32 streaming encoder takes; the stream still scores on
    // the windowed path, with no in-flight states.
    let bytes = include_bytes!("../../model-format/tests/data/recurrent_i8_v6.eam");
    let model = Model::load(bytes).expect("the golden file loads");
    assert!(!firmware::Stream::costs(&model).streaming);
    assert_eq!(
        firmware::Stream::scratch_len(&model),
        firmware::Stream::windowed_scratch_len(&model)
    );
    let mut scratch = vec![0.0f32; firmware::Stream::scratch_len(&model)];
    let stream = firmware::Stream::new(&model, &mut scratch).expect("enough scratch");
    assert!(!stream.is_streaming());
}
