//! "Related articles", computed once at start-up: more-like-this (the articles sharing the
//! most of each other's distinctive words) plus shared tags.
//!
//! Same idea as tantivy's `MoreLikeThisQuery` (top tf-idf terms of the source), done over the
//! library directly because its defaults are tuned for large corpora and it would need one
//! query per article; this is a sparse dot product over at most [`TOP_TERMS`] terms each.

use std::collections::HashMap;

use super::analyze::{stem_analyzer, tokens};
use crate::content::{Article, Library};

/// Distinctive words kept per article.
const TOP_TERMS: usize = 40;
/// Score added per tag two articles share.
const TAG_BONUS: f32 = 0.12;
/// Below this an article is not related enough to show.
const MIN_SCORE: f32 = 0.08;

/// For each slug, up to `max` related slugs, best first.
pub fn related(library: &Library, max: usize) -> HashMap<String, Vec<String>> {
    let vectors: Vec<Vec<(String, f32)>> = weigh(library);
    let mut postings: HashMap<&str, Vec<(usize, f32)>> = HashMap::new();
    for (i, v) in vectors.iter().enumerate() {
        for (term, w) in v {
            postings.entry(term.as_str()).or_default().push((i, *w));
        }
    }
    let mut out = HashMap::with_capacity(library.articles.len());
    for (i, a) in library.articles.iter().enumerate() {
        let mut scores: HashMap<usize, f32> = HashMap::new();
        for (term, w) in &vectors[i] {
            for &(j, wj) in postings.get(term.as_str()).map_or(&[][..], Vec::as_slice) {
                if j != i {
                    *scores.entry(j).or_default() += w * wj;
                }
            }
        }
        for (j, b) in library.articles.iter().enumerate() {
            let shared = shared_tags(a, b);
            if j != i && shared > 0 {
                *scores.entry(j).or_default() += TAG_BONUS * shared as f32;
            }
        }
        let mut ranked: Vec<(usize, f32)> = scores
            .into_iter()
            .filter(|&(_, s)| s >= MIN_SCORE)
            .collect();
        ranked.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
        let slugs = ranked
            .into_iter()
            .take(max)
            .map(|(j, _)| library.articles[j].slug.clone())
            .collect();
        out.insert(a.slug.clone(), slugs);
    }
    out
}

fn shared_tags(a: &Article, b: &Article) -> usize {
    a.tags.iter().filter(|t| b.tags.contains(t)).count()
}

/// Each article's top tf-idf terms, as a unit vector.
fn weigh(library: &Library) -> Vec<Vec<(String, f32)>> {
    let mut stem = stem_analyzer();
    let counts: Vec<HashMap<String, f32>> = library
        .articles
        .iter()
        .map(|a| {
            let mut tf: HashMap<String, f32> = HashMap::new();
            let headings: Vec<&str> = a.headings.iter().map(|h| h.text.as_str()).collect();
            let tags = a.tags.join(" ");
            let prose: Vec<&str> = a.parts.iter().map(|p| p.prose.as_str()).collect();
            for (text, weight) in [
                (a.title.as_str(), 3.0),
                (a.summary.as_str(), 2.0),
                (tags.as_str(), 3.0),
                (&headings.join(" "), 2.0),
                (&prose.join(" "), 1.0),
            ] {
                for t in tokens(&mut stem, text) {
                    if t.chars().count() > 2 && !t.chars().all(|c| c.is_ascii_digit()) {
                        *tf.entry(t).or_default() += weight;
                    }
                }
            }
            tf
        })
        .collect();
    let mut df: HashMap<&str, usize> = HashMap::new();
    for c in &counts {
        for t in c.keys() {
            *df.entry(t.as_str()).or_default() += 1;
        }
    }
    let n = counts.len().max(1) as f32;
    counts
        .iter()
        .map(|c| {
            let mut v: Vec<(String, f32)> = c
                .iter()
                .map(|(t, &tf)| {
                    let idf = (n / df.get(t.as_str()).copied().unwrap_or(1) as f32).ln();
                    (t.clone(), (1.0 + tf.ln()) * idf)
                })
                .filter(|(_, w)| *w > 0.0)
                .collect();
            v.sort_by(|x, y| y.1.total_cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
            v.truncate(TOP_TERMS);
            let norm = v
                .iter()
                .map(|(_, w)| w * w)
                .sum::<f32>()
                .sqrt()
                .max(f32::EPSILON);
            v.iter_mut().for_each(|(_, w)| *w /= norm);
            v
        })
        .collect()
}
