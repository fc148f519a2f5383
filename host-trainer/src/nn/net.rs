//! A stack of layers with run-time widths: dense and tied-dense layers, the
//! shape every dense autoencoder kind shares, and the convolutional layers
//! of [`super::conv`] (convolution, transposed convolution, pooling,
//! upsampling) over channel-last feature maps; plus the optional
//! log-variance head of a variational autoencoder.

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
use super::{Backend, Mat, Real, Vector, act};

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
}

impl LayerSpec {
    /// The activation (identity for pooling and upsampling).
    pub fn activation(&self) -> Activation {
        match *self {
            LayerSpec::Dense { activation, .. }
            | LayerSpec::Tied { activation, .. }
            | LayerSpec::Conv { activation, .. }
            | LayerSpec::ConvTranspose { activation, .. } => activation,
            LayerSpec::Pool { .. } | LayerSpec::Upsample { .. } => Activation::Identity,
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
        }
    }

    /// True for the layers over feature maps.
    pub fn is_map(&self) -> bool {
        !matches!(self, LayerSpec::Dense { .. } | LayerSpec::Tied { .. })
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

    /// The shape of layer `i`'s weight matrix, `None` for layers without
    /// their own weights (tied, pooling, upsampling).
    pub fn weight_shape(&self, i: usize) -> Option<(usize, usize)> {
        match *self.layers.get(i)? {
            LayerSpec::Dense {
                inputs, outputs, ..
            } => Some((outputs, inputs)),
            LayerSpec::Conv { spec, .. } => Some(spec.weight_shape()),
            LayerSpec::ConvTranspose { spec, .. } => Some(spec.weight_shape()),
            LayerSpec::Tied { .. } | LayerSpec::Pool { .. } | LayerSpec::Upsample { .. } => None,
        }
    }

    /// Layer `i`'s bias length: one per output of a dense or tied layer,
    /// one per filter of a convolution, none for pooling and upsampling.
    pub fn bias_len(&self, i: usize) -> usize {
        match self.layers.get(i) {
            Some(LayerSpec::Conv { spec, .. }) => spec.filters,
            Some(LayerSpec::ConvTranspose { spec, .. }) => spec.filters,
            Some(LayerSpec::Pool { .. } | LayerSpec::Upsample { .. }) | None => 0,
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
            _ => self.widths(i).unwrap_or((0, 0)),
        }
    }

    /// Checks that layers chain, ties point at earlier dense layers and the
    /// output width equals the input width.
    pub fn check(&self) -> Result<()> {
        let Some((input, _)) = self.widths(0) else {
            bail!("a network needs at least one layer")
        };
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
            let (inp, out) = self.widths(i).unwrap_or((0, 0));
            if inp != width || inp == 0 || out == 0 {
                bail!("layer {i} takes {inp} values but receives {width}");
            }
            width = out;
        }
        if width != input {
            bail!("the network outputs {width} values for {input} inputs");
        }
        if self.codings_layer + 1 >= self.layers.len() {
            bail!("codings layer {} leaves no decoder", self.codings_layer);
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
    /// Per layer: the weights of dense layers, `None` for tied ones.
    pub weights: Vec<Option<Mat<E, D>>>,
    /// Per layer: the bias.
    pub biases: Vec<Vector<E, D>>,
    /// VAE log-variance head (weights `(codings, inputs)`, bias).
    pub logvar: Option<(Mat<E, D>, Vector<E, D>)>,
    /// Per layer: the feature-map operation (index tables built once),
    /// `None` for dense and tied layers.
    ops: Vec<Option<MapOp>>,
}

/// The feature-map operations of `spec`'s layers.
fn map_ops(spec: &NetSpec) -> Result<Vec<Option<MapOp>>> {
    spec.layers.iter().map(MapOp::for_layer).collect()
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
        for (i, l) in spec.layers.iter().enumerate() {
            weights.push(spec.weight_shape(i).map(|(rows, cols)| {
                let w = init_weights(&mut rng, rows * cols, spec.fans(i), l.activation());
                dev.tensor_from_vec(w, (rows, cols))
            }));
            biases.push(dev.zeros_like(&(spec.bias_len(i),)));
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
            spec,
            weights,
            biases,
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

    /// The decoder layers.
    pub fn decoder(&self) -> Range<usize> {
        self.spec.codings_layer + 1..self.spec.layers.len()
    }

    /// Layer `i` before its activation.
    pub fn affine<T: Tape<E, D> + Merge<T>>(
        &self,
        i: usize,
        x: Mat<E, D, T>,
    ) -> Result<Mat<E, D, T>> {
        let (batch, _) = *x.shape();
        let (_, out) = self.spec.widths(i).unwrap_or((0, 0));
        let (Some(layer), Some(b)) = (self.spec.layers.get(i), self.biases.get(i)) else {
            bail!("no layer {i}")
        };
        if layer.is_map() {
            let Some(Some(op)) = self.ops.get(i) else {
                bail!("layer {i} has no feature-map operation")
            };
            let w = self.weights.get(i).and_then(Option::as_ref);
            return D::map_op(op, x, w, b);
        }
        let y = match *layer {
            LayerSpec::Dense { .. } => {
                let Some(Some(w)) = self.weights.get(i) else {
                    bail!("layer {i} has no weights")
                };
                x.try_matmul(w.retaped::<T>().try_permute::<_, Axes2<1, 0>>()?)?
            }
            LayerSpec::Tied { source, .. } => {
                let Some(Some(w)) = self.weights.get(source) else {
                    bail!("layer {i} is tied to layer {source}, which has no weights")
                };
                x.try_matmul(w.retaped::<T>())?
            }
            LayerSpec::Conv { .. }
            | LayerSpec::ConvTranspose { .. }
            | LayerSpec::Pool { .. }
            | LayerSpec::Upsample { .. } => bail!("layer {i} is a feature-map layer"),
        };
        Ok(y.try_add(
            b.retaped::<T>()
                .try_broadcast_like::<_, Axis<0>>(&(batch, out))?,
        )?)
    }

    /// Runs the layers in `path` (indices, in order). With `logits` the last
    /// layer's activation is left out (for losses that take logits).
    pub fn forward<T: Tape<E, D> + Merge<T>>(
        &self,
        x: Mat<E, D, T>,
        path: impl IntoIterator<Item = usize>,
        logits: bool,
    ) -> Result<Mat<E, D, T>> {
        let path: Vec<usize> = path.into_iter().collect();
        let mut h = x;
        for (k, &i) in path.iter().enumerate() {
            h = self.affine(i, h)?;
            let last = k + 1 == path.len();
            if !(logits && last) {
                h = act::apply(self.spec.layers[i].activation(), h);
            }
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
        let y = h.try_matmul(w.retaped::<T>().try_permute::<_, Axes2<1, 0>>()?)?;
        Ok(y.try_add(
            b.retaped::<T>()
                .try_broadcast_like::<_, Axis<0>>(&(batch, out))?,
        )?)
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
        let lv = self.logvar.as_ref().map_or(0, |(w, b)| {
            w.shape().num_elements() + b.shape().num_elements()
        });
        w + b + lv
    }
}

/// A network's parameters in host memory (checkpoints, export, tests).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostNet {
    /// Structure.
    pub spec: NetSpec,
    /// Per layer: row-major `(outputs, inputs)` weights of dense layers.
    pub weights: Vec<Option<Vec<f32>>>,
    /// Per layer: bias.
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

impl<E: Real, D: Backend<E>> Net<E, D> {
    /// Copies the parameters to the host.
    pub fn to_host(&self) -> HostNet {
        HostNet {
            spec: self.spec.clone(),
            weights: self
                .weights
                .iter()
                .map(|w| w.as_ref().map(|w| to_f32(w.as_vec())))
                .collect(),
            // dfdx cannot read an empty tensor back (pooling, upsampling).
            biases: self
                .biases
                .iter()
                .map(|b| {
                    if b.shape().0 == 0 {
                        Vec::new()
                    } else {
                        to_f32(b.as_vec())
                    }
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
        for i in 0..n {
            match (spec.weight_shape(i), &host.weights[i]) {
                (Some((rows, cols)), Some(w)) if w.len() == rows * cols => {
                    weights.push(Some(dev.tensor_from_vec(from_f32(w), (rows, cols))))
                }
                (None, None) => weights.push(None),
                _ => bail!("layer {i}: weights do not match its structure"),
            }
            let out = spec.bias_len(i);
            if host.biases[i].len() != out {
                bail!(
                    "layer {i}: bias has {} values, expected {out}",
                    host.biases[i].len()
                );
            }
            biases.push(dev.tensor_from_vec(from_f32(&host.biases[i]), (out,)));
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
            spec,
            weights,
            biases,
            logvar,
        })
    }
}
