//! `edgeae stream`: a data file through a board over the wire protocol,
//! here the QEMU-emulated Cortex-M4F (`firmware/boards/qemu-mps2`), with
//! the model loaded into its model region; the same `scores.csv` as
//! `edgeae score`.

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::board::{self};
use crate::score::{self};

/// What `edgeae stream` writes and prints besides its summary.
#[derive(Debug, Clone, Copy, Default)]
pub struct Outputs<'a> {
    /// scores.csv.
    pub scores: Option<&'a Path>,
    /// The board's raw defmt frames (QEMU).
    pub defmt_log: Option<&'a Path>,
    /// Print instructions per window, flash and RAM.
    pub profile: bool,
}

/// `edgeae stream --qemu` or `--port PORT`.
pub fn stream_command(
    model_path: &Path,
    data_path: &Path,
    port: Option<(&str, u32)>,
    firmware: Option<&Path>,
    outputs: Outputs<'_>,
) -> Result<()> {
    let (out, profile) = (outputs.scores, outputs.profile);
    let bytes = crate::data::model_file::read_model_bytes(model_path)?;
    let model = crate::data::model_file::parse(model_path, &bytes)?;
    if model.file_len() > board::QEMU_MODEL_REGION {
        bail!(
            "`{}` is {} bytes; the board's model region holds {}",
            model_path.display(),
            model.file_len(),
            board::QEMU_MODEL_REGION
        );
    }
    let table = crate::data::load_for_model(
        model_path,
        &model,
        data_path,
        crate::data::LoadOptions {
            allow_non_finite: true,
        },
    )?;
    let t0 = std::time::Instant::now();
    let (mut run, elf, board) = match port {
        Some((port, baud)) => (
            board::run_serial(port, baud, &table.values, 48)?,
            None,
            format!("the board on `{port}`"),
        ),
        None => {
            let elf = board::qemu_firmware(firmware)?;
            let run = board::run_qemu(
                &elf,
                model_path,
                &table.values,
                48,
                &board::Extra::default(),
            )?;
            (run, Some(elf), "the emulated Cortex-M4F".to_string())
        }
    };
    let seconds = t0.elapsed().as_secs_f64();
    if let Some(log) = outputs.defmt_log {
        crate::data::files::write_atomic(log, &run.defmt)?;
    }
    if let Some((code, detail)) = run.error {
        bail!(
            "{board} reported {code:?} (detail {detail}){}",
            run.exit_code
                .map_or_else(String::new, |c| format!("; QEMU exited with {c}"))
        );
    }
    if elf.is_some() && run.exit_code != Some(0) {
        bail!("{board} stopped with exit code {:?}", run.exit_code);
    }
    if let (Some(info), true) = (run.info_start, port.is_some()) {
        let model_on_board = info.model_bytes as usize;
        if model_on_board != model.file_len() {
            bail!(
                "{board} runs a model of {model_on_board} bytes, not `{}` ({} bytes): flash it first",
                model_path.display(),
                model.file_len()
            );
        }
    }
    score::label_windows(&mut run.scored, &table);
    if let Some(out) = out {
        crate::score::write_scores(out, &run.scored)?;
    }
    let c = run.info_end.map(|i| i.counters).unwrap_or_default();
    println!(
        "streamed `{}` to {board} in {seconds:.1} s: {} windows, {} alarm(s) raised, {} faulty frame(s); the board counted {} frames, {} bad, {} oversized{}",
        data_path.display(),
        run.scored.windows.len(),
        run.scored.alarms_raised(),
        run.scored.faults.len(),
        c.frames,
        c.bad_frames,
        c.oversized,
        out.map_or_else(String::new, |p| format!("; wrote {}", p.display()))
    );
    if profile {
        let (flash, ram) = match &elf {
            Some(elf) => board::elf_sizes(&crate::data::files::read(elf)?)
                .with_context(|| format!("cannot read `{}`", elf.display()))?,
            None => (0, 0),
        };
        let n = run.instructions.len().max(1) as f64;
        let mean = run.instructions.iter().map(|&i| f64::from(i)).sum::<f64>() / n;
        let min = run.instructions.iter().min().copied().unwrap_or(0);
        let max = run.instructions.iter().max().copied().unwrap_or(0);
        let macs = model.macs();
        println!(
            "instructions {mean:.0} per window (min {min}, max {max}; {:.2} per MAC, {} MACs), counted by SysTick under -icount shift=0",
            mean / macs.max(1) as f64,
            macs
        );
        let scratch = firmware::Stream::scratch_len(&model) * 4;
        if elf.is_some() {
            println!(
                "flash        firmware {flash} bytes + model {} bytes",
                model.file_len()
            );
            println!(
                "RAM          {ram} bytes static + {scratch} bytes of stream scratch (engine and ring)"
            );
        } else {
            println!(
                "flash        model {} bytes; RAM {scratch} bytes of stream scratch (engine and ring)",
                model.file_len()
            );
        }
    }
    Ok(())
}
