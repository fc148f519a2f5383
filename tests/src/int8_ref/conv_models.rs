//! Random valid models of feature-map layers for the parity tests: conv1d
//! (`h = 1`, and then every kernel, stride, pool size and factor 1 along
//! the rows, as the SPEC's 1-D maps) and conv2d shapes with random
//! kernels, strides and padding, pooling, upsampling and dense
//! bottlenecks, int8, f32 or mixed. [`ConvShape`] says what to build
//! ([`random_conv_shape`] draws one), [`random_conv_model`] fills in the
//! numbers.
//!
//! Every layer reads the previous output as the map it states; after a
//! dense layer (and now and then elsewhere) that is a new view of the same
//! values, which the SPEC allows since no layer stores a reshape. The last
//! layer maps back to the input width: a convolution, transposed
//! convolution, pooling or upsampling whose output has exactly that many
//! values when one exists, else a dense layer.
//!
//! The numbers are those of the dense generator (random int8 values in
//! range, calibrated or anywhere), with two choices for the f32 layers: an
//! int8 output that an f32 layer reads has a moderate scale (so that f32
//! sums stay finite), and half of the f32 convolutions have weights and
//! biases on a coarse binary grid, so that their sums are exact in f32
//! whatever the order and are compared bit for bit.

use model_format::build::{InputBuf, LayerBuf, ModelBuf};
use model_format::{Activation, Padding, PoolKind, Quant};

use super::maps::{Geometry, Map};
use super::{
    Mutation, activation, calibrated_requant, chance, int, random_bias, random_lut, random_quant,
    random_requant, random_weight,
};
use crate::Rng;

/// Most values a generated map holds (keeps a case fast).
pub const MAX_VALUES: usize = 192;

/// What a layer of a random feature-map model computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapOp {
    /// Convolution.
    Conv {
        /// Output channels.
        filters: usize,
        /// Kernel (rows, columns).
        kernel: [usize; 2],
        /// Stride (rows, columns).
        stride: [usize; 2],
        /// Same padding (else Valid).
        same: bool,
    },
    /// Transposed convolution.
    ConvTranspose {
        /// Output channels.
        filters: usize,
        /// Kernel (rows, columns).
        kernel: [usize; 2],
        /// Stride (rows, columns).
        stride: [usize; 2],
        /// Same padding (else Valid).
        same: bool,
    },
    /// Pooling.
    Pool {
        /// Window (rows, columns).
        size: [usize; 2],
        /// Average (else max).
        avg: bool,
    },
    /// Nearest-neighbour upsampling.
    Upsample {
        /// Factor (rows, columns).
        factor: [usize; 2],
    },
    /// A dense layer over the whole map.
    Dense {
        /// Output width.
        outputs: usize,
    },
}

/// One layer of a random feature-map model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapLayer {
    /// The map it reads the previous output as.
    pub input: Map,
    /// What it computes.
    pub op: MapOp,
    /// int8 (else f32).
    pub int8: bool,
    /// Activation, 0..5 in SPEC order (ignored by pooling and upsampling).
    pub activation: u8,
}

fn padding(same: bool) -> Padding {
    if same { Padding::Same } else { Padding::Valid }
}

impl MapLayer {
    /// The output map (a dense layer's is `1 × outputs × 1`), or `None`
    /// when the layer does not fit its input.
    pub fn output(&self) -> Option<Map> {
        let input = self.input;
        match self.op {
            MapOp::Conv {
                filters,
                kernel,
                stride,
                same,
            }
            | MapOp::ConvTranspose {
                filters,
                kernel,
                stride,
                same,
            } => {
                let transposed = matches!(self.op, MapOp::ConvTranspose { .. });
                let g = Geometry::new(
                    input,
                    filters,
                    kernel,
                    stride,
                    padding(same),
                    transposed,
                    Mutation::None,
                );
                g.map(|g| g.output)
            }
            MapOp::Pool { size: [ph, pw], .. } => {
                (ph >= 1 && pw >= 1 && ph <= input.h && pw <= input.w)
                    .then(|| Map::new(input.h / ph, input.w / pw, input.c))
            }
            MapOp::Upsample { factor: [fh, fw] } => {
                (fh >= 1 && fw >= 1).then(|| Map::new(input.h * fh, input.w * fw, input.c))
            }
            MapOp::Dense { outputs } => (outputs >= 1).then(|| Map::new(1, outputs, 1)),
        }
    }
}

/// The shape of a random feature-map model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvShape {
    /// The layers; the first one's input is the model input, the last
    /// one's output has as many values.
    pub layers: Vec<MapLayer>,
    /// Index of the codings layer, `< layers.len() − 1`.
    pub codings_layer: usize,
}

/// How a random shape splits its layers between int8 and f32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// Every layer int8.
    Int8,
    /// Some of each.
    Mixed,
    /// Every layer f32.
    F32,
}

/// A row size, kernel, stride, window or factor: 1 in a 1-D model.
fn rows(rng: &mut Rng, one_d: bool, hi: i64) -> usize {
    if one_d { 1 } else { int(rng, 1, hi) as usize }
}

fn random_op(rng: &mut Rng, one_d: bool) -> MapOp {
    match int(rng, 0, 99) {
        0..=34 => MapOp::Conv {
            filters: int(rng, 1, 4) as usize,
            kernel: [rows(rng, one_d, 3), int(rng, 1, 4) as usize],
            stride: [rows(rng, one_d, 2), int(rng, 1, 3) as usize],
            same: chance(rng, 50),
        },
        35..=54 => MapOp::ConvTranspose {
            filters: int(rng, 1, 3) as usize,
            kernel: [rows(rng, one_d, 3), int(rng, 1, 4) as usize],
            stride: [rows(rng, one_d, 2), int(rng, 1, 3) as usize],
            same: chance(rng, 50),
        },
        55..=69 => MapOp::Pool {
            size: [rows(rng, one_d, 2), int(rng, 1, 3) as usize],
            avg: chance(rng, 50),
        },
        70..=79 => MapOp::Upsample {
            factor: [rows(rng, one_d, 2), int(rng, 1, 3) as usize],
        },
        _ => MapOp::Dense {
            outputs: int(rng, 1, 12) as usize,
        },
    }
}

/// A random view of `n` values as a map (1-D: `1 × n/c × c`).
fn view(rng: &mut Rng, n: usize, one_d: bool) -> Map {
    let pick = |rng: &mut Rng, n: usize, most: usize| {
        let divisors: Vec<usize> = (1..=most.min(n)).filter(|d| n.is_multiple_of(*d)).collect();
        divisors[int(rng, 0, divisors.len() as i64 - 1) as usize]
    };
    let h = if one_d { 1 } else { pick(rng, n, 6) };
    let c = pick(rng, n / h, 4);
    Map::new(h, n / h / c, c)
}

/// The last layer: one whose output has `target` values.
fn final_op(rng: &mut Rng, input: Map, target: usize, one_d: bool) -> MapOp {
    let mut found = Vec::new();
    let khs: &[usize] = if one_d { &[1] } else { &[1, 2, 3] };
    let shs: &[usize] = if one_d { &[1] } else { &[1, 2] };
    for transposed in [false, true] {
        for &kh in khs {
            for kw in 1..=3 {
                for &sh in shs {
                    for sw in 1..=3 {
                        for same in [false, true] {
                            let (kernel, stride) = ([kh, kw], [sh, sw]);
                            let probe = Geometry::new(
                                input,
                                1,
                                kernel,
                                stride,
                                padding(same),
                                transposed,
                                Mutation::None,
                            );
                            let Some(g) = probe else { continue };
                            let positions = g.output.h * g.output.w;
                            let filters = target / positions;
                            if filters * positions != target || !(1..=6).contains(&filters) {
                                continue;
                            }
                            found.push(if transposed {
                                MapOp::ConvTranspose {
                                    filters,
                                    kernel,
                                    stride,
                                    same,
                                }
                            } else {
                                MapOp::Conv {
                                    filters,
                                    kernel,
                                    stride,
                                    same,
                                }
                            });
                        }
                    }
                }
            }
        }
    }
    for &a in shs {
        for b in 1..=3 {
            if input.len() * a * b == target {
                found.push(MapOp::Upsample { factor: [a, b] });
            }
            if a <= input.h && b <= input.w && (input.h / a) * (input.w / b) * input.c == target {
                let avg = chance(rng, 50);
                found.push(MapOp::Pool { size: [a, b], avg });
            }
        }
    }
    if found.is_empty() || chance(rng, 10) {
        MapOp::Dense { outputs: target }
    } else {
        found[int(rng, 0, found.len() as i64 - 1) as usize]
    }
}

/// A random valid shape: 2 to 6 layers over a conv1d (`1 × 2..=16 ×
/// 1..=3`) or conv2d (`2..=6 × 2..=6 × 1..=3`) input, maps of at most
/// [`MAX_VALUES`] values.
pub fn random_conv_shape(rng: &mut Rng, one_d: bool, precision: Precision) -> ConvShape {
    let input = if one_d {
        Map::new(1, int(rng, 2, 16) as usize, int(rng, 1, 3) as usize)
    } else {
        Map::new(
            int(rng, 2, 6) as usize,
            int(rng, 2, 6) as usize,
            int(rng, 1, 3) as usize,
        )
    };
    let n = int(rng, 2, 6) as usize;
    let mut layers: Vec<MapLayer> = Vec::with_capacity(n);
    let mut map = input;
    for index in 0..n {
        let layer = loop {
            let op = if index + 1 == n {
                final_op(rng, map, input.len(), one_d)
            } else {
                random_op(rng, one_d)
            };
            let layer = MapLayer {
                input: map,
                op,
                int8: true,
                activation: int(rng, 0, 4) as u8,
            };
            if layer.output().is_some_and(|m| m.len() <= MAX_VALUES) {
                break layer;
            }
        };
        let out = layer.output().expect("checked");
        map = if matches!(layer.op, MapOp::Dense { .. }) || chance(rng, 10) {
            view(rng, out.len(), one_d)
        } else {
            out
        };
        layers.push(layer);
    }
    match precision {
        Precision::Int8 => {}
        Precision::F32 => layers.iter_mut().for_each(|l| l.int8 = false),
        Precision::Mixed => {
            for l in &mut layers {
                l.int8 = chance(rng, 60);
            }
            // At least one of each.
            let k = int(rng, 0, n as i64 - 1) as usize;
            if layers.iter().all(|l| l.int8) {
                layers[k].int8 = false;
            } else if layers.iter().all(|l| !l.int8) {
                layers[k].int8 = true;
            }
        }
    }
    ConvShape {
        codings_layer: int(rng, 0, n as i64 - 2) as usize,
        layers,
    }
}

/// A quantization whose dequantized values an f32 layer can sum without
/// overflow: scales `2^−8 ..= 2^3`, half of them powers of two.
fn moderate_quant(rng: &mut Rng) -> Quant {
    let scale = if chance(rng, 50) {
        2f32.powi(int(rng, -8, 2) as i32)
    } else {
        2f32.powf(rng.uniform(-8.0, 3.0))
    };
    let zero_point = if chance(rng, 20) {
        0
    } else {
        int(rng, -128, 127) as i8
    };
    Quant { scale, zero_point }
}

/// `n` f32 weights (or biases): uniform in ±`limit`, or on the grid of
/// `step` within ±`limit` when `grid`.
fn f32_values(rng: &mut Rng, n: usize, limit: f32, grid: Option<f32>) -> Vec<f32> {
    match grid {
        Some(step) => {
            let k = (limit / step) as i64;
            (0..n).map(|_| int(rng, -k, k) as f32 * step).collect()
        }
        None => rng.vec(n, limit),
    }
}

/// The numbers of an int8 layer with weights, as the dense generator draws
/// them: `rows` weight rows of `row_len` values, an accumulator of about
/// `fan_in` terms.
struct Int8Numbers {
    weight_scale: f32,
    requant: model_format::Requant,
    weights: Vec<i8>,
    exponents: Vec<u8>,
    bias: Vec<i32>,
    lut: Option<model_format::build::LutBuf>,
}

fn int8_numbers(
    rng: &mut Rng,
    rows: usize,
    row_len: usize,
    fan_in: usize,
    act: Activation,
) -> Int8Numbers {
    let calibrated = chance(rng, 60);
    let max_e = match int(rng, 0, 9) {
        0..=1 => 0,
        2..=5 => 3,
        _ if calibrated => 3,
        _ => 15,
    };
    let requant = if calibrated {
        calibrated_requant(rng, fan_in, max_e / 2)
    } else {
        random_requant(rng)
    };
    let typical = ((fan_in as f64).sqrt() * 7300.0) as i64;
    let bias = (0..rows)
        .map(|_| {
            if calibrated {
                int(rng, -typical, typical) as i32
            } else {
                random_bias(rng)
            }
        })
        .collect();
    let lut = random_lut(rng, act);
    let exponents = (0..rows)
        .map(|_| int(rng, 0, i64::from(max_e)) as u8)
        .collect();
    let weights = (0..rows * row_len).map(|_| random_weight(rng)).collect();
    Int8Numbers {
        weight_scale: rng.uniform(0.0, 0.1),
        requant,
        weights,
        exponents,
        bias,
        lut,
    }
}

fn pair(v: [usize; 2]) -> [u32; 2] {
    v.map(|v| u32::try_from(v).expect("small"))
}

/// Fills `shape` with random numbers. Consecutive int8 layers share their
/// quantization; an int8 output an f32 layer reads (directly or through
/// int8 pooling and upsampling, which keep it) has a moderate scale.
pub fn random_conv_model(shape: &ConvShape, seed: u64) -> ModelBuf {
    let mut rng = Rng(seed);
    let layers = &shape.layers;
    let n = layers.len();
    assert!(n >= 2 && shape.codings_layer + 1 < n);
    let keeps_quant = |l: &MapLayer| matches!(l.op, MapOp::Pool { .. } | MapOp::Upsample { .. });
    // feeds_f32[i]: layer i's int8 output quantization reaches an f32 layer.
    let mut feeds_f32 = vec![false; n];
    for i in (0..n.saturating_sub(1)).rev() {
        let next = &layers[i + 1];
        feeds_f32[i] = !next.int8 || (keeps_quant(next) && feeds_f32[i + 1]);
    }
    let mut built = Vec::with_capacity(n);
    let mut prev_output: Option<Quant> = None;
    for (i, layer) in layers.iter().enumerate() {
        let act = activation(layer.activation);
        let map = layer.input.shape();
        let out = layer.output().expect("a valid shape");
        let (fan_in, row_len) = match layer.op {
            MapOp::Conv { kernel, .. } => (kernel[0] * kernel[1] * layer.input.c, 0),
            MapOp::ConvTranspose { kernel, stride, .. } => (
                kernel[0].div_ceil(stride[0]) * kernel[1].div_ceil(stride[1]) * layer.input.c,
                0,
            ),
            MapOp::Dense { .. } => (layer.input.len(), layer.input.len()),
            MapOp::Pool { .. } | MapOp::Upsample { .. } => (0, 0),
        };
        let patch = |kernel: [usize; 2]| kernel[0] * kernel[1] * layer.input.c;
        let built_layer = if layer.int8 {
            let fresh = |rng: &mut Rng, moderate: bool| {
                if moderate {
                    moderate_quant(rng)
                } else {
                    random_quant(rng)
                }
            };
            let input = match prev_output {
                Some(q) => q,
                None => fresh(&mut rng, keeps_quant(layer) && feeds_f32[i]),
            };
            if keeps_quant(layer) {
                prev_output = Some(input);
                match layer.op {
                    MapOp::Pool { size, avg } => LayerBuf::PoolI8 {
                        shape: map,
                        size: pair(size),
                        kind: if avg { PoolKind::Avg } else { PoolKind::Max },
                        quant: input,
                    },
                    MapOp::Upsample { factor } => LayerBuf::UpsampleI8 {
                        shape: map,
                        factor: pair(factor),
                        quant: input,
                    },
                    _ => unreachable!("keeps_quant"),
                }
            } else {
                let output = fresh(&mut rng, feeds_f32[i]);
                prev_output = Some(output);
                match layer.op {
                    MapOp::Dense { outputs } => {
                        let k = int8_numbers(&mut rng, outputs, row_len, fan_in, act);
                        LayerBuf::DenseI8 {
                            inputs: layer.input.len() as u32,
                            outputs: outputs as u32,
                            activation: act,
                            input,
                            output,
                            weight_scale: k.weight_scale,
                            requant: k.requant,
                            weights: k.weights,
                            exponents: k.exponents,
                            bias: k.bias,
                            lut: k.lut,
                            interleaved: false,
                        }
                    }
                    MapOp::Conv {
                        filters,
                        kernel,
                        stride,
                        same,
                    }
                    | MapOp::ConvTranspose {
                        filters,
                        kernel,
                        stride,
                        same,
                    } => {
                        let k = int8_numbers(&mut rng, filters, patch(kernel), fan_in, act);
                        let (filters, kernel, stride, padding) =
                            (filters as u32, pair(kernel), pair(stride), padding(same));
                        if matches!(layer.op, MapOp::Conv { .. }) {
                            LayerBuf::ConvI8 {
                                shape: map,
                                filters,
                                kernel,
                                stride,
                                padding,
                                activation: act,
                                input,
                                output,
                                weight_scale: k.weight_scale,
                                requant: k.requant,
                                weights: k.weights,
                                exponents: k.exponents,
                                bias: k.bias,
                                lut: k.lut,
                            }
                        } else {
                            LayerBuf::ConvTransposeI8 {
                                shape: map,
                                filters,
                                kernel,
                                stride,
                                padding,
                                activation: act,
                                input,
                                output,
                                weight_scale: k.weight_scale,
                                requant: k.requant,
                                weights: k.weights,
                                exponents: k.exponents,
                                bias: k.bias,
                                lut: k.lut,
                            }
                        }
                    }
                    _ => unreachable!("keeps_quant"),
                }
            }
        } else {
            prev_output = None;
            // Half the layers on the grid of 1/4 (weights) and 1/8 (biases).
            let grid = chance(&mut rng, 50);
            let weights = |rng: &mut Rng, n: usize| f32_values(rng, n, 1.0, grid.then_some(0.25));
            let bias = |rng: &mut Rng, n: usize| f32_values(rng, n, 2.0, grid.then_some(0.125));
            match layer.op {
                MapOp::Dense { outputs } => LayerBuf::Dense {
                    inputs: layer.input.len() as u32,
                    outputs: outputs as u32,
                    activation: act,
                    weights: weights(&mut rng, outputs * row_len),
                    bias: bias(&mut rng, outputs),
                },
                MapOp::Conv {
                    filters,
                    kernel,
                    stride,
                    same,
                }
                | MapOp::ConvTranspose {
                    filters,
                    kernel,
                    stride,
                    same,
                } => {
                    let w = weights(&mut rng, filters * patch(kernel));
                    let b = bias(&mut rng, filters);
                    let (f, kernel, stride, padding) =
                        (filters as u32, pair(kernel), pair(stride), padding(same));
                    if matches!(layer.op, MapOp::Conv { .. }) {
                        LayerBuf::Conv {
                            shape: map,
                            filters: f,
                            kernel,
                            stride,
                            padding,
                            activation: act,
                            weights: w,
                            bias: b,
                        }
                    } else {
                        LayerBuf::ConvTranspose {
                            shape: map,
                            filters: f,
                            kernel,
                            stride,
                            padding,
                            activation: act,
                            weights: w,
                            bias: b,
                        }
                    }
                }
                MapOp::Pool { size, avg } => LayerBuf::Pool {
                    shape: map,
                    size: pair(size),
                    kind: if avg { PoolKind::Avg } else { PoolKind::Max },
                },
                MapOp::Upsample { factor } => LayerBuf::Upsample {
                    shape: map,
                    factor: pair(factor),
                },
            }
        };
        debug_assert!(out.len() <= MAX_VALUES);
        built.push(built_layer);
    }
    let input = layers[0].input;
    ModelBuf {
        layers: built,
        codings_layer: shape.codings_layer as u16,
        ..ModelBuf::new(InputBuf::identity(
            input.c as u32,
            (input.h * input.w) as u32,
            1,
        ))
    }
}

/// `n` f32 inputs for a run whose first layer is f32 where f32
/// convolutions follow: ordinary values, values on a binary grid (whose
/// products and sums are exact), signed zeros, a few larger ones; nothing
/// that overflows a sum (whose result would then depend on the order).
pub fn bounded_inputs(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| match int(rng, 0, 9) {
            0..=3 => rng.uniform(-4.0, 4.0),
            4..=7 => int(rng, -64, 64) as f32 / 8.0,
            8 => [0.0, -0.0][int(rng, 0, 1) as usize],
            _ => rng.uniform(-100.0, 100.0),
        })
        .collect()
}
