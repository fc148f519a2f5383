//! Everything that touches the hardware, and the only `unsafe` code of the
//! board: the model region (memory outside the image), UART0's registers,
//! SysTick wrap counting, and QEMU's semihosting exit.
//!
//! Audit notes, one per `unsafe` block:
//! - `model_region`: `_model_start`/`_model_len` come from memory.x and name
//!   the 3 MiB MODEL region of code memory, which the image never writes;
//!   it is readable for the whole run, so a `'static` shared slice is sound.
//! - `Uart`: CMSDK APB UART0 is at 0x4000_4000 on mps2-an386; its registers
//!   are 32-bit, aligned, and only accessed with volatile reads/writes.
//! - `exit`: the semihosting call takes a pointer to two words that live on
//!   the stack for the duration of the call.
#![allow(unsafe_code)]

use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::peripheral::SYST;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::exception;

unsafe extern "C" {
    static _model_start: u8;
    static _model_len: u8;
}

/// The MODEL flash region (see memory.x).
pub fn model_region() -> &'static [u8] {
    // SAFETY: see the module notes; the length is the address of the
    // linker symbol `_model_len`, as linker scripts express sizes.
    unsafe {
        let start = core::ptr::addr_of!(_model_start);
        let len = core::ptr::addr_of!(_model_len) as usize;
        core::slice::from_raw_parts(start, len)
    }
}

const UART0: usize = 0x4000_4000;
const DATA: usize = UART0;
const STATE: usize = UART0 + 0x4;
const CTRL: usize = UART0 + 0x8;
const BAUDDIV: usize = UART0 + 0x10;
const TX_FULL: u32 = 1;
const RX_FULL: u32 = 2;

/// UART0, polled.
pub struct Uart(());

impl Uart {
    /// Enables transmit and receive.
    pub fn init() -> Uart {
        // SAFETY: see the module notes.
        unsafe {
            write_volatile(BAUDDIV as *mut u32, 16);
            write_volatile(CTRL as *mut u32, 0b11);
        }
        Uart(())
    }

    /// Waits for a byte.
    pub fn read(&mut self) -> u8 {
        // SAFETY: see the module notes.
        unsafe {
            while read_volatile(STATE as *const u32) & RX_FULL == 0 {}
            read_volatile(DATA as *const u32) as u8
        }
    }

    /// Sends all of `bytes`.
    pub fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            // SAFETY: see the module notes.
            unsafe {
                while read_volatile(STATE as *const u32) & TX_FULL != 0 {}
                write_volatile(DATA as *mut u32, u32::from(b));
            }
        }
    }
}

static WRAPS: AtomicU32 = AtomicU32::new(0);
const RELOAD: u32 = 0x00ff_ffff;
/// Under `-icount shift=0` every instruction takes 1 ns of virtual time and
/// SysTick counts the 25 MHz processor clock: 40 instructions per tick.
const INSTRUCTIONS_PER_TICK: u64 = 40;

#[exception]
fn SysTick() {
    WRAPS.fetch_add(1, Ordering::Relaxed);
}

/// Instructions executed, from SysTick (exact under `-icount shift=0`, to
/// one tick).
pub struct InstructionClock {
    syst: SYST,
}

impl InstructionClock {
    /// Starts SysTick on the processor clock with its wrap interrupt.
    pub fn start(mut syst: SYST) -> InstructionClock {
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(RELOAD);
        syst.clear_current();
        syst.enable_interrupt();
        syst.enable_counter();
        InstructionClock { syst }
    }
}

impl firmware::serve::Clock for InstructionClock {
    fn now(&mut self) -> u32 {
        loop {
            let wraps = WRAPS.load(Ordering::Relaxed);
            let current = SYST::get_current();
            // A wrap between the two reads shows as a changed count.
            if WRAPS.load(Ordering::Relaxed) == wraps && !self.syst.has_wrapped() {
                let ticks = u64::from(wraps) * u64::from(RELOAD + 1) + u64::from(RELOAD - current);
                return (ticks * INSTRUCTIONS_PER_TICK) as u32;
            }
        }
    }
}

/// Ends the QEMU process with `code` (semihosting SYS_EXIT_EXTENDED).
pub fn exit(code: u8) -> ! {
    let args = [0x20026u32, u32::from(code)];
    // SAFETY: see the module notes.
    unsafe {
        cortex_m_semihosting::syscall(0x20, &args);
    }
    loop {
        cortex_m::asm::wfi();
    }
}
