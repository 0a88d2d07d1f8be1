//! `snakepit check`'s second half: every runnable snippet run through the real sandbox
//! (stdout and stderr merged, as a reader sees them) and compared with its `output`
//! block, where `<...>` matches any text within a line and a line of only `<...>`
//! matches any number of lines (docs/authoring.md).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::content::{Library, Snippet};
use crate::runtimes::{Minor, RuntimeSet};
use crate::sandbox::{RunOutcome, RunRequest};

/// A snippet that did not run as its article says, on one runtime:
/// `file:line [3.13]: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnippetProblem {
    pub file: PathBuf,
    pub line: usize,
    pub python: Minor,
    pub message: String,
}

impl fmt::Display for SnippetProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{} [{}]: {}",
            self.file.display(),
            self.line,
            self.python,
            self.message
        )
    }
}

/// What `check` did on one runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeTally {
    pub python: Minor,
    /// Exact version, e.g. "3.14.8".
    pub version: String,
    pub runs: usize,
    pub problems: usize,
}

/// Runs every snippet of `library` on every running runtime of `set` its gate allows
/// (each runtime's pool at full parallelism, all runtimes at once); returns one problem
/// per mismatch, in file order then version order, and a tally per runtime.
pub async fn run_snippets(
    library: &Library,
    set: &RuntimeSet,
) -> (Vec<SnippetProblem>, Vec<RuntimeTally>) {
    let mut tasks = Vec::new();
    let mut tallies = Vec::new();
    for (runtime, sandbox) in set.sandboxes() {
        let gate = Arc::new(Semaphore::new(sandbox.config().workers.max(1)));
        let mut runs = 0;
        for article in &library.articles {
            for snippet in article.snippets.iter().filter(|s| s.runs_on(runtime.id)) {
                let (sandbox, gate, code) = (sandbox.clone(), gate.clone(), snippet.code.clone());
                runs += 1;
                let task = tokio::spawn(async move {
                    let _permit = gate.acquire_owned().await;
                    let request = RunRequest {
                        code,
                        client: "check".into(),
                        merge_stderr: true,
                    };
                    sandbox.run(request, None).await
                });
                tasks.push((article, snippet, runtime.id, task));
            }
        }
        tallies.push(RuntimeTally {
            python: runtime.id,
            version: sandbox.python_version().to_string(),
            runs,
            problems: 0,
        });
    }
    let mut problems = Vec::new();
    for (article, snippet, python, task) in tasks {
        let problem = match task.await {
            Ok(Ok(outcome)) => judge(snippet, python, &outcome),
            Ok(Err(e)) => Some((snippet.line, format!("the snippet could not run: {e}"))),
            Err(e) => Some((snippet.line, format!("the snippet's run task failed: {e}"))),
        };
        if let Some((line, message)) = problem {
            if let Some(t) = tallies.iter_mut().find(|t| t.python == python) {
                t.problems += 1;
            }
            problems.push(SnippetProblem {
                file: article.path.clone(),
                line,
                python,
                message,
            });
        }
    }
    problems.sort_by(|a, b| (&a.file, a.line, a.python).cmp(&(&b.file, b.line, b.python)));
    (problems, tallies)
}

/// `(line, message)` when the run on `python` does not match what the article promises.
fn judge(snippet: &Snippet, python: Minor, outcome: &RunOutcome) -> Option<(usize, String)> {
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
    let expected = snippet.expected_for(python)?;
    if output_matches(&expected.text, &outcome.stdout) {
        return None;
    }
    Some((
        expected.line,
        format!(
            "output differs from a real run:\n{}",
            diff(&expected.text, &outcome.stdout)
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
