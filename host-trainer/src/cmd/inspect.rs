//! `edgeae inspect`: what a model file holds and what it costs on a board
//! (flash bytes, scratch RAM), before anything is flashed.

use std::path::Path;

use anyhow::{Result, bail};
use firmware::{Engine, Model, ScratchPlan};
use serde::Serialize;

use model_format::{Layer, Op};

use crate::data::model_file::{parse, read_model_bytes};

/// One layer in the report.
#[derive(Debug, Serialize)]
pub struct LayerReport {
    /// Position.
    pub index: usize,
    /// The layer type as the model format names it (`dense`, `conv_i8`, ...).
    pub r#type: &'static str,
    /// `f32` or `int8`.
    pub precision: &'static str,
    /// Input width.
    pub inputs: usize,
    /// Output width.
    pub outputs: usize,
    /// Activation name.
    pub activation: &'static str,
    /// Parameters stored for this layer.
    pub params: usize,
    /// Bytes of flash its weights, biases, exponents and table take.
    pub weight_bytes: usize,
    /// Multiply-accumulates per window.
    pub macs: usize,
    /// For tied layers: the layer whose weights are reused.
    pub tied_to: Option<u16>,
}

/// Scratch RAM in the report: the engine of a stream, as a board runs it
/// (`ScratchPlan::for_stream`).
#[derive(Debug, Serialize)]
pub struct ScratchReport {
    /// 4-byte words of the engine's part of a board's scratch slice.
    pub f32s: usize,
    /// Bytes.
    pub bytes: usize,
    /// Words for the input window (0 when scored in int8: the ring holds it).
    pub input: usize,
    /// Words of the even ping-pong buffer.
    pub even: usize,
    /// Words of the odd ping-pong buffer.
    pub odd: usize,
    /// Words of the int8 convolutions' im2col column (0 without them).
    pub column: usize,
    /// Bytes a streaming scorer needs: the engine's plus a ring of one
    /// window (`firmware::Stream::scratch_len`).
    pub stream_bytes: usize,
    /// True when the model is scored in int8 (SPEC.md 3.5): the ring holds
    /// a byte per value and the error comes from the int8 reconstruction.
    pub int8_scoring: bool,
    /// Bytes of an engine of its own (`firmware::Engine::scratch_len`: an
    /// f32 window in, an f32 reconstruction out).
    pub engine_bytes: usize,
}

/// Everything `inspect` prints.
#[derive(Debug, Serialize)]
pub struct InspectReport {
    /// File inspected.
    pub path: String,
    /// Format version.
    pub format_version: u16,
    /// File size, i.e. flash for the model.
    pub flash_bytes: usize,
    /// Autoencoder kind (or `classifier`).
    pub kind: &'static str,
    /// Classes of a classifier (`None`: an autoencoder).
    pub classes: Option<usize>,
    /// Channels per frame.
    pub channels: u32,
    /// Frames per window.
    pub window: u32,
    /// Hop between windows.
    pub hop: u32,
    /// Values per window.
    pub input_len: usize,
    /// Index of the codings layer.
    pub codings_layer: usize,
    /// Width of the codings.
    pub codings_len: usize,
    /// Layers.
    pub layers: Vec<LayerReport>,
    /// Parameters stored.
    pub params: usize,
    /// Bytes of weights, biases, exponents and tables.
    pub weight_bytes: usize,
    /// Layers stored in int8.
    pub int8_layers: usize,
    /// MACs per window.
    pub macs: usize,
    /// Scratch RAM.
    pub scratch: ScratchReport,
    /// Error metric.
    pub metric: &'static str,
    /// Alarm threshold; `null` when not calibrated.
    pub threshold: Option<f32>,
    /// Clear threshold; `null` when not calibrated.
    pub clear_threshold: Option<f32>,
    /// EWMA weight.
    pub smoothing: f32,
    /// Calibration statistics.
    pub calibration: Option<model_format::Calibration>,
    /// RNG seed of training.
    pub seed: u64,
    /// Epochs trained.
    pub epochs: u32,
    /// Final training loss.
    pub train_loss: Option<f32>,
    /// Final validation loss.
    pub val_loss: Option<f32>,
    /// Writer.
    pub tool: String,
}

/// Bytes a layer's numbers take in the file.
fn weight_bytes(layer: &Layer<'_>) -> usize {
    match layer {
        Layer::Dense(d) => d.weights.as_bytes().len() + d.bias.as_bytes().len(),
        Layer::TiedDense(t) => t.bias.as_bytes().len(),
        Layer::DenseI8(d) | Layer::DenseI8x4(d) => {
            d.weights.len()
                + d.bias.as_bytes().len()
                + d.exponents.as_bytes().len()
                + d.lut.map_or(0, |l| l.table.len())
        }
        Layer::TiedDenseI8(t) => t.bias.as_bytes().len() + t.lut.map_or(0, |l| l.table.len()),
        Layer::Conv(c) => c.weights.as_bytes().len() + c.bias.as_bytes().len(),
        Layer::Recurrent(r) => {
            r.w_ih.as_bytes().len()
                + r.w_hh.as_bytes().len()
                + r.b_ih.as_bytes().len()
                + r.b_hh.as_bytes().len()
        }
        Layer::ConvTranspose(c) => c.weights.as_bytes().len() + c.bias.as_bytes().len(),
        Layer::RecurrentI8(r) => {
            r.w_ih.len()
                + r.w_hh.len()
                + r.exponents_ih.as_bytes().len()
                + r.exponents_hh.as_bytes().len()
                + r.b_ih.as_bytes().len()
                + r.b_hh.as_bytes().len()
        }
        Layer::ConvI8(c) => {
            c.weights.len()
                + c.bias.as_bytes().len()
                + c.exponents.as_bytes().len()
                + c.lut.map_or(0, |l| l.table.len())
        }
        Layer::ConvTransposeI8(c) => {
            c.weights.len()
                + c.bias.as_bytes().len()
                + c.exponents.as_bytes().len()
                + c.lut.map_or(0, |l| l.table.len())
        }
        Layer::Pool(_) | Layer::Upsample(_) | Layer::PoolI8(_) | Layer::UpsampleI8(_) => 0,
    }
}

fn finite(v: f32) -> Option<f32> {
    v.is_finite().then_some(v)
}

/// Builds the report of a loaded model.
pub fn report(path: &Path, model: &Model<'_>) -> InspectReport {
    let layers = model
        .layers()
        .iter()
        .zip(model.ops())
        .enumerate()
        .map(|(index, (layer, op))| LayerReport {
            index,
            r#type: layer.type_name(),
            precision: if layer.is_int8() { "int8" } else { "f32" },
            inputs: op.inputs(),
            outputs: op.outputs(),
            activation: layer.activation().name(),
            params: layer.param_count(),
            weight_bytes: weight_bytes(layer),
            macs: Op::macs(op),
            tied_to: layer.tied_source(),
        })
        .collect::<Vec<LayerReport>>();
    let weight_bytes = layers.iter().map(|l| l.weight_bytes).sum();
    let int8_layers = layers.iter().filter(|l| l.precision == "int8").count();
    let plan = ScratchPlan::for_stream(model);
    let scoring = model.scoring();
    let prov = model.provenance();
    InspectReport {
        path: path.display().to_string(),
        format_version: model.header().version,
        flash_bytes: model.file_len(),
        kind: model.kind().name(),
        classes: model.classes(),
        channels: model.input().channels,
        window: model.input().window,
        hop: model.input().hop,
        input_len: model.input_len(),
        codings_layer: model.codings_layer(),
        codings_len: model.codings_len(),
        layers,
        params: model.param_count(),
        weight_bytes,
        int8_layers,
        macs: model.macs(),
        scratch: ScratchReport {
            f32s: plan.total(),
            bytes: plan.bytes(),
            input: plan.input,
            even: plan.even,
            odd: plan.odd,
            column: plan.column,
            stream_bytes: firmware::Stream::scratch_len(model) * 4,
            int8_scoring: firmware::int8_window(model).is_some(),
            engine_bytes: Engine::scratch_len(model) * 4,
        },
        metric: scoring.metric.name(),
        threshold: finite(scoring.threshold),
        clear_threshold: finite(scoring.clear_threshold),
        smoothing: scoring.smoothing,
        calibration: scoring.calibration,
        seed: prov.seed,
        epochs: prov.epochs,
        train_loss: prov.train_loss,
        val_loss: prov.val_loss,
        tool: prov.tool.to_string(),
    }
}

fn opt(v: Option<f32>) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.6}"))
}

impl InspectReport {
    /// The human-readable form.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "model        {}", self.path);
        let _ = writeln!(
            s,
            "format       version {}, {} bytes of flash",
            self.format_version, self.flash_bytes
        );
        match self.classes {
            Some(n) => {
                let _ = writeln!(s, "kind         {} ({n} classes)", self.kind);
            }
            None => {
                let _ = writeln!(s, "kind         {}", self.kind);
            }
        }
        let _ = writeln!(
            s,
            "input        {} channels x window {} (hop {}) = {} values",
            self.channels, self.window, self.hop, self.input_len
        );
        let _ = writeln!(
            s,
            "codings      {} values (output of layer {})",
            self.codings_len, self.codings_layer
        );
        let _ = writeln!(
            s,
            "layers       #  type            precision  inputs  outputs  activation    params      MACs"
        );
        for l in &self.layers {
            let ty = match l.tied_to {
                Some(src) => format!("tied({src})"),
                None => l.r#type.trim_end_matches("_i8").to_string(),
            };
            let _ = writeln!(
                s,
                "            {:>2}  {:<14}  {:<9} {:>7}  {:>7}  {:<10} {:>9} {:>9}",
                l.index, ty, l.precision, l.inputs, l.outputs, l.activation, l.params, l.macs
            );
        }
        let precision = match self.int8_layers {
            0 => "f32".to_string(),
            n if n == self.layers.len() => "int8".to_string(),
            n => format!("{n} of {} layers int8, the rest f32", self.layers.len()),
        };
        let _ = writeln!(
            s,
            "parameters   {} ({} bytes of weights and biases, {precision})",
            self.params, self.weight_bytes
        );
        let _ = writeln!(s, "MACs         {} per window", self.macs);
        let _ = writeln!(
            s,
            "scratch RAM  {} bytes ({} words: input {}, even {}, odd {}{})",
            self.scratch.bytes,
            self.scratch.f32s,
            self.scratch.input,
            self.scratch.even,
            self.scratch.odd,
            if self.scratch.column > 0 {
                format!(", int8 column {}", self.scratch.column)
            } else {
                String::new()
            }
        );
        let _ = writeln!(
            s,
            "streaming    {} bytes of RAM (scratch + a ring of one window of {})",
            self.scratch.stream_bytes,
            if self.scratch.int8_scoring {
                "int8 samples; scored from the int8 reconstruction"
            } else {
                "samples"
            }
        );
        if self.scratch.engine_bytes != self.scratch.bytes {
            let _ = writeln!(
                s,
                "engine       {} bytes for an engine of its own (f32 window in and out, host tools)",
                self.scratch.engine_bytes
            );
        }
        match self.threshold {
            Some(t) => {
                let _ = writeln!(
                    s,
                    "threshold    {t:.6} (clears below {}), metric {}, smoothing {}",
                    opt(self.clear_threshold),
                    self.metric,
                    self.smoothing
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "threshold    not calibrated, metric {}, smoothing {}",
                    self.metric, self.smoothing
                );
            }
        }
        if let Some(c) = &self.calibration {
            let _ = writeln!(
                s,
                "calibration  {} windows, quantile {}, mean {:.6}, std {:.6}, p50 {:.6}, p90 {:.6}, p99 {:.6}, max {:.6}",
                c.windows, c.quantile, c.mean, c.std, c.p50, c.p90, c.p99, c.max
            );
        }
        let _ = writeln!(
            s,
            "provenance   seed {}, {} epochs, train loss {}, val loss {}, by {}",
            self.seed,
            self.epochs,
            opt(self.train_loss),
            opt(self.val_loss),
            if self.tool.is_empty() {
                "-"
            } else {
                &self.tool
            }
        );
        s
    }
}

/// `edgeae inspect`.
pub fn run(path: &Path, ram: Option<usize>) -> Result<InspectReport> {
    let bytes = read_model_bytes(path)?;
    let model = parse(path, &bytes)?;
    let report = report(path, &model);
    if let Some(ram) = ram
        && report.scratch.stream_bytes > ram
    {
        bail!(
            "`{}` needs {} bytes of RAM to stream ({} of engine scratch and a ring of one window), {} more than the {ram} given with --ram",
            path.display(),
            report.scratch.stream_bytes,
            report.scratch.bytes,
            report.scratch.stream_bytes - ram
        );
    }
    Ok(report)
}

impl super::Report for InspectReport {
    fn text(&self) -> String {
        self.to_text()
    }
}
