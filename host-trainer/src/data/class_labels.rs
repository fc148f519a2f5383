//! Class labels for the points of a codings map (`edgeae embed --labels`
//! or `--labels-file`) and for a classifier (`edgeae train --kind
//! classifier`): a CSV column of whole numbers, or an IDX label
//! file (`00 00 08 01`, a big-endian `u32` count, then one unsigned byte per
//! label, as Fashion-MNIST's `*-labels-idx1-ubyte.gz`). Both give one class
//! per row of the data; a window takes the class of its last row.
//!
//! Every error is one sentence naming the file.

use std::path::Path;

use anyhow::{Result, bail};

use super::csv::{counted, load_csv_with_class};
use super::idx::{be_u32, idx_type_name};
use super::{LoadOptions, Table, load, load_plain, read_plain};

/// The most classes a classifier head has (labels 0 to 63).
pub const MAX_CLASSES: usize = model_format::MAX_CLASSES;

/// Header length of a one-dimensional IDX file: magic plus one size.
const IDX1_HEADER_LEN: usize = 4 + 4;

/// Where the class labels come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassSource<'a> {
    /// A column of the CSV data file, by its exact name.
    Column(&'a str),
    /// An IDX label file with one label per row (image) of the data.
    IdxFile(&'a Path),
}

/// Loads `data_path` (as [`load`] does) and, with `source`, one class per
/// row. A class column is not a channel of the returned table.
pub fn load_with_classes(
    data_path: &Path,
    opts: LoadOptions,
    source: Option<ClassSource<'_>>,
) -> Result<(Table, Option<Vec<u16>>)> {
    match source {
        None => Ok((load(data_path, opts)?, None)),
        Some(ClassSource::Column(name)) => {
            let plain = read_plain(data_path)?;
            if plain.starts_with(&[0, 0]) {
                // Parsed only for its own errors: an IDX file has no columns.
                load_plain(data_path, &plain, opts)?;
                bail!(
                    "`{}` holds IDX images, which have no column `{name}`: give the class labels with --labels-file",
                    data_path.display()
                );
            }
            let (table, classes) = load_csv_with_class(data_path, &plain, opts, Some(name))?;
            Ok((table, Some(classes)))
        }
        Some(ClassSource::IdxFile(labels_path)) => {
            let table = load(data_path, opts)?;
            let classes = load_idx_labels(labels_path)?;
            if classes.len() != table.rows() {
                bail!(
                    "`{}` holds {}, but `{}` has {}: expected one label per row",
                    labels_path.display(),
                    counted(classes.len(), "label"),
                    data_path.display(),
                    counted(table.rows(), "row")
                );
            }
            Ok((table, Some(classes)))
        }
    }
}

/// Reads an IDX label file (gzip-compressed or not).
pub fn load_idx_labels(path: &Path) -> Result<Vec<u16>> {
    parse_idx_labels(path, &read_plain(path)?)
}

/// Parses the bytes of an uncompressed IDX label file; `path` is used only
/// in messages.
pub fn parse_idx_labels(path: &Path, bytes: &[u8]) -> Result<Vec<u16>> {
    let file = path.display();
    let Some(&[z0, z1, ty, ndims]) = bytes.first_chunk::<4>() else {
        bail!(
            "`{file}` is too short for an IDX label file: expected at least 8 header bytes, found {}",
            bytes.len()
        );
    };
    if z0 != 0 || z1 != 0 {
        bail!(
            "`{file}` is not an IDX label file: expected it to start with 00 00 08 01, found {z0:02x} {z1:02x} {ty:02x} {ndims:02x}"
        );
    }
    if ty != 0x08 {
        bail!(
            "`{file}`: IDX element type 0x{ty:02x} ({}) is not supported for labels, expected 0x08 (unsigned byte)",
            idx_type_name(ty)
        );
    }
    if ndims != 1 {
        bail!(
            "`{file}` is IDX data of {ndims} dimensions, not labels: expected 1 dimension (one class per image)"
        );
    }
    let Some(count) = be_u32(bytes, 4) else {
        bail!(
            "`{file}`: the IDX header is truncated: expected {IDX1_HEADER_LEN} bytes, found {}",
            bytes.len()
        );
    };
    let data = bytes.get(IDX1_HEADER_LEN..).unwrap_or_default();
    if data.len() != count {
        bail!(
            "`{file}`: the IDX header says {}, but {} follow",
            counted(count, "label"),
            counted(data.len(), "byte")
        );
    }
    Ok(data.iter().map(|&b| u16::from(b)).collect())
}

/// The class of each window: that of its last row.
pub fn window_classes(classes: &[u16], starts: &[usize], window: usize) -> Vec<u16> {
    starts
        .iter()
        .map(|&s| {
            classes
                .get(s + window.max(1) - 1)
                .copied()
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(count: u32, data: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 0, 0x08, 1];
        b.extend_from_slice(&count.to_be_bytes());
        b.extend_from_slice(data);
        b
    }

    fn err(bytes: &[u8]) -> String {
        let msg = parse_idx_labels(Path::new("l.idx"), bytes)
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("`l.idx`"), "{msg}");
        msg
    }

    #[test]
    fn idx_labels_parse_and_refuse_other_files() {
        let ok = parse_idx_labels(Path::new("l.idx"), &labels(3, &[9, 0, 4])).unwrap();
        assert_eq!(ok, [9, 0, 4]);
        assert!(err(&labels(3, &[1, 2])).contains("says 3 labels, but 2 bytes follow"));
        assert!(err(&labels(1, &[1, 2])).contains("says 1 label, but 2 bytes follow"));
        assert!(err(b"ab").contains("too short"));
        assert!(err(b"abcdefgh").contains("not an IDX label file"));
        assert!(err(&[0, 0, 8, 3, 0, 0, 0, 0]).contains("3 dimensions, not labels"));
        assert!(err(&[0, 0, 0x0d, 1, 0, 0, 0, 0]).contains("32-bit float"));
        assert!(err(&[0, 0, 8, 1, 0]).contains("truncated"));
    }

    #[test]
    fn class_column_is_read_and_is_not_a_channel() {
        let text = "a,class,b\n1,3,2\n4,0.0,5\n";
        let (t, k) = load_csv_with_class(
            Path::new("x.csv"),
            text.as_bytes(),
            LoadOptions::default(),
            Some("class"),
        )
        .unwrap();
        assert_eq!(t.channels, ["a", "b"]);
        assert_eq!(t.values, [1.0, 2.0, 4.0, 5.0]);
        assert_eq!(k, [3, 0]);
        // A `label` column named as the class column holds classes, not 0/1.
        let (t, k) = load_csv_with_class(
            Path::new("x.csv"),
            b"a,label\n1,7\n",
            LoadOptions::default(),
            Some("label"),
        )
        .unwrap();
        assert_eq!((t.labels, k), (None, vec![7]));
    }

    #[test]
    fn bad_class_columns_are_one_sentence() {
        let bad = |text: &str, name: &str| {
            load_csv_with_class(
                Path::new("x.csv"),
                text.as_bytes(),
                LoadOptions::default(),
                Some(name),
            )
            .unwrap_err()
            .to_string()
        };
        assert_eq!(
            bad("a,class\n1,2\n3,x\n", "class"),
            "`x.csv`: line 3, column 2 (`class`): class label `x` is not a whole number from 0 to 65535"
        );
        assert!(bad("a,class\n1,2.5\n", "class").contains("`2.5` is not a whole number"));
        assert!(bad("a,class\n1,-1\n", "class").contains("`-1` is not a whole number"));
        assert!(bad("a,class\n1,\n", "class").contains("the class label is missing"));
        assert_eq!(
            bad("a,b\n1,2\n", "class"),
            "`x.csv` has no column `class` for the class labels, expected one of its columns: a, b"
        );
    }

    #[test]
    fn a_window_takes_the_class_of_its_last_row() {
        let classes = [0, 0, 1, 1, 2, 2];
        assert_eq!(window_classes(&classes, &[0, 2, 3], 3), [1, 2, 2]);
        assert_eq!(window_classes(&classes, &[0, 5], 1), [0, 2]);
    }
}
