#!/usr/bin/env python3
"""The ranking and machine comparison of scripts/duckdb-summary.sql, with Spark.

Usage: spark-summary.py DIR [--master local[*]]

DIR holds per-trace summaries written by `mlx-analyze ... --export-summary DIR`
(DIR/machine=.../backend=.../preset=.../part-*.parquet). On a laptop, Spark runs in local mode;
on a cluster, pass its master (or use spark-submit) and a DIR every executor can read (HDFS,
S3, a shared file system). Needs pyspark (and Java 17 or later); pyspark is not part of the
test set-up: install it into a virtual environment of its own.
"""

import argparse
import sys

RANKING = """
WITH s AS (
    SELECT * FROM summaries WHERE sync = 'component' AND variant = 'baseline'
),
largest AS (
    SELECT machine, preset, blocks, dtype, resolution, max(frames) AS frames
    FROM s GROUP BY machine, preset, blocks, dtype, resolution
),
per_component AS (
    SELECT s.machine, s.preset, s.blocks, s.dtype, s.resolution, s.frames, max(s.tokens) AS tokens, s.component,
           count(*) AS traces, median(s.median_ns) / 1e6 AS ms, median(s.share) AS share
    FROM s JOIN largest
      ON s.machine <=> largest.machine AND s.preset <=> largest.preset AND s.blocks = largest.blocks
     AND s.dtype = largest.dtype AND s.resolution = largest.resolution AND s.frames = largest.frames
    GROUP BY s.machine, s.preset, s.blocks, s.dtype, s.resolution, s.frames, s.component
),
ranked AS (
    SELECT *, rank() OVER (PARTITION BY machine, preset, blocks, dtype, resolution ORDER BY ms DESC, component) AS rank
    FROM per_component
)
SELECT machine, preset, blocks, dtype, resolution, frames, tokens, rank, component, traces,
       round(ms, 3) AS ms, round(100 * share, 1) AS share_pct
FROM ranked WHERE rank <= 5
ORDER BY machine, preset, blocks, dtype, resolution, rank
"""

MACHINES = """
WITH s AS (
    SELECT * FROM summaries
    WHERE sync = 'component' AND variant = 'baseline' AND flops > 0 AND median_ns > 0
      AND component IN ('block/ffn/up', 'block/self_attn/qkv', 'block/self_attn/sdpa')
),
rates AS (
    SELECT machine, backend, dtype, component, tokens,
           flops * calls / (median_ns * 1e-9) AS flops_per_s,
           flops * calls / (median_ns * 1e-9) / matmul_flops_per_s AS of_ceiling
    FROM s
),
longest AS (
    SELECT machine, backend, dtype, component, max(tokens) AS tokens
    FROM rates GROUP BY machine, backend, dtype, component
),
per_machine AS (
    SELECT r.machine, r.backend, r.dtype, r.component, r.tokens, count(*) AS traces,
           median(r.flops_per_s) AS flops_per_s, median(r.of_ceiling) AS of_ceiling
    FROM rates r JOIN longest l
      ON r.machine <=> l.machine AND r.backend <=> l.backend AND r.dtype = l.dtype
     AND r.component = l.component AND r.tokens = l.tokens
    GROUP BY r.machine, r.backend, r.dtype, r.component, r.tokens
)
SELECT component, machine, backend, dtype, tokens, traces,
       round(flops_per_s / 1e12, 3) AS tflops,
       round(100 * of_ceiling, 1) AS pct_of_ceiling,
       round(max(flops_per_s) OVER (PARTITION BY component) / flops_per_s, 1) AS times_slower
FROM per_machine
ORDER BY component, flops_per_s DESC, machine
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", help="directory written by --export-summary")
    ap.add_argument("--master", default="local[*]", help="Spark master (default: local[*])")
    args = ap.parse_args()
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        sys.exit("spark-summary: pyspark is missing (pip install pyspark into a virtual environment)")
    spark = (
        SparkSession.builder.master(args.master)
        .appName("mlx-trace summaries")
        # Partition values stay text ("2" is a machine name, not a number).
        .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    df = spark.read.option("basePath", args.dir).option("recursiveFileLookup", "false").parquet(args.dir)
    df.createOrReplaceTempView("summaries")
    print(f"spark {spark.version}, master {args.master}: {df.count()} summary rows")
    for name, query in (("ranking", RANKING), ("machines", MACHINES)):
        print(f"\n{name}:")
        spark.sql(query).show(n=1000, truncate=False)
    spark.stop()


if __name__ == "__main__":
    main()
