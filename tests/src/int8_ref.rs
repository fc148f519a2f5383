//! An independent reference for the int8 arithmetic of SPEC.md section 3.3
//! ("int8 layers", "Feature-map layers (version 4)" and "Where f32 and int8
//! meet"), written from the SPEC alone, to check `firmware::Engine` against
//! bit for bit.
//!
//! It shares nothing with `firmware::ops::{int8, conv_i8, conv, pool,
//! upsample}` and does not use the resolved ops (`DenseI8Op`, `ConvI8Op`,
//! `ConvGeometry`) either: it reads the layers as stored
//! ([`Model::layers`]), resolves tied layers, map sizes, padding, zero
//! points, clamps and tables itself, and computes in plain `i64` where the
//! SPEC's `i32` cannot overflow-and-wrap (the accumulator wraps to `i32`
//! once, at the end of the sum, which is the same value modulo 2^32). The
//! feature-map layers are in [`maps`]: the convolution as a gather over
//! its taps, the transposed convolution as the scatter the SPEC defines it
//! by.
//!
//! **Where the SPEC fixes the bits, and where it does not.** Every int8
//! layer, every f32 ↔ int8 edge, f32 pooling (max, and the average summed
//! in row-major order from +0.0, times the reciprocal rounded once) and
//! f32 upsampling are defined bit for bit. An f32 convolution or dense sum
//! (`Σ`, in no stated order) and the SELU, sigmoid and tanh activations
//! (formulas, not algorithms) are not. So every f32 value the reference
//! produces carries a bound ([`Expected::bounds`]) on how far an engine
//! that follows the SPEC may be from it: 0 where the bits are fixed, and
//! for a convolution also when its sum is exact in f32 in every order
//! (every term a multiple of one power of two `2^L` and `Σ|terms| <
//! 2^(L+24)`, which the reference checks per output); otherwise the
//! rounding of a sum of `K` terms in any order, `≤ (K+1)·2⁻²⁴·Σ|terms|`
//! (doubled for slack) plus `K·2⁻¹⁴⁹` for products below f32's normal
//! range, and a relative `2⁻²⁰` per transcendental
//! activation (the SPEC states no accuracy; the firmware documents
//! `2.3e-7`). An exact sum of zeros that are all −0 may be either zero
//! (an engine may start its `Σ` from +0.0; the firmware does). Bounds grow
//! through later f32 layers. An int8 layer that
//! quantizes a value whose bound is not 0 gets the exact int8 value when
//! both ends of the interval quantize to the same `q` (quantization is
//! monotone), and otherwise the whole output is [`Ambiguous`]: the SPEC
//! does not say which `q` it is, and the tests skip that input.
//!
//! f32 dense layers run through `firmware::ops::dense::run` (as before the
//! feature-map layers existed): on the bits the engine also has, it gives
//! the engine's bits, so their bound is 0 unless their input's is not.
//!
//! [`Mutation`] makes the reference deliberately wrong in one way, so that
//! a test can show the parity tests would notice such a bug.
//!
//! The second half of the module builds random valid dense models (f32,
//! int8, mixed, tied) for the parity tests: [`ModelShape`] says what to
//! build, [`random_model`] fills in the numbers of a
//! [`model_format::build::ModelBuf`]. [`conv_models`] does the same for
//! models of feature-map layers.

pub mod conv_models;
pub mod maps;
pub mod recurrent;

use model_format::build::{InputBuf, LayerBuf, LutBuf, ModelBuf};
use model_format::{Activation, DenseOp, I8s, I32s, Layer, Lut, Model, Op, Quant, Requant};

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
    /// The per-channel (per-filter) exponents are ignored (`e[o]` read as 0).
    IgnoreExponents,
    /// `mbqm` drops its rounding term (floor instead of round half up).
    TruncatingShift,
    /// Quantization at an f32 → int8 edge rounds half to even.
    RoundHalfEven,
    /// Two consecutive int8 layers go through f32 (dequantize, quantize).
    DequantizeBetweenInt8Layers,
    /// A tied int8 layer reads its source's weights without transposing.
    TiedNotTransposed,
    /// A tag-14 layer reads each 16-byte unit input after input instead of
    /// row after row (`w[o, i]` at `(o % 4) + 4·(i % 4)` in the unit).
    InterleavedUnitTransposed,
    /// A padded position of an int8 convolution reads the stored value 0
    /// instead of `input.zero_point` (so it adds `w · (0 − zero_point)`).
    PaddingReadsZero,
    /// Same padding puts the odd zero before the input instead of after
    /// (PyTorch's habit, not TensorFlow's), in convolutions and transposed
    /// convolutions.
    SamePadOddBefore,
    /// A transposed convolution takes one zero more before the input along
    /// the columns than the SPEC's table gives (`left + 1`).
    TransposePaddingOffByOne,
    /// A transposed convolution scatters through the kernel rotated by 180°
    /// (`w[f][kh−1−i][kw−1−j]`), the classic mix-up with the gather form.
    TransposeKernelFlipped,
    /// int8 average pooling rounds a tie down (toward −∞) instead of away
    /// from zero.
    AvgPoolRoundsHalfDown,
    /// int8 average pooling rounds the mean of `q − zero_point` (then adds
    /// the zero point back), which the SPEC's note rules out.
    AvgPoolAroundZeroPoint,
    /// f32 average pooling divides the sum by `n` instead of multiplying it
    /// by the reciprocal rounded to f32.
    F32AvgPoolDivides,
    /// The int8 recurrent layer's `rshr` floors (drops its rounding term).
    RecurrentRshrTruncates,
    /// `act16` reads `T[uh]` without interpolating towards `T[uh + 1]`.
    RecurrentTableNotInterpolated,
    /// The LSTM adds `i·g` to the cell with a shift of `31 + p`, not `30 + p`.
    RecurrentCellShiftOffByOne,
    /// Gate pre-activations wrap to 16 bits instead of saturating.
    RecurrentNoSaturation,
    /// The first two gates trade rows (LSTM `i, f`; GRU `r, z`).
    RecurrentGatesSwapped,
}

impl Mutation {
    /// The mutations of the dense int8 arithmetic (and the edges), which
    /// the dense random models catch.
    pub const DENSE: [Mutation; 8] = [
        Mutation::IgnoreInputZeroPoint,
        Mutation::ReluClampAtMinus128,
        Mutation::IgnoreExponents,
        Mutation::TruncatingShift,
        Mutation::RoundHalfEven,
        Mutation::DequantizeBetweenInt8Layers,
        Mutation::TiedNotTransposed,
        Mutation::InterleavedUnitTransposed,
    ];

    /// The mutations of the feature-map layers.
    pub const MAPS: [Mutation; 7] = [
        Mutation::PaddingReadsZero,
        Mutation::SamePadOddBefore,
        Mutation::TransposePaddingOffByOne,
        Mutation::TransposeKernelFlipped,
        Mutation::AvgPoolRoundsHalfDown,
        Mutation::AvgPoolAroundZeroPoint,
        Mutation::F32AvgPoolDivides,
    ];

    /// The mutations of the int8 recurrent layer.
    pub const RECURRENT: [Mutation; 5] = [
        Mutation::RecurrentRshrTruncates,
        Mutation::RecurrentTableNotInterpolated,
        Mutation::RecurrentCellShiftOffByOne,
        Mutation::RecurrentNoSaturation,
        Mutation::RecurrentGatesSwapped,
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

/// What turns an `i32` accumulator into an int8 output, the same for every
/// int8 layer with weights (SPEC 3.3, DenseI8; ConvI8 "finished exactly as
/// a DenseI8 output"): `mbqm` with the channel's exponent, the target zero
/// point, the clamp, the table.
struct Finish {
    activation: Activation,
    output: Quant,
    requant: Requant,
    lut: Option<(Quant, Vec<i8>)>,
}

impl Finish {
    fn of(
        activation: Activation,
        output: Quant,
        requant: Requant,
        lut: &Option<Lut<'_>>,
    ) -> Finish {
        Finish {
            activation,
            output,
            requant,
            lut: lut.as_ref().map(|l| (l.input, i8s(l.table))),
        }
    }

    /// The output for accumulator `acc` of a channel with exponent `e`.
    fn apply(&self, acc: i32, e: u8, mutation: Mutation) -> i8 {
        // The requantization target: the table's input quantization when
        // there is a table, the output's otherwise.
        let (target_zp, table) = match &self.lut {
            Some((lut_input, table)) => (lut_input.zero_point, Some(table)),
            None => (self.output.zero_point, None),
        };
        let lo = if self.activation == Activation::Relu && mutation != Mutation::ReluClampAtMinus128
        {
            i64::from(self.output.zero_point)
        } else {
            -128
        };
        let s = i32::from(self.requant.shift) - i32::from(e);
        let v = mbqm_with(acc, self.requant.multiplier, s, mutation);
        // `v + zero_point` saturating in i32, then clamped: in i64 the
        // sum is exact and the clamp does both.
        let q = (i64::from(v) + i64::from(target_zp)).clamp(lo, 127);
        match table {
            Some(table) => table[usize::try_from(q + 128).expect("q >= -128")],
            None => i8::try_from(q).expect("clamped to the i8 range"),
        }
    }
}

/// An int8 dense layer with its tied weights resolved: `w[o][i]` and the
/// per-output exponents (all 0 for a tied layer).
struct Int8Layer {
    inputs: usize,
    outputs: usize,
    input: Quant,
    /// `outputs` rows of `inputs` weights.
    w: Vec<Vec<i8>>,
    e: Vec<u8>,
    bias: Vec<i32>,
    finish: Finish,
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

/// The `n` exponents stored as nibbles in `bytes` (all 0 under
/// [`Mutation::IgnoreExponents`]).
fn exponents(bytes: &[u8], n: usize, mutation: Mutation) -> Vec<u8> {
    (0..n)
        .map(|o| {
            if mutation == Mutation::IgnoreExponents {
                0
            } else {
                nibble(bytes, o)
            }
        })
        .collect()
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

/// The int8 dense layer `index` of `model` (DenseI8, DenseI8x4 or TiedDenseI8).
fn int8_dense(model: &Model<'_>, index: usize, mutation: Mutation) -> Int8Layer {
    match &model.layers()[index] {
        Layer::DenseI8(d) => {
            let (n_in, n_out) = (d.inputs as usize, d.outputs as usize);
            let weights = i8s(d.weights);
            Int8Layer {
                inputs: n_in,
                outputs: n_out,
                input: d.input,
                // Row-major `outputs × inputs`: row o holds output o's weights.
                w: (0..n_out)
                    .map(|o| (0..n_in).map(|i| weights[o * n_in + i]).collect())
                    .collect(),
                e: exponents(d.exponents.as_bytes(), n_out, mutation),
                bias: i32s(d.bias),
                finish: Finish::of(d.activation, d.output, d.requant, &d.lut),
            }
        }
        Layer::DenseI8x4(d) => {
            // SPEC 3.3, tag 14: G = ceil(outputs / 4) row groups of
            // B = ceil(inputs / 4) units of 16 bytes; w[o, i] is byte
            // ((o / 4)·B + i / 4)·16 + (o % 4)·4 + i % 4.
            let (n_in, n_out) = (d.inputs as usize, d.outputs as usize);
            let weights = i8s(d.weights);
            let b = n_in.div_ceil(4);
            let at = |o: usize, i: usize| {
                let unit = ((o / 4) * b + i / 4) * 16;
                if mutation == Mutation::InterleavedUnitTransposed {
                    unit + o % 4 + (i % 4) * 4
                } else {
                    unit + (o % 4) * 4 + i % 4
                }
            };
            Int8Layer {
                inputs: n_in,
                outputs: n_out,
                input: d.input,
                w: (0..n_out)
                    .map(|o| (0..n_in).map(|i| weights[at(o, i)]).collect())
                    .collect(),
                e: exponents(d.exponents.as_bytes(), n_out, mutation),
                bias: i32s(d.bias),
                finish: Finish::of(d.activation, d.output, d.requant, &d.lut),
            }
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
            Int8Layer {
                inputs: s_out,
                outputs: s_in,
                input: t.input,
                w,
                e: vec![0; s_in],
                bias: i32s(t.bias),
                finish: Finish::of(t.activation, t.output, t.requant, &t.lut),
            }
        }
        other => panic!("layer {index} is {}, not int8 dense", other.type_name()),
    }
}

/// Runs one int8 dense layer on int8 inputs (already in `layer.input`'s quantization).
fn run_int8(layer: &Int8Layer, x: &[i8], mutation: Mutation) -> Vec<i8> {
    assert_eq!(x.len(), layer.inputs);
    let input_zp = if mutation == Mutation::IgnoreInputZeroPoint {
        0
    } else {
        i64::from(layer.input.zero_point)
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
            layer.finish.apply(sum as i32, layer.e[o], mutation)
        })
        .collect()
}

/// f32 values, each with a bound on how far from it an engine that follows
/// the SPEC may be (0: the SPEC fixes its bits; see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    /// The values.
    pub values: Vec<f32>,
    /// One bound per value, `>= 0`; 0 means "these exact bits".
    pub bounds: Vec<f64>,
}

impl Expected {
    fn exact(values: Vec<f32>) -> Expected {
        let bounds = vec![0.0; values.len()];
        Expected { values, bounds }
    }

    /// True when every value is fixed bit for bit.
    pub fn is_exact(&self) -> bool {
        self.bounds.iter().all(|b| *b == 0.0)
    }

    /// Does `got` match: the same bits where the bound is 0, within the
    /// bound elsewhere?
    pub fn matches(&self, got: &[f32]) -> bool {
        got.len() == self.values.len()
            && got
                .iter()
                .zip(&self.values)
                .zip(&self.bounds)
                .all(|((g, w), b)| {
                    if *b == 0.0 {
                        g.to_bits() == w.to_bits()
                    } else {
                        (f64::from(*g) - f64::from(*w)).abs() <= *b
                    }
                })
    }
}

/// The SPEC does not fix an int8 value the reference needs: an f32 value
/// whose bound is not 0 lies so close to a rounding boundary of the
/// quantization that both results are possible (or an order-dependent f32
/// result is not finite). The parity tests skip such inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ambiguous {
    /// The layer whose input (or, past the last layer, output) it is.
    pub layer: usize,
}

/// Values between layers: f32 with their bounds, or int8 with the
/// quantization they are in.
enum Values {
    F32(Expected),
    I8(Vec<i8>, Quant),
}

impl Values {
    fn into_f32(self) -> Expected {
        match self {
            Values::F32(v) => v,
            Values::I8(q, quant) => {
                Expected::exact(q.iter().map(|q| dequantize(*q, &quant)).collect())
            }
        }
    }

    /// The int8 input of an int8 layer quantized with `quant`; `None` when
    /// an inexact f32 value could quantize two ways.
    fn into_i8(self, quant: &Quant, mutation: Mutation) -> Option<Vec<i8>> {
        match self {
            // Two int8 layers in a row: int8 passes straight on; a loaded
            // model has the same quantization on both sides.
            Values::I8(q, from) => {
                assert!(from.same_as(quant), "validation checks this");
                Some(if mutation == Mutation::DequantizeBetweenInt8Layers {
                    q.iter()
                        .map(|v| quantize(dequantize(*v, &from), quant))
                        .collect()
                } else {
                    q
                })
            }
            Values::F32(x) => x
                .values
                .iter()
                .zip(&x.bounds)
                .map(|(v, b)| quantize_bounded(*v, *b, quant, mutation))
                .collect(),
        }
    }
}

/// Quantizes `v`, known only to within `bound`: the `q` of every value in
/// `[v − bound, v + bound]` when they all have the same (quantization is
/// monotone, so the two ends tell), else `None`.
fn quantize_bounded(v: f32, bound: f64, quant: &Quant, mutation: Mutation) -> Option<i8> {
    if bound == 0.0 {
        return Some(quantize_with(v, quant, mutation));
    }
    if !v.is_finite() || !bound.is_finite() {
        return None;
    }
    // Widened by one step each way, so that the f64 → f32 rounding never
    // narrows the interval.
    let lo = ((f64::from(v) - bound) as f32).next_down();
    let hi = ((f64::from(v) + bound) as f32).next_up();
    let (a, b) = (
        quantize_with(lo, quant, mutation),
        quantize_with(hi, quant, mutation),
    );
    (a == b).then_some(a)
}

/// Relative accuracy this test asks of SELU, sigmoid and tanh in f32 (the
/// SPEC gives their formulas, not their bits).
pub const ACTIVATION_TOLERANCE: f64 = 1.0 / (1u64 << 20) as f64;

/// An absolute allowance next to [`ACTIVATION_TOLERANCE`], for results in
/// or near f32's subnormal range.
const TINY: f64 = f32::MIN_POSITIVE as f64;

/// The smallest positive (subnormal) f32, `2⁻¹⁴⁹`.
const SMALLEST: f64 = 1.401_298_464_324_817e-45;

/// One unit roundoff of f32, `2⁻²⁴`.
const U: f64 = 1.0 / (1u64 << 24) as f64;

/// How much an activation can stretch a difference of its inputs.
fn lipschitz(activation: Activation) -> f64 {
    match activation {
        Activation::Identity | Activation::Relu | Activation::Tanh => 1.0,
        Activation::Sigmoid => 0.25,
        // λ·α·eˣ for x <= 0 (1.7581), λ above.
        Activation::Selu => 1.76,
    }
}

/// True for the activations whose f32 bits the SPEC does not fix.
fn transcendental(activation: Activation) -> bool {
    !matches!(activation, Activation::Identity | Activation::Relu)
}

/// ReLU as the SPEC writes it, `max(x, 0)` (NaN gives 0).
fn relu(x: f32) -> f32 {
    if x > 0.0 { x } else { 0.0 }
}

/// A sum before its activation, in f64, with what bounds its f32 rounding.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sum {
    /// `bias + Σ w·x`, in f64 (exact when `exact`).
    pub value: f64,
    /// `|bias| + Σ |w·x|`.
    pub magnitude: f64,
    /// `Σ |w|·bound(x)`: how far the inputs may move the sum.
    pub spread: f64,
    /// Terms, bias included.
    pub terms: usize,
    /// Every order of the f32 sum gives `value` exactly (and the inputs
    /// were exact).
    pub exact: bool,
}

impl Sum {
    /// The sum of `bias` and the products `w·x` with their input bounds.
    pub(crate) fn of(bias: f32, products: impl Iterator<Item = (f32, f32, f64)>) -> Sum {
        let b = f64::from(bias);
        let mut sum = Sum {
            value: b,
            magnitude: b.abs(),
            spread: 0.0,
            terms: 1,
            exact: b.is_finite(),
        };
        let mut lowest = lowest_bit(b);
        for (w, x, bound) in products {
            // A product of two f32 values is exact in f64.
            let t = f64::from(w) * f64::from(x);
            sum.value += t;
            sum.magnitude += t.abs();
            sum.spread += f64::from(w).abs() * bound;
            sum.terms += 1;
            sum.exact &= t.is_finite();
            lowest = match (lowest, lowest_bit(t)) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        // All terms are multiples of 2^L; if their magnitudes add up to
        // less than 2^(L+24), every partial sum in every order is such a
        // multiple below 2^(L+24): exact in f32 (and in f64).
        sum.exact &= sum.spread == 0.0
            && match lowest {
                None => true, // all zeros
                Some(l) => {
                    l >= -149 && sum.magnitude < 2f64.powi(l + 24) && sum.magnitude < 2f64.powi(127)
                }
            };
        sum
    }

    /// The activated f32 result and its bound.
    pub(crate) fn finish(&self, activation: Activation) -> (f32, f64) {
        let y = match activation {
            Activation::Identity => self.value as f32,
            // Rounding is monotone and keeps 0: relu(round(v)) = round(relu(v)).
            Activation::Relu => relu(self.value as f32),
            _ => crate::activate_f64(activation, self.value) as f32,
        };
        if self.exact && !transcendental(activation) {
            // A sum of zeros that are all −0 is −0 in every order, but an
            // engine may start its Σ from +0.0 (the SPEC does not say):
            // either zero will do.
            let signed_zero = self.value == 0.0 && self.value.is_sign_negative();
            return (y, if signed_zero { SMALLEST } else { 0.0 });
        }
        // How far an engine's f32 sum (over inputs within their bounds) is
        // from the exact sum, in any order: the relative rounding of every
        // product and partial sum, and the absolute one of products that
        // fall below f32's normal range.
        let rounding = 2.0 * (self.terms as f64 + 1.0) * U * (self.magnitude + self.spread)
            + self.terms as f64 * SMALLEST;
        let before = if self.exact {
            0.0
        } else {
            self.spread + rounding + U * self.value.abs()
        };
        let mut bound = lipschitz(activation) * before;
        if transcendental(activation) {
            bound += ACTIVATION_TOLERANCE * f64::from(y).abs() + TINY;
        }
        (y, bound)
    }
}

/// The exponent of the lowest set bit of `t` (`t = odd · 2^that`), or
/// `None` for 0 and non-finite values.
fn lowest_bit(t: f64) -> Option<i32> {
    if t == 0.0 || !t.is_finite() {
        return None;
    }
    let bits = t.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1u64 << 52) - 1);
    let (mantissa, scale) = if exponent == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1u64 << 52), exponent - 1075)
    };
    Some(scale + mantissa.trailing_zeros() as i32)
}

/// An f32 dense layer through `firmware::ops::dense::run` (see the module
/// docs), with the bounds its inputs' bounds give.
fn run_dense_f32(op: &DenseOp<'_>, x: &Expected) -> Expected {
    assert_eq!(x.values.len(), op.inputs);
    let mut y = vec![0.0; op.outputs];
    firmware::ops::dense::run(op, &x.values, &mut y);
    if x.is_exact() {
        return Expected::exact(y);
    }
    let weight = |o: usize, i: usize| match op.layout {
        model_format::WeightLayout::OutputsByInputs => op.weights.get(o * op.inputs + i),
        model_format::WeightLayout::InputsByOutputs => op.weights.get(i * op.outputs + o),
        model_format::WeightLayout::Interleaved4 => unreachable!("tag 14 is int8 only"),
    };
    let bounds = (0..op.outputs)
        .map(|o| {
            let bias = op.bias.get(o).expect("outputs bias values");
            let products = (0..op.inputs).map(|i| {
                let w = weight(o, i).expect("inputs·outputs weights");
                (w, x.values[i], x.bounds[i])
            });
            let sum = Sum {
                exact: false,
                ..Sum::of(bias, products)
            };
            // Both sides round their sums and their activations.
            let (_, bound) = sum.finish(op.activation);
            2.0 * bound
        })
        .collect();
    Expected { values: y, bounds }
}

/// Runs layers `start..end` of `model` on f32 `input`; the result is f32
/// (dequantized with the last layer's output quantization if it is int8).
fn run(
    model: &Model<'_>,
    start: usize,
    end: usize,
    input: &[f32],
    mutation: Mutation,
) -> Result<Expected, Ambiguous> {
    let mut values = Values::F32(Expected::exact(input.to_vec()));
    for index in start..end {
        let layer = &model.layers()[index];
        values = match int8_input(layer) {
            None => Values::F32(match layer {
                Layer::Dense(_) | Layer::TiedDense(_) => {
                    let Op::Dense(op) = &model.ops()[index] else {
                        panic!("layer {index} is f32 dense but its op is not")
                    };
                    run_dense_f32(op, &values.into_f32())
                }
                _ => maps::run_f32(layer, &values.into_f32(), mutation),
            }),
            Some(quant) => {
                let x = values
                    .into_i8(&quant, mutation)
                    .ok_or(Ambiguous { layer: index })?;
                let (y, output) = match layer {
                    Layer::DenseI8(_) | Layer::DenseI8x4(_) | Layer::TiedDenseI8(_) => {
                        let dense = int8_dense(model, index, mutation);
                        (run_int8(&dense, &x, mutation), dense.finish.output)
                    }
                    Layer::RecurrentI8(r) => recurrent::run(r, &x, mutation),
                    _ => maps::run_i8(layer, &x, mutation),
                };
                Values::I8(y, output)
            }
        };
    }
    let out = values.into_f32();
    let settled = out
        .values
        .iter()
        .zip(&out.bounds)
        .all(|(v, b)| *b == 0.0 || (v.is_finite() && b.is_finite()));
    if settled {
        Ok(out)
    } else {
        Err(Ambiguous { layer: end })
    }
}

/// The input quantization of an int8 layer, `None` for an f32 one.
fn int8_input(layer: &Layer<'_>) -> Option<Quant> {
    match layer {
        Layer::Dense(_)
        | Layer::TiedDense(_)
        | Layer::Conv(_)
        | Layer::ConvTranspose(_)
        | Layer::Pool(_)
        | Layer::Upsample(_)
        | Layer::Recurrent(_) => None,
        Layer::DenseI8(d) | Layer::DenseI8x4(d) => Some(d.input),
        Layer::TiedDenseI8(t) => Some(t.input),
        Layer::ConvI8(c) => Some(c.input),
        Layer::ConvTransposeI8(c) => Some(c.input),
        Layer::PoolI8(p) => Some(p.quant),
        Layer::UpsampleI8(u) => Some(u.quant),
        Layer::RecurrentI8(r) => Some(r.input),
    }
}

/// Which part of a model to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Every layer, on a normalised input window (the reconstruction).
    Reconstruct,
    /// The encoder (layers `0..=codings_layer`), on an input window.
    Encode,
    /// The decoder (the layers after `codings_layer`), on f32 codings.
    Decode,
}

/// What the SPEC says `part` of `model` gives for `input` (int8 codings and
/// reconstructions dequantized), with the bound of each value.
pub fn expected(
    model: &Model<'_>,
    part: Part,
    input: &[f32],
    mutation: Mutation,
) -> Result<Expected, Ambiguous> {
    let (n, codings) = (model.layers().len(), model.codings_layer());
    let (start, end) = match part {
        Part::Reconstruct => (0, n),
        Part::Encode => (0, codings + 1),
        Part::Decode => (codings + 1, n),
    };
    run(model, start, end, input, mutation)
}

/// [`expected`] for a part whose every bit the SPEC fixes (every model
/// without f32 convolutions or transcendental f32 activations after them).
fn exact(model: &Model<'_>, part: Part, input: &[f32], mutation: Mutation) -> Vec<f32> {
    let want = expected(model, part, input, mutation).expect("no f32 sum to round");
    assert!(want.is_exact(), "{part:?}: the SPEC leaves some bits open");
    want.values
}

/// Runs every layer of `model` on a normalised input window and returns the
/// (dequantized) reconstruction. Panics where the SPEC does not fix every
/// bit (use [`expected`]).
pub fn reconstruct(model: &Model<'_>, input: &[f32]) -> Vec<f32> {
    reconstruct_with(model, input, Mutation::None)
}

/// [`reconstruct`] with a deliberate [`Mutation`].
pub fn reconstruct_with(model: &Model<'_>, input: &[f32], mutation: Mutation) -> Vec<f32> {
    exact(model, Part::Reconstruct, input, mutation)
}

/// Runs the encoder (layers `0..=codings_layer`); int8 codings are dequantized.
pub fn encode(model: &Model<'_>, input: &[f32]) -> Vec<f32> {
    encode_with(model, input, Mutation::None)
}

/// [`encode`] with a deliberate [`Mutation`].
pub fn encode_with(model: &Model<'_>, input: &[f32], mutation: Mutation) -> Vec<f32> {
    exact(model, Part::Encode, input, mutation)
}

/// Runs the decoder (the layers after `codings_layer`) on f32 codings.
pub fn decode(model: &Model<'_>, codings: &[f32]) -> Vec<f32> {
    decode_with(model, codings, Mutation::None)
}

/// [`decode`] with a deliberate [`Mutation`].
pub fn decode_with(model: &Model<'_>, codings: &[f32], mutation: Mutation) -> Vec<f32> {
    exact(model, Part::Decode, codings, mutation)
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
                    // About half the int8 dense layers that no tied layer
                    // reads are stored interleaved (tag 14), chosen by the
                    // seed without drawing from `rng`.
                    interleaved: !is_source && (seed >> (i % 64)) & 1 == 1,
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
