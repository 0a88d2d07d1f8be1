//! The SQLite database under `--data`: opened once, migrated at start-up, shared as a pool.
//!
//! WAL lets readers run beside the one writer; `synchronous = FULL` makes every
//! acknowledged commit survive a crash of the process or the machine; foreign keys on so
//! deleting a user takes their sessions, bookmarks and notes along.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub type Db = sqlx::SqlitePool;

pub const DB_FILE: &str = "snakepit.db";

/// `<data>/snakepit.db`.
pub fn path(data: &Path) -> PathBuf {
    data.join(DB_FILE)
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot create the data directory {0}: {1}")]
    Dir(PathBuf, std::io::Error),
    #[error("cannot open the database {0}: {1}")]
    Open(PathBuf, sqlx::Error),
    #[error("cannot migrate the database {0}: {1}")]
    Migrate(PathBuf, sqlx::migrate::MigrateError),
}

/// Opens (creating if needed) and migrates the database in `data`.
pub async fn open(data: &Path) -> Result<Db, OpenError> {
    std::fs::create_dir_all(data).map_err(|e| OpenError::Dir(data.to_path_buf(), e))?;
    let file = path(data);
    let options = SqliteConnectOptions::new()
        .filename(&file)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5));
    let db = SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .map_err(|e| OpenError::Open(file.clone(), e))?;
    sqlx::migrate!()
        .run(&db)
        .await
        .map_err(|e| OpenError::Migrate(file, e))?;
    Ok(db)
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `VACUUM INTO`: a consistent copy of the live database, safe while the server runs.
pub async fn backup(db: &Db, target: &Path) -> Result<(), sqlx::Error> {
    sqlx::query("VACUUM INTO ?")
        .bind(target.to_string_lossy().into_owned())
        .execute(db)
        .await?;
    Ok(())
}
