"""Keeps ultralytics offline and quiet at run time: no pip auto-installs, no telemetry, no settings sync,
and nothing on stdout (`--json -` carries only records there).

Call `configure_ultralytics_offline()` before the first `import ultralytics` (it is idempotent;
called later it still patches the already-imported modules and their logger). ultralytics logs to
stdout at INFO level (`Loading ... for OpenVINO inference...`, `Using OpenVINO LATENCY mode ...`, ~15
lines per export); here its logger writes to stderr, at ERROR level unless the user set YOLO_VERBOSE.
`stdout_to_stderr()` sends what native code and `print` write to stdout during an export to stderr.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys

LOGGER_NAME = "ultralytics"
_HANDLER = "ultralytics.utils.set_logging"  # the name ultralytics gives its stdout handler


class _Stderr:
    """A stream that is always the current `sys.stderr` (pytest and redirections swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_ultralytics_offline() -> None:
    """YOLO_OFFLINE=1 unless set (ultralytics.utils.ONLINE False: no events/telemetry, no
    `check_requirements` upgrades), YOLO_AUTOINSTALL=false (never pip-installs a missing
    requirement such as `lap`; it warns instead), and settings["sync"] False in memory only
    (the user's settings file is untouched). Explicit YOLO_* values set by the user are kept,
    except auto-install, which is always off."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ["YOLO_AUTOINSTALL"] = "false"
    verbose_asked = "YOLO_VERBOSE" in os.environ
    os.environ.setdefault("YOLO_VERBOSE", "false")
    utils = sys.modules.get("ultralytics.utils")
    if utils is None:
        import ultralytics.utils as utils  # noqa: PLC0415 - reads the variables above at import
    offline = os.environ["YOLO_OFFLINE"].strip().lower() in {"1", "true", "yes", "on", "y", "t"}
    for name in ("ultralytics.utils", "ultralytics.utils.checks", "ultralytics.utils.events"):
        module = sys.modules.get(name)  # constants copied at import time: patch them if imported earlier
        if module is None:
            continue
        if hasattr(module, "AUTOINSTALL"):
            module.AUTOINSTALL = False
        if offline and hasattr(module, "ONLINE"):
            module.ONLINE = False
    settings = getattr(utils, "SETTINGS", None)
    if settings is not None and settings.get("sync", False):
        dict.__setitem__(settings, "sync", False)
    quiet_logger(None if verbose_asked else logging.ERROR)


def quiet_logger(level: int | None = logging.ERROR) -> None:
    """ultralytics' logger writes to stderr, never stdout; `level` (None: keep it) as YOLO_VERBOSE=false
    gives at import (ultralytics was imported earlier, before YOLO_VERBOSE was set, on some paths)."""
    logger = logging.getLogger(LOGGER_NAME)
    for handler in logger.handlers:
        if type(handler) is not logging.StreamHandler:  # e.g. pytest's capture handlers: left alone
            continue
        if handler.stream is sys.stdout or handler.stream is sys.__stdout__ or handler.name == _HANDLER:
            handler.setStream(_Stderr())
        if level is not None:
            handler.setLevel(level)
    if level is not None:
        logger.setLevel(level)


@contextlib.contextmanager
def stdout_to_stderr():
    """Within the block, whatever is written to stdout (Python `print`, native code on file descriptor 1)
    goes to stderr. For exports run before any record is written; the file descriptors are restored after."""
    sys.stdout.flush()
    try:
        fd = sys.stdout.fileno()
        err = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real file descriptors (pytest capture): Python level only
        with contextlib.redirect_stdout(sys.stderr):
            yield
        return
    saved = os.dup(fd)
    try:
        os.dup2(err, fd)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, fd)
        os.close(saved)
