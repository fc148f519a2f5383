//! The command line: one clap struct, dispatched by [`crate::run`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::train::config::{DeviceChoice, Kind, LossChoice, Noise, Normalize, Sparsity};

/// edgeae: train autoencoders on the desktop, run them on microcontrollers.
#[derive(Debug, Parser)]
#[command(
    name = "edgeae",
    version,
    about,
    long_about = None,
    after_help = "Environment:\n  EDGEAE_KERNELS=portable|avx2|avx512|avx512-vnni  force the inference kernels (default: the fastest this CPU has; every path computes the same bits)"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Print the command's report as JSON instead of text (every command).
    #[arg(long, global = true)]
    pub json: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print what a model file holds: layers, parameters, flash and scratch RAM, threshold.
    #[command(
        after_help = "Examples:\n  edgeae inspect runs/demo/model.eam\n  edgeae inspect runs/demo/model.eam --json | jq .scratch.bytes\n  edgeae inspect runs/conv/model.eam --ram 65536"
    )]
    Inspect {
        /// The model file (.eam).
        model: PathBuf,
        /// The board's RAM for edgeae in bytes: exit 1 with the shortfall when the streaming scorer (scratch and ring) needs more.
        #[arg(long, value_name = "BYTES")]
        ram: Option<usize>,
    },
    /// Train an autoencoder on normal data and export it as RUN_DIR/model.eam.
    ///
    /// Writes RUN_DIR/model.eam (f32), RUN_DIR/checkpoint.bin after every
    /// epoch, RUN_DIR/loss.png, and RUN_DIR/reconstructions.png (plus
    /// generated.png for a VAE on images). Every option has a default chosen
    /// from the data: `--data --kind --out` is enough (`--kind recurrent`
    /// needs `--window` too; it trains on the CPU and writes an f32 model,
    /// which `edgeae export --quant int8` quantizes like any other).
    /// A recurrent `--objective composite` run writes its encoder and
    /// reconstructing decoder to model.eam; an `--objective predict` run
    /// writes no model file (the model file scores reconstructions).
    /// `--kind classifier` trains a softmax head on the encoder of a
    /// finished run (--encoder RUN_DIR, or none for random weights) with
    /// labels from a CSV column or an IDX file, and writes
    /// RUN_DIR/classifier.bin, RUN_DIR/model.eam (kind classifier: see
    /// `edgeae classify`, `export`, `stream`) and RUN_DIR/report.json.
    #[command(
        after_help = "Examples:\n  edgeae train --data normal.csv --kind denoising --out runs/pump --window 32 --hop 8\n  edgeae train --data /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz --kind stacked --hidden 100 --codings 30 --out runs/fmnist\n  edgeae train --data normal.csv --kind conv --window 64 --hop 16 --codings 8 --out runs/pump-conv\n  edgeae train --data normal.csv --kind recurrent --cell gru --window 32 --hop 8 --codings 8 --out runs/pump-rnn\n  edgeae train --data normal.csv --kind recurrent --objective composite --horizon 4 --window 32 --hop 8 --out runs/pump-rnn-composite\n  edgeae train --data /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz --kind conv --arch \"c16k3,p2,c32k3,p2,c64k3,p2|t32k3s2v,t16k3s2,t1k3s2:sigmoid\" --out runs/fmnist-conv\n  edgeae train --out runs/fmnist --resume --lr 3e-4\n  edgeae train --kind classifier --encoder runs/fmnist --freeze --data /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz --labels-file /usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz --labeled 500 --out runs/fmnist-cls"
    )]
    Train(Box<TrainArgs>),
    /// Write the codings of every window of a data file as CSV, with the firmware engine.
    #[command(
        after_help = "Example:\n  edgeae encode --model runs/pump/model.eam --data pump.csv --out codings.csv"
    )]
    Encode {
        /// The model file.
        #[arg(long)]
        model: PathBuf,
        /// Data (CSV or IDX) with the model's channels.
        #[arg(long)]
        data: PathBuf,
        /// Output CSV: `start,end,c0,c1,…` per window.
        #[arg(long, short)]
        out: PathBuf,
    },
    /// Classify every window of a data file with a classifier model, as a board does.
    ///
    /// Prints the windows per class, the mean confidence and, with labels, the accuracy.
    #[command(
        after_help = "Examples:\n  edgeae classify --model runs/fmnist-cls/model.eam --data /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz --labels-file /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz\n  edgeae classify --model runs/pump-cls/model.eam --data test.csv --labels state --out classes.csv"
    )]
    Classify {
        /// The classifier model file (`edgeae train --kind classifier`, or its int8 export).
        #[arg(long)]
        model: PathBuf,
        /// Data (CSV or IDX) with the model's channels.
        #[arg(long)]
        data: PathBuf,
        /// CSV column holding each row's class (taken out of the channels).
        #[arg(long, conflicts_with = "labels_file")]
        labels: Option<String>,
        /// IDX label file, one class per image or row.
        #[arg(long)]
        labels_file: Option<PathBuf>,
        /// Output CSV: `window,class,confidence,fault` per window.
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Reconstruct a data file through the model (denoising), with the firmware engine.
    ///
    /// Overlapping windows are averaged row by row; rows no window covers are copied unchanged.
    #[command(
        after_help = "Example:\n  edgeae denoise --model runs/pump/model.eam --data noisy.csv --out clean.csv"
    )]
    Denoise {
        /// The model file.
        #[arg(long)]
        model: PathBuf,
        /// Data (CSV or IDX) with the model's channels.
        #[arg(long)]
        data: PathBuf,
        /// Output CSV with the model's channel columns (a .png for image data draws a grid too).
        #[arg(long, short)]
        out: PathBuf,
    },
    /// Decode samples drawn from the prior N(0, I) of a variational model.
    #[command(
        after_help = "Examples:\n  edgeae generate --model runs/vae/model.eam --count 16 --out samples.csv\n  edgeae generate --model runs/vae/model.eam --count 16 --out samples.png"
    )]
    Generate {
        /// A model trained with `--kind vae`.
        #[arg(long)]
        model: PathBuf,
        /// Number of samples.
        #[arg(long, default_value_t = 16)]
        count: usize,
        /// Output: .csv (one sample per row) or .png (image grid, square images).
        #[arg(long, short)]
        out: PathBuf,
        /// Seed of the prior samples.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Set a model's alarm threshold from the errors of normal data, and write it into the model file.
    ///
    /// Streams the runs of rows with no anomalous label through the
    /// firmware scorer at every phase of the model's hop. The threshold is
    /// the smallest for which the alarm (smoothing, cap and hysteresis as
    /// the board runs them) is on for at most the target false-positive
    /// rate of those windows; the statistics of the raw errors are stored
    /// in the model (see `edgeae inspect`).
    #[command(
        after_help = "Examples:\n  edgeae calibrate --model runs/pump/model.eam --data normal-holdout.csv\n  edgeae calibrate --model runs/pump/model.eam --data normal-holdout.csv --percentile 99.9 --out strict.eam\n  edgeae calibrate --model runs/pump/model.eam --data normal-holdout.csv --metric standardized"
    )]
    Calibrate {
        /// The model file.
        #[arg(long)]
        model: PathBuf,
        /// Normal data (CSV) the model was not trained on.
        #[arg(long)]
        data: PathBuf,
        /// Where to write the calibrated model [default: replace --model].
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// Also set the error metric: standardized measures each value's residual against its spread on these normal windows [default: keep the model's].
        #[arg(long, value_enum)]
        metric: Option<crate::train::config::ScoreMetric>,
        /// How the threshold is set.
        #[command(flatten)]
        calibration: CalibrateArgs,
    },
    /// Write a training run's model for a board: quantized to int8, or f32, with the threshold recalibrated.
    ///
    /// Reads RUN_DIR/model.eam (the f32 model `edgeae train` wrote; a model
    /// file may be given instead of the directory). `--quant int8` runs the
    /// f32 model over the windows of --calib (normal data, normalised with
    /// the model's mean and scale) to choose the int8 activation ranges,
    /// quantizes the weights per output channel with power-of-two scales,
    /// and writes a file about 4x smaller (format version 9 when a dense
    /// layer is stored interleaved for the 4-row kernels, with its weights
    /// 4-byte aligned; otherwise 2; 4 with feature-map layers; 6 with
    /// recurrent layers, whose gates run in 16-bit fixed point with an
    /// int16 state, and for which it prints a `recurrent` line per layer).
    /// With --calib the
    /// alarm threshold is recalibrated on the same windows through the new
    /// model, with the f32 model's quantile, hysteresis and smoothing.
    /// Prints flash, parameters and scratch RAM before and after, both
    /// thresholds, and how far the int8 reconstruction is from the f32 one.
    #[command(
        after_help = "Examples:\n  edgeae export runs/pump --quant int8 --calib normal.csv --out pump-int8.eam\n  edgeae export runs/pump --quant int8 --calib normal.csv --keep-f32 0,3 --out pump-mixed.eam\n  edgeae export runs/pump --quant f32 --calib normal-holdout.csv --out pump-f32.eam"
    )]
    Export {
        /// The training run directory holding model.eam (or a model file).
        run_dir: PathBuf,
        /// Precision of the exported layers.
        #[arg(long, value_enum, default_value_t = Precision::Int8)]
        quant: Precision,
        /// Normal data (CSV or IDX, the model's channels): activation ranges and the recalibrated threshold; needed for int8.
        #[arg(long, value_name = "NORMAL.csv")]
        calib: Option<PathBuf>,
        /// Where to write the model file.
        #[arg(long, short)]
        out: PathBuf,
        /// int8: layers to keep in f32, e.g. 0,5 (a tied layer and its source go together).
        #[arg(long, value_delimiter = ',', value_name = "LAYERS")]
        keep_f32: Vec<usize>,
    },
    /// Score a data file window by window with the firmware streaming code; write scores.csv.
    ///
    /// Columns: `start,end` (row indices, end exclusive), `score` (the
    /// window's reconstruction error; empty for a window holding a NaN or
    /// infinite sample), `alarm` (0/1 after smoothing and hysteresis),
    /// `smoothed`, `fault` (`sample` or `overflow`, else empty), and `label`
    /// (1 if a row of the window is labelled anomalous) when the input has
    /// a label column.
    #[command(
        after_help = "Example:\n  edgeae score --model runs/pump/model.eam --data stream.csv --out scores.csv"
    )]
    Score {
        /// The model file.
        #[arg(long)]
        model: PathBuf,
        /// Data (CSV) with the model's channels; NaN/inf cells are faults, not errors.
        #[arg(long)]
        data: PathBuf,
        /// Output CSV.
        #[arg(long, short)]
        out: PathBuf,
    },
    /// Evaluate a model on labelled data: ROC AUC, PR AUC, precision/recall/F1 at its threshold, detection delays, plot.
    #[command(
        after_help = "Examples:\n  edgeae eval --model runs/pump/model.eam --data labelled.csv\n  edgeae eval --model runs/pump/model.eam --data labelled.csv --json --plot eval.png\n  edgeae eval --model pump.eam --data labelled.csv --train normal.csv"
    )]
    Eval {
        /// The model file.
        #[arg(long)]
        model: PathBuf,
        /// Data (CSV) with the model's channels and a label column (`label` or `is_anomaly`, 0/1 per row).
        #[arg(long)]
        data: PathBuf,
        /// The figure: score timeline with threshold and labelled segments, and the ROC curves [default: eval.png beside the model].
        #[arg(long)]
        plot: Option<PathBuf>,
        /// The baseline reported beside the model on the same windows [default: pca when --train is given or `pca.eam` lies beside the model].
        #[arg(long, value_enum)]
        baseline: Option<BaselineChoice>,
        /// Normal training data to fit the PCA baseline on (windows at hop 1, the model's normalisation and codings width).
        #[arg(long, value_name = "NORMAL.csv")]
        train: Option<PathBuf>,
    },
    /// Stream a data file to a board over the wire protocol (serial line); write its scores.
    ///
    /// With --qemu: starts qemu-system-arm with the firmware image (built
    /// from firmware/boards/qemu-mps2 when needed) and the model in its
    /// model region. With --port: a real board running edgeae firmware with
    /// the model already flashed. Writes the same scores.csv columns as
    /// `edgeae score`. A classifier model streams in classify mode: the
    /// board's class and confidence per window are printed, and --out gets
    /// `window,class,confidence,fault`.
    #[command(
        after_help = "Examples:\n  edgeae stream --model runs/pump/model.eam --data stream.csv --qemu --out board-scores.csv\n  edgeae stream --model runs/pump/model.eam --data stream.csv --qemu --profile\n  edgeae stream --model runs/pump/model.eam --data stream.csv --port /dev/ttyACM0 --out board-scores.csv"
    )]
    #[command(group(clap::ArgGroup::new("board").required(true).args(["qemu", "port"])))]
    Stream {
        /// The model file.
        #[arg(long)]
        model: PathBuf,
        /// Data (CSV) with the model's channels.
        #[arg(long)]
        data: PathBuf,
        /// Run on the emulated board (QEMU mps2-an386).
        #[arg(long)]
        qemu: bool,
        /// Serial port of a real board, e.g. /dev/ttyACM0.
        #[arg(long)]
        port: Option<String>,
        /// Baud rate for --port.
        #[arg(long, default_value_t = 115_200)]
        baud: u32,
        /// Firmware image (ELF) [default: $EDGEAE_QEMU_FIRMWARE, or firmware/boards/qemu-mps2 of the source tree edgeae was built from, built when needed].
        #[arg(long)]
        firmware: Option<PathBuf>,
        /// Output CSV (as `edgeae score`).
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// Print instructions per window, and flash and RAM of firmware and model.
        #[arg(long)]
        profile: bool,
        /// QEMU: write the board's defmt log frames here (decode with `defmt-print -e ELF < FILE`).
        #[arg(long, value_name = "FILE")]
        defmt_log: Option<PathBuf>,
    },
    /// Write a model into a real board's model region through a debug probe, and verify it.
    ///
    /// Only the model region is written (the firmware stays). A model that
    /// does not load, is of another format version, or does not fit the
    /// region is refused before the probe is touched. Needs a build with
    /// `--features flash` (probe-rs).
    #[command(
        after_help = "Example:\n  edgeae flash --model runs/pump/model.eam --chip STM32F411RETx"
    )]
    Flash {
        /// The model file.
        #[arg(long)]
        model: PathBuf,
        /// probe-rs chip name of the board (STM32F411RETx, STM32F411CEUx).
        #[arg(long)]
        chip: String,
        /// Serial number of the debug probe [default: the first one found].
        #[arg(long)]
        probe: Option<String>,
    },
    /// Write synthetic vibration-like sensor data: DIR/train.csv (normal), DIR/test.csv (labelled faults), DIR/faults.csv, and DIR/holdout.csv (unseen normal) with --holdout-rows.
    #[command(
        after_help = "Examples:\n  edgeae synth --out data/synth --seed 7\n  edgeae synth --out data/synth --holdout-rows 60000"
    )]
    Synth {
        /// Output directory (created if missing).
        #[arg(long, short)]
        out: PathBuf,
        /// Seed; the same seed gives the same files.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Sensor channels.
        #[arg(long, default_value_t = 3)]
        channels: usize,
        /// Rows of normal training data.
        #[arg(long, default_value_t = 60_000)]
        train_rows: usize,
        /// Rows of the labelled test stream.
        #[arg(long, default_value_t = 30_000)]
        test_rows: usize,
        /// Rows of DIR/holdout.csv: more normal data of the same machine, on a trajectory training never sees (0: none).
        #[arg(long, default_value_t = 0)]
        holdout_rows: usize,
    },
    /// The whole job on built-in data: synthesize, train a denoising autoencoder, calibrate, score the test stream with the firmware engine, report.
    #[command(after_help = "Example:\n  edgeae demo --out edgeae-demo")]
    Demo {
        /// Output directory for data, model, plots and report.
        #[arg(long, short, default_value = "edgeae-demo")]
        out: PathBuf,
        /// Seed of the data and of training.
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
    /// Draw a map of the codings: each window's codings by the firmware engine, laid out in 2-D by t-SNE (or PCA), coloured by class.
    ///
    /// Classes come from a CSV column (--labels) or an IDX label file
    /// (--labels-file), one per row; a window takes the class of its last
    /// row. With classes the report gives the share of each window's 10
    /// nearest neighbours that are of its class, on the map and among the
    /// codings. Image data gets sample images drawn on the map. t-SNE is
    /// Barnes-Hut (the bhtsne crate) with scikit-learn's defaults, started
    /// from the codings' first two principal components.
    #[command(
        after_help = "Examples:\n  edgeae embed --model runs/fmnist/model.eam --data /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz --labels-file /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz --out map.png --csv map.csv\n  edgeae embed --model runs/pump/model.eam --data states.csv --labels state --out map.png --method pca"
    )]
    Embed(EmbedArgs),
    /// Draw what the model learned: each first-layer unit's weights, and the inputs that most activate its codings units.
    ///
    /// Image models (IDX data, a square input, or a 2-D convolution first):
    /// each unit's weights (a convolution's kernels) as a small image, gray
    /// 0, white positive, black negative. Sensor models: each unit's weights
    /// as signal panels over the window. With --data, also OUT-top.png: for
    /// the --units codings units of largest variance over the data, the 8
    /// windows that drive each highest (images), or each unit's top window
    /// beside the mean window (sensors). int8 models are refused: give the
    /// f32 model they were exported from.
    #[command(
        after_help = "Examples:\n  edgeae features --model runs/fmnist/model.eam --out features.png\n  edgeae features --model runs/fmnist/model.eam --data /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz --out features.png --units 8\n  edgeae features --model runs/pump/model.eam --data normal.csv --out features.png"
    )]
    Features {
        /// The model file (f32).
        #[arg(long)]
        model: PathBuf,
        /// Data (CSV or IDX) with the model's channels: also draw the inputs that most activate the codings units.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Output PNG of the first-layer weights (with --data, the top inputs go to OUT-top.png beside it).
        #[arg(long, short)]
        out: PathBuf,
        /// Units drawn: first-layer units, and codings units of largest variance [default: 16 for images, 6 for sensors].
        #[arg(long)]
        units: Option<usize>,
    },
    /// Write a model file from a JSON description with explicit weights.
    ///
    /// The JSON mirrors the model file: `input` (channels, window, hop, mean,
    /// scale), `layers` (each `{"dense": {inputs, outputs, activation,
    /// weights, bias}}` with row-major weights, or `{"tied_dense": {source,
    /// activation, bias}}`; int8 layers are `dense_i8` and `tied_dense_i8`
    /// with the fields of SPEC.md 3.3, one exponent per output),
    /// `codings_layer`, and optional `kind`, `scoring` and `provenance`. The
    /// model is validated before anything is written.
    #[command(after_help = "Example:\n  edgeae pack weights.json --out model.eam")]
    Pack {
        /// The JSON description.
        spec: PathBuf,
        /// Where to write the model file.
        #[arg(long, short)]
        out: PathBuf,
    },
}

/// `edgeae embed` options.
#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// The model file.
    #[arg(long)]
    pub model: PathBuf,
    /// Data (CSV or IDX) with the model's channels.
    #[arg(long)]
    pub data: PathBuf,
    /// CSV column of the class labels (whole numbers), not a channel of the model.
    #[arg(long, value_name = "COLUMN", conflicts_with = "labels_file")]
    pub labels: Option<String>,
    /// IDX label file with one class per row (image) of --data, e.g. Fashion-MNIST's t10k-labels-idx1-ubyte.gz.
    #[arg(long, value_name = "IDX")]
    pub labels_file: Option<PathBuf>,
    /// Output PNG of the map.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Also write the coordinates: columns x,y and the class column under its name (`label` for --labels-file).
    #[arg(long, value_name = "MAP.csv")]
    pub csv: Option<PathBuf>,
    /// How the codings are mapped to 2-D.
    #[arg(long, value_enum, default_value_t = crate::embed::Method::Tsne)]
    pub method: crate::embed::Method,
    /// Map at most N windows, drawn at random with --seed (in data order).
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub limit: usize,
    /// Seed of the --limit sample.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Precision of an exported model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Precision {
    /// int8 weights and activations (format version 2).
    Int8,
    /// f32, as trained.
    F32,
}

/// `edgeae train` options.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Training data: CSV (header; optional `timestamp`, `is_anomaly`/`label` columns; the rest are channels) or IDX images (.gz ok).
    #[arg(long, required_unless_present = "resume")]
    pub data: Option<PathBuf>,
    /// Autoencoder kind, or `classifier`: a softmax head on a trained encoder (--encoder, --labels or --labels-file).
    #[arg(long, value_enum, required_unless_present = "resume")]
    pub kind: Option<KindArg>,
    /// Run directory (created if missing).
    #[arg(long, short)]
    pub out: PathBuf,
    /// Frames per window (1: each row is one input vector; recurrent: the time steps of a sequence, at least 2) [default: 1].
    #[arg(long)]
    pub window: Option<usize>,
    /// Frames between the windows the model scores, written into the model [default: window / 2, at least 1].
    #[arg(long)]
    pub hop: Option<usize>,
    /// Frames between training windows; 1 takes every (overlapping) window [default: 1].
    #[arg(long)]
    pub train_hop: Option<usize>,
    /// Width of the codings [default: input width / 8, between 1 and 32; x4 for sparse].
    #[arg(long)]
    pub codings: Option<usize>,
    /// Encoder hidden widths, e.g. 100 or 256,64; recurrent: the widths of the sequence-to-sequence layers [default: one layer, the geometric mean of input and codings widths; recurrent: twice the codings, 8 to 64].
    #[arg(long, value_delimiter = ',')]
    pub hidden: Option<Vec<usize>>,
    /// Convolutional layers, encoder|decoder, e.g. "c16k3,p2,c32k3,p2,c64k3,p2|t32k3s2v,t16k3s2,t1k3s2:sigmoid" (c: conv FILTERSkKERNEL[sSTRIDE][v: valid], t: transposed conv, p/a: max/avg pool, u: upsample, d: dense, r: reshape HxWxC; :ACTIVATION). With conv, stacked, denoising, sparse, vae; `auto`: the default for the input [default with conv: auto].
    #[arg(long)]
    pub arch: Option<String>,
    /// Recurrent: the cell of every recurrent layer [default: lstm].
    #[arg(long, value_enum)]
    pub cell: Option<crate::nn::recurrent::Cell>,
    /// Recurrent: what the decoder outputs. reconstruct: the window; predict: the --horizon frames after it (judged against persistence, repeating the window's last frame; not exported: the model file scores reconstructions); composite: two decoders on the same codings, one reconstructing the window, one predicting, trained on the sum of their mean squared errors, and exported as the encoder with the reconstructing decoder [default: reconstruct].
    #[arg(long, value_enum)]
    pub objective: Option<crate::train::config::Objective>,
    /// Recurrent, with --objective predict or composite: frames after each window to predict, 1 to --window [default: 1].
    #[arg(long)]
    pub horizon: Option<usize>,
    /// The rows of a CSV are images of HxWxC values, channel-last (conv layers over images; IDX files need no flag), e.g. 28x28x1.
    #[arg(long, value_parser = parse_image)]
    pub image: Option<[usize; 3]>,
    /// Epochs, exactly (per stage for greedy) [default: until the validation loss stops improving, within --max-steps].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Without --epochs: optimizer steps at most, over the whole run [default: 10000].
    #[arg(long)]
    pub max_steps: Option<usize>,
    /// Greedy: epochs of fine-tuning the whole stack after the stages [default: epochs].
    #[arg(long)]
    pub fine_tune_epochs: Option<usize>,
    /// Mini-batch size [default: 64].
    #[arg(long)]
    pub batch: Option<usize>,
    /// Adam learning rate [default: 0.001].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Seed of every random number generator [default: 42].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Fraction of windows held out for validation: the end of a time series, a random sample of rows or images [default: 0.1].
    #[arg(long)]
    pub val_split: Option<f64>,
    /// Denoising (and recurrent, when given): gaussian:SIGMA (in normalised units) or dropout:P [default: gaussian:0.2].
    #[arg(long)]
    pub noise: Option<Noise>,
    /// Sparse: l1:WEIGHT or kl:TARGET:WEIGHT [default: kl:0.1:0.05].
    #[arg(long)]
    pub sparsity: Option<Sparsity>,
    /// VAE: weight of the KL term (1: the ELBO, per input value) [default: 1].
    #[arg(long)]
    pub beta: Option<f64>,
    /// Per-channel normalisation [default: auto].
    #[arg(long, value_enum)]
    pub normalize: Option<Normalize>,
    /// Reconstruction loss [default: auto].
    #[arg(long, value_enum)]
    pub loss: Option<LossChoice>,
    /// Use only the first N windows (quick experiments).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Where to train [default: cpu].
    #[arg(long, value_enum)]
    pub device: Option<DeviceChoice>,
    /// How the model scores a window: mse, or standardized (each value's squared error divided by its mean on the training windows) [default: mse].
    #[arg(long, value_enum)]
    pub metric: Option<crate::train::config::ScoreMetric>,
    /// Stacked and denoising kinds with a linear output: start from the PCA solution (exact, through SELU's linear half) instead of random weights, and never end with a higher validation error than PCA. Hurts int8 exports.
    #[arg(long)]
    pub pca_start: bool,
    /// CPU threads for training [default: 1 for small networks and batches, all cores from about 40 M multiply-accumulates per batch].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Continue the run in --out from its last checkpoint (with its settings; --lr and --epochs may change).
    #[arg(long)]
    pub resume: bool,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
    /// Threshold calibration on the validation windows.
    #[command(flatten)]
    pub calibration: CalibrateArgs,
    /// `--kind classifier` options.
    #[command(flatten)]
    pub classifier: ClassifierArgs,
}

/// `--kind`: an autoencoder kind, or a classifier on an autoencoder's encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KindArg {
    /// Train an autoencoder of this kind.
    Autoencoder(Kind),
    /// Train a classifier on a trained encoder (`--kind classifier`).
    Classifier,
}

impl KindArg {
    /// The autoencoder kind (`None` for a classifier).
    pub fn autoencoder(self) -> Option<Kind> {
        match self {
            KindArg::Autoencoder(k) => Some(k),
            KindArg::Classifier => None,
        }
    }
}

impl clap::ValueEnum for KindArg {
    fn value_variants<'a>() -> &'a [Self] {
        static ALL: std::sync::LazyLock<Vec<KindArg>> = std::sync::LazyLock::new(|| {
            Kind::value_variants()
                .iter()
                .map(|&k| KindArg::Autoencoder(k))
                .chain([KindArg::Classifier])
                .collect()
        });
        &ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        match self {
            KindArg::Autoencoder(k) => k.to_possible_value(),
            KindArg::Classifier => Some(clap::builder::PossibleValue::new("classifier").help(
                "Softmax head (optionally one hidden SELU layer) on a trained encoder, frozen or fine-tuned; --encoder none trains the same architecture from scratch",
            )),
        }
    }
}

/// `edgeae train --kind classifier` options (the data, widths, epochs,
/// batch, learning rate, seed and validation split are the autoencoder's flags).
#[derive(Debug, Args, Clone, Default)]
pub struct ClassifierArgs {
    /// Classifier: the run directory of a trained autoencoder whose encoder (through the codings layer) it reuses, or `none` for the same architecture from random weights (widths from --hidden and --codings, as --kind stacked).
    #[arg(long, value_name = "RUN_DIR|none")]
    pub encoder: Option<String>,
    /// Classifier: the CSV column holding each row's class, an integer 0 to 63 (a window takes its last row's class; the column is not a channel).
    #[arg(long, value_name = "COLUMN", conflicts_with = "labels_file")]
    pub labels: Option<String>,
    /// Classifier: an IDX label file with one class per image or row (e.g. train-labels-idx1-ubyte.gz).
    #[arg(long, value_name = "IDX")]
    pub labels_file: Option<PathBuf>,
    /// Classifier: train the head only; the encoder's weights stay as they are [default with an encoder run].
    #[arg(long, conflicts_with = "fine_tune")]
    pub freeze: bool,
    /// Classifier: train the head and the encoder [default with --encoder none].
    #[arg(long)]
    pub fine_tune: bool,
    /// Classifier: width of a hidden SELU layer between the codings and the softmax [default: none].
    #[arg(long, value_name = "N")]
    pub head_hidden: Option<usize>,
    /// Classifier: use only the first N labelled windows; the rest count as unlabelled [default: all].
    #[arg(long, value_name = "N")]
    pub labeled: Option<usize>,
    /// Classifier: test data whose accuracy is reported (CSV with the --labels column, or IDX images with --test-labels-file).
    #[arg(long, value_name = "FILE")]
    pub test_data: Option<PathBuf>,
    /// Classifier: the IDX label file of --test-data.
    #[arg(long, value_name = "IDX", requires = "test_data")]
    pub test_labels_file: Option<PathBuf>,
}

impl ClassifierArgs {
    /// The first classifier flag given, for the message that refuses it
    /// with an autoencoder kind.
    pub fn first_given(&self) -> Option<&'static str> {
        [
            (self.encoder.is_some(), "--encoder"),
            (self.labels.is_some(), "--labels"),
            (self.labels_file.is_some(), "--labels-file"),
            (self.freeze, "--freeze"),
            (self.fine_tune, "--fine-tune"),
            (self.head_hidden.is_some(), "--head-hidden"),
            (self.labeled.is_some(), "--labeled"),
            (self.test_data.is_some(), "--test-data"),
            (self.test_labels_file.is_some(), "--test-labels-file"),
        ]
        .into_iter()
        .find_map(|(given, flag)| given.then_some(flag))
    }
}

/// How the alarm threshold is set from normal windows.
#[derive(Debug, Args, Clone, Default)]
pub struct CalibrateArgs {
    /// Target false-positive rate per normal window: the smallest threshold for which the alarm (smoothing and hysteresis included) is on for at most this fraction of the normal windows [default: 0.01].
    #[arg(long, value_name = "X", conflicts_with = "percentile")]
    pub target_fpr: Option<f64>,
    /// The threshold is this percentile of the normal errors (e.g. 99.5).
    #[arg(long, value_name = "P")]
    pub percentile: Option<f64>,
    /// The alarm clears when the smoothed score falls below this fraction of the way from the median normal error to the threshold [default: 0.8].
    #[arg(long)]
    pub hysteresis: Option<f64>,
    /// Weight of the newest window in the smoothed score, (0, 1]; 1 = no smoothing [default: 0.5 for time series, 1 for one-row windows].
    #[arg(long)]
    pub smoothing: Option<f64>,
}

impl CalibrateArgs {
    /// The checked options.
    pub fn options(&self) -> anyhow::Result<crate::score::CalibrationOptions> {
        crate::score::CalibrationOptions::from_args(
            self.target_fpr,
            self.percentile,
            self.hysteresis,
            self.smoothing,
        )
    }
}

/// Which baseline `edgeae eval` puts beside the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BaselineChoice {
    /// PCA with as many components as the model has codings: fitted on
    /// --train, or the run's `pca.eam` beside the model.
    Pca,
    /// None.
    None,
}

/// `--image HxWxC`.
fn parse_image(s: &str) -> Result<[usize; 3], String> {
    let dims: Vec<usize> = s
        .split('x')
        .map(|d| d.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("expected HxWxC, e.g. 28x28x1, not `{s}`"))?;
    match dims[..] {
        [h, w, c] if h > 0 && w > 0 && c > 0 => Ok([h, w, c]),
        _ => Err(format!(
            "expected three sizes of at least 1, HxWxC, not `{s}`"
        )),
    }
}
