//! The `snakepit` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

use clap::Parser;
use snakepit::config::Cli;

fn main() -> ExitCode {
    // The sandbox helper confines itself and becomes Python: it must run before any
    // other thread (such as the async runtime's) exists, so it is dispatched first.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == snakepit::sandbox::HELPER_ARG)
    {
        snakepit::sandbox::helper_main();
    }
    let cli = Cli::parse();
    snakepit::cli::run(cli)
}
