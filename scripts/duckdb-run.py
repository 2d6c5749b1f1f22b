#!/usr/bin/env python3
"""Runs the queries of a DuckDB SQL script on mlx-analyze's Parquet files.

Usage: duckdb-run.py SCRIPT.sql NAME=VALUE... [--format table|markdown|csv|json]

A script is a sequence of queries, each headed by a line `-- query: NAME`; text before the
first header is a comment. `{{NAME}}` in a query is replaced by VALUE as an SQL string literal
(quotes doubled), so paths and globs need no quoting. Each query's result is printed under its
name (table, markdown, csv), or all of them as one JSON object {NAME: [row, ...]} (json).

Needs the duckdb Python package (scripts/setup.sh installs it into .venv).
"""

import argparse
import csv
import io
import json
import math
import re
import sys


def parse_script(text):
    queries = []
    name, lines = None, []
    for line in text.splitlines():
        m = re.match(r"^--\s*query:\s*(\S+)\s*$", line)
        if m:
            if name is not None:
                queries.append((name, "\n".join(lines)))
            name, lines = m.group(1), []
        elif name is not None:
            lines.append(line)
    if name is not None:
        queries.append((name, "\n".join(lines)))
    return queries


def substitute(sql, params):
    def literal(m):
        key = m.group(1)
        if key not in params:
            sys.exit(f"duckdb-run: the script needs {key}=VALUE")
        return "'" + params[key].replace("'", "''") + "'"

    return re.sub(r"\{\{(\w+)\}\}", literal, sql)


def plain(v):
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    if isinstance(v, (int, float, str, bool)) or v is None:
        return v
    return str(v)


def cell(v):
    if v is None:
        return "NULL"
    if isinstance(v, float):
        return f"{v:.6g}" if abs(v) < 1e15 else f"{v:.5e}"
    return str(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("script")
    ap.add_argument("params", nargs="*", metavar="NAME=VALUE")
    ap.add_argument("--format", choices=["table", "markdown", "csv", "json"], default="table")
    args = ap.parse_args()
    try:
        import duckdb
    except ImportError:
        sys.exit("duckdb-run: the duckdb package is missing; run scripts/setup.sh")
    params = {}
    for p in args.params:
        if "=" not in p:
            sys.exit(f"duckdb-run: {p!r} is not NAME=VALUE")
        k, v = p.split("=", 1)
        params[k] = v
    with open(args.script, encoding="utf-8") as f:
        queries = parse_script(f.read())
    if not queries:
        sys.exit(f"duckdb-run: {args.script} has no '-- query: NAME' header")
    con = duckdb.connect()
    results = {}
    for name, sql in queries:
        rel = con.sql(substitute(sql, params))
        columns = [d[0] for d in rel.description]
        rows = rel.fetchall()
        results[name] = (columns, rows)
    out = sys.stdout
    if args.format == "json":
        doc = {n: [{c: plain(v) for c, v in zip(cols, row)} for row in rows] for n, (cols, rows) in results.items()}
        json.dump(doc, out, indent=1)
        out.write("\n")
        return
    for name, (cols, rows) in results.items():
        if args.format == "csv":
            out.write(f"# {name}\n")
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            w.writerow(cols)
            for row in rows:
                w.writerow(["" if v is None else v for v in row])
            out.write(buf.getvalue())
        elif args.format == "markdown":
            out.write(f"{name}:\n\n")
            out.write("| " + " | ".join(cols) + " |\n")
            out.write("|" + "|".join("---:" if all(isinstance(r[i], (int, float)) or r[i] is None for r in rows) and rows else "---" for i in range(len(cols))) + "|\n")
            for row in rows:
                out.write("| " + " | ".join(cell(v) for v in row) + " |\n")
        else:
            text = [[cell(v) for v in row] for row in rows]
            widths = [max([len(c)] + [len(r[i]) for r in text]) for i, c in enumerate(cols)]
            out.write(f"{name}:\n")
            out.write("  ".join(c.ljust(w) for c, w in zip(cols, widths)).rstrip() + "\n")
            for r in text:
                out.write("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() + "\n")
        out.write("\n")


if __name__ == "__main__":
    main()
