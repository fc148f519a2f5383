//! int8 export of LSTM and GRU layers (SPEC.md 3.3, "int8 recurrent
//! layers"): calibration of a recurrent layer over the calibration windows
//! and the numbers of its RecurrentI8 form. The arithmetic is the SPEC's;
//! this module only chooses the numbers.
//!
//! - **Calibration** runs the f32 layer step by step with the firmware's
//!   own [`recurrent::step`] (the very function its f32 kernel runs, so the
//!   layer's output is bit for bit what [`recurrent::run`] gives) and
//!   records the range of every step's hidden state `h`, not only the
//!   steps the layer outputs: `h` is also what the recurrent weights read
//!   back, through the same int8 quantization. For an LSTM it also records
//!   the largest |c|, the cell state. The layer's input range is its input
//!   tensor's, measured as for every layer.
//! - **Activations**: `input` is the input tensor's [`Quant`], `output` the
//!   quantization of `h` over every step ([`quant_for`](super::quant_for)), shared with the
//!   next layer as for every tensor.
//! - **Weights**: symmetric int8, one scale per gate and matrix, `ws_ih[k]`
//!   and `ws_hh[k]` (the gate's largest |w| / 127), and per row the finest
//!   power of two that still holds the row ([`exponent_for`](super::exponent_for), as for
//!   DenseI8's output channels). Gate pre-activations are Q3.12, so gate
//!   `k`'s requantization is `input.scale · ws_ih[k] / 2^−12` (`gates_ih`)
//!   and `output.scale · ws_hh[k] / 2^−12` (`gates_hh`); a GRU has three
//!   gates and its fourth pair is `{0, 0}`.
//! - **Biases**: int32, `b_ih` row `r` in units of
//!   `input.scale · ws_ih[k] · 2^−e_ih[r]`; a GRU's `b_hh` in units of
//!   `output.scale · ws_hh[k] · 2^−e_hh[r]`; an LSTM stores none.
//! - **State**: an LSTM's cell state is int16 at scale `2^p`, `p` in
//!   −15..=−8 the smallest that holds the largest calibrated |c|
//!   (`|c| < 2^(p+15)`, [`state_shift`]); a GRU's 16-bit state is `h` at
//!   `2^−15` (`p = −15`).
//! - **Hidden state out**: the LSTM's `o · tanh(c)` is Q0.30 and the GRU's
//!   state Q0.15, so `hidden_requant` is `2^−30 / output.scale` or
//!   `2^−15 / output.scale`.

use anyhow::{Result, bail};
use firmware::ops::recurrent;
use model_format::build::{LayerBuf, f32_bytes};
use model_format::{
    Cell, F32s, GRU_STATE_SHIFT, MAX_STATE_SHIFT, MIN_STATE_SHIFT, Quant, Recurrent, RecurrentOp,
    Requant,
};

use super::{Plan, QuantizedRows, Range, quantize_rows, requant};

/// The scale of a Q3.12 gate pre-activation, `2^−12`.
pub const GATE_SCALE: f32 = 1.0 / 4096.0;

/// What calibration records of a recurrent layer besides its output range.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CellRange {
    /// The largest |c| of an LSTM's cell state over every step (0 for a
    /// GRU, and for any other layer).
    pub c_max: f32,
}

impl CellRange {
    fn update(&mut self, c: &[f32]) {
        for &v in c {
            // NaN would be lost by max; measure_ranges reports non-finite
            // outputs, and a NaN c makes h NaN.
            self.c_max = if v.is_nan() {
                f32::NAN
            } else {
                self.c_max.max(v.abs())
            };
        }
    }
}

/// Runs the f32 recurrent `op` on the sequence `x` into `y` as
/// [`recurrent::run`] does (the same bits), step by step through
/// [`recurrent::step`], widening `h` to hold every step's hidden state and
/// `cell` to hold every step's cell state.
pub fn run_measured(
    op: &RecurrentOp<'_>,
    x: &[f32],
    y: &mut [f32],
    h: &mut Range,
    cell: &mut CellRange,
) {
    let (steps, inputs, hidden) = (op.steps(), op.step_inputs(), op.hidden);
    if steps == 0 || inputs == 0 || hidden == 0 {
        return; // never in a validated model
    }
    let mut c = vec![0.0f32; recurrent::cell_words(op)];
    let mut previous: Vec<f32> = Vec::with_capacity(hidden);
    let mut next = vec![0.0f32; hidden];
    for (t, x_t) in x.chunks_exact(inputs).take(steps).enumerate() {
        recurrent::step(op, x_t, &previous, &mut c, &mut next);
        h.update(&next);
        cell.update(&c);
        let row = if op.sequences { t } else { 0 };
        if let Some(out) = y.get_mut(row * hidden..(row + 1) * hidden) {
            out.copy_from_slice(&next);
        }
        previous.clear();
        previous.extend_from_slice(&next);
    }
}

/// The exponent `p` of an LSTM's int16 cell state (scale `2^p`): the
/// smallest in −15..=−8 with `c_max < 2^(p+15)`, so the largest calibrated
/// |c| fits; −8 (|c| < 128) when none does. A GRU's state is always at
/// `2^−15`.
pub fn state_shift(cell: Cell, c_max: f32) -> i8 {
    match cell {
        Cell::Gru => GRU_STATE_SHIFT,
        Cell::Lstm => (MIN_STATE_SHIFT..=MAX_STATE_SHIFT)
            .find(|&p| f64::from(c_max) < 2f64.powi(i32::from(p) + 15))
            .unwrap_or(MAX_STATE_SHIFT),
    }
}

/// The numbers of a RecurrentI8 layer besides those it copies from the f32
/// layer (cell, shape, hidden, sequences).
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedRecurrent {
    /// Quantization of `x_t`.
    pub input: Quant,
    /// Quantization of `h`: the output and the recurrent input.
    pub output: Quant,
    /// `p`: the int16 state's scale is `2^p`.
    pub state_shift: i8,
    /// Per gate: `input.scale · ws_ih[k] / 2^−12` (a GRU's 4th is `{0, 0}`).
    pub gates_ih: [Requant; 4],
    /// Per gate: `output.scale · ws_hh[k] / 2^−12` (a GRU's 4th is `{0, 0}`).
    pub gates_hh: [Requant; 4],
    /// `2^−30 / output.scale` (LSTM) or `2^−15 / output.scale` (GRU).
    pub hidden_requant: Requant,
    /// Per gate, `ws_ih[k]` (not stored in the file).
    pub weight_scales_ih: Vec<f32>,
    /// Per gate, `ws_hh[k]` (not stored in the file).
    pub weight_scales_hh: Vec<f32>,
    /// `G·hidden × in` int8 weights.
    pub w_ih: Vec<i8>,
    /// One exponent per row of `w_ih`.
    pub exponents_ih: Vec<u8>,
    /// `G·hidden × hidden` int8 weights.
    pub w_hh: Vec<i8>,
    /// One exponent per row of `w_hh`.
    pub exponents_hh: Vec<u8>,
    /// `G·hidden` int32 input biases.
    pub b_ih: Vec<i32>,
    /// GRU: `G·hidden` int32 recurrent biases; LSTM: empty.
    pub b_hh: Vec<i32>,
}

impl QuantizedRecurrent {
    /// The RecurrentI8 layer of the f32 layer `r` with these numbers.
    pub fn into_layer(self, r: &Recurrent<'_>) -> LayerBuf {
        LayerBuf::RecurrentI8 {
            cell: r.cell,
            shape: r.shape,
            hidden: r.hidden,
            sequences: r.sequences,
            input: self.input,
            output: self.output,
            state_shift: self.state_shift,
            gates_ih: self.gates_ih,
            gates_hh: self.gates_hh,
            hidden_requant: self.hidden_requant,
            w_ih: self.w_ih,
            exponents_ih: self.exponents_ih,
            w_hh: self.w_hh,
            exponents_hh: self.exponents_hh,
            b_ih: self.b_ih,
            b_hh: self.b_hh,
        }
    }
}

const ZERO: Requant = Requant {
    multiplier: 0,
    shift: 0,
};

/// The weights of one matrix quantized gate by gate: per gate a scale and
/// a requantization into Q3.12 from `source` (the quantization of what the
/// matrix multiplies), per row an exponent and an int32 bias.
struct Matrix {
    scales: Vec<f32>,
    gates: [Requant; 4],
    weights: Vec<i8>,
    exponents: Vec<u8>,
    bias: Vec<i32>,
}

/// Quantizes `weights` (`G·hidden` rows) and `bias` (`G·hidden` values, or
/// empty: zero) of layer `layer`, gate by gate, for inputs quantized by
/// `source`.
fn quantize_matrix(
    layer: usize,
    op: &RecurrentOp<'_>,
    source: Quant,
    weights: F32s<'_>,
    bias: F32s<'_>,
) -> Result<Matrix> {
    let (gates, hidden) = (op.cell.gates(), op.hidden);
    let rows = op.rows();
    if rows == 0 || !weights.len().is_multiple_of(rows) {
        bail!("layer {layer}: the recurrent weights do not split into {rows} rows");
    }
    let per_gate = weights.len() / rows * hidden;
    let zeros = f32_bytes(&vec![0.0; hidden]);
    // The gate's requantization is source.scale · ws / 2^−12: what
    // quantize_rows computes for a layer whose output scale is 2^−12.
    let plan = Plan {
        input: source,
        output: Quant {
            scale: GATE_SCALE,
            zero_point: 0,
        },
        lut: None,
        target: Quant {
            scale: GATE_SCALE,
            zero_point: 0,
        },
    };
    let mut m = Matrix {
        scales: Vec::with_capacity(gates),
        gates: [ZERO; 4],
        weights: Vec::with_capacity(weights.len()),
        exponents: Vec::with_capacity(rows),
        bias: Vec::with_capacity(rows),
    };
    let w = weights.as_bytes();
    for k in 0..gates {
        let block = F32s::new(
            w.get(4 * k * per_gate..4 * (k + 1) * per_gate)
                .unwrap_or(&[]),
        );
        let b = if bias.is_empty() {
            F32s::new(&zeros)
        } else {
            let b = bias.as_bytes();
            F32s::new(b.get(4 * k * hidden..4 * (k + 1) * hidden).unwrap_or(&[]))
        };
        let QuantizedRows {
            weight_scale,
            requant,
            weights,
            exponents,
            bias: b,
        } = quantize_rows(layer, &plan, &block, hidden as u32, &b, false)?;
        m.scales.push(weight_scale);
        if let Some(g) = m.gates.get_mut(k) {
            *g = requant;
        }
        m.weights.extend(weights);
        m.exponents.extend(exponents);
        m.bias.extend(b);
    }
    Ok(m)
}

/// The RecurrentI8 numbers of the f32 recurrent layer `op` (layer `layer`)
/// for the input quantization `input`, the hidden-state quantization
/// `output` and the calibrated cell state `cell`.
pub fn quantize_recurrent(
    layer: usize,
    op: &RecurrentOp<'_>,
    input: Quant,
    output: Quant,
    cell: CellRange,
) -> Result<QuantizedRecurrent> {
    let ih = quantize_matrix(layer, op, input, op.w_ih, op.b_ih)?;
    let hh = quantize_matrix(layer, op, output, op.w_hh, op.b_hh)?;
    let q = match op.cell {
        Cell::Lstm => 30,
        Cell::Gru => 15,
    };
    let m = 2f64.powi(-q) / f64::from(output.scale);
    let Some(hidden_requant) = requant(m) else {
        bail!(
            "layer {layer} cannot be quantized: its hidden state's requantization multiplier {m:e} (output scale {}) is out of the int8 kernel's range; keep it in f32 with --keep-f32 {layer}",
            output.scale
        );
    };
    Ok(QuantizedRecurrent {
        input,
        output,
        state_shift: state_shift(op.cell, cell.c_max),
        gates_ih: ih.gates,
        gates_hh: hh.gates,
        hidden_requant,
        weight_scales_ih: ih.scales,
        weight_scales_hh: hh.scales,
        w_ih: ih.weights,
        exponents_ih: ih.exponents,
        w_hh: hh.weights,
        exponents_hh: hh.exponents,
        b_ih: ih.bias,
        b_hh: match op.cell {
            Cell::Lstm => Vec::new(),
            Cell::Gru => hh.bias,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::noise;
    use super::*;
    use firmware::ops::int8::mbqm;
    use model_format::build::{InputBuf, ModelBuf, ProvenanceBuf, ScoringBuf};
    use model_format::{Activation, MapShape, Model, ModelKind, Op};

    /// A model of one `cell` layer, `inputs` → `hidden` over `steps` steps,
    /// then a dense layer back to the input width. Gate 1's input weights are 16x
    /// smaller (a finer gate scale), and so is row 0 of gate 0 (a finer row
    /// exponent).
    fn model(
        cell: Cell,
        steps: u32,
        inputs: u32,
        hidden: u32,
        sequences: bool,
        seed: u64,
    ) -> Vec<u8> {
        let (inputs_, hidden_) = (inputs as usize, hidden as usize);
        let rows = cell.gates() * hidden_;
        let mut w_ih: Vec<f32> = noise(seed, rows * inputs_)
            .iter()
            .map(|v| v * 0.9)
            .collect();
        let (gate0, rest) = w_ih.split_at_mut(hidden_ * inputs_);
        for w in rest[..hidden_ * inputs_]
            .iter_mut()
            .chain(&mut gate0[..inputs_])
        {
            *w /= 16.0;
        }
        let scaled = |seed, n, k: f32| noise(seed, n).iter().map(|v| v * k).collect::<Vec<f32>>();
        let outputs = if sequences { steps * hidden } else { hidden };
        ModelBuf {
            kind: ModelKind::Custom,
            input: InputBuf::identity(inputs, steps, 1),
            layers: vec![
                LayerBuf::Recurrent {
                    cell,
                    shape: MapShape {
                        h: 1,
                        w: steps,
                        c: inputs,
                    },
                    hidden,
                    sequences,
                    w_ih,
                    w_hh: scaled(seed + 1, rows * hidden_, 0.6),
                    b_ih: scaled(seed + 2, rows, 0.3),
                    b_hh: match cell {
                        Cell::Lstm => Vec::new(),
                        Cell::Gru => scaled(seed + 3, rows, 0.2),
                    },
                },
                LayerBuf::Dense {
                    inputs: outputs,
                    outputs: steps * inputs,
                    activation: Activation::Identity,
                    weights: scaled(seed + 4, (outputs * steps * inputs) as usize, 0.1),
                    bias: vec![0.0; (steps * inputs) as usize],
                },
            ],
            codings_layer: 0,
            scoring: ScoringBuf::default(),
            provenance: ProvenanceBuf::default(),
        }
        .encode()
        .unwrap()
    }

    /// The recurrent layer of a [`model`].
    fn op<'a>(m: &Model<'a>) -> RecurrentOp<'a> {
        match m.ops()[0] {
            Op::Recurrent(r) => r,
            other => panic!("{other:?}"),
        }
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    #[test]
    fn measuring_computes_what_the_kernel_computes_and_sees_every_step() {
        for cell in [Cell::Lstm, Cell::Gru] {
            let (seq_bytes, last_bytes) = (
                model(cell, 12, 3, 5, true, 11),
                model(cell, 12, 3, 5, false, 11),
            );
            let (seq_model, last_model) = (
                Model::load(&seq_bytes).unwrap(),
                Model::load(&last_bytes).unwrap(),
            );
            let x: Vec<f32> = noise(7, 12 * 3).iter().map(|v| v * 3.0).collect();
            let seq = op(&seq_model);
            let mut want = vec![0.0f32; 60];
            recurrent::run(
                &seq,
                &x,
                &mut want,
                &mut vec![0.0; recurrent::state_words(&seq)],
            );
            let (mut h, mut c) = (Range::default(), CellRange::default());
            let mut y = vec![9.0f32; 60];
            run_measured(&seq, &x, &mut y, &mut h, &mut c);
            assert_eq!(bits(&y), bits(&want), "{cell:?}");
            let mut every = Range::default();
            every.update(&want);
            assert_eq!(h, every, "{cell:?}");
            assert!(h.min < -0.05 && h.max > 0.05, "{cell:?}: {h:?}");
            // The last step only: the same last row, the same ranges.
            let last = op(&last_model);
            let (mut h1, mut c1) = (Range::default(), CellRange::default());
            let mut y1 = vec![9.0f32; 6];
            run_measured(&last, &x, &mut y1, &mut h1, &mut c1);
            assert_eq!(bits(&y1[..5]), bits(&want[55..]), "{cell:?}");
            assert_eq!(y1[5], 9.0);
            assert_eq!((h1, c1), (h, c), "{cell:?}");
            match cell {
                // |c| can pass 1 (|h| cannot), and is at most 1 per step.
                Cell::Lstm => assert!(c.c_max > h.max.max(-h.min) && c.c_max < 12.0, "{c:?}"),
                Cell::Gru => assert_eq!(c.c_max, 0.0),
            }
        }
    }

    #[test]
    fn the_cell_state_exponent_is_the_smallest_that_holds_it() {
        let lstm = |c| state_shift(Cell::Lstm, c);
        assert_eq!(lstm(0.0), -15);
        assert_eq!(lstm(0.999), -15); // |c| < 2^0
        assert_eq!(lstm(1.0), -14);
        assert_eq!(lstm(15.99), -11); // the SPEC's example: p = −11, |c| < 16
        assert_eq!(lstm(16.0), -10);
        assert_eq!(lstm(127.9), -8);
        assert_eq!(lstm(500.0), -8, "saturates beyond 2^7");
        assert_eq!(lstm(f32::NAN), -8);
        assert_eq!(state_shift(Cell::Gru, 3.0), -15);
    }

    /// The real multiplier a [`Requant`] stands for.
    fn value(r: Requant) -> f64 {
        f64::from(r.multiplier) * 2f64.powi(i32::from(r.shift) - 31)
    }

    fn f32s(b: &[u8]) -> Vec<f32> {
        F32s::new(b).iter().collect()
    }

    #[test]
    fn weights_biases_and_multipliers_stand_for_the_f32_layer() {
        let input = Quant {
            scale: 0.031,
            zero_point: -7,
        };
        let output = Quant {
            scale: 2.0 / 255.0,
            zero_point: 3,
        };
        for cell in [Cell::Lstm, Cell::Gru] {
            let (inputs, hidden, g) = (3, 6, cell.gates());
            let bytes = model(cell, 4, inputs as u32, hidden as u32, true, 5);
            let m = Model::load(&bytes).unwrap();
            let r = op(&m);
            let b = [r.w_ih, r.w_hh, r.b_ih, r.b_hh].map(|v| v.as_bytes());
            let q = quantize_recurrent(0, &r, input, output, CellRange { c_max: 3.0 }).unwrap();
            assert_eq!(q.state_shift, if cell == Cell::Lstm { -13 } else { -15 });
            let hq = value(q.hidden_requant) * f64::from(output.scale);
            let want = 2f64.powi(if cell == Cell::Lstm { -30 } else { -15 });
            assert!((hq / want - 1.0).abs() < 1e-9, "{cell:?}: {hq}");
            for (w, scales, gates, exps, source, len) in [
                (
                    b[0],
                    &q.weight_scales_ih,
                    q.gates_ih,
                    &q.exponents_ih,
                    input,
                    inputs,
                ),
                (
                    b[1],
                    &q.weight_scales_hh,
                    q.gates_hh,
                    &q.exponents_hh,
                    output,
                    hidden,
                ),
            ] {
                let w = f32s(w);
                let qw = if len == inputs { &q.w_ih } else { &q.w_hh };
                assert_eq!(
                    (qw.len(), exps.len(), scales.len()),
                    (w.len(), g * hidden, g)
                );
                for (k, gate) in gates.iter().enumerate() {
                    if k >= g {
                        assert_eq!(*gate, ZERO, "{cell:?}: the GRU's 4th gate");
                        continue;
                    }
                    // Q3.12: source.scale · ws / 2^−12.
                    let m = f64::from(source.scale) * f64::from(scales[k]) * 4096.0;
                    assert!((value(*gate) / m - 1.0).abs() < 1e-9, "{cell:?} gate {k}");
                    let block = &w[k * hidden * len..(k + 1) * hidden * len];
                    let top = block.iter().fold(0.0f32, |a, v| a.max(v.abs()));
                    assert!((scales[k] * 127.0 / top - 1.0).abs() < 1e-6);
                }
                for (r, (row, qrow)) in w.chunks(len).zip(qw.chunks(len)).enumerate() {
                    let step = f64::from(scales[r / hidden]) * 2f64.powi(-i32::from(exps[r]));
                    for (a, b) in row.iter().zip(qrow) {
                        assert!((f64::from(*a) - f64::from(*b) * step).abs() <= step / 2.0 + 1e-12);
                    }
                }
            }
            // Gate 1's small input weights get a finer gate scale, row 0's
            // a finer exponent than the rest of gate 0.
            let (s, e) = (&q.weight_scales_ih, &q.exponents_ih);
            assert!(s[1] < s[0] / 8.0, "{cell:?}: {s:?}");
            assert!(e[0] >= 3, "{cell:?}: {e:?}");
            assert!(e[1..hidden].iter().all(|&v| v <= 1), "{cell:?}: {e:?}");
            assert_eq!(q.b_ih.len(), g * hidden);
            // Biases in units of source.scale · ws[k] · 2^−e[r], to half a unit.
            let biases = [(b[2], &q.b_ih, input, &q.weight_scales_ih, &q.exponents_ih)];
            let gru = [(b[3], &q.b_hh, output, &q.weight_scales_hh, &q.exponents_hh)];
            let all = if cell == Cell::Gru {
                [biases, gru].concat()
            } else {
                biases.to_vec()
            };
            for (f, qb, source, scales, exps) in all {
                for (r, (want, got)) in f32s(f).iter().zip(qb.iter()).enumerate() {
                    let unit = f64::from(source.scale)
                        * f64::from(scales[r / hidden])
                        * 2f64.powi(-i32::from(exps[r]));
                    let err = (f64::from(*got) * unit - f64::from(*want)).abs();
                    assert!(err <= unit / 2.0 + 1e-12, "{cell:?} bias {r}");
                }
            }
            assert_eq!(
                q.b_hh.len(),
                if cell == Cell::Lstm { 0 } else { g * hidden }
            );
        }
    }

    #[test]
    fn q3_12_gate_sums_match_the_f32_pre_activations() {
        // The SPEC's ax, ah and their requantization, against f32 sums
        // over the dequantized inputs: the scales chain correctly.
        let input = Quant {
            scale: 0.02,
            zero_point: 10,
        };
        let output = Quant {
            scale: 1.9 / 255.0,
            zero_point: -2,
        };
        for cell in [Cell::Lstm, Cell::Gru] {
            let (inputs, hidden) = (4, 5);
            let bytes = model(cell, 2, inputs as u32, hidden as u32, true, 21);
            let m = Model::load(&bytes).unwrap();
            let r = op(&m);
            let b = [r.w_ih, r.w_hh, r.b_ih, r.b_hh].map(|v| v.as_bytes());
            let q = quantize_recurrent(0, &r, input, output, CellRange::default()).unwrap();
            let xq: Vec<i32> = noise(3, inputs)
                .iter()
                .map(|v| (v * 120.0) as i32)
                .collect();
            let hq: Vec<i32> = noise(4, hidden)
                .iter()
                .map(|v| (v * 120.0) as i32)
                .collect();
            let x: Vec<f64> = xq
                .iter()
                .map(|v| f64::from(input.scale) * f64::from(v - i32::from(input.zero_point)))
                .collect();
            let h: Vec<f64> = hq
                .iter()
                .map(|v| f64::from(output.scale) * f64::from(v - i32::from(output.zero_point)))
                .collect();
            let (w_ih, w_hh, b_ih, b_hh) = (f32s(b[0]), f32s(b[1]), f32s(b[2]), f32s(b[3]));
            for row in 0..r.rows() {
                let k = row / hidden;
                let dot = |w: &[f32], v: &[f64]| -> f64 {
                    w.iter().zip(v).map(|(a, b)| f64::from(*a) * b).sum()
                };
                let fx = f64::from(b_ih[row]) + dot(&w_ih[row * inputs..][..inputs], &x);
                let fh = b_hh.get(row).map_or(0.0, |v| f64::from(*v))
                    + dot(&w_hh[row * hidden..][..hidden], &h);
                let ax = q.b_ih[row]
                    + (0..inputs)
                        .map(|i| {
                            i32::from(q.w_ih[row * inputs + i])
                                * (xq[i] - i32::from(input.zero_point))
                        })
                        .sum::<i32>();
                let ah = q.b_hh.get(row).copied().unwrap_or(0)
                    + (0..hidden)
                        .map(|m| {
                            i32::from(q.w_hh[row * hidden + m])
                                * (hq[m] - i32::from(output.zero_point))
                        })
                        .sum::<i32>();
                let req = |acc, g: Requant, e: u8| {
                    mbqm(acc, g.multiplier, i32::from(g.shift) - i32::from(e))
                };
                let xs = req(ax, q.gates_ih[k], q.exponents_ih[row]);
                let hs = req(ah, q.gates_hh[k], q.exponents_hh[row]);
                // Each weight is within half its step: the sums within
                // (half a step) · Σ|input| (+ one Q3.12 unit of rounding).
                let half = |scale: f32, e: u8, v: &[f64]| {
                    f64::from(scale) * 2f64.powi(-i32::from(e)) / 2.0
                        * v.iter().map(|a| a.abs()).sum::<f64>()
                        * 4096.0
                        + 1.5
                };
                let bx = half(q.weight_scales_ih[k], q.exponents_ih[row], &x);
                let bh = half(q.weight_scales_hh[k], q.exponents_hh[row], &h);
                assert!(
                    (f64::from(xs) - fx * 4096.0).abs() <= bx,
                    "{cell:?} {row}: {xs} {fx}"
                );
                assert!(
                    (f64::from(hs) - fh * 4096.0).abs() <= bh,
                    "{cell:?} {row}: {hs} {fh}"
                );
            }
        }
    }

    #[test]
    fn quantize_gives_a_version_9_model_whose_tensors_chain() {
        for (cell, sequences) in [(Cell::Lstm, false), (Cell::Gru, true)] {
            let bytes = model(cell, 10, 3, 6, sequences, 8);
            let m = Model::load(&bytes).unwrap();
            let windows: Vec<f32> = noise(5, 30 * 200).iter().map(|v| v * 2.0).collect();
            let ranges = super::super::measure_ranges(&m, &windows).unwrap();
            let def = super::super::quantize(&m, &windows, &Default::default()).unwrap();
            let LayerBuf::RecurrentI8 {
                output,
                state_shift: shift,
                ..
            } = &def.layers[0]
            else {
                panic!("{:?}", def.layers[0])
            };
            let LayerBuf::DenseI8 { input, .. } = &def.layers[1] else {
                panic!("{:?}", def.layers[1])
            };
            assert!(output.same_as(input), "{cell:?}: one quantization for h");
            // h's range is every step's, which the last step's lies in.
            assert!(output.same_as(&super::super::quant_for(ranges.tensors[1])));
            let c = ranges.cells[0].c_max;
            assert_eq!(*shift, state_shift(cell, c));
            let q = Model::load(&def.encode().unwrap())
                .unwrap()
                .header()
                .version;
            assert_eq!(q, 9, "the dense layer after it is tag 14 (aligned weights)");
            let out = def.encode().unwrap();
            let cmp = super::super::compare(&m, &Model::load(&out).unwrap(), &windows).unwrap();
            assert!(
                cmp.mean_abs_diff < 0.02 && cmp.max_abs_diff < 0.15,
                "{cell:?}: {cmp:?}"
            );
        }
    }
}
