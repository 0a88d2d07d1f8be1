//! Search through the real router: the `/api/search` contract, hostile input, the results
//! page, related articles, and the judged-query evaluation over the shipped content.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::Value;
use snakepit::sandbox::api::Runner;
use snakepit::{AppState, app};
use tower::ServiceExt;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shipped site (built once per test binary) with a fresh database for this test.
async fn state() -> (AppState, tempfile::TempDir) {
    let runner = Runner::Unavailable("no sandbox in search tests".into());
    common::state_for(common::shipped_site(), common::default_accounts(), runner).await
}

async fn get(uri: &str) -> (StatusCode, String) {
    let request = Request::builder()
        .uri(uri)
        .body(Body::empty())
        .expect("valid request");
    let (state, _data) = state().await;
    let response = app(state).oneshot(request).await.expect("router answers");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn api(q: &str, extra: &str) -> (StatusCode, Value) {
    let q = percent_encoding::utf8_percent_encode(q, percent_encoding::NON_ALPHANUMERIC);
    let (status, body) = get(&format!("/api/search?q={q}{extra}")).await;
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("JSON body ({e}): {body}"));
    (status, json)
}

#[tokio::test]
async fn api_answers_in_the_contract_shape() {
    let (status, json) = api("mutable default argument", "&limit=5").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["query"], "mutable default argument");
    assert!(json["took_us"].is_u64());
    let hits = json["hits"].as_array().expect("hits array");
    assert!(!hits.is_empty() && hits.len() <= 5);
    for hit in hits {
        for key in ["slug", "title", "url", "section", "snippet_html"] {
            assert!(hit[key].is_string(), "{key} in {hit}");
        }
        assert!(hit["score"].is_number());
        assert!(
            hit["url"]
                .as_str()
                .is_some_and(|u| u.starts_with("/articles/"))
        );
    }
    assert_eq!(hits[0]["slug"], "mutable-default-arguments");
    let scores: Vec<f64> = hits.iter().filter_map(|h| h["score"].as_f64()).collect();
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]),
        "best first: {scores:?}"
    );
}

#[tokio::test]
async fn hits_point_at_the_matching_section_with_marks() {
    let (_, json) = api(
        "UnboundLocalError: local variable 'count' referenced before assignment",
        "",
    )
    .await;
    let hit = &json["hits"][0];
    assert_eq!(hit["slug"], "scope-and-closures");
    let url = hit["url"].as_str().expect("url");
    let anchor = url.split_once('#').map(|(_, a)| a).expect("an #anchor");
    let (_, page) = get(&format!(
        "/articles/{}",
        hit["slug"].as_str().expect("slug")
    ))
    .await;
    let doc = scraper::Html::parse_document(&page);
    let selector = scraper::Selector::parse(&format!("[id=\"{anchor}\"]")).expect("selector");
    assert!(
        doc.select(&selector).next().is_some(),
        "anchor {anchor} exists on the page"
    );
    assert!(
        hit["snippet_html"]
            .as_str()
            .is_some_and(|s| s.contains("<mark>")),
        "{hit}"
    );
}

#[tokio::test]
async fn queries_naming_the_subject_land_on_the_article_and_details_on_their_section() {
    // The title names every word (a typo corrected): the article's opening, no anchor.
    for q in ["mutable default", "mutible defualt"] {
        let (_, json) = api(q, "").await;
        assert_eq!(
            json["hits"][0]["url"], "/articles/mutable-default-arguments",
            "{q}"
        );
    }
    // A detail the title does not name: the section holding every word of it.
    let (_, json) = api("default_factory dataclass field", "").await;
    let url = json["hits"][0]["url"].as_str().expect("url").to_string();
    let (path, anchor) = url.split_once('#').expect("an #anchor");
    let (_, page) = get(path).await;
    let doc = scraper::Html::parse_document(&page);
    let heading = scraper::Selector::parse(&format!("[id=\"{anchor}\"]")).expect("selector");
    assert!(doc.select(&heading).next().is_some(), "{url}");
}

#[tokio::test]
async fn empty_and_whitespace_queries_give_no_hits() {
    for q in ["", " ", "\t\n  "] {
        let (status, json) = api(q, "").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json["hits"], Value::Array(vec![]));
    }
    let (status, body) = get("/api/search").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn hostile_input_never_errors() {
    let long = "lru_cache ".repeat(1100);
    let inputs = [
        "\"",
        "'",
        "\"unbalanced",
        "AND OR NOT",
        "NOT",
        "title:",
        "title:foo",
        "field:(a OR b",
        "((((",
        "))",
        "[1 TO 2]",
        "a^2 b~3 *",
        "*",
        "?",
        "\\",
        "🐍 ünïcödé 漢字",
        "\u{0}\u{1}\u{7f}",
        "<script>alert(1)</script>",
        "%",
        "+-&&||!",
        long.as_str(),
    ];
    for q in inputs {
        let (status, json) = api(q, "").await;
        assert_eq!(status, StatusCode::OK, "{q:?}: {json}");
        assert!(json["hits"].is_array(), "{q:?}");
        for hit in json["hits"].as_array().into_iter().flatten() {
            let snippet = hit["snippet_html"].as_str().unwrap_or_default();
            assert!(
                !snippet.contains("<script"),
                "snippets are escaped: {snippet}"
            );
        }
    }
    // Raw, unencoded oddities in the query string itself.
    for uri in [
        "/api/search?q=%ZZ",
        "/api/search?q=a&q=b",
        "/api/search?q=%00%01",
        "/api/search?q=a%2",
    ] {
        let (status, body) = get(uri).await;
        assert!(
            status == StatusCode::OK || status == StatusCode::BAD_REQUEST,
            "{uri}: {status}"
        );
        let json: Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{uri}: JSON ({e}): {body}"));
        assert!(
            json.get("hits").is_some() || json["error"].is_string(),
            "{uri}: {json}"
        );
    }
}

#[tokio::test]
async fn bad_parameters_are_json_errors() {
    let (status, json) = api("gil", "&limit=lots").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(json["error"].is_string());
    let (status, json) = api("gil", "&section=nope").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        json["error"]
            .as_str()
            .is_some_and(|e| e.contains("section"))
    );
    let (status, json) = api("gil", "&limit=100000").await;
    assert_eq!(status, StatusCode::OK);
    assert!(json["hits"].as_array().is_some_and(|h| h.len() <= 50));
}

#[tokio::test]
async fn section_filter_keeps_one_section() {
    let (status, json) = api("closure", "&section=pitfalls&limit=20").await;
    assert_eq!(status, StatusCode::OK);
    let hits = json["hits"].as_array().expect("hits");
    assert!(!hits.is_empty());
    assert!(hits.iter().all(|h| h["section"] == "pitfalls"), "{json}");
}

#[tokio::test]
async fn results_page_works_without_javascript() {
    let (status, page) = get("/search?q=lru_cache").await;
    assert_eq!(status, StatusCode::OK);
    let doc = scraper::Html::parse_document(&page);
    let link = scraper::Selector::parse(".search-result-title").expect("selector");
    let first = doc.select(&link).next().expect("a result");
    assert!(
        first
            .value()
            .attr("href")
            .is_some_and(|h| h.starts_with("/articles/functional-tools")),
        "{page}"
    );
    let (status, page) = get("/search?q=zzqxqzzqxq&section=pitfalls").await;
    assert_eq!(status, StatusCode::OK);
    let doc = scraper::Html::parse_document(&page);
    assert!(
        doc.select(&scraper::Selector::parse(".no-results .search-suggestions a").expect("s"))
            .next()
            .is_some()
    );
    let (status, _) = get("/search").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = get("/search?q=%22(AND&section=%00").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn every_page_loads_search_js_and_articles_list_related() {
    let (_, page) = get("/articles/mutable-default-arguments").await;
    let doc = scraper::Html::parse_document(&page);
    let script = scraper::Selector::parse("script[src^='/static/search.js?v=']").expect("selector");
    assert!(
        doc.select(&script).next().is_some(),
        "search.js is included, fingerprinted"
    );
    let related = scraper::Selector::parse(".related-list a").expect("selector");
    let links: Vec<_> = doc
        .select(&related)
        .filter_map(|a| a.value().attr("href"))
        .collect();
    assert!(!links.is_empty(), "related articles listed");
    assert!(
        links
            .iter()
            .all(|l| *l != "/articles/mutable-default-arguments"),
        "not itself"
    );
}

#[derive(Debug, Deserialize)]
struct JudgedFile {
    query: Vec<Judged>,
}

#[derive(Debug, Deserialize)]
struct Judged {
    q: String,
    kind: String,
    expect: Vec<String>,
}

fn judged_queries(dir: &Path) -> Vec<(String, Judged)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let file: JudgedFile =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.extend(file.query.into_iter().map(|q| (name.clone(), q)));
    }
    out
}

/// Recall@3 and MRR@10 over every judged query whose expected articles exist; a table per
/// kind is printed (run with `--nocapture` to see it).
#[test]
fn judged_queries_meet_the_relevance_bar() {
    let site = common::shipped_site();
    let mut per_kind: BTreeMap<String, (usize, usize, f64)> = BTreeMap::new();
    let mut misses = Vec::new();
    let mut unknown = Vec::new();
    for (file, j) in judged_queries(&root().join("tests/search-judged")) {
        // A judgement naming an article that does not exist is a mistake, not a skip.
        unknown.extend(
            j.expect
                .iter()
                .filter(|s| site.library.article(s).is_none())
                .map(|s| format!("{file}: {s}")),
        );
        let hits = site.search.search(&j.q, 10, None);
        let rank = hits
            .iter()
            .position(|h| j.expect.contains(&h.slug))
            .map(|r| r + 1);
        let set = if file.starts_with("questions") {
            "questions"
        } else {
            "original"
        };
        for key in [j.kind.clone(), format!("all {set}")] {
            let entry = per_kind.entry(key).or_default();
            entry.0 += 1;
            entry.1 += usize::from(rank.is_some_and(|r| r <= 3));
            entry.2 += rank.map_or(0.0, |r| 1.0 / r as f64);
        }
        if rank.is_none_or(|r| r > 1) {
            let got: Vec<&str> = hits.iter().take(3).map(|h| h.slug.as_str()).collect();
            misses.push(format!(
                "{file}: [{}] {:?} rank {rank:?}, want {:?}, got {got:?}",
                j.kind, j.q, j.expect
            ));
        }
    }
    let (n, r3, rr) = per_kind
        .iter()
        .filter(|(k, _)| !k.starts_with("all "))
        .fold((0, 0, 0.0), |a, (_, v)| (a.0 + v.0, a.1 + v.1, a.2 + v.2));
    println!("\n| kind | queries | recall@3 | MRR |\n|---|---:|---:|---:|");
    for (kind, (k, r, m)) in &per_kind {
        println!(
            "| {kind} | {k} | {:.3} | {:.3} |",
            *r as f64 / *k as f64,
            m / *k as f64
        );
    }
    let recall = r3 as f64 / n.max(1) as f64;
    let mrr = rr / n.max(1) as f64;
    println!("| **all** | {n} | {recall:.3} | {mrr:.3} |");
    assert!(
        unknown.is_empty(),
        "judged queries expect articles that do not exist: {unknown:?}"
    );
    println!("\nNot ranked first:\n{}", misses.join("\n"));
    assert!(n > 0, "no judged queries found");
    assert!(
        recall >= 0.95 && mrr >= 0.85,
        "recall@3 {recall:.3} (min 0.95), MRR {mrr:.3} (min 0.85)"
    );
    // Each set on its own: the original set keeps its figures (recall@3 0.972, MRR 0.928
    // before the vocabulary layer), and the question-style set meets the same bar.
    for (set, min_recall, min_mrr) in [("original", 0.97, 0.92), ("questions", 0.95, 0.85)] {
        let (k, r, m) = per_kind[&format!("all {set}")];
        let (recall, mrr) = (r as f64 / k as f64, m / k as f64);
        assert!(
            recall >= min_recall && mrr >= min_mrr,
            "{set}: recall@3 {recall:.3} (min {min_recall}), MRR {mrr:.3} (min {min_mrr})"
        );
    }
}

/// A content directory with these sections' articles (`(section/slug, front matter extra,
/// body)`) and an optional search vocabulary.
fn content_dir(articles: &[(&str, &str, &str)], vocabulary: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("sections.toml"),
        "[[section]]\nid = \"one\"\ntitle = \"Section One\"\ndescription = \"s\"\n",
    )
    .expect("write sections");
    std::fs::create_dir(dir.path().join("one")).expect("mkdir");
    for (slug, extra, body) in articles {
        std::fs::write(
            dir.path().join("one").join(format!("{slug}.md")),
            format!(
                "+++\ntitle = \"Article {slug}\"\nsummary = \"About {slug}.\"\n{extra}\n+++\n\n{body}\n"
            ),
        )
        .expect("write article");
    }
    // Enough other articles that a word in one of them is not a common word.
    for i in 0..6 {
        std::fs::write(
            dir.path().join("one").join(format!("filler-{i}.md")),
            format!(
                "+++\ntitle = \"Filler {i}\"\nsummary = \"Filler.\"\nquestions = [\"How do I write loop number {i} over a list?\"]\n+++\n\n{FILLER}\n"
            ),
        )
        .expect("write filler");
    }
    if let Some(v) = vocabulary {
        std::fs::write(dir.path().join("search-vocabulary.toml"), v).expect("write vocabulary");
    }
    dir
}

fn index_of(dir: &Path) -> snakepit::search::SearchIndex {
    let library = snakepit::content::load(dir).unwrap_or_else(|e| panic!("loads: {e}"));
    snakepit::search::SearchIndex::build(&library.articles, &library.vocabulary).expect("index")
}

fn top(index: &snakepit::search::SearchIndex, q: &str) -> Vec<String> {
    index
        .search(q, 3, None)
        .into_iter()
        .map(|h| h.slug)
        .collect()
}

const FILLER: &str = "Plain prose about lists, loops and functions in general.";

#[test]
fn declared_questions_are_searched_above_the_body() {
    let dir = content_dir(
        &[
            (
                "answers",
                "questions = [\"How do I frobnicate a widget?\"]",
                FILLER,
            ),
            (
                "mentions",
                "",
                "A widget is mentioned here once, and so is frobnicate.",
            ),
        ],
        None,
    );
    let index = index_of(dir.path());
    assert_eq!(top(&index, "frobnicate widget")[0], "answers");
    // Without the key the article is not found by those words at all.
    let dir = content_dir(&[("answers", "", FILLER)], None);
    assert!(top(&index_of(dir.path()), "frobnicate").is_empty());
}

#[test]
fn operators_are_search_terms() {
    let dir = content_dir(
        &[
            (
                "walrus",
                "",
                "Use `if (n := len(items)) > 3:` to bind and test at once.",
            ),
            (
                "equality",
                "",
                "Compare values with `a == b`, never with identity.",
            ),
            ("other", "", FILLER),
        ],
        None,
    );
    let index = index_of(dir.path());
    assert_eq!(top(&index, ":=")[0], "walrus");
    assert_eq!(top(&index, "==")[0], "equality");
    assert_eq!(top(&index, "what does := do")[0], "walrus");
}

#[test]
fn compounds_meet_in_every_spelling() {
    let dir = content_dir(
        &[
            (
                "spaced",
                "",
                "How to set up a read only view of the type hint table.",
            ),
            ("joined", "", "The setup step makes a readonly typehint."),
            ("other", "", FILLER),
        ],
        None,
    );
    let index = index_of(dir.path());
    for q in ["setup", "set up", "set-up"] {
        let hits = top(&index, q);
        assert!(
            hits.contains(&"spaced".to_string()) && hits.contains(&"joined".to_string()),
            "{q}: {hits:?}"
        );
    }
    for q in [
        "readonly",
        "read only",
        "read-only",
        "typehint",
        "type hint",
    ] {
        let hits = top(&index, q);
        assert!(
            hits.contains(&"spaced".to_string()) && hits.contains(&"joined".to_string()),
            "{q}: {hits:?}"
        );
    }
}

#[test]
fn vocabulary_drops_question_noise_and_maps_concepts() {
    let vocabulary = r#"
noise = ["how do i", "in python"]

[[concept]]
when = ["destructor"]
add = ["finalizer"]
"#;
    let dir = content_dir(
        &[
            (
                "finalizers",
                "",
                "A finalizer runs when the object is reclaimed.",
            ),
            (
                "howto",
                "",
                "How do I do anything? This page says how, in Python, do I.",
            ),
        ],
        Some(vocabulary),
    );
    let index = index_of(dir.path());
    assert_eq!(
        top(&index, "how do I write a destructor in python")[0],
        "finalizers"
    );
    // Noise alone is still a query: nothing else is left, so it is kept.
    assert_eq!(top(&index, "how do I")[0], "howto");
    let explain = index.explain("how do I write a destructor in python", 3);
    assert!(
        explain.contains("question noise dropped: how do I, in python"),
        "{explain}"
    );
    assert!(
        explain.contains("concept \"destructor\" adds: finalizer"),
        "{explain}"
    );
    assert!(explain.contains("1. finalizers"), "{explain}");
}

#[test]
fn a_broken_vocabulary_is_a_content_error_with_its_line() {
    let dir = content_dir(
        &[("a", "", FILLER)],
        Some("noise = []\n\n[symbols]\n\"=>\" = \"fat arrow\"\n"),
    );
    let err = snakepit::content::load(dir.path())
        .err()
        .expect("invalid vocabulary")
        .to_string();
    assert!(
        err.contains("search-vocabulary.toml:4") && err.contains("not an operator"),
        "{err}"
    );
}

#[test]
fn the_shipped_vocabulary_loads_and_every_concept_can_fire() {
    let site = common::shipped_site();
    assert!(!site.library.vocabulary.is_empty());
    let text =
        std::fs::read_to_string(root().join("content/search-vocabulary.toml")).expect("file");
    let value: toml::Value = toml::from_str(&text).expect("toml");
    for concept in value["concept"].as_array().expect("concepts") {
        for when in concept["when"].as_array().expect("when") {
            let when = when.as_str().expect("string");
            let plan = site.search.plan(when);
            assert!(
                plan.notes.iter().any(|n| n.starts_with("concept")),
                "{when:?} does not fire its own concept: {:?}",
                plan.notes
            );
        }
    }
}

#[tokio::test]
async fn zero_results_offer_a_correction_and_the_closest_articles() {
    // A three-letter typo is beyond the typo budget of the search itself.
    let (status, json) = api("dsi", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["hits"], Value::Array(vec![]));
    assert_eq!(json["query"], "dsi");
    assert!(json["took_us"].is_u64());
    assert_eq!(json["did_you_mean"], "dis", "{json}");
    assert_eq!(json["closest_reason"], "spelling");
    assert_eq!(json["closest"][0]["slug"], "bytecode-and-dis", "{json}");
    assert_eq!(
        json["closest"][0]["section_title"],
        "How Python works inside"
    );
    // Nothing to correct: the articles whose titles look most alike.
    let (_, json) = api("zzqxqzzqxq kubernetesish", "").await;
    assert_eq!(json["hits"], Value::Array(vec![]));
    assert!(json.get("did_you_mean").is_none(), "{json}");
    assert!(json["closest_reason"].is_string(), "{json}");
    assert!(json["closest"].is_array(), "{json}");
    // Nothing in the chosen section: the hits elsewhere.
    let (_, json) = api("asyncio.run", "&section=testing").await;
    if json["hits"].as_array().is_some_and(Vec::is_empty) {
        assert_eq!(json["closest_reason"], "other_sections", "{json}");
    }
    // Found something: no help fields.
    let (_, json) = api("dis", "").await;
    assert!(json.get("closest").is_none() && json.get("did_you_mean").is_none());
    assert_eq!(json["hits"][0]["section_title"], "How Python works inside");
    // The page offers the same.
    let (status, page) = get("/search?q=dsi").await;
    assert_eq!(status, StatusCode::OK);
    let doc = scraper::Html::parse_document(&page);
    let dym = scraper::Selector::parse(".did-you-mean a").expect("selector");
    let link = doc.select(&dym).next().expect("a did-you-mean link");
    assert_eq!(link.value().attr("href"), Some("/search?q=dis"));
    let closest = scraper::Selector::parse(".search-closest .search-result-title").expect("s");
    assert!(
        doc.select(&closest)
            .next()
            .and_then(|a| a.value().attr("href"))
            .is_some_and(|h| h.starts_with("/articles/bytecode-and-dis")),
        "{page}"
    );
}

#[tokio::test]
async fn shipped_articles_are_found_by_their_operators() {
    for (q, slug) in [
        ("is vs ==", "identity-vs-equality"),
        ("x == None", "comparing-to-none-and-true"),
        ("*args **kwargs", "function-arguments"),
    ] {
        let (_, json) = api(q, "").await;
        let slugs: Vec<&str> = json["hits"]
            .as_array()
            .expect("hits")
            .iter()
            .take(3)
            .filter_map(|h| h["slug"].as_str())
            .collect();
        assert!(slugs.contains(&slug), "{q}: {slugs:?}");
    }
}

/// Every shipped article, the section-9 ones included, is linked from the home page under
/// its section and is the first hit for its own title: a new article that the home page or
/// the index misses fails here with its slug.
#[tokio::test]
async fn every_shipped_article_is_on_the_home_page_and_found_by_its_title() {
    let site = common::shipped_site();
    let (status, home) = get("/").await;
    assert_eq!(status, StatusCode::OK);
    let home = scraper::Html::parse_document(&home);
    let links: Vec<String> = common::attrs(&home, ".article-link", "href");
    let mut missing = Vec::new();
    for article in &site.library.articles {
        if !links.contains(&format!("/articles/{}", article.slug)) {
            missing.push(format!("home: {}", article.slug));
        }
        let hits = site.search.search(&article.title, 3, None);
        if !hits.iter().any(|h| h.slug == article.slug) {
            missing.push(format!("search {:?}: {}", article.title, article.slug));
        }
    }
    assert!(
        site.library.articles.iter().any(|a| a.section == "modern"),
        "section 9 ships articles"
    );
    assert!(missing.is_empty(), "not reachable: {missing:?}");
}
