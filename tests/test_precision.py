"""Precision: `--precision=auto` picks by the machine it is described."""

import dataclasses

import pytest

from s2f_tf import config as config_lib
from s2f_tf import precision as precision_lib

_CPUINFO = """processor\t: 0
model name\t: Some CPU
flags\t\t: fpu sse2 avx2 {extra}

processor\t: 1
"""


def _cpuinfo(tmp_path, extra):
  path = tmp_path / "cpuinfo"
  path.write_text(_CPUINFO.format(extra=extra))
  return str(path)


@pytest.mark.parametrize("extra, expected", [
    ("avx512f avx512_bf16", "mixed_bfloat16"),
    ("amx_tile amx_bf16", "mixed_bfloat16"),
    ("avx512f avx512_vnni", "float32"),
    ("", "float32"),
])
def test_auto_picks_bfloat16_only_on_cpus_with_bf16_units(
    tmp_path, monkeypatch, extra, expected):
  monkeypatch.setattr(precision_lib, "_accelerators", lambda: ([], False))
  assert precision_lib.resolve("auto", _cpuinfo(tmp_path, extra)) == expected


def test_auto_without_cpuinfo_is_float32(tmp_path, monkeypatch):
  monkeypatch.setattr(precision_lib, "_accelerators", lambda: ([], False))
  assert precision_lib.resolve("auto", str(tmp_path / "none")) == "float32"


@pytest.mark.parametrize("gpus, tpu, expected", [
    ([(8, 0)], False, "mixed_float16"),
    ([(7, 0), (8, 6)], False, "mixed_float16"),
    ([(6, 1)], False, "float32"),
    ([(8, 0), (6, 1)], False, "float32"),  # The oldest GPU decides.
    ([], True, "mixed_bfloat16"),
])
def test_auto_on_accelerators_ignores_the_host_cpu(gpus, tpu, expected):
  policy, why = precision_lib.choose(("avx512_bf16",), gpus, tpu)
  assert policy == expected and why


def test_concrete_precisions_pass_through_and_auto_is_resolved(monkeypatch):
  monkeypatch.setattr(precision_lib, "choose",
                      lambda *args: ("mixed_bfloat16", "test"))
  config = config_lib.tiny_config(root="x", precision="float32")
  assert precision_lib.resolve_config(config) is config
  auto = dataclasses.replace(config, train=dataclasses.replace(
      config.train, precision="auto"))
  assert precision_lib.resolve_config(auto).train.precision == (
      "mixed_bfloat16")
