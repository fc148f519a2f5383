//! The network of each kind, and the phases it is trained in.

use anyhow::{Result, ensure};
use model_format::Activation;

use super::config::{Kind, TrainConfig};
use super::conv_arch;
use super::prepare::Prepared;
use crate::data::Source;
use crate::nn::conv_shape::MapShape;
use crate::nn::loss::Recon;
use crate::nn::net::{LayerSpec, NetSpec};
use crate::nn::recurrent::RnnSpec;

/// The structure of the network for `cfg` on `data`: convolutional with
/// `--arch` (or `--kind conv`), recurrent for `--kind recurrent`, else the
/// dense stack of the kind.
pub fn net_spec(cfg: &TrainConfig, data: &Prepared) -> Result<NetSpec> {
    if cfg.kind == Kind::Recurrent {
        return recurrent_spec(cfg, data.input_len, data.output);
    }
    let arch = match (&cfg.arch, cfg.kind) {
        (Some(a), _) => a.as_str(),
        (None, Kind::Conv) => "auto",
        (None, _) => return Ok(dense_spec(cfg, data.input_len, data.output)),
    };
    let input = input_map(cfg, data)?;
    let arch = if arch == "auto" {
        conv_arch::default_arch(input, cfg.codings)?
    } else {
        arch.to_string()
    };
    let codings = match cfg.kind {
        Kind::Sparse => Some(Activation::Sigmoid),
        Kind::Vae => Some(Activation::Identity),
        _ => None,
    };
    let mut spec = conv_arch::parse(&arch, input, data.output, codings)?;
    spec.logvar_head = cfg.kind == Kind::Vae;
    spec.check()?;
    Ok(spec)
}

/// The feature map one window is: an `--image` CSV row or an IDX image
/// (`h × w × c`), else `window` frames of the data's channels (a 1-D map).
pub fn input_map(cfg: &TrainConfig, data: &Prepared) -> Result<MapShape> {
    Ok(match (cfg.image, &data.source) {
        (Some([h, w, c]), _) => {
            ensure!(
                h * w * c == data.input_len,
                "--image {h}x{w}x{c} is {} values, a window of `{}` has {}",
                h * w * c,
                cfg.data.display(),
                data.input_len
            );
            MapShape::new(h, w, c)
        }
        (None, Source::Idx { width, height }) if cfg.window == 1 => {
            MapShape::new(*height, *width, 1)
        }
        _ => MapShape::line(cfg.window, data.input_len / cfg.window.max(1)),
    })
}

/// The dense stack of `cfg.kind` on inputs of `input_len` values, with
/// `output` the activation of the last layer.
pub fn dense_spec(cfg: &TrainConfig, input_len: usize, output: Activation) -> NetSpec {
    let codings = cfg.codings_for(input_len);
    let hidden = cfg.hidden_for(input_len);
    let (hidden_act, codings_act) = match cfg.kind {
        Kind::Linear | Kind::Pca => (Activation::Identity, Activation::Identity),
        Kind::Sparse => (Activation::Selu, Activation::Sigmoid),
        Kind::Vae => (Activation::Selu, Activation::Identity),
        Kind::Stacked
        | Kind::Tied
        | Kind::Greedy
        | Kind::Denoising
        | Kind::Conv
        | Kind::Recurrent => (Activation::Selu, Activation::Selu),
    };
    let mut widths = vec![input_len];
    widths.extend(&hidden);
    widths.push(codings);
    let depth = widths.len() - 1; // encoder layers
    let mut layers = Vec::new();
    for (k, pair) in widths.windows(2).enumerate() {
        layers.push(LayerSpec::Dense {
            inputs: pair[0],
            outputs: pair[1],
            activation: if k + 1 == depth {
                codings_act
            } else {
                hidden_act
            },
        });
    }
    for k in (0..depth).rev() {
        let activation = if k == 0 { output } else { hidden_act };
        layers.push(if matches!(cfg.kind, Kind::Tied | Kind::Pca) {
            LayerSpec::Tied {
                source: k,
                activation,
            }
        } else {
            LayerSpec::Dense {
                inputs: widths[k + 1],
                outputs: widths[k],
                activation,
            }
        });
    }
    NetSpec {
        layers,
        codings_layer: depth - 1,
        logvar_head: cfg.kind == Kind::Vae,
        predict_from: None,
    }
}

/// The default hidden width of a recurrent autoencoder with `codings`
/// codings: twice the codings, between 8 and 64.
pub fn recurrent_hidden(codings: usize) -> usize {
    (2 * codings).clamp(8, 64)
}

/// The recurrent autoencoder of `cfg` on windows of `input_len` values
/// (`cfg.window` time steps of `input_len / window` channels, time-major),
/// after Géron's (*Hands-On Machine Learning*, ch. 17): per `--hidden`
/// width `h` a sequence-to-sequence recurrent layer, then a
/// sequence-to-vector one to the codings; the decoder repeats the codings
/// at every time step, mirrors the encoder's sequence-to-sequence layers
/// and ends in a time-distributed dense layer back to the channels (with
/// the run's output activation). `--hidden` defaults to one layer of
/// [`recurrent_hidden`]; every recurrent layer has the `--cell` cell.
///
/// ```text
/// LSTM(seq, h) → LSTM(vec, codings) | repeat(window) → LSTM(seq, h) → dense(channels) per step
/// ```
///
/// `--objective predict` replaces that decoder by one over the `--horizon`
/// steps after the window (the same layers, `horizon` steps long), and
/// `--objective composite` keeps both, the predicting one after the
/// reconstructing one in the layer list ([`NetSpec::predict_from`]).
pub fn recurrent_spec(cfg: &TrainConfig, input_len: usize, output: Activation) -> Result<NetSpec> {
    let steps = cfg.window;
    ensure!(
        steps >= 2 && input_len.is_multiple_of(steps) && input_len > 0,
        "--kind recurrent needs windows of at least 2 time steps (--window), got {steps} steps for {input_len} values"
    );
    let channels = input_len / steps;
    let codings = cfg.codings_for(input_len);
    let hidden = cfg
        .hidden
        .clone()
        .unwrap_or_else(|| vec![recurrent_hidden(codings)]);
    let cell = cfg.recurrent.cell;
    let rnn = |inputs, hidden, sequences| LayerSpec::Recurrent {
        spec: RnnSpec {
            cell,
            inputs,
            hidden,
            steps,
            sequences,
        },
    };
    let mut layers = Vec::new();
    let mut width = channels;
    for &h in &hidden {
        layers.push(rnn(width, h, true));
        width = h;
    }
    layers.push(rnn(width, codings, false));
    let codings_layer = layers.len() - 1;
    // A decoder over `steps` time steps: the codings repeated at every
    // step, the encoder's sequence-to-sequence layers mirrored, a
    // time-distributed dense layer back to the channels.
    let decoder = |layers: &mut Vec<LayerSpec>, steps: usize| {
        let rnn = |inputs, hidden| LayerSpec::Recurrent {
            spec: RnnSpec {
                cell,
                inputs,
                hidden,
                steps,
                sequences: true,
            },
        };
        layers.push(LayerSpec::Repeat {
            width: codings,
            steps,
        });
        let mut width = codings;
        for &h in hidden.iter().rev() {
            layers.push(rnn(width, h));
            width = h;
        }
        if hidden.is_empty() {
            // The repeated codings alone would feed the output layer the
            // same vector at every step: one recurrent layer gives it time.
            layers.push(rnn(codings, codings));
        }
        layers.push(LayerSpec::TimeDense {
            inputs: width,
            outputs: channels,
            steps,
            activation: output,
        });
    };
    let objective = cfg.recurrent.objective;
    if objective.reconstructs() {
        decoder(&mut layers, steps);
    }
    let predict_from = if objective.predicts() {
        let from = layers.len();
        decoder(&mut layers, cfg.recurrent.horizon);
        Some(from)
    } else {
        None
    };
    let spec = NetSpec {
        layers,
        codings_layer,
        logvar_head: false,
        predict_from,
    };
    spec.check()?;
    Ok(spec)
}

/// What a phase feeds its layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhaseInput {
    /// The (normalised) data.
    Data,
    /// The data encoded by the first `n` layers (frozen).
    Encoded(usize),
}

/// One stretch of training.
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    /// Shown in progress and history.
    pub name: String,
    /// Layers run, in order.
    pub path: Vec<usize>,
    /// Layers whose parameters are updated.
    pub trainable: Vec<usize>,
    /// Input.
    pub input: PhaseInput,
    /// Epochs (`None`: until the validation loss stops improving).
    pub epochs: Option<usize>,
    /// Reconstruction loss of this phase.
    pub recon: Recon,
    /// Whether the kind's extras (noise, sparsity, VAE terms) apply.
    pub full: bool,
}

/// The phases of a run: one for every kind but `greedy`, which trains one
/// shallow autoencoder per encoder layer (layer `k` with its mirror, on the
/// data encoded by layers `0..k`), then optionally fine-tunes the stack.
pub fn phases(cfg: &TrainConfig, spec: &NetSpec, recon: Recon) -> Vec<Phase> {
    let n = spec.layers.len();
    if cfg.kind != Kind::Greedy {
        return vec![Phase {
            name: cfg.kind.to_string(),
            path: (0..n).collect(),
            trainable: (0..n).collect(),
            input: PhaseInput::Data,
            epochs: cfg.epochs,
            recon,
            full: true,
        }];
    }
    let depth = spec.codings_layer + 1;
    let mut out: Vec<Phase> = (0..depth)
        .map(|k| Phase {
            name: format!("greedy stage {}/{depth}", k + 1),
            path: vec![k, n - 1 - k],
            trainable: vec![k, n - 1 - k],
            input: if k == 0 {
                PhaseInput::Data
            } else {
                PhaseInput::Encoded(k)
            },
            epochs: cfg.epochs,
            // Inner stages reconstruct SELU codings: MSE.
            recon: if k == 0 { recon } else { Recon::Mse },
            full: false,
        })
        .collect();
    if cfg.fine_tune_epochs != Some(0) {
        out.push(Phase {
            name: "fine-tuning".into(),
            path: (0..n).collect(),
            trainable: (0..n).collect(),
            input: PhaseInput::Data,
            epochs: cfg.fine_tune_epochs.or(cfg.epochs),
            recon,
            full: true,
        });
    }
    out
}
