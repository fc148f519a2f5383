//! `edgeae train`: data → windows → normalisation → a dfdx network of the
//! chosen kind → epochs with checkpoints → `RUN_DIR/model.eam` and plots.

pub mod arch;
pub mod checkpoint;
pub mod config;
pub mod export;
pub mod prepare;
pub mod report;
pub mod run;

pub use config::{Kind, TrainConfig};
pub use run::{RunOptions, Trained, run};

use anyhow::Result;

/// A finished run: what was trained, on what, the model file's bytes (also
/// written to `RUN_DIR/model.eam`) and the plots drawn.
#[derive(Debug)]
pub struct Done {
    /// The trained network and its history.
    pub trained: Trained,
    /// The data it was trained on.
    pub data: prepare::Prepared,
    /// The model file.
    pub model: Vec<u8>,
    /// Plot files written besides `loss.png`.
    pub plots: Vec<std::path::PathBuf>,
}

/// Trains (or resumes), calibrates the threshold on the validation windows
/// (when there are any), writes `RUN_DIR/model.eam` and the plots.
pub fn train_and_export(
    cfg: TrainConfig,
    start: Option<checkpoint::Checkpoint>,
    opts: RunOptions,
) -> Result<Done> {
    let (trained, data) = run(cfg, start, opts)?;
    let mut model = export::model_def(&trained, &data).encode()?;
    if data.n_val() > 0 {
        let loaded = firmware::Model::load(&model)
            .map_err(|e| anyhow::anyhow!("internal error: exported model does not load: {e}"))?;
        let mut errors = crate::anomaly::window_errors(&loaded, &data.val)?;
        let t = crate::anomaly::thresholds(&mut errors, &opts.calibration)?;
        let smoothing = opts.calibration.smoothing_for(loaded.input().window);
        drop(loaded);
        model = crate::anomaly::with_thresholds(&model, &t, smoothing)?;
    }
    crate::fsx::write_atomic(&run::model_path(&trained.config.out), &model)?;
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
        model,
        plots,
    })
}
