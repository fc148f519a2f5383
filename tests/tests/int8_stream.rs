//! A stream over a model scored in int8 (SPEC.md 3.5, "Scored in int8"):
//! the ring holds the quantized window, the engine holds no f32 window,
//! and each window's error is the SPEC's int8 rule, recomputed here from
//! `e2e::int8_ref` (the quantized window and the reconstruction's int8
//! values), bit for bit, for every metric, with a shared scale (integer
//! sums) and without (dequantized differences).
//!
//! - scores, faults, the denoised reconstruction and the codings of every
//!   window of a stream with a NaN frame and a huge finite frame;
//! - the scratch: no input words in the stream's engine, a byte per value
//!   in the ring, and not one word less;
//! - which models are scored in int8.

use e2e::Rng;
use e2e::int8_ref::{self, LayerChoice, ModelShape};
use firmware::{Model, ScratchPlan, ScratchTooSmall, Stream};
use model_format::Quant;
use model_format::build::{InputBuf, LayerBuf, MetricBuf, ModelBuf};

const CHANNELS: usize = 3;
const WINDOW: usize = 4;
const HOP: usize = 3;
const N: usize = CHANNELS * WINDOW;
const FRAMES: usize = 40;

fn quants(layer: &mut LayerBuf) -> (&mut Quant, &mut Quant) {
    match layer {
        LayerBuf::DenseI8 { input, output, .. } | LayerBuf::TiedDenseI8 { input, output, .. } => {
            (input, output)
        }
        other => panic!("not an int8 dense layer: {other:?}"),
    }
}

/// A random all-int8 12-7-3-7-12 autoencoder over 3 channels x 4 frames;
/// with `shared`, the reconstruction takes the window's quantization.
fn model(seed: u64, metric: MetricBuf, shared: bool) -> ModelBuf {
    let shape = ModelShape {
        widths: vec![N, 7, 3],
        layers: (0..4)
            .map(|i| LayerChoice {
                int8: true,
                tied: i == 3 && seed.is_multiple_of(2),
                activation: ((seed + i) % 5) as u8,
            })
            .collect(),
        codings_layer: 1,
    };
    let mut def = int8_ref::random_model(&shape, seed);
    def.input = InputBuf {
        channels: CHANNELS as u32,
        window: WINDOW as u32,
        hop: HOP as u32,
        mean: vec![0.5, -1.0, 0.0],
        scale: vec![2.0, 0.5, 1.0],
    };
    def.scoring.metric = metric;
    if shared {
        let window = *quants(&mut def.layers[0]).0;
        *quants(def.layers.last_mut().unwrap()).1 = window;
    }
    def
}

fn metrics(rng: &mut Rng) -> Vec<MetricBuf> {
    vec![
        MetricBuf::Mse,
        MetricBuf::Mae,
        MetricBuf::WeightedMse((0..CHANNELS).map(|_| rng.uniform(0.0, 3.0)).collect()),
        MetricBuf::Standardized((0..N).map(|_| rng.uniform(0.0, 3.0)).collect()),
    ]
}

/// SPEC.md 3.5's error of a window scored in int8, written from its text.
fn spec_error(metric: &MetricBuf, x: &[i8], xq: &Quant, y: &[i8], yq: &Quant) -> f32 {
    let n = x.len() as f32;
    let weight = |i: usize| match metric {
        MetricBuf::WeightedMse(w) => w[i % CHANNELS],
        MetricBuf::Standardized(w) => w[i],
        _ => 1.0,
    };
    if xq.scale.to_bits() == yq.scale.to_bits() {
        let s = xq.scale;
        let d: Vec<i64> = x
            .iter()
            .zip(y)
            .map(|(&x, &y)| {
                (i64::from(x) - i64::from(xq.zero_point))
                    - (i64::from(y) - i64::from(yq.zero_point))
            })
            .collect();
        match metric {
            MetricBuf::Mse => d.iter().map(|d| (d * d) as u64).sum::<u64>() as f32 * (s * s) / n,
            MetricBuf::Mae => d.iter().map(|d| d.unsigned_abs()).sum::<u64>() as f32 * s / n,
            _ => {
                let mut sum = 0.0f32;
                for (i, d) in d.iter().enumerate() {
                    sum += weight(i) * (d * d) as f32;
                }
                sum * (s * s) / n
            }
        }
    } else {
        let mut sum = 0.0f32;
        for (i, (&x, &y)) in x.iter().zip(y).enumerate() {
            let d = int8_ref::dequantize(x, xq) - int8_ref::dequantize(y, yq);
            sum += match metric {
                MetricBuf::Mse => d * d,
                MetricBuf::Mae => d.abs(),
                MetricBuf::WeightedMse(_) => weight(i) * d * d,
                MetricBuf::Standardized(_) => weight(i) * (d * d),
            };
        }
        sum / n
    }
}

/// Frames of random samples; frame 10 holds a NaN, frame 25 a huge value.
fn frames(rng: &mut Rng) -> Vec<f32> {
    let mut v: Vec<f32> = (0..FRAMES * CHANNELS)
        .map(|_| rng.uniform(-4.0, 4.0))
        .collect();
    v[10 * CHANNELS + 1] = f32::NAN;
    v[25 * CHANNELS + 2] = 1e30;
    v
}

fn check(def: &ModelBuf, data: &[f32]) {
    let bytes = def.encode().unwrap();
    let model = Model::load(&bytes).unwrap();
    let (xq, yq) = firmware::int8_window(&model).expect("scored in int8");
    let plan = ScratchPlan::for_stream(&model);
    assert_eq!(plan.input, 0);
    let len = Stream::scratch_len(&model);
    assert_eq!(len, plan.total() + N.div_ceil(4));
    assert!(len < ScratchPlan::for_model(&model).total() + N);
    let mut scratch = vec![f32::NAN; len];
    assert_eq!(
        Stream::new(&model, &mut scratch[..len - 1]).unwrap_err(),
        ScratchTooSmall {
            needed: len,
            given: len - 1
        }
    );
    let mut stream = Stream::new(&model, &mut scratch).unwrap();
    assert!(stream.scores_int8());
    let input = model.input();
    let mut scored = 0;
    for (f, frame) in data.chunks_exact(CHANNELS).enumerate() {
        let Some(w) = stream.push_frame(frame).unwrap().window else {
            continue;
        };
        let (start, end) = (w.start as usize, w.end as usize);
        assert_eq!(end, f + 1);
        if (start..end).contains(&10) {
            assert_eq!(
                w.fault,
                Some(firmware::stream::WindowFault::BadSample { frame: 10 })
            );
            continue;
        }
        let x: Vec<f32> = data[start * CHANNELS..end * CHANNELS]
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let c = i % CHANNELS;
                (v - input.mean.get(c).unwrap()) * input.scale.get(c).unwrap()
            })
            .collect();
        let xi: Vec<i8> = x.iter().map(|v| int8_ref::quantize(*v, &xq)).collect();
        let y = int8_ref::reconstruct(&model, &x);
        let yi: Vec<i8> = y
            .iter()
            .map(|v| ((v / yq.scale).round() as i32 + i32::from(yq.zero_point)) as i8)
            .collect();
        for (v, q) in y.iter().zip(&yi) {
            assert_eq!(v.to_bits(), int8_ref::dequantize(*q, &yq).to_bits());
        }
        let metric = &def.scoring.metric;
        let want = spec_error(metric, &xi, &xq, &yi, &yq);
        assert_eq!(w.fault, None, "window {start}");
        assert!(want.is_finite());
        assert_eq!(
            w.score.to_bits(),
            want.to_bits(),
            "window {start}: {metric:?}"
        );
        let denoised: Vec<u32> = stream.last_reconstruction().map(f32::to_bits).collect();
        assert_eq!(denoised, y.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
        assert!(stream.last_window().0.is_empty());
        let codings = int8_ref::encode(&model, &x);
        assert_eq!(stream.encode_last(), &codings[..]);
        scored += 1;
    }
    // 13 windows start at frames 0, 3, ..., 36; only the one at 9 holds frame 10.
    assert_eq!(scored, 13 - 1);
}

#[test]
fn int8_scores_follow_the_spec_for_every_metric() {
    let mut rng = Rng(16);
    for seed in 0..6 {
        let data = frames(&mut rng);
        for metric in metrics(&mut rng) {
            for shared in [true, false] {
                check(&model(seed, metric.clone(), shared), &data);
            }
        }
    }
}

#[test]
fn only_int8_in_and_out_autoencoders_are_scored_in_int8() {
    let all = model(1, MetricBuf::Mse, true);
    let load = |def: &ModelBuf| {
        let bytes = def.encode().unwrap();
        let model = Model::load(&bytes).unwrap();
        (
            firmware::int8_window(&model).is_some(),
            Stream::scratch_len(&model),
            ScratchPlan::for_model(&model).total() + N,
        )
    };
    let (int8, stream, f32_stream) = load(&all);
    assert!(int8 && stream < f32_stream);
    // An f32 last layer: scored in f32, with an f32 ring and window.
    let shape = ModelShape {
        widths: vec![N, 7, 3],
        layers: (0..4)
            .map(|i| LayerChoice {
                int8: i < 3,
                tied: false,
                activation: 0,
            })
            .collect(),
        codings_layer: 1,
    };
    let mut mixed = int8_ref::random_model(&shape, 3);
    mixed.input = all.input.clone();
    let (int8, stream, f32_stream) = load(&mixed);
    assert!(!int8 && stream == f32_stream);
}
