"""Official weights: local folders, cache, download with progress, size/sha256 check, atomic rename.

Lookup order for `download_official(spec)`:
  1. `./weights/<checkpoint>` (or $TRANSPOSE_LIVE_WEIGHTS_DIR), then the checkout's own `weights/` folder
     (for files placed by hand),
  2. `$TRANSPOSE_LIVE_HOME/weights/<checkpoint>` (default home `~/.cache/transpose-live`),
  3. download into (2) from the registry URL, or from `$TRANSPOSE_LIVE_WEIGHTS_URL` + the checkpoint's
     file name when that variable names a mirror (a company mirror, proxy or air-gapped server; like
     HF_ENDPOINT / PIP_INDEX_URL). With a mirror, models without a direct official URL download too.
A download goes to `<file>.part` (resumed with an HTTP Range request when a partial file exists),
is checked against the expected size and sha256, and only then renamed into place. A hash not yet
in the registry is recorded in `$TRANSPOSE_LIVE_HOME/hashes.json` on first download and checked
on later downloads; it is never invented.
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.error
import urllib.request
from pathlib import Path

from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from transpose_live.errors import WeightsError
from transpose_live.paths import commit, file_sha256, write_atomic
from transpose_live.models.registry import ModelSpec

CHUNK = 1 << 16
TIMEOUT_S = 30
MIRROR_ENV = "TRANSPOSE_LIVE_WEIGHTS_URL"


def home_dir() -> Path:
    return Path(os.environ.get("TRANSPOSE_LIVE_HOME", Path.home() / ".cache" / "transpose-live")).expanduser()


def cache_dir() -> Path:
    return home_dir() / "weights"


CHECKOUT_WEIGHTS = Path(__file__).resolve().parents[2] / "weights"  # the repository's folder (editable installs)


def local_weights_dirs() -> list[Path]:
    """$TRANSPOSE_LIVE_WEIGHTS_DIR, else ./weights, then the checkout's weights/ folder when it exists."""
    first = Path(os.environ.get("TRANSPOSE_LIVE_WEIGHTS_DIR", "weights"))
    dirs = [first]
    if CHECKOUT_WEIGHTS.is_dir() and CHECKOUT_WEIGHTS.resolve() != first.resolve():
        dirs.append(CHECKOUT_WEIGHTS)
    return dirs


def sha256_of(path: Path) -> str:
    return file_sha256(path)


def _hash_book() -> Path:
    return home_dir() / "hashes.json"


def recorded_hashes() -> dict[str, str]:
    try:
        return json.loads(_hash_book().read_text())
    except (OSError, ValueError):
        return {}


def expected_sha256(spec: ModelSpec) -> str | None:
    return known_sha256(spec)[0]


def known_sha256(spec: ModelSpec) -> tuple[str | None, str]:
    """(sha256, where it comes from): the registry's; else the one recorded at the first download of
    the official file (the hash book, `$TRANSPOSE_LIVE_HOME/hashes.json`); else (None, "")."""
    if spec.sha256:
        return spec.sha256, "the registry's sha256"
    recorded = recorded_hashes().get(spec.checkpoint)
    if recorded:
        return recorded, f"the sha256 recorded at the first download of {spec.checkpoint} ({_hash_book()})"
    return None, ""


def record_sha256(checkpoint: str, digest: str) -> None:
    book = recorded_hashes()
    book[checkpoint] = digest
    write_atomic(_hash_book(), json.dumps(book, indent=2, sort_keys=True), "the weights hash book")


def mirror_base() -> str | None:
    """The weights mirror named by $TRANSPOSE_LIVE_WEIGHTS_URL (with a trailing slash), or None."""
    base = os.environ.get(MIRROR_ENV, "").strip()
    return base.rstrip("/") + "/" if base else None


def source_url(spec: ModelSpec) -> str | None:
    """Where the checkpoint of `spec` is downloaded from: the mirror's BASE + file name, else the
    registry URL (None when the authors publish no direct link)."""
    base = mirror_base()
    return base + spec.checkpoint if base else spec.url


def find_local(spec: ModelSpec) -> Path | None:
    """The checkpoint if it is already in the local folder or the cache."""
    for folder in (*local_weights_dirs(), cache_dir()):
        candidate = folder / spec.checkpoint
        if candidate.is_file():
            return candidate
    return None


def _manual_hint(spec: ModelSpec) -> str:
    return f"put {spec.checkpoint} in {cache_dir()} or ./weights/ by hand, or pass --weights PATH"


def download_url(url: str, dest: Path, sha256: str | None = None, show_progress: bool = True) -> str:
    """Download `url` to `dest` atomically; resumes `dest.part`; returns the sha256 of the file."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "transpose-live"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)  # noqa: S310 (registry URL)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the partial file is already complete
            return _finish(part, dest, sha256, expected_size=have)
        raise WeightsError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise WeightsError(f"cannot reach {url} ({reason}); you appear to be offline") from None
    with response:
        resumed = have and response.status == 206
        if not resumed:
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        mode = "ab" if resumed else "wb"
        with open(part, mode) as out, Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
            TimeRemainingColumn(), disable=not show_progress, transient=True,
        ) as progress:
            task = progress.add_task(f"downloading {dest.name}", total=total, completed=have)
            try:
                for block in iter(lambda: response.read(CHUNK), b""):
                    out.write(block)
                    progress.advance(task, len(block))
            except (OSError, urllib.error.URLError) as exc:
                raise WeightsError(
                    f"download of {url} was interrupted ({exc}); run the command again to resume"
                ) from None
    return _finish(part, dest, sha256, expected_size=total)


def _finish(part: Path, dest: Path, sha256: str | None, expected_size: int | None) -> str:
    size = part.stat().st_size
    if expected_size is not None and size != expected_size:
        raise WeightsError(
            f"download of {dest.name} is incomplete ({size} of {expected_size} bytes); run the command again to resume"
        )
    digest = sha256_of(part)
    if sha256 and digest != sha256:
        part.unlink()
        raise WeightsError(f"sha256 mismatch for {dest.name}: expected {sha256}, got {digest}; the file was removed")
    commit(part, dest)
    return digest


def download_official(spec: ModelSpec, show_progress: bool = True) -> Path:
    """Download the official checkpoint of `spec` into the cache (if not there yet)."""
    found = find_local(spec)
    if found:
        return found
    url = source_url(spec)
    if url is None:
        raise WeightsError(
            f"{spec.name}: the authors publish {spec.checkpoint} only on a drive folder ({spec.manual_download}); "
            + _manual_hint(spec) + f", or set {MIRROR_ENV} to a mirror that holds it"
        )
    dest = cache_dir() / spec.checkpoint
    with _one_download_at_a_time(dest):
        if dest.is_file():  # another process finished it while this one waited
            return dest
        try:
            digest = download_url(url, dest, expected_sha256(spec), show_progress)
        except WeightsError as exc:
            raise WeightsError(f"{_on_mirror(exc, spec)}; {_manual_hint(spec)}") from None
        if expected_sha256(spec) is None:
            record_sha256(spec.checkpoint, digest)
    return dest


@contextlib.contextmanager
def _one_download_at_a_time(dest: Path):
    """Processes that need the same checkpoint at once (batch workers, DDP ranks, Ray actors on one node)
    download it once: an exclusive lock on `.<file>.lock` beside it; the others wait, then find the file.
    Windows has no `fcntl`: there no lock is taken (parallel workers there should fetch the weights once first)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl  # noqa: PLC0415 - POSIX only
    except ImportError:
        yield
        return
    with open(dest.with_name(f".{dest.name}.lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _on_mirror(exc: WeightsError, spec: ModelSpec) -> str:
    """A download error restated for the mirror when one is set (404: the file is not on it)."""
    base = mirror_base()
    text = str(exc)
    if base is None:
        return text
    if "HTTP 404" in text:
        return f"{spec.checkpoint} is not on the mirror {base} (HTTP 404; {MIRROR_ENV})"
    if text.startswith("cannot reach"):
        return text.replace("; you appear to be offline", f"; check the mirror {MIRROR_ENV}={base}")
    return text
