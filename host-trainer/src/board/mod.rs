//! Boards: the QEMU-emulated Cortex-M4F (`firmware/boards/qemu-mps2`), real
//! boards over a serial line, their ELF images, and flashing through a probe.
//! All speak the wire protocol of [`model_format::protocol`].

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use firmware::stream::WindowFault;
use model_format::F32s;
use model_format::protocol::{self, Info, MAX_SAMPLES, Request, Response};

use std::process::Command;

use crate::score::{Scored, WindowRow};

mod elf;
pub mod flash;
mod qemu;
mod serial;

pub use elf::elf_sizes;
pub use qemu::{qemu_command, run_qemu};
pub use serial::run_serial;

/// Where the model region starts on mps2-an386 (memory.x of the board).
pub const QEMU_MODEL_ADDR: u32 = 0x0010_0000;
/// Its size.
pub const QEMU_MODEL_REGION: usize = 3 * 1024 * 1024;

/// The repository root (this crate lives in `host-trainer/`).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// The QEMU board's firmware image, as `qemu_firmware` builds it.
pub fn default_qemu_elf() -> PathBuf {
    repo_root().join("target/thumb/thumbv7em-none-eabihf/release/qemu-mps2")
}

/// The QEMU board image: `given`, or the file `EDGEAE_QEMU_FIRMWARE`
/// names, or firmware/boards/qemu-mps2 of the source tree this edgeae was
/// built from (also after `cargo install --path host-trainer`), built with
/// Debian's rustc and `-Zbuild-std` (shared/EMBEDDED.md); cargo rebuilds it
/// only when its sources changed (a second or two otherwise).
pub fn qemu_firmware(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = given {
        if !p.is_file() {
            bail!("firmware image `{}` does not exist", p.display());
        }
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("EDGEAE_QEMU_FIRMWARE") {
        let p = PathBuf::from(p);
        if !p.is_file() {
            bail!(
                "EDGEAE_QEMU_FIRMWARE names `{}`, which does not exist",
                p.display()
            );
        }
        return Ok(p);
    }
    let elf = default_qemu_elf();
    let root = repo_root();
    if !root.join("firmware/boards/qemu-mps2").is_dir() {
        if elf.is_file() {
            return Ok(elf);
        }
        bail!(
            "this edgeae was built away from its source tree (`{}` is gone), so it cannot build the QEMU board image: build firmware/boards/qemu-mps2 of the edgeae repository and pass --firmware ELF, or set EDGEAE_QEMU_FIRMWARE",
            root.display()
        );
    }
    if !Path::new("/usr/bin/rustc").is_file() {
        if elf.is_file() {
            return Ok(elf);
        }
        bail!(
            "the QEMU firmware is not built and Debian's rustc is missing: apt-get install rustc-web cargo-web rust-web-src rust-web-llvm lld-22 qemu-system-arm (or pass --firmware ELF)"
        );
    }
    let status = Command::new("cargo")
        .current_dir(root.join("firmware/boards/qemu-mps2"))
        .env("RUSTC_BOOTSTRAP", "1")
        .args(["build", "--release", "--quiet", "--target-dir"])
        .arg(root.join("target/thumb"))
        .status()
        .context("cannot run cargo to build the QEMU firmware")?;
    if !status.success() || !elf.is_file() {
        bail!("building the QEMU firmware failed (firmware/boards/qemu-mps2)");
    }
    Ok(elf)
}

/// What a board run produced.
#[derive(Debug, Clone, Default)]
pub struct BoardRun {
    /// The windows, as `edgeae score` reports them.
    pub scored: Scored,
    /// The board's `Info` at start-up.
    pub info_start: Option<Info>,
    /// Its `Info` after the last samples (counters).
    pub info_end: Option<Info>,
    /// Each `Calibrated` answer: windows used, threshold, clear threshold.
    pub calibrated: Vec<(u32, f32, f32)>,
    /// Each `Class` answer ([`protocol::Mode::Classify`]).
    pub classes: Vec<protocol::Class>,
    /// Instructions per scored window, as the board measured them.
    pub instructions: Vec<u32>,
    /// The exit status of QEMU.
    pub exit_code: Option<i32>,
    /// An error the board reported.
    pub error: Option<(protocol::ErrorCode, u32)>,
    /// The board's defmt log frames (QEMU: its semihosting output on
    /// stdout), raw; `defmt-print -e ELF` decodes them.
    pub defmt: Vec<u8>,
}

/// Raw frames to send before, between or after the samples (tests use
/// this to inject corrupt frames).
#[derive(Debug, Clone, Default)]
pub struct Extra {
    /// Bytes sent before everything else (before the `Reset`).
    pub before: Vec<u8>,
    /// Bytes sent after the `Reset`, before the first sample message
    /// (e.g. a `Calibrate` request, which a reset would cancel).
    pub after_reset: Vec<u8>,
}

/// The frame of a [`Request::SetMode`], for [`Extra::after_reset`].
pub fn set_mode_frame(mode: protocol::Mode) -> Result<Vec<u8>> {
    let mut buf = [0u8; 16];
    let frame =
        protocol::encode_frame(&Request::SetMode(mode), &mut buf).context("frame too large")?;
    Ok(frame.to_vec())
}

/// The bytes of a whole session: `before`, a `Reset`, the samples in
/// messages of `chunk` values, a `Query`, and an `Exit` if `exit`.
fn request_bytes(
    before: &[u8],
    after_reset: &[u8],
    values: &[f32],
    chunk: usize,
    exit: bool,
) -> Result<Vec<u8>> {
    let chunk = chunk.clamp(1, MAX_SAMPLES);
    let mut out = before.to_vec();
    let mut buf = vec![0u8; protocol::MAX_FRAME + 8];
    let mut push = |req: &Request<'_>, out: &mut Vec<u8>| -> Result<()> {
        let frame = protocol::encode_frame(req, &mut buf).context("frame too large")?;
        out.extend_from_slice(frame);
        Ok(())
    };
    push(&Request::Reset, &mut out)?;
    out.extend_from_slice(after_reset);
    let mut bytes = Vec::with_capacity(chunk * 4);
    for (seq, c) in values.chunks(chunk).enumerate() {
        bytes.clear();
        bytes.extend(c.iter().flat_map(|v| v.to_le_bytes()));
        let req = Request::Samples {
            seq: seq as u32,
            values: F32s::new(&bytes),
        };
        push(&req, &mut out)?;
    }
    push(&Request::Query, &mut out)?;
    if exit {
        push(&Request::Exit { code: 0 }, &mut out)?;
    }
    Ok(out)
}

/// Decodes the frames a board sent. The first `Info` is the board's
/// start-up or reset answer, the last the answer to the final `Query`.
fn parse_responses(received: &mut [u8]) -> Result<BoardRun> {
    let mut run = BoardRun::default();
    for frame in received.split_mut(|b| *b == 0).filter(|f| !f.is_empty()) {
        let Some(resp) = protocol::decode_frame::<Response<'_>>(frame) else {
            bail!("the board sent a frame that does not decode");
        };
        match resp {
            Response::Info(info) => {
                if run.info_start.is_none() {
                    run.info_start = Some(info);
                } else {
                    run.info_end = Some(info);
                }
            }
            Response::Score(s) => {
                if s.instructions > 0 {
                    run.instructions.push(s.instructions);
                }
                run.scored.windows.push(WindowRow {
                    start: s.start as usize,
                    end: s.end as usize,
                    score: s.score,
                    smoothed: s.smoothed,
                    alarm: s.alarm,
                    fault: match s.fault {
                        protocol::WindowFault::None => None,
                        protocol::WindowFault::Sample => Some(WindowFault::BadSample { frame: 0 }),
                        protocol::WindowFault::Overflow => Some(WindowFault::Overflow),
                    },
                    label: None,
                });
            }
            Response::Fault { frame, channel, .. } => {
                run.scored.faults.push(firmware::stream::SampleFault {
                    frame: u64::from(frame),
                    channel,
                })
            }
            Response::Error { code, detail } => run.error = Some((code, detail)),
            Response::Calibrated {
                windows,
                threshold,
                clear_threshold,
            } => run.calibrated.push((windows, threshold, clear_threshold)),
            Response::Class(c) => {
                if c.instructions > 0 {
                    run.instructions.push(c.instructions);
                }
                run.classes.push(c);
            }
            Response::Denoised { .. } | Response::Codings { .. } => {}
        }
    }
    Ok(run)
}
