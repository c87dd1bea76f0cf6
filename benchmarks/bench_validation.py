"""What do the default value checks cost? Default options against ``validate=False``.

A training loop calls the loss with its defaults, so the checks must cost next to nothing:
they run in the arrays' framework and fold into one flag read once per call. Measured on
the CPU, interleaved in one process (medians of rounds): PyTorch forward+backward and
NumPy forward, softmax cross-entropy (class weights, ignore_index, weighted mean) and
sigmoid cross-entropy (per-label pos_weight), at 2048 x 16384 float32 by default.

    python benchmarks/bench_validation.py [--rows 2048] [--classes 16384] [--rounds 15]

Writes (replaces) the section "## Cost of validation" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import common  # noqa: E402

import wxent  # noqa: E402


def _cases(n: int, c: int) -> dict[str, Callable[[bool], Any]]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, c)).astype(np.float32)
    y = rng.integers(0, c, size=n)
    y[::7] = -100
    z = (rng.uniform(size=(n, c)) < 0.05).astype(np.float32)
    cw = rng.uniform(0.5, 2.0, c).astype(np.float32)
    tx, ty, tz, tcw = (
        torch.as_tensor(x),
        torch.as_tensor(y),
        torch.as_tensor(z),
        torch.as_tensor(cw),
    )

    def torch_softmax(validate: bool) -> Any:
        a = tx.clone().requires_grad_(True)
        loss = wxent.softmax_cross_entropy(
            a, ty, class_weight=tcw, ignore_index=-100, reduction="weighted_mean", validate=validate
        )
        loss.backward()
        return a.grad

    def torch_sigmoid(validate: bool) -> Any:
        a = tx.clone().requires_grad_(True)
        wxent.sigmoid_cross_entropy(a, tz, pos_weight=tcw, validate=validate).backward()
        return a.grad

    def numpy_softmax(validate: bool) -> Any:
        return wxent.softmax_cross_entropy(
            x, y, class_weight=cw, ignore_index=-100, reduction="weighted_mean", validate=validate
        )

    def numpy_sigmoid(validate: bool) -> Any:
        return wxent.sigmoid_cross_entropy(x, z, pos_weight=cw, validate=validate)

    return {
        "PyTorch softmax CE, fwd+bwd": torch_softmax,
        "PyTorch sigmoid CE, fwd+bwd": torch_sigmoid,
        "NumPy softmax CE, forward": numpy_softmax,
        "NumPy sigmoid CE, forward": numpy_sigmoid,
    }


def _time(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2048)
    parser.add_argument("--classes", type=int, default=16384)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    rows = []
    for name, case in _cases(args.rows, args.classes).items():
        checked, unchecked = case(True), case(False)  # warm-up, and the same numbers
        np.testing.assert_allclose(np.asarray(checked), np.asarray(unchecked), rtol=1e-6)
        times: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(args.rounds):
            for validate in (True, False):
                times[validate].append(_time(lambda v=validate, c=case: c(v)))
        default = statistics.median(times[True]) * 1e3
        off = statistics.median(times[False]) * 1e3
        rows.append((name, default, off, default / off))
        print(
            f"{name}: default {default:.1f} ms, validate=False {off:.1f} ms, {default / off:.3f}x"
        )
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    table = [
        "## Cost of validation",
        "",
        f"Default options against `validate=False`, {args.rows} x {args.classes} float32, "
        f"medians of {args.rounds} interleaved rounds (`python benchmarks/bench_validation.py`). "
        f"Machine: {platform.machine()}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}, NumPy {np.__version__}; commit {commit}. Targets: "
        "≤ 1.05x (PyTorch forward+backward), ≤ 1.10x (NumPy forward).",
        "",
        "| case | default (ms) | validate=False (ms) | default / off |",
        "|---|---:|---:|---:|",
        *[f"| {n} | {d:.1f} | {o:.1f} | {r:.3f}x |" for n, d, o, r in rows],
        "",
    ]
    common.replace_section(args.output, "Cost of validation", "\n".join(table))


if __name__ == "__main__":
    main()
