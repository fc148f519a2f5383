//! An independent reference for the int8 arithmetic of SPEC.md section 3.3
//! ("int8 layers" and "Where f32 and int8 meet"), written from the SPEC
//! alone, to check `firmware::Engine` against bit for bit.
//!
//! It shares nothing with `firmware::ops::int8` and does not use the
//! resolved `DenseI8Op` either: it reads the layers as stored
//! ([`Model::layers`]), resolves tied layers, zero points, clamps and tables
//! itself, and computes in plain `i64` where the SPEC's `i32` cannot
//! overflow-and-wrap (the accumulator wraps to `i32` once, at the end of the
//! sum, which is the same value modulo 2^32). f32 layers run through
//! `firmware::ops::dense::run`, whose parity with f32 math is tested
//! elsewhere; here they only have to produce the same bits in both runs.
//!
//! [`Mutation`] makes the reference deliberately wrong in one way, so that
//! a test can show the parity tests would notice such a bug.
//!
//! The second half of the module builds random valid models (f32, int8,
//! mixed, tied) for the parity tests: [`ModelShape`] says what to build,
//! [`random_model`] fills in the numbers of a
//! [`model_format::build::ModelBuf`].

use model_format::build::{InputBuf, LayerBuf, LutBuf, ModelBuf};
use model_format::{Activation, I8s, I32s, Layer, Lut, Model, Op, Quant, Requant};

use crate::Rng;

/// One deliberate deviation from the SPEC (or none), to prove that the
/// parity tests would catch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutation {
    /// The SPEC, exactly.
    None,
    /// The accumulator sums `w · x` instead of `w · (x − input.zero_point)`.
    IgnoreInputZeroPoint,
    /// ReLU clamps at −128 instead of at the output zero point.
    ReluClampAtMinus128,
    /// The per-channel exponents are ignored (`e[o]` read as 0).
    IgnoreExponents,
    /// `mbqm` drops its rounding term (floor instead of round half up).
    TruncatingShift,
    /// Quantization at an f32 → int8 edge rounds half to even.
    RoundHalfEven,
    /// Two consecutive int8 layers go through f32 (dequantize, quantize).
    DequantizeBetweenInt8Layers,
    /// A tied int8 layer reads its source's weights without transposing.
    TiedNotTransposed,
}

impl Mutation {
    /// Every real mutation (not [`Mutation::None`]).
    pub const ALL: [Mutation; 7] = [
        Mutation::IgnoreInputZeroPoint,
        Mutation::ReluClampAtMinus128,
        Mutation::IgnoreExponents,
        Mutation::TruncatingShift,
        Mutation::RoundHalfEven,
        Mutation::DequantizeBetweenInt8Layers,
        Mutation::TiedNotTransposed,
    ];
}

/// Quantizes `x` at an f32 → int8 edge (SPEC 3.3, "Where f32 and int8 meet"):
/// `t = x · (1 / scale)` with the reciprocal rounded to f32 once, NaN → 0,
/// rounded half away from zero and saturated to i32, then
/// `clamp(t + zero_point, −128, 127)`.
pub fn quantize(x: f32, quant: &Quant) -> i8 {
    quantize_with(x, quant, Mutation::None)
}

fn quantize_with(x: f32, quant: &Quant, mutation: Mutation) -> i8 {
    let reciprocal: f32 = 1.0 / quant.scale;
    let t: f32 = x * reciprocal;
    // f32 → f64 is exact, and so is f64::round (half away from zero) on it.
    let t = if t.is_nan() { 0.0 } else { f64::from(t) };
    let rounded = if mutation == Mutation::RoundHalfEven {
        t.round_ties_even()
    } else {
        t.round()
    };
    let saturated: i64 = if rounded >= f64::from(i32::MAX) {
        i64::from(i32::MAX)
    } else if rounded <= f64::from(i32::MIN) {
        i64::from(i32::MIN)
    } else {
        rounded as i64 // an integer strictly inside the i32 range: exact
    };
    let q = (saturated + i64::from(quant.zero_point)).clamp(-128, 127);
    i8::try_from(q).expect("clamped to the i8 range")
}

/// Dequantizes an int8 value: `f32(q − zero_point) · scale`.
pub fn dequantize(q: i8, quant: &Quant) -> f32 {
    let steps = i32::from(q) - i32::from(quant.zero_point); // −255..=255, exact in f32
    steps as f32 * quant.scale
}

/// TFLite's `MultiplyByQuantizedMultiplier` (single rounding), exactly as
/// SPEC 3.3 writes it.
pub fn mbqm(x: i32, m: i32, s: i32) -> i32 {
    mbqm_with(x, m, s, Mutation::None)
}

fn mbqm_with(x: i32, m: i32, s: i32, mutation: Mutation) -> i32 {
    let t = (31 - s).clamp(1, 63);
    // |x| <= 2^31 and 0 <= m < 2^31: |p| < 2^62, and the rounding term is
    // at most 2^62: no i64 overflow.
    let p = i64::from(x) * i64::from(m);
    let round = if mutation == Mutation::TruncatingShift {
        0
    } else {
        1i64 << (t - 1)
    };
    // Floor division by 2^t, written as division to be independent of `>>`.
    let v = (p + round).div_euclid(1i64 << t);
    i32::try_from(v.clamp(i64::from(i32::MIN), i64::from(i32::MAX))).expect("clamped")
}

/// An int8 layer with its tied weights resolved: `w[o][i]`, per-output
/// exponents, and the clamp and table the activation asks for.
struct Int8Layer {
    inputs: usize,
    outputs: usize,
    activation: Activation,
    input: Quant,
    output: Quant,
    requant: Requant,
    /// `outputs` rows of `inputs` weights.
    w: Vec<Vec<i8>>,
    /// `outputs` exponents (all 0 for a tied layer).
    e: Vec<u8>,
    bias: Vec<i32>,
    lut: Option<(Quant, Vec<i8>)>,
}

/// Nibble `o` of `bytes`: the low nibble of byte `o / 2` for even `o`, the
/// high nibble for odd `o` (SPEC section 2).
fn nibble(bytes: &[u8], o: usize) -> u8 {
    let byte = bytes[o / 2];
    if o.is_multiple_of(2) {
        byte & 0x0f
    } else {
        byte >> 4
    }
}

fn i8s(v: I8s<'_>) -> Vec<i8> {
    v.as_bytes().iter().map(|b| *b as i8).collect()
}

fn i32s(v: I32s<'_>) -> Vec<i32> {
    v.as_bytes()
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn lut_of(lut: &Option<Lut<'_>>) -> Option<(Quant, Vec<i8>)> {
    lut.as_ref().map(|l| (l.input, i8s(l.table)))
}

/// The int8 layer `index` of `model`, or `None` for an f32 layer.
fn int8_layer(model: &Model<'_>, index: usize, mutation: Mutation) -> Option<Int8Layer> {
    match &model.layers()[index] {
        Layer::Dense(_) | Layer::TiedDense(_) => None,
        other @ (Layer::Conv(_)
        | Layer::ConvTranspose(_)
        | Layer::Pool(_)
        | Layer::Upsample(_)
        | Layer::ConvI8(_)
        | Layer::ConvTransposeI8(_)
        | Layer::PoolI8(_)
        | Layer::UpsampleI8(_)) => {
            panic!("no int8 reference for {} layers here", other.type_name())
        }
        Layer::DenseI8(d) => {
            let (n_in, n_out) = (d.inputs as usize, d.outputs as usize);
            let weights = i8s(d.weights);
            let exponents = d.exponents.as_bytes();
            Some(Int8Layer {
                inputs: n_in,
                outputs: n_out,
                activation: d.activation,
                input: d.input,
                output: d.output,
                requant: d.requant,
                // Row-major `outputs × inputs`: row o holds output o's weights.
                w: (0..n_out)
                    .map(|o| (0..n_in).map(|i| weights[o * n_in + i]).collect())
                    .collect(),
                e: (0..n_out)
                    .map(|o| {
                        if mutation == Mutation::IgnoreExponents {
                            0
                        } else {
                            nibble(exponents, o)
                        }
                    })
                    .collect(),
                bias: i32s(d.bias),
                lut: lut_of(&d.lut),
            })
        }
        Layer::TiedDenseI8(t) => {
            let Layer::DenseI8(src) = &model.layers()[usize::from(t.source)] else {
                panic!("a TiedDenseI8 source is a DenseI8 layer in a loaded model")
            };
            // The source's W is outputs_s × inputs_s; this layer maps
            // outputs_s values to inputs_s values with Wᵀ: output j, input k
            // uses W[k, j] = weights[k · inputs_s + j].
            let (s_in, s_out) = (src.inputs as usize, src.outputs as usize);
            let weights = i8s(src.weights);
            let w = (0..s_in)
                .map(|j| {
                    (0..s_out)
                        .map(|k| {
                            if mutation == Mutation::TiedNotTransposed {
                                // Wrong on purpose: row-major as if it were s_in × s_out.
                                weights[j * s_out + k]
                            } else {
                                weights[k * s_in + j]
                            }
                        })
                        .collect()
                })
                .collect();
            Some(Int8Layer {
                inputs: s_out,
                outputs: s_in,
                activation: t.activation,
                input: t.input,
                output: t.output,
                requant: t.requant,
                w,
                e: vec![0; s_in],
                bias: i32s(t.bias),
                lut: lut_of(&t.lut),
            })
        }
    }
}

/// Runs one int8 layer on int8 inputs (already in `layer.input`'s quantization).
fn run_int8(layer: &Int8Layer, x: &[i8], mutation: Mutation) -> Vec<i8> {
    assert_eq!(x.len(), layer.inputs);
    let input_zp = if mutation == Mutation::IgnoreInputZeroPoint {
        0
    } else {
        i64::from(layer.input.zero_point)
    };
    // The requantization target: the table's input quantization when there
    // is a table, the output's otherwise.
    let (target_zp, table) = match &layer.lut {
        Some((lut_input, table)) => (lut_input.zero_point, Some(table)),
        None => (layer.output.zero_point, None),
    };
    let lo = if layer.activation == Activation::Relu && mutation != Mutation::ReluClampAtMinus128 {
        i64::from(layer.output.zero_point)
    } else {
        -128
    };
    (0..layer.outputs)
        .map(|o| {
            // At most 2^12 terms of |w·(x−zp)| <= 127·255 plus an i32: no
            // i64 overflow; truncating to i32 at the end is the wrapping
            // i32 sum (addition modulo 2^32 does not depend on the order).
            let mut sum = i64::from(layer.bias[o]);
            for (w, xi) in layer.w[o].iter().zip(x) {
                sum += i64::from(*w) * (i64::from(*xi) - input_zp);
            }
            let acc = sum as i32;
            let s = i32::from(layer.requant.shift) - i32::from(layer.e[o]);
            let v = mbqm_with(acc, layer.requant.multiplier, s, mutation);
            // `v + zero_point` saturating in i32, then clamped: in i64 the
            // sum is exact and the clamp does both.
            let q = (i64::from(v) + i64::from(target_zp)).clamp(lo, 127);
            match table {
                Some(table) => table[usize::try_from(q + 128).expect("q >= -128")],
                None => i8::try_from(q).expect("clamped to the i8 range"),
            }
        })
        .collect()
}

/// Values between layers: f32, or int8 with the quantization they are in.
enum Values {
    F32(Vec<f32>),
    I8(Vec<i8>, Quant),
}

impl Values {
    fn into_f32(self) -> Vec<f32> {
        match self {
            Values::F32(v) => v,
            Values::I8(q, quant) => q.iter().map(|q| dequantize(*q, &quant)).collect(),
        }
    }
}

/// Runs layers `start..end` of `model` on f32 `input`; the result is f32
/// (dequantized with the last layer's output quantization if it is int8).
fn run(model: &Model<'_>, start: usize, end: usize, input: &[f32], mutation: Mutation) -> Vec<f32> {
    let mut values = Values::F32(input.to_vec());
    for index in start..end {
        values = match int8_layer(model, index, mutation) {
            None => {
                let x = values.into_f32();
                let Op::Dense(op) = &model.ops()[index] else {
                    panic!("layer {index} is f32 but its op is not")
                };
                assert_eq!(x.len(), op.inputs);
                let mut y = vec![0.0; op.outputs];
                firmware::ops::dense::run(op, &x, &mut y);
                Values::F32(y)
            }
            Some(layer) => {
                let x: Vec<i8> = match values {
                    // Two int8 layers in a row: int8 passes straight on; a
                    // loaded model has the same quantization on both sides.
                    Values::I8(q, quant) => {
                        assert!(quant.same_as(&layer.input), "validation checks this");
                        if mutation == Mutation::DequantizeBetweenInt8Layers {
                            q.iter()
                                .map(|v| quantize(dequantize(*v, &quant), &layer.input))
                                .collect()
                        } else {
                            q
                        }
                    }
                    Values::F32(v) => v
                        .iter()
                        .map(|x| quantize_with(*x, &layer.input, mutation))
                        .collect(),
                };
                Values::I8(run_int8(&layer, &x, mutation), layer.output)
            }
        };
    }
    values.into_f32()
}

/// Runs every layer of `model` on a normalised input window and returns the
/// (dequantized) reconstruction.
pub fn reconstruct(model: &Model<'_>, input: &[f32]) -> Vec<f32> {
    reconstruct_with(model, input, Mutation::None)
}

/// [`reconstruct`] with a deliberate [`Mutation`].
pub fn reconstruct_with(model: &Model<'_>, input: &[f32], mutation: Mutation) -> Vec<f32> {
    run(model, 0, model.layers().len(), input, mutation)
}

/// Runs the encoder (layers `0..=codings_layer`); int8 codings are dequantized.
pub fn encode(model: &Model<'_>, input: &[f32]) -> Vec<f32> {
    encode_with(model, input, Mutation::None)
}

/// [`encode`] with a deliberate [`Mutation`].
pub fn encode_with(model: &Model<'_>, input: &[f32], mutation: Mutation) -> Vec<f32> {
    run(model, 0, model.codings_layer() + 1, input, mutation)
}

/// Runs the decoder (the layers after `codings_layer`) on f32 codings.
pub fn decode(model: &Model<'_>, codings: &[f32]) -> Vec<f32> {
    decode_with(model, codings, Mutation::None)
}

/// [`decode`] with a deliberate [`Mutation`].
pub fn decode_with(model: &Model<'_>, codings: &[f32], mutation: Mutation) -> Vec<f32> {
    let n = model.layers().len();
    run(model, model.codings_layer() + 1, n, codings, mutation)
}

// ---------------------------------------------------------------------------
// Random models.

/// What one layer of a random model is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerChoice {
    /// int8 (else f32).
    pub int8: bool,
    /// A decoder layer reuses its mirror encoder layer's weights when both
    /// have the same precision (ignored for encoder layers).
    pub tied: bool,
    /// Activation, 0..5 in SPEC order.
    pub activation: u8,
}

/// The shape of a random symmetric autoencoder: `widths[0]` (the input) →
/// `widths[1]` → … → `widths[d]` → … → `widths[0]`, `2d` layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelShape {
    /// `d + 1` widths, `d >= 1`, each >= 1.
    pub widths: Vec<usize>,
    /// `2d` layer choices.
    pub layers: Vec<LayerChoice>,
    /// Index of the codings layer, `< 2d − 1`.
    pub codings_layer: usize,
}

/// The activation with SPEC tag `tag % 5`.
pub fn activation(tag: u8) -> Activation {
    match tag % 5 {
        0 => Activation::Identity,
        1 => Activation::Relu,
        2 => Activation::Selu,
        3 => Activation::Sigmoid,
        _ => Activation::Tanh,
    }
}

/// Uniform in `lo..=hi`.
fn int(rng: &mut Rng, lo: i64, hi: i64) -> i64 {
    let span = u64::try_from(hi - lo).expect("hi >= lo") + 1;
    lo + i64::try_from(rng.next_u64() % span).expect("span < 2^63")
}

/// True with probability `p` percent.
fn chance(rng: &mut Rng, percent: u64) -> bool {
    rng.next_u64() % 100 < percent
}

/// A random quantization: mostly moderate scales (often powers of two, so
/// that ties are exact), sometimes extreme ones.
pub fn random_quant(rng: &mut Rng) -> Quant {
    let scale = match int(rng, 0, 19) {
        0..=5 => 2f32.powi(int(rng, -12, 4) as i32),
        6..=17 => 2f32.powf(rng.uniform(-14.0, 6.0)),
        18 => [1e-30, 1e30, 1e-40, f32::MAX, f32::MIN_POSITIVE][int(rng, 0, 4) as usize],
        _ => rng.uniform(0.001, 10.0),
    };
    let zero_point = if chance(rng, 20) {
        0
    } else {
        int(rng, -128, 127) as i8
    };
    Quant { scale, zero_point }
}

/// A random valid requantization: multipliers in `[2^30, 2^31)` including
/// both ends, sometimes 0; shifts over the whole range, mostly where
/// outputs are neither all zero nor all saturated.
pub fn random_requant(rng: &mut Rng) -> Requant {
    let multiplier = match int(rng, 0, 9) {
        0 => 0,
        1 => 1 << 30,
        2 => i32::MAX,
        _ => int(rng, 1 << 30, i64::from(i32::MAX)) as i32,
    };
    let shift = if chance(rng, 35) {
        int(rng, -31, 30)
    } else {
        int(rng, -12, 1)
    } as i8;
    Requant { multiplier, shift }
}

/// A requantization that maps the accumulator of an `inputs`-wide layer
/// with random weights and inputs (about `√inputs · 73 · 100`) to about ±64
/// after a right shift of `exponent` more: outputs that are mostly neither
/// 0 nor saturated, where the rounding is exercised.
pub fn calibrated_requant(rng: &mut Rng, inputs: usize, exponent: u8) -> Requant {
    let typical = (inputs as f64).sqrt() * 73.0 * 100.0;
    let shift = (64.0 / typical).log2().round() as i64 + i64::from(exponent) + int(rng, -2, 2);
    Requant {
        multiplier: int(rng, 1 << 30, i64::from(i32::MAX)) as i32,
        shift: shift.clamp(-31, 30) as i8,
    }
}

fn random_bias(rng: &mut Rng) -> i32 {
    match int(rng, 0, 9) {
        0..=3 => int(rng, -2000, 2000) as i32,
        4 | 5 => int(rng, -(1 << 20), 1 << 20) as i32,
        6 | 7 => rng.next_u64() as i32,
        8 => [i32::MIN, i32::MAX, i32::MIN + 1, i32::MAX - 1][int(rng, 0, 3) as usize],
        _ => 0,
    }
}

fn random_weight(rng: &mut Rng) -> i8 {
    if chance(rng, 10) {
        [127, -127, 0][int(rng, 0, 2) as usize]
    } else {
        int(rng, -127, 127) as i8
    }
}

fn random_lut(rng: &mut Rng, activation: Activation) -> Option<LutBuf> {
    matches!(
        activation,
        Activation::Selu | Activation::Sigmoid | Activation::Tanh
    )
    .then(|| {
        let table = (0..256).map(|_| rng.next_u64() as u8 as i8).collect();
        LutBuf {
            input: random_quant(rng),
            table,
        }
    })
}

/// Fills `shape` with random numbers. Consecutive int8 layers share their
/// quantization; tied sources get all-zero exponents.
pub fn random_model(shape: &ModelShape, seed: u64) -> ModelBuf {
    let mut rng = Rng(seed);
    let d = shape.widths.len() - 1;
    assert!(d >= 1 && shape.layers.len() == 2 * d && shape.codings_layer + 1 < 2 * d);
    // Layer i maps io[i].0 values to io[i].1 values; decoder layer d + k
    // mirrors encoder layer d − 1 − k.
    let io = |i: usize| {
        if i < d {
            (shape.widths[i], shape.widths[i + 1])
        } else {
            (shape.widths[2 * d - i], shape.widths[2 * d - i - 1])
        }
    };
    let mirror = |i: usize| 2 * d - 1 - i;
    let tied = |i: usize| {
        i >= d && shape.layers[i].tied && shape.layers[i].int8 == shape.layers[mirror(i)].int8
    };
    let mut layers = Vec::new();
    let mut prev_output: Option<Quant> = None;
    for (i, choice) in shape.layers.iter().enumerate() {
        let (n_in, n_out) = io(i);
        let act = activation(choice.activation);
        let layer = if !choice.int8 {
            prev_output = None;
            let bias = rng.vec(n_out, 0.5);
            if tied(i) {
                LayerBuf::TiedDense {
                    source: mirror(i) as u16,
                    activation: act,
                    bias,
                }
            } else {
                LayerBuf::Dense {
                    inputs: n_in as u32,
                    outputs: n_out as u32,
                    activation: act,
                    weights: rng.vec(n_in * n_out, 1.0),
                    bias,
                }
            }
        } else {
            let input = prev_output.unwrap_or_else(|| random_quant(&mut rng));
            let output = random_quant(&mut rng);
            prev_output = Some(output);
            // Most layers are calibrated (small exponents and biases, outputs
            // in range); the others take numbers from anywhere in range.
            let calibrated = chance(&mut rng, 60);
            let is_source = i < d && tied(mirror(i));
            let max_e = match int(&mut rng, 0, 9) {
                _ if is_source || tied(i) => 0,
                0..=1 => 0,
                2..=5 => 3,
                _ if calibrated => 3,
                _ => 15,
            };
            let requant = if calibrated {
                calibrated_requant(&mut rng, n_in, max_e / 2)
            } else {
                random_requant(&mut rng)
            };
            let bias: Vec<i32> = (0..n_out)
                .map(|_| {
                    if calibrated {
                        let typical = ((n_in as f64).sqrt() * 7300.0) as i64;
                        int(&mut rng, -typical, typical) as i32
                    } else {
                        random_bias(&mut rng)
                    }
                })
                .collect();
            let lut = random_lut(&mut rng, act);
            if tied(i) {
                LayerBuf::TiedDenseI8 {
                    source: mirror(i) as u16,
                    activation: act,
                    input,
                    output,
                    requant,
                    bias,
                    lut,
                }
            } else {
                let e: Vec<u8> = (0..n_out)
                    .map(|_| int(&mut rng, 0, i64::from(max_e)) as u8)
                    .collect();
                let weights: Vec<i8> = (0..n_in * n_out).map(|_| random_weight(&mut rng)).collect();
                LayerBuf::DenseI8 {
                    inputs: n_in as u32,
                    outputs: n_out as u32,
                    activation: act,
                    input,
                    output,
                    weight_scale: rng.uniform(0.0, 0.1),
                    requant,
                    weights,
                    exponents: e,
                    bias,
                    lut,
                }
            }
        };
        layers.push(layer);
    }
    ModelBuf {
        layers,
        codings_layer: shape.codings_layer as u16,
        ..ModelBuf::new(InputBuf::identity(shape.widths[0] as u32, 1, 1))
    }
}

/// `n` random f32 inputs for a layer quantized with `scale`: ordinary
/// values, exact ties of the quantization rounding (when `scale` is a power
/// of two), values that saturate (±1e30, ±f32::MAX), and signed zeros.
pub fn random_inputs(rng: &mut Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|_| match int(rng, 0, 19) {
            0..=7 => rng.uniform(-4.0, 4.0),
            8..=10 => (int(rng, -140, 140) as f32 + 0.5) * scale,
            11..=12 => (int(rng, -140, 140) as f32 + rng.uniform(0.0, 1.0)) * scale,
            13 => [1e30, -1e30, f32::MAX, -f32::MAX, 3e9, -3e9][int(rng, 0, 5) as usize],
            14 => [0.0, -0.0][int(rng, 0, 1) as usize],
            15 => int(rng, -64, 64) as f32 + 0.5,
            _ => rng.uniform(-300.0, 300.0),
        })
        .collect()
}
