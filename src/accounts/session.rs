//! Users and sessions in the database. A session cookie holds 32 random bytes; the table
//! keeps only their BLAKE3 hash, with the session's CSRF token and expiry.

use argon2::password_hash::rand_core::{OsRng, RngCore};

use super::Viewer;
use crate::db::{Db, now};
use crate::error::Error;

pub const SESSION_COOKIE: &str = "snakepit_session";
pub const USERNAME_MAX: usize = 40;

/// 32 random bytes as 64 hex digits.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn hash_token(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

/// Usernames: 1–40 letters, digits, `.`, `_`, `-` or `@` (proxies often send e-mail addresses).
pub fn validate_username(name: &str) -> Result<(), Error> {
    if name.is_empty() || name.len() > USERNAME_MAX {
        return Err(Error::Unprocessable(format!(
            "the username needs 1 to {USERNAME_MAX} characters"
        )));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    {
        return Err(Error::Unprocessable(
            "the username may contain only letters, digits, `.`, `_`, `-` and `@`".into(),
        ));
    }
    Ok(())
}

/// Creates a local user; 409 when the name is taken (names are case-insensitive).
pub async fn create_user(db: &Db, username: &str, password_hash: &str) -> Result<i64, Error> {
    let result = sqlx::query("INSERT INTO users (username, password_hash) VALUES (?, ?)")
        .bind(username)
        .bind(password_hash)
        .execute(db)
        .await;
    match result {
        Ok(r) => Ok(r.last_insert_rowid()),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(Error::Conflict(format!(
            "the username `{username}` is taken"
        ))),
        Err(e) => Err(e.into()),
    }
}

pub async fn find_user_id(db: &Db, username: &str) -> Result<Option<i64>, Error> {
    Ok(
        sqlx::query_scalar("SELECT id FROM users WHERE username = ?")
            .bind(username)
            .fetch_optional(db)
            .await?,
    )
}

/// `(id, username as stored, password hash)`.
pub async fn find_login(
    db: &Db,
    username: &str,
) -> Result<Option<(i64, String, Option<String>)>, Error> {
    Ok(
        sqlx::query_as("SELECT id, username, password_hash FROM users WHERE username = ?")
            .bind(username)
            .fetch_optional(db)
            .await?,
    )
}

/// Sets a new password hash and ends every session of the user.
pub async fn set_password(db: &Db, user_id: i64, password_hash: &str) -> Result<(), Error> {
    let mut tx = db.begin().await?;
    sqlx::query("UPDATE users SET password_hash = ? WHERE id = ?")
        .bind(password_hash)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM sessions WHERE user_id = ?")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn find_or_create_proxy_user(db: &Db, username: &str) -> Result<(i64, String), Error> {
    sqlx::query("INSERT INTO users (username) VALUES (?) ON CONFLICT (username) DO NOTHING")
        .bind(username)
        .execute(db)
        .await?;
    Ok(
        sqlx::query_as("SELECT id, username FROM users WHERE username = ?")
            .bind(username)
            .fetch_one(db)
            .await?,
    )
}

/// A new session; returns `(cookie token, csrf token)`. Expired sessions are swept here.
pub async fn create(db: &Db, user_id: i64, ttl_secs: i64) -> Result<(String, String), Error> {
    let token = random_token();
    let csrf = random_token()[..32].to_string();
    let now = now();
    sqlx::query("DELETE FROM sessions WHERE expires_at <= ?")
        .bind(now)
        .execute(db)
        .await?;
    sqlx::query("INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?)")
        .bind(hash_token(&token))
        .bind(user_id)
        .bind(&csrf)
        .bind(now)
        .bind(now + ttl_secs)
        .execute(db)
        .await?;
    Ok((token, csrf))
}

/// The live session with this token hash: the viewer and the expiry.
pub async fn lookup(db: &Db, token_hash: &str) -> Result<Option<(Viewer, i64)>, Error> {
    let row: Option<(i64, String, String, i64)> = sqlx::query_as(
        "SELECT u.id, u.username, s.csrf_token, s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.token_hash = ? AND s.expires_at > ?",
    )
    .bind(token_hash)
    .bind(now())
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(user_id, username, csrf_token, expires)| {
        (
            Viewer {
                user_id,
                username,
                csrf_token,
            },
            expires,
        )
    }))
}

pub async fn delete(db: &Db, token_hash: &str) -> Result<(), Error> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
        .bind(token_hash)
        .execute(db)
        .await?;
    Ok(())
}

/// The server's 32-byte secret, made on first start and kept in `settings`.
pub async fn server_key(db: &Db) -> Result<[u8; 32], sqlx::Error> {
    let fresh = random_token();
    sqlx::query(
        "INSERT INTO settings (key, value) VALUES ('server_key', ?) ON CONFLICT (key) DO NOTHING",
    )
    .bind(&fresh)
    .execute(db)
    .await?;
    let hex: String = sqlx::query_scalar("SELECT value FROM settings WHERE key = 'server_key'")
        .fetch_one(db)
        .await?;
    Ok(*blake3::hash(hex.as_bytes()).as_bytes())
}
