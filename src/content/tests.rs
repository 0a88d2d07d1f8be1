//! Every content error `snakepit check` promises, each named at `file:line`.

use std::path::Path;

use super::*;

const SECTIONS: &str = "[[section]]\nid = \"basics\"\ntitle = \"Basics\"\n\n[[section]]\nid = \"deep\"\ntitle = \"Deep\"\n";

fn article(title: &str, extra: &str, body: &str) -> String {
    format!("+++\ntitle = \"{title}\"\nsummary = \"About {title}.\"\n{extra}+++\n{body}")
}

/// Writes `files` (path, text) under a fresh directory with the sections file, then loads it.
fn load_files(files: &[(&str, &str)]) -> Result<Library, ContentErrors> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sections.toml"), SECTIONS).unwrap();
    for (path, text) in files {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }
    load(dir.path())
}

/// The single error expected, as `(file name, line, message)`.
fn only_error(files: &[(&str, &str)]) -> (String, usize, String) {
    let errors = load_files(files).expect_err("content should be rejected").0;
    assert_eq!(errors.len(), 1, "expected one error, got: {errors:#?}");
    let e = &errors[0];
    let name = e
        .file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap()
        .to_string();
    (name, e.line, e.message.clone())
}

#[test]
fn valid_content_loads_in_reading_order() {
    let lib = load_files(&[
        ("deep/z.md", &article("Zed", "order = 1\n", "Text.\n")),
        (
            "basics/b.md",
            &article("Bee", "order = 2\n", "## One\n\n[a](/articles/a#intro)\n"),
        ),
        (
            "basics/a.md",
            &article(
                "Ay",
                "order = 1\naliases = [\"old-a\"]\n",
                "## Intro\n\nHello.\n",
            ),
        ),
    ])
    .unwrap();
    let slugs: Vec<&str> = lib.articles.iter().map(|a| a.slug.as_str()).collect();
    assert_eq!(slugs, ["a", "b", "z"]);
    assert_eq!(lib.alias_target("old-a").unwrap().slug, "a");
    let (prev, next) = lib.neighbours("b");
    assert_eq!(
        (prev.unwrap().slug.as_str(), next.unwrap().slug.as_str()),
        ("a", "z")
    );
}

#[test]
fn malformed_front_matter_names_its_line() {
    let text = "+++\ntitle = \"Broken\"\nsummary = \"x\"\ntags = [\"a\",\n+++\nBody\n";
    let (file, line, message) = only_error(&[("basics/broken.md", text)]);
    assert_eq!(file, "broken.md");
    assert_eq!(line, 4, "{message}");
    assert!(message.starts_with("front matter:"), "{message}");
}

#[test]
fn missing_front_matter_is_reported() {
    let (_, line, message) = only_error(&[("basics/bare.md", "# Just markdown\n")]);
    assert_eq!(line, 1);
    assert!(message.contains("missing front matter"), "{message}");
}

#[test]
fn unclosed_front_matter_is_reported() {
    let (_, _, message) = only_error(&[("basics/open.md", "+++\ntitle = \"x\"\n\nBody\n")]);
    assert!(message.contains("not closed"), "{message}");
}

#[test]
fn unknown_key_is_named_with_its_line() {
    let text = article("Typo", "sumary = \"oops\"\n", "Body\n");
    let (_, line, message) = only_error(&[("basics/typo.md", &text)]);
    assert_eq!(line, 4);
    assert!(message.contains("unknown field `sumary`"), "{message}");
}

#[test]
fn missing_title_is_reported() {
    let text = "+++\nsummary = \"No title here.\"\n+++\nBody\n";
    let (_, _, message) = only_error(&[("basics/untitled.md", text)]);
    assert!(message.contains("missing field `title`"), "{message}");
}

#[test]
fn unknown_section_is_reported() {
    let text = article("Lost", "section = \"nowhere\"\n", "Body\n");
    let (_, line, message) = only_error(&[("basics/lost.md", &text)]);
    assert_eq!(line, 4);
    assert!(message.contains("unknown section `nowhere`"), "{message}");
}

#[test]
fn duplicate_slugs_are_reported() {
    let (file, _, message) = only_error(&[
        ("basics/one.md", &article("One", "slug = \"same\"\n", "A\n")),
        ("deep/two.md", &article("Two", "slug = \"same\"\n", "B\n")),
    ]);
    assert_eq!(file, "two.md");
    assert!(
        message.contains("duplicate slug `same`") && message.contains("one.md"),
        "{message}"
    );
}

#[test]
fn link_to_missing_article_names_its_line() {
    let body = "Intro.\n\nSee [this](/articles/nope) too.\n";
    let (file, line, message) = only_error(&[("basics/linker.md", &article("Linker", "", body))]);
    assert_eq!((file.as_str(), line), ("linker.md", 7));
    assert!(message.contains("unknown article `nope`"), "{message}");
}

#[test]
fn link_to_missing_anchor_is_reported() {
    let (_, line, message) = only_error(&[
        ("basics/a.md", &article("Ay", "", "## Real heading\n")),
        (
            "basics/b.md",
            &article("Bee", "", "[x](/articles/a#fake-heading)\n"),
        ),
    ]);
    assert_eq!(line, 5);
    assert!(message.contains("`#fake-heading`"), "{message}");
}

#[test]
fn in_page_anchor_must_exist() {
    let (_, _, message) = only_error(&[(
        "basics/a.md",
        &article("Ay", "", "## Here\n\n[jump](#there)\n"),
    )]);
    assert!(message.contains("`#there`"), "{message}");
}

#[test]
fn duplicate_heading_ids_are_reported() {
    let body = "## Setup\n\ntext\n\n## Setup\n";
    let (_, line, message) = only_error(&[("basics/dup.md", &article("Dup", "", body))]);
    assert_eq!(line, 9);
    assert!(
        message.contains("duplicate heading id `setup`"),
        "{message}"
    );
}

#[test]
fn output_must_follow_a_runnable_block() {
    let body = "```python norun\nprint(1)\n```\n\n```output\n1\n```\n";
    let (_, line, message) = only_error(&[("basics/out.md", &article("Out", "", body))]);
    assert_eq!(line, 9);
    assert!(message.contains("must directly follow"), "{message}");
}

#[test]
fn every_problem_is_reported_at_once() {
    let errors = load_files(&[
        ("basics/a.md", &article("Ay", "colour = 1\n", "")),
        (
            "basics/b.md",
            &article("Bee", "", "[x](/articles/missing)\n\n## H\n\n## H\n"),
        ),
    ])
    .unwrap_err()
    .0;
    assert_eq!(errors.len(), 3, "{errors:#?}");
    let shown = ContentErrors(errors).to_string();
    assert!(shown.ends_with("3 problem(s) in content"), "{shown}");
}

#[test]
fn snippets_and_expected_output_are_collected() {
    let body =
        "```python\nprint('hi')\n```\n\n```output\nhi\n```\n\n```python norun\nimport numpy\n```\n";
    let lib = load_files(&[("basics/s.md", &article("Snip", "", body))]).unwrap();
    let a = lib.article("s").unwrap();
    assert_eq!(a.snippets.len(), 1);
    assert_eq!(a.snippets[0].code, "print('hi')\n");
    assert_eq!(a.snippets[0].line, 5);
    let expected = &a.snippets[0].outputs;
    assert_eq!((expected[0].line, expected[0].text.as_str()), (9, "hi\n"));
}

#[test]
fn heading_ids_follow_the_documented_rule() {
    use super::markdown::heading_id;
    assert_eq!(heading_id("Why does `+=` fail?"), "why-does-fail");
    assert_eq!(
        heading_id("The __slots__ trade-off"),
        "the-__slots__-trade-off"
    );
    assert_eq!(heading_id("  Ünïcode  works  "), "ünïcode-works");
    assert_eq!(heading_id("3.12 changes"), "312-changes");
}

#[test]
fn explicit_heading_id_wins() {
    let lib = load_files(&[("basics/e.md", &article("E", "", "## The fix {#fix}\n"))]).unwrap();
    let h = &lib.article("e").unwrap().headings[0];
    assert_eq!((h.id.as_str(), h.text.as_str()), ("fix", "The fix"));
}

#[test]
fn markdown_files_outside_sections_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sections.toml"), SECTIONS).unwrap();
    std::fs::write(dir.path().join("stray.md"), article("Stray", "", "")).unwrap();
    let errors = load(dir.path()).unwrap_err().0;
    assert!(errors[0].message.contains("section folder"), "{errors:?}");
    assert!(Path::new(&errors[0].file).ends_with("stray.md"));
}

#[test]
fn version_gates_and_versioned_outputs_are_collected() {
    use crate::runtimes::Minor;
    let body = "```python 3.14+\nprint(1)\n```\n\n```python\nimport sys\n```\n\n```output 3.11-3.12\nold\n```\n\n```output\nnew\n```\n";
    let lib = load_files(&[("basics/v.md", &article("Vers", "", body))]).unwrap();
    let a = lib.article("v").unwrap();
    let (gated, split) = (&a.snippets[0], &a.snippets[1]);
    assert!(gated.runs_on(Minor::new(3, 15)) && !gated.runs_on(Minor::new(3, 13)));
    assert!(split.runs_on(Minor::new(3, 11)));
    let for_version = |minor: u8| {
        split
            .expected_for(Minor::new(3, minor))
            .map(|e| e.text.as_str())
    };
    assert_eq!(for_version(11), Some("old\n"));
    assert_eq!(for_version(12), Some("old\n"));
    assert_eq!(for_version(13), Some("new\n"));
    assert_eq!(split.outputs[0].line, 13);
    // The page labels the gate, shows 3.14's output and hides the other one.
    assert!(
        a.html
            .contains("data-python=\"3.14+\"><figcaption><span>Python 3.14+</span>"),
        "{}",
        a.html
    );
    assert!(
        a.html
            .contains("data-python=\"3.11-3.12\" hidden><figcaption><span class=\"output-label\">Expected output, Python 3.11-3.12"),
        "{}",
        a.html
    );
    assert!(
        a.html
            .contains("data-python=\"\"><figcaption><span class=\"output-label\">Expected output, other versions"),
        "{}",
        a.html
    );
}

#[test]
fn overlapping_output_versions_are_errors_at_their_line() {
    let body =
        "```python\nprint(1)\n```\n\n```output 3.11-3.13\n1\n```\n\n```output 3.13+\n1\n```\n";
    let (_, line, message) = only_error(&[("basics/o.md", &article("Over", "", body))]);
    assert_eq!(line, 13);
    assert!(
        message.contains("`output 3.13+` overlaps `output 3.11-3.13` above"),
        "{message}"
    );

    let body = "```python\nprint(1)\n```\n\n```output\n1\n```\n\n```output\n1\n```\n";
    let (_, line, message) = only_error(&[("basics/o.md", &article("Over", "", body))]);
    assert_eq!(line, 13);
    assert!(
        message.contains("a second `output` block without a version"),
        "{message}"
    );

    let body = "```python 3.14+\nprint(1)\n```\n\n```output 3.11\n1\n```\n";
    let (_, _, message) = only_error(&[("basics/o.md", &article("Over", "", body))]);
    assert!(
        message.contains("names no version the snippet runs on"),
        "{message}"
    );

    let body = "```python 3.x\nprint(1)\n```\n";
    let (_, line, message) = only_error(&[("basics/o.md", &article("Over", "", body))]);
    assert_eq!(line, 5);
    assert!(message.contains("bad Python version spec"), "{message}");
}

#[test]
fn summaries_keep_their_dunders_and_code() {
    use super::markdown::inline;
    let (html, plain) = inline("How __new__/__init__, `__repr__` and __call__ work; *really* <b>.");
    assert_eq!(
        html,
        "How <code>__new__</code>/<code>__init__</code>, <code>__repr__</code> and \
         <code>__call__</code> work; <em>really</em> &lt;b&gt;."
    );
    assert_eq!(
        plain,
        "How __new__/__init__, __repr__ and __call__ work; really <b>."
    );
    // Emphasis with underscores still works where it is not a name.
    assert_eq!(inline("a __bold__ b").0, "a <code>__bold__</code> b");
    assert_eq!(
        inline("snake_case__x and __ alone").0,
        "snake_case__x and __ alone"
    );
}
