//! Anomaly detection end to end: the demo's model on the synthetic test
//! stream, and the host's threshold calibration against the firmware's
//! on-device calibration on the same data.

use e2e::{sensor_series, temp_dir, write_csv};
use firmware::{Calibrator, Event, Model, Stream};
use std::path::Path;

use host_trainer::CalibrationOptions;
use host_trainer::Precision;
use host_trainer::export;
use host_trainer::{DemoOptions, demo as run};
use host_trainer::{EvalReport, evaluate};
use host_trainer::{LoadOptions, load_table};

/// The README's main job, with its default seed: window-level ROC AUC of
/// at least 0.95 on the test stream, and every injected fault segment
/// raises the alarm.
#[test]
fn the_demo_model_detects_every_injected_fault() {
    let dir = temp_dir("demo");
    let mut opts = DemoOptions::new(dir.join("out"), 7);
    opts.quiet = true;
    let report = run(&opts).unwrap();
    let e = &report.eval;
    let auc = e.roc_auc.unwrap();
    assert!(auc >= 0.95, "ROC AUC {auc}");
    assert_eq!(report.faults.len(), 12);
    let missed: Vec<_> = report.faults.iter().filter(|f| !f.detected).collect();
    assert!(missed.is_empty(), "missed: {missed:?}");
    // Every kind of fault was injected.
    for kind in host_trainer::FaultKind::ALL {
        assert!(
            report.faults.iter().any(|f| f.kind == kind.name()),
            "{kind:?}"
        );
    }
    // The threshold keeps its promise: on four minutes of normal data of
    // the same machine that training never saw, the alarm is on for at
    // most 1.5 % of the windows at a 1 % target, and for at least half the
    // target (the threshold is not needlessly blunt).
    let unseen = report.unseen_normal.as_ref().unwrap();
    assert!(unseen.windows > 10_000, "{unseen:?}");
    assert!(
        (0.005..=0.015).contains(&unseen.false_positive_rate),
        "false-positive rate {} on unseen normal data at a target of {}",
        unseen.false_positive_rate,
        report.target_fpr
    );
    // The PCA baseline was evaluated on the same windows.
    let baseline = e.baseline.as_ref().unwrap();
    assert!(baseline.roc_auc.is_some() && baseline.components == 16);
    // The threshold came from held-out normal windows and is in the file.
    let bytes = std::fs::read(&report.model).unwrap();
    let model = Model::load(&bytes).unwrap();
    let cal = model.scoring().calibration.unwrap();
    assert!(cal.windows > 100 && model.scoring().threshold.is_finite());
    assert_eq!(cal.quantile, 0.99);
    // Files the demo promises.
    for f in [
        "eval.png",
        "scores.csv",
        "report.json",
        "report.txt",
        "model/loss.png",
    ] {
        assert!(dir.join("out").join(f).is_file(), "{f}");
    }
    int8_detects_what_f32_detects(&dir, &report.model, &model, &bytes);
    // A second run into the same folder replaces the first one's output.
    opts.epochs = Some(1);
    run(&opts).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The demo model exported to int8 (calibrated on the demo's normal
/// training data) keeps the window-level ROC AUC within 0.01 and detects
/// the same fault segments, from under a third of the flash.
fn int8_detects_what_f32_detects(
    dir: &Path,
    f32_path: &Path,
    f32_model: &Model<'_>,
    f32_bytes: &[u8],
) {
    let int8_path = dir.join("int8.eam");
    export(
        f32_path,
        Precision::Int8,
        Some(&dir.join("out/data/train.csv")),
        &int8_path,
        &[],
    )
    .unwrap();
    let int8_bytes = std::fs::read(&int8_path).unwrap();
    let int8 = Model::load(&int8_bytes).unwrap();
    assert!(int8.ops().iter().all(|op| op.is_int8()));
    assert!(int8_bytes.len() * 3 < f32_bytes.len());
    let test = load_table(&dir.join("out/data/test.csv"), LoadOptions::default()).unwrap();
    let (e32, _) = evaluate(f32_path, f32_model, &test, None, None).unwrap();
    let (e8, _) = evaluate(&int8_path, &int8, &test, None, None).unwrap();
    let (a32, a8) = (e32.roc_auc.unwrap(), e8.roc_auc.unwrap());
    assert!((a32 - a8).abs() <= 0.01, "ROC AUC f32 {a32}, int8 {a8}");
    let detected = |e: &EvalReport| {
        e.segments
            .iter()
            .map(|s| (s.start, s.detected))
            .collect::<Vec<_>>()
    };
    assert_eq!(detected(&e8), detected(&e32));
    assert_eq!(e8.detected(), 12);
}

/// The host's raw-error calibration of a file and the firmware's calibrate
/// mode fed the same frames through a stream give the same thresholds, bit
/// for bit.
#[test]
fn host_and_on_device_calibration_agree() {
    let dir = temp_dir("calibration");
    let rows = sensor_series(700, 5, 0.05);
    let csv = dir.join("normal.csv");
    write_csv(&csv, &["x", "y", "z"], &rows);

    let bytes = e2e::calibration_model_bytes();
    let model = Model::load(&bytes).unwrap();

    for (quantile, hysteresis) in [(0.99f32, 0.8f32), (0.9, 0.5), (0.5, 1.0)] {
        let opts = CalibrationOptions {
            quantile,
            hysteresis,
            smoothing: None,
        };
        let table = load_table(&csv, LoadOptions::default()).unwrap();
        // The board calibrates on the quantile of the raw window errors
        // (`edgeae calibrate` calibrates on the alarm statistic instead).
        let scored = host_trainer::score_table(&model, &table, None).unwrap();
        let mut errors: Vec<f32> = scored.scored().map(|w| w.score).collect();
        let n = errors.len();
        assert_eq!(n, (700 - 16) / 4 + 1);
        let host = host_trainer::thresholds(&mut errors, &opts).unwrap();

        // On the device: declare the first N windows normal.
        let mut scratch = vec![0.0; Stream::scratch_len(&model)];
        let mut stream = Stream::new(&model, &mut scratch).unwrap();
        let mut cal = Calibrator::<256>::new(quantile, hysteresis);
        for row in &rows {
            stream.push_samples(row, |e| {
                if let Event::Window(w) = e {
                    cal.push(w.score);
                }
            });
        }
        assert_eq!(cal.len(), n);
        let device = cal.finish().unwrap();
        assert_eq!(device, host, "quantile {quantile}");
        assert!(host.threshold > 0.0);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
