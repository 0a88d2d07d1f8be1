//! TOML front matter between `+++` lines at the top of an article.

use serde::Deserialize;

/// The keys an article may set (CONTRACT.md, "Content"); anything else is an error.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrontMatter {
    pub title: String,
    pub slug: Option<String>,
    pub summary: String,
    pub section: Option<String>,
    #[serde(default)]
    pub order: i64,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub errors: Vec<String>,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Questions the article answers, in readers' words (searched with a high weight).
    #[serde(default)]
    pub questions: Vec<String>,
    /// The raw front matter and its first line in the file, to locate keys in messages.
    #[serde(skip)]
    raw: String,
}

impl FrontMatter {
    /// The file line where `key` is set, or the opening `+++` line when it is not.
    pub fn line_of(&self, key: &str) -> usize {
        self.raw
            .lines()
            .position(|l| {
                l.trim_start()
                    .strip_prefix(key)
                    .is_some_and(|rest| rest.trim_start().starts_with('='))
            })
            .map_or(1, |i| i + 2)
    }
}

/// Splits and parses the front matter. Returns it with the byte offset where the body starts,
/// or `(line, message)` describing what is wrong.
pub fn parse(text: &str) -> Result<(FrontMatter, usize), (usize, String)> {
    let text_start = text.strip_prefix('\u{feff}').map_or(0, |_| 3);
    let rest = &text[text_start..];
    let Some(after_open) = rest
        .strip_prefix("+++\n")
        .or_else(|| rest.strip_prefix("+++\r\n"))
    else {
        return Err((
            1,
            "missing front matter: the file must start with a `+++` line".into(),
        ));
    };
    let fm_start = text.len() - after_open.len();
    let mut offset = fm_start;
    let mut close = None;
    for line in after_open.split_inclusive('\n') {
        if line.trim_end() == "+++" {
            close = Some((offset, offset + line.len()));
            break;
        }
        offset += line.len();
    }
    let Some((fm_end, body_start)) = close else {
        return Err((
            1,
            "front matter is not closed: add a `+++` line after it".into(),
        ));
    };
    let raw = &text[fm_start..fm_end];
    match toml::from_str::<FrontMatter>(raw) {
        Ok(mut fm) => {
            fm.raw = raw.to_string();
            if fm.title.trim().is_empty() {
                return Err((fm.line_of("title"), "`title` is empty".into()));
            }
            if fm.summary.trim().is_empty() {
                return Err((fm.line_of("summary"), "`summary` is empty".into()));
            }
            Ok((fm, body_start))
        }
        Err(e) => {
            let line = e.span().map_or(1, |s| line_of(text, fm_start + s.start));
            let message = e.message().trim().to_string();
            Err((line, format!("front matter: {message}")))
        }
    }
}

/// The 1-based line number of byte `offset` in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}
