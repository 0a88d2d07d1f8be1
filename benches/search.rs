//! Search benchmark: index build time and server-side query latency (p50/p99 over the judged
//! queries) on the shipped content and on a generated corpus 100× larger. Prints a Markdown
//! table. Run: `cargo bench --bench search` (release profile), optionally with a content
//! directory as the first argument.
//!
//! No criterion: a build and a few thousand timed queries are enough for percentiles, and
//! the targets (p99 < 2 ms and build < 300 ms shipped, p99 < 20 ms at 100×) are far from noise.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use snakepit::content::{self, Article};
use snakepit::search::SearchIndex;
use snakepit::search::related::related;
use snakepit::search::vocabulary::Vocabulary;

/// Times each judged query is run on the shipped content (fewer at 100×).
const REPEATS: usize = 20;

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::args()
        .nth(1)
        .filter(|a| !a.starts_with('-'))
        .map_or_else(|| root.join("content"), PathBuf::from);
    let library = match content::load(&dir) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}\n(use python3 /work/tmp/preview-content.py to make a loadable copy)");
            std::process::exit(1);
        }
    };
    let queries = judged_queries(&root.join("tests/search-judged"));
    println!(
        "{} articles, {} judged queries\n",
        library.articles.len(),
        queries.len()
    );
    println!(
        "| corpus | articles | parts | build (median, wall) | build CPU | p50 all runs | p99 all runs | \
         p50 per-query median | p99 per-query median | max |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    row(
        "shipped",
        &library.articles,
        &library.vocabulary,
        &queries,
        5,
        REPEATS,
    );
    let big = grow(&library.articles, 100);
    row("100× generated", &big, &library.vocabulary, &queries, 1, 3);
    SLOWEST.with(|s| println!("\nSlowest queries (median): {}", s.borrow().join("\n")));
    let started = Instant::now();
    let _ = related(&library, 4);
    println!(
        "\nRelated articles (shipped content): {}",
        ms(started.elapsed())
    );
}

fn row(
    name: &str,
    articles: &[Article],
    vocabulary: &Vocabulary,
    queries: &[String],
    builds: usize,
    repeats: usize,
) {
    let mut times = Vec::new();
    let mut cpu_times = Vec::new();
    let mut index = None;
    for _ in 0..builds {
        let (started, cpu) = (Instant::now(), process_cpu());
        index = Some(SearchIndex::build(articles, vocabulary).expect("index builds"));
        times.push(started.elapsed());
        cpu_times.push(process_cpu().zip(cpu).map(|(b, a)| b.saturating_sub(a)));
    }
    times.sort();
    cpu_times.sort();
    let build = times[times.len() / 2];
    let build_cpu = cpu_times[cpu_times.len() / 2];
    let index = index.expect("at least one build");
    for q in queries {
        let _ = index.search(q, 10, None); // warm up
    }
    // Every run of every query; and each query's median over its runs, which filters out
    // moments when another process had the CPU (this machine has two cores, shared).
    let mut samples = Vec::with_capacity(queries.len() * repeats);
    let mut per_query: Vec<Vec<Duration>> = vec![Vec::with_capacity(repeats); queries.len()];
    for _ in 0..repeats {
        for (i, q) in queries.iter().enumerate() {
            let started = Instant::now();
            std::hint::black_box(index.search(q, 10, None));
            let took = started.elapsed();
            samples.push(took);
            per_query[i].push(took);
        }
    }
    samples.sort();
    let mut medians: Vec<(Duration, &str)> = per_query
        .iter_mut()
        .zip(queries)
        .map(|(runs, q)| {
            runs.sort();
            (runs[runs.len() / 2], q.as_str())
        })
        .collect();
    medians.sort();
    let pct = |v: &[Duration], p: f64| v[((v.len() as f64 * p) as usize).min(v.len() - 1)];
    let meds: Vec<Duration> = medians.iter().map(|m| m.0).collect();
    let opt = |d: Option<Duration>| d.map_or_else(|| "n/a".to_string(), ms);
    println!(
        "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        index.article_count(),
        index.part_count(),
        ms(build),
        opt(build_cpu),
        ms(pct(&samples, 0.50)),
        ms(pct(&samples, 0.99)),
        ms(pct(&meds, 0.50)),
        ms(pct(&meds, 0.99)),
        ms(samples[samples.len() - 1])
    );
    let slowest: Vec<String> = medians
        .iter()
        .rev()
        .take(3)
        .map(|(d, q)| format!("{} {q:?}", ms(*d)))
        .collect();
    SLOWEST.with(|s| {
        s.borrow_mut()
            .push(format!("{name}: {}", slowest.join("; ")))
    });
}

thread_local! {
    static SLOWEST: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// CPU time of the whole process (the index writer runs on its own thread), from
/// `/proc/self/stat` (clock ticks, assumed 100 Hz); `None` off Linux.
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// `factor` copies of every article, each with its own slug and a share of its words
/// changed, so the vocabulary and postings grow as a larger knowledge base's would.
fn grow(articles: &[Article], factor: usize) -> Vec<Article> {
    const SYLLABLES: [&str; 16] = [
        "ka", "lo", "mi", "ne", "po", "ru", "sa", "ti", "vu", "xe", "za", "qo", "be", "di", "fu",
        "ga",
    ];
    let suffix = |k: usize| format!("{}{}", SYLLABLES[k % 16], SYLLABLES[(k / 16) % 16]);
    let vary = |text: &str, k: usize| -> String {
        text.split(' ')
            .enumerate()
            .map(|(i, w)| {
                if (i + k) % 4 == 0 && w.len() > 3 {
                    format!("{w}{}", suffix(k + i))
                } else {
                    w.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut out = Vec::with_capacity(articles.len() * factor);
    for k in 0..factor {
        for a in articles {
            let mut b = a.clone();
            if k > 0 {
                b.slug = format!("{}-{k}", a.slug);
                b.title = vary(&a.title, k);
                b.summary = vary(&a.summary, k);
                for p in &mut b.parts {
                    p.prose = vary(&p.prose, k);
                    p.code = vary(&p.code, k);
                }
            }
            out.push(b);
        }
    }
    out
}

fn judged_queries(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    for path in files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
    {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Ok(value) = text.parse::<toml::Table>() else {
            continue;
        };
        for q in value
            .get("query")
            .and_then(|q| q.as_array())
            .into_iter()
            .flatten()
        {
            if let Some(s) = q.get("q").and_then(|s| s.as_str()) {
                out.push(s.to_string());
            }
        }
    }
    out
}
