//! The codings of windows through the firmware engine (the code a board
//! runs): what `edgeae encode` writes, and what `embed` and `features` map
//! and rank.

use anyhow::Result;
use firmware::{Engine, Model};

use crate::data::{self, Table, normalizer};

/// The codings of the windows of `table` that start at `starts`,
/// normalised with the model's mean and scale: `starts.len()` rows of
/// `model.codings_len()` values.
pub fn encode_windows(model: &Model<'_>, table: &Table, starts: &[usize]) -> Result<Vec<f32>> {
    let window = model.input().window as usize;
    let norm = normalizer(model);
    let mut scratch = vec![0.0f32; Engine::scratch_len(model)];
    let mut engine = Engine::new(model, &mut scratch)?;
    let mut codings = Vec::with_capacity(starts.len() * model.codings_len());
    for &s in starts {
        let mut w = data::gather(table, &[s], window);
        norm.apply(&mut w);
        engine.input_mut().copy_from_slice(&w);
        codings.extend_from_slice(engine.encode());
    }
    Ok(codings)
}
