//! The `metermaster` command: parses arguments and calls the library crates.

mod audit;
mod bench;
mod bench_dlms;
mod bill;
mod config;
mod demo;
mod files;
mod list;
mod print;
mod program;
mod read;
mod scheme;
mod sim;
mod time;
mod users;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "metermaster",
    version,
    about = "An open local master for electricity meters"
)]
struct Cli {
    /// The configuration file (default: metermaster.toml in the data directory, when present).
    #[arg(long, global = true, env = "METERMASTER_CONFIG")]
    config: Option<std::path::PathBuf>,
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
    /// Read a meter's programming log: how often, when and by whom it was programmed.
    Audit(audit::AuditArgs),
    /// Check a meter's clock against ours, trim it (within its trim limit) or set it.
    Time(time::TimeArgs),
    /// Program a tariff scheme into a meter, verify it by reading it back, and log it.
    Program(program::ProgramArgs),
    /// Import reading files into the store: .RES, NEM12, the interval CSV (format detected).
    Import(files::ImportArgs),
    /// Show what reading files hold (per meter and channel: intervals, exact totals, span,
    /// qualities) without storing anything.
    Inspect(files::InspectArgs),
    /// Export stored readings and profiles as CSV, NEM12 or .RES.
    Export(files::ExportArgs),
    /// Scan folders for new reading files and import them (periodic scan, ledger, quarantine).
    Watch(files::WatchArgs),
    /// What the store holds: meters, readings, channels, imported files.
    List(list::ListArgs),
    /// Tariff schemes and meter configurations: validate, show, diff, import, export, tree, log.
    Scheme(scheme::SchemeArgs),
    /// The people who use metermaster: add, passwd, list, remove.
    User(users::UserArgs),
    /// The meter tree: add, assign, remove, list.
    Group(users::GroupArgs),
    /// Reading-result (.RES) files.
    #[command(subcommand)]
    Res(ResCommand),
    /// Built-in benchmarks that print their figures.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

#[derive(Debug, Subcommand)]
enum ResCommand {
    /// Print the readings of a .RES file (checksums verified).
    Show {
        file: std::path::PathBuf,
        /// Print the readings as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn res_command(c: ResCommand) -> anyhow::Result<()> {
    use anyhow::Context;
    match c {
        ResCommand::Show { file, json } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let readings =
                metermaster_res::from_res(&text).with_context(|| format!("{}", file.display()))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&readings)?);
            } else {
                for (k, r) in readings.iter().enumerate() {
                    if k > 0 {
                        println!("\n----\n");
                    }
                    print::reading(r, None);
                }
            }
            Ok(())
        }
    }
}

/// Writes a file so that a reader never sees half of it (see
/// [`metermaster_master::write_file_atomically`]).
pub fn write_file_atomically(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use anyhow::Context;
    metermaster_master::write_file_atomically(path, bytes)
        .with_context(|| format!("writing {}", path.display()))
}

fn main() -> std::process::ExitCode {
    let mut cli = Cli::parse();
    let cfg = match config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // The configuration is given to the command explicitly: what the command line and the
    // environment left open is filled from it.
    match &mut cli.command {
        Command::Demo(a) => a.store.apply(&cfg),
        Command::Read(a) => a.apply(&cfg),
        Command::Time(a) => a.store.apply(&cfg),
        Command::Program(a) => a.store.apply(&cfg),
        Command::Import(a) => a.store.apply(&cfg),
        Command::Export(a) => a.store.apply(&cfg),
        Command::Watch(a) => a.apply(&cfg),
        Command::List(a) => a.store.apply(&cfg),
        Command::Scheme(a) => a.store.apply(&cfg),
        Command::User(a) => a.store.apply(&cfg),
        Command::Group(a) => a.store.apply(&cfg),
        Command::Sim(_)
        | Command::Audit(_)
        | Command::Inspect(_)
        | Command::Res(_)
        | Command::Bench(_) => {}
    }
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
            Command::Time(a) => time::run(a).await,
            Command::Program(a) => program::run(a).await,
            Command::Audit(a) => audit::run(a).await,
            Command::Bench(b) => bench::run(b).await,
            Command::Res(r) => res_command(r),
            Command::Import(a) => files::import(a).await,
            Command::Export(a) => files::export(a).await,
            Command::Watch(a) => files::watch(a).await,
            Command::List(a) => list::run(a).await,
            Command::User(a) => users::user(a).await,
            Command::Scheme(a) => scheme::run(a).await,
            Command::Group(a) => users::group(a).await,
            Command::Inspect(a) => files::inspect(a).await,
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
