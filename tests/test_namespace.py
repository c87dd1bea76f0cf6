"""Namespaces: every xp.<name> the core uses exists everywhere; no framework on import."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import array_api_compat
import array_api_strict
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import wxent
from wxent import _tf_namespace

SRC = pathlib.Path(wxent.__file__).parent
# The agnostic layer: the core modules of every loss family and the numerics.
CORE_FILES = sorted([*SRC.glob("_core/*.py"), SRC / "_reduction.py"])


def _xp_names() -> set[str]:
    names: set[str] = set()
    for path in CORE_FILES:
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "xp"
            ):
                names.add(node.attr)
    return names


def test_core_files_found():
    names = {p.name for p in CORE_FILES}
    assert names >= {"numerics.py", "sigmoid.py", "softmax.py", "cost.py", "_reduction.py"}
    assert {"where", "exp", "log1p", "take_along_axis"} <= _xp_names()


NAMESPACES = {
    "numpy": array_api_compat.array_namespace(np.zeros(1)),
    "torch": array_api_compat.array_namespace(torch.zeros(1)),
    "jax": array_api_compat.array_namespace(jnp.zeros(1)),
    "strict": array_api_strict,
    "tensorflow": _tf_namespace,
}


@pytest.mark.parametrize("name", sorted(NAMESPACES))
def test_every_core_name_exists(name):
    xp = NAMESPACES[name]
    missing = sorted(n for n in _xp_names() if not hasattr(xp, n))
    assert missing == [], f"{name} lacks {missing}"


def test_import_wxent_loads_no_framework():
    code = (
        "import importlib, pkgutil, sys, wxent\n"
        "import numpy as np\n"
        "for m in pkgutil.iter_modules(wxent.__path__):\n"
        "    if m.name not in ('torch', 'keras', '_keras_metrics', '_tf_namespace'):\n"
        "        importlib.import_module('wxent.' + m.name)\n"
        "wxent.softmax_cross_entropy(np.zeros((2, 3), np.float32), np.array([0, 1]))\n"
        "loaded = [m for m in ('torch', 'jax', 'tensorflow', 'keras') if m in sys.modules]\n"
        "print(','.join(loaded) or 'none')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "none"


def test_torch_result_on_logits_device_and_weights_follow():
    x = torch.zeros((2, 3), device="meta")
    y = torch.zeros((2,), dtype=torch.int64, device="meta")
    out = wxent.softmax_cross_entropy(x, y, class_weight=[1.0, 2.0, 3.0], reduction="none")
    assert out.device.type == "meta" and tuple(out.shape) == (2,)


def test_weights_given_as_framework_arrays():
    x = torch.randn(4, 3)
    y = torch.tensor([0, 1, 2, 0])
    a = wxent.softmax_cross_entropy(x, y, class_weight=torch.tensor([1.0, 2.0, 3.0]))
    b = wxent.softmax_cross_entropy(x, y, class_weight=np.array([1.0, 2.0, 3.0]))
    c = wxent.softmax_cross_entropy(x, y, class_weight=[1, 2, 3])
    assert torch.allclose(a, b) and torch.allclose(b, c)
    assert a.dtype == torch.float32
