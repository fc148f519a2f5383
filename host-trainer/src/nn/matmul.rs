//! Matrix products and row sums on plain row-major buffers, for the layers
//! that run their own kernels on the CPU: the fused dense layer
//! ([`super::dense`]) and the recurrent layers ([`super::recurrent`]).
//!
//! [`gemm`] is nalgebra's gemm, that is matrixmultiply, which reads
//! operands transposed through their strides (no copy) and picks its
//! AVX-512, AVX2/FMA or SSE2 kernel when it runs; on the shapes of a dense
//! autoencoder it measured 10 to 45 % faster than the `gemm` crate behind
//! dfdx's matmul. Large products are split by rows of `c` over the rayon
//! threads of the caller's pool; every element of `c` is summed in the same
//! order whatever the split, so results do not depend on the thread count.
//! No unsafe code.

use dfdx::tensor::CpuError;
use nalgebra::{DMatrixView, DMatrixViewMut};
use rayon::prelude::*;

use super::Real;

/// How [`gemm`] reads an operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// As stored: `(rows, cols)` row-major.
    AsStored,
    /// Transposed: stored `(cols, rows)` row-major (a weight matrix
    /// `(outputs, inputs)` read as `Wᵀ`, or a gradient read as `dZᵀ`,
    /// without copying it transposed).
    Transposed,
}

/// nalgebra multiplies through matrixmultiply when every dimension is
/// above this, and with its own loops otherwise.
const NALGEBRA_SMALL: usize = 5;

/// Products from this many multiply-accumulates are split over the threads.
const PARALLEL_FROM: usize = 1 << 21;

/// Fewest rows of `c` per thread: above [`NALGEBRA_SMALL`], so every part
/// takes the same kernel as the whole.
const MIN_ROWS: usize = 16;

/// `c = a·b + beta·c`, every matrix row-major and contiguous: `a` is
/// `(m, k)`, `b` is `(k, n)` (each stored so or transposed, as its
/// [`Layout`] says), `c` is `(m, n)`; `c` is not read when `beta` is 0. An
/// error (never a panic) when the lengths disagree.
///
/// Above [`NALGEBRA_SMALL`] in every dimension, nalgebra's gemm on the same
/// buffers read as column-major matrices: `cᵀ = bᵀ·aᵀ`. Otherwise own
/// loops, which run along the longer side: nalgebra's small-matrix
/// fallback is a matrix-vector product per column, slow when one side is 3
/// long (the input projection of three sensor channels) and it reads past
/// the end of views with other strides (nalgebra 0.33.3, `axcpy_uninit`).
pub fn gemm<E: Real>(
    c: &mut [E],
    (a, a_layout, m, k): (&[E], Layout, usize, usize),
    (b, b_layout, n): (&[E], Layout, usize),
    beta: E,
) -> Result<(), CpuError> {
    let fits = |len: usize, r: usize, q: usize| r.checked_mul(q) == Some(len);
    if !fits(a.len(), m, k) || !fits(b.len(), k, n) || !fits(c.len(), m, n) {
        return Err(CpuError::WrongNumElements);
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if m > NALGEBRA_SMALL && n > NALGEBRA_SMALL && k > NALGEBRA_SMALL {
        // bᵀ as a column-major (n, k) matrix.
        let (brs, bcs) = match b_layout {
            Layout::AsStored => (1, n),
            Layout::Transposed => (k, 1),
        };
        let bt = DMatrixView::from_slice_with_strides(b, n, k, brs, bcs);
        let parts = if m * n * k >= PARALLEL_FROM {
            rayon::current_num_threads().min(m / MIN_ROWS).max(1)
        } else {
            1
        };
        let rows = m.div_ceil(parts);
        let part = |i0: usize, cp: &mut [E]| {
            let mc = cp.len() / n;
            // aᵀ as a column-major (k, mc) matrix from row i0 of `a`:
            // contiguous for `a` as stored, row by row for the transposed one.
            let (rs, cs, start) = match a_layout {
                Layout::AsStored => (1, k, i0 * k),
                Layout::Transposed => (m, 1, i0),
            };
            let len = (k - 1) * rs + (mc - 1) * cs + 1;
            let at = DMatrixView::from_slice_with_strides(&a[start..start + len], k, mc, rs, cs);
            let mut ct = DMatrixViewMut::from_slice(cp, n, mc);
            ct.gemm(E::one(), &bt, &at, beta);
        };
        if parts == 1 {
            part(0, c);
        } else {
            c.par_chunks_mut(rows * n)
                .enumerate()
                .for_each(|(i, cp)| part(i * rows, cp));
        }
        return Ok(());
    }
    if beta == E::zero() {
        c.fill(E::zero());
    } else if beta != E::one() {
        for v in c.iter_mut() {
            *v *= beta;
        }
    }
    if k == 0 {
        return Ok(());
    }
    let b_stored;
    let b = match b_layout {
        Layout::AsStored => b,
        Layout::Transposed => {
            b_stored = transpose(b, n, k);
            &b_stored
        }
    };
    match (a_layout == Layout::Transposed, n >= k.min(m)) {
        // c_i += Σ_p a_ip b_p: axpys along the rows of c.
        (false, true) => {
            for (ci, ai) in c.chunks_exact_mut(n).zip(a.chunks_exact(k)) {
                for (&aip, bp) in ai.iter().zip(b.chunks_exact(n)) {
                    axpy(ci, aip, bp);
                }
            }
        }
        // c_ij += a_i · b_{·j}: dot products along k.
        (false, false) => {
            let bt = transpose(b, k, n);
            for (ci, ai) in c.chunks_exact_mut(n).zip(a.chunks_exact(k)) {
                for (cij, bj) in ci.iter_mut().zip(bt.chunks_exact(k)) {
                    *cij += dot(ai, bj);
                }
            }
        }
        // c_i += Σ_p a_pi b_p: axpys along the rows of c.
        (true, true) => {
            for (ap, bp) in a.chunks_exact(m).zip(b.chunks_exact(n)) {
                for (ci, &api) in c.chunks_exact_mut(n).zip(ap) {
                    axpy(ci, api, bp);
                }
            }
        }
        // cᵀ_j += Σ_p b_pj a_p: axpys along the columns of c.
        (true, false) => {
            let mut ct = vec![E::zero(); m * n];
            for (ap, bp) in a.chunks_exact(m).zip(b.chunks_exact(n)) {
                for (ctj, &bpj) in ct.chunks_exact_mut(m).zip(bp) {
                    axpy(ctj, bpj, ap);
                }
            }
            for (i, ci) in c.chunks_exact_mut(n).enumerate() {
                for (j, cij) in ci.iter_mut().enumerate() {
                    *cij += ct[j * m + i];
                }
            }
        }
    }
    Ok(())
}

/// The transpose of a row-major `(rows, cols)` matrix, row-major, copied
/// in 32 × 32 tiles (both sides stay in cache).
pub fn transpose<E: Real>(m: &[E], rows: usize, cols: usize) -> Vec<E> {
    const TILE: usize = 32;
    let mut out = vec![E::zero(); m.len()];
    if rows == 0 || cols == 0 || m.len() != rows * cols {
        return out;
    }
    for i0 in (0..rows).step_by(TILE) {
        for j0 in (0..cols).step_by(TILE) {
            let j1 = (j0 + TILE).min(cols);
            for i in i0..(i0 + TILE).min(rows) {
                for (j, &v) in (j0..j1).zip(&m[i * cols + j0..i * cols + j1]) {
                    out[j * rows + i] = v;
                }
            }
        }
    }
    out
}

/// `dst += src`, element-wise.
pub fn add_into<E: Real>(dst: &mut [E], src: &[E]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d += s;
    }
}

/// `dst[j] += Σ_rows m[row][j]` for a row-major `m` with `dst.len()` columns.
pub fn add_column_sums<E: Real>(dst: &mut [E], m: &[E]) {
    if dst.is_empty() {
        return;
    }
    let cols = dst.len();
    for row in m.chunks_exact(cols) {
        add_into(dst, row);
    }
}

/// `dst += alpha·src`, element-wise.
fn axpy<E: Real>(dst: &mut [E], alpha: E, src: &[E]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d += alpha * s;
    }
}

/// `a · b`, in eight running sums (so the loop vectorises).
fn dot<E: Real>(a: &[E], b: &[E]) -> E {
    const LANES: usize = 8;
    let (ab, ar) = a.as_chunks::<LANES>();
    let (bb, br) = b.as_chunks::<LANES>();
    let mut acc = [E::zero(); LANES];
    for (x, y) in ab.iter().zip(bb) {
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    let tail = ar.iter().zip(br).fold(E::zero(), |s, (&x, &y)| s + x * y);
    acc.iter().fold(tail, |s, &v| s + v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `op(m)` as a plain `(rows, cols)` row-major matrix.
    fn read(m: &[f64], layout: Layout, rows: usize, cols: usize) -> Vec<f64> {
        match layout {
            Layout::AsStored => m.to_vec(),
            Layout::Transposed => transpose(m, cols, rows),
        }
    }

    fn values(n: usize, seed: u64) -> Vec<f64> {
        (0..n as u64)
            .map(|i| ((i * 7 + seed * 13) % 23) as f64 / 11.0 - 1.0)
            .collect()
    }

    #[test]
    fn every_layout_and_size_equals_the_plain_product() {
        let layouts = [Layout::AsStored, Layout::Transposed];
        // Sizes on the own loops (a side at most 5) and on matrixmultiply.
        for (m, k, n) in [(4, 3, 2), (2, 9, 7), (9, 2, 8), (8, 7, 3), (13, 17, 11)] {
            for a_layout in layouts {
                for b_layout in layouts {
                    let (a, b) = (values(m * k, 1), values(k * n, 2));
                    let c0 = values(m * n, 3);
                    let (pa, pb) = (read(&a, a_layout, m, k), read(&b, b_layout, k, n));
                    for beta in [0.0, 1.0, 0.5] {
                        let mut c = c0.clone();
                        gemm(&mut c, (&a, a_layout, m, k), (&b, b_layout, n), beta).unwrap();
                        for i in 0..m {
                            for j in 0..n {
                                let want: f64 =
                                    (0..k).map(|p| pa[i * k + p] * pb[p * n + j]).sum::<f64>()
                                        + beta * c0[i * n + j];
                                let got = c[i * n + j];
                                assert!(
                                    (got - want).abs() < 1e-12,
                                    "({m}, {k}, {n}) {a_layout:?} {b_layout:?} beta {beta}: \
                                     c[{i}][{j}] = {got}, want {want}"
                                );
                            }
                        }
                    }
                }
            }
        }
        let mut c = vec![0.0; 6];
        assert!(
            gemm(
                &mut c,
                (&[0.0; 5], Layout::AsStored, 2, 3),
                (&[0.0; 9], Layout::AsStored, 3),
                0.0
            )
            .is_err()
        );
    }

    #[test]
    fn split_over_threads_gives_the_same_bits() {
        // Large enough to split: 64 · 256 · 128 multiply-accumulates.
        let (m, k, n) = (64, 256, 128);
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| ((i * 53) % 97) as f32 / 40.0 - 1.2)
            .collect();
        let run = |threads: usize, a_layout: Layout, b_layout: Layout| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut c = vec![0.25f32; m * n];
            pool.install(|| gemm(&mut c, (&a, a_layout, m, k), (&b, b_layout, n), 1.0))
                .unwrap();
            c.into_iter().map(f32::to_bits).collect::<Vec<_>>()
        };
        for a_layout in [Layout::AsStored, Layout::Transposed] {
            for b_layout in [Layout::AsStored, Layout::Transposed] {
                let one = run(1, a_layout, b_layout);
                for threads in [2, 3] {
                    assert!(
                        one == run(threads, a_layout, b_layout),
                        "{a_layout:?} {b_layout:?}: {threads} threads differ from one"
                    );
                }
            }
        }
    }
}
