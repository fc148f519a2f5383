//! edgeae on QEMU's mps2-an386 (Cortex-M4F): loads the model from its own
//! flash region, then serves the wire protocol (`firmware::serve`) over
//! UART0. A missing or invalid model is answered with an error frame and
//! the matching exit code (`ErrorCode::exit_code`), never a hang.
#![no_std]
#![no_main]
#![deny(unsafe_code)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod hw;

use cortex_m_rt::entry;
use defmt_semihosting as _;
use firmware::Model;
use firmware::serve::{Server, model_error};
use model_format::protocol::ErrorCode;

/// f32 slots of scratch RAM for the stream (engine, ring): 128 KiB.
const SCRATCH: usize = 32 * 1024;

#[entry]
fn main() -> ! {
    let mut uart = hw::Uart::init();
    let Some(core) = cortex_m::Peripherals::take() else {
        hw::exit(1)
    };
    let mut clock = hw::InstructionClock::start(core.SYST);
    let region = hw::model_region();
    let model = match Model::load_prefix(region) {
        Ok((model, len)) => {
            defmt::info!(
                "model: {} bytes, {}, {} channels x {} frames (hop {}), {} MACs per window",
                len,
                model.kind(),
                model.input().channels,
                model.input().window,
                model.input().hop,
                model.macs()
            );
            model
        }
        Err(e) => {
            let mut buf = [0u8; 64];
            let (code, frame) = model_error(&e, region, &mut buf);
            defmt::error!("no usable model: {} ({})", e, code);
            uart.write(frame);
            hw::exit(code.exit_code())
        }
    };
    let mut scratch = [0.0f32; SCRATCH];
    let mut server = match Server::new(&model, &mut scratch) {
        Ok(s) => s,
        Err(e) => {
            defmt::error!("scratch: {} f32 needed, {} available", e.needed, e.given);
            let mut buf = [0u8; 32];
            let err = model_format::protocol::Response::Error {
                code: ErrorCode::ScratchTooSmall,
                detail: u32::try_from(e.needed).unwrap_or(u32::MAX),
            };
            if let Some(frame) = model_format::protocol::encode_frame(&err, &mut buf) {
                uart.write(frame);
            }
            hw::exit(ErrorCode::ScratchTooSmall.exit_code())
        }
    };
    server.hello(&mut |f: &[u8]| uart.write(f));
    loop {
        let byte = uart.read();
        let mut out = |f: &[u8]| uart.write(f);
        // `uart` is borrowed by `out` only for this call.
        if let Some(code) = server.feed(byte, &mut clock, &mut out) {
            let c = server.counters();
            defmt::info!(
                "exit {}: {} frames ({} bad, {} oversized), {} samples, {} windows, {} faults",
                code,
                c.frames,
                c.bad_frames,
                c.oversized,
                c.samples,
                c.windows,
                c.faults
            );
            hw::exit(code)
        }
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    defmt::error!("panic");
    hw::exit(101)
}
