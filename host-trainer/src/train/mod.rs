//! `edgeae train`: data → windows → normalisation → a dfdx network of the
//! chosen kind → epochs with checkpoints → `RUN_DIR/model.eam` and plots.

pub mod arch;
pub mod checkpoint;
pub mod classifier;
pub mod config;
pub mod conv_arch;
#[cfg(any(feature = "cuda", test))]
pub mod cuda;
pub mod objective;
pub mod pca;
pub mod prepare;
pub mod report;
pub mod run;
pub mod schedule;
pub mod to_model;

#[cfg(test)]
mod tests;

pub use config::{Kind, TrainConfig};
pub use run::{RunOptions, Trained, run};

use anyhow::Result;

/// The PCA baseline of a run: the same number of components, fitted to the
/// same training windows, measured on the same validation windows.
#[derive(Debug, Clone)]
pub struct Baseline {
    /// Components (the run's codings width).
    pub components: usize,
    /// Its mean squared error per value on the validation windows.
    pub val_mse: f64,
    /// The trained model's, measured the same way (through the engine;
    /// on the host for a kind without a model file).
    pub model_val_mse: f64,
    /// `RUN_DIR/pca.eam`, calibrated like the model.
    pub path: std::path::PathBuf,
}

/// A finished run: what was trained, on what, the model file's bytes (also
/// written to `RUN_DIR/model.eam`) and the plots drawn.
#[derive(Debug)]
pub struct Done {
    /// The trained network and its history.
    pub trained: Trained,
    /// The data it was trained on.
    pub data: prepare::Prepared,
    /// The model file (none for a recurrent network that only predicts:
    /// see [`Done::not_exported`]).
    pub model: Option<Vec<u8>>,
    /// Plot files written besides `loss.png`.
    pub plots: Vec<std::path::PathBuf>,
    /// The PCA baseline (absent for `--kind pca` itself and without
    /// validation windows).
    pub baseline: Option<Baseline>,
    /// A predicting network's error on the validation windows against
    /// persistence's.
    pub forecast: Option<objective::Forecast>,
    /// Why no model file was written.
    pub not_exported: Option<String>,
}

/// The file of the PCA baseline beside a run's model.
pub fn baseline_path(out: &std::path::Path) -> std::path::PathBuf {
    out.join("pca.eam")
}

/// Trains (or resumes), calibrates the threshold on the held-out windows
/// (when there are any), writes `RUN_DIR/model.eam`, the PCA baseline
/// `RUN_DIR/pca.eam`, and the plots. A composite recurrent network exports
/// its reconstructing part; one that only predicts is trained and
/// checkpointed but not exported ([`Done::not_exported`] says why).
pub fn train_and_export(
    cfg: TrainConfig,
    start: Option<checkpoint::Checkpoint>,
    opts: RunOptions,
) -> Result<Done> {
    let (trained, data) = run(cfg, start, opts)?;
    let forecast = objective::forecast(&trained.net, &data, trained.config.recurrent.objective)?;
    let export = match objective::exportable(&trained) {
        Ok(e) => e,
        Err(why) => {
            return Ok(Done {
                trained,
                data,
                model: None,
                plots: Vec::new(),
                baseline: None,
                forecast,
                not_exported: Some(format!("{why:#}")),
            });
        }
    };
    let model = calibrated_model(&export, &data, &opts)?;
    crate::data::files::write_atomic(&run::model_path(&trained.config.out), &model)?;
    let baseline = pca_baseline(&export, &data, &opts, |x| {
        let loaded = firmware::Model::load(&model)
            .map_err(|e| anyhow::anyhow!("internal error: exported model does not load: {e}"))?;
        mean_squared_error(&loaded, x)
    })?;
    let plots = report::sample_plots(
        &trained.config.out,
        &model,
        &data,
        trained.config.kind == Kind::Vae,
        trained.config.seed,
    );
    Ok(Done {
        trained,
        data,
        model: Some(model),
        plots,
        baseline,
        forecast,
        not_exported: None,
    })
}

/// Fits the PCA baseline of `trained` on the same windows, writes it to
/// `RUN_DIR/pca.eam` (calibrated), and compares it with the model's error
/// `model_mse` on the validation windows. `None` for the PCA kind itself
/// and without validation windows.
fn pca_baseline(
    trained: &Trained,
    data: &prepare::Prepared,
    opts: &RunOptions,
    model_mse: impl FnOnce(&[f32]) -> Result<f64>,
) -> Result<Option<Baseline>> {
    if trained.config.kind == Kind::Pca || data.n_val() == 0 {
        return Ok(None);
    }
    let pca = run::fit_pca(
        &TrainConfig {
            kind: Kind::Pca,
            recurrent: Default::default(),
            ..trained.config.clone()
        },
        data,
    )?;
    let pca_model = calibrated_model(&pca, data, opts)?;
    let path = baseline_path(&trained.config.out);
    crate::data::files::write_atomic(&path, &pca_model)?;
    Ok(Some(Baseline {
        components: pca.net.spec.codings_len(),
        val_mse: pca.history.last().map_or(f64::NAN, |r| r.val_recon),
        model_val_mse: model_mse(&data.val)?,
        path,
    }))
}

/// The model file of a trained network, its threshold calibrated on the
/// held-out rows of `data` (when there are any).
fn calibrated_model(
    trained: &Trained,
    data: &prepare::Prepared,
    opts: &RunOptions,
) -> Result<Vec<u8>> {
    let mut model = to_model::model_def(trained, data)?.encode()?;
    if trained.config.metric == config::ScoreMetric::Standardized {
        let loaded = firmware::Model::load(&model)
            .map_err(|e| anyhow::anyhow!("internal error: exported model does not load: {e}"))?;
        let weights = crate::score::standardizing_weights(&loaded, &data.train)?;
        drop(loaded);
        model = crate::score::with_metric(
            &model,
            &model_format::Metric::Standardized(model_format::F32s::new(
                &model_format::build::f32_bytes(&weights),
            )),
        )?;
    }
    if !data.holdout.is_empty() {
        let loaded = firmware::Model::load(&model)
            .map_err(|e| anyhow::anyhow!("internal error: exported model does not load: {e}"))?;
        let smoothing = opts.calibration.smoothing_for(loaded.input().window);
        let runs: Vec<&[f32]> = data.holdout.iter().map(Vec::as_slice).collect();
        let (t, _) = crate::score::calibrate_alarm(&loaded, &runs, &opts.calibration, smoothing)?;
        drop(loaded);
        model = crate::score::with_thresholds(&model, &t, smoothing)?;
    }
    Ok(model)
}

/// Mean squared error per value of `model`'s reconstructions of the
/// normalised windows `x`, through the firmware engine.
pub fn mean_squared_error(model: &firmware::Model<'_>, x: &[f32]) -> Result<f64> {
    let n = model.input_len().max(1);
    let mut scratch = vec![0.0f32; firmware::Engine::scratch_len(model)];
    let mut engine = firmware::Engine::new(model, &mut scratch)?;
    let mut total = 0.0f64;
    for w in x.chunks_exact(n) {
        engine.input_mut().copy_from_slice(w);
        let (a, b) = engine.reconstruct();
        total += a
            .iter()
            .zip(b)
            .map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2))
            .sum::<f64>();
    }
    Ok(total / x.len().max(1) as f64)
}
