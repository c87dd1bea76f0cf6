"""GPU check: every way of running a loss agrees with float64 at full size, not only on a slice.

``python3 benchmarks/gpu_agree.py`` on a CUDA machine. ``gpu.py`` checks each contender
against float64 on 256 rows and the compiled contenders against the first row at full
size; this script checks each of them against float64 on the same full-size inputs
(fresh logits per call; the labels are checked unchanged after each call): eager with
default options (the kernels on CUDA), the generic path (``WXENT_KERNELS=off``), and
``torch.compile(fullgraph=True)`` of the same call with and without the kernels, at
several row counts. ``WXENT_BENCH_DEVICE=cpu`` runs it at small sizes (a smoke test).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_cases  # noqa: E402
import torch  # noqa: E402

import wxent  # noqa: E402

CUDA = gpu_cases.DEV == "cuda"
KEYS = ("softmax_ce", "softmax_focal", "sigmoid_focal")


def _run(loss: Any, inputs: dict, dtype: Any = None) -> tuple[Any, Any]:
    x = inputs["x"].detach().clone()
    if dtype is not None:
        x = x.to(dtype)
    x.requires_grad_()
    value = loss(inputs, x)
    value.backward()
    return value.detach().double(), x.grad.double()


def _errors(got: tuple, ref: tuple) -> str:
    out = []
    for a, b in zip(got, ref, strict=True):
        out.append(float((a - b).abs().max() / b.abs().max().clamp_min(1e-30)))
    flag = "ok" if max(out) < 2e-4 else "MISMATCH"
    return f"{flag} loss {out[0]:.1e} grad {out[1]:.1e}"


def main() -> None:
    n_full, c = (8192, 32768) if CUDA else (512, 256)
    for key in KEYS:
        label, loss = gpu_cases.IMBALANCE[key]
        inputs = gpu_cases._sigmoid_inputs(n_full, c, seed=2)

        compiled = torch.compile(loss, fullgraph=True, dynamic=False)
        for rows in (256, n_full):
            sub = {k: (v[:rows] if v.dim() and len(v) == n_full else v) for k, v in inputs.items()}
            labels = sub["y"].clone()
            with gpu_cases.kernels("off"):
                ref = _run(loss, sub, torch.float64)
            print(f"{label}, {rows}x{c}", flush=True)
            ways = [
                ("eager default", loss, "auto"),
                ("eager generic", loss, "off"),
                ("compiled (generic path traced)", compiled, "auto"),
            ]
            for name, fn, mode in ways:
                try:
                    with gpu_cases.kernels(mode):
                        got = _run(fn, sub)
                    same = bool(torch.equal(labels, sub["y"]))
                    print(f"    {name}: {_errors(got, ref)}; labels unchanged: {same}", flush=True)
                except Exception as exc:
                    print(f"    {name}: error {type(exc).__name__}: {str(exc)[:200]}", flush=True)
            del ref
            if CUDA:
                torch.cuda.empty_cache()
        del inputs, compiled
        torch._dynamo.reset()
        if CUDA:
            torch.cuda.empty_cache()


if __name__ == "__main__":
    print("wxent", wxent.__version__, "torch", torch.__version__, flush=True)
    main()
