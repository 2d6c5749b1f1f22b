-- The analyzer's scaling table, recomputed with DuckDB from an events export:
--   mlx-analyze TRACE --export-parquet events.parquet
--   .venv/bin/python3 scripts/duckdb-run.py scripts/duckdb-scaling.sql events=events.parquet
-- For one workload (one model, dtype, resolution and machine) and the baseline variant, as the
-- analyzer's synced scaling table: per frame count, each component's time per run (its events
-- summed) with the median over the component-synced runs, in ms per block for the components
-- inside the blocks (name `block` or `block/...`) and per forward for the others; and the
-- median fused (`none`-synced) forward. {{events}} may be a glob of several exports.

-- query: cells
WITH per_run AS (
    SELECT file, run, frames, tokens, blocks, component, sum(duration_ns) AS total_ns
    FROM read_parquet({{events}})
    WHERE sync = 'component' AND variant = 'baseline'
    GROUP BY file, run, frames, tokens, blocks, component
)
SELECT
    frames,
    CAST(round(median(tokens)) AS BIGINT) AS tokens,
    component,
    median(total_ns) / 1e6
        / CASE WHEN component = 'block' OR component LIKE 'block/%' THEN median(blocks) ELSE 1 END AS ms
FROM per_run
GROUP BY frames, component
ORDER BY frames, component;

-- query: forward
SELECT frames, CAST(round(median(tokens)) AS BIGINT) AS tokens, median(duration_ns) / 1e6 AS forward_ms
FROM read_parquet({{events}})
WHERE sync = 'none' AND variant = 'baseline' AND component = 'forward'
GROUP BY frames
ORDER BY frames;
