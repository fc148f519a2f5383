//! edgeae's int8 LSTM (`firmware::ops::recurrent_i8`) beside CMSIS-NN's
//! `arm_lstm_unidirectional_s8` on the same sizes, weights, biases and
//! multipliers (per gate, so every row exponent 0: CMSIS-NN's case), from
//! the zero state; the outputs (every step's hidden state) must be equal
//! byte for byte. A GRU row times edgeae alone (CMSIS-NN has no GRU).

use cortex_m_semihosting::hprintln;
use firmware::ops::recurrent_i8;
use firmware::serve::Clock;
use model_format::{Cell, I8s, I32s, MapDims, Nibbles, Quant, RecurrentI8Op, Requant};

use crate::case::Rng;
use crate::{PAIRS, cmsis, hw, median};

/// One recurrent layer to time.
struct Case {
    name: &'static str,
    cell: Cell,
    steps: usize,
    inputs: usize,
    hidden: usize,
}

const CASES: &[Case] = &[
    Case {
        name: "LSTM 4 -> 16, 32 steps",
        cell: Cell::Lstm,
        steps: 32,
        inputs: 4,
        hidden: 16,
    },
    Case {
        name: "LSTM 16 -> 8, 32 steps",
        cell: Cell::Lstm,
        steps: 32,
        inputs: 16,
        hidden: 8,
    },
    Case {
        name: "LSTM 8 -> 16, 32 steps",
        cell: Cell::Lstm,
        steps: 32,
        inputs: 8,
        hidden: 16,
    },
    Case {
        name: "LSTM 32 -> 64, 16 steps",
        cell: Cell::Lstm,
        steps: 16,
        inputs: 32,
        hidden: 64,
    },
    Case {
        name: "GRU 4 -> 16, 32 steps",
        cell: Cell::Gru,
        steps: 32,
        inputs: 4,
        hidden: 16,
    },
    Case {
        name: "GRU 32 -> 64, 16 steps",
        cell: Cell::Gru,
        steps: 16,
        inputs: 32,
        hidden: 64,
    },
];

/// Largest sizes over `CASES`.
const W_IH: usize = 4 * 64 * 32;
const W_HH: usize = 4 * 64 * 64;
const SEQ_IN: usize = 512;
const SEQ_OUT: usize = 1024;
const ROWS: usize = 4 * 64;
const HIDDEN: usize = 64;
const STATE_WORDS: usize = 512;

const INPUT_ZP: i8 = 5;
const HIDDEN_ZP: i8 = -2;
/// The LSTM's cell scale, 2^-11.
const CELL_SHIFT: i8 = -11;

/// `multiplier · 2^(shift − 31)` ≈ 1.5 / √n: what brings a sum of `n`
/// products of random int8 values to a few units of Q3.12.
fn gate_requant(n: usize) -> Requant {
    let mut shift = 0i8;
    let mut m = n;
    while m >= 4 {
        m /= 4;
        shift -= 1;
    }
    Requant {
        multiplier: 0x6000_0000,
        shift,
    }
}

fn row_sum(w: &[i8], r: usize, len: usize) -> i32 {
    w[r * len..(r + 1) * len]
        .iter()
        .map(|v| i32::from(*v))
        .sum()
}

/// Prints the table; true if an output differs or a call fails.
pub fn bench(clock: &mut hw::InstructionClock) -> bool {
    hprintln!();
    hprintln!(
        "| recurrent layer | MACs per step | edgeae instructions per step | per MAC | CMSIS-NN instructions per step | per MAC | edgeae / CMSIS-NN | edgeae state | CMSIS-NN state and scratch | outputs |"
    );
    hprintln!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    let mut failed = false;
    for (n, case) in CASES.iter().enumerate() {
        failed |= !run(case, 0x51ed_u32 ^ n as u32, clock);
    }
    failed
}

/// Times one case and prints its row; false if it failed.
fn run(case: &Case, seed: u32, clock: &mut hw::InstructionClock) -> bool {
    let (steps, inputs, hidden) = (case.steps, case.inputs, case.hidden);
    let gates = case.cell.gates();
    let rows = gates * hidden;
    let mut rng = Rng::new(seed);
    let mut w_ih = [0i8; W_IH];
    let mut w_hh = [0i8; W_HH];
    let mut x = [0i8; SEQ_IN];
    let mut fill = |dst: &mut [i8]| {
        for v in dst.iter_mut() {
            *v = ((rng.next() % 255) as i32 - 127) as i8;
        }
    };
    fill(&mut w_ih[..rows * inputs]);
    fill(&mut w_hh[..rows * hidden]);
    fill(&mut x[..steps * inputs]);
    let mut b_ih = [0i32; ROWS];
    let mut b_hh = [0i32; ROWS];
    for r in 0..rows {
        b_ih[r] = (rng.next() % 4001) as i32 - 2000;
        b_hh[r] = (rng.next() % 4001) as i32 - 2000;
    }
    let le = |v: &[i32], out: &mut [u8; ROWS * 4]| {
        for (o, b) in out.chunks_exact_mut(4).zip(v) {
            o.copy_from_slice(&b.to_le_bytes());
        }
    };
    let (mut b_ih_bytes, mut b_hh_bytes) = ([0u8; ROWS * 4], [0u8; ROWS * 4]);
    le(&b_ih[..rows], &mut b_ih_bytes);
    le(&b_hh[..rows], &mut b_hh_bytes);
    let exponents = [0u8; ROWS / 2];
    let unused = Requant {
        multiplier: 0,
        shift: 0,
    };
    let (mut gates_ih, mut gates_hh) = ([unused; 4], [unused; 4]);
    for k in 0..gates {
        gates_ih[k] = gate_requant(inputs);
        gates_hh[k] = gate_requant(hidden);
    }
    // h's scale is 1/128: LSTM 2^-30 / 2^-7, GRU 2^-15 / 2^-7.
    let (state_shift, hidden_requant) = match case.cell {
        Cell::Lstm => (
            CELL_SHIFT,
            Requant {
                multiplier: 1 << 30,
                shift: -22,
            },
        ),
        Cell::Gru => (
            -15,
            Requant {
                multiplier: 1 << 30,
                shift: -7,
            },
        ),
    };
    let op = RecurrentI8Op {
        cell: case.cell,
        input: MapDims {
            h: 1,
            w: steps,
            c: inputs,
        },
        output: MapDims {
            h: 1,
            w: steps,
            c: hidden,
        },
        hidden,
        sequences: true,
        input_quant: Quant {
            scale: 0.05,
            zero_point: INPUT_ZP,
        },
        output_quant: Quant {
            scale: 1.0 / 128.0,
            zero_point: HIDDEN_ZP,
        },
        state_shift,
        gates_ih,
        gates_hh,
        hidden_requant,
        w_ih: I8s::new(bytemuck::cast_slice(&w_ih[..rows * inputs])),
        exponents_ih: Nibbles::new(&exponents[..rows.div_ceil(2)]),
        w_hh: I8s::new(bytemuck::cast_slice(&w_hh[..rows * hidden])),
        exponents_hh: Nibbles::new(&exponents[..rows.div_ceil(2)]),
        b_ih: I32s::new(&b_ih_bytes[..rows * 4]),
        b_hh: I32s::new(if case.cell == Cell::Gru {
            &b_hh_bytes[..rows * 4]
        } else {
            &[]
        }),
    };
    let words = recurrent_i8::state_words(&op);
    if words > STATE_WORDS {
        hprintln!("| {} | state of {} words does not fit |", case.name, words);
        return false;
    }
    let mut state = [0u32; STATE_WORDS];
    let mut ours = [0i8; SEQ_OUT];
    let mut theirs = [0i8; SEQ_OUT];
    let x = &x[..steps * inputs];
    // CMSIS-NN's effective biases fold in the zero points.
    let mut eff = [0i32; 2 * ROWS];
    for r in 0..rows {
        eff[r] = b_ih[r] - i32::from(INPUT_ZP) * row_sum(&w_ih, r, inputs);
        eff[rows + r] = -i32::from(HIDDEN_ZP) * row_sum(&w_hh, r, hidden);
    }
    let q = |r: &Requant| (r.multiplier, i32::from(r.shift));
    let mut mult = [0i32; 8];
    let mut shift = [0i32; 8];
    for k in 0..4 {
        (mult[k], shift[k]) = q(&gates_ih[k]);
        (mult[4 + k], shift[4 + k]) = q(&gates_hh[k]);
    }
    let lstm = cmsis::Lstm {
        size: (steps, inputs, hidden),
        w_ih: &w_ih[..rows * inputs],
        w_hh: &w_hh[..rows * hidden],
        mult,
        shift,
        eff_bias: &eff[..2 * rows],
        cell_scale_power: i32::from(CELL_SHIFT),
        out: (
            hidden_requant.multiplier,
            i32::from(hidden_requant.shift),
            i32::from(HIDDEN_ZP),
        ),
    };
    let (mut t1, mut t2, mut cell) = ([0i16; HIDDEN], [0i16; HIDDEN], [0i16; HIDDEN]);
    let mut h = [0i8; HIDDEN];
    let mut buffers = cmsis::LstmBuffers {
        temp: [&mut t1[..hidden], &mut t2[..hidden], &mut cell[..hidden]],
        hidden: &mut h[..hidden],
    };
    let with_cmsis = case.cell == Cell::Lstm;
    let (mut a, mut b) = ([0u32; PAIRS], [0u32; PAIRS]);
    for k in 0..PAIRS {
        let t0 = clock.now();
        recurrent_i8::run(&op, x, &mut ours, &mut state);
        let t1 = clock.now();
        if with_cmsis && let Err(e) = cmsis::lstm(&lstm, x, &mut theirs, &mut buffers) {
            hprintln!("{}: CMSIS-NN: {:?}", case.name, e);
            return false;
        }
        let t2 = clock.now();
        a[k] = t1.wrapping_sub(t0);
        b[k] = t2.wrapping_sub(t1);
    }
    let out = steps * hidden;
    let macs = rows * (inputs + hidden);
    let per_step = |i: u32| i / steps as u32;
    let per_mac = |i: u32| i as f32 / (macs * steps) as f32;
    let (ea, eb) = (median(a), median(b));
    if !with_cmsis {
        hprintln!(
            "| {} | {} | {} | {:.2} | - | - | - | {} B | - | edgeae only |",
            case.name,
            macs,
            per_step(ea),
            per_mac(ea),
            words * 4
        );
        return true;
    }
    let equal = ours[..out] == theirs[..out];
    if !equal {
        let first = (0..out).find(|&k| ours[k] != theirs[k]).unwrap_or(0);
        hprintln!(
            "{}: first difference at output {} of {}: edgeae {} CMSIS-NN {}",
            case.name,
            first,
            out,
            ours[first],
            theirs[first]
        );
    }
    // CMSIS-NN: cell state, two int16 gate buffers, the int8 hidden state.
    let cmsis_bytes = 3 * 2 * hidden + hidden;
    hprintln!(
        "| {} | {} | {} | {:.2} | {} | {:.2} | {:.2} | {} B | {} B | {} |",
        case.name,
        macs,
        per_step(ea),
        per_mac(ea),
        per_step(eb),
        per_mac(eb),
        ea as f32 / eb as f32,
        words * 4,
        cmsis_bytes,
        if equal { "equal" } else { "DIFFER" }
    );
    equal
}
