//! `edgeae calibrate`: thresholds (and optionally the metric) of a model
//! from normal data, streamed through the firmware's [`firmware::Stream`].

use std::path::{Path, PathBuf};

use anyhow::Result;
use model_format::Calibration;
use serde::Serialize;

use super::Report;

use crate::data::load_for_model;
use crate::data::model_file::{parse, read_model_bytes};
use crate::score::{self, CalibrationOptions};

/// What `edgeae calibrate` set.
#[derive(Debug, Clone, Serialize)]
pub struct CalibrateReport {
    /// The data calibrated on.
    pub data: PathBuf,
    /// Normal windows used.
    pub windows: usize,
    /// Alarm threshold.
    pub threshold: f32,
    /// Clear threshold.
    pub clear_threshold: f32,
    /// Fraction of the windows allowed to alarm is `1 − quantile`.
    pub quantile: f32,
    /// EWMA smoothing.
    pub smoothing: f32,
    /// The metric's name.
    pub metric: String,
    /// Error statistics of the windows.
    pub errors: Calibration,
    /// The model file written.
    pub out: PathBuf,
}

impl Report for CalibrateReport {
    fn text(&self) -> String {
        let c = &self.errors;
        format!(
            "calibrated on {} normal windows of `{}`: threshold {} (alarm on for at most {:.3} % of them), clears below {}, smoothing {}, metric {}\n\
             errors       mean {} std {}; p50 {} p90 {} p99 {} max {}\n\
             wrote        {}\n",
            self.windows,
            self.data.display(),
            self.threshold,
            (1.0 - f64::from(self.quantile)) * 100.0,
            self.clear_threshold,
            self.smoothing,
            self.metric,
            c.mean,
            c.std,
            c.p50,
            c.p90,
            c.p99,
            c.max,
            self.out.display()
        )
    }
}

/// `edgeae calibrate`.
pub fn run(
    model_path: &Path,
    data_path: &Path,
    out: Option<&Path>,
    metric: Option<crate::train::config::ScoreMetric>,
    opts: &CalibrationOptions,
) -> Result<CalibrateReport> {
    let bytes = read_model_bytes(model_path)?;
    let (table, changed) = {
        let model = parse(model_path, &bytes)?;
        let table = load_for_model(model_path, &model, data_path, score::STREAM)?;
        let changed = match metric {
            None => None,
            Some(m) => {
                let metric_bytes;
                let new = match m {
                    crate::train::config::ScoreMetric::Mse => model_format::Metric::Mse,
                    crate::train::config::ScoreMetric::Standardized => {
                        let window = model.input().window as usize;
                        let runs = score::normal_runs(&table, window);
                        let mut x = Vec::new();
                        for run in runs {
                            let rows = run.len() / table.n_channels().max(1);
                            for s in (0..=rows.saturating_sub(window)).step_by(window.max(1)) {
                                if let Some(w) = run
                                    .get(s * table.n_channels()..(s + window) * table.n_channels())
                                    && w.iter().all(|v| v.is_finite())
                                {
                                    x.extend_from_slice(w);
                                }
                            }
                        }
                        crate::data::normalizer(&model).apply(&mut x);
                        metric_bytes = model_format::build::f32_bytes(
                            &score::standardizing_weights(&model, &x)?,
                        );
                        model_format::Metric::Standardized(model_format::F32s::new(&metric_bytes))
                    }
                };
                Some(score::with_metric(&bytes, &new)?)
            }
        };
        (table, changed)
    };
    let bytes = changed.unwrap_or(bytes);
    let model = parse(model_path, &bytes)?;
    let smoothing = opts.smoothing.unwrap_or(model.scoring().smoothing);
    let (t, n) = score::calibrate_on(&model, &table, opts, smoothing)?;
    let calibrated = score::with_thresholds(&bytes, &t, smoothing)?;
    let out = out.unwrap_or(model_path);
    crate::data::files::write_atomic(out, &calibrated)?;
    let c = t.calibration.unwrap_or(Calibration {
        windows: 0,
        quantile: opts.quantile,
        mean: 0.0,
        std: 0.0,
        p50: 0.0,
        p90: 0.0,
        p99: 0.0,
        max: 0.0,
    });
    Ok(CalibrateReport {
        data: data_path.to_path_buf(),
        windows: n,
        threshold: t.threshold,
        clear_threshold: t.clear_threshold,
        quantile: opts.quantile,
        smoothing,
        metric: model.scoring().metric.name().to_string(),
        errors: c,
        out: out.to_path_buf(),
    })
}
