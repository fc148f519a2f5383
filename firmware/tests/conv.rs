//! The feature-map kernels (convolution, transposed convolution, pooling,
//! upsampling) against naive references written here from the definitions
//! in SPEC.md 3.3, independently of the kernels: the convolution by its
//! sum, the transposed convolution by its scatter (each input value
//! spreads over its window), in f64. Then whole models through the engine:
//! the textbook Fashion-MNIST convolutional autoencoder and a 1-D sensor
//! model, and the exact scratch size.
//!
//! Tolerance for f32 kernels: `|got − want| ≤ 1e-6 · (|b| + Σ|w·x|)`, i.e.
//! 1e-6 relative to the magnitude of the terms summed (a relative error
//! of the result itself is meaningless where terms cancel).

use firmware::ops::{conv, pool, upsample};
use firmware::{Engine, Model, ScratchPlan, ScratchTooSmall};
use model_format::build::{InputBuf, LayerBuf, ModelBuf, f32_bytes};
use model_format::{
    Activation, ConvGeometry, ConvOp, F32s, MapDims, MapShape, Padding, PoolKind, PoolOp,
    UpsampleOp,
};
use proptest::prelude::*;

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in [-a, a).
    pub fn f32(&mut self, a: f32) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * a
    }

    pub fn values(&mut self, n: usize, a: f32) -> Vec<f32> {
        (0..n).map(|_| self.f32(a)).collect()
    }
}

/// A convolution's sizes, as the tests give them.
#[derive(Debug, Clone, Copy)]
pub struct Geo {
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub filters: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: Padding,
}

/// TensorFlow's convolution arithmetic for one axis, `(out, pad_before)`,
/// written from its definition.
pub fn axis(n: usize, k: usize, s: usize, padding: Padding) -> (usize, usize) {
    match padding {
        Padding::Valid => ((n - k) / s + 1, 0),
        Padding::Same => {
            let out = n.div_ceil(s);
            let total = ((out - 1) * s + k).saturating_sub(n);
            (out, total / 2)
        }
    }
}

/// The transposed convolution's output size for one axis, and the
/// padding before of the convolution it is the adjoint of.
pub fn axis_t(n: usize, k: usize, s: usize, padding: Padding) -> (usize, usize) {
    let out = match padding {
        Padding::Valid => (n - 1) * s + k,
        Padding::Same => n * s,
    };
    let (back, pad) = axis(out, k, s, padding);
    assert_eq!(back, n, "the adjoint maps back");
    (out, pad)
}

impl Geo {
    pub fn line(len: usize, c: usize, filters: usize, k: usize, s: usize, padding: Padding) -> Geo {
        Geo {
            h: 1,
            w: len,
            c,
            filters,
            kernel: [1, k],
            stride: [1, s],
            padding,
        }
    }

    pub fn square(n: usize, c: usize, filters: usize, k: usize, s: usize, padding: Padding) -> Geo {
        Geo {
            h: n,
            w: n,
            c,
            filters,
            kernel: [k, k],
            stride: [s, s],
            padding,
        }
    }

    pub fn shape(&self) -> MapShape {
        MapShape::new(self.h as u32, self.w as u32, self.c as u32)
    }

    pub fn patch(&self) -> usize {
        self.kernel[0] * self.kernel[1] * self.c
    }

    /// (output h, w, pad top, left) of the convolution or the transposed one.
    pub fn out(&self, transposed: bool) -> (usize, usize, usize, usize) {
        let f = if transposed { axis_t } else { axis };
        let (oh, top) = f(self.h, self.kernel[0], self.stride[0], self.padding);
        let (ow, left) = f(self.w, self.kernel[1], self.stride[1], self.padding);
        (oh, ow, top, left)
    }

    pub fn out_len(&self, transposed: bool) -> usize {
        let (oh, ow, _, _) = self.out(transposed);
        oh * ow * self.filters
    }

    pub fn geometry(&self, transposed: bool) -> ConvGeometry {
        let (oh, ow, top, left) = self.out(transposed);
        ConvGeometry {
            input: MapDims {
                h: self.h,
                w: self.w,
                c: self.c,
            },
            output: MapDims {
                h: oh,
                w: ow,
                c: self.filters,
            },
            kernel: self.kernel,
            stride: self.stride,
            pad: [top, left],
        }
    }
}

/// Reference convolution: `(value, magnitude)` per output, the sum of the
/// definition with zeros outside the input; generic over the number type
/// through `term(w_index, x_index)`.
pub fn ref_conv_sum(g: &Geo, mut term: impl FnMut(usize, usize) -> (f64, f64)) -> Vec<(f64, f64)> {
    let (oh, ow, top, left) = g.out(false);
    let [kh, kw] = g.kernel;
    let [sh, sw] = g.stride;
    let mut y = vec![(0.0, 0.0); oh * ow * g.filters];
    for oy in 0..oh {
        for ox in 0..ow {
            for f in 0..g.filters {
                let (mut v, mut m) = (0.0, 0.0);
                for i in 0..kh {
                    for j in 0..kw {
                        let yy = (oy * sh + i) as isize - top as isize;
                        let xx = (ox * sw + j) as isize - left as isize;
                        if yy < 0 || xx < 0 || yy >= g.h as isize || xx >= g.w as isize {
                            continue; // padding: adds zero
                        }
                        for ch in 0..g.c {
                            let wi = ((f * kh + i) * kw + j) * g.c + ch;
                            let xi = ((yy as usize) * g.w + xx as usize) * g.c + ch;
                            let (t, a) = term(wi, xi);
                            v += t;
                            m += a;
                        }
                    }
                }
                y[(oy * ow + ox) * g.filters + f] = (v, m);
            }
        }
    }
    y
}

/// Reference transposed convolution by its scatter: input `(oy, ox)`
/// through tap `(i, j)` lands on output `(oy·sh + i − top, ox·sw + j − left)`
/// when that exists.
pub fn ref_conv_t_sum(
    g: &Geo,
    mut term: impl FnMut(usize, usize) -> (f64, f64),
) -> Vec<(f64, f64)> {
    let (oh, ow, top, left) = g.out(true);
    let [kh, kw] = g.kernel;
    let [sh, sw] = g.stride;
    let mut y = vec![(0.0, 0.0); oh * ow * g.filters];
    for oy in 0..g.h {
        for ox in 0..g.w {
            for i in 0..kh {
                for j in 0..kw {
                    let p = (oy * sh + i) as isize - top as isize;
                    let q = (ox * sw + j) as isize - left as isize;
                    if p < 0 || q < 0 || p >= oh as isize || q >= ow as isize {
                        continue;
                    }
                    for f in 0..g.filters {
                        let out = &mut y[((p as usize) * ow + q as usize) * g.filters + f];
                        for ch in 0..g.c {
                            let wi = ((f * kh + i) * kw + j) * g.c + ch;
                            let xi = (oy * g.w + ox) * g.c + ch;
                            let (t, a) = term(wi, xi);
                            out.0 += t;
                            out.1 += a;
                        }
                    }
                }
            }
        }
    }
    y
}

/// Reference f32 layer: `act(b + sum)` in f64, with the magnitude of the terms.
pub fn ref_conv_f32(
    g: &Geo,
    transposed: bool,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    relu: bool,
) -> Vec<(f64, f64)> {
    let term = |wi: usize, xi: usize| {
        let t = f64::from(w[wi]) * f64::from(x[xi]);
        (t, t.abs())
    };
    let sums = if transposed {
        ref_conv_t_sum(g, term)
    } else {
        ref_conv_sum(g, term)
    };
    sums.iter()
        .enumerate()
        .map(|(k, (v, m))| {
            let bias = f64::from(b[k % g.filters]);
            let v = v + bias;
            (if relu { v.max(0.0) } else { v }, m + bias.abs())
        })
        .collect()
}

fn check_close(got: &[f32], want: &[(f64, f64)], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (k, (g, (v, m))) in got.iter().zip(want).enumerate() {
        let err = (f64::from(*g) - v).abs();
        assert!(
            err <= 1e-6 * m.max(f64::MIN_POSITIVE),
            "{what}: value {k} is {g}, reference {v} (terms of magnitude {m})"
        );
    }
}

/// Runs the f32 kernel on random values and checks it against the reference.
fn check_conv_f32(g: &Geo, transposed: bool, relu: bool, seed: u64) {
    let mut rng = Rng::new(seed);
    let x = rng.values(g.h * g.w * g.c, 2.0);
    let w = rng.values(g.filters * g.patch(), 1.0);
    let b = rng.values(g.filters, 0.5);
    let (wb, bb) = (f32_bytes(&w), f32_bytes(&b));
    let op = ConvOp {
        geometry: g.geometry(transposed),
        activation: if relu {
            Activation::Relu
        } else {
            Activation::Identity
        },
        weights: F32s::new(&wb),
        bias: F32s::new(&bb),
    };
    let n = g.out_len(transposed);
    let mut y = vec![f32::NAN; n + 3];
    if transposed {
        conv::run_transpose(&op, &x, &mut y);
    } else {
        conv::run(&op, &x, &mut y);
    }
    assert!(
        y[n..].iter().all(|v| v.is_nan()),
        "{g:?}: wrote past the output"
    );
    let want = ref_conv_f32(g, transposed, &x, &w, &b, relu);
    check_close(&y[..n], &want, &format!("{g:?} transposed {transposed}"));
}

/// The textbook Fashion-MNIST convolutional decoder, 3×3×64 → 28×28×1.
pub fn fashion_decoder() -> [Geo; 3] {
    [
        Geo::square(3, 64, 32, 3, 2, Padding::Valid),
        Geo::square(7, 32, 16, 3, 2, Padding::Same),
        Geo::square(14, 16, 1, 3, 2, Padding::Same),
    ]
}

#[test]
fn fashion_decoder_shapes_match_the_reference() {
    let sizes: Vec<(usize, usize, usize)> = fashion_decoder()
        .iter()
        .map(|g| {
            let (oh, ow, _, _) = g.out(true);
            (oh, ow, g.filters)
        })
        .collect();
    assert_eq!(sizes, [(7, 7, 32), (14, 14, 16), (28, 28, 1)]);
    for (k, g) in fashion_decoder().iter().enumerate() {
        check_conv_f32(g, true, k < 2, 10 + k as u64);
        // And the convolution each is the adjoint of (28 → 14 → 7 → 3).
        let (oh, ow, _, _) = g.out(true);
        let conv = Geo {
            h: oh,
            w: ow,
            c: g.filters,
            filters: g.c,
            ..*g
        };
        assert_eq!(conv.out(false).0, g.h);
        check_conv_f32(&conv, false, true, 20 + k as u64);
    }
}

#[test]
fn conv1d_sensor_shapes_match_the_reference() {
    // Window 64 × 3 channels, kernel 5 stride 2 same, twice; the decoder's
    // stride-1 convolutions after upsampling.
    for (k, g) in [
        Geo::line(64, 3, 16, 5, 2, Padding::Same),
        Geo::line(32, 16, 32, 5, 2, Padding::Same),
        Geo::line(32, 32, 16, 5, 1, Padding::Same),
        Geo::line(64, 16, 3, 5, 1, Padding::Same),
    ]
    .iter()
    .enumerate()
    {
        check_conv_f32(g, false, k < 3, 30 + k as u64);
        check_conv_f32(g, true, false, 40 + k as u64);
    }
}

#[test]
fn awkward_geometries_match_the_reference() {
    let cases = [
        // Kernel larger than the input (same pads), stride larger than the kernel.
        Geo::line(3, 2, 2, 5, 1, Padding::Same),
        Geo::line(7, 1, 3, 2, 3, Padding::Same),
        Geo::line(7, 1, 3, 2, 3, Padding::Valid),
        Geo::line(1, 4, 2, 1, 1, Padding::Valid),
        Geo::line(5, 3, 1, 4, 1, Padding::Same), // pad 3: 1 before, 2 after
        Geo {
            h: 5,
            w: 6,
            c: 3,
            filters: 4,
            kernel: [2, 3],
            stride: [2, 1],
            padding: Padding::Same,
        },
        Geo {
            h: 6,
            w: 5,
            c: 2,
            filters: 3,
            kernel: [3, 1],
            stride: [1, 3],
            padding: Padding::Valid,
        },
    ];
    for (k, g) in cases.iter().enumerate() {
        check_conv_f32(g, false, false, 50 + k as u64);
        check_conv_f32(g, true, k % 2 == 0, 60 + k as u64);
    }
}

fn geo_strategy() -> impl Strategy<Value = Geo> {
    (
        (1usize..=6, 1usize..=7, 1usize..=5, 1usize..=4),
        (
            1usize..=4,
            1usize..=4,
            1usize..=3,
            1usize..=3,
            any::<bool>(),
        ),
    )
        .prop_map(|((h, w, c, filters), (kh, kw, sh, sw, same))| {
            let padding = if same { Padding::Same } else { Padding::Valid };
            // A valid kernel must fit: clamp it to the input.
            let (kh, kw) = if same {
                (kh, kw)
            } else {
                (kh.min(h), kw.min(w))
            };
            Geo {
                h,
                w,
                c,
                filters,
                kernel: [kh, kw],
                stride: [sh, sw],
                padding,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_f32_convolution_matches_the_reference(g in geo_strategy(), seed in any::<u64>()) {
        check_conv_f32(&g, false, false, seed);
        check_conv_f32(&g, true, false, seed ^ 1);
    }
}

/// Reference pooling (f64 for the average: exact for these values).
fn ref_pool(x: &[f32], h: usize, w: usize, c: usize, p: [usize; 2], max: bool) -> Vec<f32> {
    let (oh, ow) = (h / p[0], w / p[1]);
    let mut y = Vec::new();
    for oy in 0..oh {
        for ox in 0..ow {
            for ch in 0..c {
                let vals: Vec<f32> = (0..p[0])
                    .flat_map(|i| (0..p[1]).map(move |j| (i, j)))
                    .map(|(i, j)| x[((oy * p[0] + i) * w + ox * p[1] + j) * c + ch])
                    .collect();
                y.push(if max {
                    vals.iter().copied().fold(f32::NEG_INFINITY, f32::max)
                } else {
                    (vals.iter().map(|v| f64::from(*v)).sum::<f64>() / vals.len() as f64) as f32
                });
            }
        }
    }
    y
}

#[test]
fn pooling_and_upsampling_match_the_reference() {
    let mut rng = Rng::new(7);
    for (h, w, c, p) in [
        (1, 9, 3, [1, 2]),
        (5, 7, 2, [2, 3]),
        (4, 4, 1, [4, 4]),
        (3, 3, 5, [1, 1]),
    ] {
        // Values on a grid of 1/8, so every sum and mean is exact.
        let x: Vec<f32> = (0..h * w * c)
            .map(|_| (rng.f32(8.0) * 8.0).round() / 8.0)
            .collect();
        for (kind, max) in [(PoolKind::Max, true), (PoolKind::Avg, false)] {
            let op = PoolOp {
                input: MapDims { h, w, c },
                output: MapDims {
                    h: h / p[0],
                    w: w / p[1],
                    c,
                },
                size: p,
                kind,
            };
            let want = ref_pool(&x, h, w, c, p, max);
            let mut y = vec![f32::NAN; want.len()];
            pool::run(&op, &x, &mut y);
            if max || [1, 2, 4, 8, 16].contains(&(p[0] * p[1])) {
                assert_eq!(y, want, "{h}x{w}x{c} pool {p:?} {kind:?}");
            } else {
                check_close(
                    &y,
                    &want
                        .iter()
                        .map(|v| (f64::from(*v), v.abs() as f64 + 1.0))
                        .collect::<Vec<_>>(),
                    "average pooling",
                );
            }
        }
        let f = p;
        let up = UpsampleOp {
            input: MapDims { h, w, c },
            output: MapDims {
                h: h * f[0],
                w: w * f[1],
                c,
            },
            factor: f,
        };
        let mut y = vec![0.0; h * w * c * f[0] * f[1]];
        upsample::run(&up, &x, &mut y);
        for yy in 0..h * f[0] {
            for xx in 0..w * f[1] {
                for ch in 0..c {
                    assert_eq!(
                        y[(yy * w * f[1] + xx) * c + ch],
                        x[((yy / f[0]) * w + xx / f[1]) * c + ch]
                    );
                }
            }
        }
    }
}

// --- Whole models through the engine -------------------------------------

/// A layer of a test model, with its random weights.
#[derive(Debug, Clone)]
pub enum TestLayer {
    Conv(Geo, bool, Activation),
    Pool(MapShape, [u32; 2], PoolKind),
    Upsample(MapShape, [u32; 2]),
    Dense(usize, usize, Activation),
}

/// The Fashion-MNIST convolutional autoencoder of the textbook: 28×28×1 →
/// conv(32, k3, s2, same) → conv(64, k3, s2, same) → conv(64, k3, s2,
/// valid) → 3×3×64 (the codings) → the decoder of [`fashion_decoder`].
pub fn fashion_layers() -> (Vec<TestLayer>, u16) {
    use Activation::{Identity, Relu, Sigmoid};
    let [d0, d1, d2] = fashion_decoder();
    (
        vec![
            TestLayer::Conv(Geo::square(28, 1, 32, 3, 2, Padding::Same), false, Relu),
            TestLayer::Conv(Geo::square(14, 32, 64, 3, 2, Padding::Same), false, Relu),
            TestLayer::Conv(
                Geo::square(7, 64, 64, 3, 2, Padding::Valid),
                false,
                Identity,
            ),
            TestLayer::Conv(d0, true, Relu),
            TestLayer::Conv(d1, true, Relu),
            TestLayer::Conv(d2, true, Sigmoid),
        ],
        2,
    )
}

/// The 1-D sensor model: window 64 × 3 → conv(16, k5, s2, same) →
/// conv(32, k5, s2, same) → dense 512 → 16 (the codings) → dense 16 → 512
/// → upsample 2 → conv(16, k5, same) → upsample 2 → conv(3, k5, same).
pub fn sensor_layers() -> (Vec<TestLayer>, u16) {
    use Activation::{Identity, Relu, Tanh};
    (
        vec![
            TestLayer::Conv(Geo::line(64, 3, 16, 5, 2, Padding::Same), false, Relu),
            TestLayer::Conv(Geo::line(32, 16, 32, 5, 2, Padding::Same), false, Relu),
            TestLayer::Dense(512, 16, Tanh),
            TestLayer::Dense(16, 512, Relu),
            TestLayer::Upsample(MapShape::line(16, 32), [1, 2]),
            TestLayer::Conv(Geo::line(32, 32, 16, 5, 1, Padding::Same), false, Relu),
            TestLayer::Upsample(MapShape::line(32, 16), [1, 2]),
            TestLayer::Conv(Geo::line(64, 16, 3, 5, 1, Padding::Same), false, Identity),
        ],
        2,
    )
}

/// An f32 model of `layers` with random weights (±1/√fan-in).
pub fn f32_model(layers: &[TestLayer], codings: u16, input: InputBuf, seed: u64) -> ModelBuf {
    let mut rng = Rng::new(seed);
    let layers = layers
        .iter()
        .map(|l| match *l {
            TestLayer::Conv(g, transposed, activation) => {
                let a = 1.0 / (g.patch() as f32).sqrt();
                let weights = rng.values(g.filters * g.patch(), a);
                let bias = rng.values(g.filters, 0.1);
                let shape = g.shape();
                let (filters, kernel, stride) = (
                    g.filters as u32,
                    g.kernel.map(|k| k as u32),
                    g.stride.map(|s| s as u32),
                );
                if transposed {
                    LayerBuf::ConvTranspose {
                        shape,
                        filters,
                        kernel,
                        stride,
                        padding: g.padding,
                        activation,
                        weights,
                        bias,
                    }
                } else {
                    LayerBuf::Conv {
                        shape,
                        filters,
                        kernel,
                        stride,
                        padding: g.padding,
                        activation,
                        weights,
                        bias,
                    }
                }
            }
            TestLayer::Pool(shape, size, kind) => LayerBuf::Pool { shape, size, kind },
            TestLayer::Upsample(shape, factor) => LayerBuf::Upsample { shape, factor },
            TestLayer::Dense(inputs, outputs, activation) => LayerBuf::Dense {
                inputs: inputs as u32,
                outputs: outputs as u32,
                activation,
                weights: rng.values(inputs * outputs, 1.0 / (inputs as f32).sqrt()),
                bias: rng.values(outputs, 0.1),
            },
        })
        .collect();
    ModelBuf {
        layers,
        codings_layer: codings,
        ..ModelBuf::new(input)
    }
}

fn act64(a: Activation, v: f64) -> f64 {
    match a {
        Activation::Identity => v,
        Activation::Relu => v.max(0.0),
        Activation::Tanh => v.tanh(),
        Activation::Sigmoid => 1.0 / (1.0 + (-v).exp()),
        Activation::Selu => {
            let (l, al) = (1.0507009873554805, 1.6732632423543772);
            if v > 0.0 { l * v } else { l * al * v.exp_m1() }
        }
    }
}

/// The f64 forward pass of a loaded f32 model, by the references.
fn forward64(model: &ModelBuf, x: &[f64], upto: usize) -> Vec<f64> {
    let mut v = x.to_vec();
    for layer in &model.layers[..=upto] {
        v = match layer {
            LayerBuf::Conv {
                shape,
                filters,
                kernel,
                stride,
                padding,
                activation,
                weights,
                bias,
            }
            | LayerBuf::ConvTranspose {
                shape,
                filters,
                kernel,
                stride,
                padding,
                activation,
                weights,
                bias,
            } => {
                let g = Geo {
                    h: shape.h as usize,
                    w: shape.w as usize,
                    c: shape.c as usize,
                    filters: *filters as usize,
                    kernel: kernel.map(|k| k as usize),
                    stride: stride.map(|s| s as usize),
                    padding: *padding,
                };
                let term = |wi: usize, xi: usize| (f64::from(weights[wi]) * v[xi], 0.0);
                let sums = if matches!(layer, LayerBuf::ConvTranspose { .. }) {
                    ref_conv_t_sum(&g, term)
                } else {
                    ref_conv_sum(&g, term)
                };
                sums.iter()
                    .enumerate()
                    .map(|(k, (s, _))| act64(*activation, s + f64::from(bias[k % g.filters])))
                    .collect()
            }
            LayerBuf::Pool { shape, size, kind } => {
                let (h, w, c) = (shape.h as usize, shape.w as usize, shape.c as usize);
                let p = size.map(|s| s as usize);
                let mut y = Vec::new();
                for oy in 0..h / p[0] {
                    for ox in 0..w / p[1] {
                        for ch in 0..c {
                            let vals = (0..p[0])
                                .flat_map(|i| (0..p[1]).map(move |j| (i, j)))
                                .map(|(i, j)| v[((oy * p[0] + i) * w + ox * p[1] + j) * c + ch]);
                            y.push(match kind {
                                PoolKind::Max => vals.fold(f64::NEG_INFINITY, f64::max),
                                PoolKind::Avg => vals.sum::<f64>() / (p[0] * p[1]) as f64,
                            });
                        }
                    }
                }
                y
            }
            LayerBuf::Upsample { shape, factor } => {
                let (h, w, c) = (shape.h as usize, shape.w as usize, shape.c as usize);
                let f = factor.map(|s| s as usize);
                let mut y = Vec::new();
                for yy in 0..h * f[0] {
                    for xx in 0..w * f[1] {
                        for ch in 0..c {
                            y.push(v[((yy / f[0]) * w + xx / f[1]) * c + ch]);
                        }
                    }
                }
                y
            }
            LayerBuf::Dense {
                inputs,
                outputs,
                activation,
                weights,
                bias,
            } => (0..*outputs as usize)
                .map(|o| {
                    let row = &weights[o * *inputs as usize..][..*inputs as usize];
                    let s: f64 = row.iter().zip(&v).map(|(w, x)| f64::from(*w) * x).sum();
                    act64(*activation, s + f64::from(bias[o]))
                })
                .collect(),
            other => panic!("no reference for {other:?}"),
        };
    }
    v
}

/// Runs `model` in exactly its planned scratch and checks the
/// reconstruction and the codings against the f64 reference; returns the
/// plan.
fn check_f32_model(def: &ModelBuf, seed: u64) -> ScratchPlan {
    let bytes = def.encode().unwrap();
    let model = Model::load(&bytes).unwrap();
    assert_eq!(model.header().version, 4);
    let plan = ScratchPlan::for_model(&model);
    let mut scratch = vec![f32::NAN; plan.total()];
    let mut engine = Engine::new(&model, &mut scratch).unwrap();
    let mut rng = Rng::new(seed);
    let x = rng.values(model.input_len(), 1.5);
    engine.input_mut().copy_from_slice(&x);
    let x64: Vec<f64> = x.iter().map(|v| f64::from(*v)).collect();
    let n = def.layers.len();
    let want = forward64(def, &x64, n - 1);
    let (input, y) = engine.reconstruct();
    assert_eq!(input, &x[..]);
    assert_eq!(y.len(), want.len());
    for (k, (g, w)) in y.iter().zip(&want).enumerate() {
        assert!(
            (f64::from(*g) - w).abs() <= 2e-5 * (1.0 + w.abs()),
            "value {k}: {g} against {w}"
        );
    }
    let codings = forward64(def, &x64, usize::from(def.codings_layer));
    let got = engine.encode();
    assert_eq!(got.len(), codings.len());
    for (g, w) in got.iter().zip(&codings) {
        assert!((f64::from(*g) - w).abs() <= 2e-5 * (1.0 + w.abs()));
    }
    // Decoding the codings again gives the reconstruction, bit for bit.
    let again: Vec<f32> = engine.decode().to_vec();
    assert_eq!(again, engine.last_reconstruction().1);
    plan
}

/// The engine refuses one word less than the plan, and runs in the plan.
fn check_scratch_is_exact(def: &ModelBuf) {
    let bytes = def.encode().unwrap();
    let model = Model::load(&bytes).unwrap();
    let total = Engine::scratch_len(&model);
    let mut scratch = vec![0.0f32; total];
    assert_eq!(
        Engine::new(&model, &mut scratch[..total - 1]).unwrap_err(),
        ScratchTooSmall {
            needed: total,
            given: total - 1
        }
    );
    assert!(Engine::new(&model, &mut scratch).is_ok());
}

#[test]
fn fashion_conv_autoencoder_runs_in_the_engine() {
    let (layers, codings) = fashion_layers();
    let def = f32_model(&layers, codings, InputBuf::identity(784, 1, 1), 1);
    let plan = check_f32_model(&def, 2);
    // Even ops write 14·14·32, 3·3·64 and 14·14·16 values, odd ones
    // 7·7·64, 7·7·32 and 28·28·1: the widest of each, and the input.
    assert_eq!(
        plan,
        ScratchPlan {
            input: 784,
            even: 6272,
            odd: 3136,
            column: 0
        }
    );
    assert_eq!(plan.bytes(), 40_768);
    check_scratch_is_exact(&def);
}

#[test]
fn conv1d_sensor_model_runs_in_the_engine() {
    let (layers, codings) = sensor_layers();
    let def = f32_model(&layers, codings, InputBuf::identity(3, 64, 16), 3);
    let plan = check_f32_model(&def, 4);
    // Even ops write 32·16, 16, 32·32 and 64·16 values, odd ones 16·32,
    // 512, 32·16 and 64·3.
    assert_eq!(
        plan,
        ScratchPlan {
            input: 192,
            even: 1024,
            odd: 512,
            column: 0
        }
    );
    assert_eq!(plan.bytes(), 6_912);
    check_scratch_is_exact(&def);
}

#[test]
fn the_golden_conv1d_model_reconstructs_the_spec_numbers() {
    // model-format/tests/data/conv1d_v4.eam, walked through in SPEC.md section 5.
    let bytes = include_bytes!("../../model-format/tests/data/conv1d_v4.eam");
    let model = Model::load(bytes).unwrap();
    let mut scratch = vec![0.0f32; Engine::scratch_len(&model)];
    let mut engine = Engine::new(&model, &mut scratch).unwrap();
    engine.input_mut().copy_from_slice(&[1.0, 2.0, 3.0, 4.0]);
    assert_eq!(engine.encode(), [2.0, 1.125, 3.0, 1.125]);
    let (_, y) = engine.reconstruct();
    assert_eq!(y, [1.21875, 2.71875, 2.96875, 2.53125]);
}

#[test]
fn the_streaming_scorer_runs_a_conv_model() {
    use firmware::Stream;
    let (layers, codings) = sensor_layers();
    let def = f32_model(&layers, codings, InputBuf::identity(3, 64, 16), 5);
    let bytes = def.encode().unwrap();
    let model = Model::load(&bytes).unwrap();
    let mut scratch = vec![0.0f32; Stream::scratch_len(&model)];
    let mut stream = Stream::new(&model, &mut scratch).unwrap();
    let mut rng = Rng::new(6);
    let samples = rng.values(3 * (64 + 16 * 3), 1.0);
    let mut scores = Vec::new();
    stream.push_samples(&samples, |e| {
        if let firmware::Event::Window(w) = e {
            scores.push(w.score);
        }
    });
    assert_eq!(scores.len(), 4);
    // Each score is the MSE of the engine's reconstruction of that window.
    let mut es = vec![0.0f32; Engine::scratch_len(&model)];
    let mut engine = Engine::new(&model, &mut es).unwrap();
    for (k, score) in scores.iter().enumerate() {
        let window = &samples[k * 16 * 3..][..64 * 3];
        engine.input_mut().copy_from_slice(window);
        let (x, y) = engine.reconstruct();
        let mse = firmware::scoring::window_error(&model_format::Metric::Mse, 3, x, y);
        assert_eq!(*score, mse, "window {k}");
    }
}
