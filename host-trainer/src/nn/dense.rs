//! A dense layer `y = act(x·op(W) + b)` as one tape operation on the CPU.
//!
//! dfdx composes a dense layer from a permute, a matmul, a broadcast bias
//! add and, for SELU, six element-wise operations, each with its own
//! output, tape entry and gradient buffer; on the 784-100-30-100-784
//! autoencoder those steps besides the products took a third of the
//! training time, the bias gradients alone (a broadcast summed back by
//! dfdx's generic index walk) a tenth. Here the forward pass is one gemm
//! into the output followed by one pass that adds the bias and applies the
//! activation, writing its derivative beside it
//! ([`act::forward_in_place`]); the backward pass multiplies the output
//! gradient by that derivative once, sums it into the bias gradient, and
//! runs one gemm for the weight gradient and, unless the input is data
//! that needs none, one for the input gradient. The gemms are
//! [`matmul::gemm`] (matrixmultiply), reading `W` and `dZ` transposed
//! through their strides.
//!
//! Only public dfdx API is used (`split_tape`, `Tape::add_backward_op`,
//! `Gradients::get_or_alloc_mut`), as in [`super::fused`]. The gradients
//! are checked against dfdx's composed layer and against finite
//! differences in `gradcheck.rs`.

use anyhow::{Result, ensure};
use dfdx::prelude::*;
use model_format::Activation;

use super::conv::{contiguous, contiguous_copy};
use super::matmul::{self, Layout, add_column_sums, add_into};
use super::{Backend, DevResult, Mat, Real, Vector, act};

/// `act(x·op(W) + b)` from dfdx's ops, on any device: what
/// [`Backend::dense`] does where nothing fuses it, and what [`dense_cpu`]
/// is tested against.
pub fn composed<E: Real, D: Backend<E>, T: Tape<E, D> + Merge<T>>(
    x: Mat<E, D, T>,
    w: &Mat<E, D>,
    w_layout: Layout,
    b: &Vector<E, D>,
    activation: Activation,
) -> Result<Mat<E, D, T>> {
    let (batch, _) = *x.shape();
    let out = b.shape().0;
    let y = match w_layout {
        Layout::Transposed => x
            .try_matmul(w.retaped::<T>().try_permute::<_, Axes2<1, 0>>().dev()?)
            .dev()?,
        Layout::AsStored => x.try_matmul(w.retaped::<T>()).dev()?,
    };
    let y = y
        .try_add(
            b.retaped::<T>()
                .try_broadcast_like::<_, Axis<0>>(&(batch, out))
                .dev()?,
        )
        .dev()?;
    Ok(act::apply(activation, y))
}

/// `act(x·op(W) + b)` on the CPU: `op(W)` is `Wᵀ` for `Layout::Transposed`
/// (a dense layer's `(outputs, inputs)` weights) and `W` for
/// `Layout::AsStored` (a tied layer reading its source's weights as
/// `(inputs, outputs)`). With `input_grad` false the backward pass leaves
/// the gradient of `x` out (the input is data, not a layer's output).
pub fn dense_cpu<E: Real, T: Tape<E, Cpu>>(
    x: Mat<E, Cpu, T>,
    w: &Mat<E, Cpu>,
    w_layout: Layout,
    b: &Vector<E, Cpu>,
    activation: Activation,
    input_grad: bool,
) -> Result<Mat<E, Cpu, T>> {
    let (batch, inputs) = *x.shape();
    let (rows, cols) = *w.shape();
    let (w_in, outputs) = match w_layout {
        Layout::Transposed => (cols, rows),
        Layout::AsStored => (rows, cols),
    };
    ensure!(
        w_in == inputs,
        "a dense layer with weights {:?} takes rows of {w_in} values, got {inputs}",
        w.shape()
    );
    ensure!(
        b.shape().0 == outputs,
        "a dense layer of {outputs} outputs expects as many biases, got {}",
        b.shape().0
    );
    let (x, mut tape) = contiguous(x)?.split_tape();
    let xv = contiguous_copy(&x);
    let mut wv = vec![E::zero(); rows * cols];
    w.copy_into(&mut wv);
    let mut bv = vec![E::zero(); outputs];
    b.copy_into(&mut bv);
    let mut y = vec![E::zero(); batch * outputs];
    matmul::gemm(
        &mut y,
        (&xv, Layout::AsStored, batch, inputs),
        (&wv, w_layout, outputs),
        E::zero(),
    )?;
    if outputs > 0 {
        for row in y.chunks_exact_mut(outputs) {
            add_into(row, &bv);
        }
    }
    let mut deriv = Vec::new();
    act::forward_in_place(activation, &mut y, &mut deriv);
    let out = x.device().try_tensor_from_vec(y, (batch, outputs))?;
    let (x_g, w_g, b_g, out_g) = (x.ghost(), w.ghost(), b.ghost(), out.ghost());
    tape.add_backward_op(move |grads| {
        let g_out: Vec<E> = std::mem::take(&mut **grads.get_or_alloc_mut(&out_g)?);
        let dz_owned: Vec<E>;
        let dz: &[E] = if deriv.is_empty() {
            &g_out
        } else {
            dz_owned = g_out.iter().zip(&deriv).map(|(&g, &d)| g * d).collect();
            &dz_owned
        };
        add_column_sums(grads.get_or_alloc_mut(&b_g)?, dz);
        let g_w = grads.get_or_alloc_mut(&w_g)?;
        match w_layout {
            // y = x·Wᵀ: dW += dZᵀ·x, (outputs, inputs).
            Layout::Transposed => matmul::gemm(
                g_w,
                (dz, Layout::Transposed, outputs, batch),
                (&xv, Layout::AsStored, inputs),
                E::one(),
            )?,
            // y = x·W: dW += xᵀ·dZ, (inputs, outputs).
            Layout::AsStored => matmul::gemm(
                g_w,
                (&xv, Layout::Transposed, inputs, batch),
                (dz, Layout::AsStored, outputs),
                E::one(),
            )?,
        }
        if input_grad {
            // dx += dZ·op(W)ᵀ.
            let op_t = match w_layout {
                Layout::Transposed => Layout::AsStored,
                Layout::AsStored => Layout::Transposed,
            };
            matmul::gemm(
                grads.get_or_alloc_mut(&x_g)?,
                (dz, Layout::AsStored, batch, outputs),
                (&wv, op_t, inputs),
                E::one(),
            )?;
        }
        **grads.get_or_alloc_mut(&out_g)? = g_out;
        Ok(())
    });
    Ok(out.put_tape(tape))
}
