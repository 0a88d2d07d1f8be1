//! Counters for `/metrics`, kept by the pool under its lock.

use serde::Serialize;

/// Upper bounds (seconds) of the run-duration histogram buckets.
pub(crate) const BUCKETS: [f64; 10] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Counters for `/metrics`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Metrics {
    /// Runs that reached a worker and finished.
    pub runs: u64,
    pub timeouts: u64,
    pub truncated: u64,
    /// Runs answered `Busy`.
    pub rejections: u64,
    /// Runs answered `TooLarge`.
    pub too_large: u64,
    /// Runs that failed inside the sandbox machinery.
    pub errors: u64,
    pub duration_seconds_sum: f64,
    /// (upper bound in seconds, cumulative count), Prometheus style.
    pub duration_buckets: Vec<(f64, u64)>,
    pub pool_size: usize,
    pub idle_workers: usize,
    pub running: usize,
    pub queued: usize,
}

impl Metrics {
    /// Prometheus text exposition, metric names prefixed `snakepit_sandbox_`.
    pub fn to_prometheus(&self) -> String {
        let mut s = String::new();
        let counters = [
            ("runs_total", self.runs),
            ("timeouts_total", self.timeouts),
            ("truncated_total", self.truncated),
            ("rejections_total", self.rejections),
            ("too_large_total", self.too_large),
            ("errors_total", self.errors),
        ];
        for (name, v) in counters {
            s += &format!("# TYPE snakepit_sandbox_{name} counter\nsnakepit_sandbox_{name} {v}\n");
        }
        for (name, v) in [
            ("pool_size", self.pool_size),
            ("idle_workers", self.idle_workers),
            ("running", self.running),
            ("queued", self.queued),
        ] {
            s += &format!("# TYPE snakepit_sandbox_{name} gauge\nsnakepit_sandbox_{name} {v}\n");
        }
        s += "# TYPE snakepit_sandbox_run_duration_seconds histogram\n";
        for (le, n) in &self.duration_buckets {
            s += &format!("snakepit_sandbox_run_duration_seconds_bucket{{le=\"{le}\"}} {n}\n");
        }
        s += &format!(
            "snakepit_sandbox_run_duration_seconds_bucket{{le=\"+Inf\"}} {}\n\
             snakepit_sandbox_run_duration_seconds_sum {}\n\
             snakepit_sandbox_run_duration_seconds_count {}\n",
            self.runs, self.duration_seconds_sum, self.runs
        );
        s
    }
}
