//! `edgeae score`: a data file streamed through the firmware's
//! [`firmware::Stream`], one row of `scores.csv` per window.

use std::path::Path;

use anyhow::Result;

use crate::data::load_for_model;
use crate::data::model_file::{parse, read_model_bytes};
use crate::score;

/// `edgeae score`.
pub fn score(model_path: &Path, data_path: &Path, out: &Path) -> Result<()> {
    let bytes = read_model_bytes(model_path)?;
    let model = parse(model_path, &bytes)?;
    let table = load_for_model(model_path, &model, data_path, score::STREAM)?;
    let scored = score::stream(&model, &table, data_path)?;
    score::write_scores(out, &scored)?;
    let faulted = scored.windows.iter().filter(|w| w.fault.is_some()).count();
    println!(
        "wrote {}: {} windows, {} alarm(s) raised, {} frame(s) with NaN/inf samples ({faulted} windows not scored){}",
        out.display(),
        scored.windows.len(),
        scored.alarms_raised(),
        scored.faults.len(),
        if model.scoring().threshold.is_finite() {
            String::new()
        } else {
            "; the model is not calibrated, so it never alarms (edgeae calibrate)".into()
        }
    );
    Ok(())
}
