//! `metermaster user ...` and `metermaster group ...`: the people who use metermaster and the
//! tree the meters are organised in.

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use metermaster_master::users::{self, Role};
use metermaster_store::Store;

use crate::files::StoreArgs;

#[derive(Debug, Args)]
pub struct UserArgs {
    #[command(subcommand)]
    pub cmd: UserCommand,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user; the password is asked for (or read from standard input when it is not a
    /// terminal).
    Add {
        name: String,
        /// admin, engineer (schemes and programming), operator (reading), viewer.
        #[arg(long, value_enum, default_value = "viewer")]
        role: Role,
    },
    /// Change a user's password.
    Passwd { name: String },
    /// List the users and their roles.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove a user.
    Remove { name: String },
    /// Check a user's password (asked for, or one line of standard input): exit status 0 when
    /// it is right.
    Check { name: String },
}

fn read_password(prompt: &str, confirm: bool) -> Result<String> {
    use std::io::IsTerminal;
    let pw = if std::io::stdin().is_terminal() {
        let a = rpassword::prompt_password(prompt).context("reading the password")?;
        if confirm {
            let b = rpassword::prompt_password("again: ").context("reading the password")?;
            if a != b {
                bail!("the two passwords differ");
            }
        }
        a
    } else {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    Ok(pw)
}

/// An Argon2id hash of a password, as a PHC string.
pub async fn user(a: UserArgs) -> Result<()> {
    let store = a.store.open().await?;
    match a.cmd {
        UserCommand::Add { name, role } => {
            users::check_user_name(&name)?;
            let pw = read_password(&format!("password for {name}: "), true)?;
            users::add_user(&store, &name, role, &pw).await?;
            eprintln!("user {name} added");
        }
        UserCommand::Passwd { name } => {
            if !store.users().await?.iter().any(|u| u.name == name) {
                bail!("no user {name}");
            }
            let pw = read_password(&format!("new password for {name}: "), true)?;
            users::set_password(&store, &name, &pw).await?;
            eprintln!("password of {name} changed");
        }
        UserCommand::List { json } => {
            let users = store.users().await?;
            if json {
                let v: Vec<_> = users
                    .iter()
                    .map(|u| serde_json::json!({"name": u.name, "role": u.role, "created": u.created}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!("{:<24} {:<10} created", "name", "role");
                for u in &users {
                    println!("{:<24} {:<10} {}", u.name, u.role, u.created.to_rfc3339());
                }
            }
        }
        UserCommand::Check { name } => {
            if !store.users().await?.iter().any(|u| u.name == name) {
                bail!("no user {name}");
            }
            let pw = read_password(&format!("password for {name}: "), false)?;
            users::check_password(&store, &name, &pw).await?;
            eprintln!("password of {name} is right");
        }
        UserCommand::Remove { name } => {
            users::remove_user(&store, &name).await?;
            eprintln!("user {name} removed");
        }
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct GroupArgs {
    #[command(subcommand)]
    pub cmd: GroupCommand,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Add a group (folder of the meter tree), with its parents: `North/Substation 4`.
    Add { path: String },
    /// Put stored meters into a group (created if missing).
    Assign {
        path: String,
        #[arg(required = true)]
        meters: Vec<String>,
    },
    /// Remove a group and its subgroups (their meters stay, without a group).
    Remove { path: String },
    /// The meter tree.
    List {
        #[arg(long)]
        json: bool,
    },
}

pub async fn group(a: GroupArgs) -> Result<()> {
    let store = a.store.open().await?;
    match a.cmd {
        GroupCommand::Add { path } => store.add_group(&path).await?,
        GroupCommand::Assign { path, meters } => store.assign_group(&path, &meters).await?,
        GroupCommand::Remove { path } => {
            let n = store.remove_group(&path).await?;
            if n == 0 {
                bail!("no group {path}");
            }
            eprintln!("{n} group(s) removed");
        }
        GroupCommand::List { json } => {
            let groups = store.groups().await?;
            if json {
                let v: Vec<_> = groups
                    .iter()
                    .map(|g| serde_json::json!({"path": g.path, "meters": g.meters}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                for g in &groups {
                    let depth = g.path.matches('/').count();
                    let name = g.path.rsplit('/').next().unwrap_or(&g.path);
                    println!("{}{name}/", "  ".repeat(depth));
                    for m in &g.meters {
                        println!("{}{m}", "  ".repeat(depth + 1));
                    }
                }
            }
        }
    }
    Ok(())
}
