"""GPU check of linear_cross_entropy (PyTorch): accuracy against float64, GEMMs, time, memory.

``python benchmarks/linear_gpu_check.py [--jax]`` on a CUDA machine. Prints, for bf16
inputs: the relative error of the loss and of both gradients against float64 next to
``F.cross_entropy((h @ W.T).float(), y)``'s; the matmuls seen by a dispatch mode; then
forward+backward medians (CUDA events) and peak extra memory of wxent (default options,
with class weights + smoothing + ignore, and by chunk size) against torch eager at
16384x4096x131072. ``--jax optax`` / ``--jax wxent`` times one JAX contender under
``jit`` (one per process: peak memory is per process) at 8192x4096x131072 instead.
"""

from __future__ import annotations

import statistics
import sys

import numpy as np


def _median_ms(fn, rounds=7, warm=2):
    import time

    import torch

    if not torch.cuda.is_available():  # a dry run of the script on CPU
        t = time.perf_counter()
        fn()
        return (time.perf_counter() - t) * 1e3
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(rounds):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def _peak_gib(fn):
    import torch

    if not torch.cuda.is_available():
        return 0.0
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - base) / 2**30


def torch_checks() -> None:
    import torch
    import torch.nn.functional as F
    from torch.utils._python_dispatch import TorchDispatchMode

    import wxent
    from wxent._fastpaths import linear as fl
    from wxent._fastpaths import linear_torch

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    scale = 1 if dev == "cuda" else 16  # CPU: a dry run at 1/16 of each size
    print("torch", torch.__version__, dev, flush=True)
    if dev == "cuda":
        print("CUDA GEMMs write float32 (out_dtype):", linear_torch._cuda_out_dtype(), flush=True)
    gen = torch.Generator(device=dev).manual_seed(0)
    n, d, v = 4096 // scale, 1024 // scale, 32768 // scale
    h = torch.randn(n, d, device=dev, generator=gen).bfloat16()
    w = (torch.randn(v, d, device=dev, generator=gen) / d**0.5).bfloat16()
    b = (torch.randn(v, device=dev, generator=gen) * 0.1).bfloat16()
    y = torch.randint(0, v, (n,), device=dev, generator=gen)
    y[::13] = -100
    cw = torch.rand(v, device=dev, generator=gen) + 0.5
    opts = {"class_weight": cw, "label_smoothing": 0.1, "ignore_index": -100}

    h64, w64, b64 = (t.double().requires_grad_(True) for t in (h, w, b))
    ref = wxent.softmax_cross_entropy(h64 @ w64.T + b64, y, reduction="weighted_mean", **opts)
    ref.backward()

    def grads(loss):
        a, c, e = (t.clone().requires_grad_(True) for t in (h, w, b))
        out = loss(a, c, e)
        out.backward()
        return out.double(), a.grad.double(), c.grad.double(), e.grad.double()

    def rel(x, exact):
        return float((x.detach() - exact).norm() / exact.norm())

    peer = grads(
        lambda a, c, e: F.cross_entropy(
            (a @ c.T + e).float(), y, weight=cw, label_smoothing=0.1, ignore_index=-100
        )
    )
    exact = (ref.detach(), h64.grad, w64.grad, b64.grad)
    print("relative error vs float64: loss, grad h, grad W, grad b", flush=True)
    print(
        "  torch F.cross_entropy((h@W.T+b).float()):",
        [f"{rel(p, e):.2e}" for p, e in zip(peer, exact, strict=True)],
    )
    for chunk in (None, 1024, 256):
        ours = grads(
            lambda a, c, e, chunk=chunk: wxent.linear_cross_entropy(
                a, c, y, bias=e, reduction="weighted_mean", chunk_size=chunk, **opts
            )
        )
        print(
            f"  wxent chunk_size={chunk}:",
            [f"{rel(o, e):.2e}" for o, e in zip(ours, exact, strict=True)],
            flush=True,
        )
    del h64, w64, b64, ref, exact

    class Recorder(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.calls = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            name = func.overloadpacket.__name__
            if name in ("mm", "addmm", "matmul", "bmm", "baddbmm", "linear"):
                ops = args[1:3] if name.startswith("add") or name == "baddbmm" else args[:2]
                self.calls.append(
                    (str(func), [str(t.dtype) for t in ops], [tuple(t.shape) for t in ops])
                )
            return func(*args, **(kwargs or {}))

    a, c = h.clone().requires_grad_(True), w.clone().requires_grad_(True)
    with Recorder() as rec:
        wxent.linear_cross_entropy(a, c, y, chunk_size=1024, **opts).backward()
    flops = sum(2 * np.prod(s[0]) * s[1][-1] for _, _, s in rec.calls)
    print(
        "matmuls:",
        sorted({(f, tuple(dt)) for f, dt, _ in rec.calls}),
        "FLOPs / GEMM =",
        flops / (2 * n * d * v),
        flush=True,
    )

    # ---- time and memory at the size
    n, d, v = 16384 // scale, 4096 // scale, 131072 // scale
    h = torch.randn(n, d, device=dev, generator=gen).bfloat16().requires_grad_(True)
    w = (torch.randn(v, d, device=dev, generator=gen) / d**0.5).bfloat16().requires_grad_(True)
    y = torch.randint(0, v, (n,), device=dev, generator=gen)
    y[::13] = -100
    cw = torch.rand(v, device=dev, generator=gen) + 0.5

    def step(loss):
        def run():
            h.grad = w.grad = None
            loss().backward()

        return run

    cases = {
        "torch eager (h@W.T).float() + F.cross_entropy": lambda: F.cross_entropy(
            (h @ w.T).float(), y.clamp(min=0)
        ),
        "wxent default": lambda: wxent.linear_cross_entropy(h, w, y.clamp(min=0)),
        "wxent validate=False": lambda: wxent.linear_cross_entropy(
            h, w, y.clamp(min=0), validate=False
        ),
        "wxent class_weight+smoothing+ignore, weighted_mean": lambda: wxent.linear_cross_entropy(
            h,
            w,
            y,
            class_weight=cw,
            label_smoothing=0.1,
            ignore_index=-100,
            reduction="weighted_mean",
        ),
    }
    for rows in (1024 // scale, 2048 // scale, 4096 // scale, 8192 // scale):
        cases[f"wxent chunk_size={rows}"] = lambda rows=rows: wxent.linear_cross_entropy(
            h, w, y.clamp(min=0), chunk_size=rows
        )
    default = fl.default_chunk(v, n, accelerator=dev == "cuda")
    print(f"\nforward+backward N={n} D={d} V={v} bf16 (default chunk {default} rows)")
    print("| case | ms | peak extra GiB |\n|---|---:|---:|")
    for name, loss in cases.items():
        fn = step(loss)
        ms = _median_ms(fn)
        h.grad = w.grad = None
        if dev == "cuda":
            torch.cuda.empty_cache()
        gib = _peak_gib(fn)
        print(f"| {name} | {ms:.1f} | {gib:.2f} |", flush=True)
        h.grad = w.grad = None


def jax_checks(case: str) -> None:
    import time

    import jax
    import jax.numpy as jnp
    import optax

    import wxent

    print("jax", jax.__version__, jax.devices(), flush=True)
    n, d, v = 8192, 4096, 131072
    key = jax.random.PRNGKey(0)
    k1, k2, k3 = jax.random.split(key, 3)
    h = jax.random.normal(k1, (n, d), jnp.bfloat16)
    w = jax.random.normal(k2, (v, d), jnp.bfloat16) * jnp.bfloat16(d**-0.5)
    y = jax.random.randint(k3, (n,), 0, v)
    jax.block_until_ready((h, w, y))
    base = (jax.devices()[0].memory_stats() or {}).get("bytes_in_use", 0)

    def naive(a, c):
        logits = (a @ c.T).astype(jnp.float32)
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y))

    def ours(a, c):
        return wxent.linear_cross_entropy(a, c, y)

    for name, loss in (("matmul + optax", naive), ("wxent", ours)):
        if case not in name:
            continue
        f = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
        jax.block_until_ready(f(h, w))
        times = []
        for _ in range(7):
            t = time.perf_counter()
            out = jax.block_until_ready(f(h, w))
            times.append((time.perf_counter() - t) * 1e3)
        stats = jax.devices()[0].memory_stats() or {}
        peak = (stats.get("peak_bytes_in_use", 0) - base) / 2**30  # beyond the inputs
        print(
            f"| {name} | {statistics.median(times):.1f} | {peak:.2f} | {float(out[0]):.5f} |",
            flush=True,
        )
        if name == "wxent":  # gradients against matmul + Optax, after the peak was read
            ref = jax.jit(jax.value_and_grad(naive, argnums=(0, 1)))(h, w)
            for label, a, b in zip(("grad h", "grad W"), out[1], ref[1], strict=True):
                a, b = a.astype(jnp.float32), b.astype(jnp.float32)
                diff = float(jnp.linalg.norm(a - b) / jnp.linalg.norm(b))
                print(f"{label}: |wxent - optax| / |optax| = {diff:.2e}")


if __name__ == "__main__":
    if "--jax" in sys.argv:
        jax_checks(sys.argv[-1])
    else:
        torch_checks()
