//! `edgeae train --kind classifier`: a softmax head on a trained encoder
//! (see [`crate::train::classifier`]); writes `RUN_DIR/classifier.bin` and
//! `RUN_DIR/report.json`.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use super::Report;
use crate::cli::TrainArgs;
use crate::text::thousands;
use crate::train::classifier::{
    self, ClassifierConfig, ClassifierEpoch, EncoderChoice, LabelSource, Mode,
};

/// Epochs when `--epochs` is not given.
pub const DEFAULT_EPOCHS: usize = 50;
/// Mini-batch size when `--batch` is not given.
pub const DEFAULT_BATCH: usize = 32;

/// What a classifier run did.
#[derive(Debug, Clone, Serialize)]
pub struct ClassifierReport {
    /// `RUN_DIR/classifier.bin`.
    pub classifier: PathBuf,
    /// The encoder run, or `none`.
    pub encoder: String,
    /// `freeze` or `fine-tune`.
    pub mode: &'static str,
    /// Layer widths, input to classes.
    pub widths: Vec<usize>,
    /// Classes.
    pub classes: usize,
    /// Parameters trained.
    pub trained_parameters: usize,
    /// Labelled windows trained on.
    pub train_windows: usize,
    /// Windows left unlabelled by --labeled.
    pub unlabelled_windows: usize,
    /// Accuracy on the training windows.
    pub train_accuracy: f64,
    /// Held-out labelled windows.
    pub val_windows: Option<usize>,
    /// Accuracy on them.
    pub val_accuracy: Option<f64>,
    /// Test windows.
    pub test_windows: Option<usize>,
    /// Accuracy on them.
    pub test_accuracy: Option<f64>,
    /// Epochs trained.
    pub epochs: usize,
    /// Optimizer steps taken.
    pub steps: usize,
    /// Mean cross-entropy per epoch.
    pub history: Vec<ClassifierEpoch>,
    /// Seconds of training and measuring.
    pub training_s: f64,
}

impl Report for ClassifierReport {
    fn text(&self) -> String {
        let mut s = String::new();
        let widths: Vec<String> = self.widths.iter().map(ToString::to_string).collect();
        let _ = writeln!(
            s,
            "classifier {} ({} classes), encoder {} ({}), {} parameters trained",
            widths.join("-"),
            self.classes,
            self.encoder,
            self.mode,
            thousands(self.trained_parameters)
        );
        let _ = writeln!(
            s,
            "trained on {} labelled windows ({} unlabelled left out), {} epochs, {} steps, {:.1} s",
            thousands(self.train_windows),
            thousands(self.unlabelled_windows),
            self.epochs,
            thousands(self.steps),
            self.training_s
        );
        let _ = writeln!(s, "train accuracy       {:.4}", self.train_accuracy);
        if let (Some(n), Some(a)) = (self.val_windows, self.val_accuracy) {
            let _ = writeln!(s, "validation accuracy  {a:.4} ({} windows)", thousands(n));
        }
        if let (Some(n), Some(a)) = (self.test_windows, self.test_accuracy) {
            let _ = writeln!(s, "test accuracy        {a:.4} ({} windows)", thousands(n));
        }
        let _ = writeln!(s, "wrote {}", self.classifier.display());
        s
    }
}

/// `edgeae train --kind classifier`.
pub fn run(args: TrainArgs) -> Result<ClassifierReport> {
    if args.resume {
        bail!(
            "--resume continues autoencoder runs; a classifier run starts over (choose its --out)"
        );
    }
    let c = &args.classifier;
    let data = args.data.clone().context("--data is required")?;
    let Some(encoder) = &c.encoder else {
        bail!(
            "--kind classifier needs --encoder RUN_DIR (a trained autoencoder) or --encoder none"
        );
    };
    let labels = match (&c.labels, &c.labels_file) {
        (Some(col), None) => LabelSource::Column(col.clone()),
        (None, Some(file)) => LabelSource::IdxFile(file.clone()),
        _ => bail!(
            "--kind classifier needs the classes: --labels COLUMN (a CSV column) or --labels-file IDX"
        ),
    };
    let test = match (&c.test_data, &c.test_labels_file, &c.labels) {
        (None, _, _) => None,
        (Some(d), Some(f), _) => Some((d.clone(), LabelSource::IdxFile(f.clone()))),
        (Some(d), None, Some(col)) => Some((d.clone(), LabelSource::Column(col.clone()))),
        (Some(_), None, None) => bail!("--test-data with --labels-file needs --test-labels-file"),
    };
    let encoder = if encoder == "none" {
        let window = args.window.unwrap_or(1);
        EncoderChoice::Fresh {
            hidden: args.hidden.clone(),
            codings: args.codings,
            window,
            hop: args.hop.unwrap_or((window / 2).max(1)),
        }
    } else {
        for (given, flag) in [
            (args.hidden.is_some(), "--hidden"),
            (args.codings.is_some(), "--codings"),
            (args.window.is_some(), "--window"),
            (args.hop.is_some(), "--hop"),
        ] {
            if given {
                bail!("{flag} shapes the encoder of --encoder none; an encoder run has its own");
            }
        }
        EncoderChoice::Run(PathBuf::from(encoder))
    };
    let fresh = matches!(encoder, EncoderChoice::Fresh { .. });
    let mode = if c.freeze || (!c.fine_tune && !fresh) {
        Mode::Freeze
    } else {
        Mode::FineTune
    };
    let cfg = ClassifierConfig {
        data,
        labels,
        test,
        encoder,
        mode,
        head_hidden: c.head_hidden,
        labeled: c.labeled,
        val_split: args
            .val_split
            .unwrap_or(if c.test_data.is_some() { 0.0 } else { 0.2 }),
        epochs: args.epochs.unwrap_or(DEFAULT_EPOCHS),
        batch: args.batch.unwrap_or(DEFAULT_BATCH),
        lr: args.lr.unwrap_or(1e-3),
        seed: args.seed.unwrap_or(42),
        out: args.out.clone(),
    };
    let done = classifier::train(&cfg)?;
    let spec = &done.saved.net.spec;
    let mut widths = vec![spec.input_len()];
    widths.extend((0..spec.layers.len()).filter_map(|i| spec.widths(i).map(|w| w.1)));
    let report = ClassifierReport {
        classifier: classifier::saved_path(&cfg.out),
        encoder: done.saved.encoder.clone(),
        mode: mode.name(),
        widths,
        classes: done.saved.classes,
        trained_parameters: done.trained_parameters,
        train_windows: done.train_windows,
        unlabelled_windows: done.unlabelled_windows,
        train_accuracy: done.train_accuracy,
        val_windows: done.val.map(|v| v.0),
        val_accuracy: done.val.map(|v| v.1),
        test_windows: done.test.map(|t| t.0),
        test_accuracy: done.test.map(|t| t.1),
        epochs: cfg.epochs,
        steps: cfg.epochs * done.train_windows.div_ceil(cfg.batch),
        history: done.history,
        training_s: done.training_s,
    };
    crate::data::files::write_atomic(
        &cfg.out.join("report.json"),
        serde_json::to_string_pretty(&report)?.as_bytes(),
    )?;
    Ok(report)
}
