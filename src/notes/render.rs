//! Note Markdown to safe HTML, and the "add a note" button beside every article heading.

use std::collections::HashSet;
use std::sync::LazyLock;

use pulldown_cmark::{Options, Parser};

use crate::content::Heading;
use crate::personal::escape;

static SANITIZER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut b = ammonia::Builder::default();
    b.url_schemes(HashSet::from(["http", "https", "mailto"]))
        .link_rel(Some("noopener noreferrer nofollow ugc"))
        .strip_comments(true);
    b
});

/// A note's Markdown as HTML with everything executable removed: no `<script>`, no event
/// handler attributes, no `javascript:`/`data:` links, no styles or frames (ammonia's
/// allow-list of tags and attributes, links limited to http, https and mailto).
pub fn render_markdown(body: &str) -> String {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut html = String::with_capacity(body.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, Parser::new_ext(body, options));
    SANITIZER.clean(&html).to_string()
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
