//! The body of a model file: what it is, what it eats, its layers, how it
//! scores, and where it came from. Field order here is wire order.

use heapless::Vec;
use serde::{Deserialize, Serialize};

use crate::{F32s, Layer, MAX_LAYERS};

/// Which member of the autoencoder family produced the model. Informational:
/// the runtime only looks at the layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(rename_all = "snake_case")] // names matter only to self-describing formats (JSON)
#[non_exhaustive]
pub enum ModelKind {
    /// Built by hand or imported (tag 0).
    Custom,
    /// Undercomplete linear autoencoder (PCA subspace) (tag 1).
    Linear,
    /// Stacked (deep) symmetric autoencoder (tag 2).
    Stacked,
    /// Stacked with tied weights (tag 3).
    Tied,
    /// Trained greedily layer by layer, then stacked (tag 4).
    Greedy,
    /// Denoising autoencoder (tag 5).
    Denoising,
    /// Sparse autoencoder (tag 6).
    Sparse,
    /// Variational autoencoder; the encoder stores the mean head only (tag 7).
    #[serde(rename = "vae")]
    Variational,
    /// Closed-form linear autoencoder: the top-k principal components of
    /// the training windows as encoder and decoder (tag 8, format version 3).
    Pca,
    /// Convolutional autoencoder: conv2d over images or conv1d over sensor
    /// windows (tag 9, format version 4).
    Conv,
    /// Recurrent (sequence-to-sequence) autoencoder: an LSTM or GRU
    /// encoder, the codings repeated over the window, a recurrent decoder
    /// (tag 10, format version 5).
    Recurrent,
    /// Classifier: a trained encoder (the layers up to and including the
    /// codings layer) under a head whose last dense layer outputs one logit
    /// per class; the class is the argmax of the logits (tag 11, format
    /// version 7). Not an autoencoder: the last layer's width is the class
    /// count (2 to [`crate::MAX_CLASSES`]), not the input width, and the
    /// scoring section is not used for classes.
    Classifier,
}

impl ModelKind {
    /// Lower-case name, as the CLI spells it.
    pub const fn name(self) -> &'static str {
        match self {
            ModelKind::Custom => "custom",
            ModelKind::Linear => "linear",
            ModelKind::Stacked => "stacked",
            ModelKind::Tied => "tied",
            ModelKind::Greedy => "greedy",
            ModelKind::Denoising => "denoising",
            ModelKind::Sparse => "sparse",
            ModelKind::Variational => "vae",
            ModelKind::Pca => "pca",
            ModelKind::Conv => "conv",
            ModelKind::Recurrent => "recurrent",
            ModelKind::Classifier => "classifier",
        }
    }

    /// The oldest format version that has this kind: 3 for
    /// [`ModelKind::Pca`], 4 for [`ModelKind::Conv`], 5 for
    /// [`ModelKind::Recurrent`], 7 for [`ModelKind::Classifier`], 1 for
    /// the others. An older reader does not
    /// know the tag, so [`crate::Model::load`] refuses it in an older file.
    pub const fn min_version(self) -> u16 {
        match self {
            ModelKind::Custom
            | ModelKind::Linear
            | ModelKind::Stacked
            | ModelKind::Tied
            | ModelKind::Greedy
            | ModelKind::Denoising
            | ModelKind::Sparse
            | ModelKind::Variational => 1,
            ModelKind::Pca => 3,
            ModelKind::Conv => 4,
            ModelKind::Recurrent => 5,
            ModelKind::Classifier => 7,
        }
    }
}

/// What the model eats: frames of `channels` samples, grouped in windows of
/// `window` frames taken every `hop` frames, normalised per channel as
/// `(x - mean[c]) * scale[c]`. A window is fed time-major:
/// `[t0c0, t0c1, …, t1c0, …]`, `channels * window` values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct InputSpec<'a> {
    /// Samples per frame (sensor channels, or pixels of an image).
    pub channels: u32,
    /// Frames per window (1 for row vectors and images).
    pub window: u32,
    /// Frames between the starts of two windows.
    pub hop: u32,
    /// Per-channel mean, `channels` values.
    #[serde(borrow)]
    pub mean: F32s<'a>,
    /// Per-channel scale (1 / standard deviation), `channels` values.
    #[serde(borrow)]
    pub scale: F32s<'a>,
}

/// How reconstruction error is measured over a window (in normalised units).
///
/// Each is a mean over the window's `channels * window` values;
/// `firmware::scoring::window_error` is the reference arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Metric<'a> {
    /// Mean squared error (tag 0).
    Mse,
    /// Mean absolute error (tag 1).
    Mae,
    /// Mean squared error with one weight per channel (tag 2): `channels`
    /// finite values, each >= 0.
    #[serde(borrow)]
    WeightedMse(F32s<'a>),
    /// Mean squared error with one weight per value of the window (tag 3,
    /// format version 3): `channels * window` finite values, each >= 0,
    /// time-major like the input (value `i` belongs to frame
    /// `i / channels`, channel `i % channels`). The window error is the mean
    /// of `w[i]·(x[i] − y[i])²`. With `w[i]` set to 1 / the mean squared
    /// reconstruction residual at position `i` over normal windows, each
    /// position's error is measured against its own spread on normal data
    /// (a diagonal Mahalanobis score of the residual).
    #[serde(borrow)]
    Standardized(F32s<'a>),
}

impl Metric<'_> {
    /// Lower-case name.
    pub const fn name(&self) -> &'static str {
        match self {
            Metric::Mse => "mse",
            Metric::Mae => "mae",
            Metric::WeightedMse(_) => "weighted_mse",
            Metric::Standardized(_) => "standardized",
        }
    }

    /// The oldest format version that has this metric: 3 for
    /// [`Metric::Standardized`], 1 for the others. An older reader does not
    /// know the tag, so [`crate::Model::load`] refuses it in an older file.
    pub const fn min_version(&self) -> u16 {
        match self {
            Metric::Standardized(_) => 3,
            Metric::Mse | Metric::Mae | Metric::WeightedMse(_) => 1,
        }
    }
}

/// Statistics of the error on held-out normal windows, from which the
/// threshold was set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Calibration {
    /// Number of windows the statistics come from.
    pub windows: u32,
    /// The quantile of the error the threshold was set at (e.g. 0.99).
    pub quantile: f32,
    /// Mean error.
    pub mean: f32,
    /// Standard deviation of the error.
    pub std: f32,
    /// Median error.
    pub p50: f32,
    /// 90th percentile.
    pub p90: f32,
    /// 99th percentile.
    pub p99: f32,
    /// Largest error seen.
    pub max: f32,
}

/// How windows are scored and turned into alarms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScoringSpec<'a> {
    /// Error metric.
    #[serde(borrow)]
    pub metric: Metric<'a>,
    /// Smoothed score above which the alarm is raised. `+inf` means not
    /// calibrated (never alarms).
    pub threshold: f32,
    /// Smoothed score below which a raised alarm clears (hysteresis);
    /// at most `threshold`.
    pub clear_threshold: f32,
    /// Weight of the newest score in the exponential moving average,
    /// in (0, 1]; 1 means no smoothing.
    pub smoothing: f32,
    /// How the threshold was calibrated, if it was.
    pub calibration: Option<Calibration>,
}

impl ScoringSpec<'_> {
    /// MSE, no threshold, no smoothing.
    pub const UNCALIBRATED: ScoringSpec<'static> = ScoringSpec {
        metric: Metric::Mse,
        threshold: f32::INFINITY,
        clear_threshold: f32::INFINITY,
        smoothing: 1.0,
        calibration: None,
    };
}

/// Where the model came from. Informational; not checked.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Provenance<'a> {
    /// Seed of every random number generator used in training.
    pub seed: u64,
    /// Epochs trained.
    pub epochs: u32,
    /// Final training loss.
    pub train_loss: Option<f32>,
    /// Final validation loss.
    pub val_loss: Option<f32>,
    /// FNV-1a 64 hash of the training data file, 0 if unknown.
    pub data_hash: u64,
    /// The tool and version that wrote the file, e.g. `edgeae 0.1.0`.
    #[serde(borrow)]
    pub tool: &'a str,
}

impl Provenance<'_> {
    /// Nothing known.
    pub const UNKNOWN: Provenance<'static> = Provenance {
        seed: 0,
        epochs: 0,
        train_loss: None,
        val_loss: None,
        data_hash: 0,
        tool: "",
    };
}

/// The layer list of a model.
pub type Layers<'a> = Vec<Layer<'a>, MAX_LAYERS>;

/// The whole body of a model file, borrowed from its bytes.
///
/// Build one and call `encode` (feature `alloc`) to write a file; read one
/// back with [`crate::Model::load`], which validates it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec<'a> {
    /// Autoencoder kind.
    pub kind: ModelKind,
    /// Input spec.
    #[serde(borrow)]
    pub input: InputSpec<'a>,
    /// Layers, executed in order.
    #[serde(borrow)]
    pub layers: Layers<'a>,
    /// Index of the layer whose output is the codings (the last encoder layer).
    pub codings_layer: u16,
    /// Scoring.
    #[serde(borrow)]
    pub scoring: ScoringSpec<'a>,
    /// Provenance.
    #[serde(borrow)]
    pub provenance: Provenance<'a>,
}

impl<'a> ModelSpec<'a> {
    /// Every f32 tensor of the body, in wire order: the input's mean and
    /// scale, the layers' weights and biases, the metric's weights.
    pub fn f32_tensors(&self) -> impl Iterator<Item = F32s<'a>> + '_ {
        let metric = match self.scoring.metric {
            Metric::WeightedMse(w) | Metric::Standardized(w) => Some(w),
            Metric::Mse | Metric::Mae => None,
        };
        [self.input.mean, self.input.scale]
            .into_iter()
            .chain(self.layers.iter().flat_map(Layer::f32_tensors))
            .chain(metric)
    }

    /// True when a layer has f32 weights (dense, tied dense, convolution,
    /// transposed convolution, recurrent): the writer aligns such a file
    /// (format version 8, [`crate::ALIGNED_VERSION`]).
    pub fn has_f32_layers(&self) -> bool {
        self.layers.iter().any(|l| l.f32_tensors().next().is_some())
    }
}
