"""`--serve HOST:PORT`: a small starlette app on uvicorn (in its own thread) over a `LiveView`.

Routes:
  /                the page: every camera's annotated live view, fps, latency, people count; with
                   multi-camera 3D a rotatable 3D view of the triangulated people
  /video/{i}       camera i as an MJPEG stream (multipart/x-mixed-replace; `<img>` plays it)
  /frame/{i}.jpg   camera i's newest annotated frame
  /poses           the latest poses per camera (JSON: camera, camera_name, latest = a JSONL frame record)
  /events          server-sent events: `pose` (a frame record with fps, latency_ms, people),
                   `source` (a camera's loss / reconnection event line), `scene3d` and `pose3d` (3D)
  /ws              WebSocket: one JSON text message per frame of every camera (the JSONL frame record
                   with camera, camera_name, fps, latency_ms, people and `dropped`: the frames this
                   client missed so far because it read too slowly), and each camera event line
                   (`{"event": "lost", ...}`); with multi-camera 3D also `{"type": "scene3d", ...}` (the
                   cameras' positions, the skeleton) and `{"type": "pose3d", ...}` per 3D frame (a 3D JSONL
                   line). Each client has its own queue of 32; see docs/integrations.md.

Bound to a loopback address it is open; bound beyond loopback every request (WebSocket handshakes
too) needs the random token printed at start (`?token=...`, or an `Authorization: Bearer` header):
401 without, 403 wrong.

    >>> server = WebServer(view, "127.0.0.1:8080").start()
    >>> server.url          # http://127.0.0.1:8080/
    >>> server.stop()
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import secrets
import socket
import threading

from transpose_live.errors import UserError

INSTALL_HINT = 'the web view needs starlette and uvicorn: pip install "transpose-live[serve]"'
POLL = 0.03  # seconds between checks for a new frame in the streams


def parse_bind(text: str) -> tuple[str, int]:
    """"HOST:PORT" (or ":PORT", or "PORT": loopback) -> (host, port); UserError when malformed."""
    host, _, port = str(text).rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UserError(f"--serve {text!r}: give HOST:PORT, e.g. 127.0.0.1:8080 or 0.0.0.0:8080")
    return host, int(port)


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on host:port; UserError when the port is taken or the address is not this machine's."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        raise UserError(f"--serve: cannot listen on {host}:{port} ({exc.strerror or exc}: in use, or not an "
                        "address here)") from None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_app(view, token: str | None):
    """The starlette app over `view`; `token` None: open (loopback)."""
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
    from starlette.routing import Route, WebSocketRoute

    from transpose_live.pipeline.web_page import page

    html = page(view.names)

    def camera_of(request) -> int | None:
        i = request.path_params["i"]
        return i if 0 <= i < len(view.names) else None

    async def index(request):
        return HTMLResponse(html)

    async def poses(request):
        return JSONResponse(view.snapshot())

    async def frame(request):
        i = camera_of(request)
        found = view.jpeg(i) if i is not None else None
        if found is None:
            return PlainTextResponse("no frame yet", status_code=404)
        return Response(found[1], media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    async def video(request):
        i = camera_of(request)
        if i is None:
            return PlainTextResponse("no such camera", status_code=404)
        return StreamingResponse(_mjpeg(view, i), media_type="multipart/x-mixed-replace; boundary=frame",
                                 headers={"Cache-Control": "no-store"})

    async def events(request):
        return StreamingResponse(_sse(view), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    async def ws(websocket):
        await _websocket(view, websocket)

    routes = [Route("/", index), Route("/poses", poses), Route("/events", events),
              Route("/video/{i:int}", video), Route("/frame/{i:int}.jpg", frame), WebSocketRoute("/ws", ws)]
    app = Starlette(routes=routes)
    return _TokenGate(app, token) if token else app


class _TokenGate:
    """ASGI middleware: 401 without the token, 403 with a wrong one."""

    def __init__(self, app, token: str) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        from starlette.requests import HTTPConnection
        from starlette.responses import PlainTextResponse

        request = HTTPConnection(scope)
        given = request.query_params.get("token")
        auth = request.headers.get("authorization", "")
        if given is None and auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        if given is None:
            response = PlainTextResponse("token required: open the address printed at start (?token=...)", 401)
        elif not secrets.compare_digest(given, self.token):
            response = PlainTextResponse("wrong token", 403)
        else:
            return await self.app(scope, receive, send)
        if scope["type"] == "http":
            return await response(scope, receive, send)
        from starlette.websockets import WebSocket

        socket = WebSocket(scope, receive, send)
        if "websocket.http.response" in scope.get("extensions", {}):
            await socket.send_denial_response(response)  # the handshake answered 401 / 403
        else:
            await socket.close(code=1008)  # policy violation (the server answers the handshake 403)


async def _mjpeg(view, i: int):
    last = None
    while not view.closed:
        found = view.jpeg(i)
        if found is not None and found[0] != last:
            last, data = found
            yield (b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: " + str(len(data)).encode()
                   + b"\r\n\r\n" + data + b"\r\n")
        else:
            await asyncio.sleep(POLL)


async def _sse(view):
    seq, current = view.current()
    yield "retry: 1000\n\n"  # the headers go out now; the browser reconnects within 1 s if cut
    for kind, payload in current:  # where every camera (and the 3D) stands now, then each change
        yield f"event: {kind}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n"
    while not view.closed:
        seq, items = view.updates(seq)
        if not items:
            await asyncio.sleep(POLL)
            continue
        for kind, payload in items:
            yield f"event: {kind}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n"


def ws_message(kind: str, payload: dict, dropped: int) -> dict:
    """A /ws message: a 2D frame record (with `dropped`) or a camera event line as they are; the 3D ones
    typed: {"type": "scene3d", ...} and {"type": "pose3d", ... the 3D JSONL line, "dropped"}."""
    if kind == "pose":
        return {**payload, "dropped": dropped}
    if kind == "pose3d":
        return {"type": kind, **payload, "dropped": dropped}
    if kind == "scene3d":
        return {"type": kind, **payload}
    return payload


async def _websocket(view, websocket) -> None:
    """/ws: this client's queue (`LiveView.subscribe`) sent as JSON text messages until the run ends
    (close 1000) or the client goes (a reader task notices at once; what it sends is ignored). A
    client that reads slowly only fills its own queue."""
    await websocket.accept()
    sub = view.subscribe()
    gone = asyncio.create_task(_until_disconnect(websocket))
    try:
        while not gone.done():
            ended = view.closed  # read before taking: what was offered before the end still goes out
            items = sub.take()
            if not items:
                if ended:
                    break
                await asyncio.sleep(POLL)
                continue
            for kind, payload in items:
                if not await _send(view, websocket, json.dumps(ws_message(kind, payload, sub.dropped),
                                                               separators=(",", ":"))):
                    return  # the run ended while this client stalled
        if not gone.done():
            await websocket.close(code=1000)
    except (Exception, asyncio.CancelledError):  # noqa: BLE001 - the client went away mid-send, or the server
        pass  # stopped while a send to a stalled client waited (cancelled at shutdown): nothing to report
    finally:
        gone.cancel()
        view.unsubscribe(sub)


async def _send(view, websocket, text: str) -> bool:
    """Sends `text`; False (the send abandoned) when the run ends while a stalled client holds it up."""
    task = asyncio.ensure_future(websocket.send_text(text))
    while not task.done():
        await asyncio.wait({task}, timeout=0.1)
        if view.closed and not task.done():
            task.cancel()
            return False
    task.result()
    return True


async def _until_disconnect(websocket) -> None:
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass


def _not_graceful_timeout(record) -> bool:
    return "timeout graceful shutdown exceeded" not in record.getMessage()


class WebServer:
    """uvicorn serving `build_app(view, token)` in a daemon thread."""

    def __init__(self, view, bind: str) -> None:
        import importlib.util

        if importlib.util.find_spec("starlette") is None or importlib.util.find_spec("uvicorn") is None:
            raise UserError(INSTALL_HINT)
        self.view = view
        self.host, self.port = parse_bind(bind)
        self.token = None if is_loopback(self.host) else secrets.token_urlsafe(16)
        self._server = None
        self._thread: threading.Thread | None = None

    def start(self) -> "WebServer":
        """Listens (a UserError, before anything else, when the address is busy or not here), then serves."""
        import logging

        import uvicorn

        # a stalled WebSocket client keeps its connection past the 1 s graceful stop: expected, not an error
        logging.getLogger("uvicorn.error").addFilter(_not_graceful_timeout)

        sock = listen(self.host, self.port)
        config = uvicorn.Config(build_app(self.view, self.token), log_level="error", lifespan="off",
                                access_log=False, timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, name="serve",
                                        daemon=True)
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise UserError(f"--serve: cannot serve on {self.host}:{self.port}")
            self._thread.join(0.02)
        self.port = sock.getsockname()[1]
        return self

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/" + (f"?token={self.token}" if self.token else "")

    def stop(self) -> None:
        import time

        self.view.close()
        deadline = time.monotonic() + 1.0  # each /ws client closed by its handler with 1000 (run ended) first
        while self.view.clients and time.monotonic() < deadline:
            time.sleep(0.02)
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=3)
