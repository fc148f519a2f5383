//! One module per subcommand of `edgeae`. Each reads its inputs, computes
//! through the modules below it (data, train, quant, score, board, synth,
//! plots), writes its outputs, and returns a report: a struct that `main`
//! prints as text, or as JSON with `--json`.

pub mod calibrate;
pub mod classifier;
pub mod classify;
pub mod demo;
pub mod denoise;
pub mod embed;
pub mod encode;
pub mod eval;
pub mod export;
pub mod features;
pub mod flash;
pub mod generate;
pub mod inspect;
pub mod pack;
pub mod score;
pub mod stream;
pub mod synth;
pub mod train;

use anyhow::Result;
use serde::Serialize;

/// What a command returns: `main` prints [`Report::text`], or the report
/// itself as JSON with `--json`. Notes go to stderr either way.
pub trait Report: Serialize {
    /// The report as the lines a person reads, each ending in a newline.
    fn text(&self) -> String;

    /// Remarks for stderr, one sentence each (the JSON holds them too,
    /// where the report has them).
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
}

/// A report, rendered both ways.
#[derive(Debug, Clone, PartialEq)]
pub struct Printed {
    /// The text lines.
    pub text: String,
    /// Pretty-printed JSON.
    pub json: String,
    /// Notes for stderr.
    pub notes: Vec<String>,
}

impl Printed {
    /// Renders `report`.
    pub fn of<R: Report>(report: &R) -> Result<Printed> {
        Ok(Printed {
            text: report.text(),
            json: serde_json::to_string_pretty(report)?,
            notes: report.notes(),
        })
    }
}
