//! Explains each query given on the command line (a tuning aid; the same report as
//! `snakepit search --explain QUERY`): `cargo run --example search_explain -- "query" ...`
fn main() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let library = snakepit::content::load(&root.join("content")).expect("content loads");
    let index = snakepit::search::SearchIndex::build(&library.articles, &library.vocabulary)
        .expect("index");
    for q in std::env::args().skip(1) {
        println!("{}", index.explain(&q, 5));
    }
}
