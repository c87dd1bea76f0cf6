"""Linear cross-entropy cases of ``benchmarks/gpu.py`` (torch and JAX, bfloat16)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from gpu_cases import DEV, Case, Contender, _compiled, _jax_runner, _torch_runner

import wxent

WEIGHTED = {"ignore_index": -100, "label_smoothing": 0.1}


def _inputs(n: int, d: int, v: int, seed: int = 4) -> dict:
    g = torch.Generator(device=DEV).manual_seed(seed)
    h = (torch.randn(n, d, device=DEV, generator=g)).to(torch.bfloat16).requires_grad_()
    w = (torch.randn(v, d, device=DEV, generator=g) * d**-0.5).to(torch.bfloat16)
    w.requires_grad_()
    y = torch.randint(0, v, (n,), device=DEV, generator=g)
    y[torch.rand(n, device=DEV, generator=g) < 0.1] = -100
    cw = torch.rand(v, device=DEV, generator=g) + 0.5
    return {"h": h, "w": w, "y": y, "cw": cw}


def _reference(inputs: dict, kind: str) -> Any:
    h = inputs["h"].detach().double().requires_grad_()
    w = inputs["w"].detach().double().requires_grad_()
    options: dict[str, Any] = {"ignore_index": -100}
    if kind == "weighted":
        options = {**WEIGHTED, "class_weight": inputs["cw"], "reduction": "weighted_mean"}
    value = wxent.softmax_cross_entropy(h @ w.T, inputs["y"], **options)
    value.backward()
    return (value.detach(), h.grad, w.grad)


def _torch_contenders() -> list[Contender]:
    def wx(i: dict, h: Any, w: Any) -> Any:
        return wxent.linear_cross_entropy(h, w, i["y"], ignore_index=-100)

    def wx_weighted(i: dict, h: Any, w: Any) -> Any:
        return wxent.linear_cross_entropy(
            h, w, i["y"], class_weight=i["cw"], reduction="weighted_mean", **WEIGHTED
        )

    def wx_small_chunks(i: dict, h: Any, w: Any) -> Any:
        return wxent.linear_cross_entropy(h, w, i["y"], ignore_index=-100, chunk_size=1024)

    def matmul(i: dict, h: Any, w: Any) -> Any:
        return F.cross_entropy((h @ w.T).float(), i["y"], ignore_index=-100)

    def liger(i: dict, h: Any, w: Any) -> Any:
        from liger_kernel.transformers import LigerFusedLinearCrossEntropyLoss

        return LigerFusedLinearCrossEntropyLoss(ignore_index=-100)(w, h, i["y"])

    def liger_weighted(i: dict, h: Any, w: Any) -> Any:
        from liger_kernel.transformers import LigerFusedLinearCrossEntropyLoss

        loss = LigerFusedLinearCrossEntropyLoss(ce_weight=i["cw"], **WEIGHTED)
        return loss(w, h, i["y"])

    def cce(i: dict, h: Any, w: Any) -> Any:
        from cut_cross_entropy import linear_cross_entropy

        return linear_cross_entropy(h, w, i["y"], ignore_index=-100)

    leaves = ["h", "w"]
    return [
        Contender("wxent (default options)", _torch_runner(wx, leaves)),
        Contender(
            "wxent class weights + smoothing 0.1 (weighted_mean)",
            _torch_runner(wx_weighted, leaves),
            kind="weighted",
        ),
        Contender("wxent chunk_size=1024", _torch_runner(wx_small_chunks, leaves)),
        # the chunked sweep is one graph operator (wxent::linear_sweep): wxent's chunk step
        # runs inside the compiled graph
        Contender("torch.compile(wxent loss, fullgraph=True)", _compiled(wx, leaves)),
        Contender("matmul + F.cross_entropy (float32 logits)", _torch_runner(matmul, leaves)),
        Contender("Liger-Kernel LigerFusedLinearCrossEntropyLoss", _torch_runner(liger, leaves)),
        Contender(
            "Liger-Kernel, class weights + smoothing 0.1",
            _torch_runner(liger_weighted, leaves),
            kind="weighted",
        ),
        Contender("cut-cross-entropy linear_cross_entropy", _torch_runner(cce, leaves)),
    ]


def _jax_contenders() -> list[Contender]:
    def wx(h: Any, w: Any, y: Any) -> Any:
        return wxent.linear_cross_entropy(h, w, y, ignore_index=-100)

    def optax_loss(h: Any, w: Any, y: Any) -> Any:
        import jax
        import jax.numpy as jnp
        import optax

        logits = jax.lax.dot_general(
            h, w, (((1,), (1,)), ((), ())), preferred_element_type=jnp.float32
        )
        valid = y != -100
        per = optax.softmax_cross_entropy_with_integer_labels(logits, jnp.where(valid, y, 0))
        return jnp.sum(jnp.where(valid, per, 0.0)) / jnp.sum(valid)

    return [
        Contender("wxent (jit)", _jax_runner(wx, ["h", "w"], ["y"]), jax=True),
        Contender("matmul + Optax (jit)", _jax_runner(optax_loss, ["h", "w"], ["y"]), jax=True),
    ]


def linear_cases(quick: bool) -> list[Case]:
    """Linear CE in torch (16384x4096x131072) and JAX (8192x4096x131072), bfloat16."""
    out = []
    for key, contenders, n in (
        ("linear", _torch_contenders(), 16384),
        ("jax_linear", _jax_contenders(), 8192),
    ):
        d, v = (256, 8192) if quick else (4096, 131072)
        n = 1024 if quick else n
        framework = "JAX " if key == "jax_linear" else ""
        out.append(
            Case(
                key,
                f"{framework}linear CE {n}x{d}x{v} bfloat16 (ignore_index)",
                lambda rows, d=d, v=v: _inputs(rows, d, v),
                n,
                _reference,
                contenders,
                3e-2,
                n * v * 2,
                floor_flops=3 * 2 * n * d * v,  # logits, grad_inputs, grad_weight
            )
        )
    return out
