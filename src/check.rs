//! `snakepit check`'s second half: every runnable snippet run through the real sandbox
//! (stdout and stderr merged, as a reader sees them) and compared with its `output`
//! block, where `<...>` matches any text within a line and a line of only `<...>`
//! matches any number of lines (docs/authoring.md).

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::content::{ContentError, Library, Snippet};
use crate::sandbox::{RunOutcome, RunRequest, Sandbox};

/// Runs every snippet of `library`, `parallel` at a time; returns one error per mismatch.
pub async fn run_snippets(
    library: &Library,
    sandbox: &Sandbox,
    parallel: usize,
) -> Vec<ContentError> {
    let gate = Arc::new(Semaphore::new(parallel.max(1)));
    let mut tasks = Vec::new();
    for article in &library.articles {
        for snippet in &article.snippets {
            let (sandbox, gate, code) = (sandbox.clone(), gate.clone(), snippet.code.clone());
            tasks.push(tokio::spawn(async move {
                let _permit = gate.acquire_owned().await;
                let request = RunRequest {
                    code,
                    client: "check".into(),
                    merge_stderr: true,
                };
                sandbox.run(request, None).await
            }));
        }
    }
    let snippets = library
        .articles
        .iter()
        .flat_map(|a| a.snippets.iter().map(move |s| (a, s)));
    let mut errors = Vec::new();
    for ((article, snippet), task) in snippets.zip(tasks) {
        let problem = match task.await {
            Ok(Ok(outcome)) => judge(snippet, &outcome),
            Ok(Err(e)) => Some((snippet.line, format!("the snippet could not run: {e}"))),
            Err(e) => Some((snippet.line, format!("the snippet's run task failed: {e}"))),
        };
        if let Some((line, message)) = problem {
            errors.push(ContentError {
                file: article.path.clone(),
                line,
                message,
            });
        }
    }
    errors
}

/// `(line, message)` when the run does not match what the article promises.
fn judge(snippet: &Snippet, outcome: &RunOutcome) -> Option<(usize, String)> {
    if outcome.timed_out {
        return Some((
            snippet.line,
            format!("the snippet timed out after {} ms", outcome.duration_ms),
        ));
    }
    if outcome.truncated {
        return Some((
            snippet.line,
            "the snippet's output was truncated at the output limit".into(),
        ));
    }
    let (line, expected) = snippet.expected.as_ref()?;
    if output_matches(expected, &outcome.stdout) {
        return None;
    }
    Some((
        *line,
        format!(
            "output differs from a real run:\n{}",
            diff(expected, &outcome.stdout)
        ),
    ))
}

/// Does `actual` match the `expected` pattern? Trailing whitespace on lines and trailing
/// blank lines are ignored.
pub fn output_matches(expected: &str, actual: &str) -> bool {
    let e = lines(expected);
    let a = lines(actual);
    matches_from(&e, &a)
}

fn lines(text: &str) -> Vec<&str> {
    let trimmed = text.trim_end_matches(['\n', ' ', '\t', '\r']);
    if trimmed.is_empty() {
        Vec::new()
    } else {
        trimmed.split('\n').map(str::trim_end).collect()
    }
}

fn matches_from(expected: &[&str], actual: &[&str]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((&"<...>", rest)) => {
            (0..=actual.len()).any(|skip| matches_from(rest, &actual[skip..]))
        }
        Some((pattern, rest)) => {
            actual
                .first()
                .is_some_and(|line| line_matches(pattern, line))
                && matches_from(rest, &actual[1..])
        }
    }
}

/// `pattern` with `<...>` standing for any run of characters.
fn line_matches(pattern: &str, line: &str) -> bool {
    let mut parts = pattern.split("<...>");
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = line.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// A short line diff for the report: expected lines marked `-`, actual `+`.
fn diff(expected: &str, actual: &str) -> String {
    let (e, a) = (lines(expected), lines(actual));
    let mut out = String::new();
    let common = e
        .iter()
        .zip(&a)
        .take_while(|(x, y)| line_matches(x, y))
        .count();
    for l in e.iter().skip(common).take(12) {
        out.push_str(&format!("    - {l}\n"));
    }
    for l in a.iter().skip(common).take(12) {
        out.push_str(&format!("    + {l}\n"));
    }
    if common > 0 {
        out.insert_str(0, &format!("    (first {common} line(s) match)\n"));
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::output_matches;

    #[test]
    fn exact_output_matches_ignoring_trailing_space() {
        assert!(output_matches("a\nb\n", "a\nb"));
        assert!(output_matches("a  \nb\n\n", "a\nb   \n"));
        assert!(!output_matches("a\nb\n", "a\nc\n"));
        assert!(!output_matches("a\n", "a\nb\n"));
        assert!(output_matches("", ""));
        assert!(!output_matches("", "x"));
    }

    #[test]
    fn ellipsis_matches_within_a_line() {
        assert!(output_matches(
            "<function f at <...>>",
            "<function f at 0x7f3a2c>"
        ));
        assert!(output_matches("took <...> ms", "took 12.5 ms"));
        assert!(output_matches("<...>", "")); // a whole-line <...> may match nothing
        assert!(!output_matches("took <...> ms", "took 12.5 s"));
        assert!(output_matches("a<...>b<...>c", "a-x-b-y-c"));
        assert!(!output_matches("a<...>b<...>c", "a-x-c"));
        assert!(output_matches("x<...>", "x"));
    }

    #[test]
    fn ellipsis_line_matches_any_number_of_lines() {
        let expected = "Traceback (most recent call last):\n<...>\nValueError: bad";
        assert!(output_matches(
            expected,
            "Traceback (most recent call last):\nValueError: bad"
        ));
        assert!(output_matches(
            expected,
            "Traceback (most recent call last):\n  File 1\n  File 2\nValueError: bad"
        ));
        assert!(!output_matches(
            expected,
            "Traceback (most recent call last):\n  File 1\nKeyError: bad"
        ));
    }
}
