//! State hygiene of a recurrent `Stream`, for LSTM and GRU autoencoders on
//! the streaming and the windowed path. A NaN or infinite sample is a
//! sample fault; ±1e30 is finite, so it is data, fed to the model, and the
//! windows holding it report `WindowFault::Overflow` (its normalised square
//! overflows the MSE). Either way the fault is reported for exactly the
//! windows that hold the frame, every score after those windows is the one
//! a clean restart of the stream gives, bit for bit, and no NaN leaves the
//! stream but the documented score of a faulted window. A channel stuck at
//! a constant is valid data: every window is scored, as a fresh engine
//! scores it.

use firmware::scoring::window_error;
use firmware::stream::{SampleFault, WindowFault, WindowReport};
use firmware::{Engine, Model, Stream};
use model_format::Cell;

mod common;
use common::{Rng, autoencoder};

const CHANNELS: usize = 3;
const WINDOW: usize = 8;
const HOP: usize = 3;
const FRAMES: usize = WINDOW + 15 * HOP;
/// The frame that goes bad.
const BAD: usize = 20;

/// Both paths of a stream over `model`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Path {
    Streaming,
    Windowed,
}

/// What `stream` reports, frame by frame, over `x`; checks after every
/// window that what the engine holds (the last window it ran and its
/// reconstruction) is finite.
fn feed(stream: &mut Stream<'_, '_>, x: &[f32]) -> (Vec<SampleFault>, Vec<WindowReport>) {
    let (mut faults, mut windows) = (Vec::new(), Vec::new());
    for frame in x.chunks(CHANNELS) {
        let r = stream.push_frame(frame).unwrap();
        faults.extend(r.fault);
        if let Some(w) = r.window {
            // Also after a huge sample: 1e30 normalised is finite, and the
            // reconstruction from the codings it went into is too.
            let (x, y) = stream.last_window();
            assert!(
                x.iter().chain(y).all(|v| v.is_finite()),
                "window {}: {x:?} {y:?}",
                w.start
            );
            windows.push(w);
        }
    }
    (faults, windows)
}

/// A fresh stream over `model` on `path`, fed `x`.
fn fresh(model: &Model<'_>, path: Path, x: &[f32]) -> (Vec<SampleFault>, Vec<WindowReport>) {
    let mut scratch = vec![f32::NAN; Stream::scratch_len(model)];
    let mut stream = match path {
        Path::Streaming => Stream::new(model, &mut scratch).unwrap(),
        Path::Windowed => Stream::windowed(model, &mut scratch).unwrap(),
    };
    assert_eq!(stream.is_streaming(), path == Path::Streaming);
    feed(&mut stream, x)
}

/// The score a fresh engine gives the window of `x` from frame `start`.
fn engine_score(model: &Model<'_>, x: &[f32], start: u64) -> f32 {
    let input = model.input();
    let window = &x[start as usize * CHANNELS..][..WINDOW * CHANNELS];
    let mut scratch = vec![f32::NAN; Engine::scratch_len(model)];
    let mut engine = Engine::new(model, &mut scratch).unwrap();
    for (i, (slot, v)) in engine.input_mut().iter_mut().zip(window).enumerate() {
        let c = i % CHANNELS;
        *slot = (v - input.mean.get(c).unwrap()) * input.scale.get(c).unwrap();
    }
    let (x, y) = engine.reconstruct();
    window_error(&model.scoring().metric, CHANNELS, x, y)
}

/// No NaN or infinity leaves the stream but the NaN score of a faulted
/// window (and its smoothed score before anything was scored).
fn check_finite(windows: &[WindowReport]) {
    let mut scored = false;
    for w in windows {
        if w.fault.is_some() {
            assert!(w.score.is_nan(), "{w:?}");
        } else {
            assert!(w.score.is_finite(), "{w:?}");
            scored = true;
        }
        assert_eq!(w.verdict.smoothed.is_finite(), scored, "{w:?}");
    }
}

/// `bad` in channel `channel` of frame [`BAD`] is reported as `fault` for
/// exactly the windows that hold that frame (and as a [`SampleFault`] when
/// it is one); the scores of the other windows are a clean stream's: up to
/// the fault the uninterrupted one's, after it those of a stream started
/// afresh at the first window start past the bad frame, bit for bit.
fn check_bad_sample(
    model: &Model<'_>,
    path: Path,
    clean: &[f32],
    (channel, bad): (usize, f32),
    fault: WindowFault,
) {
    let mut x = clean.to_vec();
    x[BAD * CHANNELS + channel] = bad;
    let (faults, windows) = fresh(model, path, &x);
    let what = format!("{path:?}, {bad} in channel {channel}");
    let sample = SampleFault {
        frame: BAD as u64,
        channel: channel as u32,
    };
    let want_faults = match fault {
        WindowFault::BadSample { .. } => vec![sample],
        _ => vec![],
    };
    assert_eq!(faults, want_faults, "{what}");
    assert_eq!(windows.len(), (FRAMES - WINDOW) / HOP + 1, "{what}");
    check_finite(&windows);
    let (_, before) = fresh(model, path, clean);
    let restart = (BAD / HOP + 1) * HOP;
    let (none, after) = fresh(model, path, &clean[restart * CHANNELS..]);
    assert!(none.is_empty());
    let mut faulted = 0;
    for w in &windows {
        if w.start <= BAD as u64 && (BAD as u64) < w.end {
            faulted += 1;
            assert_eq!(w.fault, Some(fault), "{what}: {w:?}");
            continue;
        }
        assert_eq!(w.fault, None, "{what}: {w:?}");
        let want = if w.end <= BAD as u64 {
            before.iter().find(|c| c.start == w.start).unwrap()
        } else {
            let c = &after[(w.start as usize - restart) / HOP];
            assert_eq!(c.start + restart as u64, w.start);
            c
        };
        assert_eq!(w.score.to_bits(), want.score.to_bits(), "{what}: {w:?}");
    }
    // Frame 20 is in the windows starting at 15 and 18.
    assert_eq!(faulted, 2, "{what}");
}

/// Channel `channel` stuck at `value` for frames `BAD − 2` to
/// `BAD + WINDOW + 2` (a whole window and more, so windows lie inside it
/// and straddle its edges): no fault, and every score is finite and a fresh engine's on
/// that window.
fn check_stuck(model: &Model<'_>, path: Path, clean: &[f32], channel: usize, value: f32) {
    let mut x = clean.to_vec();
    for frame in x.chunks_mut(CHANNELS).skip(BAD - 2).take(WINDOW + 4) {
        frame[channel] = value;
    }
    let (faults, windows) = fresh(model, path, &x);
    assert!(faults.is_empty());
    check_finite(&windows);
    let stuck = (BAD - 2) as u64..(BAD + WINDOW + 2) as u64;
    assert!(
        windows
            .iter()
            .any(|w| stuck.contains(&w.start) && w.end <= stuck.end)
    );
    for w in &windows {
        assert_eq!(w.fault, None, "{path:?}: {w:?}");
        let want = engine_score(model, &x, w.start);
        assert_eq!(w.score.to_bits(), want.to_bits(), "{path:?}: {w:?}");
    }
}

#[test]
fn bad_samples_do_not_poison_the_recurrent_state() {
    for (i, cell) in [Cell::Lstm, Cell::Gru].into_iter().enumerate() {
        let bytes = autoencoder(cell, CHANNELS, WINDOW, HOP, 5, 4, 6, 31 + i as u64);
        let model = Model::load(&bytes).unwrap();
        let clean = Rng::new(7 + i as u64).values(FRAMES * CHANNELS, 2.0);
        for path in [Path::Streaming, Path::Windowed] {
            let sample = WindowFault::BadSample { frame: BAD as u64 };
            check_bad_sample(&model, path, &clean, (1, f32::NAN), sample);
            check_bad_sample(&model, path, &clean, (2, f32::INFINITY), sample);
            // Finite: data, fed to the model; the window's MSE overflows.
            check_bad_sample(&model, path, &clean, (2, 1e30), WindowFault::Overflow);
            check_bad_sample(&model, path, &clean, (0, -1e30), WindowFault::Overflow);
            check_stuck(&model, path, &clean, 0, 0.7);
            check_stuck(&model, path, &clean, 2, 0.0);
        }
    }
}
