//! A stack of layers with run-time widths: dense and tied-dense layers, the
//! shape every dense autoencoder kind shares, the convolutional layers of
//! [`super::conv`] (convolution, transposed convolution, pooling,
//! upsampling) over channel-last feature maps, and the sequence layers of
//! [`super::recurrent`] (LSTM and GRU, repeat, time-distributed dense) over
//! time-major, channel-last sequences; plus the optional log-variance head
//! of a variational autoencoder.
//!
//! # Initialisation
//!
//! Dense, convolutional and time-distributed dense weights: LeCun normal
//! for SELU layers, Glorot uniform otherwise ([`init_weights`]). Recurrent
//! layers as Keras initialises them: `W_ih` Glorot uniform over fan-in
//! `inputs` and fan-out `G·hidden`, each gate's `hidden × hidden` block of
//! `W_hh` a random orthogonal matrix (Gram–Schmidt on Gaussian rows), so
//! that the recurrence neither grows nor shrinks the state at the start;
//! biases zero, except the LSTM's forget gate, whose bias starts at 1 (the
//! state is kept until training learns to forget it; Jozefowicz et al.,
//! 2015). Biases of other layers start at zero.

use std::ops::Range;

use anyhow::{Result, bail};
use dfdx::prelude::*;
use model_format::Activation;
use rand::Rng;

use crate::rng::{self, Seeded};
use rand_distr::{Distribution, Normal, Uniform};
use serde::{Deserialize, Serialize};

use super::conv::MapOp;
use super::conv_shape::{ConvSpec, ConvTransposeSpec, PoolSpec, UpsampleSpec};
use super::matmul::Layout;
use super::recurrent::{Cell, RnnSpec, SeqOp, SeqParams};
use super::{Backend, DevResult, Mat, Real, Vector, act};

/// One layer's structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LayerSpec {
    /// `y = act(x·Wᵀ + b)`, `W` of shape `(outputs, inputs)`.
    Dense {
        /// Input width.
        inputs: usize,
        /// Output width.
        outputs: usize,
        /// Activation.
        activation: Activation,
    },
    /// `y = act(x·W_src + b)` with the weights of dense layer `source`.
    Tied {
        /// Index of the dense layer whose weights are reused.
        source: usize,
        /// Activation.
        activation: Activation,
    },
    /// `y = act(conv(x, W) + b)`, `W` of shape `(filters, kh·kw·c)` (OHWI),
    /// one bias per filter.
    Conv {
        /// Geometry.
        spec: ConvSpec,
        /// Activation.
        activation: Activation,
    },
    /// `y = act(convᵀ(x, W) + b)`, `W` of shape `(filters, kh·kw·c)`.
    ConvTranspose {
        /// Geometry.
        spec: ConvTransposeSpec,
        /// Activation.
        activation: Activation,
    },
    /// Max or average pooling (no parameters).
    Pool {
        /// Geometry.
        spec: PoolSpec,
    },
    /// Nearest-neighbour upsampling (no parameters).
    Upsample {
        /// Geometry.
        spec: UpsampleSpec,
    },
    /// An LSTM or GRU layer over `(batch, steps·inputs)` sequences, to the
    /// last hidden state `(batch, hidden)` or (`spec.sequences`) every one,
    /// `(batch, steps·hidden)`. Weights `W_ih` and `W_hh`, bias `b_ih`, and
    /// for a GRU the recurrent bias `b_hh` (see [`super::recurrent`]); no
    /// activation besides the cell's own.
    Recurrent {
        /// Cell and sizes.
        spec: RnnSpec,
    },
    /// Each row, a vector of `width` values, repeated `steps` times:
    /// `(batch, width)` to `(batch, steps·width)` (no parameters).
    Repeat {
        /// Values per row.
        width: usize,
        /// Time steps.
        steps: usize,
    },
    /// `y_t = act(x_t·Wᵀ + b)` at each of `steps` time steps, `W` of shape
    /// `(outputs, inputs)`: `(batch, steps·inputs)` to `(batch, steps·outputs)`.
    TimeDense {
        /// Values per step in.
        inputs: usize,
        /// Values per step out.
        outputs: usize,
        /// Time steps.
        steps: usize,
        /// Activation.
        activation: Activation,
    },
}

impl LayerSpec {
    /// The activation (identity for pooling and upsampling).
    pub fn activation(&self) -> Activation {
        match *self {
            LayerSpec::Dense { activation, .. }
            | LayerSpec::Tied { activation, .. }
            | LayerSpec::Conv { activation, .. }
            | LayerSpec::ConvTranspose { activation, .. }
            | LayerSpec::TimeDense { activation, .. } => activation,
            LayerSpec::Pool { .. }
            | LayerSpec::Upsample { .. }
            | LayerSpec::Recurrent { .. }
            | LayerSpec::Repeat { .. } => Activation::Identity,
        }
    }

    /// The layer's name in messages and architecture strings.
    pub fn name(&self) -> &'static str {
        match self {
            LayerSpec::Dense { .. } => "dense",
            LayerSpec::Tied { .. } => "tied dense",
            LayerSpec::Conv { .. } => "convolution",
            LayerSpec::ConvTranspose { .. } => "transposed convolution",
            LayerSpec::Pool { .. } => "pooling",
            LayerSpec::Upsample { .. } => "upsampling",
            LayerSpec::Recurrent { spec } => spec.cell.name(),
            LayerSpec::Repeat { .. } => "repeat",
            LayerSpec::TimeDense { .. } => "time-distributed dense",
        }
    }

    /// True for the layers over feature maps.
    pub fn is_map(&self) -> bool {
        matches!(
            self,
            LayerSpec::Conv { .. }
                | LayerSpec::ConvTranspose { .. }
                | LayerSpec::Pool { .. }
                | LayerSpec::Upsample { .. }
        )
    }

    /// True for the layers over sequences (recurrent, repeat,
    /// time-distributed dense).
    pub fn is_sequence(&self) -> bool {
        matches!(
            self,
            LayerSpec::Recurrent { .. } | LayerSpec::Repeat { .. } | LayerSpec::TimeDense { .. }
        )
    }

    /// `(inputs, outputs)` of a layer that is not tied, or why its shapes
    /// do not work out.
    fn own_widths(&self) -> Result<(usize, usize)> {
        Ok(match *self {
            LayerSpec::Dense {
                inputs, outputs, ..
            } => (inputs, outputs),
            LayerSpec::Conv { spec, .. } => (spec.input.len(), spec.output()?.len()),
            LayerSpec::ConvTranspose { spec, .. } => (spec.input.len(), spec.output()?.len()),
            LayerSpec::Pool { spec } => (spec.input.len(), spec.output()?.len()),
            LayerSpec::Upsample { spec } => (spec.input.len(), spec.output()?.len()),
            LayerSpec::Recurrent { spec } => {
                spec.check()?;
                (spec.input_len(), spec.output_len())
            }
            LayerSpec::Repeat { width, steps } => match width.checked_mul(steps) {
                Some(out) => (width, out),
                None => bail!("repeating {width} values {steps} times is too large"),
            },
            LayerSpec::TimeDense {
                inputs,
                outputs,
                steps,
                ..
            } => match (steps.checked_mul(inputs), steps.checked_mul(outputs)) {
                (Some(i), Some(o)) => (i, o),
                _ => bail!("{steps} steps of {inputs} inputs and {outputs} outputs are too large"),
            },
            LayerSpec::Tied { .. } => bail!("a tied layer has the widths of its source, swapped"),
        })
    }
}

/// The structure of a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetSpec {
    /// Layers in order, encoder then decoder.
    pub layers: Vec<LayerSpec>,
    /// Index of the last encoder layer (the codings; for a VAE, the mean head).
    pub codings_layer: usize,
    /// VAE: a log-variance head beside the codings layer, same shape, identity.
    pub logvar_head: bool,
    /// A second decoder (a recurrent autoencoder that predicts the frames
    /// after its window): `layers[p..]` read the codings and output the
    /// predicted frames, and the reconstructing decoder is
    /// `layers[codings_layer + 1..p]` (empty when the network only
    /// predicts). Not in a checkpoint's version-2 body: its trailing
    /// record carries it (`train::checkpoint`).
    #[serde(skip)]
    pub predict_from: Option<usize>,
}

impl NetSpec {
    /// `(inputs, outputs)` of layer `i`.
    pub fn widths(&self, i: usize) -> Option<(usize, usize)> {
        match *self.layers.get(i)? {
            LayerSpec::Tied { source, .. } => {
                let (i, o) = self.widths(source)?;
                Some((o, i))
            }
            ref l => l.own_widths().ok(),
        }
    }

    /// The shape of layer `i`'s weight matrix (`W_ih` of a recurrent
    /// layer), `None` for layers without their own weights (tied, pooling,
    /// upsampling, repeat).
    pub fn weight_shape(&self, i: usize) -> Option<(usize, usize)> {
        match *self.layers.get(i)? {
            LayerSpec::Dense {
                inputs, outputs, ..
            }
            | LayerSpec::TimeDense {
                inputs, outputs, ..
            } => Some((outputs, inputs)),
            LayerSpec::Conv { spec, .. } => Some(spec.weight_shape()),
            LayerSpec::ConvTranspose { spec, .. } => Some(spec.weight_shape()),
            LayerSpec::Recurrent { spec } => Some(spec.weight_ih_shape()),
            LayerSpec::Tied { .. }
            | LayerSpec::Pool { .. }
            | LayerSpec::Upsample { .. }
            | LayerSpec::Repeat { .. } => None,
        }
    }

    /// The shape of a recurrent layer's `W_hh`, `(G·hidden, hidden)`;
    /// `None` for every other layer.
    pub fn recurrent_weight_shape(&self, i: usize) -> Option<(usize, usize)> {
        match self.layers.get(i)? {
            LayerSpec::Recurrent { spec } => Some(spec.weight_hh_shape()),
            _ => None,
        }
    }

    /// The length of a GRU layer's recurrent bias `b_hh`; `None` for every
    /// other layer (an LSTM has one bias).
    pub fn recurrent_bias_len(&self, i: usize) -> Option<usize> {
        match self.layers.get(i)? {
            LayerSpec::Recurrent { spec } => spec.recurrent_bias_len(),
            _ => None,
        }
    }

    /// Layer `i`'s bias length: one per output of a dense or tied layer
    /// (per step of a time-distributed one), one per filter of a
    /// convolution, `G·hidden` (`b_ih`) for a recurrent layer, none for
    /// pooling, upsampling and repeat.
    pub fn bias_len(&self, i: usize) -> usize {
        match self.layers.get(i) {
            Some(LayerSpec::Conv { spec, .. }) => spec.filters,
            Some(LayerSpec::ConvTranspose { spec, .. }) => spec.filters,
            Some(LayerSpec::Recurrent { spec }) => spec.gate_rows(),
            Some(LayerSpec::TimeDense { outputs, .. }) => *outputs,
            Some(
                LayerSpec::Pool { .. } | LayerSpec::Upsample { .. } | LayerSpec::Repeat { .. },
            )
            | None => 0,
            Some(LayerSpec::Dense { .. } | LayerSpec::Tied { .. }) => {
                self.widths(i).map_or(0, |w| w.1)
            }
        }
    }

    /// Fan-in and fan-out of layer `i`'s weights, for initialisation.
    fn fans(&self, i: usize) -> (usize, usize) {
        match self.layers.get(i) {
            Some(LayerSpec::Conv { spec, .. }) => {
                let k = spec.kernel.0 * spec.kernel.1;
                (k * spec.input.c, k * spec.filters)
            }
            Some(LayerSpec::ConvTranspose { spec, .. }) => {
                let k = spec.kernel.0 * spec.kernel.1;
                (k * spec.input.c, k * spec.filters)
            }
            Some(LayerSpec::Recurrent { spec }) => (spec.inputs, spec.gate_rows()),
            Some(LayerSpec::TimeDense {
                inputs, outputs, ..
            }) => (*inputs, *outputs),
            _ => self.widths(i).unwrap_or((0, 0)),
        }
    }

    /// One past the last layer of the reconstructing path (all layers
    /// without a predicting decoder).
    pub fn reconstruction_end(&self) -> usize {
        self.predict_from.unwrap_or(self.layers.len())
    }

    /// Whether the network has a decoder that reconstructs its input.
    pub fn reconstructs(&self) -> bool {
        self.reconstruction_end() > self.codings_layer + 1
    }

    /// The layers that predict the frames after the window: the encoder,
    /// then the predicting decoder (empty without one).
    pub fn predict_path(&self) -> Vec<usize> {
        match self.predict_from {
            Some(p) => (0..=self.codings_layer)
                .chain(p..self.layers.len())
                .collect(),
            None => Vec::new(),
        }
    }

    /// Checks that layers chain, ties point at earlier dense layers and the
    /// output width equals the input width; with a predicting decoder, that
    /// it starts after the codings and chains from them.
    pub fn check(&self) -> Result<()> {
        let Some((input, _)) = self.widths(0) else {
            bail!("a network needs at least one layer")
        };
        if let Some(p) = self.predict_from {
            if p <= self.codings_layer || p >= self.layers.len() {
                bail!(
                    "the predicting decoder starts at layer {p}, not after the codings layer {} and before layer {}",
                    self.codings_layer,
                    self.layers.len()
                );
            }
            let mut width = self.codings_len();
            for i in p..self.layers.len() {
                let (inp, out) = self.widths(i).unwrap_or((0, 0));
                if inp != width || inp == 0 || out == 0 {
                    bail!("layer {i} takes {inp} values but receives {width}");
                }
                width = out;
            }
        }
        let end = self.reconstruction_end();
        let mut width = input;
        for (i, l) in self.layers.iter().enumerate() {
            if let LayerSpec::Tied { source, .. } = l
                && (*source >= i || !matches!(self.layers[*source], LayerSpec::Dense { .. }))
            {
                bail!("layer {i} is tied to layer {source}, which is not an earlier dense layer");
            }
            if !matches!(l, LayerSpec::Tied { .. }) {
                l.own_widths()
                    .map_err(|e| anyhow::anyhow!("layer {i} ({}): {e:#}", l.name()))?;
            }
            if i >= end {
                continue;
            }
            let (inp, out) = self.widths(i).unwrap_or((0, 0));
            if inp != width || inp == 0 || out == 0 {
                bail!("layer {i} takes {inp} values but receives {width}");
            }
            width = out;
        }
        if self.codings_layer + 1 >= self.layers.len() {
            bail!("codings layer {} leaves no decoder", self.codings_layer);
        }
        if self.reconstructs() && width != input {
            bail!("the network outputs {width} values for {input} inputs");
        }
        if self.logvar_head
            && !matches!(
                self.layers.get(self.codings_layer),
                Some(LayerSpec::Dense { .. })
            )
        {
            bail!(
                "a variational network needs a dense codings layer (layer {} is not)",
                self.codings_layer
            );
        }
        Ok(())
    }

    /// Multiply-accumulates of one forward pass of one sample.
    pub fn macs(&self) -> usize {
        (0..self.layers.len())
            .map(|i| match self.layers[i] {
                LayerSpec::Conv { spec, .. } => {
                    let (f, patch) = spec.weight_shape();
                    spec.output().map_or(0, |o| o.positions() * f * patch)
                }
                LayerSpec::ConvTranspose { spec, .. } => {
                    let (f, patch) = spec.weight_shape();
                    spec.input.positions() * f * patch
                }
                LayerSpec::Pool { spec } => spec.input.len(),
                LayerSpec::Upsample { spec } => spec.output().map_or(0, |o| o.len()),
                LayerSpec::Recurrent { spec } => {
                    spec.steps * spec.gate_rows() * (spec.inputs + spec.hidden)
                }
                LayerSpec::Repeat { width, steps } => width * steps,
                LayerSpec::TimeDense {
                    inputs,
                    outputs,
                    steps,
                    ..
                } => steps * inputs * outputs,
                LayerSpec::Dense { .. } | LayerSpec::Tied { .. } => {
                    self.widths(i).map_or(0, |(a, b)| a * b)
                }
            })
            .sum()
    }

    /// Input (and output) width.
    pub fn input_len(&self) -> usize {
        self.widths(0).map_or(0, |w| w.0)
    }

    /// Codings width.
    pub fn codings_len(&self) -> usize {
        self.widths(self.codings_layer).map_or(0, |w| w.1)
    }
}

/// Names a parameter tensor, stable across runs (checkpoints use it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ParamId {
    /// Weights of dense layer `i`.
    Weight(usize),
    /// Bias of layer `i`.
    Bias(usize),
    /// Weights of the VAE log-variance head.
    LogvarWeight,
    /// Bias of the VAE log-variance head.
    LogvarBias,
    /// Recurrent weights `W_hh` of recurrent layer `i`.
    RecurrentWeight(usize),
    /// Recurrent bias `b_hh` of GRU layer `i`.
    RecurrentBias(usize),
}

/// Something that visits parameter tensors (the optimiser, checkpoints).
pub trait ParamVisitor<E: Real, D: Backend<E>> {
    /// Called once per parameter.
    fn visit<S: Shape>(&mut self, id: ParamId, t: &mut Tensor<S, E, D>) -> Result<()>;
}

/// A network's parameters on a device.
#[derive(Debug, Clone)]
pub struct Net<E: Real, D: Backend<E>> {
    /// Structure.
    pub spec: NetSpec,
    /// Per layer: the weights (`W_ih` of a recurrent layer), `None` for
    /// layers without their own.
    pub weights: Vec<Option<Mat<E, D>>>,
    /// Per layer: the bias (`b_ih` of a recurrent layer).
    pub biases: Vec<Vector<E, D>>,
    /// Per layer: a recurrent layer's `W_hh`, `None` for the others.
    pub recurrent_weights: Vec<Option<Mat<E, D>>>,
    /// Per layer: a GRU layer's recurrent bias `b_hh`, `None` for the others.
    pub recurrent_biases: Vec<Option<Vector<E, D>>>,
    /// VAE log-variance head (weights `(codings, inputs)`, bias).
    pub logvar: Option<(Mat<E, D>, Vector<E, D>)>,
    /// Per layer: the feature-map operation (index tables built once),
    /// `None` for the other layers.
    ops: Vec<Option<MapOp>>,
    /// Per layer: the sequence operation, `None` for the other layers.
    seq_ops: Vec<Option<SeqOp>>,
}

/// The feature-map operations of `spec`'s layers.
fn map_ops(spec: &NetSpec) -> Result<Vec<Option<MapOp>>> {
    spec.layers.iter().map(MapOp::for_layer).collect()
}

/// The sequence operations of `spec`'s layers.
fn seq_ops(spec: &NetSpec) -> Result<Vec<Option<SeqOp>>> {
    spec.layers.iter().map(SeqOp::for_layer).collect()
}

/// `blocks` random orthogonal `n × n` matrices one after the other
/// (row-major): Gaussian rows made orthonormal by modified Gram–Schmidt.
fn orthogonal_blocks<E: Real>(rng: &mut Seeded, blocks: usize, n: usize) -> Vec<E> {
    let normal = Normal::new(0.0, 1.0).unwrap_or_else(|_| unreachable!());
    let mut out = Vec::with_capacity(blocks * n * n);
    for _ in 0..blocks {
        let mut rows: Vec<Vec<f64>> = Vec::with_capacity(n);
        for k in 0..n {
            let mut v: Vec<f64> = (0..n).map(|_| normal.sample(rng)).collect();
            for r in &rows {
                let d: f64 = v.iter().zip(r).map(|(a, b)| a * b).sum();
                v.iter_mut().zip(r).for_each(|(a, b)| *a -= d * b);
            }
            let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
            if norm > 1e-9 {
                v.iter_mut().for_each(|a| *a /= norm);
            } else {
                // Gaussian rows are independent with probability 1; a unit
                // vector keeps the block well defined if they are not.
                v = (0..n).map(|j| if j == k { 1.0 } else { 0.0 }).collect();
            }
            rows.push(v);
        }
        out.extend(rows.into_iter().flatten().map(super::c::<E>));
    }
    out
}

/// A recurrent layer's initial `b_ih`: zeros, the LSTM's forget gate 1.
fn recurrent_bias<E: Real>(spec: &RnnSpec) -> Vec<E> {
    let h = spec.hidden;
    (0..spec.gate_rows())
        .map(|j| {
            let forget = spec.cell == Cell::Lstm && (h..2 * h).contains(&j);
            if forget { E::one() } else { E::zero() }
        })
        .collect()
}

/// Random initial weights: LeCun normal (`N(0, 1/fan_in)`) for SELU layers,
/// as self-normalising networks need, Glorot uniform for the others; zero biases.
fn init_weights<E: Real>(
    rng: &mut Seeded,
    n: usize,
    (inputs, outputs): (usize, usize),
    activation: Activation,
) -> Vec<E> {
    match activation {
        Activation::Selu => {
            let normal = Normal::new(0.0, (1.0 / inputs as f64).sqrt())
                .unwrap_or(Normal::new(0.0, 1.0).unwrap_or_else(|_| unreachable!()));
            (0..n).map(|_| super::c(normal.sample(rng))).collect()
        }
        _ => {
            let limit = (6.0 / (inputs + outputs) as f64).sqrt();
            let uniform = Uniform::new_inclusive(-limit, limit);
            (0..n).map(|_| super::c(uniform.sample(rng))).collect()
        }
    }
}

impl<E: Real, D: Backend<E>> Net<E, D> {
    /// A network with freshly initialised parameters (deterministic in `seed`).
    pub fn init(dev: &D, spec: NetSpec, seed: u64) -> Result<Self> {
        spec.check()?;
        let mut rng = rng::seeded(seed);
        let mut weights = Vec::new();
        let mut biases = Vec::new();
        let mut recurrent_weights = Vec::new();
        let mut recurrent_biases = Vec::new();
        for (i, l) in spec.layers.iter().enumerate() {
            weights.push(spec.weight_shape(i).map(|(rows, cols)| {
                let w = init_weights(&mut rng, rows * cols, spec.fans(i), l.activation());
                dev.tensor_from_vec(w, (rows, cols))
            }));
            recurrent_weights.push(spec.recurrent_weight_shape(i).map(|(rows, cols)| {
                let blocks = rows / cols.max(1);
                dev.tensor_from_vec(orthogonal_blocks(&mut rng, blocks, cols), (rows, cols))
            }));
            recurrent_biases.push(spec.recurrent_bias_len(i).map(|n| dev.zeros_like(&(n,))));
            biases.push(match l {
                LayerSpec::Recurrent { spec: r } => {
                    dev.tensor_from_vec(recurrent_bias(r), (r.gate_rows(),))
                }
                _ => dev.zeros_like(&(spec.bias_len(i),)),
            });
        }
        let logvar = if spec.logvar_head {
            let (inp, out) = spec.widths(spec.codings_layer).unwrap_or((0, 0));
            // Start near log-variance 0 with small weights.
            let w: Vec<E> = (0..inp * out)
                .map(|_| super::c(rng.gen_range(-0.01..0.01)))
                .collect();
            Some((dev.tensor_from_vec(w, (out, inp)), dev.zeros_like(&(out,))))
        } else {
            None
        };
        Ok(Net {
            ops: map_ops(&spec)?,
            seq_ops: seq_ops(&spec)?,
            spec,
            weights,
            biases,
            recurrent_weights,
            recurrent_biases,
            logvar,
        })
    }

    /// Layers `0..n`.
    pub fn all(&self) -> Range<usize> {
        0..self.spec.layers.len()
    }

    /// The encoder layers (through the codings layer).
    pub fn encoder(&self) -> Range<usize> {
        0..self.spec.codings_layer + 1
    }

    /// The decoder layers (the reconstructing one, with two decoders).
    pub fn decoder(&self) -> Range<usize> {
        self.spec.codings_layer + 1..self.spec.reconstruction_end()
    }

    /// Layer `i` with `activation`: dense and tied layers as one operation
    /// ([`Backend::dense`]; `input_grad` false leaves the gradient of `x`
    /// out), the others before their activation, which follows.
    fn layer<T: Tape<E, D> + Merge<T>>(
        &self,
        i: usize,
        x: Mat<E, D, T>,
        activation: Activation,
        input_grad: bool,
    ) -> Result<Mat<E, D, T>> {
        let (Some(layer), Some(b)) = (self.spec.layers.get(i), self.biases.get(i)) else {
            bail!("no layer {i}")
        };
        if layer.is_map() {
            let Some(Some(op)) = self.ops.get(i) else {
                bail!("layer {i} has no feature-map operation")
            };
            let w = self.weights.get(i).and_then(Option::as_ref);
            return Ok(act::apply(activation, D::map_op(op, x, w, b)?));
        }
        if layer.is_sequence() {
            let Some(Some(op)) = self.seq_ops.get(i) else {
                bail!("layer {i} has no sequence operation")
            };
            let p = SeqParams {
                w: self.weights.get(i).and_then(Option::as_ref),
                w_hh: self.recurrent_weights.get(i).and_then(Option::as_ref),
                b,
                b_hh: self.recurrent_biases.get(i).and_then(Option::as_ref),
            };
            return Ok(act::apply(activation, D::seq_op(op, x, &p)?));
        }
        let (w, layout) = match *layer {
            LayerSpec::Dense { .. } => {
                let Some(Some(w)) = self.weights.get(i) else {
                    bail!("layer {i} has no weights")
                };
                (w, Layout::Transposed)
            }
            LayerSpec::Tied { source, .. } => {
                let Some(Some(w)) = self.weights.get(source) else {
                    bail!("layer {i} is tied to layer {source}, which has no weights")
                };
                (w, Layout::AsStored)
            }
            LayerSpec::Conv { .. }
            | LayerSpec::ConvTranspose { .. }
            | LayerSpec::Pool { .. }
            | LayerSpec::Upsample { .. } => bail!("layer {i} is a feature-map layer"),
            LayerSpec::Recurrent { .. }
            | LayerSpec::Repeat { .. }
            | LayerSpec::TimeDense { .. } => {
                bail!("layer {i} is a sequence layer")
            }
        };
        D::dense(x, w, layout, b, activation, input_grad)
    }

    /// Runs the layers in `path` (indices, in order). With `logits` the last
    /// layer's activation is left out (for losses that take logits).
    pub fn forward<T: Tape<E, D> + Merge<T>>(
        &self,
        x: Mat<E, D, T>,
        path: impl IntoIterator<Item = usize>,
        logits: bool,
    ) -> Result<Mat<E, D, T>> {
        self.forward_path(x, path, logits, true)
    }

    /// [`Net::forward`] for an `x` whose gradient nothing reads (training
    /// data): the first layer's backward pass skips it.
    pub fn forward_data<T: Tape<E, D> + Merge<T>>(
        &self,
        x: Mat<E, D, T>,
        path: impl IntoIterator<Item = usize>,
        logits: bool,
    ) -> Result<Mat<E, D, T>> {
        self.forward_path(x, path, logits, false)
    }

    fn forward_path<T: Tape<E, D> + Merge<T>>(
        &self,
        x: Mat<E, D, T>,
        path: impl IntoIterator<Item = usize>,
        logits: bool,
        input_grad: bool,
    ) -> Result<Mat<E, D, T>> {
        let path: Vec<usize> = path.into_iter().collect();
        let mut h = x;
        for (k, &i) in path.iter().enumerate() {
            let last = k + 1 == path.len();
            let activation = match self.spec.layers.get(i) {
                Some(l) if !(logits && last) => l.activation(),
                _ => Activation::Identity,
            };
            h = self.layer(i, h, activation, input_grad || k > 0)?;
        }
        Ok(h)
    }

    /// VAE: the log-variance head applied to `h` (the codings layer's input).
    pub fn logvar<T: Tape<E, D> + Merge<T>>(&self, h: Mat<E, D, T>) -> Result<Mat<E, D, T>> {
        let Some((w, b)) = &self.logvar else {
            bail!("this network has no log-variance head")
        };
        let (batch, _) = *h.shape();
        let out = b.shape().0;
        let y = h
            .try_matmul(w.retaped::<T>().try_permute::<_, Axes2<1, 0>>().dev()?)
            .dev()?;
        y.try_add(
            b.retaped::<T>()
                .try_broadcast_like::<_, Axis<0>>(&(batch, out))
                .dev()?,
        )
        .dev()
    }

    /// Visits every parameter that `filter` selects.
    pub fn visit<V: ParamVisitor<E, D>>(
        &mut self,
        filter: impl Fn(ParamId) -> bool,
        v: &mut V,
    ) -> Result<()> {
        for (i, w) in self.weights.iter_mut().enumerate() {
            if let Some(w) = w
                && filter(ParamId::Weight(i))
            {
                v.visit(ParamId::Weight(i), w)?;
            }
        }
        for (i, b) in self.biases.iter_mut().enumerate() {
            // Pooling and upsampling have no bias (an empty tensor no loss reaches).
            if b.shape().0 > 0 && filter(ParamId::Bias(i)) {
                v.visit(ParamId::Bias(i), b)?;
            }
        }
        for (i, w) in self.recurrent_weights.iter_mut().enumerate() {
            if let Some(w) = w
                && filter(ParamId::RecurrentWeight(i))
            {
                v.visit(ParamId::RecurrentWeight(i), w)?;
            }
        }
        for (i, b) in self.recurrent_biases.iter_mut().enumerate() {
            if let Some(b) = b
                && filter(ParamId::RecurrentBias(i))
            {
                v.visit(ParamId::RecurrentBias(i), b)?;
            }
        }
        if let Some((w, b)) = &mut self.logvar {
            if filter(ParamId::LogvarWeight) {
                v.visit(ParamId::LogvarWeight, w)?;
            }
            if filter(ParamId::LogvarBias) {
                v.visit(ParamId::LogvarBias, b)?;
            }
        }
        Ok(())
    }

    /// Number of parameters.
    pub fn param_count(&self) -> usize {
        let w: usize = self
            .weights
            .iter()
            .flatten()
            .map(|w| w.shape().num_elements())
            .sum();
        let b: usize = self.biases.iter().map(|b| b.shape().num_elements()).sum();
        let rw: usize = self
            .recurrent_weights
            .iter()
            .flatten()
            .map(|w| w.shape().num_elements())
            .sum();
        let rb: usize = self
            .recurrent_biases
            .iter()
            .flatten()
            .map(|b| b.shape().num_elements())
            .sum();
        let lv = self.logvar.as_ref().map_or(0, |(w, b)| {
            w.shape().num_elements() + b.shape().num_elements()
        });
        w + b + rw + rb + lv
    }
}

/// A network's parameters in host memory (checkpoints, export, tests).
///
/// A recurrent layer's parameters sit in the same two fields as every
/// other layer's, so that checkpoints written before recurrent layers
/// existed keep their layout: its weights are `[W_ih | W_hh]`, the
/// row-major `(G·hidden, inputs + hidden)` matrix whose rows are a row of
/// `W_ih` followed by the same row of `W_hh`; its bias is `b_ih`, followed
/// for a GRU by `b_hh` (as ONNX concatenates them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostNet {
    /// Structure.
    pub spec: NetSpec,
    /// Per layer: row-major `(outputs, inputs)` weights of the layers that
    /// have their own (`[W_ih | W_hh]` for a recurrent layer).
    pub weights: Vec<Option<Vec<f32>>>,
    /// Per layer: bias (`b_ih`, then a GRU's `b_hh`).
    pub biases: Vec<Vec<f32>>,
    /// VAE log-variance head: `(codings, inputs)` weights and bias.
    pub logvar: Option<(Vec<f32>, Vec<f32>)>,
}

fn to_f32<E: Real>(v: Vec<E>) -> Vec<f32> {
    v.into_iter().map(|x| Into::<f64>::into(x) as f32).collect()
}

fn from_f32<E: Real>(v: &[f32]) -> Vec<E> {
    v.iter().map(|x| super::c::<E>(f64::from(*x))).collect()
}

/// The row-major matrix whose rows are `a`'s rows (`a_cols` wide) each
/// followed by the same row of `b` (`b_cols` wide).
fn join_columns(a: &[f32], a_cols: usize, b: &[f32], b_cols: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    for (ra, rb) in a
        .chunks_exact(a_cols.max(1))
        .zip(b.chunks_exact(b_cols.max(1)))
    {
        out.extend_from_slice(ra);
        out.extend_from_slice(rb);
    }
    out
}

/// The inverse of [`join_columns`] for a matrix of `rows` rows.
pub fn split_columns(
    m: &[f32],
    rows: usize,
    a_cols: usize,
    b_cols: usize,
) -> Option<(Vec<f32>, Vec<f32>)> {
    let cols = a_cols.checked_add(b_cols)?;
    if a_cols == 0 || b_cols == 0 || rows.checked_mul(cols)? != m.len() {
        return None;
    }
    let mut a = Vec::with_capacity(rows * a_cols);
    let mut b = Vec::with_capacity(rows * b_cols);
    for row in m.chunks_exact(cols) {
        let (ra, rb) = row.split_at(a_cols);
        a.extend_from_slice(ra);
        b.extend_from_slice(rb);
    }
    Some((a, b))
}

impl<E: Real, D: Backend<E>> Net<E, D> {
    /// Copies the parameters to the host.
    pub fn to_host(&self) -> HostNet {
        HostNet {
            spec: self.spec.clone(),
            weights: self
                .weights
                .iter()
                .zip(&self.recurrent_weights)
                .map(|(w, r)| {
                    let w = w.as_ref()?;
                    Some(match r {
                        Some(r) => join_columns(
                            &to_f32(w.as_vec()),
                            w.shape().1,
                            &to_f32(r.as_vec()),
                            r.shape().1,
                        ),
                        None => to_f32(w.as_vec()),
                    })
                })
                .collect(),
            // dfdx cannot read an empty tensor back (pooling, upsampling).
            biases: self
                .biases
                .iter()
                .zip(&self.recurrent_biases)
                .map(|(b, r)| {
                    let mut v = if b.shape().0 == 0 {
                        Vec::new()
                    } else {
                        to_f32(b.as_vec())
                    };
                    if let Some(r) = r {
                        v.extend(to_f32(r.as_vec()));
                    }
                    v
                })
                .collect(),
            logvar: self
                .logvar
                .as_ref()
                .map(|(w, b)| (to_f32(w.as_vec()), to_f32(b.as_vec()))),
        }
    }

    /// Puts host parameters on `dev`, checking every length against the structure.
    pub fn from_host(dev: &D, host: &HostNet) -> Result<Self> {
        let spec = host.spec.clone();
        spec.check()?;
        let n = spec.layers.len();
        if host.weights.len() != n || host.biases.len() != n {
            bail!(
                "parameters for {} layers, the structure has {n}",
                host.weights.len()
            );
        }
        let mut weights = Vec::with_capacity(n);
        let mut biases = Vec::with_capacity(n);
        let mut recurrent_weights = Vec::with_capacity(n);
        let mut recurrent_biases = Vec::with_capacity(n);
        for i in 0..n {
            match (
                spec.weight_shape(i),
                spec.recurrent_weight_shape(i),
                &host.weights[i],
            ) {
                (Some((rows, cols)), None, Some(w)) if w.len() == rows * cols => {
                    weights.push(Some(dev.tensor_from_vec(from_f32(w), (rows, cols))));
                    recurrent_weights.push(None);
                }
                (Some((rows, cols)), Some((_, hidden)), Some(w)) => {
                    let Some((w_ih, w_hh)) = split_columns(w, rows, cols, hidden) else {
                        bail!("layer {i}: weights do not match its structure");
                    };
                    weights.push(Some(dev.tensor_from_vec(from_f32(&w_ih), (rows, cols))));
                    recurrent_weights
                        .push(Some(dev.tensor_from_vec(from_f32(&w_hh), (rows, hidden))));
                }
                (None, None, None) => {
                    weights.push(None);
                    recurrent_weights.push(None);
                }
                _ => bail!("layer {i}: weights do not match its structure"),
            }
            let out = spec.bias_len(i);
            let extra = spec.recurrent_bias_len(i).unwrap_or(0);
            let b = &host.biases[i];
            if b.len() != out + extra {
                bail!(
                    "layer {i}: bias has {} values, expected {}",
                    b.len(),
                    out + extra
                );
            }
            biases.push(dev.tensor_from_vec(from_f32(&b[..out]), (out,)));
            recurrent_biases.push(
                spec.recurrent_bias_len(i)
                    .map(|k| dev.tensor_from_vec(from_f32(&b[out..]), (k,))),
            );
        }
        let logvar = match (&host.logvar, spec.logvar_head) {
            (Some((w, b)), true) => {
                let (inp, out) = spec.widths(spec.codings_layer).unwrap_or((0, 0));
                if w.len() != inp * out || b.len() != out {
                    bail!("the log-variance head does not match the codings layer");
                }
                Some((
                    dev.tensor_from_vec(from_f32(w), (out, inp)),
                    dev.tensor_from_vec(from_f32(b), (out,)),
                ))
            }
            (None, false) => None,
            _ => bail!("log-variance head present in one of structure and parameters only"),
        };
        Ok(Net {
            ops: map_ops(&spec)?,
            seq_ops: seq_ops(&spec)?,
            spec,
            weights,
            biases,
            recurrent_weights,
            recurrent_biases,
            logvar,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gru_lstm_spec() -> NetSpec {
        let rnn = |cell, inputs, hidden, sequences| LayerSpec::Recurrent {
            spec: RnnSpec {
                cell,
                inputs,
                hidden,
                steps: 5,
                sequences,
            },
        };
        NetSpec {
            layers: vec![
                rnn(Cell::Gru, 2, 4, true),
                rnn(Cell::Lstm, 4, 3, false),
                LayerSpec::Repeat { width: 3, steps: 5 },
                rnn(Cell::Gru, 3, 4, true),
                LayerSpec::TimeDense {
                    inputs: 4,
                    outputs: 2,
                    steps: 5,
                    activation: Activation::Identity,
                },
            ],
            codings_layer: 1,
            logvar_head: false,
            predict_from: None,
        }
    }

    #[test]
    fn recurrent_layers_chain_and_count_their_parameters() {
        let spec = gru_lstm_spec();
        spec.check().unwrap();
        assert_eq!(spec.input_len(), 10);
        assert_eq!(spec.codings_len(), 3);
        assert_eq!(spec.widths(2), Some((3, 15)));
        assert_eq!(spec.weight_shape(0), Some((12, 2)));
        assert_eq!(spec.recurrent_weight_shape(0), Some((12, 4)));
        assert_eq!(spec.recurrent_bias_len(0), Some(12));
        assert_eq!(spec.recurrent_bias_len(1), None);
        assert_eq!(spec.weight_shape(2), None);
        assert_eq!(spec.weight_shape(4), Some((2, 4)));
        assert_eq!(spec.bias_len(4), 2);
        let net = Net::<f32, Cpu>::init(&Cpu::default(), spec, 3).unwrap();
        // GRU 2→4: 12·2 + 12·4 + 12 + 12; LSTM 4→3: 12·4 + 12·3 + 12;
        // GRU 3→4: 12·3 + 12·4 + 24; dense 4→2: 8 + 2.
        let want = (24 + 48 + 24) + (48 + 36 + 12) + (36 + 48 + 24) + 10;
        assert_eq!(net.param_count(), want);
        // A bad structure is an error naming the layer, not a panic.
        let mut bad = gru_lstm_spec();
        bad.layers[2] = LayerSpec::Repeat { width: 3, steps: 4 };
        assert!(bad.check().unwrap_err().to_string().contains("layer 3"));
    }

    #[test]
    fn recurrent_init_is_orthogonal_with_a_unit_forget_bias() {
        let net = Net::<f64, Cpu>::init(&Cpu::default(), gru_lstm_spec(), 9).unwrap();
        for i in [0, 1, 3] {
            let w = net.recurrent_weights[i].as_ref().unwrap();
            let (rows, h) = *w.shape();
            let v = w.as_vec();
            for block in v.chunks_exact(h * h) {
                assert_eq!(block.len(), h * h);
                for a in 0..h {
                    for b in 0..h {
                        let d: f64 = (0..h).map(|k| block[a * h + k] * block[b * h + k]).sum();
                        let want = if a == b { 1.0 } else { 0.0 };
                        assert!((d - want).abs() < 1e-9, "layer {i}: {d} at ({a}, {b})");
                    }
                }
            }
            assert_eq!(rows % h, 0);
        }
        // LSTM: the forget gate's bias (rows hidden..2·hidden) starts at 1.
        assert_eq!(
            net.biases[1].as_vec(),
            [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        );
        assert!(net.biases[0].as_vec().iter().all(|&b| b == 0.0));
        assert!(
            net.recurrent_biases[0]
                .as_ref()
                .unwrap()
                .as_vec()
                .iter()
                .all(|&b| b == 0.0)
        );
        assert!(net.recurrent_biases[1].is_none());
    }

    #[test]
    fn recurrent_parameters_round_trip_through_the_host_bit_exactly() {
        let dev = Cpu::default();
        let mut net = Net::<f32, Cpu>::init(&dev, gru_lstm_spec(), 5).unwrap();
        // Distinct values everywhere, so a swapped or misplaced one shows.
        let mut k = 0.0f32;
        let mut next = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    k += 1.0;
                    k / 7.0
                })
                .collect()
        };
        for i in 0..net.spec.layers.len() {
            if let Some(w) = &mut net.weights[i] {
                let v = next(w.shape().num_elements());
                w.copy_from(&v);
            }
            if net.biases[i].shape().0 > 0 {
                let v = next(net.biases[i].shape().0);
                net.biases[i].copy_from(&v);
            }
            if let Some(w) = &mut net.recurrent_weights[i] {
                let v = next(w.shape().num_elements());
                w.copy_from(&v);
            }
            if let Some(b) = &mut net.recurrent_biases[i] {
                let v = next(b.shape().0);
                b.copy_from(&v);
            }
        }
        let host = net.to_host();
        // [W_ih | W_hh] row by row: row 0 of layer 0 is W_ih's two values,
        // then W_hh's four.
        let w_ih = net.weights[0].as_ref().unwrap().as_vec();
        let w_hh = net.recurrent_weights[0].as_ref().unwrap().as_vec();
        let w0 = host.weights[0].as_ref().unwrap();
        assert_eq!(w0.len(), 12 * 6);
        assert_eq!(&w0[..2], &w_ih[..2]);
        assert_eq!(&w0[2..6], &w_hh[..4]);
        assert_eq!(&w0[6..8], &w_ih[2..4]);
        assert_eq!(host.biases[0].len(), 24);
        assert_eq!(host.biases[1].len(), 12);
        let back = Net::<f32, Cpu>::from_host(&dev, &host).unwrap();
        let again = back.to_host();
        assert_eq!(again, host);
        for i in 0..net.spec.layers.len() {
            let bits = |v: Vec<f32>| v.into_iter().map(f32::to_bits).collect::<Vec<_>>();
            if let (Some(a), Some(b)) = (&net.recurrent_weights[i], &back.recurrent_weights[i]) {
                assert_eq!(bits(a.as_vec()), bits(b.as_vec()));
            }
            if let (Some(a), Some(b)) = (&net.recurrent_biases[i], &back.recurrent_biases[i]) {
                assert_eq!(bits(a.as_vec()), bits(b.as_vec()));
            }
        }
        // The same outputs from both.
        let x: Mat<f32, Cpu> = dev.tensor_from_vec(next(30), (3, 10));
        let y = net.forward(x.clone(), net.all(), false).unwrap().as_vec();
        let z = back.forward(x, back.all(), false).unwrap().as_vec();
        assert_eq!(y, z);
        // Parameters that do not fit the structure are refused.
        let mut short = host.clone();
        short.biases[0].pop();
        let err = Net::<f32, Cpu>::from_host(&dev, &short).unwrap_err();
        assert!(err.to_string().contains("layer 0"), "{err}");
        let mut narrow = host;
        narrow.weights[3].as_mut().unwrap().pop();
        assert!(Net::<f32, Cpu>::from_host(&dev, &narrow).is_err());
    }

    #[test]
    fn every_recurrent_parameter_gets_a_gradient() {
        struct Seen(Vec<ParamId>);
        impl ParamVisitor<f32, Cpu> for Seen {
            fn visit<S: Shape>(&mut self, id: ParamId, _: &mut Tensor<S, f32, Cpu>) -> Result<()> {
                self.0.push(id);
                Ok(())
            }
        }
        let dev = Cpu::default();
        let mut net = Net::<f32, Cpu>::init(&dev, gru_lstm_spec(), 1).unwrap();
        let mut seen = Seen(Vec::new());
        net.visit(|_| true, &mut seen).unwrap();
        for id in [
            ParamId::Weight(0),
            ParamId::RecurrentWeight(0),
            ParamId::RecurrentBias(0),
            ParamId::RecurrentWeight(1),
            ParamId::RecurrentBias(3),
            ParamId::Weight(4),
            ParamId::Bias(4),
        ] {
            assert!(seen.0.contains(&id), "{id:?} not visited");
        }
        assert!(!seen.0.contains(&ParamId::RecurrentBias(1)));
        // One Adam step moves every parameter.
        let before = net.to_host();
        let x: Mat<f32, Cpu> =
            dev.tensor_from_vec((0..20).map(|i| i as f32 / 10.0).collect(), (2, 10));
        let y = net.forward(x.leaky_trace(), net.all(), false).unwrap();
        let loss = y.square().mean();
        let mut grads = loss.backward();
        let mut adam = super::super::adam::Adam::new(1e-2);
        adam.step(&mut net, &mut grads, |_| true).unwrap();
        let after = net.to_host();
        for i in 0..after.weights.len() {
            if let (Some(a), Some(b)) = (&before.weights[i], &after.weights[i]) {
                assert!(
                    a.iter().zip(b).all(|(a, b)| a != b),
                    "layer {i}: a weight did not move"
                );
            }
        }
    }
}
