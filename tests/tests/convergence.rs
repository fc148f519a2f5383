//! Training converges without hand-tuning: with no --epochs and no --lr, a
//! short series and a long one both end within the step budget; started
//! from the PCA solution (`--pca-start`), within 10 % of the validation
//! error of PCA with as many components, on the same windows.

use e2e::{sensor_series, temp_dir, write_csv};
use host_trainer::{DEFAULT_MAX_STEPS, Kind, TrainConfig};
use host_trainer::{RunOptions, train_and_export};

fn converges(rows: usize, name: &str) {
    let dir = temp_dir(name);
    let csv = dir.join("series.csv");
    write_csv(&csv, &["x", "y", "z"], &sensor_series(rows, 3, 0.05));
    let mut cfg = TrainConfig::new(csv, Kind::Denoising, dir.join("run")).with_window(64);
    cfg.pca_start = true;
    let done = train_and_export(cfg, None, RunOptions::QUIET).unwrap();
    let b = done.baseline.as_ref().unwrap();
    let steps: usize = done.trained.history.last().unwrap().steps;
    eprintln!(
        "{rows} rows: {} epochs, {steps} steps, validation MSE {:.6} vs PCA-{} {:.6}",
        done.trained.history.len(),
        b.model_val_mse,
        b.components,
        b.val_mse
    );
    assert!(steps <= DEFAULT_MAX_STEPS, "{steps} steps");
    assert!(
        b.model_val_mse <= 1.1 * b.val_mse,
        "validation MSE {} against PCA's {}",
        b.model_val_mse,
        b.val_mse
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_short_series_started_from_pca_ends_at_pca_level_or_below() {
    converges(1_200, "converge-short");
}

#[test]
fn a_long_series_started_from_pca_ends_at_pca_level_within_the_budget() {
    converges(60_000, "converge-long");
}
