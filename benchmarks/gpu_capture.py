"""GPU check: wxent losses captured in a CUDA graph replay the eager values and gradients.

``python3 benchmarks/gpu_capture.py`` on a CUDA machine (``benchmarks/gpu.sh`` runs it
first). Each case is warmed up on a side stream, its forward and backward pass captured
with ``torch.cuda.graph`` (default options: the checks cannot read while capturing, as
under tracing), then replayed on new logits copied into the captured input; the loss and
the gradient must equal an eager call on the same logits. A host array given while
capturing must be refused with wxent's message. Prints one line per case and exits 1 on
any failure. Without a CUDA device it says so and exits 0 (nothing to capture).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import wxent  # noqa: E402


def _cases(n: int, c: int, dev: str) -> dict[str, tuple[Callable[[Any], Any], Any]]:
    """``name -> (loss of the logits, the logits' dtype)`` for ``(n, c)`` logits."""
    g = torch.Generator(device=dev).manual_seed(0)
    y = torch.randint(0, c, (n,), device=dev, generator=g)
    y[::7] = -100
    y_ok = y.clamp(min=0)
    cw = torch.rand(c, device=dev, generator=g) + 0.5
    z = (torch.rand(n, c, device=dev, generator=g) < 0.1).float()
    pw = torch.rand(c, device=dev, generator=g) * 3 + 0.5
    h = torch.randn(n, 64, device=dev, generator=g, dtype=torch.bfloat16)
    w = torch.randn(c, 64, device=dev, generator=g, dtype=torch.bfloat16)
    return {
        "softmax CE, class weights + ignore, weighted_mean": (
            lambda x: wxent.softmax_cross_entropy(
                x, y, class_weight=cw, ignore_index=-100, reduction="weighted_mean"
            ),
            torch.float32,
        ),
        "softmax CE bf16, smoothing": (
            lambda x: wxent.softmax_cross_entropy(x, y_ok, label_smoothing=0.1),
            torch.bfloat16,
        ),
        "sigmoid CE, pos_weight": (
            lambda x: wxent.sigmoid_cross_entropy(x, z, pos_weight=pw),
            torch.float32,
        ),
        "sigmoid_focal_loss": (lambda x: wxent.sigmoid_focal_loss(x, z, alpha=0.25), torch.float32),
        "softmax_focal_loss, ignore": (
            lambda x: wxent.softmax_focal_loss(x, y, ignore_index=-100),
            torch.float32,
        ),
        "expected_cost_loss": (
            lambda x: wxent.expected_cost_loss(x, y_ok, 1.0 - torch.eye(c, device=dev)),
            torch.float32,
        ),
        "linear_cross_entropy (inputs' gradient)": (
            lambda x: wxent.linear_cross_entropy(
                x[:, :64].to(torch.bfloat16) + h, w, y, ignore_index=-100
            ),
            torch.float32,
        ),
    }


def _capture(loss: Callable[[Any], Any], x: Any) -> tuple[Any, Any, Any]:
    """``(graph, captured loss, captured x)`` of ``loss(x).backward()``."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):  # compiles the kernels before the capture
            x.grad = None
            loss(x).backward()
    torch.cuda.current_stream().wait_stream(side)
    x.grad = None
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = loss(x)
        out.backward()
    return graph, out, x


def main() -> int:
    if not torch.cuda.is_available():
        print("gpu_capture: no CUDA device: nothing to capture")
        return 0
    n, c, dev = 512, 1000, "cuda"
    failures = 0
    for name, (loss, dtype) in _cases(n, c, dev).items():
        try:
            x = torch.randn(n, c, device=dev, dtype=dtype, requires_grad=True)
            graph, out, captured = _capture(loss, x)
            for seed in (1, 2):
                fresh = torch.randn(
                    n, c, device=dev, dtype=dtype, generator=torch.Generator(dev).manual_seed(seed)
                )
                with torch.no_grad():
                    captured.copy_(fresh)
                graph.replay()
                eager_x = fresh.clone().requires_grad_(True)
                eager = loss(eager_x)
                eager.backward()
                torch.cuda.synchronize()
                torch.testing.assert_close(out, eager, rtol=1e-5, atol=1e-6)
                torch.testing.assert_close(captured.grad, eager_x.grad, rtol=1e-5, atol=1e-6)
            print(f"ok    {name}")
        except Exception as exc:  # report every case
            failures += 1
            print(f"FAIL  {name}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
    x = torch.randn(n, c, device=dev)
    y = torch.zeros(n, dtype=torch.long, device=dev)
    wxent.softmax_cross_entropy(x, y)  # warm-up
    hosts = {"list": [1.0] * c, "NumPy array": np.ones(c), "CPU tensor": torch.ones(c)}
    for kind, host in hosts.items():  # host values while capturing: refused by name
        try:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            message = ""
            with torch.cuda.stream(side):
                graph = torch.cuda.CUDAGraph()
                try:
                    with torch.cuda.graph(graph):
                        wxent.softmax_cross_entropy(x, y, class_weight=host)
                except ValueError as exc:
                    message = str(exc)
            assert "`class_weight`" in message and "CUDA graph" in message, message
            print(f"ok    class_weight as a {kind} refused while capturing")
        except Exception as exc:
            failures += 1
            print(f"FAIL  class_weight as a {kind} while capturing: {type(exc).__name__}: {exc}")
    print(f"gpu_capture: {failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
