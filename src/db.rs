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

/// Database errors met while answering requests (see `Error::Database`), for `/metrics`.
pub static ERRORS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Database figures for `/metrics`, gathered when Prometheus scrapes: the pool, the file
/// sizes and row counts (small tables; `count(*)` on each is cheap at this scale).
#[derive(Debug, Default)]
pub struct Stats {
    pub connections: u32,
    pub idle: usize,
    pub file_bytes: u64,
    pub wal_bytes: u64,
    /// Users, unexpired sessions, bookmarks, notes and shares; `None` if the query failed.
    pub rows: Option<(i64, i64, i64, i64, i64)>,
}

impl Stats {
    pub async fn gather(db: &Db) -> Self {
        let file = db.connect_options().get_filename().to_path_buf();
        let size = |path: &Path| std::fs::metadata(path).map_or(0, |m| m.len());
        let mut wal = file.clone().into_os_string();
        wal.push("-wal");
        let rows = sqlx::query_as(
            "SELECT (SELECT count(*) FROM users), \
                    (SELECT count(*) FROM sessions WHERE expires_at > ?), \
                    (SELECT count(*) FROM bookmarks), \
                    (SELECT count(*) FROM notes), \
                    (SELECT count(*) FROM shares)",
        )
        .bind(now())
        .fetch_one(db)
        .await;
        let rows = match rows {
            Ok(rows) => Some(rows),
            Err(e) => {
                ERRORS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::error!("gathering database metrics: {e}");
                None
            }
        };
        Self {
            connections: db.size(),
            idle: db.num_idle(),
            file_bytes: size(&file),
            wal_bytes: size(Path::new(&wal)),
            rows,
        }
    }

    /// The `snakepit_db_*` families.
    pub fn write_to(&self, out: &mut crate::metrics::Exposition) {
        let gauges: [(&str, &str, u64); 2] = [
            (
                "snakepit_db_pool_connections",
                "Open connections in the SQLite pool.",
                self.connections.into(),
            ),
            (
                "snakepit_db_pool_idle_connections",
                "Pool connections not in use.",
                self.idle as u64,
            ),
        ];
        for (name, help, value) in gauges {
            out.family(name, "gauge", help);
            out.sample(name, &[], value);
        }
        let name = "snakepit_db_file_size_bytes";
        out.family(
            name,
            "gauge",
            "Size of the database file and of its write-ahead log.",
        );
        out.sample(name, &[("file", "db")], self.file_bytes);
        out.sample(name, &[("file", "wal")], self.wal_bytes);
        if let Some((users, sessions, bookmarks, notes, shares)) = self.rows {
            let name = "snakepit_db_rows";
            out.family(name, "gauge", "Rows per table (sessions: unexpired only).");
            for (table, n) in [
                ("users", users),
                ("sessions", sessions),
                ("bookmarks", bookmarks),
                ("notes", notes),
                ("shares", shares),
            ] {
                out.sample(name, &[("table", table)], n);
            }
        }
        let name = "snakepit_db_errors_total";
        out.family(
            name,
            "counter",
            "Database errors met while answering requests or gathering metrics.",
        );
        out.sample(name, &[], ERRORS.load(std::sync::atomic::Ordering::Relaxed));
    }
}
