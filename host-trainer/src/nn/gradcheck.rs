//! Finite-difference gradient checks, in f64, for every piece written here
//! rather than taken from dfdx: SELU, dense and tied-dense layers (tied
//! weights get gradients from both uses), the KL sparsity penalty, the L1
//! penalty, the VAE latent loss and reparameterization, and the
//! reconstruction losses through a whole network (dense, convolutional,
//! recurrent).

use dfdx::prelude::*;
use model_format::Activation;
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::loss::{self, Recon};
use super::net::{LayerSpec, Net, NetSpec, ParamId};
use super::{Mat, act};

type Dev = Cpu;
const H: f64 = 1e-6;

pub(super) fn random(rng: &mut StdRng, n: usize, lo: f64, hi: f64) -> Vec<f64> {
    (0..n).map(|_| rng.gen_range(lo..hi)).collect()
}

/// Largest |analytic − numeric| / max(1, |numeric|) over all coordinates,
/// numeric by central differences of `f` around `x0`.
pub(super) fn max_error(f: &dyn Fn(&[f64]) -> f64, x0: &[f64], analytic: &[f64]) -> f64 {
    assert_eq!(x0.len(), analytic.len());
    let mut worst = 0.0f64;
    for i in 0..x0.len() {
        let mut xp = x0.to_vec();
        let mut xm = x0.to_vec();
        xp[i] += H;
        xm[i] -= H;
        let numeric = (f(&xp) - f(&xm)) / (2.0 * H);
        let err = (analytic[i] - numeric).abs() / numeric.abs().max(1.0);
        worst = worst.max(err);
    }
    worst
}

#[test]
fn selu_gradient() {
    let dev: Dev = Default::default();
    let mut rng = StdRng::seed_from_u64(1);
    // Stay away from the kink at 0.
    let x0: Vec<f64> = random(&mut rng, 24, -3.0, 3.0)
        .into_iter()
        .map(|v| if v.abs() < 1e-2 { v + 0.1 } else { v })
        .collect();
    let r = random(&mut rng, 24, -1.0, 1.0);
    let f = |x: &[f64]| -> f64 {
        let t: Mat<f64, Dev> = dev.tensor_from_vec(x.to_vec(), (4, 6));
        let rt: Mat<f64, Dev> = dev.tensor_from_vec(r.clone(), (4, 6));
        (act::selu(t) * rt).sum::<Rank0, _>().array()
    };
    let t: Mat<f64, Dev> = dev.tensor_from_vec(x0.clone(), (4, 6));
    let rt: Mat<f64, Dev> = dev.tensor_from_vec(r.clone(), (4, 6));
    let grads = (act::selu(t.leaky_trace()) * rt)
        .sum::<Rank0, _>()
        .backward();
    let err = max_error(&f, &x0, &grads.get(&t).as_vec());
    assert!(err < 1e-6, "SELU gradient error {err:e}");
    // And the values: λ·x for x > 0, λα(eˣ − 1) otherwise.
    let v = act::selu(dev.tensor_from_vec(vec![1.0f64, -1.0], (2,))).as_vec();
    assert!((v[0] - 1.050_700_987_355_480_5).abs() < 1e-12);
    assert!((v[1] - (-1.111_330_737_812_562_6)).abs() < 1e-12);
}

/// A loss of a network: its value, and its gradients when `trace` is set.
type NetLoss<'a> = &'a dyn Fn(&Net<f64, Dev>, bool) -> (f64, Option<Gradients<f64, Dev>>);

/// Checks d(loss)/d(param) for every parameter of `net` against finite differences.
fn check_net(net: &Net<f64, Dev>, loss: NetLoss<'_>) -> f64 {
    let (_, grads) = loss(net, true);
    let grads = grads.unwrap();
    let mut worst = 0.0f64;
    let mut ids = Vec::new();
    let mut probe = net.clone();
    struct Collect<'a>(
        &'a mut Vec<(ParamId, Vec<f64>, Vec<usize>)>,
        &'a Gradients<f64, Dev>,
    );
    impl super::net::ParamVisitor<f64, Dev> for Collect<'_> {
        fn visit<S: Shape>(
            &mut self,
            id: ParamId,
            t: &mut Tensor<S, f64, Dev>,
        ) -> anyhow::Result<()> {
            let shape: Vec<usize> = t.shape().concrete().into_iter().collect();
            self.0.push((id, self.1.get(t).as_vec(), shape));
            Ok(())
        }
    }
    probe
        .visit(|_| true, &mut Collect(&mut ids, &grads))
        .unwrap();
    assert!(!ids.is_empty());
    for (id, analytic, _) in &ids {
        let x0 = param_values(net, *id);
        let f = |x: &[f64]| -> f64 { loss(&with_param(net, *id, x), false).0 };
        let err = max_error(&f, &x0, analytic);
        assert!(err.is_finite());
        worst = worst.max(err);
    }
    worst
}

/// Checks the gradients of the reconstruction loss `recon` of `x` through
/// the whole of `net` (`logits` as in [`Net::forward`]) with [`check_net`].
fn check_reconstruction(net: &Net<f64, Dev>, x: &Mat<f64, Dev>, recon: Recon, logits: bool) -> f64 {
    let loss = |n: &Net<f64, Dev>, trace: bool| {
        if trace {
            let out = n.forward(x.leaky_trace(), n.all(), logits).unwrap();
            let l = loss::reconstruction(recon, out, x.clone());
            (l.array(), Some(l.backward()))
        } else {
            let out = n.forward(x.clone(), n.all(), logits).unwrap();
            (loss::reconstruction(recon, out, x.clone()).array(), None)
        }
    };
    check_net(net, &loss)
}

fn param_values(net: &Net<f64, Dev>, id: ParamId) -> Vec<f64> {
    match id {
        ParamId::Weight(i) => net.weights[i].as_ref().unwrap().as_vec(),
        ParamId::Bias(i) => net.biases[i].as_vec(),
        ParamId::LogvarWeight => net.logvar.as_ref().unwrap().0.as_vec(),
        ParamId::LogvarBias => net.logvar.as_ref().unwrap().1.as_vec(),
        ParamId::RecurrentWeight(i) => net.recurrent_weights[i].as_ref().unwrap().as_vec(),
        ParamId::RecurrentBias(i) => net.recurrent_biases[i].as_ref().unwrap().as_vec(),
    }
}

fn with_param(net: &Net<f64, Dev>, id: ParamId, values: &[f64]) -> Net<f64, Dev> {
    let dev: Dev = Default::default();
    let mut n = net.clone();
    match id {
        ParamId::Weight(i) => {
            let shape = *n.weights[i].as_ref().unwrap().shape();
            n.weights[i] = Some(dev.tensor_from_vec(values.to_vec(), shape));
        }
        ParamId::Bias(i) => {
            let shape = *n.biases[i].shape();
            n.biases[i] = dev.tensor_from_vec(values.to_vec(), shape);
        }
        ParamId::LogvarWeight => {
            let lv = n.logvar.as_mut().unwrap();
            let shape = *lv.0.shape();
            lv.0 = dev.tensor_from_vec(values.to_vec(), shape);
        }
        ParamId::LogvarBias => {
            let lv = n.logvar.as_mut().unwrap();
            let shape = *lv.1.shape();
            lv.1 = dev.tensor_from_vec(values.to_vec(), shape);
        }
        ParamId::RecurrentWeight(i) => {
            let shape = *n.recurrent_weights[i].as_ref().unwrap().shape();
            n.recurrent_weights[i] = Some(dev.tensor_from_vec(values.to_vec(), shape));
        }
        ParamId::RecurrentBias(i) => {
            let shape = *n.recurrent_biases[i].as_ref().unwrap().shape();
            n.recurrent_biases[i] = Some(dev.tensor_from_vec(values.to_vec(), shape));
        }
    }
    n
}

/// Random non-zero biases so the bias gradients are exercised off zero.
fn jitter_biases(net: &mut Net<f64, Dev>, rng: &mut StdRng) {
    let dev: Dev = Default::default();
    for b in &mut net.biases {
        let n = b.shape().0;
        *b = dev.tensor_from_vec(random(rng, n, -0.3, 0.3), (n,));
    }
}

fn batch(rng: &mut StdRng, rows: usize, cols: usize, lo: f64, hi: f64) -> Mat<f64, Dev> {
    let dev: Dev = Default::default();
    dev.tensor_from_vec(random(rng, rows * cols, lo, hi), (rows, cols))
}

#[test]
fn tied_dense_gradients_come_from_both_uses() {
    let dev: Dev = Default::default();
    let mut rng = StdRng::seed_from_u64(2);
    let spec = NetSpec {
        layers: vec![
            LayerSpec::Dense {
                inputs: 5,
                outputs: 3,
                activation: Activation::Tanh,
            },
            LayerSpec::Tied {
                source: 0,
                activation: Activation::Identity,
            },
        ],
        codings_layer: 0,
        logvar_head: false,
        predict_from: None,
    };
    let mut net: Net<f64, Dev> = Net::init(&dev, spec, 7).unwrap();
    jitter_biases(&mut net, &mut rng);
    let x = batch(&mut rng, 4, 5, -1.0, 1.0);
    let err = check_reconstruction(&net, &x, Recon::Mse, false);
    assert!(err < 1e-6, "tied dense gradient error {err:e}");

    // The gradient of the shared weights is the sum of both uses: compare
    // with an untied copy whose decoder holds Wᵀ.
    let w = net.weights[0].as_ref().unwrap().clone();
    let untied_spec = NetSpec {
        layers: vec![
            LayerSpec::Dense {
                inputs: 5,
                outputs: 3,
                activation: Activation::Tanh,
            },
            LayerSpec::Dense {
                inputs: 3,
                outputs: 5,
                activation: Activation::Identity,
            },
        ],
        codings_layer: 0,
        logvar_head: false,
        predict_from: None,
    };
    let mut untied: Net<f64, Dev> = Net::init(&dev, untied_spec, 7).unwrap();
    untied.weights[0] = Some(w.clone());
    let wv = w.as_vec(); // (3, 5) row-major
    let wt: Vec<f64> = (0..15).map(|k| wv[(k % 3) * 5 + k / 3]).collect(); // (5, 3)
    untied.weights[1] = Some(dev.tensor_from_vec(wt, (5, 3)));
    untied.biases = net.biases.clone();
    let g_tied = {
        let out = net.forward(x.leaky_trace(), net.all(), false).unwrap();
        loss::reconstruction(Recon::Mse, out, x.clone()).backward()
    };
    let g_untied = {
        let out = untied
            .forward(x.leaky_trace(), untied.all(), false)
            .unwrap();
        loss::reconstruction(Recon::Mse, out, x.clone()).backward()
    };
    let tied = g_tied.get(net.weights[0].as_ref().unwrap()).as_vec();
    let enc = g_untied.get(untied.weights[0].as_ref().unwrap()).as_vec();
    let dec = g_untied.get(untied.weights[1].as_ref().unwrap()).as_vec(); // (5, 3)
    for i in 0..3 {
        for j in 0..5 {
            let sum = enc[i * 5 + j] + dec[j * 3 + i];
            assert!((tied[i * 5 + j] - sum).abs() < 1e-12, "element ({i}, {j})");
        }
    }
}

#[test]
fn stacked_selu_sigmoid_bce_gradients() {
    let dev: Dev = Default::default();
    let mut rng = StdRng::seed_from_u64(3);
    let spec = NetSpec {
        layers: vec![
            LayerSpec::Dense {
                inputs: 6,
                outputs: 4,
                activation: Activation::Selu,
            },
            LayerSpec::Dense {
                inputs: 4,
                outputs: 2,
                activation: Activation::Selu,
            },
            LayerSpec::Dense {
                inputs: 2,
                outputs: 4,
                activation: Activation::Selu,
            },
            LayerSpec::Dense {
                inputs: 4,
                outputs: 6,
                activation: Activation::Sigmoid,
            },
        ],
        codings_layer: 1,
        logvar_head: false,
        predict_from: None,
    };
    let mut net: Net<f64, Dev> = Net::init(&dev, spec, 3).unwrap();
    jitter_biases(&mut net, &mut rng);
    let x = batch(&mut rng, 5, 6, 0.0, 1.0);
    let err = check_reconstruction(&net, &x, Recon::BceWithLogits, true);
    assert!(err < 1e-6, "stacked BCE gradient error {err:e}");
}

#[test]
fn kl_sparsity_gradient_and_value() {
    let dev: Dev = Default::default();
    let mut rng = StdRng::seed_from_u64(4);
    let (rows, cols) = (6, 4);
    let z0 = random(&mut rng, rows * cols, -2.0, 2.0);
    let f = |z: &[f64]| -> f64 {
        let t: Mat<f64, Dev> = dev.tensor_from_vec(z.to_vec(), (rows, cols));
        loss::kl_sparsity(t.sigmoid(), 0.1, 0.5).array()
    };
    let t: Mat<f64, Dev> = dev.tensor_from_vec(z0.clone(), (rows, cols));
    let grads = loss::kl_sparsity(t.leaky_trace().sigmoid(), 0.1, 0.5).backward();
    let err = max_error(&f, &z0, &grads.get(&t).as_vec());
    assert!(err < 1e-6, "KL sparsity gradient error {err:e}");

    // Value against the formula, and zero when every unit's mean is the target.
    let sig: Vec<f64> = z0.iter().map(|z| 1.0 / (1.0 + (-z).exp())).collect();
    let mut want = 0.0;
    for j in 0..cols {
        let q: f64 = (0..rows).map(|i| sig[i * cols + j]).sum::<f64>() / rows as f64;
        want += 0.1 * (0.1 / q).ln() + 0.9 * (0.9 / (1.0 - q)).ln();
    }
    assert!(
        (f(&z0) - 0.5 * want).abs() < 1e-12,
        "{} vs {}",
        f(&z0),
        0.5 * want
    );
    let at_target: Mat<f64, Dev> = dev.tensor_from_vec(vec![0.1; 8], (2, 4));
    assert!(loss::kl_sparsity(at_target, 0.1, 1.0).array().abs() < 1e-12);
}

#[test]
fn l1_penalty_gradient() {
    let dev: Dev = Default::default();
    let mut rng = StdRng::seed_from_u64(5);
    let x0: Vec<f64> = random(&mut rng, 12, -1.0, 1.0)
        .into_iter()
        .map(|v| if v.abs() < 1e-2 { 0.5 } else { v })
        .collect();
    let f = |x: &[f64]| -> f64 {
        loss::l1_penalty(
            dev.tensor_from_vec(x.to_vec(), (3, 4)) as Mat<f64, Dev>,
            0.3,
        )
        .array()
    };
    let t: Mat<f64, Dev> = dev.tensor_from_vec(x0.clone(), (3, 4));
    let grads = loss::l1_penalty(t.leaky_trace(), 0.3).backward();
    let err = max_error(&f, &x0, &grads.get(&t).as_vec());
    assert!(err < 1e-6, "L1 gradient error {err:e}");
}

#[test]
fn vae_terms_gradients_and_values() {
    let dev: Dev = Default::default();
    let mut rng = StdRng::seed_from_u64(6);
    let (rows, cols) = (3, 2);
    let mu0 = random(&mut rng, rows * cols, -1.0, 1.0);
    let lv0 = random(&mut rng, rows * cols, -1.0, 1.0);
    let eps = random(&mut rng, rows * cols, -2.0, 2.0);
    let r = random(&mut rng, rows * cols, -1.0, 1.0);
    // loss = Σ r·z + KL, z = μ + exp(γ/2)·ε; parameters are μ and γ, concatenated.
    let f = |p: &[f64]| -> f64 {
        let mu: Mat<f64, Dev> = dev.tensor_from_vec(p[..6].to_vec(), (rows, cols));
        let lv: Mat<f64, Dev> = dev.tensor_from_vec(p[6..].to_vec(), (rows, cols));
        let e: Mat<f64, Dev> = dev.tensor_from_vec(eps.clone(), (rows, cols));
        let rt: Mat<f64, Dev> = dev.tensor_from_vec(r.clone(), (rows, cols));
        let z = loss::reparameterize(mu.clone(), lv.clone(), e);
        (z * rt).sum::<Rank0, _>().array() + loss::vae_kl(mu, lv).array()
    };
    let mu: Mat<f64, Dev> = dev.tensor_from_vec(mu0.clone(), (rows, cols));
    let lv: Mat<f64, Dev> = dev.tensor_from_vec(lv0.clone(), (rows, cols));
    let e: Mat<f64, Dev> = dev.tensor_from_vec(eps.clone(), (rows, cols));
    let rt: Mat<f64, Dev> = dev.tensor_from_vec(r.clone(), (rows, cols));
    let mu_t = mu.leaky_trace();
    let lv_t = lv.leaky_trace();
    let z = loss::reparameterize(mu_t.retaped(), lv_t.retaped(), e);
    let total = (z * rt).sum::<Rank0, _>() + loss::vae_kl(mu_t, lv_t);
    let grads = total.backward();
    let mut analytic = grads.get(&mu).as_vec();
    analytic.extend(grads.get(&lv).as_vec());
    let p0: Vec<f64> = mu0.iter().chain(&lv0).copied().collect();
    let err = max_error(&f, &p0, &analytic);
    assert!(err < 1e-6, "VAE gradient error {err:e}");

    // KL value: −½ mean over rows of Σ (1 + γ − μ² − e^γ); zero at μ = 0, γ = 0.
    let want: f64 = -0.5 / rows as f64
        * (0..rows * cols)
            .map(|i| 1.0 + lv0[i] - mu0[i] * mu0[i] - lv0[i].exp())
            .sum::<f64>();
    let got = loss::vae_kl(
        dev.tensor_from_vec(mu0.clone(), (rows, cols)) as Mat<f64, Dev>,
        dev.tensor_from_vec(lv0.clone(), (rows, cols)),
    )
    .array();
    assert!((got - want).abs() < 1e-12);
    let zeros: Mat<f64, Dev> = dev.zeros_like(&(2, 3));
    assert_eq!(loss::vae_kl(zeros.clone(), zeros).array(), 0.0);
}

#[test]
fn vae_network_gradients_through_the_logvar_head() {
    let dev: Dev = Default::default();
    let mut rng = StdRng::seed_from_u64(8);
    let spec = NetSpec {
        layers: vec![
            LayerSpec::Dense {
                inputs: 5,
                outputs: 4,
                activation: Activation::Selu,
            },
            LayerSpec::Dense {
                inputs: 4,
                outputs: 2,
                activation: Activation::Identity,
            },
            LayerSpec::Dense {
                inputs: 2,
                outputs: 4,
                activation: Activation::Selu,
            },
            LayerSpec::Dense {
                inputs: 4,
                outputs: 5,
                activation: Activation::Identity,
            },
        ],
        codings_layer: 1,
        logvar_head: true,
        predict_from: None,
    };
    let mut net: Net<f64, Dev> = Net::init(&dev, spec, 9).unwrap();
    jitter_biases(&mut net, &mut rng);
    let x = batch(&mut rng, 4, 5, -1.0, 1.0);
    let eps = batch(&mut rng, 4, 2, -1.0, 1.0);
    let loss = |n: &Net<f64, Dev>, trace: bool| {
        // The same computation as training a VAE step.
        fn run<T: Tape<f64, Dev> + Merge<T>>(
            n: &Net<f64, Dev>,
            x: Mat<f64, Dev, T>,
            target: &Mat<f64, Dev>,
            eps: &Mat<f64, Dev>,
        ) -> Tensor<Rank0, f64, Dev, T> {
            let h = n.forward(x, 0..1, false).unwrap();
            let mean = n.forward(h.retaped::<T>(), 1..2, false).unwrap();
            let logvar = n.logvar(h).unwrap();
            let z = loss::reparameterize(mean.retaped::<T>(), logvar.retaped::<T>(), eps.clone());
            let out = n.forward(z, n.decoder(), false).unwrap();
            loss::reconstruction(Recon::Mse, out, target.clone()) + loss::vae_kl(mean, logvar) * 0.2
        }
        if trace {
            let l = run(n, x.leaky_trace(), &x, &eps);
            (l.array(), Some(l.backward()))
        } else {
            (run(n, x.clone(), &x, &eps).array(), None)
        }
    };
    let err = check_net(&net, &loss);
    assert!(err < 1e-6, "VAE network gradient error {err:e}");
}

/// A whole convolutional network built from an `--arch` string (conv with
/// stride, average pooling, a dense bottleneck, the inferred reshape,
/// upsampling and a transposed convolution, sigmoid output on BCE): every
/// weight and bias gradient through `Net` against finite differences.
#[test]
fn convolutional_network_gradients_through_the_net() {
    use super::conv_shape::MapShape;
    let dev: Dev = Default::default();
    let mut rng = StdRng::seed_from_u64(9);
    for (arch, input) in [
        ("c3k3s2,a2,d4|d12,u2,t2k3s2:sigmoid", MapShape::line(16, 2)),
        ("c2k3,p2,d3|d18,t1k2s2v:sigmoid", MapShape::new(6, 6, 1)),
    ] {
        let spec = crate::train::conv_arch::parse(arch, input, Activation::Sigmoid, None).unwrap();
        let mut net: Net<f64, Dev> = Net::init(&dev, spec, 9).unwrap();
        jitter_biases(&mut net, &mut rng);
        let x = batch(&mut rng, 3, input.len(), 0.0, 1.0);
        let err = check_reconstruction(&net, &x, Recon::BceWithLogits, true);
        assert!(err < 1e-6, "{arch}: gradient error {err:e}");
        // The parameters are the convolutions' and the dense layers'.
        let host = net.to_host();
        let back: Net<f64, Dev> = Net::from_host(&dev, &host).unwrap();
        assert_eq!(back.to_host(), host);
    }
}

/// The recurrent autoencoder of `--kind recurrent` (LSTM and GRU, a hidden
/// layer, sigmoid output on BCE): every parameter's gradient through `Net`
/// (`W_ih`, `W_hh`, both GRU biases, the time-distributed dense layer)
/// against finite differences.
#[test]
fn recurrent_network_gradients_through_the_net() {
    use super::recurrent::Cell;
    use crate::train::config::{Kind, TrainConfig};
    let dev: Dev = Default::default();
    let mut rng = StdRng::seed_from_u64(10);
    for cell in [Cell::Lstm, Cell::Gru] {
        let mut cfg =
            TrainConfig::new("x.csv".into(), Kind::Recurrent, "out".into()).with_window(4);
        cfg.codings = Some(2);
        cfg.hidden = Some(vec![3]);
        cfg.recurrent.cell = cell;
        let spec = crate::train::arch::recurrent_spec(&cfg, 8, Activation::Sigmoid).unwrap();
        let mut net: Net<f64, Dev> = Net::init(&dev, spec, 10).unwrap();
        jitter_biases(&mut net, &mut rng);
        for b in net.recurrent_biases.iter_mut().flatten() {
            let n = b.shape().0;
            *b = dev.tensor_from_vec(random(&mut rng, n, -0.3, 0.3), (n,));
        }
        let x = batch(&mut rng, 3, 8, 0.0, 1.0);
        let err = check_reconstruction(&net, &x, Recon::BceWithLogits, true);
        assert!(err < 1e-6, "{cell:?}: gradient error {err:e}");
    }
}
