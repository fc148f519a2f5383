//! `edgeae encode`: the codings of every window of a data file, through
//! the firmware engine.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;

use super::Report;

use crate::data::model_file::{parse, read_model_bytes};
use crate::data::{self, LoadOptions, files::csv_bytes, load_for_model};

/// What `edgeae encode` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct EncodeReport {
    /// The codings file.
    pub out: PathBuf,
    /// Codings per window.
    pub codings: usize,
    /// Windows encoded.
    pub windows: usize,
}

impl Report for EncodeReport {
    fn text(&self) -> String {
        format!(
            "wrote {}: codings ({} values) of {} windows\n",
            self.out.display(),
            self.codings,
            self.windows
        )
    }
}

/// `edgeae encode`.
pub fn run(model_path: &Path, data_path: &Path, out: &Path) -> Result<EncodeReport> {
    let bytes = read_model_bytes(model_path)?;
    let model = parse(model_path, &bytes)?;
    let table = load_for_model(model_path, &model, data_path, LoadOptions::default())?;
    let window = model.input().window as usize;
    let starts = data::window_starts(data_path, table.rows(), window, model.input().hop as usize)?;
    let codings = crate::score::codings::encode_windows(&model, &table, &starts)?;
    let rows = starts
        .iter()
        .zip(codings.chunks_exact(model.codings_len().max(1)))
        .map(|(&s, c)| {
            let mut row = vec![s.to_string(), (s + window).to_string()];
            row.extend(c.iter().map(|v| v.to_string()));
            row
        });
    let mut header = vec!["start".to_string(), "end".to_string()];
    header.extend((0..model.codings_len()).map(|i| format!("c{i}")));
    crate::data::files::write_atomic(out, &csv_bytes(&header, rows)?)?;
    Ok(EncodeReport {
        out: out.to_path_buf(),
        codings: model.codings_len(),
        windows: starts.len(),
    })
}
