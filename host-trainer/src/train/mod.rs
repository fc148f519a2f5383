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
