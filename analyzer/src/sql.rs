//! `--sql`: one SQL query (polars SQL) over the loaded tables, printed as a table or written as
//! Markdown, HTML, CSV or JSON.
//!
//! Tables ([`TABLES`]): the [`Dataset`]'s own frames under their names (`traces`, `runs`,
//! `components` with the component's name added, `events`, `setups`), `component_names`, and
//! `events_wide`: the events with their trace and run keys, as in the Parquet export
//! (`crate::export::parquet::keyed_events`), built only when the query names it.
//!
//! A query that does not parse or cannot run is a usage error with polars' reason on one line,
//! never a panic.

use std::panic::{catch_unwind, AssertUnwindSafe};

use polars::prelude::*;
use polars::sql::SQLContext;

use crate::error::{Error, Result};
use crate::export::parquet::keyed_events;
use crate::load::Dataset;
use crate::render::markup::{Align, Markup, Table};
use crate::units::thousands;

/// The tables a query can name, with what one row is.
pub const TABLES: [(&str, &str); 7] = [
    ("traces", "one row per trace: trace_id, file, machine, host, backend, gpu_name, dtype, preset, blocks, dim, height, width, calibration, \"label.KEY\""),
    ("runs", "one row per run: run_id, trace_id, run, variant, sync, warmup, frames, tokens, forward_ns, graph_ns, memory, drift, perturbation"),
    ("components", "one row per run and component: run_id, component_id, component, flops, bytes (per invocation), calls, total_ns"),
    ("events", "one row per event: run_id, component_id, block (-1 outside the blocks), start_ns, duration_ns"),
    ("setups", "one-off costs: trace_id, variant, name, frames, tokens, duration_ns, memory_bytes"),
    ("component_names", "component_id, component"),
    ("events_wide", "one row per event with its keys, as --export-parquet writes them: file, machine, backend, gpu, dtype, preset, blocks, resolution, variant, sync, frames, tokens, run, warmup, component, block (NULL outside), start_ns, duration_ns"),
];

/// Output formats of a query result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlFormat {
    /// Aligned terminal table, fitted to the terminal.
    Table,
    /// Markdown table.
    Markdown,
    /// HTML document with the table.
    Html,
    /// CSV with a header row.
    Csv,
    /// JSON: an array of one object per row, keys in column order.
    Json,
}

/// Whether `query` names the table `name` (a word of the query, any case).
fn names_table(query: &str, name: &str) -> bool {
    query
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|w| w.eq_ignore_ascii_case(name))
}

/// Whether `query` reads the events (names `events` or `events_wide`): only then are they kept
/// when loading.
pub fn needs_events(query: &str) -> bool {
    names_table(query, "events") || names_table(query, "events_wide")
}

/// The SQL context over a dataset; `events_wide` is registered when `query` names it.
pub(crate) fn context(ds: &Dataset, query: &str) -> Result<SQLContext> {
    let ctx = SQLContext::new();
    let names = DataFrame::new(
        ds.component_names.len(),
        vec![
            Column::new("component_id".into(), (0..ds.component_names.len() as u32).collect::<Vec<u32>>()),
            Column::new("component".into(), ds.component_names.clone()),
        ],
    )?;
    let mut components = ds.components.clone();
    let ids = components.column("component_id")?.u32()?.clone();
    let named = Series::new("component".into(), ds.component_names.clone()).take(&ids)?;
    components.insert_column(2, named.into())?;
    ctx.register("traces", ds.traces.clone().lazy());
    ctx.register("runs", ds.runs_frame()?.lazy());
    ctx.register("components", components.lazy());
    ctx.register("events", ds.events.clone().lazy());
    ctx.register("setups", ds.setups.clone().lazy());
    ctx.register("component_names", names.lazy());
    if names_table(query, "events_wide") {
        ctx.register("events_wide", keyed_events(ds)?.lazy());
    }
    Ok(ctx)
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Runs `query`; every failure (syntax, unknown table or column, type errors, even a panic
/// inside polars) is an [`Error::Invalid`] of one line.
pub fn query(ds: &Dataset, query: &str) -> Result<DataFrame> {
    if query.trim().is_empty() {
        return Err(Error::Invalid("--sql: the query is empty".into()));
    }
    check_depth(query)?;
    let mut ctx = context(ds, query)?;
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = catch_unwind(AssertUnwindSafe(|| {
        let lf = ctx.execute(query)?;
        let rows = join_rows(&lf);
        if rows > MAX_JOIN_ROWS {
            return Ok(Err(rows));
        }
        lf.collect().map(Ok)
    }));
    std::panic::set_hook(hook);
    match result {
        Ok(Ok(Ok(df))) => Ok(df),
        Ok(Ok(Err(rows))) => Err(Error::Invalid(format!(
            "--sql: the query's joins would build about {} rows, more than the {} this analyzer evaluates; join on a key (JOIN ... ON or USING), or filter or aggregate each table first",
            thousands(rows as u64),
            thousands(MAX_JOIN_ROWS as u64)
        ))),
        Ok(Err(e)) => Err(Error::Invalid(format!("--sql: {}", one_line(&e.to_string())))),
        Err(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown reason".into());
            Err(Error::Invalid(format!("--sql: the query could not be run: {}", one_line(&why))))
        }
    }
}

/// Most rows a query's joins may build. A cross join of four tables of a hundred rows each
/// builds a hundred million rows before any filter or aggregate sees them: the allocation
/// aborted the process. Keyed joins are estimated at the sum of their inputs, cross joins (and
/// joins without keys) at the product.
pub(crate) const MAX_JOIN_ROWS: f64 = 20e6;

/// The rows the largest join of `lf`'s optimized plan may build (0 where the plan cannot be
/// optimized: running it then reports why).
fn join_rows(lf: &LazyFrame) -> f64 {
    use polars_plan::plans::IR;
    fn walk(arena: &polars_plan::prelude::Arena<IR>, node: polars_plan::prelude::Node, largest: &mut f64) -> f64 {
        let ir = arena.get(node);
        let inputs: Vec<f64> = ir.inputs().map(|n| walk(arena, n, largest)).collect();
        let rows = match ir {
            IR::DataFrameScan { df, .. } => df.height() as f64,
            IR::Join { options, left_on, .. } if options.args.how == JoinType::Cross || left_on.is_empty() => {
                // A LIMIT pushed into the join bounds what it builds.
                let product = options.args.slice.map_or(f64::INFINITY, |(_, len)| len as f64).min(inputs.iter().product());
                *largest = largest.max(product);
                product
            }
            IR::Join { .. } | IR::Union { .. } => inputs.iter().sum(),
            IR::Slice { len, .. } => inputs.iter().copied().fold(0.0, f64::max).min(*len as f64),
            _ => inputs.iter().copied().fold(0.0, f64::max),
        };
        rows
    }
    let Ok(plan) = lf.clone().to_alp_optimized() else { return 0.0 };
    let mut largest = 0.0;
    walk(&plan.lp_arena, plan.lp_top, &mut largest);
    largest
}


/// Most operators and the deepest nesting of parentheses a query may have. The parser and the
/// planner recurse once per operator: 2,000 `OR` terms overflowed the stack (an abort, which no
/// error handling catches). Real queries stay far below.
pub(crate) const MAX_OPERATORS: usize = 500;
/// See [`MAX_OPERATORS`].
pub(crate) const MAX_NESTING: usize = 64;

/// Refuses a query whose expressions are deeper than the parser can take, counting operators
/// and parentheses outside string literals and quoted names.
fn check_depth(query: &str) -> Result<()> {
    let (mut operators, mut depth, mut deepest) = (0usize, 0usize, 0usize);
    let mut quote: Option<char> = None;
    let mut word = String::new();
    let end_word = |word: &mut String, operators: &mut usize| {
        if word.eq_ignore_ascii_case("and") || word.eq_ignore_ascii_case("or") || word.eq_ignore_ascii_case("not") {
            *operators += 1;
        }
        word.clear();
    };
    for c in query.chars() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            continue;
        }
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
            continue;
        }
        end_word(&mut word, &mut operators);
        match c {
            '\'' | '"' | '`' => quote = Some(c),
            '(' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            ')' => depth = depth.saturating_sub(1),
            '+' | '-' | '*' | '/' | '%' | '=' | '<' | '>' | '|' => operators += 1,
            _ => {}
        }
    }
    end_word(&mut word, &mut operators);
    if operators > MAX_OPERATORS {
        return Err(Error::Invalid(format!("--sql: the query has about {operators} operators, more than the {MAX_OPERATORS} this analyzer evaluates; split it or use IN (...) lists")));
    }
    if deepest > MAX_NESTING {
        return Err(Error::Invalid(format!("--sql: parentheses nest {deepest} deep, more than {MAX_NESTING}")));
    }
    Ok(())
}

fn is_numeric(dtype: &DataType) -> bool {
    dtype.is_primitive_numeric()
}

/// A float for people: six significant digits, no exponent between 1e-4 and 1e15.
fn short_float(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-4..1e15).contains(&a) {
        return format!("{v:.5e}");
    }
    let digits = (5 - a.log10().floor() as i32).clamp(0, 9) as usize;
    let text = format!("{v:.digits$}");
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_string() } else { text }
}

/// A cell: `None` for NULL; floats in full (`exact`) or short.
fn cell(value: &AnyValue, exact: bool) -> Option<String> {
    Some(match value {
        AnyValue::Null => return None,
        AnyValue::String(s) => s.to_string(),
        AnyValue::StringOwned(s) => s.to_string(),
        AnyValue::Float64(v) => if exact { v.to_string() } else { short_float(*v) },
        AnyValue::Float32(v) => if exact { v.to_string() } else { short_float(f64::from(*v)) },
        AnyValue::Boolean(b) => b.to_string(),
        other => other.to_string(),
    })
}

fn rows(df: &DataFrame, exact: bool) -> Result<Vec<Vec<Option<String>>>> {
    let columns = df.columns();
    let mut out = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        let mut row = Vec::with_capacity(columns.len());
        for c in columns {
            row.push(cell(&c.get(i)?, exact));
        }
        out.push(row);
    }
    Ok(out)
}

/// The result as a report table (numbers right-aligned, NULL shown as `NULL`).
pub(crate) fn as_table(df: &DataFrame) -> Result<Table> {
    Ok(Table {
        headers: df.get_column_names().iter().map(|n| n.to_string()).collect(),
        align: df.columns().iter().map(|c| if is_numeric(c.dtype()) { Align::Right } else { Align::Left }).collect(),
        rows: rows(df, false)?.into_iter().map(|r| r.into_iter().map(|v| v.unwrap_or_else(|| "NULL".into())).collect()).collect(),
    })
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

fn json_value(value: &AnyValue) -> serde_json::Value {
    use serde_json::Value;
    match value {
        AnyValue::Null => Value::Null,
        AnyValue::Boolean(b) => Value::Bool(*b),
        AnyValue::Int8(v) => (*v).into(),
        AnyValue::Int16(v) => (*v).into(),
        AnyValue::Int32(v) => (*v).into(),
        AnyValue::Int64(v) => (*v).into(),
        AnyValue::UInt8(v) => (*v).into(),
        AnyValue::UInt16(v) => (*v).into(),
        AnyValue::UInt32(v) => (*v).into(),
        AnyValue::UInt64(v) => (*v).into(),
        AnyValue::Float32(v) => serde_json::Number::from_f64(f64::from(*v)).map_or(Value::Null, Value::Number),
        AnyValue::Float64(v) => serde_json::Number::from_f64(*v).map_or(Value::Null, Value::Number),
        AnyValue::String(s) => Value::String(s.to_string()),
        AnyValue::StringOwned(s) => Value::String(s.to_string()),
        other => Value::String(other.to_string()),
    }
}

/// The result in `format` (`width`: the terminal's width for [`SqlFormat::Table`]).
pub fn render(df: &DataFrame, format: SqlFormat, width: Option<usize>) -> Result<Vec<u8>> {
    let mut out = String::new();
    match format {
        SqlFormat::Table => {
            out = crate::render::table::fit(&as_table(df)?, width);
            out.push_str(&format!("({} row{})\n", df.height(), if df.height() == 1 { "" } else { "s" }));
        }
        SqlFormat::Markdown => crate::render::markdown::MarkdownRender.table(&mut out, &as_table(df)?),
        SqlFormat::Html => {
            let html = crate::render::html::HtmlRender;
            html.begin(&mut out, "mlx-analyze --sql");
            html.table(&mut out, &as_table(df)?);
            html.end(&mut out);
        }
        SqlFormat::Csv => {
            let names: Vec<String> = df.get_column_names().iter().map(|n| csv_field(n)).collect();
            out.push_str(&names.join(","));
            out.push('\n');
            for row in rows(df, true)? {
                let fields: Vec<String> = row.iter().map(|v| v.as_deref().map_or(String::new(), csv_field)).collect();
                out.push_str(&fields.join(","));
                out.push('\n');
            }
        }
        SqlFormat::Json => {
            // Objects keep the columns' order (written by hand: serde_json's maps sort keys).
            let names: Vec<String> = df.get_column_names().iter().map(|n| serde_json::to_string(n.as_str())).collect::<std::result::Result<_, _>>()?;
            out.push('[');
            for i in 0..df.height() {
                out.push_str(if i == 0 { "\n  {" } else { ",\n  {" });
                for (j, c) in df.columns().iter().enumerate() {
                    if j > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(&names[j]);
                    out.push_str(": ");
                    out.push_str(&serde_json::to_string(&json_value(&c.get(i)?))?);
                }
                out.push('}');
            }
            out.push_str(if df.height() == 0 { "]\n" } else { "\n]\n" });
        }
    }
    Ok(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_words() {
        assert!(names_table("select * from EVENTS_WIDE where x", "events_wide"));
        assert!(!names_table("select * from events_wider", "events_wide"));
        assert!(!names_table("select * from events", "events_wide"));
        assert!(needs_events("SELECT * FROM events_wide") && needs_events("select count(*) from EVENTS"));
        assert!(!needs_events("SELECT variant FROM runs"));
    }

    #[test]
    fn short_floats() {
        assert_eq!(short_float(1234.56789), "1234.57");
        assert_eq!(short_float(0.5), "0.5");
        assert_eq!(short_float(3.0), "3");
        assert_eq!(short_float(2e-7), "2.00000e-7");
    }
}
