//! Feature maps (format version 4): their shape, the padding of a
//! convolution, the kind of a pooling, and the size arithmetic that every
//! convolutional, pooling and upsampling layer shares. SPEC.md section 3.3
//! ("Feature maps") states the same rules.
//!
//! A map of `h × w` positions and `c` channels is stored channel-last
//! (NHWC without the batch): element `(y, x, ch)` is value
//! `(y·w + x)·c + ch` of the layer's input or output vector. A 1-D map (a
//! sequence of `len` steps) is the map with `h = 1`, and a window of the
//! model's input, time-major `[t0c0, t0c1, …]`, is the map
//! `1 × window × channels`. A dense layer's `n` values are any map of `n`
//! values, so flattening or reshaping moves no data and no layer stores it.
//!
//! The arithmetic is TensorFlow's, per spatial axis, with input size `n`,
//! kernel `k` and stride `s`:
//!
//! - convolution, [`Padding::Valid`]: `out = ⌊(n − k)/s⌋ + 1` (needs
//!   `n ≥ k`), no padding;
//! - convolution, [`Padding::Same`]: `out = ⌈n/s⌉`, and
//!   `pad = max((out − 1)·s + k − n, 0)` zeros, `⌊pad/2⌋` before the input
//!   and the rest after;
//! - transposed convolution: `out = (n − 1)·s + k` (`Valid`) or `n·s`
//!   (`Same`); it is the adjoint of the convolution from `out` back to `n`
//!   with the same kernel, stride and padding, whose `⌊pad/2⌋` it uses;
//! - pooling of size `p` (stride `p`, no padding): `out = ⌊n/p⌋` (needs
//!   `n ≥ p`), the last `n mod p` rows or columns are dropped;
//! - nearest-neighbour upsampling by `f`: `out = n·f`.

use serde::{Deserialize, Serialize};

/// The shape of a feature map: `h × w` positions of `c` channels, stored
/// channel-last (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MapShape {
    /// Rows (1 for a 1-D map).
    pub h: u32,
    /// Columns (the length of a 1-D map).
    pub w: u32,
    /// Channels.
    pub c: u32,
}

impl MapShape {
    /// A 2-D map of `h × w` positions and `c` channels.
    pub const fn new(h: u32, w: u32, c: u32) -> MapShape {
        MapShape { h, w, c }
    }

    /// A 1-D map (sequence) of `len` steps and `c` channels: `1 × len × c`.
    pub const fn line(len: u32, c: u32) -> MapShape {
        MapShape { h: 1, w: len, c }
    }

    /// Number of values, `h·w·c`, in `u64` (saturating: three `u32` sizes
    /// may overflow it).
    pub const fn len(&self) -> u64 {
        (self.h as u64 * self.w as u64).saturating_mul(self.c as u64)
    }

    /// True when some size is 0.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How a convolution pads its input (TensorFlow's `padding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(rename_all = "snake_case")] // names matter only to self-describing formats (JSON)
pub enum Padding {
    /// No padding; windows lie inside the input (tag 0).
    Valid,
    /// Zeros around the input so that `out = ⌈n/s⌉`; the odd zero goes
    /// after (tag 1).
    Same,
}

/// Which pooling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(rename_all = "snake_case")] // names matter only to self-describing formats (JSON)
pub enum PoolKind {
    /// The largest value of each window (tag 0).
    Max,
    /// The mean of each window (tag 1).
    Avg,
}

/// A map's sizes as `usize`, from a validated model: `h·w·c` does not
/// overflow, so [`MapDims::len`] is exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MapDims {
    /// Rows.
    pub h: usize,
    /// Columns.
    pub w: usize,
    /// Channels.
    pub c: usize,
}

impl MapDims {
    /// Number of values, `h·w·c` (saturating; exact in a validated model).
    pub const fn len(&self) -> usize {
        self.h.saturating_mul(self.w).saturating_mul(self.c)
    }

    /// True when some size is 0 (never in a validated model).
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of positions, `h·w`.
    pub const fn positions(&self) -> usize {
        self.h.saturating_mul(self.w)
    }
}

/// One spatial axis of a convolution: `(out, pad_before)`, or `None` when
/// a size is 0, a `Valid` kernel is larger than the input, or a size
/// overflows.
pub const fn conv_axis(n: u64, k: u64, s: u64, padding: Padding) -> Option<(u64, u64)> {
    if n == 0 || k == 0 || s == 0 {
        return None;
    }
    match padding {
        Padding::Valid => {
            if n < k {
                None
            } else {
                Some(((n - k) / s + 1, 0))
            }
        }
        Padding::Same => {
            let out = n.div_ceil(s);
            match (out - 1).checked_mul(s) {
                Some(v) => match v.checked_add(k) {
                    Some(span) => Some((out, span.saturating_sub(n) / 2)),
                    None => None,
                },
                None => None,
            }
        }
    }
}

/// One spatial axis of a transposed convolution: `(out, pad_before)`, the
/// second being the padding of the convolution it is the adjoint of (from
/// `out` back to `n`); `None` when a size is 0 or overflows.
pub const fn conv_transpose_axis(n: u64, k: u64, s: u64, padding: Padding) -> Option<(u64, u64)> {
    if n == 0 || k == 0 || s == 0 {
        return None;
    }
    match padding {
        // The adjoint convolution from (n − 1)·s + k is valid: no padding.
        Padding::Valid => match (n - 1).checked_mul(s) {
            Some(v) => match v.checked_add(k) {
                Some(out) => Some((out, 0)),
                None => None,
            },
            None => None,
        },
        // From n·s, Same gives ⌈n·s/s⌉ = n and pads (n − 1)·s + k − n·s.
        Padding::Same => match n.checked_mul(s) {
            Some(out) => Some((out, k.saturating_sub(s) / 2)),
            None => None,
        },
    }
}

/// The geometry of a convolution or transposed convolution, resolved from
/// a validated layer: every index a kernel computes from it stays inside
/// its maps and its weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConvGeometry {
    /// Input map.
    pub input: MapDims,
    /// Output map (`c` is the number of filters).
    pub output: MapDims,
    /// Kernel (rows, columns).
    pub kernel: [usize; 2],
    /// Stride (rows, columns).
    pub stride: [usize; 2],
    /// Zeros before the input (top, left). For a transposed convolution,
    /// those of the convolution it is the adjoint of (before its output).
    pub pad: [usize; 2],
}

impl ConvGeometry {
    /// Values of one weight row, `kh·kw·c_in`: the weights of one filter
    /// (OHWI) and one im2col column.
    pub const fn patch(&self) -> usize {
        self.kernel[0]
            .saturating_mul(self.kernel[1])
            .saturating_mul(self.input.c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensorflow_axis_arithmetic() {
        // The host trainer's cases (host-trainer/src/nn/conv_shape.rs).
        assert_eq!(conv_axis(28, 3, 1, Padding::Valid), Some((26, 0)));
        assert_eq!(conv_axis(7, 3, 2, Padding::Valid), Some((3, 0)));
        assert_eq!(conv_axis(8, 3, 2, Padding::Valid), Some((3, 0)));
        assert_eq!(conv_axis(28, 3, 1, Padding::Same), Some((28, 1)));
        assert_eq!(conv_axis(28, 3, 2, Padding::Same), Some((14, 0)));
        assert_eq!(conv_axis(7, 3, 2, Padding::Same), Some((4, 1)));
        assert_eq!(conv_axis(5, 4, 1, Padding::Same), Some((5, 1)));
        assert_eq!(conv_axis(5, 1, 3, Padding::Same), Some((2, 0)));
        assert_eq!(conv_axis(2, 3, 1, Padding::Valid), None);
        assert_eq!(conv_axis(0, 3, 1, Padding::Same), None);
        assert_eq!(conv_axis(4, 3, 0, Padding::Same), None);
        assert_eq!(conv_transpose_axis(3, 3, 2, Padding::Valid), Some((7, 0)));
        assert_eq!(conv_transpose_axis(7, 3, 2, Padding::Same), Some((14, 0)));
        assert_eq!(conv_transpose_axis(14, 3, 2, Padding::Same), Some((28, 0)));
        assert_eq!(conv_transpose_axis(4, 5, 1, Padding::Same), Some((4, 2)));
        assert_eq!(conv_transpose_axis(u64::MAX, 3, 2, Padding::Same), None);
        // The transposed padding is the adjoint convolution's.
        for padding in [Padding::Valid, Padding::Same] {
            for (n, k, s) in [(3, 3, 2), (7, 3, 2), (5, 2, 3), (4, 1, 2), (6, 5, 1)] {
                let (out, pad) = conv_transpose_axis(n, k, s, padding).unwrap();
                assert_eq!(conv_axis(out, k, s, padding), Some((n, pad)));
            }
        }
    }

    #[test]
    fn shapes() {
        let m = MapShape::new(3, 4, 5);
        assert_eq!(m.len(), 60);
        assert_eq!(MapShape::line(7, 2), MapShape::new(1, 7, 2));
        assert_eq!(
            MapShape::new(u32::MAX, u32::MAX, 1).len(),
            (u32::MAX as u64).pow(2)
        );
        assert_eq!(MapShape::new(u32::MAX, u32::MAX, 2).len(), u64::MAX);
        assert!(MapShape::new(0, 1, 1).is_empty());
    }
}
