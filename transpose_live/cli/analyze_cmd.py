"""`transpose-live analyze POSES`: joint angles, repetitions and zero-lag smoothing of a recorded run
(the JSONL or CSV that `video` / `webcam` wrote). Runs no model."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import typer

from transpose_live.cli.options import Command
from transpose_live.config import KEYPOINT_THRESHOLD

SMOOTH_HELP = "Zero-lag file smoother: rts (Kalman + Rauch-Tung-Striebel), savgol (Savitzky-Golay) or none."


def analyze_command(
    poses: Path = typer.Argument(..., help="Poses a run wrote: its --json (.jsonl) or --csv file, or the 3D --json of triangulate."),
    exercise: Optional[str] = typer.Option(None, "--exercise", "-e", help="Count reps: squat, push-up, lunge, jumping-jack, biceps-curl, or a .yaml / .toml exercise file."),
    side: Optional[str] = typer.Option(None, "--side", help="auto | left | right | both (default: the exercise's own, auto)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Rep events JSONL to write."),
    csv_out: Optional[Path] = typer.Option(None, "--csv", help="Angles CSV to write (one row per person per frame)."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Angles-over-time figure to write (.png, .svg, .pdf)."),
    smoothed: Optional[Path] = typer.Option(None, "--smoothed", help="The smoothed, gap-filled poses as JSONL (the schema of video --json)."),
    trc: Optional[Path] = typer.Option(None, "--trc", help="OpenSim TRC markers of one person (the longest track, or --track)."),
    track: Optional[int] = typer.Option(None, "--track", help="Analyse only this track id."),
    smooth: str = typer.Option("rts", "--smooth", help=SMOOTH_HELP),
    max_gap: int = typer.Option(10, "--max-gap", min=0, help="Fill keypoint dropouts of at most this many frames."),
    kpt_thr: float = typer.Option(KEYPOINT_THRESHOLD, "--kpt-thr", min=0.0, max=1.0, help="Keypoints scoring below this give NaN angles."),
    stitch: bool = typer.Option(True, "--stitch/--no-stitch", help="First join the tracks of one person split by the live tracker (time gaps and motion; docs/tracking.md)."),
) -> None:
    """Angles, reps and smoothing of a recorded poses file (no model is run)."""
    from rich.console import Console

    from transpose_live.analytics.analysis import analyze
    from transpose_live.analytics.exercises import load_exercise
    from transpose_live.analytics.smoothing import SMOOTHERS
    from transpose_live.errors import UserError
    from transpose_live.paths import OutputGuard
    from transpose_live.pose_files import read_poses

    if smooth not in SMOOTHERS:
        raise UserError(f"--smooth must be one of {', '.join(SMOOTHERS)}, not {smooth!r}")
    ex = load_exercise(exercise, side) if exercise else None
    if side is not None and ex is None:
        raise UserError("--side needs --exercise")
    if json_out is not None and ex is None:
        raise UserError("--json writes rep events and needs --exercise")
    guard = OutputGuard(inputs=[poses] + ([Path(exercise)] if exercise and Path(exercise).is_file() else []))
    outputs = {key: guard.file(path, what) for key, path, what in (
        ("json", json_out, "--json file"), ("csv", csv_out, "--csv file"), ("plot", plot, "--plot figure"),
        ("smoothed", smoothed, "--smoothed file"), ("trc", trc, "--trc file")) if path is not None}
    recording = read_poses(poses)
    if recording.dims == 3 and ({"trc", "smoothed"} & set(outputs)):
        raise UserError("--trc / --smoothed are for 2D poses files; `triangulate --trc` writes the 3D markers")
    if stitch and recording.dims == 2:
        from transpose_live.tracking.stitch import stitch_recording

        joined = stitch_recording(recording)
        if joined:
            Console().print(f"stitched tracks {', '.join(f'{a}->{b}' for a, b in sorted(joined.items()))}",
                            highlight=False, soft_wrap=True)
    if track is not None:
        keep = [p.select(p.track_ids == track) for p in recording.poses]
        if not any(len(p) for p in keep):
            raise UserError(f"--track {track}: no such track in {poses} (tracks: {recording.track_ids()})")
        recording.poses = keep
    result = analyze(recording, ex, kpt_thr=kpt_thr, smooth=smooth, max_gap=max_gap)
    console = Console()
    _print_summary(console, result)
    _write(console, result, outputs)


def _write(console, result, outputs: dict) -> None:
    from transpose_live.analytics.outputs import (
        longest_track,
        write_angles_csv,
        write_events,
        write_smoothed_poses,
        write_trc,
    )
    from transpose_live.analytics.plots import plot_angles

    if "csv" in outputs:
        n = write_angles_csv(result, outputs["csv"])
        console.print(f"wrote {outputs['csv']} ({n} rows)", highlight=False, soft_wrap=True)
    if "json" in outputs:
        n = write_events(result, outputs["json"])
        console.print(f"wrote {outputs['json']} ({n} rep events)", highlight=False, soft_wrap=True)
    if "plot" in outputs:
        n = plot_angles(result, outputs["plot"])
        console.print(f"wrote {outputs['plot']} ({n} {'person' if n == 1 else 'people'})", highlight=False, soft_wrap=True)
    if "smoothed" in outputs:
        n = write_smoothed_poses(result, outputs["smoothed"])
        console.print(f"wrote {outputs['smoothed']} ({n} frames)", highlight=False, soft_wrap=True)
    if "trc" in outputs and result.tracks:
        t = longest_track(result)
        n = write_trc(result, t, outputs["trc"])
        console.print(f"wrote {outputs['trc']} (person #{t.series.track_id}, {n} frames)", highlight=False,
                      soft_wrap=True)


def _fmt(value: float, digits: int = 1) -> str:
    return "-" if not math.isfinite(value) else f"{value:.{digits}f}"


def _print_summary(console, result) -> None:
    from rich.table import Table

    from transpose_live.analytics.analysis import summary_rows
    from transpose_live.tables import print_table

    ex = result.exercise
    title = f"{ex.name} ({ex.angle} angle, side {ex.side})" if ex else "people"
    table = Table(title=title)
    for name in ("person", "frames", "reps", "tempo (s/rep)", "reps/min", "range of motion (deg)", "side"):
        table.add_column(name, justify="left" if name in ("person", "side") else "right")
    for row in summary_rows(result):
        table.add_row(f"#{row['track_id']}", str(row["frames"]), str(row["reps"]) if ex else "-",
                      _fmt(row["tempo_s"], 2), _fmt(row["reps_per_min"]), _fmt(row["rom_deg"]), row["side"] or "-")
    print_table(console, table)


def register(app: typer.Typer) -> None:
    """Adds `analyze` to the app."""
    app.command("analyze", cls=Command)(analyze_command)
