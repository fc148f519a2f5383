//! File helpers for the CLI edge: reads that say which file failed, and
//! writes that never leave a half-written file where a good one was.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use anyhow::{Context, Result};

/// Reads a whole file; the error names it.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("cannot read `{}`", path.display()))
}

/// Writes `bytes` to `path` atomically: to a temporary name in the same
/// directory, flushed to disk, then renamed over `path`. If anything fails,
/// the previous contents of `path` are untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .with_context(|| format!("`{}` is not a file path", path.display()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = dir.join(tmp_name);
    let result = (|| -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write `{}`", path.display()))
}

/// Removes what [`write_atomic`] leaves in `dir` when its process is killed
/// between writing and renaming: files named `.NAME.PID.tmp` of other
/// processes. Returns how many it removed; a folder it cannot read is left
/// alone.
pub fn remove_stale_temporaries(dir: &Path) -> usize {
    let own = format!(".{}.tmp", std::process::id());
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let stale = name.starts_with('.')
            && !name.ends_with(&own)
            && name
                .strip_suffix(".tmp")
                .and_then(|rest| rest.rsplit_once('.'))
                .is_some_and(|(_, pid)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()));
        if stale && fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

pub(crate) fn csv_bytes(
    header: &[String],
    rows: impl Iterator<Item = Vec<String>>,
) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header)?;
    for r in rows {
        w.write_record(&r)?;
    }
    w.into_inner().map_err(|e| anyhow!("cannot write CSV: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_temporaries_of_other_processes_go() {
        let dir = std::env::temp_dir().join(format!("edgeae-fsx-stale-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let own = format!(".model.eam.{}.tmp", std::process::id());
        for name in [
            ".checkpoint.bin.4242.tmp",
            own.as_str(),
            "data.tmp",
            ".hidden",
            "model.eam",
        ] {
            fs::write(dir.join(name), b"x").unwrap();
        }
        assert_eq!(remove_stale_temporaries(&dir), 1);
        let mut left: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        let mut want = vec![own, "data.tmp".into(), ".hidden".into(), "model.eam".into()];
        want.sort();
        assert_eq!(left, want);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("edgeae-fsx-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("m.eam");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        // A write into a missing directory fails and names the file.
        let err = write_atomic(&dir.join("missing/m.eam"), b"x").unwrap_err();
        assert!(format!("{err:#}").contains("missing/m.eam"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
