//! The board application on the host: frames in, frames out.

use firmware::scoring::calibrate;
use firmware::serve::{CALIBRATION_WINDOWS, NoClock, Server, classify};
use firmware::{Engine, Model, Stream};
use model_format::build::{InputBuf, LayerBuf, ModelBuf, f32_bytes};
use model_format::protocol::{
    Class, ErrorCode, Mode, Request, Response, WindowFault, decode_frame, encode_frame,
};
use model_format::{Activation, F32s, FormatError, ModelKind};

fn dense(
    inputs: u32,
    outputs: u32,
    activation: Activation,
    weights: impl Iterator<Item = f32>,
    bias: Vec<f32>,
) -> LayerBuf {
    LayerBuf::Dense {
        inputs,
        outputs,
        activation,
        weights: weights.collect(),
        bias,
    }
}

/// A model of `kind` over 2 channels, window 4, hop 2 (mean 0 and 1,
/// scale 1 and 2).
fn encode(kind: ModelKind, layers: Vec<LayerBuf>) -> Vec<u8> {
    ModelBuf {
        kind,
        layers,
        ..ModelBuf::new(InputBuf {
            mean: vec![0.0, 1.0],
            scale: vec![1.0, 2.0],
            ..InputBuf::identity(2, 4, 2)
        })
    }
    .encode()
    .unwrap()
}

/// 2 channels, window 4, hop 2: 8-3-8 (tanh, identity).
fn model_bytes() -> Vec<u8> {
    let w0 = (0..24).map(|i| ((i * 7 % 11) as f32 - 5.0) / 10.0);
    let w1 = (0..24).map(|i| ((i * 5 % 13) as f32 - 6.0) / 10.0);
    encode(
        ModelKind::Stacked,
        vec![
            dense(8, 3, Activation::Tanh, w0, vec![0.1; 3]),
            dense(3, 8, Activation::Identity, w1, vec![0.0; 8]),
        ],
    )
}

/// Feeds frames for `reqs` and returns the responses as owned debug text
/// plus the calibrated thresholds seen.
fn exchange(server: &mut Server<'_, '_>, reqs: &[Request<'_>]) -> Vec<String> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 2048];
    for r in reqs {
        let frame = encode_frame(r, &mut buf).unwrap().to_vec();
        for b in frame {
            server.feed(b, &mut NoClock, &mut |f: &[u8]| {
                let mut f = f.to_vec();
                f.pop();
                let resp: Response<'_> = decode_frame(&mut f).unwrap();
                out.push(format!("{resp:?}"));
            });
        }
    }
    out
}

#[test]
fn on_device_calibration_through_the_protocol_is_the_host_math() {
    let bytes = model_bytes();
    let model = Model::load(&bytes).unwrap();
    let mut scratch = vec![0.0; Stream::scratch_len(&model)];
    let mut server = Server::new(&model, &mut scratch).unwrap();
    let samples: Vec<f32> = (0..200).map(|i| (i as f32 * 0.37).sin()).collect();
    let raw = f32_bytes(&samples);

    let out = exchange(
        &mut server,
        &[
            Request::Calibrate {
                windows: 20,
                quantile: 0.9,
                hysteresis: 0.5,
            },
            Request::Samples {
                seq: 1,
                values: F32s::new(&raw),
            },
        ],
    );
    // The scores the board sent, and the calibration it reported.
    let mut scores: Vec<f32> = out
        .iter()
        .filter_map(|s| s.split("score: ").nth(1))
        .map(|s| s.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(scores.len(), (100 - 4) / 2 + 1);
    let expected = calibrate(&mut scores[..20], 0.9, 0.5).unwrap();
    let calibrated = out.iter().find(|s| s.starts_with("Calibrated")).unwrap();
    assert!(
        calibrated.contains(&format!("threshold: {:?}", expected.threshold)),
        "{calibrated} vs {expected:?}"
    );
    // Too many windows for the board: an error, not a crash.
    let out = exchange(
        &mut server,
        &[Request::Calibrate {
            windows: CALIBRATION_WINDOWS as u32 + 1,
            quantile: 0.9,
            hysteresis: 0.5,
        }],
    );
    assert!(out[0].contains("Unsupported"), "{out:?}");
    // The new threshold is the one the board reports.
    let info = exchange(&mut server, &[Request::Query]);
    assert!(
        info[0].contains(&format!("threshold: {:?}", expected.threshold)),
        "{info:?}"
    );
}

#[test]
fn erased_flash_after_a_cut_model_reads_as_truncated() {
    let bytes = model_bytes();
    for erased in [0x00u8, 0xff] {
        let mut region = bytes[..bytes.len() / 2].to_vec();
        region.resize(4096, erased);
        let e = Model::load_prefix(&region).unwrap_err();
        assert!(matches!(e, FormatError::ChecksumMismatch { .. }), "{e:?}");
        let (code, detail) = classify(&e, &region);
        assert_eq!(code, ErrorCode::ModelTruncated, "erased {erased:#x}");
        // The erased run starts where the copy stopped, or earlier if the
        // model's own bytes before the cut equal the erased value.
        let cut = bytes.len() / 2;
        assert!(
            detail as usize <= cut && region[detail as usize..cut].iter().all(|&b| b == erased)
        );
    }
    // A flipped byte is a checksum error.
    let mut region = bytes.clone();
    let mid = region.len() / 2;
    region[mid] ^= 1;
    let e = Model::load_prefix(&region).unwrap_err();
    assert_eq!(classify(&e, &region).0, ErrorCode::ModelChecksum);
}

#[test]
fn denoise_and_encode_modes_follow_each_score() {
    use model_format::protocol::Mode;
    let bytes = model_bytes();
    let model = Model::load(&bytes).unwrap();
    let mut scratch = vec![0.0; Stream::scratch_len(&model)];
    let mut server = Server::new(&model, &mut scratch).unwrap();
    let raw = f32_bytes(&(0..16).map(|i| (i as f32 * 0.37).sin()).collect::<Vec<_>>());
    let samples = Request::Samples {
        seq: 1,
        values: F32s::new(&raw),
    };
    // 8 frames, window 4, hop 2: 3 windows.
    let out = exchange(&mut server, &[Request::SetMode(Mode::Denoise), samples]);
    let kinds: Vec<&str> = out
        .iter()
        .map(|s| s.split([' ', '(']).next().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "Score", "Denoised", "Score", "Denoised", "Score", "Denoised"
        ]
    );
    // The payload's bytes, from the debug text `F32s([b0, b1, ...])`.
    let payload = |s: &str| {
        s.split("F32s([")
            .nth(1)
            .unwrap()
            .split(']')
            .next()
            .unwrap()
            .split(", ")
            .count()
    };
    // A window in sensor units: 2 channels x 4 frames x 4 bytes.
    assert_eq!(payload(&out[1]), 32, "{}", out[1]);
    // 8 more frames continue the stream: 4 windows, each with 3 codings.
    let out = exchange(&mut server, &[Request::SetMode(Mode::Encode), samples]);
    let codings: Vec<&String> = out.iter().filter(|s| s.starts_with("Codings")).collect();
    assert_eq!(codings.len(), 4, "{out:?}");
    assert!(codings.iter().all(|c| payload(c) == 12), "{codings:?}");
}

/// 2 channels, window 4, hop 2: 8-3 (tanh) encoder, 3-4 logits.
fn classifier_bytes() -> Vec<u8> {
    let w0 = (0..24).map(|i| ((i * 7 % 11) as f32 - 5.0) / 10.0);
    let w1 = (0..12).map(|i| ((i * 5 % 13) as f32 - 6.0) / 4.0);
    encode(
        ModelKind::Classifier,
        vec![
            dense(8, 3, Activation::Tanh, w0, vec![0.1; 3]),
            dense(3, 4, Activation::Identity, w1, vec![0.0, 0.2, -0.1, 0.05]),
        ],
    )
}

#[test]
fn classify_mode_sends_the_engines_class_and_refuses_what_does_not_fit() {
    let samples: Vec<f32> = (0..40).map(|i| (i as f32 * 0.61).sin() * 2.0).collect();
    let raw = f32_bytes(&samples);
    let feed = [Request::Samples {
        seq: 9,
        values: F32s::new(&raw),
    }];

    // An autoencoder refuses to classify and keeps scoring.
    let bytes = model_bytes();
    let model = Model::load(&bytes).unwrap();
    let mut scratch = vec![0.0; Stream::scratch_len(&model)];
    let mut server = Server::new(&model, &mut scratch).unwrap();
    let out = exchange(&mut server, &[Request::SetMode(Mode::Classify)]);
    assert_eq!(out, [format!("{:?}", error(ErrorCode::WrongMode, 3))]);
    let out = exchange(&mut server, &feed);
    assert!(out.iter().all(|s| s.starts_with("Score")), "{out:?}");

    // A classifier refuses to denoise, and classifies each window as the
    // engine does.
    let bytes = classifier_bytes();
    let model = Model::load(&bytes).unwrap();
    let mut scratch = vec![0.0; Stream::scratch_len(&model)];
    let mut server = Server::new(&model, &mut scratch).unwrap();
    let out = exchange(&mut server, &[Request::SetMode(Mode::Denoise)]);
    assert_eq!(out, [format!("{:?}", error(ErrorCode::WrongMode, 1))]);
    let out = exchange(&mut server, &[Request::SetMode(Mode::Classify)]);
    assert!(out.is_empty(), "{out:?}");
    let out = exchange(&mut server, &feed);
    let windows = (20 - 4) / 2 + 1;
    assert_eq!(out.len(), windows, "{out:?}");
    let mut engine_scratch = vec![0.0; Engine::scratch_len(&model)];
    let mut engine = Engine::new(&model, &mut engine_scratch).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for (k, msg) in out.iter().enumerate() {
        let frames = &samples[k * 4..k * 4 + 8];
        for (i, (dst, x)) in engine.input_mut().iter_mut().zip(frames).enumerate() {
            let (m, s) = if i % 2 == 0 { (0.0, 1.0) } else { (1.0, 2.0) };
            *dst = (x - m) * s;
        }
        let c = engine.classify().unwrap();
        seen.insert(c.class);
        let expected = Response::Class(Class {
            seq: 9,
            window: k as u32,
            class: c.class,
            confidence: c.confidence,
            fault: WindowFault::None,
            instructions: 0,
        });
        assert_eq!(msg, &format!("{expected:?}"), "window {k}");
        assert!(c.confidence > 0.25 && c.confidence <= 1.0);
    }
    assert!(seen.len() > 1, "the test windows reach more than one class");
}

fn error(code: ErrorCode, detail: u32) -> Response<'static> {
    Response::Error { code, detail }
}
