//! int8 dense with rows interleaved four at a time
//! (`WeightLayout::Interleaved4`, the `DenseI8x4` layer of SPEC.md): the
//! portable code, and the x86-64 kernels where [`crate::ops::kernel_path`]
//! picks them; both compute SPEC's DenseI8 sums (wrapping i32), so the same
//! bits as the row-major layer with the same weights.
//!
//! The weights are `G` row groups (`G = ⌈outputs/4⌉`) of `B` 16-byte units
//! (`B = ⌈inputs/4⌉`); unit `b` of group `g` holds the four weights
//! `w[4g + r, 4b..4b + 4]` of each row `r` in turn, zeros for padding rows
//! and inputs. A layer whose weights are shorter computes fewer outputs.

use model_format::DenseI8Op;

use super::dsp;
use super::int8::{finish, tail_sum};

/// Runs `op` (`op.layout` is `Interleaved4`) on the packed input `x`
/// (`packed_words(op.inputs)` words) into the first `op.outputs` values of
/// `y`.
pub fn run(op: &DenseI8Op<'_>, x: &[u32], y: &mut [i8]) {
    let Some(y) = y.get_mut(..op.outputs) else {
        return; // unreachable with buffers sized by `ScratchPlan`
    };
    if op.inputs == 0 || op.outputs == 0 {
        return;
    }
    let blocks = op.inputs / 4;
    let (xb, xt) = x.split_at((blocks * 2).min(x.len()));
    let xb = xb.as_chunks::<2>().0;
    let xt = xt.get(..op.inputs % 4).unwrap_or(xt);
    #[cfg(edgeae_x86)]
    let simd = dsp::x86::Simd::current();
    let mut bias = op.bias.iter();
    let groups = op
        .weights
        .as_bytes()
        .chunks_exact(op.inputs.div_ceil(4) * 16);
    for ((g, ys), group) in y.chunks_mut(4).enumerate().zip(groups) {
        let (full, partial) = group.as_chunks::<16>().0.split_at(blocks);
        let acc = core::array::from_fn(|r| {
            if r < ys.len() {
                bias.next().unwrap_or(0)
            } else {
                0 // a padding row
            }
        });
        #[cfg(edgeae_x86)]
        let acc = match simd {
            Some(simd) => simd.dot_x4(full, xb, acc),
            None => units(full, xb, acc),
        };
        #[cfg(not(edgeae_x86))]
        let acc = units(full, xb, acc);
        let acc = partial.first().map_or(acc, |u| last_block(u, xt, acc));
        for (r, (yo, a)) in ys.iter_mut().zip(acc).enumerate() {
            *yo = finish(op, a, op.exponents.get(4 * g + r));
        }
    }
}

/// The four rows of a group over whole blocks, portable (the Cortex-M DSP
/// block where the `dsp` feature is on).
fn units(units: &[[u8; 16]], x: &[[u32; 2]], acc: [i32; 4]) -> [i32; 4] {
    units.iter().zip(x).fold(acc, |acc, (u, xb)| {
        let rows: &[[u8; 4]; 4] = bytemuck::cast_ref(u);
        let mut out = acc;
        for (a, w) in out.iter_mut().zip(rows) {
            *a = dsp::dot1(core::slice::from_ref(w), core::slice::from_ref(xb), *a);
        }
        out
    })
}

/// The last, partial block (`inputs % 4` values, one packed word each).
fn last_block(u: &[u8; 16], xt: &[u32], acc: [i32; 4]) -> [i32; 4] {
    let mut out = acc;
    for (a, w) in out.iter_mut().zip(u.as_chunks::<4>().0) {
        *a = tail_sum(*a, w, xt);
    }
    out
}
