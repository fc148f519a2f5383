//! Helpers shared by the CLI tests: run the binary, a fresh temporary
//! folder, and the checks every command's output gets.
#![allow(dead_code)] // each test file uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the `edgeae` binary built for these tests.
pub fn edgeae(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgeae"))
        .args(args)
        .output()
        .unwrap()
}

/// An empty temporary folder for one test of this process.
pub fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("edgeae-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A path as a command-line argument.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The command succeeded; its stdout.
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The command failed with exit code 1 and one line `error: ...` holding
/// every needle, and no panic.
pub fn fails_cleanly(out: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected: {err}"
    );
    assert!(
        err.starts_with("error: ") && !err.contains("panicked"),
        "{err}"
    );
    for n in needles {
        assert!(err.contains(n), "`{n}` missing from: {err}");
    }
}
