"""Official-weights download against a local HTTP server on 127.0.0.1 (never the real host)."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import threading

import pytest

from transpose_live.cli import main
from transpose_live.errors import WeightsError
from transpose_live.models import download
from transpose_live.models.registry import MODELS

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    cut_after: int | None = None  # bytes sent before the connection drops (first request only)
    ranges_seen: list = []

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):  # noqa: N802
        if self.path != "/Hub/model.pth":
            self.send_error(404, "Not Found")
            return
        start = 0
        rng = self.headers.get("Range")
        type(self).ranges_seen.append(rng)
        if rng:
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        else:
            self.send_response(200)
        body = PAYLOAD[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = type(self).cut_after
        if cut is not None:
            type(self).cut_after = None
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        self.wfile.write(body)


@pytest.fixture()
def server():
    _Handler.cut_after = None
    _Handler.ranges_seen = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSPOSE_LIVE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TRANSPOSE_LIVE_WEIGHTS_DIR", str(tmp_path / "local"))
    return tmp_path


def _spec(url, sha256=None):
    return dataclasses.replace(MODELS["tp_r_a3"], checkpoint="model.pth", url=url, sha256=sha256)


def test_download_checks_hash_and_renames_atomically(server):
    path = download.download_official(_spec(f"{server}/Hub/model.pth", PAYLOAD_SHA), show_progress=False)
    assert path == download.cache_dir() / "model.pth"
    assert path.read_bytes() == PAYLOAD
    assert not path.with_name("model.pth.part").exists()
    # second call is served from the cache without touching the network
    assert download.download_official(_spec("http://127.0.0.1:9/unreachable", PAYLOAD_SHA)) == path


def test_unknown_hash_is_recorded_then_enforced(server):
    spec = _spec(f"{server}/Hub/model.pth")
    path = download.download_official(spec, show_progress=False)
    assert download.recorded_hashes() == {"model.pth": PAYLOAD_SHA}
    assert download.expected_sha256(spec) == PAYLOAD_SHA
    path.unlink()
    download.record_sha256("model.pth", "0" * 64)
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        download.download_official(spec, show_progress=False)


def test_wrong_hash_removes_the_file(server):
    with pytest.raises(WeightsError, match="sha256 mismatch.*removed") as info:
        download.download_official(_spec(f"{server}/Hub/model.pth", "f" * 64), show_progress=False)
    assert "\n" not in str(info.value)
    assert not list(download.cache_dir().glob("model.pth*"))


def test_interrupted_transfer_keeps_part_and_resumes(server):
    _Handler.cut_after = 300_000
    spec = _spec(f"{server}/Hub/model.pth", PAYLOAD_SHA)
    with pytest.raises(WeightsError, match="(interrupted|incomplete).*again to resume"):
        download.download_official(spec, show_progress=False)
    part = download.cache_dir() / "model.pth.part"
    assert part.stat().st_size == 300_000
    assert not (download.cache_dir() / "model.pth").exists()
    path = download.download_official(spec, show_progress=False)
    assert path.read_bytes() == PAYLOAD
    assert _Handler.ranges_seen[-1] == "bytes=300000-"


def test_404_is_one_clear_line(server):
    with pytest.raises(WeightsError, match="HTTP 404.*put model.pth in") as info:
        download.download_official(_spec(f"{server}/Hub/missing.pth"), show_progress=False)
    assert "\n" not in str(info.value)


def test_offline_error_names_url_and_folder():
    spec = _spec("http://127.0.0.1:9/Hub/model.pth")  # discard port: connection refused
    with pytest.raises(WeightsError) as info:
        download.download_official(spec, show_progress=False)
    msg = str(info.value)
    assert "http://127.0.0.1:9/Hub/model.pth" in msg and str(download.cache_dir()) in msg


def test_local_weights_folder_is_used_first(isolated_home):
    local = isolated_home / "local"
    local.mkdir()
    (local / "model.pth").write_bytes(b"x")
    assert download.download_official(_spec("http://127.0.0.1:9/never")) == local / "model.pth"


def test_cli_offline_download_is_one_line(monkeypatch, capsys):
    monkeypatch.setitem(MODELS, "tp_r_a4", dataclasses.replace(MODELS["tp_r_a4"], url="http://127.0.0.1:9/x.pth"))
    code = main(["weights", "download", "tp_r_a4"])
    err = capsys.readouterr().err
    assert code != 0
    assert err.count("\n") == 1 and err.startswith("error: cannot reach http://127.0.0.1:9/x.pth")
    assert "Traceback" not in err


def test_cli_drive_only_model_explains_manual_download(capsys):
    assert main(["weights", "download", "hrnet_w32"]) != 0
    err = capsys.readouterr().err
    assert "pose_hrnet_w32_256x192.pth" in err and err.count("\n") == 1


# --- TRANSPOSE_LIVE_WEIGHTS_URL: the loopback mirror of tests/weights_mirror.py ----------------------

TP_R_A3 = MODELS["tp_r_a3"]


@pytest.mark.parametrize("slash", ["", "/"])
def test_mirror_serves_the_official_file_name(weights_mirror, monkeypatch, slash):
    monkeypatch.setenv("TRANSPOSE_LIVE_WEIGHTS_URL", weights_mirror.url + slash)
    path = download.download_official(TP_R_A3, show_progress=False)
    assert path == download.cache_dir() / TP_R_A3.checkpoint
    assert path.read_bytes() == weights_mirror.file(TP_R_A3.checkpoint).read_bytes()
    assert weights_mirror.requests == [(f"/{TP_R_A3.checkpoint}", None)]  # never the official host
    assert download.recorded_hashes() == {TP_R_A3.checkpoint: download.sha256_of(path)}


def test_mirror_downloads_models_without_an_official_url(weights_mirror):
    spec = MODELS["hrnet_w32"]
    assert spec.url is None
    weights_mirror.put(spec.checkpoint, PAYLOAD)
    path = download.download_official(spec, show_progress=False)
    assert path.read_bytes() == PAYLOAD and weights_mirror.requests == [(f"/{spec.checkpoint}", None)]


def test_mirror_resumes_a_part_file_and_enforces_the_recorded_hash(weights_mirror):
    served = weights_mirror.file(TP_R_A3.checkpoint).read_bytes()
    weights_mirror.cut_next_after(1_000_000)
    with pytest.raises(WeightsError, match="(interrupted|incomplete).*again to resume"):
        download.download_official(TP_R_A3, show_progress=False)
    part = download.cache_dir() / (TP_R_A3.checkpoint + ".part")
    assert part.stat().st_size == 1_000_000
    path = download.download_official(TP_R_A3, show_progress=False)
    assert path.read_bytes() == served and not part.exists()
    assert weights_mirror.requests[-1] == (f"/{TP_R_A3.checkpoint}", "bytes=1000000-")
    recorded = download.recorded_hashes()[TP_R_A3.checkpoint]
    assert recorded == hashlib.sha256(served).hexdigest()
    # the file changes on the mirror: a fresh download is refused against the hash recorded first
    path.unlink()
    weights_mirror.put("changed.pth", served[:-4] + b"\0\0\0\0")
    try:
        (weights_mirror.folder / TP_R_A3.checkpoint).rename(weights_mirror.folder / "orig.pth")
        (weights_mirror.folder / "changed.pth").rename(weights_mirror.folder / TP_R_A3.checkpoint)
        with pytest.raises(WeightsError, match="sha256 mismatch.*removed"):
            download.download_official(TP_R_A3, show_progress=False)
        assert not list(download.cache_dir().glob(TP_R_A3.checkpoint + "*"))
    finally:
        (weights_mirror.folder / "orig.pth").replace(weights_mirror.folder / TP_R_A3.checkpoint)


def test_mirror_404_and_unreachable_are_one_line(weights_mirror, monkeypatch, capsys):
    spec = dataclasses.replace(TP_R_A3, checkpoint="not_there.pth")
    with pytest.raises(WeightsError) as info:
        download.download_official(spec, show_progress=False)
    msg = str(info.value)
    assert msg.startswith(f"not_there.pth is not on the mirror {weights_mirror.url}/ (HTTP 404") and "\n" not in msg
    monkeypatch.setenv("TRANSPOSE_LIVE_WEIGHTS_URL", "http://127.0.0.1:9/mirror")  # discard port: refused
    assert main(["weights", "download", "tp_r_a3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot reach http://127.0.0.1:9/mirror/tp_r_256x192") and err.count("\n") == 1
    assert "TRANSPOSE_LIVE_WEIGHTS_URL=http://127.0.0.1:9/mirror/" in err


def test_mirror_download_shows_progress(weights_mirror, monkeypatch):
    from helpers import cli

    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich draws its progress bar as on a terminal
    run = cli("weights", "download", "tp_r_a3", timeout=120)
    assert run.returncode == 0, run.stderr
    shown = run.stdout + run.stderr
    assert f"downloading {TP_R_A3.checkpoint}" in shown and "MB" in shown
    assert f"sha256 {download.recorded_hashes()[TP_R_A3.checkpoint]}" in run.stdout
