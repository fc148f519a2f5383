//! Recurrent layers (LSTM, GRU) and the two sequence helpers a recurrent
//! autoencoder needs ([`repeat`], [`time_distributed_dense`]), as tape
//! operations over dfdx tensors on the CPU.
//!
//! dfdx 0.13 has no recurrent layers. Each layer here is *one* tape
//! operation over the whole sequence: the forward pass runs the cell over
//! the time steps in plain loops and keeps what the backward pass needs;
//! the backward pass is backpropagation through time, hand-written. Only
//! public dfdx API is used (`split_tape`, `Tape::add_backward_op`,
//! `Gradients::get_or_alloc_mut`), as in [`super::conv`].
//!
//! # Layout
//!
//! A batch of sequences is a `(batch, steps·inputs)` matrix, time-major and
//! channel-last within a row: row `b` is `[x_0(0..inputs), x_1(..), …]`.
//! The layer outputs either the last hidden state, `(batch, hidden)`
//! (sequence to vector), or every hidden state, `(batch, steps·hidden)` in
//! the same layout (sequence to sequence), as [`RnnSpec::sequences`] says.
//!
//! # Equations
//!
//! PyTorch's, exactly, so that its parameters can be copied in and its
//! outputs compared. `σ` is the logistic sigmoid, `⊙` the element-wise
//! product, `h_{-1}` and `c_{-1}` the initial state (zeros unless given).
//! The gates are stacked in the rows of the weights, in PyTorch's order.
//!
//! **LSTM** (G = 4 gates, order `i, f, g, o`): `W_ih` is `(4·hidden,
//! inputs)`, `W_hh` is `(4·hidden, hidden)`, one bias `b` of `4·hidden`
//! (PyTorch's `b_ih + b_hh`: the two add up and only their sum matters).
//!
//! ```text
//! i_t = σ(W_ii x_t + W_hi h_{t−1} + b_i)
//! f_t = σ(W_if x_t + W_hf h_{t−1} + b_f)
//! g_t = tanh(W_ig x_t + W_hg h_{t−1} + b_g)
//! o_t = σ(W_io x_t + W_ho h_{t−1} + b_o)
//! c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t
//! h_t = o_t ⊙ tanh(c_t)
//! ```
//!
//! **GRU** (G = 3 gates, order `r, z, n`): `W_ih` is `(3·hidden, inputs)`,
//! `W_hh` is `(3·hidden, hidden)`, and two biases of `3·hidden`, `b_ih` and
//! `b_hh`, as in PyTorch: `b_hn` sits inside the reset gate's product, so it
//! is not redundant (`b_hr` and `b_hz` are, and are kept so that PyTorch's
//! parameters load as they are).
//!
//! ```text
//! r_t = σ(W_ir x_t + b_ir + W_hr h_{t−1} + b_hr)
//! z_t = σ(W_iz x_t + b_iz + W_hz h_{t−1} + b_hz)
//! n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t−1} + b_hn))
//! h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t−1}
//! ```
//!
//! # How
//!
//! The kernels (`recurrent/bptt.rs`) work time-major. The input projection
//! `x_t W_ihᵀ + b_ih` of every step is one gemm over the `(steps·batch,
//! inputs)` input, written straight into the gate buffer; each step then adds
//! `h_{t−1} W_hhᵀ` (one small gemm) and runs the gates element-wise, in
//! place (f32: vectorised `exp`, [`super::vmath`]). The forward pass keeps
//! the gate activations, the hidden states (and the LSTM's cell states and
//! their `tanh`, the GRU's `W_hn h + b_hn`). The backward pass walks the
//! steps backwards, one gemm per step for the gradient of `h_{t−1}`, and
//! finishes with one gemm each for the gradients of the input, `W_ih` and
//! `W_hh`. The gemms are nalgebra's (matrixmultiply, which reads operands
//! transposed through their strides) over the row-major buffers, and own
//! loops where a side is at most 5 long: no new dependency, no unsafe code.
//!
//! # Errors, not panics
//!
//! [`RnnSpec::check`] checks the sizes (non-zero, products that fit), and
//! every `forward` checks the input width and every parameter and state
//! shape before any dfdx operation runs (dfdx asserts on mismatched sizes),
//! returning an [`anyhow::Error`] that names the layer and the shapes.

mod bptt;

use anyhow::{Context, Result, bail, ensure};
use dfdx::prelude::*;
use serde::{Deserialize, Serialize};

use bptt::{Dims, Layout, Weights, add_column_sums, add_into, add_time_to_batch, gemm};

use super::net::LayerSpec;
use super::{Backend, Mat, Real, Vector};

/// The recurrent cell of a layer (also `edgeae train --cell`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
pub enum Cell {
    /// Long short-term memory: gates `i, f, g, o`, a cell state beside the
    /// hidden state.
    #[default]
    Lstm,
    /// Gated recurrent unit: gates `r, z, n`.
    Gru,
}

impl Cell {
    /// The number of gates G: the weights hold `G·hidden` rows.
    pub fn gates(self) -> usize {
        match self {
            Cell::Lstm => 4,
            Cell::Gru => 3,
        }
    }

    /// The layer's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Cell::Lstm => "LSTM",
            Cell::Gru => "GRU",
        }
    }
}

/// The structure of a recurrent layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RnnSpec {
    /// The cell.
    pub cell: Cell,
    /// Values per time step in the input.
    pub inputs: usize,
    /// Hidden state width.
    pub hidden: usize,
    /// Time steps.
    pub steps: usize,
    /// Output every hidden state (`(batch, steps·hidden)`) rather than the
    /// last one (`(batch, hidden)`).
    pub sequences: bool,
}

impl RnnSpec {
    /// Checks that every size is non-zero and every buffer size fits.
    pub fn check(&self) -> Result<()> {
        let name = self.cell.name();
        ensure!(
            self.inputs > 0 && self.hidden > 0 && self.steps > 0,
            "{name}: inputs ({}), hidden ({}) and steps ({}) must be non-zero",
            self.inputs,
            self.hidden,
            self.steps
        );
        let gh = self.hidden.checked_mul(self.cell.gates());
        let fits = self.steps.checked_mul(self.inputs).is_some()
            && self.steps.checked_mul(self.hidden).is_some()
            && gh.and_then(|g| g.checked_mul(self.inputs)).is_some()
            && gh.and_then(|g| g.checked_mul(self.hidden)).is_some()
            && gh.and_then(|g| g.checked_mul(self.steps)).is_some();
        ensure!(
            fits,
            "{name}: {} steps of {} inputs and {} hidden units are too large",
            self.steps,
            self.inputs,
            self.hidden
        );
        Ok(())
    }

    /// The input width, `steps·inputs`.
    pub fn input_len(&self) -> usize {
        self.steps.saturating_mul(self.inputs)
    }

    /// The output width: `steps·hidden` for sequences, else `hidden`.
    pub fn output_len(&self) -> usize {
        if self.sequences {
            self.steps.saturating_mul(self.hidden)
        } else {
            self.hidden
        }
    }

    /// `G·hidden`, the rows of both weight matrices and the bias length.
    pub fn gate_rows(&self) -> usize {
        self.hidden.saturating_mul(self.cell.gates())
    }

    /// The input weights' shape, `(G·hidden, inputs)`.
    pub fn weight_ih_shape(&self) -> (usize, usize) {
        (self.gate_rows(), self.inputs)
    }

    /// The recurrent weights' shape, `(G·hidden, hidden)`.
    pub fn weight_hh_shape(&self) -> (usize, usize) {
        (self.gate_rows(), self.hidden)
    }

    /// The length of the recurrent bias `b_hh`: `3·hidden` for a GRU, none
    /// for an LSTM (whose one bias is `b_ih + b_hh`).
    pub fn recurrent_bias_len(&self) -> Option<usize> {
        match self.cell {
            Cell::Lstm => None,
            Cell::Gru => Some(self.gate_rows()),
        }
    }
}

/// A recurrent layer's parameters (see the module docs for the equations).
#[derive(Debug, Clone, Copy)]
pub struct RnnParams<'a, E: Real> {
    /// `W_ih`, `(G·hidden, inputs)`.
    pub w_ih: &'a Mat<E, Cpu>,
    /// `W_hh`, `(G·hidden, hidden)`.
    pub w_hh: &'a Mat<E, Cpu>,
    /// The input bias `b_ih`, `G·hidden` (an LSTM's only bias).
    pub b_ih: &'a Vector<E, Cpu>,
    /// The recurrent bias `b_hh`, `3·hidden`: required for a GRU, refused
    /// for an LSTM.
    pub b_hh: Option<&'a Vector<E, Cpu>>,
}

/// The initial state of a recurrent layer, each part `(batch, hidden)` or
/// zeros when left out. Given states get gradients like any input.
#[derive(Debug, Clone)]
pub struct InitialState<E: Real, T> {
    /// `h_{-1}`.
    pub h: Option<Mat<E, Cpu, T>>,
    /// `c_{-1}`, LSTM only.
    pub c: Option<Mat<E, Cpu, T>>,
}

impl<E: Real, T> InitialState<E, T> {
    /// All zeros.
    pub fn zeros() -> Self {
        InitialState { h: None, c: None }
    }
}

/// A recurrent layer (LSTM or GRU, [`RnnSpec::cell`]), its sizes checked.
#[derive(Debug, Clone)]
pub struct Recurrent {
    spec: RnnSpec,
}

impl Recurrent {
    /// Checks `spec`.
    pub fn new(spec: RnnSpec) -> Result<Self> {
        spec.check()?;
        Ok(Recurrent { spec })
    }

    /// The structure.
    pub fn spec(&self) -> &RnnSpec {
        &self.spec
    }

    /// Runs the layer over `x`, `(batch, steps·inputs)`, from `init`: the
    /// last hidden state `(batch, hidden)`, or all of them, `(batch,
    /// steps·hidden)`, for [`RnnSpec::sequences`]. One operation on the
    /// (merged) tape of `x` and the initial state; the parameters get
    /// gradients like dfdx's own layers' (by tensor id).
    pub fn forward<E: Real, T: Tape<E, Cpu> + Merge<T>>(
        &self,
        x: Mat<E, Cpu, T>,
        p: &RnnParams<E>,
        init: InitialState<E, T>,
    ) -> Result<Mat<E, Cpu, T>> {
        let s = self.spec;
        let batch = self.check_inputs(&x, p, &init)?;
        let (x, mut tape) = contiguous(x)?.split_tape();
        let h0 = match init.h {
            Some(h) => {
                let (h, t) = contiguous(h)?.split_tape();
                tape = tape.merge(t);
                Some(h)
            }
            None => None,
        };
        let c0 = match init.c {
            Some(c) => {
                let (c, t) = contiguous(c)?.split_tape();
                tape = tape.merge(t);
                Some(c)
            }
            None => None,
        };
        let xv = contiguous_copy(&x);
        let w_ih = p.w_ih.as_vec();
        let w_hh = p.w_hh.as_vec();
        let b_ih = p.b_ih.as_vec();
        let b_hh = p.b_hh.map(|b| b.as_vec());
        let h0v = h0.as_ref().map(contiguous_copy);
        let c0v = c0.as_ref().map(contiguous_copy);
        let dims = Dims {
            spec: s,
            batch,
            gh: s.gate_rows(),
        };
        let cache = dims.forward(
            &xv,
            Weights {
                w_ih: &w_ih,
                w_hh: &w_hh,
                b_ih: &b_ih,
                b_hh: b_hh.as_deref(),
            },
            h0v.as_deref(),
            c0v.as_deref(),
        )?;
        let out_len = s.output_len();
        let out_v = dims.output(&cache.hs);
        let out = x.device().try_tensor_from_vec(out_v, (batch, out_len))?;
        let out_g = out.ghost();
        let x_g = x.ghost();
        let h0_g = h0.as_ref().map(|h| h.ghost());
        let c0_g = c0.as_ref().map(|c| c.ghost());
        let (w_ih_g, w_hh_g, b_ih_g) = (p.w_ih.ghost(), p.w_hh.ghost(), p.b_ih.ghost());
        let b_hh_g = p.b_hh.map(|b| b.ghost());
        tape.add_backward_op(move |grads| {
            let g_out: Vec<E> = std::mem::take(&mut **grads.get_or_alloc_mut(&out_g)?);
            let back = dims.backward(&cache, &w_hh, &g_out)?;
            **grads.get_or_alloc_mut(&out_g)? = g_out;
            let (bt, n, gh, h) = (batch * s.steps, s.inputs, dims.gh, s.hidden);
            // dx += dA_x · W_ih (time-major rows, added to the batch-major gradient)
            let mut dx = vec![E::zero(); bt * n];
            gemm(
                &mut dx,
                (&back.dax, Layout::AsStored, bt, gh),
                (&w_ih, Layout::AsStored, n),
                E::zero(),
            )?;
            add_time_to_batch(grads.get_or_alloc_mut(&x_g)?, &dx, batch, s.steps, n);
            // dW_ih += dA_xᵀ · X (time-major)
            gemm(
                grads.get_or_alloc_mut(&w_ih_g)?,
                (&back.dax, Layout::Transposed, gh, bt),
                (&cache.x, Layout::AsStored, n),
                E::one(),
            )?;
            // dW_hh += dA_hᵀ · H_prev (the states h_{-1} … h_{T−2}, time-major)
            gemm(
                grads.get_or_alloc_mut(&w_hh_g)?,
                (back.dah(), Layout::Transposed, gh, bt),
                (
                    cache.hs.get(..bt * h).unwrap_or_default(),
                    Layout::AsStored,
                    h,
                ),
                E::one(),
            )?;
            add_column_sums(grads.get_or_alloc_mut(&b_ih_g)?, &back.dax);
            if let Some(g) = &b_hh_g {
                add_column_sums(grads.get_or_alloc_mut(g)?, back.dah());
            }
            if let Some(g) = &h0_g {
                add_into(grads.get_or_alloc_mut(g)?, &back.dh0);
            }
            if let Some(g) = &c0_g {
                add_into(grads.get_or_alloc_mut(g)?, &back.dc0);
            }
            Ok(())
        });
        Ok(out.put_tape(tape))
    }

    /// Checks the shapes of everything `forward` reads; the batch size.
    fn check_inputs<E: Real, T>(
        &self,
        x: &Mat<E, Cpu, T>,
        p: &RnnParams<E>,
        init: &InitialState<E, T>,
    ) -> Result<usize> {
        let s = &self.spec;
        let name = s.cell.name();
        let (batch, width) = *x.shape();
        ensure!(
            width == s.input_len(),
            "{name} expects rows of {} steps × {} inputs = {} values, got {width}",
            s.steps,
            s.inputs,
            s.input_len()
        );
        batch
            .checked_mul(s.steps)
            .and_then(|r| r.checked_mul(s.gate_rows()))
            .with_context(|| format!("{name}: a batch of {batch} sequences is too large"))?;
        ensure!(
            *p.w_ih.shape() == s.weight_ih_shape(),
            "{name} expects input weights {:?} (G·hidden, inputs), got {:?}",
            s.weight_ih_shape(),
            p.w_ih.shape()
        );
        ensure!(
            *p.w_hh.shape() == s.weight_hh_shape(),
            "{name} expects recurrent weights {:?} (G·hidden, hidden), got {:?}",
            s.weight_hh_shape(),
            p.w_hh.shape()
        );
        ensure!(
            p.b_ih.shape().0 == s.gate_rows(),
            "{name} expects an input bias of {} values, got {}",
            s.gate_rows(),
            p.b_ih.shape().0
        );
        match (s.recurrent_bias_len(), p.b_hh) {
            (Some(n), Some(b)) => ensure!(
                b.shape().0 == n,
                "{name} expects a recurrent bias of {n} values, got {}",
                b.shape().0
            ),
            (Some(n), None) => bail!("{name} needs a recurrent bias of {n} values"),
            (None, Some(_)) => {
                bail!("{name} has one bias (b_ih + b_hh), but a recurrent bias was given")
            }
            (None, None) => {}
        }
        let state = (batch, s.hidden);
        for (part, t) in [("h", &init.h), ("c", &init.c)] {
            if let Some(t) = t {
                ensure!(
                    *t.shape() == state,
                    "{name} expects an initial {part} of {state:?} (batch, hidden), got {:?}",
                    t.shape()
                );
            }
        }
        if s.cell == Cell::Gru && init.c.is_some() {
            bail!("{name} has no cell state, but an initial c was given");
        }
        Ok(batch)
    }
}

/// Reads a tensor's values (contiguous, see [`contiguous`]).
fn contiguous_copy<E: Real, T>(x: &Mat<E, Cpu, T>) -> Vec<E> {
    let (rows, cols) = *x.shape();
    let mut v = vec![E::zero(); rows * cols];
    x.copy_into(&mut v);
    v
}

/// `x` with standard row-major strides (free when it has them already).
fn contiguous<E: Real, T: Tape<E, Cpu>>(x: Mat<E, Cpu, T>) -> Result<Mat<E, Cpu, T>> {
    let shape = *x.shape();
    Ok(x.try_reshape_like(&shape)?)
}

/// Repeats each row of `x`, `(batch, k)`, `steps` times: `(batch,
/// steps·k)`, row `b` = `[x_b, x_b, …]` (the codings fed to every step of a
/// recurrent decoder). The gradient of `x` is the sum over the steps.
pub fn repeat<E: Real, T: Tape<E, Cpu>>(x: Mat<E, Cpu, T>, steps: usize) -> Result<Mat<E, Cpu, T>> {
    let (batch, k) = *x.shape();
    ensure!(steps > 0, "repeat needs at least one step");
    let width = k
        .checked_mul(steps)
        .filter(|w| batch.checked_mul(*w).is_some())
        .with_context(|| format!("repeating {batch}×{k} values {steps} times is too large"))?;
    let (x, mut tape) = contiguous(x)?.split_tape();
    let src = contiguous_copy(&x);
    let mut dst = vec![E::zero(); batch * width];
    if k > 0 {
        for (d, s) in dst.chunks_exact_mut(width).zip(src.chunks_exact(k)) {
            for step in d.chunks_exact_mut(k) {
                step.copy_from_slice(s);
            }
        }
    }
    let out = x.device().try_tensor_from_vec(dst, (batch, width))?;
    let (x_g, out_g) = (x.ghost(), out.ghost());
    tape.add_backward_op(move |grads| {
        let g_out: Vec<E> = std::mem::take(&mut **grads.get_or_alloc_mut(&out_g)?);
        let g_x = grads.get_or_alloc_mut(&x_g)?;
        if k > 0 {
            for (d, g) in g_x.chunks_exact_mut(k).zip(g_out.chunks_exact(width)) {
                for step in g.chunks_exact(k) {
                    add_into(d, step);
                }
            }
        }
        **grads.get_or_alloc_mut(&out_g)? = g_out;
        Ok(())
    });
    Ok(out.put_tape(tape))
}

/// A dense layer applied at every time step: `x` is `(batch, steps·h)`
/// (time-major, channel-last), `w` is `(out, h)`, `b` has `out` values; the
/// result is `(batch, steps·out)` with `y_t = x_t·Wᵀ + b` for each step.
/// Runs as dfdx's matmul over the `(batch·steps, h)` view of `x` (a reshape
/// that moves nothing).
pub fn time_distributed_dense<E: Real, T: Tape<E, Cpu> + Merge<T>>(
    x: Mat<E, Cpu, T>,
    steps: usize,
    w: &Mat<E, Cpu>,
    b: &Vector<E, Cpu>,
) -> Result<Mat<E, Cpu, T>>
where
    Cpu: Backend<E>,
{
    let (batch, width) = *x.shape();
    let (out, h) = *w.shape();
    ensure!(
        steps > 0 && h > 0 && out > 0,
        "time-distributed dense needs steps ({steps}) and weights {:?} without zeros",
        w.shape()
    );
    ensure!(
        steps.checked_mul(h) == Some(width),
        "time-distributed dense over {steps} steps of weights {:?} (out, in) expects rows of \
         {steps} × {h} values, got {width}",
        w.shape()
    );
    ensure!(
        b.shape().0 == out,
        "time-distributed dense expects a bias of {out} values, got {}",
        b.shape().0
    );
    let rows = batch
        .checked_mul(steps)
        .context("time-distributed dense: the batch is too large")?;
    let out_width = steps
        .checked_mul(out)
        .filter(|_| rows.checked_mul(out).is_some())
        .context("time-distributed dense: the output is too large")?;
    let x = contiguous(x)?.try_reshape_like(&(rows, h))?;
    let y = x.try_matmul(w.retaped::<T>().try_permute::<_, Axes2<1, 0>>()?)?;
    let y = y.try_add(
        b.retaped::<T>()
            .try_broadcast_like::<_, Axis<0>>(&(rows, out))?,
    )?;
    Ok(y.try_reshape_like(&(batch, out_width))?)
}

/// The parameters a sequence layer ([`SeqOp`]) reads, on any device: `w`
/// is `W_ih` of a recurrent layer or the weights of a time-distributed
/// dense layer, `b` its (input) bias; `w_hh` and `b_hh` are a recurrent
/// layer's recurrent weights and (GRU) recurrent bias.
#[derive(Debug)]
pub struct SeqParams<'a, E: Real, D: Backend<E>> {
    /// `W_ih`, or a time-distributed dense layer's `(outputs, inputs)` weights.
    pub w: Option<&'a Mat<E, D>>,
    /// `W_hh` of a recurrent layer.
    pub w_hh: Option<&'a Mat<E, D>>,
    /// `b_ih`, or a time-distributed dense layer's bias (empty for repeat).
    pub b: &'a Vector<E, D>,
    /// `b_hh` of a GRU.
    pub b_hh: Option<&'a Vector<E, D>>,
}

/// The operation of one sequence layer of a network ([`LayerSpec`]'s
/// recurrent, repeat and time-distributed dense layers), checked once.
#[derive(Debug, Clone)]
pub enum SeqOp {
    /// An LSTM or GRU layer.
    Recurrent(Recurrent),
    /// [`repeat`] over `steps` steps.
    Repeat {
        /// Time steps.
        steps: usize,
    },
    /// [`time_distributed_dense`] over `steps` steps.
    TimeDense {
        /// Time steps.
        steps: usize,
    },
}

impl SeqOp {
    /// The operation of `layer`; `None` for the layers that are not
    /// sequence layers.
    pub fn for_layer(layer: &LayerSpec) -> Result<Option<SeqOp>> {
        Ok(match *layer {
            LayerSpec::Recurrent { spec } => Some(SeqOp::Recurrent(Recurrent::new(spec)?)),
            LayerSpec::Repeat { width, steps } => {
                ensure!(
                    width > 0 && steps > 0 && width.checked_mul(steps).is_some(),
                    "repeat needs a width ({width}) and steps ({steps}) without zeros that fit"
                );
                Some(SeqOp::Repeat { steps })
            }
            LayerSpec::TimeDense {
                inputs,
                outputs,
                steps,
                ..
            } => {
                let fits = steps
                    .checked_mul(inputs.max(outputs))
                    .is_some_and(|_| inputs > 0 && outputs > 0 && steps > 0);
                ensure!(
                    fits,
                    "time-distributed dense needs inputs ({inputs}), outputs ({outputs}) and \
                     steps ({steps}) without zeros that fit"
                );
                Some(SeqOp::TimeDense { steps })
            }
            _ => None,
        })
    }

    /// The layer's name in messages.
    pub fn name(&self) -> &'static str {
        match self {
            SeqOp::Recurrent(r) => r.spec().cell.name(),
            SeqOp::Repeat { .. } => "repeat",
            SeqOp::TimeDense { .. } => "time-distributed dense",
        }
    }

    /// Runs the layer (before its activation) on the CPU, from zero
    /// initial states for a recurrent layer.
    pub fn forward_cpu<E: Real, T: Tape<E, Cpu> + Merge<T>>(
        &self,
        x: Mat<E, Cpu, T>,
        p: &SeqParams<'_, E, Cpu>,
    ) -> Result<Mat<E, Cpu, T>>
    where
        Cpu: Backend<E>,
    {
        match self {
            SeqOp::Recurrent(r) => {
                let (Some(w_ih), Some(w_hh)) = (p.w, p.w_hh) else {
                    bail!("the {} layer has no weights", self.name())
                };
                let params = RnnParams {
                    w_ih,
                    w_hh,
                    b_ih: p.b,
                    b_hh: p.b_hh,
                };
                r.forward(x, &params, InitialState::zeros())
            }
            SeqOp::Repeat { steps } => repeat(x, *steps),
            SeqOp::TimeDense { steps } => {
                let Some(w) = p.w else {
                    bail!("the {} layer has no weights", self.name())
                };
                time_distributed_dense(x, *steps, w, p.b)
            }
        }
    }
}
