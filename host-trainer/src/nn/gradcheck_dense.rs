//! The fused dense layer ([`super::dense`]) against dfdx's composed layer
//! and against finite differences, in f64: every activation, both weight
//! layouts (dense and tied), sizes on both paths of the gemm (own loops at
//! most 5 wide, matrixmultiply above), and the data input whose gradient
//! the first layer skips.

use dfdx::prelude::*;
use model_format::Activation::{self, Identity, Relu, Selu, Sigmoid, Tanh};
use rand::{SeedableRng, rngs::StdRng};

use super::dense::{composed, dense_cpu};
use super::gradcheck::{max_error, random};
use super::matmul::Layout;
use super::net::{LayerSpec, Net, NetSpec};
use super::{Mat, Vector, loss};

type Dev = Cpu;

const ACTIVATIONS: [Activation; 5] = [Identity, Relu, Selu, Sigmoid, Tanh];

/// One layer's inputs: `x` `(batch, inputs)`, weights in `layout`, bias,
/// and the weights `r` of the scalar `Σ r·y` whose gradients are compared.
struct Case {
    batch: usize,
    inputs: usize,
    outputs: usize,
    layout: Layout,
    x: Vec<f64>,
    w: Vec<f64>,
    b: Vec<f64>,
    r: Vec<f64>,
}

impl Case {
    fn new(
        rng: &mut StdRng,
        (batch, inputs, outputs): (usize, usize, usize),
        layout: Layout,
    ) -> Self {
        Case {
            batch,
            inputs,
            outputs,
            layout,
            x: random(rng, batch * inputs, -1.0, 1.0),
            w: random(rng, inputs * outputs, -0.8, 0.8),
            b: random(rng, outputs, -0.5, 0.5),
            r: random(rng, batch * outputs, -1.0, 1.0),
        }
    }

    fn tensors(
        &self,
        x: &[f64],
        w: &[f64],
        b: &[f64],
    ) -> (Mat<f64, Dev>, Mat<f64, Dev>, Vector<f64, Dev>) {
        let dev: Dev = Default::default();
        let shape = match self.layout {
            Layout::Transposed => (self.outputs, self.inputs),
            Layout::AsStored => (self.inputs, self.outputs),
        };
        (
            dev.tensor_from_vec(x.to_vec(), (self.batch, self.inputs)),
            dev.tensor_from_vec(w.to_vec(), shape),
            dev.tensor_from_vec(b.to_vec(), (self.outputs,)),
        )
    }

    /// The output and the gradients of `Σ r·y` for x, W and b, fused or composed.
    fn run(&self, act: Activation, fused: bool) -> (Vec<f64>, [Vec<f64>; 3]) {
        let dev: Dev = Default::default();
        let (x, w, b) = self.tensors(&self.x, &self.w, &self.b);
        let y = if fused {
            dense_cpu(x.leaky_trace(), &w, self.layout, &b, act, true).unwrap()
        } else {
            composed(x.leaky_trace(), &w, self.layout, &b, act).unwrap()
        };
        let values = y.as_vec();
        let r: Mat<f64, Dev> = dev.tensor_from_vec(self.r.clone(), (self.batch, self.outputs));
        let grads = (y * r).sum::<Rank0, _>().backward();
        (
            values,
            [
                grads.get(&x).as_vec(),
                grads.get(&w).as_vec(),
                grads.get(&b).as_vec(),
            ],
        )
    }

    /// `Σ r·y` of the fused layer at the given parameters.
    fn objective(&self, act: Activation, x: &[f64], w: &[f64], b: &[f64]) -> f64 {
        let (x, w, b) = self.tensors(x, w, b);
        let y = dense_cpu(x, &w, self.layout, &b, act, true)
            .unwrap()
            .as_vec();
        y.iter().zip(&self.r).map(|(a, c)| a * c).sum()
    }
}

fn worst(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(p, q)| (p - q).abs())
        .fold(0.0, f64::max)
}

#[test]
fn fused_dense_equals_dfdx_composed_layer() {
    let mut rng = StdRng::seed_from_u64(21);
    // (batch, inputs, outputs): the gemm's own loops, then matrixmultiply.
    for dims in [(4, 3, 2), (3, 5, 7), (9, 11, 8), (17, 40, 33)] {
        for layout in [Layout::Transposed, Layout::AsStored] {
            let case = Case::new(&mut rng, dims, layout);
            for act in ACTIVATIONS {
                let (y_f, g_f) = case.run(act, true);
                let (y_c, g_c) = case.run(act, false);
                let what = format!("{act:?}, {dims:?}, {layout:?}");
                assert!(worst(&y_f, &y_c) < 1e-12, "{what}: outputs differ");
                for (name, (p, q)) in ["x", "W", "b"].iter().zip(g_f.iter().zip(&g_c)) {
                    let e = worst(p, q);
                    assert!(e < 1e-12, "{what}: gradient of {name} differs by {e:e}");
                }
            }
        }
    }
}

#[test]
fn fused_dense_gradients_match_finite_differences() {
    let mut rng = StdRng::seed_from_u64(22);
    for layout in [Layout::Transposed, Layout::AsStored] {
        let case = Case::new(&mut rng, (7, 9, 6), layout);
        // ReLU's kink at 0 is where central differences fail; its formula
        // is compared with dfdx's above. (SELU's is continuous in value.)
        for act in [
            Activation::Identity,
            Activation::Sigmoid,
            Activation::Tanh,
            Activation::Selu,
        ] {
            let (_, [gx, gw, gb]) = case.run(act, true);
            let ex = max_error(&|v| case.objective(act, v, &case.w, &case.b), &case.x, &gx);
            let ew = max_error(&|v| case.objective(act, &case.x, v, &case.b), &case.w, &gw);
            let eb = max_error(&|v| case.objective(act, &case.x, &case.w, v), &case.b, &gb);
            let e = ex.max(ew).max(eb);
            assert!(e < 1e-6, "{act:?}, {layout:?}: gradient error {e:e}");
        }
    }
}

#[test]
fn shape_mismatches_are_errors() {
    let dev: Dev = Default::default();
    let x: Mat<f64, Dev> = dev.tensor_from_vec(vec![0.5; 6], (2, 3));
    let w: Mat<f64, Dev> = dev.tensor_from_vec(vec![0.1; 8], (2, 4));
    let b: Vector<f64, Dev> = dev.tensor_from_vec(vec![0.0; 2], (2,));
    let err = dense_cpu(
        x.clone(),
        &w,
        Layout::Transposed,
        &b,
        Activation::Relu,
        true,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("takes rows of 4 values, got 3"),
        "{err}"
    );
    let w: Mat<f64, Dev> = dev.tensor_from_vec(vec![0.1; 6], (2, 3));
    let short: Vector<f64, Dev> = dev.tensor_from_vec(vec![0.0; 3], (3,));
    let err = dense_cpu(x, &w, Layout::Transposed, &short, Activation::Relu, true).unwrap_err();
    assert!(
        err.to_string().contains("expects as many biases, got 3"),
        "{err}"
    );
}

#[test]
fn data_input_skips_only_its_own_gradient() {
    let dev: Dev = Default::default();
    let mut rng = StdRng::seed_from_u64(23);
    let dense = |inputs, outputs, activation| LayerSpec::Dense {
        inputs,
        outputs,
        activation,
    };
    let spec = NetSpec {
        layers: vec![
            dense(12, 8, Activation::Selu),
            dense(8, 7, Activation::Selu),
            LayerSpec::Tied {
                source: 1,
                activation: Activation::Selu,
            },
            dense(8, 12, Activation::Sigmoid),
        ],
        codings_layer: 1,
        logvar_head: false,
        predict_from: None,
    };
    let net: Net<f64, Dev> = Net::init(&dev, spec, 5).unwrap();
    let x: Mat<f64, Dev> = dev.tensor_from_vec(random(&mut rng, 10 * 12, 0.0, 1.0), (10, 12));
    let grads = |data: bool| {
        let out = if data {
            net.forward_data(x.leaky_trace(), net.all(), true)
        } else {
            net.forward(x.leaky_trace(), net.all(), true)
        };
        loss::reconstruction(loss::Recon::BceWithLogits, out.unwrap(), x.clone()).backward()
    };
    let (g_data, g_all) = (grads(true), grads(false));
    for i in [0, 1, 3] {
        let w = net.weights[i].as_ref().unwrap();
        assert_eq!(
            g_data.get(w).as_vec(),
            g_all.get(w).as_vec(),
            "layer {i} weights"
        );
        assert_eq!(
            g_data.get(&net.biases[i]).as_vec(),
            g_all.get(&net.biases[i]).as_vec()
        );
    }
    // The full forward pass does compute the input's gradient.
    assert!(g_all.get(&x).as_vec().iter().any(|&g| g != 0.0));
}
