"""A loopback weights mirror for tests: an HTTP server on 127.0.0.1 that serves checkpoints under the
official file names of `models/registry.py`, as `TRANSPOSE_LIVE_WEIGHTS_URL` expects.

A checkpoint is built on its first request (the model's state_dict with the deterministic conformance
weights of ../shared/conformance/fill.py) and kept in the mirror's folder for the rest of the session.
Tests can also replace a file (`put`), drop the connection after some bytes of the next response
(`cut_next_after`), and read the requests it saw (`requests`).

    >>> with WeightsMirror(tmp_path) as mirror:
    ...     os.environ["TRANSPOSE_LIVE_WEIGHTS_URL"] = mirror.url
"""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import torch

from transpose_live.models.registry import MODELS


def fill_checkpoint(name: str, path: Path) -> Path:
    """Writes the official-layout checkpoint (a bare state_dict) of model `name` with the fill.py weights."""
    from helpers import filled_model

    tmp = path.with_name(path.name + ".building")
    torch.save(filled_model(name).state_dict(), tmp)
    tmp.replace(path)
    return path


class WeightsMirror:
    """The server; `url` is its BASE (no trailing slash), `folder` where the served files lie."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.by_file = {spec.checkpoint: name for name, spec in MODELS.items()}
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.cut_after: int | None = None
        self._lock = threading.Lock()
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> "WeightsMirror":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "WeightsMirror":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def file(self, checkpoint: str) -> Path | None:
        """The served file for `checkpoint` (built on first use), None when the mirror does not hold it."""
        path = self.folder / checkpoint
        with self._lock:
            if not path.is_file() and checkpoint in self.by_file:
                fill_checkpoint(self.by_file[checkpoint], path)
        return path if path.is_file() else None

    def put(self, checkpoint: str, data: bytes) -> Path:
        """Serves `data` under `checkpoint` from now on (e.g. a file changed on the mirror)."""
        path = self.folder / checkpoint
        path.write_bytes(data)
        return path

    def cut_next_after(self, nbytes: int) -> None:
        """The next response sends `nbytes` of its body and then drops the connection."""
        self.cut_after = nbytes


def _handler_for(mirror: WeightsMirror):
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output clean
            pass

        def do_GET(self):  # noqa: N802
            rng = self.headers.get("Range")
            mirror.requests.append((self.path, rng))
            name = self.path.lstrip("/")
            path = mirror.file(name) if "/" not in name and name else None
            if path is None:
                self.send_error(404, "Not Found")
                return
            data = path.read_bytes()
            start = int(rng.split("=")[1].split("-")[0]) if rng else 0
            if start >= len(data) > 0 and rng:
                self.send_error(416, "Range Not Satisfiable")
                return
            self.send_response(206 if rng else 200)
            if rng:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            cut, mirror.cut_after = mirror.cut_after, None
            if cut is not None:
                self.wfile.write(body[:cut])
                self.wfile.flush()
                self.connection.shutdown(2)
                return
            self.wfile.write(body)

    return Handler
