//! edgeae on the STM32F411 (Nucleo-F411RE, WeAct "black pill"): loads the
//! model from flash sector 7, then serves the wire protocol
//! (`firmware::serve`) over USART2 (PA2 TX, PA3 RX, 115200 baud 8N1; the
//! ST-LINK virtual COM port on the Nucleo). Logs go out through defmt over
//! RTT. A missing or invalid model is answered with an error frame, logged,
//! and repeated for every frame a host sends after that: nothing panics and
//! the probe stays attached.
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
use defmt_rtt as _;
use firmware::serve::{Server, model_error};
use firmware::{Model, Stream};
use model_format::protocol::{self, ErrorCode, Response};
use panic_probe as _;
use stm32f4xx_hal::serial::Tx;
use stm32f4xx_hal::{block, pac, prelude::*, rcc::Config};

/// f32 slots of scratch for the stream (engine buffers and the ring of one
/// window): 16 Ki values, 64 KiB of the 128 KiB of SRAM, as a local of
/// `main` (which never returns) on the stack. The other 64 KiB hold the
/// rest of main's frame (the server with its 1 KiB receive and transmit
/// buffers, its calibration collector, and a 1 KiB frame copy while a
/// request is decoded: about 8 KiB), the 4 KiB receive queue, defmt's RTT
/// buffer and the interrupt stack. A model whose `scratch_bytes`
/// (`edgeae inspect`) exceed 64 KiB is answered with `ScratchTooSmall`.
const SCRATCH: usize = 16 * 1024;

/// USART2 line speed (8N1).
const BAUD: u32 = 115_200;

/// Core clock: the internal 16 MHz oscillator through the PLL, so that
/// both boards run without a crystal; 100 MHz is the F411's maximum.
const SYSCLK_MHZ: u32 = 100;

#[entry]
fn main() -> ! {
    let (Some(dp), Some(cp)) = (pac::Peripherals::take(), cortex_m::Peripherals::take()) else {
        defmt::error!("peripherals taken twice");
        halt()
    };
    // Keep the debug port clocked while the core sleeps in `wfi`, so that
    // probe-rs can still read the RTT log (DBGMCU, and DMA1's clock, which
    // keeps the bus matrix awake in sleep mode).
    dp.DBGMCU.cr().modify(|_, w| {
        w.dbg_sleep().set_bit();
        w.dbg_stop().set_bit();
        w.dbg_standby().set_bit()
    });
    dp.RCC.ahb1enr().modify(|_, w| w.dma1en().set_bit());
    let mut rcc = dp.RCC.freeze(Config::hsi().sysclk(SYSCLK_MHZ.MHz()));

    let gpioa = dp.GPIOA.split(&mut rcc);
    let Ok(serial) = dp
        .USART2
        .serial((gpioa.pa2, gpioa.pa3), BAUD.bps(), &mut rcc)
    else {
        defmt::error!("USART2 cannot run at {} baud", BAUD);
        halt()
    };
    let (mut tx, rx) = serial.split();
    let mut rx = hw::Receiver::start(rx);
    let mut send = |frame: &[u8]| write(&mut tx, frame);
    let mut clock = hw::CycleClock::start(cp.DWT, cp.DCB);

    let region = hw::model_region();
    let model = match Model::load_prefix(region) {
        Ok((model, _)) => model,
        Err(e) => {
            let mut buf = [0u8; 64];
            let (code, frame) = model_error(&e, region, &mut buf);
            send(frame);
            defmt::error!("no usable model in flash sector 7: {} ({})", e, code);
            // Answer every frame a host sends later with the same error, so
            // `edgeae stream --port` reports it instead of timing out.
            loop {
                if rx.read() == 0 {
                    send(frame);
                }
            }
        }
    };
    let mut scratch = [0.0f32; SCRATCH];
    let mut server = match Server::new(&model, &mut scratch) {
        Ok(s) => s,
        Err(e) => {
            let mut buf = [0u8; 32];
            let err = Response::Error {
                code: ErrorCode::ScratchTooSmall,
                detail: u32::try_from(e.needed).unwrap_or(u32::MAX),
            };
            if let Some(frame) = protocol::encode_frame(&err, &mut buf) {
                send(frame);
            }
            defmt::error!(
                "the model needs {} f32 of scratch, the board has {}",
                e.needed,
                e.given
            );
            halt()
        }
    };
    let input = model.input();
    defmt::info!(
        "model: {} bytes, {} channels, window {}, hop {}, scratch {} of {} f32; USART2 at {} baud",
        model.file_len(),
        input.channels,
        input.window,
        input.hop,
        Stream::scratch_len(&model),
        SCRATCH,
        BAUD
    );
    server.hello(&mut send);
    loop {
        let byte = rx.read();
        if let Some(code) = server.feed(byte, &mut clock, &mut send) {
            // Under QEMU this ends the run; a real board keeps serving.
            defmt::info!("exit request ({}) ignored", code);
        }
    }
}

/// Sends all of `bytes` on USART2, waiting for the transmit register.
fn write(tx: &mut Tx<pac::USART2>, bytes: &[u8]) {
    for &b in bytes {
        // Writing only ever waits for TXE; it has no error to report.
        if block!(tx.write(b)).is_err() {
            return;
        }
    }
}

/// Sleeps for good (until reset or a probe takes over).
fn halt() -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}
