"""16-bit logits reach the fused kernels as given: no float32 copy of the logits.

The generic formulas compute in float32 for float16/bfloat16 logits, but the fused Triton
kernels read the caller's logits in their own dtype. Preparing the inputs must then not
make a float32 copy (4 GiB at 8192 x 131072): a ``TorchDispatchMode`` records every op of
the forward and backward passes (Triton's interpreter runs the kernels on CPU tensors,
``TRITON_INTERPRET=1`` from tests/conftest.py) and no op may output a float32 tensor of
the logits' size. The same recording on the generic path does see that copy (the
detector works).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
import triton  # noqa: F401  (a missing triton is a failure, not a skip)
from torch.utils._python_dispatch import TorchDispatchMode

import wxent
from wxent import _prepare as prep
from wxent import _value_checks
from wxent._fastpaths import select

ROWS, CLASSES = 6, 40  # 240 elements: no other tensor of the call has that size


class FullCopies(TorchDispatchMode):
    """Records the ops that output a float32 tensor of ``numel`` elements."""

    def __init__(self, numel: int) -> None:
        super().__init__()
        self.numel = numel
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor) and t.dtype == torch.float32 and t.numel() == self.numel:
                self.ops.append(str(func))
        return out


def _data(family: str):
    rng = np.random.default_rng(0)
    x = torch.tensor(3 * rng.normal(size=(ROWS, CLASSES)), dtype=torch.bfloat16)
    if family == "softmax":
        y = torch.tensor(rng.integers(0, CLASSES, ROWS))
        y[1] = -100
        options = {
            "class_weight": rng.uniform(0.5, 2.0, CLASSES),
            "sample_weight": torch.tensor(rng.uniform(0.5, 2.0, ROWS), dtype=torch.float32),
            "ignore_index": -100,
            "label_smoothing": 0.1,
        }
        return x, y, options
    y = torch.tensor(rng.integers(0, 2, (ROWS, CLASSES)), dtype=torch.bfloat16)
    y[0, :3] = -1
    options = {
        "pos_weight": rng.uniform(0.5, 2.0, CLASSES),
        "sample_weight": torch.tensor(rng.uniform(0.5, 2.0, ROWS), dtype=torch.float32),
        "ignore_label": -1,
        "label_smoothing": 0.1,
    }
    return x, y, options


LOSSES = {
    "softmax_cross_entropy": ("softmax", wxent.softmax_cross_entropy, {}),
    "softmax_focal_loss": ("softmax", wxent.softmax_focal_loss, {"gamma": 2.0}),
    "sigmoid_cross_entropy": ("sigmoid", wxent.sigmoid_cross_entropy, {}),
    "sigmoid_focal_loss": ("sigmoid", wxent.sigmoid_focal_loss, {"alpha": 0.25}),
    "asymmetric_loss": ("sigmoid", wxent.asymmetric_loss, {}),
}


def _record(name: str, mode: str, reduction: str) -> tuple[list[str], torch.Tensor]:
    family, loss, extra = LOSSES[name]
    x, y, options = _data(family)
    x.requires_grad_(True)
    old = os.environ.get("WXENT_KERNELS")
    os.environ["WXENT_KERNELS"] = mode
    try:
        with FullCopies(x.numel()) as mode_:
            out = loss(x, y, reduction=reduction, **options, **extra)
            (grad,) = torch.autograd.grad(out, x, torch.ones_like(out))
    finally:
        if old is None:
            del os.environ["WXENT_KERNELS"]
        else:
            os.environ["WXENT_KERNELS"] = old
    assert grad.dtype == torch.bfloat16 and torch.isfinite(grad).all()
    return mode_.ops, out


@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("name", list(LOSSES))
def test_no_float32_copy_of_16_bit_logits_on_the_fused_path(name, reduction, monkeypatch):
    assert os.environ.get("TRITON_INTERPRET") == "1", "tests/conftest.py sets it"
    # The probability look of the checks casts a bounded view of the logits (at real
    # sizes a small part of them); here that view is kept below the logits' size.
    monkeypatch.setattr(_value_checks, "PROBE_SIZE", 64)
    select.LAUNCHES.clear()
    ops, fused = _record(name, "triton", reduction)
    assert sum(select.LAUNCHES.values()) > 0, "the kernel did not run"
    assert ops == [], f"float32 copies of the logits: {ops}"
    # The detector sees the generic path's float32 computation; both agree.
    generic_ops, generic = _record(name, "off", reduction)
    assert generic_ops
    np.testing.assert_allclose(
        fused.detach().double().numpy(), generic.detach().double().numpy(), rtol=2e-2, atol=2e-2
    )


def test_inputs_answer_shape_questions_without_casting():
    x = torch.zeros((3, 5), dtype=torch.bfloat16)
    for inp in (
        prep.softmax_inputs(
            x,
            torch.tensor([0, 1, 4]),
            class_axis=-1,
            ignore_index=None,
            label_smoothing=0.0,
            reduction="mean",
            validate=True,
        ),
        prep.sigmoid_inputs(
            x,
            torch.ones((3, 5)),
            class_axis=-1,
            ignore_label=-1,
            label_smoothing=0.0,
            reduction="mean",
            validate=True,
        ),
        prep.logits_inputs(x, class_axis=-1),
    ):
        assert inp._logits is None  # nothing cast yet
        assert inp.raw_logits is x
        assert inp.ndim == 2 and inp.shape == (3, 5) and inp.dtype == torch.float32
        assert prep.per_class("w", [1.0] * 5, inp).dtype == torch.float32
        assert inp._logits is None
        assert inp.logits.dtype == torch.float32  # cast on the first read, then kept
        assert inp.logits is inp.logits
