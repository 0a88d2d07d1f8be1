//! Note Markdown to safe HTML, and the "add a note" button beside every article heading.

use std::collections::HashSet;
use std::sync::LazyLock;

use pulldown_cmark::{Event, Options, Parser};

use crate::Error;
use crate::content::Heading;
use crate::personal::escape;

static SANITIZER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut b = ammonia::Builder::default();
    b.url_schemes(HashSet::from(["http", "https", "mailto"]))
        .link_rel(Some("noopener noreferrer nofollow ugc"))
        .strip_comments(true);
    b
});

/// Deepest nesting of Markdown elements a note may have (block quotes, lists and their
/// items, emphasis...). Real notes stay far below; rendering and sanitizing cost grows
/// faster than linearly with depth, so deeper input is refused before any of it runs.
pub const MAX_DEPTH: usize = 32;
/// Most Markdown elements a note may have.
pub const MAX_ELEMENTS: usize = 10_000;

fn too_deep() -> Error {
    Error::Unprocessable(format!(
        "the note nests block quotes, lists or other elements more than {MAX_DEPTH} levels deep; flatten it"
    ))
}

/// Cheap check of the container markers at the start of each line (`>`, `-`, `*`, `+`,
/// `1.`, `1)`): the nesting a line opens by itself, before the parser sees it.
fn line_depth(line: &str) -> usize {
    let mut depth = 0;
    let mut rest = line;
    loop {
        rest = rest.trim_start_matches([' ', '\t']);
        if let Some(r) = rest.strip_prefix('>') {
            rest = r;
        } else if let Some(r) = rest
            .strip_prefix(['-', '*', '+'])
            .filter(|r| r.starts_with([' ', '\t']))
        {
            rest = r;
        } else {
            let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            match rest[digits..].strip_prefix(['.', ')']) {
                Some(r) if (1..=9).contains(&digits) && r.starts_with([' ', '\t']) => rest = r,
                _ => return depth,
            }
        }
        depth += 1;
        if depth > MAX_DEPTH {
            // Deep enough to refuse: the rest of the line does not matter.
            return depth;
        }
    }
}

/// A note's Markdown as HTML with everything executable removed: no `<script>`, no event
/// handler attributes, no `javascript:`/`data:` links, no styles or frames (ammonia's
/// allow-list of tags and attributes, links limited to http, https and mailto).
///
/// Refused with 422 when the note nests deeper than [`MAX_DEPTH`] or has more than
/// [`MAX_ELEMENTS`] elements. CPU work proportional to the input: call it off the async
/// runtime (see [`super::render_off_runtime`]).
pub fn render_note(body: &str) -> Result<String, Error> {
    if body.lines().any(|l| line_depth(l) > MAX_DEPTH) {
        return Err(too_deep());
    }
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut events = Vec::new();
    let (mut depth, mut elements) = (0usize, 0usize);
    for event in Parser::new_ext(body, options) {
        match &event {
            Event::Start(_) => {
                depth += 1;
                elements += 1;
                if depth > MAX_DEPTH {
                    return Err(too_deep());
                }
                if elements > MAX_ELEMENTS {
                    return Err(Error::Unprocessable(format!(
                        "the note has more than {MAX_ELEMENTS} Markdown elements; split it"
                    )));
                }
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            _ => {}
        }
        events.push(event);
    }
    let mut html = String::with_capacity(body.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, events.into_iter());
    Ok(SANITIZER.clean(&html).to_string())
}

/// [`render_note`] for trusted, already accepted input (tests, tools): the limits still apply.
pub fn render_markdown(body: &str) -> String {
    render_note(body).unwrap_or_else(|e| format!("<p>{}</p>", escape(&e.to_string())))
}

/// The slot after a heading where a signed-in reader's notes on that section go.
pub fn section_slot(anchor: &str) -> String {
    format!("{}{SECTION_SLOT}{anchor}-->", crate::layout::SLOT_OPEN)
}

/// Prefix of the slot names [`section_slot`] makes.
pub const SECTION_SLOT: &str = "notes@";

/// Adds a note button beside every heading of a rendered article page (in the heading's
/// row, after its copy-link button, outside the `<hN>` so the heading is read once), and
/// the slot for that section's notes right under it (the heading markup comes from
/// `content::markdown`: `<div class="heading …"><hN id=…>…</hN><a class="copy-link">…</a></div>`).
pub fn add_note_buttons(page: &str, slug: &str, headings: &[Heading]) -> String {
    let mut out = page.to_string();
    for h in headings {
        let id = escape(&h.id);
        let Some(open) = out.find(&format!("<h{} id=\"{id}\">", h.level)) else {
            continue;
        };
        let close_tag = format!("</h{}>", h.level);
        let Some(row_end) = out[open..]
            .find(&close_tag)
            .and_then(|c| out[open + c..].find("</div>").map(|d| open + c + d))
        else {
            continue;
        };
        let button = format!(
            "<a class=\"note-add\" href=\"/notes/new?article={slug}&amp;anchor={anchor}\" data-note-anchor=\"{id}\" \
             title=\"Add a note on this section\" aria-label=\"Add a note on section: {text}\">✎</a></div>{slot}",
            slug = percent_encoding::utf8_percent_encode(slug, percent_encoding::NON_ALPHANUMERIC),
            anchor =
                percent_encoding::utf8_percent_encode(&h.id, percent_encoding::NON_ALPHANUMERIC),
            text = escape(&h.text),
            slot = section_slot(&h.id),
        );
        out.replace_range(row_end..row_end + "</div>".len(), &button);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_is_rendered_and_scripts_removed() {
        let html = render_markdown(
            "**bold** <script>alert(1)</script> [x](javascript:alert(1)) <img src=x onerror=alert(1)>",
        );
        assert!(html.contains("<strong>bold</strong>"));
        assert!(!html.contains("<script"));
        assert!(!html.contains("javascript:"));
        assert!(!html.contains("onerror"));
    }

    #[test]
    fn deep_or_huge_notes_are_refused_quickly() {
        let started = std::time::Instant::now();
        for body in [
            ">".repeat(32 * 1024),
            "1. ".repeat(10 * 1024),
            (0..300)
                .map(|i| format!("{}- x\n", "  ".repeat(i % 100)))
                .collect(),
            (1..=200).map(|i| format!("{}\n", "> ".repeat(i))).collect(),
            "*a* ".repeat(12 * 1024),
        ] {
            let e = render_note(&body).expect_err("refused");
            assert!(matches!(e, Error::Unprocessable(_)), "{e}");
        }
        // Generous: an unoptimized build on a busy machine.
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        // Ordinary nesting is fine.
        let ok = render_note("> quote\n> - item\n>   1. sub *em **strong***\n").unwrap();
        assert!(
            ok.contains("<blockquote>") && ok.contains("<strong>"),
            "{ok}"
        );
        assert_eq!(line_depth("> > - 1. text"), 4);
        assert_eq!(line_depth("-1. no"), 0);
        assert_eq!(line_depth("2024. a year"), 1);
    }

    #[test]
    fn buttons_go_beside_each_heading_with_a_slot_under_it() {
        let page = "<div class=\"heading\"><h2 id=\"a\"><a>A</a></h2><a class=\"copy-link\">#</a></div>\n<p>x</p>\
                    <div class=\"heading\"><h3 id=\"b\">B</h3><a class=\"copy-link\">#</a></div>";
        let headings = vec![
            Heading {
                level: 2,
                id: "a".into(),
                text: "A".into(),
                line: 1,
            },
            Heading {
                level: 3,
                id: "b".into(),
                text: "B".into(),
                line: 3,
            },
        ];
        let out = add_note_buttons(page, "s", &headings);
        assert!(out.contains("</h2><a class=\"copy-link\">#</a><a class=\"note-add\" href=\"/notes/new?article=s&amp;anchor=a\" data-note-anchor=\"a\" title=\"Add a note on this section\" aria-label=\"Add a note on section: A\">✎</a></div><!--slot:notes@a-->\n<p>x</p>"), "{out}");
        assert!(
            out.ends_with("aria-label=\"Add a note on section: B\">✎</a></div><!--slot:notes@b-->"),
            "{out}"
        );
    }
}
