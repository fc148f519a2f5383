//! End to end on the host: a mock I2C bus plays a LIS3DH's readings,
//! `stream_samples` pushes them through a real `firmware::Stream` over a
//! small model, and the events match pushing the converted frames
//! directly.

use edgeae_sensors::{ADDRESS_SA0_LOW, FrameSource, Lis3dh, Scale, StreamError, stream_samples};
use embedded_hal::i2c::ErrorKind;
use embedded_hal_mock::eh1::i2c::{Mock, Transaction};
use firmware::stream::FrameError;
use firmware::{Event, Model, Stream};
use model_format::build::{InputBuf, LayerBuf, ModelBuf, ScoringBuf};
use model_format::{Activation, ModelKind};

const WINDOW: u32 = 8;
const HOP: u32 = 4;
const FRAMES: usize = 40;
/// Windows end at frames 8, 12, ..., 40.
const WINDOWS: usize = (FRAMES - WINDOW as usize) / HOP as usize + 1;

/// A `channels`×8 → 4 → `channels`×8 autoencoder (tanh, identity), hop 4,
/// normalising accelerations in m/s² (gravity on Z), with fixed
/// pseudo-random weights.
fn model_bytes(channels: u32) -> Vec<u8> {
    let n = channels * WINDOW;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut values = |k: u32| -> Vec<f32> {
        (0..k)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.5
            })
            .collect()
    };
    let (w0, b0, w1, b1) = (values(n * 4), values(4), values(4 * n), values(n));
    ModelBuf {
        kind: ModelKind::Stacked,
        layers: vec![
            LayerBuf::Dense {
                inputs: n,
                outputs: 4,
                activation: Activation::Tanh,
                weights: w0,
                bias: b0,
            },
            LayerBuf::Dense {
                inputs: 4,
                outputs: n,
                activation: Activation::Identity,
                weights: w1,
                bias: b1,
            },
        ],
        scoring: ScoringBuf {
            threshold: 0.5,
            clear_threshold: 0.3,
            smoothing: 0.5,
            ..ScoringBuf::default()
        },
        ..ModelBuf::new(InputBuf {
            mean: (0..channels)
                .map(|c| if c == 2 { 9.8 } else { 0.0 })
                .collect(),
            ..InputBuf::identity(channels, WINDOW, HOP)
        })
    }
    .encode()
    .unwrap()
}

/// Raw 12-bit readings: a wobble on X and Y, about 1 g on Z (±2 g: 1
/// mg/digit).
fn readings(n: usize) -> Vec<[i16; 3]> {
    (0..n as i16)
        .map(|i| {
            [
                (i * 37) % 200 - 100,
                -((i * 53) % 150) + 60,
                1000 + (i * 11) % 40 - 20,
            ]
        })
        .collect()
}

/// WHO_AM_I, the default configuration, then one sample read per reading.
fn bus_playing(readings: &[[i16; 3]]) -> Vec<Transaction> {
    let mut t = vec![
        Transaction::write_read(ADDRESS_SA0_LOW, vec![0x0F], vec![0x33]),
        Transaction::write(ADDRESS_SA0_LOW, vec![0x23, 0x88]),
        Transaction::write(ADDRESS_SA0_LOW, vec![0x20, 0x57]),
    ];
    for r in readings {
        let bytes = r.iter().flat_map(|d| (d << 4).to_le_bytes()).collect();
        t.push(Transaction::write_read(ADDRESS_SA0_LOW, vec![0xA8], bytes));
    }
    t
}

/// The frames the driver should produce, converted here.
fn converted(readings: &[[i16; 3]]) -> Vec<f32> {
    let per_digit = Scale::G2.ms2_per_digit();
    readings
        .iter()
        .flat_map(|r| r.map(|d| f32::from(d) * per_digit))
        .collect()
}

fn direct_events(model: &Model<'_>, samples: &[f32]) -> Vec<Event> {
    let mut scratch = vec![0.0; Stream::scratch_len(model)];
    let mut stream = Stream::new(model, &mut scratch).unwrap();
    let mut events = Vec::new();
    stream.push_samples(samples, |e| events.push(e));
    events
}

fn windows(events: &[Event]) -> Vec<f32> {
    events
        .iter()
        .map(|e| match e {
            Event::Window(w) => {
                assert_eq!(w.fault, None);
                w.score
            }
            Event::Fault(f) => panic!("unexpected fault {f:?}"),
        })
        .collect()
}

#[test]
fn sensor_frames_stream_like_converted_frames() {
    let bytes = model_bytes(3);
    let model = Model::load(&bytes).unwrap();
    let readings = readings(FRAMES);

    let mut bus = Mock::new(&bus_playing(&readings));
    let mut accel = Lis3dh::new(&mut bus, ADDRESS_SA0_LOW).unwrap();
    let mut scratch = vec![0.0; Stream::scratch_len(&model)];
    let mut stream = Stream::new(&model, &mut scratch).unwrap();
    let mut events = Vec::new();
    stream_samples(&mut accel, &mut stream, FRAMES, |e| events.push(e)).unwrap();
    assert_eq!(stream.frames(), FRAMES as u64);
    bus.done();

    let scores = windows(&events);
    assert_eq!(scores.len(), WINDOWS);
    assert!(
        scores.iter().all(|s| s.is_finite() && *s >= 0.0),
        "{scores:?}"
    );
    let ends: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            Event::Window(w) => Some(w.end),
            Event::Fault(_) => None,
        })
        .collect();
    let expected_ends: Vec<u64> = (0..WINDOWS as u64)
        .map(|k| u64::from(WINDOW) + k * u64::from(HOP))
        .collect();
    assert_eq!(ends, expected_ends);

    // Bit for bit what the stream gives for the same frames pushed directly.
    assert_eq!(events, direct_events(&model, &converted(&readings)));
}

#[test]
fn one_frame_per_call_gives_the_same_events() {
    let bytes = model_bytes(3);
    let model = Model::load(&bytes).unwrap();
    let readings = readings(FRAMES);

    let mut bus = Mock::new(&bus_playing(&readings));
    let mut accel = Lis3dh::new(&mut bus, ADDRESS_SA0_LOW).unwrap();
    let mut scratch = vec![0.0; Stream::scratch_len(&model)];
    let mut stream = Stream::new(&model, &mut scratch).unwrap();
    let mut events = Vec::new();
    for _ in 0..FRAMES {
        stream_samples(&mut accel, &mut stream, 1, |e| events.push(e)).unwrap();
    }
    bus.done();
    assert_eq!(windows(&events).len(), WINDOWS);
    assert_eq!(events, direct_events(&model, &converted(&readings)));
}

#[test]
fn bus_error_stops_the_stream_after_the_frames_before_it() {
    let bytes = model_bytes(3);
    let model = Model::load(&bytes).unwrap();
    let readings = readings(12);
    let mut expectations = bus_playing(&readings);
    // The 11th sample read fails: 10 frames are in, one window (frame 8).
    let failed = expectations.remove(3 + 10).with_error(ErrorKind::Other);
    expectations.truncate(3 + 10);
    expectations.push(failed);

    let mut bus = Mock::new(&expectations);
    let mut accel = Lis3dh::new(&mut bus, ADDRESS_SA0_LOW).unwrap();
    let mut scratch = vec![0.0; Stream::scratch_len(&model)];
    let mut stream = Stream::new(&model, &mut scratch).unwrap();
    let mut events = Vec::new();
    let err = stream_samples(&mut accel, &mut stream, 12, |e| events.push(e)).unwrap_err();
    assert_eq!(
        err,
        StreamError::Source(edgeae_sensors::Error::Bus(ErrorKind::Other))
    );
    assert_eq!(stream.frames(), 10);
    assert_eq!(windows(&events).len(), 1);
    assert_eq!(
        events,
        direct_events(&model, &converted(readings.get(..10).unwrap()))
    );
    bus.done();
}

/// A source of two channels, for a three-channel model.
struct Pair;

impl FrameSource<2> for Pair {
    type Error = core::convert::Infallible;
    fn read_frame(&mut self) -> Result<[f32; 2], Self::Error> {
        Ok([0.0, 1.0])
    }
}

#[test]
fn frames_of_the_wrong_width_are_refused() {
    let bytes = model_bytes(3);
    let model = Model::load(&bytes).unwrap();
    let mut scratch = vec![0.0; Stream::scratch_len(&model)];
    let mut stream = Stream::new(&model, &mut scratch).unwrap();
    let err = stream_samples(&mut Pair, &mut stream, 5, |_| panic!("no events")).unwrap_err();
    assert_eq!(
        err,
        StreamError::Frame(FrameError {
            expected: 3,
            found: 2,
            pending: 0
        })
    );
    assert_eq!(stream.frames(), 0);
}
