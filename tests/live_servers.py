"""Real camera servers on 127.0.0.1 for the live tests and benchmarks/live_soak.py.

`MjpegCamera`: an MJPEG-over-HTTP IP camera (multipart/x-mixed-replace, like most cheap IP cameras)
playing a clip's frames in a loop; `stop()` cuts every open connection and closes the port (the
camera is gone), `start()` brings it back on the same port; `paused = True` stalls it (connections
stay open, no frames).

`RtspCamera`: GStreamer's RTSP server (Debian gir1.2-gst-rtsp-server-1.0 + python3-gi) in its own
process serving the clip as H.264 (or MJPEG) over RTSP; `stop()` kills the process, `start()` starts a
new one on the same port.
"""

from __future__ import annotations

import http.server
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import cv2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clip_jpegs(path: Path, count: int = 60, width: int = 320) -> list[bytes]:
    """The first `count` frames of a clip, scaled to `width`, as JPEG bytes."""
    out = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            img = frame.to_ndarray(format="bgr24")
            h = round(img.shape[0] * width / img.shape[1] / 2) * 2
            ok, data = cv2.imencode(".jpg", cv2.resize(img, (width, h)), [cv2.IMWRITE_JPEG_QUALITY, 80])
            out.append(data.tobytes())
            if len(out) >= count:
                break
    return out


class MjpegCamera:
    """An MJPEG IP camera on 127.0.0.1:`port` at `fps`; `url` is its stream address."""

    def __init__(self, jpegs: list[bytes], fps: float = 15.0, port: int | None = None,
                 clock: float | None = None) -> None:
        """`clock`: a `time.perf_counter()` origin shared by several cameras: each sends the frame of that
        clock (synchronised cameras, as in a genlocked rig) instead of counting from its connection."""
        self.jpegs, self.fps, self.port, self.clock = jpegs, fps, port or free_port(), clock
        self.url = f"http://127.0.0.1:{self.port}/cam.mjpg"
        self.served = 0
        self._server = None
        self._alive = threading.Event()
        self.paused = False  # True: connections stay open but no frame is sent (a stalled camera)

    def start(self) -> "MjpegCamera":
        camera = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                i = 0
                try:
                    while camera._alive.is_set():
                        if camera.paused:
                            time.sleep(0.05)
                            continue
                        if camera.clock is not None:  # wait for the shared clock's next frame
                            i = int((time.perf_counter() - camera.clock) * camera.fps) + 1
                            time.sleep(max(0.0, camera.clock + i / camera.fps - time.perf_counter()))
                        data = camera.jpegs[i % len(camera.jpegs)]
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                                         + str(len(data)).encode() + b"\r\n\r\n" + data + b"\r\n")
                        camera.served += 1
                        i += 1
                        if camera.clock is None:
                            time.sleep(1 / camera.fps)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True

        self._alive.set()
        for _ in range(50):  # the port may linger for a moment after stop()
            try:
                self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise OSError(f"port {self.port} stays busy")
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """The camera goes away: streams end, new connections are refused."""
        self._alive.clear()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


RTSP_SERVER = r'''
import sys, gi
gi.require_version("Gst", "1.0"); gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtspServer, GLib
Gst.init(None)
port, clip = sys.argv[1], sys.argv[2]
server = GstRtspServer.RTSPServer(); server.set_service(port)
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(
    f"( filesrc location={clip} ! qtdemux ! decodebin ! videoconvert ! videoscale ! video/x-raw,width=320,height=180"
    " ! videorate ! video/x-raw,framerate=15/1 ! jpegenc quality=80 ! rtpjpegpay name=pay0 pt=26 )")
factory.set_shared(True)
factory.connect("media-configure", lambda f, m: m.set_reusable(False))
server.get_mount_points().add_factory("/cam", factory)
server.attach(None)
print("ready", flush=True)
GLib.MainLoop().run()
'''


def have_rtsp_server() -> bool:
    """GStreamer's RTSP server and the plugins the served pipeline uses are installed (system python3)."""
    python = shutil.which("python3", path="/usr/bin")
    if python is None:
        return False
    probe = ("import gi; gi.require_version('Gst','1.0'); gi.require_version('GstRtspServer','1.0');"
             "from gi.repository import Gst, GstRtspServer; Gst.init(None);"
             "assert all(Gst.ElementFactory.find(n) for n in ('qtdemux','decodebin','jpegenc','rtpjpegpay','videorate'))")
    return subprocess.run([python, "-c", probe], capture_output=True).returncode == 0


class RtspCamera:
    """GStreamer's RTSP server playing `clip` (mp4) at rtsp://127.0.0.1:`port`/cam, in its own process."""

    def __init__(self, clip: Path, port: int | None = None) -> None:
        self.clip, self.port = Path(clip), port or free_port()
        self.url = f"rtsp://127.0.0.1:{self.port}/cam"
        self._proc: subprocess.Popen | None = None

    def start(self) -> "RtspCamera":
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        self._proc = subprocess.Popen(["/usr/bin/python3", "-c", RTSP_SERVER, str(self.port), str(self.clip)],
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        line = self._proc.stdout.readline()
        if line.strip() != "ready":
            self.stop()
            raise RuntimeError("the GStreamer RTSP server did not start")
        return self

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL)
            self._proc.wait()
        self._proc = None


if __name__ == "__main__":  # serve a clip by hand: python tests/live_servers.py CLIP [PORT]
    cam = MjpegCamera(clip_jpegs(Path(sys.argv[1])), port=int(sys.argv[2]) if len(sys.argv) > 2 else None).start()
    print(cam.url, flush=True)
    threading.Event().wait()
