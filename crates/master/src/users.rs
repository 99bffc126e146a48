//! The people who use metermaster: names, roles, password hashes (Argon2id, never the password).

use metermaster_store::{AnyStore, Store, StoreError, UserRecord};

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, users and settings included.
    Admin,
    /// Schemes and programming.
    Engineer,
    /// Reading meters.
    Operator,
    /// Looking only.
    Viewer,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Engineer, Role::Operator, Role::Viewer];

    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Engineer => "engineer",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| {
                format!(
                    "role {s:?}: one of {}",
                    Role::ALL.map(Role::name).join(", ")
                )
            })
    }
}

/// Why a user operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("user name {0:?}: 1 to 64 letters, digits, '.', '_', '-' or '@'")]
    BadName(String),
    #[error("user {0} exists already (use `user passwd`)")]
    Exists(String),
    #[error("no user {0}")]
    NoUser(String),
    #[error("the password must have at least 8 characters")]
    ShortPassword,
    #[error("wrong password for {0}")]
    WrongPassword(String),
    /// An operator name a meter cannot keep.
    #[error("{0}")]
    OperatorName(String),
    #[error("--user {0:?} is not a metermaster user (see `metermaster user list`)")]
    NotAUser(String),
    #[error("hashing the password: {0}")]
    Hash(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks a user name: 1 to 64 letters, digits, `.`, `_`, `-` or `@`.
pub fn check_user_name(name: &str) -> Result<(), UserError> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c))
    {
        return Err(UserError::BadName(name.to_string()));
    }
    Ok(())
}

/// An Argon2id PHC string of a password, with a fresh salt.
pub fn hash_password(pw: &str) -> Result<String, UserError> {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    let salt = SaltString::generate(&mut OsRng);
    Ok(argon2::Argon2::default()
        .hash_password(pw.as_bytes(), &salt)
        .map_err(|e| UserError::Hash(e.to_string()))?
        .to_string())
}

/// Whether a password matches a PHC string.
pub fn verify_password(pw: &str, hash: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(pw.as_bytes(), &h)
            .is_ok()
    })
}

fn check_new_password(pw: &str) -> Result<(), UserError> {
    if pw.chars().count() < 8 {
        return Err(UserError::ShortPassword);
    }
    Ok(())
}

async fn find(store: &AnyStore, name: &str) -> Result<UserRecord, UserError> {
    store
        .users()
        .await?
        .into_iter()
        .find(|u| u.name == name)
        .ok_or_else(|| UserError::NoUser(name.to_string()))
}

/// Adds a user (refused when the name is taken).
pub async fn add_user(
    store: &AnyStore,
    name: &str,
    role: Role,
    password: &str,
) -> Result<(), UserError> {
    check_user_name(name)?;
    check_new_password(password)?;
    if store.users().await?.iter().any(|u| u.name == name) {
        return Err(UserError::Exists(name.to_string()));
    }
    store
        .put_user(UserRecord {
            name: name.to_string(),
            password_hash: hash_password(password)?,
            role: role.name().to_string(),
            created: chrono::Utc::now(),
        })
        .await?;
    Ok(())
}

/// Changes a user's password.
pub async fn set_password(store: &AnyStore, name: &str, password: &str) -> Result<(), UserError> {
    check_new_password(password)?;
    let u = find(store, name).await?;
    store
        .put_user(UserRecord {
            password_hash: hash_password(password)?,
            ..u
        })
        .await?;
    Ok(())
}

/// Checks a user's password: the user's record when right.
pub async fn check_password(
    store: &AnyStore,
    name: &str,
    password: &str,
) -> Result<UserRecord, UserError> {
    let u = find(store, name).await?;
    if !verify_password(password, &u.password_hash) {
        return Err(UserError::WrongPassword(name.to_string()));
    }
    Ok(u)
}

/// Checks who programs a meter or sets its clock: an operator name a meter keeps (1 to 12
/// ASCII characters) and, when the store has users, one of them.
pub async fn check_programmer(store: &AnyStore, user: &str) -> Result<(), UserError> {
    crate::clock::check_operator_name(user).map_err(UserError::OperatorName)?;
    let users = store.users().await?;
    if !users.is_empty() && !users.iter().any(|u| u.name == user) {
        return Err(UserError::NotAUser(user.to_string()));
    }
    Ok(())
}

/// Removes a user.
pub async fn remove_user(store: &AnyStore, name: &str) -> Result<(), UserError> {
    if !store.remove_user(name).await? {
        return Err(UserError::NoUser(name.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_names() {
        assert_eq!("engineer".parse::<Role>().unwrap(), Role::Engineer);
        assert_eq!(
            "root".parse::<Role>().unwrap_err(),
            "role \"root\": one of admin, engineer, operator, viewer"
        );
        assert!(check_user_name("alice.b@site-1").is_ok());
        assert!(check_user_name("").is_err());
        assert!(check_user_name("a b").is_err());
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("x", "not a hash"));
    }
}
