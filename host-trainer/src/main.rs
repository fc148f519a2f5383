use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = host_trainer::cli::Cli::parse();
    match host_trainer::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the context chain, no backtrace.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
