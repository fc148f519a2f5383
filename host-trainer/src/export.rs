//! The owned description of a model on the host, and its encoding into the
//! model file. Everything the trainer exports goes through [`ModelDef`],
//! which builds a [`model_format::ModelSpec`] and lets model-format validate
//! and encode it: the host never writes model bytes itself.

use std::path::Path;

use anyhow::{Context, Result, bail};
use model_format::{
    Activation, Calibration, Dense, DenseI8, F32s, I8s, I32s, InputSpec, Layer, Layers, Lut,
    Metric, Model, ModelKind, ModelSpec, Nibbles, Provenance, Quant, Requant, ScoringSpec,
    TiedDense, TiedDenseI8,
};
use serde::{Deserialize, Serialize};

/// Input description, owned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputDef {
    /// Samples per frame.
    pub channels: u32,
    /// Frames per window.
    pub window: u32,
    /// Frames between window starts.
    pub hop: u32,
    /// Per-channel mean.
    pub mean: Vec<f32>,
    /// Per-channel scale (1 / std).
    pub scale: Vec<f32>,
}

impl InputDef {
    /// No normalisation (mean 0, scale 1) for `channels` channels.
    pub fn identity(channels: u32, window: u32, hop: u32) -> InputDef {
        InputDef {
            channels,
            window,
            hop,
            mean: vec![0.0; channels as usize],
            scale: vec![1.0; channels as usize],
        }
    }

    /// Values per window.
    pub fn len(&self) -> usize {
        self.channels as usize * self.window as usize
    }

    /// True if a window holds no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A layer, owned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum LayerDef {
    /// `y = act(W·x + b)`, `weights` row-major `outputs × inputs`.
    Dense {
        /// Input width.
        inputs: u32,
        /// Output width.
        outputs: u32,
        /// Activation.
        activation: Activation,
        /// Row-major weights.
        weights: Vec<f32>,
        /// Bias.
        bias: Vec<f32>,
    },
    /// `y = act(Wᵀ·x + b)` with `W` of the dense layer `source`.
    TiedDense {
        /// Index of an earlier dense layer.
        source: u16,
        /// Activation.
        activation: Activation,
        /// Bias, one per output.
        bias: Vec<f32>,
    },
    /// int8 `Dense` (format version 2, SPEC.md 3.3 "int8 layers").
    DenseI8 {
        /// Input width.
        inputs: u32,
        /// Output width.
        outputs: u32,
        /// Activation (SELU, sigmoid and tanh through `lut`).
        activation: Activation,
        /// Quantization of the input.
        input: Quant,
        /// Quantization of the output.
        output: Quant,
        /// Weight scale of a channel whose exponent is 0.
        weight_scale: f32,
        /// `input.scale · weight_scale / target.scale` in fixed point.
        requant: Requant,
        /// Row-major `outputs × inputs` weights in −127..=127.
        weights: Vec<i8>,
        /// One exponent (0..=15) per output channel, packed two per byte
        /// when encoded: channel `o`'s weight scale is `weight_scale · 2^−e[o]`.
        exponents: Vec<u8>,
        /// Bias, one per output, in units of `input.scale` times the channel's weight scale.
        bias: Vec<i32>,
        /// The activation table, exactly for SELU, sigmoid and tanh.
        lut: Option<LutDef>,
    },
    /// int8 `TiedDense`: the transposed weights of the `DenseI8` layer
    /// `source`, whose exponents must all be 0.
    TiedDenseI8 {
        /// Index of an earlier int8 dense layer.
        source: u16,
        /// Activation.
        activation: Activation,
        /// Quantization of the input.
        input: Quant,
        /// Quantization of the output.
        output: Quant,
        /// `input.scale · source.weight_scale / target.scale` in fixed point.
        requant: Requant,
        /// Bias, one per output, in units of `input.scale · source.weight_scale`.
        bias: Vec<i32>,
        /// The activation table, exactly for SELU, sigmoid and tanh.
        lut: Option<LutDef>,
    },
}

impl LayerDef {
    /// The fused activation.
    pub fn activation(&self) -> Activation {
        match self {
            LayerDef::Dense { activation, .. }
            | LayerDef::TiedDense { activation, .. }
            | LayerDef::DenseI8 { activation, .. }
            | LayerDef::TiedDenseI8 { activation, .. } => *activation,
        }
    }

    /// True for the int8 layers.
    pub fn is_int8(&self) -> bool {
        matches!(
            self,
            LayerDef::DenseI8 { .. } | LayerDef::TiedDenseI8 { .. }
        )
    }

    /// The layer a tied layer reads its weights from.
    pub fn tied_source(&self) -> Option<u16> {
        match self {
            LayerDef::TiedDense { source, .. } | LayerDef::TiedDenseI8 { source, .. } => {
                Some(*source)
            }
            LayerDef::Dense { .. } | LayerDef::DenseI8 { .. } => None,
        }
    }
}

/// An int8 layer's activation table, owned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LutDef {
    /// Quantization of the table's input (the requantized pre-activation).
    pub input: Quant,
    /// 256 outputs in the layer's output quantization; entry `i` is for the
    /// input `i − 128`.
    pub table: Vec<i8>,
}

/// Error metric, owned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MetricDef {
    /// Mean squared error.
    #[default]
    Mse,
    /// Mean absolute error.
    Mae,
    /// Per-channel weighted MSE.
    WeightedMse(Vec<f32>),
    /// MSE with one weight per value of the window (SPEC.md, metric tag 3).
    Standardized(Vec<f32>),
}

/// Scoring, owned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoringDef {
    /// Metric.
    #[serde(default)]
    pub metric: MetricDef,
    /// Alarm threshold (`inf`: not calibrated). JSON has no infinity: omit it.
    #[serde(default = "infinity")]
    pub threshold: f32,
    /// Clear threshold (hysteresis), at most `threshold`.
    #[serde(default = "infinity")]
    pub clear_threshold: f32,
    /// EWMA weight of the newest score, (0, 1].
    #[serde(default = "one")]
    pub smoothing: f32,
    /// Calibration statistics.
    #[serde(default)]
    pub calibration: Option<Calibration>,
}

fn infinity() -> f32 {
    f32::INFINITY
}

fn one() -> f32 {
    1.0
}

impl Default for ScoringDef {
    fn default() -> Self {
        ScoringDef {
            metric: MetricDef::Mse,
            threshold: f32::INFINITY,
            clear_threshold: f32::INFINITY,
            smoothing: 1.0,
            calibration: None,
        }
    }
}

/// Provenance, owned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProvenanceDef {
    /// RNG seed.
    pub seed: u64,
    /// Epochs trained.
    pub epochs: u32,
    /// Final training loss.
    pub train_loss: Option<f32>,
    /// Final validation loss.
    pub val_loss: Option<f32>,
    /// FNV-1a 64 of the training data.
    pub data_hash: u64,
    /// Writer.
    pub tool: String,
}

impl Default for ProvenanceDef {
    fn default() -> Self {
        ProvenanceDef {
            seed: 0,
            epochs: 0,
            train_loss: None,
            val_loss: None,
            data_hash: 0,
            tool: tool_name(),
        }
    }
}

/// `edgeae <version>`.
pub fn tool_name() -> String {
    format!("edgeae {}", env!("CARGO_PKG_VERSION"))
}

/// A whole model, owned: what the trainer builds and `edgeae pack` reads
/// from JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelDef {
    /// Autoencoder kind.
    #[serde(default = "custom")]
    pub kind: ModelKind,
    /// Input.
    pub input: InputDef,
    /// Layers.
    pub layers: Vec<LayerDef>,
    /// Index of the last encoder layer.
    pub codings_layer: u16,
    /// Scoring.
    #[serde(default)]
    pub scoring: ScoringDef,
    /// Provenance.
    #[serde(default)]
    pub provenance: ProvenanceDef,
}

fn custom() -> ModelKind {
    ModelKind::Custom
}

pub(crate) fn le_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The byte strings of one layer, owned while a spec borrows them.
#[derive(Default)]
struct LayerBytes {
    weights: Vec<u8>,
    bias: Vec<u8>,
    exponents: Vec<u8>,
    table: Vec<u8>,
}

impl LayerBytes {
    fn of(index: usize, layer: &LayerDef) -> Result<LayerBytes> {
        let i32s = |v: &[i32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let i8s = |v: &[i8]| v.iter().map(|x| *x as u8).collect::<Vec<u8>>();
        let table = |lut: &Option<LutDef>| lut.as_ref().map(|l| i8s(&l.table)).unwrap_or_default();
        Ok(match layer {
            LayerDef::Dense { weights, bias, .. } => LayerBytes {
                weights: le_bytes(weights),
                bias: le_bytes(bias),
                ..LayerBytes::default()
            },
            LayerDef::TiedDense { bias, .. } => LayerBytes {
                bias: le_bytes(bias),
                ..LayerBytes::default()
            },
            LayerDef::DenseI8 {
                outputs,
                weights,
                exponents,
                bias,
                lut,
                ..
            } => LayerBytes {
                weights: i8s(weights),
                bias: i32s(bias),
                exponents: pack_nibbles(index, *outputs, exponents)?,
                table: table(lut),
            },
            LayerDef::TiedDenseI8 { bias, lut, .. } => LayerBytes {
                bias: i32s(bias),
                table: table(lut),
                ..LayerBytes::default()
            },
        })
    }
}

/// One exponent per channel, packed two per byte (SPEC.md `Nibbles`).
fn pack_nibbles(layer: usize, outputs: u32, exponents: &[u8]) -> Result<Vec<u8>> {
    if exponents.len() != outputs as usize {
        bail!(
            "layer {layer} has {} weight exponents, expected one per output ({outputs})",
            exponents.len()
        );
    }
    if let Some((o, e)) = exponents.iter().enumerate().find(|(_, e)| **e > 15) {
        bail!("layer {layer}: the weight exponent of output {o} is {e}, expected 0 to 15");
    }
    Ok(exponents
        .chunks(2)
        .map(|pair| pair[0] | pair.get(1).map_or(0, |hi| hi << 4))
        .collect())
}

/// One exponent per channel from packed nibbles.
fn unpack_nibbles(n: Nibbles<'_>, outputs: u32) -> Vec<u8> {
    (0..outputs as usize).map(|o| n.get(o)).collect()
}

fn lut_def(lut: &Option<Lut<'_>>) -> Option<LutDef> {
    lut.as_ref().map(|l| LutDef {
        input: l.input,
        table: l.table.iter().collect(),
    })
}

impl ModelDef {
    /// Encodes the model file (validated by model-format before it is returned).
    pub fn encode(&self) -> Result<Vec<u8>> {
        // Byte strings first, then a spec that borrows them.
        let mean = le_bytes(&self.input.mean);
        let scale = le_bytes(&self.input.scale);
        let metric_weights = match &self.scoring.metric {
            MetricDef::WeightedMse(w) | MetricDef::Standardized(w) => le_bytes(w),
            _ => Vec::new(),
        };
        let tensors = self
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| LayerBytes::of(i, l))
            .collect::<Result<Vec<_>>>()?;
        let mut layers = Layers::new();
        for (def, t) in self.layers.iter().zip(&tensors) {
            let lut = |lut: &Option<LutDef>| {
                lut.as_ref().map(|l| Lut {
                    input: l.input,
                    table: I8s::new(&t.table),
                })
            };
            let layer = match def {
                LayerDef::Dense {
                    inputs,
                    outputs,
                    activation,
                    ..
                } => Layer::Dense(Dense {
                    inputs: *inputs,
                    outputs: *outputs,
                    activation: *activation,
                    weights: F32s::new(&t.weights),
                    bias: F32s::new(&t.bias),
                }),
                LayerDef::TiedDense {
                    source, activation, ..
                } => Layer::TiedDense(TiedDense {
                    source: *source,
                    activation: *activation,
                    bias: F32s::new(&t.bias),
                }),
                LayerDef::DenseI8 {
                    inputs,
                    outputs,
                    activation,
                    input,
                    output,
                    weight_scale,
                    requant,
                    lut: l,
                    ..
                } => Layer::DenseI8(DenseI8 {
                    inputs: *inputs,
                    outputs: *outputs,
                    activation: *activation,
                    input: *input,
                    output: *output,
                    weight_scale: *weight_scale,
                    requant: *requant,
                    weights: I8s::new(&t.weights),
                    exponents: Nibbles::new(&t.exponents),
                    bias: I32s::new(&t.bias),
                    lut: lut(l),
                }),
                LayerDef::TiedDenseI8 {
                    source,
                    activation,
                    input,
                    output,
                    requant,
                    lut: l,
                    ..
                } => Layer::TiedDenseI8(TiedDenseI8 {
                    source: *source,
                    activation: *activation,
                    input: *input,
                    output: *output,
                    requant: *requant,
                    bias: I32s::new(&t.bias),
                    lut: lut(l),
                }),
            };
            if layers.push(layer).is_err() {
                bail!(
                    "the model has {} layers, the format allows at most {}",
                    self.layers.len(),
                    model_format::MAX_LAYERS
                );
            }
        }
        let spec = ModelSpec {
            kind: self.kind,
            input: InputSpec {
                channels: self.input.channels,
                window: self.input.window,
                hop: self.input.hop,
                mean: F32s::new(&mean),
                scale: F32s::new(&scale),
            },
            layers,
            codings_layer: self.codings_layer,
            scoring: ScoringSpec {
                metric: match &self.scoring.metric {
                    MetricDef::Mse => Metric::Mse,
                    MetricDef::Mae => Metric::Mae,
                    MetricDef::WeightedMse(_) => Metric::WeightedMse(F32s::new(&metric_weights)),
                    MetricDef::Standardized(_) => Metric::Standardized(F32s::new(&metric_weights)),
                },
                threshold: self.scoring.threshold,
                clear_threshold: self.scoring.clear_threshold,
                smoothing: self.scoring.smoothing,
                calibration: self.scoring.calibration,
            },
            provenance: Provenance {
                seed: self.provenance.seed,
                epochs: self.provenance.epochs,
                train_loss: self.provenance.train_loss,
                val_loss: self.provenance.val_loss,
                data_hash: self.provenance.data_hash,
                tool: &self.provenance.tool,
            },
        };
        spec.encode().context("the model is not valid")
    }

    /// The owned description of a loaded model, every layer copied as it is
    /// stored (f32 or int8).
    pub fn from_model(model: &Model<'_>) -> ModelDef {
        let input = model.input();
        let scoring = model.scoring();
        let prov = model.provenance();
        let layers = model
            .layers()
            .iter()
            .map(|layer| match layer {
                Layer::Dense(d) => LayerDef::Dense {
                    inputs: d.inputs,
                    outputs: d.outputs,
                    activation: d.activation,
                    weights: d.weights.iter().collect(),
                    bias: d.bias.iter().collect(),
                },
                Layer::TiedDense(t) => LayerDef::TiedDense {
                    source: t.source,
                    activation: t.activation,
                    bias: t.bias.iter().collect(),
                },
                Layer::DenseI8(d) => LayerDef::DenseI8 {
                    inputs: d.inputs,
                    outputs: d.outputs,
                    activation: d.activation,
                    input: d.input,
                    output: d.output,
                    weight_scale: d.weight_scale,
                    requant: d.requant,
                    weights: d.weights.iter().collect(),
                    exponents: unpack_nibbles(d.exponents, d.outputs),
                    bias: d.bias.iter().collect(),
                    lut: lut_def(&d.lut),
                },
                Layer::TiedDenseI8(t) => LayerDef::TiedDenseI8 {
                    source: t.source,
                    activation: t.activation,
                    input: t.input,
                    output: t.output,
                    requant: t.requant,
                    bias: t.bias.iter().collect(),
                    lut: lut_def(&t.lut),
                },
            })
            .collect();
        ModelDef {
            kind: model.kind(),
            input: InputDef {
                channels: input.channels,
                window: input.window,
                hop: input.hop,
                mean: input.mean.iter().collect(),
                scale: input.scale.iter().collect(),
            },
            layers,
            codings_layer: u16::try_from(model.codings_layer()).unwrap_or(u16::MAX),
            scoring: ScoringDef {
                metric: match scoring.metric {
                    Metric::Mse => MetricDef::Mse,
                    Metric::Mae => MetricDef::Mae,
                    Metric::WeightedMse(w) => MetricDef::WeightedMse(w.iter().collect()),
                    Metric::Standardized(w) => MetricDef::Standardized(w.iter().collect()),
                },
                threshold: scoring.threshold,
                clear_threshold: scoring.clear_threshold,
                smoothing: scoring.smoothing,
                calibration: scoring.calibration,
            },
            provenance: ProvenanceDef {
                seed: prov.seed,
                epochs: prov.epochs,
                train_loss: prov.train_loss,
                val_loss: prov.val_loss,
                data_hash: prov.data_hash,
                tool: prov.tool.to_string(),
            },
        }
    }

    /// Encodes and writes the model file atomically.
    pub fn write(&self, path: &Path) -> Result<usize> {
        let bytes = self.encode()?;
        crate::fsx::write_atomic(path, &bytes)?;
        Ok(bytes.len())
    }

    /// Reads a JSON model description (`edgeae pack`); errors name the file,
    /// line and column.
    pub fn from_json_file(path: &Path) -> Result<ModelDef> {
        let text = crate::fsx::read(path)?;
        serde_json::from_slice(&text)
            .with_context(|| format!("`{}` is not a valid model description", path.display()))
    }
}

/// FNV-1a 64-bit hash, for the provenance record of training data.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn tiny() -> ModelDef {
        ModelDef {
            kind: ModelKind::Tied,
            input: InputDef::identity(3, 1, 1),
            layers: vec![
                LayerDef::Dense {
                    inputs: 3,
                    outputs: 2,
                    activation: Activation::Selu,
                    weights: vec![0.1, 0.2, 0.3, -0.1, -0.2, -0.3],
                    bias: vec![0.0, 0.5],
                },
                LayerDef::TiedDense {
                    source: 0,
                    activation: Activation::Identity,
                    bias: vec![1.0, 2.0, 3.0],
                },
            ],
            codings_layer: 0,
            scoring: ScoringDef::default(),
            provenance: ProvenanceDef::default(),
        }
    }

    #[test]
    fn encodes_and_loads() {
        let bytes = tiny().encode().unwrap();
        let m = model_format::Model::load(&bytes).unwrap();
        assert_eq!(m.param_count(), 6 + 2 + 3);
        assert_eq!(m.provenance().tool, tool_name());
    }

    #[test]
    fn json_round_trip_and_defaults() {
        let def = tiny();
        let json = serde_json::to_string(&def).unwrap();
        // Infinity does not survive JSON; defaults fill the scoring in.
        let json = json
            .replace(r#""threshold":null,"#, "")
            .replace(r#""clear_threshold":null,"#, "");
        let back: ModelDef = serde_json::from_str(&json).unwrap();
        assert_eq!(back, def);
    }

    #[test]
    fn invalid_model_is_refused_with_the_reason() {
        let mut def = tiny();
        def.layers[1] = LayerDef::TiedDense {
            source: 4,
            activation: Activation::Identity,
            bias: vec![0.0; 3],
        };
        let err = format!("{:#}", def.encode().unwrap_err());
        assert!(err.contains("layer 1 is tied to layer 4"), "{err}");
    }

    fn tiny_int8() -> ModelDef {
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
        ModelDef {
            layers: vec![
                LayerDef::DenseI8 {
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
                    lut: Some(LutDef {
                        input: a,
                        table: (0..256).map(|i| (i / 2 - 64) as i8).collect(),
                    }),
                },
                LayerDef::TiedDenseI8 {
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
    fn int8_layers_encode_and_come_back() {
        let def = tiny_int8();
        let bytes = def.encode().unwrap();
        let m = model_format::Model::load(&bytes).unwrap();
        assert_eq!(m.header().version, 2);
        assert!(m.has_int8());
        assert_eq!(ModelDef::from_model(&m), def);
        // f32 models come back too.
        let f = tiny();
        let fb = f.encode().unwrap();
        let m = model_format::Model::load(&fb).unwrap();
        assert_eq!(m.header().version, 1);
        assert_eq!(ModelDef::from_model(&m), f);
        // And through JSON (`edgeae pack`).
        let json = serde_json::to_string(&def).unwrap();
        assert!(json.contains(r#""dense_i8""#), "{json}");
    }

    #[test]
    fn exponents_pack_two_per_byte() {
        assert_eq!(pack_nibbles(0, 3, &[1, 2, 15]).unwrap(), [0x21, 0x0f]);
        assert_eq!(pack_nibbles(0, 2, &[0, 7]).unwrap(), [0x70]);
        let n = [0x21u8, 0x0f];
        assert_eq!(unpack_nibbles(Nibbles::new(&n), 3), [1, 2, 15]);
        let err = pack_nibbles(4, 3, &[1, 2]).unwrap_err().to_string();
        assert!(err.contains("layer 4 has 2 weight exponents"), "{err}");
        let err = pack_nibbles(1, 2, &[1, 16]).unwrap_err().to_string();
        assert!(err.contains("output 1 is 16"), "{err}");
        // A bad int8 layer is refused by model-format, with the reason.
        let mut def = tiny_int8();
        if let LayerDef::DenseI8 { weights, .. } = &mut def.layers[0] {
            weights[0] = -128;
        }
        assert!(def.encode().is_err());
    }

    #[test]
    fn fnv_reference_values() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
