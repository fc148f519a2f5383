//! Training a recurrent autoencoder end to end on the CPU: the loss falls,
//! the exported model reconstructs as the dfdx network does, checkpoints
//! keep the network bit-exactly (and the cell), version-2 checkpoints
//! without the trailing record still load, and a resumed run ends where an
//! uninterrupted one does.

use std::path::{Path, PathBuf};

use dfdx::prelude::*;

use super::checkpoint::{self, Checkpoint, Later, Objectives};
use super::config::{Kind, TrainConfig};
use super::run::{RunOptions, resume_config};
use super::train_and_export;
use crate::nn::Mat;
use crate::nn::net::{HostNet, LayerSpec, Net};
use crate::nn::recurrent::Cell;
use anyhow::Result;

/// A fresh directory under the system's temporary one.
fn test_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir()
        .join(format!("edgeae-rnn-tests-{}", std::process::id()))
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Two noisy sines of different periods, `rows` rows.
fn sine_csv(dir: &Path, rows: usize) -> PathBuf {
    let mut text = String::from("a,b\n");
    let mut state = 12345u32;
    let mut noise = || {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (f64::from(state >> 8) / f64::from(1u32 << 24) - 0.5) * 0.05
    };
    for t in 0..rows {
        let t = t as f64;
        text.push_str(&format!(
            "{:.5},{:.5}\n",
            (t * 0.5).sin() + noise(),
            0.5 * (t * 0.31).cos() + noise()
        ));
    }
    let path = dir.join("sine.csv");
    std::fs::write(&path, text).unwrap();
    path
}

fn config(data: PathBuf, out: PathBuf, cell: Cell, epochs: usize) -> TrainConfig {
    let mut cfg = TrainConfig::new(data, Kind::Recurrent, out).with_window(12);
    cfg.codings = Some(4);
    cfg.hidden = Some(vec![8]);
    cfg.epochs = Some(epochs);
    cfg.lr = 0.01;
    cfg.batch = 32;
    cfg.train_hop = 2;
    cfg.recurrent.cell = cell;
    cfg
}

#[test]
fn a_recurrent_autoencoder_learns_sines() {
    let dir = test_dir("learns");
    let data = sine_csv(&dir, 2000);
    let mut cfg = config(data, dir.join("run"), Cell::Lstm, 20);
    cfg.train_hop = 1;
    let done = train_and_export(cfg, None, RunOptions::QUIET).unwrap();
    let h = &done.trained.history;
    assert_eq!(h.len(), 20);
    let (first, last) = (h[0].val_loss, h[19].val_loss);
    let mean = done.data.baseline;
    assert!(
        last < 0.2 * first && last < 0.1 * mean,
        "validation loss {first} -> {last}, predicting the mean {mean}"
    );
    // The default architecture: LSTM(seq) → LSTM(vec) | repeat → LSTM(seq) → dense per step.
    let layers = &done.trained.net.spec.layers;
    assert_eq!(layers.len(), 5);
    assert!(
        matches!(layers[0], LayerSpec::Recurrent { spec } if spec.sequences && spec.hidden == 8)
    );
    assert!(
        matches!(layers[1], LayerSpec::Recurrent { spec } if !spec.sequences && spec.hidden == 4)
    );
    assert_eq!(
        layers[2],
        LayerSpec::Repeat {
            width: 4,
            steps: 12
        }
    );
    assert!(matches!(layers[4], LayerSpec::TimeDense { outputs: 2, .. }));
    // The baseline compares the exported model's error, through the
    // firmware engine, with PCA's on the same windows; it is the network's.
    let b = done.baseline.unwrap();
    assert!(
        (b.model_val_mse - last).abs() < 1e-4 * last.max(1.0),
        "{b:?}"
    );
    assert!(b.path.is_file());
    assert!(super::run::model_path(&dir.join("run")).is_file());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The exported model, run by the firmware engine, against the dfdx
/// network it came from, value by value: relative error (to the larger of
/// |value| and 0.1) at most 1e-5, over windows of 200 steps, for both cells.
#[test]
fn the_exported_model_reconstructs_as_the_network_does_over_200_steps() {
    let dir = test_dir("parity");
    let data = sine_csv(&dir, 1600);
    for cell in [Cell::Lstm, Cell::Gru] {
        let mut cfg = config(data.clone(), dir.join(format!("{cell:?}")), cell, 1);
        cfg.window = 200;
        cfg.hop = 100;
        cfg.train_hop = 25;
        let done = train_and_export(cfg, None, RunOptions::QUIET).unwrap();
        let model = firmware::Model::load(done.model.as_deref().unwrap()).unwrap();
        assert_eq!(model.kind(), model_format::ModelKind::Recurrent);
        let n = model.input_len();
        assert_eq!(n, 400);
        let windows: Vec<f32> = done.data.train.iter().take(5 * n).copied().collect();
        assert_eq!(windows.len(), 5 * n);
        let dev = Cpu::default();
        let net: Net<f32, Cpu> = Net::from_host(&dev, &done.trained.net).unwrap();
        let t = dev.tensor_from_vec(windows.clone(), (5, n));
        let want = net.forward(t, net.all(), false).unwrap().as_vec();
        let mut scratch = vec![0.0f32; firmware::Engine::scratch_len(&model)];
        let mut engine = firmware::Engine::new(&model, &mut scratch).unwrap();
        let mut worst = 0.0f32;
        for (w, want) in windows.chunks_exact(n).zip(want.chunks_exact(n)) {
            engine.input_mut().copy_from_slice(w);
            let (_, got) = engine.reconstruct();
            for (g, e) in got.iter().zip(want) {
                worst = worst.max((g - e).abs() / e.abs().max(0.1));
            }
        }
        eprintln!("{cell:?} over 200 steps: worst relative error {worst:e}");
        assert!(worst <= 1e-5, "{cell:?}: worst relative error {worst}");
        // And the same mean error as the network's on the host.
        let host = host_mean_squared_error(&done.trained.net, &windows).unwrap();
        let engine_mse = super::mean_squared_error(&model, &windows).unwrap();
        assert!(
            (host - engine_mse).abs() <= 1e-5 * host,
            "{host} vs {engine_mse}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn recurrent_checkpoints_round_trip_and_resume() {
    let dir = test_dir("checkpoint");
    let data = sine_csv(&dir, 400);
    let straight = train_and_export(
        config(data.clone(), dir.join("straight"), Cell::Gru, 3),
        None,
        RunOptions::QUIET,
    )
    .unwrap();
    // The checkpoint holds the network bit-exactly, and the cell.
    let ck = Checkpoint::load(&dir.join("straight")).unwrap();
    assert_eq!(ck.net, straight.trained.net);
    assert_eq!(ck.config, straight.trained.config);
    assert_eq!(ck.config.recurrent.cell, Cell::Gru);
    let net: Net<f32, Cpu> = Net::from_host(&Cpu::default(), &ck.net).unwrap();
    assert_eq!(net.to_host(), ck.net);

    // Two epochs, then one more on resume, end where three do.
    let out = dir.join("resumed");
    train_and_export(
        config(data, out.clone(), Cell::Gru, 2),
        None,
        RunOptions::QUIET,
    )
    .unwrap();
    let (cfg, ck) = resume_config(&out, None, Some(3)).unwrap();
    assert_eq!(cfg.recurrent.cell, Cell::Gru);
    let resumed = train_and_export(cfg, Some(ck), RunOptions::QUIET).unwrap();
    assert_eq!(resumed.trained.net, straight.trained.net);

    // A version-2 checkpoint written before the trailing record existed
    // loads, with the default settings.
    let path = checkpoint::path(&out);
    let bytes = std::fs::read(&path).unwrap();
    let later = postcard::to_allocvec(&Later {
        recurrent: resumed.trained.config.recurrent,
    })
    .unwrap();
    let objectives = postcard::to_allocvec(&Objectives::default()).unwrap();
    let body = bytes.len() - later.len() - objectives.len();
    std::fs::write(&path, &bytes[..body]).unwrap();
    let old = Checkpoint::load(&out).unwrap();
    assert_eq!(old.config.recurrent, Default::default());
    assert_eq!(old.net, resumed.trained.net);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn too_short_a_window_is_refused() {
    let dir = test_dir("refused");
    let data = sine_csv(&dir, 400);
    // Too short a window is one clear sentence, before any data is read.
    let mut cfg = config(data, dir.join("run"), Cell::Lstm, 1);
    cfg.window = 1;
    let err = train_and_export(cfg, None, RunOptions::QUIET).unwrap_err();
    assert_eq!(
        err.to_string(),
        "--kind recurrent reads each window as a sequence: give --window N (time steps, at least 2), e.g. --window 32"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Mean squared error per value of the reconstructions of the normalised
/// windows `x` by `net`, run on the host CPU (with the output activation).
fn host_mean_squared_error(net: &HostNet, x: &[f32]) -> Result<f64> {
    let dev = Cpu::default();
    let net: Net<f32, Cpu> = Net::from_host(&dev, net)?;
    let dim = net.spec.input_len().max(1);
    let mut total = 0.0f64;
    for chunk in x.chunks(512 * dim) {
        let rows = chunk.len() / dim;
        let t: Mat<f32, Cpu> = dev.tensor_from_vec(chunk.to_vec(), (rows, dim));
        let y = net.forward(t, net.all(), false)?.as_vec();
        total += chunk
            .iter()
            .zip(&y)
            .map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2))
            .sum::<f64>();
    }
    Ok(total / x.len().max(1) as f64)
}
