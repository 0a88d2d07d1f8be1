//! The tantivy index: built in RAM at start-up, one document per article part (the text
//! between two headings), each carrying its article's title, summary, tags and errors so
//! that a hit can point at the matching section while still ranking by the whole article.

use std::collections::HashMap;

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::{Index, IndexReader, ReloadPolicy, TantivyDocument, Term};

use super::analyze::{self, EXACT, PAIRS, STEM};
use super::query::{Built, Plan};
use super::snippet;
use super::vocabulary::Vocabulary;
use crate::content::Article;

/// Heap given to the one indexing thread per byte of article text (enough for one segment),
/// within tantivy's minimum and a ceiling.
const WRITER_HEAP_PER_TEXT_BYTE: usize = 24;
const WRITER_HEAP_BYTES: std::ops::RangeInclusive<usize> = 20_000_000..=400_000_000;

/// The schema's fields: each text field twice, words ([`STEM`]) and identifiers ([`EXACT`]).
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    pub part: Field,
    pub section: Field,
    pub title: Field,
    pub title_x: Field,
    pub errors: Field,
    pub errors_x: Field,
    /// The questions an article says it answers (`questions` in its front matter).
    pub questions: Field,
    pub questions_x: Field,
    pub meta: Field,
    pub meta_x: Field,
    pub heading: Field,
    pub heading_x: Field,
    pub code: Field,
    pub code_x: Field,
    pub prose: Field,
    pub prose_x: Field,
    /// Adjacent word pairs of the title, summary, heading and prose ([`PAIRS`]).
    pub pairs: Field,
}

impl Fields {
    fn schema() -> (Schema, Fields) {
        let mut b = Schema::builder();
        let text = |tokenizer: &str| {
            TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(tokenizer)
                    .set_index_option(IndexRecordOption::WithFreqs),
            )
        };
        let pair = |b: &mut tantivy::schema::SchemaBuilder, name: &str| {
            (
                b.add_text_field(name, text(STEM)),
                b.add_text_field(&format!("{name}_x"), text(EXACT)),
            )
        };
        let (title, title_x) = pair(&mut b, "title");
        let (errors, errors_x) = pair(&mut b, "errors");
        let (questions, questions_x) = pair(&mut b, "questions");
        let (meta, meta_x) = pair(&mut b, "meta");
        let (heading, heading_x) = pair(&mut b, "heading");
        let (code, code_x) = pair(&mut b, "code");
        let (prose, prose_x) = pair(&mut b, "prose");
        let pairs = b.add_text_field("pairs", text(PAIRS));
        let part = b.add_u64_field("part", FAST | INDEXED);
        let section = b.add_text_field("section", STRING);
        let fields = Fields {
            part,
            section,
            title,
            title_x,
            errors,
            errors_x,
            questions,
            questions_x,
            meta,
            meta_x,
            heading,
            heading_x,
            code,
            code_x,
            prose,
            prose_x,
            pairs,
        };
        (b.build(), fields)
    }

    /// Identifier fields with their weight: title > questions > errors > summary/tags =
    /// headings > code > prose. `errors_factor` lifts the errors field for pasted messages
    /// and exception names. The first five are the short ones.
    pub fn exact_weighted(&self, errors_factor: f32) -> [(Field, f32); 7] {
        [
            (self.title_x, 5.0),
            (self.questions_x, QUESTIONS_WEIGHT),
            (self.errors_x, 3.0 * errors_factor),
            (self.meta_x, 2.0),
            (self.heading_x, 2.0),
            (self.code_x, 1.2),
            (self.prose_x, 1.0),
        ]
    }

    /// Word fields with their weight, in the same order as [`Fields::exact_weighted`].
    pub fn stem_weighted(&self, errors_factor: f32) -> [(Field, f32); 7] {
        [
            (self.title, 5.0),
            (self.questions, QUESTIONS_WEIGHT),
            (self.errors, 3.0 * errors_factor),
            (self.meta, 2.0),
            (self.heading, 2.0),
            (self.code, 1.2),
            (self.prose, 1.0),
        ]
    }
}

/// Weight of the questions an article declares it answers: just under its title.
const QUESTIONS_WEIGHT: f32 = 3.5;

/// What a hit shows of an article.
#[derive(Debug, Clone)]
pub struct ArticleInfo {
    pub slug: String,
    pub title: String,
    pub section: String,
    pub summary: String,
    /// Its first part: the opening, before any heading, when it has one.
    pub first_part: usize,
    pub title_words: Words,
}

/// One indexed part, for results and snippets.
#[derive(Debug, Clone)]
pub struct PartInfo {
    pub article: usize,
    pub anchor: Option<String>,
    pub heading: String,
    pub prose: String,
    pub code: String,
    /// Heading, prose and code lowercased, once at build time: where a result's words to
    /// mark are looked up.
    pub lower: String,
    /// The words of `lower`, sorted: where a result's landing part is chosen.
    pub words: Words,
}

/// The distinct words of a text, lowercased and sorted, to ask "does a word start with
/// this term?" in a few comparisons instead of a scan of the text.
#[derive(Debug, Clone, Default)]
pub struct Words(Vec<String>);

impl Words {
    pub fn of(lower: &str) -> Self {
        let mut words: Vec<String> = lower
            .split(|c: char| !c.is_alphanumeric() && c != '_')
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect();
        words.sort_unstable();
        words.dedup();
        Words(words)
    }

    /// Whether one of the words starts with `term` ("mutable" in "mutable defaults",
    /// not in "immutable"). A term made of several words (`os.path`) never does.
    fn has_prefix(&self, term: &str) -> bool {
        let i = self.0.partition_point(|w| w.as_str() < term);
        self.0.get(i).is_some_and(|w| w.starts_with(term))
    }
}

/// One search result: an article, at its best-matching section.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Hit {
    pub slug: String,
    pub title: String,
    /// `/articles/{slug}`, with `#anchor` of the best-matching section when there is one.
    pub url: String,
    pub section: String,
    /// The section's title, as readers see it (the section id until the site fills it in).
    pub section_title: String,
    pub snippet_html: String,
    pub score: f32,
    /// The heading of the best-matching section, if any.
    pub heading: Option<String>,
    /// Matched terms (typo corrections and completions included) found in that section,
    /// for highlighting on the article page (`?hl=`).
    pub terms: Vec<String>,
}

/// The search index: one writer used once at start-up, one long-lived reader.
pub struct SearchIndex {
    reader: IndexReader,
    fields: Fields,
    articles: Vec<ArticleInfo>,
    parts: Vec<PartInfo>,
    vocabulary: Vocabulary,
}

impl SearchIndex {
    /// Indexes every part of every article (takes the articles, not the `Library`, so the
    /// benchmark can index a generated corpus).
    pub fn build(articles_in: &[Article], vocabulary: &Vocabulary) -> tantivy::Result<SearchIndex> {
        let (schema, f) = Fields::schema();
        let index = Index::create_in_ram(schema);
        analyze::register(&index);
        let text: usize = articles_in
            .iter()
            .flat_map(|a| &a.parts)
            .map(|p| p.prose.len() + p.code.len())
            .sum();
        let heap = (text * WRITER_HEAP_PER_TEXT_BYTE)
            .clamp(*WRITER_HEAP_BYTES.start(), *WRITER_HEAP_BYTES.end());
        let mut writer = index.writer_with_num_threads::<TantivyDocument>(1, heap)?;
        let mut articles = Vec::with_capacity(articles_in.len());
        let mut parts = Vec::new();
        for (ai, a) in articles_in.iter().enumerate() {
            articles.push(ArticleInfo {
                slug: a.slug.clone(),
                title: a.title.clone(),
                section: a.section.clone(),
                summary: a.summary.clone(),
                first_part: parts.len(),
                title_words: Words::of(&a.title.to_lowercase()),
            });
            let errors = a.errors.join("\n");
            let questions = a.questions.join("\n");
            // The slug is the author's own keywords for the article ("project-structure").
            let meta = format!(
                "{}\n{}\n{}",
                a.summary,
                a.tags.join(" "),
                a.slug.replace('-', " ")
            );
            for p in &a.parts {
                let mut doc = TantivyDocument::default();
                doc.add_u64(f.part, parts.len() as u64);
                doc.add_text(f.section, &a.section);
                for (stem, exact, text) in [
                    (f.title, f.title_x, a.title.as_str()),
                    (f.errors, f.errors_x, errors.as_str()),
                    (f.questions, f.questions_x, questions.as_str()),
                    (f.meta, f.meta_x, meta.as_str()),
                    (f.heading, f.heading_x, p.heading.as_str()),
                    (f.code, f.code_x, p.code.as_str()),
                    (f.prose, f.prose_x, p.prose.as_str()),
                ] {
                    doc.add_text(stem, text);
                    doc.add_text(exact, text);
                }
                for text in a.questions.iter().map(String::as_str).chain([
                    a.title.as_str(),
                    a.summary.as_str(),
                    p.heading.as_str(),
                    p.prose.as_str(),
                ]) {
                    doc.add_text(f.pairs, text);
                }
                writer.add_document(doc)?;
                parts.push(PartInfo {
                    article: ai,
                    anchor: p.anchor.clone(),
                    heading: p.heading.clone(),
                    prose: p.prose.clone(),
                    code: p.code.clone(),
                    words: Words::default(),
                    lower: format!("{}\n{}\n{}", p.heading, p.prose, p.code).to_lowercase(),
                });
                let part = parts.last_mut().expect("just pushed");
                part.words = Words::of(&part.lower);
            }
        }
        writer.commit()?;
        writer.wait_merging_threads()?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(SearchIndex {
            reader,
            fields: f,
            articles,
            parts,
            vocabulary: vocabulary.clone(),
        })
    }

    /// How a query is read with this index's vocabulary.
    pub fn plan(&self, q: &str) -> Plan {
        Plan::parse_with(q, &self.vocabulary)
    }

    pub fn article_count(&self) -> usize {
        self.articles.len()
    }

    pub fn part_count(&self) -> usize {
        self.parts.len()
    }

    /// The best `limit` articles for `q`, optionally within one section. Never fails: an
    /// index error is logged and reads as no hits.
    pub fn search(&self, q: &str, limit: usize, section: Option<&str>) -> Vec<Hit> {
        let plan = self.plan(q);
        if plan.is_empty() || limit == 0 {
            return Vec::new();
        }
        match self.run(&plan, limit, section) {
            Ok(hits) => hits,
            Err(e) => {
                tracing::error!(error = %e, "search failed");
                Vec::new()
            }
        }
    }

    fn run(&self, plan: &Plan, limit: usize, section: Option<&str>) -> tantivy::Result<Vec<Hit>> {
        let searcher = self.reader.searcher();
        let Built {
            mut query,
            groups,
            landing,
            ..
        } = plan.query(&searcher, &self.fields, false);
        let mut terms: Vec<String> = groups.iter().flatten().cloned().collect();
        terms.sort();
        terms.dedup();
        if let Some(section) = section {
            let filter = TermQuery::new(
                Term::from_field_text(self.fields.section, section),
                IndexRecordOption::Basic,
            );
            query = Box::new(BooleanQuery::new(vec![
                (Occur::Must, query),
                (
                    Occur::Must,
                    Box::new(BoostQuery::new(Box::new(filter), 0.0)) as Box<dyn Query>,
                ),
            ]));
        }
        let top = searcher.search(
            &*query,
            &TopDocs::with_limit((limit * 10).max(100)).order_by_score(),
        )?;
        // Each article's matching parts, best first (tantivy answers in score order).
        let mut by_article: HashMap<usize, Vec<(f32, usize)>> = HashMap::new();
        let mut order = Vec::new();
        for (score, address) in top {
            let column = searcher
                .segment_reader(address.segment_ord)
                .fast_fields()
                .u64("part")?;
            let Some(part) = column
                .first(address.doc_id)
                .and_then(|p| usize::try_from(p).ok())
            else {
                continue;
            };
            let Some(info) = self.parts.get(part) else {
                continue;
            };
            let parts = by_article.entry(info.article).or_insert_with(|| {
                order.push(info.article);
                Vec::new()
            });
            parts.push((score, part));
        }
        // An article scores its best part, plus a little for its other matching parts.
        let mut ranked: Vec<(f32, usize)> = order
            .into_iter()
            .map(|a| {
                let parts = &by_article[&a];
                let best = parts[0].0;
                let rest: f32 = parts[1..].iter().map(|p| p.0).sum();
                (best + 0.02 * rest.min(best * 4.0), a)
            })
            .collect();
        ranked.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
        ranked.truncate(limit);
        let words = &landing[..];
        let ranked: Vec<(f32, usize, usize)> = ranked
            .into_iter()
            .map(|(score, a)| (score, a, self.landing_part(a, &by_article[&a], words)))
            .collect();
        let stems = snippet::stems_of(&terms);
        Ok(ranked
            .into_iter()
            .map(|(score, a, part)| self.hit(score, a, part, &terms, &stems))
            .collect())
    }

    /// Where a result links to, given the query's words (each with its corrections and
    /// completions; a word counts where one of them starts a word). When the article's
    /// title names every word, the reader wants the article itself: its opening.
    /// Otherwise, of the parts scoring close to the best (best first), the one with the
    /// most of the words, so a typo query whose corrected word is rare still lands where
    /// both words are. Only close parts are read: this runs for every hit of every query.
    fn landing_part(&self, article: usize, parts: &[(f32, usize)], words: &[Vec<String>]) -> usize {
        let covered = |text: &Words| {
            words
                .iter()
                .filter(|w| w.iter().any(|t| text.has_prefix(t)))
                .count()
        };
        let first = self.articles[article].first_part;
        if self.parts[first].anchor.is_none()
            && !words.is_empty()
            && covered(&self.articles[article].title_words) == words.len()
        {
            return first;
        }
        let (top, mut best) = (parts[0].0, (0, parts[0].1));
        for &(score, part) in parts.iter().take(LANDING_CANDIDATES) {
            if score < top * LANDING_CLOSE {
                break;
            }
            let c = covered(&self.parts[part].words);
            if c > best.0 {
                best = (c, part);
            }
        }
        best.1
    }

    fn hit(
        &self,
        score: f32,
        article: usize,
        part: usize,
        terms: &[String],
        stems: &[String],
    ) -> Hit {
        let a = &self.articles[article];
        let p = &self.parts[part];
        let url = match &p.anchor {
            Some(anchor) => format!("/articles/{}#{anchor}", a.slug),
            None => format!("/articles/{}", a.slug),
        };
        let snippet_html = [p.prose.as_str(), p.code.as_str(), a.summary.as_str()]
            .into_iter()
            .find_map(|text| snippet::highlight(text, terms, stems, snippet::MAX_CHARS))
            .unwrap_or_else(|| snippet::plain(&a.summary, snippet::MAX_CHARS));
        Hit {
            slug: a.slug.clone(),
            title: a.title.clone(),
            url,
            section: a.section.clone(),
            section_title: a.section.clone(),
            snippet_html,
            score,
            heading: p.anchor.as_ref().map(|_| p.heading.clone()),
            terms: present_terms(terms, &[&p.lower, &a.title.to_lowercase()]),
        }
    }
}

/// At most this many of an article's matching parts are candidates for where a result
/// lands, and only those scoring at least `LANDING_CLOSE` times the best.
const LANDING_CANDIDATES: usize = 4;
const LANDING_CLOSE: f32 = 0.6;

/// The terms that occur in one of the lowercased `texts` (substring test), at most eight.
fn present_terms(terms: &[String], texts: &[&str]) -> Vec<String> {
    terms
        .iter()
        .filter(|t| t.chars().count() > 2 && texts.iter().any(|l| l.contains(t.as_str())))
        .take(8)
        .cloned()
        .collect()
}

/// What to offer when a query finds nothing (so the reader is never left stuck).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Help {
    /// The query with its unknown words replaced by the closest words the articles use,
    /// when that query finds something.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub did_you_mean: Option<String>,
    /// The closest articles: the corrected query's hits, the hits in other sections, or the
    /// articles whose titles are most alike the query.
    pub closest: Vec<Hit>,
    /// Where `closest` comes from: `spelling`, `other_sections`, `similar_titles` or `none`.
    pub closest_reason: &'static str,
}

/// Most articles offered as the closest.
const HELP_CLOSEST: usize = 5;
/// Least trigram similarity between a query and a title for the title to be offered.
const HELP_MIN_SIMILARITY: f32 = 0.12;

impl SearchIndex {
    /// Help for a query that found nothing (in `section`, when given): hits in other
    /// sections, a spelling correction that finds something, or the articles whose titles
    /// are most alike.
    pub fn help(&self, q: &str, section: Option<&str>) -> Help {
        if section.is_some() {
            let hits = self.search(q, HELP_CLOSEST, None);
            if !hits.is_empty() {
                return Help {
                    did_you_mean: None,
                    closest: hits,
                    closest_reason: "other_sections",
                };
            }
        }
        if let Some(corrected) = self.correct(q) {
            let hits = self.search(&corrected, HELP_CLOSEST, None);
            if !hits.is_empty() {
                return Help {
                    did_you_mean: Some(corrected),
                    closest: hits,
                    closest_reason: "spelling",
                };
            }
        }
        let closest = self.similar_titles(q);
        Help {
            did_you_mean: None,
            closest_reason: if closest.is_empty() {
                "none"
            } else {
                "similar_titles"
            },
            closest,
        }
    }

    /// `q` with each word no article uses replaced by the nearest word that one does (up to
    /// two edits, one for short words; the most frequent among the nearest), or `None`
    /// when no word changed.
    fn correct(&self, q: &str) -> Option<String> {
        let searcher = self.reader.searcher();
        let f = &self.fields;
        let known = |w: &str| {
            f.exact_weighted(1.0).iter().any(|&(field, _)| {
                searcher
                    .doc_freq(&Term::from_field_text(field, w))
                    .unwrap_or(0)
                    > 0
            })
        };
        let mut out = String::with_capacity(q.len());
        let mut last = 0;
        let mut changed = false;
        for (s, e) in analyze::identifier_spans(q) {
            let word = q[s..e].to_lowercase();
            let chars = word.chars().count();
            if chars < 3 || !word.chars().all(char::is_alphabetic) || known(&word) {
                continue;
            }
            let distance = if chars <= 4 { 1 } else { 2 };
            let fuzzy = tantivy::query::FuzzyTermQuery::new(
                Term::from_field_text(f.prose_x, &word),
                distance,
                true,
            );
            let candidates = super::query::expand(&searcher, f, &fuzzy, &word, 20);
            // `expand` lists the most frequent first; keep the nearest of those.
            let best = candidates
                .into_iter()
                .filter(|c| c.chars().all(char::is_alphanumeric))
                .min_by_key(|c| edit_distance(&word, c));
            if let Some(best) = best {
                out.push_str(&q[last..s]);
                out.push_str(&best);
                last = e;
                changed = true;
            }
        }
        out.push_str(&q[last..]);
        changed.then(|| out.trim().to_string())
    }

    /// The articles whose title and slug share the most character trigrams with `q`.
    fn similar_titles(&self, q: &str) -> Vec<Hit> {
        let query = trigrams(&q.to_lowercase());
        if query.is_empty() {
            return Vec::new();
        }
        let mut scored: Vec<(f32, usize)> = self
            .articles
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let title = trigrams(&format!("{} {}", a.title, a.slug).to_lowercase());
                let shared = query.iter().filter(|t| title.contains(t)).count();
                (2.0 * shared as f32 / (query.len() + title.len()) as f32, i)
            })
            .filter(|&(score, _)| score >= HELP_MIN_SIMILARITY)
            .collect();
        scored.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
        scored
            .into_iter()
            .take(HELP_CLOSEST)
            .map(|(score, a)| {
                let first = self.articles[a].first_part;
                self.hit(score, a, first, &[], &[])
            })
            .collect()
    }
}

/// The distinct character trigrams of the words of `text` (each word padded with spaces).
fn trigrams(text: &str) -> Vec<[char; 3]> {
    let mut out = Vec::new();
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() > 1)
    {
        let chars: Vec<char> = std::iter::once(' ')
            .chain(word.chars())
            .chain(std::iter::once(' '))
            .collect();
        for w in chars.windows(3) {
            let t = [w[0], w[1], w[2]];
            if !out.contains(&t) {
                out.push(t);
            }
        }
    }
    out
}

/// Levenshtein distance with adjacent transpositions counted as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for j in 0..=b.len() {
        d[0][j] = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod help_tests {
    use super::*;

    #[test]
    fn edit_distance_counts_transpositions_once() {
        assert_eq!(edit_distance("gli", "gil"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn trigrams_are_per_word() {
        assert_eq!(trigrams("ab"), [[' ', 'a', 'b'], ['a', 'b', ' ']]);
        assert!(trigrams("a . ,").is_empty());
    }
}

impl SearchIndex {
    /// A report of how `q` is read and why each of its top `limit` articles ranks where it
    /// does: the vocabulary's work on the query, its words and phrases with their weights,
    /// then per hit the clauses that scored on its best-matching part (for authors, via
    /// `snakepit search --explain`).
    pub fn explain(&self, q: &str, limit: usize) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let plan = self.plan(q);
        let _ = writeln!(out, "query: {q:?}");
        if plan.error {
            let _ = writeln!(out, "  read as a pasted error message");
        }
        for note in &plan.notes {
            let _ = writeln!(out, "  {note}");
        }
        if plan.is_empty() {
            let _ = writeln!(out, "  no searchable words");
            return out;
        }
        let searcher = self.reader.searcher();
        let built = plan.query(&searcher, &self.fields, true);
        let _ = writeln!(out, "clauses:");
        for (label, _) in &built.labelled {
            let _ = writeln!(out, "  {label}");
        }
        let hits = self.search(q, limit, None);
        if hits.is_empty() {
            let help = self.help(q, None);
            let _ = writeln!(
                out,
                "no hits; help: {:?} {:?}",
                help.did_you_mean, help.closest_reason
            );
            return out;
        }
        let top = searcher
            .search(
                &*built.query,
                &TopDocs::with_limit(limit.max(1) * 40).order_by_score(),
            )
            .unwrap_or_default();
        // Each clause's score on every part it matches (a full search per clause: this is an
        // author's tool, and tantivy's `explain` cannot seek backwards in some scorers).
        let every = searcher.num_docs().max(1) as usize;
        let clause_scores: Vec<(&String, HashMap<tantivy::DocAddress, f32>)> = built
            .labelled
            .iter()
            .map(|(label, q)| {
                let scores = searcher
                    .search(&**q, &TopDocs::with_limit(every).order_by_score())
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(score, address)| (address, score))
                    .collect();
                (label, scores)
            })
            .collect();
        for (rank, hit) in hits.iter().enumerate() {
            let _ = writeln!(
                out,
                "{}. {} ({:.2}) -> {}",
                rank + 1,
                hit.slug,
                hit.score,
                hit.url
            );
            let best = top.iter().find(|(_, address)| {
                self.part_of(&searcher, *address)
                    .is_some_and(|p| self.articles[self.parts[p].article].slug == hit.slug)
            });
            let Some((part_score, address)) = best else {
                continue;
            };
            let mut scored: Vec<(f32, &str)> = clause_scores
                .iter()
                .filter_map(|(label, scores)| {
                    let v = scores.get(address).copied()?;
                    (v > 0.0).then_some((v, label.as_str()))
                })
                .collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0));
            let part = self
                .part_of(&searcher, *address)
                .map_or(String::new(), |p| {
                    self.parts[p]
                        .anchor
                        .clone()
                        .unwrap_or_else(|| "opening".into())
                });
            let _ = writeln!(out, "   best part #{part}: {part_score:.2} =");
            for (v, label) in scored.iter().take(10) {
                let _ = writeln!(out, "     {v:7.2}  {label}");
            }
        }
        out
    }

    fn part_of(&self, searcher: &tantivy::Searcher, address: tantivy::DocAddress) -> Option<usize> {
        let column = searcher
            .segment_reader(address.segment_ord)
            .fast_fields()
            .u64("part")
            .ok()?;
        column
            .first(address.doc_id)
            .and_then(|p| usize::try_from(p).ok())
            .filter(|&p| p < self.parts.len())
    }
}
