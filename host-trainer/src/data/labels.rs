//! Class labels for a classifier: a column of the data CSV, or an IDX label
//! file (`00 00 08 01`, a big-endian `u32` count, one unsigned byte per
//! label: the Fashion-MNIST `*-labels-idx1-ubyte` files, gzipped or not).
//!
//! A class is an integer from 0 to [`MAX_CLASSES`]` - 1`. Every error is
//! one sentence that names the file and, for a CSV, the line.

use std::path::Path;

use anyhow::{Result, bail};

use super::csv::counted;

/// The most classes a classifier head has (labels 0 to 63).
pub const MAX_CLASSES: usize = model_format::MAX_CLASSES;

/// The labels of one CSV column, and the CSV without that column (what the
/// data loader reads as the channels). Rows are the loader's rows: lines
/// holding only whitespace are skipped by both.
pub fn split_csv_column(path: &Path, bytes: &[u8], column: &str) -> Result<(Vec<u32>, Vec<u8>)> {
    let file = path.display();
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(::csv::Trim::All)
        .from_reader(bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes));
    let header = reader
        .byte_headers()
        .map_err(|e| anyhow::anyhow!("`{file}` is not a CSV file with a header row: {e}"))?
        .clone();
    let Some(at) = header.iter().position(|h| h == column.as_bytes()) else {
        bail!("`{file}` has no column `{column}` to take the class labels from");
    };
    let mut writer = ::csv::Writer::from_writer(Vec::new());
    let others = |r: &::csv::ByteRecord| -> ::csv::ByteRecord {
        r.iter()
            .enumerate()
            .filter(|(i, _)| *i != at)
            .map(|(_, f)| f)
            .collect()
    };
    let written = |e: ::csv::Error| anyhow::anyhow!("cannot copy `{file}`: {e}");
    writer
        .write_byte_record(&others(&header))
        .map_err(written)?;
    let mut labels = Vec::new();
    let mut record = ::csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => bail!("`{file}` is not valid CSV: {e}"),
        }
        if record.len() == 1 && record.as_slice().is_empty() {
            continue;
        }
        let line = record.position().map_or(0, ::csv::Position::line);
        let cell = record.get(at).unwrap_or_default();
        let text = String::from_utf8_lossy(cell);
        labels.push(class_of(&text).map_err(|why| {
            anyhow::anyhow!(
                "`{file}`: line {line}, column {} (`{column}`): {why}",
                at + 1
            )
        })?);
        writer
            .write_byte_record(&others(&record))
            .map_err(written)?;
    }
    let rest = writer
        .into_inner()
        .map_err(|e| anyhow::anyhow!("cannot copy `{file}`: {e}"))?;
    Ok((labels, rest))
}

/// A class from a cell's text; the error ends a sentence.
fn class_of(text: &str) -> Result<u32, String> {
    if text.is_empty() {
        return Err("the class label is missing, expected an integer from 0 to 63".to_owned());
    }
    match text.parse::<u32>() {
        Ok(c) if (c as usize) < MAX_CLASSES => Ok(c),
        Ok(c) => Err(format!(
            "class {c} is more than the head allows: at most {MAX_CLASSES} classes, 0 to {}",
            MAX_CLASSES - 1
        )),
        Err(_) => Err(format!(
            "`{text}` is not a class label, expected an integer from 0 to {}",
            MAX_CLASSES - 1
        )),
    }
}

/// The labels of an IDX label file (gzipped or not).
pub fn load_idx(path: &Path) -> Result<Vec<u32>> {
    let file = path.display();
    let raw = super::files::read(path)?;
    let bytes = if raw.starts_with(&super::GZIP_MAGIC) {
        super::gunzip(path, &raw)?
    } else {
        raw
    };
    let Some((&[z0, z1, ty, dims], rest)) = bytes.split_first_chunk::<4>() else {
        bail!("`{file}` is too short for an IDX label file: expected at least 8 header bytes");
    };
    if [z0, z1, ty, dims] != [0, 0, 0x08, 1] {
        bail!(
            "`{file}` is not an IDX label file: expected it to start with 00 00 08 01, found {z0:02x} {z1:02x} {ty:02x} {dims:02x}"
        );
    }
    let Some((count, labels)) = rest.split_first_chunk::<4>() else {
        bail!("`{file}`: the IDX header is truncated: expected 8 bytes");
    };
    let count = u32::from_be_bytes(*count) as usize;
    if labels.len() != count {
        bail!(
            "`{file}`: the IDX header says {}, but {} follow",
            counted(count, "label"),
            counted(labels.len(), "byte")
        );
    }
    if let Some((i, &c)) = labels
        .iter()
        .enumerate()
        .find(|(_, c)| usize::from(**c) >= MAX_CLASSES)
    {
        bail!(
            "`{file}`: label {} is class {c}, more than the head allows: at most {MAX_CLASSES} classes, 0 to {}",
            i + 1,
            MAX_CLASSES - 1
        );
    }
    Ok(labels.iter().map(|&c| u32::from(c)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> Result<(Vec<u32>, Vec<u8>)> {
        split_csv_column(Path::new("x.csv"), text.as_bytes(), "state")
    }

    #[test]
    fn a_column_becomes_labels_and_leaves_the_rest() {
        let (labels, rest) = split("a,state,b\n1.5,2,3\n\n4,0,5\n").unwrap();
        assert_eq!(labels, vec![2, 0]);
        assert_eq!(String::from_utf8(rest).unwrap(), "a,b\n1.5,3\n4,5\n");
    }

    #[test]
    fn bad_labels_name_the_file_and_line() {
        let e = split("a,state\n1,2\n1,2.5\n").unwrap_err().to_string();
        assert!(e.contains("`x.csv`: line 3") && e.contains("`2.5`"), "{e}");
        let e = split("a,state\n1,\n").unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("missing"), "{e}");
        let e = split("a,state\n1,64\n").unwrap_err().to_string();
        assert!(e.contains("more than the head allows"), "{e}");
        let e = split("a,b\n1,2\n").unwrap_err().to_string();
        assert!(e.contains("no column `state`"), "{e}");
    }

    #[test]
    fn idx_labels_load_and_are_checked() {
        let dir = std::env::temp_dir().join(format!("edgeae-labels-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("l.idx");
        std::fs::write(&p, [0, 0, 8, 1, 0, 0, 0, 3, 1, 0, 9]).unwrap();
        assert_eq!(load_idx(&p).unwrap(), vec![1, 0, 9]);
        std::fs::write(&p, [0, 0, 8, 1, 0, 0, 0, 3, 1, 0]).unwrap();
        assert!(load_idx(&p).unwrap_err().to_string().contains("3 labels"));
        std::fs::write(&p, [0, 0, 8, 1, 0, 0, 0, 1, 200]).unwrap();
        assert!(
            load_idx(&p)
                .unwrap_err()
                .to_string()
                .contains("more than the head allows")
        );
        std::fs::write(&p, [0, 0, 8, 3, 0, 0, 0, 1, 2]).unwrap();
        assert!(
            load_idx(&p)
                .unwrap_err()
                .to_string()
                .contains("not an IDX label file")
        );
    }
}
