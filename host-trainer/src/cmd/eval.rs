//! `edgeae eval`: detection quality on labelled data, beside a PCA baseline.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use firmware::Model;

use crate::cli::BaselineChoice;
use crate::data::model_file::{parse, read_model_bytes};
use crate::data::{LoadOptions, load_for_model};
use crate::score::{self, Baseline, EvalReport};

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

/// `edgeae eval`.
pub fn run(
    model_path: &Path,
    data_path: &Path,
    plot: Option<&Path>,
    baseline: Option<BaselineChoice>,
    train: Option<&Path>,
) -> Result<EvalReport> {
    let bytes = read_model_bytes(model_path)?;
    let model = parse(model_path, &bytes)?;
    let table = load_for_model(model_path, &model, data_path, score::STREAM)?;
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
            model: parse(model_path, b)?,
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
    let (report, _) = score::evaluate(model_path, &model, &table, Some(plot), baseline.as_ref())?;
    Ok(report)
}

impl super::Report for EvalReport {
    fn text(&self) -> String {
        report_text(self)
    }
}

/// The PCA baseline for `model`: fitted on the normal windows of
/// `train` (at hop 1, normalised as the model normalises), or the
/// `pca.eam` that `edgeae train` wrote beside the model; `None` when
/// neither is at hand.
fn pca_baseline(
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
        crate::data::normalizer(model).apply(&mut x);
        let k = model.codings_len().min(model.input_len());
        let pca = crate::train::pca::Pca::fit(&x, model.input_len(), k)?;
        let net = pca.host_net();
        let def = model_format::build::ModelBuf {
            kind: crate::train::Kind::Pca.model_kind(),
            layers: crate::train::to_model::layers(&net)?,
            codings_layer: 0,
            scoring: model_format::build::ScoringBuf::default(),
            ..model_format::build::ModelBuf::from_model(model)
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
