use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = host_trainer::cli::Cli::parse();
    let json = cli.json;
    match host_trainer::kernels_from_env().and_then(|()| host_trainer::run(cli)) {
        Ok(printed) => {
            for note in &printed.notes {
                eprintln!("note: {note}");
            }
            if json {
                println!("{}", printed.json);
            } else {
                print!("{}", printed.text);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            // One line: the context chain, no backtrace.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
