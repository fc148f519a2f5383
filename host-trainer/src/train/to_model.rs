//! A trained network as a model file.

use anyhow::{Result, bail};

use super::prepare::Prepared;
use super::run::Trained;
use crate::nn::net::{HostNet, LayerSpec};
use model_format::build::{InputBuf, LayerBuf, ModelBuf, ProvenanceBuf, ScoringBuf};

/// The model file description of a trained network. A VAE keeps its mean
/// head as the codings layer; the log-variance head is only needed to train.
pub fn model_def(trained: &Trained, data: &Prepared) -> Result<ModelBuf> {
    let cfg = &trained.config;
    let last = trained.history.last();
    Ok(ModelBuf {
        kind: cfg.kind.model_kind(),
        input: InputBuf {
            channels: data.normalizer.mean.len() as u32,
            window: cfg.window as u32,
            hop: cfg.hop as u32,
            mean: data.normalizer.mean.clone(),
            scale: data.normalizer.scale.clone(),
        },
        layers: layers(&trained.net)?,
        codings_layer: trained.net.spec.codings_layer as u16,
        scoring: ScoringBuf::default(),
        provenance: ProvenanceBuf {
            seed: cfg.seed,
            epochs: trained.history.len() as u32,
            train_loss: last.map(|r| r.train_loss as f32),
            val_loss: last.map(|r| r.val_loss as f32).filter(|v| v.is_finite()),
            data_hash: data.data_hash,
            tool: model_format::build::TOOL.to_string(),
        },
    })
}

/// The layers of `net` in model-file form.
pub fn layers(net: &HostNet) -> Result<Vec<LayerBuf>> {
    net.spec
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            Ok(match *l {
                LayerSpec::Dense {
                    inputs,
                    outputs,
                    activation,
                } => LayerBuf::Dense {
                    inputs: inputs as u32,
                    outputs: outputs as u32,
                    activation,
                    weights: net.weights[i].clone().unwrap_or_default(),
                    bias: net.biases[i].clone(),
                },
                LayerSpec::Tied { source, activation } => LayerBuf::TiedDense {
                    source: source as u16,
                    activation,
                    bias: net.biases[i].clone(),
                },
                LayerSpec::Conv { .. }
                | LayerSpec::ConvTranspose { .. }
                | LayerSpec::Pool { .. }
                | LayerSpec::Upsample { .. } => {
                    bail!(
                        "layer {i} ({}): the model file has no such layer yet",
                        l.name()
                    )
                }
            })
        })
        .collect()
}
