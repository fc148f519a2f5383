//! `edgeae export`: the model of a training run as a file for a board, f32
//! or int8 (post-training quantization), recalibrated on held-out windows.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use firmware::{Model, ScratchPlan};
use serde::Serialize;

use super::Report;

use crate::cli::Precision;
use crate::data::model_file::{parse, read_model_bytes};
use crate::data::{self, LoadOptions, Table, normalizer};
use crate::score::{self, CalibrationOptions};
use crate::text::{plural, preview, thousands};
use crate::train::run::model_path;

/// Normal data for `edgeae export`: the table (recalibration streams it)
/// and its windows without anomalous rows, normalised for the model.
struct CalibrationData {
    table: Table,
    windows: Vec<f32>,
    count: usize,
}

impl CalibrationData {
    fn load(model_path: &Path, model: &Model<'_>, path: &Path) -> Result<CalibrationData> {
        let table = data::load(path, LoadOptions::default())?;
        let want = model.input().channels as usize;
        if table.n_channels() != want {
            bail!(
                "`{}` has {} ({}), the model in `{}` takes {want}",
                path.display(),
                plural(table.n_channels(), "channel"),
                preview(&table.channels),
                model_path.display()
            );
        }
        let window = model.input().window as usize;
        if table.rows() < window {
            bail!(
                "`{}` has {}, too few for one window of the model in `{}` ({})",
                path.display(),
                plural(table.rows(), "row"),
                model_path.display(),
                plural(window, "row")
            );
        }
        let starts = data::window_starts(path, table.rows(), window, model.input().hop as usize)?;
        let starts: Vec<usize> = match data::window_labels(&table, &starts, window) {
            Some(labels) => starts
                .iter()
                .zip(labels)
                .filter(|(_, l)| *l == 0)
                .map(|(s, _)| *s)
                .collect(),
            None => starts,
        };
        if starts.is_empty() {
            bail!(
                "`{}` has no window of normal data: every window holds a row labelled anomalous",
                path.display()
            );
        }
        let mut windows = data::gather(&table, &starts, window);
        normalizer(model).apply(&mut windows);
        Ok(CalibrationData {
            table,
            windows,
            count: starts.len(),
        })
    }
}

/// Calibration options that keep what `model`'s threshold was set with:
/// its quantile, its clear/threshold ratio and its smoothing (the defaults
/// where it was never calibrated).
fn kept_calibration(model: &Model<'_>) -> CalibrationOptions {
    let s = model.scoring();
    let d = CalibrationOptions::DEFAULT;
    let median = s.calibration.map_or(0.0, |c| c.p50);
    let ratio = (s.clear_threshold - median) / (s.threshold - median);
    CalibrationOptions {
        quantile: s.calibration.map_or(d.quantile, |c| c.quantile),
        hysteresis: if s.threshold.is_finite() && ratio > 0.0 && ratio <= 1.0 {
            ratio
        } else {
            d.hysteresis
        },
        smoothing: Some(s.smoothing),
    }
}

/// Which layers of `model` are int8, as text.
fn precision_summary(model: &Model<'_>) -> String {
    let list = |int8: bool| {
        let idx: Vec<String> = model
            .ops()
            .iter()
            .enumerate()
            .filter(|(_, op)| op.is_int8() == int8)
            .map(|(i, _)| i.to_string())
            .collect();
        if idx.is_empty() {
            "none".to_string()
        } else {
            idx.join(", ")
        }
    };
    format!("int8: {}; f32: {}", list(true), list(false))
}

/// The int8 recurrent layers of `model`, for the `recurrent` lines.
fn recurrent_layers(model: &Model<'_>) -> Vec<RecurrentLayer> {
    model
        .ops()
        .iter()
        .enumerate()
        .filter_map(|(layer, op)| match op {
            model_format::Op::RecurrentI8(r) => {
                let q = r.output_quant;
                let at = |v: i32| (v - i32::from(q.zero_point)) as f32 * q.scale;
                Some(RecurrentLayer {
                    layer,
                    cell: r.cell,
                    hidden: r.hidden,
                    sequences: r.sequences,
                    state_shift: r.state_shift,
                    h_range: [at(-128), at(127)],
                })
            }
            _ => None,
        })
        .collect()
}

/// `edgeae export`.
pub fn run(
    run_dir: &Path,
    quant: Precision,
    calib: Option<&Path>,
    out: &Path,
    keep_f32: &[usize],
) -> Result<ExportReport> {
    if !run_dir.exists() {
        bail!(
            "`{}` does not exist: expected a training run directory (`edgeae train --out DIR`) or a model file",
            run_dir.display()
        );
    }
    let model_file = if run_dir.is_dir() {
        let m = model_path(run_dir);
        if !m.is_file()
            && let Ok(ck) = crate::train::checkpoint::Checkpoint::load(run_dir)
            && ck.config.recurrent.objective == crate::train::config::Objective::Predict
        {
            bail!(crate::train::objective::predict_not_exported(
                ck.config.recurrent.horizon
            ));
        }
        if !m.is_file() {
            bail!(
                "`{}` holds no model.eam: expected a training run directory (`edgeae train --out DIR`) or a model file",
                run_dir.display()
            );
        }
        m
    } else {
        run_dir.to_path_buf()
    };
    let bytes = read_model_bytes(&model_file)?;
    let model = parse(&model_file, &bytes)?;
    if let Some(i) = model.ops().iter().position(|op| op.is_int8()) {
        bail!(
            "model `{}` is already quantized (layer {i} is int8): export the f32 model that `edgeae train` wrote",
            model_file.display()
        );
    }
    if quant == Precision::F32 && !keep_f32.is_empty() {
        bail!("--keep-f32 goes with --quant int8: --quant f32 keeps every layer in f32");
    }
    if quant == Precision::Int8 && calib.is_none() {
        bail!(
            "--quant int8 needs --calib NORMAL.csv: normal data with the model's channels (the training data will do) to measure the activation ranges on"
        );
    }
    let calibration = calib
        .map(|p| CalibrationData::load(&model_file, &model, p))
        .transpose()?;
    let exported = match (&calibration, quant) {
        (Some(c), Precision::Int8) => {
            let opts = crate::quant::QuantizeOptions {
                keep_f32: keep_f32.to_vec(),
            };
            crate::quant::quantize(&model, &c.windows, &opts)
                .and_then(|def| Ok(def.encode()?))
                .map_err(|e| e.context(format!("cannot quantize `{}`", model_file.display())))?
        }
        _ => bytes.clone(),
    };
    let f32_scoring = *model.scoring();
    // The threshold comes from the windows the training run held out, which
    // the model never trained on; --calib (often the training data itself)
    // only where the run's data is not at hand.
    let held_out = if run_dir.is_dir() {
        held_out_runs(run_dir)
    } else {
        Err("a model file was given, not its run directory".to_string())
    };
    let mut recalibrated = None;
    let source: Option<(Vec<&[f32]>, String)> = match (&held_out, &calibration, calib) {
        // A classifier has classes, not an alarm to calibrate.
        _ if model.classes().is_some() => None,
        (Ok((runs, data)), _, _) => Some((
            runs.iter().map(Vec::as_slice).collect(),
            format!("windows held out from `{}` in training", data.display()),
        )),
        (Err(why), Some(c), Some(p)) => Some((
            score::normal_runs(&c.table, model.input().window as usize),
            format!("windows of `{}` ({why})", p.display()),
        )),
        _ => None,
    };
    let exported = match &source {
        Some((runs, from)) => {
            let new = parse(out, &exported)?;
            let opts = kept_calibration(&model);
            let smoothing = opts.smoothing.unwrap_or(f32_scoring.smoothing);
            let (t, n) = score::calibrate_alarm(&new, runs, &opts, smoothing)?;
            // The f32 model's threshold on the same windows, for comparison.
            let (f32_t, _) = score::calibrate_alarm(&model, runs, &opts, smoothing)?;
            recalibrated = Some((t.threshold, f32_t.threshold, n, opts.quantile, from.clone()));
            score::with_thresholds(&exported, &t, smoothing)?
        }
        None => exported,
    };
    let new = parse(out, &exported)?;
    let comparison = calibration
        .as_ref()
        .map(|c| crate::quant::compare(&model, &new, &c.windows))
        .transpose()?;
    crate::data::files::write_atomic(out, &exported)?;

    let recalibrated = recalibrated.map(|(t, f32_t, n, q, from)| Recalibration {
        threshold: t,
        f32_threshold: f32_t,
        windows: n,
        quantile: q,
        from,
    });
    Ok(ExportReport {
        model: model_file,
        out: out.to_path_buf(),
        precision: if new.has_int8() { "int8" } else { "f32" },
        classes: new.classes(),
        version: new.header().version,
        layers: precision_summary(&new),
        ranges: match (&calibration, calib) {
            (Some(c), Some(path)) if new.has_int8() => Some((c.count, path.to_path_buf())),
            _ => None,
        },
        flash_bytes: [model.file_len(), new.file_len()],
        parameters: [model.param_count(), new.param_count()],
        scratch_bytes: [
            ScratchPlan::for_stream(&model).bytes(),
            ScratchPlan::for_stream(&new).bytes(),
        ],
        scratch_words: [
            ScratchPlan::for_stream(&model).total(),
            ScratchPlan::for_stream(&new).total(),
        ],
        trained_threshold: f32_scoring
            .threshold
            .is_finite()
            .then_some(f32_scoring.threshold),
        recalibrated,
        clear_threshold: new.scoring().clear_threshold,
        smoothing: new.scoring().smoothing,
        recurrent: recurrent_layers(&new),
        difference: comparison,
    })
}

/// A threshold set again on the exported model.
#[derive(Debug, Clone, Serialize)]
pub struct Recalibration {
    /// The exported model's threshold.
    pub threshold: f32,
    /// The f32 model's threshold on the same windows.
    pub f32_threshold: f32,
    /// Windows calibrated on.
    pub windows: usize,
    /// Quantile of the alarm statistic.
    pub quantile: f32,
    /// Where the windows came from, in words.
    pub from: String,
}

/// An int8 recurrent layer of the exported model.
#[derive(Debug, Clone, Serialize)]
pub struct RecurrentLayer {
    /// Its index.
    pub layer: usize,
    /// LSTM or GRU.
    pub cell: model_format::Cell,
    /// Hidden units.
    pub hidden: usize,
    /// Every step's hidden state out (true) or the last one's.
    pub sequences: bool,
    /// `p`: the int16 state's scale is `2^p` (the LSTM's cell state, or the
    /// GRU's hidden state at `2^−15`).
    pub state_shift: i8,
    /// The real range of the int8 hidden state.
    pub h_range: [f32; 2],
}

/// What `edgeae export` wrote. Pairs are (before, after).
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    /// The trained model.
    pub model: PathBuf,
    /// The exported model.
    pub out: PathBuf,
    /// `int8` or `f32`.
    pub precision: &'static str,
    /// Classes of a classifier (`None`: an autoencoder).
    pub classes: Option<usize>,
    /// Format version of the file.
    pub version: u16,
    /// Which layers are int8 and which f32, in words.
    pub layers: String,
    /// Normal windows the int8 ranges were measured on, and their file.
    pub ranges: Option<(usize, PathBuf)>,
    /// Flash bytes.
    pub flash_bytes: [usize; 2],
    /// Parameters.
    pub parameters: [usize; 2],
    /// Scratch RAM bytes of a board's engine (`ScratchPlan::for_stream`).
    pub scratch_bytes: [usize; 2],
    /// Those in words.
    pub scratch_words: [usize; 2],
    /// The f32 model's threshold as trained (absent: not calibrated).
    pub trained_threshold: Option<f32>,
    /// The threshold set on the exported model (absent: kept).
    pub recalibrated: Option<Recalibration>,
    /// The exported model's clear threshold.
    pub clear_threshold: f32,
    /// The exported model's smoothing.
    pub smoothing: f32,
    /// Its int8 recurrent layers.
    pub recurrent: Vec<RecurrentLayer>,
    /// Exported against f32 reconstructions, on the `--calib` windows.
    pub difference: Option<crate::quant::Comparison>,
}

impl Report for ExportReport {
    fn text(&self) -> String {
        let mut out = String::new();
        let name = self.precision;
        let _ = writeln!(
            out,
            "exported     `{}` -> `{}`: format version {}, layers {}",
            self.model.display(),
            self.out.display(),
            self.version,
            self.layers
        );
        if let Some((count, path)) = &self.ranges {
            let _ = writeln!(
                out,
                "ranges       int8 activation ranges from {} of `{}`",
                plural(*count, "normal window"),
                path.display()
            );
        }
        for r in &self.recurrent {
            let state = match r.cell {
                model_format::Cell::Lstm => format!(
                    "cell state int16 at 2^{} (|c| < {})",
                    r.state_shift,
                    2f64.powi(i32::from(r.state_shift) + 15)
                ),
                model_format::Cell::Gru => {
                    format!("hidden state int16 at 2^{}", r.state_shift)
                }
            };
            let _ = writeln!(
                out,
                "recurrent    layer {}: int8 {}, {} hidden, {}; gates Q3.12 (|pre-activation| < 8) into table sigmoid and tanh, {state}, h int8 in [{:.4}, {:.4}]",
                r.layer,
                r.cell.name().to_uppercase(),
                r.hidden,
                if r.sequences {
                    "every step out"
                } else {
                    "last step out"
                },
                r.h_range[0],
                r.h_range[1]
            );
        }
        let [old_flash, new_flash] = self.flash_bytes;
        let _ = writeln!(
            out,
            "flash        {} -> {} bytes{}",
            thousands(old_flash),
            thousands(new_flash),
            if new_flash < old_flash {
                format!(
                    " ({:.2}x smaller)",
                    old_flash as f64 / new_flash.max(1) as f64
                )
            } else {
                String::new()
            }
        );
        let _ = writeln!(
            out,
            "parameters   {} -> {}",
            thousands(self.parameters[0]),
            thousands(self.parameters[1])
        );
        let _ = writeln!(
            out,
            "scratch RAM  {} -> {} bytes (engine: {} -> {} words)",
            thousands(self.scratch_bytes[0]),
            thousands(self.scratch_bytes[1]),
            self.scratch_words[0],
            self.scratch_words[1]
        );
        let old_t = self
            .trained_threshold
            .map_or_else(|| "not calibrated".to_string(), |t| t.to_string());
        match &self.recalibrated {
            Some(r) => {
                let _ = writeln!(
                    out,
                    "threshold    {old_t} (f32, as trained) -> {} ({name}, alarm on at most {:.3} % of {} {}; the f32 model there: {}), clears below {}, smoothing {}",
                    r.threshold,
                    (1.0 - f64::from(r.quantile)) * 100.0,
                    r.windows,
                    r.from,
                    r.f32_threshold,
                    self.clear_threshold,
                    self.smoothing
                );
            }
            None if self.classes.is_some() => {}
            None => {
                let _ = writeln!(
                    out,
                    "threshold    {old_t} (kept; give --calib to recalibrate)"
                );
            }
        }
        if let Some(n) = self.classes {
            let _ = writeln!(out, "classes      {n} (a classifier: no threshold)");
        }
        if let Some(c) = &self.difference
            && let Some(same) = c.same_class
        {
            let _ = writeln!(
                out,
                "difference   mean |{name} - f32| of the logits {:.6} (max {:.6}); the same class in {} of {} windows",
                c.mean_abs_diff,
                c.max_abs_diff,
                thousands(same),
                thousands(c.windows)
            );
        } else if let Some(c) = &self.difference {
            let _ = writeln!(
                out,
                "difference   mean |{name} - f32| {:.6} (max {:.6}) over {} windows, normalised units; reconstruction error mean |x - f32| {:.6}, mean |x - {name}| {:.6}",
                c.mean_abs_diff,
                c.max_abs_diff,
                thousands(c.windows),
                c.mean_abs_err_a,
                c.mean_abs_err_b
            );
        }
        let _ = writeln!(out, "wrote        {}", self.out.display());
        out
    }
}

/// The normal rows the training run in `run_dir` held out (validation
/// blocks), read again from its data file, with that file's path; or why
/// they cannot be had.
fn held_out_runs(
    run_dir: &Path,
) -> std::result::Result<(Vec<Vec<f32>>, std::path::PathBuf), String> {
    let ck = crate::train::checkpoint::Checkpoint::load(run_dir).map_err(|e| format!("{e:#}"))?;
    let data = crate::train::prepare::prepare(&ck.config).map_err(|e| format!("{e:#}"))?;
    if data.data_hash != ck.data_hash {
        return Err(format!(
            "`{}` changed since training",
            ck.config.data.display()
        ));
    }
    if data.holdout.is_empty() {
        return Err("the run held out no validation windows".into());
    }
    Ok((data.holdout, ck.config.data))
}
