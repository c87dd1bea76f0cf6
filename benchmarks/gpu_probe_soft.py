"""GPU probe of the probability-label softmax kernels: block sizes, warps, a call's cost.

Run on one CUDA GPU: ``python3 benchmarks/gpu_probe_soft.py`` (writes ``$OUT/probe_soft.txt``
when ``OUT`` is set). At 4096 x 131072 float32 logits and float32 labels it times

1. the forward kernel (loss, the three per-row floats, the labels' check) alone for each
   block size and warp count (``triton.testing.do_bench``, median), against the bytes it
   must read (logits and labels);
2. the backward kernel alone likewise (read logits and labels, write the gradient);
3. one forward + backward of ``wxent.softmax_cross_entropy`` with default options, with
   ``validate=False`` and with ``inplace_backward=True`` (CUDA events, median).

``PROBE_SMOKE=1`` runs the plumbing at tiny sizes on CPU under ``TRITON_INTERPRET=1``.
A measurement tool for choosing :func:`wxent._fastpaths.triton_softmax_soft.config`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import torch  # noqa: E402
import triton  # noqa: E402
from gpu_probe import DEV, LINES, SMOKE, bench, events, say  # noqa: E402

import wxent  # noqa: E402
from wxent._fastpaths import triton_softmax_soft as soft  # noqa: E402

N, C = (4, 64) if SMOKE else (4096, 131072)
BLOCKS = (16, 32) if SMOKE else (2048, 4096, 8192, 16384)
WARPS = (4,) if SMOKE else (4, 8, 16, 32)


def sweep(x: Any, y: Any) -> None:
    n, c = x.shape
    stats = torch.empty((3, n), device=DEV)
    grad = torch.empty_like(x)
    one = torch.ones((), device=DEV)
    inv = torch.full((), 1.0 / n, device=DEV)
    nbytes = x.numel() * x.element_size() + y.numel() * y.element_size()
    say(f"\nkernels alone, {n}x{c}: forward reads {nbytes / 2**30:.1f} GiB, backward also "
        f"writes {x.numel() * x.element_size() / 2**30:.1f} GiB")  # fmt: skip
    say("| kernel | block | warps | ms | GB/s |")
    say("|---|---:|---:|---:|---:|")
    best: dict[str, tuple[float, str]] = {}
    for kernel in ("forward", "backward"):
        moved = nbytes if kernel == "forward" else nbytes + x.numel() * x.element_size()
        for block in BLOCKS:
            for warps in WARPS:
                cfg = (1, block, warps)

                def call(cfg: tuple = cfg, kernel: str = kernel) -> None:
                    if kernel == "forward":
                        soft._forward(x, y, None, None, 0.1, 1e-3, 0, stats, None, cfg)
                    else:
                        soft._backward((x, y, stats, inv), 0.1, False, one, grad, cfg)

                try:
                    ms = bench(call)
                except Exception as exc:  # a config the compiler refuses
                    say(f"| {kernel} | {block} | {warps} | error {type(exc).__name__} | |")
                    continue
                say(f"| {kernel} | {block} | {warps} | {ms:.3f} | {moved / ms / 1e6:.0f} |")
                if ms < best.get(kernel, (1e9, ""))[0]:
                    best[kernel] = (ms, f"block={block} warps={warps}")
    say(f"defaults now: forward {soft.config(c)}, backward {soft.config(c, backward=True)}")
    for kernel, (ms, key) in best.items():
        say(f"best {kernel}: {ms:.3f} ms ({key})")


def calls(x: Any, y: Any, rounds: int = 1 if SMOKE else 20) -> None:
    say("\nforward + backward of wxent.softmax_cross_entropy (label_smoothing=0.1)")
    for name, options in (
        ("default options", {}),
        ("validate=False", {"validate": False}),
        ("inplace_backward=True", {"inplace_backward": True}),
    ):
        leaf = x.detach().clone().requires_grad_(True)

        def step(leaf: Any = leaf, options: dict = options) -> None:
            leaf.grad = None
            logits = leaf.view_as(leaf)  # not a leaf: the in-place option may write
            wxent.softmax_cross_entropy(logits, y, label_smoothing=0.1, **options).backward()

        say(f"{name}: {events(step, rounds):.3f} ms")


def main() -> None:
    if not SMOKE and not torch.cuda.is_available():
        sys.exit("gpu_probe_soft.py needs a CUDA device (PROBE_SMOKE=1: smoke test on CPU)")
    if SMOKE:
        os.environ["WXENT_KERNELS"] = "triton"
    name = "CPU (smoke)" if SMOKE else torch.cuda.get_device_name(0)
    say(f"device: {name}, torch {torch.__version__}, triton {triton.__version__}")
    g = torch.Generator(device=DEV).manual_seed(0)
    x = torch.randn(N, C, device=DEV, generator=g) * 2
    y = torch.softmax(torch.randn(N, C, device=DEV, generator=g) * 3, dim=-1)
    sweep(x, y)
    calls(x, y)
    out = os.environ.get("OUT")
    if out:
        Path(out, "probe_soft.txt").write_text("\n".join(LINES) + "\n")


if __name__ == "__main__":
    main()
