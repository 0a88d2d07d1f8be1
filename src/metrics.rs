//! `GET /metrics`: what an operator watches, in the Prometheus text format.
//!
//! Counters on the request path are plain atomics in fixed arrays indexed by small enums
//! (method, route group, status class, histogram bucket): recording a request takes no lock
//! and allocates nothing. Everything else (sandbox pool, database, process) is gathered when
//! Prometheus scrapes. [`Exposition`] is the one place that formats the text.

use std::fmt::{Display, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(show_metrics))
}

/// Prometheus text format, version 0.0.4.
async fn show_metrics(State(state): State<AppState>) -> Response {
    let mut out = Exposition::default();
    state.metrics.http.write_to(&mut out);
    state.metrics.search.write_to(&mut out);
    if let Some(sandbox) = state.runner.default_sandbox() {
        sandbox.metrics().write_to(&mut out);
    }
    crate::db::Stats::gather(&state.db).await.write_to(&mut out);
    write_process(&state, &mut out);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out.finish(),
    )
        .into_response()
}

/// Every counter the server keeps itself, shared through [`AppState`].
pub struct Metrics {
    pub http: HttpMetrics,
    pub search: SearchMetrics,
    /// Unix time the server started, in seconds.
    started: f64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            http: HttpMetrics::default(),
            search: SearchMetrics::default(),
            started: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        }
    }
}

fn write_process(state: &AppState, out: &mut Exposition) {
    out.family(
        "snakepit_process_start_time_seconds",
        "gauge",
        "Start time of the server since the Unix epoch.",
    );
    out.sample(
        "snakepit_process_start_time_seconds",
        &[],
        state.metrics.started,
    );
    // statm: size and resident pages; cheap to read, Linux only (left out elsewhere).
    let resident = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok());
    if let Some(pages) = resident {
        // SAFETY: sysconf has no preconditions.
        let page_size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(0) as u64;
        out.family(
            "snakepit_process_resident_memory_bytes",
            "gauge",
            "Resident memory of the server process (not the sandboxed runs).",
        );
        out.sample(
            "snakepit_process_resident_memory_bytes",
            &[],
            pages * page_size,
        );
    }
    out.family(
        "snakepit_build_info",
        "gauge",
        "Always 1; the version of the running server.",
    );
    out.sample(
        "snakepit_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1,
    );
    out.family(
        "snakepit_articles",
        "gauge",
        "Articles loaded from the content directory.",
    );
    out.sample("snakepit_articles", &[], state.site.library.articles.len());
}

/// Prometheus text exposition, written family by family: each starts with its `# HELP`
/// and `# TYPE` lines ([`Exposition::family`]), then its samples.
#[derive(Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    /// Starts a metric family; `kind` is `counter`, `gauge` or `histogram`.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// One sample: `name{labels} value`.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (key, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{key}=\"");
                for c in value.chars() {
                    match c {
                        '\\' => self.out.push_str("\\\\"),
                        '"' => self.out.push_str("\\\""),
                        '\n' => self.out.push_str("\\n"),
                        c => self.out.push(c),
                    }
                }
                self.out.push('"');
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }

    /// The samples of one histogram: cumulative `_bucket`s (upper bounds in seconds, then
    /// `+Inf`), `_sum` and `_count`.
    pub fn histogram(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        buckets: impl IntoIterator<Item = (f64, u64)>,
        sum_seconds: f64,
        count: u64,
    ) {
        let bucket = format!("{name}_bucket");
        let with_le = |le: &str| -> Vec<(&str, String)> {
            let mut all: Vec<(&str, String)> =
                labels.iter().map(|&(k, v)| (k, v.to_string())).collect();
            all.push(("le", le.to_string()));
            all
        };
        let mut write = |le: &str, n: u64| {
            let owned = with_le(le);
            let borrowed: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
            self.sample(&bucket, &borrowed, n);
        };
        for (le, n) in buckets {
            write(&le.to_string(), n);
        }
        write("+Inf", count);
        self.sample(&format!("{name}_sum"), labels, sum_seconds);
        self.sample(&format!("{name}_count"), labels, count);
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// Upper bounds of the latency buckets, in microseconds (100 µs to 10 s).
const LATENCY_BOUNDS_US: [u64; 14] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000,
    2_500_000, 10_000_000,
];

/// A latency histogram: one atomic per bucket (not cumulative; summed when scraped).
#[derive(Default)]
pub struct Histogram {
    /// `LATENCY_BOUNDS_US` buckets, then the overflow.
    buckets: [AtomicU64; LATENCY_BOUNDS_US.len() + 1],
    sum_us: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let i = LATENCY_BOUNDS_US.partition_point(|&bound| bound < us);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    fn write_to(&self, out: &mut Exposition, name: &str, labels: &[(&str, &str)]) {
        let mut cumulative = 0;
        let buckets = LATENCY_BOUNDS_US
            .iter()
            .zip(&self.buckets)
            .map(|(&bound, n)| {
                cumulative += n.load(Ordering::Relaxed);
                (bound as f64 / 1e6, cumulative)
            });
        let buckets: Vec<(f64, u64)> = buckets.collect();
        let sum = self.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        out.histogram(name, labels, buckets, sum, self.count());
    }
}

/// Request methods counted apart; anything else is `other`.
const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other",
];

fn method_index(method: &Method) -> usize {
    METHODS[..7]
        .iter()
        .position(|m| *m == method.as_str())
        .unwrap_or(7)
}

/// What a request was for, from the route it matched: a handful of groups, so the number of
/// series stays small whatever the URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteGroup {
    Home,
    Article,
    Search,
    Run,
    Account,
    Bookmarks,
    Notes,
    Shares,
    Static,
    Metrics,
    Health,
    OtherApi,
    Other,
    /// No route matched (the 404 page).
    Unmatched,
}

impl RouteGroup {
    const ALL: [RouteGroup; 14] = [
        Self::Home,
        Self::Article,
        Self::Search,
        Self::Run,
        Self::Account,
        Self::Bookmarks,
        Self::Notes,
        Self::Shares,
        Self::Static,
        Self::Metrics,
        Self::Health,
        Self::OtherApi,
        Self::Other,
        Self::Unmatched,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Self::Home => "home",
            Self::Article => "article",
            Self::Search => "search",
            Self::Run => "run",
            Self::Account => "account",
            Self::Bookmarks => "bookmarks",
            Self::Notes => "notes",
            Self::Shares => "shares",
            Self::Static => "static",
            Self::Metrics => "metrics",
            Self::Health => "health",
            Self::OtherApi => "api",
            Self::Other => "other",
            Self::Unmatched => "unmatched",
        }
    }

    /// The group of a matched route template such as `/api/notes/{id}` (`None`: no match).
    pub fn of(route: Option<&str>) -> Self {
        let Some(route) = route else {
            return Self::Unmatched;
        };
        let (api, rest) = match route.strip_prefix("/api/") {
            Some(rest) => (true, rest),
            None => (false, route.trim_start_matches('/')),
        };
        let first = rest.split(['/', '.']).next().unwrap_or_default();
        match first {
            "" if !api => Self::Home,
            "articles" => Self::Article,
            "search" => Self::Search,
            "run" => Self::Run,
            "login" | "signup" | "logout" | "me" => Self::Account,
            "bookmarks" => Self::Bookmarks,
            "notes" | "export" => Self::Notes,
            "s" | "shares" => Self::Shares,
            "static" => Self::Static,
            "metrics" => Self::Metrics,
            "healthz" => Self::Health,
            _ if api => Self::OtherApi,
            _ => Self::Other,
        }
    }
}

const GROUPS: usize = RouteGroup::ALL.len();

/// HTTP requests by method, route group and status class, and their durations by group.
pub struct HttpMetrics {
    /// `[method][group][status class 1xx..5xx]`.
    requests: Vec<AtomicU64>,
    durations: [Histogram; GROUPS],
    in_flight: AtomicU64,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        Self {
            requests: (0..METHODS.len() * GROUPS * 5)
                .map(|_| AtomicU64::new(0))
                .collect(),
            durations: Default::default(),
            in_flight: AtomicU64::new(0),
        }
    }
}

impl HttpMetrics {
    /// A request has arrived: it counts as in flight until the guard is dropped (answered,
    /// or abandoned by the client).
    pub fn start(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(&self.in_flight)
    }

    /// A request has been answered.
    pub fn record(&self, method: &Method, group: RouteGroup, status: StatusCode, took: Duration) {
        let class = usize::from((status.as_u16() / 100).clamp(1, 5)) - 1;
        let i = (method_index(method) * GROUPS + group as usize) * 5 + class;
        self.requests[i].fetch_add(1, Ordering::Relaxed);
        self.durations[group as usize].observe(took);
    }

    fn write_to(&self, out: &mut Exposition) {
        out.family(
            "snakepit_http_requests_total",
            "counter",
            "HTTP requests answered, by method, route group and status class.",
        );
        for (m, method) in METHODS.iter().enumerate() {
            for group in RouteGroup::ALL {
                for class in 0..5 {
                    let n = self.requests[(m * GROUPS + group as usize) * 5 + class]
                        .load(Ordering::Relaxed);
                    if n > 0 {
                        let status = ["1xx", "2xx", "3xx", "4xx", "5xx"][class];
                        let labels = [
                            ("method", *method),
                            ("route", group.label()),
                            ("status", status),
                        ];
                        out.sample("snakepit_http_requests_total", &labels, n);
                    }
                }
            }
        }
        out.family(
            "snakepit_http_request_duration_seconds",
            "histogram",
            "Time to produce a response's head, by route group (streams may run longer).",
        );
        for group in RouteGroup::ALL {
            let histogram = &self.durations[group as usize];
            if histogram.count() > 0 {
                histogram.write_to(
                    out,
                    "snakepit_http_request_duration_seconds",
                    &[("route", group.label())],
                );
            }
        }
        out.family(
            "snakepit_http_requests_in_flight",
            "gauge",
            "HTTP requests being answered now.",
        );
        out.sample(
            "snakepit_http_requests_in_flight",
            &[],
            self.in_flight.load(Ordering::Relaxed),
        );
    }
}

/// Counts a request in flight while it lives.
pub struct InFlight<'a>(&'a AtomicU64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Where a search came from.
#[derive(Debug, Clone, Copy)]
pub enum SearchSource {
    /// `GET /api/search` (the header's search-as-you-type).
    Api = 0,
    /// The `/search` results page.
    Page = 1,
}

const SOURCES: [&str; 2] = ["api", "page"];

/// Searches that reached the index (empty queries do not), those that found nothing, and
/// how long the index took.
#[derive(Default)]
pub struct SearchMetrics {
    queries: [AtomicU64; 2],
    zero_hits: [AtomicU64; 2],
    durations: Histogram,
}

impl SearchMetrics {
    pub fn record(&self, source: SearchSource, took: Duration, hits: usize) {
        self.queries[source as usize].fetch_add(1, Ordering::Relaxed);
        if hits == 0 {
            self.zero_hits[source as usize].fetch_add(1, Ordering::Relaxed);
        }
        self.durations.observe(took);
    }

    fn write_to(&self, out: &mut Exposition) {
        for (name, help, counts) in [
            (
                "snakepit_search_queries_total",
                "Search queries run against the index, by source (api or page).",
                &self.queries,
            ),
            (
                "snakepit_search_zero_hits_total",
                "Search queries that found nothing, by source: what readers miss.",
                &self.zero_hits,
            ),
        ] {
            out.family(name, "counter", help);
            for (source, n) in SOURCES.iter().zip(counts) {
                out.sample(name, &[("source", source)], n.load(Ordering::Relaxed));
            }
        }
        out.family(
            "snakepit_search_duration_seconds",
            "histogram",
            "Time the index took to answer a search.",
        );
        self.durations
            .write_to(out, "snakepit_search_duration_seconds", &[]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_fall_into_their_groups() {
        let cases = [
            (Some("/"), RouteGroup::Home),
            (Some("/articles/{slug}"), RouteGroup::Article),
            (Some("/search"), RouteGroup::Search),
            (Some("/api/search"), RouteGroup::Search),
            (Some("/api/run"), RouteGroup::Run),
            (Some("/run"), RouteGroup::Run),
            (Some("/api/me"), RouteGroup::Account),
            (Some("/login"), RouteGroup::Account),
            (Some("/api/bookmarks/{slug}"), RouteGroup::Bookmarks),
            (Some("/notes/{id}/edit"), RouteGroup::Notes),
            (Some("/export.md"), RouteGroup::Notes),
            (Some("/s/{id}"), RouteGroup::Shares),
            (Some("/static/{*rest}"), RouteGroup::Static),
            (Some("/api/openapi.json"), RouteGroup::OtherApi),
            (Some("/healthz"), RouteGroup::Health),
            (None, RouteGroup::Unmatched),
        ];
        for (route, group) in cases {
            assert_eq!(RouteGroup::of(route), group, "{route:?}");
        }
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_end_with_the_count() {
        let h = Histogram::default();
        for us in [50, 100, 101, 3_000, 20_000_000] {
            h.observe(Duration::from_micros(us));
        }
        let mut out = Exposition::default();
        h.write_to(&mut out, "t_seconds", &[]);
        let text = out.finish();
        assert!(
            text.contains("t_seconds_bucket{le=\"0.0001\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("t_seconds_bucket{le=\"0.00025\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("t_seconds_bucket{le=\"0.005\"} 4\n"),
            "{text}"
        );
        assert!(text.contains("t_seconds_bucket{le=\"10\"} 4\n"), "{text}");
        assert!(text.contains("t_seconds_bucket{le=\"+Inf\"} 5\n"), "{text}");
        assert!(text.contains("t_seconds_count 5\n"), "{text}");
        assert!(text.contains("t_seconds_sum 20.003251\n"), "{text}");
    }

    #[test]
    fn label_values_are_escaped() {
        let mut out = Exposition::default();
        out.sample("x", &[("a", "q\"\\\n")], 1);
        assert_eq!(out.finish(), "x{a=\"q\\\"\\\\\\n\"} 1\n");
    }
}
