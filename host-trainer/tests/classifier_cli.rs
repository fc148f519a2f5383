//! `edgeae train --kind classifier` as a user runs it: a head on a
//! pretrained encoder separates three Gaussian blobs, from scratch too;
//! `--freeze` leaves the encoder's weights bit-identical and `--fine-tune`
//! changes them; the encoder of every dense kind works; the run's model
//! file (`inspect`, `classify`) gives the trainer's test accuracy; bad
//! input gets one sentence and exit status 1.

mod common;
use common::*;

use std::path::{Path, PathBuf};

use host_trainer::{Checkpoint, SavedClassifier};

/// Three well-separated Gaussian blobs in 4-D (standard deviation 1,
/// centres at least 4 apart): `rows` rows of `a,b,c,d`, with a `state`
/// column holding the blob (0 to 2) when `labelled`.
fn blobs(path: &Path, rows: usize, seed: u64, labelled: bool) {
    const CENTRES: [[f64; 4]; 3] = [
        [0.0, 0.0, 0.0, 0.0],
        [4.0, 4.0, 0.0, 0.0],
        [0.0, 4.0, 4.0, -4.0],
    ];
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005) | 1;
    let mut uniform = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let mut text = String::from(if labelled {
        "a,b,c,d,state\n"
    } else {
        "a,b,c,d\n"
    });
    for _ in 0..rows {
        let class = ((uniform() * 3.0) as usize).min(2);
        let cells: Vec<String> = CENTRES[class]
            .iter()
            .map(|m| {
                // Box-Muller.
                let g = (-2.0 * uniform().ln()).sqrt() * (std::f64::consts::TAU * uniform()).cos();
                format!("{:.4}", m + g)
            })
            .collect();
        text.push_str(&cells.join(","));
        if labelled {
            text.push_str(&format!(",{class}"));
        }
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

/// An autoencoder trained on unlabelled blobs, and labelled training and
/// test blobs, in `d`.
fn setup(d: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let (unl, lab, test) = (d.join("unl.csv"), d.join("lab.csv"), d.join("test.csv"));
    blobs(&unl, 1500, 1, false);
    blobs(&lab, 200, 2, true);
    blobs(&test, 300, 3, true);
    let ae = d.join("ae");
    ok(&edgeae(&[
        "train",
        "--data",
        s(&unl),
        "--kind",
        "stacked",
        "--hidden",
        "8",
        "--codings",
        "3",
        "--epochs",
        "5",
        "--out",
        s(&ae),
        "-q",
    ]));
    (ae, lab, test)
}

/// Trains a classifier; its report as JSON.
fn classify(lab: &Path, test: &Path, out: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "train",
        "--kind",
        "classifier",
        "--data",
        s(lab),
        "--labels",
        "state",
        "--test-data",
        s(test),
        "--epochs",
        "30",
        "--out",
        s(out),
        "--json",
    ];
    args.extend_from_slice(extra);
    serde_json::from_str(&ok(&edgeae(&args))).unwrap()
}

/// The encoder's parameters (layers before the head) of a classifier run.
fn encoder_params(run: &Path) -> Vec<(Option<Vec<f32>>, Vec<f32>)> {
    let c = SavedClassifier::load(run).unwrap();
    (0..c.head_from)
        .map(|i| (c.net.weights[i].clone(), c.net.biases[i].clone()))
        .collect()
}

#[test]
fn a_head_on_a_pretrained_encoder_separates_blobs_and_freeze_keeps_the_encoder() {
    let d = dir("cls-blobs");
    let (ae, lab, test) = setup(&d);
    let ck = Checkpoint::load(&ae).unwrap();

    let frozen = classify(
        &lab,
        &test,
        &d.join("frozen"),
        &["--encoder", s(&ae), "--freeze"],
    );
    assert_eq!(frozen["classes"], 3, "{frozen}");
    assert_eq!(frozen["test_windows"], 300, "{frozen}");
    let acc = frozen["test_accuracy"].as_f64().unwrap();
    assert!(acc > 0.9, "frozen test accuracy {acc} (chance 1/3)");
    // The run's model file classifies the test set as the trainer did.
    let model = d.join("frozen/model.eam");
    let text = ok(&edgeae(&["inspect", s(&model)]));
    assert!(
        text.contains("kind         classifier (3 classes)"),
        "{text}"
    );
    let c: serde_json::Value = serde_json::from_str(&ok(&edgeae(&[
        "classify",
        "--model",
        s(&model),
        "--data",
        s(&test),
        "--labels",
        "state",
        "--json",
    ])))
    .unwrap();
    assert_eq!(c["windows"], 300, "{c}");
    assert_eq!(c["accuracy"], frozen["test_accuracy"], "{c}");
    fails_cleanly(
        &edgeae(&[
            "denoise",
            "--model",
            s(&model),
            "--data",
            s(&test),
            "--out",
            s(&d.join("denoised.csv")),
        ]),
        &["is a classifier"],
    );
    let enc = encoder_params(&d.join("frozen"));
    assert_eq!(enc.len(), 2, "4-8-3 encoder: two layers");
    for (i, (w, b)) in enc.iter().enumerate() {
        assert_eq!(
            w, &ck.net.weights[i],
            "layer {i} weights changed under --freeze"
        );
        assert_eq!(
            b, &ck.net.biases[i],
            "layer {i} bias changed under --freeze"
        );
    }

    let tuned = classify(
        &lab,
        &test,
        &d.join("tuned"),
        &["--encoder", s(&ae), "--fine-tune", "--head-hidden", "6"],
    );
    assert!(tuned["test_accuracy"].as_f64().unwrap() > 0.9, "{tuned}");
    let enc = encoder_params(&d.join("tuned"));
    assert!(
        enc.iter()
            .enumerate()
            .all(|(i, (w, _))| w != &ck.net.weights[i]),
        "--fine-tune left an encoder layer unchanged"
    );
    assert!(d.join("tuned/report.json").is_file());
}

#[test]
fn from_scratch_trains_the_same_architecture() {
    let d = dir("cls-scratch");
    let (lab, test) = (d.join("lab.csv"), d.join("test.csv"));
    blobs(&lab, 200, 4, true);
    blobs(&test, 300, 5, true);
    let r = classify(
        &lab,
        &test,
        &d.join("none"),
        &["--encoder", "none", "--hidden", "8", "--codings", "3"],
    );
    assert_eq!(r["widths"], serde_json::json!([4, 8, 3, 3]), "{r}");
    assert_eq!(r["mode"], "fine-tune");
    assert!(r["test_accuracy"].as_f64().unwrap() > 0.9, "{r}");
    // --labeled keeps the first N labelled windows; the rest are unlabelled.
    let r = classify(
        &lab,
        &test,
        &d.join("few"),
        &["--encoder", "none", "--labeled", "50"],
    );
    assert_eq!(r["train_windows"], 50, "{r}");
    assert_eq!(r["unlabelled_windows"], 150, "{r}");
}

#[test]
fn bad_classifier_input_is_one_sentence() {
    let d = dir("cls-bad");
    let (ae, lab, _) = setup(&d);
    let run = |data: &Path, extra: &[&str]| {
        let mut args = vec![
            "train",
            "--kind",
            "classifier",
            "--data",
            s(data),
            "--epochs",
            "1",
            "--out",
        ];
        let out = d.join("out");
        args.push(s(&out));
        args.extend_from_slice(extra);
        edgeae(&args)
    };
    let write = |name: &str, text: &str| {
        let p = d.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let enc = ["--encoder", s(&ae), "--labels", "state"];

    let p = write("frac.csv", "a,b,c,d,state\n1,2,3,4,0\n1,2,3,4,1.5\n");
    fails_cleanly(
        &run(&p, &enc),
        &["frac.csv", "line 3", "`1.5`", "not a whole number"],
    );
    let p = write("missing.csv", "a,b,c,d,state\n1,2,3,4,0\n1,2,3,4,\n");
    fails_cleanly(&run(&p, &enc), &["missing.csv", "line 3", "missing"]);
    let p = write("many.csv", "a,b,c,d,state\n1,2,3,4,0\n1,2,3,4,64\n");
    fails_cleanly(
        &run(&p, &enc),
        &["many.csv", "row 2", "class 64", "more than the head allows"],
    );
    fails_cleanly(
        &run(&lab, &["--encoder", s(&ae), "--labels", "kind"]),
        &["no column `kind`"],
    );

    let p = write("three.csv", "a,b,c,state\n1,2,3,0\n1,2,3,1\n");
    fails_cleanly(
        &run(&p, &enc),
        &["encoder takes windows of 4 values", "3 channels"],
    );

    let empty = d.join("not-a-run");
    std::fs::create_dir_all(&empty).unwrap();
    fails_cleanly(
        &run(&lab, &["--encoder", s(&empty), "--labels", "state"]),
        &["not a training run"],
    );
    fails_cleanly(&run(&lab, &["--encoder", s(&ae)]), &["--labels COLUMN"]);
    fails_cleanly(
        &edgeae(&[
            "classify",
            "--model",
            s(&ae.join("model.eam")),
            "--data",
            s(&lab),
            "--labels",
            "state",
        ]),
        &["stacked autoencoder, not a classifier"],
    );
    fails_cleanly(&run(&lab, &["--labels", "state"]), &["--encoder"]);

    let idx = write("labels.idx", "\0\0\x08\x01\0\0\0\x02\x01\x00");
    fails_cleanly(
        &run(&lab, &["--encoder", s(&ae), "--labels-file", s(&idx)]),
        &["holds 2 labels, but", "200 rows"],
    );
    fails_cleanly(
        &edgeae(&[
            "train",
            "--kind",
            "stacked",
            "--data",
            s(&lab),
            "--out",
            s(&d.join("x")),
            "--labels",
            "state",
        ]),
        &["--labels goes with --kind classifier"],
    );
}

#[test]
fn every_dense_kind_lends_its_encoder() {
    let d = dir("cls-kinds");
    let (unl, lab, test) = (d.join("unl.csv"), d.join("lab.csv"), d.join("test.csv"));
    blobs(&unl, 1500, 6, false);
    blobs(&lab, 200, 7, true);
    blobs(&test, 300, 8, true);
    for kind in ["tied", "greedy", "denoising", "sparse", "linear", "vae"] {
        let ae = d.join(kind);
        let mut args = vec![
            "train",
            "--data",
            s(&unl),
            "--kind",
            kind,
            "--codings",
            "3",
            "--epochs",
            "10",
            "--out",
            s(&ae),
            "-q",
        ];
        if kind != "linear" {
            args.extend(["--hidden", "8"]);
        }
        ok(&edgeae(&args));
        let r = classify(
            &lab,
            &test,
            &d.join(format!("{kind}-cls")),
            &["--encoder", s(&ae), "--lr", "0.01"],
        );
        assert_eq!(r["mode"], "freeze", "{r}");
        let acc = r["test_accuracy"].as_f64().unwrap();
        assert!(acc > 0.9, "{kind}: frozen test accuracy {acc} (chance 1/3)");
    }
}
