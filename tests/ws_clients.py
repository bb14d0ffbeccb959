"""WebSocket clients of `--serve`'s /ws for the tests and benchmarks/ws_stall.py.

`stalled_client(port)`: the handshake by hand on a socket with a tiny receive buffer, then never a read
(a client that stalls). `follow(url, into, stop)`: a real `websockets` client that connects as soon as the
server is up (retrying), then keeps every message until the server closes.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
import time


def stalled_client(port: int, path: str = "/ws") -> socket.socket:
    """A WebSocket handshake by hand (2 kB receive buffer); returns the socket once upgraded (101). OSError
    while the server is not up."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    try:
        sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: "
                      f"Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            byte = sock.recv(1)
            if not byte:
                raise ConnectionError("the server closed the handshake")
            head += byte
    except OSError:
        sock.close()
        raise
    if not head.startswith(b"HTTP/1.1 101"):
        sock.close()
        raise ConnectionError(f"not upgraded: {head[:40]!r}")
    return sock


def follow(url: str, into: list, stop: threading.Event) -> None:
    """Connects as soon as the server is up (retrying until `stop`), then appends every message (JSON) to
    `into` until the server closes, then {"event": "closed", "code": close code}."""
    import websockets
    from websockets.sync.client import connect

    while not stop.is_set():
        try:
            with connect(url, open_timeout=5) as ws:
                for message in ws:
                    into.append(json.loads(message))
                into.append({"event": "closed", "code": ws.close_code})
                return
        except (OSError, websockets.exceptions.InvalidHandshake):
            time.sleep(0.005)
