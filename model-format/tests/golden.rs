//! Golden files pin the format: every file under tests/data must keep
//! loading, with the same contents, and the encoder must reproduce it byte
//! for byte. `EDGEAE_BLESS=1` rewrites them (only when the format version is
//! bumped on purpose).

mod common;

use std::path::PathBuf;

use common::*;
use model_format::{Activation, Layer, Metric, Model, ModelKind, Op, WeightLayout};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn check_golden(name: &str, encoded: &[u8]) -> Vec<u8> {
    let path = data(name);
    if std::env::var_os("EDGEAE_BLESS").is_some() {
        std::fs::write(&path, encoded).unwrap();
    }
    let golden = std::fs::read(&path).unwrap();
    assert_eq!(
        golden, encoded,
        "{name}: the encoder no longer writes the golden bytes; a layout change needs a FORMAT_VERSION bump"
    );
    golden
}

#[test]
fn dense_golden_file_loads_and_matches_the_encoder() {
    let store = dense_store();
    let spec = dense_spec(&store);
    let bytes = check_golden("dense_v1.eam", &spec.encode().unwrap());
    let model = Model::load(&bytes).unwrap();
    assert_eq!(model.spec(), &spec);
    assert_eq!(model.kind(), ModelKind::Linear);
    assert_eq!(model.header().version, 1);
    assert_eq!(model.input_len(), 4);
    assert_eq!(model.codings_len(), 2);
    assert_eq!(model.codings_layer(), 0);
    assert_eq!(model.param_count(), 8 + 2 + 8 + 4);
    assert_eq!(model.macs(), 16);
    assert_eq!(model.file_len(), bytes.len());
    assert_eq!(model.scoring().threshold, 0.75);
    assert_eq!(model.scoring().calibration.unwrap().windows, 1000);
    assert_eq!(model.provenance().tool, "edgeae golden");
    // Weights are borrowed from the file, not copied.
    let Layer::Dense(d) = model.layers()[0] else {
        panic!("layer 0 is dense")
    };
    let range = bytes.as_ptr_range();
    assert!(range.contains(&d.weights.as_bytes().as_ptr()));
    assert_eq!(d.weights.get(0), Some(-0.75));
}

#[test]
fn tied_golden_file_resolves_transposed_weights() {
    let store = tied_store();
    let spec = tied_spec(&store);
    let bytes = check_golden("tied_v1.eam", &spec.encode().unwrap());
    let model = Model::load(&bytes).unwrap();
    assert_eq!(model.spec(), &spec);
    assert_eq!(model.kind(), ModelKind::Tied);
    assert!(matches!(model.scoring().metric, Metric::Mae));
    assert_eq!(model.input_len(), 6);
    assert_eq!(model.codings_len(), 2);
    // Tied layers store only their biases: 18+3 + 6+2 + 3 + 6.
    assert_eq!(model.param_count(), 38);
    let widths: Vec<(usize, usize)> = model
        .ops()
        .iter()
        .map(|o| (o.inputs(), o.outputs()))
        .collect();
    assert_eq!(widths, [(6, 3), (3, 2), (2, 3), (3, 6)]);
    let Op::Dense(last) = model.ops()[3] else {
        panic!("op 3 is f32")
    };
    assert_eq!(last.layout, WeightLayout::InputsByOutputs);
    assert_eq!(last.activation, Activation::Identity);
    let Layer::Dense(first) = model.layers()[0] else {
        panic!("layer 0 is dense")
    };
    // Same bytes, not a copy: the tie is by reference.
    assert!(std::ptr::eq(
        last.weights.as_bytes(),
        first.weights.as_bytes()
    ));
}

#[test]
fn int8_golden_file_is_version_2_and_resolves_every_layer() {
    let store = int8_store();
    let spec = int8_spec(&store);
    let bytes = check_golden("int8_v2.eam", &spec.encode().unwrap());
    let model = Model::load(&bytes).unwrap();
    assert_eq!(model.spec(), &spec);
    assert_eq!(model.header().version, 2);
    assert!(model.has_int8());
    // 12 + 3 int8 + 6 + 2 int8 + 6 + 3 f32 + 4 tied bias.
    assert_eq!(model.param_count(), 36);
    let ops = model.ops();
    let Op::DenseI8(first) = ops[0] else {
        panic!("op 0 is int8")
    };
    assert_eq!(first.table.len(), 256);
    assert_eq!(first.target_zero_point, 1);
    assert_eq!(first.clamp_min, i8::MIN);
    let Op::DenseI8(second) = ops[1] else {
        panic!("op 1 is int8")
    };
    assert_eq!((second.exponents.get(0), second.exponents.get(1)), (1, 2));
    assert!(second.table.is_empty());
    assert_eq!(second.target_zero_point, 10);
    assert!(matches!(ops[2], Op::Dense(_)));
    let Op::DenseI8(tied) = ops[3] else {
        panic!("op 3 is int8")
    };
    assert_eq!(tied.layout, WeightLayout::InputsByOutputs);
    assert_eq!((tied.inputs, tied.outputs), (3, 4));
    assert!(std::ptr::eq(
        tied.weights.as_bytes(),
        first.weights.as_bytes()
    ));
    assert_eq!(tied.bias.iter().collect::<Vec<_>>(), [1, 2, 3, -4]);
}

#[test]
fn an_all_f32_model_is_still_written_as_version_1() {
    let bytes = dense_spec(&dense_store()).encode().unwrap();
    assert_eq!(Model::load(&bytes).unwrap().header().version, 1);
}

#[test]
fn every_checked_in_file_loads() {
    if std::env::var_os("EDGEAE_BLESS").is_some() {
        return; // the files are being rewritten by the tests above
    }
    let mut seen = 0;
    for entry in std::fs::read_dir(data("")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "eam") {
            let bytes = std::fs::read(&path).unwrap();
            Model::load(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            seen += 1;
        }
    }
    assert!(seen >= 2);
}

#[test]
fn spec_md_walkthrough_matches_the_golden_file() {
    // SPEC.md section 5 walks through dense_v1.eam; keep the two in step.
    let b = std::fs::read(data("dense_v1.eam")).unwrap();
    assert_eq!(b.len(), 235);
    assert_eq!(&b[0x00..0x08], b"EAEM\x01\x00\x00\x00");
    assert_eq!(&b[0x08..0x0c], &219u32.to_le_bytes());
    assert_eq!(&b[0x0c..0x10], &0x484b_a27fu32.to_le_bytes());
    assert_eq!(&b[0x10..0x15], &[0x01, 0x04, 0x01, 0x01, 0x10]);
    assert_eq!(&b[0x36..0x3c], &[0x02, 0x00, 0x04, 0x02, 0x04, 0x20]);
    assert_eq!(b[0x5c], 0x08);
    assert_eq!(&b[0x65..0x6a], &[0x00, 0x02, 0x04, 0x00, 0x20]);
    assert_eq!(&b[0x8a..0x8b], &[0x10]);
    assert_eq!(&b[0x9b..0x9e], &[0x00, 0x00, 0x00]);
    assert_eq!(&b[0xa9..0xac], &[0x01, 0xe8, 0x07]);
    assert_eq!(&b[0xc8..0xcb], &[0x2a, 0x0a, 0x01]);
    assert_eq!(
        &b[0xd4..0xdd],
        &[0xef, 0x9b, 0xaf, 0xcd, 0xf8, 0xac, 0xd1, 0x91, 0x01]
    );
    assert_eq!(&b[0xdd..], b"\x0dedgeae golden");
}
