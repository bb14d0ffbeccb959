"""Keeps ultralytics offline at run time: no pip auto-installs, no telemetry, no settings sync.

Call `configure_ultralytics_offline()` before the first `import ultralytics` (it is idempotent;
called later it still patches the already-imported modules).
"""

from __future__ import annotations

import os
import sys


def configure_ultralytics_offline() -> None:
    """YOLO_OFFLINE=1 unless set (ultralytics.utils.ONLINE False: no events/telemetry, no
    `check_requirements` upgrades), YOLO_AUTOINSTALL=false (never pip-installs a missing
    requirement such as `lap`; it warns instead), and settings["sync"] False in memory only
    (the user's settings file is untouched). Explicit YOLO_* values set by the user are kept,
    except auto-install, which is always off."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ["YOLO_AUTOINSTALL"] = "false"
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
