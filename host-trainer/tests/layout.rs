//! The crate's arrows run one way: from the commands (and the command-line
//! types they take) down to the data. A module may use the modules listed after it here,
//! never one listed before it (test modules, `tests.rs` and `gradcheck*.rs`
//! files, and comments aside).

use std::path::Path;

/// Top to bottom.
const LAYERS: &[&str] = &[
    "cmd", "cli", "embed", "train", "quant", "board", "score", "synth", "plots", "nn", "data",
    "text", "rng",
];

/// The non-test, non-comment source of a module (a file or a folder).
fn source(src: &Path, module: &str) -> Vec<(String, String)> {
    let mut files = Vec::new();
    let file = src.join(format!("{module}.rs"));
    if file.is_file() {
        files.push(file);
    }
    let mut stack = vec![src.join(module)];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs")
                && !p.ends_with("tests.rs")
                && !p
                    .file_stem()
                    .is_some_and(|s| s.to_string_lossy().starts_with("gradcheck"))
            {
                files.push(p);
            }
        }
    }
    files
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).unwrap();
            let code: Vec<&str> = text
                .lines()
                .take_while(|l| l.trim() != "#[cfg(test)]")
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect();
            (f.display().to_string(), code.join("\n"))
        })
        .collect()
}

#[test]
fn modules_only_use_the_modules_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = 0;
    let mut wrong = Vec::new();
    for (i, module) in LAYERS.iter().enumerate() {
        let files = source(&src, module);
        assert!(!files.is_empty(), "no source for `{module}`");
        for (file, code) in files {
            for above in &LAYERS[..i] {
                let needle = format!("crate::{above}::");
                let alone = format!("crate::{above};");
                if code.contains(&needle) || code.contains(&alone) {
                    wrong.push(format!("{file} uses `{above}`"));
                }
            }
            found += LAYERS[i + 1..]
                .iter()
                .filter(|below| code.contains(&format!("crate::{below}")))
                .count();
        }
    }
    assert!(
        wrong.is_empty(),
        "arrows pointing up:\n{}",
        wrong.join("\n")
    );
    // The check sees the arrows that do exist.
    assert!(found > 20, "only {found} uses of lower modules found");
    // Every module of the crate is in the list.
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_stem().unwrap().to_str().unwrap().to_string();
        if name != "lib" && name != "main" {
            assert!(
                LAYERS.contains(&name.as_str()),
                "`{name}` is not placed in LAYERS"
            );
        }
    }
}
