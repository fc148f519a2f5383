//! edgeae's int8 convolution kernels beside CMSIS-NN's on the same layers,
//! on QEMU's mps2-an386 (Cortex-M4F), instructions counted by SysTick under
//! `-icount shift=0` exactly as the edgeae board image counts them.
//!
//! For each layer: the same int8 input, weights, bias and per-channel
//! requantization go to `firmware::ops::conv_i8` and to CMSIS-NN's
//! `arm_convolve_wrapper_s8` / `arm_transpose_conv_wrapper_s8` (compiled
//! by `build.rs`); the two outputs must be equal byte for byte, and the
//! two are timed alternately, three pairs. Prints one table row per layer
//! (semihosting, QEMU's stdout) and exits 0, or 1 if an output differs or
//! a call fails. `scripts/bench-m4` builds and runs it.
//!
//! A second table does the same for the int8 LSTM (`firmware::ops::
//! recurrent_i8` beside `arm_lstm_unidirectional_s8`, see `lstm.rs`), per
//! time step, plus edgeae's int8 GRU alone.
//!
//! A third runs the MLPerf Tiny anomaly-detection dense chain through
//! edgeae's whole `Engine` (f32 and int8 model files, which
//! scripts/bench-m4 loads into the MODEL region) beside CMSIS-NN's
//! `arm_fully_connected_per_channel_s8` on the int8 file's weights (see
//! `fc.rs`).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

mod case;
mod cmsis;
mod fc;
#[allow(dead_code)]
#[path = "../../qemu-mps2/src/hw.rs"]
mod hw;
mod lstm;

use case::{ConvLayer, INPUT_ZP, LayerData, OUTPUT_ZP, REQUANT, Rng};
use cortex_m_rt::entry;
use cortex_m_semihosting::hprintln;
use firmware::ops::conv_i8;
use firmware::serve::Clock;
use model_format::Padding;

/// The layers: the second encoder and first decoder layer of the conv1d
/// sensor model (`edgeae train --kind conv --window 64`: c16k5s2, c32k5s2
/// | t16k5s2, t3k5s2 over 3 channels), and two layers of the textbook
/// Fashion-MNIST convolutional autoencoder (c16k3,p2,c32k3,p2,c64k3,p2 |
/// t32k3s2,t16k3s2,t1k3s2).
const LAYERS: &[ConvLayer] = &[
    ConvLayer {
        name: "conv1d 64x3 -> c16k5s2 (sensor, 1st)",
        transposed: false,
        in_h: 1,
        in_w: 64,
        in_c: 3,
        out_c: 16,
        kh: 1,
        kw: 5,
        sh: 1,
        sw: 2,
        padding: Padding::Same,
    },
    ConvLayer {
        name: "conv1d 32x16 -> c32k5s2 (sensor, 2nd)",
        transposed: false,
        in_h: 1,
        in_w: 32,
        in_c: 16,
        out_c: 32,
        kh: 1,
        kw: 5,
        sh: 1,
        sw: 2,
        padding: Padding::Same,
    },
    ConvLayer {
        name: "conv2d 14x14x16 -> c32k3 (Fashion, 2nd)",
        transposed: false,
        in_h: 14,
        in_w: 14,
        in_c: 16,
        out_c: 32,
        kh: 3,
        kw: 3,
        sh: 1,
        sw: 1,
        padding: Padding::Same,
    },
    ConvLayer {
        name: "tconv1d 16x32 -> t16k5s2 (sensor, decoder)",
        transposed: true,
        in_h: 1,
        in_w: 16,
        in_c: 32,
        out_c: 16,
        kh: 1,
        kw: 5,
        sh: 1,
        sw: 2,
        padding: Padding::Same,
    },
    ConvLayer {
        name: "tconv2d 7x7x32 -> t16k3s2 (Fashion, decoder)",
        transposed: true,
        in_h: 7,
        in_w: 7,
        in_c: 32,
        out_c: 16,
        kh: 3,
        kw: 3,
        sh: 2,
        sw: 2,
        padding: Padding::Same,
    },
];

/// Largest map, filter and scratch sizes over `LAYERS`.
const MAP: usize = 8192;
const WEIGHTS: usize = 8192;
const FILTERS: usize = 64;
const SCRATCH_WORDS: usize = 4096;
pub(crate) const PAIRS: usize = 3;

#[entry]
fn main() -> ! {
    let Some(core) = cortex_m::Peripherals::take() else {
        hw::exit(1)
    };
    let mut clock = hw::InstructionClock::start(core.SYST);
    let mut failed = false;
    hprintln!(
        "| layer | MACs | edgeae instructions | per MAC | CMSIS-NN instructions | per MAC | edgeae / CMSIS-NN | edgeae scratch | CMSIS-NN scratch | outputs |"
    );
    hprintln!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for (n, layer) in LAYERS.iter().enumerate() {
        match run(layer, n as u32 + 1, &mut clock) {
            Some(row) => {
                failed |= !row.equal;
                let macs = layer.macs();
                let per = |i: u32| i as f32 / macs as f32;
                hprintln!(
                    "| {} | {} | {} | {:.2} | {} | {:.2} | {:.2} | {} B | {} B | {} |",
                    layer.name,
                    macs,
                    row.edgeae,
                    per(row.edgeae),
                    row.cmsis,
                    per(row.cmsis),
                    row.edgeae as f32 / row.cmsis as f32,
                    row.edgeae_scratch,
                    row.cmsis_scratch,
                    if row.equal { "equal" } else { "DIFFER" }
                );
            }
            None => {
                hprintln!("| {} | CMSIS-NN refused the layer |", layer.name);
                failed = true;
            }
        }
    }
    failed |= lstm::bench(&mut clock);
    failed |= fc::bench(&mut clock);
    hw::exit(u8::from(failed))
}

/// One layer's median instruction counts and whether the outputs agree.
struct Row {
    edgeae: u32,
    cmsis: u32,
    /// Bytes of im2col columns (`ScratchPlan`'s `column`).
    edgeae_scratch: usize,
    /// Bytes of the buffers the CMSIS-NN call asked for.
    cmsis_scratch: usize,
    equal: bool,
}

pub(crate) fn median(mut v: [u32; PAIRS]) -> u32 {
    v.sort_unstable();
    v[PAIRS / 2]
}

fn run(layer: &ConvLayer, seed: u32, clock: &mut hw::InstructionClock) -> Option<Row> {
    let mut rng = Rng::new(0x9e37_79b9 ^ seed);
    let mut input = [0u8; MAP];
    let mut weights = [0u8; WEIGHTS];
    let mut exponents = [0u8; FILTERS / 2];
    let mut bias_bytes = [0u8; FILTERS * 4];
    let mut bias = [0i32; FILTERS];
    let mut mult = [0i32; FILTERS];
    let mut shift = [0i32; FILTERS];
    let cout = layer.out_c;
    if layer.input_len() > MAP
        || layer.output_len() > MAP
        || layer.weight_len() > WEIGHTS
        || cout > FILTERS
    {
        return None;
    }
    rng.fill_i8(&mut input[..layer.input_len()]);
    rng.fill_i8(&mut weights[..layer.weight_len()]);
    for f in 0..cout {
        let e = (rng.next() % 4) as u8;
        exponents[f / 2] |= if f % 2 == 0 { e } else { e << 4 };
        bias[f] = (rng.next() % 4001) as i32 - 2000;
        bias_bytes[4 * f..4 * f + 4].copy_from_slice(&bias[f].to_le_bytes());
        // CMSIS-NN's per-channel M = mult · 2^(shift − 31); edgeae's is
        // requant.multiplier · 2^(requant.shift − e[f] − 31) (SPEC.md 3.3).
        mult[f] = REQUANT.multiplier;
        shift[f] = i32::from(REQUANT.shift) - i32::from(e);
    }
    let data = LayerData {
        weights: &weights[..layer.weight_len()],
        exponents: &exponents[..cout.div_ceil(2)],
        bias: &bias_bytes[..cout * 4],
    };
    let op = layer.edgeae_op(&data);
    let x: &[i8] = bytemuck_i8(&input[..layer.input_len()]);
    let w: &[i8] = bytemuck_i8(&weights[..layer.weight_len()]);
    let mut column = [0u32; SCRATCH_WORDS];
    let mut buf = [0u32; SCRATCH_WORDS];
    let mut reverse = [0u32; SCRATCH_WORDS];
    let mut ours = [0i8; MAP];
    let mut theirs = [0i8; MAP];
    let mut q = cmsis::Requant {
        mult: &mut mult[..cout],
        shift: &mut shift[..cout],
        input_offset: -i32::from(INPUT_ZP),
        output_offset: i32::from(OUTPUT_ZP),
        act: (i32::from(OUTPUT_ZP), 127),
    };
    if conv_i8::column_words(op.geometry.patch()) > SCRATCH_WORDS {
        return None;
    }
    let (mut a, mut b) = ([0u32; PAIRS], [0u32; PAIRS]);
    let mut cmsis_scratch = 0;
    for k in 0..PAIRS {
        let t0 = clock.now();
        if layer.transposed {
            conv_i8::run_transpose(&op, x, &mut column, &mut ours);
        } else {
            conv_i8::run(&op, x, &mut column, &mut ours);
        }
        let t1 = clock.now();
        let status = cmsis::conv(
            layer,
            x,
            w,
            &bias[..cout],
            &mut q,
            &mut buf,
            &mut reverse,
            &mut theirs,
        );
        let t2 = clock.now();
        match status {
            Ok(bytes) => cmsis_scratch = bytes,
            Err(e) => {
                hprintln!("{}: CMSIS-NN: {:?}", layer.name, e);
                return None;
            }
        }
        a[k] = t1.wrapping_sub(t0);
        b[k] = t2.wrapping_sub(t1);
    }
    let n = layer.output_len();
    let equal = ours[..n] == theirs[..n];
    if !equal {
        let first = (0..n).find(|&k| ours[k] != theirs[k]).unwrap_or(0);
        hprintln!(
            "{}: first difference at output {} of {}: edgeae {} CMSIS-NN {}",
            layer.name,
            first,
            n,
            ours[first],
            theirs[first]
        );
    }
    Some(Row {
        edgeae: median(a),
        cmsis: median(b),
        edgeae_scratch: conv_i8::column_words(op.geometry.patch()) * 4,
        cmsis_scratch,
        equal,
    })
}

/// The bytes as int8 values (same size and alignment).
fn bytemuck_i8(b: &[u8]) -> &[i8] {
    bytemuck::cast_slice(b)
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    hprintln!("panic");
    hw::exit(101)
}
