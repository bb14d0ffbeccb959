"""Runs `transpose-live` commands in forks of one process that has imported the CLI's heavy libraries
(torch, OpenCV, PyAV, onnxruntime, ultralytics) once, so a test that runs dozens of short commands does not
pay seconds of imports for each. A command runs exactly as `transpose-live ARGS` would: the console
script's own entry point `transpose_live.cli.main(ARGS)` in a fresh child process with its own working
folder, stdout and stderr; nothing of one command is left for the next (each child exits).

    with ForkedCli(env) as cli:
        rc, out, err = cli.run(["video", "in.mp4", "--max-frames", "10"], cwd=folder, timeout=300)

`python tests/forked_cli.py` is the server side: it reads one JSON request per line on stdin and answers
one JSON line per request on stdout.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


class ForkedCli:
    """The client: starts the server with `env` (the environment of every command)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "ForkedCli":
        self.proc = subprocess.Popen([sys.executable, __file__], env=self.env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        return self

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def _reply(self, deadline: float) -> dict | None:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 1.0)
            if ready:
                line = self.proc.stdout.readline()
                if not line:
                    raise RuntimeError("the forked-CLI server died")
                return json.loads(line)
        return None

    def run(self, args: list[str], cwd: Path, timeout: float) -> tuple[int, str, str]:
        """Exit code, stdout and stderr of `transpose-live ARGS` run in `cwd`; a command past `timeout`
        is killed and reported with exit code 124."""
        with tempfile.TemporaryDirectory() as tmp:
            out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
            request = {"args": args, "cwd": str(cwd), "stdout": str(out), "stderr": str(err)}
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
            started = self._reply(time.monotonic() + 60)  # {"pid": ...}
            done = self._reply(time.monotonic() + timeout)
            if done is None:
                os.kill(started["pid"], signal.SIGKILL)
                done = self._reply(time.monotonic() + 60) or {"rc": -9}
                done["rc"] = 124
            return done["rc"], out.read_text(errors="replace"), err.read_text(errors="replace")


def _child(request: dict) -> None:
    """In the fork: the command's folder, files as stdout/stderr, argv, then the CLI's entry point."""
    os.chdir(request["cwd"])
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
        f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(f, fd)
        os.close(f)
    sys.argv = ["transpose-live", *request["args"]]
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    rc = 1
    try:
        from transpose_live.cli import main

        rc = main(request["args"])
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - shown as a traceback like the console script would
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001 - a closed pipe must not hide the exit code
                pass
        os._exit(rc if isinstance(rc, int) else 1)


def _serve() -> None:
    import transpose_live  # noqa: F401 - first: sets OMP_WAIT_POLICY before torch is imported
    from transpose_live.ultralytics_env import configure_ultralytics_offline

    configure_ultralytics_offline()
    import av  # noqa: F401
    import cv2  # noqa: F401
    import onnxruntime  # noqa: F401
    import torch  # noqa: F401
    import ultralytics  # noqa: F401

    import transpose_live.cli.app  # noqa: F401

    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        print(json.dumps({"pid": pid}), flush=True)
        _, status = os.waitpid(pid, 0)
        rc = os.waitstatus_to_exitcode(status)
        print(json.dumps({"rc": rc}), flush=True)


if __name__ == "__main__":
    _serve()
