//! `edgeae flash` refuses what the board cannot run before touching a probe.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn edgeae(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgeae"))
        .args(args)
        .output()
        .unwrap()
}

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("edgeae-flash-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn fails_with(out: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    for n in needles {
        assert!(err.contains(n), "`{n}` missing from: {err}");
    }
}

/// A dense `n`-`k`-`n` model packed from JSON.
fn model(dir: &Path, name: &str, n: usize, k: usize) -> PathBuf {
    let weights = |count: usize| vec!["0.01"; count].join(",");
    let json = format!(
        r#"{{"input": {{"channels": {n}, "window": 1, "hop": 1, "mean": [{z}], "scale": [{o}]}},
            "layers": [
              {{"dense": {{"inputs": {n}, "outputs": {k}, "activation": "relu", "weights": [{w0}], "bias": [{bk}]}}}},
              {{"dense": {{"inputs": {k}, "outputs": {n}, "activation": "identity", "weights": [{w1}], "bias": [{z}]}}}}
            ],
            "codings_layer": 0}}"#,
        z = vec!["0"; n].join(","),
        o = vec!["1"; n].join(","),
        bk = vec!["0"; k].join(","),
        w0 = weights(n * k),
        w1 = weights(n * k),
    );
    let spec = dir.join(format!("{name}.json"));
    std::fs::write(&spec, json).unwrap();
    let out = dir.join(format!("{name}.eam"));
    let r = edgeae(&[
        "pack",
        spec.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    out
}

#[test]
fn flash_refuses_before_touching_a_probe() {
    let d = dir();
    let small = model(&d, "small", 8, 2);
    let s = small.to_str().unwrap();

    // 2 x 200 x 100 weights = 160 KB > the F411's 128 KiB model sector.
    let big = model(&d, "big", 200, 100);
    fails_with(
        &edgeae(&[
            "flash",
            "--model",
            big.to_str().unwrap(),
            "--chip",
            "STM32F411RETx",
        ]),
        &["big.eam", "too small", "0x8060000", "nothing was written"],
    );

    let mut bytes = std::fs::read(&small).unwrap();
    // The version after the newest this build reads.
    let next = model_format::FORMAT_VERSION + 1;
    bytes[4..6].copy_from_slice(&next.to_le_bytes());
    let future = d.join("future.eam");
    std::fs::write(&future, &bytes).unwrap();
    fails_with(
        &edgeae(&[
            "flash",
            "--model",
            future.to_str().unwrap(),
            "--chip",
            "STM32F411RETx",
        ]),
        &[
            "future.eam",
            &format!("version {next}"),
            &format!("reads versions 1 to {}", next - 1),
            "nothing was written",
        ],
    );

    let mut bytes = std::fs::read(&small).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    let corrupt = d.join("corrupt.eam");
    std::fs::write(&corrupt, &bytes).unwrap();
    fails_with(
        &edgeae(&[
            "flash",
            "--model",
            corrupt.to_str().unwrap(),
            "--chip",
            "STM32F411RETx",
        ]),
        &["corrupt.eam", "not a valid model", "nothing was written"],
    );

    fails_with(
        &edgeae(&["flash", "--model", s, "--chip", "ATSAMD21"]),
        &["ATSAMD21", "STM32F411RETx"],
    );

    // A valid model that fits: this build has no probe support, or (with
    // the feature) no probe is connected here.
    let out = edgeae(&["flash", "--model", s, "--chip", "stm32f411retx"]);
    fails_with(&out, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("without probe support") || err.contains("no debug probe"),
        "{err}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}
