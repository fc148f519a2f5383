//! `edgeae train`, `encode`, `denoise` and `generate` as a user runs them:
//! bad input gets one clear sentence and exit status 1; a run killed with
//! SIGKILL resumes to exactly the model an uninterrupted run produces; the
//! denoiser removes noise; generated samples come out finite.

mod common;
use common::*;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Three channels of smooth periodic signals, with optional noise.
fn series_csv(path: &Path, rows: usize, noise: f32, seed: u32, channels: usize) {
    let mut state = seed.wrapping_mul(2_654_435_761).max(1);
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state as f32 / u32::MAX as f32 * 2.0 - 1.0
    };
    let names: Vec<String> = (0..channels).map(|c| format!("ch{c}")).collect();
    let mut text = format!("timestamp,{}\n", names.join(","));
    for t in 0..rows {
        let tf = t as f32;
        let cells: Vec<String> = (0..channels)
            .map(|c| {
                let v = (tf * 0.3 + c as f32).sin() + 0.4 * (tf * 0.7 + 2.0 * c as f32).cos();
                (v + noise * uniform()).to_string()
            })
            .collect();
        text.push_str(&format!("{t},{}\n", cells.join(",")));
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn bad_training_input_is_one_clear_sentence() {
    let d = dir("bad");
    let out = d.join("run");
    let bad = d.join("bad.csv");
    std::fs::write(&bad, "a,b,c\n1,2,3\n4,oops,6\n").unwrap();
    fails_cleanly(
        &edgeae(&[
            "train",
            "--data",
            s(&bad),
            "--kind",
            "stacked",
            "--out",
            s(&out),
        ]),
        &[
            "bad.csv",
            "line 3",
            "column 2",
            "`b`",
            "`oops` is not a number",
        ],
    );
    let empty = d.join("empty.csv");
    std::fs::write(&empty, "").unwrap();
    fails_cleanly(
        &edgeae(&[
            "train",
            "--data",
            s(&empty),
            "--kind",
            "stacked",
            "--out",
            s(&out),
        ]),
        &["empty.csv", "is empty"],
    );
    let short = d.join("short.csv");
    series_csv(&short, 20, 0.0, 1, 3);
    fails_cleanly(
        &edgeae(&[
            "train",
            "--data",
            s(&short),
            "--kind",
            "stacked",
            "--out",
            s(&out),
            "--window",
            "64",
        ]),
        &[
            "short.csv",
            "window of 64 rows is longer than the data",
            "20 rows",
        ],
    );
    fails_cleanly(
        &edgeae(&[
            "train",
            "--data",
            s(&short),
            "--kind",
            "stacked",
            "--out",
            s(&out),
            "--codings",
            "0",
        ]),
        &["--codings must be at least 1"],
    );
    // Malformed options are usage errors, reported by clap with status 2.
    let usage = edgeae(&[
        "train",
        "--data",
        s(&short),
        "--kind",
        "stacked",
        "--out",
        s(&out),
        "--noise",
        "salt:3",
    ]);
    let err = String::from_utf8_lossy(&usage.stderr);
    assert_eq!(usage.status.code(), Some(2), "{err}");
    assert!(
        err.lines()
            .next()
            .unwrap()
            .contains("--noise `salt:3`: expected gaussian:SIGMA or dropout:P"),
        "{err}"
    );
    fails_cleanly(
        &edgeae(&["train", "--out", s(&d.join("nothing")), "--resume"]),
        &["no checkpoint to resume from"],
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn short_series_constant_channels_and_all_anomalous_labels() {
    let d = dir("edge-data");
    // 100 rows cannot hold a validation block of two 32-row windows and a
    // training window beside it.
    let short = d.join("short.csv");
    series_csv(&short, 100, 0.0, 1, 2);
    fails_cleanly(
        &edgeae(&[
            "train",
            "--data",
            s(&short),
            "--kind",
            "pca",
            "--out",
            s(&d.join("a")),
            "--window",
            "32",
        ]),
        &[
            "short.csv",
            "100 rows",
            "too few for a training window of 32 rows",
        ],
    );
    // Every row labelled anomalous: nothing to train on.
    let labelled = d.join("labelled.csv");
    let mut text = String::from("x,y,label\n");
    for t in 0..200 {
        text.push_str(&format!(
            "{},{},1\n",
            (t as f32 * 0.3).sin(),
            (t as f32 * 0.2).cos()
        ));
    }
    std::fs::write(&labelled, text).unwrap();
    fails_cleanly(
        &edgeae(&[
            "train",
            "--data",
            s(&labelled),
            "--kind",
            "pca",
            "--out",
            s(&d.join("b")),
            "--window",
            "8",
        ]),
        &["labelled.csv", "every window", "labelled anomalous"],
    );
    // A constant channel is named, trains, and scores without dividing by
    // zero when it moves later.
    let constant = d.join("constant.csv");
    let mut text = String::from("x,stuck\n");
    for t in 0..2000 {
        text.push_str(&format!("{},5\n", (t as f32 * 0.3).sin()));
    }
    std::fs::write(&constant, text).unwrap();
    let run = d.join("c");
    let out = edgeae(&[
        "train",
        "--data",
        s(&constant),
        "--kind",
        "pca",
        "--out",
        s(&run),
        "--window",
        "8",
        "--codings",
        "2",
    ]);
    ok(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("channel stuck never changes"), "{err}");
    let moved = d.join("moved.csv");
    let mut text = String::from("x,stuck\n");
    for t in 0..200 {
        text.push_str(&format!("{},{}\n", (t as f32 * 0.3).sin(), 5 + t % 3));
    }
    std::fs::write(&moved, text).unwrap();
    let scores = d.join("scores.csv");
    ok(&edgeae(&[
        "score",
        "--model",
        s(&run.join("model.eam")),
        "--data",
        s(&moved),
        "--out",
        s(&scores),
    ]));
    let text = std::fs::read_to_string(&scores).unwrap();
    let values: Vec<f64> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap().parse().unwrap())
        .collect();
    assert!(
        !values.is_empty() && values.iter().all(|v| v.is_finite() && *v > 0.5),
        "{text}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn later_commands_check_the_channel_count_against_the_model() {
    let d = dir("channels");
    let train = d.join("train.csv");
    series_csv(&train, 300, 0.0, 1, 3);
    let run = d.join("run");
    ok(&edgeae(&[
        "train",
        "--data",
        s(&train),
        "--kind",
        "stacked",
        "--out",
        s(&run),
        "--epochs",
        "1",
        "-q",
    ]));
    let model = run.join("model.eam");
    let four = d.join("four.csv");
    series_csv(&four, 50, 0.0, 2, 4);
    for cmd in ["encode", "denoise"] {
        fails_cleanly(
            &edgeae(&[
                cmd,
                "--model",
                s(&model),
                "--data",
                s(&four),
                "--out",
                s(&d.join("x.csv")),
            ]),
            &[
                "model.eam",
                "expects 3 channels per row",
                "four.csv",
                "has 4",
            ],
        );
    }
    fails_cleanly(
        &edgeae(&[
            "generate",
            "--model",
            s(&model),
            "--out",
            s(&d.join("g.csv")),
        ]),
        &["needs a variational model", "stacked"],
    );
    // Training again into the same directory would destroy the run.
    fails_cleanly(
        &edgeae(&[
            "train",
            "--data",
            s(&train),
            "--kind",
            "stacked",
            "--out",
            s(&run),
        ]),
        &["already holds a training run", "--resume"],
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_killed_run_resumes_to_the_uninterrupted_result() {
    let d = dir("kill");
    let data = d.join("train.csv");
    series_csv(&data, 800, 0.05, 3, 3);
    let common = [
        "--kind",
        "denoising",
        "--window",
        "8",
        "--epochs",
        "40",
        "--batch",
        "16",
        "-q",
        "--data",
        s(&data),
    ];

    let straight = d.join("straight");
    let mut args = vec!["train", "--out", s(&straight)];
    args.extend(common);
    ok(&edgeae(&args));

    let killed = d.join("killed");
    let mut args = vec!["train", "--out", s(&killed)];
    args.extend(common);
    let mut child = Command::new(env!("CARGO_BIN_EXE_edgeae"))
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ck = killed.join("checkpoint.bin");
    let t0 = Instant::now();
    while !ck.exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "no checkpoint appeared"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "the run finished before it could be killed; make it longer"
    );
    assert!(!killed.join("model.eam").exists());
    // Files under their own names are whole (the resume below reads the
    // checkpoint); a kill between writing and renaming may leave only the
    // writer's temporary, `.NAME.PID.tmp`.
    for entry in std::fs::read_dir(&killed).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".tmp") {
            assert!(
                name.starts_with(".checkpoint.bin.") || name.starts_with(".loss.png."),
                "{name}"
            );
        }
    }

    let out = ok(&edgeae(&["train", "--out", s(&killed), "--resume", "-q"]));
    // ... and the resumed run leaves no temporary at all.
    for entry in std::fs::read_dir(&killed).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(!name.ends_with(".tmp"), "{name} left behind");
    }
    assert!(out.contains("trained denoising"), "{out}");
    assert_eq!(
        std::fs::read(killed.join("model.eam")).unwrap(),
        std::fs::read(straight.join("model.eam")).unwrap(),
        "a killed and resumed run must end with the uninterrupted run's model"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<f64>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().split(',').map(String::from).collect();
    let rows = lines
        .map(|l| l.split(',').map(|c| c.parse().unwrap()).collect())
        .collect();
    (header, rows)
}

#[test]
fn denoise_removes_noise_and_encode_writes_codings() {
    let d = dir("denoise");
    let clean_train = d.join("train.csv");
    series_csv(&clean_train, 3000, 0.02, 4, 3);
    let run = d.join("run");
    ok(&edgeae(&[
        "train",
        "--data",
        s(&clean_train),
        "--kind",
        "denoising",
        "--out",
        s(&run),
        "--window",
        "16",
        "--hop",
        "4",
        "--codings",
        "6",
        "--epochs",
        "30",
        "--noise",
        "gaussian:0.3",
        "-q",
    ]));
    let model = run.join("model.eam");
    let clean = d.join("clean.csv");
    let noisy = d.join("noisy.csv");
    series_csv(&clean, 400, 0.0, 5, 3);
    series_csv(&noisy, 400, 0.25, 5, 3);
    let denoised = d.join("denoised.csv");
    ok(&edgeae(&[
        "denoise",
        "--model",
        s(&model),
        "--data",
        s(&noisy),
        "--out",
        s(&denoised),
    ]));
    let (header, out_rows) = read_csv(&denoised);
    assert_eq!(header, ["ch0", "ch1", "ch2"]);
    let (_, clean_rows) = read_csv(&clean);
    let (_, noisy_rows) = read_csv(&noisy);
    assert_eq!(out_rows.len(), clean_rows.len());
    let mse = |a: &[Vec<f64>], b: &[Vec<f64>]| -> f64 {
        // Skip the timestamp column of the input files.
        a.iter()
            .zip(b)
            .map(|(x, y)| {
                x.iter()
                    .zip(&y[1..])
                    .map(|(p, q)| (p - q).powi(2))
                    .sum::<f64>()
            })
            .sum::<f64>()
            / (a.len() * 3) as f64
    };
    let noisy_only: Vec<Vec<f64>> = noisy_rows.iter().map(|r| r[1..].to_vec()).collect();
    let before = mse(&noisy_only, &clean_rows);
    let after = mse(&out_rows, &clean_rows);
    eprintln!("denoising: MSE to the clean signal {before:.4} -> {after:.4}");
    assert!(
        after < 0.5 * before,
        "denoising did not halve the error: {before} -> {after}"
    );

    let codings = d.join("codings.csv");
    ok(&edgeae(&[
        "encode",
        "--model",
        s(&model),
        "--data",
        s(&clean),
        "--out",
        s(&codings),
    ]));
    let (header, rows) = read_csv(&codings);
    assert_eq!(header, ["start", "end", "c0", "c1", "c2", "c3", "c4", "c5"]);
    // Windows of 16 every 4 rows over 400 rows.
    assert_eq!(rows.len(), (400 - 16) / 4 + 1);
    assert_eq!((rows[1][0], rows[1][1]), (4.0, 20.0));
    assert!(rows.iter().flatten().all(|v| v.is_finite()));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_vae_generates_finite_samples() {
    let d = dir("vae");
    let data = d.join("train.csv");
    series_csv(&data, 600, 0.05, 6, 3);
    let run = d.join("run");
    ok(&edgeae(&[
        "train",
        "--data",
        s(&data),
        "--kind",
        "vae",
        "--out",
        s(&run),
        "--window",
        "4",
        "--epochs",
        "5",
        "-q",
    ]));
    let samples = d.join("samples.csv");
    let out = ok(&edgeae(&[
        "generate",
        "--model",
        s(&run.join("model.eam")),
        "--count",
        "7",
        "--out",
        s(&samples),
    ]));
    assert!(out.contains("7 samples"));
    let (header, rows) = read_csv(&samples);
    assert_eq!(header.len(), 12);
    assert_eq!(rows.len(), 7);
    assert!(rows.iter().flatten().all(|v| v.is_finite()));
    // Different prior draws give different samples.
    assert_ne!(rows[0], rows[1]);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn every_command_has_help_with_an_example() {
    for cmd in [
        "train",
        "encode",
        "denoise",
        "generate",
        "inspect",
        "pack",
        "calibrate",
        "score",
        "eval",
        "synth",
        "demo",
        "stream",
        "flash",
        "embed",
        "features",
    ] {
        let out = ok(&edgeae(&[cmd, "--help"]));
        assert!(
            out.contains("Example"),
            "{cmd} --help has no example:\n{out}"
        );
        assert!(
            out.contains(&format!("edgeae {cmd}")),
            "{cmd} --help example does not run {cmd}"
        );
    }
}
