//! `edgeae train`: trains a model of any kind on a data file and exports
//! it, with a PCA baseline and calibrated thresholds (see [`crate::train`]).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use firmware::{Model, ScratchPlan};

use serde::Serialize;

use super::Report;
use crate::cli::TrainArgs;
use crate::text::{preview, thousands};
use crate::train::checkpoint;
use crate::train::config::{Kind, TrainConfig};
use crate::train::prepare::Prepared;
use crate::train::report;
use crate::train::run::{RunOptions, Trained, model_path, resume_config};

/// `edgeae train`.
pub fn run(args: TrainArgs) -> Result<TrainReport> {
    let opts = RunOptions {
        quiet: args.quiet,
        threads: args.threads,
        calibration: args.calibration.options()?,
    };
    if let Some(flag) = args.classifier.first_given() {
        bail!("{flag} goes with --kind classifier");
    }
    let kind_arg = args.kind.and_then(crate::cli::KindArg::autoencoder);
    let (cfg, start) = if args.resume {
        let (cfg, ck) = resume_config(&args.out, args.lr, args.epochs)?;
        if let Some(d) = &args.data
            && d != &cfg.data
        {
            bail!(
                "--resume continues the run in `{}` on `{}`, not `{}`",
                args.out.display(),
                cfg.data.display(),
                d.display()
            );
        }
        if let Some(k) = kind_arg
            && k != cfg.kind
        {
            bail!("--resume continues a {} run, not {k}", cfg.kind);
        }
        if args.cell.is_some() && cfg.kind != Kind::Recurrent {
            bail!("--cell goes with --kind recurrent, not {}", cfg.kind);
        }
        if let Some(c) = args.cell
            && c != cfg.recurrent.cell
        {
            bail!(
                "--resume continues a run of {} layers, not --cell {}",
                cfg.recurrent.cell.name(),
                c.name().to_lowercase()
            );
        }
        if let Some(o) = args.objective
            && o != cfg.recurrent.objective
        {
            bail!(
                "--resume continues a run with --objective {}, not --objective {o}",
                cfg.recurrent.objective
            );
        }
        if let Some(h) = args.horizon
            && h != cfg.recurrent.horizon
        {
            bail!(
                "--resume continues a run with --horizon {}, not --horizon {h}",
                cfg.recurrent.horizon
            );
        }
        (cfg, Some(ck))
    } else {
        if checkpoint::path(&args.out).exists() {
            bail!(
                "`{}` already holds a training run; continue it with --resume, or choose another --out",
                args.out.display()
            );
        }
        let data = args.data.context("--data is required")?;
        let kind = kind_arg.context("--kind is required")?;
        if args.cell.is_some() && kind != Kind::Recurrent {
            bail!("--cell goes with --kind recurrent, not {kind}");
        }
        let mut cfg =
            TrainConfig::new(data, kind, args.out.clone()).with_window(args.window.unwrap_or(1));
        if let Some(hop) = args.hop {
            cfg.hop = hop;
        }
        cfg.codings = args.codings;
        cfg.hidden = args.hidden;
        cfg.epochs = args.epochs;
        cfg.fine_tune_epochs = args.fine_tune_epochs;
        set(&mut cfg.train_hop, args.train_hop);
        set(&mut cfg.max_steps, args.max_steps);
        set(&mut cfg.batch, args.batch);
        set(&mut cfg.lr, args.lr);
        set(&mut cfg.seed, args.seed);
        set(&mut cfg.val_split, args.val_split);
        set(&mut cfg.noise, args.noise);
        set(&mut cfg.sparsity, args.sparsity);
        set(&mut cfg.beta, args.beta);
        set(&mut cfg.normalize, args.normalize);
        set(&mut cfg.loss, args.loss);
        set(&mut cfg.device, args.device);
        set(&mut cfg.metric, args.metric);
        cfg.pca_start = args.pca_start;
        cfg.arch = args.arch.clone();
        cfg.image = args.image;
        cfg.limit = args.limit;
        if kind == Kind::Recurrent {
            cfg.recurrent.cell = args.cell.unwrap_or_default();
            cfg.recurrent.denoise = args.noise.is_some();
        }
        cfg.recurrent.objective = args.objective.unwrap_or_default();
        if cfg.recurrent.objective.predicts() {
            cfg.recurrent.horizon = args.horizon.unwrap_or(1);
        } else if let Some(h) = args.horizon {
            bail!(
                "--horizon {h} goes with --objective predict or composite (the frames to predict after each window)"
            );
        }
        (cfg, None)
    };
    let t0 = Instant::now();
    let done = crate::train::train_and_export(cfg, start, opts)?;
    let forecast = done.forecast.as_ref().map(Forecast::of);
    let Some(bytes) = &done.model else {
        let mut report = report_of(&done.trained, &done.data, None, t0);
        report.notes.extend(done.not_exported.clone());
        report.forecast = forecast;
        return Ok(report);
    };
    let (trained, data, plots) = (&done.trained, &done.data, &done.plots);
    let cfg = &trained.config;
    let model = Model::load(bytes)
        .map_err(|e| anyhow!("internal error: exported model does not load: {e}"))?;
    let scoring = model.scoring();
    let mut files = vec![cfg.out.join("loss.png")];
    files.extend(plots.iter().cloned());
    Ok(TrainReport {
        model: Some(model_path(&cfg.out)),
        layers: model.layers().len(),
        parameters: model.param_count(),
        flash_bytes: Some(model.file_len()),
        scratch_bytes: Some(ScratchPlan::for_model(&model).bytes()),
        threshold: match scoring.calibration {
            Some(c) if scoring.threshold.is_finite() => Some(Threshold {
                threshold: scoring.threshold,
                quantile: c.quantile,
                windows: c.windows,
                clear_threshold: scoring.clear_threshold,
                smoothing: scoring.smoothing,
            }),
            _ => None,
        },
        plots: files,
        forecast,
        ..report_of(trained, data, done.baseline.as_ref(), t0)
    })
}

/// The report of a finished run, without a model file; the caller fills in
/// the model's part.
fn report_of(
    trained: &Trained,
    data: &Prepared,
    baseline: Option<&crate::train::Baseline>,
    t0: Instant,
) -> TrainReport {
    let cfg = &trained.config;
    let last = trained.history.last();
    let mut notes = Vec::new();
    if !data.constant_channels.is_empty() {
        let n = data.constant_channels.len();
        notes.push(format!(
            "{} never change{} in the training data (zero spread): centred but not scaled, so any change in them counts fully in the error",
            if n == 1 {
                format!("channel {}", data.constant_channels[0])
            } else {
                format!("{n} channels ({})", preview(&data.constant_channels))
            },
            if n == 1 { "s" } else { "" }
        ));
    }
    if let Some(note) = report::font_note() {
        notes.push(note.to_string());
    }
    let stop = last.and_then(|r| r.stop).map(|stop| {
        let phases: Vec<_> = trained
            .history
            .iter()
            .filter(|h| h.stop.is_some())
            .collect();
        Stop {
            reason: stop.describe(),
            epochs: trained.history.len(),
            steps: phases.iter().map(|h| h.steps).sum(),
            phases: phases.len(),
            best_epoch: crate::train::run::best_epoch(trained),
        }
    });
    TrainReport {
        kind: cfg.kind.to_string(),
        data: cfg.data.clone(),
        train_windows: data.n_train(),
        val_windows: data.n_val(),
        values_per_window: data.input_len,
        excluded_anomalous: data.excluded_anomalous,
        last_epoch: last.map(|r| LastEpoch {
            loss: r.train_loss,
            val_loss: r.val_loss,
            val_recon: r.val_recon,
            mean_baseline: data.baseline,
        }),
        stop,
        baseline: baseline.map(|b| PcaBaseline {
            components: b.components,
            val_mse: b.val_mse,
            model_val_mse: b.model_val_mse,
            path: b.path.clone(),
        }),
        training_s: trained.elapsed_s,
        this_run_s: t0.elapsed().as_secs_f64(),
        // The last epoch trains the whole network for every kind (greedy stages are faster).
        samples_per_s: last.map_or(0.0, |r| r.samples_per_s),
        model: None,
        layers: trained.net.spec.layers.len(),
        parameters: trained
            .net
            .weights
            .iter()
            .flatten()
            .chain(&trained.net.biases)
            .map(Vec::len)
            .sum(),
        flash_bytes: None,
        scratch_bytes: None,
        threshold: None,
        plots: vec![cfg.out.join("loss.png")],
        forecast: None,
        notes,
    }
}

/// A predicting recurrent network against persistence on the held-out
/// windows (normalised units).
#[derive(Debug, Clone, Serialize)]
pub struct Forecast {
    /// `predict` or `composite`.
    pub objective: String,
    /// Frames predicted after each window.
    pub horizon: usize,
    /// Held-out windows.
    pub windows: usize,
    /// The model's prediction MSE.
    pub mse: f64,
    /// Persistence's (the window's last frame, repeated).
    pub persistence_mse: f64,
    /// Composite: the reconstructing decoder's MSE on the same windows.
    pub reconstruction_mse: Option<f64>,
}

impl Forecast {
    fn of(f: &crate::train::objective::Forecast) -> Forecast {
        Forecast {
            objective: f.objective.to_string(),
            horizon: f.horizon,
            windows: f.windows,
            mse: f.model_mse,
            persistence_mse: f.persistence_mse,
            reconstruction_mse: f.recon_mse,
        }
    }
}

/// The last epoch's losses.
#[derive(Debug, Clone, Serialize)]
pub struct LastEpoch {
    /// Training loss.
    pub loss: f64,
    /// Validation loss.
    pub val_loss: f64,
    /// Validation reconstruction loss.
    pub val_recon: f64,
    /// The loss of predicting the mean.
    pub mean_baseline: f64,
}

/// Why and when training stopped.
#[derive(Debug, Clone, Serialize)]
pub struct Stop {
    /// The reason, in words.
    pub reason: &'static str,
    /// Epochs trained.
    pub epochs: usize,
    /// Optimizer steps over all phases.
    pub steps: usize,
    /// Phases (greedy stages, then the whole network).
    pub phases: usize,
    /// The epoch whose weights were kept (0: the PCA start).
    pub best_epoch: Option<usize>,
}

/// The PCA baseline on the same windows.
#[derive(Debug, Clone, Serialize)]
pub struct PcaBaseline {
    /// Components.
    pub components: usize,
    /// PCA's validation MSE.
    pub val_mse: f64,
    /// The model's validation MSE, measured the same way.
    pub model_val_mse: f64,
    /// `RUN_DIR/pca.eam`.
    pub path: PathBuf,
}

/// The calibrated threshold.
#[derive(Debug, Clone, Serialize)]
pub struct Threshold {
    /// Alarm threshold.
    pub threshold: f32,
    /// Quantile of the alarm statistic.
    pub quantile: f32,
    /// Held-out windows calibrated on.
    pub windows: u32,
    /// Clear threshold.
    pub clear_threshold: f32,
    /// EWMA smoothing.
    pub smoothing: f32,
}

/// What `edgeae train` did.
#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    /// The kind trained.
    pub kind: String,
    /// The data file.
    pub data: PathBuf,
    /// Training windows.
    pub train_windows: usize,
    /// Validation windows.
    pub val_windows: usize,
    /// Values per window.
    pub values_per_window: usize,
    /// Windows left out because they hold anomalous rows.
    pub excluded_anomalous: usize,
    /// The last epoch.
    pub last_epoch: Option<LastEpoch>,
    /// Why training stopped (absent when stopped by `--epochs` in every phase).
    pub stop: Option<Stop>,
    /// The PCA baseline.
    pub baseline: Option<PcaBaseline>,
    /// Seconds of training over all runs of this run directory.
    pub training_s: f64,
    /// Seconds in this invocation.
    pub this_run_s: f64,
    /// Training throughput of the last epoch.
    pub samples_per_s: f64,
    /// The model file.
    pub model: Option<PathBuf>,
    /// Its layers (the network's, without a model file).
    pub layers: usize,
    /// Its parameters (the network's, without a model file).
    pub parameters: usize,
    /// Its size in flash.
    pub flash_bytes: Option<usize>,
    /// Its scratch RAM on a board.
    pub scratch_bytes: Option<usize>,
    /// The calibrated threshold (absent without validation windows).
    pub threshold: Option<Threshold>,
    /// The figures drawn.
    pub plots: Vec<PathBuf>,
    /// `--objective predict` and `composite`: the prediction against
    /// persistence on the held-out windows.
    pub forecast: Option<Forecast>,
    /// Remarks.
    pub notes: Vec<String>,
}

impl Report for TrainReport {
    fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "trained {} on `{}`: {} training and {} validation windows of {} values{}",
            self.kind,
            self.data.display(),
            thousands(self.train_windows),
            thousands(self.val_windows),
            self.values_per_window,
            if self.excluded_anomalous > 0 {
                format!(
                    " ({} windows with anomalous rows left out)",
                    self.excluded_anomalous
                )
            } else {
                String::new()
            }
        );
        if let Some(r) = &self.last_epoch {
            // A network that only predicts has no reconstruction term.
            let term = match &self.forecast {
                Some(f) if f.objective == "predict" => "prediction",
                _ => "reconstruction",
            };
            let _ = writeln!(
                out,
                "last epoch   loss {:.6}, validation loss {:.6} ({term} {:.6}); predicting the mean gives {:.6}",
                r.loss, r.val_loss, r.val_recon, r.mean_baseline
            );
        }
        if let Some(s) = &self.stop {
            let _ = writeln!(
                out,
                "stopped      {}: {} epochs, {} optimizer steps{}{}",
                s.reason,
                s.epochs,
                thousands(s.steps),
                if s.phases > 1 {
                    format!(" in {} phases", s.phases)
                } else {
                    String::new()
                },
                match s.best_epoch {
                    Some(0) => "; kept the PCA start, which no epoch beat".to_string(),
                    Some(b) => format!("; kept the weights of the best epoch, {b}"),
                    None => String::new(),
                }
            );
        }
        if let Some(b) = &self.baseline {
            let _ = writeln!(
                out,
                "baseline     PCA with {} components on the same windows: validation MSE {:.6}; this model {:.6} ({}); {}",
                b.components,
                b.val_mse,
                b.model_val_mse,
                if b.model_val_mse <= b.val_mse {
                    format!("{:.2}x lower", b.val_mse / b.model_val_mse.max(1e-30))
                } else {
                    format!("{:.2}x higher", b.model_val_mse / b.val_mse.max(1e-30))
                },
                b.path.display()
            );
        }
        if let Some(f) = &self.forecast {
            let _ = writeln!(
                out,
                "prediction   MSE {:.6} vs persistence {:.6} ({}) on {} held-out windows, {} frames ahead (normalised units){}",
                f.mse,
                f.persistence_mse,
                if f.mse <= f.persistence_mse {
                    format!("{:.2}x lower", f.persistence_mse / f.mse.max(1e-30))
                } else {
                    format!("{:.2}x higher", f.mse / f.persistence_mse.max(1e-30))
                },
                thousands(f.windows),
                f.horizon,
                f.reconstruction_mse.map_or_else(String::new, |r| format!(
                    "; reconstruction MSE {r:.6} (the exported decoder)"
                ))
            );
        }
        let _ = writeln!(
            out,
            "time         {:.1} s training ({:.1} s in this run), {:.0} samples/s",
            self.training_s, self.this_run_s, self.samples_per_s
        );
        match (&self.model, self.flash_bytes, self.scratch_bytes) {
            (Some(model), Some(flash), Some(scratch)) => {
                let _ = writeln!(
                    out,
                    "model        {}: {} layers, {} parameters, {} bytes of flash, {} bytes of scratch RAM",
                    model.display(),
                    self.layers,
                    thousands(self.parameters),
                    thousands(flash),
                    thousands(scratch)
                );
            }
            _ => {
                let _ = writeln!(
                    out,
                    "model        none written: {} layers, {} parameters",
                    self.layers,
                    thousands(self.parameters)
                );
            }
        }
        match &self.threshold {
            _ if self.model.is_none() => {
                let _ = writeln!(
                    out,
                    "threshold    none (thresholds are calibrated through the model file)"
                );
            }
            Some(t) => {
                let _ = writeln!(
                    out,
                    "threshold    {} (alarm on for at most {:.3} % of {} held-out windows), clears below {}, smoothing {}",
                    t.threshold,
                    (1.0 - f64::from(t.quantile)) * 100.0,
                    t.windows,
                    t.clear_threshold,
                    t.smoothing
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "threshold    not calibrated (no validation windows): run edgeae calibrate on normal data"
                );
            }
        }
        let files: Vec<String> = self.plots.iter().map(|p| p.display().to_string()).collect();
        let _ = writeln!(out, "plots        {}", files.join(", "));
        out
    }

    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }
}

fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *field = v;
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::Cli;

    fn run(args: &[&str]) -> anyhow::Result<super::super::Printed> {
        let cli = Cli::try_parse_from(std::iter::once("edgeae").chain(args.iter().copied()))?;
        crate::run(cli)
    }

    fn sines(dir: &std::path::Path) -> String {
        let mut text = String::from("x,y\n");
        for t in 0..400 {
            let t = f64::from(t);
            text.push_str(&format!("{:.4},{:.4}\n", (t * 0.4).sin(), (t * 0.25).cos()));
        }
        let path = dir.join("sines.csv");
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    #[test]
    fn bad_recurrent_arguments_are_one_clear_sentence() {
        let err = Cli::try_parse_from([
            "edgeae",
            "train",
            "--data",
            "x.csv",
            "--kind",
            "recurrent",
            "--window",
            "8",
            "--cell",
            "foo",
            "--out",
            "o",
        ])
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("error: invalid value 'foo' for '--cell <CELL>'")
                && err.contains("[possible values: lstm, gru]"),
            "{err}"
        );
        let dir = std::env::temp_dir().join(format!("edgeae-rnn-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let data = sines(&dir);
        let out = dir.join("run").display().to_string();
        let no_window = run(&[
            "train",
            "--data",
            &data,
            "--kind",
            "recurrent",
            "--out",
            &out,
        ]);
        assert_eq!(
            format!("{:#}", no_window.unwrap_err()),
            "--kind recurrent reads each window as a sequence: give --window N (time steps, at least 2), e.g. --window 32"
        );
        let cell_alone = run(&[
            "train", "--data", &data, "--kind", "stacked", "--cell", "gru", "--out", &out,
        ]);
        assert_eq!(
            format!("{:#}", cell_alone.unwrap_err()),
            "--cell goes with --kind recurrent, not stacked"
        );
        let arch = run(&[
            "train",
            "--data",
            &data,
            "--kind",
            "recurrent",
            "--window",
            "8",
            "--arch",
            "c4k3|t2k3",
            "--out",
            &out,
        ]);
        assert!(format!("{:#}", arch.unwrap_err()).starts_with("--arch works with --kind conv"),);
        assert!(!dir.join("run").join("checkpoint.bin").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn recurrent_training_writes_a_model_and_int8_export_quantizes_it() {
        let dir = std::env::temp_dir().join(format!("edgeae-rnn-cmd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let data = sines(&dir);
        let out = dir.join("run").display().to_string();
        let printed = run(&[
            "train",
            "--data",
            &data,
            "--kind",
            "recurrent",
            "--cell",
            "gru",
            "--window",
            "8",
            "--epochs",
            "2",
            "--noise",
            "gaussian:0.1",
            "--out",
            &out,
            "--quiet",
        ])
        .unwrap();
        assert!(
            printed.text.starts_with("trained recurrent on"),
            "{}",
            printed.text
        );
        assert!(
            printed.text.contains("run/model.eam: 5 layers"),
            "{}",
            printed.text
        );
        let json: serde_json::Value = serde_json::from_str(&printed.json).unwrap();
        assert!(json["flash_bytes"].as_u64().unwrap() > 0, "{json}");
        let model = std::fs::read(dir.join("run/model.eam")).unwrap();
        let model = firmware::Model::load(&model).unwrap();
        assert_eq!(model.kind(), model_format::ModelKind::Recurrent);
        let ck = crate::train::checkpoint::Checkpoint::load(&dir.join("run")).unwrap();
        assert_eq!(ck.config.recurrent.cell, crate::nn::recurrent::Cell::Gru);
        assert!(ck.config.recurrent.denoise);
        // Resuming with another cell is refused.
        let err = run(&["train", "--out", &out, "--resume", "--cell", "lstm"]).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "--resume continues a run of GRU layers, not --cell lstm"
        );
        // f32 export writes the model; int8 export quantizes the GRU layers
        // (format version 6) and prints a line for each.
        let f32_out = dir.join("m.eam").display().to_string();
        run(&["export", &out, "--quant", "f32", "--out", &f32_out]).unwrap();
        assert!(dir.join("m.eam").is_file());
        let i8_out = dir.join("i8.eam").display().to_string();
        let printed = run(&[
            "export", &out, "--quant", "int8", "--calib", &data, "--out", &i8_out,
        ])
        .unwrap();
        assert!(
            printed.text.contains("format version 6"),
            "{}",
            printed.text
        );
        let lines: Vec<&str> = printed
            .text
            .lines()
            .filter(|l| l.starts_with("recurrent    layer "))
            .collect();
        assert!(
            lines.len() >= 2
                && lines
                    .iter()
                    .all(|l| l.contains("int8 GRU") && l.contains("hidden state int16 at 2^-15")),
            "{}",
            printed.text
        );
        let bytes = std::fs::read(dir.join("i8.eam")).unwrap();
        let q = firmware::Model::load(&bytes).unwrap();
        assert_eq!(q.header().version, 6);
        let int8 = q.layers().iter().filter(|l| l.is_int8()).count();
        assert_eq!(int8, q.layers().len(), "every layer int8");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
