//! Data files: loading training and scoring data, and turning it into model inputs.
//! `csv` and `idx` parse the two formats, `windows` cuts tables into model
//! windows, `normalize` standardises channels, and `files` and `model_file`
//! read and write files safely.
//!
//! Loading training and scoring data, and turning it into model inputs.
//!
//! # Files
//!
//! [`load`] reads a file, decompresses it when it starts with the gzip magic
//! bytes `1f 8b` (whatever its name), and then looks at its first bytes:
//!
//! - **IDX** (the MNIST / Fashion-MNIST format), recognised by two zero bytes:
//!   `00 00 08 03`, three big-endian `u32` sizes (count, rows, columns), then
//!   one unsigned byte per pixel. Each image becomes one row of `rows * columns`
//!   channels named `px0`, `px1`, ... (row-major), scaled to [0, 1]. Label files
//!   (one dimension) and element types other than unsigned bytes are refused.
//! - **CSV**, anything else: a header row, then one frame per line in time
//!   order. Column names are trimmed. A `timestamp` column (any case) is
//!   ignored; one `is_anomaly` or `label` column (any case) holds 0 or 1 per row;
//!   every other column is a sensor channel whose cells must be numbers. NaN
//!   and infinity are refused unless [`LoadOptions::allow_non_finite`] is set
//!   (scoring streams, where they are faults to report). Blank lines are
//!   skipped.
//!
//! Every error is one sentence that names the file and, where it applies, the
//! line (1-based, the header is line 1), the column (1-based, with its name)
//! and what was expected.
//!
//! # Model inputs
//!
//! A model sees `window` consecutive rows at a time: [`window_starts`] picks
//! the first row of each window every `hop` rows, [`gather`] copies the
//! windows time-major into one matrix, [`window_labels`] marks the windows
//! that contain an anomalous row, and [`Normalizer`] standardises each channel.
//! [`class_labels`] reads class labels for `embed` and the classifier (a CSV
//! column or an IDX label file).

pub(crate) mod class_labels;
mod csv;
pub(crate) mod files;
mod idx;
pub(crate) mod model_file;
mod normalize;
mod windows;

pub use csv::load_csv_bytes;
pub use idx::load_idx_bytes;
pub use normalize::{Normalizer, is_unit_range, normalizer};
pub use windows::{gather, window_labels, window_starts};

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use firmware::Model;

use crate::text::preview;

/// The first two bytes of every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Where the data came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// CSV with a header row.
    Csv,
    /// IDX image file: `count` images of `height` x `width` pixels, scaled to [0, 1].
    Idx {
        /// Pixels per image row (the IDX file's third size).
        width: usize,
        /// Image rows (the IDX file's second size).
        height: usize,
    },
}

/// A loaded table: `rows` frames of `channels` samples each.
#[derive(Debug, Clone)]
pub struct Table {
    /// The file the table was loaded from (as given, for messages).
    pub path: PathBuf,
    /// The file format.
    pub source: Source,
    /// Channel names (CSV header names without timestamp/label columns; for IDX: "px0", "px1", ...).
    pub channels: Vec<String>,
    /// rows x channels values, row-major.
    pub values: Vec<f32>,
    /// One 0/1 label per row, if the CSV had an `is_anomaly` or `label` column.
    pub labels: Option<Vec<u8>>,
}

impl Table {
    /// Number of rows (frames, or images for IDX); 0 when there are no channels.
    pub fn rows(&self) -> usize {
        self.values
            .len()
            .checked_div(self.n_channels())
            .unwrap_or(0)
    }

    /// Number of channels (values per row).
    pub fn n_channels(&self) -> usize {
        self.channels.len()
    }

    /// The values of row `i`, or `None` past the last row.
    pub fn row(&self, i: usize) -> Option<&[f32]> {
        if i >= self.rows() {
            return None;
        }
        let n = self.n_channels();
        let start = i.checked_mul(n)?;
        self.values.get(start..start.checked_add(n)?)
    }
}

/// Options for loading.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Accept NaN / inf cells (for scoring streams, where they are faults). When false,
    /// a non-finite cell is an error naming line and column.
    pub allow_non_finite: bool,
}

/// Loads CSV or IDX (optionally gzip-compressed, detected by the gzip magic bytes 1f 8b, not the
/// file name). IDX is recognised by its magic (two zero bytes, then type byte 0x08 = unsigned byte,
/// then the number of dimensions); anything else is parsed as CSV.
pub fn load(path: &Path, opts: LoadOptions) -> Result<Table> {
    load_plain(path, &read_plain(path)?, opts)
}

/// The bytes of the file at `path`, gunzipped if they start with `1f 8b`.
fn read_plain(path: &Path) -> Result<Vec<u8>> {
    let bytes =
        std::fs::read(path).map_err(|e| anyhow!("cannot read `{}`: {e}", path.display()))?;
    if bytes.starts_with(&GZIP_MAGIC) {
        gunzip(path, &bytes)
    } else {
        Ok(bytes)
    }
}

/// Does what [`load`] does with bytes already read from `path` (which is
/// used only in messages): gunzips them if they start with `1f 8b`, then
/// parses them as IDX if they start with two zero bytes, else as CSV.
pub fn load_bytes(path: &Path, bytes: &[u8], opts: LoadOptions) -> Result<Table> {
    if bytes.starts_with(&GZIP_MAGIC) {
        let plain = gunzip(path, bytes)?;
        load_plain(path, &plain, opts)
    } else {
        load_plain(path, bytes, opts)
    }
}

/// Picks the parser for uncompressed bytes.
fn load_plain(path: &Path, bytes: &[u8], opts: LoadOptions) -> Result<Table> {
    if bytes.starts_with(&[0, 0]) {
        load_idx_bytes(path, bytes)
    } else {
        load_csv_bytes(path, bytes, opts)
    }
}

/// Decompresses one or more concatenated gzip members.
fn gunzip(path: &Path, bytes: &[u8]) -> Result<Vec<u8>> {
    // The trailer's ISIZE (size mod 2^32) is a good capacity hint; cap it by
    // deflate's best ratio so a corrupt trailer cannot ask for gigabytes.
    let hint = bytes
        .last_chunk::<4>()
        .and_then(|b| usize::try_from(u32::from_le_bytes(*b)).ok())
        .unwrap_or(0)
        .min(bytes.len().saturating_mul(1032));
    let mut out = Vec::with_capacity(hint);
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .map_err(|e| anyhow!("`{}` is not valid gzip data: {e}", path.display()))?;
    Ok(out)
}

/// FNV-1a 64-bit hash, for the provenance record of training data.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Loads a data file for a model and checks the channel count.
pub fn load_for_model(
    model_path: &Path,
    model: &Model<'_>,
    data_path: &Path,
    opts: LoadOptions,
) -> Result<Table> {
    let table = load(data_path, opts)?;
    check_channels(model_path, model, data_path, &table)?;
    Ok(table)
}

/// Checks that `table` (loaded from `data_path`) has the channel count of
/// the model at `model_path`.
pub fn check_channels(
    model_path: &Path,
    model: &Model<'_>,
    data_path: &Path,
    table: &Table,
) -> Result<()> {
    let want = model.input().channels as usize;
    if table.n_channels() != want {
        bail!(
            "`{}` expects {want} channels per row, `{}` has {} ({})",
            model_path.display(),
            data_path.display(),
            table.n_channels(),
            preview(&table.channels)
        );
    }
    Ok(())
}

/// Image width, height and channels of a model's inputs, when they are
/// images: those of IDX data, of a 2-D convolution's input map as the
/// first layer, or of a square of at least 8x8 channels in windows of one
/// frame (a dense model of images).
pub fn image_shape(model: &Model<'_>, table: Option<&Table>) -> Option<(usize, usize, usize)> {
    if let Some(Table {
        source: Source::Idx { width, height },
        ..
    }) = table
    {
        return Some((*width, *height, 1));
    }
    if let Some(model_format::Layer::Conv(c)) = model.layers().first() {
        return (c.shape.h > 1).then_some((
            c.shape.w as usize,
            c.shape.h as usize,
            c.shape.c as usize,
        ));
    }
    let channels = model.input().channels as usize;
    let side = (channels as f64).sqrt().round() as usize;
    (model.input().window == 1 && side >= 8 && side * side == channels).then_some((side, side, 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn csv(text: &str) -> Result<Table> {
        load_csv_bytes(Path::new("x.csv"), text.as_bytes(), LoadOptions::default())
    }

    fn csv_err(text: &str) -> String {
        let msg = csv(text).unwrap_err().to_string();
        assert!(msg.contains("`x.csv`"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
        msg
    }

    fn temp_path(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("edgeae-data-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    /// An IDX header for `count` images of `h` x `w`, then `data`.
    fn idx(count: u32, h: u32, w: u32, data: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 0, 0x08, 3];
        for n in [count, h, w] {
            b.extend_from_slice(&n.to_be_bytes());
        }
        b.extend_from_slice(data);
        b
    }

    fn idx_err(bytes: &[u8]) -> String {
        let msg = load_idx_bytes(Path::new("img.idx"), bytes)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("`img.idx`"), "{msg}");
        msg
    }

    fn table(rows: usize, channels: usize, labels: Option<Vec<u8>>) -> Table {
        Table {
            path: PathBuf::from("t.csv"),
            source: Source::Csv,
            channels: (0..channels).map(|c| format!("c{c}")).collect(),
            values: (0..rows * channels).map(|v| v as f32).collect(),
            labels,
        }
    }

    #[test]
    fn csv_with_timestamp_channels_and_label() {
        let t = csv("timestamp,accel_x,accel_y,is_anomaly\n0,1.5,-2,0\n1,3,4e1,1\n2,0.25,5,0.0\n")
            .unwrap();
        assert_eq!(t.path, PathBuf::from("x.csv"));
        assert_eq!(t.source, Source::Csv);
        assert_eq!(t.channels, ["accel_x", "accel_y"]);
        assert_eq!(t.values, [1.5, -2.0, 3.0, 40.0, 0.25, 5.0]);
        assert_eq!(t.labels, Some(vec![0, 1, 0]));
        assert_eq!(t.rows(), 3);
        assert_eq!(t.n_channels(), 2);
        assert_eq!(t.row(1), Some(&[3.0, 40.0][..]));
        assert_eq!(t.row(3), None);
        assert_eq!(t.row(usize::MAX), None);
    }

    #[test]
    fn csv_names_are_trimmed_and_special_names_ignore_case() {
        let t = csv(" TimeStamp , a ,  Label \n1, 2 ,1.0\n2,3, 1e0 \n3,4,-0\n").unwrap();
        assert_eq!(t.channels, ["a"]);
        assert_eq!(t.values, [2.0, 3.0, 4.0]);
        assert_eq!(t.labels, Some(vec![1, 1, 0]));
    }

    #[test]
    fn csv_without_label_column_has_no_labels() {
        let t = csv("a,b\n1,2\n").unwrap();
        assert_eq!(t.labels, None);
        assert_eq!(t.channels, ["a", "b"]);
    }

    #[test]
    fn csv_quotes_crlf_bom_and_blank_lines() {
        let t = load_csv_bytes(
            Path::new("x.csv"),
            b"\xef\xbb\xbf\"a\",b\r\n\"1\",2\r\n\r\n   \r\n3,\" 4 \"\r\n\n",
            LoadOptions::default(),
        )
        .unwrap();
        assert_eq!(t.channels, ["a", "b"]);
        assert_eq!(t.values, [1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn csv_line_numbers_count_blank_lines() {
        let msg = csv_err("a,b\n1,2\n\n3,x\n");
        assert_eq!(msg, "`x.csv`: line 4, column 2 (`b`): `x` is not a number");
    }

    #[test]
    fn csv_line_numbers_with_crlf_cr_quotes_and_leading_blank_lines() {
        let cases = [
            ("a,b\r\n1,2\r\n\r\n\r\n3,x\r\n", 5),
            ("a,b\r\n1,x\r\n", 2),
            ("a,b\r1,2\r\r3,x\r", 4),
            ("\n\na,b\n1,2\n   \n3,x\n", 6),
            ("a,b\n\"1\n\n\",2\n3,x\n", 5),
            ("a,b\n1,2\n  \n\n\t\n3,4\n5,x", 7),
        ];
        for (text, line) in cases {
            let msg = csv_err(text);
            assert_eq!(
                msg,
                format!("`x.csv`: line {line}, column 2 (`b`): `x` is not a number"),
                "{text:?}"
            );
        }
        let msg = csv_err("\r\n\r\na,a\n1,2\n");
        assert!(msg.contains("columns 1 and 2"), "{msg}");
        let msg = csv_err("\n\n,a\n1,2\n");
        assert!(msg.contains("line 3, column 1 has no name"), "{msg}");
        let msg = csv_err("a,b\r\n1,2\r\n\r\n3\r\n");
        assert!(msg.contains("line 4 has 1 field"), "{msg}");
    }

    #[test]
    fn csv_empty_file() {
        for text in ["", "  \n\n\t\r\n"] {
            assert_eq!(
                csv_err(text),
                "`x.csv` is empty: expected a header row and data rows"
            );
        }
    }

    #[test]
    fn csv_header_without_rows() {
        for text in ["a,b", "a,b\n", "a,b\n\n  \n"] {
            assert_eq!(csv_err(text), "`x.csv` has a header but no data rows");
        }
    }

    #[test]
    fn csv_without_channel_columns() {
        let msg = csv_err("timestamp,is_anomaly\n1,0\n");
        assert!(msg.contains("no sensor channel columns"), "{msg}");
    }

    #[test]
    fn csv_field_count_mismatch() {
        let msg = csv_err("a,b,c\n1,2,3\n4,5\n");
        assert_eq!(
            msg,
            "`x.csv`: line 3 has 2 fields, expected 3 like the header"
        );
        let msg = csv_err("a,b\n1,2\n1,2,3\n");
        assert!(msg.contains("line 3 has 3 fields, expected 2"), "{msg}");
        let msg = csv_err("a,b,c\n1\n");
        assert!(msg.contains("line 2 has 1 field, expected 3"), "{msg}");
    }

    #[test]
    fn csv_non_numeric_cell() {
        let mut text = String::from("timestamp,accel_x,accel_z\n");
        for i in 0..10 {
            text.push_str(&format!("{i},1,2\n"));
        }
        text.push_str("10,1,abc\n");
        assert_eq!(
            csv_err(&text),
            "`x.csv`: line 12, column 3 (`accel_z`): `abc` is not a number"
        );
    }

    #[test]
    fn csv_long_cell_is_shortened_in_message() {
        let long = "z".repeat(100);
        let msg = csv_err(&format!("a\n{long}\n"));
        assert!(
            msg.contains(&format!("`{}...` is not a number", "z".repeat(40))),
            "{msg}"
        );
    }

    #[test]
    fn csv_empty_cell_is_not_a_number() {
        let msg = csv_err("a,b\n1,2\n3,\n");
        assert_eq!(
            msg,
            "`x.csv`: line 3, column 2 (`b`): an empty cell is not a number"
        );
    }

    #[test]
    fn csv_bad_labels() {
        let mut text = String::from("t,a,b,is_anomaly\n");
        for _ in 0..5 {
            text.push_str("0,1,2,0\n");
        }
        text.push_str("0,1,2,2\n");
        assert_eq!(
            csv_err(&text),
            "`x.csv`: line 7, column 4 (`is_anomaly`): label `2` must be 0 or 1"
        );
        let msg = csv_err("a,label\n1,0.5\n");
        assert!(
            msg.contains("line 2, column 2 (`label`): label `0.5` must be 0 or 1"),
            "{msg}"
        );
        let msg = csv_err("a,label\n1,yes\n");
        assert!(
            msg.contains("line 2, column 2 (`label`): label `yes`"),
            "{msg}"
        );
        let msg = csv_err("a,label\n1,nan\n");
        assert!(msg.contains("label `nan` must be 0 or 1"), "{msg}");
        let msg = csv_err("a,label\n1,0\n2,\n");
        assert!(
            msg.contains("line 3, column 2 (`label`): the label is empty"),
            "{msg}"
        );
    }

    #[test]
    fn csv_duplicate_columns() {
        let msg = csv_err("a,b,a\n1,2,3\n");
        assert_eq!(
            msg,
            "`x.csv`: columns 1 and 3 of the header are both named `a`, expected unique column names"
        );
        // Duplicates are found after trimming.
        let msg = csv_err("a, b ,b\n1,2,3\n");
        assert!(msg.contains("columns 2 and 3"), "{msg}");
    }

    #[test]
    fn csv_two_label_columns() {
        let msg = csv_err("is_anomaly,a,Label\n0,1,0\n");
        assert!(msg.contains("two label columns"), "{msg}");
        assert!(msg.contains("column 1 (`is_anomaly`)"), "{msg}");
        assert!(msg.contains("column 3 (`Label`)"), "{msg}");
    }

    #[test]
    fn csv_unnamed_column() {
        let msg = csv_err(",a\n0,1\n");
        assert!(msg.contains("line 1, column 1 has no name"), "{msg}");
    }

    #[test]
    fn csv_non_utf8() {
        let opts = LoadOptions::default();
        let msg = load_csv_bytes(Path::new("x.csv"), b"a,b\n1,2\n3,\xff\n", opts)
            .unwrap_err()
            .to_string();
        assert_eq!(
            msg,
            "`x.csv`: line 3, column 2 (`b`): the cell is not valid UTF-8 text, expected a number"
        );
        let msg = load_csv_bytes(Path::new("x.csv"), b"a,\xc3\n1,2\n", opts)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("`x.csv`: line 1, column 2"), "{msg}");
        assert!(msg.contains("UTF-8"), "{msg}");
        // A timestamp column is never decoded, so odd bytes there are fine.
        let t = load_csv_bytes(Path::new("x.csv"), b"timestamp,a\n\xff,1\n", opts).unwrap();
        assert_eq!(t.values, [1.0]);
    }

    #[test]
    fn csv_non_finite_cells() {
        for cell in ["nan", "NaN", "inf", "-inf", "infinity", "1e40"] {
            let text = format!("a,b\n1,2\n3,{cell}\n");
            let msg = csv_err(&text);
            assert_eq!(
                msg,
                format!(
                    "`x.csv`: line 3, column 2 (`b`): `{cell}` is not a finite number, expected a finite value"
                )
            );
            let opts = LoadOptions {
                allow_non_finite: true,
            };
            let t = load_csv_bytes(Path::new("x.csv"), text.as_bytes(), opts).unwrap();
            assert_eq!(t.values.len(), 4);
            assert!(!t.values[3].is_finite());
        }
    }

    #[test]
    fn load_reads_plain_and_gzipped_csv_from_files() {
        let text = b"timestamp,a,label\n0,1,0\n1,2,1\n";
        let plain = temp_path("plain.csv");
        std::fs::write(&plain, text).unwrap();
        let t = load(&plain, LoadOptions::default()).unwrap();
        assert_eq!(t.values, [1.0, 2.0]);
        assert_eq!(t.labels, Some(vec![0, 1]));
        assert_eq!(t.path, plain);
        // Gzip is detected by content: this name says nothing about it.
        let gz = temp_path("gz.csv");
        std::fs::write(&gz, gzip(text)).unwrap();
        let g = load(&gz, LoadOptions::default()).unwrap();
        assert_eq!(g.values, t.values);
        assert_eq!(g.labels, t.labels);
    }

    #[test]
    fn load_errors_name_the_file() {
        let missing = temp_path("missing.csv");
        let msg = load(&missing, LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with(&format!("cannot read `{}`", missing.display())),
            "{msg}"
        );

        let mut corrupt = gzip(b"a\n1\n");
        let n = corrupt.len();
        corrupt[n / 2] ^= 0xff;
        corrupt.truncate(n - 3);
        let msg = load_bytes(Path::new("bad.gz"), &corrupt, LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("`bad.gz` is not valid gzip data"), "{msg}");

        let msg = load_bytes(Path::new("e.gz"), &gzip(b""), LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert_eq!(msg, "`e.gz` is empty: expected a header row and data rows");
    }

    #[test]
    fn idx_images() {
        let bytes = idx(2, 2, 3, &[0, 255, 51, 102, 153, 204, 1, 2, 3, 4, 5, 6]);
        let t = load_idx_bytes(Path::new("img.idx"), &bytes).unwrap();
        assert_eq!(
            t.source,
            Source::Idx {
                width: 3,
                height: 2
            }
        );
        assert_eq!(t.channels, ["px0", "px1", "px2", "px3", "px4", "px5"]);
        assert_eq!(t.rows(), 2);
        assert_eq!(t.labels, None);
        assert_eq!(t.row(0).unwrap(), [0.0, 1.0, 0.2, 0.4, 0.6, 0.8]);
        assert_eq!(t.values[6], 1.0 / 255.0);
        assert!(is_unit_range(&t.values));
        // Detected by content, plain and gzipped, whatever the name.
        for b in [bytes.clone(), gzip(&bytes)] {
            let u = load_bytes(Path::new("data.csv"), &b, LoadOptions::default()).unwrap();
            assert_eq!(u.values, t.values);
            assert_eq!(u.source, t.source);
        }
    }

    #[test]
    fn idx_errors() {
        let mut labels = vec![0, 0, 0x08, 1];
        labels.extend_from_slice(&3u32.to_be_bytes());
        labels.extend_from_slice(&[1, 2, 3]);
        let msg = idx_err(&labels);
        assert!(msg.contains("label file"), "{msg}");
        // Through `load_bytes`, too.
        let msg = load_bytes(Path::new("l.idx"), &gzip(&labels), LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("`l.idx` is an IDX label file"), "{msg}");

        let mut floats = idx(1, 1, 1, &[0, 0, 0, 0]);
        floats[2] = 0x0d;
        let msg = idx_err(&floats);
        assert!(msg.contains("type 0x0d (32-bit float)"), "{msg}");
        floats[2] = 0x42;
        assert!(idx_err(&floats).contains("0x42"));

        let msg = idx_err(&idx(2, 2, 2, &[0; 7]));
        assert!(msg.contains("(8 bytes), but 7 bytes follow"), "{msg}");
        let msg = idx_err(&idx(2, 2, 2, &[0; 10]));
        assert!(msg.contains("has 2 extra bytes after"), "{msg}");

        let msg = idx_err(&idx(2, 2, 2, &[])[..9]);
        assert!(
            msg.contains("header is truncated: expected 16 bytes, found 9"),
            "{msg}"
        );
        assert!(idx_err(&[0, 0]).contains("too short"));
        assert!(idx_err(&idx(0, 2, 2, &[])).contains("no images"));
        assert!(idx_err(&idx(1, 0, 2, &[])).contains("0 x 2"));

        let mut two_d = vec![0, 0, 0x08, 2];
        two_d.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 7]);
        assert!(idx_err(&two_d).contains("2 dimensions"));
        assert!(idx_err(&[1, 0, 8, 3]).contains("not an IDX file"));

        let huge = idx(u32::MAX, u32::MAX, u32::MAX, &[1, 2, 3]);
        let msg = idx_err(&huge);
        assert!(msg.contains("follow") || msg.contains("too large"), "{msg}");
    }

    #[test]
    fn fashion_mnist_t10k() {
        let path = Path::new("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz");
        if !path.exists() {
            // scripts/test installs Debian's dataset-fashion-mnist: in CI a
            // missing file is a failure, not a skip.
            assert!(
                std::env::var_os("CI").is_none(),
                "{} is missing: scripts/test installs dataset-fashion-mnist",
                path.display()
            );
            eprintln!("skipping: {} is not installed", path.display());
            return;
        }
        let t = load(path, LoadOptions::default()).unwrap();
        assert_eq!(t.rows(), 10_000);
        assert_eq!(t.n_channels(), 784);
        assert_eq!(
            t.source,
            Source::Idx {
                width: 28,
                height: 28
            }
        );
        assert_eq!(t.channels.last().map(String::as_str), Some("px783"));
        assert!(is_unit_range(&t.values));
        assert!(t.values.iter().any(|&v| v > 0.0));
        assert!(t.values.contains(&1.0));
    }

    #[test]
    fn window_starts_examples() {
        let p = Path::new("x.csv");
        assert_eq!(window_starts(p, 5, 2, 2).unwrap(), [0, 2]);
        assert_eq!(window_starts(p, 5, 2, 1).unwrap(), [0, 1, 2, 3]);
        assert_eq!(window_starts(p, 6, 2, 2).unwrap(), [0, 2, 4]);
        assert_eq!(window_starts(p, 4, 4, 3).unwrap(), [0]);
        assert_eq!(window_starts(p, 10, 3, 4).unwrap(), [0, 4]);
        assert_eq!(window_starts(p, 1, 1, 1).unwrap(), [0]);
    }

    #[test]
    fn window_starts_errors() {
        let p = Path::new("x.csv");
        assert_eq!(
            window_starts(p, 50, 64, 1).unwrap_err().to_string(),
            "window of 64 rows is longer than the data in `x.csv` (50 rows)"
        );
        assert_eq!(
            window_starts(p, 1, 2, 1).unwrap_err().to_string(),
            "window of 2 rows is longer than the data in `x.csv` (1 row)"
        );
        let msg = window_starts(p, 5, 0, 1).unwrap_err().to_string();
        assert!(
            msg.contains("`x.csv`") && msg.contains("window is 0 rows"),
            "{msg}"
        );
        let msg = window_starts(p, 5, 2, 0).unwrap_err().to_string();
        assert!(
            msg.contains("`x.csv`") && msg.contains("hop is 0 rows"),
            "{msg}"
        );
        assert!(window_starts(p, 0, 1, 1).is_err());
    }

    #[test]
    fn gather_is_time_major() {
        // 5 rows x 3 channels: row r, channel c holds 3r + c.
        let t = table(5, 3, None);
        let starts = window_starts(&t.path, t.rows(), 2, 2).unwrap();
        assert_eq!(starts, [0, 2]);
        let g = gather(&t, &starts, 2);
        let expected = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0];
        assert_eq!(g.len(), expected.len());
        for (i, (got, want)) in g.iter().zip(expected).enumerate() {
            assert_eq!(*got, want, "element {i}");
        }
        // Overlapping windows repeat rows.
        assert_eq!(
            gather(&t, &[3, 1], 2),
            [
                9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0
            ]
        );
        // Windows that run past the end are skipped, never a panic.
        assert_eq!(
            gather(&t, &[4, 3, usize::MAX], 2),
            [9.0, 10.0, 11.0, 12.0, 13.0, 14.0]
        );
        assert!(gather(&t, &[], 2).is_empty());
    }

    #[test]
    fn window_labels_mark_any_anomalous_row() {
        let t = table(6, 1, Some(vec![0, 0, 0, 1, 0, 0]));
        assert_eq!(window_labels(&t, &[0, 2, 4], 2), Some(vec![0, 1, 0]));
        assert_eq!(
            window_labels(&t, &[0, 1, 2, 3, 4], 2),
            Some(vec![0, 0, 1, 1, 0])
        );
        assert_eq!(window_labels(&t, &[0], 6), Some(vec![1]));
        assert_eq!(window_labels(&t, &[5, 0], 2), Some(vec![0]));
        assert_eq!(window_labels(&table(6, 1, None), &[0], 2), None);
    }

    #[test]
    fn normalizer_identity() {
        let n = Normalizer::identity(2);
        assert_eq!(n.mean, [0.0, 0.0]);
        assert_eq!(n.scale, [1.0, 1.0]);
        let mut v = [1.5, -2.0, 3.0];
        n.apply(&mut v);
        assert_eq!(v, [1.5, -2.0, 3.0]);
    }

    #[test]
    fn normalizer_fit_known_values() {
        // Channel 0: 2 4 4 4 5 5 7 9 (mean 5, std 2); channel 1 constant.
        let col = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        let values: Vec<f32> = col.iter().flat_map(|&x| [x, 3.25]).collect();
        let n = Normalizer::fit(&values, 2);
        assert_eq!(n.mean, [5.0, 3.25]);
        assert_eq!(n.scale, [0.5, 1.0]);

        // 1 2 3 4: mean 2.5, population variance 1.25.
        let n = Normalizer::fit(&[1.0, 2.0, 3.0, 4.0], 1);
        assert_eq!(n.mean, [2.5]);
        assert_eq!(n.scale, [(1.0 / 1.25f64.sqrt()) as f32]);

        let mut v = values.clone();
        Normalizer::fit(&values, 2).apply(&mut v);
        let want: Vec<f32> = col.iter().flat_map(|&x| [(x - 5.0) * 0.5, 0.0]).collect();
        assert_eq!(v, want);
    }

    #[test]
    fn normalizer_edge_cases() {
        assert_eq!(Normalizer::fit(&[], 0), Normalizer::identity(0));
        assert_eq!(Normalizer::fit(&[], 2), Normalizer::identity(2));
        // Non-finite values are left out of the statistics.
        let n = Normalizer::fit(&[1.0, f32::NAN, 3.0, f32::INFINITY], 2);
        assert_eq!(n.mean, [2.0, 0.0]);
        assert_eq!(n.scale, [1.0, 1.0]);
        // Mismatched lengths never panic.
        let odd = Normalizer {
            mean: vec![1.0, 2.0],
            scale: vec![2.0],
        };
        let mut v = [1.0, 1.0, 1.0];
        odd.apply(&mut v);
        odd.invert(&mut v);
        Normalizer::identity(0).apply(&mut v);
    }

    #[test]
    fn normalizer_apply_invert_round_trip_over_windows() {
        let values: Vec<f32> = (0..60)
            .map(|i| ((i * 37) % 23) as f32 * 0.7 - 5.0)
            .collect();
        let n = Normalizer::fit(&values, 3);
        // Windows of 4 rows: element i belongs to channel i % 3.
        let mut v = values.clone();
        n.apply(&mut v);
        for (i, (&x, &orig)) in v.iter().zip(&values).enumerate() {
            let c = i % 3;
            assert_eq!(x, (orig - n.mean[c]) * n.scale[c]);
        }
        n.invert(&mut v);
        for (a, b) in v.iter().zip(&values) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
        let zero = Normalizer {
            mean: vec![7.0],
            scale: vec![0.0],
        };
        let mut v = [0.0, 3.0];
        zero.invert(&mut v);
        assert_eq!(v, [7.0, 7.0]);
    }

    #[test]
    fn unit_range() {
        assert!(is_unit_range(&[0.0, 0.5, 1.0]));
        assert!(is_unit_range(&[]));
        assert!(!is_unit_range(&[0.0, 1.0001]));
        assert!(!is_unit_range(&[-0.1]));
        assert!(!is_unit_range(&[f32::NAN]));
    }

    /// Mangled inputs give errors, never panics, and every error names the file.
    #[test]
    fn mangled_inputs_never_panic() {
        let seeds: [&[u8]; 4] = [
            b"timestamp,a,b,is_anomaly\n0,1,2,0\n1,3,4,1\n",
            b"a,\"b\"\r\n1,\"2\"\r\n\r\n",
            &idx(2, 2, 2, &[1, 2, 3, 4, 5, 6, 7, 8]),
            &gzip(&idx(1, 2, 2, &[9, 8, 7, 6])),
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..4000 {
            let mut bytes = seeds[round % seeds.len()].to_vec();
            for _ in 0..=next() % 4 {
                let r = next();
                let at = (r >> 8) as usize % (bytes.len() + 1);
                match r % 3 {
                    0 if at < bytes.len() => bytes[at] = (r >> 32) as u8,
                    1 => {
                        let pool = b"\0\r\n,\"\xff0.1e ";
                        bytes.insert(at, pool[(r >> 40) as usize % pool.len()]);
                    }
                    _ => bytes.truncate(at),
                }
            }
            let opts = LoadOptions {
                allow_non_finite: round % 2 == 0,
            };
            for result in [
                load_bytes(Path::new("fz.dat"), &bytes, opts),
                load_csv_bytes(Path::new("fz.dat"), &bytes, opts),
                load_idx_bytes(Path::new("fz.dat"), &bytes),
            ] {
                match result {
                    Ok(t) => {
                        assert_eq!(t.values.len(), t.rows() * t.n_channels());
                        if let Some(l) = &t.labels {
                            assert_eq!(l.len(), t.rows());
                        }
                    }
                    Err(e) => {
                        let msg = e.to_string();
                        assert!(msg.contains("`fz.dat`"), "{msg}");
                        assert!(!msg.contains('\n'), "{msg}");
                    }
                }
            }
        }
    }
}
