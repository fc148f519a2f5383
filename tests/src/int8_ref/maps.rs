//! The feature-map layers of SPEC.md 3.3 ("Feature-map layers (version
//! 4)"), f32 and int8, for the reference: sizes and padding from the
//! SPEC's table, the convolution as a gather over its taps, the transposed
//! convolution as the scatter the SPEC defines it by, pooling and
//! upsampling. Nothing here comes from `model_format::map` (its
//! `conv_axis`, `ConvGeometry`) or from the firmware.
//!
//! Both convolutions are first turned into [`taps`]: for every output
//! value, the list of (weight, input value) pairs its sum adds. The int8
//! and the f32 arithmetic then only differ in how they add them up.

use model_format::{F32s, Layer, MapShape, Padding, PoolKind, Quant};

use super::{Expected, Finish, Mutation, Sum, TINY, U, exponents, i8s, i32s};

/// A map's sizes: `h × w` positions of `c` channels, stored channel-last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Map {
    /// Rows.
    pub h: usize,
    /// Columns.
    pub w: usize,
    /// Channels.
    pub c: usize,
}

impl Map {
    /// The map `h × w × c`.
    pub const fn new(h: usize, w: usize, c: usize) -> Map {
        Map { h, w, c }
    }

    /// The sizes of a stored [`MapShape`].
    pub fn of(shape: &MapShape) -> Map {
        Map::new(shape.h as usize, shape.w as usize, shape.c as usize)
    }

    /// As a [`MapShape`] for the model builder.
    pub fn shape(&self) -> MapShape {
        let n = |v: usize| u32::try_from(v).expect("small maps");
        MapShape::new(n(self.h), n(self.w), n(self.c))
    }

    /// Number of values, `h·w·c`.
    pub const fn len(&self) -> usize {
        self.h * self.w * self.c
    }

    /// True when some size is 0.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The index of element `(y, x, ch)`: `(y·w + x)·c + ch` (SPEC, "Layout").
    pub const fn at(&self, y: usize, x: usize, ch: usize) -> usize {
        (y * self.w + x) * self.c + ch
    }
}

/// Where Same padding puts the odd zero of `pad`: `⌊pad/2⌋` before the
/// input (the rest after), or `⌈pad/2⌉` under [`Mutation::SamePadOddBefore`].
fn zeros_before(pad: usize, mutation: Mutation) -> usize {
    if mutation == Mutation::SamePadOddBefore {
        pad.div_ceil(2)
    } else {
        pad / 2
    }
}

/// A convolution along one axis of input size `n`, kernel `k`, stride
/// `s`: `(output size, zeros before the input)` from the SPEC's table, or
/// `None` when a Valid kernel is larger than the input (or a size is 0).
pub fn conv_axis(
    n: usize,
    k: usize,
    s: usize,
    padding: Padding,
    mutation: Mutation,
) -> Option<(usize, usize)> {
    if n == 0 || k == 0 || s == 0 {
        return None;
    }
    match padding {
        Padding::Valid => (n >= k).then(|| ((n - k) / s + 1, 0)),
        Padding::Same => {
            let out = n.div_ceil(s);
            let pad = ((out - 1) * s + k).saturating_sub(n);
            Some((out, zeros_before(pad, mutation)))
        }
    }
}

/// A transposed convolution along one axis: `(output size, zeros before
/// the input of the adjoint convolution)` from the SPEC's table.
pub fn conv_transpose_axis(
    n: usize,
    k: usize,
    s: usize,
    padding: Padding,
    mutation: Mutation,
) -> Option<(usize, usize)> {
    if n == 0 || k == 0 || s == 0 {
        return None;
    }
    match padding {
        Padding::Valid => Some(((n - 1) * s + k, 0)),
        Padding::Same => Some((n * s, zeros_before(k.saturating_sub(s), mutation))),
    }
}

/// The geometry of a convolution or transposed convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Input map.
    pub input: Map,
    /// Output map (`c`: the filters).
    pub output: Map,
    /// Kernel (rows, columns).
    pub kernel: [usize; 2],
    /// Stride (rows, columns).
    pub stride: [usize; 2],
    /// Zeros before the input (`top`, `left`); for a transposed
    /// convolution, those of its adjoint convolution.
    pub before: [usize; 2],
    /// A transposed convolution.
    pub transposed: bool,
}

impl Geometry {
    /// The geometry of a layer with these fields, or `None` when they are
    /// not valid (a Valid kernel larger than its input, a size 0).
    pub fn new(
        input: Map,
        filters: usize,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: Padding,
        transposed: bool,
        mutation: Mutation,
    ) -> Option<Geometry> {
        let axis = if transposed {
            conv_transpose_axis
        } else {
            conv_axis
        };
        let (h, top) = axis(input.h, kernel[0], stride[0], padding, mutation)?;
        let (w, mut left) = axis(input.w, kernel[1], stride[1], padding, mutation)?;
        if transposed && mutation == Mutation::TransposePaddingOffByOne {
            left += 1;
        }
        (filters > 0 && input.c > 0).then_some(Geometry {
            input,
            output: Map::new(h, w, filters),
            kernel,
            stride,
            before: [top, left],
            transposed,
        })
    }

    /// The geometry of a stored Conv, ConvTranspose, ConvI8 or
    /// ConvTransposeI8 layer (valid, since the model loaded).
    #[allow(clippy::too_many_arguments)] // the fields of four layer types
    fn of(
        shape: &MapShape,
        filters: u32,
        kernel: [u32; 2],
        stride: [u32; 2],
        padding: Padding,
        transposed: bool,
        mutation: Mutation,
    ) -> Geometry {
        let pair = |v: [u32; 2]| v.map(|v| v as usize);
        Geometry::new(
            Map::of(shape),
            filters as usize,
            pair(kernel),
            pair(stride),
            padding,
            transposed,
            mutation,
        )
        .expect("a loaded model's geometry is valid")
    }
}

/// One term of an output's sum: the weight (its index in the OHWI
/// weights) and the input value it multiplies (its index in the input
/// map), or `None` for a padded position.
pub type Tap = (usize, Option<usize>);

/// The offset `base + i − before` along an axis, if it lies in `0..size`.
fn inside(base: usize, i: usize, before: usize, size: usize) -> Option<usize> {
    (base + i).checked_sub(before).filter(|v| *v < size)
}

/// For every output value (in map order), the terms its sum adds.
///
/// - Convolution (a gather): output `(oy, ox, f)` adds, for every kernel
///   tap `(i, j, ch)`, `w[f][i][j][ch]` times input
///   `(oy·sh + i − top, ox·sw + j − left, ch)`, a padded position where
///   that lies outside the input.
/// - Transposed convolution (the scatter the SPEC writes): every input
///   position `(oy, ox)` sends, through every tap `(i, j)`, `w[f][i][j][ch]`
///   times input `(oy, ox, ch)` to output `(oy·sh + i − top, ox·sw + j −
///   left, f)` when that exists; there are no padded positions.
pub fn taps(g: &Geometry, mutation: Mutation) -> Vec<Vec<Tap>> {
    let (input, output) = (g.input, g.output);
    let [kh, kw] = g.kernel;
    let [sh, sw] = g.stride;
    let [top, left] = g.before;
    let weight = |f: usize, i: usize, j: usize, ch: usize| ((f * kh + i) * kw + j) * input.c + ch;
    let mut out = vec![Vec::new(); output.len()];
    if !g.transposed {
        for oy in 0..output.h {
            for ox in 0..output.w {
                for f in 0..output.c {
                    let terms = &mut out[output.at(oy, ox, f)];
                    for i in 0..kh {
                        for j in 0..kw {
                            let y = inside(oy * sh, i, top, input.h);
                            let x = inside(ox * sw, j, left, input.w);
                            for ch in 0..input.c {
                                let src = y.zip(x).map(|(y, x)| input.at(y, x, ch));
                                terms.push((weight(f, i, j, ch), src));
                            }
                        }
                    }
                }
            }
        }
    } else {
        for oy in 0..input.h {
            for ox in 0..input.w {
                for i in 0..kh {
                    for j in 0..kw {
                        let (Some(p), Some(q)) = (
                            inside(oy * sh, i, top, output.h),
                            inside(ox * sw, j, left, output.w),
                        ) else {
                            continue;
                        };
                        let (wi, wj) = if mutation == Mutation::TransposeKernelFlipped {
                            (kh - 1 - i, kw - 1 - j)
                        } else {
                            (i, j)
                        };
                        for f in 0..output.c {
                            for ch in 0..input.c {
                                out[output.at(p, q, f)]
                                    .push((weight(f, wi, wj, ch), Some(input.at(oy, ox, ch))));
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// An int8 convolution or transposed convolution (SPEC: ConvI8, ConvTransposeI8):
/// `acc = bias[f] + Σ w · (xq − input.zero_point)` over the taps, a padded
/// position reading `input.zero_point`, in wrapping i32, then finished as a
/// DenseI8 output with `e[f]`.
#[allow(clippy::too_many_arguments)] // the numbers of one layer
fn conv_i8(
    g: &Geometry,
    weights: &[i8],
    e: &[u8],
    bias: &[i32],
    input: &Quant,
    finish: &Finish,
    x: &[i8],
    mutation: Mutation,
) -> Vec<i8> {
    assert_eq!(x.len(), g.input.len());
    let zp = if mutation == Mutation::IgnoreInputZeroPoint {
        0
    } else {
        i64::from(input.zero_point)
    };
    let padded = if mutation == Mutation::PaddingReadsZero {
        0
    } else {
        i64::from(input.zero_point)
    };
    taps(g, mutation)
        .iter()
        .enumerate()
        .map(|(o, terms)| {
            let f = o % g.output.c;
            // |w·(q − zp)| <= 127·255: far from overflowing i64 for any
            // map this test builds; the i32 truncation is the wrapping sum.
            let mut sum = i64::from(bias[f]);
            for (w, src) in terms {
                let q = src.map_or(padded, |i| i64::from(x[i]));
                sum += i64::from(weights[*w]) * (q - zp);
            }
            finish.apply(sum as i32, e[f], mutation)
        })
        .collect()
}

/// An f32 convolution or transposed convolution (SPEC: Conv,
/// ConvTranspose): `act(bias[f] + Σ w · x)` over the taps, a padded
/// position reading 0, with the bound of [`Sum`].
fn conv_f32(
    g: &Geometry,
    weights: F32s<'_>,
    bias: F32s<'_>,
    activation: model_format::Activation,
    x: &Expected,
    mutation: Mutation,
) -> Expected {
    assert_eq!(x.values.len(), g.input.len());
    let weights: Vec<f32> = weights.iter().collect();
    let bias: Vec<f32> = bias.iter().collect();
    let (values, bounds) = taps(g, mutation)
        .iter()
        .enumerate()
        .map(|(o, terms)| {
            let f = o % g.output.c;
            let products = terms.iter().map(|(w, src)| match src {
                Some(i) => (weights[*w], x.values[*i], x.bounds[*i]),
                None => (weights[*w], 0.0, 0.0),
            });
            Sum::of(bias[f], products).finish(activation)
        })
        .unzip();
    Expected { values, bounds }
}

/// The windows of a pooling of `input` by `size` (stride = size, no
/// padding, the last `n mod p` rows and columns dropped): the output map,
/// and for every output value the input indices of its window, row-major.
fn windows(input: Map, size: [usize; 2]) -> (Map, Vec<Vec<usize>>) {
    let [ph, pw] = size;
    let output = Map::new(input.h / ph, input.w / pw, input.c);
    let mut all = vec![Vec::new(); output.len()];
    for oy in 0..output.h {
        for ox in 0..output.w {
            for ch in 0..output.c {
                all[output.at(oy, ox, ch)] = (0..ph)
                    .flat_map(|i| (0..pw).map(move |j| input.at(oy * ph + i, ox * pw + j, ch)))
                    .collect();
            }
        }
    }
    (output, all)
}

/// f32 pooling (SPEC: Pool). Max: the first value of the window, replaced
/// by each later one that is greater, or NaN while the current one is not.
/// Avg: the f32 sum in window order from +0.0, times `r = 1/n` computed in
/// f64 and rounded to f32 once. Both fix every bit; the bounds only carry
/// the input's.
fn pool_f32(
    input: Map,
    size: [usize; 2],
    kind: PoolKind,
    x: &Expected,
    mutation: Mutation,
) -> Expected {
    let n = size[0] * size[1];
    let r = (1.0f64 / n as f64) as f32;
    let (_, windows) = windows(input, size);
    let (values, bounds) = windows
        .iter()
        .map(|window| {
            let bound = |f: fn(f64, f64) -> f64| window.iter().map(|k| x.bounds[*k]).fold(0.0, f);
            match kind {
                PoolKind::Max => {
                    let mut m = x.values[window[0]];
                    for k in &window[1..] {
                        let v = x.values[*k];
                        if v > m || (v.is_nan() && !m.is_nan()) {
                            m = v;
                        }
                    }
                    // max is 1-Lipschitz in every value.
                    (m, bound(f64::max))
                }
                PoolKind::Avg => {
                    let mut s = 0.0f32;
                    for k in window {
                        s += x.values[*k];
                    }
                    let y = if mutation == Mutation::F32AvgPoolDivides {
                        s / n as f32
                    } else {
                        s * r
                    };
                    let spread = bound(|a, b| a + b);
                    if spread == 0.0 {
                        return (y, 0.0);
                    }
                    // Both sums round (n terms each), then both products.
                    let magnitude: f64 = window.iter().map(|k| f64::from(x.values[*k]).abs()).sum();
                    let sums = spread + 2.0 * (n as f64 + 1.0) * U * (magnitude + spread);
                    let b = 1.01 * (f64::from(r) * sums + 2.0 * U * f64::from(y).abs()) + TINY;
                    (y, b)
                }
            }
        })
        .unzip();
    Expected { values, bounds }
}

/// int8 pooling (SPEC: PoolI8) on the stored values: the largest, or the
/// mean rounded half away from zero, `sign(s)·⌊(2|s| + n)/(2n)⌋`.
fn pool_i8(
    input: Map,
    size: [usize; 2],
    kind: PoolKind,
    quant: &Quant,
    x: &[i8],
    mutation: Mutation,
) -> Vec<i8> {
    let n = i64::try_from(size[0] * size[1]).expect("small windows");
    let (_, windows) = windows(input, size);
    windows
        .iter()
        .map(|window| {
            let q = window.iter().map(|k| i64::from(x[*k]));
            let y = match kind {
                PoolKind::Max => q.max().expect("a window has a value"),
                PoolKind::Avg => match mutation {
                    Mutation::AvgPoolRoundsHalfDown => {
                        // ⌈(2s − n)/(2n)⌉: a mean ending in .5 goes down.
                        let s: i64 = q.sum();
                        -(-(2 * s - n)).div_euclid(2 * n)
                    }
                    Mutation::AvgPoolAroundZeroPoint => {
                        let zp = i64::from(quant.zero_point);
                        round_mean(q.map(|v| v - zp).sum(), n) + zp
                    }
                    _ => round_mean(q.sum(), n),
                },
            };
            i8::try_from(y.clamp(-128, 127)).expect("clamped")
        })
        .collect()
}

/// `sign(s)·⌊(2|s| + n)/(2n)⌋`: `s/n` rounded half away from zero.
fn round_mean(s: i64, n: i64) -> i64 {
    let m = (2 * s.abs() + n) / (2 * n);
    if s < 0 { -m } else { m }
}

/// Nearest-neighbour upsampling (SPEC: Upsample, UpsampleI8): output
/// `(y, x, ch)` is input `(⌊y/fh⌋, ⌊x/fw⌋, ch)`; `pick` copies a value.
fn upsample<T>(input: Map, factor: [usize; 2], mut pick: impl FnMut(usize) -> T) -> Vec<T> {
    let [fh, fw] = factor;
    let output = Map::new(input.h * fh, input.w * fw, input.c);
    let mut out = Vec::with_capacity(output.len());
    for y in 0..output.h {
        for x in 0..output.w {
            for ch in 0..output.c {
                out.push(pick(input.at(y / fh, x / fw, ch)));
            }
        }
    }
    out
}

fn pair(v: [u32; 2]) -> [usize; 2] {
    v.map(|v| v as usize)
}

/// Runs the f32 feature-map layer `layer` (Conv, ConvTranspose, Pool,
/// Upsample) on `x`.
pub(super) fn run_f32(layer: &Layer<'_>, x: &Expected, mutation: Mutation) -> Expected {
    match layer {
        Layer::Conv(c) => {
            let g = Geometry::of(
                &c.shape, c.filters, c.kernel, c.stride, c.padding, false, mutation,
            );
            conv_f32(&g, c.weights, c.bias, c.activation, x, mutation)
        }
        Layer::ConvTranspose(c) => {
            let g = Geometry::of(
                &c.shape, c.filters, c.kernel, c.stride, c.padding, true, mutation,
            );
            conv_f32(&g, c.weights, c.bias, c.activation, x, mutation)
        }
        Layer::Pool(p) => pool_f32(Map::of(&p.shape), pair(p.size), p.kind, x, mutation),
        Layer::Upsample(u) => {
            let input = Map::of(&u.shape);
            Expected {
                values: upsample(input, pair(u.factor), |k| x.values[k]),
                bounds: upsample(input, pair(u.factor), |k| x.bounds[k]),
            }
        }
        other => panic!("{} is not an f32 feature-map layer", other.type_name()),
    }
}

/// Runs the int8 feature-map layer `layer` (ConvI8, ConvTransposeI8,
/// PoolI8, UpsampleI8) on the stored int8 values `x`; returns its output
/// and the output's quantization.
pub(super) fn run_i8(layer: &Layer<'_>, x: &[i8], mutation: Mutation) -> (Vec<i8>, Quant) {
    match layer {
        Layer::ConvI8(c) => {
            let g = Geometry::of(
                &c.shape, c.filters, c.kernel, c.stride, c.padding, false, mutation,
            );
            let finish = Finish::of(c.activation, c.output, c.requant, &c.lut);
            let e = exponents(c.exponents.as_bytes(), g.output.c, mutation);
            let (w, b) = (i8s(c.weights), i32s(c.bias));
            let y = conv_i8(&g, &w, &e, &b, &c.input, &finish, x, mutation);
            (y, c.output)
        }
        Layer::ConvTransposeI8(c) => {
            let g = Geometry::of(
                &c.shape, c.filters, c.kernel, c.stride, c.padding, true, mutation,
            );
            let finish = Finish::of(c.activation, c.output, c.requant, &c.lut);
            let e = exponents(c.exponents.as_bytes(), g.output.c, mutation);
            let (w, b) = (i8s(c.weights), i32s(c.bias));
            let y = conv_i8(&g, &w, &e, &b, &c.input, &finish, x, mutation);
            (y, c.output)
        }
        Layer::PoolI8(p) => {
            let y = pool_i8(
                Map::of(&p.shape),
                pair(p.size),
                p.kind,
                &p.quant,
                x,
                mutation,
            );
            (y, p.quant)
        }
        Layer::UpsampleI8(u) => (
            upsample(Map::of(&u.shape), pair(u.factor), |k| x[k]),
            u.quant,
        ),
        other => panic!("{} is not an int8 feature-map layer", other.type_name()),
    }
}
