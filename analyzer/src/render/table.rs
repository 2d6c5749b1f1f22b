//! Terminal output: aligned plain-text tables with units in the headers, fitted to the
//! terminal's width.
//!
//! The width is `COLUMNS` when set, else the width of the terminal standard output is, else
//! none (a file or a pipe gets whole lines, for `less -S`, `grep` and diffs). A table wider
//! than that first wraps its headers at spaces, then wraps its text columns' cells, and when
//! that is not enough is split into parts, each repeating the first column, with a line saying
//! so. No cell is ever dropped or cut. This module chooses the widths and the parts;
//! comfy-table lays each part out (wrapping, alignment, the rule under the headers).

use super::markup::{Align, Markup, Table};

/// Plain-text tables for the terminal, fitted to [`terminal_width`].
pub(crate) struct TableRender;

/// Narrowest width honoured; below it, content would be all line breaks.
const MIN_WIDTH: usize = 40;

/// Columns between two table columns.
const GAP: usize = 2;

/// The width to fit: `COLUMNS` when it is a number (at least 40), else the width of the
/// terminal standard output is, else `None` (no limit).
pub fn terminal_width() -> Option<usize> {
    if let Some(c) = std::env::var("COLUMNS").ok().and_then(|v| v.trim().parse::<usize>().ok()) {
        return Some(c.max(MIN_WIDTH));
    }
    tty_width().map(|w| w.max(MIN_WIDTH))
}

#[cfg(unix)]
fn tty_width() -> Option<usize> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return None;
    }
    // SAFETY: TIOCGWINSZ writes one `winsize` into the struct passed; it is zeroed and lives
    // through the call.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    (ok && size.ws_col > 0).then_some(usize::from(size.ws_col))
}

#[cfg(not(unix))]
fn tty_width() -> Option<usize> {
    None
}

impl Markup for TableRender {
    fn heading(&self, out: &mut String, level: u8, text: &str) {
        let width = terminal_width().unwrap_or(usize::MAX);
        let lines: Vec<String> = if text.chars().count() > width { wrap(text, width).lines().map(str::to_string).collect() } else { vec![text.to_string()] };
        let rule = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0);
        let underline = if level == 1 { "=" } else { "-" };
        if level != 1 {
            out.push('\n');
        }
        for l in &lines {
            out.push_str(l);
            out.push('\n');
        }
        out.push_str(&underline.repeat(rule));
        out.push('\n');
    }
    fn paragraph(&self, out: &mut String, text: &str) {
        out.push_str(&wrap(text, terminal_width().map_or(100, |w| w.min(100))));
        out.push('\n');
    }
    fn table(&self, out: &mut String, table: &Table) {
        out.push_str(&fit(table, terminal_width()));
    }
    fn pre(&self, out: &mut String, text: &str) {
        out.push_str(text);
    }
    fn list(&self, out: &mut String, items: &[String]) {
        let width = terminal_width().map_or(96, |w| w.min(100) - 4);
        for (i, item) in items.iter().enumerate() {
            let text = wrap(item, width);
            let mut lines = text.lines();
            out.push_str(&format!("{:>2}. {}\n", i + 1, lines.next().unwrap_or("")));
            for l in lines {
                out.push_str(&format!("    {l}\n"));
            }
        }
    }
}

/// Columns padded to their widest cell; numbers right-aligned.
pub(crate) fn aligned(table: &Table) -> String {
    let widths = natural_widths(table);
    let columns: Vec<usize> = (0..table.headers.len()).collect();
    render(table, &columns, &widths)
}

/// The table fitted into `width` columns (see the module documentation); `None`: as
/// [`aligned`].
pub(crate) fn fit(table: &Table, width: Option<usize>) -> String {
    let n = table.headers.len();
    let natural = natural_widths(table);
    let Some(width) = width else { return aligned(table) };
    if n == 0 || span(&natural, &(0..n).collect::<Vec<_>>()) <= width {
        return aligned(table);
    }
    let cells = |i: usize| table.rows.iter().filter_map(move |r| r.get(i));
    let longest_word = |s: &str| s.split_whitespace().map(|w| w.chars().count()).max().unwrap_or(0);
    // Headers wrap at spaces: a column needs its widest cell and its header's longest word.
    let mut widths: Vec<usize> = (0..n)
        .map(|i| cells(i).map(|c| c.chars().count()).max().unwrap_or(0).max(longest_word(&table.headers[i])).max(1))
        .collect();
    // Text columns wrap their cells too, down to their longest word (at most 30, beyond which
    // a word is broken) and at least 8.
    let floors: Vec<usize> = (0..n)
        .map(|i| {
            if table.align[i] == Align::Left {
                let word = cells(i).map(|c| longest_word(c)).max().unwrap_or(0).min(30);
                word.max(longest_word(&table.headers[i])).max(8).min(widths[i])
            } else {
                widths[i]
            }
        })
        .collect();
    let all: Vec<usize> = (0..n).collect();
    while span(&widths, &all) > width {
        let Some(i) = (0..n).filter(|&i| widths[i] > floors[i]).max_by_key(|&i| (widths[i], std::cmp::Reverse(i))) else { break };
        widths[i] -= 1;
    }
    if span(&widths, &all) <= width {
        return render(table, &all, &widths);
    }
    // Still too wide: parts of whole columns, each repeating the first.
    let mut parts: Vec<Vec<usize>> = Vec::new();
    let mut current = vec![0];
    for i in 1..n {
        let mut with = current.clone();
        with.push(i);
        if current.len() > 1 && span(&widths, &with) > width {
            parts.push(std::mem::replace(&mut current, vec![0, i]));
        } else {
            current = with;
        }
    }
    parts.push(current);
    let note = format!(
        "(a table of {n} columns, split into {} parts to fit {width} columns; each part repeats the first column)",
        parts.len()
    );
    let mut out = wrap(&note, width);
    out.push('\n');
    for (k, part) in parts.iter().enumerate() {
        if k > 0 {
            out.push('\n');
        }
        out.push_str(&render(table, part, &widths));
    }
    out
}

/// Widest of header and cells, per column.
fn natural_widths(table: &Table) -> Vec<usize> {
    let n = table.headers.len();
    let mut widths: Vec<usize> = table.headers.iter().map(|h| h.chars().count()).collect();
    for row in &table.rows {
        for (i, c) in row.iter().enumerate().take(n) {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    widths
}

/// Width of `columns` laid side by side.
fn span(widths: &[usize], columns: &[usize]) -> usize {
    columns.iter().map(|&i| widths[i]).sum::<usize>() + GAP * columns.len().saturating_sub(1)
}

/// The chosen columns at the given widths, laid out by comfy-table: cells longer than their
/// column wrap onto more lines, a rule of dashes under the headers, columns [`GAP`] apart.
fn render(table: &Table, columns: &[usize], widths: &[usize]) -> String {
    use comfy_table::{CellAlignment, ColumnConstraint, TableComponent, Width};
    let mut grid = comfy_table::Table::new();
    grid.load_preset(comfy_table::presets::NOTHING);
    grid.set_style(TableComponent::HeaderLines, '-');
    // A space as the separator: one column of the gap, the padding the rest.
    grid.set_style(TableComponent::VerticalLines, ' ');
    grid.set_style(TableComponent::MiddleHeaderIntersections, ' ');
    grid.set_header(columns.iter().map(|&i| table.headers[i].as_str()));
    for row in &table.rows {
        grid.add_row(columns.iter().map(|&i| row.get(i).map_or("", String::as_str)));
    }
    let last = columns.len().saturating_sub(1);
    for (k, column) in grid.column_iter_mut().enumerate() {
        let i = columns[k];
        let pad = if k < last { GAP as u16 - 1 } else { 0 };
        column.set_padding((0, pad));
        // Absolute widths count the padding.
        let width = u16::try_from(widths[i]).unwrap_or(u16::MAX - pad).max(1) + pad;
        column.set_constraint(ColumnConstraint::Absolute(Width::Fixed(width)));
        column.set_cell_alignment(match table.align[i] {
            Align::Left => CellAlignment::Left,
            Align::Right => CellAlignment::Right,
        });
    }
    let mut out = String::new();
    for line in grid.lines() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A cell's lines at `width`: words filled greedily, a word longer than the width broken (for
/// headings, paragraphs and list items; table cells wrap in [`render`]).
fn wrap_cell(text: &str, width: usize) -> Vec<String> {
    if text.chars().count() <= width {
        return vec![text.to_string()];
    }
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        while word.len() > width {
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            lines.push(word[..width].iter().collect());
            word.drain(..width);
        }
        if word.is_empty() {
            continue;
        }
        let len = line.chars().count();
        if len > 0 && len + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.extend(word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// Text filled to `width`, words longer than that broken.
fn wrap(text: &str, width: usize) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    wrap_cell(&words.join(" "), width.max(1)).join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(headers: &[&str], left: &[usize], rows: &[&[&str]]) -> Table {
        let align = (0..headers.len()).map(|i| if i == 0 || left.contains(&i) { Align::Left } else { Align::Right }).collect();
        Table {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            align,
            rows: rows.iter().map(|r| r.iter().map(|c| c.to_string()).collect()).collect(),
        }
    }

    /// Every word of every header and cell, in order, as a naive reference.
    fn words(t: &Table) -> Vec<String> {
        t.headers.iter().chain(t.rows.iter().flatten()).flat_map(|c| c.split_whitespace().map(str::to_string)).collect()
    }

    #[test]
    fn a_narrow_table_is_not_wrapped() {
        let t = table(&["Component", "ms"], &[], &[&["ffn", "1.5"], &["sdpa", "12.25"]]);
        assert_eq!(fit(&t, Some(80)), "Component     ms\n---------- -----\nffn          1.5\nsdpa       12.25\n");
        assert_eq!(fit(&t, None), aligned(&t));
    }

    #[test]
    fn headers_and_text_wrap_to_fit() {
        let t = table(
            &["Component", "component-synced (ms)", "fused (ms)", "what it changes"],
            &[3],
            &[&["block/ffn/up", "1.5", "1.2", "one GEMM instead of two, fused with the activation and the bias"]],
        );
        let natural = aligned(&t);
        assert!(natural.lines().next().unwrap().len() > 60);
        let out = fit(&t, Some(60));
        for l in out.lines() {
            assert!(l.chars().count() <= 60, "{l:?}\n{out}");
        }
        // Headers wrapped, bottom-aligned: the last header line holds "(ms)" twice.
        assert!(out.lines().nth(1).unwrap().matches("(ms)").count() == 2, "{out}");
        // Nothing lost or reordered within a cell.
        let joined: Vec<String> = out.split_whitespace().filter(|w| !w.chars().all(|c| c == '-')).map(str::to_string).collect();
        for w in words(&t) {
            assert!(joined.contains(&w), "{w} missing:\n{out}");
        }
        assert!(!out.contains("split into"));
    }

    #[test]
    fn a_table_too_wide_to_wrap_is_split_into_parts_repeating_the_first_column() {
        let headers: Vec<String> = (0..12).map(|i| format!("column{i:02}")).collect();
        let refs: Vec<&str> = headers.iter().map(String::as_str).collect();
        let row: Vec<String> = (0..12).map(|i| format!("{}", 1000 * i + 7)).collect();
        let row_refs: Vec<&str> = row.iter().map(String::as_str).collect();
        let mut t = table(&refs, &[], &[&row_refs]);
        t.rows[0][0] = "block/self_attn/sdpa".into();
        let out = fit(&t, Some(50));
        assert!(out.starts_with("(a table of 12 columns, split into "), "{out}");
        for l in out.lines().skip(1) {
            assert!(l.chars().count() <= 50, "{l:?}");
        }
        // Each part repeats the first column; every other column appears exactly once.
        let parts = out.split("\n\n").count();
        assert_eq!(out.matches("block/self_attn/sdpa").count(), parts);
        for i in 1..12 {
            assert_eq!(out.matches(&format!("column{i:02}")).count(), 1, "column{i:02}");
            assert_eq!(out.matches(&format!(" {}", 1000 * i + 7)).count(), 1);
        }
    }

    #[test]
    fn long_words_break_only_beyond_thirty_characters() {
        assert_eq!(wrap_cell("abc defgh", 5), ["abc", "defgh"]);
        assert_eq!(wrap_cell("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap_cell("", 4), [""]);
    }
}
