//! The streaming scorer against a direct computation, under any chunking,
//! with faults.

use firmware::scoring::{AlarmChange, Scorer, calibrate, window_error};
use firmware::stream::{FrameError, WindowFault, WindowReport};
use firmware::{Calibrator, Engine, Event, Model, Stream};
use model_format::build::{InputBuf, LayerBuf, ModelBuf, ScoringBuf};
use model_format::{Activation, ModelKind};
use proptest::prelude::*;

const CHANNELS: usize = 3;
const WINDOW: usize = 8;
const HOP: usize = 3;
const MEAN: [f32; CHANNELS] = [0.5, -1.0, 2.0];
const SCALE: [f32; CHANNELS] = [2.0, 0.5, 1.0];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }
}

/// A 24-6-24 autoencoder (tanh, identity) over windows of 8 frames of 3
/// channels, hop 3, with the given scoring.
fn model_bytes(scoring: ScoringBuf) -> Vec<u8> {
    let n = (CHANNELS * WINDOW) as u32;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut values = |k: u32| -> Vec<f32> { (0..k).map(|_| rng.next()).collect() };
    let (w0, b0, w1, b1) = (values(n * 6), values(6), values(6 * n), values(n));
    ModelBuf {
        kind: ModelKind::Stacked,
        layers: vec![
            LayerBuf::Dense {
                inputs: n,
                outputs: 6,
                activation: Activation::Tanh,
                weights: w0,
                bias: b0,
            },
            LayerBuf::Dense {
                inputs: 6,
                outputs: n,
                activation: Activation::Identity,
                weights: w1,
                bias: b1,
            },
        ],
        scoring,
        ..ModelBuf::new(InputBuf {
            mean: MEAN.to_vec(),
            scale: SCALE.to_vec(),
            ..InputBuf::identity(CHANNELS as u32, WINDOW as u32, HOP as u32)
        })
    }
    .encode()
    .unwrap()
}

fn calibrated() -> ScoringBuf {
    ScoringBuf {
        threshold: 1.0,
        clear_threshold: 0.6,
        smoothing: 0.5,
        ..ScoringBuf::default()
    }
}

fn frames(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng(seed | 1);
    (0..n * CHANNELS)
        .map(|i| MEAN[i % CHANNELS] + rng.next() / SCALE[i % CHANNELS])
        .collect()
}

fn events_by_frame(model: &Model<'_>, samples: &[f32]) -> Vec<Event> {
    let mut scratch = vec![0.0; Stream::scratch_len(model)];
    let mut stream = Stream::new(model, &mut scratch).unwrap();
    let mut events = Vec::new();
    for frame in samples.chunks(CHANNELS) {
        let r = stream.push_frame(frame).unwrap();
        events.extend(r.fault.map(Event::Fault));
        events.extend(r.window.map(Event::Window));
    }
    events
}

fn events_by_chunks(model: &Model<'_>, samples: &[f32], cuts: &[usize]) -> Vec<Event> {
    let mut scratch = vec![0.0; Stream::scratch_len(model)];
    let mut stream = Stream::new(model, &mut scratch).unwrap();
    let mut events = Vec::new();
    let mut rest = samples;
    for &cut in cuts {
        let (chunk, tail) = rest.split_at(cut.min(rest.len()));
        stream.push_samples(chunk, |e| events.push(e));
        rest = tail;
    }
    stream.push_samples(rest, |e| events.push(e));
    events
}

fn windows(events: &[Event]) -> Vec<WindowReport> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Window(w) => Some(*w),
            Event::Fault(_) => None,
        })
        .collect()
}

/// Bitwise equality of event lists (NaN scores compare equal to NaN).
fn same(a: &[Event], b: &[Event]) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

#[test]
fn windows_are_the_host_windows_scored_directly() {
    let bytes = model_bytes(calibrated());
    let model = Model::load(&bytes).unwrap();
    let rows = 50;
    let data = frames(rows, 7);
    let got = windows(&events_by_frame(&model, &data));

    let mut scratch = vec![0.0; Engine::scratch_len(&model)];
    let mut engine = Engine::new(&model, &mut scratch).unwrap();
    let mut scorer = Scorer::new(model.scoring());
    let starts: Vec<usize> = (0..=rows - WINDOW).step_by(HOP).collect();
    assert_eq!(got.len(), starts.len());
    for (w, &s) in got.iter().zip(&starts) {
        let window: Vec<f32> = data[s * CHANNELS..(s + WINDOW) * CHANNELS]
            .iter()
            .enumerate()
            .map(|(i, x)| (x - MEAN[i % CHANNELS]) * SCALE[i % CHANNELS])
            .collect();
        engine.input_mut().copy_from_slice(&window);
        let (x, y) = engine.reconstruct();
        let score = window_error(&model_format::Metric::Mse, CHANNELS, x, y);
        assert_eq!((w.start, w.end), (s as u64, (s + WINDOW) as u64));
        assert_eq!(w.score.to_bits(), score.to_bits(), "window at {s}");
        assert_eq!(Some(w.verdict), scorer.update(score));
        assert_eq!(w.fault, None);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any cutting of the stream into chunks (partial frames included)
    /// gives the same events, bit for bit, as one frame at a time; faulty
    /// samples included.
    #[test]
    fn chunking_does_not_change_anything(
        seed in any::<u64>(),
        rows in 1usize..60,
        cuts in proptest::collection::vec(0usize..40, 0..30),
        bad in proptest::collection::vec((0usize..180, 0u8..3), 0..4),
    ) {
        let bytes = model_bytes(calibrated());
        let model = Model::load(&bytes).unwrap();
        let mut data = frames(rows, seed);
        for &(at, kind) in &bad {
            if let Some(v) = data.get_mut(at) {
                *v = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][kind as usize];
            }
        }
        let by_frame = events_by_frame(&model, &data);
        let by_chunks = events_by_chunks(&model, &data, &cuts);
        prop_assert!(same(&by_frame, &by_chunks), "{by_frame:?}\n{by_chunks:?}");
        prop_assert_eq!(windows(&by_frame).len(), if rows >= WINDOW { (rows - WINDOW) / HOP + 1 } else { 0 });
    }
}

#[test]
fn bad_samples_are_faults_and_do_not_poison_later_scores() {
    let bytes = model_bytes(calibrated());
    let model = Model::load(&bytes).unwrap();
    let rows = 60;
    let clean = frames(rows, 11);
    let mut dirty = clean.clone();
    dirty[20 * CHANNELS + 1] = f32::NAN; // frame 20, channel 1
    dirty[21 * CHANNELS + 2] = f32::INFINITY; // frame 21, channel 2
    let clean_events = events_by_frame(&model, &clean);
    let events = events_by_frame(&model, &dirty);

    let faults: Vec<(u64, u32)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Fault(f) => Some((f.frame, f.channel)),
            Event::Window(_) => None,
        })
        .collect();
    assert_eq!(faults, [(20, 1), (21, 2)]);

    let mut scorer = Scorer::new(model.scoring());
    for (w, c) in windows(&events).iter().zip(windows(&clean_events)) {
        assert_eq!((w.start, w.end), (c.start, c.end));
        let touches = w.start <= 21 && w.end > 20;
        if touches {
            let latest = if w.end > 21 { 21 } else { 20 };
            assert_eq!(w.fault, Some(WindowFault::BadSample { frame: latest }));
            assert!(w.score.is_nan());
            // The scorer is not fed: its state is reported unchanged.
            assert_eq!(
                w.verdict.smoothed.to_bits(),
                scorer.smoothed().unwrap().to_bits()
            );
        } else {
            // The same score as without the bad samples, and the smoothed
            // score continues as if the faulty windows had not happened.
            assert_eq!(w.fault, None);
            assert_eq!(w.score.to_bits(), c.score.to_bits());
            assert_eq!(Some(w.verdict), scorer.update(c.score));
        }
    }
}

#[test]
fn huge_values_overflow_into_faults_or_alarms_not_panics() {
    let bytes = model_bytes(calibrated());
    let model = Model::load(&bytes).unwrap();
    let mut data = frames(40, 5);
    for v in &mut data[10 * CHANNELS..12 * CHANNELS] {
        *v = 3.0e38; // finite, overflows when normalised or squared
    }
    for v in &mut data[20 * CHANNELS..22 * CHANNELS] {
        *v = 1.0e6; // finite everywhere, far outside the range
    }
    let events = events_by_frame(&model, &data);
    let ws = windows(&events);
    assert!(
        ws.iter()
            .any(|w| w.start <= 10 && w.end > 10 && w.fault.is_some())
    );
    let far = ws.iter().find(|w| w.start <= 20 && w.end > 21).unwrap();
    assert!(far.verdict.alarm, "{far:?}");
    // After the signal is normal again the alarm clears.
    let last = ws.last().unwrap();
    assert!(
        last.start > 22 && !last.verdict.alarm && last.fault.is_none(),
        "{last:?}"
    );
    assert!(
        ws.iter()
            .any(|w| w.verdict.change == Some(AlarmChange::Cleared))
    );
}

#[test]
fn frame_errors_and_scratch_size() {
    let bytes = model_bytes(calibrated());
    let model = Model::load(&bytes).unwrap();
    let mut small = vec![0.0; Stream::scratch_len(&model) - 1];
    let err = Stream::new(&model, &mut small).unwrap_err();
    assert_eq!(
        (err.needed, err.given),
        (Stream::scratch_len(&model), small.len())
    );

    let mut scratch = vec![0.0; Stream::scratch_len(&model)];
    let mut stream = Stream::new(&model, &mut scratch).unwrap();
    assert_eq!(
        stream.push_frame(&[1.0, 2.0]),
        Err(FrameError {
            expected: 3,
            found: 2,
            pending: 0
        })
    );
    stream.push_samples(&[1.0], |_| {});
    assert_eq!(stream.push_frame(&[1.0, 2.0, 3.0]).unwrap_err().pending, 1);
    stream.push_samples(&[2.0, 3.0], |_| {});
    assert_eq!(stream.frames(), 1);
    assert!(stream.push_frame(&[1.0, 2.0, 3.0]).is_ok());
    stream.reset();
    assert_eq!(stream.frames(), 0);
}

#[test]
fn on_device_calibration_is_the_batch_calibration() {
    let bytes = model_bytes(ScoringBuf::default());
    let model = Model::load(&bytes).unwrap();
    let data = frames(200, 3);
    let mut scratch = vec![0.0; Stream::scratch_len(&model)];
    let mut stream = Stream::new(&model, &mut scratch).unwrap();
    let mut cal = Calibrator::<32>::new(0.95, 0.8);
    let mut errors = Vec::new();
    for frame in data.chunks(CHANNELS) {
        if let Some(w) = stream.push_frame(frame).unwrap().window {
            assert!(!w.verdict.alarm, "uncalibrated models never alarm");
            if cal.push(w.score) {
                errors.push(w.score);
            }
        }
        if cal.is_full() {
            break;
        }
    }
    assert_eq!(errors.len(), 32);
    let on_device = cal.finish().unwrap();
    assert_eq!(on_device, calibrate(&mut errors, 0.95, 0.8).unwrap());
    stream.set_thresholds(on_device);
    assert_eq!(stream.scorer().thresholds().threshold, on_device.threshold);
    // About 5% of further normal windows exceed a 0.95 quantile; a smoothed
    // score with alarm state is reported for each.
    let mut over = 0;
    let mut total = 0;
    for frame in frames(400, 99).chunks(CHANNELS) {
        if let Some(w) = stream.push_frame(frame).unwrap().window {
            total += 1;
            over += usize::from(w.score > on_device.threshold);
        }
    }
    assert!(total > 100 && over < total / 4, "{over} of {total}");
}
