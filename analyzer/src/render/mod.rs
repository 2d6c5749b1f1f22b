//! Rendering a [`Report`]: every format implements [`Render`] (report in, bytes out, no I/O);
//! [`RenderManager`] pairs the chosen formats with their targets and writes them.

pub(crate) mod html;
pub(crate) mod json;
pub(crate) mod markdown;
pub(crate) mod markup;
pub mod svg;
pub mod table;

use std::io::Write;
use std::path::PathBuf;

use crate::analysis::Report;
use crate::error::Result;
use crate::output::write_atomic;

/// A report format.
pub trait Render {
    /// The report in this format.
    fn render(&self, report: &Report) -> Result<Vec<u8>>;
}

/// Formats selectable on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenderFormat {
    /// Aligned terminal tables.
    Table,
    /// Markdown report shaped like the seed's.
    Markdown,
    /// JSON for machines.
    Json,
    /// One self-contained HTML file with inline charts.
    Html,
}

impl RenderFormat {
    /// The renderer of this format.
    pub fn renderer(self) -> Box<dyn Render> {
        match self {
            RenderFormat::Table => Box::new(table::TableRender),
            RenderFormat::Markdown => Box::new(markdown::MarkdownRender),
            RenderFormat::Json => Box::new(json::JsonRender),
            RenderFormat::Html => Box::new(html::HtmlRender),
        }
    }
}

/// Where rendered bytes go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Standard output.
    Stdout,
    /// A file, written through a temporary file and a rename.
    File(PathBuf),
}

/// Renders a report into several targets.
#[derive(Default)]
pub struct RenderManager {
    outputs: Vec<(Box<dyn Render>, Target)>,
}

impl RenderManager {
    /// Adds a format and its target.
    pub fn add(&mut self, format: RenderFormat, target: Target) {
        self.outputs.push((format.renderer(), target));
    }

    /// Renders everything first, then writes, so a rendering error writes nothing.
    pub fn write(&self, report: &Report) -> Result<()> {
        let rendered: Vec<(Vec<u8>, &Target)> =
            self.outputs.iter().map(|(r, t)| Ok((r.render(report)?, t))).collect::<Result<_>>()?;
        for (bytes, target) in rendered {
            match target {
                Target::Stdout => {
                    let mut out = std::io::stdout().lock();
                    // A terminal gets no raw escape sequence; a pipe or file gets the bytes.
                    if std::io::IsTerminal::is_terminal(&out) {
                        out.write_all(terminal_safe(&String::from_utf8_lossy(&bytes)).as_bytes())?;
                    } else {
                        out.write_all(&bytes)?;
                    }
                    out.flush()?;
                }
                Target::File(path) => write_atomic(path, &bytes)?,
            }
        }
        Ok(())
    }
}

/// Text for a terminal: control characters other than newline and tab (escape sequences that a
/// crafted trace's strings could carry: a host name, a label, a command line) shown escaped
/// (`\u{1b}`) instead of reaching the terminal raw.
pub fn terminal_safe(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod terminal_tests {
    use super::terminal_safe;

    #[test]
    fn escape_sequences_are_shown_not_sent() {
        assert_eq!(terminal_safe("host\u{1b}]0;pwned\u{7}\n\tok"), "host\\u{1b}]0;pwned\\u{7}\n\tok");
        assert_eq!(terminal_safe("csi \u{9b}31m"), "csi \\u{9b}31m");
        assert!(matches!(terminal_safe("plain | table\n"), std::borrow::Cow::Borrowed(_)));
    }
}
