//! Checks of the recurrent layers ([`super::recurrent`]): finite-difference
//! gradients in f64 of LSTM and GRU layers, sequence to vector and sequence
//! to sequence, with respect to the input, both weight matrices, the biases
//! and the initial state; forward passes against a direct per-step loop
//! over PyTorch's equations and against literal values; [`repeat`] and
//! [`time_distributed_dense`]; a whole recurrent autoencoder chain; errors
//! for bad shapes.

use dfdx::prelude::*;
use rand::{SeedableRng, rngs::StdRng};

use super::gradcheck::{max_error, random};
use super::recurrent::{
    Cell, InitialState, Recurrent, RnnParams, RnnSpec, repeat, time_distributed_dense,
};
use super::{Mat, Vector};

type Dev = Cpu;

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

fn spec(cell: Cell, inputs: usize, hidden: usize, steps: usize, sequences: bool) -> RnnSpec {
    RnnSpec {
        cell,
        inputs,
        hidden,
        steps,
        sequences,
    }
}

/// The values of everything a recurrent layer reads, in a fixed order:
/// input, `W_ih`, `W_hh`, `b_ih`, `b_hh`, `h0`, `c0` (empty when absent).
#[derive(Clone)]
struct Values {
    spec: RnnSpec,
    batch: usize,
    v: [Vec<f64>; 7],
}

const NAMES: [&str; 7] = ["input", "W_ih", "W_hh", "b_ih", "b_hh", "h0", "c0"];

impl Values {
    fn random(spec: RnnSpec, batch: usize, with_state: bool, rng: &mut StdRng) -> Self {
        let (gh, n, h) = (spec.gate_rows(), spec.inputs, spec.hidden);
        let gru = spec.cell == Cell::Gru;
        Values {
            spec,
            batch,
            v: [
                random(rng, batch * spec.input_len(), -1.0, 1.0),
                random(rng, gh * n, -0.7, 0.7),
                random(rng, gh * h, -0.7, 0.7),
                random(rng, gh, -0.5, 0.5),
                if gru {
                    random(rng, gh, -0.5, 0.5)
                } else {
                    vec![]
                },
                if with_state {
                    random(rng, batch * h, -0.8, 0.8)
                } else {
                    vec![]
                },
                if with_state && !gru {
                    random(rng, batch * h, -1.5, 1.5)
                } else {
                    vec![]
                },
            ],
        }
    }

    fn with(&self, k: usize, values: &[f64]) -> Self {
        let mut out = self.clone();
        out.v[k] = values.to_vec();
        out
    }

    fn tensors(&self) -> Tensors {
        let s = self.spec;
        let (gh, b, h) = (s.gate_rows(), self.batch, s.hidden);
        let opt_mat = |v: &Vec<f64>| (!v.is_empty()).then(|| mat(b, h, v));
        Tensors {
            x: mat(b, s.input_len(), &self.v[0]),
            w_ih: mat(gh, s.inputs, &self.v[1]),
            w_hh: mat(gh, h, &self.v[2]),
            b_ih: vector(&self.v[3]),
            b_hh: (!self.v[4].is_empty()).then(|| vector(&self.v[4])),
            h0: opt_mat(&self.v[5]),
            c0: opt_mat(&self.v[6]),
        }
    }

    /// The layer's output.
    fn output(&self) -> Vec<f64> {
        let layer = Recurrent::new(self.spec).unwrap();
        let t = self.tensors();
        let init = InitialState {
            h: t.h0.clone(),
            c: t.c0.clone(),
        };
        let y = layer.forward(t.x.clone(), &t.params(), init).unwrap();
        assert_eq!(*y.shape(), (self.batch, self.spec.output_len()));
        if self.batch == 0 {
            return Vec::new(); // dfdx cannot read an empty tensor back
        }
        y.as_vec()
    }
}

struct Tensors {
    x: Mat<f64, Dev>,
    w_ih: Mat<f64, Dev>,
    w_hh: Mat<f64, Dev>,
    b_ih: Vector<f64, Dev>,
    b_hh: Option<Vector<f64, Dev>>,
    h0: Option<Mat<f64, Dev>>,
    c0: Option<Mat<f64, Dev>>,
}

impl Tensors {
    fn params(&self) -> RnnParams<'_, f64> {
        RnnParams {
            w_ih: &self.w_ih,
            w_hh: &self.w_hh,
            b_ih: &self.b_ih,
            b_hh: self.b_hh.as_ref(),
        }
    }
}

/// Worst relative gradient error of `Σ r ⊙ layer(…)` over everything the
/// layer reads (input, weights, biases, initial state).
fn gradient_error(spec: RnnSpec, batch: usize, with_state: bool, seed: u64) -> f64 {
    let mut rng = StdRng::seed_from_u64(seed);
    let vals = Values::random(spec, batch, with_state, &mut rng);
    let r = random(&mut rng, batch * spec.output_len(), -1.0, 1.0);
    let layer = Recurrent::new(spec).unwrap();
    let t = vals.tensors();
    let init = InitialState {
        h: t.h0.as_ref().map(|h| h.leaky_trace()),
        c: t.c0.as_ref().map(|c| c.leaky_trace()),
    };
    let y = layer.forward(t.x.leaky_trace(), &t.params(), init).unwrap();
    let grads = (y * mat(batch, spec.output_len(), &r))
        .sum::<Rank0, _>()
        .backward();
    let analytic: [Option<Vec<f64>>; 7] = [
        Some(grads.get(&t.x).as_vec()),
        Some(grads.get(&t.w_ih).as_vec()),
        Some(grads.get(&t.w_hh).as_vec()),
        Some(grads.get(&t.b_ih).as_vec()),
        t.b_hh.as_ref().map(|b| grads.get(b).as_vec()),
        t.h0.as_ref().map(|h| grads.get(h).as_vec()),
        t.c0.as_ref().map(|c| grads.get(c).as_vec()),
    ];
    let mut worst = 0.0f64;
    for (k, a) in analytic.iter().enumerate() {
        let Some(a) = a else {
            assert!(vals.v[k].is_empty(), "{}: no gradient", NAMES[k]);
            continue;
        };
        let err = max_error(&|v| dot(&vals.with(k, v).output(), &r), &vals.v[k], a);
        assert!(err.is_finite(), "{}: {err}", NAMES[k]);
        assert!(err < 1e-6, "{spec:?} {}: gradient error {err:e}", NAMES[k]);
        worst = worst.max(err);
    }
    worst
}

fn sigmoid(a: f64) -> f64 {
    1.0 / (1.0 + (-a).exp())
}

/// PyTorch's LSTM and GRU equations, one scalar at a time: every hidden
/// state, `[b][t][j]`.
fn naive(vals: &Values) -> Vec<f64> {
    let s = vals.spec;
    let [x, w_ih, w_hh, b_ih, b_hh, h0, c0] = &vals.v;
    let (n, hd, steps) = (s.inputs, s.hidden, s.steps);
    let mut out = Vec::new();
    for b in 0..vals.batch {
        let mut h: Vec<f64> = if h0.is_empty() {
            vec![0.0; hd]
        } else {
            h0[b * hd..(b + 1) * hd].to_vec()
        };
        let mut c: Vec<f64> = if c0.is_empty() {
            vec![0.0; hd]
        } else {
            c0[b * hd..(b + 1) * hd].to_vec()
        };
        for t in 0..steps {
            let xt = &x[(b * steps + t) * n..(b * steps + t + 1) * n];
            // Row k of W_ih·x + b_ih, and of W_hh·h (+ b_hh).
            let wx = |k: usize| -> f64 {
                (0..n).map(|j| w_ih[k * n + j] * xt[j]).sum::<f64>() + b_ih[k]
            };
            let wh = |k: usize| -> f64 {
                (0..hd).map(|j| w_hh[k * hd + j] * h[j]).sum::<f64>()
                    + b_hh.get(k).copied().unwrap_or(0.0)
            };
            let mut h_new = vec![0.0; hd];
            match s.cell {
                Cell::Lstm => {
                    for u in 0..hd {
                        let i = sigmoid(wx(u) + wh(u));
                        let f = sigmoid(wx(hd + u) + wh(hd + u));
                        let g = (wx(2 * hd + u) + wh(2 * hd + u)).tanh();
                        let o = sigmoid(wx(3 * hd + u) + wh(3 * hd + u));
                        c[u] = f * c[u] + i * g;
                        h_new[u] = o * c[u].tanh();
                    }
                }
                Cell::Gru => {
                    for u in 0..hd {
                        let r = sigmoid(wx(u) + wh(u));
                        let z = sigmoid(wx(hd + u) + wh(hd + u));
                        let nn = (wx(2 * hd + u) + r * wh(2 * hd + u)).tanh();
                        h_new[u] = (1.0 - z) * nn + z * h[u];
                    }
                }
            }
            h = h_new;
            out.extend_from_slice(&h);
        }
    }
    out
}

/// The last step of each sample from `naive`'s `[b][t][j]` states.
fn last_steps(all: &[f64], steps: usize, hidden: usize) -> Vec<f64> {
    all.chunks(steps * hidden)
        .flat_map(|s| s[(steps - 1) * hidden..].to_vec())
        .collect()
}

#[test]
fn lstm_gradients() {
    let mut worst = 0.0f64;
    for (k, (sequences, with_state)) in [(false, false), (false, true), (true, false), (true, true)]
        .into_iter()
        .enumerate()
    {
        let s = spec(Cell::Lstm, 3, 4, 6, sequences);
        worst = worst.max(gradient_error(s, 3, with_state, 500 + k as u64));
    }
    // One input, one unit, a long sequence, batch 2.
    let s = spec(Cell::Lstm, 1, 1, 9, true);
    worst = worst.max(gradient_error(s, 2, true, 510));
    println!("LSTM worst gradient error {worst:e}");
}

#[test]
fn gru_gradients() {
    let mut worst = 0.0f64;
    for (k, (sequences, with_state)) in [(false, false), (false, true), (true, false), (true, true)]
        .into_iter()
        .enumerate()
    {
        let s = spec(Cell::Gru, 3, 4, 6, sequences);
        worst = worst.max(gradient_error(s, 3, with_state, 600 + k as u64));
    }
    let s = spec(Cell::Gru, 2, 1, 7, false);
    worst = worst.max(gradient_error(s, 2, true, 610));
    println!("GRU worst gradient error {worst:e}");
}

/// Sizes above nalgebra's threshold for matrixmultiply (every dimension of
/// a gemm over 5), so both gemm paths are checked.
#[test]
fn gradients_through_the_large_gemm_path() {
    for (k, cell) in [Cell::Lstm, Cell::Gru].into_iter().enumerate() {
        let err = gradient_error(spec(cell, 7, 6, 5, true), 7, true, 700 + k as u64);
        println!("{cell:?} (large) worst gradient error {err:e}");
    }
}

#[test]
fn forward_matches_a_direct_loop() {
    let mut rng = StdRng::seed_from_u64(800);
    for cell in [Cell::Lstm, Cell::Gru] {
        for (inputs, hidden, steps, batch) in [(3, 4, 6, 3), (7, 6, 5, 8), (1, 1, 4, 2)] {
            for with_state in [false, true] {
                let vals = Values::random(
                    spec(cell, inputs, hidden, steps, true),
                    batch,
                    with_state,
                    &mut rng,
                );
                let want = naive(&vals);
                let got = vals.output();
                assert_eq!(got.len(), want.len());
                for (g, e) in got.iter().zip(&want) {
                    assert!((g - e).abs() < 1e-12, "{cell:?}: {g} vs {e}");
                }
                // Sequence to vector: the last state of each sample.
                let mut last = vals.clone();
                last.spec.sequences = false;
                let got = last.output();
                let want = last_steps(&want, steps, hidden);
                for (g, e) in got.iter().zip(&want) {
                    assert!((g - e).abs() < 1e-12, "{cell:?} last: {g} vs {e}");
                }
            }
        }
    }
}

/// One input, one unit, three steps, literal parameters and initial state;
/// the expected states were computed separately (Python's `math`) from the
/// equations in the module docs.
#[test]
fn literal_values() {
    let lstm = Values {
        spec: spec(Cell::Lstm, 1, 1, 3, true),
        batch: 1,
        v: [
            vec![1.0, -1.0, 0.5],
            vec![0.5, -0.5, 1.0, 0.25],
            vec![0.1, 0.2, -0.3, 0.4],
            vec![0.0, 0.1, 0.0, -0.1],
            vec![],
            vec![0.2],
            vec![-0.3],
        ],
    };
    let want = [
        0.181_393_367_961_951_93,
        -0.033_668_762_306_777_49,
        0.112_603_889_170_282_05,
    ];
    for (g, e) in lstm.output().iter().zip(&want) {
        assert!((g - e).abs() < 1e-12, "LSTM: {g} vs {e}");
    }
    let gru = Values {
        spec: spec(Cell::Gru, 1, 1, 3, true),
        batch: 1,
        v: [
            vec![1.0, -1.0, 0.5],
            vec![0.5, -0.5, 1.0],
            vec![0.1, 0.2, -0.3],
            vec![0.0, 0.1, 0.2],
            vec![0.05, -0.05, 0.3],
            vec![0.2],
            vec![],
        ],
    };
    let want = [
        0.605_632_547_274_461_3,
        0.185_497_492_290_038_04,
        0.456_404_665_333_787_2,
    ];
    for (g, e) in gru.output().iter().zip(&want) {
        assert!((g - e).abs() < 1e-12, "GRU: {g} vs {e}");
    }
    // And the direct loop agrees with the literals.
    for (g, e) in naive(&gru).iter().zip(&want) {
        assert!((g - e).abs() < 1e-12);
    }
}

#[test]
fn repeat_values_and_gradient() {
    let mut rng = StdRng::seed_from_u64(900);
    let (batch, k, steps) = (3, 4, 5);
    let y = repeat(mat(2, 2, &[1.0, 2.0, 3.0, 4.0]), 3).unwrap();
    assert_eq!(*y.shape(), (2, 6));
    assert_eq!(
        y.as_vec(),
        vec![1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 4.0, 3.0, 4.0]
    );
    let x0 = random(&mut rng, batch * k, -1.0, 1.0);
    let r = random(&mut rng, batch * k * steps, -1.0, 1.0);
    let f = |v: &[f64]| dot(&repeat(mat(batch, k, v), steps).unwrap().as_vec(), &r);
    let x = mat(batch, k, &x0);
    let grads = (repeat(x.leaky_trace(), steps).unwrap() * mat(batch, k * steps, &r))
        .sum::<Rank0, _>()
        .backward();
    let err = max_error(&f, &x0, &grads.get(&x).as_vec());
    assert!(err < 1e-6, "repeat gradient error {err:e}");
}

#[test]
fn time_distributed_values_and_gradients() {
    let mut rng = StdRng::seed_from_u64(901);
    let (batch, steps, h, out) = (3, 5, 4, 2);
    let x0 = random(&mut rng, batch * steps * h, -1.0, 1.0);
    let w0 = random(&mut rng, out * h, -1.0, 1.0);
    let b0 = random(&mut rng, out, -0.5, 0.5);
    let r = random(&mut rng, batch * steps * out, -1.0, 1.0);
    let run = |x: &[f64], w: &[f64], b: &[f64]| -> Vec<f64> {
        let y =
            time_distributed_dense(mat(batch, steps * h, x), steps, &mat(out, h, w), &vector(b))
                .unwrap();
        assert_eq!(*y.shape(), (batch, steps * out));
        y.as_vec()
    };
    // Values: y[b][t][o] = Σ_j w[o][j]·x[b][t][j] + b[o].
    let got = run(&x0, &w0, &b0);
    for bb in 0..batch {
        for t in 0..steps {
            for o in 0..out {
                let want: f64 = b0[o]
                    + (0..h)
                        .map(|j| w0[o * h + j] * x0[(bb * steps + t) * h + j])
                        .sum::<f64>();
                let g = got[(bb * steps + t) * out + o];
                assert!((g - want).abs() < 1e-12, "{g} vs {want}");
            }
        }
    }
    let (x, w, b) = (mat(batch, steps * h, &x0), mat(out, h, &w0), vector(&b0));
    let y = time_distributed_dense(x.leaky_trace(), steps, &w, &b).unwrap();
    let grads = (y * mat(batch, steps * out, &r))
        .sum::<Rank0, _>()
        .backward();
    let mut worst = max_error(
        &|v| dot(&run(v, &w0, &b0), &r),
        &x0,
        &grads.get(&x).as_vec(),
    );
    worst = worst.max(max_error(
        &|v| dot(&run(&x0, v, &b0), &r),
        &w0,
        &grads.get(&w).as_vec(),
    ));
    worst = worst.max(max_error(
        &|v| dot(&run(&x0, &w0, v), &r),
        &b0,
        &grads.get(&b).as_vec(),
    ));
    assert!(worst < 1e-6, "time-distributed gradient error {worst:e}");
}

/// A recurrent autoencoder end to end: LSTM encoder (sequence to vector),
/// the codings repeated over the steps, a GRU decoder (sequence to
/// sequence), a time-distributed dense output. The gradients of the input
/// and of parameters in every layer against finite differences.
#[test]
fn recurrent_autoencoder_chain_gradients() {
    let mut rng = StdRng::seed_from_u64(902);
    let (batch, steps, n, codings, hd) = (2, 5, 3, 2, 4);
    let enc = Recurrent::new(spec(Cell::Lstm, n, codings, steps, false)).unwrap();
    let dec = Recurrent::new(spec(Cell::Gru, codings, hd, steps, true)).unwrap();
    // Parameters in one list: enc W_ih, W_hh, b; dec W_ih, W_hh, b_ih, b_hh; out W, b.
    let shapes = [
        (4 * codings, n),
        (4 * codings, codings),
        (4 * codings, 1),
        (3 * hd, codings),
        (3 * hd, hd),
        (3 * hd, 1),
        (3 * hd, 1),
        (n, hd),
        (n, 1),
    ];
    let p0: Vec<Vec<f64>> = shapes
        .iter()
        .map(|&(r, c)| random(&mut rng, r * c, -0.7, 0.7))
        .collect();
    let x0 = random(&mut rng, batch * steps * n, -1.0, 1.0);
    let target = random(&mut rng, batch * steps * n, -1.0, 1.0);
    type Params = (Vec<Mat<f64, Dev>>, Vec<Vector<f64, Dev>>);
    let tensors = |p: &[Vec<f64>]| -> Params {
        let mats = [0, 1, 3, 4, 7].map(|k| mat(shapes[k].0, shapes[k].1, &p[k]));
        let vecs = [2, 5, 6, 8].map(|k| vector(&p[k]));
        (mats.to_vec(), vecs.to_vec())
    };
    fn run<T: Tape<f64, Dev> + Merge<T>>(
        enc: &Recurrent,
        dec: &Recurrent,
        x: Mat<f64, Dev, T>,
        m: &[Mat<f64, Dev>],
        v: &[Vector<f64, Dev>],
        target: &Mat<f64, Dev>,
    ) -> Tensor<Rank0, f64, Dev, T> {
        let steps = enc.spec().steps;
        let ep = RnnParams {
            w_ih: &m[0],
            w_hh: &m[1],
            b_ih: &v[0],
            b_hh: None,
        };
        let dp = RnnParams {
            w_ih: &m[2],
            w_hh: &m[3],
            b_ih: &v[1],
            b_hh: Some(&v[2]),
        };
        let z = enc.forward(x, &ep, InitialState::zeros()).unwrap();
        let seq = repeat(z, steps).unwrap();
        let h = dec.forward(seq, &dp, InitialState::zeros()).unwrap();
        let y = time_distributed_dense(h, steps, &m[4], &v[3]).unwrap();
        (y - target.clone()).square().sum::<Rank0, _>()
    }
    let (bs, tw) = (batch, steps * n);
    let tgt = mat(bs, tw, &target);
    let loss = |x: &[f64], p: &[Vec<f64>]| -> f64 {
        let (m, v) = tensors(p);
        run(&enc, &dec, mat(bs, tw, x), &m, &v, &tgt).array()
    };
    let (m, v) = tensors(&p0);
    let x = mat(bs, tw, &x0);
    let grads = run(&enc, &dec, x.leaky_trace(), &m, &v, &tgt).backward();
    let mut worst = max_error(&|xv| loss(xv, &p0), &x0, &grads.get(&x).as_vec());
    let analytic: Vec<Vec<f64>> = [0, 1, 3, 4, 7]
        .iter()
        .zip(&m)
        .map(|(&k, t)| (k, grads.get(t).as_vec()))
        .chain(
            [2, 5, 6, 8]
                .iter()
                .zip(&v)
                .map(|(&k, t)| (k, grads.get(t).as_vec())),
        )
        .fold(vec![vec![]; 9], |mut acc, (k, g)| {
            acc[k] = g;
            acc
        });
    for k in 0..9 {
        let f = |pv: &[f64]| {
            let mut p = p0.clone();
            p[k] = pv.to_vec();
            loss(&x0, &p)
        };
        let err = max_error(&f, &p0[k], &analytic[k]);
        assert!(err < 1e-6, "parameter {k}: gradient error {err:e}");
        worst = worst.max(err);
    }
    println!("chain worst gradient error {worst:e}");
}

#[test]
fn f32_matches_f64() {
    let dev: Dev = Default::default();
    let mut rng = StdRng::seed_from_u64(903);
    for cell in [Cell::Lstm, Cell::Gru] {
        let vals = Values::random(spec(cell, 5, 8, 7, true), 4, true, &mut rng);
        let want = vals.output();
        let f = |v: &[f64]| -> Vec<f32> { v.iter().map(|&a| a as f32).collect() };
        let s = vals.spec;
        let (gh, b, h) = (s.gate_rows(), vals.batch, s.hidden);
        let m =
            |v: &[f64], r: usize, c: usize| -> Mat<f32, Dev> { dev.tensor_from_vec(f(v), (r, c)) };
        let vv = |v: &[f64]| -> Vector<f32, Dev> { dev.tensor_from_vec(f(v), (v.len(),)) };
        let (w_ih, w_hh, b_ih) = (
            m(&vals.v[1], gh, s.inputs),
            m(&vals.v[2], gh, h),
            vv(&vals.v[3]),
        );
        let b_hh = (!vals.v[4].is_empty()).then(|| vv(&vals.v[4]));
        let init = InitialState {
            h: Some(m(&vals.v[5], b, h)),
            c: (!vals.v[6].is_empty()).then(|| m(&vals.v[6], b, h)),
        };
        let p = RnnParams {
            w_ih: &w_ih,
            w_hh: &w_hh,
            b_ih: &b_ih,
            b_hh: b_hh.as_ref(),
        };
        let got = Recurrent::new(s)
            .unwrap()
            .forward(m(&vals.v[0], b, s.input_len()), &p, init)
            .unwrap()
            .as_vec();
        for (a, e) in got.iter().zip(&want) {
            assert!((f64::from(*a) - e).abs() < 1e-5, "{cell:?}: {a} vs {e}");
        }
    }
}

#[test]
fn empty_batch_gives_empty_output() {
    for cell in [Cell::Lstm, Cell::Gru] {
        let vals = Values::random(
            spec(cell, 3, 4, 5, true),
            0,
            false,
            &mut StdRng::seed_from_u64(1),
        );
        assert!(vals.output().is_empty());
    }
}

#[test]
fn bad_shapes_are_errors() {
    // Sizes.
    assert!(Recurrent::new(spec(Cell::Lstm, 0, 4, 5, true)).is_err());
    assert!(Recurrent::new(spec(Cell::Gru, 3, 0, 5, true)).is_err());
    assert!(Recurrent::new(spec(Cell::Gru, 3, 4, 0, false)).is_err());
    assert!(Recurrent::new(spec(Cell::Lstm, usize::MAX / 2, 4, 5, true)).is_err());
    assert!(Recurrent::new(spec(Cell::Lstm, 3, usize::MAX / 4, 1, false)).is_err());

    for cell in [Cell::Lstm, Cell::Gru] {
        let s = spec(cell, 3, 4, 5, false);
        let layer = Recurrent::new(s).unwrap();
        let vals = Values::random(s, 2, true, &mut StdRng::seed_from_u64(2));
        let t = vals.tensors();
        let ok = |x: Mat<f64, Dev>, p: &RnnParams<f64>, h: Option<Mat<f64, Dev>>, c| {
            layer.forward(x, p, InitialState { h, c })
        };
        let p = t.params();
        assert!(ok(t.x.clone(), &p, t.h0.clone(), t.c0.clone()).is_ok());
        // Input width.
        let e = ok(mat(2, 14, &[0.0; 28]), &p, None, None).unwrap_err();
        assert!(format!("{e}").contains(cell.name()), "{e}");
        // Weights the wrong way round, a wrong gate count, a short bias.
        let swapped = mat(3, 16, &[0.0; 48]);
        assert!(
            ok(
                t.x.clone(),
                &RnnParams {
                    w_ih: &swapped,
                    ..p
                },
                None,
                None
            )
            .is_err()
        );
        let (wrong_g, wrong_h) = (mat(12, 3, &[0.0; 36]), mat(16, 3, &[0.0; 48]));
        let wrong_ih = if cell == Cell::Lstm {
            &wrong_g
        } else {
            &wrong_h
        };
        assert!(
            ok(
                t.x.clone(),
                &RnnParams {
                    w_ih: wrong_ih,
                    ..p
                },
                None,
                None
            )
            .is_err()
        );
        assert!(ok(t.x.clone(), &RnnParams { w_hh: &t.w_ih, ..p }, None, None).is_err());
        let short = vector(&[0.0; 5]);
        assert!(ok(t.x.clone(), &RnnParams { b_ih: &short, ..p }, None, None).is_err());
        // The recurrent bias: a GRU needs one of 3·hidden, an LSTM has none.
        let b12 = vector(&[0.0; 12]);
        match cell {
            Cell::Lstm => {
                assert!(
                    ok(
                        t.x.clone(),
                        &RnnParams {
                            b_hh: Some(&b12),
                            ..p
                        },
                        None,
                        None
                    )
                    .is_err()
                )
            }
            Cell::Gru => {
                assert!(ok(t.x.clone(), &RnnParams { b_hh: None, ..p }, None, None).is_err());
                assert!(
                    ok(
                        t.x.clone(),
                        &RnnParams {
                            b_hh: Some(&short),
                            ..p
                        },
                        None,
                        None
                    )
                    .is_err()
                );
                // No cell state.
                assert!(ok(t.x.clone(), &p, None, Some(mat(2, 4, &[0.0; 8]))).is_err());
            }
        }
        // Initial states of the wrong batch or width.
        assert!(ok(t.x.clone(), &p, Some(mat(3, 4, &[0.0; 12])), None).is_err());
        assert!(ok(t.x.clone(), &p, Some(mat(2, 5, &[0.0; 10])), None).is_err());
        if cell == Cell::Lstm {
            assert!(ok(t.x.clone(), &p, None, Some(mat(2, 3, &[0.0; 6]))).is_err());
        }
    }

    // repeat and time-distributed dense.
    assert!(repeat(mat(2, 3, &[0.0; 6]), 0).is_err());
    assert!(repeat(mat(2, 3, &[0.0; 6]), usize::MAX / 2).is_err());
    let w = mat(2, 4, &[0.1; 8]);
    let b = vector(&[0.0; 2]);
    assert!(time_distributed_dense(mat(2, 20, &[0.0; 40]), 5, &w, &b).is_ok());
    assert!(time_distributed_dense(mat(2, 21, &[0.0; 42]), 5, &w, &b).is_err());
    assert!(time_distributed_dense(mat(2, 20, &[0.0; 40]), 4, &w, &b).is_err());
    assert!(time_distributed_dense(mat(2, 20, &[0.0; 40]), 0, &w, &b).is_err());
    assert!(time_distributed_dense(mat(2, 20, &[0.0; 40]), 5, &w, &vector(&[0.0; 4])).is_err());
}
