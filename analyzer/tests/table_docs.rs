//! The runs table's documentation against its one declaration (`mlx_analyze::tables::runs`):
//! `docs/tables.md` and the `--sql` help list exactly the declared columns.

use std::collections::BTreeSet;
use std::process::Command;

use mlx_analyze::tables::runs::RUN_COLUMNS;

fn declared() -> BTreeSet<&'static str> {
    RUN_COLUMNS.iter().map(|c| c.name).collect()
}

/// The backticked names in the first cell of each row of the table after `heading`.
fn documented(markdown: &str, heading: &str) -> BTreeSet<String> {
    let after = markdown.split_once(heading).unwrap_or_else(|| panic!("no {heading:?} in docs/tables.md")).1;
    let rows = after.lines().skip_while(|l| !l.starts_with('|')).take_while(|l| l.starts_with('|'));
    let cells = rows.skip(2).map(|row| row.split('|').nth(1).unwrap_or("").to_string());
    cells.flat_map(|cell| cell.split('`').skip(1).step_by(2).map(str::to_string).collect::<Vec<_>>()).collect()
}

/// Checks a help's list of run columns: every word a declared column or the help word of
/// some (`memory`), and every declared column listed by its name or its help word.
fn check_help(what: &str, words: &[String]) {
    let names = declared();
    let groups: BTreeSet<&str> = RUN_COLUMNS.iter().map(|c| c.help).collect();
    for w in words {
        assert!(names.contains(w.as_str()) || groups.contains(w.as_str()), "{what} lists {w:?}, which is no run column");
    }
    for c in RUN_COLUMNS {
        assert!(words.iter().any(|w| w == c.name || w == c.help), "{what} does not list {:?} (nor {:?})", c.name, c.help);
    }
}

/// The comma-separated words after `one row per run:` up to the next table's line.
fn help_words(text: &str) -> Vec<String> {
    let after = text.split_once("one row per run:").expect("the help lists the runs table").1;
    let mut list = String::new();
    for (i, line) in after.lines().enumerate() {
        // Continuation lines are indented; the next table's line starts with its name.
        if i > 0 && !line.starts_with("                   ") {
            break;
        }
        list.push_str(line);
        list.push(',');
    }
    list.split(',').map(str::trim).filter(|w| !w.is_empty()).map(str::to_string).collect()
}

#[test]
fn docs_tables_md_documents_exactly_the_declared_run_columns() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/tables.md");
    let markdown = std::fs::read_to_string(path).unwrap();
    let documented = documented(&markdown, "`runs`, one row per forward pass");
    let declared: BTreeSet<String> = declared().into_iter().map(str::to_string).collect();
    let missing: Vec<_> = declared.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&declared).collect();
    assert!(missing.is_empty() && extra.is_empty(), "docs/tables.md's runs table: undocumented {missing:?}, not declared {extra:?}");
}

#[test]
fn the_sql_help_lists_exactly_the_declared_run_columns() {
    let (_, runs) = mlx_analyze::sql::TABLES.iter().find(|(name, _)| *name == "runs").unwrap();
    check_help("sql::TABLES", &help_words(runs));
    let out = Command::new(env!("CARGO_BIN_EXE_mlx-analyze")).arg("--help").output().unwrap();
    assert!(out.status.success());
    check_help("mlx-analyze --help", &help_words(&String::from_utf8(out.stdout).unwrap()));
}

#[test]
fn the_runs_frame_has_the_declared_columns_in_order() {
    let spec = trace_synth::SynthSpec { frames: vec![5], runs: 1, warmup_runs: 0, ..trace_synth::SynthSpec::default() };
    let bytes = trace_synth::generate(&spec, true);
    let ds = mlx_analyze::load::load_bytes(vec![("t.msgpack".into(), bytes)], &Default::default()).unwrap();
    let frame = ds.runs_frame().unwrap();
    let names: Vec<&str> = frame.get_column_names().iter().map(|n| n.as_str()).collect();
    assert_eq!(names, RUN_COLUMNS.iter().map(|c| c.name).collect::<Vec<_>>());
    assert_eq!(frame.height(), ds.runs.len());
}
