"""Run the standard benchmark set and write benchmarks/results/<name>.{json,md,png}.

    python benchmarks/run_benchmarks.py                 # auto device, standard set for it
    python benchmarks/run_benchmarks.py --device cpu --iters 3

Standard sets: CUDA: all ten models, fp16, batch 1/8/32/64, reference-style ratio for every
TransPose model; CPU: all ten models, fp32, batch 1/8 (few iterations: CPUs are slow).
<name> is "cpu" or the GPU's name as a slug (e.g. nvidia-h100-80gb-hbm3), unless --name is given.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from transpose_live.bench import BenchConfig, environment, markdown_table, parse_batches, parse_models, rich_table
from transpose_live.bench import run_grid, write_json
from transpose_live.bench.chart import speed_chart
from transpose_live.backends import choose_runtime
from transpose_live.device import resolve_device

RESULTS = Path(__file__).resolve().parent / "results"
STANDARD = {  # device type -> (batches, warmup, iters)
    "cuda": ("1,8,32,64", 10, 50),
    "cpu": ("1,8", 2, 5),
}


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--models", default="all")
    parser.add_argument("--batch", default=None, help="comma-separated batch sizes (default: standard set)")
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--iters", type=int, default=None)
    parser.add_argument("--attention", choices=("fused", "reference"), default="reference")
    parser.add_argument("--name", default=None, help="results file stem (default: cpu or the GPU's name)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args(argv)

    device = resolve_device(args.device)
    batches, warmup, iters = STANDARD[device.type]
    config = BenchConfig(
        models=parse_models(args.models), device=device, half=choose_runtime(device, "torch").half,
        batches=parse_batches(args.batch or batches),
        warmup=warmup if args.warmup is None else args.warmup, iters=iters if args.iters is None else args.iters,
        attention=args.attention,
    )
    env = environment(device)
    console = Console()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        records = run_grid(config, progress)

    name = args.name or ("cpu" if device.type == "cpu" else slug(env["device_name"]))
    title = f"{env['device_name']} ({device}, {config.precision}, {env['threads']} threads, torch {env['torch']})"
    json_path = write_json(args.out / f"{name}.json", records, env)
    md_path = args.out / f"{name}.md"
    md_path.write_text(
        f"# transpose-live bench: {title}\n\n"
        f"warm-up {config.warmup}, timed iterations {config.iters} per run; measured {env['created']}.\n"
        f"Chart: [{name}.png]({name}.png); records: [{name}.json]({name}.json).\n\n"
        + markdown_table(records)
    )
    png_path = speed_chart(records, args.out / f"{name}.png", title=f"transpose-live bench: {title}")
    console.print(rich_table(records, title=title))
    console.print(f"wrote {json_path}, {md_path}, {png_path}", soft_wrap=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
