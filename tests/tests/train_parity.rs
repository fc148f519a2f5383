//! Every dense kind, and the convolutional networks (conv1d over sensor
//! windows, conv2d over images, plain and with the denoising, sparse and
//! variational objectives), trained by `edgeae train`'s library, exported
//! to model.eam and run by the firmware engine, reproduces the dfdx forward
//! pass of the trained network on held-out inputs (relative error under
//! 1e-5), for reconstructions and codings, on z-scored sensor windows (MSE)
//! and on [0, 1] images (sigmoid output, binary cross-entropy).

use dfdx::prelude::*;
use e2e::{bar_images, relative_error, sensor_series, temp_dir, write_csv};
use firmware::{Engine, Model};
use host_trainer::Net;
use host_trainer::{Kind, TrainConfig};
use host_trainer::{RunOptions, train_and_export};

const KINDS: [Kind; 7] = [
    Kind::Linear,
    Kind::Stacked,
    Kind::Tied,
    Kind::Greedy,
    Kind::Denoising,
    Kind::Sparse,
    Kind::Vae,
];

fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|x| f64::from(*x)).collect()
}

fn check_kind(kind: Kind, cfg: TrainConfig) {
    let done = train_and_export(cfg, None, RunOptions::QUIET).unwrap();
    let model = Model::load(done.model.as_deref().unwrap()).unwrap();
    assert_eq!(model.kind(), kind.model_kind());
    let dev: Cpu = Default::default();
    let net: Net<f32, Cpu> = Net::from_host(&dev, &done.trained.net).unwrap();
    let dim = done.data.input_len;
    let held_out = &done.data.val;
    let rows = held_out.len() / dim;
    assert!(rows >= 5, "{kind}: too few held-out windows ({rows})");
    let x: Tensor<(usize, usize), f32, Cpu> = dev.tensor_from_vec(held_out.clone(), (rows, dim));
    let recon_dfdx = net.forward(x.clone(), net.all(), false).unwrap().as_vec();
    let codings_dfdx = net.forward(x, net.encoder(), false).unwrap().as_vec();
    let c = model.codings_len();
    assert_eq!(codings_dfdx.len(), rows * c);

    let mut scratch = vec![0.0f32; Engine::scratch_len(&model)];
    let mut engine = Engine::new(&model, &mut scratch).unwrap();
    let mut worst = (0.0f64, 0.0f64);
    for (i, w) in held_out.chunks_exact(dim).enumerate() {
        engine.input_mut().copy_from_slice(w);
        let r = relative_error(
            engine.reconstruct().1,
            &to_f64(&recon_dfdx[i * dim..(i + 1) * dim]),
        );
        let e = relative_error(engine.encode(), &to_f64(&codings_dfdx[i * c..(i + 1) * c]));
        worst = (worst.0.max(r), worst.1.max(e));
    }
    eprintln!(
        "{kind}: worst relative error: reconstruction {:.2e}, codings {:.2e}",
        worst.0, worst.1
    );
    assert!(
        worst.0 < 1e-5,
        "{kind}: reconstruction relative error {:e}",
        worst.0
    );
    assert!(
        worst.1 < 1e-5,
        "{kind}: codings relative error {:e}",
        worst.1
    );
    // The model learned something: better than predicting the mean window.
    let last = done.trained.history.last().unwrap();
    assert!(
        last.val_recon < done.data.baseline,
        "{kind}: validation reconstruction {} is not below the mean baseline {}",
        last.val_recon,
        done.data.baseline
    );
}

#[test]
fn every_kind_on_sensor_windows_matches_dfdx() {
    let dir = temp_dir("parity-sensor");
    let csv = dir.join("normal.csv");
    write_csv(&csv, &["x", "y", "z"], &sensor_series(900, 1, 0.05));
    for kind in KINDS {
        let mut cfg =
            TrainConfig::new(csv.clone(), kind, dir.join(format!("{kind}"))).with_window(8);
        cfg.codings = Some(4);
        cfg.hidden = Some(vec![12]);
        cfg.epochs = Some(10);
        cfg.batch = 16;
        cfg.fine_tune_epochs = Some(3);
        cfg.val_split = 0.15;
        cfg.lr = 3e-3;
        check_kind(kind, cfg);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_kind_on_unit_range_images_matches_dfdx() {
    let dir = temp_dir("parity-images");
    let csv = dir.join("bars.csv");
    let header: Vec<String> = (0..36).map(|i| format!("px{i}")).collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    write_csv(&csv, &header, &bar_images(400, 2));
    for kind in KINDS {
        let mut cfg = TrainConfig::new(csv.clone(), kind, dir.join(format!("{kind}")));
        cfg.codings = Some(6);
        cfg.hidden = Some(vec![16]);
        cfg.epochs = Some(10);
        cfg.batch = 16;
        cfg.fine_tune_epochs = Some(3);
        cfg.lr = 3e-3;
        check_kind(kind, cfg);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn conv1d_networks_on_sensor_windows_match_dfdx() {
    let dir = temp_dir("parity-conv1d");
    let csv = dir.join("normal.csv");
    write_csv(&csv, &["x", "y", "z"], &sensor_series(900, 3, 0.05));
    // The default architecture (strides 2, dense bottleneck, transposed
    // convolutions), and one with pooling and upsampling, under each
    // objective that takes convolutional layers.
    let archs = ["auto", "c6k3,a2,c8k3s2v,d4|d24,u2,t3k6s2v:identity"];
    for (kind, arch) in [
        (Kind::Conv, archs[0]),
        (Kind::Conv, archs[1]),
        (Kind::Denoising, archs[0]),
        (Kind::Sparse, archs[1]),
        (Kind::Vae, archs[0]),
    ] {
        let mut cfg = TrainConfig::new(
            csv.clone(),
            kind,
            dir.join(format!("{kind}-{}", arch.len())),
        )
        .with_window(16);
        cfg.arch = Some(arch.into());
        cfg.codings = Some(4);
        cfg.epochs = Some(6);
        cfg.batch = 16;
        cfg.val_split = 0.15;
        cfg.lr = 3e-3;
        check_kind(kind, cfg);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn conv2d_networks_on_unit_range_images_match_dfdx() {
    let dir = temp_dir("parity-conv2d");
    let csv = dir.join("bars.csv");
    let header: Vec<String> = (0..36).map(|i| format!("px{i}")).collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    write_csv(&csv, &header, &bar_images(400, 2));
    for arch in [
        "c4k3,p2,c8k3|t4k2s2v,c1k3:sigmoid",
        "c4k3,p2,d6|d36,t1k3s2:sigmoid",
    ] {
        let mut cfg =
            TrainConfig::new(csv.clone(), Kind::Conv, dir.join(format!("{}", arch.len())));
        cfg.image = Some([6, 6, 1]);
        cfg.arch = Some(arch.into());
        cfg.epochs = Some(10);
        cfg.batch = 16;
        cfg.lr = 3e-3;
        check_kind(Kind::Conv, cfg);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
