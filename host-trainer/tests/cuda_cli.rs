//! `edgeae train --device cuda` on a machine without a usable GPU: one
//! sentence and exit status 1, never a panic.
//!
//! Built without the `cuda` feature (`cargo test`), the binary names the
//! feature. Built with it (scripts/test's CUDA step, under the environment
//! `scripts/cuda-env` prints), the tests run the binary against the
//! libcuda.so stand-in that scripts/cuda-env builds, whose every call fails
//! as a driver without a GPU would: the device is refused naming the
//! driver's error, layers with CPU kernels only are refused naming the
//! layer before any device is asked for, and `--device cpu` still trains.

mod common;
use common::*;

use std::path::{Path, PathBuf};

/// The binary; the feature build against the libcuda stand-in (first on
/// the library path, so a real driver on this machine is not reached).
fn run(args: &[&str]) -> std::process::Output {
    if !cfg!(feature = "cuda") {
        return edgeae(args);
    }
    let stubs = std::env::var("EDGEAE_CUDA_STUBS").expect(
        "the cuda tests need scripts/cuda-env's environment: EDGEAE_CUDA_STUBS names the libcuda.so stand-in",
    );
    let path = match std::env::var("LD_LIBRARY_PATH") {
        Ok(p) if !p.is_empty() => format!("{stubs}:{p}"),
        _ => stubs,
    };
    std::process::Command::new(env!("CARGO_BIN_EXE_edgeae"))
        .args(args)
        .env("LD_LIBRARY_PATH", path)
        .output()
        .unwrap()
}

/// `edgeae synth`'s sensor series in a fresh folder; the training CSV.
fn series(name: &str) -> (PathBuf, PathBuf) {
    let d = dir(name);
    ok(&run(&[
        "synth",
        "--out",
        s(&d.join("data")),
        "--train-rows",
        "2000",
    ]));
    let train = d.join("data/train.csv");
    (d, train)
}

/// `edgeae train --data DATA --out OUT --quiet` with `extra`.
fn train_args<'a>(data: &'a Path, out: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["train", "--data", s(data), "--out", s(out), "--quiet"];
    args.extend_from_slice(extra);
    args
}

/// `--device cuda` on a stacked autoencoder of fresh data: one sentence
/// holding every needle, no model; the folder and the data.
fn stacked_on_cuda_fails(name: &str, needles: &[&str]) -> (PathBuf, PathBuf) {
    let (d, train) = series(name);
    let out = d.join("run");
    let args = train_args(&train, &out, &["--kind", "stacked", "--device", "cuda"]);
    fails_cleanly(&run(&args), needles);
    assert!(!out.join("model.eam").exists());
    (d, train)
}

#[cfg(not(feature = "cuda"))]
#[test]
fn device_cuda_without_the_feature_names_the_feature() {
    let (d, _) = stacked_on_cuda_fails("no-feature", &["--device cuda", "--features cuda"]);
    std::fs::remove_dir_all(&d).unwrap();
}

#[cfg(feature = "cuda")]
#[test]
fn device_cuda_without_a_driver_is_one_sentence() {
    let (d, train) = stacked_on_cuda_fails(
        "no-driver",
        &[
            "no usable CUDA device (CUDA_ERROR_STUB_LIBRARY)",
            "--device cpu",
        ],
    );
    // The same build trains on the CPU.
    let cpu = d.join("cpu");
    ok(&run(&train_args(
        &train,
        &cpu,
        &["--kind", "stacked", "--epochs", "2", "--device", "cpu"],
    )));
    assert!(cpu.join("model.eam").exists());
    std::fs::remove_dir_all(&d).unwrap();
}

#[cfg(feature = "cuda")]
#[test]
fn layers_with_cpu_kernels_only_are_refused_before_the_device() {
    let (d, train) = series("cpu-only");
    for (extra, layer) in [
        (&["--kind", "conv", "--window", "32"][..], "convolution"),
        (&["--kind", "recurrent", "--window", "16"][..], "LSTM"),
        (
            &["--kind", "recurrent", "--window", "16", "--cell", "gru"][..],
            "GRU",
        ),
    ] {
        let out = d.join(layer);
        let mut args = train_args(&train, &out, extra);
        args.extend(["--device", "cuda"]);
        fails_cleanly(
            &run(&args),
            &[
                &format!("the {layer} layer has no CUDA kernels yet"),
                "--device cpu",
            ],
        );
    }
    std::fs::remove_dir_all(&d).unwrap();
}
