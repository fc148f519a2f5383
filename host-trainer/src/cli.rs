//! The command line: one clap struct, dispatched by [`crate::run`].

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// edgeae: train autoencoders on the desktop, run them on microcontrollers.
#[derive(Debug, Parser)]
#[command(name = "edgeae", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print what a model file holds: layers, parameters, flash and scratch RAM, threshold.
    #[command(
        after_help = "Examples:\n  edgeae inspect runs/demo/model.eam\n  edgeae inspect runs/demo/model.eam --json | jq .scratch.bytes"
    )]
    Inspect {
        /// The model file (.eam).
        model: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write a model file from a JSON description with explicit weights.
    ///
    /// The JSON mirrors the model file: `input` (channels, window, hop, mean,
    /// scale), `layers` (each `{"dense": {inputs, outputs, activation,
    /// weights, bias}}` with row-major weights, or `{"tied_dense": {source,
    /// activation, bias}}`), `codings_layer`, and optional `kind`, `scoring`
    /// and `provenance`. The model is validated before anything is written.
    #[command(after_help = "Example:\n  edgeae pack weights.json --out model.eam")]
    Pack {
        /// The JSON description.
        spec: PathBuf,
        /// Where to write the model file.
        #[arg(long, short)]
        out: PathBuf,
    },
}
