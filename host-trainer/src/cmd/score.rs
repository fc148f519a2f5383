//! `edgeae score`: a data file streamed through the firmware's
//! [`firmware::Stream`], one row of `scores.csv` per window.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;

use super::Report;

use crate::data::load_for_model;
use crate::data::model_file::{parse, read_model_bytes};
use crate::score;

/// What `edgeae score` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ScoreReport {
    /// `scores.csv`.
    pub out: PathBuf,
    /// Windows streamed.
    pub windows: usize,
    /// Alarms raised.
    pub alarms_raised: usize,
    /// Frames with NaN or infinite samples.
    pub fault_frames: usize,
    /// Windows not scored because of them.
    pub fault_windows: usize,
    /// False when the model has no threshold (it never alarms).
    pub calibrated: bool,
}

impl Report for ScoreReport {
    fn text(&self) -> String {
        format!(
            "wrote {}: {} windows, {} alarm(s) raised, {} frame(s) with NaN/inf samples ({} windows not scored){}\n",
            self.out.display(),
            self.windows,
            self.alarms_raised,
            self.fault_frames,
            self.fault_windows,
            if self.calibrated {
                ""
            } else {
                "; the model is not calibrated, so it never alarms (edgeae calibrate)"
            }
        )
    }
}

/// `edgeae score`.
pub fn run(model_path: &Path, data_path: &Path, out: &Path) -> Result<ScoreReport> {
    let bytes = read_model_bytes(model_path)?;
    let model = parse(model_path, &bytes)?;
    let table = load_for_model(model_path, &model, data_path, score::STREAM)?;
    let scored = score::stream(&model, &table, data_path)?;
    score::write_scores(out, &scored)?;
    let faulted = scored.windows.iter().filter(|w| w.fault.is_some()).count();
    Ok(ScoreReport {
        out: out.to_path_buf(),
        windows: scored.windows.len(),
        alarms_raised: scored.alarms_raised(),
        fault_frames: scored.faults.len(),
        fault_windows: faulted,
        calibrated: model.scoring().threshold.is_finite(),
    })
}
