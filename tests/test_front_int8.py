"""INT8 where it pays (issue #33.1): only CPUs with int8 dot products (VNNI/AMX); `auto` never runs INT8 from
a checkpoint on any CPU kind."""

from __future__ import annotations

import pytest

from transpose_live.backends.precision import cpuinfo_flags, resolve_precision
from transpose_live.backends.quantize import VNNI_FLAGS, int8_pays


@pytest.mark.parametrize("flags, pays", [
    ({"avx2", "fma"}, False),  # the AVX2-only EPYC of issue #33
    ({"avx2", "avx512f", "avx512_bf16"}, False),
    ({"avx2", "avx512f", "avx512_vnni"}, True),
    ({"avx2", "avx_vnni"}, True),
    ({"avx512f", "amx_int8", "amx_bf16"}, True),
])
def test_int8_pays_only_with_int8_dot_products(flags, pays):
    assert int8_pays(flags) is pays


def test_this_cpu_and_auto_never_picks_int8():
    assert int8_pays() is any(f in cpuinfo_flags() for f in VNNI_FLAGS)
    for backend in ("openvino", "onnxruntime", "torch"):
        assert resolve_precision("auto", "cpu", backend) != "int8"
