//! The `snakepit` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

use clap::Parser;
use snakepit::config::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    snakepit::cli::run(cli)
}
