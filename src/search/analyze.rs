//! Tokenizers fit for Python prose and code.
//!
//! Two analyzers see the same text:
//! - [`STEM`] splits on anything that is not a letter or digit, lowercases and applies the
//!   English stemmer: `lru_cache` → `lru` `cach`, "closures" → `closur`. It finds words.
//! - [`EXACT`] keeps identifiers whole, with their underscores and dots, and also emits the
//!   parts of a dotted name: `asyncio.run()` → `asyncio.run` `asyncio` `run`,
//!   `__slots__` → `__slots__`. It finds identifiers, exception names and exact words, and
//!   is what typo and prefix matching run on (unstemmed, so edit distances mean something).
//!
//!   It also emits Python's operators as tokens of their own ([`SYMBOLS`]): `x == None` →
//!   `x` `==` `none`, `**kwargs` → `**` `kwargs`, so a question about `:=` or `->` finds them.
//!
//! Neither removes stop words: `is`, `not`, `in`, `for` are Python keywords people search for.

use tantivy::Index;
use tantivy::tokenizer::{
    LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, TextAnalyzer, Token, TokenStream,
    Tokenizer,
};

/// Name of the word analyzer (split, lowercased, stemmed).
pub const STEM: &str = "sp_stem";
/// Name of the identifier analyzer (whole identifiers and dotted names, lowercased).
pub const EXACT: &str = "sp_exact";
/// Name of the word-pair analyzer: adjacent stemmed words joined (`io bound` → `io_bound`),
/// so phrases ("pass by reference", "import this") score without indexing positions.
pub const PAIRS: &str = "sp_pairs";

/// Python's operators and punctuation worth searching for, longest first (a run of operator
/// characters is read greedily). A one-character symbol between two letters or digits is
/// punctuation, not an operator (`try/except`, `a*b`, `me@host`), and is not emitted.
pub const SYMBOLS: &[&str] = &[
    "**=", "//=", ">>=", "<<=", "...", "==", "!=", "<=", ">=", ":=", "->", "**", "//", "+=", "-=",
    "*=", "/=", "%=", "@=", "|=", "&=", "^=", "<<", ">>", "*", "/", "@", "%", "|", "&", "^", "~",
    "+",
];

/// Characters that make up [`SYMBOLS`].
fn is_symbol_char(c: char) -> bool {
    matches!(
        c,
        '=' | '!'
            | '<'
            | '>'
            | ':'
            | '-'
            | '+'
            | '*'
            | '/'
            | '@'
            | '%'
            | '&'
            | '|'
            | '^'
            | '~'
            | '.'
    )
}

/// Whether `text` is one of [`SYMBOLS`] (an operator token, not a word).
pub fn is_symbol(text: &str) -> bool {
    SYMBOLS.contains(&text)
}

/// Byte ranges of the operators in `text` (see [`SYMBOLS`]).
pub fn symbol_spans(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i] as char;
        if !c.is_ascii() || !is_symbol_char(c) {
            i += text[i..].chars().next().map_or(1, char::len_utf8);
            continue;
        }
        let Some(sym) = SYMBOLS.iter().find(|s| text[i..].starts_with(**s)) else {
            i += 1;
            continue;
        };
        let end = i + sym.len();
        let word_before = text[..i].chars().next_back().is_some_and(is_word_char);
        let word_after = text[end..].chars().next().is_some_and(is_word_char);
        // `...` inside a dotted name is not there: dots join names.
        let punctuation = sym.len() == 1 && word_before && word_after;
        if !punctuation {
            spans.push((i, end));
        }
        i = end;
    }
    spans
}

/// Longest token kept; longer ones are data (hashes, base64), not words.
const MAX_TOKEN_BYTES: usize = 60;

/// Registers both analyzers on `index`.
pub fn register(index: &Index) {
    index.tokenizers().register(STEM, stem_analyzer());
    index.tokenizers().register(EXACT, exact_analyzer());
    index
        .tokenizers()
        .register(PAIRS, TextAnalyzer::from(PairTokenizer::default()));
}

/// Adjacent stemmed words of `text`, joined with `_`.
pub fn pairs(text: &str) -> Vec<String> {
    tokens(&mut PairTokenizer::default().stem, text)
        .windows(2)
        .map(|w| format!("{}_{}", w[0], w[1]))
        .collect()
}

/// Emits [`pairs`] as tokens.
#[derive(Clone)]
pub struct PairTokenizer {
    stem: TextAnalyzer,
}

impl Default for PairTokenizer {
    fn default() -> Self {
        Self {
            stem: stem_analyzer(),
        }
    }
}

impl Tokenizer for PairTokenizer {
    type TokenStream<'a> = VecTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream {
        let words = tokens_with_offsets(&mut self.stem, text);
        let tokens = words
            .windows(2)
            .enumerate()
            .map(|(position, w)| Token {
                offset_from: w[0].1.start,
                offset_to: w[1].1.end,
                position,
                text: format!("{}_{}", w[0].0, w[1].0),
                position_length: 1,
            })
            .collect();
        VecTokenStream { tokens, next: 0 }
    }
}

pub fn stem_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .filter(Stemmer::default())
        .build()
}

pub fn exact_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(IdentifierTokenizer)
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .build()
}

/// Every token `analyzer` makes of `text`, in order.
pub fn tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    analyzer
        .token_stream(text)
        .process(&mut |t: &Token| out.push(t.text.clone()));
    out
}

/// Like [`tokens`], with the byte range each token came from.
pub fn tokens_with_offsets(
    analyzer: &mut TextAnalyzer,
    text: &str,
) -> Vec<(String, std::ops::Range<usize>)> {
    let mut out = Vec::new();
    analyzer
        .token_stream(text)
        .process(&mut |t: &Token| out.push((t.text.clone(), t.offset_from..t.offset_to)));
    out
}

/// Splits text into identifiers: runs of letters, digits and `_`, joined by single dots
/// (`os.path.join`, `0.1`). A dotted name is emitted whole and then part by part.
#[derive(Clone, Default)]
pub struct IdentifierTokenizer;

pub struct VecTokenStream {
    tokens: Vec<Token>,
    next: usize,
}

impl TokenStream for VecTokenStream {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }
    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }
    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

impl Tokenizer for IdentifierTokenizer {
    type TokenStream<'a> = VecTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream {
        let mut tokens = Vec::new();
        let mut spans = identifier_spans(text);
        spans.extend(symbol_spans(text));
        spans.sort_unstable();
        for (position, (start, end)) in spans.into_iter().enumerate() {
            let whole = &text[start..end];
            tokens.push(Token {
                offset_from: start,
                offset_to: end,
                position,
                text: whole.to_string(),
                position_length: 1,
            });
            if whole.contains('.') && whole != "..." {
                let mut from = start;
                for part in whole.split('.') {
                    let to = from + part.len();
                    tokens.push(Token {
                        offset_from: from,
                        offset_to: to,
                        position,
                        text: part.to_string(),
                        position_length: 1,
                    });
                    from = to + 1;
                }
            }
        }
        VecTokenStream { tokens, next: 0 }
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Byte ranges of identifiers (dotted names included) in `text`.
pub fn identifier_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut chars = text.char_indices().peekable();
    let mut start: Option<usize> = None;
    let mut end = 0;
    while let Some((i, c)) = chars.next() {
        if is_word_char(c) {
            start.get_or_insert(i);
            end = i + c.len_utf8();
        } else if c == '.'
            && start.is_some()
            && end == i
            && chars.peek().is_some_and(|&(_, n)| is_word_char(n))
        {
            // A dot between two word characters joins a dotted name.
        } else if let Some(s) = start.take() {
            spans.push((s, end));
        }
    }
    if let Some(s) = start {
        spans.push((s, end));
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_keeps_identifiers_whole_and_splits_dotted_names() {
        let mut a = exact_analyzer();
        assert_eq!(tokens(&mut a, "use lru_cache"), ["use", "lru_cache"]);
        assert_eq!(
            tokens(&mut a, "asyncio.run()"),
            ["asyncio.run", "asyncio", "run"]
        );
        assert_eq!(tokens(&mut a, "__slots__ = ('x',)"), ["__slots__", "x"]);
        assert_eq!(
            tokens(&mut a, "0.1 + 0.2."),
            ["0.1", "0", "1", "+", "0.2", "0", "2"]
        );
        assert_eq!(
            tokens(&mut a, "UnboundLocalError: x"),
            ["unboundlocalerror", "x"]
        );
        assert_eq!(tokens(&mut a, "end. Next"), ["end", "next"]);
        assert!(tokens(&mut a, "").is_empty());
        assert_eq!(tokens(&mut a, "...::()"), ["..."]);
        assert!(tokens(&mut a, ".,;:()").is_empty());
    }

    #[test]
    fn operators_are_tokens_and_punctuation_is_not() {
        let mut a = exact_analyzer();
        assert_eq!(tokens(&mut a, "x == None"), ["x", "==", "none"]);
        assert_eq!(
            tokens(&mut a, "if (n := len(a)) > 10"),
            ["if", "n", ":=", "len", "a", "10"]
        );
        assert_eq!(
            tokens(&mut a, "f(*args, **kwargs) -> int"),
            ["f", "*", "args", "**", "kwargs", "->", "int"]
        );
        assert_eq!(
            tokens(&mut a, "a // b, @property"),
            ["a", "//", "b", "@", "property"]
        );
        assert_eq!(
            tokens(&mut a, "try/except a*b me@host read-only"),
            ["try", "except", "a", "b", "me", "host", "read", "only"]
        );
        assert_eq!(tokens(&mut a, "x / y"), ["x", "/", "y"]);
        assert_eq!(
            tokens(&mut a, "raise ... from e"),
            ["raise", "...", "from", "e"]
        );
    }

    #[test]
    fn stem_splits_identifiers_and_keeps_keywords() {
        let mut a = stem_analyzer();
        assert_eq!(tokens(&mut a, "lru_cache"), ["lru", "cach"]);
        assert_eq!(
            tokens(&mut a, "is not in for while"),
            ["is", "not", "in", "for", "while"]
        );
        assert_eq!(tokens(&mut a, "Closures"), ["closur"]);
    }

    #[test]
    fn pairs_join_adjacent_stems() {
        assert_eq!(
            pairs("I/O bound vs CPU-bound"),
            ["i_o", "o_bound", "bound_vs", "vs_cpu", "cpu_bound"]
        );
        assert!(pairs("one").is_empty());
    }

    #[test]
    fn offsets_point_into_the_text() {
        let mut a = exact_analyzer();
        let text = "é asyncio.run";
        for (tok, range) in tokens_with_offsets(&mut a, text) {
            assert_eq!(text[range].to_lowercase(), tok);
        }
    }
}
