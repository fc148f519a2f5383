//! A real board over a serial line.

use std::io::{Read, Write};

use anyhow::{Context, Result, anyhow, bail};

use model_format::protocol::{self, Response};

use super::{BoardRun, parse_responses, request_bytes};

/// Streams `values` to a real board on the serial port `port` at `baud`:
/// `Reset`, `after_reset` (raw frames, e.g. [`super::set_mode_frame`]),
/// the samples, `Query`; reads until the answer to the `Query`
/// (the second `Info` after the reset) or an error frame arrives.
pub fn run_serial(
    port: &str,
    baud: u32,
    values: &[f32],
    chunk: usize,
    after_reset: &[u8],
) -> Result<BoardRun> {
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
    let out = request_bytes(&[], after_reset, values, chunk, false)?;
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
