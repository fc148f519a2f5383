//! The `edgeae` binary on good and bad input: bad input gets one sentence
//! naming the file and the problem, a non-zero exit, and no panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn edgeae(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgeae"))
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap()
}

fn scratch_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("edgeae-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../model-format/tests/data")
        .join(name)
}

/// Asserts a clean failure: non-zero exit, one line on stderr that contains
/// every `needle`, nothing that looks like a panic.
fn assert_clean_failure(out: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "expected failure, got success: {stderr}"
    );
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "one line expected: {stderr}"
    );
    assert!(stderr.starts_with("error: "), "{stderr}");
    for n in needles {
        assert!(stderr.contains(n), "`{n}` missing from: {stderr}");
    }
    for bad in ["panicked", "backtrace", "RUST_BACKTRACE"] {
        assert!(!stderr.contains(bad), "{stderr}");
    }
}

#[test]
fn inspect_bad_files() {
    let dir = scratch_dir("bad");
    let missing = dir.join("missing.eam");
    let empty = dir.join("empty.eam");
    std::fs::write(&empty, b"").unwrap();
    let text = dir.join("notes.txt");
    std::fs::write(&text, "threshold = 0.5\nchannels = 3\n").unwrap();
    let truncated = dir.join("truncated.eam");
    let good = std::fs::read(golden("dense_v1.eam")).unwrap();
    std::fs::write(&truncated, &good[..good.len() / 2]).unwrap();

    let path = |p: &Path| p.display().to_string();
    assert_clean_failure(
        &edgeae(&["inspect", &path(&missing)]),
        &[&path(&missing), "No such file"],
    );
    assert_clean_failure(
        &edgeae(&["inspect", &path(&empty)]),
        &[&path(&empty), "is empty"],
    );
    assert_clean_failure(
        &edgeae(&["inspect", &path(&text)]),
        &[&path(&text), "not an edgeae model", "text file"],
    );
    assert_clean_failure(
        &edgeae(&["inspect", &path(&truncated)]),
        &[
            &path(&truncated),
            "truncated",
            &format!("needs {} bytes", good.len()),
        ],
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn inspect_reports_shapes_flash_and_scratch() {
    let out = edgeae(&["inspect", golden("tied_v1.eam").to_str().unwrap(), "--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["format_version"], 1);
    assert_eq!(
        v["flash_bytes"],
        std::fs::metadata(golden("tied_v1.eam")).unwrap().len()
    );
    assert_eq!(v["kind"], "tied");
    assert_eq!(v["params"], 38);
    assert_eq!(v["layers"][3]["tied_to"], 0);
    assert_eq!(v["layers"][3]["params"], 6);
    // input 6 + widest even output (3) + widest odd output (6)
    assert_eq!(v["scratch"]["f32s"], 15);
    assert_eq!(v["scratch"]["bytes"], 60);
    // A stream adds a ring of one window (6 values).
    assert_eq!(v["scratch"]["stream_bytes"], 84);
    assert!(v["threshold"].is_null());

    let out = edgeae(&["inspect", golden("dense_v1.eam").to_str().unwrap()]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("threshold    0.750000 (clears below 0.500000)"),
        "{text}"
    );
    assert!(text.contains("scratch RAM  40 bytes"), "{text}");
}

#[test]
fn pack_writes_a_model_from_json_and_refuses_bad_ones() {
    let dir = scratch_dir("pack");
    let spec = dir.join("m.json");
    std::fs::write(
        &spec,
        r#"{
  "input": {"channels": 2, "window": 1, "hop": 1, "mean": [0, 0], "scale": [1, 1]},
  "layers": [
    {"dense": {"inputs": 2, "outputs": 1, "activation": "identity", "weights": [0.5, 0.5], "bias": [0]}},
    {"tied_dense": {"source": 0, "activation": "identity", "bias": [0, 0]}}
  ],
  "codings_layer": 0
}"#,
    )
    .unwrap();
    let model = dir.join("m.eam");
    let out = edgeae(&[
        "pack",
        spec.to_str().unwrap(),
        "--out",
        model.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = edgeae(&["inspect", model.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["params"], 2 + 1 + 2);
    assert_eq!(v["kind"], "custom");

    // A shape error: nothing is written, the existing model survives.
    let before = std::fs::read(&model).unwrap();
    let bad = dir.join("bad.json");
    std::fs::write(
        &bad,
        std::fs::read_to_string(&spec).unwrap().replace(
            r#""inputs": 2, "outputs": 1"#,
            r#""inputs": 3, "outputs": 1"#,
        ),
    )
    .unwrap();
    let out = edgeae(&[
        "pack",
        bad.to_str().unwrap(),
        "--out",
        model.to_str().unwrap(),
    ]);
    assert_clean_failure(
        &out,
        &["bad.json", "weights holds 8 bytes, the shapes need 12"],
    );
    assert_eq!(std::fs::read(&model).unwrap(), before);

    // A JSON syntax error names the line and column.
    std::fs::write(&bad, "{\n  \"input\": [\n").unwrap();
    let out = edgeae(&[
        "pack",
        bad.to_str().unwrap(),
        "--out",
        model.to_str().unwrap(),
    ]);
    assert_clean_failure(&out, &["bad.json", "line 3"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn kernels_env_forces_a_path_and_refuses_unknown_ones() {
    let run = |value: &str| {
        Command::new(env!("CARGO_BIN_EXE_edgeae"))
            .args(["inspect", golden("dense_v1.eam").to_str().unwrap()])
            .env("EDGEAE_KERNELS", value)
            .output()
            .unwrap()
    };
    assert!(run("portable").status.success());
    assert!(run("").status.success());
    assert_clean_failure(&run("sse9"), &["EDGEAE_KERNELS=sse9", "portable, avx2"]);
    for p in firmware::ops::KernelPath::ALL {
        let out = run(p.name());
        if p.is_available() {
            assert!(out.status.success(), "{p}");
        } else {
            assert_clean_failure(&out, &["EDGEAE_KERNELS", p.name(), "not available"]);
        }
    }
}
