"""Every accepted precision spelling gives the same answer through the library and through the CLI: one
parser (`device.parse_precision`), one resolution (`backends.choose_runtime`), unknown names one line."""

from __future__ import annotations

import pytest
import torch

from helpers import CLIPS, require_shared
from transpose_live.backends import choose_runtime
from transpose_live.cli import main
from transpose_live.config import RunConfig
from transpose_live.device import PRECISIONS, parse_precision
from transpose_live.errors import UserError
from transpose_live.chain import resolve_runtime

SPELLINGS = {
    "fp32": ("fp32", "FP32", "float32", "float", "full", "f32", " Float32 "),
    "fp16": ("fp16", "float16", "half", "HALF", "f16"),
    "bf16": ("bf16", "bfloat16", "BF16"),
    "int8": ("int8", "INT8", "i8"),
    "auto": ("auto", "AUTO", ""),
}
UNKNOWN = ("fp64", "int4", "double", "quarter", "fp 16")


def answer(fn):
    """What a call gives: the resolved precision, or its error line."""
    try:
        return fn()
    except UserError as exc:
        return f"error: {exc}"


def test_the_parser_knows_every_spelling_and_dtype():
    for name, spellings in SPELLINGS.items():
        assert name in PRECISIONS
        assert {parse_precision(s) for s in spellings} == {name}
    assert parse_precision(None) == "auto"
    for dtype, name in ((torch.float32, "fp32"), (torch.float16, "fp16"), (torch.bfloat16, "bf16")):
        assert parse_precision(dtype) == name
    assert parse_precision(None, half=True) == parse_precision("auto", True) == parse_precision("half", True) == "fp16"
    assert parse_precision(None, half=False) == parse_precision("full", False) == "fp32"


@pytest.mark.parametrize("backend", ["torch", "openvino"])
def test_library_and_cli_resolve_every_spelling_alike(backend):
    """The library (`PoseEstimator` resolves through `choose_runtime`) and the CLI (`RunConfig` from the
    options, `resolve_runtime`) give the same precision, or the same one-line error, for every spelling."""
    for spellings in SPELLINGS.values():
        for spelling in spellings:
            lib = answer(lambda: choose_runtime("cpu", backend, spelling).precision)
            cfg = RunConfig.for_command("video", device="cpu", backend=backend, precision=spelling)
            cli = answer(lambda: resolve_runtime(cfg).precision)
            assert lib == cli, (spelling, lib, cli)
            assert "\n" not in lib
    # the aliases of the library (half=, a dtype) and of the CLI (--half / --no-half) agree too
    for half in (True, False):
        lib = answer(lambda: choose_runtime("cpu", backend, None, half=half).precision)
        cli = answer(lambda: resolve_runtime(RunConfig.for_command("video", device="cpu", backend=backend,
                                                                   half=half)).precision)
        dtype = answer(lambda: choose_runtime("cpu", backend, torch.float16 if half else torch.float32).precision)
        assert lib == cli == dtype, (half, lib, cli, dtype)


def test_unknown_spellings_are_one_line_listing_the_accepted_ones(capsys):
    clip = require_shared(CLIPS / "squat.mp4")
    for spelling in UNKNOWN:
        with pytest.raises(UserError) as lib:
            choose_runtime("cpu", None, spelling)
        message = str(lib.value)
        assert "\n" not in message and all(name in message for name in PRECISIONS), message
        assert main(["video", str(clip), "--precision", spelling, "--max-frames", "1", "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert err == f"error: {message}\n"


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
def test_real_cli_runs_report_what_the_library_runs(capsys, tmp_path):
    """A real `video` run per canonical answer (through an alias) says in its summary line what a
    `PoseEstimator` given the same spelling runs."""
    from transpose_live.engine import PoseEstimator

    clip = require_shared(CLIPS / "squat.mp4")
    base = ["video", str(clip), "--weights", "random", "--model", "tp_r_a3", "--device", "cpu", "--detector", "none",
            "--max-frames", "1", "--no-progress", "--json", str(tmp_path / "out.jsonl")]
    cases = [("full", "torch"), ("BFloat16", "openvino"), ("half", "openvino"),
             ("i8", "openvino")]
    for spelling, backend in cases:
        lib = answer(lambda: PoseEstimator("tp_r_a3", None, device="cpu", backend=backend, precision=spelling,
                                           flip_test=False).precision)
        code = main([*base, "--backend", backend, "--precision", spelling])
        err = capsys.readouterr().err
        if lib.startswith("error: "):
            assert (code, err) == (2, lib + "\n")
        else:
            assert code == 0 and f"tp_r_a3 {lib} on {backend}" in err, err
