//! Convolution, transposed convolution, pooling and upsampling as tape
//! operations over dfdx tensors, on the CPU.
//!
//! dfdx 0.13 has no 1-D convolution, and its 2-D convolution, pooling and
//! transposed convolution need nightly Rust; these layers are written here
//! instead, for `f32` (training) and `f64` (the gradient checks in
//! `gradcheck_conv.rs`). The data layout and the size arithmetic are in
//! [`super::conv_shape`]: rows of `(batch, features)` matrices hold
//! channel-last maps, weights are OHWI. A 1-D layer is the 2-D layer with
//! one row (kernel, stride, pool size and factor 1 along it), which costs
//! nothing extra: the index tables below are the same as a hand-written
//! 1-D layer's.
//!
//! # How
//!
//! Two data-movement operations carry all the layers:
//!
//! - [`gather`] reads a per-sample [`IndexTable`]: output element `j` of
//!   each sample is input element `table[j]`, or 0 for [`NONE`] (the zero
//!   padding). Its backward pass is a scatter-add.
//! - [`scatter_add`] is its adjoint: input element `j` is added to output
//!   element `table[j]` (and dropped for [`NONE`]). Its backward pass is a
//!   gather.
//!
//! A convolution gathers each sample's windows into a
//! `(batch·positions, kh·kw·in)` matrix (im2col), multiplies it by the
//! transposed `(filters, kh·kw·in)` weights with dfdx's tape-tracked matmul
//! (gemm, on all cores), and adds the bias ([`add_channel_bias`]); the
//! `(batch·positions, filters)` product already is the channel-last output,
//! so the final reshape moves nothing. A transposed convolution multiplies
//! `(batch·positions, in)` by the `(in, filters·kh·kw)` weights and
//! scatter-adds the products into the output map (col2im) with the table of
//! the convolution it is the adjoint of. Upsampling is a gather; pooling is
//! its own operation over a table of windows (max pooling keeps, per batch,
//! which element won each window, and routes the gradient there alone).
//! Tables are built once per layer, in the constructors.
//!
//! Only public dfdx API is used (`split_tape`, `Tape::add_backward_op`,
//! `Gradients::get_or_alloc_mut`), as in [`super::fused`]. The functions are
//! bound on `Cpu`: on other devices [`super::Backend::map_op`] refuses the
//! layer, and `--device cuda` refuses such a network before training.
//!
//! # Errors, not panics
//!
//! Every shape is checked before any dfdx operation runs (dfdx asserts on
//! mismatched sizes): the layer constructors check the geometry, `forward`
//! checks the batch width and the parameter shapes, and all report an
//! [`anyhow::Error`].

use std::sync::Arc;

use anyhow::{Context, Result, bail, ensure};
use dfdx::prelude::*;
use rayon::prelude::*;

use super::conv_shape::{
    ConvSpec, ConvTransposeSpec, MAX_MAP_LEN, MapShape, PoolKind, PoolSpec, UpsampleSpec,
};
use super::net::LayerSpec;
use super::{Backend, Mat, Real, Vector, c};

/// The index that reads as zero in a gather and is dropped by a scatter.
pub const NONE: u32 = u32::MAX;

/// Moves the gradient of `$t` out of `$grads` (zeros if it had none), so a
/// backward operation can read it while it updates another gradient. Put it
/// back with [`restore_grad!`]. No copy, only public API (`CachableVec`
/// dereferences to a `Vec`).
macro_rules! take_grad {
    ($grads:expr, $t:expr) => {
        std::mem::take(&mut **$grads.get_or_alloc_mut($t)?)
    };
}

/// Puts back a gradient taken with [`take_grad!`].
macro_rules! restore_grad {
    ($grads:expr, $t:expr, $g:expr) => {
        **$grads.get_or_alloc_mut($t)? = $g
    };
}

/// A per-sample index table: `rows × cols` entries, each an offset into a
/// map of `src_len` values or [`NONE`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexTable {
    src_len: usize,
    rows: usize,
    cols: usize,
    idx: Arc<[u32]>,
}

impl IndexTable {
    /// A table of `rows × cols` entries (row-major) into maps of `src_len`
    /// values; an error unless every entry is below `src_len` or [`NONE`].
    pub fn new(src_len: usize, rows: usize, cols: usize, idx: Vec<u32>) -> Result<Self> {
        ensure!(
            src_len > 0 && src_len <= MAX_MAP_LEN && rows > 0 && cols > 0,
            "index table sizes must be non-zero and fit 32 bits: {src_len} values, {rows}×{cols}"
        );
        ensure!(
            rows.checked_mul(cols) == Some(idx.len()),
            "index table of {rows}×{cols} entries holds {}",
            idx.len()
        );
        if let Some(bad) = idx.iter().find(|&&i| i != NONE && i as usize >= src_len) {
            anyhow::bail!("index {bad} is outside a map of {src_len} values");
        }
        Ok(IndexTable {
            src_len,
            rows,
            cols,
            idx: idx.into(),
        })
    }

    /// im2col for `spec`: one row per output position `(oy, ox)` (row-major),
    /// columns `(i, j, ch)` over the kernel rows, kernel columns and input
    /// channels, i.e. in the order of a weight row; padding reads [`NONE`].
    pub fn im2col(spec: &ConvSpec) -> Result<Self> {
        let out = spec.output()?;
        let (top, left) = spec.pad_before()?;
        let input = spec.input;
        let (kh, kw) = spec.kernel;
        let (sh, sw) = spec.stride;
        let (_, patch) = spec.weight_shape();
        let mut idx = Vec::with_capacity(out.positions() * patch);
        for oy in 0..out.h {
            for ox in 0..out.w {
                for i in 0..kh {
                    let y = (oy * sh + i).checked_sub(top).filter(|&y| y < input.h);
                    for j in 0..kw {
                        let x = (ox * sw + j).checked_sub(left).filter(|&x| x < input.w);
                        for ch in 0..input.c {
                            idx.push(match (y, x) {
                                (Some(y), Some(x)) => input.offset(y, x, ch) as u32,
                                _ => NONE,
                            });
                        }
                    }
                }
            }
        }
        Self::new(input.len(), out.positions(), patch, idx)
    }

    /// col2im for a transposed convolution: the table of the convolution it
    /// is the adjoint of, with columns ordered `(f, i, j)` (output channel,
    /// kernel row, kernel column), so that the products come from one
    /// matmul with the OHWI weights viewed as `(filters·kh·kw, in)`.
    pub fn col2im(spec: &ConvTransposeSpec) -> Result<Self> {
        let conv = spec.adjoint()?;
        let map = conv.input; // this layer's output
        let positions = conv.output()?; // this layer's input positions
        let (top, left) = conv.pad_before()?;
        let (kh, kw) = spec.kernel;
        let (sh, sw) = spec.stride;
        let cols = spec.filters * kh * kw;
        let mut idx = Vec::with_capacity(positions.positions() * cols);
        for oy in 0..positions.h {
            for ox in 0..positions.w {
                for f in 0..spec.filters {
                    for i in 0..kh {
                        let y = (oy * sh + i).checked_sub(top).filter(|&y| y < map.h);
                        for j in 0..kw {
                            let x = (ox * sw + j).checked_sub(left).filter(|&x| x < map.w);
                            idx.push(match (y, x) {
                                (Some(y), Some(x)) => map.offset(y, x, f) as u32,
                                _ => NONE,
                            });
                        }
                    }
                }
            }
        }
        Self::new(map.len(), positions.positions(), cols, idx)
    }

    /// Nearest-neighbour upsampling: one row, output element `(y, x, ch)`
    /// reads input `(⌊y/fh⌋, ⌊x/fw⌋, ch)`.
    pub fn upsample(spec: &UpsampleSpec) -> Result<Self> {
        let out = spec.output()?;
        let (fh, fw) = spec.factor;
        let mut idx = Vec::with_capacity(out.len());
        for y in 0..out.h {
            for x in 0..out.w {
                for ch in 0..out.c {
                    idx.push(spec.input.offset(y / fh, x / fw, ch) as u32);
                }
            }
        }
        Self::new(spec.input.len(), 1, out.len(), idx)
    }

    /// Pooling windows: one row per output element `(oy, ox, ch)`, the
    /// `ph·pw` inputs of its window in row-major order.
    pub fn pool_windows(spec: &PoolSpec) -> Result<Self> {
        let out = spec.output()?;
        let (ph, pw) = spec.size;
        let mut idx = Vec::with_capacity(out.len() * ph * pw);
        for oy in 0..out.h {
            for ox in 0..out.w {
                for ch in 0..out.c {
                    for i in 0..ph {
                        for j in 0..pw {
                            idx.push(spec.input.offset(oy * ph + i, ox * pw + j, ch) as u32);
                        }
                    }
                }
            }
        }
        Self::new(spec.input.len(), out.len(), ph * pw, idx)
    }
}

/// Reads each sample's values from a contiguous copy of `x`.
pub(super) fn contiguous_copy<E: Real, T>(x: &Mat<E, Cpu, T>) -> Vec<E> {
    let (rows, cols) = *x.shape();
    let mut v = vec![E::zero(); rows * cols];
    x.copy_into(&mut v);
    v
}

/// `x` with standard row-major strides (free when it has them already).
pub(super) fn contiguous<E: Real, T: Tape<E, Cpu>>(x: Mat<E, Cpu, T>) -> Result<Mat<E, Cpu, T>> {
    let shape = *x.shape();
    Ok(x.try_reshape_like(&shape)?)
}

/// Per sample: `dst[j] = src[idx[j]]`, 0 for [`NONE`].
fn gather_rows<E: Real>(src: &[E], src_len: usize, idx: &[u32], dst: &mut [E]) {
    dst.par_chunks_mut(idx.len())
        .zip(src.par_chunks(src_len))
        .for_each(|(d, s)| {
            for (o, &i) in d.iter_mut().zip(idx) {
                *o = s.get(i as usize).copied().unwrap_or_else(E::zero);
            }
        });
}

/// Per sample: `dst[idx[j]] += src[j]`, nothing for [`NONE`].
fn scatter_rows<E: Real>(src: &[E], idx: &[u32], dst: &mut [E], dst_len: usize) {
    dst.par_chunks_mut(dst_len)
        .zip(src.par_chunks(idx.len()))
        .for_each(|(d, s)| {
            for (&v, &i) in s.iter().zip(idx) {
                if let Some(o) = d.get_mut(i as usize) {
                    *o += v;
                }
            }
        });
}

/// Gathers `x` `(batch, src_len)` through `table` into
/// `(batch·rows, cols)`: element `j` of sample `b`'s block is
/// `x[b][table[j]]`, 0 for [`NONE`]. Backward: scatter-add.
pub fn gather<E: Real, T: Tape<E, Cpu>>(
    x: Mat<E, Cpu, T>,
    table: &IndexTable,
) -> Result<Mat<E, Cpu, T>> {
    let (batch, width) = *x.shape();
    ensure!(
        width == table.src_len,
        "gather expects rows of {} values, got {width}",
        table.src_len
    );
    let rows = batch
        .checked_mul(table.rows)
        .context("gather output too large")?;
    let (x, mut tape) = contiguous(x)?.split_tape();
    let src = contiguous_copy(&x);
    let len = rows
        .checked_mul(table.cols)
        .context("gather output too large")?;
    let mut dst = vec![E::zero(); len];
    gather_rows(&src, table.src_len, &table.idx, &mut dst);
    let out = x.device().try_tensor_from_vec(dst, (rows, table.cols))?;
    let (x_g, out_g, idx, src_len) = (x.ghost(), out.ghost(), table.idx.clone(), table.src_len);
    tape.add_backward_op(move |grads| {
        let g_out: Vec<E> = take_grad!(grads, &out_g);
        scatter_rows(&g_out, &idx, grads.get_or_alloc_mut(&x_g)?, src_len);
        restore_grad!(grads, &out_g, g_out);
        Ok(())
    });
    Ok(out.put_tape(tape))
}

/// Scatter-adds `x` `(batch·rows, cols)` through `table` into
/// `(batch, src_len)`: element `j` of sample `b`'s block is added to
/// `out[b][table[j]]` (dropped for [`NONE`]). The adjoint of [`gather`];
/// backward: gather.
pub fn scatter_add<E: Real, T: Tape<E, Cpu>>(
    x: Mat<E, Cpu, T>,
    table: &IndexTable,
) -> Result<Mat<E, Cpu, T>> {
    let (rows, width) = *x.shape();
    ensure!(
        width == table.cols && rows % table.rows == 0,
        "scatter expects ({}·batch, {}) values, got ({rows}, {width})",
        table.rows,
        table.cols
    );
    let batch = rows / table.rows;
    let (x, mut tape) = contiguous(x)?.split_tape();
    let src = contiguous_copy(&x);
    let len = batch
        .checked_mul(table.src_len)
        .context("scatter output too large")?;
    let mut dst = vec![E::zero(); len];
    scatter_rows(&src, &table.idx, &mut dst, table.src_len);
    let out = x
        .device()
        .try_tensor_from_vec(dst, (batch, table.src_len))?;
    let (x_g, out_g, idx, src_len) = (x.ghost(), out.ghost(), table.idx.clone(), table.src_len);
    tape.add_backward_op(move |grads| {
        let g_out: Vec<E> = take_grad!(grads, &out_g);
        let g_in = grads.get_or_alloc_mut(&x_g)?;
        g_in.par_chunks_mut(idx.len())
            .zip(g_out.par_chunks(src_len))
            .for_each(|(d, s)| {
                for (o, &i) in d.iter_mut().zip(idx.iter()) {
                    if let Some(v) = s.get(i as usize) {
                        *o += *v;
                    }
                }
            });
        restore_grad!(grads, &out_g, g_out);
        Ok(())
    });
    Ok(out.put_tape(tape))
}

/// Adds `b[ch]` to every element of channel `ch`: the columns of `x` are
/// `k` groups of `b.len()` channels (channel-last), for any `k`.
pub fn add_channel_bias<E: Real, T: Tape<E, Cpu>>(
    x: Mat<E, Cpu, T>,
    b: &Vector<E, Cpu>,
) -> Result<Mat<E, Cpu, T>> {
    let (rows, cols) = *x.shape();
    let channels = b.shape().0;
    ensure!(
        channels > 0 && cols % channels == 0,
        "a bias of {channels} channels does not divide rows of {cols} values"
    );
    let (x, mut tape) = contiguous(x)?.split_tape();
    let mut data = contiguous_copy(&x);
    let bias = b.as_vec();
    data.par_chunks_mut(cols.max(1)).for_each(|row| {
        for group in row.chunks_exact_mut(channels) {
            for (v, &bc) in group.iter_mut().zip(&bias) {
                *v += bc;
            }
        }
    });
    let out = x.device().try_tensor_from_vec(data, (rows, cols))?;
    let (x_g, out_g, b_g) = (x.ghost(), out.ghost(), b.ghost());
    tape.add_backward_op(move |grads| {
        let g_out: Vec<E> = take_grad!(grads, &out_g);
        let g_b = grads.get_or_alloc_mut(&b_g)?;
        for group in g_out.chunks_exact(channels) {
            for (gb, &g) in g_b.iter_mut().zip(group) {
                *gb += g;
            }
        }
        let g_x = grads.get_or_alloc_mut(&x_g)?;
        g_x.par_chunks_mut(4096)
            .zip(g_out.par_chunks(4096))
            .for_each(|(d, s)| {
                for (o, &v) in d.iter_mut().zip(s) {
                    *o += v;
                }
            });
        restore_grad!(grads, &out_g, g_out);
        Ok(())
    });
    Ok(out.put_tape(tape))
}

/// Checks `x`'s width and the parameter shapes of a layer.
fn check_layer<E: Real, T>(
    name: &str,
    x: &Mat<E, Cpu, T>,
    input: MapShape,
    w: &Mat<E, Cpu>,
    b: &Vector<E, Cpu>,
    weight_shape: (usize, usize),
) -> Result<()> {
    let width = x.shape().1;
    ensure!(
        width == input.len(),
        "{name} expects rows of {} values ({input}), got {width}",
        input.len()
    );
    ensure!(
        *w.shape() == weight_shape,
        "{name} expects weights {weight_shape:?} (OHWI), got {:?}",
        w.shape()
    );
    ensure!(
        b.shape().0 == weight_shape.0,
        "{name} expects {} biases, got {}",
        weight_shape.0,
        b.shape().0
    );
    Ok(())
}

/// Declares a layer operation that holds its checked geometry `$spec`,
/// its output map and the index table `IndexTable::$table` builds from the
/// geometry, once; with `new`, `spec` and `output`. Each layer adds its own
/// `forward`.
macro_rules! tabled_layer {
    ($(#[$doc:meta])* $name:ident, $spec:ty, $table:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name {
            spec: $spec,
            output: MapShape,
            table: IndexTable,
        }

        impl $name {
            /// Checks `spec` and builds the table.
            pub fn new(spec: $spec) -> Result<Self> {
                let output = spec.output()?;
                let table = IndexTable::$table(&spec)?;
                Ok($name {
                    spec,
                    output,
                    table,
                })
            }

            /// The geometry.
            pub fn spec(&self) -> &$spec {
                &self.spec
            }

            /// The output map.
            pub fn output(&self) -> MapShape {
                self.output
            }
        }
    };
}

tabled_layer! {
    /// A convolution layer's operation, its im2col table built once.
    Conv2d, ConvSpec, im2col
}

impl Conv2d {
    /// `y = conv(x, w) + b`: `x` is `(batch, input.len())`, `w` is
    /// `(filters, kh·kw·in)` (OHWI), `b` has one value per filter; `y` is
    /// `(batch, output.len())`:
    /// `y[oy, ox, f] = b[f] + Σ_{i,j,ch} w[f][i][j][ch] · x[oy·sh + i − top, ox·sw + j − left, ch]`,
    /// reading 0 outside the input.
    pub fn forward<E: Real, T: Tape<E, Cpu> + Merge<T>>(
        &self,
        x: Mat<E, Cpu, T>,
        w: &Mat<E, Cpu>,
        b: &Vector<E, Cpu>,
    ) -> Result<Mat<E, Cpu, T>>
    where
        Cpu: Backend<E>,
    {
        check_layer(
            "convolution",
            &x,
            self.spec.input,
            w,
            b,
            self.spec.weight_shape(),
        )?;
        let batch = x.shape().0;
        let cols = gather(x, &self.table)?;
        let y = cols.try_matmul(w.retaped::<T>().try_permute::<_, Axes2<1, 0>>()?)?;
        let y = add_channel_bias(y, b)?;
        Ok(y.try_reshape_like(&(batch, self.output.len()))?)
    }
}

tabled_layer! {
    /// A transposed convolution layer's operation, its col2im table built once.
    ConvTranspose2d, ConvTransposeSpec, col2im
}

impl ConvTranspose2d {
    /// `y = convᵀ(x, w) + b`: `x` is `(batch, input.len())`, `w` is
    /// `(filters, kh·kw·in)` (OHWI, `filters` = output channels), `b` has one
    /// value per filter; `y` is `(batch, output.len())`:
    /// `y[p, q, f] = b[f] + Σ w[f][i][j][ch] · x[oy, ox, ch]` over the
    /// `(oy, ox, i, j)` with `oy·sh + i − top = p` and `ox·sw + j − left = q`
    /// (`top`, `left` the padding of [`ConvTransposeSpec::adjoint`]).
    pub fn forward<E: Real, T: Tape<E, Cpu> + Merge<T>>(
        &self,
        x: Mat<E, Cpu, T>,
        w: &Mat<E, Cpu>,
        b: &Vector<E, Cpu>,
    ) -> Result<Mat<E, Cpu, T>>
    where
        Cpu: Backend<E>,
    {
        let (filters, patch) = self.spec.weight_shape();
        check_layer(
            "transposed convolution",
            &x,
            self.spec.input,
            w,
            b,
            (filters, patch),
        )?;
        let batch = x.shape().0;
        let (positions, cin) = (self.spec.input.positions(), self.spec.input.c);
        let rows = batch
            .checked_mul(positions)
            .context("transposed convolution input too large")?;
        let x = contiguous(x)?.try_reshape_like(&(rows, cin))?;
        let w = w
            .retaped::<T>()
            .try_reshape_like(&(filters * (patch / cin), cin))?;
        let cols = x.try_matmul(w.try_permute::<_, Axes2<1, 0>>()?)?;
        let y = scatter_add(cols, &self.table)?;
        add_channel_bias(y, b)
    }
}

tabled_layer! {
    /// A pooling layer's operation, its window table built once.
    Pool2d, PoolSpec, pool_windows
}

impl Pool2d {
    /// Max or average of each window, per channel: `(batch, input.len())`
    /// to `(batch, output.len())`. Max pooling takes the first largest
    /// value of a window (row-major) and passes the gradient to it alone; a
    /// NaN in a window wins it. Average pooling spreads the gradient evenly.
    pub fn forward<E: Real, T: Tape<E, Cpu>>(&self, x: Mat<E, Cpu, T>) -> Result<Mat<E, Cpu, T>> {
        let (batch, width) = *x.shape();
        let (n_in, n_out) = (self.spec.input.len(), self.output.len());
        ensure!(
            width == n_in,
            "pooling expects rows of {n_in} values ({}), got {width}",
            self.spec.input
        );
        let (x, mut tape) = contiguous(x)?.split_tape();
        let src = contiguous_copy(&x);
        let window = self.table.cols;
        let windows = &self.table.idx;
        let mut dst = vec![E::zero(); batch * n_out];
        let x_g = x.ghost();
        match self.spec.kind {
            PoolKind::Max => {
                let mut args = vec![NONE; batch * n_out];
                dst.par_chunks_mut(n_out)
                    .zip(args.par_chunks_mut(n_out))
                    .zip(src.par_chunks(n_in))
                    .for_each(|((d, a), s)| {
                        for ((o, arg), win) in d.iter_mut().zip(a).zip(windows.chunks_exact(window))
                        {
                            let mut best = E::neg_infinity();
                            for &i in win {
                                let v = s.get(i as usize).copied().unwrap_or_else(E::nan);
                                if *arg == NONE || v > best || (v.is_nan() && !best.is_nan()) {
                                    best = v;
                                    *arg = i;
                                }
                            }
                            *o = best;
                        }
                    });
                let out = x.device().try_tensor_from_vec(dst, (batch, n_out))?;
                let out_g = out.ghost();
                tape.add_backward_op(move |grads| {
                    let g_out: Vec<E> = take_grad!(grads, &out_g);
                    let g_in = grads.get_or_alloc_mut(&x_g)?;
                    g_in.par_chunks_mut(n_in)
                        .zip(g_out.par_chunks(n_out))
                        .zip(args.par_chunks(n_out))
                        .for_each(|((d, g), a)| {
                            for (&gv, &i) in g.iter().zip(a) {
                                if let Some(o) = d.get_mut(i as usize) {
                                    *o += gv;
                                }
                            }
                        });
                    restore_grad!(grads, &out_g, g_out);
                    Ok(())
                });
                Ok(out.put_tape(tape))
            }
            PoolKind::Avg => {
                let scale = c::<E>(1.0 / window as f64);
                dst.par_chunks_mut(n_out)
                    .zip(src.par_chunks(n_in))
                    .for_each(|(d, s)| {
                        for (o, win) in d.iter_mut().zip(windows.chunks_exact(window)) {
                            let mut sum = E::zero();
                            for &i in win {
                                sum += s.get(i as usize).copied().unwrap_or_else(E::zero);
                            }
                            *o = sum * scale;
                        }
                    });
                let out = x.device().try_tensor_from_vec(dst, (batch, n_out))?;
                let (out_g, windows) = (out.ghost(), windows.clone());
                tape.add_backward_op(move |grads| {
                    let g_out: Vec<E> = take_grad!(grads, &out_g);
                    let g_in = grads.get_or_alloc_mut(&x_g)?;
                    g_in.par_chunks_mut(n_in)
                        .zip(g_out.par_chunks(n_out))
                        .for_each(|(d, g)| {
                            for (&gv, win) in g.iter().zip(windows.chunks_exact(window)) {
                                for &i in win {
                                    if let Some(o) = d.get_mut(i as usize) {
                                        *o += gv * scale;
                                    }
                                }
                            }
                        });
                    restore_grad!(grads, &out_g, g_out);
                    Ok(())
                });
                Ok(out.put_tape(tape))
            }
        }
    }
}

tabled_layer! {
    /// A nearest-neighbour upsampling layer's operation, its table built once.
    Upsample2d, UpsampleSpec, upsample
}

impl Upsample2d {
    /// Each input value repeated over an `fh × fw` block: `(batch,
    /// input.len())` to `(batch, output.len())`. The gradient of an input is
    /// the sum over its block.
    pub fn forward<E: Real, T: Tape<E, Cpu>>(&self, x: Mat<E, Cpu, T>) -> Result<Mat<E, Cpu, T>> {
        gather(x, &self.table)
    }
}

/// The operation of one feature-map layer of a network ([`LayerSpec`]'s
/// convolution, transposed convolution, pooling or upsampling), its index
/// table built once.
#[derive(Debug, Clone)]
pub enum MapOp {
    /// Convolution.
    Conv(Conv2d),
    /// Transposed convolution.
    ConvTranspose(ConvTranspose2d),
    /// Pooling.
    Pool(Pool2d),
    /// Upsampling.
    Upsample(Upsample2d),
}

impl MapOp {
    /// The operation of `layer`; `None` for the layers that are not
    /// feature-map layers.
    pub fn for_layer(layer: &LayerSpec) -> Result<Option<MapOp>> {
        Ok(match *layer {
            LayerSpec::Conv { spec, .. } => Some(MapOp::Conv(Conv2d::new(spec)?)),
            LayerSpec::ConvTranspose { spec, .. } => {
                Some(MapOp::ConvTranspose(ConvTranspose2d::new(spec)?))
            }
            LayerSpec::Pool { spec } => Some(MapOp::Pool(Pool2d::new(spec)?)),
            LayerSpec::Upsample { spec } => Some(MapOp::Upsample(Upsample2d::new(spec)?)),
            LayerSpec::Dense { .. }
            | LayerSpec::Tied { .. }
            | LayerSpec::Recurrent { .. }
            | LayerSpec::Repeat { .. }
            | LayerSpec::TimeDense { .. } => None,
        })
    }

    /// The layer's name in messages.
    pub fn name(&self) -> &'static str {
        match self {
            MapOp::Conv(_) => "convolution",
            MapOp::ConvTranspose(_) => "transposed convolution",
            MapOp::Pool(_) => "pooling",
            MapOp::Upsample(_) => "upsampling",
        }
    }

    /// Runs the layer (before its activation) on the CPU; `w` is required
    /// by the convolutions, `b` has one value per filter (none for pooling
    /// and upsampling).
    pub fn forward_cpu<E: Real, T: Tape<E, Cpu> + Merge<T>>(
        &self,
        x: Mat<E, Cpu, T>,
        w: Option<&Mat<E, Cpu>>,
        b: &Vector<E, Cpu>,
    ) -> Result<Mat<E, Cpu, T>>
    where
        Cpu: Backend<E>,
    {
        match (self, w) {
            (MapOp::Conv(c), Some(w)) => c.forward(x, w, b),
            (MapOp::ConvTranspose(c), Some(w)) => c.forward(x, w, b),
            (MapOp::Pool(p), _) => p.forward(x),
            (MapOp::Upsample(u), _) => u.forward(x),
            (MapOp::Conv(_) | MapOp::ConvTranspose(_), None) => {
                bail!("the {} has no weights", self.name())
            }
        }
    }
}
