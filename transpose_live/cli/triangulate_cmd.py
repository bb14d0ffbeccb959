"""`transpose-live triangulate --calibration FILE POSES...`: 3D from the poses files of several calibrated
cameras (docs/3d.md). Runs no model."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from transpose_live.cli.options import Command


def triangulate_command(
    poses: List[Path] = typer.Argument(..., help="One poses file per camera (--json .jsonl or --csv of video/webcam), in the calibration's camera order, or named after the cameras."),
    calibration: Path = typer.Option(..., "--calibration", help="Calibration: our/Pose2Sim/Anipose .toml, OpenCV .yml/.json, Qualisys .qca.txt."),
    sync: str = typer.Option("frame", "--sync", help="Match frames by index (frame) or by time (timestamp, within half a frame period)."),
    offset: Optional[List[float]] = typer.Option(None, "--offset", help="Per camera, in order: frames (--sync frame) or seconds (timestamp) to add; repeat once per camera."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="3D JSONL to write (per frame, per person: points, reprojection error, views)."),
    csv_out: Optional[Path] = typer.Option(None, "--csv", help="3D CSV to write (one row per person per frame, metres)."),
    trc: Optional[Path] = typer.Option(None, "--trc", help="OpenSim TRC of the main person (metres, Y up, Pose2Sim marker names)."),
    c3d: Optional[Path] = typer.Option(None, "--c3d", help="C3D of the main person (mm; needs ezc3d)."),
    kpt_thr: float = typer.Option(0.3, "--kpt-thr", min=0.0, max=1.0, help="2D keypoints scoring below this are not used."),
    reject_px: float = typer.Option(80.0, "--reject-px", min=0.0, help="Drop a view whose reprojection error exceeds this (px; 0: keep all views)."),
    smooth: str = typer.Option("rts", "--smooth", help="3D smoother: rts (Kalman + Rauch-Tung-Striebel), savgol or none."),
    max_gap: int = typer.Option(10, "--max-gap", min=0, help="Fill 3D dropouts of at most this many frames."),
    image_size: Optional[str] = typer.Option(None, "--image-size", help="WxH of the frames the poses come from, when not the calibration's (same aspect ratio: intrinsics scaled)."),
) -> None:
    """3D poses from several calibrated cameras' poses files."""
    from rich.console import Console

    from transpose_live.analytics.smoothing import SMOOTHERS
    from transpose_live.calib.camera import fit_calibration, parse_size
    from transpose_live.calib.formats import read_calibration
    from transpose_live.errors import UserError
    from transpose_live.paths import OutputGuard
    from transpose_live.triangulation.files import run_files

    if smooth not in SMOOTHERS:
        raise UserError(f"--smooth must be one of {', '.join(SMOOTHERS)}, not {smooth!r}")
    guard = OutputGuard(inputs=[calibration, *poses])
    outputs = {key: guard.file(path, what) for key, path, what in (
        ("json", json_out, "--json file"), ("csv", csv_out, "--csv file"), ("trc", trc, "--trc file"),
        ("c3d", c3d, "--c3d file")) if path is not None}
    if not outputs:
        raise UserError("name at least one output: --json, --csv, --trc or --c3d")
    calib = read_calibration(calibration)
    console = Console()
    if image_size is not None:
        for note in fit_calibration(calib, parse_size(image_size)):
            console.print(note, highlight=False, soft_wrap=True)
    rec = run_files(calib, poses, sync, offset, kpt_thr=kpt_thr, reject_px=reject_px or None, smooth=smooth,
                    max_gap=max_gap)
    _report(console, rec)
    _write(console, rec, outputs)


def _report(console, rec) -> None:
    from transpose_live.triangulation.metrics import summary

    s = summary(rec)
    err = s["median_reprojection_px"]
    console.print(f"{s['frames']} frames, main person triangulated in {s['frames_triangulated']}, "
                  f"{s['people']} {'person' if s['people'] == 1 else 'people'}, median reprojection error "
                  f"{'-' if err is None else f'{err:.1f}'} px, median skew {s['median_skew_ms']:.1f} ms",
                  highlight=False, soft_wrap=True)


def _write(console, rec, outputs: dict) -> None:
    from transpose_live.triangulation import writers

    for key, write in (("json", writers.write_json), ("csv", writers.write_csv), ("trc", writers.write_trc),
                       ("c3d", writers.write_c3d)):
        if key in outputs:
            n = write(rec, outputs[key])
            console.print(f"wrote {outputs[key]} ({n} {'rows' if key == 'csv' else 'frames'})", highlight=False,
                          soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Adds `triangulate` to the app."""
    app.command("triangulate", cls=Command)(triangulate_command)
