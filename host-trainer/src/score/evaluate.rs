//! Detection quality of a model on labelled data: ROC and PR curves,
//! detections per labelled segment, alarms during normal operation, beside
//! a PCA baseline.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use firmware::Model;
use serde::Serialize;

use crate::data::Table;
use crate::plots::{self, EvalPlot};
use crate::score::metrics::{self, Confusion, Detection, WindowRecord};
use crate::score::{Scored, WindowRow, stream};
use crate::text::file_name;

/// Window-level metrics at the model's threshold.
#[derive(Debug, Clone, Serialize)]
pub struct AtThreshold {
    /// The alarm threshold.
    pub threshold: f32,
    /// The clear threshold.
    pub clear_threshold: f32,
    /// Windows alarmed (or faulted) vs labelled.
    pub confusion: Confusion,
    /// tp / (tp + fp).
    pub precision: Option<f64>,
    /// tp / (tp + fn).
    pub recall: Option<f64>,
    /// Harmonic mean of precision and recall.
    pub f1: Option<f64>,
    /// fp / (fp + tn).
    pub false_positive_rate: Option<f64>,
}

/// What `edgeae eval` measures.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// The model file.
    pub model: PathBuf,
    /// The data file.
    pub data: PathBuf,
    /// Windows in the stream.
    pub windows: usize,
    /// Windows labelled anomalous.
    pub anomalous_windows: usize,
    /// Windows not scored because of NaN/inf samples or overflow.
    pub fault_windows: usize,
    /// Frames with NaN/inf samples.
    pub fault_frames: usize,
    /// Window-level ROC AUC of the score (fault windows rank highest).
    pub roc_auc: Option<f64>,
    /// Window-level average precision.
    pub pr_auc: Option<f64>,
    /// Metrics of the alarm (a fault window counts as flagged); absent when
    /// the model is not calibrated.
    pub at_threshold: Option<AtThreshold>,
    /// Each labelled anomalous segment: detected, after how many rows, and
    /// how long the alarm took to clear after it.
    pub segments: Vec<Detection>,
    /// False alarms in normal operation: normal windows that start more
    /// than one window after the end of every labelled segment (absent
    /// when the model is not calibrated).
    pub normal_operation: Option<metrics::NormalOperation>,
    /// The PCA baseline on the same windows.
    pub baseline: Option<BaselineEval>,
    /// Host time per window (streaming, engine and scoring), microseconds.
    pub host_us_per_window: f64,
    /// The figure.
    pub plot: Option<PathBuf>,
}

impl EvalReport {
    /// Segments detected.
    pub fn detected(&self) -> usize {
        self.segments.iter().filter(|s| s.detected).count()
    }

    /// Mean detection delay over detected segments, in rows.
    pub fn mean_delay(&self) -> Option<f64> {
        let d: Vec<usize> = self.segments.iter().filter_map(|s| s.delay).collect();
        (!d.is_empty()).then(|| d.iter().sum::<usize>() as f64 / d.len() as f64)
    }
}

/// The PCA baseline's figures on the windows the model was evaluated on.
#[derive(Debug, Clone, Serialize)]
pub struct BaselineEval {
    /// Where it came from: a file, or "fitted on FILE".
    pub source: String,
    /// Components.
    pub components: usize,
    /// Window-level ROC AUC.
    pub roc_auc: Option<f64>,
    /// Window-level average precision.
    pub pr_auc: Option<f64>,
}

/// A baseline model to evaluate beside the model, and where it came from.
pub struct Baseline<'a> {
    /// Its file bytes, loaded.
    pub model: Model<'a>,
    /// Where it came from.
    pub source: String,
}

/// Scores a labelled table and measures everything `eval` reports; draws
/// the figure to `plot` if given. Returns the scored windows too.
pub fn evaluate(
    model_path: &Path,
    model: &Model<'_>,
    table: &Table,
    plot: Option<&Path>,
    baseline: Option<&Baseline<'_>>,
) -> Result<(EvalReport, Scored)> {
    let Some(row_labels) = table.labels.as_deref() else {
        bail!(
            "`{}` has no label column: eval needs a `label` or `is_anomaly` column (0 or 1 per row); score unlabelled data with `edgeae score`",
            table.path.display()
        );
    };
    let scored = stream(model, table, &table.path)?;
    let labels: Vec<u8> = scored
        .windows
        .iter()
        .map(|w| w.label.unwrap_or(0))
        .collect();
    let scores: Vec<f32> = scored.windows.iter().map(|w| w.score).collect();
    let flagged: Vec<u8> = scored
        .windows
        .iter()
        .map(|w| u8::from(w.alarm || w.fault.is_some()))
        .collect();
    let records: Vec<WindowRecord> = scored
        .windows
        .iter()
        .map(|w| WindowRecord {
            start: w.start,
            end: w.end,
            score: w.score,
            alarm: w.alarm,
            fault: w.fault.is_some(),
        })
        .collect();
    let segments = metrics::segments(row_labels);
    let scoring = model.scoring();
    let at_threshold = scoring.threshold.is_finite().then(|| {
        let c = Confusion::from_predictions(&flagged, &labels);
        AtThreshold {
            threshold: scoring.threshold,
            clear_threshold: scoring.clear_threshold,
            confusion: c,
            precision: c.precision(),
            recall: c.recall(),
            f1: c.f1(),
            false_positive_rate: c.fpr(),
        }
    });
    let roc = metrics::roc_curve(&scores, &labels);
    let roc_auc = metrics::roc_auc(&scores, &labels);
    let mut baseline_roc = None;
    let baseline_eval = match baseline {
        Some(b) => {
            let scored_b = stream(&b.model, table, &table.path)?;
            let scores_b: Vec<f32> = scored_b.windows.iter().map(|w| w.score).collect();
            let labels_b: Vec<u8> = scored_b
                .windows
                .iter()
                .map(|w| w.label.unwrap_or(0))
                .collect();
            let auc = metrics::roc_auc(&scores_b, &labels_b);
            baseline_roc = metrics::roc_curve(&scores_b, &labels_b).zip(auc);
            Some(BaselineEval {
                source: b.source.clone(),
                components: b.model.codings_len(),
                roc_auc: auc,
                pr_auc: metrics::pr_auc(&scores_b, &labels_b),
            })
        }
        None => None,
    };
    let mut report = EvalReport {
        model: model_path.to_path_buf(),
        data: table.path.clone(),
        windows: scored.windows.len(),
        anomalous_windows: labels.iter().filter(|&&l| l == 1).count(),
        fault_windows: scored.windows.iter().filter(|w| w.fault.is_some()).count(),
        fault_frames: scored.faults.len(),
        roc_auc,
        pr_auc: metrics::pr_auc(&scores, &labels),
        at_threshold,
        segments: metrics::detections(&segments, &records),
        normal_operation: scoring
            .threshold
            .is_finite()
            .then(|| metrics::normal_operation(&segments, &records, &labels)),
        baseline: baseline_eval,
        host_us_per_window: scored.seconds * 1e6 / scored.windows.len().max(1) as f64,
        plot: None,
    };
    if let Some(path) = plot {
        let at = |w: &WindowRow, v: f32| (w.end as f64, f64::from(v));
        let score_pts: Vec<(f64, f64)> = scored.windows.iter().map(|w| at(w, w.score)).collect();
        let smooth_pts: Vec<(f64, f64)> =
            scored.windows.iter().map(|w| at(w, w.smoothed)).collect();
        let alarms = metrics::alarm_spans(&records);
        let title = format!("{} on {}", file_name(model_path), file_name(&table.path));
        plots::eval_figure(
            path,
            &EvalPlot {
                title: &title,
                scores: &score_pts,
                smoothed: &smooth_pts,
                threshold: f64::from(scoring.threshold),
                clear_threshold: f64::from(scoring.clear_threshold),
                segments: &segments,
                alarms: &alarms,
                roc: roc.as_deref().zip(roc_auc),
                baseline_roc: baseline_roc.as_ref().map(|(c, a)| (c.as_slice(), *a)),
            },
        )?;
        report.plot = Some(path.to_path_buf());
    }
    Ok((report, scored))
}
