//! `edgeae flash`: writes a model file into a real board's model region
//! through a debug probe (probe-rs, behind the `flash` feature), then reads
//! it back to verify. Everything that can be refused is refused before a
//! probe is touched: an unknown chip, a model that does not load (including
//! one of another format version), or one that does not fit the region.

use std::path::Path;

use anyhow::Result;

use crate::board::flash::{check, region_for, write_and_verify};

/// `edgeae flash`.
pub fn command(model_path: &Path, chip: &str, probe: Option<&str>) -> Result<()> {
    let region = region_for(chip)?;
    let bytes = crate::data::files::read(model_path)?;
    check(model_path, &bytes, &region)?;
    write_and_verify(&bytes, &region, probe)?;
    println!(
        "wrote {} ({} bytes) to {} at {:#x} and read it back: identical",
        model_path.display(),
        bytes.len(),
        region.chip,
        region.start
    );
    Ok(())
}
