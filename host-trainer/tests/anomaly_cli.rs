//! `edgeae synth`, `calibrate`, `score` and `eval` as a user runs them: the
//! scores file, the labels eval needs, faults in the stream, and bad input.

mod common;
use common::*;

use std::path::{Path, PathBuf};

/// Synthetic data and a quickly trained denoising model (shared by the
/// tests of one process through a `OnceLock`).
fn trained() -> &'static (PathBuf, PathBuf) {
    static RUN: std::sync::OnceLock<(PathBuf, PathBuf)> = std::sync::OnceLock::new();
    RUN.get_or_init(|| {
        let d = dir("trained");
        ok(&edgeae(&[
            "synth",
            "--out",
            s(&d.join("data")),
            "--seed",
            "3",
        ]));
        let run = d.join("run");
        ok(&edgeae(&[
            "train",
            "--data",
            s(&d.join("data/train.csv")),
            "--kind",
            "denoising",
            "--window",
            "32",
            "--hop",
            "8",
            "--hidden",
            "64",
            "--codings",
            "12",
            "--epochs",
            "8",
            "--out",
            s(&run),
            "--quiet",
        ]));
        (run.join("model.eam"), d.join("data"))
    })
}

fn read_scores(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().split(',').map(String::from).collect();
    let rows = lines
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    (header, rows)
}

#[test]
fn synth_is_reproducible_and_labelled() {
    let d = dir("synth");
    ok(&edgeae(&[
        "synth",
        "--out",
        s(&d.join("a")),
        "--seed",
        "11",
    ]));
    ok(&edgeae(&[
        "synth",
        "--out",
        s(&d.join("b")),
        "--seed",
        "11",
    ]));
    ok(&edgeae(&[
        "synth",
        "--out",
        s(&d.join("c")),
        "--seed",
        "12",
    ]));
    for f in ["train.csv", "test.csv", "faults.csv"] {
        let a = std::fs::read(d.join("a").join(f)).unwrap();
        assert_eq!(a, std::fs::read(d.join("b").join(f)).unwrap(), "{f}");
        assert_ne!(a, std::fs::read(d.join("c").join(f)).unwrap(), "{f}");
    }
    let test = std::fs::read_to_string(d.join("a/test.csv")).unwrap();
    assert!(test.starts_with("timestamp,acc_x,acc_y,acc_z,label\n"));
    let faults = std::fs::read_to_string(d.join("a/faults.csv")).unwrap();
    for kind in [
        "spike",
        "bearing",
        "amplitude_drift",
        "frequency_shift",
        "stuck",
        "dropout",
    ] {
        assert!(faults.contains(kind), "{kind} missing: {faults}");
    }
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn train_calibrates_and_score_writes_one_row_per_window() {
    let (model, data) = trained();
    let info = ok(&edgeae(&["inspect", s(model), "--json"]));
    let json: serde_json::Value = serde_json::from_str(&info).unwrap();
    let threshold = json["threshold"].as_f64().unwrap();
    assert!(threshold > 0.0, "{info}");

    let d = dir("score");
    let out = d.join("scores.csv");
    let said = ok(&edgeae(&[
        "score",
        "--model",
        s(model),
        "--data",
        s(&data.join("test.csv")),
        "--out",
        s(&out),
    ]));
    let (header, rows) = read_scores(&out);
    assert_eq!(
        header,
        [
            "start", "end", "score", "alarm", "smoothed", "fault", "label"
        ]
    );
    // 30,000 rows, windows of 32 every 8.
    assert_eq!(rows.len(), (30_000 - 32) / 8 + 1, "{said}");
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r[0], (i * 8).to_string());
        assert_eq!(r[1], (i * 8 + 32).to_string());
        assert!(r[2].parse::<f32>().unwrap() >= 0.0);
        assert!(r[3] == "0" || r[3] == "1");
    }
    let alarms = rows.iter().filter(|r| r[3] == "1").count();
    let labelled = rows.iter().filter(|r| r[6] == "1").count();
    assert!(alarms > 0 && labelled > 0);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn eval_reports_auc_delays_and_a_plot() {
    let (model, data) = trained();
    let d = dir("eval");
    let plot = d.join("eval.png");
    let out = ok(&edgeae(&[
        "eval",
        "--model",
        s(model),
        "--data",
        s(&data.join("test.csv")),
        "--json",
        "--plot",
        s(&plot),
    ]));
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    let auc = r["roc_auc"].as_f64().unwrap();
    let pr = r["pr_auc"].as_f64().unwrap();
    assert!(auc > 0.9 && auc <= 1.0, "{out}");
    assert!(pr > 0.5 && pr <= 1.0, "{out}");
    assert_eq!(r["segments"].as_array().unwrap().len(), 12);
    let f1 = r["at_threshold"]["f1"].as_f64().unwrap();
    assert!(f1 > 0.5, "{out}");
    assert_eq!(&std::fs::read(&plot).unwrap()[1..4], b"PNG");

    let text = ok(&edgeae(&[
        "eval",
        "--model",
        s(model),
        "--data",
        s(&data.join("test.csv")),
        "--plot",
        s(&plot),
    ]));
    assert!(
        text.contains("ROC AUC") && text.contains("detected after"),
        "{text}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn eval_needs_labels_and_labels_must_be_0_or_1() {
    let (model, data) = trained();
    let d = dir("labels");
    // The training series has no label column.
    let out = edgeae(&[
        "eval",
        "--model",
        s(model),
        "--data",
        s(&data.join("train.csv")),
    ]);
    fails_cleanly(&out, &["train.csv", "no label column", "edgeae score"]);

    // A label of 2 on line 5 (header is line 1).
    let test = std::fs::read_to_string(data.join("test.csv")).unwrap();
    let mut lines: Vec<String> = test.lines().take(200).map(String::from).collect();
    let bad = lines[4].rsplit_once(',').unwrap().0.to_string() + ",2";
    lines[4] = bad;
    let path = d.join("bad.csv");
    std::fs::write(&path, lines.join("\n")).unwrap();
    let out = edgeae(&["eval", "--model", s(model), "--data", s(&path)]);
    fails_cleanly(&out, &["bad.csv", "line 5", "label `2` must be 0 or 1"]);

    // `0.0` and `1.0` are labels too.
    for (i, l) in lines.iter_mut().enumerate().skip(1) {
        let (head, _) = l.rsplit_once(',').unwrap();
        *l = format!("{head},{}", if i % 50 < 10 { "1.0" } else { "0.0" });
    }
    std::fs::write(&path, lines.join("\n")).unwrap();
    let json = ok(&edgeae(&[
        "eval",
        "--model",
        s(model),
        "--data",
        s(&path),
        "--json",
        "--plot",
        s(&d.join("p.png")),
    ]));
    assert!(json.contains("\"roc_auc\""), "{json}");
    std::fs::remove_dir_all(&d).unwrap();
}

/// NaN cells, a channel stuck at a constant, and values far outside the
/// training range: faults and alarms, never a panic.
#[test]
fn faults_stuck_channels_and_wild_values_are_flagged() {
    let (model, data) = trained();
    let d = dir("faults");
    let train = std::fs::read_to_string(data.join("train.csv")).unwrap();
    let mut lines: Vec<String> = train.lines().take(6001).map(String::from).collect();
    for (i, line) in lines.iter_mut().enumerate().skip(1) {
        let mut cells: Vec<String> = line.split(',').map(String::from).collect();
        let row = i - 1;
        match row {
            1000..1003 => cells[2] = "NaN".into(),
            2000..2600 => cells[1] = "0.25".into(),
            3500..3510 => cells[3] = "1e30".into(),
            4000..4001 => cells[1] = "inf".into(),
            _ => {}
        }
        *line = cells.join(",");
    }
    let path = d.join("stream.csv");
    std::fs::write(&path, lines.join("\n")).unwrap();
    let out = d.join("scores.csv");
    let said = ok(&edgeae(&[
        "score",
        "--model",
        s(model),
        "--data",
        s(&path),
        "--out",
        s(&out),
    ]));
    assert!(said.contains("4 frame(s) with NaN/inf samples"), "{said}");
    let (_, rows) = read_scores(&out);
    let span = |r: &Vec<String>| {
        (
            r[0].parse::<usize>().unwrap(),
            r[1].parse::<usize>().unwrap(),
        )
    };
    let overlapping = |a: usize, b: usize| {
        rows.iter()
            .filter(move |r| {
                let (s, e) = span(r);
                s < b && e > a
            })
            .collect::<Vec<_>>()
    };
    // Every window holding a NaN or inf sample is a fault with no score.
    for r in overlapping(1000, 1003)
        .into_iter()
        .chain(overlapping(4000, 4001))
    {
        assert_eq!((r[2].as_str(), r[5].as_str()), ("", "sample"), "{r:?}");
    }
    // The stuck channel and the wild values raise the alarm.
    assert!(overlapping(2000, 2600).iter().any(|r| r[3] == "1"));
    assert!(
        overlapping(3500, 3510)
            .iter()
            .any(|r| r[3] == "1" || r[5] == "overflow")
    );
    // Before the first fault and long after the last, windows are scored
    // normally: the faults did not poison the scores.
    let last = rows.last().unwrap();
    assert!(!last[2].is_empty() && last[5].is_empty(), "{last:?}");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn calibrate_sets_the_threshold_from_normal_data() {
    let (model, data) = trained();
    let d = dir("calibrate");
    let strict = d.join("strict.eam");
    let loose = d.join("loose.eam");
    let before = std::fs::read(model).unwrap();
    let holdout = data.join("train.csv");
    let said = ok(&edgeae(&[
        "calibrate",
        "--model",
        s(model),
        "--data",
        s(&holdout),
        "--percentile",
        "99.9",
        "--out",
        s(&strict),
    ]));
    assert!(said.contains("threshold"), "{said}");
    ok(&edgeae(&[
        "calibrate",
        "--model",
        s(model),
        "--data",
        s(&holdout),
        "--target-fpr",
        "0.2",
        "--out",
        s(&loose),
    ]));
    assert_eq!(
        std::fs::read(model).unwrap(),
        before,
        "--out leaves the model alone"
    );
    let threshold = |p: &Path| -> f64 {
        let j: serde_json::Value =
            serde_json::from_str(&ok(&edgeae(&["inspect", s(p), "--json"]))).unwrap();
        j["threshold"].as_f64().unwrap()
    };
    assert!(threshold(&strict) > threshold(&loose));

    // Bad options: one sentence each.
    let out = edgeae(&[
        "calibrate",
        "--model",
        s(model),
        "--data",
        s(&holdout),
        "--target-fpr",
        "1.5",
    ]);
    fails_cleanly(&out, &["--target-fpr 1.5"]);
    let out = edgeae(&[
        "calibrate",
        "--model",
        s(model),
        "--data",
        s(&holdout),
        "--hysteresis",
        "0",
    ]);
    fails_cleanly(&out, &["--hysteresis"]);
    let out = edgeae(&[
        "calibrate",
        "--model",
        s(model),
        "--data",
        s(&holdout),
        "--target-fpr",
        "0.1",
        "--percentile",
        "99",
    ]);
    assert_eq!(out.status.code(), Some(2), "clap refuses both");
    assert_eq!(std::fs::read(model).unwrap(), before);
    std::fs::remove_dir_all(&d).unwrap();
}

/// `--json` on a command: stdout is one JSON document (the report), and
/// the text report's figures are in it.
fn json(args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = ok(&edgeae(&all));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
}

#[test]
fn every_command_reports_as_json() {
    let (model, data) = trained();
    let d = dir("json");
    let (m, train, test) = (s(model), data.join("train.csv"), data.join("test.csv"));

    let v = json(&[
        "synth",
        "--out",
        s(&d.join("synth")),
        "--train-rows",
        "3000",
        "--test-rows",
        "26000",
    ]);
    assert_eq!(v["train_rows"], 3000);
    assert_eq!(v["files"].as_array().unwrap().len(), 3, "{v}");

    let v = json(&[
        "train",
        "--data",
        s(&d.join("synth/train.csv")),
        "--kind",
        "stacked",
        "--window",
        "8",
        "--hop",
        "4",
        "--codings",
        "4",
        "--epochs",
        "1",
        "--out",
        s(&d.join("run")),
        "--quiet",
    ]);
    assert_eq!(v["kind"], "stacked");
    assert!(v["train_windows"].as_u64().unwrap() > 0, "{v}");
    assert!(v["model"].as_str().unwrap().ends_with("model.eam"), "{v}");

    let v = json(&[
        "export",
        s(&d.join("run")),
        "--quant",
        "f32",
        "--out",
        s(&d.join("run.eam")),
    ]);
    assert_eq!(v["precision"], "f32");
    assert_eq!(v["flash_bytes"].as_array().unwrap().len(), 2, "{v}");

    let v = json(&["inspect", m]);
    assert_eq!(v["kind"], "denoising");

    let cal = d.join("cal.eam");
    let v = json(&[
        "calibrate",
        "--model",
        m,
        "--data",
        s(&train),
        "--out",
        s(&cal),
    ]);
    assert!(v["threshold"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v["errors"]["p99"].as_f64().is_some(), "{v}");

    let v = json(&[
        "score",
        "--model",
        s(&cal),
        "--data",
        s(&test),
        "--out",
        s(&d.join("scores.csv")),
    ]);
    assert!(
        v["windows"].as_u64().unwrap() > 0 && v["calibrated"] == true,
        "{v}"
    );

    let v = json(&[
        "eval",
        "--model",
        s(&cal),
        "--data",
        s(&test),
        "--plot",
        s(&d.join("eval.png")),
    ]);
    assert!(v["roc_auc"].as_f64().unwrap() > 0.5, "{v}");

    let v = json(&[
        "encode",
        "--model",
        m,
        "--data",
        s(&test),
        "--out",
        s(&d.join("codings.csv")),
    ]);
    assert_eq!(v["codings"], 12);

    let v = json(&[
        "denoise",
        "--model",
        m,
        "--data",
        s(&test),
        "--out",
        s(&d.join("clean.csv")),
    ]);
    assert!(v["rows_denoised"].as_u64().unwrap() > 0, "{v}");

    let spec = d.join("m.json");
    std::fs::write(
        &spec,
        r#"{"input": {"channels": 1, "window": 1, "hop": 1, "mean": [0], "scale": [1]},
            "layers": [{"dense": {"inputs": 1, "outputs": 1, "activation": "identity", "weights": [1], "bias": [0]}},
                       {"tied_dense": {"source": 0, "activation": "identity", "bias": [0]}}],
            "codings_layer": 0}"#,
    )
    .unwrap();
    let v = json(&["pack", s(&spec), "--out", s(&d.join("m.eam"))]);
    assert_eq!(
        v["bytes"].as_u64().unwrap() as usize,
        std::fs::read(d.join("m.eam")).unwrap().len()
    );
}

#[test]
fn conv_models_train_export_and_refuse_bad_architectures() {
    let (model, data) = trained();
    let d = dir("conv");
    let train = data.join("train.csv");
    // A decoder that does not return to the input: one sentence naming
    // the shapes, before any training.
    fails_cleanly(
        &edgeae(&[
            "train",
            "--data",
            s(&train),
            "--kind",
            "conv",
            "--window",
            "32",
            "--arch",
            "c8k3s2|t3k3s2,t3k3s2",
            "--out",
            s(&d.join("bad")),
            "--quiet",
        ]),
        &["--arch", "the decoder ends on 64×3, the input is 32×3"],
    );
    fails_cleanly(
        &edgeae(&[
            "train",
            "--data",
            s(&train),
            "--kind",
            "conv",
            "--window",
            "32",
            "--arch",
            "c8x3|t3k3",
            "--out",
            s(&d.join("bad2")),
            "--quiet",
        ]),
        &["--arch layer 1 `c8x3`", "kernel"],
    );
    assert!(!d.join("bad/model.eam").exists());
    // The default architecture for sensor windows, exported to int8.
    let run = d.join("run");
    ok(&edgeae(&[
        "train",
        "--data",
        s(&train),
        "--kind",
        "conv",
        "--window",
        "32",
        "--hop",
        "8",
        "--codings",
        "6",
        "--epochs",
        "2",
        "--out",
        s(&run),
        "--quiet",
    ]));
    let v = json(&["inspect", s(&run.join("model.eam"))]);
    assert_eq!(v["kind"], "conv");
    assert_eq!(v["format_version"], 8); // f32 layers: aligned tensors (version 8)
    assert_eq!(v["layers"][0]["type"], "conv");
    assert_eq!(v["codings_len"], 6);
    let int8 = d.join("int8.eam");
    ok(&edgeae(&[
        "export",
        s(&run),
        "--quant",
        "int8",
        "--calib",
        s(&train),
        "--out",
        s(&int8),
    ]));
    let v = json(&["inspect", s(&int8)]);
    assert_eq!(v["layers"][0]["type"], "conv_i8");
    assert!(v["scratch"]["column"].as_u64().unwrap() > 0, "{v}");
    // Conv in, transposed conv out, both int8: scored in int8, the ring
    // holds the window and the stream's engine none (SPEC.md 3.5).
    assert_eq!(v["scratch"]["int8_scoring"], true, "{v}");
    assert_eq!(v["scratch"]["input"], 0, "{v}");
    let engine = v["scratch"]["bytes"].as_u64().unwrap();
    assert!(
        v["scratch"]["engine_bytes"].as_u64().unwrap() > engine,
        "{v}"
    );
    // --ram: enough passes, too little is one sentence with the shortfall.
    let need = v["scratch"]["stream_bytes"].as_u64().unwrap();
    ok(&edgeae(&["inspect", s(&int8), "--ram", &need.to_string()]));
    fails_cleanly(
        &edgeae(&["inspect", s(&int8), "--ram", &(need - 1).to_string()]),
        &["needs", "1 more than"],
    );
    // The dense model of the other tests, through the same check.
    ok(&edgeae(&["inspect", s(model), "--ram", "1000000"]));
}
