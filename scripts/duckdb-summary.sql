-- A ranking and a machine comparison from per-trace summaries, with DuckDB:
--   mlx-analyze traces/ --export-summary summaries/
--   .venv/bin/python3 scripts/duckdb-run.py scripts/duckdb-summary.sql 'summaries=summaries/**/*.parquet'
-- {{summaries}} is a glob of the part files; the partition columns (machine, backend, preset)
-- come from the directory names, read as text. docs/scale.md shows the output for the
-- committed traces; scripts/spark-summary.py runs the same queries with Spark.

-- query: ranking
-- Where the time goes, per workload (machine, model, dtype, resolution) at its largest frame
-- count: each component's time per component-synced forward (median over the traces of their
-- medians), its share of that forward, and its rank; the first five of each workload.
WITH s AS (
    SELECT *
    FROM read_parquet({{summaries}}, hive_partitioning = true,
                      hive_types = {'machine': VARCHAR, 'backend': VARCHAR, 'preset': VARCHAR})
    WHERE sync = 'component' AND variant = 'baseline'
),
largest AS (
    SELECT machine, preset, blocks, dtype, resolution, max(frames) AS frames
    FROM s
    GROUP BY machine, preset, blocks, dtype, resolution
),
per_component AS (
    SELECT s.machine, s.preset, s.blocks, s.dtype, s.resolution, s.frames, max(s.tokens) AS tokens, s.component,
           count(*) AS traces, median(s.median_ns) / 1e6 AS ms, median(s.share) AS share
    FROM s JOIN largest USING (machine, preset, blocks, dtype, resolution, frames)
    GROUP BY s.machine, s.preset, s.blocks, s.dtype, s.resolution, s.frames, s.component
),
ranked AS (
    SELECT *, rank() OVER (PARTITION BY machine, preset, blocks, dtype, resolution ORDER BY ms DESC, component) AS rank
    FROM per_component
)
SELECT machine, preset, blocks, dtype, resolution, frames, tokens, rank, component, traces,
       round(ms, 3) AS ms, round(100 * share, 1) AS share_pct
FROM ranked
WHERE rank <= 5
ORDER BY machine, preset, blocks, dtype, resolution, rank;

-- query: machines
-- How fast each machine runs the heaviest kinds of work: the achieved rate of the FFN
-- up-projection, the QKV projection and self-attention (analytic FLOPs over the median time of
-- a component-synced forward, at the machine's largest sequence length for that component),
-- as TFLOP/s, as a share of the machine's own calibrated matmul ceiling, and how many times
-- slower than the fastest machine it is.
WITH s AS (
    SELECT *
    FROM read_parquet({{summaries}}, hive_partitioning = true,
                      hive_types = {'machine': VARCHAR, 'backend': VARCHAR, 'preset': VARCHAR})
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
    FROM rates
    GROUP BY machine, backend, dtype, component
),
per_machine AS (
    SELECT machine, backend, dtype, component, tokens, count(*) AS traces,
           median(flops_per_s) AS flops_per_s, median(of_ceiling) AS of_ceiling
    FROM rates JOIN longest USING (machine, backend, dtype, component, tokens)
    GROUP BY machine, backend, dtype, component, tokens
)
SELECT component, machine, backend, dtype, tokens, traces,
       round(flops_per_s / 1e12, 3) AS tflops,
       round(100 * of_ceiling, 1) AS pct_of_ceiling,
       round(max(flops_per_s) OVER (PARTITION BY component) / flops_per_s, 1) AS times_slower
FROM per_machine
ORDER BY component, flops_per_s DESC, machine;
