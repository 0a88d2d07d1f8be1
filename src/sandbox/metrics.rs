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
    /// The `snakepit_sandbox_*` families, for `/metrics`.
    pub fn write_to(&self, out: &mut crate::metrics::Exposition) {
        let counters = [
            (
                "runs_total",
                "Runs that reached a worker and finished.",
                self.runs,
            ),
            (
                "timeouts_total",
                "Runs stopped by the wall-clock limit.",
                self.timeouts,
            ),
            (
                "truncated_total",
                "Runs whose output was cut at the output limit.",
                self.truncated,
            ),
            (
                "rejections_total",
                "Runs refused because the pool and queue were full (429).",
                self.rejections,
            ),
            (
                "too_large_total",
                "Runs refused because the program was too large (413).",
                self.too_large,
            ),
            (
                "errors_total",
                "Runs that failed inside the sandbox machinery.",
                self.errors,
            ),
        ];
        for (name, help, value) in counters {
            let name = format!("snakepit_sandbox_{name}");
            out.family(&name, "counter", help);
            out.sample(&name, &[], value);
        }
        let gauges = [
            (
                "pool_size",
                "Workers the pool keeps (the --workers setting).",
                self.pool_size,
            ),
            (
                "idle_workers",
                "Started, confined workers waiting for a program.",
                self.idle_workers,
            ),
            ("running", "Runs executing now.", self.running),
            ("queued", "Runs waiting for a worker.", self.queued),
        ];
        for (name, help, value) in gauges {
            let name = format!("snakepit_sandbox_{name}");
            out.family(&name, "gauge", help);
            out.sample(&name, &[], value);
        }
        let name = "snakepit_sandbox_run_duration_seconds";
        out.family(name, "histogram", "Wall-clock time of finished runs.");
        out.histogram(
            name,
            &[],
            self.duration_buckets.iter().copied(),
            self.duration_seconds_sum,
            self.runs,
        );
    }
}
