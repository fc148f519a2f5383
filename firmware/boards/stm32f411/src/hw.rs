//! The only `unsafe` code of the board: the model region, memory outside
//! the image. Everything else (clocks, pins, USART2, the cycle counter)
//! goes through the safe APIs of stm32f4xx-hal and cortex-m.
//!
//! Audit notes, one per `unsafe` block:
//! - `model_region`: `_model_start`/`_model_len` come from memory.x and name
//!   flash sector 7 (0x0806_0000, 128 KiB). The linker places nothing there
//!   (it is not in the FLASH region the image links into) and the firmware
//!   never programs flash, so the sector is readable, initialised (erased
//!   flash reads 0xFF) and unchanged for the whole run: a `'static` shared
//!   slice is sound. A debugger rewriting the sector while the firmware runs
//!   is outside the program's model, as for any flash contents.
#![allow(unsafe_code)]

use cortex_m::peripheral::{DCB, DWT};

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
