//! Golden files pin the format: every file under tests/data must keep
//! loading, with the same contents, and the encoder must reproduce it byte
//! for byte. `EDGEAE_BLESS=1` rewrites them (only when the format version is
//! bumped on purpose).

mod common;

use std::path::PathBuf;

use common::*;
use model_format::build::f32_bytes;
use model_format::{
    Activation, Cell, F32s, Layer, MapDims, MapShape, Metric, Model, ModelKind, Op, Padding,
    PoolKind, WeightLayout,
};

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
    let bytes = check_golden("dense_v1.eam", &spec.encode_version(1).unwrap());
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
    let bytes = check_golden("tied_v1.eam", &spec.encode_version(1).unwrap());
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
    let bytes = check_golden("int8_v2.eam", &spec.encode_version(2).unwrap());
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

/// `pca_v3.eam` (`pca_spec`), written out by hand from the rules of SPEC.md
/// section 2; SPEC.md section 5 walks through the same bytes.
const PCA_V3: [&[u8]; 27] = [
    b"EAEM",                                                 // magic
    &[0x03, 0x00],                   // version 3 (kind pca, metric standardized)
    &[0x00, 0x00],                   // reserved
    &[0x55, 0x00, 0x00, 0x00],       // body length 85
    &[0xe7, 0xbf, 0x83, 0x98],       // CRC-32 of the body, 0x9883bfe7
    &[0x08],                         // kind: tag 8, pca
    &[0x01, 0x02, 0x01],             // channels 1, window 2, hop 1
    &[0x04, 0x00, 0x00, 0x00, 0x00], // mean: 4 bytes, 0.0
    &[0x04, 0x00, 0x00, 0x00, 0x3f], // scale: 4 bytes, 0.5
    &[0x02],                         // 2 layers
    &[0x00, 0x02, 0x01, 0x00],       // Dense, inputs 2, outputs 1, identity
    &[0x08, 0x00, 0x00, 0x00, 0x3f, 0x00, 0x00, 0x00, 0x3f], // weights 0.5, 0.5
    &[0x04, 0x00, 0x00, 0x00, 0x00], // bias 0.0
    &[0x01, 0x00, 0x00],             // TiedDense, source 0, identity
    &[0x08, 0, 0, 0, 0, 0, 0, 0, 0], // bias 0.0, 0.0
    &[0x00],                         // codings_layer 0
    &[0x03],                         // metric: tag 3, standardized
    &[0x08, 0x00, 0x00, 0x80, 0x3e, 0x00, 0x00, 0x40, 0x3f], // weights 0.25, 0.75
    &[0x00, 0x00, 0x40, 0x3f],       // threshold 0.75
    &[0x00, 0x00, 0x00, 0x3f],       // clear_threshold 0.5
    &[0x00, 0x00, 0x80, 0x3e],       // smoothing 0.25
    &[0x00],                         // calibration: none
    &[0x07, 0x00],                   // seed 7, epochs 0
    &[0x00, 0x00],                   // train_loss, val_loss: none
    &[0x00],                         // data_hash 0
    &[0x0a],                         // tool: 10 bytes
    b"edgeae pca",
];

#[test]
fn pca_golden_file_is_the_hand_derived_version_3_bytes() {
    let by_hand = PCA_V3.concat();
    assert_eq!(by_hand.len(), 16 + 85);
    let store = pca_store();
    let spec = pca_spec(&store);
    let encoded = spec.encode_version(3).unwrap();
    assert_eq!(
        encoded, by_hand,
        "the encoder writes the hand-derived bytes"
    );
    let bytes = check_golden("pca_v3.eam", &encoded);
    let model = Model::load(&by_hand).unwrap();
    assert_eq!(model.spec(), &spec);
    assert_eq!(model.header().version, 3);
    assert_eq!(model.kind(), ModelKind::Pca);
    assert_eq!(model.kind().name(), "pca");
    let Metric::Standardized(w) = model.scoring().metric else {
        panic!("the metric is standardized")
    };
    assert_eq!(model.scoring().metric.name(), "standardized");
    assert_eq!(w.iter().collect::<Vec<_>>(), [0.25, 0.75]);
    // The weights are borrowed from the file, like layer weights.
    assert!(by_hand.as_ptr_range().contains(&w.as_bytes().as_ptr()));
    assert_eq!((model.input_len(), model.codings_len()), (2, 1));
    assert_eq!(Model::load(&bytes).unwrap().spec(), &spec);
}

/// `conv1d_v4.eam` (`conv1d_spec`), written out by hand from the rules of
/// SPEC.md sections 2 and 3.3; SPEC.md section 5 walks through the same
/// bytes.
const CONV1D_V4: &[&[u8]] = &[
    b"EAEM",                         // magic
    &[0x04, 0x00],                   // version 4 (feature-map layers)
    &[0x00, 0x00],                   // reserved
    &[0x92, 0x00, 0x00, 0x00],       // body length 146
    &[0x48, 0xaa, 0x93, 0x3d],       // CRC-32 of the body, 0x3d93aa48
    &[0x00],                         // kind: custom
    &[0x01, 0x04, 0x02],             // channels 1, window 4, hop 2
    &[0x04, 0x00, 0x00, 0x00, 0x00], // mean: 0.0
    &[0x04, 0x00, 0x00, 0x00, 0x3f], // scale: 0.5
    &[0x04],                         // 4 layers
    &[0x04],                         // Conv (tag 4)
    &[0x01, 0x04, 0x01],             //   shape 1 x 4 x 1
    &[0x02, 0x01, 0x03, 0x01, 0x01], //   filters 2, kernel 1 x 3, stride 1 x 1
    &[0x01, 0x01],                   //   padding same, activation relu
    &[0x18],                         //   weights: 24 bytes, [filter][1][3][1]
    &[
        0x00, 0x00, 0x80, 0x3e, 0x00, 0x00, 0x00, 0x3f, 0x00, 0x00, 0x80, 0x3e,
    ], // 0.25 0.5 0.25
    &[
        0x00, 0x00, 0x00, 0xbf, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3f,
    ], // -0.5 0 0.5
    &[0x08],                         //   bias: 8 bytes
    &[0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3e], // 0.0, 0.125
    &[0x06],                         // Pool (tag 6)
    &[0x01, 0x04, 0x02],             //   shape 1 x 4 x 2
    &[0x01, 0x02, 0x00],             //   size 1 x 2, max
    &[0x07],                         // Upsample (tag 7)
    &[0x01, 0x02, 0x02],             //   shape 1 x 2 x 2
    &[0x01, 0x02],                   //   factor 1 x 2
    &[0x05],                         // ConvTranspose (tag 5)
    &[0x01, 0x04, 0x02],             //   shape 1 x 4 x 2
    &[0x01, 0x01, 0x03, 0x01, 0x01], //   filters 1, kernel 1 x 3, stride 1 x 1
    &[0x01, 0x00],                   //   padding same, activation identity
    &[0x18],                         //   weights: 24 bytes, [1][1][3][2]
    &[
        0x00, 0x00, 0x00, 0x3f, 0x00, 0x00, 0x00, 0xbf, 0x00, 0x00, 0x80, 0x3e,
    ], // 0.5 -0.5 0.25
    &[
        0x00, 0x00, 0x80, 0x3e, 0x00, 0x00, 0x00, 0x3f, 0x00, 0x00, 0x00, 0x00,
    ], // 0.25 0.5 0
    &[0x04, 0x00, 0x00, 0x00, 0x00], //   bias: 0.0
    &[0x01],                         // codings_layer 1
    &[0x00],                         // metric: mse
    &[0x00, 0x00, 0x80, 0x7f],       // threshold +inf
    &[0x00, 0x00, 0x80, 0x7f],       // clear_threshold +inf
    &[0x00, 0x00, 0x80, 0x3f],       // smoothing 1.0
    &[0x00],                         // calibration: none
    &[0x04, 0x00],                   // seed 4, epochs 0
    &[0x00, 0x00],                   // train_loss, val_loss: none
    &[0x00],                         // data_hash 0
    &[0x0b],                         // tool: 11 bytes
    b"edgeae conv",
];

#[test]
fn conv1d_golden_file_is_the_hand_derived_version_4_bytes() {
    let by_hand = CONV1D_V4.concat();
    assert_eq!(by_hand.len(), 16 + 146);
    let store = conv1d_store();
    let spec = conv1d_spec(&store);
    let encoded = spec.encode_version(4).unwrap();
    assert_eq!(
        encoded, by_hand,
        "the encoder writes the hand-derived bytes"
    );
    let bytes = check_golden("conv1d_v4.eam", &encoded);
    let model = Model::load(&bytes).unwrap();
    assert_eq!(model.spec(), &spec);
    assert_eq!(model.header().version, 4);
    let names: Vec<&str> = model.layers().iter().map(Layer::type_name).collect();
    assert_eq!(names, ["conv", "pool", "upsample", "conv_transpose"]);
    assert_eq!((model.input_len(), model.codings_len()), (4, 4));
    let widths: Vec<(usize, usize)> = model
        .ops()
        .iter()
        .map(|o| (o.inputs(), o.outputs()))
        .collect();
    assert_eq!(widths, [(4, 8), (8, 4), (4, 8), (8, 4)]);
    // 6 + 2, 0, 0, 6 + 1.
    assert_eq!(model.param_count(), 15);
    // 8 outputs x 3 taps, then 4 input positions x 2 channels x 3 taps x 1 filter.
    assert_eq!(model.macs(), 24 + 24);
    let line = |w, c| MapDims { h: 1, w, c };
    let Op::Conv(conv) = model.ops()[0] else {
        panic!("op 0 is a convolution")
    };
    assert_eq!(conv.geometry.input, line(4, 1));
    assert_eq!(conv.geometry.output, line(4, 2));
    // Same padding, kernel 3, stride 1: one zero before, one after.
    assert_eq!(conv.geometry.pad, [0, 1]);
    assert_eq!(conv.geometry.patch(), 3);
    assert!(
        bytes
            .as_ptr_range()
            .contains(&conv.weights.as_bytes().as_ptr())
    );
    let Op::Pool(pool) = model.ops()[1] else {
        panic!("op 1 is a pooling")
    };
    assert_eq!((pool.output, pool.kind), (line(2, 2), PoolKind::Max));
    let Op::Upsample(up) = model.ops()[2] else {
        panic!("op 2 is an upsampling")
    };
    assert_eq!(up.output, line(4, 2));
    let Op::ConvTranspose(t) = model.ops()[3] else {
        panic!("op 3 is a transposed convolution")
    };
    assert_eq!((t.geometry.output, t.geometry.pad), (line(4, 1), [0, 1]));
    let Layer::ConvTranspose(layer) = model.layers()[3] else {
        panic!("layer 3 is a transposed convolution")
    };
    assert_eq!(layer.shape, MapShape::line(4, 2));
    assert_eq!(layer.padding, Padding::Same);
}

#[test]
fn conv_i8_golden_file_is_version_4_and_resolves_every_layer() {
    let store = conv_i8_store();
    let spec = conv_i8_spec(&store);
    let bytes = check_golden("conv_i8_v4.eam", &spec.encode_version(4).unwrap());
    let model = Model::load(&bytes).unwrap();
    assert_eq!(model.spec(), &spec);
    assert_eq!(model.header().version, 4);
    assert!(model.ops().iter().all(Op::is_int8));
    let names: Vec<&str> = model.layers().iter().map(Layer::type_name).collect();
    assert_eq!(
        names,
        ["conv_i8", "pool_i8", "upsample_i8", "conv_transpose_i8"]
    );
    // 18 + 3, 0, 0, 18 + 2.
    assert_eq!(model.param_count(), 41);
    let widths: Vec<(usize, usize)> = model
        .ops()
        .iter()
        .map(|o| (o.inputs(), o.outputs()))
        .collect();
    assert_eq!(widths, [(16, 12), (12, 6), (6, 12), (12, 16)]);
    let Op::ConvI8(conv) = model.ops()[0] else {
        panic!("op 0 is an int8 convolution")
    };
    // Same, kernel 3, stride 2 over 8: 4 outputs, (4 − 1)·2 + 3 − 8 = 1 zero, after.
    assert_eq!(conv.geometry.pad, [0, 0]);
    assert_eq!(conv.clamp_min, -100, "ReLU clamps at the output zero point");
    assert_eq!(
        (0..3).map(|o| conv.exponents.get(o)).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    let Op::ConvTransposeI8(t) = model.ops()[3] else {
        panic!("op 3 is an int8 transposed convolution")
    };
    // Same, kernel 3, stride 2: the adjoint pads 3 − 2 = 1, none before.
    assert_eq!(t.geometry.pad, [0, 0]);
    assert_eq!(t.table.len(), 256);
    assert_eq!(t.target_zero_point, 1);
    let Op::PoolI8(pool) = model.ops()[1] else {
        panic!("op 1 is an int8 pooling")
    };
    assert_eq!(pool.pool.kind, PoolKind::Avg);
    assert_eq!(pool.quant.zero_point, -100);
}

/// `recurrent_v5.eam` (`recurrent_spec`), written out by hand from the
/// rules of SPEC.md sections 2 and 3.3 but for the weight values, which
/// are the ramps of `recurrent_model`; SPEC.md section 5 walks through the
/// same bytes.
fn recurrent_v5_by_hand() -> Vec<u8> {
    let values = |n, start, step| f32_bytes(&ramp_values(n, start, step));
    [
        b"EAEM".to_vec(),             // magic
        vec![0x05, 0x00],             // version 5 (recurrent)
        vec![0x00, 0x00],             // reserved
        vec![0x1b, 0x02, 0x00, 0x00], // body length 539
        vec![0x00; 4],                // CRC-32, checked below
        vec![0x0a],                   // kind: tag 10, recurrent
        vec![0x02, 0x04, 0x02],       // channels 2, window 4, hop 2
        vec![0x08],                   // mean: 8 bytes
        [0.0f32, 0.5].iter().flat_map(|v| v.to_le_bytes()).collect(),
        vec![0x08], // scale: 8 bytes
        [1.0f32, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect(),
        vec![0x03],                   // 3 layers
        vec![0x0c],                   // Recurrent (tag 12)
        vec![0x00, 0x01, 0x04, 0x02], //   LSTM, shape 1 x 4 x 2
        vec![0x03, 0x01],             //   hidden 3, sequences
        vec![0x60],                   //   w_ih: 96 bytes, 12 x 2
        values(24, -0.75, 0.0625),
        vec![0x90, 0x01], //   w_hh: 144 bytes, 12 x 3
        values(36, 0.5, -0.0625),
        vec![0x30], //   b_ih: 48 bytes, 12
        values(12, -0.25, 0.0625),
        vec![0x00],                   //   b_hh: none (LSTM)
        vec![0x0c],                   // Recurrent (tag 12)
        vec![0x01, 0x01, 0x04, 0x03], //   GRU, shape 1 x 4 x 3
        vec![0x02, 0x00],             //   hidden 2, last step only
        vec![0x48],                   //   w_ih: 72 bytes, 6 x 3
        values(18, 0.625, -0.0625),
        vec![0x30], //   w_hh: 48 bytes, 6 x 2
        values(12, -0.375, 0.0625),
        vec![0x18], //   b_ih: 24 bytes, 6
        values(6, 0.125, -0.0625),
        vec![0x18], //   b_hh: 24 bytes, 6
        values(6, -0.0625, 0.0625),
        vec![0x07, 0x01, 0x01, 0x02, 0x01, 0x04], // Upsample, 1 x 1 x 2 by 1 x 4
        vec![0x01],                               // codings_layer 1
        vec![0x00],                               // metric: mse
        vec![0x00, 0x00, 0x80, 0x7f, 0x00, 0x00, 0x80, 0x7f], // thresholds +inf
        vec![0x00, 0x00, 0x80, 0x3f],             // smoothing 1.0
        vec![0x00],                               // calibration: none
        vec![0x05, 0x00, 0x00, 0x00, 0x00],       // seed 5, epochs 0, losses none, hash 0
        vec![0x0a],                               // tool: 10 bytes
        b"edgeae rnn".to_vec(),
    ]
    .concat()
}

#[test]
fn recurrent_golden_file_is_the_hand_derived_version_5_bytes() {
    let mut by_hand = recurrent_v5_by_hand();
    assert_eq!(by_hand.len(), 16 + 539);
    let crc = model_format::crc32(&by_hand[16..]);
    assert_eq!(crc, RECURRENT_V5_CRC, "CRC-32 of the body");
    by_hand[12..16].copy_from_slice(&crc.to_le_bytes());
    let store = recurrent_store();
    let spec = recurrent_spec(&store);
    let encoded = spec.encode_version(5).unwrap();
    assert_eq!(
        encoded, by_hand,
        "the encoder writes the hand-derived bytes"
    );
    let bytes = check_golden("recurrent_v5.eam", &encoded);
    let model = Model::load(&bytes).unwrap();
    assert_eq!(model.spec(), &spec);
    assert_eq!(model.header().version, 5);
    assert_eq!(model.kind(), ModelKind::Recurrent);
    assert_eq!(model.kind().name(), "recurrent");
    let names: Vec<&str> = model.layers().iter().map(Layer::type_name).collect();
    assert_eq!(names, ["recurrent", "recurrent", "upsample"]);
    assert_eq!((model.input_len(), model.codings_len()), (8, 2));
    let widths: Vec<(usize, usize)> = model
        .ops()
        .iter()
        .map(|o| (o.inputs(), o.outputs()))
        .collect();
    assert_eq!(widths, [(8, 12), (12, 2), (2, 8)]);
    // 24 + 36 + 12, then 18 + 12 + 6 + 6.
    assert_eq!(model.param_count(), 72 + 42);
    // G·hidden·(in + hidden)·T: 12·5·4, then 6·5·4.
    assert_eq!(model.macs(), 240 + 120);
    let line = |w, c| MapDims { h: 1, w, c };
    let Op::Recurrent(lstm) = model.ops()[0] else {
        panic!("op 0 is recurrent")
    };
    assert_eq!(
        (lstm.cell, lstm.hidden, lstm.sequences),
        (Cell::Lstm, 3, true)
    );
    assert_eq!((lstm.input, lstm.output), (line(4, 2), line(4, 3)));
    assert_eq!((lstm.steps(), lstm.step_inputs(), lstm.rows()), (4, 2, 12));
    assert!(lstm.b_hh.is_empty());
    assert_eq!(lstm.w_hh.get(0), Some(0.5));
    assert!(
        bytes
            .as_ptr_range()
            .contains(&lstm.w_ih.as_bytes().as_ptr())
    );
    let Op::Recurrent(gru) = model.ops()[1] else {
        panic!("op 1 is recurrent")
    };
    assert_eq!((gru.cell, gru.hidden, gru.sequences), (Cell::Gru, 2, false));
    assert_eq!((gru.input, gru.output), (line(4, 3), line(1, 2)));
    assert_eq!(
        gru.b_hh.iter().collect::<Vec<_>>(),
        ramp_values(6, -0.0625, 0.0625)
    );
    let Op::Upsample(up) = model.ops()[2] else {
        panic!("op 2 is an upsampling")
    };
    assert_eq!(
        (up.input, up.output, up.factor),
        (line(1, 2), line(4, 2), [1, 4])
    );
}

#[test]
fn recurrent_i8_golden_file_is_version_6_and_resolves_every_layer() {
    let store = recurrent_i8_store();
    let spec = recurrent_i8_spec(&store);
    let bytes = check_golden("recurrent_i8_v6.eam", &spec.encode_version(6).unwrap());
    let model = Model::load(&bytes).unwrap();
    assert_eq!(model.spec(), &spec);
    assert_eq!(model.header().version, 6);
    assert!(model.ops().iter().all(Op::is_int8));
    let names: Vec<&str> = model.layers().iter().map(Layer::type_name).collect();
    assert_eq!(names, ["recurrent_i8", "recurrent_i8", "upsample_i8"]);
    let widths: Vec<(usize, usize)> = model
        .ops()
        .iter()
        .map(|o| (o.inputs(), o.outputs()))
        .collect();
    assert_eq!(widths, [(8, 12), (12, 2), (2, 8)]);
    // 24 + 36 + 12, then 18 + 12 + 6 + 6.
    assert_eq!(model.param_count(), 72 + 42);
    assert_eq!(model.macs(), 240 + 120);
    let Op::RecurrentI8(lstm) = model.ops()[0] else {
        panic!("op 0 is an int8 recurrent layer")
    };
    assert_eq!(
        (lstm.cell, lstm.hidden, lstm.sequences, lstm.state_shift),
        (Cell::Lstm, 3, true, -11)
    );
    assert_eq!((lstm.rows(), lstm.steps(), lstm.step_inputs()), (12, 4, 2));
    assert_eq!(
        (0..12)
            .map(|r| lstm.exponents_ih.get(r))
            .collect::<Vec<_>>(),
        [0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1]
    );
    assert_eq!(lstm.b_ih.get(11), Some(240));
    assert!(lstm.b_hh.is_empty());
    assert!(
        bytes
            .as_ptr_range()
            .contains(&lstm.w_hh.as_bytes().as_ptr())
    );
    let Op::RecurrentI8(gru) = model.ops()[1] else {
        panic!("op 1 is an int8 recurrent layer")
    };
    assert_eq!((gru.cell, gru.hidden, gru.sequences), (Cell::Gru, 2, false));
    assert_eq!(gru.input_quant, lstm.output_quant);
    assert_eq!(gru.gates_hh[3].multiplier, 0);
    assert_eq!(gru.exponents_ih.get(5), 2);
    assert_eq!(gru.b_hh.iter().collect::<Vec<_>>(), [-5, 6, -7, 8, -9, 10]);
}

/// The CRC-32 of `recurrent_v5.eam`'s body.
const RECURRENT_V5_CRC: u32 = 0xd3f2_832e;

#[test]
fn a_file_is_written_with_the_oldest_version_that_has_all_its_tags() {
    // The oldest version `encode_version` accepts; `encode` writes it for a
    // model without f32 layers, version 8 for the others (below).
    let version = |spec: &model_format::ModelSpec<'_>| {
        let v = (1..=model_format::FORMAT_VERSION)
            .find(|&v| spec.encode_version(v).is_ok())
            .unwrap();
        let written = Model::load(&spec.encode().unwrap())
            .unwrap()
            .header()
            .version;
        assert_eq!(written, if spec.has_f32_layers() { 8 } else { v });
        v
    };
    let (d, t, q, p) = (dense_store(), tied_store(), int8_store(), pca_store());
    let six = ramp(6, 0.5, 0.0);
    let four = ramp(4, 0.5, 0.0);
    assert_eq!(version(&dense_spec(&d)), 1);
    assert_eq!(version(&tied_spec(&t)), 1);
    assert_eq!(version(&int8_spec(&q)), 2);
    assert_eq!(version(&pca_spec(&p)), 3);
    assert_eq!(version(&conv1d_spec(&conv1d_store())), 4);
    assert_eq!(version(&conv_i8_spec(&conv_i8_store())), 4);
    assert_eq!(version(&recurrent_spec(&recurrent_store())), 5);
    assert_eq!(version(&recurrent_i8_spec(&recurrent_i8_store())), 6);
    // The recurrent kind alone: version 5; the recurrent model with an
    // older kind still needs version 5 for its layers.
    let mut spec = dense_spec(&d);
    spec.kind = ModelKind::Recurrent;
    assert_eq!(version(&spec), 5);
    let r = recurrent_store();
    let mut spec = recurrent_spec(&r);
    spec.kind = ModelKind::Conv;
    assert_eq!(version(&spec), 5);
    // The new kind alone, the new metric alone: version 3.
    let mut spec = dense_spec(&d);
    spec.kind = ModelKind::Pca;
    assert_eq!(version(&spec), 3);
    let mut spec = tied_spec(&t);
    spec.scoring.metric = Metric::Standardized(F32s::new(&six));
    assert_eq!(version(&spec), 3);
    let mut spec = int8_spec(&q);
    spec.scoring.metric = Metric::Standardized(F32s::new(&four));
    assert_eq!(version(&spec), 3);
    // The PCA model with an older kind and metric is a version-1 file.
    let mut spec = pca_spec(&p);
    spec.kind = ModelKind::Linear;
    assert_eq!(version(&spec), 3);
    spec.scoring.metric = Metric::Mse;
    assert_eq!(version(&spec), 1);
    spec.scoring.metric = Metric::WeightedMse(F32s::new(&four[..4]));
    assert_eq!(version(&spec), 1);
}

#[test]
fn an_all_f32_model_is_written_aligned_or_on_request_as_version_1() {
    let store = dense_store();
    let spec = dense_spec(&store);
    let bytes = spec.encode().unwrap();
    assert_eq!(Model::load(&bytes).unwrap().header().version, 8);
    let v1 = spec.encode_version(1).unwrap();
    assert_eq!(Model::load(&v1).unwrap().header().version, 1);
    assert_eq!(
        Model::load(&v1).unwrap().spec(),
        Model::load(&bytes).unwrap().spec()
    );
    // Versions this crate does not write are refused.
    for v in [0, model_format::FORMAT_VERSION + 1] {
        assert!(matches!(
            spec.encode_version(v),
            Err(model_format::FormatError::UnsupportedVersion { .. })
        ));
    }
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
    assert!(seen >= 7);
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

#[test]
fn spec_md_version_3_walkthrough_matches_the_golden_file() {
    // SPEC.md section 5 walks through pca_v3.eam too.
    let b = std::fs::read(data("pca_v3.eam")).unwrap();
    assert_eq!(b.len(), 101);
    assert_eq!(&b[0x00..0x08], b"EAEM\x03\x00\x00\x00");
    assert_eq!(&b[0x08..0x0c], &85u32.to_le_bytes());
    assert_eq!(&b[0x0c..0x10], &0x9883_bfe7u32.to_le_bytes());
    assert_eq!(&b[0x10..0x15], &[0x08, 0x01, 0x02, 0x01, 0x04]);
    assert_eq!(&b[0x1e..0x24], &[0x02, 0x00, 0x02, 0x01, 0x00, 0x08]);
    assert_eq!(&b[0x31..0x35], &[0x01, 0x00, 0x00, 0x08]);
    assert_eq!(&b[0x3d..0x40], &[0x00, 0x03, 0x08]);
    assert_eq!(&b[0x48..0x4c], &0.75f32.to_le_bytes());
    assert_eq!(&b[0x54..0x5a], &[0x00, 0x07, 0x00, 0x00, 0x00, 0x00]);
    assert_eq!(&b[0x5a..], b"\x0aedgeae pca");
}

#[test]
fn spec_md_version_4_walkthrough_matches_the_golden_file() {
    // SPEC.md section 5 walks through conv1d_v4.eam too.
    let b = std::fs::read(data("conv1d_v4.eam")).unwrap();
    assert_eq!(b.len(), 162);
    assert_eq!(&b[0x00..0x08], b"EAEM\x04\x00\x00\x00");
    assert_eq!(&b[0x08..0x0c], &146u32.to_le_bytes());
    assert_eq!(&b[0x0c..0x10], &0x3d93_aa48u32.to_le_bytes());
    assert_eq!(&b[0x1e..0x20], &[0x04, 0x04]);
    assert_eq!(
        &b[0x20..0x2b],
        &[
            0x01, 0x04, 0x01, 0x02, 0x01, 0x03, 0x01, 0x01, 0x01, 0x01, 0x18
        ]
    );
    assert_eq!(&b[0x4c..0x53], &[0x06, 0x01, 0x04, 0x02, 0x01, 0x02, 0x00]);
    assert_eq!(&b[0x53..0x59], &[0x07, 0x01, 0x02, 0x02, 0x01, 0x02]);
    assert_eq!(
        &b[0x59..0x64],
        &[
            0x05, 0x01, 0x04, 0x02, 0x01, 0x01, 0x03, 0x01, 0x01, 0x01, 0x00
        ]
    );
    assert_eq!(&b[0x82..0x84], &[0x01, 0x00]);
    assert_eq!(&b[0x96..], b"\x0bedgeae conv");
}

#[test]
fn spec_md_version_5_walkthrough_matches_the_golden_file() {
    // SPEC.md section 5 walks through recurrent_v5.eam too.
    let b = std::fs::read(data("recurrent_v5.eam")).unwrap();
    assert_eq!(b.len(), 555);
    assert_eq!(&b[0x00..0x08], b"EAEM\x05\x00\x00\x00");
    assert_eq!(&b[0x08..0x0c], &539u32.to_le_bytes());
    assert_eq!(&b[0x0c..0x10], &RECURRENT_V5_CRC.to_le_bytes());
    assert_eq!(&b[0x10..0x15], &[0x0a, 0x02, 0x04, 0x02, 0x08]);
    assert_eq!(
        &b[0x26..0x2f],
        &[0x03, 0x0c, 0x00, 0x01, 0x04, 0x02, 0x03, 0x01, 0x60]
    );
    assert_eq!(&b[0x2f..0x33], &(-0.75f32).to_le_bytes());
    assert_eq!(&b[0x8f..0x91], &[0x90, 0x01]);
    assert_eq!(b[0x121], 0x30);
    assert_eq!(b[0x152], 0x00);
    assert_eq!(
        &b[0x153..0x15b],
        &[0x0c, 0x01, 0x01, 0x04, 0x03, 0x02, 0x00, 0x48]
    );
    assert_eq!(b[0x1a3], 0x30);
    assert_eq!(b[0x1d4], 0x18);
    assert_eq!(b[0x1ed], 0x18);
    assert_eq!(
        &b[0x206..0x20d],
        &[0x07, 0x01, 0x01, 0x02, 0x01, 0x04, 0x01]
    );
    assert_eq!(&b[0x20d..0x20e], &[0x00]);
    assert_eq!(&b[0x21b..0x220], &[0x05, 0x00, 0x00, 0x00, 0x00]);
    assert_eq!(&b[0x220..], b"\x0aedgeae rnn");
}

#[test]
fn classifier_golden_file_is_version_7_with_three_classes() {
    let store = classifier_store();
    let spec = classifier_spec(&store);
    let bytes = check_golden("classifier_v7.eam", &spec.encode_version(7).unwrap());
    let model = Model::load(&bytes).unwrap();
    assert_eq!(model.spec(), &spec);
    assert_eq!(model.kind(), ModelKind::Classifier);
    assert_eq!(model.kind().name(), "classifier");
    assert_eq!(model.header().version, 7);
    assert_eq!(model.input_len(), 6);
    assert_eq!(model.codings_len(), 4);
    assert_eq!(model.classes(), Some(3));
    // An autoencoder has no classes.
    let d = dense_store();
    let dense = dense_spec(&d).encode().unwrap();
    assert_eq!(Model::load(&dense).unwrap().classes(), None);
}

#[test]
fn a_classifier_has_2_to_64_classes_and_needs_version_7() {
    let mut model = classifier_model();
    // Two classes are fine; one is not.
    for (classes, ok) in [(1u32, false), (2, true), (64, true), (65, false)] {
        let last = model.layers.last_mut().unwrap();
        *last = model_format::build::LayerBuf::Dense {
            inputs: 5,
            outputs: classes,
            activation: Activation::Identity,
            weights: vec![0.25; 5 * classes as usize],
            bias: vec![0.0; classes as usize],
        };
        let got = model.encode().map(|b| Model::load(&b).unwrap().classes());
        if ok {
            assert_eq!(got.unwrap(), Some(classes as usize));
        } else {
            let err = got.unwrap_err();
            assert_eq!(
                err,
                model_format::FormatError::BadClassCount { found: classes }
            );
            assert!(err.to_string().contains("2 to 64 classes"), "{err}");
        }
    }
    // The same layers as an autoencoder: the output is no reconstruction.
    let mut ae = classifier_model();
    ae.kind = ModelKind::Stacked;
    assert!(matches!(
        ae.encode(),
        Err(model_format::FormatError::OutputMismatch {
            expected: 6,
            found: 3
        })
    ));
    // Kind tag 11 in a version-6 file is refused.
    let store = classifier_store();
    let mut bytes = classifier_spec(&store).encode_version(7).unwrap();
    bytes[4] = 6;
    assert!(matches!(
        Model::load(&bytes),
        Err(model_format::FormatError::TagNeedsVersion { needs: 7, .. })
    ));
}

/// Every f32 tensor of `bytes` (a loaded model's file) with the file
/// offsets of its padding and of its values.
fn tensor_offsets(bytes: &[u8]) -> Vec<(usize, usize, usize)> {
    let model = Model::load(bytes).unwrap();
    let at = |b: &[u8]| b.as_ptr() as usize - bytes.as_ptr() as usize;
    model
        .spec()
        .f32_tensors()
        .map(|t| (at(t.padding()), t.padding().len(), at(t.as_bytes())))
        .collect()
}

#[test]
fn aligned_golden_file_is_version_8_with_every_f32_tensor_on_a_multiple_of_4() {
    let weights = ramp(2, 0.25, 0.5);
    let store = tied_store();
    let mut spec = tied_spec(&store);
    spec.scoring.metric = Metric::WeightedMse(F32s::new(&weights));
    let bytes = check_golden("tied_v8.eam", &spec.encode().unwrap());
    let model = Model::load(&bytes).unwrap();
    assert_eq!(model.header().version, 8);
    assert_eq!(model.spec(), &spec);
    // The same values as the unpadded version-1 file.
    let v1 = spec.encode_version(1).unwrap();
    assert_eq!(Model::load(&v1).unwrap().spec(), model.spec());
    let offsets = tensor_offsets(&bytes);
    // mean, scale, 2 x (weights, bias) + 2 tied biases, metric weights.
    assert_eq!(offsets.len(), 2 + 4 + 2 + 1);
    for &(pad_at, pad, values_at) in &offsets {
        assert_eq!(values_at % 4, 0);
        assert_eq!(pad_at + pad, values_at);
        assert!(bytes[pad_at..values_at].iter().all(|&b| b == 0));
        // The length varint (one byte here) holds the padding too.
        assert_eq!(usize::from(bytes[pad_at - 1]) % 4, pad);
    }
    assert!(offsets.iter().any(|&(_, pad, _)| pad > 0));
    // The v1 file has tensors off a multiple of 4 (what version 8 fixes).
    assert!(tensor_offsets(&v1).iter().any(|&(_, _, at)| at % 4 != 0));
}

#[test]
fn padding_must_be_zero_and_only_from_version_8_on() {
    use model_format::FormatError;
    let store = tied_store();
    let bytes = tied_spec(&store).encode().unwrap();
    let &(pad_at, pad, _) = tensor_offsets(&bytes)
        .iter()
        .find(|&&(_, pad, _)| pad > 0)
        .unwrap();
    let recrc = |b: &mut Vec<u8>| {
        let crc = model_format::crc32(&b[16..]);
        b[12..16].copy_from_slice(&crc.to_le_bytes());
    };
    let mut dirty = bytes.clone();
    dirty[pad_at + pad - 1] = 0x5a;
    recrc(&mut dirty);
    let err = Model::load(&dirty).unwrap_err();
    assert_eq!(
        err,
        FormatError::NonzeroPadding {
            offset: (pad_at + pad - 1) as u32
        }
    );
    assert!(err.to_string().contains("is not 0"), "{err}");
    // The padded file read as version 7: a length that is no whole number
    // of values, the first padded tensor named.
    let mut v7 = bytes.clone();
    v7[4] = 7;
    let first = tensor_offsets(&bytes)
        .into_iter()
        .find(|&(_, pad, _)| pad > 0)
        .unwrap();
    assert!(matches!(
        Model::load(&v7).unwrap_err(),
        FormatError::RaggedTensor { offset, len } if offset as usize == first.0 && len as usize % 4 == first.1
    ));
    // An unpadded file read as version 8: its first tensor off a multiple
    // of 4 is named.
    let mut v1 = tied_spec(&store).encode_version(1).unwrap();
    let first = tensor_offsets(&v1)
        .into_iter()
        .find(|&(_, _, at)| at % 4 != 0)
        .unwrap();
    v1[4] = 8;
    let err = Model::load(&v1).unwrap_err();
    assert_eq!(
        err,
        FormatError::UnalignedTensor {
            offset: first.2 as u32
        }
    );
    assert!(err.to_string().contains("multiple of 4"), "{err}");
}

#[test]
fn dense_i8x4_golden_file_is_version_8_with_interleaved_weights() {
    // `int8_model` with its layer 1 (3→2, per-channel exponents, read by
    // no tied layer) stored as tag 14, written as version 8 on request
    // (weights not padded).
    let mut def = int8_model();
    def.layers[1] = def.layers[1].clone().into_interleaved();
    let spec_v8 = def.bytes().unwrap().spec().unwrap().encode_version(8);
    let bytes = check_golden("dense_i8x4_v8.eam", &spec_v8.unwrap());
    let model = Model::load(&bytes).unwrap();
    assert_eq!(model.header().version, 8);
    assert_eq!(model.layers()[1].type_name(), "dense_i8x4");
    // Padding weights are not parameters: the same count as row-major.
    let row_major = int8_model().encode().unwrap();
    let plain = Model::load(&row_major).unwrap();
    assert_eq!(model.param_count(), plain.param_count());
    // One unit of 16 bytes (G = B = 1): rows 0 and 1, three inputs each
    // and a padding 0, then the two padding rows.
    let w = i8_ramp(6, 40, 31);
    let mut want = [0u8; 16];
    want[0..3].copy_from_slice(&w[0..3]);
    want[4..7].copy_from_slice(&w[3..6]);
    let Layer::DenseI8x4(d) = model.layers()[1] else {
        panic!("layer 1 is tag 14")
    };
    assert_eq!(d.weights.as_bytes(), &want);
    let Op::DenseI8(op) = model.ops()[1] else {
        panic!("op 1 is int8")
    };
    assert_eq!(op.layout, WeightLayout::Interleaved4);
    assert_eq!((op.inputs, op.outputs), (3, 2));
    // Everything but the layer tag and the weights is the row-major op's.
    let Op::DenseI8(plain_op) = plain.ops()[1] else {
        panic!("op 1 is int8")
    };
    assert_eq!(
        (op.requant, op.bias, op.exponents),
        (plain_op.requant, plain_op.bias, plain_op.exponents)
    );
    // The owned form gives the weights back row-major: a round trip.
    assert_eq!(model_format::build::ModelBuf::from_model(&model), def);
    // Without tag 14, written as version 2 on request, the file is the
    // version-2 golden byte for byte (it has f32 layers, so `encode`
    // writes version 8 with aligned tensors).
    let m = int8_model();
    let v2 = m
        .bytes()
        .unwrap()
        .spec()
        .unwrap()
        .encode_version(2)
        .unwrap();
    assert_eq!(v2, std::fs::read(data("int8_v2.eam")).unwrap());
    assert_eq!(Model::load(&row_major).unwrap().header().version, 8);
}

#[test]
fn dense_i8x4_golden_file_is_version_9_with_aligned_weights() {
    // The model of the version-8 golden, written by `encode`: version 9,
    // the tag-14 weights padded to a multiple of 4 from the file start.
    let mut def = int8_model();
    def.layers[1] = def.layers[1].clone().into_interleaved();
    let bytes = check_golden("dense_i8x4_v9.eam", &def.encode().unwrap());
    let model = Model::load(&bytes).unwrap();
    assert_eq!(model.header().version, 9);
    let Layer::DenseI8x4(d) = model.layers()[1] else {
        panic!("layer 1 is tag 14")
    };
    let at = d.weights.as_bytes().as_ptr() as usize - bytes.as_ptr() as usize;
    assert_eq!(at % 4, 0, "weights at byte {at}");
    // The same model as the version-8 file: the padding is layout.
    let v8 = std::fs::read(data("dense_i8x4_v8.eam")).unwrap();
    let old = Model::load(&v8).unwrap();
    assert_eq!(model.spec(), old.spec());
    assert_eq!(model_format::build::ModelBuf::from_model(&model), def);
    // Everything before layer 1's weights is written as in version 8, so
    // the byte string starts where the version-8 file's values start
    // (one length byte before): the padding lies between.
    let Layer::DenseI8x4(d8) = old.layers()[1] else {
        panic!("layer 1 is tag 14")
    };
    let at8 = d8.weights.as_bytes().as_ptr() as usize - v8.as_ptr() as usize;
    let head = model_format::HEADER_LEN..at8 - 1;
    assert_eq!(bytes[head.clone()], v8[head]);
    let pad = at - at8;
    assert!(
        pad > 0 && pad < 4,
        "the golden model's weights need padding"
    );
    assert_eq!(usize::from(bytes[at8 - 1]), 16 + pad);
    assert!(bytes[at8..at].iter().all(|&b| b == 0));
    // A nonzero padding byte, and the same bytes read as version 8.
    let mut bad = bytes.clone();
    bad[at8] = 1;
    let body = bad[model_format::HEADER_LEN..].to_vec();
    bad[12..16].copy_from_slice(&model_format::crc32(&body).to_le_bytes());
    assert_eq!(
        Model::load(&bad).unwrap_err(),
        model_format::FormatError::NonzeroPadding { offset: at8 as u32 }
    );
    let mut as_v8 = bytes.clone();
    as_v8[4] = 8;
    assert!(matches!(
        Model::load(&as_v8).unwrap_err(),
        model_format::FormatError::LengthMismatch {
            layer: Some(1),
            expected: 16,
            ..
        }
    ));
    // An unpadded version-8 body read as version 9: its weights sit
    // where the version-8 writer put them, off a multiple of 4.
    let mut as_v9 = v8.clone();
    as_v9[4] = 9;
    assert_ne!(at8 % 4, 0);
    assert_eq!(
        Model::load(&as_v9).unwrap_err(),
        model_format::FormatError::UnalignedTensor { offset: at8 as u32 }
    );
}

#[test]
fn dense_i8x4_needs_version_8_zero_padding_and_no_tie() {
    use model_format::FormatError;
    let mut def = int8_model();
    def.layers[1] = def.layers[1].clone().into_interleaved();
    let store = store(def.clone());
    let good = spec(&store);
    // In a version-7 file tag 14 is refused.
    let mut old = raw_file(&good);
    old[4] = 7;
    assert_eq!(
        Model::load(&old).unwrap_err(),
        FormatError::LayerNeedsVersion {
            layer: 1,
            needs: 8,
            version: 7
        }
    );
    // A padding weight that is not 0, and a unit too few.
    let Layer::DenseI8x4(d) = good.layers[1] else {
        panic!("layer 1 is tag 14")
    };
    for (k, bad) in [(3usize, 1u8), (8, 1), (15, 0xff)] {
        let mut w = d.weights.as_bytes().to_vec();
        w[k] = bad;
        let mut s = good.clone();
        let mut layers = s.layers.clone();
        let mut e = d;
        e.weights = model_format::I8s::new(&w);
        layers[1] = Layer::DenseI8x4(e);
        s.layers = layers;
        assert_eq!(
            Model::load(&raw_file(&s)).unwrap_err(),
            FormatError::BadValue {
                field: model_format::Field::Weights,
                layer: Some(1)
            },
            "byte {k}"
        );
    }
    let mut s = good.clone();
    let mut layers = s.layers.clone();
    let mut e = d;
    e.weights = model_format::I8s::new(&d.weights.as_bytes()[..12]);
    layers[1] = Layer::DenseI8x4(e);
    s.layers = layers;
    assert!(matches!(
        Model::load(&raw_file(&s)).unwrap_err(),
        FormatError::LengthMismatch {
            layer: Some(1),
            expected: 16,
            found: 12,
            ..
        }
    ));
    // A tied layer reads a row-major `DenseI8` only.
    let mut tied = def;
    tied.layers[0] = tied.layers[0].clone().into_interleaved();
    assert_eq!(
        tied.encode().unwrap_err(),
        FormatError::BadTiedReference {
            layer: 3,
            source: 0
        }
    );
}
