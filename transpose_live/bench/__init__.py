"""Speed, parameter and GFLOPs benchmarks of the pose models (`transpose-live bench`).

    >>> from transpose_live.bench import BenchConfig, run_grid, count_flops
"""

from transpose_live.bench.flops import FlopReport, count_flops, count_params
from transpose_live.bench.model_bench import (
    RECORD_FIELDS,
    SCHEMA_VERSION,
    BenchConfig,
    bench_model,
    environment,
    parse_batches,
    parse_models,
    run_grid,
    validate_record,
    write_json,
)
from transpose_live.bench.table import markdown_table, rich_table
from transpose_live.bench.timing import Timing, time_callable

__all__ = [
    "BenchConfig", "FlopReport", "RECORD_FIELDS", "SCHEMA_VERSION", "Timing", "bench_model", "count_flops",
    "count_params", "environment", "markdown_table", "parse_batches", "parse_models", "rich_table", "run_grid",
    "time_callable", "validate_record", "write_json",
]
