//! `edgeae encode`: the codings of every window of a data file, through
//! the firmware engine.

use std::path::{Path, PathBuf};

use anyhow::Result;
use firmware::Engine;
use serde::Serialize;

use super::Report;

use crate::data::model_file::{parse, read_model_bytes};
use crate::data::{self, LoadOptions, files::csv_bytes, load_for_model, normalizer};

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
    let norm = normalizer(&model);
    let mut scratch = vec![0.0f32; Engine::scratch_len(&model)];
    let mut engine = Engine::new(&model, &mut scratch)?;
    let mut rows = Vec::with_capacity(starts.len());
    for &s in &starts {
        let mut w = data::gather(&table, &[s], window);
        norm.apply(&mut w);
        engine.input_mut().copy_from_slice(&w);
        let mut row = vec![s.to_string(), (s + window).to_string()];
        row.extend(engine.encode().iter().map(|v| v.to_string()));
        rows.push(row);
    }
    let mut header = vec!["start".to_string(), "end".to_string()];
    header.extend((0..model.codings_len()).map(|i| format!("c{i}")));
    crate::data::files::write_atomic(out, &csv_bytes(&header, rows.into_iter())?)?;
    Ok(EncodeReport {
        out: out.to_path_buf(),
        codings: model.codings_len(),
        windows: starts.len(),
    })
}
