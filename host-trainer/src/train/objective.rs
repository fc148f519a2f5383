//! The objectives of a recurrent autoencoder (`--objective`), after Géron
//! (*Hands-On Machine Learning*, ch. 15 and 17):
//!
//! - `reconstruct`: the decoder reconstructs the window (every other kind
//!   does this too; nothing here is involved);
//! - `predict`: the decoder outputs the `--horizon` frames that follow the
//!   window;
//! - `composite`: two decoders read the same codings, one reconstructing
//!   the window and one predicting the frames after it; the loss is the
//!   sum of their mean squared errors.
//!
//! The network keeps one layer list: the predicting decoder comes last,
//! from [`NetSpec::predict_from`] on, and reads the codings layer's output
//! ([`NetSpec::predict_path`]). The model file holds one sequential
//! network that reconstructs its input, so a composite network exports its
//! encoder and reconstructing decoder ([`exportable`]) and a predicting one
//! is not exported.
//!
//! A predictor is judged against *persistence*: repeating the window's
//! last frame for each of the next `horizon` frames ([`persistence_mse`]).

use anyhow::{Result, bail};
use dfdx::prelude::*;

use super::config::Objective;
use super::prepare::Prepared;
use super::run::Trained;
use crate::nn::loss::{self, Recon, Scalar};
use crate::nn::net::{HostNet, Net, NetSpec};
use crate::nn::{Backend, Mat};

/// The loss of a network with a predicting decoder on one batch: the mean
/// squared error of the predicted frames against `next`, plus the
/// reconstruction loss of the window against `target` when the network
/// also reconstructs. Also returns the first term's value: the
/// reconstruction's, or the prediction's when the network only predicts.
pub fn loss<D: Backend<f32>, T: Tape<f32, D> + Merge<T>>(
    net: &Net<f32, D>,
    recon: Recon,
    x: Mat<f32, D, T>,
    target: Mat<f32, D>,
    next: Mat<f32, D>,
) -> Result<(Scalar<f32, D, T>, f32)> {
    let spec = &net.spec;
    let Some(from) = spec.predict_from else {
        bail!("internal error: the network has no predicting decoder");
    };
    let codings = net.forward(x, net.encoder(), false)?;
    let predicted = net.forward(codings.retaped::<T>(), from..spec.layers.len(), false)?;
    let p = loss::reconstruction(Recon::Mse, predicted, next);
    if !spec.reconstructs() {
        let pv = crate::nn::scalar(&p);
        return Ok((p, pv));
    }
    let logits = recon == Recon::BceWithLogits;
    let out = net.forward(codings, net.decoder(), logits)?;
    let r = loss::reconstruction(recon, out, target);
    let rv = crate::nn::scalar(&r);
    Ok((r + p, rv))
}

/// The rows `idx` of `values` (rows of `values.len() / rows` values),
/// one after the other: a batch's targets.
pub fn gather_rows(values: &[f32], rows: usize, idx: &[usize]) -> Vec<f32> {
    let dim = values.len() / rows.max(1);
    idx.iter()
        .flat_map(|&i| values[i * dim..(i + 1) * dim].iter().copied())
        .collect()
}

/// The mean squared error per value of persistence: each window of
/// `windows` (rows of `input_len` values, time-major over `channels`)
/// predicts its last frame for each of the frames in its row of `next`.
/// NaN without windows.
pub fn persistence_mse(windows: &[f32], next: &[f32], input_len: usize, channels: usize) -> f64 {
    let n = windows.len() / input_len.max(1);
    if n == 0 || channels == 0 || input_len < channels {
        return f64::NAN;
    }
    let dim = next.len() / n;
    let mut total = 0.0f64;
    for (w, future) in windows.chunks_exact(input_len).zip(next.chunks_exact(dim)) {
        let last = &w[input_len - channels..];
        for frame in future.chunks_exact(channels) {
            total += frame
                .iter()
                .zip(last)
                .map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2))
                .sum::<f64>();
        }
    }
    total / next.len().max(1) as f64
}

/// How well a trained predictor does on the held-out windows.
#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    /// The objective trained.
    pub objective: Objective,
    /// Frames predicted after each window.
    pub horizon: usize,
    /// Held-out windows measured.
    pub windows: usize,
    /// The model's mean squared error per predicted value (normalised units).
    pub model_mse: f64,
    /// Persistence's, on the same frames.
    pub persistence_mse: f64,
    /// Composite: the reconstructing decoder's mean squared error per
    /// value of the held-out windows.
    pub recon_mse: Option<f64>,
}

/// Runs the layers `path` of `net` over the rows of `x` (`dim` values each)
/// on the CPU, without a tape.
pub(crate) fn host_forward(
    net: &Net<f32, Cpu>,
    path: &[usize],
    x: &[f32],
    dim: usize,
) -> Result<Vec<f32>> {
    let dev = Cpu::default();
    let mut out = Vec::new();
    for chunk in x.chunks(512 * dim.max(1)) {
        let rows = chunk.len() / dim.max(1);
        let t: Mat<f32, Cpu> = dev.tensor_from_vec(chunk.to_vec(), (rows, dim));
        out.extend(net.forward(t, path.iter().copied(), false)?.as_vec());
    }
    Ok(out)
}

/// Mean squared error per value between `a` and `b`.
fn mse(a: &[f32], b: &[f32]) -> f64 {
    let total: f64 = a
        .iter()
        .zip(b)
        .map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2))
        .sum();
    total / a.len().max(1) as f64
}

/// The prediction error of `net` on the validation windows of `data`
/// against persistence's (and a composite network's reconstruction
/// error); `None` for a network that does not predict or without
/// validation windows.
pub fn forecast(net: &HostNet, data: &Prepared, objective: Objective) -> Result<Option<Forecast>> {
    if net.spec.predict_from.is_none() || data.n_val() == 0 || data.horizon == 0 {
        return Ok(None);
    }
    let host = Net::<f32, Cpu>::from_host(&Cpu::default(), net)?;
    let predicted = host_forward(&host, &net.spec.predict_path(), &data.val, data.input_len)?;
    let channels = data.normalizer.mean.len();
    let recon_mse = if net.spec.reconstructs() {
        let path: Vec<usize> = (0..net.spec.reconstruction_end()).collect();
        let out = host_forward(&host, &path, &data.val, data.input_len)?;
        Some(mse(&out, &data.val))
    } else {
        None
    };
    Ok(Some(Forecast {
        objective,
        horizon: data.horizon,
        windows: data.n_val(),
        model_mse: mse(&predicted, &data.val_next),
        persistence_mse: persistence_mse(&data.val, &data.val_next, data.input_len, channels),
        recon_mse,
    }))
}

/// The sentence that refuses to export a network that only predicts.
pub fn predict_not_exported(horizon: usize) -> String {
    format!(
        "a --objective predict model outputs the next {horizon} steps, which the model file cannot score yet; train --objective composite to export its reconstruction decoder"
    )
}

/// The network without its predicting decoder: the encoder and the
/// reconstructing decoder, which the model file holds.
pub fn reconstruction_part(net: &HostNet) -> HostNet {
    let end = net.spec.reconstruction_end();
    let mut out = net.clone();
    out.spec = NetSpec {
        layers: net.spec.layers[..end].to_vec(),
        predict_from: None,
        ..net.spec.clone()
    };
    out.weights.truncate(end);
    out.biases.truncate(end);
    out
}

/// What of `trained` goes into a model file: all of it for a network that
/// only reconstructs, the reconstructing part of a composite one; a network
/// that only predicts is refused with one sentence.
pub fn exportable(trained: &Trained) -> Result<Trained> {
    let spec = &trained.net.spec;
    if spec.predict_from.is_none() {
        return Ok(trained.clone());
    }
    if !spec.reconstructs() {
        bail!(predict_not_exported(trained.config.recurrent.horizon));
    }
    Ok(Trained {
        net: reconstruction_part(&trained.net),
        ..trained.clone()
    })
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::nn::recurrent::Cell;
    use crate::train::arch::recurrent_spec;
    use crate::train::checkpoint::{self, Checkpoint, Objectives};
    use crate::train::config::{Kind, Noise, TrainConfig};
    use crate::train::run::{RunOptions, resume_config};
    use crate::train::train_and_export;
    use model_format::Activation;

    /// A fresh directory under the system's temporary one.
    fn test_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir()
            .join(format!("edgeae-objective-tests-{}", std::process::id()))
            .join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Two channels, a sine and its quarter-period shift, whose phase
    /// drifts (so no window repeats another), `rows` rows: persistence
    /// lags a quarter of a period behind after 4 steps of a 16-step period.
    fn drifting_sines(dir: &Path, rows: usize) -> PathBuf {
        let mut text = String::from("a,b\n");
        let mut phase = 0.0f64;
        for t in 0..rows {
            phase += std::f64::consts::TAU / 16.0 * (1.0 + 0.3 * (t as f64 * 0.013).sin());
            text.push_str(&format!("{:.5},{:.5}\n", phase.sin(), 0.7 * phase.cos()));
        }
        let path = dir.join("sines.csv");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn config(data: PathBuf, out: PathBuf, objective: Objective, horizon: usize) -> TrainConfig {
        let mut cfg = TrainConfig::new(data, Kind::Recurrent, out).with_window(16);
        cfg.codings = Some(6);
        cfg.hidden = Some(vec![12]);
        cfg.lr = 0.01;
        cfg.batch = 32;
        cfg.train_hop = 2;
        cfg.max_steps = 300;
        cfg.recurrent.cell = Cell::Gru;
        cfg.recurrent.objective = objective;
        cfg.recurrent.horizon = horizon;
        cfg
    }

    fn cli(args: &[&str]) -> anyhow::Result<crate::cmd::Printed> {
        use clap::Parser;
        let cli =
            crate::cli::Cli::try_parse_from(std::iter::once("edgeae").chain(args.iter().copied()))?;
        crate::run(cli)
    }

    #[test]
    fn bad_objective_arguments_are_one_clear_sentence() {
        let dir = test_dir("cli-errors");
        let data = drifting_sines(&dir, 400).display().to_string();
        let short = drifting_sines(&test_dir("cli-short"), 35)
            .display()
            .to_string();
        let out = dir.join("run").display().to_string();
        let err = |extra: &[&str], data: &str| -> String {
            let mut args = vec!["train", "--data", data, "--out", &out, "--quiet"];
            args.extend_from_slice(extra);
            format!("{:#}", cli(&args).unwrap_err())
        };
        let rnn = ["--kind", "recurrent", "--window", "32"];
        let with = |more: &[&'static str]| -> Vec<&'static str> {
            rnn.iter().chain(more).copied().collect()
        };
        assert_eq!(
            err(&with(&["--objective", "predict", "--horizon", "40"]), &data),
            "--horizon 40 is longer than the window (32 steps): predict at most --window frames, or give a longer --window"
        );
        assert_eq!(
            err(
                &with(&["--objective", "composite", "--horizon", "0"]),
                &data
            ),
            "--horizon must be at least 1: the number of frames after each window to predict"
        );
        assert_eq!(
            err(&["--kind", "stacked", "--objective", "predict"], &data),
            "--objective predict needs --kind recurrent (the only kind with a predicting decoder), not --kind stacked"
        );
        assert_eq!(
            err(&with(&["--horizon", "4"]), &data),
            "--horizon 4 goes with --objective predict or composite (the frames to predict after each window)"
        );
        assert_eq!(
            err(&with(&["--objective", "predict", "--horizon", "8"]), &short),
            format!(
                "`{short}` has 35 rows: --objective predict needs at least --window + --horizon = 40 rows (a window and the frames after it)"
            )
        );
        assert!(!dir.join("run").join("checkpoint.bin").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_predict_run_reports_persistence_and_export_refuses_it() {
        let dir = test_dir("cli-predict");
        let data = drifting_sines(&dir, 600).display().to_string();
        let out = dir.join("run").display().to_string();
        let printed = cli(&[
            "train",
            "--data",
            &data,
            "--kind",
            "recurrent",
            "--window",
            "16",
            "--codings",
            "4",
            "--hidden",
            "8",
            "--objective",
            "predict",
            "--horizon",
            "3",
            "--epochs",
            "1",
            "--noise",
            "gaussian:0.1",
            "--out",
            &out,
            "--quiet",
        ])
        .unwrap();
        assert!(
            printed.text.contains("prediction   MSE "),
            "{}",
            printed.text
        );
        assert!(printed.text.contains("vs persistence "), "{}", printed.text);
        assert!(printed.text.contains("3 frames ahead"), "{}", printed.text);
        assert!(
            printed.text.contains("model        none written"),
            "{}",
            printed.text
        );
        let refusal = predict_not_exported(3);
        assert!(printed.notes.contains(&refusal), "{:?}", printed.notes);
        let err = cli(&[
            "export",
            &out,
            "--quant",
            "f32",
            "--out",
            &dir.join("m.eam").display().to_string(),
        ])
        .unwrap_err();
        assert_eq!(format!("{err:#}"), refusal);
        // Resuming keeps the objective; another is refused.
        let err = cli(&[
            "train",
            "--out",
            &out,
            "--resume",
            "--objective",
            "composite",
        ])
        .unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "--resume continues a run with --objective predict, not --objective composite"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn persistence_repeats_the_last_frame() {
        // Two windows of 2 steps × 2 channels; 2 frames after each.
        let windows = [1.0, 2.0, 3.0, 4.0, 0.0, 0.0, 1.0, 1.0];
        let next = [3.0, 5.0, 4.0, 4.0, 1.0, 1.0, 2.0, 3.0];
        // First: (0² + 1²) + (1² + 0²) = 2; second: 0 + (1² + 2²) = 5.
        assert_eq!(persistence_mse(&windows, &next, 4, 2), 7.0 / 8.0);
        assert!(persistence_mse(&[], &[], 4, 2).is_nan());
        assert_eq!(
            gather_rows(&next, 2, &[1, 0]),
            [1.0, 1.0, 2.0, 3.0, 3.0, 5.0, 4.0, 4.0]
        );
    }

    #[test]
    fn each_objective_has_its_decoders() {
        let spec = |objective, horizon| {
            let cfg = config("x.csv".into(), "o".into(), objective, horizon);
            recurrent_spec(&cfg, 16 * 3, Activation::Identity).unwrap()
        };
        let recon = spec(Objective::Reconstruct, 0);
        assert_eq!(recon.predict_from, None);
        assert!(recon.reconstructs() && recon.predict_path().is_empty());
        // Predict: encoder (2 layers), repeat(4), GRU, dense per step.
        let predict = spec(Objective::Predict, 4);
        assert_eq!(predict.layers.len(), 5);
        assert_eq!(predict.predict_from, Some(2));
        assert!(!predict.reconstructs());
        assert_eq!(predict.predict_path(), [0, 1, 2, 3, 4]);
        assert_eq!(predict.widths(4), Some((4 * 12, 4 * 3)));
        // Composite: the reconstructing network, then the predicting decoder.
        let composite = spec(Objective::Composite, 4);
        assert_eq!(composite.predict_from, Some(recon.layers.len()));
        assert_eq!(composite.layers[..recon.layers.len()], recon.layers[..]);
        assert_eq!(composite.predict_path(), [0, 1, 5, 6, 7]);
        let host = Net::<f32, Cpu>::init(&Cpu::default(), composite, 1)
            .unwrap()
            .to_host();
        let part = reconstruction_part(&host);
        assert_eq!(part.spec, recon);
        part.spec.check().unwrap();
        assert_eq!(part.weights.len(), recon.layers.len());
        // A predicting decoder that does not chain from the codings is refused.
        let mut bad = spec(Objective::Predict, 4);
        bad.predict_from = Some(1);
        assert!(bad.check().is_err());
    }

    #[test]
    fn the_composite_gradient_is_the_sum_of_its_two_terms() {
        // Both terms of the composite loss reach the shared encoder: its
        // gradient is the reconstruction loss's plus the prediction loss's,
        // each computed alone.
        let cfg = config("x.csv".into(), "o".into(), Objective::Composite, 3);
        let spec = recurrent_spec(&cfg, 16 * 2, Activation::Identity).unwrap();
        let dev = Cpu::default();
        let net = Net::<f32, Cpu>::init(&dev, spec, 7).unwrap();
        let values =
            |n: usize, k: f32| -> Vec<f32> { (0..n).map(|i| ((i as f32) * k).sin()).collect() };
        let x: Mat<f32, Cpu> = dev.tensor_from_vec(values(3 * 32, 0.37), (3, 32));
        let next: Mat<f32, Cpu> = dev.tensor_from_vec(values(3 * 6, 0.71), (3, 6));
        let w0 = net.weights[0].clone().unwrap();
        let grad = |l: Scalar<f32, Cpu, OwnedTape<f32, Cpu>>| l.backward().get(&w0).as_vec();
        let (total, recon_part) =
            loss(&net, Recon::Mse, x.leaky_trace(), x.clone(), next.clone()).unwrap();
        let both = grad(total);
        let out = net
            .forward(x.leaky_trace(), 0..net.spec.reconstruction_end(), false)
            .unwrap();
        let r = loss::reconstruction(Recon::Mse, out, x.clone());
        assert_eq!(crate::nn::scalar(&r), recon_part);
        let g_recon = grad(r);
        let path = net.spec.predict_path();
        let out = net.forward(x.leaky_trace(), path, false).unwrap();
        let g_predict = grad(loss::reconstruction(Recon::Mse, out, next));
        for ((b, r), p) in both.iter().zip(&g_recon).zip(&g_predict) {
            assert!(
                (b - (r + p)).abs() <= 1e-5 + 1e-3 * b.abs(),
                "{b} vs {r} + {p}"
            );
        }
        assert!(g_predict.iter().any(|g| g.abs() > 1e-6));
        assert!(g_recon.iter().any(|g| g.abs() > 1e-6));
    }

    /// Trains `objective` a few hundred steps on drifting sines and
    /// returns the run.
    fn train(name: &str, objective: Objective, noise: bool) -> (crate::train::Done, PathBuf) {
        let dir = test_dir(name);
        let data = drifting_sines(&dir, 1600);
        let mut cfg = config(data, dir.join("run"), objective, 4);
        if noise {
            cfg.noise = Noise::Gaussian(0.1);
            cfg.recurrent.denoise = true;
        }
        (train_and_export(cfg, None, RunOptions::QUIET).unwrap(), dir)
    }

    #[test]
    fn a_predictor_beats_persistence_and_is_not_exported() {
        let (done, dir) = train("predict", Objective::Predict, false);
        let f = done.forecast.clone().unwrap();
        assert_eq!(
            (f.objective, f.horizon, f.recon_mse),
            (Objective::Predict, 4, None)
        );
        assert!(f.windows > 10, "{f:?}");
        assert!(
            f.model_mse < 0.5 * f.persistence_mse,
            "prediction MSE {} vs persistence {}",
            f.model_mse,
            f.persistence_mse
        );
        // Trained and checkpointed, not exported.
        assert!(done.model.is_none());
        assert_eq!(
            done.not_exported.as_deref(),
            Some(predict_not_exported(4).as_str())
        );
        let out = &done.trained.config.out;
        assert!(!crate::train::run::model_path(out).exists());
        let ck = Checkpoint::load(out).unwrap();
        assert_eq!(ck.config.recurrent.objective, Objective::Predict);
        assert_eq!(ck.config.recurrent.horizon, 4);
        assert_eq!(ck.net, done.trained.net);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_denoising_composite_beats_persistence_and_exports_its_reconstruction() {
        let (done, dir) = train("composite", Objective::Composite, true);
        let f = done.forecast.clone().unwrap();
        assert!(
            f.model_mse < 0.5 * f.persistence_mse,
            "prediction MSE {} vs persistence {}",
            f.model_mse,
            f.persistence_mse
        );
        // The exported model is the reconstructing part, and reconstructs
        // as the trained network's does.
        let recon = f.recon_mse.unwrap();
        assert!(recon < 0.5, "reconstruction MSE {recon}");
        let bytes = done.model.clone().unwrap();
        let model = firmware::Model::load(&bytes).unwrap();
        let part = reconstruction_part(&done.trained.net);
        assert_eq!(model.layers().len(), part.spec.layers.len());
        let engine = crate::train::mean_squared_error(&model, &done.data.val).unwrap();
        assert!(
            (engine - recon).abs() < 1e-4 * recon.max(1.0),
            "{engine} vs {recon}"
        );

        // The checkpoint keeps the objective, the horizon and the two
        // decoders; the run resumes with them.
        let out = done.trained.config.out.clone();
        let (cfg, ck) = resume_config(&out, None, None).unwrap();
        assert_eq!(cfg.recurrent.objective, Objective::Composite);
        assert_eq!(cfg.recurrent.horizon, 4);
        assert!(cfg.recurrent.denoise);
        assert_eq!(ck.net.spec, done.trained.net.spec);
        let (mut cfg, ck) = (cfg, ck);
        cfg.max_steps += 20;
        let resumed = train_and_export(cfg, Some(ck), RunOptions::QUIET).unwrap();
        assert!(resumed.forecast.is_some());

        // A checkpoint written before the objective existed loads as
        // `reconstruct`.
        let path = checkpoint::path(&out);
        let bytes = std::fs::read(&path).unwrap();
        let record = postcard::to_allocvec(&Objectives {
            objective: Objective::Composite,
            horizon: 4,
            predict_from: resumed.trained.net.spec.predict_from,
        })
        .unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - record.len()]).unwrap();
        let old = Checkpoint::load(&out).unwrap();
        assert_eq!(old.config.recurrent.objective, Objective::Reconstruct);
        assert_eq!(old.config.recurrent.horizon, 0);
        assert_eq!(old.config.recurrent.cell, Cell::Gru);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
