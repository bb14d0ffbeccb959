"""The typer app: one module per command group, each exposing `register(app)`."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="transpose-live",
    help="Real-time human pose estimation with TransPose (ICCV 2021).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_all() -> None:
    from transpose_live.cli import (  # noqa: PLC0415
        batch_cmd,
        bench_cmd,
        eval_cmd,
        explain_cmd,
        export_cmd,
        label_cmd,
        models_cmd,
        run_cmds,
        train_cmd,
    )

    for module in (models_cmd, run_cmds, batch_cmd, bench_cmd, eval_cmd, explain_cmd, export_cmd, train_cmd, label_cmd):
        module.register(app)
    from transpose_live.cli import analyze_cmd  # noqa: PLC0415 - analytics (issue #24)
    analyze_cmd.register(app)
    from transpose_live.cli import doctor_cmd  # noqa: PLC0415 - issue #32

    doctor_cmd.register(app)
    from transpose_live.cli import calibrate_cmd, triangulate_cmd  # noqa: PLC0415 - multi-camera 3D (issue #31)
    calibrate_cmd.register(app)
    triangulate_cmd.register(app)


_register_all()
