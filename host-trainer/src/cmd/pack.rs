//! `edgeae pack`: a model file from a JSON description
//! ([`model_format::build::ModelBuf`]).

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;

use super::Report;
use crate::data::model_file::{read_model_json, write_model};

/// What `edgeae pack` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct PackReport {
    /// The model file.
    pub out: PathBuf,
    /// Its size.
    pub bytes: usize,
}

impl Report for PackReport {
    fn text(&self) -> String {
        format!("wrote {} ({} bytes)\n", self.out.display(), self.bytes)
    }
}

/// `edgeae pack`.
pub fn run(spec: &Path, out: &Path) -> Result<PackReport> {
    let def = read_model_json(spec)?;
    let bytes = write_model(out, &def)
        .map_err(|e| e.context(format!("cannot pack `{}`", spec.display())))?;
    Ok(PackReport {
        out: out.to_path_buf(),
        bytes,
    })
}
