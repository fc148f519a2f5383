//! What the HAL does not wrap, and the only `unsafe` code of the board: the
//! model region (memory outside the image) and unmasking the USART2
//! interrupt. Clocks, pins, the USART itself and the cycle counter go
//! through the safe APIs of stm32f4xx-hal and cortex-m.
//!
//! Audit notes, one per `unsafe` block:
//! - `model_region`: `_model_start`/`_model_len` come from memory.x and name
//!   flash sector 7 (0x0806_0000, 128 KiB). The linker places nothing there
//!   (it is not in the FLASH region the image links into) and the firmware
//!   never programs flash, so the sector is readable, initialised (erased
//!   flash reads 0xFF) and unchanged for the whole run: a `'static` shared
//!   slice is sound. A probe rewriting the sector while the firmware runs
//!   is outside the program's model, as for any flash contents.
//! - `Receiver::start`: unmasking can break a critical section that relies
//!   on the interrupt being masked. The USART2 handler touches only
//!   `RX` and `QUEUE`, each behind a `critical_section::Mutex` (with
//!   `critical-section-single-core`, PRIMASK), which masking does not
//!   replace; and it is unmasked after `RX` holds the receiver.
#![allow(unsafe_code)]

use core::cell::RefCell;

use cortex_m::peripheral::{DCB, DWT, NVIC};
use critical_section::Mutex;
use heapless::Deque;
use stm32f4xx_hal::nb;
use stm32f4xx_hal::pac::{self, interrupt};
use stm32f4xx_hal::prelude::*;
use stm32f4xx_hal::serial::Rx;

unsafe extern "C" {
    static _model_start: u8;
    static _model_len: u8;
}

/// The MODEL flash region (see memory.x): the model file, then erased
/// flash.
pub fn model_region() -> &'static [u8] {
    // SAFETY: see the module notes; the length is the address of the
    // linker symbol `_model_len`, as linker scripts express sizes.
    unsafe {
        let start = core::ptr::addr_of!(_model_start);
        let len = core::ptr::addr_of!(_model_len) as usize;
        core::slice::from_raw_parts(start, len)
    }
}

/// Core clock cycles from the DWT cycle counter (CYCCNT), read around each
/// window: the `instructions` of a score are cycles on this board.
pub struct CycleClock {
    /// Held so that nothing else can stop or reset the counter.
    _dwt: DWT,
    _dcb: DCB,
}

impl CycleClock {
    /// Enables the trace unit and starts the cycle counter.
    pub fn start(mut dwt: DWT, mut dcb: DCB) -> CycleClock {
        dcb.enable_trace();
        dwt.enable_cycle_counter();
        CycleClock {
            _dwt: dwt,
            _dcb: dcb,
        }
    }
}

impl firmware::serve::Clock for CycleClock {
    fn now(&mut self) -> u32 {
        DWT::cycle_count()
    }
}

/// Bytes received and not yet fed to the server: 4 KiB, four maximal
/// request frames. The USART holds one byte; at 115200 baud the next one
/// comes 87 µs later, less time than a window's inference or a response
/// frame's transmission takes, so bytes are queued by the receive
/// interrupt while the main loop computes or sends.
const RX_QUEUE: usize = 4096;

/// The receiver, owned by the interrupt handler once started.
static RX: Mutex<RefCell<Option<Rx<pac::USART2>>>> = Mutex::new(RefCell::new(None));
/// Bytes received, oldest first (apart from `RX` so that it is zeroed
/// memory, not 4 KiB of initialised data).
static QUEUE: Mutex<RefCell<Deque<u8, RX_QUEUE>>> = Mutex::new(RefCell::new(Deque::new()));

/// USART2's receive side: an interrupt fills a queue, [`Receiver::read`]
/// takes from it.
pub struct Receiver(());

impl Receiver {
    /// Moves the receiver into the interrupt handler's state and enables
    /// the receive interrupt.
    pub fn start(mut rx: Rx<pac::USART2>) -> Receiver {
        rx.listen();
        critical_section::with(|cs| RX.borrow_ref_mut(cs).replace(rx));
        // SAFETY: see the module notes.
        unsafe { NVIC::unmask(pac::Interrupt::USART2) };
        Receiver(())
    }

    /// The next byte; sleeps (`wfi`) while there is none.
    pub fn read(&mut self) -> u8 {
        loop {
            // Checking and sleeping inside one critical section: a byte
            // that arrives in between leaves its interrupt pending, which
            // ends the `wfi`, and the handler runs when the section ends.
            let byte = critical_section::with(|cs| {
                let byte = QUEUE.borrow_ref_mut(cs).pop_front();
                if byte.is_none() {
                    cortex_m::asm::wfi();
                }
                byte
            });
            if let Some(b) = byte {
                return b;
            }
        }
    }
}

#[interrupt]
fn USART2() {
    critical_section::with(|cs| {
        let mut rx = RX.borrow_ref_mut(cs);
        let mut queue = QUEUE.borrow_ref_mut(cs);
        let Some(rx) = rx.as_mut() else {
            return;
        };
        loop {
            match rx.read() {
                Ok(b) => {
                    if queue.push_back(b).is_err() {
                        defmt::warn!("USART2: receive queue full, byte dropped");
                    }
                }
                // Overrun, framing, noise or parity: the HAL has cleared
                // the flag. The frame it was part of fails to decode and
                // the server counts it.
                Err(nb::Error::Other(_)) => defmt::warn!("USART2: line error, byte lost"),
                Err(nb::Error::WouldBlock) => break,
            }
        }
    });
}
