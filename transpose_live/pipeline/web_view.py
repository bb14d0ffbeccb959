"""What `--serve` shows, collected without slowing the pose loop.

Each camera's output thread hands its rendered frame and poses to a `ViewWriter` (a writer like the
others), which only stores references (the newest wins: stale frames are dropped). One encoder
thread JPEG-encodes the newest frame of each camera when it changed. The web app
(`pipeline.web_app`) reads `LiveView` from its own threads: `jpeg(i)`, `snapshot()` (the latest poses
per camera, as in the JSONL), `updates(since)` (frames and source events after a sequence number) and
`subscribe()` (a WebSocket client's own bounded queue: a slow client loses frames, counted, and the
pose loop never waits for it).

    >>> view = LiveView(["door", "desk"])
    >>> writers = [view.writer(0), view.writer(1)]      # one per camera, with its other writers

Multi-camera 3D reaches it the same way: `writer_3d(scene)` is a 3D writer (`write(record)` per 3D
frame, a line of the 3D JSONL) that the live triangulator is given among its outputs; the scene (the
cameras' positions, the skeleton) and each 3D frame go out as "scene3d" and "pose3d" updates.
"""

from __future__ import annotations

import collections
import threading
import time

import cv2
import numpy as np

from transpose_live.pipeline.writers import frame_record

MAX_WIDTH = 960  # the served picture is scaled down to this width (cheaper to encode and send)


class ViewWriter:
    """Camera `index`'s writer into a `LiveView` (needs the rendered image)."""

    needs_image = True

    def __init__(self, view: "LiveView", index: int) -> None:
        self._view, self._index = view, index
        self._last: float | None = None
        self.fps = 0.0

    def write(self, frame, poses, image) -> None:
        now = time.perf_counter()
        if self._last is not None:
            dt = max(now - self._last, 1e-6)
            self.fps = 1 / dt if self.fps == 0 else 0.9 * self.fps + 0.1 / dt
        self._last = now
        record = frame_record(frame, poses)
        record.update(fps=round(self.fps, 2), latency_ms=round(1000 * (now - frame.captured_at), 1), people=len(poses))
        self._view.offer(self._index, image, record)

    def event(self, camera, record: dict) -> None:
        self._view.add_event({"camera": camera[0], "camera_name": camera[1], **record})

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


class View3DWriter:
    """The live triangulation's writer into a `LiveView` (`triangulation.live.LiveTriangulator` outputs):
    each 3D record with the 3D frame rate."""

    def __init__(self, view: "LiveView", scene: dict) -> None:
        self._view, self._last, self.fps = view, None, 0.0
        view.set_scene(scene)

    def write(self, record: dict) -> None:
        now = time.perf_counter()
        if self._last is not None:
            dt = max(now - self._last, 1e-6)
            self.fps = 1 / dt if self.fps == 0 else 0.9 * self.fps + 0.1 / dt
        self._last = now
        self._view.offer_3d({**record, "fps": round(self.fps, 2), "people": len(record["persons"])})

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


class Subscription:
    """One client's bounded queue of (kind, payload) updates; `dropped` counts those it missed."""

    def __init__(self, lock, size: int) -> None:
        self._lock, self._items = lock, collections.deque()
        self.size, self.dropped = size, 0

    def push(self, item) -> None:
        """Called with the view's lock held (producers): never blocks."""
        if len(self._items) >= self.size:
            self._items.popleft()
            self.dropped += 1
        self._items.append(item)

    def take(self) -> list:
        """Every waiting update, oldest first (empties the queue)."""
        with self._lock:
            items = list(self._items)
            self._items.clear()
            return items


class LiveView:
    """The served state of every camera (thread-safe); `close()` stops the encoder thread."""

    def __init__(self, names: list[str], quality: int = 80) -> None:
        self.names = list(names)
        self.quality = quality
        self.seq = 0  # bumped on every update (frame or event)
        self.encoded = 0
        self._records: list[dict | None] = [None] * len(names)
        self._images: list[np.ndarray | None] = [None] * len(names)
        self._jpegs: list[tuple[int, bytes] | None] = [None] * len(names)
        self._log: collections.deque = collections.deque(maxlen=256)  # (seq, kind, payload)
        self._subscribers: list[Subscription] = []  # the WebSocket clients' queues
        self.scene: dict | None = None  # the 3D view's scene (cameras, skeleton), with multi-camera 3D
        self._record3d: dict | None = None
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._encode_loop, name="serve-encode", daemon=True)
        self._thread.start()

    def writer(self, index: int) -> ViewWriter:
        return ViewWriter(self, index)

    # -- producers (output threads) -------------------------------------------------------------
    def offer(self, index: int, image: np.ndarray | None, record: dict) -> None:
        with self._cond:
            self._records[index] = record
            if image is not None:
                self._images[index] = image  # an older one not yet encoded is dropped
            self._publish("pose", {"camera": index, "camera_name": self.names[index], **record})

    def writer_3d(self, scene: dict) -> View3DWriter:
        return View3DWriter(self, scene)

    def add_event(self, record: dict) -> None:
        self._publish("source", record)

    def set_scene(self, scene: dict) -> None:
        with self._cond:  # the state and its update at once: a new client gets either, never both
            self.scene = scene
            self._publish("scene3d", scene)

    def offer_3d(self, record: dict) -> None:
        with self._cond:
            self._record3d = record
            self._publish("pose3d", record)

    def _publish(self, kind: str, payload: dict) -> None:
        with self._cond:  # re-entrant: the callers may hold it
            self.seq += 1
            self._log.append((self.seq, kind, payload))
            for sub in self._subscribers:
                sub.push((kind, payload))
            self._cond.notify_all()

    def _encode_loop(self) -> None:
        while True:
            with self._cond:
                while not self._closed and all(im is None for im in self._images):
                    self._cond.wait(0.5)
                if self._closed:
                    return
                todo = [(i, im) for i, im in enumerate(self._images) if im is not None]
                self._images = [None] * len(self._images)
            for i, image in todo:
                h, w = image.shape[:2]
                if w > MAX_WIDTH:
                    image = cv2.resize(image, (MAX_WIDTH, round(h * MAX_WIDTH / w)), interpolation=cv2.INTER_AREA)
                ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
                if ok:
                    with self._cond:
                        self.encoded += 1
                        self._jpegs[i] = (self.encoded, data.tobytes())
                        self._cond.notify_all()

    # -- readers (web app) ----------------------------------------------------------------------
    def subscribe(self, size: int = 32) -> "Subscription":
        """A queue of the updates from now on for one client (`/ws`): at most `size` wait; when the
        client falls behind, the oldest are dropped (counted), so no client ever slows the pipeline."""
        sub = Subscription(self._cond, size)
        with self._cond:  # where every camera (and the 3D) stands now first, then each update
            for kind, payload in self._current():
                sub.push((kind, payload))
            self._subscribers.append(sub)
        return sub

    def _current(self) -> list[tuple[str, dict]]:
        """(kind, payload) of where everything stands now: the 3D scene, each camera's latest frame, the
        latest 3D frame (called with the lock held)."""
        items = [("scene3d", self.scene)] if self.scene is not None else []
        items += [("pose", {"camera": i, "camera_name": self.names[i], **record})
                  for i, record in enumerate(self._records) if record is not None]
        return items + ([("pose3d", self._record3d)] if self._record3d is not None else [])

    def current(self) -> tuple[int, list[tuple[str, dict]]]:
        """(seq, where everything stands now) for a new client of the update stream (`updates(seq)` next)."""
        with self._cond:
            return self.seq, self._current()

    @property
    def clients(self) -> int:
        """WebSocket clients connected now."""
        with self._cond:
            return len(self._subscribers)

    @property
    def client_drops(self) -> list[int]:
        """Frames dropped so far for each connected WebSocket client (it read too slowly)."""
        with self._cond:
            return [sub.dropped for sub in self._subscribers]

    def unsubscribe(self, sub: "Subscription") -> None:
        with self._cond:
            if sub in self._subscribers:
                self._subscribers.remove(sub)

    def jpeg(self, index: int) -> tuple[int, bytes] | None:
        """(number, JPEG bytes) of camera `index`'s newest encoded frame, None before the first."""
        with self._cond:
            return self._jpegs[index]

    def snapshot(self) -> dict:
        """`GET /poses`: per camera its index, name and latest frame record (None before the first)."""
        with self._cond:
            snap = {"cameras": [{"camera": i, "camera_name": n, "latest": r}
                                for i, (n, r) in enumerate(zip(self.names, self._records))]}
            if self.scene is not None:
                snap.update(scene3d=self.scene, pose3d=self._record3d)
            return snap

    def updates(self, since: int) -> tuple[int, list[tuple[str, dict]]]:
        """(newest seq, [(kind, payload)] after `since`): "pose" per frame, "source" per loss/reconnection,
        "scene3d" and "pose3d" per 3D frame with multi-camera 3D."""
        with self._cond:
            items = [(kind, payload) for seq, kind, payload in self._log if seq > since]
            return self.seq, items

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=2)
