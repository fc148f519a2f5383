//! `edgeae synth`: the built-in data set (normal vibration with labelled
//! faults) as CSV files.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;

use super::Report;
use crate::synth::{self, SynthConfig};
use crate::text::thousands;

/// What `edgeae synth` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct SynthReport {
    /// The CSV files.
    pub files: Vec<PathBuf>,
    /// Normal training rows.
    pub train_rows: usize,
    /// Rows of the labelled test stream.
    pub test_rows: usize,
    /// Labelled faults in the test stream.
    pub faults: usize,
    /// Channels per row.
    pub channels: usize,
    /// Sample rate in Hz.
    pub sample_rate: f32,
    /// The seed.
    pub seed: u64,
}

impl Report for SynthReport {
    fn text(&self) -> String {
        let names: Vec<String> = self.files.iter().map(|p| p.display().to_string()).collect();
        format!(
            "wrote {}: {} normal training rows and a {}-row test stream with {} labelled faults ({} channels at {} Hz, seed {})\n",
            names.join(", "),
            thousands(self.train_rows),
            thousands(self.test_rows),
            self.faults,
            self.channels,
            self.sample_rate,
            self.seed
        )
    }
}

/// `edgeae synth`.
pub fn run(out: &Path, cfg: &SynthConfig) -> Result<SynthReport> {
    let s = synth::generate(cfg)?;
    let files = synth::write(out, &s)?;
    Ok(SynthReport {
        files,
        train_rows: cfg.train_rows,
        test_rows: cfg.test_rows,
        faults: s.faults.len(),
        channels: cfg.channels,
        sample_rate: cfg.sample_rate,
        seed: cfg.seed,
    })
}
