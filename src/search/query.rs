//! From what a reader typed to a tantivy query, built in code so that no input is a syntax
//! error: quotes, `AND`, `field:`, brackets and control characters are just text here.
//!
//! [`Plan::parse`] reads the text: a pasted traceback is cut to its last `Type: message`
//! line, quoted names and numbers in an error message become optional words (they vary from
//! one program to the next), and the word being typed (the last one, with no space after it)
//! is marked for prefix matching. [`Plan::query`] turns the words into one query:
//! for each word, exact identifier matches, stemmed word matches, typo corrections and
//! (for the last word) completions, over the fields weighted title > errors > headings >
//! code > prose, with exact matches above corrected ones.

use std::collections::{HashMap, HashSet};

use tantivy::query::{
    BooleanQuery, BoostQuery, DisjunctionMaxQuery, FuzzyTermQuery, Occur, Query, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{Searcher, Term};

use super::analyze::{self, exact_analyzer, stem_analyzer};
use super::index::Fields;
use super::vocabulary::Vocabulary;

/// Longest input looked at; the rest of a 10 KB paste adds nothing but work.
const MAX_INPUT_BYTES: usize = 2048;
/// Most words turned into clauses.
const MAX_WORDS: usize = 24;
/// Most typo corrections kept per word (the most frequent win).
const MAX_CORRECTIONS: usize = 4;
/// Most completions kept for the word being typed.
const MAX_COMPLETIONS: usize = 6;
/// Share of sections above which a word is common: matched in the short fields only.
const COMMON_SHARE: f32 = 0.25;
/// The short fields (title, questions, errors, summary/tags, headings) lead `Fields::exact_weighted`.
const SHORT_FIELDS: usize = 5;
/// Weight of a typo-corrected match relative to an exact one.
const FUZZY_WEIGHT: f32 = 0.4;
/// Weight of a completion of the word being typed relative to an exact match.
const PREFIX_WEIGHT: f32 = 0.6;
/// Weight of stemmed (split, inflected) matches relative to exact identifier matches.
const STEM_WEIGHT: f32 = 0.6;
/// Weight of words that vary between programs (quoted names, numbers) in a pasted error.
const VARIABLE_WEIGHT: f32 = 0.3;
/// Weight of an adjacent word pair of the query found as a pair in the text.
const PAIR_WEIGHT: f32 = 2.5;
/// Weight of two adjacent query words found written as one word.
const JOINED_WEIGHT: f32 = 0.7;
/// Weight of the module part of a dotted name (`sys` in `sys.intern`): the whole name and
/// its last part say what is meant; the module is everywhere.
const MODULE_PART_WEIGHT: f32 = 0.35;
/// How much the other matching fields add to a word's best field (DisMax tie-breaker), so a
/// common word found in six fields of one section does not outweigh a rare one.
const TIE_BREAKER: f32 = 0.25;

/// Weight of an operator the query names (`==`, `:=`, `**`).
const SYMBOL_WEIGHT: f32 = 1.0;
/// Weight of a word added by the vocabulary (a concept's or an operator's words).
const CONCEPT_WEIGHT: f32 = 0.5;
/// Weight of a word pair added by the vocabulary.
const CONCEPT_PAIR_WEIGHT: f32 = 1.2;
/// Weight of a word inside a quoted fragment of a question: it is what the question is about.
const QUOTED_WEIGHT: f32 = 1.3;
/// Weight of a joined word found written as two (`setup` ↔ "set up").
const SPLIT_WEIGHT: f32 = 1.2;

/// Where a query word comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Typed by the reader.
    Query,
    /// An operator typed by the reader.
    Symbol,
    /// Added by the vocabulary (a concept, or the name of an operator).
    Vocabulary,
}

/// One word of the query.
#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    /// Lowercased, as the exact analyzer makes it.
    pub text: String,
    pub weight: f32,
    /// The word being typed: also matched as a prefix.
    pub prefix: bool,
    /// An exception class name (`KeyError`, `asyncio.CancelledError`).
    pub exception: bool,
    pub source: Source,
}

/// What the reader asked for, read once.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub words: Vec<Word>,
    /// Adjacent word pairs (stemmed, `_`-joined) with their weight, matched as phrases.
    pub pairs: Vec<(String, f32)>,
    /// Adjacent words written as one (`byte code` → `bytecode`, `read-only` → `readonly`).
    pub joined: Vec<String>,
    /// The input looks like a pasted error message or traceback.
    pub error: bool,
    /// What the vocabulary did, for `snakepit search --explain`.
    pub notes: Vec<String>,
}

impl Plan {
    /// Reads a query without a vocabulary (no noise removal, no concepts).
    pub fn parse(input: &str) -> Plan {
        Plan::parse_with(input, &Vocabulary::default())
    }

    pub fn parse_with(input: &str, vocab: &Vocabulary) -> Plan {
        let input = clean(input);
        let (line, error) = match error_line(&input) {
            Some(line) => (line, true),
            None => (input.as_str(), false),
        };
        let mut exact = exact_analyzer();
        let mut words: Vec<Word> = Vec::new();
        let mut notes = Vec::new();
        let mut seen = HashSet::new();
        let (mut core, variable) = if error {
            split_variable(line)
        } else {
            (line.to_string(), String::new())
        };
        let quoted = if error {
            Vec::new()
        } else {
            quoted_spans(&core)
        };
        // Concepts are looked for in the whole question: their phrases may hold noise words.
        let asked = core.clone();
        if !error {
            let noise = vocab.noise_spans(&core, &quoted);
            if !noise.is_empty() {
                // Blanked with spaces of the same length, so offsets stay valid.
                let mut stripped = core.clone();
                for &(s, e) in noise.iter().rev() {
                    stripped.replace_range(s..e, &" ".repeat(e - s));
                }
                let left = !analyze::identifier_spans(&stripped).is_empty()
                    || !analyze::symbol_spans(&stripped).is_empty();
                if left {
                    let removed: Vec<&str> = noise.iter().map(|&(s, e)| &core[s..e]).collect();
                    notes.push(format!("question noise dropped: {}", removed.join(", ")));
                    core = stripped;
                }
            }
        }
        let typing =
            !error && line.ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '.');
        let spans = analyze::identifier_spans(&core);
        let last_end = spans.last().map(|s| s.1);
        for (start, end) in spans {
            let raw = &core[start..end];
            let at_end = typing && Some(end) == last_end && end == core.trim_end().len();
            let exception = is_exception_name(raw);
            let numeric = raw.chars().all(|c| c.is_ascii_digit() || c == '.') || is_hex(raw);
            let in_quotes = quoted.iter().any(|&(s, e)| start >= s && end <= e);
            let weight = if error && numeric {
                VARIABLE_WEIGHT
            } else if in_quotes {
                QUOTED_WEIGHT
            } else {
                1.0
            };
            let toks = analyze::tokens(&mut exact, raw);
            let last_part = toks.last().cloned();
            let dotted = toks.len() > 1;
            for (i, text) in toks.into_iter().enumerate() {
                // The whole dotted name is the first token; its parts follow.
                let prefix = at_end && (i == 0 || Some(&text) == last_part.as_ref());
                let weight = match (dotted, i) {
                    // `3.11`: the version, not the numbers 3 and 11.
                    (true, 1..) if numeric => VARIABLE_WEIGHT * weight,
                    (true, 1..) if Some(&text) != last_part.as_ref() => MODULE_PART_WEIGHT * weight,
                    _ => weight,
                };
                if seen.insert(text.clone()) {
                    words.push(Word {
                        text,
                        weight,
                        prefix,
                        exception: exception && i == 0,
                        source: Source::Query,
                    });
                } else if prefix {
                    if let Some(w) = words.iter_mut().find(|w| w.text == text) {
                        w.prefix = true;
                    }
                }
            }
        }
        for text in analyze::tokens(&mut exact, &variable) {
            if seen.insert(text.clone()) {
                words.push(Word {
                    text,
                    weight: VARIABLE_WEIGHT,
                    prefix: false,
                    exception: false,
                    source: Source::Query,
                });
            }
        }
        let mut pairs: Vec<(String, f32)> = analyze::pairs(&core)
            .into_iter()
            .map(|p| (p, PAIR_WEIGHT))
            .collect();
        // Vocabulary words come after the reader's own, so the cut below drops them first.
        let mut added: Vec<(String, Vec<String>)> = Vec::new();
        for (s, e) in analyze::symbol_spans(&core) {
            let symbol = &core[s..e];
            if seen.insert(symbol.to_string()) {
                words.push(Word {
                    text: symbol.to_string(),
                    weight: SYMBOL_WEIGHT,
                    prefix: false,
                    exception: false,
                    source: Source::Symbol,
                });
                if let Some(names) = vocab.symbol_words(symbol) {
                    added.push((format!("operator {symbol}"), vec![names.to_string()]));
                }
            }
        }
        if !error {
            let stems = analyze::tokens(&mut stem_analyzer(), &asked);
            for x in vocab.expansions(&stems) {
                added.push((format!("concept \"{}\"", x.when), x.add.to_vec()));
            }
        }
        for (why, phrases) in added {
            let mut new = Vec::new();
            for phrase in &phrases {
                for text in analyze::tokens(&mut exact, phrase) {
                    if seen.insert(text.clone()) {
                        new.push(text.clone());
                        words.push(Word {
                            text,
                            weight: CONCEPT_WEIGHT,
                            prefix: false,
                            exception: false,
                            source: Source::Vocabulary,
                        });
                    }
                }
                for p in analyze::pairs(phrase) {
                    if !pairs.iter().any(|(q, _)| *q == p) {
                        pairs.push((p, CONCEPT_PAIR_WEIGHT));
                    }
                }
            }
            notes.push(format!("{why} adds: {}", phrases.join(", ")));
        }
        words.truncate(MAX_WORDS);
        pairs.truncate(MAX_WORDS);
        let plain: Vec<&str> = core
            .split(|c: char| c.is_whitespace() || c == '-')
            .filter(|w| !w.is_empty())
            .collect();
        let joined: Vec<String> = if error || plain.len() > 8 {
            Vec::new()
        } else {
            plain
                .windows(2)
                .filter(|w| w.iter().all(|p| p.chars().all(char::is_alphabetic)))
                .map(|w| format!("{}{}", w[0], w[1]).to_lowercase())
                .collect()
        };
        Plan {
            words,
            pairs,
            joined,
            error,
            notes,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The query, and what to highlight and land on (see [`Built`]). With `explain`, each
    /// clause is also kept with a label saying what it matches.
    pub fn query(&self, searcher: &Searcher, f: &Fields, explain: bool) -> Built {
        let mut stem = stem_analyzer();
        let mut groups: Vec<Vec<String>> = Vec::new();
        let mut landing: Vec<Vec<String>> = Vec::new();
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let mut labelled: Vec<(String, Box<dyn Query>)> = Vec::new();
        let mut push = |label: &dyn Fn() -> String, q: Box<dyn Query>| {
            if explain {
                labelled.push((label(), q.box_clone()));
            }
            clauses.push((Occur::Should, q));
        };
        let typed = self
            .words
            .iter()
            .filter(|w| w.source == Source::Query)
            .count();
        let long = typed > 8;
        let error_boost = if self.error { 2.0 } else { 1.0 };
        let total = searcher.num_docs().max(1) as f32;
        let all = f.exact_weighted(1.0).len();
        for word in &self.words {
            let mut parts: Vec<Box<dyn Query>> = Vec::new();
            let mut highlight = Vec::new();
            let symbol = word.source == Source::Symbol;
            if !symbol {
                highlight.push(word.text.clone());
            }
            let exc_boost = if word.exception { 3.0 } else { 1.0 };
            let share = searcher
                .doc_freq(&Term::from_field_text(f.prose_x, &word.text))
                .unwrap_or(0) as f32
                / total;
            // A word in a large share of sections ("how", "is", "python") counts only in the
            // short fields, where it still means something, and is never corrected or completed.
            let common = share > COMMON_SHARE;
            let n = if common { SHORT_FIELDS } else { all };
            for &(field, boost) in &f.exact_weighted(error_boost * exc_boost)[..n] {
                parts.push(term_query(field, &word.text, boost));
            }
            for s in analyze::tokens(&mut stem, &word.text) {
                for &(field, boost) in &f.stem_weighted(error_boost)[..n] {
                    parts.push(term_query(field, &s, boost * STEM_WEIGHT));
                }
            }
            let distance = if symbol { 0 } else { typo_distance(&word.text) };
            let chars = word.text.chars().count();
            // A word the content uses is taken as meant: only unknown words are corrected
            // (this also keeps the costly distance-2 automata to real typos).
            let known = [f.title_x, f.heading_x, f.code_x, f.prose_x]
                .iter()
                .any(|&field| {
                    searcher
                        .doc_freq(&Term::from_field_text(field, &word.text))
                        .unwrap_or(0)
                        > 0
                });
            let typed = word.source == Source::Query;
            if typed && distance > 0 && !long && !word.exception && !common && !known {
                for t in expand(
                    searcher,
                    f,
                    &FuzzyTermQuery::new(
                        Term::from_field_text(f.prose_x, &word.text),
                        distance,
                        true,
                    ),
                    &word.text,
                    MAX_CORRECTIONS,
                ) {
                    for &(field, boost) in &f.exact_weighted(1.0) {
                        parts.push(term_query(field, &t, boost * FUZZY_WEIGHT));
                    }
                    highlight.push(t);
                }
            }
            if typed && word.prefix && chars >= 2 && !common {
                let d = if chars >= 6 && !known { 1 } else { 0 };
                let q = FuzzyTermQuery::new_prefix(
                    Term::from_field_text(f.prose_x, &word.text),
                    d,
                    true,
                );
                for t in expand(searcher, f, &q, &word.text, MAX_COMPLETIONS) {
                    for &(field, boost) in &f.exact_weighted(1.0) {
                        parts.push(term_query(field, &t, boost * PREFIX_WEIGHT));
                    }
                    highlight.push(t);
                }
            }
            if typed && !symbol {
                landing.push(highlight.clone());
            }
            let weight = word.weight * (1.2 - 2.0 * share).clamp(0.15, 1.0);
            let q: Box<dyn Query> = Box::new(BoostQuery::new(
                Box::new(DisjunctionMaxQuery::with_tie_breaker(parts, TIE_BREAKER)),
                weight,
            ));
            let label = || {
                let from = match word.source {
                    Source::Query => "",
                    Source::Symbol => " (operator)",
                    Source::Vocabulary => " (vocabulary)",
                };
                format!("word {:?}{from} x{weight:.2}", word.text)
            };
            push(&label, q);
            if !highlight.is_empty() {
                groups.push(highlight);
            }
        }
        for (pair, weight) in &self.pairs {
            push(
                &|| format!("phrase {pair:?} x{weight:.2}"),
                term_query(f.pairs, pair, *weight),
            );
        }
        for word in &self.joined {
            let parts: Vec<Box<dyn Query>> = f
                .exact_weighted(1.0)
                .iter()
                .map(|&(field, boost)| term_query(field, word, boost * JOINED_WEIGHT))
                .collect();
            push(
                &|| format!("joined {word:?}"),
                Box::new(DisjunctionMaxQuery::with_tie_breaker(parts, TIE_BREAKER)),
            );
            groups.push(vec![word.clone()]);
        }
        // A word written as one that the articles write as two (`setup`, `typehints`).
        let candidates = self.words.iter().filter(|w| {
            w.source == Source::Query
                && w.weight >= 0.5
                && (SPLIT_MIN_CHARS..=SPLIT_MAX_CHARS).contains(&w.text.len())
                && w.text.bytes().all(|b| b.is_ascii_lowercase())
        });
        for word in candidates.take(SPLIT_MAX_WORDS) {
            for i in 2..=word.text.len() - 2 {
                let (a, b) = word.text.split_at(i);
                let (Some(sa), Some(sb)) = (
                    analyze::tokens(&mut stem, a).pop(),
                    analyze::tokens(&mut stem, b).pop(),
                ) else {
                    continue;
                };
                let pair = format!("{sa}_{sb}");
                let found = searcher
                    .doc_freq(&Term::from_field_text(f.pairs, &pair))
                    .unwrap_or(0);
                if found > 0 {
                    push(
                        &|| format!("split {:?} as {a:?} {b:?}", word.text),
                        term_query(f.pairs, &pair, SPLIT_WEIGHT),
                    );
                    groups.push(vec![a.to_string(), b.to_string()]);
                }
            }
        }
        Built {
            query: Box::new(BooleanQuery::new(clauses)),
            groups,
            landing,
            labelled,
        }
    }
}

/// Shortest and longest joined word tried as two (`setup`, `typehints`, `readonly`).
const SPLIT_MIN_CHARS: usize = 5;
const SPLIT_MAX_CHARS: usize = 16;
/// Most words of one query tried as two.
const SPLIT_MAX_WORDS: usize = 4;

/// A query built from a [`Plan`].
pub struct Built {
    pub query: Box<dyn Query>,
    /// Per word, the terms (the word, its corrections and completions) worth highlighting;
    /// joined and split compounds form groups of their own.
    pub groups: Vec<Vec<String>>,
    /// The groups of the words the reader typed (not operators or vocabulary), where a
    /// result's landing part is chosen.
    pub landing: Vec<Vec<String>>,
    /// With `explain`: each clause and what it matches.
    pub labelled: Vec<(String, Box<dyn Query>)>,
}

fn term_query(field: Field, text: &str, boost: f32) -> Box<dyn Query> {
    let q = TermQuery::new(
        Term::from_field_text(field, text),
        IndexRecordOption::WithFreqs,
    );
    Box::new(BoostQuery::new(Box::new(q), boost))
}

/// Typos allowed for a word of this length: none up to 3 characters, one up to 8, then two.
pub fn typo_distance(word: &str) -> u8 {
    match word.chars().count() {
        0..=3 => 0,
        4..=8 => 1,
        _ => 2,
    }
}

/// Terms within the automaton of `q` (typo corrections, or completions of a prefix) other
/// than `word`, from the identifier fields of titles, headings, code and prose; the most
/// frequent first. The automaton is built once and run over each field's term dictionary.
pub(super) fn expand(
    searcher: &Searcher,
    f: &Fields,
    q: &FuzzyTermQuery,
    word: &str,
    max: usize,
) -> Vec<String> {
    let Ok(dfa) = q.automaton() else {
        return Vec::new();
    };
    let mut found: HashMap<String, u32> = HashMap::new();
    for field in [f.title_x, f.heading_x, f.code_x, f.prose_x] {
        for segment in searcher.segment_readers() {
            let Ok(inverted) = segment.inverted_index(field) else {
                continue;
            };
            let Ok(mut stream) = inverted.terms().search(&dfa).into_stream() else {
                continue;
            };
            while stream.advance() {
                let Ok(text) = std::str::from_utf8(stream.key()) else {
                    continue;
                };
                if text != word {
                    let df = stream.value().doc_freq;
                    match found.get_mut(text) {
                        Some(total) => *total += df,
                        None => {
                            found.insert(text.to_string(), df);
                        }
                    }
                }
            }
        }
    }
    let mut found: Vec<(String, u32)> = found.into_iter().collect();
    found.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    found.into_iter().take(max).map(|(t, _)| t).collect()
}

/// The input with control characters blanked, cut to [`MAX_INPUT_BYTES`] on a char boundary.
fn clean(input: &str) -> String {
    let mut end = input.len().min(MAX_INPUT_BYTES);
    while !input.is_char_boundary(end) {
        end -= 1;
    }
    input[..end]
        .chars()
        .map(|c| if c.is_control() && c != '\n' { ' ' } else { c })
        .collect()
}

/// `KeyError`, `RuntimeWarning`, `asyncio.CancelledError`, `SystemExit`, ...
fn is_exception_name(word: &str) -> bool {
    let last = word.rsplit('.').next().unwrap_or(word);
    let upper_start = last.chars().next().is_some_and(|c| c.is_ascii_uppercase());
    upper_start
        && [
            "Error",
            "Exception",
            "Warning",
            "Exit",
            "Interrupt",
            "Quit",
            "Group",
            "Iteration",
        ]
        .iter()
        .any(|s| last.ends_with(s) && last.len() > s.len())
        || matches!(
            last,
            "StopIteration" | "KeyboardInterrupt" | "SystemExit" | "GeneratorExit"
        )
}

fn is_hex(word: &str) -> bool {
    word.len() > 2 && word.starts_with("0x") && word[2..].chars().all(|c| c.is_ascii_hexdigit())
}

/// The line of a pasted error worth searching for, if the input looks like one: the last
/// line naming an exception (`Type: message`), or a line a tool prints (`error: ...`).
fn error_line(input: &str) -> Option<&str> {
    let lines: Vec<&str> = input
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let looks_like_error = |line: &str| {
        let head = line.split(':').next().unwrap_or("");
        analyze::identifier_spans(head)
            .iter()
            .any(|&(s, e)| is_exception_name(&head[s..e]))
            || line.starts_with("error:")
            || line.starts_with("Traceback (most recent call last)")
    };
    let found = lines
        .iter()
        .rev()
        .find(|l| looks_like_error(l) && !l.starts_with("Traceback"))?;
    Some(found)
}

/// Byte ranges inside quotes (`"yield"`, `'is'`, `` `__del__` ``, “...”): a fragment the
/// question is about. An apostrophe inside a word ("don't") opens nothing.
fn quoted_spans(text: &str) -> Vec<(usize, usize)> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        let close = match c {
            '"' | '\'' | '`' => c,
            '“' => '”',
            '‘' => '’',
            _ => {
                i += 1;
                continue;
            }
        };
        let opens = i == 0 || !chars[i - 1].1.is_alphanumeric();
        let end = if opens {
            (i + 1..chars.len()).find(|&j| {
                chars[j].1 == close && chars.get(j + 1).is_none_or(|n| !n.1.is_alphanumeric())
            })
        } else {
            None
        };
        match end {
            Some(j) => {
                spans.push((at + c.len_utf8(), chars[j].0));
                i = j + 1;
            }
            None => i += 1,
        }
    }
    spans
}

/// Splits an error line into the words that identify the error and the ones that vary:
/// quoted names ('x', "config.toml", `os`) and what sits in `<...>` object reprs.
fn split_variable(line: &str) -> (String, String) {
    let mut core = String::with_capacity(line.len());
    let mut variable = String::new();
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let opens = matches!(c, '\'' | '"' | '`') && (i == 0 || !chars[i - 1].is_alphanumeric());
        let close = if opens {
            (i + 1..chars.len())
                .find(|&j| chars[j] == c && chars.get(j + 1).is_none_or(|n| !n.is_alphanumeric()))
        } else {
            None
        };
        match close {
            Some(j) => {
                variable.extend(&chars[i + 1..j]);
                variable.push(' ');
                core.push(' ');
                i = j + 1;
            }
            None => {
                core.push(c);
                i += 1;
            }
        }
    }
    (core, variable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(plan: &Plan) -> Vec<&str> {
        plan.words.iter().map(|w| w.text.as_str()).collect()
    }

    #[test]
    fn identifiers_are_whole_and_split() {
        let p = Plan::parse("asyncio.run ");
        assert_eq!(texts(&p), ["asyncio.run", "asyncio", "run"]);
        assert!(p.words.iter().all(|w| !w.prefix));
    }

    #[test]
    fn the_word_being_typed_is_a_prefix() {
        let p = Plan::parse("mutable def");
        assert!(!p.words[0].prefix);
        assert!(p.words[1].prefix);
        let p = Plan::parse("sys.meta_pa");
        assert!(
            p.words
                .iter()
                .find(|w| w.text == "sys.meta_pa")
                .is_some_and(|w| w.prefix)
        );
        assert!(
            p.words
                .iter()
                .find(|w| w.text == "meta_pa")
                .is_some_and(|w| w.prefix)
        );
        assert!(
            p.words
                .iter()
                .find(|w| w.text == "sys")
                .is_some_and(|w| !w.prefix)
        );
    }

    #[test]
    fn traceback_is_cut_to_its_last_error_line() {
        let tb = "Traceback (most recent call last):\n  File \"/home/me/app.py\", line 3, in <module>\n    f()\nUnboundLocalError: cannot access local variable 'total' where it is not associated with a value\n";
        let p = Plan::parse(tb);
        assert!(p.error);
        assert_eq!(p.words[0].text, "unboundlocalerror");
        assert!(p.words[0].exception);
        assert!(!texts(&p).contains(&"home"));
        let total = p
            .words
            .iter()
            .find(|w| w.text == "total")
            .expect("quoted name kept");
        assert_eq!(total.weight, VARIABLE_WEIGHT);
    }

    #[test]
    fn quotes_inside_words_are_not_quotes() {
        let (core, variable) =
            split_variable("AttributeError: Can't pickle local object 'main.<locals>.score'");
        assert!(core.contains("Can't pickle"));
        assert_eq!(variable.trim(), "main.<locals>.score");
    }

    #[test]
    fn hostile_input_parses() {
        for q in [
            "\"",
            "AND OR NOT",
            "title:(",
            "((((",
            "\u{0}\u{7}",
            "🐍 ünïcödé",
            "*?~^",
            "",
        ] {
            let _ = Plan::parse(q);
        }
        let long = "a ".repeat(5000);
        assert!(Plan::parse(&long).words.len() <= MAX_WORDS);
        let multibyte = "é".repeat(3000);
        let _ = Plan::parse(&multibyte);
    }

    #[test]
    fn typo_budget_grows_with_length() {
        assert_eq!(typo_distance("gil"), 0);
        assert_eq!(typo_distance("tiem"), 1);
        assert_eq!(typo_distance("mutible"), 1);
        assert_eq!(typo_distance("metaclasess"), 2);
    }
}

#[cfg(test)]
mod vocabulary_tests {
    use super::*;

    #[test]
    fn quoted_fragments_weigh_more_and_apostrophes_quote_nothing() {
        assert_eq!(quoted_spans("what does \"yield\" do"), [(11, 16)]);
        assert!(quoted_spans("don't won't").is_empty());
        let p = Plan::parse("what does \"yield\" do");
        let y = p.words.iter().find(|w| w.text == "yield").expect("yield");
        assert_eq!(y.weight, QUOTED_WEIGHT);
    }

    #[test]
    fn operators_are_words_of_their_own() {
        let p = Plan::parse("is vs ==");
        let eq = p.words.iter().find(|w| w.text == "==").expect("==");
        assert_eq!(eq.source, Source::Symbol);
        assert!(!eq.prefix);
        let p = Plan::parse("read-only attribute");
        assert!(p.joined.contains(&"readonly".to_string()), "{:?}", p.joined);
    }
}
