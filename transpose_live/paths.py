"""Output paths, checked before anything is written: never an input, always writable, and
written under a temporary name in the same folder that is renamed into place when complete.

    >>> guard = OutputGuard(inputs=[video_in])
    >>> out = guard.file(args.out, "--out video")          # UserError on a collision or no access
    >>> with atomic_path(out) as tmp: write(tmp)           # renamed to `out` only when complete
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import uuid
from pathlib import Path
from typing import Callable, Iterable, Iterator

from transpose_live.errors import UserError


def canonical(path: str | Path) -> Path:
    """Absolute path with `~`, `..` and symlinks resolved (also for a file not created yet)."""
    return Path(os.path.realpath(Path(path).expanduser()))


def same_file(a: str | Path, b: str | Path) -> bool:
    """True when `a` and `b` name the same file: the same resolved path, or (both existing) the same
    inode, which also catches hard links and another letter case on a case-insensitive disk."""
    ca, cb = canonical(a), canonical(b)
    if ca == cb:
        return True
    try:
        return os.path.samefile(ca, cb)
    except OSError:
        return False


def inside(path: str | Path, folder: str | Path) -> bool:
    """True when `path` lies in `folder` (at any depth), after resolving both."""
    p, f = canonical(path), canonical(folder)
    return p == f or f in p.parents


def temporary_sibling(path: str | Path) -> Path:
    """A new, unused name in the same folder as `path`, with the same suffix (so writers that pick
    a container from the extension still do): `.name.<random>.partial.mp4`."""
    path = Path(path)
    return path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.partial{path.suffix}")


def commit(tmp: str | Path, final: str | Path) -> Path:
    """Renames a completed temporary file into place (atomic on one filesystem)."""
    os.replace(tmp, final)
    return Path(final)


@contextlib.contextmanager
def atomic_path(final: str | Path) -> Iterator[Path]:
    """Yields a temporary sibling of `final`; renames it into place when the block ends normally,
    removes it when the block raises."""
    tmp = temporary_sibling(final)
    try:
        yield tmp
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    commit(tmp, final)


def write_atomic(path: str | Path, data: str | bytes | Callable[[Path], object], what: str = "output") -> Path:
    """Writes a whole file under a temporary name and renames it into place; UserError if it cannot
    (the temporary file removed). `data`: the bytes or text, or a function writing the file it is given
    (e.g. `lambda tmp: torch.save(state, tmp)`)."""
    path = Path(path).expanduser()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            if isinstance(data, bytes):
                tmp.write_bytes(data)
            elif isinstance(data, str):
                tmp.write_text(data, encoding="utf-8")
            else:
                _call_writer(data, tmp)
    except OSError as exc:
        raise disk_full_error(exc) or UserError(f"cannot write {what} {path}: {exc.strerror or exc}") from None
    return path


FULL_BELOW = 1 << 20  # bytes free: a writer that failed with less than this left hit a full disk


def _call_writer(write: Callable[[Path], object], tmp: Path) -> None:
    """Runs a writer function; a non-OSError failure on a disk left (nearly) full (torch.save raises
    RuntimeError there) becomes the OSError ENOSPC it stands for."""
    try:
        write(tmp)
    except OSError:
        raise
    except Exception:
        try:
            stat = os.statvfs(tmp.parent)
            full = stat.f_bavail * stat.f_frsize < FULL_BELOW
        except (OSError, AttributeError):
            full = False
        if full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp)) from None
        raise


def temporary_dir(final: str | Path) -> Path:
    """A new, empty folder beside `final` (`.name.<random>.partial`), with the mode a plain `mkdir`
    gives (the umask applies; `tempfile.mkdtemp` would make it 0700)."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}.partial")
    tmp.mkdir()
    return tmp


def commit_dir(tmp: str | Path, final: str | Path, replace: bool = False) -> Path:
    """Renames a completed temporary folder into place; `replace`: an existing `final` folder is removed
    first (otherwise the rename fails with OSError when `final` exists and is not empty)."""
    final = Path(final)
    if replace and final.is_dir():
        shutil.rmtree(final)
    os.rename(tmp, final)
    return final


@contextlib.contextmanager
def atomic_dir(final: str | Path, replace: bool = True) -> Iterator[Path]:
    """Yields a temporary folder beside `final`; renames it into place when the block ends normally
    (replacing an existing `final` folder), removes it when the block raises."""
    tmp = temporary_dir(final)
    try:
        yield tmp
        commit_dir(tmp, final, replace)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


_DISK_FULL = {  # errno: (what happened, what to do)
    errno.ENOSPC: ("no space left on", "free some space"),
    errno.EDQUOT: ("disk quota exceeded on", "free some space"),
    errno.EFBIG: ("file too large for", "raise the file-size limit (ulimit -f) or write elsewhere"),
}


def disk_full_error(exc: BaseException) -> UserError | None:
    """The one-line UserError for an OSError saying the disk (or quota, or file-size limit) is full,
    None for any other exception."""
    err = getattr(exc, "errno", None)
    if not isinstance(exc, OSError) or err not in _DISK_FULL:
        return None
    where = exc.filename if getattr(exc, "filename", None) else "the output disk"
    if isinstance(where, str) and os.sep in where:
        where = os.path.dirname(where) or where
    what, todo = _DISK_FULL[err]
    return UserError(f"{what} {where} ({exc.strerror or os.strerror(err)}); {todo} and run the command again "
                     "(temporary files were removed)")


class OutputGuard:
    """Checks every output path of one command against its inputs before anything is opened.

    inputs: the files (and folders) the command reads. An output that is an input, or an output
    folder that holds an input under a name that would be written, is a UserError.
    """

    def __init__(self, inputs: Iterable[str | Path] = ()) -> None:
        self.inputs = [Path(p) for p in inputs if p is not None and not _is_url(p)]
        self.outputs: list[tuple[Path, str]] = []

    def file(self, path: str | Path, what: str) -> Path:
        """A checked output file path (parent folders created): not an input, not a folder, writable,
        and not the same file as another output of this command."""
        path = Path(path).expanduser()
        for source in self.inputs:
            if same_file(path, source):
                raise UserError(f"{what} {path} is the input {source}; choose another output name "
                                "(inputs are never overwritten)")
        for other, other_what in self.outputs:
            if same_file(path, other):
                raise UserError(f"{what} and {other_what} are the same file {path}; give them different names")
        check_writable_file(path, what)
        self.outputs.append((path, what))
        return path

    def folder(self, path: str | Path, what: str, names: Iterable[str] = ()) -> Path:
        """A checked output folder: writable, and none of `names` written into it is an input."""
        path = Path(path).expanduser()
        for source in self.inputs:
            if source.is_dir() and same_file(path, source):
                raise UserError(f"{what} {path} is the input folder; choose another folder "
                                "(inputs are never overwritten)")
            for name in names:
                if same_file(path / name, source):
                    raise UserError(f"{what} {path} would overwrite the input {source}; choose another folder "
                                    "(inputs are never overwritten)")
        check_writable_dir(path, what)
        self.outputs.append((path, what))
        return path


def _is_url(path) -> bool:
    return isinstance(path, str) and "://" in path


def check_writable_file(path: str | Path, what: str = "output") -> Path:
    """UserError unless a file can be created at `path` (parent folders are created; an existing
    file is left untouched: outputs are written to a temporary sibling and renamed)."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise UserError(f"{what} {path} is a folder; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot write {what} {path}: {exc.strerror or exc}") from None
    probe = temporary_sibling(path)
    try:
        with open(probe, "xb"):
            pass
    except OSError as exc:
        raise UserError(f"cannot write {what} {path}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):  # a read-only mount answers EROFS even for a file never made
            probe.unlink(missing_ok=True)
    if path.exists() and not os.access(path, os.W_OK):
        raise UserError(f"cannot write {what} {path}: the existing file is read-only")
    return path


def check_writable_dir(path: str | Path, what: str = "output folder") -> Path:
    """UserError unless `path` is (or can be made) a folder we can write into."""
    path = Path(path).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create {what} {path}: {exc.strerror or exc}") from None
    if not os.access(path, os.W_OK):
        raise UserError(f"cannot write into {what} {path}: permission denied")
    return path


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
