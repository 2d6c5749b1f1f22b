//! One self-contained HTML file: the report's tables with the SVG charts inline.

use crate::analysis::Report;
use crate::error::Result;

use super::markup::{Align, ChartKind, Markup, Table};
use super::svg;

/// HTML with inline SVG.
pub(crate) struct HtmlRender;

/// Escapes text for HTML.
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

impl Markup for HtmlRender {
    fn begin(&self, out: &mut String, title: &str) {
        out.push_str(&format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>{}</title>\n<style>\n\
body {{ font-family: sans-serif; max-width: 1200px; margin: 2em auto; color: #222; }}\n\
table {{ border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }}\n\
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; }}\n\
th {{ background: #f0f0f0; }}\n\
td.num {{ text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }}\n\
figure svg {{ max-width: 100%; height: auto; }}\n\
pre {{ background: #f7f7f7; padding: 1em; }}\n\
figure {{ margin: 1em 0; }}\n\
</style>\n</head>\n<body>\n",
            escape(title)
        ));
    }
    fn end(&self, out: &mut String) {
        out.push_str("</body>\n</html>\n");
    }
    fn heading(&self, out: &mut String, level: u8, text: &str) {
        out.push_str(&format!("<h{level}>{}</h{level}>\n", escape(text)));
    }
    fn paragraph(&self, out: &mut String, text: &str) {
        out.push_str(&format!("<p>{}</p>\n", escape(text)));
    }
    fn table(&self, out: &mut String, table: &Table) {
        out.push_str("<table>\n<thead><tr>");
        for h in &table.headers {
            out.push_str(&format!("<th>{}</th>", escape(h)));
        }
        out.push_str("</tr></thead>\n<tbody>\n");
        for row in &table.rows {
            out.push_str("<tr>");
            for (i, c) in row.iter().enumerate() {
                let class = if table.align.get(i) == Some(&Align::Right) { " class=\"num\"" } else { "" };
                out.push_str(&format!("<td{class}>{}</td>", escape(c)));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody>\n</table>\n");
    }
    fn pre(&self, out: &mut String, text: &str) {
        out.push_str(&format!("<pre>{}</pre>\n", escape(text)));
    }
    fn list(&self, out: &mut String, items: &[String]) {
        out.push_str("<ol>\n");
        for item in items {
            out.push_str(&format!("<li>{}</li>\n", escape(item)));
        }
        out.push_str("</ol>\n");
    }
    fn chart(&self, out: &mut String, kind: ChartKind, report: &Report) -> Result<()> {
        if let Some(chart) = svg::chart(kind, report)? {
            // Drop the XML declaration: the SVG is embedded in HTML.
            let body = chart.svg.find("<svg").map_or(chart.svg.as_str(), |i| &chart.svg[i..]);
            out.push_str(&format!("<figure>\n{body}\n<figcaption>{}</figcaption>\n</figure>\n", escape(chart.title)));
        }
        Ok(())
    }
}
