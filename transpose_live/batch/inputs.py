"""Batch inputs: files, folders (recursive), globs and list files -> media files with the path
each one gets below the output folder.

    >>> items = expand_inputs(["archive/", "extra/*.mp4", "more.txt"])
    >>> items[0].path, items[0].rel      # absolute file, path mirrored under --out-dir
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass
from pathlib import Path

from transpose_live.errors import UserError
from transpose_live.images import IMAGE_SUFFIXES

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts",
                  ".mts", ".m2ts", ".3gp", ".ogv")
MEDIA_SUFFIXES = VIDEO_SUFFIXES + IMAGE_SUFFIXES
LIST_SUFFIXES = (".txt", ".lst", ".list")
_GLOB_CHARS = "*?["
# what batch writes: `<input name>.<8 hex options hash>[.part].<suffix>` (jobs.output_paths)
_OUTPUT_NAME = re.compile(r"\.(" + "|".join(s[1:] for s in MEDIA_SUFFIXES) + r")\.[0-9a-f]{8}(\.part)?\.\w+$",
                          re.IGNORECASE)


@dataclass(frozen=True)
class InputFile:
    """One input: `path` (absolute), `rel` (its place below the output folder), `kind` video|image."""

    path: Path
    rel: Path

    @property
    def kind(self) -> str:
        return "image" if self.path.suffix.lower() in IMAGE_SUFFIXES else "video"


def is_media(path: Path) -> bool:
    return path.suffix.lower() in MEDIA_SUFFIXES


def expand_inputs(args: list[str | Path], exclude: Path | None = None) -> list[InputFile]:
    """Every media file named by `args`, in order, without duplicates.

    A folder contributes its video and image files (recursively, sorted, hidden ones skipped); a
    glob its matches (`**` recurses); a .txt/.lst/.list file one path per line (relative to the
    list's folder; blank lines and # comments skipped; a listed file that is missing is kept and
    recorded as failed); any other existing file is taken as a
    video. Under `exclude` (the output folder), batch's own outputs are never inputs. Outputs mirror the tree
    below the common folder of all arguments. UserError if an argument matches nothing.
    """
    exclude = Path(exclude).resolve() if exclude is not None else None
    found: list[tuple[Path, Path]] = []  # (file, base folder it is mirrored from)
    for arg in args:
        found += _expand_one(str(arg), Path.cwd())
    seen: set[Path] = set()
    unique: list[tuple[Path, Path]] = []
    for path, base in found:
        if path in seen or (exclude is not None and path.is_relative_to(exclude) and _OUTPUT_NAME.search(path.name)):
            continue
        seen.add(path)
        unique.append((path, base))
    if not unique:
        raise UserError(f"no video or image files in {' '.join(map(str, args))}")
    root = Path(os.path.commonpath([str(base) for _, base in unique]))
    return [InputFile(path, path.relative_to(root)) for path, _ in unique]


def _expand_one(arg: str, cwd: Path) -> list[tuple[Path, Path]]:
    path = Path(arg).expanduser()
    if not path.is_absolute():
        path = cwd / path
    if path.is_dir():
        folder = path.resolve()
        return [(f, folder) for f in _walk(folder)]
    if path.is_file():
        path = path.resolve()
        if path.suffix.lower() in LIST_SUFFIXES:
            return _read_list(path)
        return [(path, path.parent)]
    if any(c in arg for c in _GLOB_CHARS):
        matches = sorted(glob.glob(str(path), recursive=True))
        base = _glob_base(path)
        out: list[tuple[Path, Path]] = []
        for m in map(Path, matches):
            if m.is_dir():
                out += [(f, base) for f in _walk(m.resolve())]
            elif m.is_file() and is_media(m):
                out.append((m.resolve(), base))
        if not out:
            raise UserError(f"no video or image files match {arg}")
        return out
    raise UserError(f"input not found: {arg}")


def _walk(folder: Path) -> list[Path]:
    files = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files += [Path(dirpath) / f for f in sorted(filenames)
                  if not f.startswith(".") and is_media(Path(f))]
    return files


def _glob_base(pattern: Path) -> Path:
    """The folder above a pattern's first glob character."""
    parts = []
    for part in pattern.parts:
        if any(c in part for c in _GLOB_CHARS):
            break
        parts.append(part)
    return Path(*parts).resolve() if parts else Path.cwd()


def _read_list(list_file: Path) -> list[tuple[Path, Path]]:
    try:
        lines = list_file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read input list {list_file}: {exc}") from None
    out: list[tuple[Path, Path]] = []
    for line in lines:
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        path = Path(entry).expanduser()
        path = path if path.is_absolute() else list_file.parent / path
        if not path.exists() and not any(c in entry for c in _GLOB_CHARS):
            out.append((path.resolve(), path.resolve().parent))  # recorded as failed, the batch goes on
        else:
            out += _expand_one(entry, list_file.parent)
    return out
