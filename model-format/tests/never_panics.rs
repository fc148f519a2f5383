//! `Model::load` never panics, whatever the bytes. The interesting inputs
//! are the ones that get past the checksum, so besides arbitrary bytes this
//! mutates valid files and then fixes their CRC.

mod common;

use common::*;
use model_format::{HEADER_LEN, Model};
use proptest::prelude::*;

fn with_fixed_crc(mut bytes: Vec<u8>) -> Vec<u8> {
    if bytes.len() >= HEADER_LEN {
        let body_len = (bytes.len() - HEADER_LEN) as u32;
        bytes[8..12].copy_from_slice(&body_len.to_le_bytes());
        let crc = model_format::crc32(&bytes[HEADER_LEN..]);
        bytes[12..16].copy_from_slice(&crc.to_le_bytes());
    }
    bytes
}

fn golden(which: u8) -> Vec<u8> {
    match which % 7 {
        0 => dense_spec(&dense_store()).encode().unwrap(),
        1 => tied_spec(&tied_store()).encode().unwrap(),
        2 => int8_spec(&int8_store()).encode().unwrap(),
        3 => pca_spec(&pca_store()).encode().unwrap(),
        4 => conv1d_spec(&conv1d_store()).encode().unwrap(),
        5 => conv_i8_spec(&conv_i8_store()).encode().unwrap(),
        _ => recurrent_spec(&recurrent_store()).encode().unwrap(),
    }
}

/// A convolution's geometry is consistent: the TensorFlow sizes, and a
/// kernel window that never starts past the end of the input.
fn check_geometry(g: &model_format::ConvGeometry, transposed: bool) {
    let [kh, kw] = g.kernel;
    let [sh, sw] = g.stride;
    let [top, left] = g.pad;
    assert!(kh > 0 && kw > 0 && sh > 0 && sw > 0);
    assert!(top < kh.max(1) && left < kw.max(1));
    // The convolution's input and output (for a transposed one, its adjoint's).
    let (big, small) = if transposed {
        (g.output, g.input)
    } else {
        (g.input, g.output)
    };
    assert!((small.h - 1) * sh + kh > top && (small.w - 1) * sw + kw > left);
    assert!((small.h - 1) * sh < big.h + top && (small.w - 1) * sw < big.w + left);
}

fn check_map(
    input: model_format::MapDims,
    output: model_format::MapDims,
    size: [usize; 2],
    up: bool,
) {
    assert_eq!(input.c, output.c);
    if up {
        assert_eq!((output.h, output.w), (input.h * size[0], input.w * size[1]));
    } else {
        assert_eq!((output.h, output.w), (input.h / size[0], input.w / size[1]));
        assert!(output.h > 0 && output.w > 0);
    }
}

/// Everything a successfully loaded model hands out is usable.
fn exercise(model: &Model<'_>) {
    let mut width = model.input_len();
    for op in model.ops() {
        assert_eq!(op.inputs(), width);
        width = op.outputs();
        match op {
            model_format::Op::Dense(d) => {
                assert_eq!(d.weights.len(), d.inputs * d.outputs);
                assert_eq!(d.bias.len(), d.outputs);
            }
            model_format::Op::DenseI8(d) => {
                assert_eq!(d.weights.len(), d.inputs * d.outputs);
                assert_eq!(d.bias.len(), d.outputs);
                assert!(d.table.is_empty() || d.table.len() == 256);
            }
            model_format::Op::Conv(c) | model_format::Op::ConvTranspose(c) => {
                let g = c.geometry;
                check_geometry(&g, matches!(op, model_format::Op::ConvTranspose(_)));
                assert_eq!(c.weights.len(), g.output.c * g.patch());
                assert_eq!(c.bias.len(), g.output.c);
            }
            model_format::Op::ConvI8(c) | model_format::Op::ConvTransposeI8(c) => {
                let g = c.geometry;
                check_geometry(&g, matches!(op, model_format::Op::ConvTransposeI8(_)));
                assert_eq!(c.weights.len(), g.output.c * g.patch());
                assert_eq!(c.bias.len(), g.output.c);
                assert!(c.table.is_empty() || c.table.len() == 256);
            }
            model_format::Op::Pool(p) => check_map(p.input, p.output, p.size, false),
            model_format::Op::PoolI8(p) => {
                check_map(p.pool.input, p.pool.output, p.pool.size, false)
            }
            model_format::Op::Upsample(u) => check_map(u.input, u.output, u.factor, true),
            model_format::Op::UpsampleI8(u) => {
                check_map(u.upsample.input, u.upsample.output, u.upsample.factor, true)
            }
            model_format::Op::Recurrent(r) => {
                let (rows, inputs) = (r.rows(), r.step_inputs());
                assert_eq!(rows, r.cell.gates() * r.hidden);
                assert_eq!((r.input.h, r.output.h, r.output.c), (1, 1, r.hidden));
                let steps = if r.sequences { r.steps() } else { 1 };
                assert_eq!(r.output.w, steps);
                assert!(r.steps() > 0 && inputs > 0 && r.hidden > 0);
                assert_eq!(r.w_ih.len(), rows * inputs);
                assert_eq!(r.w_hh.len(), rows * r.hidden);
                assert_eq!(r.b_ih.len(), rows);
                let b_hh = if r.cell == model_format::Cell::Gru {
                    rows
                } else {
                    0
                };
                assert_eq!(r.b_hh.len(), b_hh);
            }
            model_format::Op::RecurrentI8(r) => {
                let (rows, inputs) = (r.rows(), r.step_inputs());
                assert_eq!((r.input.h, r.output.h, r.output.c), (1, 1, r.hidden));
                let steps = if r.sequences { r.steps() } else { 1 };
                assert_eq!(r.output.w, steps);
                assert!(r.steps() > 0 && inputs > 0 && r.hidden > 0);
                assert_eq!(r.w_ih.len(), rows * inputs);
                assert_eq!(r.w_hh.len(), rows * r.hidden);
                assert_eq!(r.exponents_ih.as_bytes().len(), rows.div_ceil(2));
                assert_eq!(r.exponents_hh.as_bytes().len(), rows.div_ceil(2));
                assert_eq!(r.b_ih.len(), rows);
                let b_hh = if r.cell == model_format::Cell::Gru {
                    rows
                } else {
                    0
                };
                assert_eq!(r.b_hh.len(), b_hh);
                assert!((-15..=-8).contains(&r.state_shift));
            }
        }
    }
    assert_eq!(width, model.input_len());
    let _ = (model.param_count(), model.macs(), model.codings_len());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(m) = Model::load(&bytes) { exercise(&m) };
        if let Ok((m, _)) = Model::load_prefix(&bytes) { exercise(&m) };
    }

    #[test]
    fn arbitrary_body_behind_a_valid_header(body in proptest::collection::vec(any::<u8>(), 0..400)) {
        let bytes = raw_file_from_body(&body);
        if let Ok(m) = Model::load(&bytes) { exercise(&m) };
    }

    #[test]
    fn mutated_valid_files_with_fixed_crc(
        which in any::<u8>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        do_cut in any::<bool>(),
    ) {
        let mut bytes = golden(which);
        for (at, value) in edits {
            let i = HEADER_LEN + at.index(bytes.len() - HEADER_LEN);
            bytes[i] = value;
        }
        if do_cut {
            let n = HEADER_LEN + cut.index(bytes.len() - HEADER_LEN);
            bytes.truncate(n);
        }
        let bytes = with_fixed_crc(bytes);
        if let Ok(m) = Model::load(&bytes) { exercise(&m) };
    }
}
