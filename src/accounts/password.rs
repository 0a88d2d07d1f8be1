//! argon2id password hashes (the RustCrypto defaults: 19 MiB, 2 passes), computed off the
//! async runtime and at most a few at a time so a burst of logins cannot starve the server.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use tokio::sync::Semaphore;

use crate::Error;

pub const MIN_LEN: usize = 8;
pub const MAX_LEN: usize = 1024;

static HASHING: Semaphore = Semaphore::const_new(2);

/// A hash of a password nobody has, verified against when the username is unknown so that
/// a wrong username takes as long as a wrong password.
static DUMMY: LazyLock<String> =
    LazyLock::new(|| hash_now("not a real password").unwrap_or_default());

pub fn validate(password: &str) -> Result<(), Error> {
    let n = password.chars().count();
    if n < MIN_LEN {
        return Err(Error::Unprocessable(format!(
            "the password needs at least {MIN_LEN} characters"
        )));
    }
    if password.len() > MAX_LEN {
        return Err(Error::Unprocessable(format!(
            "the password may have at most {MAX_LEN} bytes"
        )));
    }
    Ok(())
}

fn hash_now(password: &str) -> Result<String, Error> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(format!("hashing a password: {e}")))
}

fn verify_now(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// The PHC string of an argon2id hash of `password`.
pub async fn hash(password: String) -> Result<String, Error> {
    let _permit = HASHING
        .acquire()
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
    tokio::task::spawn_blocking(move || hash_now(&password))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
}

/// Whether `password` matches `hash`; with no hash (unknown user) it spends the same time and says no.
pub async fn verify(password: String, hash: Option<String>) -> bool {
    let Ok(_permit) = HASHING.acquire().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || match hash {
        Some(h) => verify_now(&password, &h),
        None => {
            verify_now(&password, &DUMMY);
            false
        }
    })
    .await
    .unwrap_or(false)
}

/// Blocking variant for the `snakepit user` commands.
pub fn hash_blocking(password: &str) -> Result<String, Error> {
    hash_now(password)
}
