//! No import circle between the top-level modules of the recorder and the analyzer: a module
//! that names `crate::x` depends on `x`, and following those dependencies must never lead back
//! (docs/architecture.md orders each program's modules from input to output). Read from the
//! sources; comments and in-file test modules do not count.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            // The crates' own test modules read everything; they are not part of the layering.
            if path.file_name().is_some_and(|n| n != "tests") {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a source file belongs to (`lib.rs` and `main.rs`: the crate root).
fn top_module(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_string()
}

/// The modules named as `crate::NAME` in the code of `text` (not in comments, not in a
/// trailing `#[cfg(test)] mod tests`).
fn named_modules(text: &str) -> BTreeSet<String> {
    let code: String = text.lines().filter(|l| !l.trim_start().starts_with("//")).map(|l| format!("{l}\n")).collect();
    let code = match code.find("#[cfg(test)]\nmod tests") {
        Some(i) => &code[..i],
        None => &code[..],
    };
    let mut names = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        let name: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit()).collect();
        if !name.is_empty() {
            names.insert(name);
        }
    }
    names
}

fn dependencies(krate: &str) -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(krate).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let from = top_module(&src, &file);
        if from == "lib" || from == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for to in named_modules(&text) {
            if to != from {
                deps.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    deps
}

/// A path of dependencies from `from` back to itself, if there is one.
fn circle(deps: &BTreeMap<String, BTreeSet<String>>, from: &str) -> Option<Vec<String>> {
    let mut stack = vec![(from.to_string(), vec![from.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((at, path)) = stack.pop() {
        for next in deps.get(&at).into_iter().flatten() {
            if next == from {
                let mut p = path.clone();
                p.push(next.clone());
                return Some(p);
            }
            if seen.insert(next.clone()) {
                let mut p = path.clone();
                p.push(next.clone());
                stack.push((next.clone(), p));
            }
        }
    }
    None
}

fn assert_no_circle(krate: &str) {
    let deps = dependencies(krate);
    assert!(deps.len() >= 5, "{krate}: found only {} modules with dependencies; is the source layout what this test expects?", deps.len());
    let circles: Vec<String> = deps.keys().filter_map(|m| circle(&deps, m)).map(|p| p.join(" -> ")).collect();
    assert!(circles.is_empty(), "{krate}: import circles between top-level modules:\n{}", circles.join("\n"));
}

#[test]
fn the_analyzer_has_no_import_circle() {
    assert_no_circle("analyzer");
}

#[test]
fn the_recorder_has_no_import_circle() {
    assert_no_circle("recorder");
}

#[test]
fn a_circle_is_found() {
    // The check itself: a -> b -> c -> a is a circle, d -> a is not part of one.
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, to) in [("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")] {
        deps.entry(from.into()).or_default().insert(to.into());
    }
    assert_eq!(circle(&deps, "a").unwrap().join(" -> "), "a -> b -> c -> a");
    assert!(circle(&deps, "d").is_none());
    assert_eq!(named_modules("use crate::load::x;\n// crate::render\nfn f() { crate::units::ms(1.0); }\n"), ["load", "units"].map(String::from).into());
}
