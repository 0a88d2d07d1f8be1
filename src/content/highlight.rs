//! Server-side syntax highlighting with syntect, emitting CSS classes (`hl-*`) so the
//! light and dark themes are plain stylesheet rules and the CSP needs no inline styles.

use syntect::html::{ClassStyle, ClassedHTMLGenerator};
use syntect::parsing::{SyntaxDefinition, SyntaxReference, SyntaxSet};
use syntect::util::LinesWithEndings;

const TOML_SYNTAX: &str = include_str!("syntaxes/TOML.sublime-syntax");
const CLASS_STYLE: ClassStyle = ClassStyle::SpacedPrefixed { prefix: "hl-" };

/// The grammars we ship: syntect's defaults (Python, shell, …) plus TOML.
pub struct Highlighter {
    syntaxes: SyntaxSet,
}

impl Default for Highlighter {
    fn default() -> Self {
        Self::new()
    }
}

impl Highlighter {
    pub fn new() -> Self {
        let mut builder = SyntaxSet::load_defaults_newlines().into_builder();
        let toml = SyntaxDefinition::load_from_str(TOML_SYNTAX, true, Some("TOML"))
            .expect("the bundled TOML grammar is valid (covered by a unit test)");
        builder.add(toml);
        Self {
            syntaxes: builder.build(),
        }
    }

    /// A human label for a fence's language.
    pub fn label(lang: &str) -> &str {
        match lang {
            "python" | "py" => "Python",
            "shell" | "sh" | "bash" | "console" => "Shell",
            "toml" => "TOML",
            "json" => "JSON",
            "yaml" | "yml" => "YAML",
            "sql" => "SQL",
            "ini" | "cfg" => "INI",
            "diff" => "Diff",
            "" | "text" | "plain" => "Text",
            other => other,
        }
    }

    fn syntax(&self, lang: &str) -> Option<&SyntaxReference> {
        let token = match lang {
            "shell" | "console" => "sh",
            "py" => "python",
            other => other,
        };
        self.syntaxes.find_syntax_by_token(token)
    }

    /// The code as HTML: highlighted spans, or just escaped for unknown languages and text.
    pub fn highlight(&self, lang: &str, code: &str) -> String {
        let Some(syntax) = self
            .syntax(lang)
            .filter(|_| !matches!(lang, "text" | "plain" | ""))
        else {
            return super::markdown::escape(code);
        };
        let mut generator =
            ClassedHTMLGenerator::new_with_class_style(syntax, &self.syntaxes, CLASS_STYLE);
        for line in LinesWithEndings::from(code) {
            if generator
                .parse_html_for_line_which_includes_newline(line)
                .is_err()
            {
                return super::markdown::escape(code);
            }
        }
        generator.finalize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highlights_python_shell_and_toml() {
        let h = Highlighter::new();
        let py = h.highlight("python", "def f():\n    return 'x'\n");
        assert!(
            py.contains("hl-keyword") || py.contains("hl-storage"),
            "{py}"
        );
        assert!(py.contains("hl-string"), "{py}");
        let sh = h.highlight("shell", "echo \"hi\" # note\n");
        assert!(sh.contains("hl-comment"), "{sh}");
        let toml = h.highlight("toml", "[project]\nname = \"demo\" # x\n");
        assert!(
            toml.contains("hl-entity") && toml.contains("hl-string") && toml.contains("hl-comment"),
            "{toml}"
        );
    }

    #[test]
    fn text_is_only_escaped() {
        let h = Highlighter::new();
        assert_eq!(h.highlight("text", "<b>&</b>"), "&lt;b&gt;&amp;&lt;/b&gt;");
        assert_eq!(h.highlight("nosuchlang", "a<b"), "a&lt;b");
    }
}
