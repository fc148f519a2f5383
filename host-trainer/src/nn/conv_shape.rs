//! Feature-map shapes and the geometry of the convolutional layers
//! ([`super::conv`] holds the operations).
//!
//! # Layout
//!
//! A batch of feature maps is a plain `(batch, features)` matrix, like every
//! other activation in the trainer; each row is one map flattened
//! **channel-last** (NHWC, the layout of TFLite Micro and CMSIS-NN):
//!
//! - a 2-D map of `h × w` positions and `c` channels ([`MapShape`]) stores
//!   element `(y, x, ch)` at `(y·w + x)·c + ch`;
//! - a 1-D map (a sequence) of length `len` is the 2-D map with `h = 1`:
//!   element `(t, ch)` is at `t·c + ch`;
//! - a dense layer's `n` values are the map `1 × 1 × n`.
//!
//! So flattening a map for a dense layer, or reshaping one map shape into
//! another of the same length, moves no data: [`Reshape`] only checks the
//! lengths.
//!
//! Convolution weights are `[out][kh][kw][in]` (OHWI), row-major, one bias
//! per output channel; a 1-D kernel of size `k` is `[out][1][k][in]`, i.e.
//! `[out][k][in]`. A transposed convolution's weights are OHWI from its own
//! point of view too (`out` = its output channels, as in TFLite's
//! `TRANSPOSE_CONV`). From Keras: `Conv2D.kernel[kh][kw][in][out]` and
//! `Conv2DTranspose.kernel[kh][kw][out][in]` both become `w[out][kh][kw][in]`.
//!
//! # Arithmetic (TensorFlow's, per spatial axis)
//!
//! With input size `n`, kernel `k`, stride `s`:
//!
//! - convolution, [`Padding::Valid`]: `out = ⌊(n − k)/s⌋ + 1` (needs `n ≥ k`),
//!   no padding;
//! - convolution, [`Padding::Same`]: `out = ⌈n/s⌉`, `pad = max((out − 1)·s +
//!   k − n, 0)` zeros, `⌊pad/2⌋` before and the rest (one more when `pad` is
//!   odd) after;
//! - transposed convolution (Keras `Conv2DTranspose`, no output padding):
//!   `out = (n − 1)·s + k` for `Valid`, `out = n·s` for `Same`. It is exactly
//!   the adjoint (the gradient with respect to the input) of the convolution
//!   from `out` back to `n` with the same kernel, stride and padding
//!   ([`ConvTransposeSpec::adjoint`]);
//! - pooling of size `p` (stride `p`, no padding): `out = ⌊n/p⌋`; the last
//!   `n mod p` rows or columns are dropped (they never reach the output and
//!   get zero gradient), as Keras `MaxPool2D(padding="valid")` does;
//! - nearest-neighbour upsampling by `f`: `out = n·f`, output position `i`
//!   copies input position `⌊i/f⌋`.
//!
//! Every size is checked once, by the `output` methods (and the layer
//! constructors that call them): a zero or overflowing size, a kernel larger
//! than a `Valid` input, or a map too large for 32-bit indices is an error,
//! never a panic.

use anyhow::{Context, Result, bail, ensure};
use serde::{Deserialize, Serialize};

/// The largest number of values in one map: indices are `u32`, and
/// `u32::MAX` is reserved for "padding" ([`super::conv::NONE`]).
pub const MAX_MAP_LEN: usize = u32::MAX as usize - 1;

/// The shape of one feature map: `h × w` positions of `c` channels,
/// stored channel-last (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MapShape {
    /// Rows (1 for a 1-D map).
    pub h: usize,
    /// Columns (the length of a 1-D map).
    pub w: usize,
    /// Channels.
    pub c: usize,
}

impl MapShape {
    /// A 2-D map of `h × w` positions and `c` channels.
    pub const fn new(h: usize, w: usize, c: usize) -> Self {
        MapShape { h, w, c }
    }

    /// A 1-D map (sequence) of `len` steps and `c` channels: `1 × len × c`.
    pub const fn line(len: usize, c: usize) -> Self {
        MapShape { h: 1, w: len, c }
    }

    /// A dense layer's `n` values as a map: `1 × 1 × n`.
    pub const fn vector(n: usize) -> Self {
        MapShape { h: 1, w: 1, c: n }
    }

    /// Number of values, `h·w·c`: the width of the `(batch, features)`
    /// matrix that holds a batch of these maps (saturating; [`check`](Self::check)
    /// rejects shapes where it would overflow).
    pub fn len(&self) -> usize {
        self.h.saturating_mul(self.w).saturating_mul(self.c)
    }

    /// Whether the map holds no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of positions, `h·w`.
    pub fn positions(&self) -> usize {
        self.h.saturating_mul(self.w)
    }

    /// Where element `(y, x, ch)` lies in a row: `(y·w + x)·c + ch`.
    pub fn offset(&self, y: usize, x: usize, ch: usize) -> usize {
        (y * self.w + x) * self.c + ch
    }

    /// Checks that no size is zero and that the map fits 32-bit indices.
    pub fn check(&self) -> Result<()> {
        ensure!(
            self.h > 0 && self.w > 0 && self.c > 0,
            "a feature map needs non-zero sizes, got {self}"
        );
        let len = self
            .h
            .checked_mul(self.w)
            .and_then(|n| n.checked_mul(self.c))
            .filter(|&n| n <= MAX_MAP_LEN);
        ensure!(len.is_some(), "feature map {self} is too large");
        Ok(())
    }
}

impl std::fmt::Display for MapShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}×{}×{}", self.h, self.w, self.c)
    }
}

/// Flatten or reshape between two map shapes of the same length (a map and
/// a dense width, [`MapShape::vector`], included). With the channel-last
/// layout this moves no data: [`Reshape::forward`] returns its
/// input after checking the width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Reshape {
    /// The shape the rows hold before.
    pub from: MapShape,
    /// The shape they hold after.
    pub to: MapShape,
}

impl Reshape {
    /// A reshape; an error unless both shapes are valid and of equal length.
    pub fn new(from: MapShape, to: MapShape) -> Result<Self> {
        from.check()?;
        to.check()?;
        ensure!(
            from.len() == to.len(),
            "cannot reshape {from} ({} values) into {to} ({} values)",
            from.len(),
            to.len()
        );
        Ok(Reshape { from, to })
    }

    /// Flatten `from` for a dense layer: to `1 × 1 × from.len()`.
    #[cfg(test)]
    pub fn flatten(from: MapShape) -> Result<Self> {
        Self::new(from, MapShape::vector(from.len()))
    }
}

/// How a convolution pads its input (TensorFlow's `padding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Padding {
    /// No padding; windows lie inside the input: `out = ⌊(n − k)/s⌋ + 1`.
    Valid,
    /// Zeros around the input so that `out = ⌈n/s⌉`; the odd zero goes after.
    Same,
}

/// One spatial axis of a convolution: the output size and the zeros padded
/// before the input (TensorFlow's arithmetic, see the module docs).
pub fn conv_axis(n: usize, k: usize, s: usize, padding: Padding) -> Result<(usize, usize)> {
    ensure!(
        n > 0 && k > 0 && s > 0,
        "input {n}, kernel {k} and stride {s} must be non-zero"
    );
    match padding {
        Padding::Valid => {
            ensure!(
                n >= k,
                "a valid convolution needs input ≥ kernel, got {n} < {k}"
            );
            Ok(((n - k) / s + 1, 0))
        }
        Padding::Same => {
            let out = n.div_ceil(s);
            let span = (out - 1)
                .checked_mul(s)
                .and_then(|v| v.checked_add(k))
                .context("convolution size overflows")?;
            Ok((out, span.saturating_sub(n) / 2))
        }
    }
}

/// One spatial axis of a transposed convolution: the output size.
pub fn conv_transpose_axis(n: usize, k: usize, s: usize, padding: Padding) -> Result<usize> {
    ensure!(
        n > 0 && k > 0 && s > 0,
        "input {n}, kernel {k} and stride {s} must be non-zero"
    );
    let out = match padding {
        Padding::Valid => (n - 1).checked_mul(s).and_then(|v| v.checked_add(k)),
        Padding::Same => n.checked_mul(s),
    };
    out.context("transposed convolution size overflows")
}

/// Declares a convolution-like layer's geometry, the fields and the
/// constructors that [`ConvSpec`] and [`ConvTransposeSpec`] share: `$what`
/// names the layer in the docs, `$line` adds to the docs of `line`, and
/// `$weights` to those of `weight_shape`. Each type adds its own `output`.
macro_rules! conv_like_spec {
    (
        $(#[$doc:meta])*
        $name:ident, $what:literal, stride: $stride:literal, line: $line:literal,
        weights: $weights:literal
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub struct $name {
            /// Input map.
            pub input: MapShape,
            /// Output channels.
            pub filters: usize,
            /// Kernel (rows, columns).
            pub kernel: (usize, usize),
            #[doc = $stride]
            pub stride: (usize, usize),
            /// Padding.
            pub padding: Padding,
        }

        impl $name {
            #[doc = concat!("A 2-D ", $what, " with a square kernel and equal strides.")]
            pub fn square(
                input: MapShape,
                filters: usize,
                kernel: usize,
                stride: usize,
                padding: Padding,
            ) -> Self {
                $name {
                    input,
                    filters,
                    kernel: (kernel, kernel),
                    stride: (stride, stride),
                    padding,
                }
            }

            #[doc = concat!("A 1-D ", $what, " over `len` steps of `channels`", $line)]
            pub fn line(
                len: usize,
                channels: usize,
                filters: usize,
                kernel: usize,
                stride: usize,
                padding: Padding,
            ) -> Self {
                let input = MapShape::line(len, channels);
                $name {
                    kernel: (1, kernel),
                    stride: (1, stride),
                    ..Self::square(input, filters, kernel, stride, padding)
                }
            }

            #[doc = concat!("Weight matrix shape `(filters, kh·kw·in)`: ", $weights)]
            pub fn weight_shape(&self) -> (usize, usize) {
                (
                    self.filters,
                    self.kernel
                        .0
                        .saturating_mul(self.kernel.1)
                        .saturating_mul(self.input.c),
                )
            }
        }
    };
}

conv_like_spec! {
    /// A convolution: `filters` output channels from windows of `kernel`
    /// (rows, columns) positions moved by `stride`, plus a bias per filter.
    ConvSpec, "convolution",
    stride: "Stride (rows, columns).",
    line: ": the 2-D one with one row, kernel `(1, kernel)` and stride `(1, stride)`.",
    weights: "OHWI, one row per filter."
}

impl ConvSpec {
    /// The output map, after checking every size.
    pub fn output(&self) -> Result<MapShape> {
        self.geometry().map(|g| g.0)
    }

    /// The zeros padded before the input: (top, left).
    pub fn pad_before(&self) -> Result<(usize, usize)> {
        self.geometry().map(|g| g.1)
    }

    fn geometry(&self) -> Result<(MapShape, (usize, usize))> {
        self.input.check()?;
        ensure!(self.filters > 0, "a convolution needs at least one filter");
        let (h, top) = conv_axis(self.input.h, self.kernel.0, self.stride.0, self.padding)
            .context("convolution rows")?;
        let (w, left) = conv_axis(self.input.w, self.kernel.1, self.stride.1, self.padding)
            .context("convolution columns")?;
        let out = MapShape::new(h, w, self.filters);
        out.check()?;
        let (_, patch) = self.weight_shape();
        ensure!(
            patch <= MAX_MAP_LEN && out.positions().checked_mul(patch).is_some(),
            "convolution windows of {patch} values are too large"
        );
        Ok((out, (top, left)))
    }
}

conv_like_spec! {
    /// A transposed convolution (Keras `Conv2DTranspose`): the adjoint of the
    /// convolution from its output back to its input ([`Self::adjoint`]).
    ConvTransposeSpec, "transposed convolution",
    stride: "Stride (rows, columns): the upsampling factor.",
    line: ".",
    weights: "OHWI from this layer's point of view (`filters` = its output channels)."
}

impl ConvTransposeSpec {
    /// The output map, after checking every size.
    pub fn output(&self) -> Result<MapShape> {
        self.input.check()?;
        ensure!(
            self.filters > 0,
            "a transposed convolution needs at least one filter"
        );
        let h = conv_transpose_axis(self.input.h, self.kernel.0, self.stride.0, self.padding)
            .context("transposed convolution rows")?;
        let w = conv_transpose_axis(self.input.w, self.kernel.1, self.stride.1, self.padding)
            .context("transposed convolution columns")?;
        let out = MapShape::new(h, w, self.filters);
        out.check()?;
        Ok(out)
    }

    /// The convolution this layer is the adjoint of: from [`Self::output`]
    /// to `input`, same kernel, stride and padding. Its weights are this
    /// layer's with the first and last axes swapped (`w[in][kh][kw][out]`).
    pub fn adjoint(&self) -> Result<ConvSpec> {
        let out = self.output()?;
        let conv = ConvSpec {
            input: out,
            filters: self.input.c,
            kernel: self.kernel,
            stride: self.stride,
            padding: self.padding,
        };
        let back = conv.output()?;
        if back != self.input {
            bail!(
                "internal: the convolution adjoint to {} → {out} maps back to {back}",
                self.input
            );
        }
        Ok(conv)
    }
}

/// Which pooling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PoolKind {
    /// The largest value of each window (the first one on ties).
    Max,
    /// The mean of each window.
    Avg,
}

/// Pooling over non-overlapping windows of `size` (rows, columns), stride
/// = size, no padding; each channel separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PoolSpec {
    /// Input map.
    pub input: MapShape,
    /// Window (rows, columns), also the stride.
    pub size: (usize, usize),
    /// Max or average.
    pub kind: PoolKind,
}

impl PoolSpec {
    /// 2-D pooling over `p × p` windows.
    pub fn square(input: MapShape, p: usize, kind: PoolKind) -> Self {
        PoolSpec {
            input,
            size: (p, p),
            kind,
        }
    }

    /// 1-D pooling over `p` steps.
    pub fn line(len: usize, channels: usize, p: usize, kind: PoolKind) -> Self {
        PoolSpec {
            input: MapShape::line(len, channels),
            size: (1, p),
            kind,
        }
    }

    /// The output map `⌊h/ph⌋ × ⌊w/pw⌋ × c`, after checking every size.
    pub fn output(&self) -> Result<MapShape> {
        self.input.check()?;
        let (ph, pw) = self.size;
        ensure!(ph > 0 && pw > 0, "pool size must be non-zero");
        ensure!(
            self.input.h >= ph && self.input.w >= pw,
            "pool window {ph}×{pw} is larger than the map {}",
            self.input
        );
        let out = MapShape::new(self.input.h / ph, self.input.w / pw, self.input.c);
        out.check()?;
        Ok(out)
    }
}

/// Nearest-neighbour upsampling by integer `factor` (rows, columns).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UpsampleSpec {
    /// Input map.
    pub input: MapShape,
    /// Factor (rows, columns).
    pub factor: (usize, usize),
}

impl UpsampleSpec {
    /// 2-D upsampling by `f` along both axes.
    pub fn square(input: MapShape, f: usize) -> Self {
        UpsampleSpec {
            input,
            factor: (f, f),
        }
    }

    /// 1-D upsampling by `f`.
    pub fn line(len: usize, channels: usize, f: usize) -> Self {
        UpsampleSpec {
            input: MapShape::line(len, channels),
            factor: (1, f),
        }
    }

    /// The output map `h·fh × w·fw × c`, after checking every size.
    pub fn output(&self) -> Result<MapShape> {
        self.input.check()?;
        let (fh, fw) = self.factor;
        ensure!(fh > 0 && fw > 0, "upsampling factor must be non-zero");
        let out = MapShape::new(
            self.input
                .h
                .checked_mul(fh)
                .context("upsampling overflows")?,
            self.input
                .w
                .checked_mul(fw)
                .context("upsampling overflows")?,
            self.input.c,
        );
        out.check()?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensorflow_axis_arithmetic() {
        // Valid: ⌊(n − k)/s⌋ + 1.
        assert_eq!(conv_axis(28, 3, 1, Padding::Valid).unwrap(), (26, 0));
        assert_eq!(conv_axis(7, 3, 2, Padding::Valid).unwrap(), (3, 0));
        assert_eq!(conv_axis(8, 3, 2, Padding::Valid).unwrap(), (3, 0));
        // Same: ⌈n/s⌉, pad_total = max((out − 1)s + k − n, 0), before = half.
        assert_eq!(conv_axis(28, 3, 1, Padding::Same).unwrap(), (28, 1));
        assert_eq!(conv_axis(28, 3, 2, Padding::Same).unwrap(), (14, 0)); // total 1: after
        assert_eq!(conv_axis(7, 3, 2, Padding::Same).unwrap(), (4, 1)); // total 2
        assert_eq!(conv_axis(5, 4, 1, Padding::Same).unwrap(), (5, 1)); // total 3: 1 + 2
        assert_eq!(conv_axis(5, 1, 3, Padding::Same).unwrap(), (2, 0)); // total 0
        assert!(conv_axis(2, 3, 1, Padding::Valid).is_err());
        assert!(conv_axis(0, 3, 1, Padding::Same).is_err());
        assert!(conv_axis(4, 3, 0, Padding::Same).is_err());
        assert_eq!(conv_transpose_axis(3, 3, 2, Padding::Valid).unwrap(), 7);
        assert_eq!(conv_transpose_axis(7, 3, 2, Padding::Same).unwrap(), 14);
        assert!(conv_transpose_axis(usize::MAX, 3, 2, Padding::Same).is_err());
    }

    #[test]
    fn layout_offsets_and_reshape() {
        let m = MapShape::new(3, 4, 5);
        assert_eq!(m.len(), 60);
        assert_eq!(m.offset(0, 0, 0), 0);
        assert_eq!(m.offset(0, 0, 4), 4);
        assert_eq!(m.offset(0, 1, 0), 5);
        assert_eq!(m.offset(1, 0, 0), 20);
        assert_eq!(m.offset(2, 3, 4), 59);
        let line = MapShape::line(7, 2);
        assert_eq!(line.offset(0, 3, 1), 3 * 2 + 1);
        assert_eq!(Reshape::flatten(m).unwrap().to, MapShape::vector(60));
        assert!(Reshape::new(m, MapShape::new(6, 2, 5)).is_ok());
        assert!(Reshape::new(m, MapShape::new(6, 2, 4)).is_err());
        assert!(MapShape::new(0, 1, 1).check().is_err());
        assert!(MapShape::new(1 << 20, 1 << 20, 1 << 20).check().is_err());
        assert!(MapShape::new(usize::MAX, 2, 1).check().is_err());
    }

    #[test]
    fn transposed_adjoint_maps_back() {
        for padding in [Padding::Valid, Padding::Same] {
            for (n, k, s) in [(3, 3, 2), (7, 3, 2), (5, 2, 3), (4, 1, 2), (6, 5, 1)] {
                let t = ConvTransposeSpec::square(MapShape::new(n, n + 1, 3), 2, k, s, padding);
                let conv = t.adjoint().unwrap();
                assert_eq!(conv.output().unwrap(), t.input);
                assert_eq!(conv.input, t.output().unwrap());
            }
        }
    }
}
