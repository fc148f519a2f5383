//! `edgeae denoise`: every window of a data file reconstructed by the
//! model (overlapping windows averaged), in sensor units.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use firmware::Engine;
use serde::Serialize;

use super::Report;

use crate::data::model_file::{parse, read_model_bytes};
use crate::data::{self, LoadOptions, Source, files::csv_bytes, load_for_model, normalizer};

/// What `edgeae denoise` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct DenoiseReport {
    /// The denoised file.
    pub out: PathBuf,
    /// Rows reconstructed.
    pub rows_denoised: usize,
    /// Windows they were reconstructed through.
    pub windows: usize,
    /// Trailing rows no window covers, copied unchanged.
    pub uncovered_rows: usize,
}

impl Report for DenoiseReport {
    fn text(&self) -> String {
        format!(
            "wrote {}: {} rows denoised through {} windows{}\n",
            self.out.display(),
            self.rows_denoised,
            self.windows,
            if self.uncovered_rows > 0 {
                format!(
                    ", {} trailing rows no window covers copied unchanged",
                    self.uncovered_rows
                )
            } else {
                String::new()
            }
        )
    }
}

/// `edgeae denoise`.
pub fn run(model_path: &Path, data_path: &Path, out: &Path) -> Result<DenoiseReport> {
    let bytes = read_model_bytes(model_path)?;
    let model = parse(model_path, &bytes)?;
    if model.classes().is_some() {
        anyhow::bail!(
            "`{}` is a classifier: it outputs classes, not windows to denoise (use `edgeae classify`)",
            model_path.display()
        );
    }
    let table = load_for_model(model_path, &model, data_path, LoadOptions::default())?;
    let channels = table.n_channels();
    let window = model.input().window as usize;
    let starts = data::window_starts(data_path, table.rows(), window, model.input().hop as usize)?;
    let norm = normalizer(&model);
    let mut scratch = vec![0.0f32; Engine::scratch_len(&model)];
    let mut engine = Engine::new(&model, &mut scratch)?;
    // Overlap-add: sum reconstructions per row, then divide by the count.
    let mut sums = vec![0.0f64; table.values.len()];
    let mut counts = vec![0u32; table.rows()];
    for &s in &starts {
        let mut w = data::gather(&table, &[s], window);
        norm.apply(&mut w);
        engine.input_mut().copy_from_slice(&w);
        let mut r = engine.reconstruct().1.to_vec();
        norm.invert(&mut r);
        for (t, frame) in r.chunks_exact(channels).enumerate() {
            let row = s + t;
            counts[row] += 1;
            for (acc, v) in sums[row * channels..(row + 1) * channels]
                .iter_mut()
                .zip(frame)
            {
                *acc += f64::from(*v);
            }
        }
    }
    let uncovered = counts.iter().filter(|c| **c == 0).count();
    let denoised: Vec<f32> = sums
        .iter()
        .zip(&table.values)
        .enumerate()
        .map(|(i, (s, orig))| match counts[i / channels] {
            0 => *orig,
            c => (*s / f64::from(c)) as f32,
        })
        .collect();
    if out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"))
    {
        let Source::Idx { width, height } = table.source else {
            bail!(
                "a .png output needs image data (IDX); write a .csv for `{}`",
                data_path.display()
            );
        };
        let n = table.rows().min(16);
        let top: Vec<&[f32]> = table.values.chunks_exact(channels).take(n).collect();
        let bottom: Vec<&[f32]> = denoised.chunks_exact(channels).take(n).collect();
        crate::plots::image_grid(
            out,
            "input (top) and denoised (bottom)",
            &[top, bottom],
            &["input", "denoised"],
            width,
            height,
            3,
        )?;
    } else {
        let rows = denoised
            .chunks_exact(channels)
            .map(|r| r.iter().map(|v| v.to_string()).collect());
        crate::data::files::write_atomic(out, &csv_bytes(&table.channels, rows)?)?;
    }
    Ok(DenoiseReport {
        out: out.to_path_buf(),
        rows_denoised: table.rows() - uncovered,
        windows: starts.len(),
        uncovered_rows: uncovered,
    })
}
