//! Checks that span articles: unique slugs and aliases, and links that resolve.

use std::collections::HashMap;

use super::{Article, ContentError, err};

/// Maps slugs and aliases to article positions, reporting any name used twice.
pub fn index(
    articles: &[Article],
    errors: &mut Vec<ContentError>,
) -> (HashMap<String, usize>, HashMap<String, usize>) {
    let mut by_slug: HashMap<String, usize> = HashMap::new();
    for (i, a) in articles.iter().enumerate() {
        if let Some(&first) = by_slug.get(&a.slug) {
            let other = &articles[first].path;
            errors.push(err(
                &a.path,
                1,
                format!(
                    "duplicate slug `{}`: also used by {}",
                    a.slug,
                    other.display()
                ),
            ));
        } else {
            by_slug.insert(a.slug.clone(), i);
        }
    }
    let mut by_alias: HashMap<String, usize> = HashMap::new();
    for (i, a) in articles.iter().enumerate() {
        for alias in &a.aliases {
            if by_slug.contains_key(alias) {
                errors.push(err(
                    &a.path,
                    1,
                    format!("alias `{alias}` is the slug of an existing article"),
                ));
            } else if let Some(&first) = by_alias.get(alias) {
                let other = &articles[first].path;
                errors.push(err(
                    &a.path,
                    1,
                    format!("alias `{alias}` is also claimed by {}", other.display()),
                ));
            } else {
                by_alias.insert(alias.clone(), i);
            }
        }
    }
    (by_slug, by_alias)
}

/// Every `/articles/<slug>[#anchor]` and `#anchor` link must point at something that exists.
pub fn links(
    articles: &[Article],
    by_slug: &HashMap<String, usize>,
    by_alias: &HashMap<String, usize>,
    errors: &mut Vec<ContentError>,
) {
    for a in articles {
        for link in a.parts.iter().flat_map(|p| &p.links) {
            let (path, fragment) = match link.dest.split_once('#') {
                Some((p, f)) => (p, Some(f)),
                None => (link.dest.as_str(), None),
            };
            let target = if path.is_empty() {
                Some(a)
            } else if let Some(slug) = path.strip_prefix("/articles/") {
                let slug = slug.trim_end_matches('/');
                match (by_slug.get(slug), by_alias.get(slug)) {
                    (Some(&i), _) => Some(&articles[i]),
                    (None, Some(&i)) => {
                        let msg = format!(
                            "link to `{slug}`, an old name of `{}`: link to the current slug",
                            articles[i].slug
                        );
                        errors.push(err(&a.path, link.line, msg));
                        continue;
                    }
                    (None, None) => {
                        errors.push(err(
                            &a.path,
                            link.line,
                            format!("link to unknown article `{slug}`"),
                        ));
                        continue;
                    }
                }
            } else {
                None // external or non-article link
            };
            if let (Some(t), Some(anchor)) = (target, fragment) {
                if !t.headings.iter().any(|h| h.id == anchor) {
                    let msg = format!(
                        "link to `#{anchor}`, which is not a heading id of `{}`",
                        t.slug
                    );
                    errors.push(err(&a.path, link.line, msg));
                }
            }
        }
    }
}
