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
    assert_eq!(model.header().version, 8);
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
            column: 0,
            state: 0
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
            column: 0,
            state: 0
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

// --- int8 -----------------------------------------------------------------

use firmware::ops::conv_i8;
use model_format::build::LutBuf;
use model_format::{ConvI8Op, I8s, I32s, Nibbles, Quant, Requant};

/// `MultiplyByQuantizedMultiplier`, single rounding, from SPEC.md 3.3 in
/// i128: `(x·m + 2^(t−1)) >> t` with `t = clamp(31 − s, 1, 63)`, saturated.
fn mbqm_ref(x: i32, m: i32, s: i32) -> i32 {
    let t = (31 - s).clamp(1, 63);
    let v = (i128::from(x) * i128::from(m) + (1i128 << (t - 1))) >> t;
    v.clamp(i128::from(i32::MIN), i128::from(i32::MAX)) as i32
}

/// How an int8 layer with weights finishes its accumulators.
#[derive(Debug, Clone)]
struct Finish {
    requant: Requant,
    target_zp: i8,
    clamp_min: i8,
    table: Vec<i8>,
}

impl Finish {
    fn apply(&self, acc: i32, e: u8) -> i8 {
        let s = i32::from(self.requant.shift) - i32::from(e);
        let v = mbqm_ref(acc, self.requant.multiplier, s).saturating_add(i32::from(self.target_zp));
        let q = v.clamp(i32::from(self.clamp_min), 127);
        if self.table.is_empty() {
            q as i8
        } else {
            self.table[(q + 128) as usize]
        }
    }
}

/// Reference int8 (transposed) convolution: the integer sums of the
/// definition (exact in f64 at these sizes), then the finish per filter.
#[allow(clippy::too_many_arguments)]
fn ref_conv_i8(
    g: &Geo,
    transposed: bool,
    x: &[i8],
    zp: i8,
    w: &[i8],
    e: &[u8],
    bias: &[i32],
    finish: &Finish,
) -> Vec<i8> {
    let term = |wi: usize, xi: usize| (f64::from(w[wi]) * (f64::from(x[xi]) - f64::from(zp)), 0.0);
    let sums = if transposed {
        ref_conv_t_sum(g, term)
    } else {
        ref_conv_sum(g, term)
    };
    sums.iter()
        .enumerate()
        .map(|(k, (s, _))| {
            let f = k % g.filters;
            let acc = (bias[f] as i64 + *s as i64) as i32;
            finish.apply(acc, e[f])
        })
        .collect()
}

fn nibbles(e: &[u8]) -> Vec<u8> {
    e.chunks(2)
        .map(|p| p[0] | p.get(1).map_or(0, |h| h << 4))
        .collect()
}

impl Rng {
    fn i8(&mut self, lo: i32, hi: i32) -> i8 {
        (lo + (self.next_u64() % (hi - lo + 1) as u64) as i32) as i8
    }

    fn i32(&mut self, a: i32) -> i32 {
        (self.next_u64() % (2 * a as u64 + 1)) as i32 - a
    }
}

/// Runs the int8 kernel on random values and checks it bit for bit.
fn check_conv_i8(g: &Geo, transposed: bool, kind: u8, seed: u64) {
    let mut rng = Rng::new(seed);
    let zp = rng.i8(-128, 127);
    let x: Vec<i8> = (0..g.h * g.w * g.c).map(|_| rng.i8(-128, 127)).collect();
    let w: Vec<i8> = (0..g.filters * g.patch())
        .map(|_| rng.i8(-127, 127))
        .collect();
    let e: Vec<u8> = (0..g.filters).map(|_| (rng.next_u64() % 4) as u8).collect();
    let bias: Vec<i32> = (0..g.filters).map(|_| rng.i32(5000)).collect();
    let requant = Requant {
        multiplier: (1 << 30) + (rng.next_u64() % (1 << 30)) as i32,
        shift: -((rng.next_u64() % 6) as i8) - 7,
    };
    let out_zp = rng.i8(-20, 20);
    let (activation, clamp_min, table) = match kind % 3 {
        0 => (Activation::Identity, i8::MIN, vec![]),
        1 => (Activation::Relu, out_zp, vec![]),
        _ => (
            Activation::Tanh,
            i8::MIN,
            (0..256).map(|i| ((i - 128) / 3) as i8).collect(),
        ),
    };
    let finish = Finish {
        requant,
        target_zp: out_zp,
        clamp_min,
        table: table.clone(),
    };
    let (wb, eb, bb, tb) = (
        model_format::build::i8_bytes(&w),
        nibbles(&e),
        model_format::build::i32_bytes(&bias),
        model_format::build::i8_bytes(&table),
    );
    let op = ConvI8Op {
        geometry: g.geometry(transposed),
        activation,
        input: Quant {
            scale: 0.1,
            zero_point: zp,
        },
        output: Quant {
            scale: 0.1,
            zero_point: out_zp,
        },
        requant,
        weights: I8s::new(&wb),
        exponents: Nibbles::new(&eb),
        bias: I32s::new(&bb),
        target_zero_point: out_zp,
        clamp_min,
        table: I8s::new(&tb),
    };
    let n = g.out_len(transposed);
    let mut y = vec![99i8; n + 3];
    let mut column = vec![0u32; conv_i8::column_words(g.patch())];
    if transposed {
        conv_i8::run_transpose(&op, &x, &mut column, &mut y);
    } else {
        conv_i8::run(&op, &x, &mut column, &mut y);
    }
    assert_eq!(y[n..], [99; 3], "{g:?}: wrote past the output");
    let want = ref_conv_i8(g, transposed, &x, zp, &w, &e, &bias, &finish);
    assert_eq!(y[..n], want[..], "{g:?} transposed {transposed}");
}

#[test]
fn int8_fashion_decoder_and_sensor_shapes_are_bit_exact() {
    for (k, g) in fashion_decoder().iter().enumerate() {
        check_conv_i8(g, true, k as u8, 100 + k as u64);
        let (oh, ow, _, _) = g.out(true);
        let conv = Geo {
            h: oh,
            w: ow,
            c: g.filters,
            filters: g.c,
            ..*g
        };
        check_conv_i8(&conv, false, k as u8 + 1, 110 + k as u64);
    }
    for (k, g) in [
        Geo::line(64, 3, 16, 5, 2, Padding::Same),
        Geo::line(32, 16, 32, 5, 2, Padding::Same),
        Geo::line(32, 32, 16, 5, 1, Padding::Same),
        Geo::line(64, 16, 3, 5, 1, Padding::Same),
    ]
    .iter()
    .enumerate()
    {
        check_conv_i8(g, false, k as u8, 120 + k as u64);
        check_conv_i8(g, true, k as u8 + 2, 130 + k as u64);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_int8_convolution_is_bit_exact(g in geo_strategy(), seed in any::<u64>(), kind in 0u8..3) {
        check_conv_i8(&g, false, kind, seed);
        check_conv_i8(&g, true, kind, seed ^ 1);
    }
}

/// Reference int8 pooling of stored values.
fn ref_pool_i8(x: &[i8], h: usize, w: usize, c: usize, p: [usize; 2], max: bool) -> Vec<i8> {
    let mut y = Vec::new();
    for oy in 0..h / p[0] {
        for ox in 0..w / p[1] {
            for ch in 0..c {
                let vals: Vec<i32> = (0..p[0])
                    .flat_map(|i| (0..p[1]).map(move |j| (i, j)))
                    .map(|(i, j)| i32::from(x[((oy * p[0] + i) * w + ox * p[1] + j) * c + ch]))
                    .collect();
                y.push(if max {
                    *vals.iter().max().unwrap() as i8
                } else {
                    // Round half away from zero, in exact rationals.
                    let (s, n) = (vals.iter().sum::<i32>(), vals.len() as i32);
                    let (q, r) = (s / n, s % n);
                    (if 2 * r.abs() >= n { q + s.signum() } else { q }) as i8
                });
            }
        }
    }
    y
}

#[test]
fn int8_pooling_and_upsampling_are_exact() {
    let mut rng = Rng::new(8);
    for (h, w, c, p) in [
        (1, 9, 3, [1, 2]),
        (5, 7, 2, [2, 3]),
        (4, 4, 1, [4, 4]),
        (2, 6, 4, [1, 3]),
    ] {
        let x: Vec<i8> = (0..h * w * c).map(|_| rng.i8(-128, 127)).collect();
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
            let want = ref_pool_i8(&x, h, w, c, p, max);
            let mut y = vec![0i8; want.len()];
            pool::run_i8(&op, &x, &mut y);
            assert_eq!(y, want, "{h}x{w}x{c} pool {p:?} {kind:?}");
        }
        let up = UpsampleOp {
            input: MapDims { h, w, c },
            output: MapDims {
                h: h * p[0],
                w: w * p[1],
                c,
            },
            factor: p,
        };
        let mut y = vec![0i8; h * w * c * p[0] * p[1]];
        upsample::run(&up, &x, &mut y);
        for yy in 0..h * p[0] {
            for xx in 0..w * p[1] {
                for ch in 0..c {
                    assert_eq!(
                        y[(yy * w * p[1] + xx) * c + ch],
                        x[((yy / p[0]) * w + xx / p[1]) * c + ch]
                    );
                }
            }
        }
    }
}

/// `m` as TFLite's (multiplier, shift): `m = multiplier · 2^(shift − 31)`.
fn requant_of(m: f64) -> Requant {
    let mut e = m.log2().floor() as i32 + 1;
    let mut mant = m / 2f64.powi(e);
    if mant >= 1.0 {
        mant /= 2.0;
        e += 1;
    }
    let mut multiplier = (mant * 2f64.powi(31)).round() as i64;
    if multiplier == 1 << 31 {
        multiplier /= 2;
        e += 1;
    }
    assert!((-31..=30).contains(&e), "{m}");
    Requant {
        multiplier: multiplier as i32,
        shift: e as i8,
    }
}

/// An int8 version of the layers of `layers` marked in `int8`, random
/// weights, quantizations that keep typical values inside int8.
fn int8_model(
    layers: &[TestLayer],
    int8: &[bool],
    codings: u16,
    input: InputBuf,
    seed: u64,
) -> ModelBuf {
    let f32_def = f32_model(layers, codings, input.clone(), seed);
    let mut rng = Rng::new(seed ^ 0x55);
    let mut prev: Option<Quant> = None; // output quantization of the previous int8 layer
    let mut out = Vec::new();
    for ((layer, f32_layer), &q8) in layers.iter().zip(&f32_def.layers).zip(int8) {
        if !q8 {
            out.push(f32_layer.clone());
            prev = None;
            continue;
        }
        let fresh = Quant {
            scale: 0.02,
            zero_point: rng.i8(-10, 10),
        };
        let input_q = prev.unwrap_or(fresh);
        // Terms per output: a transposed convolution's column is mostly zeros.
        let with_weights =
            |patch: usize, terms: usize, filters: usize, activation: Activation, rng: &mut Rng| {
                let weight_scale = 0.01f32;
                let weights: Vec<i8> = (0..patch * filters).map(|_| rng.i8(-127, 127)).collect();
                let exponents: Vec<u8> = (0..filters).map(|_| (rng.next_u64() % 3) as u8).collect();
                let bias: Vec<i32> = (0..filters).map(|_| rng.i32(3000)).collect();
                // Typical |acc|: √terms · 40 · 64; aim it at ±50 steps (±100
                // for ReLU, which keeps only the positive half).
                let aim = if activation == Activation::Relu {
                    100.0
                } else {
                    50.0
                };
                let out_scale = (f64::from(input_q.scale)
                    * f64::from(weight_scale)
                    * (terms as f64).sqrt()
                    * 40.0
                    * 64.0
                    / aim) as f32;
                let output = Quant {
                    scale: out_scale,
                    zero_point: if activation == Activation::Relu {
                        -100
                    } else {
                        rng.i8(-10, 10)
                    },
                };
                let (lut, target) = match activation {
                    Activation::Tanh | Activation::Sigmoid | Activation::Selu => {
                        let t = Quant {
                            scale: out_scale,
                            zero_point: 3,
                        };
                        let table = (0..256i32).map(|i| ((i - 128) * 2 / 3) as i8).collect();
                        (Some(LutBuf { input: t, table }), t)
                    }
                    _ => (None, output),
                };
                let requant = requant_of(
                    f64::from(input_q.scale) * f64::from(weight_scale) / f64::from(target.scale),
                );
                (output, weight_scale, requant, weights, exponents, bias, lut)
            };
        let layer8 = match *layer {
            TestLayer::Conv(g, transposed, activation) => {
                let terms = if transposed {
                    (g.patch() / (g.stride[0] * g.stride[1])).max(1)
                } else {
                    g.patch()
                };
                let (output, weight_scale, requant, weights, exponents, bias, lut) =
                    with_weights(g.patch(), terms, g.filters, activation, &mut rng);
                prev = Some(output);
                let (shape, filters, kernel, stride, padding) = (
                    g.shape(),
                    g.filters as u32,
                    g.kernel.map(|k| k as u32),
                    g.stride.map(|s| s as u32),
                    g.padding,
                );
                if transposed {
                    LayerBuf::ConvTransposeI8 {
                        shape,
                        filters,
                        kernel,
                        stride,
                        padding,
                        activation,
                        input: input_q,
                        output,
                        weight_scale,
                        requant,
                        weights,
                        exponents,
                        bias,
                        lut,
                    }
                } else {
                    LayerBuf::ConvI8 {
                        shape,
                        filters,
                        kernel,
                        stride,
                        padding,
                        activation,
                        input: input_q,
                        output,
                        weight_scale,
                        requant,
                        weights,
                        exponents,
                        bias,
                        lut,
                    }
                }
            }
            TestLayer::Dense(inputs, outputs, activation) => {
                let (output, weight_scale, requant, weights, exponents, bias, lut) =
                    with_weights(inputs, inputs, outputs, activation, &mut rng);
                prev = Some(output);
                LayerBuf::DenseI8 {
                    inputs: inputs as u32,
                    outputs: outputs as u32,
                    activation,
                    input: input_q,
                    output,
                    weight_scale,
                    requant,
                    weights,
                    exponents,
                    bias,
                    lut,
                    interleaved: false,
                }
            }
            TestLayer::Pool(shape, size, kind) => {
                prev = Some(input_q);
                LayerBuf::PoolI8 {
                    shape,
                    size,
                    kind,
                    quant: input_q,
                }
            }
            TestLayer::Upsample(shape, factor) => {
                prev = Some(input_q);
                LayerBuf::UpsampleI8 {
                    shape,
                    factor,
                    quant: input_q,
                }
            }
        };
        out.push(layer8);
    }
    ModelBuf {
        layers: out,
        ..f32_def
    }
}

/// Values between layers in the reference: f32, or int8 with their quantization.
#[derive(Debug, Clone)]
enum Values {
    F32(Vec<f32>),
    I8(Vec<i8>, Quant),
}

impl Values {
    /// The int8 values for a layer whose input quantization is `q`
    /// (SPEC.md 3.3: `t = x · (1/scale)` in f32, rounded half away from
    /// zero, plus the zero point, saturated).
    fn int8(&self, q: Quant) -> Vec<i8> {
        match self {
            Values::I8(v, vq) => {
                assert_eq!(
                    (vq.scale.to_bits(), vq.zero_point),
                    (q.scale.to_bits(), q.zero_point)
                );
                v.clone()
            }
            Values::F32(v) => {
                let inv = 1.0 / q.scale;
                v.iter()
                    .map(|x| {
                        ((x * inv).round() as i32)
                            .saturating_add(i32::from(q.zero_point))
                            .clamp(-128, 127) as i8
                    })
                    .collect()
            }
        }
    }

    fn f32(&self) -> Vec<f32> {
        match self {
            Values::F32(v) => v.clone(),
            Values::I8(v, q) => v
                .iter()
                .map(|x| (i32::from(*x) - i32::from(q.zero_point)) as f32 * q.scale)
                .collect(),
        }
    }
}

fn geo_of(
    shape: &MapShape,
    filters: u32,
    kernel: &[u32; 2],
    stride: &[u32; 2],
    padding: Padding,
) -> Geo {
    Geo {
        h: shape.h as usize,
        w: shape.w as usize,
        c: shape.c as usize,
        filters: filters as usize,
        kernel: kernel.map(|k| k as usize),
        stride: stride.map(|s| s as usize),
        padding,
    }
}

fn finish_of(
    activation: Activation,
    output: Quant,
    requant: Requant,
    lut: &Option<LutBuf>,
) -> Finish {
    Finish {
        requant,
        target_zp: lut
            .as_ref()
            .map_or(output.zero_point, |l| l.input.zero_point),
        clamp_min: if activation == Activation::Relu {
            output.zero_point
        } else {
            i8::MIN
        },
        table: lut.as_ref().map_or(vec![], |l| l.table.clone()),
    }
}

/// The integer reference forward pass of a model whose f32 layers move
/// values exactly (pooling by max, upsampling): layers `..=upto`.
fn forward_int8(def: &ModelBuf, x: &[f32], upto: usize) -> Vec<f32> {
    let mut v = Values::F32(x.to_vec());
    for layer in &def.layers[..=upto] {
        v = match layer {
            LayerBuf::ConvI8 {
                shape,
                filters,
                kernel,
                stride,
                padding,
                activation,
                input,
                output,
                requant,
                weights,
                exponents,
                bias,
                lut,
                ..
            }
            | LayerBuf::ConvTransposeI8 {
                shape,
                filters,
                kernel,
                stride,
                padding,
                activation,
                input,
                output,
                requant,
                weights,
                exponents,
                bias,
                lut,
                ..
            } => {
                let g = geo_of(shape, *filters, kernel, stride, *padding);
                let xq = v.int8(*input);
                let transposed = matches!(layer, LayerBuf::ConvTransposeI8 { .. });
                let finish = finish_of(*activation, *output, *requant, lut);
                let y = ref_conv_i8(
                    &g,
                    transposed,
                    &xq,
                    input.zero_point,
                    weights,
                    exponents,
                    bias,
                    &finish,
                );
                Values::I8(y, *output)
            }
            LayerBuf::DenseI8 {
                inputs,
                outputs,
                activation,
                input,
                output,
                requant,
                weights,
                exponents,
                bias,
                lut,
                ..
            } => {
                let xq = v.int8(*input);
                let finish = finish_of(*activation, *output, *requant, lut);
                let n = *inputs as usize;
                let y = (0..*outputs as usize)
                    .map(|o| {
                        let acc =
                            weights[o * n..][..n]
                                .iter()
                                .zip(&xq)
                                .fold(bias[o], |a, (w, x)| {
                                    a.wrapping_add(
                                        i32::from(*w)
                                            * (i32::from(*x) - i32::from(input.zero_point)),
                                    )
                                });
                        finish.apply(acc, exponents[o])
                    })
                    .collect();
                Values::I8(y, *output)
            }
            LayerBuf::PoolI8 {
                shape,
                size,
                kind,
                quant,
            } => {
                let xq = v.int8(*quant);
                let p = size.map(|s| s as usize);
                let y = ref_pool_i8(
                    &xq,
                    shape.h as usize,
                    shape.w as usize,
                    shape.c as usize,
                    p,
                    *kind == PoolKind::Max,
                );
                Values::I8(y, *quant)
            }
            LayerBuf::UpsampleI8 { shape, factor, .. } | LayerBuf::Upsample { shape, factor } => {
                let (h, w, c) = (shape.h as usize, shape.w as usize, shape.c as usize);
                let f = factor.map(|s| s as usize);
                let pick = |src_len: usize| -> Vec<usize> {
                    assert_eq!(src_len, h * w * c);
                    let mut idx = Vec::new();
                    for yy in 0..h * f[0] {
                        for xx in 0..w * f[1] {
                            for ch in 0..c {
                                idx.push(((yy / f[0]) * w + xx / f[1]) * c + ch);
                            }
                        }
                    }
                    idx
                };
                match layer {
                    LayerBuf::UpsampleI8 { quant, .. } => {
                        let xq = v.int8(*quant);
                        let y = pick(xq.len()).iter().map(|&k| xq[k]).collect();
                        Values::I8(y, *quant)
                    }
                    _ => {
                        let xf = v.f32();
                        Values::F32(pick(xf.len()).iter().map(|&k| xf[k]).collect())
                    }
                }
            }
            other => panic!("no exact reference for {other:?}"),
        };
    }
    v.f32()
}

/// Runs an int8 `def` in exactly its planned scratch and checks the
/// reconstruction and the codings bit for bit; returns the plan.
fn check_int8_model(def: &ModelBuf, seed: u64) -> ScratchPlan {
    let bytes = def.encode().unwrap();
    let model = Model::load(&bytes).unwrap();
    assert!(model.has_int8());
    let plan = ScratchPlan::for_model(&model);
    let mut scratch = vec![f32::NAN; plan.total()];
    let mut engine = Engine::new(&model, &mut scratch).unwrap();
    let mut rng = Rng::new(seed);
    for round in 0..3 {
        let x = rng.values(model.input_len(), 1.5);
        engine.input_mut().copy_from_slice(&x);
        let want = forward_int8(def, &x, def.layers.len() - 1);
        let (_, y) = engine.reconstruct();
        assert_eq!(y, &want[..], "round {round}");
        let spread = want
            .iter()
            .map(|v| v.to_bits())
            .collect::<std::collections::BTreeSet<_>>();
        assert!(
            spread.len() >= 64.min(want.len() / 2),
            "round {round}: {} distinct values: the test would not see much",
            spread.len()
        );
        let codings = forward_int8(def, &x, usize::from(def.codings_layer));
        assert_eq!(engine.encode(), &codings[..], "round {round}");
        assert_eq!(engine.decode(), &want[..], "round {round}: decode");
    }
    check_scratch_is_exact(def);
    plan
}

#[test]
fn int8_fashion_conv_autoencoder_is_bit_exact_in_the_engine() {
    let (layers, codings) = fashion_layers();
    let def = int8_model(
        &layers,
        &[true; 6],
        codings,
        InputBuf::identity(784, 1, 1),
        11,
    );
    let plan = check_int8_model(&def, 12);
    assert_eq!(
        plan,
        ScratchPlan {
            input: 784,
            even: 1568,
            odd: 784,
            // Four im2col columns of the 3x3x64 patch: 4 · 2 · ⌈576/4⌉.
            column: 1152,
            state: 0
        }
    );
    assert_eq!(plan.bytes(), 17_152);
}

#[test]
fn int8_conv1d_sensor_model_is_bit_exact_in_the_engine() {
    // int8 throughout but for one f32 upsampling: int8 map → int8 dense,
    // int8 dense → int8 map, int8 → f32 → int8 and the first and last ops.
    let (layers, codings) = sensor_layers();
    let int8 = [true, true, true, true, false, true, true, true];
    let def = int8_model(&layers, &int8, codings, InputBuf::identity(3, 64, 16), 13);
    assert!(matches!(def.layers[4], LayerBuf::Upsample { .. }));
    let plan = check_int8_model(&def, 14);
    assert_eq!(
        plan,
        ScratchPlan {
            input: 192,
            even: 1024,
            odd: 512,
            // Four im2col columns of the 5x32 patch: 4 · 2 · ⌈160/4⌉.
            column: 320,
            state: 0
        }
    );
    assert_eq!(plan.bytes(), 8_192);
}

#[test]
fn the_golden_int8_conv_model_is_bit_exact_in_the_engine() {
    // model-format/tests/data/conv_i8_v4.eam: int8 conv (ReLU, exponents),
    // average pooling, upsampling, transposed conv (tanh table).
    let bytes = include_bytes!("../../model-format/tests/data/conv_i8_v4.eam");
    let model = Model::load(bytes).unwrap();
    let def = ModelBuf::from_model(&model);
    let plan = check_int8_model(&def, 15);
    // Four columns of ⌈9/4⌉ = 3 blocks of two words (ops::conv_i8).
    assert_eq!(plan.column, 4 * 3 * 2);
}

/// Whatever conv model `Model::load` accepts runs in the engine without a
/// panic: mutated golden files (body bytes changed, CRC fixed), as the fuzz
/// target does.
fn run_if_valid(mut bytes: Vec<u8>) {
    let body_len = (bytes.len() - 16) as u32;
    bytes[8..12].copy_from_slice(&body_len.to_le_bytes());
    let crc = model_format::crc32(&bytes[16..]);
    bytes[12..16].copy_from_slice(&crc.to_le_bytes());
    let Ok(model) = Model::load(&bytes) else {
        return;
    };
    let need = Engine::scratch_len(&model);
    if need > 1 << 16 || model.macs() > 1 << 22 {
        return;
    }
    let mut scratch = vec![0.0f32; need];
    let mut engine = Engine::new(&model, &mut scratch).unwrap();
    engine.input_mut().fill(0.5);
    let _ = engine.reconstruct();
    let _ = engine.encode();
    let _ = engine.decode();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn mutated_conv_models_never_panic(
        which in any::<bool>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let golden: &[u8] = if which {
            include_bytes!("../../model-format/tests/data/conv1d_v4.eam")
        } else {
            include_bytes!("../../model-format/tests/data/conv_i8_v4.eam")
        };
        let mut bytes = golden.to_vec();
        for (at, value) in edits {
            let i = 16 + at.index(bytes.len() - 16);
            bytes[i] = value;
        }
        run_if_valid(bytes);
    }
}
