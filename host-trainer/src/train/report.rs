//! What a run shows a person: the loss curve, reconstructions (and, for a
//! VAE, generated samples) drawn from the exported model as the firmware
//! engine runs it, and a summary.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use firmware::{Engine, Model};
use rand::Rng;
use rand_distr::StandardNormal;

use super::checkpoint::EpochRecord;
use super::prepare::Prepared;
use crate::data::Source;
use crate::plots::{self, Series};

static WARNED: AtomicBool = AtomicBool::new(false);

/// Plot failures never stop training; they are reported once.
fn warn(what: &str, e: anyhow::Error) {
    if !WARNED.swap(true, Ordering::Relaxed) {
        eprintln!("warning: {what}: {e:#}");
    }
}

/// `RUN_DIR/loss.png`: training and validation objective per epoch.
pub fn loss_curve(out: &Path, history: &[EpochRecord]) {
    let train: Vec<(f64, f64)> = history
        .iter()
        .enumerate()
        .map(|(i, r)| ((i + 1) as f64, r.train_loss))
        .collect();
    let val: Vec<(f64, f64)> = history
        .iter()
        .enumerate()
        .map(|(i, r)| ((i + 1) as f64, r.val_loss))
        .collect();
    let series = [
        Series {
            name: "training",
            points: &train,
        },
        Series {
            name: "validation",
            points: &val,
        },
    ];
    if let Err(e) = plots::line_chart(
        &out.join("loss.png"),
        "Loss per epoch",
        "epoch",
        "loss",
        &series,
        true,
    ) {
        warn("cannot draw the loss curve", e);
    }
}

/// Runs the model file's engine on normalised windows; returns the
/// reconstructions (normalised).
pub fn reconstruct_all(model: &Model<'_>, windows: &[f32]) -> Vec<f32> {
    let n = model.input_len().max(1);
    let mut scratch = vec![0.0f32; Engine::scratch_len(model)];
    let Ok(mut engine) = Engine::new(model, &mut scratch) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(windows.len());
    for w in windows.chunks_exact(n) {
        engine.input_mut().copy_from_slice(w);
        out.extend_from_slice(engine.reconstruct().1);
    }
    out
}

/// Decodes `count` codings drawn from `N(0, I)` (normalised outputs).
pub fn generate(model: &Model<'_>, count: usize, seed: u64) -> anyhow::Result<Vec<f32>> {
    let mut scratch = vec![0.0f32; Engine::scratch_len(model)];
    let mut engine = Engine::new(model, &mut scratch)
        .map_err(|e| anyhow::anyhow!("the model's engine cannot start: {e}"))?;
    let mut rng = crate::rng::fast(seed);
    let mut out = Vec::new();
    for _ in 0..count {
        for z in engine.codings_mut() {
            *z = rng.sample(StandardNormal);
        }
        out.extend_from_slice(engine.decode());
    }
    Ok(out)
}

/// Draws the reconstruction (and generation) plots; returns the files written.
pub fn sample_plots(
    out: &Path,
    bytes: &[u8],
    data: &Prepared,
    vae: bool,
    seed: u64,
) -> Vec<PathBuf> {
    let Ok(model) = Model::load(bytes) else {
        return Vec::new();
    };
    let dim = data.input_len;
    let source = if data.val.is_empty() {
        &data.train
    } else {
        &data.val
    };
    let count = (source.len() / dim.max(1)).min(8);
    let mut originals = source[..count * dim].to_vec();
    let mut recon = reconstruct_all(&model, &originals);
    data.normalizer.invert(&mut originals);
    data.normalizer.invert(&mut recon);
    let mut written = Vec::new();
    let path = out.join("reconstructions.png");
    let result = match data.source {
        Source::Idx { width, height } => {
            let top: Vec<&[f32]> = originals.chunks_exact(dim).collect();
            let bottom: Vec<&[f32]> = recon.chunks_exact(dim).collect();
            plots::image_grid(
                &path,
                "originals (top) and reconstructions (bottom)",
                &[top, bottom],
                &["original", "reconstructed"],
                width,
                height,
                3,
            )
        }
        Source::Csv => {
            let pairs: Vec<(&[f32], &[f32])> = originals
                .chunks_exact(dim)
                .zip(recon.chunks_exact(dim))
                .take(4)
                .collect();
            plots::signal_panels(
                &path,
                "validation windows and their reconstructions",
                &pairs,
                data.channel_names.len(),
            )
        }
    };
    match result {
        Ok(()) => written.push(path),
        Err(e) => warn("cannot draw the reconstructions", e),
    }
    if vae && let Source::Idx { width, height } = data.source {
        let mut samples = match generate(&model, 16, seed) {
            Ok(s) => s,
            Err(e) => {
                warn("cannot draw generated samples", e);
                return written;
            }
        };
        data.normalizer.invert(&mut samples);
        let rows: Vec<Vec<&[f32]>> = samples
            .chunks_exact(dim)
            .collect::<Vec<_>>()
            .chunks(8)
            .map(|c| c.to_vec())
            .collect();
        let path = out.join("generated.png");
        match plots::image_grid(
            &path,
            "samples decoded from N(0, I)",
            &rows,
            &["", ""],
            width,
            height,
            3,
        ) {
            Ok(()) => written.push(path),
            Err(e) => warn("cannot draw the generated samples", e),
        }
    }
    written
}

/// A note for the user when plots are drawn without text.
pub fn font_note() -> Option<&'static str> {
    (!plots::font_available()).then_some(
        "no TTF font found (install fonts-dejavu-core or set EDGEAE_FONT): plots have no text",
    )
}
