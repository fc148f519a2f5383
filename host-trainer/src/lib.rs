//! The host side of edgeae: the `edgeae` command and the library behind it.
//!
//! `main.rs` only parses [`cli::Cli`] and calls [`run`]; every command lives
//! in its own module and returns `anyhow::Result`, whose message is printed
//! as one line by `main`.
#![deny(missing_docs)]

pub mod anomaly;
pub mod board;
pub mod cli;
pub mod commands;
pub mod data;
pub mod demo;
pub mod detect;
pub mod eval;
pub mod export;
pub mod flash;
pub mod fsx;
pub mod inspect;
pub mod nn;
pub mod plots;
pub mod quantize;
pub mod synth;
pub mod train;

use anyhow::Result;

/// Runs one parsed command.
pub fn run(cli: cli::Cli) -> Result<()> {
    match cli.command {
        cli::Command::Inspect { model, json } => inspect::run(&model, json),
        cli::Command::Train(args) => commands::train(*args),
        cli::Command::Encode { model, data, out } => commands::encode(&model, &data, &out),
        cli::Command::Denoise { model, data, out } => commands::denoise(&model, &data, &out),
        cli::Command::Generate {
            model,
            count,
            out,
            seed,
        } => commands::generate(&model, count, &out, seed),
        cli::Command::Calibrate {
            model,
            data,
            out,
            metric,
            calibration,
        } => detect::calibrate(
            &model,
            &data,
            out.as_deref(),
            metric,
            &calibration.options()?,
        ),
        cli::Command::Export {
            run_dir,
            quant,
            calib,
            out,
            keep_f32,
        } => commands::export(&run_dir, quant, calib.as_deref(), &out, &keep_f32),
        cli::Command::Score { model, data, out } => detect::score(&model, &data, &out),
        cli::Command::Eval {
            model,
            data,
            json,
            plot,
            baseline,
            train,
        } => detect::eval_command(
            &model,
            &data,
            json,
            plot.as_deref(),
            baseline,
            train.as_deref(),
        ),
        cli::Command::Synth {
            out,
            seed,
            channels,
            train_rows,
            test_rows,
            holdout_rows,
        } => demo::synth_command(
            &out,
            &synth::SynthConfig {
                seed,
                channels,
                train_rows,
                test_rows,
                holdout_rows,
                ..synth::SynthConfig::default()
            },
        ),
        cli::Command::Demo { out, seed } => demo::command(out, seed),
        cli::Command::Flash { model, chip, probe } => {
            flash::command(&model, &chip, probe.as_deref())
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
        } => board::stream_command(
            &model,
            &data,
            port.as_deref().map(|p| (p, baud)),
            firmware.as_deref(),
            board::Outputs {
                scores: out.as_deref(),
                defmt_log: defmt_log.as_deref(),
                profile,
            },
        ),
        cli::Command::Pack { spec, out } => {
            let def = export::ModelDef::from_json_file(&spec)?;
            let n = def
                .write(&out)
                .map_err(|e| e.context(format!("cannot pack `{}`", spec.display())))?;
            println!("wrote {} ({n} bytes)", out.display());
            Ok(())
        }
    }
}
