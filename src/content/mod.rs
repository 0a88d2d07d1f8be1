//! Content: the articles in `content/`, loaded, rendered and validated once at start-up.
//!
//! `load` reads `sections.toml` and every `<section>/<slug>.md`, renders each article's
//! Markdown (see [`markdown`]) and checks everything that spans articles (slugs, aliases,
//! links and anchors). Every problem is collected as a [`ContentError`] naming `file:line`,
//! so `snakepit check` can report them all at once and `serve` can refuse to start.

mod front_matter;
pub mod highlight;
pub mod markdown;
mod validate;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use markdown::{Heading, Part, Snippet};

/// One problem in the content, located at `file:line`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentError {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ContentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

/// Every problem found while loading; never empty.
#[derive(Debug)]
pub struct ContentErrors(pub Vec<ContentError>);

impl fmt::Display for ContentErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.0 {
            writeln!(f, "{e}")?;
        }
        write!(f, "{} problem(s) in content", self.0.len())
    }
}

impl std::error::Error for ContentErrors {}

/// A section of the knowledge base, as listed in `sections.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
}

/// A rendered article with everything pages, search and `check` need.
#[derive(Debug, Clone)]
pub struct Article {
    pub slug: String,
    pub title: String,
    /// The one-sentence summary as plain text (meta tags, search results)…
    pub summary: String,
    /// …and as HTML, its inline Markdown (code spans) rendered.
    pub summary_html: String,
    /// The id of the section it belongs to.
    pub section: String,
    pub order: i64,
    pub tags: Vec<String>,
    /// Exception messages the article explains, for pasted-error search.
    pub errors: Vec<String>,
    /// Old slugs that redirect here.
    pub aliases: Vec<String>,
    /// Questions the article answers, in readers' words, for search.
    pub questions: Vec<String>,
    /// Path of the source file, as given (relative to the working directory).
    pub path: PathBuf,
    /// The body rendered to HTML (headings with ids, highlighted code).
    pub html: String,
    pub headings: Vec<Heading>,
    pub snippets: Vec<Snippet>,
    /// The body's text split at headings, for search.
    pub parts: Vec<Part>,
}

/// All content, in reading order: sections as listed, articles by `order` then title.
#[derive(Debug, Clone)]
pub struct Library {
    pub sections: Vec<Section>,
    pub articles: Vec<Article>,
    /// `search-vocabulary.toml`: readers' phrasings mapped to the articles' words.
    pub vocabulary: crate::search::vocabulary::Vocabulary,
    by_slug: HashMap<String, usize>,
    by_alias: HashMap<String, usize>,
}

impl Library {
    pub fn article(&self, slug: &str) -> Option<&Article> {
        self.by_slug.get(slug).map(|&i| &self.articles[i])
    }

    /// The article an old slug now points to.
    pub fn alias_target(&self, alias: &str) -> Option<&Article> {
        self.by_alias.get(alias).map(|&i| &self.articles[i])
    }

    pub fn section(&self, id: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.id == id)
    }

    /// The articles before and after `slug` in reading order.
    pub fn neighbours(&self, slug: &str) -> (Option<&Article>, Option<&Article>) {
        match self.by_slug.get(slug) {
            Some(&i) => (
                i.checked_sub(1).map(|p| &self.articles[p]),
                self.articles.get(i + 1),
            ),
            None => (None, None),
        }
    }

    /// The articles of one section, in order.
    pub fn in_section<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Article> + 'a {
        self.articles.iter().filter(move |a| a.section == id)
    }
}

/// Loads, renders and validates everything under `dir`.
pub fn load(dir: &Path) -> Result<Library, ContentErrors> {
    let mut errors = Vec::new();
    let sections = load_sections(dir, &mut errors);
    let mut articles = Vec::new();
    let highlighter = highlight::Highlighter::new();
    for path in article_paths(dir, &mut errors) {
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                if let Some(a) = parse_article(&path, &text, &sections, &highlighter, &mut errors) {
                    articles.push(a);
                }
            }
            Err(e) => errors.push(err(&path, 1, format!("cannot read file: {e}"))),
        }
    }
    let order: HashMap<&str, usize> = sections
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    articles.sort_by(|a, b| {
        let sa = order.get(a.section.as_str()).copied().unwrap_or(usize::MAX);
        let sb = order.get(b.section.as_str()).copied().unwrap_or(usize::MAX);
        (sa, a.order, &a.title).cmp(&(sb, b.order, &b.title))
    });
    let vocabulary =
        crate::search::vocabulary::Vocabulary::load(dir).unwrap_or_else(|(line, e)| {
            let path = dir.join(crate::search::vocabulary::FILE);
            errors.push(err(&path, line, e));
            Default::default()
        });
    let (by_slug, by_alias) = validate::index(&articles, &mut errors);
    validate::links(&articles, &by_slug, &by_alias, &mut errors);
    if errors.is_empty() {
        Ok(Library {
            sections,
            articles,
            vocabulary,
            by_slug,
            by_alias,
        })
    } else {
        errors.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        Err(ContentErrors(errors))
    }
}

fn err(file: &Path, line: usize, message: impl Into<String>) -> ContentError {
    ContentError {
        file: file.to_path_buf(),
        line,
        message: message.into(),
    }
}

fn load_sections(dir: &Path, errors: &mut Vec<ContentError>) -> Vec<Section> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        section: Vec<Section>,
    }
    let path = dir.join("sections.toml");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            errors.push(err(&path, 1, format!("cannot read the section list: {e}")));
            return Vec::new();
        }
    };
    match toml::from_str::<File>(&text) {
        Ok(f) => {
            let mut seen = HashMap::new();
            for s in &f.section {
                if seen.insert(s.id.clone(), ()).is_some() {
                    errors.push(err(
                        &path,
                        1,
                        format!("section id `{}` is listed twice", s.id),
                    ));
                }
            }
            f.section
        }
        Err(e) => {
            let line = e
                .span()
                .map_or(1, |s| front_matter::line_of(&text, s.start));
            errors.push(err(&path, line, e.message().to_string()));
            Vec::new()
        }
    }
}

/// `<dir>/<section>/*.md`, sorted so reports are stable. Markdown files elsewhere are errors.
fn article_paths(dir: &Path, errors: &mut Vec<ContentError>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            errors.push(err(
                dir,
                1,
                format!("cannot read the content directory: {e}"),
            ));
            return out;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Ok(files) = std::fs::read_dir(&path) {
                out.extend(
                    files
                        .flatten()
                        .map(|f| f.path())
                        .filter(|p| p.extension().is_some_and(|e| e == "md")),
                );
            }
        } else if path.extension().is_some_and(|e| e == "md") {
            errors.push(err(
                &path,
                1,
                "articles belong in a section folder: content/<section-id>/<slug>.md",
            ));
        }
    }
    out.sort();
    out
}

fn parse_article(
    path: &Path,
    text: &str,
    sections: &[Section],
    highlighter: &highlight::Highlighter,
    errors: &mut Vec<ContentError>,
) -> Option<Article> {
    let (fm, body_start) = match front_matter::parse(text) {
        Ok(parsed) => parsed,
        Err((line, message)) => {
            errors.push(err(path, line, message));
            return None;
        }
    };
    let folder = path
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let section = fm.section.clone().unwrap_or_else(|| folder.to_string());
    if !sections.iter().any(|s| s.id == section) {
        let known: Vec<&str> = sections.iter().map(|s| s.id.as_str()).collect();
        errors.push(err(
            path,
            fm.line_of("section"),
            format!("unknown section `{section}` (known: {})", known.join(", ")),
        ));
    }
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let slug = fm.slug.clone().unwrap_or_else(|| stem.to_string());
    if !valid_slug(&slug) {
        errors.push(err(
            path,
            fm.line_of("slug"),
            format!("slug `{slug}` must be lowercase letters, digits and `-`"),
        ));
    }
    for alias in &fm.aliases {
        if !valid_slug(alias) {
            errors.push(err(
                path,
                fm.line_of("aliases"),
                format!("alias `{alias}` must be lowercase letters, digits and `-`"),
            ));
        }
    }
    let rendered = markdown::render(&text[body_start..], highlighter);
    let first_body_line = front_matter::line_of(text, body_start);
    for (line, message) in rendered.problems {
        errors.push(err(path, first_body_line + line - 1, message));
    }
    let shift = |line: usize| first_body_line + line - 1;
    let (summary_html, summary) = markdown::inline(&fm.summary);
    Some(Article {
        slug,
        title: fm.title,
        summary,
        summary_html,
        section,
        order: fm.order,
        tags: fm.tags,
        errors: fm.errors,
        aliases: fm.aliases,
        questions: fm.questions,
        path: path.to_path_buf(),
        html: rendered.html,
        headings: rendered
            .headings
            .into_iter()
            .map(|h| Heading {
                line: shift(h.line),
                ..h
            })
            .collect(),
        snippets: rendered
            .snippets
            .into_iter()
            .map(|s| Snippet {
                line: shift(s.line),
                outputs: s
                    .outputs
                    .into_iter()
                    .map(|e| markdown::Expected {
                        line: shift(e.line),
                        ..e
                    })
                    .collect(),
                ..s
            })
            .collect(),
        parts: rendered.parts,
    })
    .map(|mut a| {
        // Links are validated across articles later; keep their lines file-relative.
        for link in &mut a.parts {
            for l in &mut link.links {
                l.line = shift(l.line);
            }
        }
        a
    })
}

fn valid_slug(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

#[cfg(test)]
mod tests;
