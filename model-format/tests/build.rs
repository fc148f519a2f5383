//! The owned model builder ([`model_format::build`]): what it encodes loads
//! back as it was, through JSON too, and what is wrong is refused with the
//! reason.

use model_format::build::{InputBuf, LayerBuf, LutBuf, ModelBuf, ProvenanceBuf, ScoringBuf, TOOL};
use model_format::{Activation, Field, FormatError, Model, ModelKind, Quant, Requant};

fn tiny() -> ModelBuf {
    ModelBuf {
        kind: ModelKind::Tied,
        input: InputBuf::identity(3, 1, 1),
        layers: vec![
            LayerBuf::Dense {
                inputs: 3,
                outputs: 2,
                activation: Activation::Selu,
                weights: vec![0.1, 0.2, 0.3, -0.1, -0.2, -0.3],
                bias: vec![0.0, 0.5],
            },
            LayerBuf::TiedDense {
                source: 0,
                activation: Activation::Identity,
                bias: vec![1.0, 2.0, 3.0],
            },
        ],
        codings_layer: 0,
        scoring: ScoringBuf::default(),
        provenance: ProvenanceBuf::default(),
    }
}

fn tiny_int8() -> ModelBuf {
    let a = Quant {
        scale: 0.05,
        zero_point: -3,
    };
    let b = Quant {
        scale: 0.0078125,
        zero_point: 0,
    };
    let r = Requant {
        multiplier: 1 << 30,
        shift: -2,
    };
    ModelBuf {
        layers: vec![
            LayerBuf::DenseI8 {
                inputs: 3,
                outputs: 2,
                activation: Activation::Tanh,
                input: a,
                output: b,
                weight_scale: 0.01,
                requant: r,
                weights: vec![1, -2, 3, 127, -127, 0],
                exponents: vec![0, 0],
                bias: vec![5, -5],
                lut: Some(LutBuf {
                    input: a,
                    table: (0..256).map(|i| (i / 2 - 64) as i8).collect(),
                }),
                interleaved: false,
            },
            LayerBuf::TiedDenseI8 {
                source: 0,
                activation: Activation::Identity,
                input: b,
                output: a,
                requant: r,
                bias: vec![1, 2, -300_000],
                lut: None,
            },
        ],
        ..tiny()
    }
}

#[test]
fn encodes_and_loads() {
    let bytes = tiny().encode().unwrap();
    let m = Model::load(&bytes).unwrap();
    assert_eq!(m.param_count(), 6 + 2 + 3);
    assert_eq!(m.provenance().tool, TOOL);
    assert!(TOOL.starts_with("edgeae "), "{TOOL}");
}

#[test]
fn json_round_trip_and_defaults() {
    let def = tiny();
    let json = serde_json::to_string(&def).unwrap();
    // Infinity does not survive JSON; defaults fill the scoring in.
    let json = json
        .replace(r#""threshold":null,"#, "")
        .replace(r#""clear_threshold":null,"#, "");
    let back: ModelBuf = serde_json::from_str(&json).unwrap();
    assert_eq!(back, def);
    // Unknown fields are refused, with their name.
    let err = serde_json::from_str::<ModelBuf>(&json.replacen('{', r#"{"colour":1,"#, 1))
        .unwrap_err()
        .to_string();
    assert!(err.contains("colour"), "{err}");
}

#[test]
fn invalid_model_is_refused_with_the_reason() {
    let mut def = tiny();
    def.layers[1] = LayerBuf::TiedDense {
        source: 4,
        activation: Activation::Identity,
        bias: vec![0.0; 3],
    };
    assert_eq!(
        def.encode().unwrap_err(),
        FormatError::BadTiedReference {
            layer: 1,
            source: 4
        }
    );
    let mut many = tiny();
    many.layers = vec![many.layers[0].clone(); 40];
    assert_eq!(
        many.encode().unwrap_err(),
        FormatError::TooManyLayers { found: 40, max: 32 }
    );
}

#[test]
fn int8_and_f32_layers_encode_and_come_back() {
    let def = tiny_int8();
    let bytes = def.encode().unwrap();
    let m = Model::load(&bytes).unwrap();
    assert_eq!(m.header().version, 2);
    assert!(m.has_int8());
    assert_eq!(ModelBuf::from_model(&m), def);
    let f = tiny();
    let fb = f.encode().unwrap();
    let m = Model::load(&fb).unwrap();
    // f32 layers: written aligned (version 8).
    assert_eq!(m.header().version, 8);
    assert_eq!(ModelBuf::from_model(&m), f);
    // And through JSON (`edgeae pack`).
    let json = serde_json::to_string(&def).unwrap();
    assert!(json.contains(r#""dense_i8""#), "{json}");
}

#[test]
fn exponents_pack_two_per_byte_and_are_checked() {
    let mut def = tiny_int8();
    let exps = |def: &mut ModelBuf, e: Vec<u8>, outputs: u32| {
        if let LayerBuf::DenseI8 {
            exponents,
            outputs: o,
            inputs,
            weights,
            bias,
            ..
        } = &mut def.layers[0]
        {
            *exponents = e;
            *o = outputs;
            *weights = vec![1; (*inputs * outputs) as usize];
            *bias = vec![0; outputs as usize];
        }
    };
    // Three channels with exponents 1, 2, 15 pack as 0x21, 0x0f.
    exps(&mut def, vec![1, 2, 15], 3);
    def.layers[1] = LayerBuf::Dense {
        inputs: 3,
        outputs: 3,
        activation: Activation::Identity,
        weights: vec![0.5; 9],
        bias: vec![0.0; 3],
    };
    let bytes = def.encode().unwrap();
    let m = Model::load(&bytes).unwrap();
    let model_format::Layer::DenseI8(d) = &m.layers()[0] else {
        panic!("not int8")
    };
    assert_eq!(d.exponents.as_bytes(), [0x21, 0x0f]);
    assert_eq!(ModelBuf::from_model(&m), def);

    exps(&mut def, vec![1, 2], 3);
    assert_eq!(
        def.encode().unwrap_err(),
        FormatError::CountMismatch {
            field: Field::Exponents,
            layer: Some(0),
            expected: 3,
            found: 2
        }
    );
    let msg = def.encode().unwrap_err().to_string();
    assert!(msg.contains("layer 0: exponents holds 2 values"), "{msg}");
    exps(&mut def, vec![1, 16, 0], 3);
    assert_eq!(
        def.encode().unwrap_err(),
        FormatError::BadValue {
            field: Field::Exponents,
            layer: Some(0)
        }
    );
    // A weight of −128 is refused by the validator.
    let mut def = tiny_int8();
    if let LayerBuf::DenseI8 { weights, .. } = &mut def.layers[0] {
        weights[0] = -128;
    }
    assert!(def.encode().is_err());
}

mod common;

#[test]
fn feature_map_layers_encode_and_come_back() {
    for def in [common::conv1d_model(), common::conv_i8_model()] {
        let bytes = def.encode().unwrap();
        let m = Model::load(&bytes).unwrap();
        // The f32 model is written aligned (version 8), the int8 one as 4.
        let f32_layers = m.layers().iter().any(|l| !l.is_int8());
        assert_eq!(m.header().version, if f32_layers { 8 } else { 4 });
        assert_eq!(ModelBuf::from_model(&m), def);
        // And through JSON (`edgeae pack`), with snake_case names.
        let json = serde_json::to_string(&def)
            .unwrap()
            .replace(r#""threshold":null,"#, "")
            .replace(r#""clear_threshold":null,"#, "");
        let back: ModelBuf = serde_json::from_str(&json).unwrap();
        assert_eq!(back, def);
    }
    let json = serde_json::to_string(&common::conv1d_model()).unwrap();
    for name in [
        r#"{"conv":{"shape":{"h":1,"w":4,"c":1},"filters":2,"kernel":[1,3],"stride":[1,1],"padding":"same","activation":"relu""#,
        r#"{"pool":{"shape":{"h":1,"w":4,"c":2},"size":[1,2],"kind":"max"}}"#,
        r#"{"upsample":{"shape":{"h":1,"w":2,"c":2},"factor":[1,2]}}"#,
        r#"{"conv_transpose":{"#,
    ] {
        assert!(json.contains(name), "{name} in {json}");
    }
    let json = serde_json::to_string(&common::conv_i8_model()).unwrap();
    for name in [
        r#"{"conv_i8":{"#,
        r#"{"pool_i8":{"#,
        r#""kind":"avg""#,
        r#"{"upsample_i8":{"#,
        r#"{"conv_transpose_i8":{"#,
    ] {
        assert!(json.contains(name), "{name} in {json}");
    }
}

#[test]
fn conv_exponents_are_one_per_filter() {
    let mut def = common::conv_i8_model();
    if let LayerBuf::ConvI8 { exponents, .. } = &mut def.layers[0] {
        exponents.pop();
    }
    assert_eq!(
        def.encode().unwrap_err(),
        FormatError::CountMismatch {
            field: Field::Exponents,
            layer: Some(0),
            expected: 3,
            found: 2
        }
    );
    let mut def = common::conv_i8_model();
    if let LayerBuf::ConvTransposeI8 { exponents, .. } = &mut def.layers[3] {
        exponents[0] = 16;
    }
    assert_eq!(
        def.encode().unwrap_err(),
        FormatError::BadValue {
            field: Field::Exponents,
            layer: Some(3)
        }
    );
}

#[test]
fn recurrent_layers_encode_and_come_back() {
    let def = common::recurrent_model();
    let bytes = def.encode().unwrap();
    let m = Model::load(&bytes).unwrap();
    assert_eq!(m.header().version, 8);
    assert_eq!(ModelBuf::from_model(&m), def);
    // And through JSON (`edgeae pack`), with snake_case names.
    let json = serde_json::to_string(&def)
        .unwrap()
        .replace(r#""threshold":null,"#, "")
        .replace(r#""clear_threshold":null,"#, "");
    let back: ModelBuf = serde_json::from_str(&json).unwrap();
    assert_eq!(back, def);
    for name in [
        r#""kind":"recurrent""#,
        r#"{"recurrent":{"cell":"lstm","shape":{"h":1,"w":4,"c":2},"hidden":3,"sequences":true,"w_ih":["#,
        r#""b_hh":[]}}"#,
        r#"{"recurrent":{"cell":"gru","shape":{"h":1,"w":4,"c":3},"hidden":2,"sequences":false,"#,
    ] {
        assert!(json.contains(name), "{name} in {json}");
    }
    // What is wrong is refused with the validator's reason.
    let mut short = def.clone();
    if let LayerBuf::Recurrent { b_hh, .. } = &mut short.layers[1] {
        b_hh.pop();
    }
    assert_eq!(
        short.encode().unwrap_err(),
        FormatError::LengthMismatch {
            field: Field::RecurrentBias,
            layer: Some(1),
            expected: 24,
            found: 20
        }
    );
}

/// An LSTM autoencoder over `channels` × `window`: an LSTM encoder to
/// `codings` units (last step), the repeat vector (an upsampling by
/// `(1, window)`), an LSTM decoder of `hidden` units (every step) and the
/// time-distributed dense layer (a 1 × 1 convolution back to `channels`).
fn lstm_autoencoder(channels: u32, window: u32, codings: u32, hidden: u32) -> ModelBuf {
    use model_format::{Cell, MapShape, Padding};
    let ramp =
        |n: u32, a: f32| -> Vec<f32> { (0..n).map(|k| a * ((k % 7) as f32 - 3.0) / 3.0).collect() };
    ModelBuf {
        kind: ModelKind::Recurrent,
        layers: vec![
            LayerBuf::Recurrent {
                cell: Cell::Lstm,
                shape: MapShape::line(window, channels),
                hidden: codings,
                sequences: false,
                w_ih: ramp(4 * codings * channels, 0.5),
                w_hh: ramp(4 * codings * codings, 0.25),
                b_ih: ramp(4 * codings, 0.1),
                b_hh: vec![],
            },
            LayerBuf::Upsample {
                shape: MapShape::line(1, codings),
                factor: [1, window],
            },
            LayerBuf::Recurrent {
                cell: Cell::Lstm,
                shape: MapShape::line(window, codings),
                hidden,
                sequences: true,
                w_ih: ramp(4 * hidden * codings, 0.5),
                w_hh: ramp(4 * hidden * hidden, 0.25),
                b_ih: ramp(4 * hidden, 0.1),
                b_hh: vec![],
            },
            LayerBuf::Conv {
                shape: MapShape::line(window, hidden),
                filters: channels,
                kernel: [1, 1],
                stride: [1, 1],
                padding: Padding::Valid,
                activation: Activation::Identity,
                weights: ramp(channels * hidden, 0.3),
                bias: ramp(channels, 0.05),
            },
        ],
        codings_layer: 0,
        ..ModelBuf::new(InputBuf::identity(channels, window, window / 2))
    }
}

#[test]
fn an_lstm_autoencoder_needs_no_other_new_layer() {
    let def = lstm_autoencoder(3, 16, 4, 8);
    let bytes = def.encode().unwrap();
    let m = Model::load(&bytes).unwrap();
    assert_eq!(m.header().version, 8);
    assert_eq!((m.input_len(), m.codings_len()), (48, 4));
    let widths: Vec<(usize, usize)> = m.ops().iter().map(|o| (o.inputs(), o.outputs())).collect();
    // 16 x 3 → 1 x 4 → 16 x 4 → 16 x 8 → 16 x 3.
    assert_eq!(widths, [(48, 4), (4, 64), (64, 128), (128, 48)]);
    // 16·(3 + 4)·16 + 0 + 32·(4 + 8)·16 + 16·8·3.
    assert_eq!(m.macs(), 1792 + 6144 + 384);
    // The same with Same padding and a window of 1: the layers accept the
    // degenerate shapes too.
    let mut one = lstm_autoencoder(2, 1, 1, 1);
    if let LayerBuf::Conv { padding, .. } = &mut one.layers[3] {
        *padding = model_format::Padding::Same;
    }
    one.input.hop = 1;
    assert!(one.encode().is_ok());
}
