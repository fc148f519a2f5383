//! The host side of edgeae: the `edgeae` command and the library behind it.
//!
//! # Layout
//!
//! The modules run one way, from the commands down to the data: each uses
//! only the modules below it in this table (`tests/layout.rs` checks it).
//!
//! | module | what it holds |
//! |---|---|
//! | `cmd` | one module per subcommand: reads inputs, computes through the modules below, returns a report |
//! | [`cli`] | the command line's types (clap) |
//! | `embed` | maps of the codings: t-SNE or PCA to 2-D, neighbourhood agreement |
//! | `train` | training runs: configuration, data preparation, the schedule, checkpoints, export to a model |
//! | `quant` | post-training int8 quantization |
//! | `board` | boards: QEMU, serial lines, ELF sizes, flashing |
//! | `score` | streaming data through the firmware, calibration, detection metrics, evaluations |
//! | `synth` | the built-in synthetic data set |
//! | `plots` | the PNG figures |
//! | `nn` | the networks, layers, losses and optimizer on dfdx tensors |
//! | `data` | data files (CSV, IDX), windows, normalisation, model files, atomic writes |
//! | `text` | numbers and lists as reports print them |
//!
//! `main.rs` only parses [`cli::Cli`], calls [`run`] and prints the
//! [`Printed`] report (text, or JSON with `--json`); a command's error is
//! printed as one line.
//!
//! # Library
//!
//! The items below are the API for the end-to-end tests and for programs
//! that embed edgeae: train a model, export it, score data with it, run it
//! on a board. Everything else is internal.
#![deny(missing_docs)]
#![deny(unsafe_code)]

mod board;
pub mod cli;
mod cmd;
mod data;
mod embed;
mod nn;
mod plots;
mod quant;
mod rng;
mod score;
mod synth;
mod text;
mod train;

// Training.
/// The trainer's network on dfdx tensors, rebuilt from a trained run.
pub use nn::net::Net;
/// The cell of a recurrent layer (`--cell`).
pub use nn::recurrent::Cell;
pub use train::checkpoint::{Checkpoint, path as checkpoint_path};
pub use train::classifier::{
    ClassifierConfig, EncoderChoice, LabelSource, Mode as ClassifierMode, Saved as SavedClassifier,
    examples as classifier_examples, model_def as classifier_model_def,
    predict as classifier_predict, train as train_classifier,
};
pub use train::config::{
    DEFAULT_MAX_STEPS, Kind, LossChoice, Noise, Normalize, Objective, RecurrentSettings,
    ScoreMetric, TrainConfig,
};
pub use train::objective::Forecast;
pub use train::run::{best_epoch, resume_config};
pub use train::{Done, RunOptions, train_and_export};

// Data.
pub use data::{
    LoadOptions, Normalizer, Table, gather, load as load_table, normalizer, window_starts,
};

// Export and quantization.
pub use cli::Precision;
pub use cmd::export::{ExportReport, RecurrentLayer, run as export};
pub use quant::{Comparison, compare};

// Scoring.
pub use score::{
    CalibrationOptions, EvalReport, Scored, classify_table, evaluate, score_table, thresholds,
};

// Boards.
pub use board::{
    BoardRun, Extra, qemu_command, qemu_firmware, run_qemu, run_serial, set_mode_frame,
};

// The demo and its data.
pub use cmd::demo::{DemoOptions, DemoReport, run as demo};
pub use synth::FaultKind;

use anyhow::Result;

pub use cmd::{Printed, Report};

/// Forces the firmware's inference kernels named by `EDGEAE_KERNELS`
/// (`portable`, `avx2`, `avx512`, `avx512-vnni`; unset or empty: the
/// fastest this CPU has). Every path computes the same bits; the variable
/// is for tests and benchmarks.
pub fn kernels_from_env() -> Result<()> {
    let Some(value) = std::env::var_os("EDGEAE_KERNELS").filter(|v| !v.is_empty()) else {
        return Ok(());
    };
    let names = firmware::ops::KernelPath::ALL.map(|p| p.name()).join(", ");
    let path = value
        .to_str()
        .and_then(firmware::ops::KernelPath::from_name)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "EDGEAE_KERNELS={}: not a kernel path; the paths are {names}",
                value.to_string_lossy()
            )
        })?;
    firmware::ops::set_kernel_path(Some(path)).map_err(|e| anyhow::anyhow!("EDGEAE_KERNELS: {e}"))
}

/// Runs one parsed command and renders its report.
pub fn run(cli: cli::Cli) -> Result<Printed> {
    match cli.command {
        cli::Command::Inspect { model, ram } => Printed::of(&cmd::inspect::run(&model, ram)?),
        cli::Command::Train(args) if args.kind == Some(cli::KindArg::Classifier) => {
            Printed::of(&cmd::classifier::run(*args)?)
        }
        cli::Command::Train(args) => Printed::of(&cmd::train::run(*args)?),
        cli::Command::Encode { model, data, out } => {
            Printed::of(&cmd::encode::run(&model, &data, &out)?)
        }
        cli::Command::Classify {
            model,
            data,
            labels,
            labels_file,
            out,
        } => {
            let labels = match (labels, labels_file) {
                (Some(c), _) => Some(LabelSource::Column(c)),
                (None, Some(f)) => Some(LabelSource::IdxFile(f)),
                (None, None) => None,
            };
            Printed::of(&cmd::classify::run(&model, &data, labels, out.as_deref())?)
        }
        cli::Command::Denoise { model, data, out } => {
            Printed::of(&cmd::denoise::run(&model, &data, &out)?)
        }
        cli::Command::Generate {
            model,
            count,
            out,
            seed,
        } => Printed::of(&cmd::generate::run(&model, count, &out, seed)?),
        cli::Command::Calibrate {
            model,
            data,
            out,
            metric,
            calibration,
        } => Printed::of(&cmd::calibrate::run(
            &model,
            &data,
            out.as_deref(),
            metric,
            &calibration.options()?,
        )?),
        cli::Command::Export {
            run_dir,
            quant,
            calib,
            out,
            keep_f32,
        } => Printed::of(&cmd::export::run(
            &run_dir,
            quant,
            calib.as_deref(),
            &out,
            &keep_f32,
        )?),
        cli::Command::Score { model, data, out } => {
            Printed::of(&cmd::score::run(&model, &data, &out)?)
        }
        cli::Command::Eval {
            model,
            data,
            plot,
            baseline,
            train,
        } => Printed::of(&cmd::eval::run(
            &model,
            &data,
            plot.as_deref(),
            baseline,
            train.as_deref(),
        )?),
        cli::Command::Synth {
            out,
            seed,
            channels,
            train_rows,
            test_rows,
            holdout_rows,
        } => Printed::of(&cmd::synth::run(
            &out,
            &synth::SynthConfig {
                seed,
                channels,
                train_rows,
                test_rows,
                holdout_rows,
                ..synth::SynthConfig::default()
            },
        )?),
        cli::Command::Demo { out, seed } => Printed::of(&cmd::demo::command(out, seed)?),
        cli::Command::Flash { model, chip, probe } => {
            Printed::of(&cmd::flash::run(&model, &chip, probe.as_deref())?)
        }
        cli::Command::Stream {
            model,
            data,
            qemu: _,
            port,
            baud,
            firmware,
            out,
            profile,
            defmt_log,
        } => Printed::of(&cmd::stream::run(
            &model,
            &data,
            port.as_deref().map(|p| (p, baud)),
            firmware.as_deref(),
            cmd::stream::Outputs {
                scores: out.as_deref(),
                defmt_log: defmt_log.as_deref(),
                profile,
            },
        )?),
        cli::Command::Pack { spec, out } => Printed::of(&cmd::pack::run(&spec, &out)?),
        cli::Command::Embed(args) => Printed::of(&cmd::embed::run(&args)?),
        cli::Command::Features {
            model,
            data,
            out,
            units,
        } => Printed::of(&cmd::features::run(&model, data.as_deref(), &out, units)?),
    }
}
