//! Every rule a model must satisfy, checked once by [`crate::Model::load`]
//! (and by the encoder before it writes anything). The output is the list of
//! resolved [`Op`]s whose shapes a runtime may trust.

use heapless::Vec;

use crate::error::{Field, FormatError};
use crate::{
    Activation, Calibration, DenseI8Op, DenseOp, F32s, I8s, I32s, Layer, Lut, MAX_LAYERS, Metric,
    ModelSpec, Nibbles, Op, Quant, Requant, ScoringSpec, WeightLayout,
};

/// Largest width or element count accepted; keeps every byte length within
/// `u32` (and `usize` on 32-bit targets) with room to spare.
const MAX_ELEMENTS: u64 = (u32::MAX / 8) as u64;

/// Checks the spec and resolves its layers into ops.
pub(crate) fn validate<'a>(spec: &ModelSpec<'a>) -> Result<Vec<Op<'a>, MAX_LAYERS>, FormatError> {
    let input_len = check_input(spec)?;
    let ops = resolve_layers(spec, input_len)?;
    let count = u16::try_from(ops.len()).unwrap_or(u16::MAX);
    if usize::from(spec.codings_layer) + 1 >= ops.len() {
        return Err(FormatError::BadCodingsLayer {
            index: spec.codings_layer,
            layers: count,
        });
    }
    check_scoring(&spec.scoring, spec.input.channels, input_len)?;
    Ok(ops)
}

fn nonzero(value: u32, field: Field, layer: Option<u16>) -> Result<u64, FormatError> {
    if value == 0 {
        return Err(FormatError::ZeroSize { field, layer });
    }
    Ok(u64::from(value))
}

/// `a * b` elements, rejected past [`MAX_ELEMENTS`].
fn elements(a: u64, b: u64, field: Field, layer: Option<u16>) -> Result<u64, FormatError> {
    a.checked_mul(b)
        .filter(|&n| n <= MAX_ELEMENTS)
        .ok_or(FormatError::TooLarge { field, layer })
}

/// Checks that `values` holds exactly `count` finite f32s.
fn check_f32s(
    values: F32s<'_>,
    count: u64,
    field: Field,
    layer: Option<u16>,
) -> Result<(), FormatError> {
    let expected = count * 4;
    let found = values.as_bytes().len() as u64;
    if found != expected {
        return Err(FormatError::LengthMismatch {
            field,
            layer,
            expected: u32::try_from(expected).unwrap_or(u32::MAX),
            found: u32::try_from(found).unwrap_or(u32::MAX),
        });
    }
    if !values.all_finite() {
        return Err(FormatError::BadValue { field, layer });
    }
    Ok(())
}

/// Checks that a byte string holds exactly `expected` bytes.
fn check_len(
    bytes: &[u8],
    expected: u64,
    field: Field,
    layer: Option<u16>,
) -> Result<(), FormatError> {
    let found = bytes.len() as u64;
    if found != expected {
        return Err(FormatError::LengthMismatch {
            field,
            layer,
            expected: u32::try_from(expected).unwrap_or(u32::MAX),
            found: u32::try_from(found).unwrap_or(u32::MAX),
        });
    }
    Ok(())
}

/// Checks that `weights` holds exactly `count` int8 values in −127..=127.
fn check_i8s(weights: I8s<'_>, count: u64, layer: Option<u16>) -> Result<(), FormatError> {
    check_len(weights.as_bytes(), count, Field::Weights, layer)?;
    if weights.iter().any(|w| w == i8::MIN) {
        return Err(FormatError::BadValue {
            field: Field::Weights,
            layer,
        });
    }
    Ok(())
}

fn quant_ok(q: &Quant) -> bool {
    q.scale.is_finite() && q.scale > 0.0
}

fn requant_ok(r: &Requant) -> bool {
    (r.multiplier == 0 || r.multiplier >= 1 << 30) && (-31..=30).contains(&r.shift)
}

/// The fields an int8 op is built from, before they are checked.
struct Int8Parts<'a> {
    inputs: usize,
    outputs: usize,
    activation: Activation,
    layout: WeightLayout,
    input: Quant,
    output: Quant,
    requant: Requant,
    weights: I8s<'a>,
    exponents: Nibbles<'a>,
    bias: I32s<'a>,
    lut: Option<Lut<'a>>,
}

/// Checks what an int8 dense and an int8 tied layer have in common and
/// resolves the clamp and the table.
fn int8_op<'a>(p: Int8Parts<'a>, layer: Option<u16>) -> Result<DenseI8Op<'a>, FormatError> {
    let bad = |field| FormatError::BadValue { field, layer };
    if !quant_ok(&p.input) {
        return Err(bad(Field::InputQuant));
    }
    if !quant_ok(&p.output) {
        return Err(bad(Field::OutputQuant));
    }
    if !requant_ok(&p.requant) {
        return Err(bad(Field::Requant));
    }
    let wants_lut = matches!(
        p.activation,
        Activation::Selu | Activation::Sigmoid | Activation::Tanh
    );
    let (target_zero_point, table) = match (&p.lut, wants_lut) {
        (Some(lut), true) => {
            check_len(lut.table.as_bytes(), 256, Field::Lut, layer)?;
            if !quant_ok(&lut.input) {
                return Err(bad(Field::Lut));
            }
            (lut.input.zero_point, lut.table)
        }
        (None, false) => (p.output.zero_point, I8s::new(&[])),
        _ => return Err(bad(Field::Lut)),
    };
    let clamp_min = if p.activation == Activation::Relu {
        p.output.zero_point
    } else {
        i8::MIN
    };
    Ok(DenseI8Op {
        inputs: p.inputs,
        outputs: p.outputs,
        activation: p.activation,
        layout: p.layout,
        input: p.input,
        output: p.output,
        requant: p.requant,
        weights: p.weights,
        exponents: p.exponents,
        bias: p.bias,
        target_zero_point,
        clamp_min,
        table,
    })
}

fn check_input(spec: &ModelSpec<'_>) -> Result<u64, FormatError> {
    let input = &spec.input;
    let channels = nonzero(input.channels, Field::Channels, None)?;
    let window = nonzero(input.window, Field::Window, None)?;
    nonzero(input.hop, Field::Hop, None)?;
    let input_len = elements(channels, window, Field::Window, None)?;
    check_f32s(input.mean, channels, Field::Mean, None)?;
    check_f32s(input.scale, channels, Field::Scale, None)?;
    Ok(input_len)
}

fn to_usize(n: u64, field: Field, layer: Option<u16>) -> Result<usize, FormatError> {
    usize::try_from(n).map_err(|_| FormatError::TooLarge { field, layer })
}

/// Layer `source`, if it comes before layer `i` (what a tie may refer to).
fn earlier<'s, 'a>(spec: &'s ModelSpec<'a>, i: usize, source: u16) -> Option<&'s Layer<'a>> {
    let source = usize::from(source);
    if source < i {
        spec.layers.get(source)
    } else {
        None
    }
}

fn resolve_layers<'a>(
    spec: &ModelSpec<'a>,
    input_len: u64,
) -> Result<Vec<Op<'a>, MAX_LAYERS>, FormatError> {
    if spec.layers.is_empty() {
        return Err(FormatError::NoLayers);
    }
    let mut ops: Vec<Op<'a>, MAX_LAYERS> = Vec::new();
    let mut width = input_len;
    for (i, layer) in spec.layers.iter().enumerate() {
        let index = u16::try_from(i).unwrap_or(u16::MAX);
        let at = Some(index);
        let op = match layer {
            Layer::Dense(d) => {
                let inputs = nonzero(d.inputs, Field::Inputs, at)?;
                let outputs = nonzero(d.outputs, Field::Outputs, at)?;
                let count = elements(inputs, outputs, Field::Weights, at)?;
                check_f32s(d.weights, count, Field::Weights, at)?;
                check_f32s(d.bias, outputs, Field::Bias, at)?;
                Op::Dense(DenseOp {
                    inputs: to_usize(inputs, Field::Inputs, at)?,
                    outputs: to_usize(outputs, Field::Outputs, at)?,
                    activation: d.activation,
                    layout: WeightLayout::OutputsByInputs,
                    weights: d.weights,
                    bias: d.bias,
                })
            }
            Layer::TiedDense(t) => {
                let bad = FormatError::BadTiedReference {
                    layer: index,
                    source: t.source,
                };
                let Some(Layer::Dense(src)) = earlier(spec, i, t.source) else {
                    return Err(bad);
                };
                // The source was checked when it was resolved (it is earlier).
                check_f32s(t.bias, u64::from(src.inputs), Field::Bias, at)?;
                Op::Dense(DenseOp {
                    inputs: to_usize(u64::from(src.outputs), Field::Inputs, at)?,
                    outputs: to_usize(u64::from(src.inputs), Field::Outputs, at)?,
                    activation: t.activation,
                    layout: WeightLayout::InputsByOutputs,
                    weights: src.weights,
                    bias: t.bias,
                })
            }
            Layer::DenseI8(d) => {
                let inputs = nonzero(d.inputs, Field::Inputs, at)?;
                let outputs = nonzero(d.outputs, Field::Outputs, at)?;
                let count = elements(inputs, outputs, Field::Weights, at)?;
                check_i8s(d.weights, count, at)?;
                let nibbles = Nibbles::bytes_for(to_usize(outputs, Field::Outputs, at)?) as u64;
                check_len(d.exponents.as_bytes(), nibbles, Field::Exponents, at)?;
                if !outputs.is_multiple_of(2)
                    && d.exponents.as_bytes().last().is_some_and(|b| b >> 4 != 0)
                {
                    return Err(FormatError::BadValue {
                        field: Field::Exponents,
                        layer: at,
                    });
                }
                check_len(d.bias.as_bytes(), outputs * 4, Field::Bias, at)?;
                if !(d.weight_scale.is_finite() && d.weight_scale >= 0.0) {
                    return Err(FormatError::BadValue {
                        field: Field::WeightScale,
                        layer: at,
                    });
                }
                Op::DenseI8(int8_op(
                    Int8Parts {
                        inputs: to_usize(inputs, Field::Inputs, at)?,
                        outputs: to_usize(outputs, Field::Outputs, at)?,
                        activation: d.activation,
                        layout: WeightLayout::OutputsByInputs,
                        input: d.input,
                        output: d.output,
                        requant: d.requant,
                        weights: d.weights,
                        exponents: d.exponents,
                        bias: d.bias,
                        lut: d.lut,
                    },
                    at,
                )?)
            }
            Layer::TiedDenseI8(t) => {
                let bad = FormatError::BadTiedReference {
                    layer: index,
                    source: t.source,
                };
                let Some(Layer::DenseI8(src)) = earlier(spec, i, t.source) else {
                    return Err(bad);
                };
                if !src.exponents.all_zero() {
                    return Err(bad);
                }
                check_len(
                    t.bias.as_bytes(),
                    u64::from(src.inputs) * 4,
                    Field::Bias,
                    at,
                )?;
                Op::DenseI8(int8_op(
                    Int8Parts {
                        inputs: to_usize(u64::from(src.outputs), Field::Inputs, at)?,
                        outputs: to_usize(u64::from(src.inputs), Field::Outputs, at)?,
                        activation: t.activation,
                        layout: WeightLayout::InputsByOutputs,
                        input: t.input,
                        output: t.output,
                        requant: t.requant,
                        weights: src.weights,
                        exponents: Nibbles::EMPTY,
                        bias: t.bias,
                        lut: t.lut,
                    },
                    at,
                )?)
            }
        };
        if let (Some(prev), Some(input)) = (ops.last().and_then(Op::output_quant), op.input_quant())
            && !prev.same_as(&input)
        {
            return Err(FormatError::QuantMismatch { layer: index });
        }
        if op.inputs() as u64 != width {
            return Err(FormatError::ShapeMismatch {
                layer: index,
                expected: u32::try_from(width).unwrap_or(u32::MAX),
                found: u32::try_from(op.inputs()).unwrap_or(u32::MAX),
            });
        }
        width = op.outputs() as u64;
        ops.push(op).map_err(|_| FormatError::TooManyLayers {
            found: u32::try_from(spec.layers.len()).unwrap_or(u32::MAX),
            max: MAX_LAYERS as u32,
        })?;
    }
    if width != input_len {
        return Err(FormatError::OutputMismatch {
            expected: u32::try_from(input_len).unwrap_or(u32::MAX),
            found: u32::try_from(width).unwrap_or(u32::MAX),
        });
    }
    Ok(ops)
}

/// `input_len` is `channels * window`, already checked by `check_input`.
fn check_scoring(
    scoring: &ScoringSpec<'_>,
    channels: u32,
    input_len: u64,
) -> Result<(), FormatError> {
    let weights = match scoring.metric {
        Metric::Mse | Metric::Mae => None,
        Metric::WeightedMse(w) => Some((w, u64::from(channels))),
        Metric::Standardized(w) => Some((w, input_len)),
    };
    if let Some((w, count)) = weights {
        check_f32s(w, count, Field::MetricWeights, None)?;
        if w.iter().any(|v| v < 0.0) {
            return Err(FormatError::BadValue {
                field: Field::MetricWeights,
                layer: None,
            });
        }
    }
    let bad = |field| FormatError::BadValue { field, layer: None };
    // `contains` is false for NaN, so these reject it too.
    if !(0.0..=f32::INFINITY).contains(&scoring.threshold) {
        return Err(bad(Field::Threshold));
    }
    if !(0.0..=scoring.threshold).contains(&scoring.clear_threshold) {
        return Err(bad(Field::ClearThreshold));
    }
    if !(scoring.smoothing > 0.0 && scoring.smoothing <= 1.0) {
        return Err(bad(Field::Smoothing));
    }
    if let Some(c) = &scoring.calibration
        && !calibration_ok(c)
    {
        return Err(bad(Field::Calibration));
    }
    Ok(())
}

fn calibration_ok(c: &Calibration) -> bool {
    let stats = [c.mean, c.std, c.p50, c.p90, c.p99, c.max];
    stats.iter().all(|v| v.is_finite() && *v >= 0.0) && (0.0..=1.0).contains(&c.quantile)
}
