"""How much host time does one call of a wxent PyTorch loss cost at small sizes?

At the batch sizes people train with on a CPU (and at any size on a GPU, where the
device is fast), a loss call is dominated by the Python that runs around its kernels:
argument checks, weight preparation, the value checks' small reductions and the one
flag read. This script measures microseconds per call on CPU tensors at 64 x 10 and
256 x 1000 float32, forward only and forward+backward, for wxent's losses with their
defaults (``validate=True``) and with ``validate=False``, against
``F.cross_entropy`` / ``F.binary_cross_entropy_with_logits`` with the same options as
the floor (the focal and asymmetric losses have no torch peer: their floor is the plain
native loss).

Every wxent case is checked against a float64 formula before it is timed. A round runs
every case ``--calls`` times in a row; rounds are interleaved and the median kept. The
clock is the process's CPU time (``time.process_time``), with one torch thread: on a
shared machine it counts the work of the call, not the time other processes held the
cores.

    python benchmarks/bench_host.py                       # measure this checkout
    python benchmarks/bench_host.py --before /path/to/other/src   # before/after, one run

With ``--before``, each side runs in its own worker process (``--src`` on
``sys.path``), the workers alternating ``--repeats`` times; the table holds the median
per side. Writes (replaces) the section "## Host time per call" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SIZES = [(64, 10), (256, 1000)]


def labels_and_weights(n: int, c: int) -> tuple[Any, Any, Any, Any, Any]:
    """``(y, y with every 7th -100, class weights, 0/1 labels, pos_weight)`` for (N, C) logits."""
    import torch

    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, c, (n,), generator=g)
    y_ign = y.clone()
    y_ign[::7] = -100
    cw = torch.rand(c, generator=g) + 0.5
    z = (torch.rand(n, c, generator=g) < 0.1).float()
    pw = torch.rand(c, generator=g) * 3 + 0.5
    return y, y_ign, cw, z, pw


def _cases(x: Any) -> dict[str, tuple[Callable[..., Any], Callable[..., Any], float]]:
    """``name -> (wxent(a, validate), floor(a), float64 reference at x)`` for ``x`` (N, C)."""
    import torch
    import torch.nn.functional as F

    import wxent

    n, c = x.shape
    y, y_ign, cw, z, pw = labels_and_weights(n, c)

    x64, cw64, z64, pw64 = x.double(), cw.double(), z.double(), pw.double()
    logp = torch.log_softmax(x64, dim=-1)
    ref_mean = float(-logp[torch.arange(n), y].mean())
    keep = y_ign != -100
    yk = y_ign[keep]
    wk = cw64[yk]
    ref_weighted = float((-logp[keep][torch.arange(len(yk)), yk] * wk).sum() / wk.sum())
    eps = 0.1
    ref_smooth = float(((1 - eps) * -logp[torch.arange(n), y] + eps * -logp.mean(dim=-1)).mean())
    ref_sigmoid = float((pw64 * z64 * F.softplus(-x64) + (1 - z64) * F.softplus(x64)).mean())
    p = torch.sigmoid(x64)
    ref_sfocal = float(
        (
            0.25 * z64 * (1 - p) ** 2 * F.softplus(-x64) + 0.75 * (1 - z64) * p**2 * F.softplus(x64)
        ).mean()
    )
    p_m = (p - 0.05).clamp(min=0.0)
    ref_asl = float(
        (z64 * F.softplus(-x64) - (1 - z64) * p_m**4 * torch.log1p(-p_m)).mean()
    )  # gamma_pos=0, gamma_neg=4, clip=0.05 (the defaults)
    py = logp[torch.arange(n), y]
    ref_smfocal = float((-((1 - py.exp()) ** 2) * py).mean())
    return {
        "softmax CE, mean": (
            lambda a, v: wxent.softmax_cross_entropy(a, y, validate=v),
            lambda a: F.cross_entropy(a, y),
            ref_mean,
        ),
        "softmax CE, class weights + ignore_index, weighted_mean": (
            lambda a, v: wxent.softmax_cross_entropy(
                a, y_ign, class_weight=cw, ignore_index=-100, reduction="weighted_mean",
                validate=v,
            ),
            lambda a: F.cross_entropy(a, y_ign, weight=cw, ignore_index=-100),
            ref_weighted,
        ),
        "softmax CE, label smoothing 0.1": (
            lambda a, v: wxent.softmax_cross_entropy(a, y, label_smoothing=eps, validate=v),
            lambda a: F.cross_entropy(a, y, label_smoothing=eps),
            ref_smooth,
        ),
        "sigmoid CE, pos_weight": (
            lambda a, v: wxent.sigmoid_cross_entropy(a, z, pos_weight=pw, validate=v),
            lambda a: F.binary_cross_entropy_with_logits(a, z, pos_weight=pw),
            ref_sigmoid,
        ),
        "sigmoid_focal_loss (gamma=2, alpha=0.25)": (
            lambda a, v: wxent.sigmoid_focal_loss(a, z, alpha=0.25, validate=v),
            lambda a: F.binary_cross_entropy_with_logits(a, z),
            ref_sfocal,
        ),
        "asymmetric_loss (defaults)": (
            lambda a, v: wxent.asymmetric_loss(a, z, validate=v),
            lambda a: F.binary_cross_entropy_with_logits(a, z),
            ref_asl,
        ),
        "softmax_focal_loss (gamma=2)": (
            lambda a, v: wxent.softmax_focal_loss(a, y, validate=v),
            lambda a: F.cross_entropy(a, y),
            ref_smfocal,
        ),
    }  # fmt: skip


def _measure(calls: int, rounds: int) -> dict[str, float]:
    """Worker: ``{key: microseconds per call}`` (medians of interleaved rounds)."""
    import torch

    results: dict[str, list[float]] = {}
    runners: list[tuple[str, Callable[[], Any]]] = []
    for n, c in SIZES:
        x = torch.randn(n, c, generator=torch.Generator().manual_seed(1))
        xg = x.clone().requires_grad_(True)
        for name, (ours, floor, ref) in _cases(x).items():
            got = float(ours(x, True))
            if abs(got - ref) > 2e-4 * max(1.0, abs(ref)):
                raise AssertionError(f"{name} at {n}x{c}: {got} against float64 {ref}")
            for mode in ("forward", "forward+backward"):
                back = mode != "forward"
                a = xg if back else x

                def run_ours(v: bool, a: Any = a, back: bool = back, f: Any = ours) -> None:
                    loss = f(a, v)
                    if back:
                        loss.backward()

                def run_floor(a: Any = a, back: bool = back, f: Any = floor) -> None:
                    loss = f(a)
                    if back:
                        loss.backward()

                key = f"{n}x{c}|{name}|{mode}"
                runners += [
                    (key + "|default", lambda r=run_ours: r(True)),
                    (key + "|validate=False", lambda r=run_ours: r(False)),
                    (key + "|floor", run_floor),
                ]
    for _, run in runners:  # warm-up
        for _ in range(max(3, calls // 5)):
            run()
    for _ in range(rounds):
        for key, run in runners:
            start = time.process_time()
            for _ in range(calls):
                run()
            results.setdefault(key, []).append((time.process_time() - start) / calls * 1e6)
    return {k: statistics.median(t) for k, t in results.items()}


def _worker(src: str, calls: int, rounds: int, threads: int) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=src)
    out = subprocess.run(
        [
            sys.executable, __file__, "--worker", "--src", src, "--calls", str(calls),
            "--rounds", str(rounds), "--threads", str(threads),
        ],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if out.returncode:
        raise RuntimeError(f"worker for {src} failed:\n{out.stderr}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _commit(path: Path) -> str:
    return subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=path
    ).stdout.strip()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and calls")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--calls", type=int, default=None, help="calls per case per round")
    parser.add_argument("--repeats", type=int, default=3, help="worker alternations")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--before", help="a src/ directory of wxent to compare with")
    parser.add_argument("--before-commit", help="the commit of --before, for the table")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--src", default=str(ROOT / "src"), help=argparse.SUPPRESS)
    # accepted for benchmarks/run.py, which passes them to every script
    parser.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--classes", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--frameworks", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 7)
    calls = args.calls or (10 if args.quick else 40)
    if args.worker:
        sys.path.insert(0, args.src)
        import torch

        torch.set_num_threads(args.threads)
        print(json.dumps(_measure(calls, rounds)))
        return
    sides = {"after": str(ROOT / "src")}
    if args.before:
        sides = {"before": str(Path(args.before).resolve()), **sides}
    runs: dict[str, list[dict[str, float]]] = {s: [] for s in sides}
    repeats = 1 if args.quick else args.repeats
    for _ in range(repeats):
        for side, src in sides.items():
            runs[side].append(_worker(src, calls, rounds, args.threads))
    med = {s: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for s, rs in runs.items()}
    _write(args, med, sides, rounds, calls, repeats)


def _write(
    args: Any, med: dict[str, dict[str, float]], sides: dict[str, str], rounds: int,
    calls: int, repeats: int,
) -> None:  # fmt: skip
    import numpy as np
    import torch

    after = med["after"]
    before = med.get("before")
    keys = list(dict.fromkeys(k.rsplit("|", 1)[0] for k in after))
    if before is None:
        head = "| size | loss | mode | default µs | validate=False µs | torch floor µs |"
        rule = "|---|---|---|---:|---:|---:|"
    else:
        head = (
            "| size | loss | mode | default µs before → after | validate=False µs before → "
            "after | torch floor µs |"
        )
        rule = "|---|---|---|---:|---:|---:|"
    lines = [head, rule]
    for key in keys:
        size, name, mode = key.split("|")
        floor = after[key + "|floor"]
        cells = []
        for opt in ("default", "validate=False"):
            a = after[f"{key}|{opt}"]
            if before is None:
                cells.append(f"{a:.0f}")
            else:
                b = before[f"{key}|{opt}"]
                cells.append(f"{b:.0f} → {a:.0f} ({a / b:.2f}x)")
        lines.append(f"| {size} | {name} | {mode} | {cells[0]} | {cells[1]} | {floor:.0f} |")
    model = platform.processor() or platform.machine()
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:  # pragma: no cover
        pass
    compared = ""
    if before is not None:
        before_src = Path(sides["before"])
        commit = args.before_commit or _commit(before_src.parent) or "?"
        compared = (
            f" Before: commit {commit}; after: this "
            f"checkout (commit {_commit(ROOT)}), each in its own process, the two alternating "
            f"{repeats} times (median of the medians)."
        )
    intro = (
        "Microseconds of process CPU time per call on CPU tensors (float32), one torch "
        "thread, medians of "
        f"{rounds} interleaved rounds of {calls} calls each "
        f"(`python benchmarks/bench_host.py{' --before ...' if before else ''}`). Machine: "
        f"{model}, {os.cpu_count()} logical CPUs, torch.set_num_threads({args.threads}), "
        f"torch {torch.__version__}, NumPy {np.__version__}; commit {_commit(ROOT)}."
        f"{compared} The floor is `F.cross_entropy` / `F.binary_cross_entropy_with_logits` "
        "with the same options (for the focal and asymmetric losses, the plain native loss: "
        "torch has neither)."
    )
    section = "\n".join(["## Host time per call", "", intro, "", *lines, ""])
    print(section)
    import common

    common.replace_section(args.output, "Host time per call", section)


if __name__ == "__main__":
    main()
