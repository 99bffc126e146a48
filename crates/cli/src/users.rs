//! `metermaster user ...` and `metermaster group ...`: the people who use metermaster and the
//! tree the meters are organised in.

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use metermaster_store::{Store, UserRecord};

use crate::files::StoreArgs;

/// What a user may do (the web UI and the daemon enforce it; the command line records it).
pub const ROLES: [&str; 4] = ["admin", "engineer", "operator", "viewer"];

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
        #[arg(long, default_value = "viewer")]
        role: String,
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
    if confirm && pw.chars().count() < 8 {
        bail!("the password must have at least 8 characters");
    }
    Ok(pw)
}

/// An Argon2id hash of a password, as a PHC string.
pub fn hash_password(pw: &str) -> Result<String> {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    let salt = SaltString::generate(&mut OsRng);
    Ok(argon2::Argon2::default()
        .hash_password(pw.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))?
        .to_string())
}

/// Whether a password matches a stored hash.
pub fn verify_password(pw: &str, hash: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(pw.as_bytes(), &h)
            .is_ok()
    })
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c))
    {
        bail!("user name {name:?}: 1 to 64 letters, digits, '.', '_', '-' or '@'");
    }
    Ok(())
}

pub async fn user(a: UserArgs) -> Result<()> {
    let store = a.store.open().await?;
    match a.cmd {
        UserCommand::Add { name, role } => {
            check_name(&name)?;
            if !ROLES.contains(&role.as_str()) {
                bail!("--role {role:?}: one of {}", ROLES.join(", "));
            }
            if store.users().await?.iter().any(|u| u.name == name) {
                bail!("user {name} exists already (use `user passwd`)");
            }
            let pw = read_password(&format!("password for {name}: "), true)?;
            store
                .put_user(UserRecord {
                    name: name.clone(),
                    password_hash: hash_password(&pw)?,
                    role,
                    created: chrono::Utc::now(),
                })
                .await?;
            eprintln!("user {name} added");
        }
        UserCommand::Passwd { name } => {
            let Some(u) = store.users().await?.into_iter().find(|u| u.name == name) else {
                bail!("no user {name}");
            };
            let pw = read_password(&format!("new password for {name}: "), true)?;
            store
                .put_user(UserRecord {
                    password_hash: hash_password(&pw)?,
                    ..u
                })
                .await?;
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
                for u in &users {
                    println!("{:<24} {:<10} {}", u.name, u.role, u.created.to_rfc3339());
                }
            }
        }
        UserCommand::Check { name } => {
            let Some(u) = store.users().await?.into_iter().find(|u| u.name == name) else {
                bail!("no user {name}");
            };
            let pw = read_password(&format!("password for {name}: "), false)?;
            if !verify_password(&pw, &u.password_hash) {
                bail!("wrong password for {name}");
            }
            eprintln!("password of {name} is right");
        }
        UserCommand::Remove { name } => {
            if !store.remove_user(&name).await? {
                bail!("no user {name}");
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("correct horse", "not a hash"));
        assert!(check_name("alice.smith@utility").is_ok());
        assert!(check_name("a b").is_err());
    }
}
