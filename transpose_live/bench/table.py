"""Bench records -> a rich table (terminal) or a markdown table (benchmarks/results)."""

from __future__ import annotations

from rich.table import Table


def _rows(records: list[dict]) -> list[tuple[tuple, dict[int, dict]]]:
    """Group records into rows keyed by (model, precision, attention), batch -> record, run order kept."""
    rows: dict[tuple, dict[int, dict]] = {}
    for r in records:
        rows.setdefault((r["model"], r["precision"], r["attention"]), {})[r["batch"]] = r
    return list(rows.items())


def batches_of(records: list[dict]) -> list[int]:
    return sorted({r["batch"] for r in records})


def _f(v, fmt: str = "{:.1f}") -> str:
    return "-" if v is None else fmt.format(v)


def _label(model: str, precision: str, attention: str | None) -> str:
    return f"{model} {precision}" + (" ref-attn" if attention == "reference" else "")


def _time_cell(r: dict | None, sep: str) -> str:
    if r is None:
        return ""
    if r["error"]:
        return r["error"]
    cell = f"{r['ms_median']:.1f} / {r['ms_p90']:.1f} ms{sep}{r['crops_per_s']:.1f} crops/s"
    if r["speedup_vs_reference"] is not None and r["attention"] != "reference":
        cell += f"{sep}x{r['speedup_vs_reference']:.2f} vs ref"
    return cell


def _static_cells(r: dict) -> list[str]:
    return [
        f"{r['params']:,}", f"{r['gflops']:.2f} / {r['paper_gflops']:.1f}", _f(r["gmacs"], "{:.2f}"),
        _f(r["paper_ap"]["val_det"]), _f(r["paper_fps_2080ti"], "{:.0f}"),
    ]


STATIC_HEADERS = ["params", "GFLOPs ours / paper", "GMACs", "paper AP", "paper FPS"]


def rich_table(records: list[dict], title: str | None = None) -> Table:
    """One row per model x precision x attention; per batch: ms/batch median / p90, crops/s, speed-up."""
    batches = batches_of(records)
    table = Table(title=title, caption=CAPTION, caption_justify="left")
    table.add_column("model", no_wrap=True)
    for h in STATIC_HEADERS:
        table.add_column(h, justify="right", no_wrap=h == "params", min_width=10 if h == "params" else None)
    for b in batches:
        table.add_column(f"batch {b}", justify="right")
    for (model, precision, attention), by_batch in _rows(records):
        first = next(iter(by_batch.values()))
        table.add_row(_label(model, precision, attention), *_static_cells(first),
                      *(_time_cell(by_batch.get(b), "\n") for b in batches))
    return table


CAPTION = (
    "ms per batch median / p90. GFLOPs per crop in the paper's counting convention; GMACs = true "
    "multiply-accumulates. Paper AP: COCO val2017 with detector boxes; paper FPS: RTX 2080 Ti, batch 1. "
    "ref-attn: same weights, fp32, batch 1, attention matrix materialised as in the reference code."
)


def markdown_table(records: list[dict]) -> str:
    """The same table as GitHub markdown."""
    batches = batches_of(records)
    header = ["model", *STATIC_HEADERS, *(f"batch {b}" for b in batches)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for (model, precision, attention), by_batch in _rows(records):
        first = next(iter(by_batch.values()))
        cells = [_label(model, precision, attention), *_static_cells(first),
                 *(_time_cell(by_batch.get(b), "<br>") for b in batches)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n" + CAPTION + "\n"
