//! The kernels of [`super::Recurrent`] on plain row-major buffers: the
//! cell over a sequence and backpropagation through time.
//!
//! Inside, everything is time-major (`(steps, batch, …)`), so that each
//! step's rows are one contiguous block: the input projection of every
//! step is one gemm straight into the gate buffer, `b_ih + x_t W_ihᵀ`, and
//! each step adds `h_{t−1} W_hhᵀ` to its block in place (LSTM) before the
//! gates run over it; the backward pass writes each step's pre-activation
//! gradients into one time-major buffer that the gemm for `dh_{t−1}` reads
//! as it is, and that gives the weight gradients after one transpose. The
//! gates use [`crate::nn::vmath`] (vectorised f32). Nothing is allocated
//! per step.

use dfdx::tensor::CpuError;
use rayon::prelude::*;

use super::{Cell, RnnSpec};
use crate::nn::Real;
pub(super) use crate::nn::matmul::{Layout, add_column_sums, add_into, gemm, transpose};

/// The parameter values, row-major.
#[derive(Clone, Copy)]
pub(super) struct Weights<'a, E> {
    pub w_ih: &'a [E],
    pub w_hh: &'a [E],
    pub b_ih: &'a [E],
    pub b_hh: Option<&'a [E]>,
}

/// What the forward pass keeps for the backward pass, time-major.
pub(super) struct Cache<E> {
    /// The input, `(steps, batch, inputs)`.
    pub x: Vec<E>,
    /// Gate activations, `(steps, batch, G·hidden)`: `i, f, g, o` or `r, z, n`.
    pub gates: Vec<E>,
    /// Hidden states `h_{-1} … h_{T−1}`, `(steps + 1, batch, hidden)`.
    pub hs: Vec<E>,
    /// LSTM: cell states `c_{-1} … c_{T−1}`, `(steps + 1, batch, hidden)`.
    pub cs: Vec<E>,
    /// LSTM: `tanh(c_t)`, `(steps, batch, hidden)`.
    pub tc: Vec<E>,
    /// GRU: `W_hn h_{t−1} + b_hn`, `(steps, batch, hidden)`.
    pub hn: Vec<E>,
}

/// The gradients of one backward pass that are not written in place.
pub(super) struct Back<E> {
    /// Gradient of the input-side pre-activations `x_t W_ihᵀ + b_ih`,
    /// time-major `(steps·batch, G·hidden)`.
    pub dax: Vec<E>,
    /// GRU: gradient of `h_{t−1} W_hhᵀ + b_hh`, time-major; empty for an
    /// LSTM, where it equals `dax`.
    pub dah: Vec<E>,
    /// Gradient of `h_{-1}`, `(batch, hidden)`.
    pub dh0: Vec<E>,
    /// Gradient of `c_{-1}` (LSTM), `(batch, hidden)`.
    pub dc0: Vec<E>,
}

impl<E> Back<E> {
    /// The gradient of `h_{t−1} W_hhᵀ (+ b_hh)`, time-major.
    pub fn dah(&self) -> &[E] {
        if self.dah.is_empty() {
            &self.dax
        } else {
            &self.dah
        }
    }
}

/// The sizes of one run.
#[derive(Debug, Clone, Copy)]
pub(super) struct Dims {
    pub spec: RnnSpec,
    pub batch: usize,
    pub gh: usize,
}

/// Rows of the batch per parallel task in the element-wise loops.
const MIN_ROWS: usize = 8;

/// One LSTM step of one sample: turns the pre-activations `g` (`4·hidden`,
/// order i, f, g, o) into the gate activations in place and, from
/// `c_{t−1}`, writes `c_t`, `tanh(c_t)` and `h_t`.
fn lstm_row<E: Real>(g: &mut [E], cp: &[E], cn: &mut [E], tc: &mut [E], out: &mut [E]) {
    let h = cp.len();
    let (ifg, go) = g.split_at_mut(3 * h);
    E::sigmoid_in_place(&mut ifg[..2 * h]);
    E::tanh_in_place(&mut ifg[2 * h..]);
    E::sigmoid_in_place(go);
    let (gi, rest) = ifg.split_at(h);
    let (gf, gg) = rest.split_at(h);
    for ((((c, &cpj), &i), &f), &gv) in cn.iter_mut().zip(cp).zip(gi).zip(gf).zip(gg) {
        *c = f * cpj + i * gv;
    }
    tc.copy_from_slice(cn);
    E::tanh_in_place(tc);
    for ((o, &t), &ov) in out.iter_mut().zip(tc.iter()).zip(go.iter()) {
        *o = ov * t;
    }
}

/// One GRU step of one sample: from `g` holding `W_ih x + b_ih` and `hr`
/// (`W_hh h + b_hh`, `3·hidden`, order r, z, n) and `h_{t−1}`, writes the
/// gate activations into `g`, `W_hn h + b_hn` and `h_t`.
fn gru_row<E: Real>(g: &mut [E], hr: &[E], hp: &[E], nh: &mut [E], out: &mut [E]) {
    let h = hp.len();
    let (rz, gn) = g.split_at_mut(2 * h);
    for (v, &a) in rz.iter_mut().zip(hr) {
        *v += a;
    }
    E::sigmoid_in_place(rz);
    let (gr, gz) = rz.split_at(h);
    nh.copy_from_slice(&hr[2 * h..]);
    for ((n, &r), &hnj) in gn.iter_mut().zip(gr).zip(nh.iter()) {
        *n += r * hnj;
    }
    E::tanh_in_place(gn);
    for (((o, &z), &n), &hpj) in out.iter_mut().zip(gz).zip(gn.iter()).zip(hp) {
        *o = (E::one() - z) * n + z * hpj;
    }
}

impl Dims {
    /// Runs the cell over `x`, batch-major `(batch, steps·inputs)`.
    pub fn forward<E: Real>(
        &self,
        x: &[E],
        p: Weights<'_, E>,
        h0: Option<&[E]>,
        c0: Option<&[E]>,
    ) -> Result<Cache<E>, CpuError> {
        let (bsz, steps, n, h, gh) = (
            self.batch,
            self.spec.steps,
            self.spec.inputs,
            self.spec.hidden,
            self.gh,
        );
        let lstm = self.spec.cell == Cell::Lstm;
        let state = bsz * h;
        let block = bsz * gh;
        if x.len() != bsz * steps * n || p.b_ih.len() != gh {
            return Err(CpuError::WrongNumElements);
        }
        let x = batch_to_time(x, bsz, steps, n);
        // b_ih + x_t W_ihᵀ for every step at once, into the gate buffer.
        let mut gates = vec![E::zero(); steps * block];
        for row in gates.chunks_exact_mut(gh) {
            row.copy_from_slice(p.b_ih);
        }
        gemm(
            &mut gates,
            (&x, Layout::AsStored, bsz * steps, n),
            (&transpose(p.w_ih, gh, n), Layout::AsStored, gh),
            E::one(),
        )?;
        let mut hs = vec![E::zero(); (steps + 1) * state];
        if let Some(h0) = h0 {
            add_into(&mut hs[..state], h0);
        }
        let (mut cs, mut tc, mut hn, mut hw) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        if lstm {
            cs = vec![E::zero(); (steps + 1) * state];
            if let Some(c0) = c0 {
                add_into(&mut cs[..state], c0);
            }
            tc = vec![E::zero(); steps * state];
        } else {
            hn = vec![E::zero(); steps * state];
            hw = vec![E::zero(); block];
        }
        let w_hh_t = transpose(p.w_hh, gh, h);
        for t in 0..steps {
            let (done, next) = hs.split_at_mut((t + 1) * state);
            let h_prev = &done[t * state..];
            let h_next = &mut next[..state];
            let g_t = &mut gates[t * block..(t + 1) * block];
            let now = t * state..(t + 1) * state;
            if lstm {
                gemm(
                    g_t,
                    (h_prev, Layout::AsStored, bsz, h),
                    (&w_hh_t, Layout::AsStored, gh),
                    E::one(),
                )?;
                let (c_done, c_next) = cs.split_at_mut((t + 1) * state);
                let c_prev = &c_done[t * state..];
                g_t.par_chunks_mut(gh)
                    .zip(c_prev.par_chunks(h))
                    .zip(c_next[..state].par_chunks_mut(h))
                    .zip(tc[now].par_chunks_mut(h))
                    .zip(h_next.par_chunks_mut(h))
                    .with_min_len(MIN_ROWS)
                    .for_each(|((((g, cp), c), tcb), out)| lstm_row(g, cp, c, tcb, out));
            } else {
                gemm(
                    &mut hw,
                    (h_prev, Layout::AsStored, bsz, h),
                    (&w_hh_t, Layout::AsStored, gh),
                    E::zero(),
                )?;
                if let Some(b_hh) = p.b_hh {
                    for row in hw.chunks_exact_mut(gh) {
                        add_into(row, b_hh);
                    }
                }
                g_t.par_chunks_mut(gh)
                    .zip(hw.par_chunks(gh))
                    .zip(h_prev.par_chunks(h))
                    .zip(hn[now].par_chunks_mut(h))
                    .zip(h_next.par_chunks_mut(h))
                    .with_min_len(MIN_ROWS)
                    .for_each(|((((g, hr), hp), nh), out)| gru_row(g, hr, hp, nh, out));
            }
        }
        Ok(Cache {
            x,
            gates,
            hs,
            cs,
            tc,
            hn,
        })
    }

    /// The layer's output from the hidden states (time-major) in the
    /// batch's layout.
    pub fn output<E: Real>(&self, hs: &[E]) -> Vec<E> {
        let (bsz, steps, h) = (self.batch, self.spec.steps, self.spec.hidden);
        let state = bsz * h;
        if !self.spec.sequences {
            return hs[steps * state..].to_vec();
        }
        let mut out = vec![E::zero(); bsz * steps * h];
        add_time_to_batch(&mut out, &hs[state..], bsz, steps, h);
        out
    }

    /// Backpropagation through time from the output gradient `g_out`.
    pub fn backward<E: Real>(
        &self,
        cache: &Cache<E>,
        w_hh: &[E],
        g_out: &[E],
    ) -> Result<Back<E>, CpuError> {
        let (bsz, steps, h, gh) = (self.batch, self.spec.steps, self.spec.hidden, self.gh);
        let lstm = self.spec.cell == Cell::Lstm;
        let state = bsz * h;
        let block = bsz * gh;
        if g_out.len() != bsz * self.spec.output_len() {
            return Err(CpuError::WrongNumElements);
        }
        let mut dax = vec![E::zero(); steps * block];
        let mut dah = vec![E::zero(); if lstm { 0 } else { steps * block }];
        let mut dh = vec![E::zero(); state];
        let mut dh_prev = vec![E::zero(); state];
        let mut dc = vec![E::zero(); if lstm { state } else { 0 }];
        for t in (0..steps).rev() {
            // The output's gradient enters at every step, or at the last.
            if self.spec.sequences {
                for (b, d) in dh.chunks_exact_mut(h).enumerate() {
                    add_into(d, &g_out[(b * steps + t) * h..][..h]);
                }
            } else if t + 1 == steps {
                add_into(&mut dh, g_out);
            }
            let g_t = &cache.gates[t * block..(t + 1) * block];
            let da_t = &mut dax[t * block..(t + 1) * block];
            let now = t * state..(t + 1) * state;
            if lstm {
                da_t.par_chunks_mut(gh)
                    .zip(g_t.par_chunks(gh))
                    .zip(cache.cs[now.clone()].par_chunks(h))
                    .zip(cache.tc[now].par_chunks(h))
                    .zip(dh.par_chunks(h))
                    .zip(dc.par_chunks_mut(h))
                    .with_min_len(MIN_ROWS)
                    .for_each(|(((((da, g), cp), tc), dhb), dcb)| {
                        lstm_row_back(g, cp, tc, dhb, dcb, da);
                    });
                // dh_{t−1} = dA_t · W_hh
                gemm(
                    &mut dh_prev,
                    (da_t, Layout::AsStored, bsz, gh),
                    (w_hh, Layout::AsStored, h),
                    E::zero(),
                )?;
            } else {
                let dr_t = &mut dah[t * block..(t + 1) * block];
                da_t.par_chunks_mut(gh)
                    .zip(dr_t.par_chunks_mut(gh))
                    .zip(g_t.par_chunks(gh))
                    .zip(cache.hs[now.clone()].par_chunks(h))
                    .zip(cache.hn[now].par_chunks(h))
                    .zip(dh.par_chunks(h))
                    .zip(dh_prev.par_chunks_mut(h))
                    .with_min_len(MIN_ROWS)
                    .for_each(|((((((dx, dr), g), hp), nh), dhb), dpb)| {
                        gru_row_back(g, hp, nh, dhb, dx, dr, dpb);
                    });
                // dh_{t−1} += dA_h,t · W_hh
                gemm(
                    &mut dh_prev,
                    (dr_t, Layout::AsStored, bsz, gh),
                    (w_hh, Layout::AsStored, h),
                    E::one(),
                )?;
            }
            std::mem::swap(&mut dh, &mut dh_prev);
        }
        Ok(Back {
            dax,
            dah,
            dh0: dh,
            dc0: dc,
        })
    }
}

/// The backward pass of [`lstm_row`] for one sample: from the gate
/// activations `g`, `c_{t−1}`, `tanh(c_t)`, the gradient `dh` of `h_t` and
/// `dc` of `c_t` (from step t + 1), writes the pre-activation gradients
/// `da` and turns `dc` into the gradient of `c_{t−1}`.
fn lstm_row_back<E: Real>(g: &[E], cp: &[E], tc: &[E], dh: &[E], dc: &mut [E], da: &mut [E]) {
    let h = cp.len();
    let one = E::one();
    let (gi, rest) = g.split_at(h);
    let (gf, rest) = rest.split_at(h);
    let (gg, go) = rest.split_at(h);
    let (dai, rest) = da.split_at_mut(h);
    let (daf, rest) = rest.split_at_mut(h);
    let (dag, dao) = rest.split_at_mut(h);
    // Equal lengths up front, so the loop runs without bounds checks.
    let (gf, gg, go, tc, dh, dc) = (
        &gf[..h],
        &gg[..h],
        &go[..h],
        &tc[..h],
        &dh[..h],
        &mut dc[..h],
    );
    let (daf, dag, dao) = (&mut daf[..h], &mut dag[..h], &mut dao[..h]);
    for j in 0..h {
        let (i, f, gv, o, t) = (gi[j], gf[j], gg[j], go[j], tc[j]);
        let dct = dc[j] + dh[j] * o * (one - t * t);
        dai[j] = dct * gv * i * (one - i);
        daf[j] = dct * cp[j] * f * (one - f);
        dag[j] = dct * i * (one - gv * gv);
        dao[j] = dh[j] * t * o * (one - o);
        dc[j] = dct * f;
    }
}

/// The backward pass of [`gru_row`] for one sample: from the gate
/// activations `g`, `h_{t−1}`, `W_hn h_{t−1} + b_hn` and the gradient `dh`
/// of `h_t`, writes the gradients of the input-side pre-activations `dx`,
/// of `W_hh h_{t−1} + b_hh` (`dr`) and the direct part of the gradient of
/// `h_{t−1}` (`dp`, `dh ⊙ z`).
fn gru_row_back<E: Real>(
    g: &[E],
    hp: &[E],
    nh: &[E],
    dh: &[E],
    dx: &mut [E],
    dr: &mut [E],
    dp: &mut [E],
) {
    let h = hp.len();
    let one = E::one();
    for (j, ((dpj, (&hpj, &nhj)), &dhj)) in dp.iter_mut().zip(hp.iter().zip(nh)).zip(dh).enumerate()
    {
        let (r, z, n) = (g[j], g[h + j], g[2 * h + j]);
        let dan = dhj * (one - z) * (one - n * n);
        let dar = dan * nhj * r * (one - r);
        let daz = dhj * (hpj - n) * z * (one - z);
        dx[j] = dar;
        dx[h + j] = daz;
        dx[2 * h + j] = dan;
        dr[j] = dar;
        dr[h + j] = daz;
        dr[2 * h + j] = dan * r;
        *dpj = dhj * z;
    }
}

/// A batch-major `(batch, steps, width)` buffer, time-major: `(steps,
/// batch, width)`.
fn batch_to_time<E: Real>(x: &[E], batch: usize, steps: usize, width: usize) -> Vec<E> {
    let mut out = vec![E::zero(); x.len()];
    if width > 0 && x.len() == batch * steps * width {
        for (b, row) in x.chunks_exact(steps * width).enumerate() {
            for (t, v) in row.chunks_exact(width).enumerate() {
                out[(t * batch + b) * width..][..width].copy_from_slice(v);
            }
        }
    }
    out
}

/// `dst += src` for a batch-major `dst`, `(batch, steps, width)`, and a
/// time-major `src`, `(steps, batch, width)`.
pub(super) fn add_time_to_batch<E: Real>(
    dst: &mut [E],
    src: &[E],
    batch: usize,
    steps: usize,
    width: usize,
) {
    if width == 0 || dst.len() != batch * steps * width || src.len() != dst.len() {
        return;
    }
    for (b, row) in dst.chunks_exact_mut(steps * width).enumerate() {
        for (t, d) in row.chunks_exact_mut(width).enumerate() {
            add_into(d, &src[(t * batch + b) * width..][..width]);
        }
    }
}
