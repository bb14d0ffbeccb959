"""`transpose-live batch`: the `video` pipeline over many files, on a local pool or a Ray cluster
(transpose_live.batch)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from transpose_live.cli.options import Command, run_options
from transpose_live.config import RunConfig
from transpose_live.errors import UserError


def register(app: typer.Typer) -> None:
    """Adds `batch` to the app."""

    @app.command(cls=Command)
    @run_options("batch")
    def batch(
        cfg: RunConfig,
        inputs: list[str] = typer.Argument(..., help="Video/image files, folders (recursive), globs, or .txt lists of paths."),
        out_dir: Path = typer.Option(..., "--out-dir", help="Outputs mirror the input tree here, with manifest.jsonl and summary.json/csv."),
        ray: Optional[str] = typer.Option(None, "--ray", help="Run on Ray: auto (this machine's cluster, else a local one) or a cluster ADDRESS (host:port)."),
        workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Worker processes (one model each). Default: one per GPU, else cores // 2."),
        gpus_per_worker: Optional[float] = typer.Option(None, "--gpus-per-worker", min=0.0, help="GPUs each worker asks for (fractions share a GPU). Default 1 when there are GPUs."),
        render: bool = typer.Option(False, "--render/--no-render", help="Also write the rendered mp4 (images: the rendered image) of each input."),
    ) -> None:
        """Pose estimation over an archive: many files, one JSONL each, resumable, local or on Ray."""
        from transpose_live.batch import expand_inputs, run_batch

        console = Console(stderr=True)
        options = resolve_options(cfg)
        if ray is not None:
            from transpose_live.batch.ray_executor import import_ray

            import_ray()  # one line on how to install it when it is missing
        items = expand_inputs(inputs, exclude=out_dir)
        report = run_batch(items, out_dir, options, render=render, ray=ray, workers=workers,
                           gpus_per_worker=gpus_per_worker, threads=cfg.threads, progress=cfg.progress, console=console)
        console.print(report.throughput(), soft_wrap=True, highlight=False, markup=False)
        console.print(f"wrote {report.out_dir / 'summary.json'}, summary.csv and manifest.jsonl",
                      soft_wrap=True, highlight=False, markup=False)
        if report.interrupted is not None:
            import signal

            code = 143 if report.interrupted == signal.SIGTERM else 130
            raise UserError(f"interrupted; {report.count('interrupted')} inputs unfinished: run the same command "
                            f"again to resume", exit_code=code)
        if report.failed:
            names = ", ".join(Path(r["input"]).name for r in report.failed[:5])
            more = f" and {len(report.failed) - 5} more" if len(report.failed) > 5 else ""
            raise UserError(f"{len(report.failed)} of {len(report.rows)} inputs failed: {names}{more} "
                            f"(errors in {report.out_dir / 'summary.json'})", exit_code=1)


def resolve_options(cfg: RunConfig) -> RunConfig:
    """The run config the workers get, checked here so mistakes are one line before any work: the model
    name filled in from the weights, file options as absolute paths (workers may run elsewhere)."""
    from transpose_live.engine import describe_model
    from transpose_live.chain import attention_index, check_config
    from transpose_live.pipeline.detector import resolve_detector_weights

    if cfg.show:
        raise UserError("batch runs without a window; drop --show (use video --show to watch one file)")
    check_config(cfg)
    weights = _file_option(cfg.weights_value, "--weights", keep=("official",))
    spec, keypoints = describe_model(cfg.model, weights)
    attention_index(cfg.attention, spec, keypoints)
    detector_weights = _file_option(resolve_detector_weights(cfg.detector_weights), "--detector-weights",
                                    bare_names=True)
    int8_calibration = _file_option(cfg.int8_calibration, "--int8-calib")
    return cfg.replace(model=spec.name, weights=weights or "random", detector_weights=detector_weights,
                       int8_calibration=int8_calibration,
                       detector=(cfg.detector or "yolo").strip().lower(), show=False)


def _file_option(value: str | None, what: str, keep: tuple = (), bare_names: bool = False) -> str | None:
    """A file option as an absolute path (workers may run elsewhere); `keep` values pass as they
    are, and with `bare_names` so does a bare file name that a library resolves itself."""
    if value is None or value in keep:
        return value
    path = Path(value).expanduser()
    if path.exists():
        return str(path.resolve())
    if bare_names and path.name == value:
        return value
    raise UserError(f"{what} file not found: {value}")
