"""GPU probe: device ceilings, kernel block-size sweeps, and where a call's time goes.

Run on one CUDA GPU (``benchmarks/gpu.sh --probe`` style: ``python3 benchmarks/gpu_probe.py``).
Prints, and writes to ``$OUT/probe.txt`` when ``OUT`` is set:

1. the copy bandwidth (device to device, bytes read + written) and a bf16 matmul rate;
2. the softmax cross-entropy kernels (8192 x 131072, float32 and bfloat16) timed alone
   for each block size, warp count and online-sum variant (``triton.testing.do_bench``,
   median), against the bytes they must move;
3. default options against ``validate=False`` for the softmax and sigmoid cross-entropy,
   forward + backward (CUDA events, median), with the profiler's kernel list of one call.

A measurement tool for choosing the kernels' defaults; BENCHMARKS.md's tables come from
``benchmarks/gpu.py``.
"""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import torch  # noqa: E402
import triton  # noqa: E402
from triton.testing import do_bench  # noqa: E402

import wxent  # noqa: E402
from wxent._fastpaths import triton_softmax as ts  # noqa: E402

LINES: list[str] = []
#: ``PROBE_SMOKE=1`` runs the plumbing at tiny sizes on CPU under ``TRITON_INTERPRET=1``.
SMOKE = os.environ.get("PROBE_SMOKE") == "1"
DEV = "cpu" if SMOKE else "cuda"
SIZES = {"n": 4, "c": 64, "sn": 8, "sc": 32} if SMOKE else {"n": 8192, "c": 131072,
                                                            "sn": 16384, "sc": 8192}  # fmt: skip


def bench(fn: Any) -> float:
    """Median milliseconds of ``fn`` (``do_bench`` on CUDA)."""
    if SMOKE:
        import time

        start = time.perf_counter()
        fn()
        return (time.perf_counter() - start) * 1e3
    return float(do_bench(fn, return_mode="median"))


def say(text: str = "") -> None:
    print(text, flush=True)
    LINES.append(text)


def ceilings() -> None:
    n = 1 << 10 if SMOKE else 1 << 30  # 4 GiB of float32
    a = torch.randn(n, device=DEV)
    b = torch.empty_like(a)
    ms = bench(lambda a=a, b=b: b.copy_(a))
    say(f"copy: {2 * a.numel() * 4 / ms / 1e6:.0f} GB/s (read + write, 4 GiB)")
    del a, b
    m = 64 if SMOKE else 8192
    x = torch.randn(m, m, device=DEV, dtype=torch.bfloat16)
    y = torch.randn(m, m, device=DEV, dtype=torch.bfloat16)
    ms = bench(lambda: x @ y)
    say(f"bf16 matmul {m}^3: {2 * m**3 / ms / 1e9:.0f} TFLOP/s")


def sweep_softmax(dtype: Any) -> None:
    n, c = SIZES["n"], SIZES["c"]
    torch.manual_seed(0)
    x = (3 * torch.randn(n, c, device=DEV)).to(dtype)
    y = torch.randint(0, c, (n,), device=DEV)
    y[torch.rand(n, device=DEV) < 0.05] = -100  # ignored rows
    cw = torch.rand(c, device=DEV) + 0.5
    lse = torch.empty(n, device=DEV)
    grad = torch.empty_like(x)
    g = torch.ones((), device=DEV)
    inv = torch.full((), 1.0 / n, device=DEV)
    bytes_x = x.numel() * x.element_size()
    say(f"\nsoftmax CE kernels, {n}x{c} {dtype}: floor forward {bytes_x / 4.8e9:.2f} ms, "
        f"backward {2 * bytes_x / 4.8e9:.2f} ms at 4.8 TB/s")  # fmt: skip
    say("| kernel | lanes | block | warps | ms | GB/s |")
    say("|---|---|---:|---:|---:|---:|")
    best: dict[str, tuple[float, str]] = {}
    for lanes in (True, False):
        for block in (4096, 8192, 16384):
            for warps in (8, 16, 32):
                ts.LANES = lanes
                try:
                    cfg = (1, block, warps)
                    ms = bench(
                        lambda cfg=cfg: ts._forward(x, y, -100, cw, None, 0.0, 2, lse, None, cfg)
                    )
                except Exception as exc:  # a config the compiler refuses
                    say(f"| forward | {lanes} | {block} | {warps} | error {type(exc).__name__} | |")
                    continue
                rate = bytes_x / ms / 1e6
                say(f"| forward | {lanes} | {block} | {warps} | {ms:.3f} | {rate:.0f} |")
                key = f"lanes={lanes} block={block} warps={warps}"
                if ms < best.get("forward", (1e9, ""))[0]:
                    best["forward"] = (ms, key)
    ts.LANES = True
    ts._forward(x, y, -100, cw, None, 0.0, 2, lse)
    saved = (x, y, -100, cw, None, lse, inv)
    for block in (4096, 8192, 16384):
        for warps in (8, 16, 32):
            try:
                cfg = (1, block, warps)
                ms = bench(lambda cfg=cfg: ts._backward(saved, 0.0, g, grad, cfg=cfg))
            except Exception as exc:
                say(f"| backward | - | {block} | {warps} | error {type(exc).__name__} | |")
                continue
            say(f"| backward | - | {block} | {warps} | {ms:.3f} | {2 * bytes_x / ms / 1e6:.0f} |")
            if ms < best.get("backward", (1e9, ""))[0]:
                best["backward"] = (ms, f"block={block} warps={warps}")
    say(f"default config now: {ts.config(c)}, {ts.config(c, backward=True)}, lanes={ts.LANES}")
    for k, (ms, key) in best.items():
        say(f"best {k}: {ms:.3f} ms ({key})")


def sweep_sigmoid() -> None:
    from wxent._fastpaths import triton_common, triton_sigmoid

    n, c = SIZES["sn"], SIZES["sc"]
    x = torch.randn(n, c, device=DEV, requires_grad=True)
    z = (torch.rand(n, c, device=DEV) < 0.1).float()
    pw = torch.rand(c, device=DEV) * 5 + 1
    one = torch.ones((), device=DEV)

    def run() -> None:
        x.grad = None
        loss = triton_sigmoid.sigmoid_family(
            x, z, pos_weight=pw, neg_weight=None, sample_weight=None, ignore_label=None,
            label_smoothing=0.0, reduction="mean",
        )  # fmt: skip
        loss.backward(one)

    floor = 3 * x.numel() * 4 / 4.8e9 + x.numel() * 4 / 4.8e9
    say(f"\nsigmoid CE kernel + scale, {n}x{c} float32 pos_weight, floor {floor:.2f} ms")
    say("| tile elements | max block C | warps | ms |")
    say("|---:|---:|---:|---:|")
    saved = (triton_sigmoid.TILE_ELEMENTS, triton_sigmoid.MAX_BLOCK_C, triton_common.warps_for)
    best = (1e9, "")
    for tile in (2048, 4096, 8192, 16384):
        for block_c in (1024, 4096):
            for warps in (4, 8, 16):
                triton_sigmoid.TILE_ELEMENTS, triton_sigmoid.MAX_BLOCK_C = tile, block_c
                triton_common.warps_for = lambda _block, warps=warps: warps
                try:
                    ms = bench(run)
                except Exception as exc:
                    say(f"| {tile} | {block_c} | {warps} | error {type(exc).__name__} |")
                    continue
                say(f"| {tile} | {block_c} | {warps} | {ms:.3f} |")
                if ms < best[0]:
                    best = (ms, f"tile={tile} block_c={block_c} warps={warps}")
    triton_sigmoid.TILE_ELEMENTS, triton_sigmoid.MAX_BLOCK_C, triton_common.warps_for = saved
    say(f"best: {best[0]:.3f} ms ({best[1]})")


def events(fn: Any, rounds: int = 20) -> float:
    """Median milliseconds of ``fn`` after one warm-up call (CUDA events)."""
    if SMOKE:
        return bench(fn)
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(rounds):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b))
    return statistics.median(times)


def profile_defaults() -> None:
    from torch.profiler import ProfilerActivity, profile

    cases = []
    n, c = SIZES["n"], SIZES["c"]
    for dtype in (torch.float32, torch.bfloat16):
        x = (3 * torch.randn(n, c, device=DEV)).to(dtype).requires_grad_(True)
        y = torch.randint(0, c, (n,), device=DEV)
        y[::37] = -100
        cw = torch.rand(c, device=DEV) + 0.5

        def softmax(validate: bool, x=x, y=y, cw=cw) -> Any:
            x.grad = None
            loss = wxent.softmax_cross_entropy(
                x.view_as(x), y, class_weight=cw, ignore_index=-100,
                reduction="weighted_mean", validate=validate,
            )  # fmt: skip
            loss.backward()
            return loss

        cases.append((f"softmax CE {n}x{c} {dtype}", softmax, x))
    xs = torch.randn(SIZES["sn"], SIZES["sc"], device=DEV, requires_grad=True)
    z = (torch.rand(SIZES["sn"], SIZES["sc"], device=DEV) < 0.1).float()
    pw = torch.rand(SIZES["sc"], device=DEV) * 5 + 1

    def sigmoid(validate: bool) -> Any:
        xs.grad = None
        loss = wxent.sigmoid_cross_entropy(xs.view_as(xs), z, pos_weight=pw, validate=validate)
        loss.backward()
        return loss

    cases.append(("sigmoid CE 16384x8192 float32 pos_weight", sigmoid, xs))

    def bce() -> Any:
        xs.grad = None
        loss = torch.nn.functional.binary_cross_entropy_with_logits(xs.view_as(xs), z,
                                                                   pos_weight=pw)  # fmt: skip
        loss.backward()
        return loss

    say("\n| case | default ms | validate=False ms |")
    say("|---|---:|---:|")
    for name, fn, _ in cases:
        d = events(lambda fn=fn: fn(True))
        f = events(lambda fn=fn: fn(False))
        say(f"| {name} | {d:.3f} | {f:.3f} |")
    say(f"| torch eager BCE (same sigmoid case) | {events(bce):.3f} | |")
    out = os.environ.get("OUT")
    for name, fn, _ in cases:
        for validate in (True, False):
            fn(validate)
            if out and not SMOKE:  # the timeline of one call, for chrome://tracing
                torch.cuda.synchronize()
                with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA],
                             with_stack=False) as one:  # fmt: skip
                    fn(validate)
                    torch.cuda.synchronize()
                tag = "".join(ch if ch.isalnum() else "_" for ch in name)[:40]
                one.export_chrome_trace(str(Path(out, f"trace_{tag}_{int(validate)}.json")))
            fn(validate)
            activities = [ProfilerActivity.CPU] + ([] if SMOKE else [ProfilerActivity.CUDA])
            with profile(activities=activities) as prof:
                for _ in range(3):
                    fn(validate)
                if not SMOKE:
                    torch.cuda.synchronize()
            say(f"\n### profile: {name}, validate={validate} (3 calls)")
            averages = prof.key_averages()
            try:
                table = averages.table(sort_by="self_device_time_total", row_limit=16)
            except Exception:
                table = averages.table(sort_by="self_cpu_time_total", row_limit=16)
            say(table)


def main() -> None:
    if not SMOKE and not torch.cuda.is_available():
        sys.exit("gpu_probe.py needs a CUDA device")
    name = "CPU (smoke)" if SMOKE else torch.cuda.get_device_name(0)
    say(f"device: {name}, torch {torch.__version__}, "
        f"triton {triton.__version__}")  # fmt: skip
    parts = sys.argv[1:] or ["ceilings", "softmax", "sigmoid", "profile"]
    if "ceilings" in parts:
        ceilings()
    if "softmax" in parts:
        for dtype in (torch.float32, torch.bfloat16):
            sweep_softmax(dtype)
            torch.cuda.empty_cache()
    if "sigmoid" in parts:
        sweep_sigmoid()
        torch.cuda.empty_cache()
    if "profile" in parts:
        profile_defaults()
    out = os.environ.get("OUT")
    if out:
        Path(out, "probe.txt").write_text("\n".join(LINES) + "\n")


if __name__ == "__main__":
    main()
