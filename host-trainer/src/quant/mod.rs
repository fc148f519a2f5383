//! Post-training int8 quantization of an f32 model (`edgeae export --quant
//! int8`): activation ranges from calibration windows, per-tensor asymmetric
//! int8 activations, per-channel power-of-two weight scales, TFLite-style
//! requantization and 256-entry activation tables. SPEC.md section 3.3
//! ("int8 layers") gives the arithmetic the board runs; this module only
//! chooses the numbers.
//!
//! - **Activations**: one affine int8 quantization per tensor (the model
//!   input and each layer's output), from the min and max the f32 model
//!   reaches on the calibration windows, 0 always included:
//!   `scale = (max − min) / 255`, `zero_point = round(−128 − min / scale)`.
//!   A tensor's [`Quant`] is computed once and shared by the layer that
//!   writes it and the layer that reads it, so two int8 layers chain
//!   bit-exactly. A ReLU output's range starts at 0, so its zero point is
//!   −128 and the kernel's clamp at the zero point is the ReLU.
//! - **Weights**: symmetric int8 in −127..=127. `weight_scale` is the layer's
//!   largest |w| / 127; output channel `o` uses `weight_scale · 2^−e[o]` with
//!   the largest `e[o]` in 0..=15 that still covers its own largest |w|, so a
//!   channel of small weights keeps its resolution. A layer whose weights a
//!   tied layer reuses keeps every exponent 0 (one scale, SPEC).
//! - **Bias**: int32 in units of `input.scale · weight_scale · 2^−e[o]`.
//! - **Requantization**: `M = input.scale · weight_scale / target.scale` as a
//!   Q31 multiplier and a shift ([`requant`]); the target is the table's
//!   input for SELU, sigmoid and tanh, else the output.
//! - **Tables**: SELU, sigmoid and tanh map the requantized pre-activation
//!   (quantized from its own calibrated range) through 256 entries computed
//!   in f64.
//! - **Recurrent layers**: [`recurrent`] (their calibration and numbers).

pub mod recurrent;

use std::collections::BTreeSet;

use anyhow::{Result, anyhow, bail};
use firmware::Engine;
use firmware::ops::{activation, conv, dense, pool, upsample};
use model_format::{Activation, ConvOp, DenseOp, Layer, Model, Op, Quant, Requant};

use model_format::build::{LayerBuf, LutBuf, ModelBuf};
use recurrent::CellRange;

/// What to leave in f32.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuantizeOptions {
    /// Indices of layers kept in f32 (for example the first and the last).
    /// A tied layer and the layer whose weights it reuses must both be kept
    /// or both be quantized.
    pub keep_f32: Vec<usize>,
}

/// The smallest activation scale used: a tensor whose calibrated range is
/// (nearly) empty, such as a ReLU output that is always 0, gets this scale
/// instead of 0 (which the format forbids) or a denormal (whose
/// requantization multiplier would not fit).
pub const MIN_SCALE: f32 = 1e-6;

/// The range of a tensor over the calibration windows; always holds 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    /// Smallest value seen (at most 0).
    pub min: f32,
    /// Largest value seen (at least 0).
    pub max: f32,
}

impl Default for Range {
    fn default() -> Self {
        Range { min: 0.0, max: 0.0 }
    }
}

impl Range {
    /// Widens the range to hold `values`.
    pub fn update(&mut self, values: &[f32]) {
        for &v in values {
            // NaN compares false both ways and would be lost; keep it visible.
            if v.is_nan() {
                self.min = f32::NAN;
                self.max = f32::NAN;
                return;
            }
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
    }

    /// True when both ends are finite.
    pub fn is_finite(&self) -> bool {
        self.min.is_finite() && self.max.is_finite()
    }
}

/// The calibrated ranges of a model.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranges {
    /// `layers + 1` tensors: the model input, then each layer's output.
    pub tensors: Vec<Range>,
    /// Each layer's pre-activation (the affine part, before the activation).
    pub pre: Vec<Range>,
    /// Each layer's cell state (an LSTM's; default for the others). A
    /// recurrent layer's output range holds every step's hidden state.
    pub cells: Vec<CellRange>,
}

/// True for the activations an int8 layer computes through a table.
pub fn needs_lut(activation: Activation) -> bool {
    matches!(
        activation,
        Activation::Selu | Activation::Sigmoid | Activation::Tanh
    )
}

/// The ops of `model`, all f32, or an error naming the first int8 layer.
fn f32_ops<'a>(model: &Model<'a>) -> Result<Vec<Op<'a>>> {
    model
        .ops()
        .iter()
        .enumerate()
        .map(|(i, op)| {
            if op.is_int8() {
                Err(anyhow!(
                    "layer {i} is already int8: quantize the f32 model that `edgeae train` wrote"
                ))
            } else {
                Ok(*op)
            }
        })
        .collect()
}

/// Runs f32 `op` on `x` into `y` without its activation (the affine part);
/// returns the activation still to apply.
fn run_affine(op: &Op<'_>, x: &[f32], y: &mut [f32]) -> Activation {
    match op {
        Op::Dense(d) => {
            dense::run(
                &DenseOp {
                    activation: Activation::Identity,
                    ..*d
                },
                x,
                y,
            );
            d.activation
        }
        Op::Conv(c) => {
            conv::run(
                &ConvOp {
                    activation: Activation::Identity,
                    ..*c
                },
                x,
                y,
            );
            c.activation
        }
        Op::ConvTranspose(c) => {
            conv::run_transpose(
                &ConvOp {
                    activation: Activation::Identity,
                    ..*c
                },
                x,
                y,
            );
            c.activation
        }
        Op::Pool(p) => {
            pool::run(p, x, y);
            Activation::Identity
        }
        Op::Upsample(u) => {
            upsample::run(u, x, y);
            Activation::Identity
        }
        // measure_ranges runs recurrent layers itself (recurrent::run_measured);
        // f32_ops refused int8 ops before this runs.
        Op::Recurrent(_)
        | Op::DenseI8(_)
        | Op::ConvI8(_)
        | Op::ConvTransposeI8(_)
        | Op::PoolI8(_)
        | Op::UpsampleI8(_)
        | Op::RecurrentI8(_) => Activation::Identity,
    }
}

/// Checks that `windows` holds whole windows of `model`, at least one.
fn check_windows(model: &Model<'_>, windows: &[f32]) -> Result<usize> {
    let n = model.input_len();
    if windows.is_empty() || n == 0 || !windows.len().is_multiple_of(n) {
        bail!(
            "the calibration data holds {} values, expected one or more whole windows of {n} values",
            windows.len()
        );
    }
    Ok(windows.len() / n)
}

/// Runs the f32 `model` layer by layer over every window of `windows`
/// (normalised, concatenated, `model.input_len()` values each) and records
/// the range of every tensor and pre-activation.
pub fn measure_ranges(model: &Model<'_>, windows: &[f32]) -> Result<Ranges> {
    let ops = f32_ops(model)?;
    check_windows(model, windows)?;
    let mut tensors = vec![Range::default(); ops.len() + 1];
    let mut pre = vec![Range::default(); ops.len()];
    let mut cells = vec![CellRange::default(); ops.len()];
    let widest = ops.iter().map(Op::outputs).max().unwrap_or(0);
    let mut cur = Vec::with_capacity(widest.max(model.input_len()));
    let mut next = vec![0.0f32; widest];
    for window in windows.chunks_exact(model.input_len()) {
        tensors[0].update(window);
        cur.clear();
        cur.extend_from_slice(window);
        for (i, op) in ops.iter().enumerate() {
            let y = &mut next[..op.outputs()];
            let act = match op {
                // Its sigmoid and tanh are inside; its output range holds
                // every step's hidden state, which it also reads back.
                Op::Recurrent(r) => {
                    recurrent::run_measured(r, &cur, y, &mut tensors[i + 1], &mut cells[i]);
                    Activation::Identity
                }
                _ => run_affine(op, &cur, y),
            };
            pre[i].update(y);
            activation::apply(act, y);
            tensors[i + 1].update(y);
            cur.clear();
            cur.extend_from_slice(y);
        }
    }
    for (i, r) in pre.iter().zip(&tensors[1..]).enumerate() {
        if !(r.0.is_finite() && r.1.is_finite()) {
            bail!(
                "layer {i}'s activations are not finite on the calibration data: the data does not fit this model"
            );
        }
    }
    if !tensors[0].is_finite() {
        bail!("the calibration windows hold a NaN or infinite value");
    }
    Ok(Ranges {
        tensors,
        pre,
        cells,
    })
}

/// The asymmetric int8 quantization of a tensor with range `r`:
/// `scale = (max − min) / 255` (at least [`MIN_SCALE`]),
/// `zero_point = round(−128 − min / scale)`.
pub fn quant_for(r: Range) -> Quant {
    let min = f64::from(r.min.min(0.0));
    let max = f64::from(r.max.max(0.0));
    let scale = (((max - min) / 255.0) as f32).max(MIN_SCALE);
    let zero_point = (-128.0 - min / f64::from(scale))
        .round()
        .clamp(-128.0, 127.0) as i8;
    Quant { scale, zero_point }
}

/// `m` as TFLite's `(multiplier, shift)` with `m = multiplier · 2^(shift − 31)`
/// and `multiplier` in `[2^30, 2^31)`: `m = q · 2^shift` with `q` in
/// `[0.5, 1)` (frexp), `multiplier = round(q · 2^31)`.
///
/// `None` when `m` is negative, not finite, or needs a shift above 30
/// (`m ≥ 2^30`). A zero `m` gives multiplier 0. So does an `m` below
/// `2^−32`, whose shift would fall under −31: the multiplier is clamped to 0
/// rather than refused, because `|acc · m| < 2^31 · 2^−32 = 0.5` for every
/// i32 accumulator, so the exact result already rounds to 0.
pub fn requant(m: f64) -> Option<Requant> {
    const ZERO: Requant = Requant {
        multiplier: 0,
        shift: 0,
    };
    if !m.is_finite() || m < 0.0 {
        return None;
    }
    if m < 2f64.powi(-32) {
        return Some(ZERO);
    }
    // frexp: m = q · 2^exp, q in [0.5, 1). m is a normal f64 here.
    let bits = m.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let exp = biased - 1022;
    let q = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    let mut multiplier = (q * 2f64.powi(31)).round() as i64;
    let mut shift = exp;
    if multiplier == 1 << 31 {
        multiplier /= 2;
        shift += 1;
    }
    if shift > 30 {
        return None;
    }
    if shift < -31 {
        return Some(ZERO);
    }
    Some(Requant {
        multiplier: i32::try_from(multiplier).ok()?,
        shift: i8::try_from(shift).ok()?,
    })
}

/// The largest `e` in `0..=max` with `weight_scale · 2^−e ≥ row_max / 127`:
/// the finest power-of-two step that still holds the channel's largest
/// |weight| in −127..=127. A channel of zeros gets `max`.
pub fn exponent_for(weight_scale: f32, row_max: f32, max: u8) -> u8 {
    let need = f64::from(row_max) / 127.0;
    (0..=max.min(15))
        .rev()
        .find(|&e| f64::from(weight_scale) * 2f64.powi(-i32::from(e)) >= need)
        .unwrap_or(0)
}

/// `act(x)` in f64 (the reference the tables are computed from).
pub fn activate_f64(activation: Activation, x: f64) -> f64 {
    const LAMBDA: f64 = 1.050_700_987_355_480_5;
    const ALPHA: f64 = 1.673_263_242_354_377_2;
    match activation {
        Activation::Identity => x,
        Activation::Relu => x.max(0.0),
        Activation::Selu => {
            if x > 0.0 {
                LAMBDA * x
            } else {
                LAMBDA * ALPHA * x.exp_m1()
            }
        }
        Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        Activation::Tanh => x.tanh(),
    }
}

/// The 256-entry table of `activation` from `input` to `output`: entry `i`
/// is for the int8 pre-activation `i − 128`.
pub fn lut_table(activation: Activation, input: Quant, output: Quant) -> Vec<i8> {
    (0..256i32)
        .map(|i| {
            let x = f64::from(input.scale) * f64::from(i - 128 - i32::from(input.zero_point));
            let y = activate_f64(activation, x);
            ((y / f64::from(output.scale)).round() + f64::from(output.zero_point))
                .clamp(-128.0, 127.0) as i8
        })
        .collect()
}

/// The largest |value|.
fn max_abs(values: impl Iterator<Item = f32>) -> f32 {
    values.fold(0.0f32, |m, v| m.max(v.abs()))
}

/// What an int8 layer's arithmetic needs besides its weights.
struct Plan {
    input: Quant,
    output: Quant,
    lut: Option<LutBuf>,
    target: Quant,
}

impl Plan {
    fn new(activation: Activation, input: Quant, output: Quant, pre: Range) -> Plan {
        let lut = needs_lut(activation).then(|| {
            let lut_in = quant_for(pre);
            LutBuf {
                input: lut_in,
                table: lut_table(activation, lut_in, output),
            }
        });
        let target = lut.as_ref().map_or(output, |l| l.input);
        Plan {
            input,
            output,
            lut,
            target,
        }
    }

    /// The layer's requantization for `weight_scale`, or an error naming it.
    fn requant(&self, layer: usize, weight_scale: f32) -> Result<Requant> {
        let m =
            f64::from(self.input.scale) * f64::from(weight_scale) / f64::from(self.target.scale);
        requant(m).ok_or_else(|| {
            anyhow!(
                "layer {layer} cannot be quantized: its requantization multiplier {m:e} (input scale {} × weight scale {weight_scale} / output scale {}) is out of the int8 kernel's range; keep it in f32 with --keep-f32 {layer}",
                self.input.scale,
                self.target.scale
            )
        })
    }
}

/// A layer's weights in int8, one row per output channel (a dense layer's
/// output, a convolution's filter of `kh·kw·c` values), each row with its
/// own power-of-two exponent.
struct QuantizedRows {
    weight_scale: f32,
    requant: Requant,
    weights: Vec<i8>,
    exponents: Vec<u8>,
    bias: Vec<i32>,
}

/// Quantizes `rows` rows of weights and their biases for layer `layer`;
/// `one_scale` keeps every exponent 0 (a layer a tied layer reuses).
fn quantize_rows(
    layer: usize,
    plan: &Plan,
    weights: &model_format::F32s<'_>,
    rows: u32,
    bias: &model_format::F32s<'_>,
    one_scale: bool,
) -> Result<QuantizedRows> {
    let w: Vec<f32> = weights.iter().collect();
    let b: Vec<f32> = bias.iter().collect();
    let rows = rows as usize;
    if rows == 0 || !w.len().is_multiple_of(rows) || b.len() != rows {
        bail!("layer {layer}: the weights do not split into {rows} rows");
    }
    let largest = max_abs(w.iter().copied());
    let weight_scale = if largest > 0.0 {
        (f64::from(largest) / 127.0) as f32
    } else {
        1.0 / 127.0 // all zero: any scale represents them
    };
    let requant = plan.requant(layer, weight_scale)?;
    // The kernel shifts by `31 − (requant.shift − e[o])`, clamped at 63
    // (SPEC 3.3); keeping `shift − e[o] ≥ −31` keeps every channel's
    // multiplier exactly what the exponent says.
    let max_e = if one_scale {
        0
    } else {
        u8::try_from((i32::from(requant.shift) + 31).clamp(0, 15)).unwrap_or(0)
    };
    let mut out = QuantizedRows {
        weight_scale,
        requant,
        weights: Vec::with_capacity(w.len()),
        exponents: Vec::with_capacity(rows),
        bias: Vec::with_capacity(rows),
    };
    for (o, (row, &bo)) in w.chunks_exact(w.len() / rows).zip(&b).enumerate() {
        let e = exponent_for(weight_scale, max_abs(row.iter().copied()), max_e);
        let step = f64::from(weight_scale) * 2f64.powi(-i32::from(e));
        out.weights.extend(
            row.iter()
                .map(|&x| (f64::from(x) / step).round().clamp(-127.0, 127.0) as i8),
        );
        out.exponents.push(e);
        out.bias
            .push(bias_i32(layer, o, bo, f64::from(plan.input.scale) * step)?);
    }
    Ok(out)
}

/// `round(b / unit)` as an i32, or an error naming the layer and output.
fn bias_i32(layer: usize, output: usize, b: f32, unit: f64) -> Result<i32> {
    let v = (f64::from(b) / unit).round();
    if v.is_finite() && v >= f64::from(i32::MIN) && v <= f64::from(i32::MAX) {
        Ok(v as i32)
    } else {
        bail!(
            "layer {layer} cannot be quantized: the bias of output {output} ({b}) does not fit in an int32 at the scale {unit:e} (input scale × weight scale); keep it in f32 with --keep-f32 {layer}"
        )
    }
}

/// Which layers become int8, after checking `keep_f32` against the model.
fn int8_layers(model: &Model<'_>, keep_f32: &[usize]) -> Result<Vec<bool>> {
    let n = model.layers().len();
    let keep: BTreeSet<usize> = keep_f32.iter().copied().collect();
    if let Some(bad) = keep.iter().find(|&&i| i >= n) {
        bail!(
            "there is no layer {bad} to keep in f32: the model has {n} layers, numbered 0 to {}",
            n - 1
        );
    }
    let int8: Vec<bool> = (0..n).map(|i| !keep.contains(&i)).collect();
    // A tied layer reads its source's weights in the source's precision, so
    // the pair is kept or quantized together; a mismatch is refused rather
    // than silently widened, and the message gives the list that works.
    for (j, layer) in model.layers().iter().enumerate() {
        if let Layer::TiedDense(t) = layer {
            let s = usize::from(t.source);
            if int8[j] != int8[s] {
                let (kept, other) = if int8[j] { (s, j) } else { (j, s) };
                let mut both: BTreeSet<usize> = keep.clone();
                both.insert(other);
                let list: Vec<String> = both.iter().map(usize::to_string).collect();
                bail!(
                    "layer {j} reuses the transposed weights of layer {s}, so both are f32 or both int8: layer {kept} is kept in f32 but layer {other} is not (use --keep-f32 {})",
                    list.join(",")
                );
            }
        }
    }
    Ok(int8)
}

/// A model scored in int8 (an autoencoder whose first and last layers are
/// int8, `firmware::int8_window`) gets one quantization for its window and
/// its reconstruction, that of the union of their ranges, so that its
/// error is an integer sum times the scale (SPEC.md 3.5). Not when the
/// first or last layer pools or upsamples (those keep their input's
/// quantization).
fn share_window_quant(
    model: &Model<'_>,
    ops: &[Op<'_>],
    int8: &[bool],
    ranges: &Ranges,
    quants: &mut [Quant],
) {
    let reshapes = |op: Option<&Op<'_>>| matches!(op, Some(Op::Pool(_) | Op::Upsample(_)));
    let last = ops.len().saturating_sub(1);
    let scored_in_int8 = model.classes().is_none()
        && int8.first() == Some(&true)
        && int8.get(last) == Some(&true)
        && !reshapes(ops.first())
        && !reshapes(ops.get(last));
    if let (true, Some(a), Some(b)) = (
        scored_in_int8,
        ranges.tensors.first(),
        ranges.tensors.get(last + 1),
    ) {
        let shared = quant_for(Range {
            min: a.min.min(b.min),
            max: a.max.max(b.max),
        });
        if let Some(q) = quants.first_mut() {
            *q = shared;
        }
        if let Some(q) = quants.get_mut(last + 1) {
            *q = shared;
        }
    }
}

/// The int8 layer `LayerBuf::$variant` of the f32 convolution or
/// transposed convolution `$c`, layer `$i` quantized as `$plan` says: the
/// two layers have the same fields and quantize alike.
macro_rules! conv_i8 {
    ($variant:ident, $c:expr, $i:expr, $plan:expr) => {{
        let (c, plan): (_, Plan) = ($c, $plan);
        let q = quantize_rows($i, &plan, &c.weights, c.filters, &c.bias, false)?;
        LayerBuf::$variant {
            shape: c.shape,
            filters: c.filters,
            kernel: c.kernel,
            stride: c.stride,
            padding: c.padding,
            activation: c.activation,
            input: plan.input,
            output: plan.output,
            weight_scale: q.weight_scale,
            requant: q.requant,
            weights: q.weights,
            exponents: q.exponents,
            bias: q.bias,
            lut: plan.lut,
        }
    }};
}

/// Quantizes the f32 `model` to int8, except the layers in
/// `opts.keep_f32`, with activation ranges measured on `windows`
/// (normalised calibration windows, concatenated, `model.input_len()`
/// values each). Kind, input, codings layer, scoring and provenance are
/// copied; the caller recalibrates the threshold for the new model.
pub fn quantize(model: &Model<'_>, windows: &[f32], opts: &QuantizeOptions) -> Result<ModelBuf> {
    let ops = f32_ops(model)?;
    let int8 = int8_layers(model, &opts.keep_f32)?;
    let ranges = measure_ranges(model, windows)?;
    let mut quants: Vec<Quant> = ranges.tensors.iter().map(|r| quant_for(*r)).collect();
    share_window_quant(model, &ops, &int8, &ranges, &mut quants);
    // Pooling and upsampling keep their input's quantization (SPEC: one
    // quantization in and out): a max or an average of values, or a copy,
    // stays in the input's range.
    for (i, op) in ops.iter().enumerate() {
        if matches!(op, Op::Pool(_) | Op::Upsample(_)) && int8[i] {
            quants[i + 1] = quants[i];
        }
    }
    let tie_sources: BTreeSet<usize> = model
        .layers()
        .iter()
        .filter_map(|l| match l {
            Layer::TiedDense(t) => Some(usize::from(t.source)),
            _ => None,
        })
        .collect();
    let mut def = ModelBuf::from_model(model);
    // The weight scale of each int8 dense layer, for the layers tied to it.
    let mut weight_scales: Vec<Option<f32>> = vec![None; ops.len()];
    let mut layers = Vec::with_capacity(ops.len());
    for (i, layer) in model.layers().iter().enumerate() {
        if !int8[i] {
            layers.push(def.layers[i].clone());
            continue;
        }
        let plan = Plan::new(layer.activation(), quants[i], quants[i + 1], ranges.pre[i]);
        let quantized = match layer {
            Layer::Recurrent(r) => {
                let Some(Op::Recurrent(op)) = ops.get(i) else {
                    bail!("layer {i}: a recurrent layer without its op");
                };
                recurrent::quantize_recurrent(i, op, plan.input, plan.output, ranges.cells[i])?
                    .into_layer(r)
            }
            Layer::Dense(d) => {
                // A layer a tied layer reuses keeps one scale (exponents 0).
                let q = quantize_rows(
                    i,
                    &plan,
                    &d.weights,
                    d.outputs,
                    &d.bias,
                    tie_sources.contains(&i),
                )?;
                weight_scales[i] = Some(q.weight_scale);
                let QuantizedRows {
                    weight_scale,
                    requant,
                    weights,
                    exponents,
                    bias,
                } = q;
                LayerBuf::DenseI8 {
                    inputs: d.inputs,
                    outputs: d.outputs,
                    activation: d.activation,
                    input: plan.input,
                    output: plan.output,
                    weight_scale,
                    requant,
                    weights,
                    exponents,
                    bias,
                    lut: plan.lut,
                    // Interleaved for the 4-row kernels (tag 14: format
                    // version 9, its weights aligned), unless a tied
                    // layer reads the weights row-major.
                    interleaved: !tie_sources.contains(&i),
                }
            }
            Layer::TiedDense(t) => {
                let s = usize::from(t.source);
                let weight_scale = weight_scales.get(s).copied().flatten().ok_or_else(|| {
                    anyhow!("layer {i} is tied to layer {s}, which is not an int8 dense layer")
                })?;
                let requant = plan.requant(i, weight_scale)?;
                let unit = f64::from(plan.input.scale) * f64::from(weight_scale);
                let bias = t
                    .bias
                    .iter()
                    .enumerate()
                    .map(|(o, b)| bias_i32(i, o, b, unit))
                    .collect::<Result<Vec<i32>>>()?;
                LayerBuf::TiedDenseI8 {
                    source: t.source,
                    activation: t.activation,
                    input: plan.input,
                    output: plan.output,
                    requant,
                    bias,
                    lut: plan.lut,
                }
            }
            Layer::Conv(c) => conv_i8!(ConvI8, c, i, plan),
            Layer::ConvTranspose(c) => conv_i8!(ConvTransposeI8, c, i, plan),
            Layer::Pool(p) => LayerBuf::PoolI8 {
                shape: p.shape,
                size: p.size,
                kind: p.kind,
                quant: plan.input,
            },
            Layer::Upsample(u) => LayerBuf::UpsampleI8 {
                shape: u.shape,
                factor: u.factor,
                quant: plan.input,
            },
            Layer::DenseI8(_)
            | Layer::DenseI8x4(_)
            | Layer::TiedDenseI8(_)
            | Layer::ConvI8(_)
            | Layer::ConvTransposeI8(_)
            | Layer::PoolI8(_)
            | Layer::UpsampleI8(_)
            | Layer::RecurrentI8(_) => {
                bail!("layer {i} is already int8: quantize the f32 model that `edgeae train` wrote")
            }
        };
        layers.push(quantized);
    }
    def.layers = layers;
    Ok(def)
}

/// How two models' reconstructions compare over the same windows.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Comparison {
    /// Windows compared.
    pub windows: usize,
    /// Mean over every value of |b − a| (normalised units).
    pub mean_abs_diff: f64,
    /// Largest |b − a|.
    pub max_abs_diff: f64,
    /// Mean |x − a|: the first model's reconstruction error.
    pub mean_abs_err_a: f64,
    /// Mean |x − b|: the second model's reconstruction error.
    pub mean_abs_err_b: f64,
    /// Classifiers: windows that both give the same class (for them the
    /// differences above are of the logits, and the errors mean nothing).
    pub same_class: Option<usize>,
}

/// Reconstructs every window of `windows` with the firmware engine through
/// `a` and `b` (the same input width) and compares them.
pub fn compare(a: &Model<'_>, b: &Model<'_>, windows: &[f32]) -> Result<Comparison> {
    let count = check_windows(a, windows)?;
    if b.input_len() != a.input_len() {
        bail!(
            "the models take {} and {} values per window",
            a.input_len(),
            b.input_len()
        );
    }
    let mut scratch_a = vec![0.0f32; Engine::scratch_len(a)];
    let mut scratch_b = vec![0.0f32; Engine::scratch_len(b)];
    let mut ea = Engine::new(a, &mut scratch_a)?;
    let mut eb = Engine::new(b, &mut scratch_b)?;
    let (mut diff, mut max, mut err_a, mut err_b, mut n) = (0.0f64, 0.0f64, 0.0f64, 0.0f64, 0usize);
    let mut same_class = a.classes().map(|_| 0usize);
    for w in windows.chunks_exact(a.input_len()) {
        ea.input_mut().copy_from_slice(w);
        eb.input_mut().copy_from_slice(w);
        let (_, ya) = ea.reconstruct();
        let (_, yb) = eb.reconstruct();
        if let Some(same) = same_class.as_mut() {
            let class = |y: &[f32]| firmware::classify(y).map(|c| c.class);
            *same += usize::from(class(ya) == class(yb));
        }
        for ((x, p), q) in w.iter().zip(ya).zip(yb) {
            let d = f64::from(q - p).abs();
            diff += d;
            max = max.max(d);
            err_a += f64::from(x - p).abs();
            err_b += f64::from(x - q).abs();
            n += 1;
        }
    }
    let n = n.max(1) as f64;
    Ok(Comparison {
        windows: count,
        mean_abs_diff: diff / n,
        max_abs_diff: max,
        mean_abs_err_a: err_a / n,
        mean_abs_err_b: err_b / n,
        same_class,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The real multiplier a [`Requant`] stands for.
    fn requant_value(r: Requant) -> f64 {
        f64::from(r.multiplier) * 2f64.powi(i32::from(r.shift) - 31)
    }
    use model_format::ModelKind;
    use model_format::build::{InputBuf, ProvenanceBuf, ScoringBuf};

    /// Deterministic values in [-1, 1).
    pub(super) fn noise(seed: u64, n: usize) -> Vec<f32> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    fn dense(inputs: u32, outputs: u32, activation: Activation, seed: u64) -> LayerBuf {
        let scale = 1.5 / (inputs as f32).sqrt();
        let mut weights: Vec<f32> = noise(seed, (inputs * outputs) as usize)
            .iter()
            .map(|v| v * scale)
            .collect();
        // Output 0's weights are 20x smaller: it should get its own exponent.
        for w in &mut weights[..inputs as usize] {
            *w *= 0.05;
        }
        LayerBuf::Dense {
            inputs,
            outputs,
            activation,
            weights,
            bias: noise(seed + 1, outputs as usize)
                .iter()
                .map(|v| v * 0.1)
                .collect(),
        }
    }

    /// 8-6-3-6-8, every activation, layer 2 tied to layer 1.
    fn f32_model() -> Vec<u8> {
        ModelBuf {
            kind: ModelKind::Custom,
            input: InputBuf::identity(2, 4, 2),
            layers: vec![
                dense(8, 6, Activation::Relu, 1),
                dense(6, 3, Activation::Tanh, 2),
                LayerBuf::TiedDense {
                    source: 1,
                    activation: Activation::Selu,
                    bias: vec![0.05, -0.1, 0.0, 0.2, 0.1, -0.05],
                },
                dense(6, 8, Activation::Identity, 3),
            ],
            codings_layer: 1,
            scoring: ScoringBuf::default(),
            provenance: ProvenanceBuf::default(),
        }
        .encode()
        .unwrap()
    }

    fn windows() -> Vec<f32> {
        noise(99, 8 * 400).iter().map(|v| v * 2.0).collect()
    }

    #[test]
    fn quantized_model_is_int8_tied_and_close_to_f32() {
        let bytes = f32_model();
        let model = Model::load(&bytes).unwrap();
        let w = windows();
        let def = quantize(&model, &w, &QuantizeOptions::default()).unwrap();
        let out = def.encode().unwrap();
        let q = Model::load(&out).unwrap();
        // Layer 0 is interleaved (tag 14); layer 1, read by the tied
        // layer, stays row-major; tag 14 is written as version 9 (aligned weights).
        assert_eq!(q.header().version, 9);
        assert!(q.layers().iter().all(Layer::is_int8));
        let LayerBuf::DenseI8 {
            exponents,
            interleaved: true,
            ..
        } = &def.layers[0]
        else {
            panic!("{:?}", def.layers[0])
        };
        // The small output channel uses a finer step; the others do not need one.
        assert!(exponents[0] >= 4, "{exponents:?}");
        assert!(exponents[1..].iter().all(|e| *e <= 1), "{exponents:?}");
        let LayerBuf::DenseI8 { exponents, .. } = &def.layers[1] else {
            panic!()
        };
        assert!(
            exponents.iter().all(|e| *e == 0),
            "tie source: {exponents:?}"
        );
        assert!(matches!(
            def.layers[2],
            LayerBuf::TiedDenseI8 { source: 1, .. }
        ));
        let c = compare(&model, &q, &w).unwrap();
        assert_eq!(c.windows, 400);
        // Outputs are O(1); int8 with 8 bits per tensor lands within a few steps.
        assert!(c.mean_abs_diff < 0.02, "{c:?}");
        assert!(c.max_abs_diff < 0.15, "{c:?}");
    }

    #[test]
    fn keep_f32_gives_a_mixed_model_and_checks_ties() {
        let bytes = f32_model();
        let model = Model::load(&bytes).unwrap();
        let w = windows();
        let opts = |keep: &[usize]| QuantizeOptions {
            keep_f32: keep.to_vec(),
        };
        let def = quantize(&model, &w, &opts(&[0, 3])).unwrap();
        let precisions: Vec<bool> = def.layers.iter().map(LayerBuf::is_int8).collect();
        assert_eq!(precisions, [false, true, true, false]);
        // (Not smaller here: two 256-byte tables outweigh 18 weights.)
        // f32 layers: written aligned, as version 8.
        assert_eq!(
            Model::load(&def.encode().unwrap())
                .unwrap()
                .header()
                .version,
            8
        );
        // Keeping everything is an f32 model again (version 8).
        let all = quantize(&model, &w, &opts(&[0, 1, 2, 3])).unwrap();
        assert_eq!(
            Model::load(&all.encode().unwrap())
                .unwrap()
                .header()
                .version,
            8
        );

        let err = quantize(&model, &w, &opts(&[1])).unwrap_err().to_string();
        assert!(
            err.contains("layer 2 reuses the transposed weights of layer 1")
                && err.contains("--keep-f32 1,2"),
            "{err}"
        );
        let err = quantize(&model, &w, &opts(&[4])).unwrap_err().to_string();
        assert!(
            err.contains("no layer 4") && err.contains("0 to 3"),
            "{err}"
        );
        let err = quantize(&model, &w[..7], &opts(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("whole windows of 8 values"), "{err}");
        // An int8 model is not quantized again.
        let int8 = quantize(&model, &w, &opts(&[])).unwrap().encode().unwrap();
        let m = Model::load(&int8).unwrap();
        let err = quantize(&m, &w, &opts(&[])).unwrap_err().to_string();
        assert!(err.contains("already int8"), "{err}");
    }

    #[test]
    fn ranges_hold_zero_and_chained_layers_share_quant() {
        let bytes = f32_model();
        let model = Model::load(&bytes).unwrap();
        let r = measure_ranges(&model, &windows()).unwrap();
        assert_eq!(r.tensors.len(), 5);
        for t in r.tensors.iter().chain(&r.pre) {
            assert!(t.min <= 0.0 && t.max >= 0.0, "{t:?}");
        }
        assert_eq!(r.tensors[1].min, 0.0, "ReLU output");
        let def = quantize(&model, &windows(), &QuantizeOptions::default()).unwrap();
        let io = |l: &LayerBuf| match l {
            LayerBuf::DenseI8 { input, output, .. }
            | LayerBuf::TiedDenseI8 { input, output, .. } => (*input, *output),
            _ => panic!(),
        };
        for pair in def.layers.windows(2) {
            assert!(io(&pair[0]).1.same_as(&io(&pair[1]).0));
        }
        // Scored in int8: the window and the reconstruction share one
        // quantization, which holds both ranges.
        let (window, reconstruction) = (io(&def.layers[0]).0, io(&def.layers[3]).1);
        assert!(window.same_as(&reconstruction));
        let (x, y) = (r.tensors[0], r.tensors[4]);
        let lo = window.scale * (-128.0 - f32::from(window.zero_point));
        let hi = window.scale * (127.0 - f32::from(window.zero_point));
        assert!(lo <= x.min.min(y.min) + window.scale && hi >= x.max.max(y.max) - window.scale);
        assert_eq!(
            io(&def.layers[0]).1.zero_point,
            -128,
            "ReLU output zero point"
        );
    }

    #[test]
    fn requant_round_trips_within_2_pow_minus_30() {
        let mut m = 3.1e-9f64;
        while m < 1e9 {
            let r = requant(m).unwrap();
            assert!((1 << 30..=i32::MAX).contains(&r.multiplier), "{m}: {r:?}");
            assert!((-31..=30).contains(&r.shift), "{m}: {r:?}");
            let back = requant_value(r);
            assert!(
                ((back - m) / m).abs() <= 2f64.powi(-30),
                "{m} -> {r:?} -> {back}"
            );
            m *= 1.37;
        }
        // Exact powers of two and the rounding edge just below 1.
        assert_eq!(
            requant(0.5),
            Some(Requant {
                multiplier: 1 << 30,
                shift: 0
            })
        );
        assert_eq!(
            requant(1.0),
            Some(Requant {
                multiplier: 1 << 30,
                shift: 1
            })
        );
        let r = requant(1.0 - 1e-12).unwrap();
        assert_eq!(
            r,
            Requant {
                multiplier: 1 << 30,
                shift: 1
            }
        );
    }

    #[test]
    fn requant_edges() {
        let zero = Requant {
            multiplier: 0,
            shift: 0,
        };
        assert_eq!(requant(0.0), Some(zero));
        // Below 2^-32 the product with any i32 rounds to 0: multiplier 0.
        assert_eq!(requant(2f64.powi(-33)), Some(zero));
        assert_eq!(requant(2f64.powi(-32)).map(|r| r.shift), Some(-31));
        assert!(requant(2f64.powi(29)).is_some());
        assert_eq!(requant(2f64.powi(30)), None);
        assert_eq!(requant(-1.0), None);
        assert_eq!(requant(f64::NAN), None);
        assert_eq!(requant(f64::INFINITY), None);
    }

    #[test]
    fn requant_matches_the_kernel() {
        // mbqm(acc, multiplier, shift) ≈ acc · M, to the rounding.
        for (m, acc) in [
            (0.0123, 10_000),
            (0.75, -3_000),
            (3.5, 1_000),
            (1e-6, 1 << 28),
        ] {
            let r = requant(m).unwrap();
            let got = firmware::ops::int8::mbqm(acc, r.multiplier, i32::from(r.shift));
            let want = f64::from(acc) * m;
            assert!(
                (f64::from(got) - want).abs() <= 1.0,
                "{m} {acc}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn exponents_use_the_finest_power_of_two_that_fits() {
        // Powers of two, so that the edges are exact in f32.
        let ws = 2f32.powi(-7); // layer max |w| = 127 / 128
        let top = 127.0 * ws;
        assert_eq!(exponent_for(ws, top, 15), 0);
        assert_eq!(exponent_for(ws, top / 2.0, 15), 1); // exactly half: 2^-1 still fits
        assert_eq!(exponent_for(ws, top / 2.0 + 1e-6, 15), 0);
        assert_eq!(exponent_for(ws, top * 0.3, 15), 1);
        assert_eq!(exponent_for(ws, top / 4.0, 15), 2);
        assert_eq!(exponent_for(ws, top * 0.2, 15), 2);
        assert_eq!(exponent_for(ws, 1e-9, 15), 15); // capped at 15
        assert_eq!(exponent_for(ws, 0.0, 15), 15);
        assert_eq!(exponent_for(ws, 0.01, 3), 3); // capped by the caller
        assert_eq!(exponent_for(ws, 0.01, 0), 0);
        // The chosen step keeps the row's max within 127 and uses over half of it.
        let ws = 1.0 / 127.0;
        for row_max in [0.9f32, 0.33, 0.126, 0.07, 0.013] {
            let e = exponent_for(ws, row_max, 15);
            let q = f64::from(row_max) / (f64::from(ws) * 2f64.powi(-i32::from(e)));
            assert!(q <= 127.0 + 1e-9 && q > 63.0, "{row_max}: e {e}, q {q}");
        }
    }

    #[test]
    fn quant_holds_zero_and_the_range() {
        let q = quant_for(Range {
            min: -1.0,
            max: 3.0,
        });
        assert!((q.scale - 4.0 / 255.0).abs() < 1e-7);
        // Real 0 is exactly representable: q = zero_point.
        let lo = q.scale * (-128 - i32::from(q.zero_point)) as f32;
        let hi = q.scale * (127 - i32::from(q.zero_point)) as f32;
        assert!(lo <= -1.0 + q.scale && hi >= 3.0 - q.scale, "{lo} {hi}");
        // ReLU-like: zero point -128.
        let r = quant_for(Range { min: 0.0, max: 6.0 });
        assert_eq!(r.zero_point, -128);
        // All-negative and empty ranges.
        assert_eq!(
            quant_for(Range {
                min: -2.0,
                max: 0.0
            })
            .zero_point,
            127
        );
        let z = quant_for(Range::default());
        assert_eq!(z.scale, MIN_SCALE);
    }

    #[test]
    fn tables_are_monotone_and_accurate() {
        let input = Quant {
            scale: 8.0 / 255.0,
            zero_point: 0,
        };
        for (act, output) in [
            (Activation::Sigmoid, quant_for(Range { min: 0.0, max: 1.0 })),
            (
                Activation::Tanh,
                quant_for(Range {
                    min: -1.0,
                    max: 1.0,
                }),
            ),
            (
                Activation::Selu,
                quant_for(Range {
                    min: -1.76,
                    max: 4.3,
                }),
            ),
        ] {
            let t = lut_table(act, input, output);
            assert_eq!(t.len(), 256);
            assert!(t.windows(2).all(|p| p[0] <= p[1]), "{act:?}: {t:?}");
            assert!(t[255] > t[0] + 100, "{act:?} uses the range: {t:?}");
            for (i, &q) in t.iter().enumerate() {
                let x = f64::from(input.scale)
                    * f64::from(i as i32 - 128 - i32::from(input.zero_point));
                let y = f64::from(output.scale)
                    * f64::from(i32::from(q) - i32::from(output.zero_point));
                assert!(
                    (y - activate_f64(act, x)).abs() <= f64::from(output.scale) * 0.51 + 1e-9,
                    "{act:?} at {x}: {y}"
                );
            }
        }
    }
}
