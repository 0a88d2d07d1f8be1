//! Result snippets: the passage of a section with the most matched words, HTML-escaped,
//! matches wrapped in `<mark>`.
//!
//! Done here rather than with tantivy's `SnippetGenerator`, which knows nothing of typo
//! corrections and completions (tantivy#2576); the query hands over every term it matched
//! on, corrections included, and both analyzers are replayed over the text.

use std::ops::Range;

use super::analyze::{identifier_spans, stem_analyzer, tokens};
use crate::content::markdown::escape;

/// Longest snippet, in bytes of source text.
pub const MAX_CHARS: usize = 180;
/// How much text to show before the first match in the window.
const LEAD: usize = 40;

/// The stems of `terms`, to highlight inflected forms ("closures" for "closure").
pub fn stems_of(terms: &[String]) -> Vec<String> {
    let mut stem = stem_analyzer();
    let mut out: Vec<String> = terms
        .iter()
        .flat_map(|t| tokens(&mut stem, t))
        .filter(|s| worth_marking(s))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Short words (`is`, `a`) would light up every line; numbers stay.
fn worth_marking(term: &str) -> bool {
    term.chars().count() > 2 || term.chars().all(|c| c.is_ascii_digit())
}

/// The best window of `text` with its matches marked, or `None` when nothing matches.
pub fn highlight(text: &str, terms: &[String], stems: &[String], max: usize) -> Option<String> {
    let matches = match_ranges(text, terms, stems);
    if matches.is_empty() {
        return None;
    }
    let window = best_window(text, &matches, max);
    let mut out = String::new();
    if window.start > 0 {
        out.push('…');
    }
    let mut at = window.start;
    for m in matches
        .iter()
        .filter(|m| m.start >= window.start && m.end <= window.end)
    {
        out.push_str(&escape(&collapse(&text[at..m.start])));
        out.push_str("<mark>");
        out.push_str(&escape(&text[m.clone()]));
        out.push_str("</mark>");
        at = m.end;
    }
    out.push_str(&escape(&collapse(&text[at..window.end])));
    if window.end < text.len() {
        out.push('…');
    }
    Some(out.trim().to_string())
}

/// The start of `text`, escaped, for hits with nothing to mark.
pub fn plain(text: &str, max: usize) -> String {
    let end = floor_boundary(text, max);
    let mut out = escape(&collapse(&text[..end]));
    if end < text.len() {
        out.push('…');
    }
    out
}

/// Byte ranges of words in `text` that match a term exactly or by stem, sorted, disjoint.
/// `terms` and `stems` are sorted. Only words that start like a stem are stemmed: this runs
/// over every hit's section on every keystroke, and stemming every word would dominate.
fn match_ranges(text: &str, terms: &[String], stems: &[String]) -> Vec<Range<usize>> {
    let mut ranges: Vec<Range<usize>> = Vec::new();
    let known = |word: &str| terms.binary_search_by(|t| t.as_str().cmp(word)).is_ok();
    for (start, end) in identifier_spans(text) {
        let whole = text[start..end].to_lowercase();
        if whole.len() == end - start && worth_marking(&whole) && known(&whole) {
            ranges.push(start..end);
            continue;
        }
        // The pieces of a dotted or snake_case name, as the word analyzer splits them.
        let mut at = start;
        for piece in text[start..end].split(|c: char| !c.is_alphanumeric()) {
            let range = at..at + piece.len();
            at = range.end + 1;
            if piece.is_empty() {
                continue;
            }
            let lower = piece.to_lowercase();
            let exact = worth_marking(&lower) && known(&lower);
            let stemmed = || {
                stems
                    .iter()
                    .any(|s| lower.starts_with(&s[..floor_boundary(s, 3)]))
                    && tokens(&mut stem_analyzer(), &lower)
                        .first()
                        .is_some_and(|t| stems.binary_search(t).is_ok())
            };
            if exact || stemmed() {
                ranges.push(range);
            }
        }
    }
    ranges.sort_by_key(|r| (r.start, std::cmp::Reverse(r.end)));
    let mut out: Vec<Range<usize>> = Vec::new();
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.start < last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// The `max`-byte window holding the most distinct matched words, starting a little before
/// its first match, on character boundaries.
fn best_window(text: &str, matches: &[Range<usize>], max: usize) -> Range<usize> {
    let mut best = (0usize, 0usize);
    for (i, m) in matches.iter().enumerate() {
        let end = m.start + max;
        let mut seen: Vec<String> = Vec::new();
        for n in &matches[i..] {
            if n.end > end {
                break;
            }
            let word = text[n.clone()].to_lowercase();
            if !seen.contains(&word) {
                seen.push(word);
            }
        }
        if seen.len() > best.0 {
            best = (seen.len(), i);
        }
    }
    let first = &matches[best.1];
    let mut start = floor_boundary(text, first.start.saturating_sub(LEAD));
    if start > 0 {
        // Start at a word boundary.
        start = text[start..first.start]
            .find(char::is_whitespace)
            .map_or(first.start, |i| start + i + 1);
    }
    let end = floor_boundary(text, start + max).max(first.end.min(text.len()));
    start..end
}

fn floor_boundary(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Runs of whitespace (newlines in code) as one space.
fn collapse(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            if !space {
                out.push(' ');
            }
            space = true;
        } else {
            out.push(c);
            space = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(words: &[&str]) -> (Vec<String>, Vec<String>) {
        let t: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        let s = stems_of(&t);
        (t, s)
    }

    #[test]
    fn marks_exact_and_inflected_matches_and_escapes_the_rest() {
        let (t, s) = terms(&["closure", "lru_cache"]);
        let html = highlight(
            "Closures <b>capture</b> names; use lru_cache & co.",
            &t,
            &s,
            180,
        )
        .expect("matches");
        assert_eq!(
            html,
            "<mark>Closures</mark> &lt;b&gt;capture&lt;/b&gt; names; use <mark>lru_cache</mark> &amp; co."
        );
    }

    #[test]
    fn no_match_is_none() {
        let (t, s) = terms(&["generator"]);
        assert!(highlight("nothing here", &t, &s, 180).is_none());
    }

    #[test]
    fn window_moves_to_the_matches() {
        let text = format!(
            "{} the GIL is released {}",
            "filler ".repeat(60),
            "tail ".repeat(60)
        );
        let (t, s) = terms(&["gil"]);
        let html = highlight(&text, &t, &s, 80).expect("matches");
        assert!(html.starts_with('…') && html.ends_with('…'), "{html}");
        assert!(html.contains("<mark>GIL</mark>"));
    }

    #[test]
    fn multibyte_text_is_cut_on_char_boundaries() {
        let text = "ü".repeat(200) + " gil " + &"é".repeat(200);
        let (t, s) = terms(&["gil"]);
        let html = highlight(&text, &t, &s, 51).expect("matches");
        assert!(html.contains("<mark>gil</mark>"));
        let _ = plain(&text, 51);
    }
}
