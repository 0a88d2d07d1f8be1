//! Prints the top hits for each query given on the command line (a tuning aid):
//! `cargo run --example search_explain -- "query" ...`
fn main() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let library = snakepit::content::load(&root.join("content")).expect("content loads");
    let index = snakepit::search::SearchIndex::build(&library.articles).expect("index");
    for q in std::env::args().skip(1) {
        println!(
            "== {q:?}  {:?}",
            snakepit::search::query::Plan::parse(&q)
                .words
                .iter()
                .map(|w| (&w.text, w.weight, w.prefix))
                .collect::<Vec<_>>()
        );
        for h in index.search(&q, 6, None) {
            println!(
                "{:8.2} {:40} {}\n         {}",
                h.score, h.slug, h.url, h.snippet_html
            );
        }
    }
}
