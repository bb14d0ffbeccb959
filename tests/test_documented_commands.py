"""Every command in a ```bash block of README.md and docs/*.md runs as written and writes what it names.

The blocks are parsed from the pages themselves, so a command added to the docs later is a new test
without touching this file (ids: `page:line`). Each page runs in its own sandbox folder, its commands in
page order (a later command may use what an earlier one wrote, e.g. `export` then `--weights FILE.onnx`);
the sandbox holds the input names the docs use (INPUTS below: short clips cut from ../shared, a few COCO
images, the YOLO11n-pose detector), and `../shared` from a sandbox is the shared data folder, as it is from
the root of a checkout. Official checkpoints come from the loopback weights mirror
(tests/weights_mirror.py) through TRANSPOSE_LIVE_WEIGHTS_URL, the person detector from ../shared through
TRANSPOSE_LIVE_DETECTOR, and no GPU is visible (`--device auto` is the CPU).

Only hardware is substituted (SUBSTITUTIONS), and the few commands that cannot run here are listed with
their reason (NOT_RUN). A command passes when it exits 0 and every output path it names (--out, -o,
--json, --csv, --coco, --metrics-out, --out-dir, a `>` redirect) exists and is not empty.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from forked_cli import ForkedCli
from helpers import CLIPS, COCO_MINI, DETECTOR_WEIGHTS, SHARED, require_shared

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TIMEOUT_S = 300

# --- what cannot run here, and the hardware substitutions ---------------------------------------

NOT_RUN = [  # (pattern searched in the command, reason)
    (r"^pip install\b", "installs packages (CI's .ci/run installs exactly as the README says)"),
    (r"^python -m pytest\b", "the test suite itself"),
    (r"^(sudo )?apt(-get)? ", "installs system packages"),
    (r"^ray start\b", "starts a node of a Ray cluster"),
    (r"--ray (?!auto\b)\S+", "needs a running Ray cluster at that address"),
    (r"^torchrun\b", "several processes or GPUs (tests/test_train_ddp.py runs DDP on the CPU)"),
    (r"^mkdocs serve\b", "a server that runs until stopped (tests/test_docs.py builds the site)"),
    (r"^(python|bash) benchmarks/", "benchmark scripts run for minutes; their results are in benchmarks/results"),
]

CLIP = "clip.mp4"
CAMERA = re.compile(r"^(\d+|/dev/video\d+|(rtsp|rtmp|http|https)://.*)$")
SUBSTITUTIONS = [  # (what the docs say, what runs here, why): hardware only
    ("--camera 0 | /dev/videoN | rtsp://... | http://...", f"--camera {CLIP}", "no camera or stream here: "
     "the 12-frame clip plays as a live camera"),
    ("`webcam` without --camera (camera 0)", f"--camera {CLIP} added", "no camera here"),
    ("--device cuda[:i]", "--device cpu", "no GPU in CI"),
    ("--half with --device cuda", "--no-half", "fp16 is for CUDA"),
    ("--show", "--no-show", "no display"),
]

SHELL_SYNTAX = re.compile(r"[|&;<>$`(){}\\'\"]|^\w+=")  # leave these lines to bash
GLOB = re.compile(r"[*?\[]")
OUTPUT_OPTIONS = {"--out", "-o", "--json", "--csv", "--coco", "--metrics-out", "--out-dir", ">"}


def substitute(tokens: list[str]) -> list[str]:
    """The SUBSTITUTIONS table applied to one command's tokens."""
    out: list[str] = []
    cuda = any(t.startswith("cuda") for t in tokens)
    for i, tok in enumerate(tokens):
        prev = tokens[i - 1] if i else ""
        if prev in ("--camera", "-c") and CAMERA.match(tok):
            tok = CLIP
        elif prev in ("--device", "-d") and tok.startswith("cuda"):
            tok = "cpu"
        elif tok == "--half" and cuda:
            tok = "--no-half"
        elif tok == "--show":
            tok = "--no-show"
        out.append(tok)
    if out[:2] == ["transpose-live", "webcam"] and "--camera" not in out and "-c" not in out:
        out += ["--camera", CLIP]
    return out


# --- the commands of the pages -------------------------------------------------------------------

@dataclass(frozen=True)
class Command:
    page: str  # path relative to the repository root
    line: int  # first line of the command in the page
    text: str  # as written (continuations joined)

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def tokens(self) -> list[str]:
        lex = shlex.shlex(self.text, posix=True, punctuation_chars="|&;<>")
        lex.whitespace_split = True
        lex.commenters = "#"
        return list(lex)

    def not_run(self) -> str | None:
        words = " ".join(self.tokens)
        return next((why for pattern, why in NOT_RUN if re.search(pattern, words)), None)


def page_commands(path: Path) -> list[Command]:
    """The commands of the ```bash blocks of one page: `\\` continuations joined, comment lines skipped."""
    commands, block, pending, start = [], False, "", 0
    for number, line in enumerate(path.read_text().splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("```"):
            block = not block and stripped[3:].strip() in ("bash", "sh", "shell")
            pending = ""
            continue
        if not block or (not pending and (not stripped or stripped.startswith("#"))):
            continue
        start = start if pending else number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        commands.append(Command(str(path.relative_to(ROOT)), start, pending + stripped))
        pending = ""
    return commands


COMMANDS = [c for page in PAGES for c in page_commands(page)]


def shell_text(tokens: list[str]) -> str:
    """Tokens back to one bash line: globs and operators stay live, everything else quoted as needed."""
    def word(tok: str) -> str:
        if re.fullmatch(r"[|&;<>]+", tok) or re.fullmatch(r"[\w@%+=:,./*?~^-]+", tok):
            return tok
        return shlex.quote(tok)

    return " ".join(word(t) for t in tokens)


def named_outputs(tokens: list[str]) -> list[str]:
    """The output paths a command names (not `-`, stdout)."""
    return [tokens[i + 1] for i, tok in enumerate(tokens[:-1])
            if tok in OUTPUT_OPTIONS and tokens[i + 1] != "-" and not tokens[i + 1].startswith("-")]


# --- the inputs the docs use ---------------------------------------------------------------------

PHOTOS = ["000000501368.jpg", "000000343803.jpg"]  # coco-mini val2017: one person each
PERSON = "000000109313.jpg"  # 480x640, one person


def _cut(src: str, frames: int = 12):
    def make(dst: Path) -> None:
        from media_helpers import cut_clip

        cut_clip(CLIPS / src, dst, frames)
    return make


def _link(src: Path):
    return lambda dst: dst.symlink_to(src)


def _copy(src: Path):
    return lambda dst: shutil.copyfile(src, dst)


def _coco_subset(split: str, count: int):
    """A folder of `count` coco-mini images with people and the annotation file of just those."""
    def make(dst: Path) -> None:
        data = json.loads((COCO_MINI / "annotations" / f"person_keypoints_{split}.json").read_text())
        with_people = sorted({a["image_id"] for a in data["annotations"] if a["num_keypoints"] > 0})[:count]
        data["images"] = [i for i in data["images"] if i["id"] in with_people]
        data["annotations"] = [a for a in data["annotations"] if a["image_id"] in with_people]
        (dst / split).mkdir(parents=True)
        for image in data["images"]:
            shutil.copyfile(COCO_MINI / split / image["file_name"], dst / split / image["file_name"])
        (dst / "annotations").mkdir(exist_ok=True)
        (dst / "annotations" / f"person_keypoints_{split}.json").write_text(json.dumps(data))
    return make


def _multiview_poses(camera: int):
    """YOLO11n-pose keypoints of the first 10 frames of one camera of ../shared/data/multiview, in our JSONL
    (no trained TransPose weights exist; docs/3d.md triangulates these)."""
    def make(dst: Path) -> None:
        from analytics_clips import record_yolo_poses

        record_yolo_poses(SHARED / "data" / "multiview" / "videos" / f"cam0{camera}.mp4", dst, imgsz=640, max_frames=10)
    return make


INPUTS = {  # sandbox name -> maker(path); keep docs commands on these names
    "in.mp4": _cut("squat.mp4"),
    CLIP: _cut("squat.mp4"),
    "match.mp4": _cut("squat.mp4"),
    "cropped.mp4": _cut("squat.mp4"),
    "archive/squat.mp4": _cut("squat.mp4", 6),
    "archive/street/walk.mp4": _cut("selfie-lsc_walk.mp4", 6),
    "more/run.mp4": _cut("selfie-jacky_run.mp4", 6),
    "listed/dance.mp4": _cut("selfie-jacky_dance.mp4", 6),
    "paths.txt": lambda dst: dst.write_text("listed/dance.mp4\n"),
    "photos/a.jpg": _copy(COCO_MINI / "val2017" / PHOTOS[0]),
    "photos/b.jpg": _copy(COCO_MINI / "val2017" / PHOTOS[1]),
    "person.jpg": _copy(COCO_MINI / "val2017" / PERSON),
    "people.jpg": _copy(COCO_MINI / "val2017" / PERSON),
    "photo.jpg": _copy(COCO_MINI / "val2017" / PERSON),
    "coco": lambda dst: (_coco_subset("val2017", 4)(dst), _coco_subset("train2017", 4)(dst)),
    "yolo11n-pose.pt": _link(DETECTOR_WEIGHTS),
    **{f"cam0{i}.jsonl": _multiview_poses(i) for i in range(1, 5)},  # docs/3d.md: real 2D of 4 cameras
}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    require_shared(DETECTOR_WEIGHTS)
    require_shared(COCO_MINI)
    folder = tmp_path_factory.mktemp("docs-inputs")
    for name, make in INPUTS.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name == "coco":
            path.mkdir()
        make(path)
    return folder


@pytest.fixture(scope="module")
def docs_env(weights_mirror_server, detector_cache, tmp_path_factory) -> dict[str, str]:
    """The environment of every documented command: this checkout first on the path, the mirror and an
    isolated home for official weights, the shared detector, no GPU, no display."""
    home = tmp_path_factory.mktemp("docs-home")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update({
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p),
        "TRANSPOSE_LIVE_WEIGHTS_URL": weights_mirror_server.url,
        "TRANSPOSE_LIVE_HOME": str(home / "home"),
        "TRANSPOSE_LIVE_WEIGHTS_DIR": str(home / "local-weights"),
        "TRANSPOSE_LIVE_CACHE": str(detector_cache),
        "TRANSPOSE_LIVE_DETECTOR": str(DETECTOR_WEIGHTS),
        "CUDA_VISIBLE_DEVICES": "",
        "COLUMNS": "120",
    })
    return env


class PageRuns:
    """One sandbox per page; a page's commands run in page order (earlier ones first when a test is
    run alone)."""

    def __init__(self, inputs: Path, env: dict[str, str], root: Path, cli: ForkedCli | None) -> None:
        self.inputs, self.env, self.root, self.cli = inputs, env, root, cli
        self.done: set[Command] = set()
        (root / "shared").symlink_to(SHARED)  # `../shared/...` in a page means what it means beside a checkout

    def sandbox(self, page: str) -> Path:
        folder = self.root / re.sub(r"\W", "_", page)
        if not folder.exists():
            shutil.copytree(self.inputs, folder, symlinks=True)
        return folder

    def run(self, command: Command) -> subprocess.CompletedProcess:
        for earlier in COMMANDS:
            if earlier == command:
                break
            if earlier.page == command.page and earlier not in self.done and earlier.not_run() is None:
                self.execute(earlier)
        return self.execute(command)

    def execute(self, command: Command) -> subprocess.CompletedProcess:
        self.done.add(command)
        folder = self.sandbox(command.page)
        tokens = substitute(command.tokens)
        for out in named_outputs(tokens):  # what the command promises must be new
            path = folder / out
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        line = shell_text(tokens)
        if self.cli is not None and tokens[0] == "transpose-live" and not SHELL_SYNTAX.search(line):
            args = [m for t in tokens[1:] for m in (sorted(glob.glob(t, root_dir=folder)) or [t] if GLOB.search(t) else [t])]
            rc, out, err = self.cli.run(args, folder, TIMEOUT_S)
            return subprocess.CompletedProcess(line, rc, out, err)
        return subprocess.run(["bash", "-c", line], cwd=folder, env=self.env, capture_output=True, text=True,
                              timeout=TIMEOUT_S)


@pytest.fixture(scope="module")
def page_runs(inputs, docs_env, tmp_path_factory):
    """Plain `transpose-live ...` commands run in forks of one process that imported the CLI's libraries
    once (tests/forked_cli.py: the console script's entry point with the same arguments, seconds saved per
    command); anything with shell syntax (pipes, redirects, variables) and every other program through
    bash. TRANSPOSE_LIVE_DOCS_BASH=1 runs everything through bash."""
    folder = tmp_path_factory.mktemp("docs-pages")
    if os.environ.get("TRANSPOSE_LIVE_DOCS_BASH") == "1":
        yield PageRuns(inputs, docs_env, folder, None)
        return
    with ForkedCli(docs_env) as cli:
        yield PageRuns(inputs, docs_env, folder, cli)


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
@pytest.mark.parametrize("command", COMMANDS, ids=[c.id for c in COMMANDS])
def test_documented_command(command: Command, page_runs: PageRuns):
    why = command.not_run()
    if why:
        pytest.skip(f"not run here: {why}")
    tokens = substitute(command.tokens)
    outputs = named_outputs(tokens)
    assert all(not Path(o).is_absolute() and ".." not in Path(o).parts for o in outputs), \
        f"docs commands write only relative paths inside the working folder: {outputs}"
    done = page_runs.run(command)
    log = f"$ {shell_text(tokens)}\n--- exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert done.returncode == 0, log
    folder = page_runs.sandbox(command.page)
    for out in outputs:
        path = folder / out
        assert path.exists(), f"{out} was not written\n{log}"
        assert (any(path.iterdir()) if path.is_dir() else path.stat().st_size > 0), f"{out} is empty\n{log}"


def test_the_docs_have_commands_and_few_are_not_run():
    """The parser finds the commands (a broken parser must not pass as 'nothing to run')."""
    assert len(COMMANDS) >= 20
    assert any(c.page == "README.md" for c in COMMANDS)
    assert sum(c.not_run() is not None for c in COMMANDS) <= len(COMMANDS) // 4


def test_parsing_joins_continuations_and_drops_comments(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("text\n```bash\n# a comment line\ntranspose-live video a.mp4 \\\n    --out b.mp4   # note\n"
                    "\ntranspose-live webcam --camera 0 --device cuda:1 --half --show\n```\n```python\nx = 1\n```\n")
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        found = page_commands(page)
    finally:
        ROOT = saved
    assert [(c.line, c.tokens) for c in found] == [
        (4, ["transpose-live", "video", "a.mp4", "--out", "b.mp4"]),
        (7, ["transpose-live", "webcam", "--camera", "0", "--device", "cuda:1", "--half", "--show"])]
    assert substitute(found[1].tokens) == ["transpose-live", "webcam", "--camera", CLIP, "--device", "cpu",
                                           "--no-half", "--no-show"]
    assert named_outputs(found[0].tokens) == ["b.mp4"]
    assert shell_text(["transpose-live", "batch", "more/*.mp4", "|", "head", "-1", "a b"]) == \
        "transpose-live batch more/*.mp4 | head -1 'a b'"
