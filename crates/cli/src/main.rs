//! The `metermaster` command: parses arguments and calls the library crates.

mod bench;
mod demo;
mod print;
mod read;
mod sim;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "metermaster",
    version,
    about = "An open local master for electricity meters"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start a simulated fleet, read every meter over TCP and print what was read.
    Demo(demo::DemoArgs),
    /// Run simulated meters (FLAG / IEC 62056-21) on a TCP port or a serial line.
    Sim(sim::SimArgs),
    /// Read one meter now.
    Read(read::ReadArgs),
    /// Built-in benchmarks that print their figures.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async move {
        match cli.command {
            Command::Demo(a) => demo::run(a).await,
            Command::Sim(a) => sim::run(a).await,
            Command::Read(a) => read::run(a).await,
            Command::Bench(b) => bench::run(b).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
