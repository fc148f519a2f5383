//! The int8 dense layer, row-major (tag 2) or interleaved four rows at a
//! time (tag 14, [`WeightLayout::Interleaved4`]).

use super::{Int8Parts, check_int8_numbers, elements, int8_op, nonzero, to_usize};
use crate::error::{Field, FormatError};
use crate::{DenseI8, DenseI8Op, I8s, WeightLayout};

/// Checks an int8 dense layer (tag 2, or tag 14 with `Interleaved4`) and
/// resolves it.
pub(super) fn dense_i8_op<'a>(
    d: &DenseI8<'a>,
    layout: WeightLayout,
    at: Option<u16>,
) -> Result<DenseI8Op<'a>, FormatError> {
    let inputs = nonzero(d.inputs, Field::Inputs, at)?;
    let outputs = nonzero(d.outputs, Field::Outputs, at)?;
    let count = if layout == WeightLayout::Interleaved4 {
        let padded = elements(
            inputs.div_ceil(4) * 4,
            outputs.div_ceil(4) * 4,
            Field::Weights,
            at,
        )?;
        elements(inputs, outputs, Field::Weights, at)?;
        padded
    } else {
        elements(inputs, outputs, Field::Weights, at)?
    };
    check_int8_numbers(
        d.weights,
        count,
        d.exponents,
        outputs,
        d.bias,
        d.weight_scale,
        at,
    )?;
    let inputs = to_usize(inputs, Field::Inputs, at)?;
    let outputs = to_usize(outputs, Field::Outputs, at)?;
    if layout == WeightLayout::Interleaved4
        && !interleaved_padding_is_zero(d.weights, inputs, outputs)
    {
        return Err(FormatError::BadValue {
            field: Field::Weights,
            layer: at,
        });
    }
    int8_op(
        Int8Parts {
            inputs,
            outputs,
            activation: d.activation,
            layout,
            input: d.input,
            output: d.output,
            requant: d.requant,
            weights: d.weights,
            exponents: d.exponents,
            bias: d.bias,
            lut: d.lut,
        },
        at,
    )
}

/// True when every padding weight of an interleaved layer (rows past
/// `outputs`, inputs past `inputs`; [`WeightLayout::Interleaved4`]) is 0.
fn interleaved_padding_is_zero(weights: I8s<'_>, inputs: usize, outputs: usize) -> bool {
    let blocks = inputs.div_ceil(4);
    weights
        .as_bytes()
        .chunks(16)
        .enumerate()
        .all(|(unit, bytes)| {
            let (g, b) = (unit / blocks.max(1), unit % blocks.max(1));
            bytes.iter().enumerate().all(|(k, w)| {
                let (o, i) = (4 * g + k / 4, 4 * b + k % 4);
                *w == 0 || (o < outputs && i < inputs)
            })
        })
}
