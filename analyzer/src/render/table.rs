//! Terminal output: aligned plain-text tables with units in the headers.

use super::markup::{Align, Markup, Table};

/// Plain-text tables for the terminal.
pub struct TableRender;

impl Markup for TableRender {
    fn heading(&self, out: &mut String, level: u8, text: &str) {
        if level == 1 {
            out.push_str(&format!("{text}\n{}\n", "=".repeat(text.chars().count())));
        } else {
            out.push_str(&format!("\n{text}\n{}\n", "-".repeat(text.chars().count())));
        }
    }
    fn paragraph(&self, out: &mut String, text: &str) {
        out.push_str(&wrap(text, 100));
        out.push('\n');
    }
    fn table(&self, out: &mut String, table: &Table) {
        out.push_str(&aligned(table));
    }
    fn pre(&self, out: &mut String, text: &str) {
        out.push_str(text);
    }
    fn list(&self, out: &mut String, items: &[String]) {
        for (i, item) in items.iter().enumerate() {
            let text = wrap(item, 96);
            let mut lines = text.lines();
            out.push_str(&format!("{:>2}. {}\n", i + 1, lines.next().unwrap_or("")));
            for l in lines {
                out.push_str(&format!("    {l}\n"));
            }
        }
    }
}

/// Columns padded to their widest cell; numbers right-aligned.
pub fn aligned(table: &Table) -> String {
    let n = table.headers.len();
    let mut widths: Vec<usize> = table.headers.iter().map(|h| h.chars().count()).collect();
    for row in &table.rows {
        for (i, c) in row.iter().enumerate().take(n) {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .take(n)
            .map(|(i, c)| {
                let pad = widths[i] - c.chars().count();
                match table.align[i] {
                    Align::Left => format!("{c}{}", " ".repeat(pad)),
                    Align::Right => format!("{}{c}", " ".repeat(pad)),
                }
            })
            .collect();
        format!("{}\n", parts.join("  ").trim_end())
    };
    let mut out = line(&table.headers);
    out.push_str(&format!("{}\n", widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  ")));
    for row in &table.rows {
        out.push_str(&line(row));
    }
    out
}

fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut len = 0;
    for word in text.split_whitespace() {
        let w = word.chars().count();
        if len > 0 && len + 1 + w > width {
            out.push('\n');
            len = 0;
        } else if len > 0 {
            out.push(' ');
            len += 1;
        }
        out.push_str(word);
        len += w;
    }
    out
}
