//! `edgeae stream`: a data file through a board over the wire protocol,
//! here the QEMU-emulated Cortex-M4F (`firmware/boards/qemu-mps2`), with
//! the model loaded into its model region; the same `scores.csv` as
//! `edgeae score`. A classifier model streams in classify mode: the
//! board's class and confidence per window, printed and in `classes.csv`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use super::Report;
use crate::board;
use crate::score;
use model_format::protocol;

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
pub fn run(
    model_path: &Path,
    data_path: &Path,
    port: Option<(&str, u32)>,
    firmware: Option<&Path>,
    outputs: Outputs<'_>,
) -> Result<StreamReport> {
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
    // A classifier streams in classify mode: a class per window.
    let classifier = model.classes().is_some();
    let extra = board::Extra {
        after_reset: if classifier {
            board::set_mode_frame(protocol::Mode::Classify)?
        } else {
            Vec::new()
        },
        ..board::Extra::default()
    };
    let t0 = std::time::Instant::now();
    let (mut run, elf, board) = match port {
        Some((port, baud)) => (
            board::run_serial(port, baud, &table.values, 48, &extra.after_reset)?,
            None,
            format!("the board on `{port}`"),
        ),
        None => {
            let elf = board::qemu_firmware(firmware)?;
            let run = board::run_qemu(&elf, model_path, &table.values, 48, &extra)?;
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
    match out {
        Some(out) if classifier => crate::score::write_classes(out, &run.classes)?,
        Some(out) => crate::score::write_scores(out, &run.scored)?,
        None => {}
    }
    let counters = run.info_end.map(|i| i.counters).unwrap_or_default();
    let profile = if profile {
        let (flash, ram) = match &elf {
            Some(elf) => board::elf_sizes(&crate::data::files::read(elf)?)
                .with_context(|| format!("cannot read `{}`", elf.display()))?,
            None => (0, 0),
        };
        let n = run.instructions.len().max(1) as f64;
        Some(Profile {
            instructions_mean: run.instructions.iter().map(|&i| f64::from(i)).sum::<f64>() / n,
            instructions_min: run.instructions.iter().min().copied().unwrap_or(0),
            instructions_max: run.instructions.iter().max().copied().unwrap_or(0),
            macs: model.macs(),
            firmware_flash: elf.is_some().then_some(flash),
            static_ram: elf.is_some().then_some(ram),
            model_bytes: model.file_len(),
            scratch_bytes: firmware::Stream::scratch_len(&model) * 4,
            streaming: {
                let c = firmware::Stream::costs(&model);
                c.streaming.then_some(StreamingCosts {
                    window_end_macs: c.window_end + c.frame_max,
                    frame_macs_max: c.frame_max,
                    in_flight: c.in_flight,
                })
            },
        })
    } else {
        None
    };
    Ok(StreamReport {
        data: data_path.to_path_buf(),
        board,
        seconds,
        windows: run.scored.windows.len() + run.classes.len(),
        classes: classifier.then(|| {
            run.classes
                .iter()
                .map(|c| ClassLine {
                    window: c.window,
                    class: (c.fault == protocol::WindowFault::None).then_some(c.class),
                    confidence: c.confidence,
                })
                .collect()
        }),
        alarms_raised: run.scored.alarms_raised(),
        fault_frames: run.scored.faults.len(),
        board_frames: counters.frames,
        board_bad_frames: counters.bad_frames,
        board_oversized: counters.oversized,
        out: out.map(Path::to_path_buf),
        profile,
    })
}

/// Cost on the board (`--profile`).
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    /// Mean instructions per window.
    pub instructions_mean: f64,
    /// Fewest instructions of a window.
    pub instructions_min: u32,
    /// Most instructions of a window.
    pub instructions_max: u32,
    /// Multiply-accumulates per inference.
    pub macs: usize,
    /// Firmware flash bytes (QEMU image only).
    pub firmware_flash: Option<u64>,
    /// Static RAM bytes (QEMU image only).
    pub static_ram: Option<u64>,
    /// Model bytes.
    pub model_bytes: usize,
    /// Stream scratch bytes (engine and ring).
    pub scratch_bytes: usize,
    /// The streaming recurrent encoder (firmware `Stream::costs`): the
    /// encoder advances with every frame, so the instructions above are
    /// the window's end, the decoder and the last frame's step; `None` for
    /// a model computed window by window.
    pub streaming: Option<StreamingCosts>,
}

/// Multiply-accumulates of a model whose encoder streams.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct StreamingCosts {
    /// At a window's end (the decoder and the last frame's encoder steps).
    pub window_end_macs: usize,
    /// Encoder work per frame, at most (every window in flight, one step).
    pub frame_macs_max: usize,
    /// Windows in flight.
    pub in_flight: usize,
}

/// A window's class, as the board sent it.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ClassLine {
    /// Window index.
    pub window: u32,
    /// The class (`None`: the window faulted).
    pub class: Option<u16>,
    /// Its softmax probability.
    pub confidence: f32,
}

/// What `edgeae stream` saw.
#[derive(Debug, Clone, Serialize)]
pub struct StreamReport {
    /// The data file.
    pub data: PathBuf,
    /// The board, in words.
    pub board: String,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Windows scored.
    pub windows: usize,
    /// Alarms raised.
    pub alarms_raised: usize,
    /// Frames with NaN or infinite samples.
    pub fault_frames: usize,
    /// Frames the board counted.
    pub board_frames: u32,
    /// Frames the board could not decode.
    pub board_bad_frames: u32,
    /// Frames the board dropped as too long.
    pub board_oversized: u32,
    /// A classifier's class per window (`None` for an autoencoder).
    pub classes: Option<Vec<ClassLine>>,
    /// `scores.csv` (`classes.csv` for a classifier), if written.
    pub out: Option<PathBuf>,
    /// Cost on the board.
    pub profile: Option<Profile>,
}

impl Report for StreamReport {
    fn text(&self) -> String {
        let mut out = format!(
            "streamed `{}` to {} in {:.1} s: {} windows, {} alarm(s) raised, {} faulty frame(s); the board counted {} frames, {} bad, {} oversized{}\n",
            self.data.display(),
            self.board,
            self.seconds,
            self.windows,
            self.alarms_raised,
            self.fault_frames,
            self.board_frames,
            self.board_bad_frames,
            self.board_oversized,
            self.out
                .as_ref()
                .map_or_else(String::new, |p| format!("; wrote {}", p.display()))
        );
        for c in self.classes.iter().flatten() {
            let _ = match c.class {
                Some(k) => writeln!(
                    out,
                    "window {:>6}  class {k:>2}  confidence {:.4}",
                    c.window, c.confidence
                ),
                None => writeln!(out, "window {:>6}  fault", c.window),
            };
        }
        if let Some(p) = &self.profile {
            match p.streaming {
                None => {
                    let _ = writeln!(
                        out,
                        "instructions {:.0} per window (min {}, max {}; {:.2} per MAC, {} MACs), counted by SysTick under -icount shift=0",
                        p.instructions_mean,
                        p.instructions_min,
                        p.instructions_max,
                        p.instructions_mean / p.macs.max(1) as f64,
                        p.macs
                    );
                }
                Some(c) => {
                    let _ = writeln!(
                        out,
                        "instructions {:.0} at a window's end (min {}, max {}; {:.2} per MAC, {} MACs: the decoder and the last frame's encoder steps), counted by SysTick under -icount shift=0",
                        p.instructions_mean,
                        p.instructions_min,
                        p.instructions_max,
                        p.instructions_mean / c.window_end_macs.max(1) as f64,
                        c.window_end_macs
                    );
                    let _ = writeln!(
                        out,
                        "streaming    the recurrent encoder advances with every frame ({} windows in flight, at most {} MACs per frame); computed window by window, a window would cost {} MACs at its end",
                        c.in_flight, c.frame_macs_max, p.macs
                    );
                }
            }
            match (p.firmware_flash, p.static_ram) {
                (Some(flash), Some(ram)) => {
                    let _ = writeln!(
                        out,
                        "flash        firmware {flash} bytes + model {} bytes",
                        p.model_bytes
                    );
                    let _ = writeln!(
                        out,
                        "RAM          {ram} bytes static + {} bytes of stream scratch (engine and ring)",
                        p.scratch_bytes
                    );
                }
                _ => {
                    let _ = writeln!(
                        out,
                        "flash        model {} bytes; RAM {} bytes of stream scratch (engine and ring)",
                        p.model_bytes, p.scratch_bytes
                    );
                }
            }
        }
        out
    }
}
