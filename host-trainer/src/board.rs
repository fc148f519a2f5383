//! `edgeae stream`: a data file through a board over the wire protocol,
//! here the QEMU-emulated Cortex-M4F (`firmware/boards/qemu-mps2`), with
//! the model loaded into its model region; the same `scores.csv` as
//! `edgeae score`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, anyhow, bail};
use firmware::stream::WindowFault;
use model_format::F32s;
use model_format::protocol::{self, Info, MAX_SAMPLES, Request, Response};

use crate::anomaly::{Scored, WindowRow};
use crate::data::Table;

/// Where the model region starts on mps2-an386 (memory.x of the board).
pub const QEMU_MODEL_ADDR: u32 = 0x0010_0000;
/// Its size.
pub const QEMU_MODEL_REGION: usize = 3 * 1024 * 1024;

static SOCK_COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

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

/// qemu-system-arm running `elf` on mps2-an386 with `model` in the model
/// region, instructions counted (`-icount shift=0`), semihosting (defmt
/// logs, exit codes) on stdout; the caller adds the serial line
/// (`-serial ...`).
pub fn qemu_command(elf: &Path, model: &Path) -> Command {
    let mut cmd = Command::new("qemu-system-arm");
    cmd.args([
        "-cpu",
        "cortex-m4",
        "-machine",
        "mps2-an386",
        "-display",
        "none",
        "-monitor",
        "none",
        "-semihosting-config",
        "enable=on,target=native",
        "-icount",
        "shift=0",
        "-kernel",
    ])
    .arg(elf)
    .arg("-device")
    .arg(format!(
        "loader,file={},addr={QEMU_MODEL_ADDR:#x}",
        model.display()
    ));
    cmd
}

/// Streams `values` (time-major frames) to the QEMU board with `model`
/// loaded, in messages of `chunk` values; then asks for `Info` and exits.
pub fn run_qemu(
    elf: &Path,
    model: &Path,
    values: &[f32],
    chunk: usize,
    extra: &Extra,
) -> Result<BoardRun> {
    // The protocol runs over UART0 on a Unix socket; stdout carries the
    // board's defmt frames (semihosting output).
    let sock = std::env::temp_dir().join(format!(
        "edgeae-uart-{}-{}.sock",
        std::process::id(),
        SOCK_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let _ = std::fs::remove_file(&sock);
    let mut child = qemu_command(elf, model)
        .arg("-chardev")
        .arg(format!(
            "socket,id=uart0,path={},server=on,wait=on",
            sock.display()
        ))
        .args(["-serial", "chardev:uart0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start qemu-system-arm (apt-get install qemu-system-arm)")?;
    let mut stdout = child.stdout.take().context("no stdout")?;
    let mut stderr = child.stderr.take().context("no stderr")?;
    let log_reader = std::thread::spawn(move || {
        let mut log = Vec::new();
        let _ = stdout.read_to_end(&mut log);
        log
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    // QEMU waits for the connection before it starts the board.
    let t0 = std::time::Instant::now();
    let line = loop {
        match std::os::unix::net::UnixStream::connect(&sock) {
            Ok(line) => break line,
            Err(_) if t0.elapsed().as_secs() < 20 => {
                if let Ok(Some(status)) = child.try_wait() {
                    let err = err_reader.join().unwrap_or_default();
                    bail!("qemu-system-arm stopped ({status}): {}", err.trim());
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => {
                let _ = child.kill();
                return Err(e).context("cannot connect to QEMU's UART socket");
            }
        }
    };
    let _ = std::fs::remove_file(&sock);
    let mut writer = line.try_clone().context("cannot use QEMU's UART socket")?;
    let mut reader = line;

    // Write everything in one thread while this one reads: the line must
    // be read and written concurrently.
    let out = request_bytes(&extra.before, &extra.after_reset, values, chunk, true)?;
    let sender = std::thread::spawn(move || {
        // The board exits on the last frame; a closed socket then is fine.
        let _ = writer.write_all(&out);
    });
    let mut received = Vec::new();
    match reader.read_to_end(&mut received) {
        Ok(_) => {}
        // A board that stops early (a bad model) closes the line with our
        // samples unread: what it sent before is in `received`.
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => return Err(e).context("cannot read the board's serial line"),
    }
    let status = child.wait().context("qemu-system-arm did not finish")?;
    let _ = sender.join();
    let qemu_err = err_reader.join().unwrap_or_default();

    let mut run = parse_responses(&mut received)?;
    run.exit_code = status.code();
    run.defmt = log_reader.join().unwrap_or_default();
    if run.exit_code.is_none() {
        bail!("qemu-system-arm was killed: {}", qemu_err.trim());
    }
    Ok(run)
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
            Response::Denoised { .. } | Response::Codings { .. } => {}
        }
    }
    Ok(run)
}

/// Streams `values` to a real board on the serial port `port` at `baud`:
/// `Reset`, the samples, `Query`; reads until the answer to the `Query`
/// (the second `Info` after the reset) or an error frame arrives.
pub fn run_serial(port: &str, baud: u32, values: &[f32], chunk: usize) -> Result<BoardRun> {
    let mut line = serialport::new(port, baud)
        .timeout(std::time::Duration::from_secs(10))
        .open()
        .with_context(|| format!("cannot open the serial port `{port}`"))?;
    let mut writer = line
        .try_clone()
        .with_context(|| format!("cannot use the serial port `{port}`"))?;
    // A board that booted earlier has sent its start-up Info already; drop
    // whatever is waiting.
    let _ = line.clear(serialport::ClearBuffer::Input);
    let out = request_bytes(&[], &[], values, chunk, false)?;
    let sender = std::thread::spawn(move || writer.write_all(&out));
    let mut received = Vec::new();
    let mut infos = 0;
    let mut byte = [0u8; 1];
    let mut frame_start = 0;
    loop {
        match line.read(&mut byte) {
            Ok(1) => {}
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                bail!(
                    "the board on `{port}` went silent for 10 s (wrong port, baud rate or firmware?)"
                )
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read `{port}`")),
        }
        received.push(byte[0]);
        if byte[0] != 0 {
            continue;
        }
        let mut frame = received
            .get(frame_start..received.len() - 1)
            .unwrap_or_default()
            .to_vec();
        frame_start = received.len();
        match protocol::decode_frame::<Response<'_>>(&mut frame) {
            Some(Response::Info(_)) => infos += 1,
            Some(Response::Error { .. }) => break,
            _ => {}
        }
        if infos == 2 {
            break;
        }
    }
    sender
        .join()
        .map_err(|_| anyhow!("the writer thread failed"))?
        .with_context(|| format!("cannot write to `{port}`"))?;
    parse_responses(&mut received)
}

/// Labels of the windows, from the table's row labels.
pub fn label_windows(scored: &mut Scored, table: &Table) {
    if let Some(labels) = table.labels.as_deref() {
        for w in &mut scored.windows {
            w.label = Some(u8::from(
                labels
                    .get(w.start..w.end)
                    .is_some_and(|r| r.iter().any(|&x| x != 0)),
            ));
        }
    }
}

/// Sizes from an ELF32 file: (flash bytes = allocated sections that are
/// loaded, i.e. code, read-only data and the initial values of .data;
/// static RAM = .data + .bss + other allocated writable sections).
pub fn elf_sizes(bytes: &[u8]) -> Result<(u64, u64)> {
    let bad = || anyhow!("not a 32-bit little-endian ELF file");
    if bytes.get(..4) != Some(b"\x7fELF") || bytes.get(4) != Some(&1) || bytes.get(5) != Some(&1) {
        return Err(bad());
    }
    let u16_at = |o: usize| -> Result<u64> {
        Ok(u64::from(u16::from_le_bytes(
            bytes.get(o..o + 2).ok_or_else(bad)?.try_into()?,
        )))
    };
    let u32_at = |o: usize| -> Result<u64> {
        Ok(u64::from(u32::from_le_bytes(
            bytes.get(o..o + 4).ok_or_else(bad)?.try_into()?,
        )))
    };
    let shoff = u32_at(0x20)? as usize;
    let shentsize = u16_at(0x2e)? as usize;
    let shnum = u16_at(0x30)? as usize;
    let (mut flash, mut ram) = (0, 0);
    const SHF_WRITE: u64 = 1;
    const SHF_ALLOC: u64 = 2;
    const SHT_NOBITS: u64 = 8;
    for i in 0..shnum {
        let h = shoff + i * shentsize;
        let (kind, flags, size) = (u32_at(h + 4)?, u32_at(h + 8)?, u32_at(h + 0x14)?);
        if flags & SHF_ALLOC == 0 {
            continue;
        }
        if kind != SHT_NOBITS {
            flash += size;
        }
        if flags & SHF_WRITE != 0 {
            ram += size;
        }
    }
    Ok((flash, ram))
}

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
    let bytes = crate::inspect::read_model_bytes(model_path)?;
    let model = crate::inspect::load(model_path, &bytes)?;
    if model.file_len() > QEMU_MODEL_REGION {
        bail!(
            "`{}` is {} bytes; the board's model region holds {QEMU_MODEL_REGION}",
            model_path.display(),
            model.file_len()
        );
    }
    let table = crate::commands::load_for_model(
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
            run_serial(port, baud, &table.values, 48)?,
            None,
            format!("the board on `{port}`"),
        ),
        None => {
            let elf = qemu_firmware(firmware)?;
            let run = run_qemu(&elf, model_path, &table.values, 48, &Extra::default())?;
            (run, Some(elf), "the emulated Cortex-M4F".to_string())
        }
    };
    let seconds = t0.elapsed().as_secs_f64();
    if let Some(log) = outputs.defmt_log {
        crate::fsx::write_atomic(log, &run.defmt)?;
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
    label_windows(&mut run.scored, &table);
    if let Some(out) = out {
        crate::anomaly::write_scores(out, &run.scored)?;
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
            Some(elf) => elf_sizes(&crate::fsx::read(elf)?)
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
