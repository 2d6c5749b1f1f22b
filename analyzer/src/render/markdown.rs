//! Markdown report in the shape of the seed's: summary, ranking, scaling, distribution,
//! recommendations, how it was run.

use super::markup::{Align, Markup, Table};

/// GitHub-flavoured Markdown.
pub(crate) struct MarkdownRender;

fn escape(cell: &str) -> String {
    cell.replace('|', "\\|")
}

impl Markup for MarkdownRender {
    fn heading(&self, out: &mut String, level: u8, text: &str) {
        out.push_str(&format!("{} {text}\n\n", "#".repeat(level as usize)));
    }
    fn paragraph(&self, out: &mut String, text: &str) {
        out.push_str(&format!("{text}\n\n"));
    }
    fn table(&self, out: &mut String, table: &Table) {
        out.push_str(&format!("| {} |\n", table.headers.iter().map(|h| escape(h)).collect::<Vec<_>>().join(" | ")));
        let rule: Vec<&str> = table.align.iter().map(|a| if *a == Align::Right { "---:" } else { "---" }).collect();
        out.push_str(&format!("|{}|\n", rule.join("|")));
        for row in &table.rows {
            out.push_str(&format!("| {} |\n", row.iter().map(|c| escape(c)).collect::<Vec<_>>().join(" | ")));
        }
        out.push('\n');
    }
    fn pre(&self, out: &mut String, text: &str) {
        out.push_str(&format!("```\n{text}```\n\n"));
    }
    fn list(&self, out: &mut String, items: &[String]) {
        for (i, item) in items.iter().enumerate() {
            out.push_str(&format!("{}. {item}\n", i + 1));
        }
        out.push('\n');
    }
}
