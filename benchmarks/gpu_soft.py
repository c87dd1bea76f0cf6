"""Probability-label softmax cross-entropy case of ``benchmarks/gpu.py`` (float32).

Soft targets (distillation, mixup) of the logits' shape, label smoothing 0.1, mean:
wxent (its Triton kernel for probability labels, the labels' value check inside it)
against torch eager ``F.cross_entropy`` with probability targets and ``torch.compile``
of it, which compute the same loss (no class weight: torch weighs soft targets per
class, wxent per sample).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from gpu_cases import DEV, Case, Contender, _compiled, _torch_runner, kernels

import wxent

SMOOTHING = 0.1


def _inputs(n: int, c: int, seed: int = 5) -> dict:
    g = torch.Generator(device=DEV).manual_seed(seed)
    x = (torch.randn(n, c, device=DEV, generator=g) * 2).requires_grad_()
    t = torch.softmax(torch.randn(n, c, device=DEV, generator=g) * 3, dim=-1)
    return {"x": x, "t": t}


def _wxent(i: dict, v: Any, **options: Any) -> Any:
    return wxent.softmax_cross_entropy(v, i["t"], label_smoothing=SMOOTHING, **options)


def _reference(inputs: dict, kind: str) -> Any:
    x = inputs["x"].detach().double().requires_grad_()
    value = _wxent({"t": inputs["t"].double()}, x)
    value.backward()
    return (value.detach(), x.grad)


def _eager(i: dict, v: Any) -> Any:
    return F.cross_entropy(v, i["t"], label_smoothing=SMOOTHING)


def _generic(i: dict, v: Any) -> Any:
    with kernels("off"):
        return _wxent(i, v)


def soft_case(quick: bool) -> Case:
    """4096 x 131072 float32 logits and labels (2 GiB each), forward + backward."""
    n, c = (1024, 8192) if quick else (4096, 131072)
    contenders = [
        Contender("wxent (default options)", _torch_runner(_wxent, ["x"])),
        Contender(
            "wxent validate=False", _torch_runner(lambda i, v: _wxent(i, v, validate=False), ["x"])
        ),
        Contender("wxent WXENT_KERNELS=off (generic)", _torch_runner(_generic, ["x"])),
        Contender("torch eager F.cross_entropy (probabilities)", _torch_runner(_eager, ["x"])),
        Contender("torch.compile(F.cross_entropy)", _compiled(_eager, ["x"]), kind="anchor"),
        Contender(
            "wxent inplace_backward=True",
            _torch_runner(lambda i, v: _wxent(i, v, inplace_backward=True), ["x"]),
            inplace=True,
        ),
    ]
    return Case(
        "softmax_soft",
        f"softmax CE, probability labels, smoothing 0.1, mean, {n}x{c} float32",
        lambda rows: _inputs(rows, c),
        n,
        _reference,
        contenders,
        2e-4,
        n * c * 4,
        floor_bytes=3 * n * c * 4,  # read the logits and the labels, write the gradient
    )
