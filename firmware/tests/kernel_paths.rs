//! Every kernel path this CPU has (`firmware::ops::set_kernel_path`) gives
//! the portable path's bits: f32 dense (plain and through the engine),
//! int8 dense row-major, tied and interleaved, over random sizes with odd
//! widths and tails. A path the CPU lacks is refused and changes nothing.
//! (Needs the `std` feature: the x86-64 kernels exist only with it.)

mod common;

use std::sync::Mutex;

use common::Rng;
use firmware::ops::{
    KernelPath, PathUnavailable, dense, int8, int8_x4, kernel_path, set_kernel_path,
};
use firmware::{Engine, Model};
use model_format::build::{InputBuf, LayerBuf, ModelBuf};
use model_format::{
    Activation, DenseI8Op, DenseOp, F32s, I8s, I32s, ModelKind, Nibbles, Quant, Requant,
    WeightLayout,
};

/// The path is process-wide: one test at a time switches it.
static PATH: Mutex<()> = Mutex::new(());

/// `f` on every available path, the portable one first; the results.
fn on_every_path<T>(mut f: impl FnMut() -> T) -> Vec<(KernelPath, T)> {
    let _guard = PATH.lock().unwrap_or_else(|e| e.into_inner());
    let out = KernelPath::ALL
        .into_iter()
        .filter(|p| p.is_available())
        .map(|p| {
            set_kernel_path(Some(p)).unwrap();
            assert_eq!(kernel_path(), p);
            (p, f())
        })
        .collect();
    set_kernel_path(None).unwrap();
    out
}

/// Asserts that every path's result equals the portable one's.
fn assert_same<T: PartialEq + std::fmt::Debug>(results: Vec<(KernelPath, T)>, what: &str) {
    let (first, want) = &results[0];
    assert_eq!(*first, KernelPath::Portable);
    for (p, got) in &results[1..] {
        assert_eq!(got, want, "{p} differs from portable: {what}");
    }
}

/// Random sizes: odd widths, blocks and tails of every length.
fn sizes(rng: &mut Rng) -> Vec<(usize, usize)> {
    let mut v = vec![
        (1, 1),
        (3, 5),
        (4, 4),
        (7, 9),
        (640, 128),
        (128, 8),
        (8, 640),
    ];
    v.extend((0..30).map(|_| (1 + rng.below(100), 1 + rng.below(40))));
    v
}

#[test]
fn f32_dense_bits_equal_on_every_path() {
    let mut rng = Rng::new(11);
    for (inputs, outputs) in sizes(&mut rng) {
        let w = model_format::build::f32_bytes(&rng.values(inputs * outputs, 1.0));
        let b = model_format::build::f32_bytes(&rng.values(outputs, 1.0));
        let x = rng.values(inputs, 2.0);
        let op = DenseOp {
            inputs,
            outputs,
            activation: Activation::Identity,
            layout: WeightLayout::OutputsByInputs,
            weights: F32s::new(&w),
            bias: F32s::new(&b),
        };
        let results = on_every_path(|| {
            let mut y = vec![0.0f32; outputs];
            dense::run(&op, &x, &mut y);
            y.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        });
        assert_same(results, &format!("f32 {inputs} -> {outputs}"));
    }
}

#[test]
fn f32_engine_bits_equal_on_every_path() {
    let widths = [37u32, 64, 19, 8, 19, 64, 37];
    let mut rng = Rng::new(5);
    let layers = widths
        .windows(2)
        .map(|p| LayerBuf::Dense {
            inputs: p[0],
            outputs: p[1],
            activation: Activation::Tanh,
            weights: rng.values((p[0] * p[1]) as usize, 0.4),
            bias: rng.values(p[1] as usize, 0.1),
        })
        .collect();
    let bytes = ModelBuf {
        kind: ModelKind::Stacked,
        layers,
        codings_layer: 2,
        ..ModelBuf::new(InputBuf::identity(37, 1, 1))
    }
    .encode()
    .unwrap();
    let model = Model::load(&bytes).unwrap();
    let input = rng.values(37, 1.5);
    let results = on_every_path(|| {
        let mut scratch = vec![0.0f32; Engine::scratch_len(&model)];
        let mut engine = Engine::new(&model, &mut scratch).unwrap();
        engine.input_mut().copy_from_slice(&input);
        let (_, out) = engine.reconstruct();
        out.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    });
    assert_same(results, "engine");
}

/// One random int8 layer's parts; outputs spread over the int8 range.
struct I8Layer {
    inputs: usize,
    outputs: usize,
    weights: Vec<u8>,
    bias: Vec<u8>,
    exponents: Vec<u8>,
    x: Vec<u32>,
}

impl I8Layer {
    fn new(rng: &mut Rng, inputs: usize, outputs: usize) -> I8Layer {
        let src: Vec<i8> = (0..inputs).map(|_| rng.next_u64() as i8).collect();
        let zp = rng.next_u64() as i8;
        let quant = Quant {
            scale: 1.0,
            zero_point: zp,
        };
        let f: Vec<f32> = src.iter().map(|v| f32::from(*v) - f32::from(zp)).collect();
        let mut x = vec![0u32; int8::packed_words(inputs)];
        int8::pack_f32(&f, &quant, &mut x);
        I8Layer {
            inputs,
            outputs,
            weights: (0..inputs * outputs)
                .map(|_| rng.next_u64() as u8)
                .collect(),
            bias: (0..outputs)
                .flat_map(|_| ((rng.next_u64() % 20001) as i32 - 10000).to_le_bytes())
                .collect(),
            exponents: (0..outputs.div_ceil(2))
                .map(|_| rng.next_u64() as u8 & 0x11)
                .collect(),
            x,
        }
    }

    fn op<'a>(&'a self, layout: WeightLayout, weights: &'a [u8]) -> DenseI8Op<'a> {
        // M = 2^-1 · 2^(shift − exponent): about 128 / (70 · 128 · √inputs).
        let shift = -(((self.inputs as f32).sqrt() * 70.0).log2() as i8);
        DenseI8Op {
            inputs: self.inputs,
            outputs: self.outputs,
            activation: Activation::Identity,
            layout,
            input: Quant {
                scale: 1.0,
                zero_point: 0,
            },
            output: Quant {
                scale: 1.0,
                zero_point: 0,
            },
            requant: Requant {
                multiplier: 1 << 30,
                shift,
            },
            weights: I8s::new(weights),
            exponents: if layout == WeightLayout::InputsByOutputs {
                Nibbles::EMPTY
            } else {
                Nibbles::new(&self.exponents)
            },
            bias: I32s::new(&self.bias),
            target_zero_point: 3,
            clamp_min: -128,
            table: I8s::new(&[]),
        }
    }

    /// The weights in the interleaved layout, from the row-major ones.
    fn interleaved(&self) -> Vec<u8> {
        let b = self.inputs.div_ceil(4);
        let mut out = vec![0u8; self.outputs.div_ceil(4) * 4 * b * 4];
        for o in 0..self.outputs {
            for i in 0..self.inputs {
                out[((o / 4) * b + i / 4) * 16 + (o % 4) * 4 + i % 4] =
                    self.weights[o * self.inputs + i];
            }
        }
        out
    }
}

#[test]
fn int8_dense_bits_equal_on_every_path_and_in_both_layouts() {
    let mut rng = Rng::new(23);
    for (inputs, outputs) in sizes(&mut rng) {
        let layer = I8Layer::new(&mut rng, inputs, outputs);
        let x4 = layer.interleaved();
        let row_major = layer.op(WeightLayout::OutputsByInputs, &layer.weights);
        let interleaved = layer.op(WeightLayout::Interleaved4, &x4);
        let run = |op: &DenseI8Op<'_>| {
            let mut y = vec![0i8; outputs];
            int8::run(op, &layer.x, &mut y);
            y
        };
        // The other finishing steps: a table and a clamp (SELU-like), and
        // a shift outside the high-word range (the general requantization).
        let table: Vec<u8> = (0..=255u8).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
        let variants = [row_major, interleaved].map(|op| {
            [
                op,
                DenseI8Op {
                    clamp_min: -100,
                    table: I8s::new(&table),
                    ..op
                },
                DenseI8Op {
                    requant: Requant {
                        shift: op.requant.shift - 16,
                        ..op.requant
                    },
                    clamp_min: 0,
                    ..op
                },
            ]
        });
        let results = on_every_path(|| {
            let [rm, x4] = &variants;
            let direct = x4.map(|op| {
                let mut y = vec![0i8; outputs];
                int8_x4::run_interleaved(&op, &layer.x, &mut y);
                y
            });
            (rm.map(|op| run(&op)), x4.map(|op| run(&op)), direct)
        });
        let (_, (wants, x4s, directs)) = &results[0];
        assert_eq!(
            x4s, wants,
            "interleaved differs from row-major, portable, {inputs} -> {outputs}"
        );
        assert_eq!(
            directs, wants,
            "run_interleaved differs from row-major, portable, {inputs} -> {outputs}"
        );
        let want = &wants[0];
        // The outputs span the int8 range, so a wrong sum shows.
        let distinct: std::collections::BTreeSet<_> = want.iter().collect();
        assert!(
            outputs < 8 || distinct.len() > outputs / 4,
            "{inputs} -> {outputs}: {want:?}"
        );
        assert_same(results, &format!("int8 {inputs} -> {outputs}"));
    }
}

#[test]
fn int8_tied_bits_equal_on_every_path() {
    let mut rng = Rng::new(31);
    for (inputs, outputs) in sizes(&mut rng) {
        // A tied layer reads an `inputs × outputs` source by column.
        let layer = I8Layer::new(&mut rng, inputs, outputs);
        let op = layer.op(WeightLayout::InputsByOutputs, &layer.weights);
        let results = on_every_path(|| {
            let mut y = vec![0i8; outputs];
            int8::run(&op, &layer.x, &mut y);
            y
        });
        assert_same(results, &format!("tied int8 {inputs} -> {outputs}"));
    }
}

#[test]
fn a_path_the_cpu_lacks_is_refused_and_changes_nothing() {
    let _guard = PATH.lock().unwrap_or_else(|e| e.into_inner());
    set_kernel_path(Some(KernelPath::Portable)).unwrap();
    for p in KernelPath::ALL {
        match set_kernel_path(Some(p)) {
            Ok(()) => {
                assert!(p.is_available());
                assert_eq!(kernel_path(), p);
                set_kernel_path(Some(KernelPath::Portable)).unwrap();
            }
            Err(e) => {
                assert_eq!(e, PathUnavailable(p));
                assert!(!p.is_available());
                assert_eq!(
                    kernel_path(),
                    KernelPath::Portable,
                    "a refused path changed the path"
                );
                assert!(e.to_string().contains("available: portable"), "{e}");
            }
        }
    }
    set_kernel_path(None).unwrap();
    assert_eq!(kernel_path(), KernelPath::best());
}
