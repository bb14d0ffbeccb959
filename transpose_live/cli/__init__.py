"""The `transpose-live` command line: one typer app, one module per command group.

Each module under `transpose_live.cli` exposes `register(app)`. User mistakes raise
`transpose_live.errors.UserError`, printed here as one line with a non-zero exit code.
"""

from __future__ import annotations

import sys

import typer

from transpose_live.errors import UserError

app = typer.Typer(
    name="transpose-live",
    help="Real-time human pose estimation with TransPose (ICCV 2021).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_all() -> None:
    from transpose_live.cli import (  # noqa: PLC0415
        bench_cmd,
        eval_cmd,
        explain_cmd,
        export_cmd,
        models_cmd,
        run_cmds,
    )

    for module in (models_cmd, run_cmds, bench_cmd, eval_cmd, explain_cmd, export_cmd):
        module.register(app)


_register_all()


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: runs the app, turning UserError into one line + exit code."""
    try:
        app(args=argv, standalone_mode=False)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    except Exception as exc:  # click's usage errors (typer vendors click, so match by shape)
        if type(exc).__name__ == "Abort":
            print("aborted", file=sys.stderr)
            return 130
        if hasattr(exc, "show") and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()
            return exc.exit_code
        raise
    return 0
