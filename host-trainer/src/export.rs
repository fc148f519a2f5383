//! The owned description of a model on the host, and its encoding into the
//! model file. Everything the trainer exports goes through [`ModelDef`],
//! which builds a [`model_format::ModelSpec`] and lets model-format validate
//! and encode it: the host never writes model bytes itself.

use std::path::Path;

use anyhow::{Context, Result, bail};
use model_format::{
    Activation, Calibration, Dense, F32s, InputSpec, Layer, Layers, Metric, ModelKind, ModelSpec,
    Provenance, ScoringSpec, TiedDense,
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

fn le_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

impl ModelDef {
    /// Encodes the model file (validated by model-format before it is returned).
    pub fn encode(&self) -> Result<Vec<u8>> {
        // Byte strings first, then a spec that borrows them.
        let mean = le_bytes(&self.input.mean);
        let scale = le_bytes(&self.input.scale);
        let metric_weights = match &self.scoring.metric {
            MetricDef::WeightedMse(w) => le_bytes(w),
            _ => Vec::new(),
        };
        let tensors: Vec<(Vec<u8>, Vec<u8>)> = self
            .layers
            .iter()
            .map(|l| match l {
                LayerDef::Dense { weights, bias, .. } => (le_bytes(weights), le_bytes(bias)),
                LayerDef::TiedDense { bias, .. } => (Vec::new(), le_bytes(bias)),
            })
            .collect();
        let mut layers = Layers::new();
        for (def, (w, b)) in self.layers.iter().zip(&tensors) {
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
                    weights: F32s::new(w),
                    bias: F32s::new(b),
                }),
                LayerDef::TiedDense {
                    source, activation, ..
                } => Layer::TiedDense(TiedDense {
                    source: *source,
                    activation: *activation,
                    bias: F32s::new(b),
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

    #[test]
    fn fnv_reference_values() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
