//! `edgeae train --kind classifier`: unsupervised pretraining, as in
//! Géron's *Hands-On Machine Learning* (ch. 17). An autoencoder trained on
//! every example, labelled or not, lends its encoder (the layers up to and
//! including the codings layer) to a classifier: a softmax head, optionally
//! after one hidden SELU layer, trained with cross-entropy and Adam on the
//! labelled few. `Freeze` trains the head alone, `FineTune` the encoder too.
//! Without an encoder run the same architecture starts from random weights,
//! the comparison that shows what pretraining is worth.
//!
//! The network is one [`Net`]: the encoder's layers, then the head's, with
//! the head as the second decoder that reads the codings
//! ([`crate::nn::net::NetSpec::predict_from`]). It is saved to
//! `RUN_DIR/classifier.bin` ([`Saved`]) and as the f32 model file
//! `RUN_DIR/model.eam` ([`model_def`], kind classifier), which `edgeae
//! export` quantizes and a board runs in classify mode.

pub mod examples;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use dfdx::prelude::*;
use model_format::build::{InputBuf, ModelBuf, ProvenanceBuf, ScoringBuf};
use model_format::{Activation, ModelKind};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

pub use examples::{Examples, LabelSource};

use super::checkpoint::Checkpoint;
use super::config::{Kind, TrainConfig};
use crate::data::{Normalizer, class_labels::MAX_CLASSES};
use crate::nn::adam::Adam;
use crate::nn::net::{HostNet, LayerSpec, Net, NetSpec, ParamId};
use crate::nn::{Backend, Mat};

/// Where the encoder comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum EncoderChoice {
    /// The encoder of a finished `edgeae train` run.
    Run(PathBuf),
    /// A dense SELU encoder from random weights, shaped like `--kind
    /// stacked` with these widths.
    Fresh {
        /// Hidden widths (`--hidden`).
        hidden: Option<Vec<usize>>,
        /// Codings width (`--codings`).
        codings: Option<usize>,
        /// Rows per window.
        window: usize,
        /// Rows between windows.
        hop: usize,
    },
}

/// Which parameters the classifier trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// The head only: the encoder's weights stay exactly as they were.
    Freeze,
    /// The head and the encoder.
    FineTune,
}

impl Mode {
    /// The flag's name.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Freeze => "freeze",
            Mode::FineTune => "fine-tune",
        }
    }
}

/// The settings of a classifier run.
#[derive(Debug, Clone)]
pub struct ClassifierConfig {
    /// The data (CSV or IDX).
    pub data: PathBuf,
    /// Its labels.
    pub labels: LabelSource,
    /// Test data and its labels, measured at the end.
    pub test: Option<(PathBuf, LabelSource)>,
    /// The encoder.
    pub encoder: EncoderChoice,
    /// What trains.
    pub mode: Mode,
    /// Width of a hidden SELU layer in the head (none: softmax on the codings).
    pub head_hidden: Option<usize>,
    /// Use only the first N labelled windows (the rest count as unlabelled).
    pub labeled: Option<usize>,
    /// Fraction of the labelled windows held out to measure validation accuracy.
    pub val_split: f64,
    /// Passes over the training windows.
    pub epochs: usize,
    /// Mini-batch size.
    pub batch: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Seed of the head's weights, the split and the batch order.
    pub seed: u64,
    /// Run directory.
    pub out: PathBuf,
}

/// The file of a classifier run.
pub fn saved_path(out: &Path) -> PathBuf {
    out.join("classifier.bin")
}

const MAGIC: &[u8; 8] = b"EAECLAS\0";
const VERSION: u32 = 1;

/// What `RUN_DIR/classifier.bin` holds: `EAECLAS\0`, the version (`u32`,
/// little-endian), then this struct as postcard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Saved {
    /// The parameters, encoder then head (its spec's `predict_from` is
    /// restored from [`Saved::head_from`] on load).
    pub net: HostNet,
    /// Index of the head's first layer.
    pub head_from: usize,
    /// Number of classes (outputs of the head).
    pub classes: usize,
    /// Per-channel normalisation of the inputs.
    pub mean: Vec<f32>,
    /// Per-channel scale.
    pub scale: Vec<f32>,
    /// Rows per window.
    pub window: usize,
    /// Rows between windows.
    pub hop: usize,
    /// The encoder run, or `none`.
    pub encoder: String,
    /// What was trained.
    pub mode: Mode,
}

impl Saved {
    /// Writes `RUN_DIR/classifier.bin` atomically.
    pub fn save(&self, out: &Path) -> Result<()> {
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&VERSION.to_le_bytes());
        bytes.extend(postcard::to_allocvec(self).context("cannot encode the classifier")?);
        crate::data::files::write_atomic(&saved_path(out), &bytes)
    }

    /// Reads `RUN_DIR/classifier.bin`.
    pub fn load(out: &Path) -> Result<Saved> {
        let p = saved_path(out);
        let bytes = crate::data::files::read(&p)?;
        let body = bytes
            .strip_prefix(MAGIC.as_slice())
            .and_then(|b| b.strip_prefix(VERSION.to_le_bytes().as_slice()))
            .with_context(|| format!("`{}` is not a version {VERSION} classifier", p.display()))?;
        let mut saved: Saved =
            postcard::from_bytes(body).with_context(|| format!("`{}` is corrupt", p.display()))?;
        saved.net.spec.predict_from = Some(saved.head_from);
        Ok(saved)
    }
}

/// The classifier as an f32 model file: kind classifier, the encoder's
/// layers then the head's (the last outputs the logits), the codings layer
/// the encoder's last. The scoring section is the uncalibrated default: a
/// classifier's windows get classes, not alarms.
pub fn model_def(
    saved: &Saved,
    cfg: &ClassifierConfig,
    history: &[ClassifierEpoch],
) -> Result<ModelBuf> {
    let data_hash = crate::data::fnv1a64(&crate::data::files::read(&cfg.data)?);
    Ok(ModelBuf {
        kind: ModelKind::Classifier,
        input: InputBuf {
            channels: saved.mean.len() as u32,
            window: saved.window as u32,
            hop: saved.hop as u32,
            mean: saved.mean.clone(),
            scale: saved.scale.clone(),
        },
        layers: super::to_model::layers(&saved.net)?,
        codings_layer: u16::try_from(saved.head_from.saturating_sub(1))?,
        scoring: ScoringBuf::default(),
        provenance: ProvenanceBuf {
            seed: cfg.seed,
            epochs: history.len() as u32,
            train_loss: history.last().map(|e| e.loss as f32),
            val_loss: None,
            data_hash,
            tool: model_format::build::TOOL.to_string(),
        },
    })
}

/// One epoch's figures.
#[derive(Debug, Clone, Serialize)]
pub struct ClassifierEpoch {
    /// 1-based.
    pub epoch: usize,
    /// Mean cross-entropy over the epoch's batches.
    pub loss: f64,
}

/// A finished classifier run.
#[derive(Debug, Clone)]
pub struct Classified {
    /// What was saved.
    pub saved: Saved,
    /// Every epoch.
    pub history: Vec<ClassifierEpoch>,
    /// Windows trained on.
    pub train_windows: usize,
    /// Labelled windows left out by `labeled` (unlabelled for this run).
    pub unlabelled_windows: usize,
    /// Accuracy on the training windows.
    pub train_accuracy: f64,
    /// Held-out labelled windows and the accuracy on them.
    pub val: Option<(usize, f64)>,
    /// Test windows and the accuracy on them.
    pub test: Option<(usize, f64)>,
    /// Parameters trained (the head's alone when frozen).
    pub trained_parameters: usize,
    /// Seconds of training.
    pub training_s: f64,
}

/// The encoder to start from: its parameters (of the whole autoencoder,
/// `None` for a fresh one), its structure, and the input normalisation.
struct Start {
    host: Option<HostNet>,
    spec: NetSpec,
    normalizer: Option<Normalizer>,
    window: usize,
    hop: usize,
    channels: Option<usize>,
}

/// The encoder of the run in `dir` (its checkpoint and model file).
fn run_encoder(dir: &Path) -> Result<Start> {
    if !super::checkpoint::path(dir).is_file() {
        bail!(
            "--encoder `{}` is not a training run: it holds no checkpoint.bin (give the --out directory of an `edgeae train` run, or none)",
            dir.display()
        );
    }
    let ck = Checkpoint::load(dir)?;
    let model_path = super::run::model_path(dir);
    if !model_path.is_file() {
        bail!(
            "--encoder `{}` has no model.eam (a run that only predicts): its input normalisation is unknown",
            dir.display()
        );
    }
    let bytes = crate::data::files::read(&model_path)?;
    let model = firmware::Model::load(&bytes)
        .map_err(|e| anyhow::anyhow!("`{}` does not load: {e}", model_path.display()))?;
    let input = model.input();
    Ok(Start {
        spec: ck.net.spec.clone(),
        host: Some(ck.net),
        normalizer: Some(crate::data::normalizer(&model)),
        window: input.window as usize,
        hop: ck.config.hop.max(1),
        channels: Some(input.channels as usize),
    })
}

/// A fresh encoder's structure on inputs of `input_len` values: the
/// encoder half of `--kind stacked` with the same flags.
fn fresh_encoder(
    data: &Path,
    hidden: &Option<Vec<usize>>,
    codings: Option<usize>,
    input_len: usize,
) -> NetSpec {
    let mut cfg = TrainConfig::new(data.to_path_buf(), Kind::Stacked, PathBuf::new());
    cfg.hidden = hidden.clone();
    cfg.codings = codings;
    super::arch::dense_spec(&cfg, input_len, Activation::Identity)
}

/// The classifier's structure: `encoder`'s layers through its codings
/// layer, then the head.
pub fn classifier_spec(encoder: &NetSpec, head_hidden: Option<usize>, classes: usize) -> NetSpec {
    let codings = encoder.codings_len();
    let mut layers = encoder.layers[..=encoder.codings_layer].to_vec();
    let mut width = codings;
    if let Some(h) = head_hidden {
        layers.push(LayerSpec::Dense {
            inputs: width,
            outputs: h,
            activation: Activation::Selu,
        });
        width = h;
    }
    layers.push(LayerSpec::Dense {
        inputs: width,
        outputs: classes,
        activation: Activation::Identity,
    });
    NetSpec {
        layers,
        codings_layer: encoder.codings_layer,
        logvar_head: false,
        predict_from: Some(encoder.codings_layer + 1),
    }
}

/// Trains a classifier per `cfg` and saves it to `RUN_DIR/classifier.bin`.
pub fn train(cfg: &ClassifierConfig) -> Result<Classified> {
    if cfg.epochs == 0 || cfg.batch == 0 {
        bail!("--epochs and --batch must be at least 1");
    }
    if !(0.0..1.0).contains(&cfg.val_split) {
        bail!(
            "--val-split {} is outside [0, 1): it is the fraction of the labelled windows held out",
            cfg.val_split
        );
    }
    if cfg.head_hidden == Some(0) {
        bail!("--head-hidden 0 is no layer: leave it out for a softmax on the codings");
    }
    let (table, labels) = examples::load_table(&cfg.data, &cfg.labels)?;
    let start = match &cfg.encoder {
        EncoderChoice::Run(dir) => run_encoder(dir)?,
        EncoderChoice::Fresh {
            hidden,
            codings,
            window,
            hop,
        } => Start {
            spec: fresh_encoder(&cfg.data, hidden, *codings, window * table.n_channels()),
            host: None,
            normalizer: None,
            window: *window,
            hop: *hop,
            channels: None,
        },
    };
    let input_len = start.window * table.n_channels();
    if start.spec.input_len() != input_len
        || start.channels.is_some_and(|c| c != table.n_channels())
    {
        bail!(
            "the encoder takes windows of {} values, but {}-row windows of `{}` hold {input_len} ({} channels): train the encoder on data shaped like this",
            start.spec.input_len(),
            start.window,
            cfg.data.display(),
            table.n_channels()
        );
    }
    let all = examples::windows(&table, &labels, start.window, start.hop)?;
    let labelled = cfg.labeled.unwrap_or(all.count()).min(all.count());
    if labelled < 2 {
        bail!(
            "`{}` gives {labelled} labelled window(s): a classifier needs at least 2",
            cfg.data.display()
        );
    }
    let mut order: Vec<usize> = (0..labelled).collect();
    order.shuffle(&mut crate::rng::seeded(cfg.seed ^ 0x0c1a_55e5));
    let n_val = (labelled as f64 * cfg.val_split).round() as usize;
    let val_idx = order.split_off(labelled - n_val);
    let mut train_set = all.pick(&order);
    let mut val_set = all.pick(&val_idx);
    let mut test_set = match &cfg.test {
        Some((path, source)) => {
            let (t, l) = examples::load_table(path, source)?;
            if t.n_channels() != table.n_channels() {
                bail!(
                    "`{}` has {} channels, `{}` {}: test data needs the training data's channels",
                    path.display(),
                    t.n_channels(),
                    cfg.data.display(),
                    table.n_channels()
                );
            }
            Some(examples::windows(&t, &l, start.window, start.hop)?)
        }
        None => None,
    };
    let normalizer = start.normalizer.clone().unwrap_or_else(|| {
        if crate::data::is_unit_range(&train_set.x) {
            Normalizer::identity(table.n_channels())
        } else {
            Normalizer::fit(&train_set.x, table.n_channels())
        }
    });
    for set in [Some(&mut train_set), Some(&mut val_set), test_set.as_mut()]
        .into_iter()
        .flatten()
    {
        set.normalize(&normalizer);
    }
    let classes = train_set
        .y
        .iter()
        .chain(&val_set.y)
        .chain(test_set.iter().flat_map(|t| &t.y))
        .max()
        .map_or(0, |&m| m as usize + 1);
    if classes > MAX_CLASSES {
        bail!("{classes} classes are more than the head allows (at most {MAX_CLASSES})");
    }
    if classes < 2 {
        bail!(
            "every labelled window of `{}` is class 0: a classifier needs at least 2 classes",
            cfg.data.display()
        );
    }
    let spec = classifier_spec(&start.spec, cfg.head_hidden, classes);
    let t0 = Instant::now();
    let dev = Cpu::default();
    let threads = super::run::auto_threads(cfg.batch, spec.macs());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .context("cannot start the training threads")?;
    let (net, history) = pool.install(|| fit(&dev, cfg, &spec, start.host.as_ref(), &train_set))?;
    let train_accuracy = accuracy(&net, &train_set)?;
    let val = match val_set.count() {
        0 => None,
        n => Some((n, accuracy(&net, &val_set)?)),
    };
    let test = match &test_set {
        Some(t) => Some((t.count(), accuracy(&net, t)?)),
        None => None,
    };
    let training_s = t0.elapsed().as_secs_f64();
    let host = net.to_host();
    let head_from = spec.codings_layer + 1;
    let trained_parameters = (0..host.spec.layers.len())
        .filter(|&i| cfg.mode == Mode::FineTune || i >= head_from)
        .map(|i| host.weights[i].as_ref().map_or(0, Vec::len) + host.biases[i].len())
        .sum();
    let saved = Saved {
        net: host,
        head_from,
        classes,
        mean: normalizer.mean,
        scale: normalizer.scale,
        window: start.window,
        hop: start.hop,
        encoder: match &cfg.encoder {
            EncoderChoice::Run(d) => d.display().to_string(),
            EncoderChoice::Fresh { .. } => "none".to_string(),
        },
        mode: cfg.mode,
    };
    std::fs::create_dir_all(&cfg.out)
        .with_context(|| format!("cannot create the run directory `{}`", cfg.out.display()))?;
    saved.save(&cfg.out)?;
    Ok(Classified {
        saved,
        history,
        train_windows: train_set.count(),
        unlabelled_windows: all.count() - labelled,
        train_accuracy,
        val,
        test,
        trained_parameters,
        training_s,
    })
}

/// The training loop: `cfg.epochs` passes over `set` in shuffled
/// mini-batches, cross-entropy of the softmax against the class.
fn fit<D: Backend<f32>>(
    dev: &D,
    cfg: &ClassifierConfig,
    spec: &NetSpec,
    encoder: Option<&HostNet>,
    set: &Examples,
) -> Result<(Net<f32, D>, Vec<ClassifierEpoch>)> {
    let mut net = Net::init(dev, spec.clone(), cfg.seed)?;
    let head_from = spec.codings_layer + 1;
    if let Some(enc) = encoder {
        let mut host = net.to_host();
        for i in 0..head_from {
            host.weights[i].clone_from(&enc.weights[i]);
            host.biases[i].clone_from(&enc.biases[i]);
        }
        net = Net::from_host(dev, &host)?;
    }
    let mode = cfg.mode;
    let filter = move |id: ParamId| match (mode, id) {
        (Mode::FineTune, _) => true,
        (Mode::Freeze, ParamId::Weight(i) | ParamId::Bias(i)) => i >= head_from,
        (Mode::Freeze, _) => false,
    };
    let classes = spec.widths(spec.layers.len() - 1).map_or(0, |w| w.1);
    let dim = set.input_len;
    let path = spec.predict_path();
    let mut adam = Adam::new(cfg.lr);
    let mut rng = crate::rng::seeded(cfg.seed ^ 0x0ba7_c4e5);
    let mut order: Vec<usize> = (0..set.count()).collect();
    let mut history = Vec::with_capacity(cfg.epochs);
    for epoch in 1..=cfg.epochs {
        order.shuffle(&mut rng);
        let (mut total, mut batches) = (0.0f64, 0usize);
        for idx in order.chunks(cfg.batch) {
            let rows = idx.len();
            let x: Mat<f32, D> = dev.tensor_from_vec(
                crate::train::objective::gather_rows(&set.x, set.count(), idx),
                (rows, dim),
            );
            let mut onehot = vec![0.0f32; rows * classes];
            for (r, &i) in idx.iter().enumerate() {
                onehot[r * classes + set.y[i] as usize] = 1.0;
            }
            let target: Mat<f32, D> = dev.tensor_from_vec(onehot, (rows, classes));
            let logits = net.forward(x.leaky_trace(), path.iter().copied(), true)?;
            let loss = cross_entropy_with_logits_loss(logits, target);
            let value = crate::nn::scalar(&loss);
            if !value.is_finite() {
                bail!(
                    "training diverged in epoch {epoch} (loss {value}): lower --lr (now {})",
                    cfg.lr
                );
            }
            total += f64::from(value);
            batches += 1;
            let mut grads = loss.backward();
            adam.step(&mut net, &mut grads, filter)?;
        }
        history.push(ClassifierEpoch {
            epoch,
            loss: total / batches.max(1) as f64,
        });
    }
    Ok((net, history))
}

/// The classes `net` predicts for the windows of `set` (argmax of the logits).
pub fn predict(net: &Net<f32, Cpu>, set: &Examples) -> Result<Vec<u32>> {
    let logits = crate::train::objective::host_forward(
        net,
        &net.spec.predict_path(),
        &set.x,
        set.input_len,
    )?;
    let classes = logits.len() / set.count().max(1);
    Ok(logits
        .chunks(classes.max(1))
        .map(|row| {
            row.iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |best, (k, &v)| {
                    if v > best.1 { (k, v) } else { best }
                })
                .0 as u32
        })
        .collect())
}

/// The fraction of `set`'s windows whose class `net` predicts.
fn accuracy(net: &Net<f32, Cpu>, set: &Examples) -> Result<f64> {
    let predicted = predict(net, set)?;
    let right = predicted.iter().zip(&set.y).filter(|(p, y)| p == y).count();
    Ok(right as f64 / set.count().max(1) as f64)
}
