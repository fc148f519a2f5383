//! Host vs board: the same model gives bit-identical scores on the host
//! (`edgeae score`) and on the emulated Cortex-M4F (QEMU mps2-an386,
//! `edgeae stream --qemu`); the board survives corrupt and oversized frames
//! and NaN samples and counts them; a bad model region gets the matching
//! error code and exit code.
//!
//! Needs qemu-system-arm and the board image (built on first use with
//! Debian's rustc, see shared/EMBEDDED.md; `scripts/test` installs both).

use std::path::{Path, PathBuf};

use e2e::{Rng, sensor_series, temp_dir, write_csv};
use host_trainer::Precision;
use host_trainer::export;
use host_trainer::{Cell, Kind, ScoreMetric, TrainConfig};
use host_trainer::{DemoOptions, demo as run};
use host_trainer::{Extra, qemu_firmware, run_qemu};
use host_trainer::{LoadOptions, Table, load_table};
use host_trainer::{RunOptions, train_and_export};
use host_trainer::{Scored, score_table};
use model_format::protocol::{ErrorCode, Request, encode_frame};

fn elf() -> PathBuf {
    static ELF: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ELF.get_or_init(|| qemu_firmware(None).expect("the QEMU firmware image"))
        .clone()
}

fn assert_same(host: &Scored, board: &Scored, what: &str) {
    assert_eq!(
        host.windows.len(),
        board.windows.len(),
        "{what}: window count"
    );
    for (h, b) in host.windows.iter().zip(&board.windows) {
        assert_eq!((h.start, h.end), (b.start, b.end), "{what}");
        assert_eq!(
            h.score.to_bits(),
            b.score.to_bits(),
            "{what}: window {}",
            h.start
        );
        assert_eq!(
            h.smoothed.to_bits(),
            b.smoothed.to_bits(),
            "{what}: window {}",
            h.start
        );
        assert_eq!(h.alarm, b.alarm, "{what}: window {}", h.start);
        assert_eq!(
            h.fault.is_some(),
            b.fault.is_some(),
            "{what}: window {}",
            h.start
        );
    }
    let frames = |s: &Scored| {
        s.faults
            .iter()
            .map(|f| (f.frame, f.channel))
            .collect::<Vec<_>>()
    };
    assert_eq!(frames(host), frames(board), "{what}: faults");
}

fn parity(model_path: &Path, table: &Table, chunk: usize, what: &str) {
    let bytes = std::fs::read(model_path).unwrap();
    let model = firmware::Model::load(&bytes).unwrap();
    let host = score_table(&model, table, None).unwrap();
    let board = run_qemu(&elf(), model_path, &table.values, chunk, &Extra::default()).unwrap();
    assert_eq!(board.exit_code, Some(0), "{what}: {:?}", board.error);
    assert!(board.error.is_none());
    assert_same(&host, &board.scored, what);
    assert!(
        host.windows.len() > 1000,
        "{what}: {} windows",
        host.windows.len()
    );
    // The board counted every window, and measured its cost.
    let info = board.info_end.unwrap();
    assert_eq!(info.counters.windows as usize, host.windows.len());
    assert_eq!(info.counters.bad_frames, 0);
    assert!(
        board
            .instructions
            .iter()
            .all(|&i| i as usize > model.macs()),
        "{what}"
    );
}

#[test]
fn the_demo_model_scores_bit_identically_on_the_board() {
    let dir = temp_dir("board-demo");
    let mut opts = DemoOptions::new(dir.join("demo"), 7);
    opts.quiet = true;
    opts.epochs = Some(2);
    let report = run(&opts).unwrap();
    let test = load_table(&dir.join("demo/data/test.csv"), LoadOptions::default()).unwrap();
    parity(&report.model, &test, 48, "demo");
    // The int8 export of it: integer kernels (SMLAD on the board, portable
    // code on the host), SELU through its table, same bits.
    let int8 = dir.join("int8.eam");
    let train = dir.join("demo/data/train.csv");
    export(&report.model, Precision::Int8, Some(&train), &int8, &[]).unwrap();
    parity(&int8, &test, 48, "demo int8");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_kind_scores_bit_identically_on_the_board() {
    let dir = temp_dir("board-kinds");
    let rows = sensor_series(8_000, 3, 0.05);
    let csv = dir.join("series.csv");
    write_csv(&csv, &["x", "y", "z"], &rows);
    let table = load_table(&csv, LoadOptions::default()).unwrap();
    let kinds = [
        Kind::Linear,
        Kind::Stacked,
        Kind::Tied,
        Kind::Greedy,
        Kind::Denoising,
        Kind::Sparse,
        Kind::Vae,
        Kind::Pca,
        Kind::Conv,
        Kind::Recurrent,
        Kind::Recurrent,
    ];
    for (i, kind) in kinds.into_iter().enumerate() {
        // The recurrent kind twice: an LSTM model, then a GRU one.
        let (cell, name) = match (kind, i == kinds.len() - 1) {
            (Kind::Recurrent, true) => (Cell::Gru, "recurrent-gru".to_string()),
            _ => (Cell::Lstm, kind.to_string()),
        };
        let mut cfg = TrainConfig::new(csv.clone(), kind, dir.join(&name)).with_window(16);
        cfg.recurrent.cell = cell;
        cfg.hop = 4;
        cfg.epochs = Some(1);
        cfg.fine_tune_epochs = Some(1);
        cfg.hidden = Some(vec![24]);
        cfg.codings = Some(6);
        // The standardized metric (format version 3) on the board too.
        if matches!(kind, Kind::Denoising | Kind::Tied) {
            cfg.metric = ScoreMetric::Standardized;
        }
        train_and_export(cfg, None, RunOptions::QUIET).unwrap();
        let model = dir.join(format!("{name}/model.eam"));
        // Messages of different sizes: frames split across messages.
        parity(&model, &table, [7, 48, 240][i % 3], &name);
        // int8 on the board too: the tied kind through the transposed
        // int8 kernel, the stacked one as a mixed file (f32 first layer),
        // the conv1d model through the int8 convolutions, the LSTM and GRU
        // models through the int8 recurrent kernel (format version 6).
        let keep: &[usize] = match kind {
            Kind::Tied | Kind::Conv | Kind::Recurrent => &[],
            Kind::Stacked => &[0],
            _ => continue,
        };
        let int8 = dir.join(format!("{name}-int8.eam"));
        export(&model, Precision::Int8, Some(&csv), &int8, keep).unwrap();
        parity(&int8, &table, 48, &format!("{name} int8"));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Corrupt frames, an oversized frame, a frame with too many samples and
/// NaN samples: the board keeps serving, counts them, and still scores
/// bit-identically to the host.
#[test]
fn the_board_survives_bad_frames_and_counts_them() {
    let dir = temp_dir("board-bad");
    let mut rows = sensor_series(3_000, 9, 0.05);
    rows[500][1] = f32::NAN;
    rows[1700][0] = f32::INFINITY;
    rows[1701][2] = f32::NAN;
    let csv = dir.join("series.csv");
    write_csv(&csv, &["x", "y", "z"], &rows);
    let table = load_table(
        &csv,
        LoadOptions {
            allow_non_finite: true,
        },
    )
    .unwrap();
    let mut cfg = TrainConfig::new(
        {
            let clean = dir.join("clean.csv");
            write_csv(&clean, &["x", "y", "z"], &sensor_series(3_000, 1, 0.05));
            clean
        },
        Kind::Stacked,
        dir.join("run"),
    )
    .with_window(8);
    cfg.epochs = Some(1);
    train_and_export(cfg, None, RunOptions::QUIET).unwrap();
    let model_path = dir.join("run/model.eam");

    let mut rng = Rng(5);
    let mut before = Vec::new();
    // Three frames of random non-zero bytes that do not decode.
    for len in [3usize, 17, 200] {
        before.extend((0..len).map(|_| (rng.next_u64() % 255 + 1) as u8));
        before.push(0);
    }
    // A valid frame with one byte changed: a tag that does not exist.
    let mut buf = [0u8; 64];
    let frame = encode_frame(&Request::Query, &mut buf).unwrap().to_vec();
    let mut broken = frame.clone();
    broken[1] = 0x7f;
    before.extend_from_slice(&broken);
    // One frame longer than MAX_FRAME.
    before.extend(std::iter::repeat_n(0x55u8, 3_000));
    before.push(0);
    // Empty frames are ignored, not counted.
    before.extend_from_slice(&[0, 0]);

    let bytes = std::fs::read(&model_path).unwrap();
    let model = firmware::Model::load(&bytes).unwrap();
    let host = score_table(&model, &table, None).unwrap();
    let board = run_qemu(
        &elf(),
        &model_path,
        &table.values,
        33,
        &Extra {
            before,
            ..Extra::default()
        },
    )
    .unwrap();
    assert_eq!(board.exit_code, Some(0));
    let c = board.info_end.unwrap().counters;
    assert_eq!(c.bad_frames, 4, "{c:?}");
    assert_eq!(c.oversized, 1, "{c:?}");
    assert_eq!(c.faults, 3, "{c:?}");
    assert_eq!(c.samples as usize, table.values.len());
    assert_same(&host, &board.scored, "bad frames");
    assert!(board.scored.windows.iter().any(|w| w.fault.is_some()));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Garbage, a truncated model, another format version: the board answers
/// with the matching error frame and exits with its code.
#[test]
fn a_bad_model_region_gets_the_matching_error_and_exit_code() {
    let dir = temp_dir("board-models");
    let mut rng = Rng(8);
    let garbage: Vec<u8> = (0..4096).map(|_| rng.next_u64() as u8).collect();
    let good = e2e::random_autoencoder(
        &mut rng,
        model_format::build::InputBuf::identity(3, 8, 4),
        &[6],
        model_format::Activation::Tanh,
        model_format::Activation::Identity,
        false,
    )
    .encode()
    .unwrap();
    let truncated = good[..good.len() / 2].to_vec();
    let mut future = good.clone();
    // The version after the newest this firmware reads.
    future[4..6].copy_from_slice(&(model_format::FORMAT_VERSION + 1).to_le_bytes());
    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 0x10;
    let cases = [
        ("garbage", garbage, ErrorCode::ModelMissing),
        ("truncated", truncated, ErrorCode::ModelTruncated),
        ("version", future, ErrorCode::ModelVersion),
        ("flipped", flipped, ErrorCode::ModelChecksum),
    ];
    for (name, bytes, code) in cases {
        let path = dir.join(format!("{name}.eam"));
        std::fs::write(&path, &bytes).unwrap();
        let run = run_qemu(&elf(), &path, &[0.0; 24], 24, &Extra::default()).unwrap();
        assert_eq!(run.error.map(|e| e.0), Some(code), "{name}");
        assert_eq!(run.exit_code, Some(i32::from(code.exit_code())), "{name}");
        assert!(run.scored.windows.is_empty(), "{name}");
        // The board logged the failure (defmt frames on semihosting).
        assert!(!run.defmt.is_empty(), "{name}: no defmt log");
    }
    let path = dir.join("good.eam");
    std::fs::write(&path, &good).unwrap();
    let run = run_qemu(&elf(), &path, &[0.0; 24], 24, &Extra::default()).unwrap();
    assert_eq!((run.exit_code, run.error), (Some(0), None));
    let info = run.info_start.unwrap();
    assert_eq!(info.protocol, model_format::protocol::PROTOCOL_VERSION);
    // The loaded model's version: an f32 model is written aligned, as
    // version 8.
    assert_eq!(info.format_version, 8);
    assert_eq!(info.model_bytes as usize, good.len());
    assert_eq!(run.scored.windows.len(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `edgeae stream --port` on a serial line: QEMU's UART as a pseudo-terminal.
#[test]
fn the_serial_port_path_gives_the_same_scores() {
    use std::io::{BufRead, BufReader};
    let dir = temp_dir("board-serial");
    let csv = dir.join("series.csv");
    write_csv(&csv, &["x", "y", "z"], &sensor_series(2_000, 4, 0.05));
    let table = load_table(&csv, LoadOptions::default()).unwrap();
    let mut cfg = TrainConfig::new(csv.clone(), Kind::Tied, dir.join("run")).with_window(8);
    cfg.epochs = Some(1);
    train_and_export(cfg, None, RunOptions::QUIET).unwrap();
    let model_path = dir.join("run/model.eam");
    let mut qemu = host_trainer::qemu_command(&elf(), &model_path)
        .args(["-serial", "pty"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // "char device redirected to /dev/pts/N (label serial0)"
    let mut pty = None;
    for stream in [
        qemu.stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        qemu.stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ] {
        let Some(stream) = stream else { continue };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if let Some(p) = line.split_whitespace().find(|w| w.starts_with("/dev/pts/")) {
                    let _ = tx.send(p.to_string());
                }
            }
        });
        if let Ok(p) = rx.recv_timeout(std::time::Duration::from_secs(5)) {
            pty = Some(p);
            break;
        }
    }
    let pty = pty.expect("QEMU names its pseudo-terminal");
    let board = host_trainer::run_serial(&pty, 115_200, &table.values, 48, &[]);
    let _ = qemu.kill();
    let _ = qemu.wait();
    let board = board.unwrap();
    let bytes = std::fs::read(&model_path).unwrap();
    let model = firmware::Model::load(&bytes).unwrap();
    let host = score_table(&model, &table, None).unwrap();
    assert_same(&host, &board.scored, "serial");
    assert_eq!(board.info_end.unwrap().frames as usize, 2_000);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The board's own calibration (a `Calibrate` request, then the next N
/// windows declared normal) sets the same thresholds, bit for bit, as the
/// host's `firmware::scoring::calibrate` over the same windows' errors as
/// the host scores them.
#[test]
fn the_board_calibrates_exactly_as_the_host() {
    let dir = temp_dir("board-calibrate");
    let rows = sensor_series(1_500, 5, 0.05);
    let csv = dir.join("normal.csv");
    write_csv(&csv, &["x", "y", "z"], &rows);
    let table = load_table(&csv, LoadOptions::default()).unwrap();
    let model_path = dir.join("model.eam");
    let bytes = e2e::calibration_model_bytes();
    std::fs::write(&model_path, &bytes).unwrap();
    let model = firmware::Model::load(&bytes).unwrap();
    let host_scores = score_table(&model, &table, None).unwrap();
    for (windows, quantile, hysteresis) in [(200u32, 0.99f32, 0.8f32), (300, 0.9, 0.5)] {
        let mut buf = [0u8; 64];
        let frame = encode_frame(
            &Request::Calibrate {
                windows,
                quantile,
                hysteresis,
            },
            &mut buf,
        )
        .unwrap()
        .to_vec();
        let board = run_qemu(
            &elf(),
            &model_path,
            &table.values,
            48,
            &Extra {
                after_reset: frame,
                ..Extra::default()
            },
        )
        .unwrap();
        assert_eq!(board.exit_code, Some(0));
        let &[(n, threshold, clear)] = board.calibrated.as_slice() else {
            panic!("expected one Calibrated answer, got {:?}", board.calibrated)
        };
        assert_eq!(n, windows);
        let mut errors: Vec<f32> = host_scores
            .scored()
            .take(windows as usize)
            .map(|w| w.score)
            .collect();
        let host = firmware::scoring::calibrate(&mut errors, quantile, hysteresis).unwrap();
        assert_eq!(
            (threshold.to_bits(), clear.to_bits()),
            (host.threshold.to_bits(), host.clear_threshold.to_bits()),
            "quantile {quantile}: board {threshold}/{clear}, host {}/{}",
            host.threshold,
            host.clear_threshold
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
