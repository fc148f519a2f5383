//! `edgeae synth`: the built-in data set (normal vibration with labelled
//! faults) as CSV files.

use std::path::Path;

use anyhow::Result;

use crate::synth::{self, SynthConfig};
use crate::text::thousands;

/// `edgeae synth`.
pub fn synth_command(out: &Path, cfg: &SynthConfig) -> Result<()> {
    let s = synth::generate(cfg)?;
    let files = synth::write(out, &s)?;
    let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    println!(
        "wrote {}: {} normal training rows and a {}-row test stream with {} labelled faults ({} channels at {} Hz, seed {})",
        names.join(", "),
        thousands(cfg.train_rows),
        thousands(cfg.test_rows),
        s.faults.len(),
        cfg.channels,
        cfg.sample_rate,
        cfg.seed
    );
    Ok(())
}
