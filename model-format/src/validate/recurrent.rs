//! The rules of the recurrent layers, f32 and int8 (SPEC.md section 4,
//! rule 6).

use super::{
    check_f32s, check_len, dims, elements, map_dims, nonzero, quant_ok, requant_ok, to_usize,
};
use crate::error::{Field, FormatError};
use crate::{
    Cell, GRU_STATE_SHIFT, I8s, MAX_STATE_SHIFT, MIN_STATE_SHIFT, MapDims, MapShape, Nibbles,
    Recurrent, RecurrentI8, RecurrentI8Op, RecurrentOp, Requant,
};

/// What the f32 and the int8 layer share: the input map, the output map,
/// `hidden` and the sizes of the two weight matrices and of a gate vector.
struct Sizes {
    input: MapDims,
    output: MapDims,
    hidden: u64,
    rows: u64,
    w_ih: u64,
    w_hh: u64,
}

/// Checks the map, that it is a sequence, `hidden`, and the sizes that
/// follow from them.
fn sizes(
    cell: Cell,
    shape: &MapShape,
    hidden: u32,
    sequences: bool,
    index: u16,
) -> Result<Sizes, FormatError> {
    let at = Some(index);
    let input = map_dims(shape, at)?;
    if shape.h != 1 {
        return Err(FormatError::NotASequence {
            layer: index,
            rows: shape.h,
        });
    }
    let hidden = nonzero(hidden, Field::Hidden, at)?;
    let rows = elements(cell.gates() as u64, hidden, Field::Hidden, at)?;
    let steps_out = if sequences { u64::from(shape.w) } else { 1 };
    let output = dims(1, steps_out, hidden, Field::Outputs, at)?;
    let w_ih = elements(rows, u64::from(shape.c), Field::InputWeights, at)?;
    let w_hh = elements(rows, hidden, Field::RecurrentWeights, at)?;
    Ok(Sizes {
        input,
        output,
        hidden,
        rows,
        w_ih,
        w_hh,
    })
}

/// Checks a recurrent layer (SPEC.md section 4, rule 6, in this order):
/// its map, that the map is a sequence, `hidden`, the sizes that follow
/// from them, then the four byte strings.
pub(super) fn recurrent_op<'a>(
    r: &Recurrent<'a>,
    index: u16,
) -> Result<RecurrentOp<'a>, FormatError> {
    let at = Some(index);
    let s = sizes(r.cell, &r.shape, r.hidden, r.sequences, index)?;
    check_f32s(r.w_ih, s.w_ih, Field::InputWeights, at)?;
    check_f32s(r.w_hh, s.w_hh, Field::RecurrentWeights, at)?;
    check_f32s(r.b_ih, s.rows, Field::InputBias, at)?;
    let b_hh = match r.cell {
        Cell::Lstm => 0,
        Cell::Gru => s.rows,
    };
    check_f32s(r.b_hh, b_hh, Field::RecurrentBias, at)?;
    Ok(RecurrentOp {
        cell: r.cell,
        input: s.input,
        output: s.output,
        hidden: to_usize(s.hidden, Field::Hidden, at)?,
        sequences: r.sequences,
        w_ih: r.w_ih,
        w_hh: r.w_hh,
        b_ih: r.b_ih,
        b_hh: r.b_hh,
    })
}

/// Exactly `count` int8 weights, none −128, and one exponent per row
/// (packed; an odd count leaves the last high nibble 0).
fn check_weights(
    w: I8s<'_>,
    count: u64,
    field: Field,
    exponents: (Nibbles<'_>, u64, Field),
    at: Option<u16>,
) -> Result<(), FormatError> {
    check_len(w.as_bytes(), count, field, at)?;
    if w.iter().any(|v| v == i8::MIN) {
        return Err(FormatError::BadValue { field, layer: at });
    }
    let (e, rows, e_field) = exponents;
    check_len(e.as_bytes(), rows.div_ceil(2), e_field, at)?;
    if !rows.is_multiple_of(2) && e.as_bytes().last().is_some_and(|b| b >> 4 != 0) {
        return Err(FormatError::BadValue {
            field: e_field,
            layer: at,
        });
    }
    Ok(())
}

/// Checks an int8 recurrent layer (SPEC.md section 4, rule 6, in this
/// order): the sizes as the f32 layer's, the two quantizations,
/// `state_shift`, `gates_ih`, `gates_hh` (the GRU's 4th `{0, 0}`),
/// `hidden_requant`, then `w_ih`, `exponents_ih`, `w_hh`, `exponents_hh`,
/// `b_ih`, `b_hh`.
pub(super) fn recurrent_i8_op<'a>(
    r: &RecurrentI8<'a>,
    index: u16,
) -> Result<RecurrentI8Op<'a>, FormatError> {
    let at = Some(index);
    let bad = |field| FormatError::BadValue { field, layer: at };
    let s = sizes(r.cell, &r.shape, r.hidden, r.sequences, index)?;
    if !quant_ok(&r.input) {
        return Err(bad(Field::InputQuant));
    }
    if !quant_ok(&r.output) {
        return Err(bad(Field::OutputQuant));
    }
    let shift_ok = match r.cell {
        Cell::Lstm => (MIN_STATE_SHIFT..=MAX_STATE_SHIFT).contains(&r.state_shift),
        Cell::Gru => r.state_shift == GRU_STATE_SHIFT,
    };
    if !shift_ok {
        return Err(bad(Field::StateShift));
    }
    let unused = Requant {
        multiplier: 0,
        shift: 0,
    };
    for (gates, field) in [
        (&r.gates_ih, Field::InputRequant),
        (&r.gates_hh, Field::RecurrentRequant),
    ] {
        let used = gates.get(..r.cell.gates()).unwrap_or(&[]);
        let rest = gates.get(r.cell.gates()..).unwrap_or(&[]);
        if !used.iter().all(requant_ok) || rest.iter().any(|q| *q != unused) {
            return Err(bad(field));
        }
    }
    if !requant_ok(&r.hidden_requant) {
        return Err(bad(Field::HiddenRequant));
    }
    check_weights(
        r.w_ih,
        s.w_ih,
        Field::InputWeights,
        (r.exponents_ih, s.rows, Field::InputExponents),
        at,
    )?;
    check_weights(
        r.w_hh,
        s.w_hh,
        Field::RecurrentWeights,
        (r.exponents_hh, s.rows, Field::RecurrentExponents),
        at,
    )?;
    check_len(r.b_ih.as_bytes(), s.rows * 4, Field::InputBias, at)?;
    let b_hh = match r.cell {
        Cell::Lstm => 0,
        Cell::Gru => s.rows * 4,
    };
    check_len(r.b_hh.as_bytes(), b_hh, Field::RecurrentBias, at)?;
    Ok(RecurrentI8Op {
        cell: r.cell,
        input: s.input,
        output: s.output,
        hidden: to_usize(s.hidden, Field::Hidden, at)?,
        sequences: r.sequences,
        input_quant: r.input,
        output_quant: r.output,
        state_shift: r.state_shift,
        gates_ih: r.gates_ih,
        gates_hh: r.gates_hh,
        hidden_requant: r.hidden_requant,
        w_ih: r.w_ih,
        exponents_ih: r.exponents_ih,
        w_hh: r.w_hh,
        exponents_hh: r.exponents_hh,
        b_ih: r.b_ih,
        b_hh: r.b_hh,
    })
}
