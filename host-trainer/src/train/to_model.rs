//! A trained network as a model file.

use anyhow::{Result, bail};
use model_format::{MapShape, Padding as FilePadding};

use super::prepare::Prepared;
use super::run::Trained;
use crate::nn::conv_shape::{self, Padding, PoolKind};
use crate::nn::net::{HostNet, LayerSpec, split_columns};
use crate::nn::recurrent::Cell;
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
                LayerSpec::Conv { spec, activation } => LayerBuf::Conv {
                    shape: map(spec.input, i)?,
                    filters: u32_of(spec.filters, i)?,
                    kernel: pair(spec.kernel, i)?,
                    stride: pair(spec.stride, i)?,
                    padding: padding(spec.padding),
                    activation,
                    weights: net.weights[i].clone().unwrap_or_default(),
                    bias: net.biases[i].clone(),
                },
                LayerSpec::ConvTranspose { spec, activation } => LayerBuf::ConvTranspose {
                    shape: map(spec.input, i)?,
                    filters: u32_of(spec.filters, i)?,
                    kernel: pair(spec.kernel, i)?,
                    stride: pair(spec.stride, i)?,
                    padding: padding(spec.padding),
                    activation,
                    weights: net.weights[i].clone().unwrap_or_default(),
                    bias: net.biases[i].clone(),
                },
                LayerSpec::Pool { spec } => LayerBuf::Pool {
                    shape: map(spec.input, i)?,
                    size: pair(spec.size, i)?,
                    kind: match spec.kind {
                        PoolKind::Max => model_format::PoolKind::Max,
                        PoolKind::Avg => model_format::PoolKind::Avg,
                    },
                },
                LayerSpec::Upsample { spec } => LayerBuf::Upsample {
                    shape: map(spec.input, i)?,
                    factor: pair(spec.factor, i)?,
                },
                LayerSpec::Recurrent { spec } => {
                    // The host keeps `[W_ih | W_hh]` rows and `b_ih` then a
                    // GRU's `b_hh` (nn::net::HostNet); the file keeps them apart.
                    let rows = spec.gate_rows();
                    let w = net.weights[i].as_deref().unwrap_or_default();
                    let Some((w_ih, w_hh)) = split_columns(w, rows, spec.inputs, spec.hidden)
                    else {
                        bail!("layer {i}: the {} weights do not match its sizes", l.name());
                    };
                    let bias = &net.biases[i];
                    let (b_ih, b_hh) = bias.split_at(rows.min(bias.len()));
                    LayerBuf::Recurrent {
                        cell: match spec.cell {
                            Cell::Lstm => model_format::Cell::Lstm,
                            Cell::Gru => model_format::Cell::Gru,
                        },
                        shape: MapShape::new(1, u32_of(spec.steps, i)?, u32_of(spec.inputs, i)?),
                        hidden: u32_of(spec.hidden, i)?,
                        sequences: spec.sequences,
                        w_ih,
                        w_hh,
                        b_ih: b_ih.to_vec(),
                        b_hh: b_hh.to_vec(),
                    }
                }
                // The codings repeated for every step: nearest-neighbour
                // upsampling of a 1 × 1 map along time (SPEC.md 3.3).
                LayerSpec::Repeat { width, steps } => LayerBuf::Upsample {
                    shape: MapShape::new(1, 1, u32_of(width, i)?),
                    factor: [1, u32_of(steps, i)?],
                },
                // The same dense layer at every step: a 1 × 1 convolution
                // over the 1 × steps × inputs map (weights `(outputs, inputs)`
                // are its OHWI filters).
                LayerSpec::TimeDense {
                    inputs,
                    outputs,
                    steps,
                    activation,
                } => LayerBuf::Conv {
                    shape: MapShape::new(1, u32_of(steps, i)?, u32_of(inputs, i)?),
                    filters: u32_of(outputs, i)?,
                    kernel: [1, 1],
                    stride: [1, 1],
                    padding: FilePadding::Valid,
                    activation,
                    weights: net.weights[i].clone().unwrap_or_default(),
                    bias: net.biases[i].clone(),
                },
            })
        })
        .collect()
}

/// A size in the file's `u32`, or which layer has one too large.
fn u32_of(n: usize, layer: usize) -> Result<u32> {
    match u32::try_from(n) {
        Ok(v) => Ok(v),
        Err(_) => bail!("layer {layer}: the size {n} does not fit the model file (32 bits)"),
    }
}

fn pair((a, b): (usize, usize), layer: usize) -> Result<[u32; 2]> {
    Ok([u32_of(a, layer)?, u32_of(b, layer)?])
}

fn map(m: conv_shape::MapShape, layer: usize) -> Result<MapShape> {
    Ok(MapShape::new(
        u32_of(m.h, layer)?,
        u32_of(m.w, layer)?,
        u32_of(m.c, layer)?,
    ))
}

fn padding(p: Padding) -> FilePadding {
    match p {
        Padding::Valid => FilePadding::Valid,
        Padding::Same => FilePadding::Same,
    }
}
