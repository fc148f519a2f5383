//! `edgeae pack`: a model file from a JSON description
//! ([`model_format::build::ModelBuf`]).

use std::path::Path;

use anyhow::Result;

use crate::data::model_file::{read_model_json, write_model};

/// `edgeae pack`.
pub fn run(spec: &Path, out: &Path) -> Result<()> {
    let def = read_model_json(spec)?;
    let n = write_model(out, &def)
        .map_err(|e| e.context(format!("cannot pack `{}`", spec.display())))?;
    println!("wrote {} ({n} bytes)", out.display());
    Ok(())
}
