//! The anomaly-detection commands: `edgeae calibrate`, `score` and `eval`.
//! All of them stream the data through the firmware's [`firmware::Stream`].

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use firmware::Model;
use serde::Serialize;

use crate::anomaly::{self, CalibrationOptions, Scored};
use crate::commands::load_for_model;
use crate::data::{LoadOptions, Table};
use crate::eval::{self, Confusion, Detection, WindowRecord};
use crate::inspect::{load, read_model_bytes};
use crate::plots::{self, EvalPlot};

const STREAM: LoadOptions = LoadOptions {
    allow_non_finite: true,
};

/// `edgeae calibrate`.
pub fn calibrate(
    model_path: &Path,
    data_path: &Path,
    out: Option<&Path>,
    metric: Option<crate::train::config::ScoreMetric>,
    opts: &CalibrationOptions,
) -> Result<()> {
    let bytes = read_model_bytes(model_path)?;
    let (table, changed) = {
        let model = load(model_path, &bytes)?;
        let table = load_for_model(model_path, &model, data_path, STREAM)?;
        let changed = match metric {
            None => None,
            Some(m) => {
                let metric_bytes;
                let new = match m {
                    crate::train::config::ScoreMetric::Mse => model_format::Metric::Mse,
                    crate::train::config::ScoreMetric::Standardized => {
                        let window = model.input().window as usize;
                        let runs = anomaly::normal_runs(&table, window);
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
                        crate::commands::normalizer(&model).apply(&mut x);
                        metric_bytes =
                            crate::export::le_bytes(&anomaly::standardizing_weights(&model, &x)?);
                        model_format::Metric::Standardized(model_format::F32s::new(&metric_bytes))
                    }
                };
                Some(anomaly::with_metric(&bytes, &new)?)
            }
        };
        (table, changed)
    };
    let bytes = changed.unwrap_or(bytes);
    let model = load(model_path, &bytes)?;
    let smoothing = opts.smoothing.unwrap_or(model.scoring().smoothing);
    let (t, n) = anomaly::calibrate_on(&model, &table, opts, smoothing)?;
    let calibrated = anomaly::with_thresholds(&bytes, &t, smoothing)?;
    let out = out.unwrap_or(model_path);
    crate::fsx::write_atomic(out, &calibrated)?;
    let c = t.calibration.unwrap_or(model_format::Calibration {
        windows: 0,
        quantile: opts.quantile,
        mean: 0.0,
        std: 0.0,
        p50: 0.0,
        p90: 0.0,
        p99: 0.0,
        max: 0.0,
    });
    println!(
        "calibrated on {n} normal windows of `{}`: threshold {} (alarm on for at most {:.3} % of them), clears below {}, smoothing {smoothing}, metric {}",
        data_path.display(),
        t.threshold,
        (1.0 - f64::from(opts.quantile)) * 100.0,
        t.clear_threshold,
        model.scoring().metric.name()
    );
    println!(
        "errors       mean {} std {}; p50 {} p90 {} p99 {} max {}",
        c.mean, c.std, c.p50, c.p90, c.p99, c.max
    );
    println!("wrote        {}", out.display());
    Ok(())
}

/// `edgeae score`.
pub fn score(model_path: &Path, data_path: &Path, out: &Path) -> Result<()> {
    let bytes = read_model_bytes(model_path)?;
    let model = load(model_path, &bytes)?;
    let table = load_for_model(model_path, &model, data_path, STREAM)?;
    let scored = stream(&model, &table, data_path)?;
    anomaly::write_scores(out, &scored)?;
    let faulted = scored.windows.iter().filter(|w| w.fault.is_some()).count();
    println!(
        "wrote {}: {} windows, {} alarm(s) raised, {} frame(s) with NaN/inf samples ({faulted} windows not scored){}",
        out.display(),
        scored.windows.len(),
        scored.alarms_raised(),
        scored.faults.len(),
        if model.scoring().threshold.is_finite() {
            String::new()
        } else {
            "; the model is not calibrated, so it never alarms (edgeae calibrate)".into()
        }
    );
    Ok(())
}

/// Streams `table`, refusing data too short for one window.
fn stream(model: &Model<'_>, table: &Table, data_path: &Path) -> Result<Scored> {
    let window = model.input().window as usize;
    if table.rows() < window {
        bail!(
            "`{}` has {} rows, fewer than one window of the model ({window} rows)",
            data_path.display(),
            table.rows()
        );
    }
    anomaly::score_table(model, table, None)
}

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
    pub normal_operation: Option<eval::NormalOperation>,
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
    let segments = eval::segments(row_labels);
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
    let roc = eval::roc_curve(&scores, &labels);
    let roc_auc = eval::roc_auc(&scores, &labels);
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
            let auc = eval::roc_auc(&scores_b, &labels_b);
            baseline_roc = eval::roc_curve(&scores_b, &labels_b).zip(auc);
            Some(BaselineEval {
                source: b.source.clone(),
                components: b.model.codings_len(),
                roc_auc: auc,
                pr_auc: eval::pr_auc(&scores_b, &labels_b),
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
        pr_auc: eval::pr_auc(&scores, &labels),
        at_threshold,
        segments: eval::detections(&segments, &records),
        normal_operation: scoring
            .threshold
            .is_finite()
            .then(|| eval::normal_operation(&segments, &records, &labels)),
        baseline: baseline_eval,
        host_us_per_window: scored.seconds * 1e6 / scored.windows.len().max(1) as f64,
        plot: None,
    };
    if let Some(path) = plot {
        let at = |w: &anomaly::WindowRow, v: f32| (w.end as f64, f64::from(v));
        let score_pts: Vec<(f64, f64)> = scored.windows.iter().map(|w| at(w, w.score)).collect();
        let smooth_pts: Vec<(f64, f64)> =
            scored.windows.iter().map(|w| at(w, w.smoothed)).collect();
        let alarms = eval::alarm_spans(&records);
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

fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "n/a".into(), |v| format!("{v:.digits$}"))
}

/// The text report.
pub fn report_text(r: &EvalReport) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "windows      {} ({} labelled anomalous, {} not scored: {} frame(s) with NaN/inf samples)\n",
        r.windows, r.anomalous_windows, r.fault_windows, r.fault_frames
    ));
    s.push_str(&format!(
        "ROC AUC      {}   PR AUC {}\n",
        opt(r.roc_auc, 4),
        opt(r.pr_auc, 4)
    ));
    if let Some(b) = &r.baseline {
        s.push_str(&format!(
            "baseline     PCA with {} components ({}): ROC AUC {}   PR AUC {}\n",
            b.components,
            b.source,
            opt(b.roc_auc, 4),
            opt(b.pr_auc, 4)
        ));
    }
    match &r.at_threshold {
        Some(t) => s.push_str(&format!(
            "threshold    {} (clears below {}): precision {}, recall {}, F1 {}, false-positive rate {} ({} tp, {} fp, {} fn, {} tn)\n",
            t.threshold,
            t.clear_threshold,
            opt(t.precision, 3),
            opt(t.recall, 3),
            opt(t.f1, 3),
            opt(t.false_positive_rate, 4),
            t.confusion.tp,
            t.confusion.fp,
            t.confusion.fn_,
            t.confusion.tn
        )),
        None => s.push_str(
            "threshold    none: the model is not calibrated (edgeae calibrate); alarms, F1 and delays need one\n",
        ),
    }
    if let Some(n) = &r.normal_operation {
        s.push_str(&format!(
            "normal       false-positive rate {} in normal operation ({} of {} normal windows starting more than a window after every labelled segment)\n",
            opt(n.false_positive_rate, 4),
            n.flagged,
            n.windows
        ));
    }
    s.push_str(&format!(
        "segments     {} of {} detected, mean delay {} rows\n",
        r.detected(),
        r.segments.len(),
        opt(r.mean_delay(), 1)
    ));
    for d in &r.segments {
        s.push_str(&format!(
            "  rows {:>7}..{:<7} {}{}\n",
            d.start,
            d.end,
            match d.delay {
                Some(delay) => format!("detected after {delay} rows"),
                None => "MISSED".into(),
            },
            match d.cleared_after {
                Some(c) => format!(", cleared {c} rows after its end"),
                None => ", still flagged at the end of the data".into(),
            }
        ));
    }
    s.push_str(&format!(
        "host time    {:.1} us per window\n",
        r.host_us_per_window
    ));
    if let Some(p) = &r.plot {
        s.push_str(&format!("plot         {}\n", p.display()));
    }
    s
}

/// Which baseline `edgeae eval` puts beside the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BaselineChoice {
    /// PCA with as many components as the model has codings: fitted on
    /// --train, or the run's `pca.eam` beside the model.
    Pca,
    /// None.
    None,
}

/// The PCA baseline for `model`: fitted on the normal windows of
/// `train` (at hop 1, normalised as the model normalises), or the
/// `pca.eam` that `edgeae train` wrote beside the model; `None` when
/// neither is at hand.
pub fn pca_baseline(
    model_path: &Path,
    model: &Model<'_>,
    train: Option<&Path>,
) -> Result<Option<(Vec<u8>, String)>> {
    if let Some(path) = train {
        let table = load_for_model(model_path, model, path, LoadOptions::default())?;
        let window = model.input().window as usize;
        let starts = crate::data::window_starts(path, table.rows(), window, 1)?;
        let starts: Vec<usize> = match crate::data::window_labels(&table, &starts, window) {
            Some(labels) => starts
                .into_iter()
                .zip(labels)
                .filter(|(_, l)| *l == 0)
                .map(|(s, _)| s)
                .collect(),
            None => starts,
        };
        if starts.is_empty() {
            bail!(
                "`{}` has no window of normal data to fit the PCA baseline on",
                path.display()
            );
        }
        let mut x = crate::data::gather(&table, &starts, window);
        crate::commands::normalizer(model).apply(&mut x);
        let k = model.codings_len().min(model.input_len());
        let pca = crate::train::pca::Pca::fit(&x, model.input_len(), k)?;
        let net = pca.host_net();
        let def = crate::export::ModelDef {
            kind: crate::train::Kind::Pca.model_kind(),
            layers: crate::train::export::layers(&net),
            codings_layer: 0,
            scoring: crate::export::ScoringDef::default(),
            ..crate::export::ModelDef::from_model(model)
        };
        let bytes = def.encode()?;
        return Ok(Some((
            bytes,
            format!("fitted on {} windows of `{}`", starts.len(), path.display()),
        )));
    }
    let beside = model_path
        .parent()
        .map(crate::train::baseline_path)
        .filter(|p| p.is_file() && p != model_path);
    match beside {
        Some(p) => Ok(Some((read_model_bytes(&p)?, format!("`{}`", p.display())))),
        None => Ok(None),
    }
}

/// `edgeae eval`.
pub fn eval_command(
    model_path: &Path,
    data_path: &Path,
    json: bool,
    plot: Option<&Path>,
    baseline: Option<BaselineChoice>,
    train: Option<&Path>,
) -> Result<()> {
    let bytes = read_model_bytes(model_path)?;
    let model = load(model_path, &bytes)?;
    let table = load_for_model(model_path, &model, data_path, STREAM)?;
    let baseline_bytes = match baseline {
        Some(BaselineChoice::None) => None,
        choice => {
            let found = pca_baseline(model_path, &model, train)?;
            if found.is_none() && choice == Some(BaselineChoice::Pca) {
                bail!(
                    "--baseline pca needs --train NORMAL.csv (the training data) or the `pca.eam` that `edgeae train` writes beside the model"
                );
            }
            found
        }
    };
    let baseline = match &baseline_bytes {
        Some((b, source)) => Some(Baseline {
            model: load(model_path, b)?,
            source: source.clone(),
        }),
        None => None,
    };
    let default_plot;
    let plot = match plot {
        Some(p) => p,
        None => {
            default_plot = model_path
                .parent()
                .map_or_else(|| PathBuf::from("eval.png"), |d| d.join("eval.png"));
            &default_plot
        }
    };
    let (report, _) = evaluate(model_path, &model, &table, Some(plot), baseline.as_ref())?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report_text(&report));
    }
    Ok(())
}
