//! Markdown to HTML, as a pure function: text in, [`Rendered`] out.
//!
//! Headings get stable ids and a copy-link anchor; fenced code is highlighted on the
//! server; runnable Python blocks and their `output` blocks are collected as [`Snippet`]s;
//! links are collected for cross-article validation; the text is split at headings into
//! [`Part`]s for search. Problems local to one article are returned with their line.

use std::collections::HashSet;
use std::fmt::Write;
use std::ops::Range;

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};

use super::highlight::Highlighter;
use crate::runtimes::spec::{Minor, VersionSpec, looks_like_spec};

/// The runtime whose output a page shows before the reader picks one (the server's
/// shipped default; `snippet-python.js` switches to the reader's choice).
pub const SHOWN_PYTHON: Minor = Minor::new(3, 14);

/// The pulldown-cmark extensions articles may use, in one place.
fn options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_HEADING_ATTRIBUTES
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heading {
    pub level: u8,
    pub id: String,
    pub text: String,
    pub line: usize,
}

/// A code block that runs: its code, where it is, and the output it should print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    /// Position among the article's runnable snippets, from 0; also its element id suffix.
    pub index: usize,
    pub code: String,
    pub line: usize,
    /// The versions it runs on (```` ```python 3.14+ ````); `None`: every runtime.
    pub python: Option<VersionSpec>,
    /// The `output` blocks that follow it: at most one without a version (for every
    /// runtime no other one matches) and version-specific ones that do not overlap.
    pub outputs: Vec<Expected>,
}

/// One `output` block: what the snippet prints on the versions it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub line: usize,
    /// `None`: the default, for every runtime no versioned block matches.
    pub python: Option<VersionSpec>,
    pub text: String,
}

impl Snippet {
    /// Does the snippet run on `v` (its gate, if any, allows it)?
    pub fn runs_on(&self, v: Minor) -> bool {
        self.python.as_ref().is_none_or(|s| s.matches(v))
    }

    /// The output block that applies to runtime `v`.
    pub fn expected_for(&self, v: Minor) -> Option<&Expected> {
        self.outputs
            .iter()
            .find(|e| e.python.as_ref().is_some_and(|s| s.matches(v)))
            .or_else(|| self.outputs.iter().find(|e| e.python.is_none()))
    }
}

/// A link found in the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub dest: String,
    pub line: usize,
}

/// The body between two headings (the first part has no heading), for search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Part {
    /// The heading id this part starts at; `None` for the text before the first heading.
    pub anchor: Option<String>,
    pub heading: String,
    pub prose: String,
    pub code: String,
    pub links: Vec<Link>,
}

#[derive(Debug, Default)]
pub struct Rendered {
    pub html: String,
    pub headings: Vec<Heading>,
    pub snippets: Vec<Snippet>,
    pub parts: Vec<Part>,
    /// `(line, message)`, lines counted from the start of the text given.
    pub problems: Vec<(usize, String)>,
}

/// The id a heading gets when it sets none: lowercase; letters, digits and `_` kept;
/// spaces and `-` become one `-`; everything else dropped (docs/authoring.md).
pub fn heading_id(text: &str) -> String {
    let mut id = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_alphanumeric() || c == '_' {
            id.extend(c.to_lowercase());
        } else if (c.is_whitespace() || c == '-') && !id.is_empty() && !id.ends_with('-') {
            id.push('-');
        }
    }
    id.trim_end_matches('-').to_string()
}

/// One line of inline Markdown (a summary): `(html, plain text)`, without a wrapping `<p>`.
pub fn inline(text: &str) -> (String, String) {
    let text = code_dunders(text);
    let events: Vec<Event> = Parser::new_ext(&text, options())
        .filter(|e| {
            !matches!(
                e,
                Event::Start(Tag::Paragraph) | Event::End(TagEnd::Paragraph)
            )
        })
        // Raw HTML in a one-line text is shown as typed, never passed through.
        .map(|e| match e {
            Event::Html(h) | Event::InlineHtml(h) => Event::Text(h),
            e => e,
        })
        .collect();
    let plain = events
        .iter()
        .filter_map(|e| match e {
            Event::Text(t) | Event::Code(t) => Some(t.as_ref()),
            Event::SoftBreak | Event::HardBreak => Some(" "),
            _ => None,
        })
        .collect();
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, events.into_iter());
    (html, plain)
}

/// Bare dunder names (`__init__`) outside code spans made code spans, so one-line texts
/// (summaries) written as plain prose keep them instead of turning them into bold text.
fn code_dunders(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("__") {
        return text.into();
    }
    let bytes = text.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut out = String::with_capacity(text.len() + 8);
    let (mut i, mut copied, mut in_code) = (0, 0, false);
    while i < bytes.len() {
        if bytes[i] == b'`' {
            in_code = !in_code;
        } else if !in_code && bytes[i..].starts_with(b"__") && (i == 0 || !word(bytes[i - 1])) {
            // `i` is at an ASCII `_`, so a char boundary: slicing from it is safe.
            let end = i + bytes[i..].iter().take_while(|&&b| word(b)).count();
            let name = &text[i..end];
            let inner = name.trim_matches('_');
            if name.len() > 4 && name.ends_with("__") && !inner.is_empty() && !inner.contains("__")
            {
                out.push_str(&text[copied..i]);
                out.push('`');
                out.push_str(name);
                out.push('`');
                copied = end;
                i = end;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&text[copied..]);
    out.into()
}

pub fn render(text: &str, highlighter: &Highlighter) -> Rendered {
    let lines = LineIndex::new(text);
    let events: Vec<(Event, Range<usize>)> = Parser::new_ext(text, options())
        .into_offset_iter()
        .collect();
    let mut r = Renderer {
        out: Rendered::default(),
        ids: HashSet::new(),
        hl: highlighter,
        lines: &lines,
        pending_outputs: Vec::new(),
    };
    r.out.parts.push(Part::default());
    let mut html_events: Vec<Event> = Vec::new();
    let mut runnable_end: Option<usize> = None;
    let mut outputs_at: Vec<(usize, usize, usize)> = Vec::new();
    let mut i = 0;
    while i < events.len() {
        let (event, range) = &events[i];
        match event {
            Event::Start(Tag::Heading { level, id, .. }) => {
                let end = find_end(&events, i);
                let html = r.heading(*level, id.as_deref(), &events[i + 1..end], range.start);
                html_events.push(Event::Html(html.into()));
                i = end + 1;
                continue;
            }
            Event::Start(Tag::CodeBlock(kind)) => {
                let end = find_end(&events, i);
                let info = match kind {
                    CodeBlockKind::Fenced(info) => info.to_string(),
                    CodeBlockKind::Indented => String::new(),
                };
                let code: String = events[i + 1..end]
                    .iter()
                    .filter_map(|(e, _)| {
                        if let Event::Text(t) = e {
                            Some(t.as_ref())
                        } else {
                            None
                        }
                    })
                    .collect();
                // An `output` block belongs to the runnable block that ends right before it.
                let follows_runnable = runnable_end.is_some_and(|e| e + 1 == i);
                let pending = r.pending_outputs.len();
                let html = r.code_block(&info, &code, range.start, follows_runnable);
                if r.pending_outputs.len() > pending
                    && let Some((snippet, line)) = r.pending_outputs.pop()
                {
                    outputs_at.push((html_events.len(), snippet, line));
                }
                // Several `output` blocks may follow one snippet, one after the other.
                if html.contains("data-snippet=")
                    || (follows_runnable && info.starts_with("output"))
                {
                    runnable_end = Some(end);
                }
                html_events.push(Event::Html(html.into()));
                i = end + 1;
                continue;
            }
            Event::Start(Tag::Link { dest_url, .. })
            | Event::Start(Tag::Image { dest_url, .. }) => {
                let line = lines.line(range.start);
                r.part().links.push(Link {
                    dest: dest_url.to_string(),
                    line,
                });
            }
            Event::Text(t) => r.prose(t),
            Event::Code(t) => r.prose(t),
            Event::SoftBreak | Event::HardBreak => r.prose(" "),
            Event::End(TagEnd::Paragraph | TagEnd::Item | TagEnd::TableCell) => r.prose(" "),
            _ => {}
        }
        html_events.push(event.clone());
        i += 1;
    }
    fix_outputs(&mut html_events, &outputs_at, &r.out.snippets);
    let mut html = String::with_capacity(text.len() * 2);
    pulldown_cmark::html::push_html(&mut html, html_events.into_iter());
    r.out.html = html;
    r.out
}

/// Index of the `End` matching the `Start` at `start`.
fn find_end(events: &[(Event, Range<usize>)], start: usize) -> usize {
    let mut depth = 0usize;
    for (j, (e, _)) in events.iter().enumerate().skip(start) {
        match e {
            Event::Start(_) => depth += 1,
            Event::End(_) => {
                depth -= 1;
                if depth == 0 {
                    return j;
                }
            }
            _ => {}
        }
    }
    events.len() - 1
}

struct Renderer<'a> {
    out: Rendered,
    ids: HashSet<String>,
    hl: &'a Highlighter,
    lines: &'a LineIndex,
    /// `(snippet index, line)` of the `output` block just accepted, for [`fix_outputs`].
    pending_outputs: Vec<(usize, usize)>,
}

impl Renderer<'_> {
    fn part(&mut self) -> &mut Part {
        self.out.parts.last_mut().expect("there is always a part")
    }

    fn prose(&mut self, text: &str) {
        self.part().prose.push_str(text);
    }

    fn heading(
        &mut self,
        level: HeadingLevel,
        explicit: Option<&str>,
        inner: &[(Event, Range<usize>)],
        at: usize,
    ) -> String {
        let line = self.lines.line(at);
        let text: String = inner
            .iter()
            .filter_map(|(e, _)| match e {
                Event::Text(t) | Event::Code(t) => Some(t.as_ref()),
                _ => None,
            })
            .collect();
        let id = explicit.map_or_else(|| heading_id(&text), str::to_string);
        let level_n = level as u8;
        if level_n == 1 {
            self.out.problems.push((
                line,
                "use `##` and below: the page already shows the title as the only `#` heading"
                    .into(),
            ));
        }
        if id.is_empty() {
            self.out.problems.push((
                line,
                format!(
                    "heading `{text}` has no letters or digits to make an id from; add {{#some-id}}"
                ),
            ));
        } else if !self.ids.insert(id.clone()) {
            self.out.problems.push((line, format!("duplicate heading id `{id}`: make the heading text distinct or set {{#another-id}}")));
        }
        self.out.headings.push(Heading {
            level: level_n,
            id: id.clone(),
            text: text.clone(),
            line,
        });
        self.out.parts.push(Part {
            anchor: Some(id.clone()),
            heading: text.clone(),
            ..Part::default()
        });
        let mut inner_html = String::new();
        pulldown_cmark::html::push_html(&mut inner_html, inner.iter().map(|(e, _)| e.clone()));
        let id = escape(&id);
        // The copy-link button sits beside the heading, not inside it, so a screen reader
        // reads the heading once; `notes::add_note_buttons` adds its button in the same row.
        format!(
            "<div class=\"heading heading-{level_n}\"><h{level_n} id=\"{id}\"><a class=\"heading-anchor\" href=\"#{id}\">{inner_html}</a></h{level_n}>\
             <a class=\"copy-link\" href=\"#{id}\" data-copy-link=\"{id}\" title=\"Copy link to this section\" \
             aria-label=\"Copy link to section: {}\">#</a></div>\n",
            escape(&text)
        )
    }

    fn code_block(&mut self, info: &str, code: &str, at: usize, follows_runnable: bool) -> String {
        let line = self.lines.line(at);
        let mut words = info.split_whitespace();
        let lang = words.next().unwrap_or("text");
        let flags: Vec<&str> = words.collect();
        let part = self.part();
        part.code.push_str(code);
        part.code.push('\n');
        match lang {
            "output" => self.output_block(&flags, code, line, follows_runnable),
            "python" | "py" if !flags.contains(&"norun") => {
                let index = self.out.snippets.len();
                let python = self.spec_of(&flags, line);
                let html = runnable_snippet_html(
                    index,
                    code,
                    &self.hl.highlight("python", code),
                    python.as_ref(),
                );
                self.out.snippets.push(Snippet {
                    index,
                    code: code.to_string(),
                    line,
                    python,
                    outputs: Vec::new(),
                });
                html
            }
            _ => {
                let label = Highlighter::label(lang);
                let mut html = String::new();
                let _ = writeln!(
                    html,
                    "<figure class=\"code-block\"><figcaption>{}</figcaption><pre class=\"code\" tabindex=\"0\"><code class=\"language-{}\">{}</code></pre></figure>",
                    escape(label),
                    escape(lang),
                    self.hl.highlight(lang, code)
                );
                html
            }
        }
    }
}

impl Renderer<'_> {
    /// The version spec among a fence's words (`3.11-3.12`, `3.11, 3.13+`), if any.
    fn spec_of(&mut self, flags: &[&str], line: usize) -> Option<VersionSpec> {
        let words: Vec<&str> = flags
            .iter()
            .copied()
            .filter(|w| looks_like_spec(w))
            .collect();
        if words.is_empty() {
            return None;
        }
        match words.concat().parse() {
            Ok(spec) => Some(spec),
            Err(e) => {
                self.out.problems.push((
                    line,
                    format!("bad Python version spec: {e} (write e.g. 3.13, 3.13+, 3.11-3.12 or 3.11,3.13+)"),
                ));
                None
            }
        }
    }

    /// An `output` block, default or version-specific, belonging to the snippet before it.
    fn output_block(&mut self, flags: &[&str], code: &str, line: usize, follows: bool) -> String {
        let python = self.spec_of(flags, line);
        match self.out.snippets.last_mut().filter(|_| follows) {
            None => self.out.problems.push((
                line,
                "an `output` block must directly follow a runnable ```python block".into(),
            )),
            Some(s) => {
                let clash = s.outputs.iter().find(|e| match (&e.python, &python) {
                    (None, None) => true,
                    (Some(a), Some(b)) => a.overlaps(b),
                    _ => false,
                });
                let problem = if let Some(e) = clash {
                    // (Lines here count from the body's start: name the other block by its spec.)
                    let other = e.python.as_ref().map(ToString::to_string);
                    Some(match &python {
                        None => "a second `output` block without a version; name the versions, \
                                 e.g. ```output 3.13+"
                            .to_string(),
                        Some(spec) => format!(
                            "`output {spec}` overlaps `output {}` above: each version may have one expected output",
                            other.unwrap_or_default()
                        ),
                    })
                } else if let (Some(gate), Some(spec)) = (&s.python, &python) {
                    (!gate.overlaps(spec)).then(|| {
                        format!(
                            "`output {spec}` names no version the snippet runs on (python {gate})"
                        )
                    })
                } else {
                    None
                };
                if let Some(message) = problem {
                    self.out.problems.push((line, message));
                } else {
                    s.outputs.push(Expected {
                        line,
                        python: python.clone(),
                        text: code.to_string(),
                    });
                    self.pending_outputs.push((s.index, line));
                }
            }
        }
        output_html(python.as_ref(), code, true, false)
    }
}

/// The markup of an `output` block. `hidden`: not the output of the version the page
/// shows first; `several`: the snippet has version-specific outputs, so the default one
/// is labelled as such.
fn output_html(python: Option<&VersionSpec>, text: &str, shown: bool, several: bool) -> String {
    let label = match python {
        Some(spec) => format!("Expected output, Python {spec}"),
        None if several => "Expected output, other versions".to_string(),
        None => "Expected output".to_string(),
    };
    let spec_attr = python.map(ToString::to_string).unwrap_or_default();
    format!(
        "<figure class=\"output-block\" data-python=\"{}\"{}><figcaption><span class=\"output-label\">{}</span></figcaption><pre tabindex=\"0\"><code>{}</code></pre></figure>\n",
        escape(&spec_attr),
        if shown { "" } else { " hidden" },
        escape(&label),
        escape(text)
    )
}

/// Once a snippet's outputs are all known: which one the page shows first (the one for
/// [`SHOWN_PYTHON`], or the first when the snippet does not run there), and labels.
fn fix_outputs(html_events: &mut [Event], at: &[(usize, usize, usize)], snippets: &[Snippet]) {
    for &(event, snippet, line) in at {
        let Some(s) = snippets.get(snippet) else {
            continue;
        };
        let Some(e) = s.outputs.iter().find(|e| e.line == line) else {
            continue;
        };
        let wanted = if s.runs_on(SHOWN_PYTHON) {
            s.expected_for(SHOWN_PYTHON)
        } else {
            s.outputs.first()
        };
        let shown = wanted.is_some_and(|w| w.line == line);
        let html = output_html(e.python.as_ref(), &e.text, shown, s.outputs.len() > 1);
        html_events[event] = Event::Html(html.into());
    }
}

/// Byte offset → 1-based line number.
struct LineIndex(Vec<usize>);

impl LineIndex {
    fn new(text: &str) -> Self {
        Self(
            std::iter::once(0)
                .chain(text.match_indices('\n').map(|(i, _)| i + 1))
                .collect(),
        )
    }
    fn line(&self, offset: usize) -> usize {
        self.0.partition_point(|&start| start <= offset)
    }
}

/// The markup of a runnable snippet, `highlighted` being its code as highlighted HTML.
/// Article pages and shared-snippet pages (`/s/{id}`) both use it, so `run.js` enhances
/// them alike. The Run button is a form, so it works without JavaScript (POST /run
/// answers with a result page); run.js runs the code in place instead.
pub fn runnable_snippet_html(
    index: usize,
    code: &str,
    highlighted: &str,
    python: Option<&VersionSpec>,
) -> String {
    let (label, attr) = match python {
        Some(spec) => (format!("Python {spec}"), format!(" data-python=\"{spec}\"")),
        None => ("Python".to_string(), String::new()),
    };
    format!(
        "<figure class=\"snippet\" id=\"snippet-{index}\" data-snippet=\"{index}\"{attr}><figcaption><span>{label}</span>\
         <span class=\"snippet-actions\"><form class=\"run-form\" method=\"post\" action=\"/run\">\
         <!--slot:csrf--><input type=\"hidden\" name=\"code\" value=\"{}\"><button type=\"submit\">Run</button></form></span></figcaption>\
         <pre class=\"code\"><code class=\"language-python\">{highlighted}</code></pre></figure>\n",
        escape(code),
    )
}

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    pulldown_cmark_escape::escape_html(&mut out, s).expect("writing to a String cannot fail");
    out
}
