"""The `transpose-live` command line (`main`); the typer app and its commands live in `cli/app.py`.

User mistakes raise `transpose_live.errors.UserError`, printed here as one line with a non-zero
exit code. This module imports only the standard library at first, so Ctrl-C and SIGTERM are
answered with 130 / 143 from the first moment `main` runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading

EXIT_CODES = {signal.SIGINT: (130, "interrupted by Ctrl-C"), signal.SIGTERM: (143, "terminated by SIGTERM")}


def _exit_now(signum, _frame) -> None:
    """Ctrl-C / SIGTERM outside a frame loop (imports, model loading, eval, bench): leave at once.
    Raising instead could land inside a library's import and leave it half-initialised. Nothing is
    half-written: outputs are written under temporary names and renamed only when complete (the
    frame loops install their own handlers, which stop after the frame in flight and close outputs)."""
    code, message = EXIT_CODES[signum]
    with contextlib.suppress(Exception):
        sys.stderr.write(f"error: {message}\n")
        sys.stderr.flush()
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: runs the app and returns its exit code.

    User mistakes (UserError) print one line and return their code (2); Ctrl-C gives 130 and
    SIGTERM 143 at any moment (a frame loop closes its outputs first); usage errors print click's
    message and return 2.
    """
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {s: signal.signal(s, _exit_now) for s in EXIT_CODES}
    try:
        from transpose_live.cli.app import app  # noqa: PLC0415 - after the handlers: interrupts during imports count

        rc = app(args=argv, standalone_mode=False)
        if rc == 130:  # typer turns KeyboardInterrupt (a second Ctrl-C in a frame loop) into Exit(130)
            return _fail("interrupted by Ctrl-C; outputs closed", 130)
        return rc if isinstance(rc, int) else 0
    except _user_errors() as exc:
        return _fail(str(exc), getattr(exc, "exit_code", 2))
    except KeyboardInterrupt:
        return _fail("interrupted by Ctrl-C", 130)
    except BrokenPipeError:  # stdout closed by its reader (`| head -1`): a normal end, as for Unix tools
        silence_stdout()
        return 0
    except Exception as exc:  # click's usage errors and Abort (typer vendors click, so match by shape)
        if type(exc).__name__ == "Abort":  # click's wrapper of KeyboardInterrupt
            return _fail("interrupted by Ctrl-C", 130)
        if hasattr(exc, "show") and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()
            return exc.exit_code
        raise
    finally:
        for s, handler in previous.items():
            if signal.getsignal(s) is _exit_now:
                signal.signal(s, handler)


def silence_stdout() -> None:
    """stdout to /dev/null, so Python's flush at exit does not report the broken pipe again."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _fail(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr, flush=True)
    if code in (130, 143) and threading.current_thread() is threading.main_thread():
        # the run is over: a further Ctrl-C / SIGTERM during interpreter shutdown must not change the code
        for s in EXIT_CODES:
            signal.signal(s, signal.SIG_IGN)
    return code


def _user_errors() -> tuple[type[BaseException], ...]:
    from transpose_live.errors import UserError
    from transpose_live.models.registry import UnknownModelError

    return UserError, UnknownModelError
