//! A classifier end to end: trained with dfdx, written as a model file,
//! run by the host engine (every window's class is dfdx's argmax),
//! exported to int8 (accuracy within 1 point of f32), and streamed to the
//! emulated Cortex-M4F in classify mode (class and confidence bit-identical
//! to the host's for every window, f32 and int8). An autoencoder on the
//! board refuses classify mode.
//!
//! Needs qemu-system-arm and the board image, as tests/board.rs.

use std::path::Path;

use e2e::{Rng, temp_dir, write_csv};
use host_trainer::{
    ClassifierConfig, ClassifierMode, EncoderChoice, Extra, LabelSource, Precision,
    classifier_examples, classifier_model_def, classifier_predict, classify_table, export,
    qemu_firmware, run_qemu, set_mode_frame,
};
use host_trainer::{LoadOptions, Net, Normalizer, Table, load_table};
use model_format::protocol::{Class, ErrorCode, Mode, WindowFault};

const CLASSES: usize = 4;

/// Two channels of a machine in one of four operating points, 48 rows
/// each: a sine whose frequency and amplitude depend on the point, plus
/// noise. Rows of `a,b` (and `state` when `labelled`).
fn operating_points(segments: usize, seed: u64) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let mut rng = Rng(seed);
    let (mut labelled, mut plain) = (Vec::new(), Vec::new());
    for _ in 0..segments {
        let class = (rng.next_u64() % CLASSES as u64) as usize;
        let freq = 0.15 + 0.12 * class as f32;
        let amp = 1.0 + 0.35 * (class % 2) as f32;
        let phase = rng.uniform(0.0, std::f32::consts::TAU);
        for t in 0..48 {
            let x = t as f32 * freq + phase;
            let a = amp * x.sin() + rng.uniform(-0.6, 0.6);
            let b = amp * (0.5 * x).cos() + 0.2 * class as f32 + rng.uniform(-0.6, 0.6);
            labelled.push(vec![a, b, class as f32]);
            plain.push(vec![a, b]);
        }
    }
    (labelled, plain)
}

fn load(path: &Path) -> Table {
    load_table(path, LoadOptions::default()).unwrap()
}

/// The fraction of `rows` whose class is `labels`'.
fn accuracy(rows: &[Class], labels: &[u32]) -> f64 {
    assert_eq!(rows.len(), labels.len());
    let right = rows
        .iter()
        .zip(labels)
        .filter(|(r, y)| r.fault == WindowFault::None && u32::from(r.class) == **y)
        .count();
    right as f64 / labels.len() as f64
}

fn assert_same(host: &[Class], board: &[Class], what: &str) {
    assert_eq!(host.len(), board.len(), "{what}: window count");
    for (h, b) in host.iter().zip(board) {
        assert_eq!(h.window, b.window, "{what}");
        assert_eq!(h.class, b.class, "{what}: window {}", h.window);
        assert_eq!(
            h.confidence.to_bits(),
            b.confidence.to_bits(),
            "{what}: window {}",
            h.window
        );
        assert_eq!(h.fault, b.fault, "{what}: window {}", h.window);
    }
}

#[test]
fn a_classifier_classifies_alike_in_dfdx_the_host_engine_int8_and_on_the_board() {
    let d = temp_dir("classify-e2e");
    let (train_l, train_p) = operating_points(60, 11);
    let (test_l, test_p) = operating_points(120, 12);
    let (train_csv, test_csv) = (d.join("train.csv"), d.join("test.csv"));
    let (train_plain, test_plain) = (d.join("train_plain.csv"), d.join("test_plain.csv"));
    write_csv(&train_csv, &["a", "b", "state"], &train_l);
    write_csv(&test_csv, &["a", "b", "state"], &test_l);
    write_csv(&train_plain, &["a", "b"], &train_p);
    write_csv(&test_plain, &["a", "b"], &test_p);

    let run = d.join("run");
    let cfg = ClassifierConfig {
        data: train_csv.clone(),
        labels: LabelSource::Column("state".into()),
        test: None,
        encoder: EncoderChoice::Fresh {
            hidden: Some(vec![24]),
            codings: Some(8),
            window: 16,
            hop: 8,
        },
        mode: ClassifierMode::FineTune,
        head_hidden: Some(12),
        labeled: None,
        val_split: 0.0,
        epochs: 40,
        batch: 32,
        lr: 3e-3,
        seed: 5,
        out: run.clone(),
    };
    let done = host_trainer::train_classifier(&cfg).unwrap();
    let bytes = classifier_model_def(&done.saved, &cfg, &done.history)
        .unwrap()
        .encode()
        .unwrap();
    let f32_path = run.join("model.eam");
    std::fs::write(&f32_path, &bytes).unwrap();
    let model = firmware::Model::load(&bytes).unwrap();
    assert_eq!(model.classes(), Some(CLASSES));
    assert_eq!(model.header().version, 8);

    // The host engine's class is dfdx's argmax, window for window.
    let (table, labels) =
        classifier_examples::load_table(&test_csv, &LabelSource::Column("state".into())).unwrap();
    let mut set = classifier_examples::windows(&table, &labels, 16, 8).unwrap();
    set.normalize(&Normalizer {
        mean: done.saved.mean.clone(),
        scale: done.saved.scale.clone(),
    });
    let net = Net::from_host(&dfdx::prelude::Cpu::default(), &done.saved.net).unwrap();
    let dfdx_classes = classifier_predict(&net, &set).unwrap();
    let test_table = load(&test_plain);
    let host = classify_table(&model, &test_table).unwrap();
    assert_eq!(host.len(), set.count());
    assert!(host.len() > 200, "{} windows", host.len());
    for (k, (h, &c)) in host.iter().zip(&dfdx_classes).enumerate() {
        assert_eq!(h.window, k as u32);
        assert_eq!(u32::from(h.class), c, "window {k}");
        assert!(h.confidence > 1.0 / CLASSES as f32 && h.confidence <= 1.0);
    }
    let f32_accuracy = accuracy(&host, &set.y);
    // Chance is 0.25; windows that straddle two operating points are
    // ambiguous.
    assert!(f32_accuracy > 0.6, "f32 test accuracy {f32_accuracy}");

    // int8: within 1 point of f32 on the same windows.
    let int8_path = d.join("int8.eam");
    let report = export(&run, Precision::Int8, Some(&train_plain), &int8_path, &[]).unwrap();
    assert_eq!(report.precision, "int8");
    assert!(report.recalibrated.is_none(), "a classifier has no alarm");
    assert_eq!(report.classes, Some(CLASSES));
    let same = report.difference.as_ref().and_then(|c| c.same_class);
    assert!(same.is_some_and(|n| n > 0), "{:?}", report.difference);
    let int8_bytes = std::fs::read(&int8_path).unwrap();
    let int8 = firmware::Model::load(&int8_bytes).unwrap();
    assert!(int8.has_int8());
    assert_eq!(int8.classes(), Some(CLASSES));
    let host_i8 = classify_table(&int8, &test_table).unwrap();
    let int8_accuracy = accuracy(&host_i8, &set.y);
    let agree = host
        .iter()
        .zip(&host_i8)
        .filter(|(a, b)| a.class == b.class)
        .count();
    eprintln!(
        "test windows {}: f32 accuracy {f32_accuracy:.4}, int8 {int8_accuracy:.4}, classes agree on {agree}",
        host.len()
    );
    assert!(
        (int8_accuracy - f32_accuracy).abs() <= 0.01,
        "int8 {int8_accuracy} vs f32 {f32_accuracy}"
    );

    // The board, in classify mode: the host's classes and confidences, bit
    // for bit.
    let elf = qemu_firmware(None).unwrap();
    let extra = Extra {
        after_reset: set_mode_frame(Mode::Classify).unwrap(),
        ..Extra::default()
    };
    for (path, rows, what) in [(&f32_path, &host, "f32"), (&int8_path, &host_i8, "int8")] {
        let board = run_qemu(&elf, path, &test_table.values, 48, &extra).unwrap();
        assert_eq!(board.exit_code, Some(0), "{what}: {:?}", board.error);
        assert!(board.error.is_none(), "{what}: {:?}", board.error);
        assert!(board.scored.windows.is_empty(), "{what}: classes only");
        assert_same(rows, &board.classes, what);
    }
}

#[test]
fn an_autoencoder_on_the_board_refuses_classify_mode_and_keeps_scoring() {
    let d = temp_dir("classify-refusal");
    let path = d.join("ae.eam");
    std::fs::write(&path, e2e::calibration_model_bytes()).unwrap();
    let model_bytes = std::fs::read(&path).unwrap();
    let model = firmware::Model::load(&model_bytes).unwrap();
    let channels = model.input().channels as usize;
    let values: Vec<f32> = (0..channels * 64).map(|i| (i as f32 * 0.3).sin()).collect();
    let extra = Extra {
        after_reset: set_mode_frame(Mode::Classify).unwrap(),
        ..Extra::default()
    };
    let board = run_qemu(&qemu_firmware(None).unwrap(), &path, &values, 48, &extra).unwrap();
    assert_eq!(board.error, Some((ErrorCode::WrongMode, 3)));
    assert_eq!(board.exit_code, Some(0));
    assert!(board.classes.is_empty());
    assert!(!board.scored.windows.is_empty(), "it keeps scoring");
}
