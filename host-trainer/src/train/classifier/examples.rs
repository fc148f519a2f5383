//! Labelled examples for a classifier: the windows of a data file (an image
//! of an IDX file, `window` rows of a CSV), each with the class of its last
//! row.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use crate::data::{self, LoadOptions, Normalizer, Table};

/// Where the class labels come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelSource {
    /// A column of the data CSV (taken out of the channels).
    Column(String),
    /// An IDX label file, one label per image or row.
    IdxFile(PathBuf),
}

/// Windows (row-major, `input_len` values each) and their classes.
#[derive(Debug, Clone, Default)]
pub struct Examples {
    /// Values, not yet normalised until [`Examples::normalize`].
    pub x: Vec<f32>,
    /// One class per window.
    pub y: Vec<u32>,
    /// Values per window.
    pub input_len: usize,
}

impl Examples {
    /// Number of windows.
    pub fn count(&self) -> usize {
        self.y.len()
    }

    /// The windows `idx`, in that order.
    pub fn pick(&self, idx: &[usize]) -> Examples {
        Examples {
            x: crate::train::objective::gather_rows(&self.x, self.count(), idx),
            y: idx.iter().map(|&i| self.y[i]).collect(),
            input_len: self.input_len,
        }
    }

    /// Normalises the values in place.
    pub fn normalize(&mut self, n: &Normalizer) {
        n.apply(&mut self.x);
    }
}

/// The table of `path` with its labels (one per row).
pub fn load_table(path: &Path, source: &LabelSource) -> Result<(Table, Vec<u32>)> {
    let bytes = data::files::read(path)?;
    let (table, labels) = match source {
        LabelSource::Column(column) => {
            if bytes.starts_with(&[0x1f, 0x8b]) || bytes.starts_with(&[0, 0]) {
                bail!(
                    "`{}` is not a plain CSV file: --labels COLUMN takes the classes from a CSV column (IDX images take --labels-file)",
                    path.display()
                );
            }
            let (classes, rest) = data::labels::split_csv_column(path, &bytes, column)?;
            (
                data::load_bytes(path, &rest, LoadOptions::default())?,
                classes,
            )
        }
        LabelSource::IdxFile(file) => {
            let table = data::load_bytes(path, &bytes, LoadOptions::default())?;
            (table, data::labels::load_idx(file)?)
        }
    };
    if let LabelSource::IdxFile(file) = source
        && labels.len() != table.rows()
    {
        bail!(
            "`{}` holds {} labels for the {} rows of `{}`: every row needs one",
            file.display(),
            labels.len(),
            table.rows(),
            path.display()
        );
    }
    Ok((table, labels))
}

/// The windows of `window` rows every `hop` rows of `table`, each labelled
/// with the class of its last row.
pub fn windows(table: &Table, labels: &[u32], window: usize, hop: usize) -> Result<Examples> {
    let starts = data::window_starts(&table.path, table.rows(), window, hop)?;
    Ok(Examples {
        x: data::gather(table, &starts, window),
        y: starts
            .iter()
            .filter_map(|s| labels.get(s + window - 1).copied())
            .collect(),
        input_len: window * table.n_channels(),
    })
}
