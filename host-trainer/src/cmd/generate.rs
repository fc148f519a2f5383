//! `edgeae generate`: new samples from a variational autoencoder's decoder.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use model_format::ModelKind;
use serde::Serialize;

use super::Report;

use crate::data::files::csv_bytes;
use crate::data::model_file::{parse, read_model_bytes};
use crate::data::normalizer;

/// What `edgeae generate` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct GenerateReport {
    /// The samples file.
    pub out: PathBuf,
    /// Samples generated.
    pub samples: usize,
}

impl Report for GenerateReport {
    fn text(&self) -> String {
        format!("wrote {}: {} samples\n", self.out.display(), self.samples)
    }
}

/// `edgeae generate`.
pub fn run(model_path: &Path, count: usize, out: &Path, seed: u64) -> Result<GenerateReport> {
    let bytes = read_model_bytes(model_path)?;
    let model = parse(model_path, &bytes)?;
    if model.kind() != ModelKind::Variational {
        bail!(
            "generating needs a variational model (trained with --kind vae); `{}` is {}",
            model_path.display(),
            model.kind().name()
        );
    }
    if count == 0 {
        bail!("--count must be at least 1");
    }
    let mut samples = crate::train::report::generate(&model, count, seed)
        .map_err(|e| e.context(format!("cannot generate from `{}`", model_path.display())))?;
    normalizer(&model).invert(&mut samples);
    let dim = model.input_len();
    if out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"))
    {
        let side = (dim as f64).sqrt().round() as usize;
        if side * side != dim || model.input().window != 1 {
            bail!(
                "a .png output needs square images; `{}` takes {dim} values",
                model_path.display()
            );
        }
        let rows: Vec<Vec<&[f32]>> = samples
            .chunks_exact(dim)
            .collect::<Vec<_>>()
            .chunks(8)
            .map(<[&[f32]]>::to_vec)
            .collect();
        let titles = vec![""; rows.len()];
        crate::plots::image_grid(
            out,
            "samples decoded from N(0, I)",
            &rows,
            &titles,
            side,
            side,
            3,
        )?;
    } else {
        let header: Vec<String> = (0..dim).map(|i| format!("v{i}")).collect();
        let rows = samples
            .chunks_exact(dim)
            .map(|r| r.iter().map(|v| v.to_string()).collect());
        crate::data::files::write_atomic(out, &csv_bytes(&header, rows)?)?;
    }
    Ok(GenerateReport {
        out: out.to_path_buf(),
        samples: count,
    })
}
