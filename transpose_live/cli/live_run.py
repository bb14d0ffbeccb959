"""The live parts of `webcam` (and `--serve` on `video`): cameras named and opened, outputs per
camera (`{camera}` in the paths), loss/reconnection lines on stderr, the web view.

    --camera 0 --camera door=rtsp://10.0.0.5/stream --json live-{camera}.jsonl --serve 0.0.0.0:8080
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from pathlib import Path

from transpose_live.errors import UserError

_NAMED = re.compile(r"^([A-Za-z0-9_.-]+)=(.+)$")
PLACEHOLDER = "{camera}"


def split_camera(text: str, index: int) -> tuple[str, str]:
    """`NAME=SOURCE` -> (NAME, SOURCE); a bare source is named by its position (0, 1, ...)."""
    text = str(text).strip()
    found = _NAMED.match(text)
    if found and "/" not in found.group(1) and not Path(text).exists():
        return found.group(1), found.group(2)
    return str(index), text


def camera_names(cameras: list[str]) -> list[tuple[str, str]]:
    """[(name, source)] for the --camera values; UserError on a repeated name."""
    named = [split_camera(c, i) for i, c in enumerate(cameras)]
    names = [n for n, _ in named]
    for name in names:
        if names.count(name) > 1:
            raise UserError(f"--camera: the name {name!r} is given to {names.count(name)} cameras; name each once")
    return named


def per_camera(outputs, names: list[str]) -> list:
    """One `Outputs` per camera, `{camera}` replaced by its name. Several cameras writing a path
    without `{camera}` is a UserError (they would overwrite each other); `--json -` is shared (every
    line carries its camera)."""
    fields = {"video": outputs.video, "json": outputs.json, "csv": outputs.csv}
    if len(names) > 1:
        for option, value in (("--out", fields["video"]), ("--json", fields["json"]), ("--csv", fields["csv"])):
            if value is not None and str(value) != "-" and PLACEHOLDER not in str(value):
                raise UserError(f"{option} {value}: with {len(names)} cameras put {PLACEHOLDER} in the path "
                                f"(e.g. {_example(str(value))}), one file per camera")
    out = []
    for name in names:
        values = {k: (type(v)(str(v).replace(PLACEHOLDER, name)) if v is not None and str(v) != "-" else v)
                  for k, v in fields.items()}
        out.append(dataclasses.replace(outputs, **values))
    return out


def _example(path: str) -> str:
    p = Path(path)
    return str(p.with_name(f"{p.stem}-{PLACEHOLDER}{p.suffix}"))


def event_printer(console):
    """The `on_event` of a live source: one stderr line per loss, reconnection or giving up."""

    def on_event(source, event) -> None:
        console.print(event.line(source.name), soft_wrap=True, highlight=False, markup=False)

    return on_event


def open_cameras(named: list[tuple[str, str]], policy, console) -> list:
    """The live sources, opened in order (a failure closes those already open)."""
    from transpose_live.pipeline import open_camera

    sources = []
    try:
        for name, spec in named:
            sources.append(open_camera(spec, policy, name=name, on_event=event_printer(console)))
    except BaseException:
        for source in sources:
            source.close()
        raise
    return sources


@contextlib.contextmanager
def serving(bind: str | None, names: list[str], console):
    """Runs the web view while the block runs (None: no --serve); yields the `LiveView` or None."""
    if not bind:
        yield None
        return
    from transpose_live.pipeline.web_app import WebServer
    from transpose_live.pipeline.web_view import LiveView

    view = LiveView(names)
    try:
        server = WebServer(view, bind).start()
    except BaseException:
        view.close()
        raise
    extra = " (token required beyond loopback; keep it private)" if server.token else ""
    console.print(f"serving the live view at {server.url}{extra}", soft_wrap=True, highlight=False, markup=False)
    try:
        yield view
    finally:
        server.stop()


def reconnect_policy(cfg):
    """The `ReconnectPolicy` of a RunConfig's live options."""
    from transpose_live.pipeline.stream_source import ReconnectPolicy

    return ReconnectPolicy(reconnect=cfg.reconnect, give_up_after=cfg.give_up_after, read_timeout=cfg.read_timeout,
                           rtsp_udp=cfg.rtsp_udp)


def print_reps(console, overlay, camera: str | None = None) -> None:
    """`--exercise`: each tracked person's repetitions at the end of a run (nothing without an exercise)."""
    if overlay is None:
        return
    counts = ", ".join(f"#{tid} {n}" for tid, n in overlay.summary()) or "nobody tracked"
    where = f"camera {camera}: " if camera is not None else ""
    console.print(f"{where}{overlay.exercise.name} reps: {counts}", soft_wrap=True, highlight=False)


@dataclasses.dataclass
class LiveRequest:
    """What `webcam` was asked: cameras [(name, source)] and the outputs of each (`{camera}` filled in)."""

    cameras: list
    outputs: list
