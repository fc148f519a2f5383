//! From a data file to normalised training and validation matrices.

use anyhow::{Result, bail};
use model_format::Activation;
use rand::seq::SliceRandom;
use rand::{SeedableRng, rngs::StdRng};

use super::config::{Kind, LossChoice, Normalize, TrainConfig};
use crate::data::{self, LoadOptions, Normalizer, Source, Table};
use crate::export::fnv1a64;
use crate::nn::loss::Recon;

/// Normalised windows ready to train on.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Where the data came from.
    pub source: Source,
    /// Channel names.
    pub channel_names: Vec<String>,
    /// Values per window (`channels * window`).
    pub input_len: usize,
    /// Per-channel normalisation (stored in the model).
    pub normalizer: Normalizer,
    /// Training windows, row-major, normalised.
    pub train: Vec<f32>,
    /// Validation windows, row-major, normalised.
    pub val: Vec<f32>,
    /// Reconstruction loss.
    pub recon: Recon,
    /// Activation of the output layer.
    pub output: Activation,
    /// FNV-1a 64 of the data file.
    pub data_hash: u64,
    /// Windows left out because a row in them was labelled anomalous.
    pub excluded_anomalous: usize,
    /// Validation loss of predicting the mean training window.
    pub baseline: f64,
}

impl Prepared {
    /// Training windows.
    pub fn n_train(&self) -> usize {
        self.train.len() / self.input_len.max(1)
    }

    /// Validation windows.
    pub fn n_val(&self) -> usize {
        self.val.len() / self.input_len.max(1)
    }
}

/// Reads, windows, filters, splits and normalises the data of `cfg`.
pub fn prepare(cfg: &TrainConfig) -> Result<Prepared> {
    let bytes = crate::fsx::read(&cfg.data)?;
    let data_hash = fnv1a64(&bytes);
    let table = data::load_bytes(&cfg.data, &bytes, LoadOptions::default())?;
    prepare_table(cfg, &table, data_hash)
}

/// [`prepare`] for a table already loaded.
pub fn prepare_table(cfg: &TrainConfig, table: &Table, data_hash: u64) -> Result<Prepared> {
    let path = &cfg.data;
    let channels = table.n_channels();
    let input_len = channels * cfg.window;
    let mut starts = data::window_starts(path, table.rows(), cfg.window, cfg.hop)?;
    let mut excluded_anomalous = 0;
    if let Some(labels) = data::window_labels(table, &starts, cfg.window) {
        let before = starts.len();
        starts = starts
            .into_iter()
            .zip(labels)
            .filter(|(_, l)| *l == 0)
            .map(|(s, _)| s)
            .collect();
        excluded_anomalous = before - starts.len();
        if starts.is_empty() {
            bail!(
                "every window of `{}` contains a row labelled anomalous: train on normal data",
                path.display()
            );
        }
    }
    if let Some(limit) = cfg.limit {
        starts.truncate(limit);
    }
    let n = starts.len();
    let mut n_val = (n as f64 * cfg.val_split).round() as usize;
    if cfg.val_split > 0.0 && n_val == 0 && n >= 2 {
        n_val = 1;
    }
    if n_val >= n {
        bail!(
            "`{}` gives {n} window(s): too few to train on and hold {n_val} out for validation",
            path.display()
        );
    }
    let (train_starts, val_starts): (Vec<usize>, Vec<usize>) = if cfg.window > 1 {
        // A time series: validate on the end, and drop the training windows
        // that overlap the first validation window, so no sample is in both.
        let split = n - n_val;
        let first_val = starts.get(split).copied().unwrap_or(usize::MAX);
        let train: Vec<usize> = starts[..split]
            .iter()
            .copied()
            .filter(|s| n_val == 0 || s + cfg.window <= first_val)
            .collect();
        (train, starts[split..].to_vec())
    } else {
        let mut shuffled = starts.clone();
        shuffled.shuffle(&mut StdRng::seed_from_u64(cfg.seed ^ 0x5eed_5917));
        let val = shuffled.split_off(n - n_val);
        (shuffled, val)
    };
    if train_starts.is_empty() {
        bail!(
            "`{}` leaves no training window after holding out validation data; lower --val-split or --window",
            path.display()
        );
    }
    let mut train = data::gather(table, &train_starts, cfg.window);
    let mut val = data::gather(table, &val_starts, cfg.window);

    let unit = data::is_unit_range(&train) && data::is_unit_range(&val);
    let normalizer = match cfg.normalize {
        Normalize::Auto if unit => Normalizer::identity(channels),
        Normalize::Auto | Normalize::Zscore => Normalizer::fit(&train, channels),
        Normalize::Center => {
            let mut n = Normalizer::fit(&train, channels);
            n.scale.iter_mut().for_each(|s| *s = 1.0);
            n
        }
        Normalize::None => Normalizer::identity(channels),
    };
    normalizer.apply(&mut train);
    normalizer.apply(&mut val);
    let unit_after = data::is_unit_range(&train) && data::is_unit_range(&val);
    let recon = match (cfg.kind, cfg.loss) {
        (Kind::Linear, LossChoice::Bce) => {
            bail!("--loss bce needs a sigmoid output; the linear kind has none")
        }
        (Kind::Linear, _) | (_, LossChoice::Mse) => Recon::Mse,
        (_, LossChoice::Auto) if unit_after => Recon::BceWithLogits,
        (_, LossChoice::Auto) => Recon::Mse,
        (_, LossChoice::Bce) if unit_after => Recon::BceWithLogits,
        (_, LossChoice::Bce) => bail!(
            "--loss bce needs inputs in [0, 1] after normalisation; `{}` has values outside (use --normalize none on [0, 1] data)",
            path.display()
        ),
    };
    let output = match recon {
        Recon::BceWithLogits => Activation::Sigmoid,
        Recon::Mse => Activation::Identity,
    };
    let baseline = mean_baseline(&train, &val, input_len, recon);
    Ok(Prepared {
        source: table.source.clone(),
        channel_names: table.channels.clone(),
        input_len,
        normalizer,
        train,
        val,
        recon,
        output,
        data_hash,
        excluded_anomalous,
        baseline,
    })
}

/// The validation loss of always predicting the mean training window: what
/// a model must beat to have learned anything.
pub fn mean_baseline(train: &[f32], val: &[f32], dim: usize, recon: Recon) -> f64 {
    if dim == 0 || val.is_empty() || train.is_empty() {
        return f64::NAN;
    }
    let n = train.len() / dim;
    let mut mean = vec![0.0f64; dim];
    for row in train.chunks_exact(dim) {
        for (m, x) in mean.iter_mut().zip(row) {
            *m += f64::from(*x);
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let mut total = 0.0;
    for row in val.chunks_exact(dim) {
        for (m, x) in mean.iter().zip(row) {
            let x = f64::from(*x);
            total += match recon {
                Recon::Mse => (x - m).powi(2),
                Recon::BceWithLogits => {
                    let p = m.clamp(1e-7, 1.0 - 1e-7);
                    -(x * p.ln() + (1.0 - x) * (1.0 - p).ln())
                }
            };
        }
    }
    total / val.len() as f64
}
