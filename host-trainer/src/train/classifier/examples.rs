//! Labelled examples for a classifier: the windows of a data file (an image
//! of an IDX file, `window` rows of a CSV), each with the class of its last
//! row.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use crate::data::class_labels::{ClassSource, MAX_CLASSES, load_with_classes};
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

/// The table of `path` with its labels (one per row), read by
/// `data::class_labels` (the same reader as `edgeae embed --labels`);
/// every class must be below `MAX_CLASSES` (64).
pub fn load_table(path: &Path, source: &LabelSource) -> Result<(Table, Vec<u32>)> {
    let (from, source) = match source {
        LabelSource::Column(column) => (path, ClassSource::Column(column)),
        LabelSource::IdxFile(file) => (file.as_path(), ClassSource::IdxFile(file)),
    };
    let (table, classes) = load_with_classes(path, LoadOptions::default(), Some(source))?;
    let classes = classes.unwrap_or_default();
    if let Some((i, c)) = classes
        .iter()
        .enumerate()
        .find(|(_, c)| usize::from(**c) >= MAX_CLASSES)
    {
        bail!(
            "`{}`: the label of row {} is class {c}, more than the head allows: at most {MAX_CLASSES} classes, 0 to {}",
            from.display(),
            i + 1,
            MAX_CLASSES - 1
        );
    }
    Ok((table, classes.into_iter().map(u32::from).collect()))
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
