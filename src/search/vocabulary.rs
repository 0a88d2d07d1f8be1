//! The search vocabulary: how readers phrase things, mapped to how the articles phrase them.
//! Content authors maintain it in `content/search-vocabulary.toml` (docs/authoring.md):
//!
//! - `noise`: phrases that open or close a question ("how do I", "in python") and say
//!   nothing about the subject; they are dropped from a query unless nothing else is left.
//! - `[symbols]`: what each operator is called (`":=" = "walrus assignment expression"`);
//!   a query holding the operator also searches for those words. The operator itself is
//!   always a search term (see [`analyze::SYMBOLS`]).
//! - `[[concept]]`: `when` a query contains one of these phrases (stemmed, in order, a word
//!   or two may sit between them), also search for the `add` phrases, at a lower weight.
//!
//! A missing file is an empty vocabulary.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::analyze::{self, stem_analyzer};

/// The file's name in the content directory.
pub const FILE: &str = "search-vocabulary.toml";

/// Most words a concept phrase may skip between two of its words ("copy *my old* list").
const MAX_GAP: usize = 2;

#[derive(Debug, Clone, Default)]
pub struct Vocabulary {
    /// Lowercased word sequences, longest first.
    noise: Vec<Vec<String>>,
    /// Operator → the words it is called by.
    symbols: BTreeMap<String, String>,
    concepts: Vec<Concept>,
}

#[derive(Debug, Clone)]
struct Concept {
    /// The phrases as written (for `--explain`) and as stems.
    when: Vec<(String, Vec<String>)>,
    add: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    noise: Vec<String>,
    #[serde(default)]
    symbols: BTreeMap<String, String>,
    #[serde(default)]
    concept: Vec<ConceptFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConceptFile {
    when: Vec<String>,
    add: Vec<String>,
}

/// A concept that matched a query: the phrase found and what it adds.
#[derive(Debug, Clone, PartialEq)]
pub struct Expansion<'a> {
    pub when: &'a str,
    pub add: &'a [String],
}

impl Vocabulary {
    /// Reads `dir/search-vocabulary.toml`; `Err((line, message))` when it is malformed.
    pub fn load(dir: &Path) -> Result<Vocabulary, (usize, String)> {
        match std::fs::read_to_string(dir.join(FILE)) {
            Ok(text) => Vocabulary::parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vocabulary::default()),
            Err(e) => Err((1, format!("cannot read the search vocabulary: {e}"))),
        }
    }

    pub fn parse(text: &str) -> Result<Vocabulary, (usize, String)> {
        let line_at = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
        let line_of = |needle: &str| text.find(needle).map_or(1, line_at);
        let file: File = toml::from_str(text).map_err(|e| {
            (
                e.span().map_or(1, |s| line_at(s.start)),
                e.message().trim().to_string(),
            )
        })?;
        let mut stem = stem_analyzer();
        let mut noise = Vec::new();
        for phrase in &file.noise {
            let words = lower_words(phrase);
            if words.is_empty() {
                return Err((
                    line_of(phrase),
                    format!("noise phrase {phrase:?} has no words"),
                ));
            }
            noise.push(words);
        }
        noise.sort_by_key(|w| std::cmp::Reverse(w.len()));
        for (symbol, words) in &file.symbols {
            if !analyze::is_symbol(symbol) {
                return Err((
                    line_of(&format!("\"{symbol}\"")),
                    format!(
                        "{symbol:?} is not an operator search knows; known: {}",
                        analyze::SYMBOLS.join(" ")
                    ),
                ));
            }
            if lower_words(words).is_empty() {
                return Err((
                    line_of(&format!("\"{symbol}\"")),
                    format!("{symbol:?} has no words"),
                ));
            }
        }
        let mut concepts = Vec::new();
        for c in &file.concept {
            let mut when = Vec::new();
            for phrase in &c.when {
                let stems = analyze::tokens(&mut stem, phrase);
                if stems.is_empty() {
                    return Err((
                        line_of(phrase),
                        format!("concept phrase {phrase:?} has no words"),
                    ));
                }
                when.push((phrase.clone(), stems));
            }
            if when.is_empty() || c.add.iter().all(|a| lower_words(a).is_empty()) {
                let at = c.when.first().map_or(1, |p| line_of(p));
                return Err((at, "a concept needs `when` phrases and `add` words".into()));
            }
            concepts.push(Concept {
                when,
                add: c.add.clone(),
            });
        }
        Ok(Vocabulary {
            noise,
            symbols: file.symbols,
            concepts,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.noise.is_empty() && self.symbols.is_empty() && self.concepts.is_empty()
    }

    /// The words an operator is called by, if the vocabulary names it.
    pub fn symbol_words(&self, symbol: &str) -> Option<&str> {
        self.symbols.get(symbol).map(String::as_str)
    }

    /// Byte ranges of `text` that are question noise, and the phrases they matched. Words in
    /// `keep` ranges (quoted fragments) are never noise.
    pub fn noise_spans(&self, text: &str, keep: &[(usize, usize)]) -> Vec<(usize, usize)> {
        if self.noise.is_empty() {
            return Vec::new();
        }
        let words: Vec<(String, usize, usize)> = analyze::identifier_spans(text)
            .into_iter()
            .map(|(s, e)| (text[s..e].to_lowercase(), s, e))
            .collect();
        let mut out = Vec::new();
        let mut i = 0;
        while i < words.len() {
            let found = self.noise.iter().find(|phrase| {
                words.len() - i >= phrase.len()
                    && phrase.iter().zip(&words[i..]).all(|(p, w)| *p == w.0)
                    && !words[i..i + phrase.len()]
                        .iter()
                        .any(|w| keep.iter().any(|k| w.1 >= k.0 && w.2 <= k.1))
            });
            match found {
                Some(phrase) => {
                    out.push((words[i].1, words[i + phrase.len() - 1].2));
                    i += phrase.len();
                }
                None => i += 1,
            }
        }
        out
    }

    /// The concepts whose `when` phrase occurs in `stems` (the query's stemmed words, in order).
    pub fn expansions(&self, stems: &[String]) -> Vec<Expansion<'_>> {
        self.concepts
            .iter()
            .filter_map(|c| {
                c.when
                    .iter()
                    .find(|(_, phrase)| contains_in_order(stems, phrase))
                    .map(|(when, _)| Expansion { when, add: &c.add })
            })
            .collect()
    }

    /// Every concept's `when` phrases, for checking that each is reachable.
    pub fn concept_count(&self) -> usize {
        self.concepts.len()
    }
}

/// Whether `phrase` occurs in `stems` in order, with at most [`MAX_GAP`] other words between
/// two of its words.
fn contains_in_order(stems: &[String], phrase: &[String]) -> bool {
    (0..stems.len()).any(|start| {
        if stems[start] != phrase[0] {
            return false;
        }
        let mut at = start;
        phrase[1..].iter().all(|p| {
            let window = at + 1..(at + 2 + MAX_GAP).min(stems.len());
            match window.clone().find(|&j| stems[j] == *p) {
                Some(j) => {
                    at = j;
                    true
                }
                None => false,
            }
        })
    })
}

fn lower_words(text: &str) -> Vec<String> {
    analyze::identifier_spans(text)
        .into_iter()
        .map(|(s, e)| text[s..e].to_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
noise = ["how do i", "in python", "how"]

[symbols]
":=" = "walrus assignment expression"

[[concept]]
when = ["copy list"]
add = ["shallow copy", "aliasing"]
"#;

    #[test]
    fn noise_is_found_longest_first_and_never_inside_quotes() {
        let v = Vocabulary::parse(SAMPLE).expect("parses");
        let text = "How do I sort in Python";
        let spans = v.noise_spans(text, &[]);
        let found: Vec<&str> = spans.iter().map(|&(s, e)| &text[s..e]).collect();
        assert_eq!(found, ["How do I", "in Python"]);
        let text = "what does \"how do i\" mean";
        let quoted = (10, 20);
        assert!(v.noise_spans(text, &[quoted]).is_empty());
    }

    #[test]
    fn concepts_match_stems_in_order_with_small_gaps() {
        let v = Vocabulary::parse(SAMPLE).expect("parses");
        let mut stem = stem_analyzer();
        let q = |s: &str| analyze::tokens(&mut stem.clone(), s);
        assert_eq!(v.expansions(&q("copying my old lists")).len(), 1);
        assert!(v.expansions(&q("list copy")).is_empty());
        assert!(v.expansions(&q("copy it into another new list")).is_empty());
        let _ = analyze::tokens(&mut stem, "");
    }

    #[test]
    fn mistakes_name_their_line() {
        let err =
            Vocabulary::parse("[symbols]\n\"=>\" = \"arrow\"\n").expect_err("not an operator");
        assert_eq!(err.0, 2);
        assert!(err.1.contains("not an operator"), "{}", err.1);
        let err = Vocabulary::parse("\n\n[[concept]]\nwhen = [\"x\"]\nadd = []\n")
            .expect_err("empty add");
        assert_eq!(err.0, 4);
        let err = Vocabulary::parse("nose = []\n").expect_err("unknown key");
        assert_eq!(err.0, 1);
        assert!(Vocabulary::parse("").expect("empty").is_empty());
    }
}
