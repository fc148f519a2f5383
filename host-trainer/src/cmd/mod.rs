//! One module per subcommand of `edgeae`. Each reads its inputs, computes
//! through the modules below it (data, train, quant, score, board, synth,
//! plots) and writes its outputs.

pub mod calibrate;
pub mod demo;
pub mod denoise;
pub mod encode;
pub mod eval;
pub mod export;
pub mod flash;
pub mod generate;
pub mod inspect;
pub mod pack;
pub mod score;
pub mod stream;
pub mod synth;
pub mod train;
