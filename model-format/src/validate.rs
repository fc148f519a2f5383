//! Every rule a model must satisfy, checked once by [`crate::Model::load`]
//! (and by the encoder before it writes anything). The output is the list of
//! resolved [`Op`]s whose shapes a runtime may trust.

use heapless::Vec;

mod dense_i8;
mod recurrent;

use dense_i8::dense_i8_op;
use recurrent::{recurrent_i8_op, recurrent_op};

use crate::error::{Field, FormatError};
use crate::{
    Activation, Calibration, ConvGeometry, ConvI8Op, ConvOp, DenseI8Op, DenseOp, F32s, I8s, I32s,
    Layer, Lut, MAX_LAYERS, MapDims, MapShape, Metric, ModelKind, ModelSpec, Nibbles, Op, Padding,
    PoolI8Op, PoolKind, PoolOp, Quant, Requant, ScoringSpec, UpsampleI8Op, UpsampleOp,
    WeightLayout, conv_axis, conv_transpose_axis,
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

/// How an int8 op finishes an output value: the zero point added after
/// requantization, the clamp's lower end and the activation table.
struct Finish<'a> {
    target_zero_point: i8,
    clamp_min: i8,
    table: I8s<'a>,
}

/// Checks the quantization, the multiplier and the table of an int8 op
/// with weights, and resolves how it finishes a value.
fn int8_finish<'a>(
    activation: Activation,
    input: &Quant,
    output: &Quant,
    requant: &Requant,
    lut: Option<Lut<'a>>,
    layer: Option<u16>,
) -> Result<Finish<'a>, FormatError> {
    let bad = |field| FormatError::BadValue { field, layer };
    if !quant_ok(input) {
        return Err(bad(Field::InputQuant));
    }
    if !quant_ok(output) {
        return Err(bad(Field::OutputQuant));
    }
    if !requant_ok(requant) {
        return Err(bad(Field::Requant));
    }
    let wants_lut = matches!(
        activation,
        Activation::Selu | Activation::Sigmoid | Activation::Tanh
    );
    let (target_zero_point, table) = match (&lut, wants_lut) {
        (Some(lut), true) => {
            check_len(lut.table.as_bytes(), 256, Field::Lut, layer)?;
            if !quant_ok(&lut.input) {
                return Err(bad(Field::Lut));
            }
            (lut.input.zero_point, lut.table)
        }
        (None, false) => (output.zero_point, I8s::new(&[])),
        _ => return Err(bad(Field::Lut)),
    };
    let clamp_min = if activation == Activation::Relu {
        output.zero_point
    } else {
        i8::MIN
    };
    Ok(Finish {
        target_zero_point,
        clamp_min,
        table,
    })
}

/// Checks what an int8 dense and an int8 tied layer have in common and
/// resolves the clamp and the table.
fn int8_op<'a>(p: Int8Parts<'a>, layer: Option<u16>) -> Result<DenseI8Op<'a>, FormatError> {
    let finish = int8_finish(p.activation, &p.input, &p.output, &p.requant, p.lut, layer)?;
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
        target_zero_point: finish.target_zero_point,
        clamp_min: finish.clamp_min,
        table: finish.table,
    })
}

/// Checks the numbers an int8 layer with weights stores: `count` weights
/// in −127..=127, one exponent (packed) and one bias per output channel,
/// and the weight scale.
fn check_int8_numbers(
    weights: I8s<'_>,
    count: u64,
    exponents: Nibbles<'_>,
    outputs: u64,
    bias: I32s<'_>,
    weight_scale: f32,
    at: Option<u16>,
) -> Result<(), FormatError> {
    check_i8s(weights, count, at)?;
    let nibbles = Nibbles::bytes_for(to_usize(outputs, Field::Outputs, at)?) as u64;
    check_len(exponents.as_bytes(), nibbles, Field::Exponents, at)?;
    if !outputs.is_multiple_of(2) && exponents.as_bytes().last().is_some_and(|b| b >> 4 != 0) {
        return Err(FormatError::BadValue {
            field: Field::Exponents,
            layer: at,
        });
    }
    check_len(bias.as_bytes(), outputs * 4, Field::Bias, at)?;
    if !(weight_scale.is_finite() && weight_scale >= 0.0) {
        return Err(FormatError::BadValue {
            field: Field::WeightScale,
            layer: at,
        });
    }
    Ok(())
}

/// A map's sizes, each at least 1, `h·w·c` within [`MAX_ELEMENTS`].
fn map_dims(shape: &MapShape, at: Option<u16>) -> Result<MapDims, FormatError> {
    let h = nonzero(shape.h, Field::Shape, at)?;
    let w = nonzero(shape.w, Field::Shape, at)?;
    let c = nonzero(shape.c, Field::Shape, at)?;
    dims(h, w, c, Field::Shape, at)
}

/// `h × w × c` as a map, `h·w·c` within [`MAX_ELEMENTS`] (else `TooLarge`
/// on `field`).
fn dims(h: u64, w: u64, c: u64, field: Field, at: Option<u16>) -> Result<MapDims, FormatError> {
    let positions = elements(h, w, field, at)?;
    elements(positions, c, field, at)?;
    Ok(MapDims {
        h: to_usize(h, field, at)?,
        w: to_usize(w, field, at)?,
        c: to_usize(c, field, at)?,
    })
}

/// Two sizes, each at least 1.
fn pair(values: [u32; 2], field: Field, at: Option<u16>) -> Result<[u64; 2], FormatError> {
    let [a, b] = values;
    Ok([nonzero(a, field, at)?, nonzero(b, field, at)?])
}

/// The fields that give a convolution's geometry.
struct ConvParts {
    shape: MapShape,
    filters: u32,
    kernel: [u32; 2],
    stride: [u32; 2],
    padding: Padding,
    transposed: bool,
}

/// Checks a convolution's sizes and resolves its geometry; also returns
/// the number of weights, `filters · kh·kw·c`.
fn conv_geometry(p: &ConvParts, index: u16) -> Result<(ConvGeometry, u64), FormatError> {
    let at = Some(index);
    let input = map_dims(&p.shape, at)?;
    let filters = nonzero(p.filters, Field::Filters, at)?;
    let [kh, kw] = pair(p.kernel, Field::Kernel, at)?;
    let [sh, sw] = pair(p.stride, Field::Stride, at)?;
    let axis = |n: u32, k: u32, s: u32| {
        let (n64, k64, s64) = (u64::from(n), u64::from(k), u64::from(s));
        let too_large = FormatError::TooLarge {
            field: Field::Outputs,
            layer: at,
        };
        if p.transposed {
            return conv_transpose_axis(n64, k64, s64, p.padding).ok_or(too_large);
        }
        if p.padding == Padding::Valid && n < k {
            return Err(FormatError::WindowTooLarge {
                layer: index,
                field: Field::Kernel,
                window: k,
                input: n,
            });
        }
        conv_axis(n64, k64, s64, p.padding).ok_or(too_large)
    };
    let [kh32, kw32] = p.kernel;
    let [sh32, sw32] = p.stride;
    let (oh, top) = axis(p.shape.h, kh32, sh32)?;
    let (ow, left) = axis(p.shape.w, kw32, sw32)?;
    let output = dims(oh, ow, filters, Field::Outputs, at)?;
    let patch = elements(
        elements(kh, kw, Field::Kernel, at)?,
        u64::from(p.shape.c),
        Field::Kernel,
        at,
    )?;
    let count = elements(filters, patch, Field::Weights, at)?;
    let geometry = ConvGeometry {
        input,
        output,
        kernel: [
            to_usize(kh, Field::Kernel, at)?,
            to_usize(kw, Field::Kernel, at)?,
        ],
        stride: [
            to_usize(sh, Field::Stride, at)?,
            to_usize(sw, Field::Stride, at)?,
        ],
        pad: [
            to_usize(top, Field::Kernel, at)?,
            to_usize(left, Field::Kernel, at)?,
        ],
    };
    Ok((geometry, count))
}

fn pool_op(
    shape: &MapShape,
    size: [u32; 2],
    kind: PoolKind,
    index: u16,
) -> Result<PoolOp, FormatError> {
    let at = Some(index);
    let input = map_dims(shape, at)?;
    let [ph, pw] = pair(size, Field::Size, at)?;
    let [sh, sw] = size;
    for (window, n) in [(sh, shape.h), (sw, shape.w)] {
        if window > n {
            return Err(FormatError::WindowTooLarge {
                layer: index,
                field: Field::Size,
                window,
                input: n,
            });
        }
    }
    let output = dims(
        u64::from(shape.h) / ph,
        u64::from(shape.w) / pw,
        u64::from(shape.c),
        Field::Outputs,
        at,
    )?;
    Ok(PoolOp {
        input,
        output,
        size: [
            to_usize(ph, Field::Size, at)?,
            to_usize(pw, Field::Size, at)?,
        ],
        kind,
    })
}

fn upsample_op(shape: &MapShape, factor: [u32; 2], index: u16) -> Result<UpsampleOp, FormatError> {
    let at = Some(index);
    let input = map_dims(shape, at)?;
    let [fh, fw] = pair(factor, Field::Factor, at)?;
    let too_large = FormatError::TooLarge {
        field: Field::Outputs,
        layer: at,
    };
    let oh = u64::from(shape.h).checked_mul(fh).ok_or(too_large)?;
    let ow = u64::from(shape.w).checked_mul(fw).ok_or(too_large)?;
    let output = dims(oh, ow, u64::from(shape.c), Field::Outputs, at)?;
    Ok(UpsampleOp {
        input,
        output,
        factor: [
            to_usize(fh, Field::Factor, at)?,
            to_usize(fw, Field::Factor, at)?,
        ],
    })
}

fn conv_op<'a>(
    geo: &ConvParts,
    activation: Activation,
    weights: F32s<'a>,
    bias: F32s<'a>,
    index: u16,
) -> Result<ConvOp<'a>, FormatError> {
    let at = Some(index);
    let (geometry, count) = conv_geometry(geo, index)?;
    check_f32s(weights, count, Field::Weights, at)?;
    check_f32s(bias, u64::from(geo.filters), Field::Bias, at)?;
    Ok(ConvOp {
        geometry,
        activation,
        weights,
        bias,
    })
}

/// The quantization of an int8 pooling or upsampling.
fn check_quant(quant: &Quant, at: Option<u16>) -> Result<(), FormatError> {
    if quant_ok(quant) {
        Ok(())
    } else {
        Err(FormatError::BadValue {
            field: Field::Quant,
            layer: at,
        })
    }
}

/// The fields of an int8 convolution or transposed convolution.
struct ConvI8Parts<'a> {
    activation: Activation,
    input: Quant,
    output: Quant,
    weight_scale: f32,
    requant: Requant,
    weights: I8s<'a>,
    exponents: Nibbles<'a>,
    bias: I32s<'a>,
    lut: Option<Lut<'a>>,
}

fn conv_i8_op<'a>(
    geo: &ConvParts,
    p: ConvI8Parts<'a>,
    index: u16,
) -> Result<ConvI8Op<'a>, FormatError> {
    let at = Some(index);
    let (geometry, count) = conv_geometry(geo, index)?;
    check_int8_numbers(
        p.weights,
        count,
        p.exponents,
        u64::from(geo.filters),
        p.bias,
        p.weight_scale,
        at,
    )?;
    let finish = int8_finish(p.activation, &p.input, &p.output, &p.requant, p.lut, at)?;
    Ok(ConvI8Op {
        geometry,
        activation: p.activation,
        input: p.input,
        output: p.output,
        requant: p.requant,
        weights: p.weights,
        exponents: p.exponents,
        bias: p.bias,
        target_zero_point: finish.target_zero_point,
        clamp_min: finish.clamp_min,
        table: finish.table,
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
            Layer::DenseI8(d) => Op::DenseI8(dense_i8_op(d, WeightLayout::OutputsByInputs, at)?),
            Layer::DenseI8x4(d) => Op::DenseI8(dense_i8_op(d, WeightLayout::Interleaved4, at)?),
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
            Layer::Conv(c) => Op::Conv(conv_op(
                &ConvParts {
                    shape: c.shape,
                    filters: c.filters,
                    kernel: c.kernel,
                    stride: c.stride,
                    padding: c.padding,
                    transposed: false,
                },
                c.activation,
                c.weights,
                c.bias,
                index,
            )?),
            Layer::ConvTranspose(c) => Op::ConvTranspose(conv_op(
                &ConvParts {
                    shape: c.shape,
                    filters: c.filters,
                    kernel: c.kernel,
                    stride: c.stride,
                    padding: c.padding,
                    transposed: true,
                },
                c.activation,
                c.weights,
                c.bias,
                index,
            )?),
            Layer::Pool(p) => Op::Pool(pool_op(&p.shape, p.size, p.kind, index)?),
            Layer::Upsample(u) => Op::Upsample(upsample_op(&u.shape, u.factor, index)?),
            Layer::ConvI8(c) => Op::ConvI8(conv_i8_op(
                &ConvParts {
                    shape: c.shape,
                    filters: c.filters,
                    kernel: c.kernel,
                    stride: c.stride,
                    padding: c.padding,
                    transposed: false,
                },
                ConvI8Parts {
                    activation: c.activation,
                    input: c.input,
                    output: c.output,
                    weight_scale: c.weight_scale,
                    requant: c.requant,
                    weights: c.weights,
                    exponents: c.exponents,
                    bias: c.bias,
                    lut: c.lut,
                },
                index,
            )?),
            Layer::ConvTransposeI8(c) => Op::ConvTransposeI8(conv_i8_op(
                &ConvParts {
                    shape: c.shape,
                    filters: c.filters,
                    kernel: c.kernel,
                    stride: c.stride,
                    padding: c.padding,
                    transposed: true,
                },
                ConvI8Parts {
                    activation: c.activation,
                    input: c.input,
                    output: c.output,
                    weight_scale: c.weight_scale,
                    requant: c.requant,
                    weights: c.weights,
                    exponents: c.exponents,
                    bias: c.bias,
                    lut: c.lut,
                },
                index,
            )?),
            Layer::PoolI8(p) => {
                let pool = pool_op(&p.shape, p.size, p.kind, index)?;
                check_quant(&p.quant, at)?;
                Op::PoolI8(PoolI8Op {
                    pool,
                    quant: p.quant,
                })
            }
            Layer::UpsampleI8(u) => {
                let upsample = upsample_op(&u.shape, u.factor, index)?;
                check_quant(&u.quant, at)?;
                Op::UpsampleI8(UpsampleI8Op {
                    upsample,
                    quant: u.quant,
                })
            }
            Layer::Recurrent(r) => Op::Recurrent(recurrent_op(r, index)?),
            Layer::RecurrentI8(r) => Op::RecurrentI8(recurrent_i8_op(r, index)?),
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
    if spec.kind == ModelKind::Classifier {
        if !(2..=crate::MAX_CLASSES as u64).contains(&width) {
            return Err(FormatError::BadClassCount {
                found: u32::try_from(width).unwrap_or(u32::MAX),
            });
        }
    } else if width != input_len {
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
