"""`transpose-live calibrate`: convert a calibration to ours (Pose2Sim's TOML layout), or compute one from
checkerboard or ChArUco images / videos (docs/3d.md)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from transpose_live.cli.options import Command


def _named(items: list[str] | None) -> dict[str, Path]:
    """'NAME=PATH' (or PATH, named after the file / folder) -> {name: path}."""
    out = {}
    for item in items or []:
        name, _, path = item.rpartition("=") if "=" in item else ("", "", item)
        name = name or Path(path).stem.replace("int_", "").replace("_img", "").split(".")[0]
        out[name] = Path(path)
    return out


def calibrate_command(
    out: Path = typer.Option(..., "--out", "-o", help="Calibration TOML to write (Pose2Sim's layout)."),
    source: Optional[Path] = typer.Option(None, "--from", help="Start from this calibration (.toml, .yml, .json, .qca.txt): converted, or completed by the boards below."),
    intrinsics: Optional[List[str]] = typer.Option(None, "--intrinsics", help="NAME=PATH per camera: a folder of board images, an image or a video (intrinsics)."),
    extrinsics: Optional[List[str]] = typer.Option(None, "--extrinsics", help="NAME=PATH per camera: an image or video of the board seen by every camera at once (its pose = the world)."),
    board: str = typer.Option("4x7", "--board", help="Checkerboard inner corners, COLSxROWS."),
    square: float = typer.Option(60.0, "--square", help="Board square side in mm (checkerboard or ChArUco)."),
    charuco: Optional[str] = typer.Option(None, "--charuco", help="A ChArUco board for --intrinsics instead: its squares, COLSxROWS."),
    marker: Optional[float] = typer.Option(None, "--marker", help="ChArUco marker side in mm (default 3/4 of --square)."),
    dictionary: str = typer.Option("4X4_50", "--dictionary", help="ChArUco ArUco dictionary (4X4_50, 5X5_100, 6X6_250, ...)."),
) -> None:
    """Calibrate cameras from a checkerboard or ChArUco board, or convert a calibration file to ours."""
    from rich.console import Console

    from transpose_live.calib.camera import Calibration, Camera
    from transpose_live.calib.formats import read_calibration, write_calibration
    from transpose_live.errors import UserError
    from transpose_live.paths import OutputGuard

    intr, extr = _named(intrinsics), _named(extrinsics)
    if source is None and not intr:
        raise UserError("give --from FILE (to convert) or --intrinsics NAME=PATH per camera")
    guard = OutputGuard(inputs=[p for p in (source, *intr.values(), *extr.values()) if p is not None])
    target = guard.file(out, "--out calibration")
    calib = read_calibration(source) if source is not None else Calibration([])
    cams = {c.name: c for c in calib.cameras}
    console = Console()
    errors = dict(calib.errors)
    if charuco is not None and extr:
        raise UserError("--extrinsics places cameras with the checkerboard (--board); --charuco is for --intrinsics")
    if intr:
        from transpose_live.calib.board import read_views

        intrinsics_of = _intrinsics_method(board, square, charuco, marker, dictionary)
        for name, path in intr.items():
            res = intrinsics_of(read_views(path), name)
            old = cams.get(name)
            cams[name] = Camera(name, res.size, res.matrix, res.distortion,
                                old.rotation if old else [0.0, 0.0, 0.0], old.translation if old else [0, 0, 0])
            console.print(f"{name}: intrinsics from {res.views} views, RMS {res.error:.2f} px, focal "
                          f"{cams[name].focal:.1f} px", highlight=False, soft_wrap=True)
    if extr:
        from transpose_live.calib.board import calibrate_extrinsics, parse_board, read_views

        b = parse_board(board, square)
        for name, path in extr.items():
            if name not in cams:
                raise UserError(f"--extrinsics {name}: no intrinsics for this camera (--intrinsics or --from)")
            cams[name], errors[name] = calibrate_extrinsics(cams[name], read_views(path)[0], b)
            console.print(f"{name}: placed from the board, reprojection error {errors[name]:.2f} px",
                          highlight=False, soft_wrap=True)
    result = Calibration(list(cams.values()), errors)
    write_calibration(result, target)
    console.print(f"wrote {target} ({len(result)} cameras)", highlight=False, soft_wrap=True)


def _intrinsics_method(board: str, square: float, charuco: str | None, marker: float | None, dictionary: str):
    """(images, camera name) -> Intrinsics: from the ChArUco board when given, else from the checkerboard
    (board options checked now, before any image is read)."""
    if charuco is not None:
        from transpose_live.calib.charuco import calibrate_charuco, parse_charuco

        spec = parse_charuco(charuco, square, marker, dictionary)
        return lambda images, name: calibrate_charuco(images, spec, name)
    from transpose_live.calib.board import calibrate_intrinsics, parse_board

    b = parse_board(board, square)
    return lambda images, name: calibrate_intrinsics(images, b, name)


def register(app: typer.Typer) -> None:
    """Adds `calibrate` to the app."""
    app.command("calibrate", cls=Command)(calibrate_command)
