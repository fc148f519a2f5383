//! The board under QEMU: the firmware image with the model in its model
//! region, requests on a socket.

use std::io::{Read, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};

use std::process::{Command, Stdio};

use super::{BoardRun, Extra, QEMU_MODEL_ADDR, parse_responses, request_bytes};

static SOCK_COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

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
