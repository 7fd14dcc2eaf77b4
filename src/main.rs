//! The `davgate` binary: parse the command line, run one command, print one clear line on error.

mod cli;

use clap::Parser;
use std::process::ExitCode;

/// mimalloc gives freed memory back to the system, where glibc's allocator keeps what a flood
/// of connections or a burst of argon2 verifications once needed: the server's footprint
/// follows its load instead of ratcheting up to its peak.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("davgate: {e}");
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
        }
    }
}
