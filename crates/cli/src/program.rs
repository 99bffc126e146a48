//! `metermaster program`: compile a scheme for the meter at the other end, write it at
//! password level 3, verify it by reading it back, and record every attempt in the store's
//! audit log. A dropped line is retried on a new connection; the meter stages a program and
//! switches to it only on a complete, CRC-checked commit, so it is never half programmed.

use anyhow::Result;
use clap::Args;
use metermaster_master::schemes::LabelledScheme;
use metermaster_master::{
    ProgramEvent, ProgramReport, ProgramRequest, Protocol, counter_text, describe_interrupted,
    program_crc,
};
use metermaster_tariff::Compiled;

#[derive(Debug, Args)]
pub struct ProgramArgs {
    /// Where the meter is: tcp://HOST:PORT or serial:///dev/ttyUSB0?baud=300.
    pub connection: String,
    /// The device address sent in the sign-on.
    #[arg(long, default_value = "")]
    pub address: String,
    /// The scheme: a file, or ID[@VERSION] from the store.
    #[arg(long)]
    pub scheme: String,
    /// Who programs: recorded in the meter's programming log (12 characters at most) and in
    /// the audit log. When the store has users, it must be one of them.
    #[arg(long)]
    pub user: String,
    /// Protocol: flag or dlms (then the DLMS options below apply; programming needs the
    /// management client with its keys: `--client 1 --auth high --keys FILE`).
    #[arg(long, default_value = "flag")]
    pub protocol: Protocol,
    /// The meter's level 3 password (FLAG).
    #[arg(long, env = "METERMASTER_METER_PASSWORD")]
    pub password: Option<String>,
    /// When the program takes over (RFC 3339); default: at once.
    #[arg(long)]
    pub activate: Option<String>,
    /// Sign on, compile, show what would be written and the meter's programming state, but
    /// write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// New connections after a dropped line (the meter keeps its old program until a whole
    /// program is committed, so a retry starts over safely).
    #[arg(long, default_value_t = 2)]
    pub retries: u32,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: crate::files::StoreArgs,
    #[command(flatten)]
    pub dlms: crate::read::DlmsArgs,
}

/// The store, once the user may program (checked before the scheme is loaded).
async fn store_for_user(
    args: &crate::files::StoreArgs,
    user: &str,
) -> Result<metermaster_store::AnyStore> {
    metermaster_master::check_operator_name(user).map_err(anyhow::Error::msg)?;
    let store = args.open().await?;
    metermaster_master::users::check_programmer(&store, user).await?;
    Ok(store)
}

pub async fn run(a: ProgramArgs) -> Result<()> {
    let store = store_for_user(&a.store, &a.user).await?;
    let LabelledScheme { scheme, label } =
        metermaster_master::schemes::scheme_with_label(Some(&store), &a.scheme).await?;
    let activation = a
        .activate
        .as_deref()
        .map(metermaster_master::schemes::parse_time)
        .transpose()?;
    let json = a.json;
    let protocol = a.protocol;
    let mut target = crate::read::ReadArgs::for_dlms(
        a.connection.clone(),
        a.address.clone(),
        a.password.clone(),
        "+00:00".into(),
        a.dlms,
    )
    .target()?;
    target.protocol = protocol;
    let req = ProgramRequest {
        scheme: &scheme,
        label: label.clone(),
        user: a.user.clone(),
        activation,
        dry_run: a.dry_run,
        retries: a.retries,
    };
    let report = metermaster_master::program_meter(&target, &req, &store, |ev| {
        if json {
            return;
        }
        let ProgramEvent::Retrying { error, .. } = ev;
        match protocol {
            Protocol::Flag => {
                eprintln!("connection lost while programming ({error}); connecting again")
            }
            Protocol::Dlms => eprintln!(
                "connection lost while programming ({error}); connecting again (the meter keeps its calendar in force until activation)"
            ),
        }
    })
    .await?;
    let warnings = match &report {
        ProgramReport::FlagDryRun { warnings, .. }
        | ProgramReport::Flag { warnings, .. }
        | ProgramReport::Dlms { warnings, .. } => warnings.clone(),
        ProgramReport::DlmsDryRun { .. } => Vec::new(),
    };
    if !json {
        for w in &warnings {
            eprintln!("warning: {w}");
        }
    }
    match report {
        ProgramReport::FlagDryRun {
            meter,
            model,
            program,
            status,
            counter,
            warnings,
        } => {
            let image = program.encode();
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "meter": meter,
                        "model": model,
                        "scheme": label,
                        "bytes": image.len(),
                        "crc": program_crc(&program),
                        "in_force": status.active_label,
                        "counter": counter,
                        "interrupted": status.interrupted,
                        "warnings": warnings,
                        "writes": program.write_sequence().into_iter().map(|(w, _)| w).collect::<Vec<_>>(),
                        "dry_run": true,
                    }))?
                );
            } else {
                println!(
                    "dry run: meter {meter} ({}) runs {:?}, programmed {counter} times; nothing written",
                    model.name(),
                    status.active_label,
                );
                if let Some(i) = describe_interrupted(&status) {
                    println!("note: {i}");
                }
                print!("{}", Compiled::Flag(program).listing());
            }
        }
        ProgramReport::Flag {
            meter,
            model,
            program,
            outcome: o,
            attempts,
            warnings,
        } => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "meter": meter,
                        "model": model,
                        "scheme": label,
                        "crc": program_crc(&program),
                        "bytes": program.encode().len(),
                        "counter_before": o.counter_before,
                        "counter_after": o.counter_after,
                        "already_in_force": o.already_in_force,
                        "interrupted_before": o.before.interrupted,
                        "attempts": attempts,
                        "verified": true,
                        "warnings": warnings,
                    }))?
                );
            } else {
                if let Some(i) = describe_interrupted(&o.before) {
                    println!("note: {i}");
                }
                if o.already_in_force {
                    println!(
                        "meter {meter}: {label} is already in force (committed by an earlier session); nothing written, verified by reading it back"
                    );
                } else {
                    println!(
                        "meter {meter}: programmed {label} (CRC {}), verified by reading it back; programming counter {} → {}",
                        program_crc(&program),
                        o.counter_before,
                        o.counter_after
                    );
                }
            }
        }
        ProgramReport::DlmsDryRun { calendar } => {
            print!("{}", Compiled::Dlms(calendar).listing());
            println!("dry run: nothing written");
        }
        ProgramReport::Dlms {
            writes,
            counter_before,
            counter_after,
            activation,
            warnings,
            ..
        } => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "scheme": label,
                        "counter_before": counter_before,
                        "counter_after": counter_after,
                        "activation": activation,
                        "verified": true,
                        "warnings": warnings,
                    }))?
                );
            } else {
                println!(
                    "programmed {label} ({writes} attributes written and read back{}); programming counter {} → {}",
                    if activation.is_none() {
                        ", activated"
                    } else {
                        "; activates at the time given"
                    },
                    counter_text(counter_before),
                    counter_text(counter_after)
                );
            }
        }
    }
    Ok(())
}
