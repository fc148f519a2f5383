//! The layers the benchmark runs, their data, and edgeae's view of them.

use model_format::{
    Activation, ConvGeometry, ConvI8Op, I8s, I32s, MapDims, Nibbles, Padding, Quant, Requant,
    conv_axis, conv_transpose_axis,
};

/// A convolution or transposed convolution on one NHWC map, OHWI filters.
pub struct ConvLayer {
    /// Where the shape comes from.
    pub name: &'static str,
    /// Transposed convolution.
    pub transposed: bool,
    /// Input rows.
    pub in_h: usize,
    /// Input columns.
    pub in_w: usize,
    /// Input channels.
    pub in_c: usize,
    /// Filters.
    pub out_c: usize,
    /// Kernel rows.
    pub kh: usize,
    /// Kernel columns.
    pub kw: usize,
    /// Stride along rows.
    pub sh: usize,
    /// Stride along columns.
    pub sw: usize,
    /// Padding.
    pub padding: Padding,
}

impl ConvLayer {
    fn axis(&self, n: usize, k: usize, s: usize) -> (usize, usize) {
        let f = if self.transposed {
            conv_transpose_axis
        } else {
            conv_axis
        };
        let (out, pad) = f(n as u64, k as u64, s as u64, self.padding).unwrap_or((0, 0));
        (out as usize, pad as usize)
    }

    /// Output rows and columns.
    pub fn output_hw(&self) -> (usize, usize) {
        (
            self.axis(self.in_h, self.kh, self.sh).0,
            self.axis(self.in_w, self.kw, self.sw).0,
        )
    }

    /// Zeros before the input (rows, columns): for a transposed layer those
    /// of the convolution it is the adjoint of, as TFLite and CMSIS-NN
    /// define its padding.
    pub fn pad(&self) -> [usize; 2] {
        [
            self.axis(self.in_h, self.kh, self.sh).1,
            self.axis(self.in_w, self.kw, self.sw).1,
        ]
    }

    /// TFLite's padding offsets of a transposed layer: the odd zero of the
    /// total padding, which goes after the map.
    pub fn pad_offsets(&self) -> [usize; 2] {
        let odd = |n: usize, k: usize, s: usize, pad: usize| {
            let (out, _) = self.axis(n, k, s);
            ((n.saturating_sub(1)) * s + k).saturating_sub(out) - 2 * pad
        };
        let [ph, pw] = self.pad();
        if !self.transposed || self.padding == Padding::Valid {
            return [0, 0];
        }
        [
            odd(self.in_h, self.kh, self.sh, ph),
            odd(self.in_w, self.kw, self.sw, pw),
        ]
    }

    /// Input values.
    pub fn input_len(&self) -> usize {
        self.in_h * self.in_w * self.in_c
    }

    /// Output values.
    pub fn output_len(&self) -> usize {
        let (h, w) = self.output_hw();
        h * w * self.out_c
    }

    /// Weight values.
    pub fn weight_len(&self) -> usize {
        self.out_c * self.kh * self.kw * self.in_c
    }

    /// Multiply-accumulates that touch an input value: for a transposed
    /// layer the taps that land inside the output, not the zeros between
    /// the upsampled inputs.
    pub fn macs(&self) -> usize {
        let (oh, ow) = self.output_hw();
        let [ph, pw] = self.pad();
        let taps = |out: usize, n: usize, k: usize, s: usize, pad: usize| -> usize {
            // Pairs (input or output position, tap) inside both maps.
            let mut count = 0;
            for o in 0..if self.transposed { n } else { out } {
                for t in 0..k {
                    let inside = if self.transposed {
                        (o * s + t).checked_sub(pad).is_some_and(|p| p < out)
                    } else {
                        (o * s + t).checked_sub(pad).is_some_and(|p| p < n)
                    };
                    count += usize::from(inside);
                }
            }
            count
        };
        taps(oh, self.in_h, self.kh, self.sh, ph)
            * taps(ow, self.in_w, self.kw, self.sw, pw)
            * self.in_c
            * self.out_c
    }

    /// edgeae's operation over the given weights (ReLU, no table).
    pub fn edgeae_op<'a>(&self, data: &'a LayerData<'a>) -> ConvI8Op<'a> {
        let (oh, ow) = self.output_hw();
        ConvI8Op {
            geometry: ConvGeometry {
                input: MapDims {
                    h: self.in_h,
                    w: self.in_w,
                    c: self.in_c,
                },
                output: MapDims {
                    h: oh,
                    w: ow,
                    c: self.out_c,
                },
                kernel: [self.kh, self.kw],
                stride: [self.sh, self.sw],
                pad: self.pad(),
            },
            activation: Activation::Relu,
            input: Quant {
                scale: 0.05,
                zero_point: INPUT_ZP,
            },
            output: Quant {
                scale: 0.1,
                zero_point: OUTPUT_ZP,
            },
            requant: REQUANT,
            weights: I8s::new(data.weights),
            exponents: Nibbles::new(data.exponents),
            bias: I32s::new(data.bias),
            target_zero_point: OUTPUT_ZP,
            clamp_min: OUTPUT_ZP,
            table: I8s::new(&[]),
        }
    }
}

/// Input zero point.
pub const INPUT_ZP: i8 = -3;
/// Output zero point.
pub const OUTPUT_ZP: i8 = -128;
/// The layer multiplier: about 0.7 · 2^−9, so sums of a few thousand land
/// in the int8 range.
pub const REQUANT: Requant = Requant {
    multiplier: 1_518_500_250,
    shift: -9,
};

/// A layer's bytes as edgeae's format stores them.
pub struct LayerData<'a> {
    /// int8 weights (as bytes).
    pub weights: &'a [u8],
    /// Per-filter exponents, two per byte.
    pub exponents: &'a [u8],
    /// Per-filter bias, little-endian i32.
    pub bias: &'a [u8],
}

/// xorshift32: the same data on every run.
pub struct Rng(u32);

impl Rng {
    /// Seeded (non-zero).
    pub fn new(seed: u32) -> Rng {
        Rng(seed | 1)
    }

    /// The next 32 bits.
    pub fn next(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }

    /// Fills `dst` with int8 values in −127..=127.
    pub fn fill_i8(&mut self, dst: &mut [u8]) {
        for b in dst {
            *b = ((self.next() % 255) as i32 - 127) as i8 as u8;
        }
    }
}
