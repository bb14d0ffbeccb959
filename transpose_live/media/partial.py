"""Outputs are written under a temporary name in their own folder and renamed into place when
complete, so a crash never leaves half a file under the final name."""

from __future__ import annotations

import os
from pathlib import Path


def partial_path(path: str | Path) -> Path:
    """`out.mp4` -> `.out.partial.mp4` beside it (same folder, so the final rename is atomic; the
    suffix is kept so libraries that pick a format from the name still see it)."""
    path = Path(path)
    return path.with_name(f".{path.stem}.partial{path.suffix}")


def publish(partial: str | Path, final: str | Path) -> Path:
    """Renames a finished temporary file onto its final name (replacing an older file)."""
    os.replace(partial, final)
    return Path(final)


def discard(partial: str | Path) -> None:
    """Removes a temporary file that will not be completed."""
    try:
        os.unlink(partial)
    except FileNotFoundError:
        pass
