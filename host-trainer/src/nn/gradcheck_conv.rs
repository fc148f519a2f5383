//! Checks of the convolutional layers ([`super::conv`]): finite-difference
//! gradients in f64 with respect to input, weights and bias; forward
//! passes against direct loops over the definitions; the transposed
//! convolution as the adjoint of the convolution; the shapes of the
//! textbook Fashion-MNIST convolutional autoencoder; errors for bad shapes.

use dfdx::prelude::*;
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::conv::{
    Conv2d, ConvTranspose2d, IndexTable, NONE, Pool2d, Upsample2d, gather, scatter_add,
};
use super::conv_shape::{
    ConvSpec, ConvTransposeSpec, MapShape, Padding, PoolKind, PoolSpec, Reshape, UpsampleSpec,
};
use super::{Mat, Vector};

type Dev = Cpu;

use super::gradcheck::{max_error, random};
const PADDINGS: [Padding; 2] = [Padding::Valid, Padding::Same];

fn mat(rows: usize, cols: usize, v: &[f64]) -> Mat<f64, Dev> {
    Dev::default().tensor_from_vec(v.to_vec(), (rows, cols))
}

fn vector(v: &[f64]) -> Vector<f64, Dev> {
    Dev::default().tensor_from_vec(v.to_vec(), (v.len(),))
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A layer under test.
trait Layer {
    fn input_len(&self) -> usize;
    /// Weight shape, for layers with parameters (the bias has `.0` values).
    fn weight_shape(&self) -> Option<(usize, usize)>;
    fn run<T: Tape<f64, Dev> + Merge<T>>(
        &self,
        x: Mat<f64, Dev, T>,
        w: &Mat<f64, Dev>,
        b: &Vector<f64, Dev>,
    ) -> Mat<f64, Dev, T>;
}

/// Implements [`Layer`] for each `Type: weighted|unweighted |layer, x, w,
/// b| output` (`w` and `b` are `_` for the layers without parameters).
macro_rules! impl_layer {
    (@weights weighted $layer:ident) => {
        Some($layer.spec().weight_shape())
    };
    (@weights unweighted $layer:ident) => {
        None
    };
    ($($l:ty: $kind:ident |$this:ident, $x:ident, $w:tt, $b:tt| $run:expr;)*) => {$(
        impl Layer for $l {
            fn input_len(&self) -> usize {
                self.spec().input.len()
            }
            fn weight_shape(&self) -> Option<(usize, usize)> {
                impl_layer!(@weights $kind self)
            }
            fn run<T: Tape<f64, Dev> + Merge<T>>(
                &self,
                $x: Mat<f64, Dev, T>,
                $w: &Mat<f64, Dev>,
                $b: &Vector<f64, Dev>,
            ) -> Mat<f64, Dev, T> {
                let $this = self;
                $run
            }
        }
    )*};
}

impl_layer! {
    Conv2d: weighted |l, x, w, b| l.forward(x, w, b).unwrap();
    ConvTranspose2d: weighted |l, x, w, b| l.forward(x, w, b).unwrap();
    Pool2d: unweighted |l, x, _, _| l.forward(x).unwrap();
    Upsample2d: unweighted |l, x, _, _| l.forward(x).unwrap();
}

/// Worst relative gradient error of `Σ r ⊙ layer(x, w, b)` over x, w and b.
fn gradient_error<L: Layer>(layer: &L, batch: usize, seed: u64) -> f64 {
    let mut rng = StdRng::seed_from_u64(seed);
    let n_in = layer.input_len();
    let (wr, wc) = layer.weight_shape().unwrap_or((1, 1));
    let x0 = random(&mut rng, batch * n_in, -1.0, 1.0);
    let w0 = random(&mut rng, wr * wc, -1.0, 1.0);
    let b0 = random(&mut rng, wr, -0.5, 0.5);
    let out_len = layer
        .run(mat(batch, n_in, &x0), &mat(wr, wc, &w0), &vector(&b0))
        .shape()
        .1;
    let r = random(&mut rng, batch * out_len, -1.0, 1.0);
    let loss = |x: &[f64], w: &[f64], b: &[f64]| -> f64 {
        let y = layer.run(mat(batch, n_in, x), &mat(wr, wc, w), &vector(b));
        dot(&y.as_vec(), &r)
    };
    let (x, w, b) = (mat(batch, n_in, &x0), mat(wr, wc, &w0), vector(&b0));
    let y = layer.run(x.leaky_trace(), &w, &b);
    let grads = (y * mat(batch, out_len, &r)).sum::<Rank0, _>().backward();
    let mut worst = max_error(&|v| loss(v, &w0, &b0), &x0, &grads.get(&x).as_vec());
    if layer.weight_shape().is_some() {
        worst = worst.max(max_error(
            &|v| loss(&x0, v, &b0),
            &w0,
            &grads.get(&w).as_vec(),
        ));
        worst = worst.max(max_error(
            &|v| loss(&x0, &w0, v),
            &b0,
            &grads.get(&b).as_vec(),
        ));
    }
    assert!(worst.is_finite());
    worst
}

/// The sizes of one axis, straight from TensorFlow's formulas: `(out, pad_before)`.
fn tf_axis(n: usize, k: usize, s: usize, same: bool) -> (usize, usize) {
    if same {
        let out = n.div_ceil(s);
        let total = ((out - 1) * s + k).saturating_sub(n);
        (out, total / 2)
    } else {
        ((n - k) / s + 1, 0)
    }
}

/// A direct-loop convolution over the definition, channel-last, OHWI weights.
#[allow(clippy::too_many_arguments)]
fn naive_conv(
    x: &[f64],
    batch: usize,
    (h, w, cin): (usize, usize, usize),
    wt: &[f64],
    bias: &[f64],
    (kh, kw): (usize, usize),
    (sh, sw): (usize, usize),
    same: bool,
) -> Vec<f64> {
    let f = bias.len();
    let (oh, top) = tf_axis(h, kh, sh, same);
    let (ow, left) = tf_axis(w, kw, sw, same);
    let mut out = vec![0.0; batch * oh * ow * f];
    for b in 0..batch {
        for oy in 0..oh {
            for ox in 0..ow {
                for fo in 0..f {
                    let mut acc = bias[fo];
                    for i in 0..kh {
                        for j in 0..kw {
                            let iy = (oy * sh + i) as isize - top as isize;
                            let ix = (ox * sw + j) as isize - left as isize;
                            if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                continue;
                            }
                            let (iy, ix) = (iy as usize, ix as usize);
                            for ci in 0..cin {
                                acc += wt[((fo * kh + i) * kw + j) * cin + ci]
                                    * x[b * h * w * cin + (iy * w + ix) * cin + ci];
                            }
                        }
                    }
                    out[b * oh * ow * f + (oy * ow + ox) * f + fo] = acc;
                }
            }
        }
    }
    out
}

/// A direct-loop transposed convolution: every input position adds its
/// kernel-weighted values to the output window it maps to (Keras
/// `Conv2DTranspose`), then the bias.
#[allow(clippy::too_many_arguments)]
fn naive_conv_transpose(
    x: &[f64],
    batch: usize,
    (h, w, cin): (usize, usize, usize),
    wt: &[f64],
    bias: &[f64],
    (kh, kw): (usize, usize),
    (sh, sw): (usize, usize),
    same: bool,
) -> Vec<f64> {
    let f = bias.len();
    let (oh, ow) = if same {
        (h * sh, w * sw)
    } else {
        ((h - 1) * sh + kh, (w - 1) * sw + kw)
    };
    // The padding of the convolution from (oh, ow) back to (h, w).
    let top = ((h - 1) * sh + kh).saturating_sub(oh) / 2;
    let left = ((w - 1) * sw + kw).saturating_sub(ow) / 2;
    let mut out = vec![0.0; batch * oh * ow * f];
    for b in 0..batch {
        let o = &mut out[b * oh * ow * f..(b + 1) * oh * ow * f];
        for v in o.chunks_mut(f) {
            v.copy_from_slice(bias);
        }
        for iy in 0..h {
            for ix in 0..w {
                for i in 0..kh {
                    for j in 0..kw {
                        let p = (iy * sh + i) as isize - top as isize;
                        let q = (ix * sw + j) as isize - left as isize;
                        if p < 0 || q < 0 || p >= oh as isize || q >= ow as isize {
                            continue;
                        }
                        let (p, q) = (p as usize, q as usize);
                        for fo in 0..f {
                            for ci in 0..cin {
                                o[(p * ow + q) * f + fo] += wt[((fo * kh + i) * kw + j) * cin + ci]
                                    * x[b * h * w * cin + (iy * w + ix) * cin + ci];
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// The 2-D and 1-D geometries the checks sweep: odd sizes, several
/// channels, strides 1, 2 (and 3), even and odd kernels.
fn conv_specs() -> Vec<ConvSpec> {
    let mut specs = Vec::new();
    for padding in PADDINGS {
        for stride in [1, 2] {
            specs.push(ConvSpec::square(
                MapShape::new(5, 7, 3),
                2,
                3,
                stride,
                padding,
            ));
            specs.push(ConvSpec::line(9, 2, 3, 3, stride, padding));
            specs.push(ConvSpec::line(7, 3, 2, 4, stride, padding));
        }
        specs.push(ConvSpec {
            input: MapShape::new(6, 5, 2),
            filters: 3,
            kernel: (2, 3),
            stride: (2, 1),
            padding,
        });
        specs.push(ConvSpec::square(MapShape::new(7, 7, 1), 2, 2, 3, padding));
    }
    specs
}

fn conv_transpose_specs() -> Vec<ConvTransposeSpec> {
    let mut specs = Vec::new();
    for padding in PADDINGS {
        for stride in [1, 2] {
            specs.push(ConvTransposeSpec::square(
                MapShape::new(3, 4, 3),
                2,
                3,
                stride,
                padding,
            ));
            specs.push(ConvTransposeSpec::line(5, 2, 3, 3, stride, padding));
            specs.push(ConvTransposeSpec::line(4, 3, 2, 4, stride, padding));
        }
        specs.push(ConvTransposeSpec {
            input: MapShape::new(3, 2, 2),
            filters: 3,
            kernel: (2, 3),
            stride: (2, 1),
            padding,
        });
        specs.push(ConvTransposeSpec::square(
            MapShape::new(3, 3, 2),
            1,
            2,
            3,
            padding,
        ));
    }
    specs
}

#[test]
fn conv_gradients() {
    for (k, spec) in conv_specs().into_iter().enumerate() {
        let layer = Conv2d::new(spec).unwrap();
        let err = gradient_error(&layer, 2, 100 + k as u64);
        assert!(err < 1e-6, "{spec:?}: gradient error {err:e}");
    }
}

#[test]
fn conv_transpose_gradients() {
    for (k, spec) in conv_transpose_specs().into_iter().enumerate() {
        let layer = ConvTranspose2d::new(spec).unwrap();
        let err = gradient_error(&layer, 2, 200 + k as u64);
        assert!(err < 1e-6, "{spec:?}: gradient error {err:e}");
    }
}

#[test]
fn pool_gradients() {
    for kind in [PoolKind::Max, PoolKind::Avg] {
        for spec in [
            PoolSpec::square(MapShape::new(5, 7, 3), 2, kind), // remainders on both axes
            PoolSpec::square(MapShape::new(6, 6, 2), 3, kind),
            PoolSpec::line(9, 2, 2, kind),
            PoolSpec {
                input: MapShape::new(4, 5, 2),
                size: (2, 1),
                kind,
            },
        ] {
            let layer = Pool2d::new(spec).unwrap();
            let err = gradient_error(&layer, 3, 300);
            assert!(err < 1e-6, "{spec:?}: gradient error {err:e}");
        }
    }
}

#[test]
fn upsample_gradients() {
    for spec in [
        UpsampleSpec::square(MapShape::new(3, 5, 2), 2),
        UpsampleSpec::line(5, 3, 3),
        UpsampleSpec {
            input: MapShape::new(2, 3, 2),
            factor: (3, 2),
        },
    ] {
        let layer = Upsample2d::new(spec).unwrap();
        let err = gradient_error(&layer, 2, 400);
        assert!(err < 1e-6, "{spec:?}: gradient error {err:e}");
    }
}

/// A direct-loop (transposed) convolution: [`naive_conv`] or
/// [`naive_conv_transpose`].
type NaiveConv = fn(
    &[f64],
    usize,
    (usize, usize, usize),
    &[f64],
    &[f64],
    (usize, usize),
    (usize, usize),
    bool,
) -> Vec<f64>;

/// Checks `layer`, of geometry `spec` (input, kernel, stride, padding),
/// against `naive`, direct loops over its definition: a batch of 3 random
/// inputs, weights and biases from `rng`, equal to 1e-12 and `(3, out_len)`
/// in shape; `name` names the case in messages.
fn check_against_loops<L: Layer>(
    rng: &mut StdRng,
    layer: &L,
    out_len: usize,
    name: &dyn std::fmt::Debug,
    (i, kernel, stride, padding): (MapShape, (usize, usize), (usize, usize), Padding),
    naive: NaiveConv,
) {
    let batch = 3;
    let (wr, wc) = layer.weight_shape().unwrap();
    let x = random(rng, batch * i.len(), -1.0, 1.0);
    let w = random(rng, wr * wc, -1.0, 1.0);
    let b = random(rng, wr, -1.0, 1.0);
    let got = layer.run(mat(batch, i.len(), &x), &mat(wr, wc, &w), &vector(&b));
    assert_eq!(*got.shape(), (batch, out_len));
    let want = naive(
        &x,
        batch,
        (i.h, i.w, i.c),
        &w,
        &b,
        kernel,
        stride,
        padding == Padding::Same,
    );
    assert_eq!(want.len(), got.shape().0 * got.shape().1, "{name:?}");
    for (g, e) in got.as_vec().iter().zip(&want) {
        assert!((g - e).abs() < 1e-12, "{name:?}: {g} vs {e}");
    }
}

#[test]
fn conv_forward_matches_direct_loops() {
    let mut rng = StdRng::seed_from_u64(11);
    for spec in conv_specs() {
        let layer = Conv2d::new(spec).unwrap();
        let geometry = (spec.input, spec.kernel, spec.stride, spec.padding);
        let out_len = layer.output().len();
        check_against_loops(&mut rng, &layer, out_len, &spec, geometry, naive_conv);
    }
}

#[test]
fn conv_transpose_forward_matches_direct_loops() {
    let mut rng = StdRng::seed_from_u64(12);
    for spec in conv_transpose_specs() {
        let layer = ConvTranspose2d::new(spec).unwrap();
        let geometry = (spec.input, spec.kernel, spec.stride, spec.padding);
        let out_len = layer.output().len();
        check_against_loops(
            &mut rng,
            &layer,
            out_len,
            &spec,
            geometry,
            naive_conv_transpose,
        );
    }
}

#[test]
fn literal_1d_values() {
    // Conv1D(1, k=3, s=2, same) of [1 2 3 4 5] with w = [1 0 −1], b = 0.5:
    // out 3, pad_total 2 → one zero before, one after.
    let conv = Conv2d::new(ConvSpec::line(5, 1, 1, 3, 2, Padding::Same)).unwrap();
    let y = conv
        .forward(
            mat(1, 5, &[1.0, 2.0, 3.0, 4.0, 5.0]),
            &mat(1, 3, &[1.0, 0.0, -1.0]),
            &vector(&[0.5]),
        )
        .unwrap();
    assert_eq!(y.as_vec(), vec![-1.5, -1.5, 4.5]);
    // Two channels in, channel-last: x[t·2 + c]; valid, stride 1, k = 2.
    let conv = Conv2d::new(ConvSpec::line(3, 2, 1, 2, 1, Padding::Valid)).unwrap();
    let y = conv
        .forward(
            mat(1, 6, &[1.0, 10.0, 2.0, 20.0, 3.0, 30.0]),
            // w[0][k][c]: k = 0 → (1, 0), k = 1 → (0, 1)
            &mat(1, 4, &[1.0, 0.0, 0.0, 1.0]),
            &vector(&[0.0]),
        )
        .unwrap();
    assert_eq!(y.as_vec(), vec![1.0 + 20.0, 2.0 + 30.0]);
    // Conv1DTranspose(1, k=3, s=2) of [1 2] with w = [1 1 1]:
    // valid → length 5: [1 1 1 0 0] + [0 0 2 2 2]; same → length 4, the end cut.
    let w = mat(1, 3, &[1.0, 1.0, 1.0]);
    let valid = ConvTranspose2d::new(ConvTransposeSpec::line(2, 1, 1, 3, 2, Padding::Valid))
        .unwrap()
        .forward(mat(1, 2, &[1.0, 2.0]), &w, &vector(&[0.0]))
        .unwrap();
    assert_eq!(valid.as_vec(), vec![1.0, 1.0, 3.0, 2.0, 2.0]);
    let same = ConvTranspose2d::new(ConvTransposeSpec::line(2, 1, 1, 3, 2, Padding::Same))
        .unwrap()
        .forward(mat(1, 2, &[1.0, 2.0]), &w, &vector(&[0.0]))
        .unwrap();
    assert_eq!(same.as_vec(), vec![1.0, 1.0, 3.0, 2.0]);
}

/// `w[o][kh][kw][i]` → `w[i][kh][kw][o]`.
fn swap_io(w: &[f64], o: usize, taps: usize, i: usize) -> Vec<f64> {
    let mut out = vec![0.0; w.len()];
    for a in 0..o {
        for t in 0..taps {
            for b in 0..i {
                out[(b * taps + t) * o + a] = w[(a * taps + t) * i + b];
            }
        }
    }
    out
}

#[test]
fn conv_transpose_is_the_adjoint_of_conv() {
    let mut rng = StdRng::seed_from_u64(13);
    for spec in conv_transpose_specs() {
        let t = ConvTranspose2d::new(spec).unwrap();
        let conv = Conv2d::new(spec.adjoint().unwrap()).unwrap();
        let batch = 2;
        let (n_small, n_big) = (spec.input.len(), t.output().len());
        let (wr, wc) = spec.weight_shape();
        let taps = spec.kernel.0 * spec.kernel.1;
        let wt = random(&mut rng, wr * wc, -1.0, 1.0);
        let wc_conv = swap_io(&wt, wr, taps, spec.input.c);
        assert_eq!(conv.spec().weight_shape(), (spec.input.c, taps * wr));
        let x = random(&mut rng, batch * n_big, -1.0, 1.0);
        let y = random(&mut rng, batch * n_small, -1.0, 1.0);
        let cx = conv
            .forward(
                mat(batch, n_big, &x),
                &mat(spec.input.c, taps * wr, &wc_conv),
                &vector(&vec![0.0; spec.input.c]),
            )
            .unwrap()
            .as_vec();
        let ty = t
            .forward(
                mat(batch, n_small, &y),
                &mat(wr, wc, &wt),
                &vector(&vec![0.0; wr]),
            )
            .unwrap()
            .as_vec();
        let (lhs, rhs) = (dot(&cx, &y), dot(&x, &ty));
        assert!(
            (lhs - rhs).abs() < 1e-10 * lhs.abs().max(1.0),
            "{spec:?}: {lhs} vs {rhs}"
        );
    }
}

#[test]
fn gather_and_scatter_are_adjoint() {
    let mut rng = StdRng::seed_from_u64(14);
    let (src_len, rows, cols, batch) = (7, 3, 4, 2);
    let idx: Vec<u32> = (0..rows * cols)
        .map(|k| {
            if k % 5 == 0 {
                NONE
            } else {
                rng.gen_range(0..7)
            }
        })
        .collect();
    let table = IndexTable::new(src_len, rows, cols, idx.clone()).unwrap();
    let x = random(&mut rng, batch * src_len, -1.0, 1.0);
    let y = random(&mut rng, batch * rows * cols, -1.0, 1.0);
    let gx = gather(mat(batch, src_len, &x), &table).unwrap();
    assert_eq!(*gx.shape(), (batch * rows, cols));
    let gx = gx.as_vec();
    for b in 0..batch {
        for (j, &i) in idx.iter().enumerate() {
            let want = if i == NONE {
                0.0
            } else {
                x[b * src_len + i as usize]
            };
            assert_eq!(gx[b * rows * cols + j], want);
        }
    }
    let sy = scatter_add(mat(batch * rows, cols, &y), &table).unwrap();
    assert_eq!(*sy.shape(), (batch, src_len));
    let (lhs, rhs) = (dot(&gx, &y), dot(&x, &sy.as_vec()));
    assert!((lhs - rhs).abs() < 1e-12, "{lhs} vs {rhs}");
}

#[test]
fn pooling_values_and_remainder() {
    // 3×5×1 map, 2×2 windows: one output row of two; row 2 and column 4 are dropped.
    let x: Vec<f64> = (0..15).map(|v| f64::from(v as u8)).collect();
    for (kind, want) in [
        (PoolKind::Max, vec![6.0, 8.0]),
        (PoolKind::Avg, vec![3.0, 5.0]),
    ] {
        let pool = Pool2d::new(PoolSpec::square(MapShape::new(3, 5, 1), 2, kind)).unwrap();
        assert_eq!(pool.output(), MapShape::new(1, 2, 1));
        let xt = mat(1, 15, &x);
        let y = pool.forward(xt.leaky_trace());
        let y = y.unwrap();
        assert_eq!(y.as_vec(), want);
        let g = y.sum::<Rank0, _>().backward().get(&xt).as_vec();
        for (k, gv) in g.iter().enumerate() {
            let (row, col) = (k / 5, k % 5);
            let expected = match kind {
                _ if row == 2 || col == 4 => 0.0,
                PoolKind::Max => f64::from(u8::from(row == 1 && (col == 1 || col == 3))),
                PoolKind::Avg => 0.25,
            };
            assert_eq!(*gv, expected, "{kind:?} gradient at {k}");
        }
    }
    // Channel-last: two channels pooled separately; ties go to the first.
    let pool = Pool2d::new(PoolSpec::line(4, 2, 2, PoolKind::Max)).unwrap();
    let x = mat(1, 8, &[1.0, 5.0, 2.0, 5.0, 7.0, -1.0, 7.0, -2.0]);
    let y = pool.forward(x.leaky_trace()).unwrap();
    assert_eq!(y.as_vec(), vec![2.0, 5.0, 7.0, -1.0]);
    let g = y.sum::<Rank0, _>().backward().get(&x).as_vec();
    assert_eq!(g, vec![0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
}

#[test]
fn upsampling_values() {
    // 1×2×2 map (two positions, two channels) by (2, 3).
    let up = Upsample2d::new(UpsampleSpec {
        input: MapShape::new(1, 2, 2),
        factor: (2, 3),
    })
    .unwrap();
    assert_eq!(up.output(), MapShape::new(2, 6, 2));
    let y = up
        .forward(mat(1, 4, &[1.0, 10.0, 2.0, 20.0]))
        .unwrap()
        .as_vec();
    let row = [
        1.0, 10.0, 1.0, 10.0, 1.0, 10.0, 2.0, 20.0, 2.0, 20.0, 2.0, 20.0,
    ];
    assert_eq!(y, [row, row].concat());
}

/// Géron's Fashion-MNIST convolutional autoencoder (Hands-On ML, ch. 17).
fn fashion_layers() -> (Vec<Conv2d>, Vec<Pool2d>, Vec<ConvTranspose2d>) {
    let input = MapShape::new(28, 28, 1);
    let mut convs = Vec::new();
    let mut pools = Vec::new();
    let mut shape = input;
    for filters in [16, 32, 64] {
        let conv = Conv2d::new(ConvSpec::square(shape, filters, 3, 1, Padding::Same)).unwrap();
        let pool = Pool2d::new(PoolSpec::square(conv.output(), 2, PoolKind::Max)).unwrap();
        shape = pool.output();
        convs.push(conv);
        pools.push(pool);
    }
    let mut deconvs = Vec::new();
    for (filters, padding) in [
        (32, Padding::Valid),
        (16, Padding::Same),
        (1, Padding::Same),
    ] {
        let t =
            ConvTranspose2d::new(ConvTransposeSpec::square(shape, filters, 3, 2, padding)).unwrap();
        shape = t.output();
        deconvs.push(t);
    }
    (convs, pools, deconvs)
}

#[test]
fn fashion_mnist_shapes() {
    let (convs, pools, deconvs) = fashion_layers();
    let enc: Vec<(MapShape, MapShape)> = convs
        .iter()
        .zip(&pools)
        .map(|(c, p)| (c.output(), p.output()))
        .collect();
    assert_eq!(
        enc,
        vec![
            (MapShape::new(28, 28, 16), MapShape::new(14, 14, 16)),
            (MapShape::new(14, 14, 32), MapShape::new(7, 7, 32)),
            (MapShape::new(7, 7, 64), MapShape::new(3, 3, 64)),
        ]
    );
    let dec: Vec<MapShape> = deconvs.iter().map(|d| d.output()).collect();
    assert_eq!(
        dec,
        vec![
            MapShape::new(7, 7, 32),
            MapShape::new(14, 14, 16),
            MapShape::new(28, 28, 1)
        ]
    );
    assert_eq!(
        deconvs
            .iter()
            .map(|d| d.spec().weight_shape())
            .collect::<Vec<_>>(),
        vec![(32, 9 * 64), (16, 9 * 32), (1, 9 * 16)]
    );
    // And through tensors, with the codings flattened for a dense layer and back.
    let mut rng = StdRng::seed_from_u64(15);
    let batch = 2;
    let mut h = mat(batch, 784, &random(&mut rng, batch * 784, 0.0, 1.0));
    for (conv, pool) in convs.iter().zip(&pools) {
        let (wr, wc) = conv.spec().weight_shape();
        let w = mat(wr, wc, &random(&mut rng, wr * wc, -0.1, 0.1));
        h = pool
            .forward(conv.forward(h, &w, &vector(&vec![0.0; wr])).unwrap())
            .unwrap();
    }
    assert_eq!(*h.shape(), (batch, 576));
    // Flattening and reshaping back move no data: the shapes only check lengths.
    let flat = Reshape::flatten(MapShape::new(3, 3, 64)).unwrap();
    assert_eq!(flat.to.len(), h.shape().1);
    assert!(Reshape::new(flat.to, flat.from).is_ok());
    for t in &deconvs {
        let (wr, wc) = t.spec().weight_shape();
        let w = mat(wr, wc, &random(&mut rng, wr * wc, -0.1, 0.1));
        h = t.forward(h, &w, &vector(&vec![0.0; wr])).unwrap();
    }
    assert_eq!(*h.shape(), (batch, 784));
}

#[test]
fn bad_shapes_are_errors() {
    let m = MapShape::new(5, 5, 2);
    // Geometry.
    assert!(Conv2d::new(ConvSpec::square(m, 3, 6, 1, Padding::Valid)).is_err());
    assert!(Conv2d::new(ConvSpec::square(m, 3, 3, 0, Padding::Same)).is_err());
    assert!(Conv2d::new(ConvSpec::square(m, 0, 3, 1, Padding::Same)).is_err());
    assert!(Conv2d::new(ConvSpec::square(m, 3, 0, 1, Padding::Same)).is_err());
    assert!(
        Conv2d::new(ConvSpec::square(
            MapShape::new(5, 0, 2),
            3,
            3,
            1,
            Padding::Same
        ))
        .is_err()
    );
    assert!(
        Conv2d::new(ConvSpec::square(
            MapShape::new(1 << 16, 1 << 16, 4),
            1,
            3,
            1,
            Padding::Same
        ))
        .is_err()
    );
    assert!(ConvTranspose2d::new(ConvTransposeSpec::square(m, 0, 3, 2, Padding::Same)).is_err());
    assert!(ConvTranspose2d::new(ConvTransposeSpec::square(m, 2, 3, 0, Padding::Valid)).is_err());
    assert!(
        ConvTranspose2d::new(ConvTransposeSpec::square(
            MapShape::new(usize::MAX / 2, 1, 1),
            1,
            3,
            4,
            Padding::Same
        ))
        .is_err()
    );
    assert!(Pool2d::new(PoolSpec::square(m, 6, PoolKind::Max)).is_err());
    assert!(Pool2d::new(PoolSpec::square(m, 0, PoolKind::Avg)).is_err());
    assert!(Upsample2d::new(UpsampleSpec::square(m, 0)).is_err());
    assert!(Upsample2d::new(UpsampleSpec::square(MapShape::new(usize::MAX, 1, 1), 2)).is_err());
    assert!(Reshape::new(m, MapShape::new(7, 7, 1)).is_err());
    assert!(IndexTable::new(4, 2, 2, vec![0, 1, 2, 4]).is_err());
    assert!(IndexTable::new(4, 2, 2, vec![0, 1, 2]).is_err());
    assert!(IndexTable::new(0, 1, 1, vec![NONE]).is_err());

    // Tensors that do not fit the layer.
    let conv = Conv2d::new(ConvSpec::square(m, 3, 3, 1, Padding::Same)).unwrap();
    let (wr, wc) = conv.spec().weight_shape();
    let x = mat(2, 50, &[0.5; 100]);
    let w = mat(wr, wc, &vec![0.1; wr * wc]);
    let b = vector(&[0.0; 3]);
    assert!(conv.forward(x.clone(), &w, &b).is_ok());
    assert!(conv.forward(mat(2, 49, &[0.5; 98]), &w, &b).is_err());
    assert!(
        conv.forward(x.clone(), &mat(wc, wr, &vec![0.1; wr * wc]), &b)
            .is_err()
    );
    assert!(conv.forward(x.clone(), &w, &vector(&[0.0; 2])).is_err());
    let t = ConvTranspose2d::new(ConvTransposeSpec::square(m, 3, 3, 2, Padding::Same)).unwrap();
    assert!(t.forward(x.clone(), &w, &b).is_ok()); // same weight shape (3, 18)
    assert!(t.forward(mat(2, 25, &[0.5; 50]), &w, &b).is_err());
    assert!(t.forward(x.clone(), &mat(3, 9, &[0.1; 27]), &b).is_err());
    let pool = Pool2d::new(PoolSpec::square(m, 2, PoolKind::Max)).unwrap();
    assert!(pool.forward(mat(1, 49, &[0.0; 49])).is_err());
    let up = Upsample2d::new(UpsampleSpec::square(m, 2)).unwrap();
    assert!(up.forward(mat(1, 51, &[0.0; 51])).is_err());
    let table = IndexTable::new(4, 2, 2, vec![0, 1, 2, 3]).unwrap();
    assert!(gather(mat(1, 3, &[0.0; 3]), &table).is_err());
    assert!(scatter_add(mat(3, 2, &[0.0; 6]), &table).is_err());
    assert!(scatter_add(mat(2, 3, &[0.0; 6]), &table).is_err());
    assert!(super::conv::add_channel_bias(mat(2, 5, &[0.0; 10]), &vector(&[0.0; 2])).is_err());
}

#[test]
fn empty_batch_gives_empty_output() {
    let (convs, pools, deconvs) = fashion_layers();
    let x: Mat<f64, Dev> = Dev::default().zeros_like(&(0, 784));
    let (wr, wc) = convs[0].spec().weight_shape();
    let y = convs[0]
        .forward(
            x,
            &mat(wr, wc, &vec![0.0; wr * wc]),
            &vector(&vec![0.0; wr]),
        )
        .unwrap();
    assert_eq!(*y.shape(), (0, 28 * 28 * 16));
    assert_eq!(*pools[0].forward(y).unwrap().shape(), (0, 14 * 14 * 16));
    let x: Mat<f64, Dev> = Dev::default().zeros_like(&(0, 14 * 14 * 16));
    let (wr, wc) = deconvs[2].spec().weight_shape();
    let y = deconvs[2]
        .forward(
            x,
            &mat(wr, wc, &vec![0.0; wr * wc]),
            &vector(&vec![0.0; wr]),
        )
        .unwrap();
    assert_eq!(*y.shape(), (0, 784));
}

#[test]
fn f32_matches_f64() {
    let dev: Dev = Default::default();
    let mut rng = StdRng::seed_from_u64(16);
    let spec = ConvSpec::square(MapShape::new(6, 6, 3), 4, 3, 2, Padding::Same);
    let conv = Conv2d::new(spec).unwrap();
    let (wr, wc) = spec.weight_shape();
    let x = random(&mut rng, 2 * 108, -1.0, 1.0);
    let w = random(&mut rng, wr * wc, -1.0, 1.0);
    let b = random(&mut rng, wr, -1.0, 1.0);
    let f = |v: &[f64]| -> Vec<f32> { v.iter().map(|&a| a as f32).collect() };
    let y32 = conv
        .forward(
            dev.tensor_from_vec(f(&x), (2, 108)) as Mat<f32, Dev>,
            &dev.tensor_from_vec(f(&w), (wr, wc)),
            &dev.tensor_from_vec(f(&b), (wr,)),
        )
        .unwrap()
        .as_vec();
    let y64 = conv
        .forward(mat(2, 108, &x), &mat(wr, wc, &w), &vector(&b))
        .unwrap()
        .as_vec();
    for (a, e) in y32.iter().zip(&y64) {
        assert!((f64::from(*a) - e).abs() < 1e-5, "{a} vs {e}");
    }
}
