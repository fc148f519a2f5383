//! int8 recurrent autoencoders against their f32 models: an LSTM and a GRU
//! model, trained briefly on a sensor series and exported with
//! `edgeae export --quant int8` (format version 6, every layer int8),
//! reconstruct held-out windows (rows the training never saw) close to the
//! f32 model, measured as a percentage of the f32 reconstruction's range.
//!
//! The bounds: the int8 output alone is off by up to half a step, 1/510 of
//! its range (0.2 %); each int8 hidden state adds as much of its own range,
//! and the recurrences carry those errors from step to step (the forget
//! and update gates damp them, so they do not grow with the window). On
//! the demo's LSTM model (64 steps, 3 recurrent layers) the largest error
//! measured was 1.22 % and the mean 0.20 % (GRU 0.93 %, 0.17 %); the
//! models here are smaller. The bounds, 3 % at most and 0.5 % on average,
//! leave room for another training run's weights, while a wrong scale (a
//! gate off by a factor of 2, a cell state exponent off by one) moves the
//! mean by several percent.

use e2e::{sensor_series, temp_dir, write_csv};
use firmware::{Engine, Model};
use host_trainer::{Cell, Kind, RunOptions, TrainConfig, train_and_export};
use host_trainer::{LoadOptions, Precision, export, gather, load_table, normalizer, window_starts};

/// Max and mean |int8 − f32| over `windows`, as % of the f32 output range.
fn error_pct(f32_model: &Model<'_>, int8: &Model<'_>, windows: &[f32]) -> (f64, f64, usize) {
    let mut sa = vec![0.0f32; Engine::scratch_len(f32_model)];
    let mut sb = vec![0.0f32; Engine::scratch_len(int8)];
    let mut a = Engine::new(f32_model, &mut sa).unwrap();
    let mut b = Engine::new(int8, &mut sb).unwrap();
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    let (mut max, mut sum, mut n, mut count) = (0.0f64, 0.0f64, 0usize, 0usize);
    for w in windows.chunks_exact(f32_model.input_len()) {
        a.input_mut().copy_from_slice(w);
        b.input_mut().copy_from_slice(w);
        let (_, ya) = a.reconstruct();
        let (_, yb) = b.reconstruct();
        for (p, q) in ya.iter().zip(yb) {
            lo = lo.min(*p);
            hi = hi.max(*p);
            let d = f64::from(q - p).abs();
            max = max.max(d);
            sum += d;
            n += 1;
        }
        count += 1;
    }
    let range = f64::from(hi - lo);
    assert!(range > 0.5, "the f32 reconstructions span {range}");
    (100.0 * max / range, 100.0 * sum / n as f64 / range, count)
}

fn int8_stays_close_to_f32(cell: Cell) {
    let dir = temp_dir(&format!("int8-recurrent-{}", cell.name()));
    let rows = sensor_series(12_000, 3, 0.05);
    let (train, held_out) = rows.split_at(8_000);
    let csv = dir.join("train.csv");
    let held = dir.join("held-out.csv");
    write_csv(&csv, &["x", "y", "z"], train);
    write_csv(&held, &["x", "y", "z"], held_out);
    let mut cfg = TrainConfig::new(csv.clone(), Kind::Recurrent, dir.join("run")).with_window(24);
    cfg.recurrent.cell = cell;
    cfg.hop = 4;
    cfg.epochs = Some(2);
    cfg.hidden = Some(vec![16]);
    cfg.codings = Some(8);
    train_and_export(cfg, None, RunOptions::QUIET).unwrap();
    let out = dir.join("int8.eam");
    let report = export(&dir.join("run"), Precision::Int8, Some(&csv), &out, &[]).unwrap();
    assert_eq!(report.version, 6);
    assert_eq!(report.recurrent.len(), 3, "{:?}", report.recurrent);
    assert!(report.recurrent.iter().all(|r| r.cell == cell.name()));
    let f32_bytes = std::fs::read(dir.join("run/model.eam")).unwrap();
    let int8_bytes = std::fs::read(&out).unwrap();
    let f32_model = Model::load(&f32_bytes).unwrap();
    let int8 = Model::load(&int8_bytes).unwrap();
    assert!(int8.ops().iter().all(|op| op.is_int8()));
    assert!(int8_bytes.len() * 3 < f32_bytes.len());

    let table = load_table(&held, LoadOptions::default()).unwrap();
    let starts = window_starts(&held, table.rows(), 24, 4).unwrap();
    let mut windows = gather(&table, &starts, 24);
    normalizer(&f32_model).apply(&mut windows);
    let (max, mean, count) = error_pct(&f32_model, &int8, &windows);
    println!(
        "int8 {} vs f32 on {count} held-out windows: max {max:.3} %, mean {mean:.3} % of the output range",
        cell.name()
    );
    assert!(count > 900, "{count} windows");
    assert!(max < 3.0 && mean < 0.5, "max {max} %, mean {mean} %");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_int8_lstm_autoencoder_stays_close_to_f32() {
    int8_stays_close_to_f32(Cell::Lstm);
}

#[test]
fn an_int8_gru_autoencoder_stays_close_to_f32() {
    int8_stays_close_to_f32(Cell::Gru);
}
