//! `edgeae classify`: the class and confidence of every window of a data
//! file through a classifier model, computed as a board computes them
//! (firmware stream and `firmware::classify`), and the accuracy when the
//! labels are given.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use model_format::protocol::WindowFault;
use serde::Serialize;

use super::Report;
use crate::data::model_file::{parse, read_model_bytes};
use crate::data::{LoadOptions, load_for_model};
use crate::score::{classify_table, write_classes};
use crate::train::classifier::{LabelSource, examples};

/// What `edgeae classify` found.
#[derive(Debug, Clone, Serialize)]
pub struct ClassifyReport {
    /// The model file.
    pub model: PathBuf,
    /// Windows classified.
    pub windows: usize,
    /// Windows per class (index = class).
    pub per_class: Vec<usize>,
    /// Faulted windows (no class).
    pub faults: usize,
    /// Fraction of windows whose class is their label's (the label of a
    /// window's last row), when labels were given.
    pub accuracy: Option<f64>,
    /// Mean confidence over the classified windows.
    pub mean_confidence: f64,
    /// `classes.csv`, if written.
    pub out: Option<PathBuf>,
}

impl Report for ClassifyReport {
    fn text(&self) -> String {
        let mut s = format!(
            "classified {} windows with `{}`: mean confidence {:.4}",
            self.windows,
            self.model.display(),
            self.mean_confidence
        );
        if let Some(a) = self.accuracy {
            let _ = write!(s, ", accuracy {a:.4}");
        }
        if self.faults > 0 {
            let _ = write!(s, ", {} faulted", self.faults);
        }
        if let Some(p) = &self.out {
            let _ = write!(s, "; wrote {}", p.display());
        }
        let counts: Vec<String> = self
            .per_class
            .iter()
            .enumerate()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect();
        let _ = writeln!(s, "\nwindows per class  {}", counts.join(", "));
        s
    }
}

/// `edgeae classify`.
pub fn run(
    model_path: &Path,
    data_path: &Path,
    labels: Option<LabelSource>,
    out: Option<&Path>,
) -> Result<ClassifyReport> {
    let bytes = read_model_bytes(model_path)?;
    let model = parse(model_path, &bytes)?;
    let Some(classes) = model.classes() else {
        bail!(
            "`{}` is a {} autoencoder, not a classifier (train one with `edgeae train --kind classifier`)",
            model_path.display(),
            model.kind().name()
        );
    };
    let (table, row_labels) = match &labels {
        Some(source) => {
            let (table, l) = examples::load_table(data_path, source)?;
            let channels = model.input().channels as usize;
            if table.n_channels() != channels {
                bail!(
                    "`{}` has {} channels (besides the labels), the model takes {channels}",
                    data_path.display(),
                    table.n_channels()
                );
            }
            (table, Some(l))
        }
        None => (
            load_for_model(model_path, &model, data_path, LoadOptions::default())?,
            None,
        ),
    };
    let rows = classify_table(&model, &table)?;
    let (window, hop) = (model.input().window as usize, model.input().hop as usize);
    let mut per_class = vec![0usize; classes];
    let (mut right, mut confidence, mut classified) = (0usize, 0.0f64, 0usize);
    for r in rows.iter().filter(|r| r.fault == WindowFault::None) {
        if let Some(n) = per_class.get_mut(usize::from(r.class)) {
            *n += 1;
        }
        confidence += f64::from(r.confidence);
        classified += 1;
        let last = r.window as usize * hop + window - 1;
        right += usize::from(
            row_labels
                .as_ref()
                .and_then(|l| l.get(last))
                .is_some_and(|&y| y == u32::from(r.class)),
        );
    }
    if let Some(out) = out {
        write_classes(out, &rows)?;
    }
    Ok(ClassifyReport {
        model: model_path.to_path_buf(),
        windows: rows.len(),
        per_class,
        faults: rows.len() - classified,
        accuracy: row_labels.map(|_| right as f64 / rows.len().max(1) as f64),
        mean_confidence: confidence / classified.max(1) as f64,
        out: out.map(Path::to_path_buf),
    })
}
