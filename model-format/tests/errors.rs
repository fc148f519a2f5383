//! Every way a byte string can fail to be a model gets its own error, and
//! none of them panics.

mod common;

use common::*;
use model_format::{
    ALIGNED_VERSION, Activation, Dense, F32s, FORMAT_VERSION, Field, FormatError, HEADER_LEN, I8s,
    I32s, Layer, Layers, MAX_LAYERS, MIN_FORMAT_VERSION, MapShape, Metric, Model, ModelKind,
    ModelSpec, Nibbles, Padding, Quant, RecurrentI8, Requant, Section, TiedDense,
};

fn golden_files() -> Vec<Vec<u8>> {
    let d = dense_store();
    let t = tied_store();
    let q = int8_store();
    let p = pca_store();
    let c = conv1d_store();
    let ci = conv_i8_store();
    let r = recurrent_store();
    let k = classifier_store();
    let files = vec![
        dense_spec(&d).encode().unwrap(),
        tied_spec(&t).encode().unwrap(),
        int8_spec(&q).encode().unwrap(),
        pca_spec(&p).encode().unwrap(),
        conv1d_spec(&c).encode().unwrap(),
        conv_i8_spec(&ci).encode().unwrap(),
        recurrent_spec(&r).encode().unwrap(),
        classifier_spec(&k).encode().unwrap(),
    ];
    files
}

#[test]
fn every_truncation_is_reported_as_truncated() {
    for bytes in golden_files() {
        for n in 0..bytes.len() {
            let err = Model::load(&bytes[..n]).unwrap_err();
            let needed = if n < HEADER_LEN {
                HEADER_LEN
            } else {
                bytes.len()
            };
            assert_eq!(
                err,
                FormatError::Truncated {
                    needed: needed as u32,
                    available: n as u32
                },
                "prefix of {n} bytes"
            );
        }
    }
}

/// The error a model must give when its header says `version`, older than
/// the one it was written with: the first tag, in wire order (kind, layers,
/// metric), that `version` lacks (SPEC.md section 4, rule 9).
fn reread_as(original: &[u8], version: u16) -> Result<(), FormatError> {
    let model = Model::load(original).unwrap();
    let spec = model.spec();
    if spec.kind.min_version() > version {
        return Err(FormatError::TagNeedsVersion {
            field: Field::Kind,
            name: spec.kind.name(),
            needs: spec.kind.min_version(),
            version,
        });
    }
    let mut layers = spec.layers.iter().enumerate();
    if let Some((i, layer)) = layers.find(|(_, l)| l.min_version() > version) {
        return Err(FormatError::LayerNeedsVersion {
            layer: i as u16,
            needs: layer.min_version(),
            version,
        });
    }
    let metric = spec.scoring.metric;
    if metric.min_version() > version {
        return Err(FormatError::TagNeedsVersion {
            field: Field::Metric,
            name: metric.name(),
            needs: metric.min_version(),
            version,
        });
    }
    // The f32 tensors: padded and aligned from version 8 on, unpadded
    // before.
    let offset = |b: &[u8]| (b.as_ptr() as usize - original.as_ptr() as usize) as u32;
    for t in spec.f32_tensors() {
        if version < ALIGNED_VERSION && !t.padding().is_empty() {
            return Err(FormatError::RaggedTensor {
                offset: offset(t.0),
                len: t.0.len() as u32,
            });
        }
        if version >= ALIGNED_VERSION && offset(t.as_bytes()) % 4 != 0 {
            return Err(FormatError::UnalignedTensor {
                offset: offset(t.as_bytes()),
            });
        }
    }
    Ok(())
}

/// What loading must give after a change of byte `at`, by region of the
/// file. The header is not under the CRC, so a change of the version to
/// another one this reader knows is not corruption it can see: a newer
/// version holds every older body unchanged (the file loads) up to version
/// 7, an older one may lack a tag the file uses, and the f32 tensors are
/// padded and aligned from version 8 on, unpadded before (version 9 only
/// adds the padding of tag-14 weights, which these files do not have).
fn expect_for(at: usize, flipped: &[u8], original: &[u8]) -> Result<(), FormatError> {
    let le32 = |o: usize| u32::from_le_bytes(flipped[o..o + 4].try_into().unwrap());
    let le16 = |o: usize| u16::from_le_bytes(flipped[o..o + 2].try_into().unwrap());
    let original_len = original.len();
    Err(match at {
        0..4 => FormatError::BadMagic { found: le32(0) },
        4..6 => {
            let found = le16(4);
            if !(MIN_FORMAT_VERSION..=FORMAT_VERSION).contains(&found) {
                FormatError::UnsupportedVersion {
                    found,
                    supported: FORMAT_VERSION,
                }
            } else {
                return reread_as(original, found);
            }
        }
        6..8 => FormatError::ReservedNotZero { found: le16(6) },
        8..12 => {
            let stated = HEADER_LEN as u64 + u64::from(le32(8));
            if stated > original_len as u64 {
                FormatError::Truncated {
                    needed: u32::try_from(stated).unwrap_or(u32::MAX),
                    available: original_len as u32,
                }
            } else {
                FormatError::TrailingBytes {
                    expected: stated as u32,
                    found: original_len as u32,
                }
            }
        }
        _ => FormatError::ChecksumMismatch {
            stored: le32(12),
            computed: model_format::crc32(&flipped[HEADER_LEN..]),
        },
    })
}

#[test]
fn every_single_byte_change_is_caught_with_the_matching_error() {
    let mut readable_versions = 0;
    for bytes in golden_files() {
        for at in 0..bytes.len() {
            // All eight single-bit flips and the all-bits flip of this byte.
            for mask in (0..8).map(|b| 1u8 << b).chain([0xFF]) {
                let mut flipped = bytes.clone();
                flipped[at] ^= mask;
                let got = Model::load(&flipped).map(|_| ());
                let want = expect_for(at, &flipped, &bytes);
                assert_eq!(got, want, "byte {at} ^ {mask:#04x}");
                readable_versions += usize::from(want.is_ok());
            }
        }
    }
    // Every file with f32 layers is a version-8 file (none has tag 14),
    // and of the single-bit flips of 8 (9, 10, 12, 0, 24, ...) only 9 is
    // a version, which reads such a file unchanged: 7 files; the int8
    // conv file (version 4, the only one without f32 layers) goes to 5
    // and 6, which read every tag; its flips to 0 and 12 are no versions.
    // Reading a file as another version is checked in `reread_as` above
    // for every flip that gives a version, readable or not.
    assert_eq!(readable_versions, 7 + 2);
}

#[test]
fn wrong_magic_and_newer_version() {
    let mut bytes = golden_files().remove(0);
    bytes[..4].copy_from_slice(b"GGUF");
    assert_eq!(
        Model::load(&bytes).unwrap_err(),
        FormatError::BadMagic {
            found: u32::from_le_bytes(*b"GGUF")
        }
    );
    let mut bytes = golden_files().remove(0);
    bytes[4..6].copy_from_slice(&10u16.to_le_bytes());
    let err = Model::load(&bytes).unwrap_err();
    assert_eq!(
        err,
        FormatError::UnsupportedVersion {
            found: 10,
            supported: 9
        }
    );
    assert_eq!(
        err.to_string(),
        "format version 10 is not supported (this build reads versions 1 to 9)"
    );
}

#[test]
fn trailing_bytes_are_rejected_by_load_and_ignored_by_load_prefix() {
    let bytes = golden_files().remove(0);
    let mut region = bytes.clone();
    region.extend_from_slice(&[0xFF; 100]); // erased flash after the model
    assert_eq!(
        Model::load(&region).unwrap_err(),
        FormatError::TrailingBytes {
            expected: bytes.len() as u32,
            found: region.len() as u32
        }
    );
    let (model, used) = Model::load_prefix(&region).unwrap();
    assert_eq!(used, bytes.len());
    assert_eq!(model.input_len(), 4);
}

#[test]
fn dense_layer_whose_input_does_not_match_the_previous_output() {
    let w = ramp(12, 0.0, 0.1);
    let store = dense_store();
    let mut spec = dense_spec(&store);
    let Layer::Dense(d) = &mut spec.layers[1] else {
        unreachable!()
    };
    d.inputs = 3;
    d.weights = F32s::new(&w);
    assert_eq!(
        Model::load(&raw_file(&spec)).unwrap_err(),
        FormatError::ShapeMismatch {
            layer: 1,
            expected: 2,
            found: 3
        }
    );
    assert_eq!(
        spec.encode().unwrap_err(),
        FormatError::ShapeMismatch {
            layer: 1,
            expected: 2,
            found: 3
        },
        "the encoder refuses to write an invalid model"
    );
}

#[test]
fn first_layer_must_take_the_whole_window() {
    let store = dense_store();
    let mut spec = dense_spec(&store);
    spec.input.window = 2;
    assert_eq!(
        Model::load(&raw_file(&spec)).unwrap_err(),
        FormatError::ShapeMismatch {
            layer: 0,
            expected: 8,
            found: 4
        }
    );
}

#[test]
fn tied_reference_to_a_missing_later_or_tied_layer() {
    let store = tied_store();
    for (layer, source) in [(3usize, 9u16), (2, 2), (2, 3), (3, 2)] {
        let mut spec = tied_spec(&store);
        let Layer::TiedDense(t) = &mut spec.layers[layer] else {
            unreachable!()
        };
        t.source = source;
        assert_eq!(
            Model::load(&raw_file(&spec)).unwrap_err(),
            FormatError::BadTiedReference {
                layer: layer as u16,
                source
            },
            "layer {layer} tied to {source}"
        );
    }
}

#[test]
fn lengths_values_and_sizes() {
    let store = dense_store();
    let short = ramp(7, 0.0, 0.1);
    let nan = [f32::NAN.to_le_bytes(), [0; 4], [0; 4], [0; 4]].concat();

    let mut spec = dense_spec(&store);
    if let Layer::Dense(d) = &mut spec.layers[0] {
        d.weights = F32s::new(&short);
    }
    assert_eq!(
        Model::load(&raw_file(&spec)).unwrap_err(),
        FormatError::LengthMismatch {
            field: Field::Weights,
            layer: Some(0),
            expected: 32,
            found: 28
        }
    );

    let mut spec = dense_spec(&store);
    spec.input.mean = F32s::new(&nan);
    assert_eq!(
        Model::load(&raw_file(&spec)).unwrap_err(),
        FormatError::BadValue {
            field: Field::Mean,
            layer: None
        }
    );

    let mut spec = dense_spec(&store);
    spec.input.channels = 0;
    assert_eq!(
        Model::load(&raw_file(&spec)).unwrap_err(),
        FormatError::ZeroSize {
            field: Field::Channels,
            layer: None
        }
    );

    let mut spec = dense_spec(&store);
    spec.input.window = u32::MAX;
    assert_eq!(
        Model::load(&raw_file(&spec)).unwrap_err(),
        FormatError::TooLarge {
            field: Field::Window,
            layer: None
        }
    );

    let mut spec = dense_spec(&store);
    spec.codings_layer = 1;
    assert_eq!(
        Model::load(&raw_file(&spec)).unwrap_err(),
        FormatError::BadCodingsLayer {
            index: 1,
            layers: 2
        }
    );

    let mut spec = dense_spec(&store);
    spec.layers.truncate(1);
    assert_eq!(
        Model::load(&raw_file(&spec)).unwrap_err(),
        FormatError::OutputMismatch {
            expected: 4,
            found: 2
        }
    );

    let mut spec = dense_spec(&store);
    spec.layers.clear();
    assert_eq!(
        Model::load(&raw_file(&spec)).unwrap_err(),
        FormatError::NoLayers
    );

    for (threshold, clear, smoothing, field) in [
        (f32::NAN, 0.0, 1.0, Field::Threshold),
        (-1.0, -1.0, 1.0, Field::Threshold),
        (1.0, 2.0, 1.0, Field::ClearThreshold),
        (1.0, 0.5, 0.0, Field::Smoothing),
        (1.0, 0.5, 1.5, Field::Smoothing),
    ] {
        let mut spec = dense_spec(&store);
        spec.scoring.threshold = threshold;
        spec.scoring.clear_threshold = clear;
        spec.scoring.smoothing = smoothing;
        assert_eq!(
            Model::load(&raw_file(&spec)).unwrap_err(),
            FormatError::BadValue { field, layer: None }
        );
    }
}

#[test]
fn too_many_layers() {
    let w = ramp(16, 0.0, 0.01);
    let b = ramp(4, 0.0, 0.0);
    let store = dense_store();
    let mut spec: ModelSpec<'_> = dense_spec(&store);
    let mut layers = Layers::new();
    for _ in 0..MAX_LAYERS {
        layers
            .push(Layer::Dense(Dense {
                inputs: 4,
                outputs: 4,
                activation: Activation::Relu,
                weights: F32s::new(&w),
                bias: F32s::new(&b),
            }))
            .unwrap();
    }
    spec.layers = layers;
    assert!(
        Model::load(&raw_file(&spec)).is_ok(),
        "{MAX_LAYERS} layers are fine"
    );
    // One more layer than the list holds: patch the count in the body.
    let body = postcard::to_allocvec(&spec).unwrap();
    let layer_bytes = postcard::to_allocvec(&spec.layers[0]).unwrap();
    let prefix = postcard::to_allocvec(&(spec.kind, spec.input)).unwrap();
    let mut patched = prefix.clone();
    patched.push(MAX_LAYERS as u8 + 1);
    patched.extend_from_slice(&body[prefix.len() + 1..]);
    let insert_at = prefix.len() + 1;
    patched.splice(insert_at..insert_at, layer_bytes);
    assert_eq!(
        Model::load(&raw_file_from_body(&patched)).unwrap_err(),
        FormatError::TooManyLayers {
            found: MAX_LAYERS as u32 + 1,
            max: MAX_LAYERS as u32
        }
    );
}

#[test]
fn malformed_and_unused_body_bytes_name_the_place() {
    let store = dense_store();
    let spec = dense_spec(&store);
    let body = postcard::to_allocvec(&spec).unwrap();

    let mut extra = body.clone();
    extra.push(0);
    assert_eq!(
        Model::load(&raw_file_from_body(&extra)).unwrap_err(),
        FormatError::UnusedBodyBytes {
            offset: (HEADER_LEN + body.len()) as u32
        }
    );

    // A kind tag no version defines.
    let mut bad_kind = body.clone();
    bad_kind[0] = 0x7F;
    assert_eq!(
        Model::load(&raw_file_from_body(&bad_kind)).unwrap_err(),
        FormatError::Malformed {
            section: Section::Kind,
            offset: HEADER_LEN as u32
        }
    );

    // A layer tag no version defines: the layers section starts after kind and input.
    let prefix = postcard::to_allocvec(&(spec.kind, spec.input)).unwrap();
    let mut bad_layer = body.clone();
    bad_layer[prefix.len() + 1] = 0x3F;
    assert_eq!(
        Model::load(&raw_file_from_body(&bad_layer)).unwrap_err(),
        FormatError::Malformed {
            section: Section::Layers,
            offset: (HEADER_LEN + prefix.len()) as u32
        }
    );

    // A body cut short (with a matching CRC) fails in the section it ends in.
    let cut = &body[..body.len() - 3];
    assert!(matches!(
        Model::load(&raw_file_from_body(cut)).unwrap_err(),
        FormatError::Malformed {
            section: Section::Provenance,
            ..
        }
    ));
}

#[test]
fn tied_bias_length_is_checked_against_the_source() {
    let bias = ramp(5, 0.0, 0.0);
    let store = tied_store();
    let mut spec = tied_spec(&store);
    spec.layers[3] = Layer::TiedDense(TiedDense {
        source: 0,
        activation: Activation::Identity,
        bias: F32s::new(&bias),
    });
    assert_eq!(
        Model::load(&raw_file(&spec)).unwrap_err(),
        FormatError::LengthMismatch {
            field: Field::Bias,
            layer: Some(3),
            expected: 24,
            found: 20
        }
    );
}

#[test]
fn messages_are_one_line() {
    let errors = [
        FormatError::Truncated {
            needed: 100,
            available: 10,
        },
        FormatError::BadMagic { found: 0 },
        FormatError::ShapeMismatch {
            layer: 1,
            expected: 2,
            found: 3,
        },
        FormatError::LengthMismatch {
            field: Field::Weights,
            layer: Some(0),
            expected: 32,
            found: 28,
        },
    ];
    for e in errors {
        let s = e.to_string();
        assert!(!s.contains('\n') && !s.is_empty(), "{s}");
    }
    assert_eq!(
        errors[3].to_string(),
        "layer 0: weights holds 28 bytes, the shapes need 32"
    );
}

/// A file whose header says `version`, with a correct CRC.
fn with_version(spec: &ModelSpec<'_>, version: u16) -> Vec<u8> {
    let mut bytes = raw_file(spec);
    bytes[4..6].copy_from_slice(&version.to_le_bytes());
    bytes
}

#[test]
fn int8_layers_need_version_2() {
    let store = int8_store();
    let spec = int8_spec(&store);
    assert_eq!(
        Model::load(&with_version(&spec, 1)).unwrap_err(),
        FormatError::LayerNeedsVersion {
            layer: 0,
            needs: 2,
            version: 1
        }
    );
    assert!(Model::load(&with_version(&spec, 2)).is_ok());
    // A version-2 reader still reads version-1 files.
    let dense = dense_store();
    let f32_spec = dense_spec(&dense);
    assert!(Model::load(&with_version(&f32_spec, 1)).is_ok());
}

#[test]
fn int8_layer_rules() {
    let store = int8_store();
    let bad = |field, layer| FormatError::BadValue {
        field,
        layer: Some(layer),
    };
    let load = |spec: &ModelSpec<'_>| Model::load(&raw_file(spec)).unwrap_err();
    let with_min = {
        let mut w = i8_ramp(12, 0, 23);
        w[5] = 0x80; // -128: outside the symmetric range
        w
    };
    let mut spec = int8_spec(&store);
    if let Layer::DenseI8(d) = &mut spec.layers[0] {
        d.weights = I8s::new(&with_min);
    }
    assert_eq!(load(&spec), bad(Field::Weights, 0));

    let mut spec = int8_spec(&store);
    if let Layer::DenseI8(d) = &mut spec.layers[0] {
        d.weights = I8s::new(&d.weights.as_bytes()[..11]);
    }
    assert_eq!(
        load(&spec),
        FormatError::LengthMismatch {
            field: Field::Weights,
            layer: Some(0),
            expected: 12,
            found: 11
        }
    );

    // The second layer must take the first one's output quantization.
    let mut spec = int8_spec(&store);
    if let Layer::DenseI8(d) = &mut spec.layers[1] {
        d.input.zero_point = 1;
    }
    assert_eq!(load(&spec), FormatError::QuantMismatch { layer: 1 });

    for scale in [0.0, -1.0, f32::NAN, f32::INFINITY] {
        let mut spec = int8_spec(&store);
        if let Layer::DenseI8(d) = &mut spec.layers[1] {
            d.output = Quant {
                scale,
                zero_point: 0,
            };
        }
        assert_eq!(load(&spec), bad(Field::OutputQuant, 1), "scale {scale}");
    }

    for requant in [
        Requant {
            multiplier: 5,
            shift: 0,
        },
        Requant {
            multiplier: -(1 << 30),
            shift: 0,
        },
        Requant {
            multiplier: 1 << 30,
            shift: 31,
        },
        Requant {
            multiplier: 1 << 30,
            shift: -32,
        },
    ] {
        let mut spec = int8_spec(&store);
        if let Layer::DenseI8(d) = &mut spec.layers[1] {
            d.requant = requant;
        }
        assert_eq!(load(&spec), bad(Field::Requant, 1), "{requant:?}");
    }

    // A table exactly for SELU, sigmoid and tanh.
    let mut spec = int8_spec(&store);
    if let Layer::DenseI8(d) = &mut spec.layers[0] {
        d.activation = Activation::Relu;
    }
    assert_eq!(load(&spec), bad(Field::Lut, 0));
    let mut spec = int8_spec(&store);
    if let Layer::DenseI8(d) = &mut spec.layers[1] {
        d.activation = Activation::Selu;
    }
    assert_eq!(load(&spec), bad(Field::Lut, 1));
    let mut spec = int8_spec(&store);
    if let Layer::DenseI8(d) = &mut spec.layers[0]
        && let Some(lut) = &mut d.lut
    {
        lut.table = I8s::new(&lut.table.as_bytes()[..255]);
    }
    assert_eq!(
        load(&spec),
        FormatError::LengthMismatch {
            field: Field::Lut,
            layer: Some(0),
            expected: 256,
            found: 255
        }
    );

    // The unused high nibble of an odd channel count must be 0.
    let mut spec = int8_spec(&store);
    if let Layer::DenseI8(d) = &mut spec.layers[0] {
        d.exponents = Nibbles::new(&[0, 0x10]);
    }
    assert_eq!(load(&spec), bad(Field::Exponents, 0));
}

#[test]
fn int8_tied_source_needs_one_weight_scale_and_the_same_precision() {
    let store = int8_store();
    let exps = [0x01u8, 0x00];
    let mut spec = int8_spec(&store);
    if let Layer::DenseI8(d) = &mut spec.layers[0] {
        d.exponents = Nibbles::new(&exps);
    }
    let err = Model::load(&raw_file(&spec)).unwrap_err();
    assert_eq!(
        err,
        FormatError::BadTiedReference {
            layer: 3,
            source: 0
        }
    );
    assert!(err.to_string().contains("one weight scale"), "{err}");
    // An int8 tied layer cannot read f32 weights, nor an f32 one int8 weights.
    let mut spec = int8_spec(&store);
    if let Layer::TiedDenseI8(t) = &mut spec.layers[3] {
        t.source = 2;
    }
    assert!(matches!(
        Model::load(&raw_file(&spec)).unwrap_err(),
        FormatError::BadTiedReference {
            layer: 3,
            source: 2
        }
    ));
    let bias = ramp(4, 0.0, 0.0);
    let mut spec = int8_spec(&store);
    spec.layers[3] = Layer::TiedDense(TiedDense {
        source: 0,
        activation: Activation::Identity,
        bias: F32s::new(&bias),
    });
    assert!(matches!(
        Model::load(&raw_file(&spec)).unwrap_err(),
        FormatError::BadTiedReference {
            layer: 3,
            source: 0
        }
    ));
}

#[test]
fn standardized_weights_number_channels_times_window() {
    // pca_spec: 1 channel x window 2, so 2 weights; one per channel is not
    // enough, nor is one too many.
    let store = pca_store();
    for (n, found) in [(1, 4), (3, 12), (0, 0)] {
        let w = ramp(n, 0.5, 0.0);
        let mut spec = pca_spec(&store);
        spec.scoring.metric = Metric::Standardized(F32s::new(&w));
        let want = FormatError::LengthMismatch {
            field: Field::MetricWeights,
            layer: None,
            expected: 8,
            found,
        };
        assert_eq!(
            Model::load(&raw_file(&spec)).unwrap_err(),
            want,
            "{n} weights"
        );
        assert_eq!(spec.encode().unwrap_err(), want, "the encoder refuses too");
    }
    let w = ramp(3, 0.5, 0.0);
    let mut spec = pca_spec(&store);
    spec.scoring.metric = Metric::Standardized(F32s::new(&w));
    assert_eq!(
        Model::load(&raw_file(&spec)).unwrap_err().to_string(),
        "scoring.metric weights holds 12 bytes, the shapes need 8"
    );
    // Weighted MSE keeps one weight per channel.
    let two = ramp(2, 0.5, 0.0);
    let tied = tied_store();
    let mut spec = tied_spec(&tied);
    spec.scoring.metric = Metric::Standardized(F32s::new(&two));
    assert_eq!(
        Model::load(&raw_file(&spec)).unwrap_err(),
        FormatError::LengthMismatch {
            field: Field::MetricWeights,
            layer: None,
            expected: 24,
            found: 8
        }
    );
    spec.scoring.metric = Metric::WeightedMse(F32s::new(&two));
    assert!(Model::load(&raw_file(&spec)).is_ok());
}

#[test]
fn standardized_weights_are_finite_and_not_negative() {
    let store = pca_store();
    for bad in [
        -0.25,
        -f32::MIN_POSITIVE,
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
    ] {
        let w = [0.5f32.to_le_bytes(), bad.to_le_bytes()].concat();
        let mut spec = pca_spec(&store);
        spec.scoring.metric = Metric::Standardized(F32s::new(&w));
        assert_eq!(
            Model::load(&raw_file(&spec)).unwrap_err(),
            FormatError::BadValue {
                field: Field::MetricWeights,
                layer: None
            },
            "weight {bad}"
        );
    }
    // Zero (and negative zero) ignore a position; that is allowed.
    for ok in [0.0f32, -0.0] {
        let w = [ok.to_le_bytes(), 1.0f32.to_le_bytes()].concat();
        let mut spec = pca_spec(&store);
        spec.scoring.metric = Metric::Standardized(F32s::new(&w));
        assert!(Model::load(&raw_file(&spec)).is_ok(), "weight {ok}");
    }
}

#[test]
fn the_pca_kind_and_the_standardized_metric_need_version_3() {
    let store = pca_store();
    let spec = pca_spec(&store);
    assert!(Model::load(&with_version(&spec, 3)).is_ok());
    // Both new: the kind comes first on the wire and is reported first.
    for version in [1, 2] {
        assert_eq!(
            Model::load(&with_version(&spec, version)).unwrap_err(),
            FormatError::TagNeedsVersion {
                field: Field::Kind,
                name: "pca",
                needs: 3,
                version
            }
        );
    }
    // Only the metric is new.
    let mut metric_only = pca_spec(&store);
    metric_only.kind = ModelKind::Linear;
    let err = Model::load(&with_version(&metric_only, 2)).unwrap_err();
    assert_eq!(
        err,
        FormatError::TagNeedsVersion {
            field: Field::Metric,
            name: "standardized",
            needs: 3,
            version: 2
        }
    );
    assert_eq!(
        err.to_string(),
        "scoring.metric standardized needs format version 3, the file says version 2"
    );
    // Only the kind is new.
    let dense = dense_store();
    let mut kind_only = dense_spec(&dense);
    kind_only.kind = ModelKind::Pca;
    let err = Model::load(&with_version(&kind_only, 2)).unwrap_err();
    assert_eq!(
        err,
        FormatError::TagNeedsVersion {
            field: Field::Kind,
            name: "pca",
            needs: 3,
            version: 2
        }
    );
    assert_eq!(
        err.to_string(),
        "kind pca needs format version 3, the file says version 2"
    );
    // An int8 layer and the new metric in a version-1 file: the layer is
    // reported, it comes before the metric.
    let q = int8_store();
    let four = ramp(4, 0.5, 0.0);
    let mut mixed = int8_spec(&q);
    mixed.scoring.metric = Metric::Standardized(F32s::new(&four));
    assert_eq!(
        Model::load(&with_version(&mixed, 1)).unwrap_err(),
        FormatError::LayerNeedsVersion {
            layer: 0,
            needs: 2,
            version: 1
        }
    );
    assert!(matches!(
        Model::load(&with_version(&mixed, 2)).unwrap_err(),
        FormatError::TagNeedsVersion {
            field: Field::Metric,
            ..
        }
    ));
}

#[test]
fn feature_map_layers_need_version_4() {
    let (c, ci) = (conv1d_store(), conv_i8_store());
    for spec in [conv1d_spec(&c), conv_i8_spec(&ci)] {
        assert!(Model::load(&with_version(&spec, 4)).is_ok());
        for version in 1..=3 {
            let err = Model::load(&with_version(&spec, version)).unwrap_err();
            assert_eq!(
                err,
                FormatError::LayerNeedsVersion {
                    layer: 0,
                    needs: 4,
                    version
                }
            );
        }
    }
    // Every layer is checked, not only the first: an f32 dense layer first.
    let w = ramp(16, 0.0, 0.1);
    let b = ramp(4, 0.0, 0.0);
    let store = conv1d_store();
    let mut spec = conv1d_spec(&store);
    spec.layers[0] = Layer::Dense(Dense {
        inputs: 4,
        outputs: 4,
        activation: Activation::Identity,
        weights: F32s::new(&w),
        bias: F32s::new(&b),
    });
    spec.layers[1] = Layer::Conv(model_format::Conv {
        shape: MapShape::line(4, 1),
        filters: 2,
        kernel: [1, 3],
        stride: [1, 1],
        padding: Padding::Same,
        activation: Activation::Identity,
        weights: F32s::new(&w[..24]),
        bias: F32s::new(&b[..8]),
    });
    spec.layers.remove(2); // the pooling: now conv (8) -> upsample needs 4
    spec.layers[2] = Layer::ConvTranspose(model_format::ConvTranspose {
        shape: MapShape::line(4, 2),
        filters: 1,
        kernel: [1, 3],
        stride: [1, 1],
        padding: Padding::Same,
        activation: Activation::Identity,
        weights: F32s::new(&w[..24]),
        bias: F32s::new(&b[..4]),
    });
    assert!(Model::load(&with_version(&spec, 4)).is_ok());
    assert_eq!(
        Model::load(&with_version(&spec, 3)).unwrap_err(),
        FormatError::LayerNeedsVersion {
            layer: 1,
            needs: 4,
            version: 3
        }
    );
}

/// The f32 conv model with layer 0 (the convolution) changed by `edit`.
fn conv_error(edit: impl FnOnce(&mut model_format::Conv<'_>)) -> FormatError {
    let store = conv1d_store();
    let mut spec = conv1d_spec(&store);
    let Layer::Conv(c) = &mut spec.layers[0] else {
        unreachable!()
    };
    edit(c);
    let err = Model::load(&raw_file(&spec)).unwrap_err();
    assert_eq!(spec.encode().unwrap_err(), err, "the encoder refuses too");
    err
}

#[test]
fn convolution_sizes_are_checked() {
    let zero = |field| FormatError::ZeroSize {
        field,
        layer: Some(0),
    };
    assert_eq!(conv_error(|c| c.shape.h = 0), zero(Field::Shape));
    assert_eq!(conv_error(|c| c.shape.c = 0), zero(Field::Shape));
    assert_eq!(conv_error(|c| c.filters = 0), zero(Field::Filters));
    assert_eq!(conv_error(|c| c.kernel = [1, 0]), zero(Field::Kernel));
    assert_eq!(conv_error(|c| c.stride = [0, 1]), zero(Field::Stride));
    // A map whose size overflows.
    assert_eq!(
        conv_error(|c| c.shape = MapShape::new(u32::MAX, u32::MAX, 4)),
        FormatError::TooLarge {
            field: Field::Shape,
            layer: Some(0)
        }
    );
    // Valid padding: the kernel must fit; same padding pads instead.
    let err = conv_error(|c| {
        c.padding = Padding::Valid;
        c.kernel = [1, 5];
    });
    assert_eq!(
        err,
        FormatError::WindowTooLarge {
            layer: 0,
            field: Field::Kernel,
            window: 5,
            input: 4
        }
    );
    assert_eq!(
        err.to_string(),
        "layer 0: kernel 5 does not fit in an input of 4 along one axis"
    );
    assert_eq!(
        conv_error(|c| {
            c.padding = Padding::Valid;
            c.kernel = [2, 3];
        }),
        FormatError::WindowTooLarge {
            layer: 0,
            field: Field::Kernel,
            window: 2,
            input: 1
        }
    );
    // Kernel 5, same: fine shape-wise, but 10 weights are needed.
    assert_eq!(
        conv_error(|c| c.kernel = [1, 5]),
        FormatError::LengthMismatch {
            field: Field::Weights,
            layer: Some(0),
            expected: 40,
            found: 24
        }
    );
    // A kernel whose weight count overflows is too large, not a panic.
    assert_eq!(
        conv_error(|c| c.kernel = [u32::MAX, u32::MAX]),
        FormatError::TooLarge {
            field: Field::Kernel,
            layer: Some(0)
        }
    );
    assert_eq!(
        conv_error(|c| c.bias = F32s::new(&c.bias.as_bytes()[..4])),
        FormatError::LengthMismatch {
            field: Field::Bias,
            layer: Some(0),
            expected: 8,
            found: 4
        }
    );
    let nan = [f32::NAN.to_le_bytes(), [0; 4]].concat();
    let nan: &'static [u8] = Box::leak(nan.into_boxed_slice());
    assert_eq!(
        conv_error(|c| c.bias = F32s::new(nan)),
        FormatError::BadValue {
            field: Field::Bias,
            layer: Some(0)
        }
    );
    // Stride 2 halves the output: the pooling after it no longer gets 8 values.
    assert_eq!(
        conv_error(|c| c.stride = [1, 2]),
        FormatError::ShapeMismatch {
            layer: 1,
            expected: 4,
            found: 8
        }
    );
}

#[test]
fn a_map_must_hold_the_previous_width() {
    let w = ramp(12, 0.0, 0.1);
    let store = conv1d_store();
    // The map of layer 0 must be the input window, 1 x 4 x 1.
    let mut spec = conv1d_spec(&store);
    let Layer::Conv(c) = &mut spec.layers[0] else {
        unreachable!()
    };
    // 2 x 2 x 1 holds 4 values, as many as the window: a reshape, allowed
    // (and its 2 x 2 x 2 output is the 1 x 4 x 2 map the pooling reads).
    c.shape = MapShape::new(2, 2, 1);
    assert!(Model::load(&raw_file(&spec)).is_ok());
    let Layer::Conv(c) = &mut spec.layers[0] else {
        unreachable!()
    };
    c.shape = MapShape::line(3, 2);
    c.weights = F32s::new(&w);
    assert_eq!(
        Model::load(&raw_file(&spec)).unwrap_err(),
        FormatError::ShapeMismatch {
            layer: 0,
            expected: 4,
            found: 6
        }
    );
    // The upsampling's map must hold the pooling's 4 values.
    let mut spec = conv1d_spec(&store);
    let Layer::Upsample(u) = &mut spec.layers[2] else {
        unreachable!()
    };
    u.shape = MapShape::line(4, 2);
    assert_eq!(
        Model::load(&raw_file(&spec)).unwrap_err(),
        FormatError::ShapeMismatch {
            layer: 2,
            expected: 4,
            found: 8
        }
    );
}

#[test]
fn pooling_and_upsampling_sizes_are_checked() {
    let store = conv1d_store();
    let load = |spec: &ModelSpec<'_>| Model::load(&raw_file(spec)).unwrap_err();
    let mut spec = conv1d_spec(&store);
    if let Layer::Pool(p) = &mut spec.layers[1] {
        p.size = [1, 0];
    }
    assert_eq!(
        load(&spec),
        FormatError::ZeroSize {
            field: Field::Size,
            layer: Some(1)
        }
    );
    let mut spec = conv1d_spec(&store);
    if let Layer::Pool(p) = &mut spec.layers[1] {
        p.size = [1, 5];
    }
    assert_eq!(
        load(&spec),
        FormatError::WindowTooLarge {
            layer: 1,
            field: Field::Size,
            window: 5,
            input: 4
        }
    );
    // A window of 3 over 4 drops the last step: 1 x 1 x 2 out.
    let mut spec = conv1d_spec(&store);
    if let Layer::Pool(p) = &mut spec.layers[1] {
        p.size = [1, 3];
    }
    assert_eq!(
        load(&spec),
        FormatError::ShapeMismatch {
            layer: 2,
            expected: 2,
            found: 4
        }
    );
    let mut spec = conv1d_spec(&store);
    if let Layer::Upsample(u) = &mut spec.layers[2] {
        u.factor = [0, 2];
    }
    assert_eq!(
        load(&spec),
        FormatError::ZeroSize {
            field: Field::Factor,
            layer: Some(2)
        }
    );
    let mut spec = conv1d_spec(&store);
    if let Layer::Upsample(u) = &mut spec.layers[2] {
        u.factor = [u32::MAX, u32::MAX];
    }
    assert_eq!(
        load(&spec),
        FormatError::TooLarge {
            field: Field::Outputs,
            layer: Some(2)
        }
    );
    // A transposed convolution whose output overflows.
    let mut spec = conv1d_spec(&store);
    if let Layer::ConvTranspose(t) = &mut spec.layers[3] {
        t.stride = [u32::MAX, u32::MAX];
    }
    assert_eq!(
        load(&spec),
        FormatError::TooLarge {
            field: Field::Outputs,
            layer: Some(3)
        }
    );
}

#[test]
fn int8_feature_map_rules() {
    let with_min = {
        let mut w = i8_ramp(18, 5, 37);
        w[3] = 0x80;
        w
    };
    let store = conv_i8_store();
    let load = |spec: &ModelSpec<'_>| Model::load(&raw_file(spec)).unwrap_err();
    let bad = |field, layer| FormatError::BadValue {
        field,
        layer: Some(layer),
    };
    // The pooling must take the convolution's output quantization.
    let mut spec = conv_i8_spec(&store);
    if let Layer::PoolI8(p) = &mut spec.layers[1] {
        p.quant.zero_point = 0;
    }
    assert_eq!(load(&spec), FormatError::QuantMismatch { layer: 1 });
    for scale in [0.0, -1.0, f32::NAN] {
        let mut spec = conv_i8_spec(&store);
        if let Layer::UpsampleI8(u) = &mut spec.layers[2] {
            u.quant.scale = scale;
        }
        assert_eq!(load(&spec), bad(Field::Quant, 2), "scale {scale}");
    }
    // One exponent per filter, the unused nibble 0.
    let mut spec = conv_i8_spec(&store);
    if let Layer::ConvI8(c) = &mut spec.layers[0] {
        c.exponents = Nibbles::new(&[0x10]);
    }
    assert_eq!(
        load(&spec),
        FormatError::LengthMismatch {
            field: Field::Exponents,
            layer: Some(0),
            expected: 2,
            found: 1
        }
    );
    let mut spec = conv_i8_spec(&store);
    if let Layer::ConvI8(c) = &mut spec.layers[0] {
        c.exponents = Nibbles::new(&[0x10, 0x12]);
    }
    assert_eq!(load(&spec), bad(Field::Exponents, 0));
    let mut spec = conv_i8_spec(&store);
    if let Layer::ConvI8(c) = &mut spec.layers[0] {
        c.bias = I32s::new(&c.bias.as_bytes()[..8]);
    }
    assert_eq!(
        load(&spec),
        FormatError::LengthMismatch {
            field: Field::Bias,
            layer: Some(0),
            expected: 12,
            found: 8
        }
    );
    let mut spec = conv_i8_spec(&store);
    if let Layer::ConvI8(c) = &mut spec.layers[0] {
        c.weights = I8s::new(&with_min);
    }
    assert_eq!(load(&spec), bad(Field::Weights, 0));
    let mut spec = conv_i8_spec(&store);
    if let Layer::ConvI8(c) = &mut spec.layers[0] {
        c.weight_scale = f32::NAN;
    }
    assert_eq!(load(&spec), bad(Field::WeightScale, 0));
    // A table exactly for SELU, sigmoid and tanh; ReLU has none.
    let mut spec = conv_i8_spec(&store);
    if let Layer::ConvTransposeI8(t) = &mut spec.layers[3] {
        t.activation = Activation::Relu;
    }
    assert_eq!(load(&spec), bad(Field::Lut, 3));
    let mut spec = conv_i8_spec(&store);
    if let Layer::ConvI8(c) = &mut spec.layers[0] {
        c.activation = Activation::Sigmoid;
    }
    assert_eq!(load(&spec), bad(Field::Lut, 0));
    let mut spec = conv_i8_spec(&store);
    if let Layer::ConvTransposeI8(t) = &mut spec.layers[3] {
        t.requant.shift = 31;
    }
    assert_eq!(load(&spec), bad(Field::Requant, 3));
    let mut spec = conv_i8_spec(&store);
    if let Layer::ConvTransposeI8(t) = &mut spec.layers[3] {
        t.input.scale = 0.0;
    }
    assert_eq!(load(&spec), bad(Field::InputQuant, 3));
}

#[test]
fn ties_refer_to_dense_layers_only() {
    // A tied layer cannot read a convolution's weights.
    let bias = ramp(4, 0.0, 0.0);
    let store = conv1d_store();
    let mut spec = conv1d_spec(&store);
    spec.layers[3] = Layer::TiedDense(TiedDense {
        source: 0,
        activation: Activation::Identity,
        bias: F32s::new(&bias),
    });
    assert_eq!(
        Model::load(&raw_file(&spec)).unwrap_err(),
        FormatError::BadTiedReference {
            layer: 3,
            source: 0
        }
    );
}

#[test]
fn tags_after_the_newest_do_not_decode() {
    // What a version-4 reader did with layer tag 12 happens now to the
    // next one: the section does not decode.
    let conv = conv1d_store();
    let conv_spec = conv1d_spec(&conv);
    let body = postcard::to_allocvec(&conv_spec).unwrap();
    let prefix = postcard::to_allocvec(&(conv_spec.kind, conv_spec.input)).unwrap();
    assert_eq!(body[prefix.len() + 1], 4, "layer 0 is a convolution, tag 4");
    let mut next_layer = body.clone();
    next_layer[prefix.len() + 1] = 14; // 13 is the int8 recurrent layer (version 6)
    assert_eq!(
        Model::load(&raw_file_from_body(&next_layer)).unwrap_err(),
        FormatError::Malformed {
            section: Section::Layers,
            offset: (HEADER_LEN + prefix.len()) as u32
        }
    );
    // The same for kinds (the newest, classifier, is tag 11) and metrics.
    let store = pca_store();
    let spec = pca_spec(&store);
    let body = postcard::to_allocvec(&spec).unwrap();
    assert_eq!(body[0], 8, "kind pca is tag 8");
    let mut next_kind = body.clone();
    next_kind[0] = 12; // 11 is classifier (version 7)
    assert_eq!(
        Model::load(&raw_file_from_body(&next_kind)).unwrap_err(),
        FormatError::Malformed {
            section: Section::Kind,
            offset: HEADER_LEN as u32
        }
    );
    // The scoring section starts after kind, input, layers and codings_layer.
    let before =
        postcard::to_allocvec(&(spec.kind, spec.input, &spec.layers, spec.codings_layer)).unwrap();
    assert_eq!(body[before.len()], 3, "metric standardized is tag 3");
    let mut next_metric = body.clone();
    next_metric[before.len()] = 4;
    assert_eq!(
        Model::load(&raw_file_from_body(&next_metric)).unwrap_err(),
        FormatError::Malformed {
            section: Section::Scoring,
            offset: (HEADER_LEN + before.len()) as u32
        }
    );
}

#[test]
fn the_conv_kind_needs_version_4() {
    let conv = conv1d_store();
    let mut spec = conv1d_spec(&conv);
    spec.kind = ModelKind::Conv;
    assert_eq!(
        Model::load(&spec.encode().unwrap())
            .unwrap()
            .header()
            .version,
        8
    );
    let bytes = spec.encode_version(4).unwrap();
    let model = Model::load(&bytes).unwrap();
    assert_eq!(model.kind(), ModelKind::Conv);
    assert_eq!(model.header().version, 4);
    // A file that says version 3 but holds the conv kind is refused, kind first.
    let mut v3 = bytes.clone();
    v3[4..6].copy_from_slice(&3u16.to_le_bytes());
    assert_eq!(
        Model::load(&v3).unwrap_err(),
        FormatError::TagNeedsVersion {
            field: Field::Kind,
            name: "conv",
            needs: 4,
            version: 3
        }
    );
}

#[test]
fn the_recurrent_layer_and_kind_need_version_5() {
    let store = recurrent_store();
    let spec = recurrent_spec(&store);
    assert!(Model::load(&with_version(&spec, 5)).is_ok());
    // The kind comes first on the wire, so it is the first tag refused.
    assert_eq!(
        Model::load(&with_version(&spec, 4)).unwrap_err(),
        FormatError::TagNeedsVersion {
            field: Field::Kind,
            name: "recurrent",
            needs: 5,
            version: 4
        }
    );
    let mut custom = recurrent_spec(&store);
    custom.kind = ModelKind::Custom;
    for version in 1..=4 {
        assert_eq!(
            Model::load(&with_version(&custom, version)).unwrap_err(),
            FormatError::LayerNeedsVersion {
                layer: 0,
                needs: 5,
                version
            }
        );
    }
    assert_eq!(
        Model::load(&custom.encode_version(5).unwrap())
            .unwrap()
            .header()
            .version,
        5
    );
    assert_eq!(
        custom.encode_version(4).unwrap_err(),
        FormatError::LayerNeedsVersion {
            layer: 0,
            needs: 5,
            version: 4
        }
    );
}

/// The recurrent model with layer `layer` changed by `edit`: the error of
/// the loader, which the encoder gives too.
fn recurrent_error(
    layer: usize,
    edit: impl FnOnce(&mut model_format::Recurrent<'static>),
) -> FormatError {
    let store: &'static _ = Box::leak(Box::new(recurrent_store()));
    let mut spec = recurrent_spec(store);
    let Layer::Recurrent(r) = &mut spec.layers[layer] else {
        unreachable!()
    };
    edit(r);
    let err = Model::load(&raw_file(&spec)).unwrap_err();
    assert_eq!(spec.encode().unwrap_err(), err, "the encoder refuses too");
    err
}

fn leak(values: &[f32]) -> F32s<'static> {
    F32s::new(Box::leak(
        model_format::build::f32_bytes(values).into_boxed_slice(),
    ))
}

#[test]
fn recurrent_sizes_are_checked() {
    let at = |field, layer| (field, Some(layer));
    let zero = |(field, layer)| FormatError::ZeroSize { field, layer };
    let large = |(field, layer)| FormatError::TooLarge { field, layer };
    assert_eq!(
        recurrent_error(0, |r| r.shape.w = 0),
        zero(at(Field::Shape, 0))
    );
    assert_eq!(
        recurrent_error(1, |r| r.shape.c = 0),
        zero(at(Field::Shape, 1))
    );
    assert_eq!(
        recurrent_error(0, |r| r.shape = MapShape::new(u32::MAX, u32::MAX, 2)),
        large(at(Field::Shape, 0))
    );
    // A sequence has one row: 2 x 2 x 2 holds the window's 8 values, but
    // it is not a sequence.
    let err = recurrent_error(0, |r| r.shape = MapShape::new(2, 2, 2));
    assert_eq!(err, FormatError::NotASequence { layer: 0, rows: 2 });
    assert_eq!(
        err.to_string(),
        "layer 0: a recurrent layer reads a sequence, a 1 x T x c map, but its shape has 2 rows"
    );
    assert_eq!(
        recurrent_error(0, |r| r.hidden = 0),
        zero(at(Field::Hidden, 0))
    );
    // G·hidden past 2^29 − 1.
    assert_eq!(
        recurrent_error(1, |r| r.hidden = u32::MAX / 2),
        large(at(Field::Hidden, 1))
    );
    // T·hidden values out: 2^20 steps of 2^10 units.
    assert_eq!(
        recurrent_error(0, |r| {
            r.shape = MapShape::line(1 << 20, 1);
            r.hidden = 1 << 10;
        }),
        large(at(Field::Outputs, 0))
    );
    // G·hidden·in input weights: 2^10 rows of 2^20 inputs.
    assert_eq!(
        recurrent_error(0, |r| {
            r.shape = MapShape::line(1, 1 << 20);
            r.hidden = 1 << 8;
        }),
        large(at(Field::InputWeights, 0))
    );
    // G·hidden·hidden recurrent weights: 2^16 rows of 2^14.
    assert_eq!(
        recurrent_error(0, |r| r.hidden = 1 << 14),
        large(at(Field::RecurrentWeights, 0))
    );
}

#[test]
fn recurrent_weights_and_biases_are_checked() {
    let short = |field, layer, expected, found| FormatError::LengthMismatch {
        field,
        layer: Some(layer),
        expected,
        found,
    };
    let bad = |field, layer| FormatError::BadValue {
        field,
        layer: Some(layer),
    };
    // LSTM 2 → 3: 12 rows of 2 and of 3, 12 biases, no b_hh.
    assert_eq!(
        recurrent_error(0, |r| r.w_ih = leak(&[0.0; 23])),
        short(Field::InputWeights, 0, 96, 92)
    );
    assert_eq!(
        recurrent_error(0, |r| r.w_hh = leak(&[0.0; 24])),
        short(Field::RecurrentWeights, 0, 144, 96)
    );
    assert_eq!(
        recurrent_error(0, |r| r.b_ih = leak(&[0.0; 9])),
        short(Field::InputBias, 0, 48, 36)
    );
    // The LSTM stores one bias (b_ih + b_hh): a second one is refused.
    assert_eq!(
        recurrent_error(0, |r| r.b_hh = leak(&[0.0; 12])),
        short(Field::RecurrentBias, 0, 0, 48)
    );
    // GRU 3 → 2: 6 rows, and its b_hh is required.
    assert_eq!(
        recurrent_error(1, |r| r.b_hh = F32s::new(&[])),
        short(Field::RecurrentBias, 1, 24, 0)
    );
    assert_eq!(
        recurrent_error(1, |r| r.cell = model_format::Cell::Lstm),
        short(Field::InputWeights, 1, 96, 72)
    );
    let mut nan = [0.25f32; 36];
    nan[5] = f32::NAN;
    assert_eq!(
        recurrent_error(1, |r| r.w_ih = leak(&nan[..18])),
        bad(Field::InputWeights, 1)
    );
    assert_eq!(
        recurrent_error(0, |r| r.w_hh = leak(&nan)),
        bad(Field::RecurrentWeights, 0)
    );
    nan[5] = f32::INFINITY;
    assert_eq!(
        recurrent_error(0, |r| r.b_ih = leak(&nan[..12])),
        bad(Field::InputBias, 0)
    );
    assert_eq!(
        recurrent_error(1, |r| r.b_hh = leak(&nan[..6])),
        bad(Field::RecurrentBias, 1)
    );
    assert_eq!(
        FormatError::LengthMismatch {
            field: Field::RecurrentBias,
            layer: Some(0),
            expected: 0,
            found: 48
        }
        .to_string(),
        "layer 0: b_hh holds 48 bytes, the shapes need 0"
    );
}

#[test]
fn recurrent_maps_chain_with_their_neighbours() {
    // The LSTM's map must hold the window's 8 values; 1 x 3 x 2 holds 6.
    assert_eq!(
        recurrent_error(0, |r| r.shape = MapShape::line(3, 2)),
        FormatError::ShapeMismatch {
            layer: 0,
            expected: 8,
            found: 6
        }
    );
    // 1 x 8 x 1 holds 8 (a reshape, allowed) but then w_ih has the wrong rows.
    assert_eq!(
        recurrent_error(0, |r| r.shape = MapShape::line(8, 1)),
        FormatError::LengthMismatch {
            field: Field::InputWeights,
            layer: Some(0),
            expected: 48,
            found: 96
        }
    );
    // The last step only: 3 values out, the GRU reads 4 x 3.
    assert_eq!(
        recurrent_error(0, |r| r.sequences = false),
        FormatError::ShapeMismatch {
            layer: 1,
            expected: 3,
            found: 12
        }
    );
    // Every step of the GRU: 4 x 2 out, the upsampling reads 1 x 2.
    assert_eq!(
        recurrent_error(1, |r| r.sequences = true),
        FormatError::ShapeMismatch {
            layer: 2,
            expected: 8,
            found: 2
        }
    );
    // Every step of the GRU, the upsampling removed: the GRU's 4 x 2 output
    // is the reconstruction, and the codings layer has to move.
    let store = recurrent_store();
    let mut spec = recurrent_spec(&store);
    if let Layer::Recurrent(r) = &mut spec.layers[1] {
        r.sequences = true;
    }
    spec.layers.pop();
    assert_eq!(
        Model::load(&raw_file(&spec)).unwrap_err(),
        FormatError::BadCodingsLayer {
            index: 1,
            layers: 2
        }
    );
    spec.codings_layer = 0;
    assert!(Model::load(&raw_file(&spec)).is_ok());
    // A tied layer cannot read a recurrent layer's weights.
    let bias = ramp(8, 0.0, 0.0);
    let mut spec = recurrent_spec(&store);
    spec.layers[2] = Layer::TiedDense(TiedDense {
        source: 1,
        activation: Activation::Identity,
        bias: F32s::new(&bias),
    });
    assert_eq!(
        Model::load(&raw_file(&spec)).unwrap_err(),
        FormatError::BadTiedReference {
            layer: 2,
            source: 1
        }
    );
    // The repeat vector must give back the window: by 3, 6 values.
    let mut spec = recurrent_spec(&store);
    if let Layer::Upsample(u) = &mut spec.layers[2] {
        u.factor = [1, 3];
    }
    assert_eq!(
        Model::load(&raw_file(&spec)).unwrap_err(),
        FormatError::OutputMismatch {
            expected: 8,
            found: 6
        }
    );
}

#[test]
fn recurrent_cell_and_flag_bytes_outside_their_range_do_not_decode() {
    let store = recurrent_store();
    let spec = recurrent_spec(&store);
    let body = postcard::to_allocvec(&spec).unwrap();
    let prefix = postcard::to_allocvec(&(spec.kind, spec.input)).unwrap();
    // Layers: count, tag 12, cell, shape 1 4 2, hidden 3, sequences.
    let at = prefix.len();
    assert_eq!(&body[at..at + 8], &[3, 12, 0, 1, 4, 2, 3, 1]);
    let layers = Section::Layers;
    let offset = (HEADER_LEN + prefix.len()) as u32;
    for (byte, value) in [(at + 2, 2u8), (at + 7, 2)] {
        let mut b = body.clone();
        b[byte] = value;
        assert_eq!(
            Model::load(&raw_file_from_body(&b)).unwrap_err(),
            FormatError::Malformed {
                section: layers,
                offset
            },
            "byte {byte} = {value}"
        );
    }
    // Cell 1 (GRU) decodes, and then has 3 gates, not 4: 9 rows of 2.
    let mut b = body.clone();
    b[at + 2] = 1;
    assert_eq!(
        Model::load(&raw_file_from_body(&b)).unwrap_err(),
        FormatError::LengthMismatch {
            field: Field::InputWeights,
            layer: Some(0),
            expected: 72,
            found: 96
        }
    );
}

#[test]
fn the_int8_recurrent_layer_needs_version_6() {
    let store = recurrent_i8_store();
    let mut spec = recurrent_i8_spec(&store);
    spec.kind = ModelKind::Custom;
    assert!(Model::load(&with_version(&spec, 6)).is_ok());
    assert_eq!(
        Model::load(&with_version(&spec, 5)).unwrap_err(),
        FormatError::LayerNeedsVersion {
            layer: 0,
            needs: 6,
            version: 5
        }
    );
}

/// The int8 recurrent model with layer `index` changed by `bend`, loaded.
fn bent_recurrent_i8(index: usize, bend: impl FnOnce(&mut RecurrentI8<'static>)) -> FormatError {
    let store = Box::leak(Box::new(recurrent_i8_store()));
    let mut spec = recurrent_i8_spec(store);
    let Layer::RecurrentI8(mut r) = spec.layers[index] else {
        panic!("layer {index} is an int8 recurrent layer")
    };
    bend(&mut r);
    spec.layers[index] = Layer::RecurrentI8(r);
    Model::load(&raw_file(&spec)).unwrap_err()
}

#[test]
fn int8_recurrent_rules_in_order() {
    let bad = |field, layer| FormatError::BadValue {
        field,
        layer: Some(layer),
    };
    assert_eq!(
        bent_recurrent_i8(0, |r| r.shape.h = 2),
        FormatError::NotASequence { layer: 0, rows: 2 }
    );
    assert_eq!(
        bent_recurrent_i8(0, |r| {
            r.input.scale = 0.0;
            r.state_shift = 0;
        }),
        bad(Field::InputQuant, 0)
    );
    assert_eq!(
        bent_recurrent_i8(1, |r| r.output.scale = f32::NAN),
        bad(Field::OutputQuant, 1)
    );
    for shift in [-16, -7, 0] {
        assert_eq!(
            bent_recurrent_i8(0, |r| r.state_shift = shift),
            bad(Field::StateShift, 0),
            "LSTM state_shift {shift}"
        );
    }
    assert_eq!(
        bent_recurrent_i8(1, |r| r.state_shift = -11),
        bad(Field::StateShift, 1),
        "the GRU's state is Q0.15"
    );
    assert_eq!(
        bent_recurrent_i8(0, |r| r.gates_ih[3].multiplier = 5),
        bad(Field::InputRequant, 0)
    );
    assert_eq!(
        bent_recurrent_i8(1, |r| r.gates_hh[3].shift = 1),
        bad(Field::RecurrentRequant, 1),
        "a GRU's 4th multiplier is {{0, 0}}"
    );
    assert_eq!(
        bent_recurrent_i8(0, |r| r.gates_hh[0].shift = 31),
        bad(Field::RecurrentRequant, 0)
    );
    assert_eq!(
        bent_recurrent_i8(0, |r| r.hidden_requant.multiplier = -1),
        bad(Field::HiddenRequant, 0)
    );
    assert_eq!(
        bent_recurrent_i8(0, |r| r.w_ih = I8s::new(&[0; 23])),
        FormatError::LengthMismatch {
            field: Field::InputWeights,
            layer: Some(0),
            expected: 24,
            found: 23
        }
    );
    assert_eq!(
        bent_recurrent_i8(0, |r| r.w_hh = I8s::new(&[0x80; 36])),
        bad(Field::RecurrentWeights, 0)
    );
    assert_eq!(
        bent_recurrent_i8(0, |r| r.exponents_hh = Nibbles::new(&[0; 5])),
        FormatError::LengthMismatch {
            field: Field::RecurrentExponents,
            layer: Some(0),
            expected: 6,
            found: 5
        }
    );
    // The GRU has 6 rows: an even count, so 3 bytes with every nibble used.
    assert_eq!(
        bent_recurrent_i8(1, |r| r.exponents_ih = Nibbles::new(&[0; 2])),
        FormatError::LengthMismatch {
            field: Field::InputExponents,
            layer: Some(1),
            expected: 3,
            found: 2
        }
    );
    assert_eq!(
        bent_recurrent_i8(0, |r| r.b_hh = I32s::new(&[0; 48])),
        FormatError::LengthMismatch {
            field: Field::RecurrentBias,
            layer: Some(0),
            expected: 0,
            found: 48
        }
    );
    assert_eq!(
        bent_recurrent_i8(1, |r| r.b_ih = I32s::new(&[0; 20])),
        FormatError::LengthMismatch {
            field: Field::InputBias,
            layer: Some(1),
            expected: 24,
            found: 20
        }
    );
    // The GRU reads the LSTM's output quantization.
    assert_eq!(
        bent_recurrent_i8(1, |r| r.input.zero_point = 0),
        FormatError::QuantMismatch { layer: 1 }
    );
}

#[test]
fn an_odd_row_count_leaves_the_last_exponent_nibble_zero() {
    // One hidden unit of a GRU: 3 rows, 2 bytes, the high nibble of the second unused.
    let store = Box::leak(Box::new(recurrent_i8_store()));
    let mut spec = recurrent_i8_spec(store);
    let Layer::RecurrentI8(mut r) = spec.layers[1] else {
        panic!()
    };
    r.hidden = 1;
    r.w_hh = I8s::new(&[1, 2, 3]);
    r.w_ih = I8s::new(&[1; 9]);
    r.b_ih = I32s::new(&[0; 12]);
    r.b_hh = I32s::new(&[0; 12]);
    r.exponents_ih = Nibbles::new(&[0x21, 0x10]);
    r.exponents_hh = Nibbles::new(&[0, 0]);
    spec.layers[1] = Layer::RecurrentI8(r);
    assert_eq!(
        Model::load(&raw_file(&spec)).unwrap_err(),
        FormatError::BadValue {
            field: Field::InputExponents,
            layer: Some(1)
        }
    );
}
