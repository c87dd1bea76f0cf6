"""GPU benchmark: wxent against torch eager, torch.compile, Liger-Kernel, CCE and JAX/Optax.

Run on one CUDA GPU (see ``benchmarks/gpu.sh``); under five minutes on an H100/H200.
Every contender is first checked against a float64 reference on a slice of the case
(the same options, 256 rows); then the contenders of a case run interleaved, forward +
backward, each round timed with CUDA events (JAX: wall clock after
``block_until_ready``), and the median is kept. "extra GiB" is the memory of the
temporaries beyond the inputs and the returned gradients: for torch, the peak CUDA
memory of one forward + backward above the inputs (the leaves' gradients cleared and
the allocator's cache emptied first), minus the bytes of the returned gradients that do
not share storage with an input (a gradient written into its input costs nothing); for
JAX, XLA's compiled memory analysis of the jitted forward + backward: its temporary
buffers plus any output beyond the gradients (the loss: a few bytes). wxent runs with
its default options (validation included). Contenders that write into their inputs
(in-place gradients) run on a private copy of the inputs, restored before each call.
A contender that fails is an error row, never the end of the script.

At the start, two ceilings of the device are measured (a large device-to-device copy
and a bf16 matmul); each case states its floor at those ceilings (the bytes it must
move, the GEMM FLOPs it must do).

Writes (replaces) the ``## GPU`` section of BENCHMARKS.md. ``--quick`` uses small sizes
(a smoke test of the script, not a measurement).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # JAX shares the GPU
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import common  # noqa: E402
import gpu_cases  # noqa: E402
import torch  # noqa: E402

GIB = 2.0**30
#: A contender whose first call (compilation included) takes longer is timed in fewer
#: rounds, so that a slow one cannot eat the time budget of the cases after it.
SLOW_SECONDS = 1.0
SLOW_ROUNDS = 3


def _version(name: str) -> str:
    try:
        from importlib import metadata

        return metadata.version(name)
    except Exception:
        return "-"


def _commit() -> str:
    # The GPU machine receives a copy of the tree; its git may read an older HEAD, so the
    # caller's WXENT_COMMIT (the commit the tree was copied from) comes first.
    if os.environ.get("WXENT_COMMIT"):
        return os.environ["WXENT_COMMIT"]
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except OSError:
        pass
    return "unknown"


CUDA = gpu_cases.DEV == "cuda"


def _sync(result: Any) -> None:
    for leaf in result if isinstance(result, (tuple, list)) else [result]:
        if hasattr(leaf, "block_until_ready"):
            leaf.block_until_ready()
    if CUDA:
        torch.cuda.synchronize()


def time_once(
    fn: Callable[[], Any], jax_contender: bool, reset: Callable[[], None] | None = None
) -> float:
    """Milliseconds of one call (CUDA events; wall clock for JAX); ``reset`` runs untimed first."""
    if reset is not None:
        reset()
    if jax_contender or not CUDA:
        _sync(None)
        start = time.perf_counter()
        _sync(fn())
        return (time.perf_counter() - start) * 1e3
    begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    begin.record()
    result = fn()
    end.record()
    torch.cuda.synchronize()
    del result
    return begin.elapsed_time(end)


def extra_memory(
    fn: Callable[[], Any], jax_contender: bool, reset: Callable[[], None] | None = None
) -> float:
    """GiB of temporaries beyond the inputs and the returned gradients (module docstring)."""
    if jax_contender:  # XLA's plan of the compiled program (any device, CPU included)
        stats = fn.memory()  # type: ignore[attr-defined]
        return (stats["temp"] + stats["output_beyond_gradients"]) / GIB
    if not CUDA:
        return float("nan")
    if reset is not None:
        reset()
    leaves = getattr(fn, "leaves", [])
    for leaf in leaves:  # a gradient left by an earlier call must not count (or not)
        leaf.grad = None
    gc.collect()
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    result = fn()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated()
    returned = gpu_cases.fresh_gradient_bytes(result[1:], getattr(fn, "inputs", {}))
    del result
    for leaf in leaves:
        leaf.grad = None
    return max(0, peak - base - returned) / GIB


def _median_ms(fn: Callable[[], Any], rounds: int = 10) -> float:
    for _ in range(2):
        _sync(fn())
    return statistics.median(time_once(fn, False) for _ in range(rounds))


def _copy_ms(nbytes: int) -> float:
    src = torch.ones(nbytes // 4, device=gpu_cases.DEV)
    dst = torch.empty_like(src)
    return _median_ms(lambda: dst.copy_(src))


def _matmul_ms(m: int) -> float:
    a = torch.randn(m, m, device=gpu_cases.DEV).to(torch.bfloat16)
    b = torch.randn(m, m, device=gpu_cases.DEV).to(torch.bfloat16)
    return _median_ms(lambda: a @ b)


def ceilings() -> dict[str, float]:
    """The device's copy bandwidth (GB/s, read + write) and bf16 matmul rate (TFLOP/s)."""
    nbytes = 2**31 if CUDA else 2**26  # 2 GiB on the GPU; a smoke test on CPU
    m = 8192 if CUDA else 512
    copy_ms, mm_ms = _copy_ms(nbytes), _matmul_ms(m)
    if CUDA:
        torch.cuda.empty_cache()
    return {
        "copy_gib": nbytes / GIB,
        "copy_gbps": 2 * nbytes / (copy_ms * 1e-3) / 1e9,
        "matmul_m": float(m),
        "matmul_tflops": 2 * m**3 / (mm_ms * 1e-3) / 1e12,
    }


def floor_ms(case: gpu_cases.Case, ceiling: dict[str, float]) -> float:
    """The case's least time at the device's ceilings (bytes moved, GEMM FLOPs)."""
    by_bytes = case.floor_bytes / (ceiling["copy_gbps"] * 1e9)
    by_flops = case.floor_flops / (ceiling["matmul_tflops"] * 1e12)
    return max(by_bytes, by_flops) * 1e3


def run_case(case: gpu_cases.Case, args: argparse.Namespace, deadline: float) -> list[dict]:
    """Check, then time every contender of ``case``; one row per contender."""
    rows: list[dict] = []
    try:
        reference = case.reference()
    except Exception as exc:
        return [{"contender": "(reference)", "error": _short(exc)}]
    live = []
    anchor = None  # the first contender's full-size result, checked on the slice
    for contender in case.contenders:
        row = {"contender": contender.name}
        rows.append(row)
        if time.time() > deadline:
            row["error"] = "skipped: time budget"
            continue
        try:
            if contender.kind != "anchor":
                got = contender.build(case.fresh_small())()
                row["check"] = gpu_cases.compare(got, reference[contender.kind], case.tolerance)
                del got
            reset = None
            if contender.inplace:  # a private copy of the inputs, restored before each call
                private = gpu_cases.clone_inputs(case.full)
                original = case.full

                def reset(private: dict = private, original: dict = original) -> None:
                    gpu_cases.restore_inputs(private, original)

                fn = contender.build(private)
            else:
                fn = contender.build(case.full)
            first = fn()  # compiles what needs compiling
            _sync(first)
            if contender.kind == "anchor":
                row["check"] = (
                    "unchecked"
                    if anchor is None
                    else "vs first row: " + gpu_cases.compare(first, anchor, case.tolerance)
                )
            elif anchor is None and contender.kind == "plain":
                anchor = first
            del first
            for _ in range(max(1, args.warmup)):
                if reset is not None:
                    reset()
                began = time.perf_counter()
                _sync(fn())
            if time.perf_counter() - began > SLOW_SECONDS:
                row["slow"] = True  # timed in the first SLOW_ROUNDS rounds only
            live.append((contender, fn, row, reset))
        except Exception as exc:
            row["error"] = _short(exc)
            if args.verbose:
                traceback.print_exc()
        if CUDA:
            torch.cuda.empty_cache()
    anchor = None
    times: dict[str, list[float]] = {c.name: [] for c, _, _, _ in live}
    for round_index in range(args.rounds):
        for contender, fn, row, reset in live:
            if "error" in row or (row.get("slow") and round_index >= SLOW_ROUNDS):
                continue
            try:
                times[contender.name].append(time_once(fn, contender.jax, reset))
            except Exception as exc:
                row["error"] = _short(exc)
    for contender, fn, row, reset in live:
        if "error" in row:
            continue
        row["ms"] = statistics.median(times[contender.name])
        try:
            row["gib"] = extra_memory(fn, contender.jax, reset)
        except Exception as exc:
            row["gib"] = float("nan")
            row["note"] = "memory: " + _short(exc)
    live.clear()
    case.release()
    if CUDA:
        torch.cuda.empty_cache()
    return rows


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ").replace("|", "/")
    return text[:160]


def _cell(row: dict) -> tuple[str, str, str]:
    if "error" in row:
        return "error", "-", row["error"]
    gib = row.get("gib", float("nan"))
    return (
        f"{row['ms']:.2f}",
        f"{gib:.2f}",
        row.get("check", "-") + (f"; {row['note']}" if "note" in row else ""),
    )


def render(
    results: list[tuple[gpu_cases.Case, list[dict]]],
    args: argparse.Namespace,
    ceiling: dict[str, float],
) -> str:
    """The ``## GPU`` section of BENCHMARKS.md."""
    device = torch.cuda.get_device_name(0) if CUDA else "CPU (smoke test: no measurement)"
    versions = ", ".join(
        f"{n} {_version(n)}"
        for n in ("torch", "triton", "jax", "optax", "liger-kernel", "cut-cross-entropy")
    )
    lines = [
        "## GPU",
        "",
        f"Written by `benchmarks/gpu.py{' --quick' if args.quick else ''}` "
        f"(`benchmarks/gpu.sh`). Device: {device}. Versions: python "
        f"{platform.python_version()}, {versions}. Commit: {_commit()}.",
        "",
        "Forward + backward, median of "
        f"{args.rounds} interleaved rounds ({SLOW_ROUNDS} for a contender slower than "
        f"{SLOW_SECONDS:.0f} s per call) after a first call and {max(1, args.warmup)} "
        "warm-up(s), CUDA events; "
        "'extra GiB' = the temporaries beyond the inputs and the returned gradients: torch, "
        "the peak CUDA memory of one forward + backward above the inputs (gradients cleared "
        "and cache emptied first) minus the returned gradients that do not share an input's "
        "storage; JAX, XLA's compiled memory analysis of the jitted forward + backward "
        "(temp_size_in_bytes, plus outputs beyond the gradients). In-place contenders run on "
        "a private copy of the inputs. 'check' = against float64 on 256 rows of the same "
        "case. wxent runs with default options.",
        "",
        f"Device ceilings, measured at the start: device-to-device copy "
        f"{ceiling['copy_gbps']:.0f} GB/s (read + write of {ceiling['copy_gib']:.2g} GiB), "
        f"bf16 matmul {ceiling['matmul_m']:.0f}^3 {ceiling['matmul_tflops']:.3g} TFLOP/s. "
        "Each case's floor is its least time at these ceilings: the bytes it must move "
        "(read the logits and targets, write the gradient) or its GEMM FLOPs (linear CE: 3 "
        "GEMMs).",
        "",
    ]
    lines += gpu_cases.targets(results)
    for case, rows in results:
        lines += ["", f"### {case.title}", ""]
        if case.floor_bytes or case.floor_flops:
            lines += [f"Floor at the device's ceilings: {floor_ms(case, ceiling):.2f} ms.", ""]
        lines.append("| contender | ms | extra GiB | check |")
        lines.append("|---|---:|---:|---|")
        for row in rows:
            ms, gib, check = _cell(row)
            lines.append(f"| {row['contender']} | {ms} | {gib} | {check} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--budget", type=float, default=270.0, help="seconds for all cases")
    parser.add_argument("--only", default="", help="comma-separated case keys")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    if args.rounds is None:
        args.rounds = 3 if args.quick else 5
    if CUDA and not torch.cuda.is_available():
        sys.exit("benchmarks/gpu.py needs a CUDA device (WXENT_BENCH_DEVICE=cpu: smoke test)")
    start = time.time()
    deadline = start + args.budget
    ceiling = ceilings()
    print(
        f"device ceilings: copy {ceiling['copy_gbps']:.0f} GB/s (read + write), "
        f"bf16 matmul {ceiling['matmul_tflops']:.3g} TFLOP/s",
        flush=True,
    )
    results = []
    for case in gpu_cases.cases(args.quick, args.only):
        t0 = time.time()
        rows = run_case(case, args, deadline)
        results.append((case, rows))
        print(f"[{time.time() - start:6.1f}s] {case.title} ({time.time() - t0:.1f}s)", flush=True)
        for row in rows:
            print("   ", " | ".join([row["contender"], *_cell(row)]), flush=True)
    text = render(results, args, ceiling)
    common.replace_section(args.output, "GPU", text)
    print(text)


if __name__ == "__main__":
    main()
