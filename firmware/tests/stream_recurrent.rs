//! The streaming recurrent encoder (`firmware::streaming`) against the
//! windowed path: for LSTM and GRU autoencoders and several (window, hop)
//! pairs, every event (faults, scores, verdicts) is the same bit for bit,
//! under any chunking, with bad samples mid-stream; a model that does not
//! qualify runs as before; the scratch is exact; the costs are the
//! hand-computed ones.

use firmware::stream::WindowReport;
use firmware::{Engine, Event, Model, ScratchTooSmall, Stream, StreamCosts};
use model_format::build::{InputBuf, LayerBuf, ModelBuf};
use model_format::{Activation, Cell, ModelKind};
use proptest::prelude::*;

mod common;
use common::{Rng, autoencoder, recurrent};

/// A dense encoder over the same input: does not qualify.
fn dense_autoencoder(channels: usize, window: usize, hop: usize) -> Vec<u8> {
    let n = (channels * window) as u32;
    let mut rng = Rng::new(7);
    ModelBuf {
        kind: ModelKind::Stacked,
        layers: vec![
            LayerBuf::Dense {
                inputs: n,
                outputs: 4,
                activation: Activation::Tanh,
                weights: rng.values((n * 4) as usize, 0.3),
                bias: rng.values(4, 0.1),
            },
            LayerBuf::Dense {
                inputs: 4,
                outputs: n,
                activation: Activation::Identity,
                weights: rng.values((n * 4) as usize, 0.3),
                bias: rng.values(n as usize, 0.1),
            },
        ],
        ..ModelBuf::new(InputBuf::identity(
            channels as u32,
            window as u32,
            hop as u32,
        ))
    }
    .encode()
    .unwrap()
}

/// An event with its floats as bits, so NaN compares equal to itself and
/// "equal" means bit for bit.
fn key(e: &Event) -> String {
    match e {
        Event::Fault(f) => format!("{f:?}"),
        Event::Window(WindowReport {
            start,
            end,
            score,
            verdict,
            fault,
        }) => format!(
            "window {start}..{end} score {:#x} smoothed {:#x} alarm {} {:?} {fault:?}",
            score.to_bits(),
            verdict.smoothed.to_bits(),
            verdict.alarm,
            verdict.change
        ),
    }
}

/// Samples of `frames` frames, with a NaN at `nan` (sample index) and an
/// infinity at `inf`.
fn samples(channels: usize, frames: usize, seed: u64, bad: &[(usize, f32)]) -> Vec<f32> {
    let mut x = Rng::new(seed).values(channels * frames, 2.0);
    for &(i, v) in bad {
        x[i] = v;
    }
    x
}

/// Events of `stream` over `x`, fed in chunks of random sizes (1 to
/// `max_chunk` samples; frame by frame when `max_chunk` is 0).
fn run(stream: &mut Stream<'_, '_>, x: &[f32], max_chunk: usize, seed: u64) -> Vec<String> {
    let mut events = Vec::new();
    let mut rng = Rng::new(seed);
    let channels = stream.model().input().channels as usize;
    let mut at = 0;
    while at < x.len() {
        let n = if max_chunk == 0 {
            channels
        } else {
            1 + rng.below(max_chunk)
        };
        let end = (at + n).min(x.len());
        stream.push_samples(&x[at..end], |e| events.push(key(&e)));
        at = end;
    }
    events
}

/// Streaming against windowed on one model, several chunkings, with bad
/// samples; returns the number of scored windows.
fn check_bitwise(bytes: &[u8], frames: usize, seed: u64) -> usize {
    let model = Model::load(bytes).unwrap();
    let channels = model.input().channels as usize;
    let bad = [
        (channels * (frames / 3) + 1, f32::NAN),
        (channels * (frames / 2), f32::INFINITY),
    ];
    let x = samples(channels, frames, seed, &bad);
    let mut ws = vec![f32::NAN; Stream::windowed_scratch_len(&model)];
    let mut windowed = Stream::windowed(&model, &mut ws).unwrap();
    assert!(!windowed.is_streaming());
    let want = run(&mut windowed, &x, 0, 0);
    let scored = want
        .iter()
        .filter(|e| e.starts_with("window") && e.ends_with(" None"))
        .count();
    let faulted = want.iter().filter(|e| e.contains("BadSample")).count();
    assert!(scored > 3 && faulted > 0, "{want:#?}");
    for (k, max_chunk) in [0usize, 1, 5, 2 * channels + 1, 97].into_iter().enumerate() {
        // Scratch of exactly the planned size, filled with NaN.
        let mut ss = vec![f32::NAN; Stream::scratch_len(&model)];
        let mut streaming = Stream::new(&model, &mut ss).unwrap();
        assert!(streaming.is_streaming());
        let got = run(&mut streaming, &x, max_chunk, k as u64 + 1);
        assert_eq!(got, want, "chunks of up to {max_chunk} samples");
        // After a reset, again the same.
        streaming.reset();
        let again = run(&mut streaming, &x, max_chunk, k as u64 + 11);
        assert_eq!(again, want, "after a reset");
    }
    scored
}

#[test]
fn streaming_scores_are_the_windowed_ones_bit_for_bit() {
    // (window, hop): hop = window, hop dividing it, not dividing it, 1,
    // and a hop longer than the window.
    let pairs = [(8, 8), (12, 4), (10, 3), (7, 1), (9, 4), (6, 9)];
    for cell in [Cell::Lstm, Cell::Gru] {
        for (i, &(window, hop)) in pairs.iter().enumerate() {
            let bytes = autoencoder(cell, 3, window, hop, 5, 4, 6, 100 + i as u64);
            let frames = window + 12 * hop + 5;
            let scored = check_bitwise(&bytes, frames, 200 + i as u64);
            eprintln!("{cell:?} window {window} hop {hop}: {scored} windows scored");
        }
    }
}

#[test]
fn a_streaming_score_is_the_engine_on_that_window() {
    let bytes = autoencoder(Cell::Gru, 2, 10, 3, 4, 3, 5, 9);
    let model = Model::load(&bytes).unwrap();
    let x = samples(2, 40, 3, &[]);
    let mut ss = vec![0.0f32; Stream::scratch_len(&model)];
    let mut stream = Stream::new(&model, &mut ss).unwrap();
    let mut es = vec![0.0f32; Engine::scratch_len(&model)];
    let mut engine = Engine::new(&model, &mut es).unwrap();
    let input = model.input();
    let mut n = 0;
    for (f, frame) in x.chunks(2).enumerate() {
        let Some(w) = stream.push_frame(frame).unwrap().window else {
            continue;
        };
        assert_eq!(w.end, f as u64 + 1);
        let window = &x[w.start as usize * 2..w.end as usize * 2];
        for (i, (slot, v)) in engine.input_mut().iter_mut().zip(window).enumerate() {
            *slot = (v - input.mean.get(i % 2).unwrap()) * input.scale.get(i % 2).unwrap();
        }
        let (_, y) = engine.reconstruct();
        let y = y.to_vec();
        assert_eq!(stream.last_window().0, engine.input());
        assert_eq!(stream.last_window().1, &y[..], "window {}", w.start);
        let codings = engine.encode().to_vec();
        assert_eq!(stream.encode_last(), &codings[..]);
        n += 1;
    }
    assert_eq!(n, 11);
}

#[test]
fn a_dense_encoder_runs_as_before() {
    let bytes = dense_autoencoder(3, 8, 3);
    let model = Model::load(&bytes).unwrap();
    assert_eq!(
        Stream::scratch_len(&model),
        Stream::windowed_scratch_len(&model)
    );
    let costs = Stream::costs(&model);
    assert_eq!(
        costs,
        StreamCosts {
            streaming: false,
            in_flight: 0,
            window_end_windowed: model.macs(),
            window_end: model.macs(),
            encoder_step: 0,
            frame_max: 0,
            encoder_per_window: 0,
        }
    );
    let x = samples(3, 40, 5, &[(31, f32::NAN)]);
    let mut a = vec![0.0f32; Stream::scratch_len(&model)];
    let mut stream = Stream::new(&model, &mut a).unwrap();
    assert!(!stream.is_streaming());
    let got = run(&mut stream, &x, 7, 1);
    let mut b = vec![0.0f32; Stream::windowed_scratch_len(&model)];
    let mut windowed = Stream::windowed(&model, &mut b).unwrap();
    assert_eq!(got, run(&mut windowed, &x, 0, 0));
}

#[test]
fn a_recurrent_encoder_with_a_sequence_codings_layer_does_not_stream() {
    // The codings are every step's state (no sequence-to-vector layer).
    let mut rng = Rng::new(3);
    let bytes = ModelBuf {
        kind: ModelKind::Recurrent,
        layers: vec![
            recurrent(Cell::Gru, 6, 2, 3, true, &mut rng),
            recurrent(Cell::Gru, 6, 3, 2, true, &mut rng),
        ],
        codings_layer: 0,
        ..ModelBuf::new(InputBuf::identity(2, 6, 2))
    }
    .encode()
    .unwrap();
    let model = Model::load(&bytes).unwrap();
    assert!(!Stream::costs(&model).streaming);
    let mut a = vec![0.0f32; Stream::scratch_len(&model)];
    assert_eq!(a.len(), Stream::windowed_scratch_len(&model));
    assert!(!Stream::new(&model, &mut a).unwrap().is_streaming());
}

#[test]
fn the_scratch_is_exact() {
    for cell in [Cell::Lstm, Cell::Gru] {
        let bytes = autoencoder(cell, 3, 10, 3, 5, 4, 6, 1);
        let model = Model::load(&bytes).unwrap();
        let need = Stream::scratch_len(&model);
        // 4 windows in flight; per window: LSTM 5 (c, h) and the second
        // layer (c, h for an LSTM, h for a GRU); a step buffer of 5.
        let per_slot = 10 + if cell == Cell::Lstm { 8 } else { 4 };
        assert_eq!(
            need - Stream::windowed_scratch_len(&model),
            4 * per_slot + 5
        );
        let mut scratch = vec![0.0f32; need];
        assert_eq!(
            Stream::new(&model, &mut scratch[..need - 1]).unwrap_err(),
            ScratchTooSmall {
                needed: need,
                given: need - 1
            }
        );
        assert!(Stream::new(&model, &mut scratch).is_ok());
        let windowed = Stream::windowed_scratch_len(&model);
        assert_eq!(
            Stream::windowed(&model, &mut scratch[..windowed - 1]).unwrap_err(),
            ScratchTooSmall {
                needed: windowed,
                given: windowed - 1
            }
        );
        assert!(Stream::windowed(&model, &mut scratch[..windowed]).is_ok());
    }
}

#[test]
fn costs_of_the_example_model() {
    // Window 64, hop 16, 3 channels; encoder LSTM 32 (every step) → LSTM
    // 16 (last step); decoder: repeat, LSTM 32 (every step), 1 × 1 conv
    // back to 3 channels.
    let bytes = autoencoder(Cell::Lstm, 3, 64, 16, 32, 16, 32, 5);
    let model = Model::load(&bytes).unwrap();
    // One step: 4·32·(3 + 32) + 4·16·(32 + 16) = 4_480 + 3_072.
    let step = 4_480 + 3_072;
    // Decoder: 4·32·(16 + 32)·64 + 64·32·3 (the upsampling has none).
    let decoder = 393_216 + 6_144;
    let costs = Stream::costs(&model);
    assert_eq!(
        costs,
        StreamCosts {
            streaming: true,
            in_flight: 4,
            window_end_windowed: 64 * step + decoder,
            window_end: decoder,
            encoder_step: step,
            frame_max: 4 * step,
            encoder_per_window: 64 * step,
        }
    );
    assert_eq!(costs.window_end_windowed, 882_688);
    assert_eq!(costs.window_end, 399_360);
    assert_eq!(costs.frame_max, 30_208);
    assert_eq!(costs.encoder_per_window, 483_328);
    assert_eq!(model.macs(), costs.window_end_windowed);
    // In-flight states: 4 windows × (32 + 32 + 16 + 16) words, and a step
    // buffer of 32.
    assert_eq!(
        Stream::scratch_len(&model) - Stream::windowed_scratch_len(&model),
        4 * 96 + 32
    );
    // And it scores as the windowed path does.
    check_bitwise(&bytes, 64 + 16 * 12, 77);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any small (window, hop), either cell, any chunking, a bad sample
    /// anywhere: the events are the windowed ones, bit for bit.
    #[test]
    fn any_window_hop_and_chunking_stream_bit_for_bit(
        gru in any::<bool>(),
        window in 2usize..12,
        hop in 1usize..14,
        max_chunk in 0usize..9,
        bad in 0usize..200,
        seed in 0u64..1000,
    ) {
        let cell = if gru { Cell::Gru } else { Cell::Lstm };
        let bytes = autoencoder(cell, 2, window, hop, 3, 2, 3, seed);
        let model = Model::load(&bytes).unwrap();
        let frames = window + 6 * hop + 3;
        let x = samples(2, frames, seed + 1, &[(bad % (2 * frames), f32::NAN)]);
        let mut ws = vec![f32::NAN; Stream::windowed_scratch_len(&model)];
        let want = run(&mut Stream::windowed(&model, &mut ws).unwrap(), &x, 0, 0);
        let mut ss = vec![f32::NAN; Stream::scratch_len(&model)];
        let mut stream = Stream::new(&model, &mut ss).unwrap();
        prop_assert!(stream.is_streaming());
        prop_assert_eq!(run(&mut stream, &x, max_chunk, seed), want);
    }
}
