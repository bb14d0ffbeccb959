"""`--osc HOST:PORT`: every frame's poses as OSC messages over UDP (python-osc), for TouchDesigner,
Max/MSP, Pure Data, Unity/Unreal OSC plugins. A writer like the others (`needs_image = False`).

Address scheme (docs/integrations.md); `<camera>` is the camera's name (`webcam --camera NAME=...`,
its position otherwise; `0` for a video or images), `<id>` the track id (`n<i>`, the person's
position in the frame, when the run does not track), `<keypoint>` the model's keypoint name:

    /frame/<camera>                 frame (int) timestamp (float, s) persons (int)
    /pose/<camera>/<id>/<keypoint>  x y score (floats, pixels of the input frame)
    /pose/<camera>/<id>/box         x1 y1 x2 y2 score
    /event/<camera>                 event (string: lost / reconnected / gave_up / ended) timestamp

Each frame's messages travel as one OSC bundle (time tag "immediately"), split into several
bundles per frame only when one would exceed a safe UDP datagram (every person whole in one).

    >>> sink = OscSink("127.0.0.1:9000", COCO17)
    >>> sink.write(frame, poses, None)
"""

from __future__ import annotations

import re
import socket

from transpose_live.errors import UserError
from transpose_live.keypoints import COCO17, KeypointSet

INSTALL_HINT = 'OSC output needs python-osc: pip install "transpose-live[osc]"'
MAX_DATAGRAM = 8192  # bytes per bundle; well below UDP's limit, fine for every OSC receiver we know
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")  # OSC addresses cannot hold spaces, # * , / ? [ ] { }


def parse_target(text: str) -> tuple[str, int]:
    """"HOST:PORT" -> (host, port) for --osc; UserError when malformed or the host is unknown."""
    host, _, port = str(text).rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) <= 65535:
        raise UserError(f"--osc {text!r}: give HOST:PORT of the OSC receiver, e.g. 127.0.0.1:9000")
    try:
        socket.getaddrinfo(host, int(port), type=socket.SOCK_DGRAM)
    except socket.gaierror:
        raise UserError(f"--osc {text!r}: cannot resolve the host {host!r}") from None
    return host, int(port)


def address_part(name) -> str:
    """A camera or keypoint name as one OSC address part (unsafe characters -> _)."""
    return _UNSAFE.sub("_", str(name)) or "_"


class OscSink:
    """Sends each frame's poses to an OSC receiver at `target` ("HOST:PORT"). `keypoints`: the model's
    keypoint set (names in the addresses). `sent`: bundles sent; `failed`: sends the OS refused."""

    needs_image = False

    def __init__(self, target: str, keypoints: KeypointSet | None = None, camera: str = "0") -> None:
        host, port = parse_target(target)
        try:
            from pythonosc.udp_client import SimpleUDPClient
        except ImportError:
            raise UserError(INSTALL_HINT) from None
        self.client = SimpleUDPClient(host, port, allow_broadcast=True)
        self.keypoints = keypoints or COCO17
        self.camera = address_part(camera)
        self.sent = self.failed = 0

    def write(self, frame, poses, image) -> None:
        from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder

        camera = address_part(frame.camera_name) if frame.camera_name is not None else self.camera
        head = _message(f"/frame/{camera}", int(frame.index), float(frame.timestamp), len(poses))
        groups = [[head]] + [self._person(camera, poses, i) for i in range(len(poses))]
        bundle, size = OscBundleBuilder(IMMEDIATELY), 16
        for group in groups:
            group_size = sum(m.size + 4 for m in group)
            if size > 16 and size + group_size > MAX_DATAGRAM:
                self._send(bundle.build())
                bundle, size = OscBundleBuilder(IMMEDIATELY), 16
            for message in group:
                bundle.add_content(message)
            size += group_size
        self._send(bundle.build())

    def _person(self, camera: str, poses, i: int) -> list:
        tid = int(poses.track_ids[i])
        base = f"/pose/{camera}/{tid if tid >= 0 else f'n{i}'}"
        names = self.keypoints.names if len(self.keypoints) == poses.keypoints.shape[1] else \
            [str(j) for j in range(poses.keypoints.shape[1])]
        out = [_message(f"{base}/box", *(float(v) for v in poses.boxes[i]), float(poses.box_scores[i]))]
        for name, (x, y, s) in zip(names, poses.keypoints[i]):
            out.append(_message(f"{base}/{address_part(name)}", float(x), float(y), float(s)))
        return out

    def event(self, camera, record: dict) -> None:
        """A live camera's loss / reconnection as `/event/<camera> event timestamp`."""
        self._send(_message(f"/event/{address_part(camera[1])}", str(record["event"]),
                            float(record.get("timestamp", 0.0))))

    def _send(self, packet) -> None:
        try:
            self.client.send(packet)
            self.sent += 1
        except OSError:  # nobody listening (ICMP refused) or the network is down: poses are live data
            self.failed += 1

    def close(self) -> None:
        self.client.close()

    def abort(self) -> None:
        self.close()


def _message(address: str, *args):
    from pythonosc.osc_message_builder import OscMessageBuilder

    builder = OscMessageBuilder(address)
    for value in args:
        builder.add_arg(value, builder.ARG_TYPE_INT if isinstance(value, int) else
                        builder.ARG_TYPE_FLOAT if isinstance(value, float) else builder.ARG_TYPE_STRING)
    return builder.build()
