//! `edgeae flash`: writes a model file into a real board's model region
//! through a debug probe (probe-rs, behind the `flash` feature), then reads
//! it back to verify. Everything that can be refused is refused before a
//! probe is touched: an unknown chip, a model that does not load (including
//! one of another format version), or one that does not fit the region.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;

use super::Report;

use crate::board::flash::{check, region_for, write_and_verify};

/// What `edgeae flash` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct FlashReport {
    /// The model file.
    pub model: PathBuf,
    /// Its size.
    pub bytes: usize,
    /// The chip.
    pub chip: String,
    /// The model region's start address.
    pub address: u64,
}

impl Report for FlashReport {
    fn text(&self) -> String {
        format!(
            "wrote {} ({} bytes) to {} at {:#x} and read it back: identical\n",
            self.model.display(),
            self.bytes,
            self.chip,
            self.address
        )
    }
}

/// `edgeae flash`.
pub fn run(model_path: &Path, chip: &str, probe: Option<&str>) -> Result<FlashReport> {
    let region = region_for(chip)?;
    let bytes = crate::data::files::read(model_path)?;
    check(model_path, &bytes, &region)?;
    write_and_verify(&bytes, &region, probe)?;
    Ok(FlashReport {
        model: model_path.to_path_buf(),
        bytes: bytes.len(),
        chip: region.chip.to_string(),
        address: region.start,
    })
}
