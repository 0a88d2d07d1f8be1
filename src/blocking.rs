//! A bounded pool for CPU work whose cost depends on the input (note Markdown rendering
//! and sanitizing): it runs on tokio's blocking threads, never on the async runtime, at
//! most one job per core at a time, so page requests keep their worker threads. Jobs wait
//! in a bounded queue; past it they are refused at once with 503 and `Retry-After`.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Semaphore;

use crate::Error;

/// Jobs allowed to wait for a slot; more are refused.
const QUEUE: usize = 64;

fn slots() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 8))
}

static SLOTS: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(slots()));
static PENDING: AtomicUsize = AtomicUsize::new(0);

struct Pending;

impl Drop for Pending {
    fn drop(&mut self) {
        PENDING.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Runs `f` on the blocking pool once a slot is free.
pub async fn run<T: Send + 'static>(
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Error> {
    let _pending = Pending;
    if PENDING.fetch_add(1, Ordering::AcqRel) >= slots() + QUEUE {
        return Err(Error::Busy(
            format!("the server is busy {what}; try again in a few seconds"),
            2,
        ));
    }
    let _slot = SLOTS
        .acquire()
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("{what}: {e}")))
}
