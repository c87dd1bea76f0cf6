"""Shared harness: correctness first, then interleaved timing and peak memory.

Time: every contender of a case runs once per round, rounds repeated, the median kept
(interleaving spreads the noise of a shared machine over all contenders alike).

Peak memory: the growth of the process's resident set while the contender runs,
measured by resetting the kernel's high-water mark (``echo 5 > /proc/self/clear_refs``)
and reading ``VmHWM - VmRSS(before)`` from ``/proc/self/status`` (Linux). It counts
every byte a framework touches (PyTorch's CPU tensors, XLA's and TensorFlow's buffers
alike), which ``tracemalloc`` cannot see. ``run.py`` starts each script with
``MALLOC_MMAP_THRESHOLD_=65536`` so that freed blocks return to the system and one
contender's garbage does not hide the next one's growth. Inputs exist before the
measurement; outputs (the loss, the gradients) are counted.
"""

from __future__ import annotations

import gc
import os
import platform
import re
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def peak_memory_mib(fn: Callable[[], Any]) -> float:
    """Peak growth of the resident set (MiB) while ``fn()`` runs."""
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:  # pragma: no cover - not Linux
        return float("nan")
    before = _status_kib("VmRSS")
    result = fn()
    peak = _status_kib("VmHWM")
    del result
    return max(0, peak - before) / 1024.0


@dataclass
class Contender:
    """One implementation of a case: ``fn()`` runs it and blocks until done."""

    name: str
    fn: Callable[[], Any]
    value: Callable[[], float] | None = None  # the loss, for the correctness check
    ours: bool = False
    times: list[float] = field(default_factory=list)
    memory: float = float("nan")
    check: str = ""


@dataclass
class Case:
    """A question's row group: contenders that compute the same thing."""

    question: str
    framework: str
    mode: str  # "forward" or "forward+backward"
    contenders: list[Contender]
    reference: float | None = None


def run_case(case: Case, *, rounds: int, rtol: float = 2e-4) -> Case:
    """Check every contender against the float64 reference, then time and measure."""
    for c in case.contenders:
        if case.reference is not None and c.value is not None:
            got = float(c.value())
            ok = abs(got - case.reference) <= rtol * max(1.0, abs(case.reference))
            c.check = "ok" if ok else f"MISMATCH {got:.6g} vs {case.reference:.6g}"
            if not ok and c.ours:
                raise AssertionError(f"{case.question}/{c.name}: {c.check}")
        c.fn()  # warm-up (compilation, first-touch of caches)
    for _ in range(rounds):
        for c in case.contenders:
            gc.collect()
            start = time.perf_counter()
            c.fn()
            c.times.append(time.perf_counter() - start)
    for c in case.contenders:
        c.memory = peak_memory_mib(c.fn)
    return case


def table(cases: list[Case]) -> str:
    """Markdown rows: ours against each peer, time and memory ratios."""
    lines = [
        "| framework | mode | ours | peer | ours ms | peer ms | time ours/peer "
        "| ours MiB | peer MiB | memory ours/peer | check (ours, peer) |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for case in cases:
        ours = [c for c in case.contenders if c.ours]
        peers = [c for c in case.contenders if not c.ours]
        for o in ours:
            for p in peers:
                to, tp = statistics.median(o.times), statistics.median(p.times)
                mem_ratio = o.memory / p.memory if p.memory > 0 else float("nan")
                lines.append(
                    f"| {case.framework} | {case.mode} | {o.name} | {p.name} "
                    f"| {to * 1e3:.1f} | {tp * 1e3:.1f} | {to / tp:.2f} "
                    f"| {o.memory:.0f} | {p.memory:.0f} | {mem_ratio:.2f} "
                    f"| {o.check or '-'}, {p.check or '-'} |"
                )
    return "\n".join(lines)


def machine() -> str:
    """Machine, library versions and commit, one paragraph."""
    model = platform.processor() or "?"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:  # pragma: no cover
        pass
    versions = [f"python {platform.python_version()}", f"numpy {np.__version__}"]
    for name in ("torch", "jax", "optax", "tensorflow"):
        try:
            module = __import__(name)
            versions.append(f"{name} {module.__version__}")
        except ImportError:  # pragma: no cover
            versions.append(f"{name} (missing)")
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
        ).stdout.strip()
        commit += " (with uncommitted changes)" if dirty else ""
    except OSError:  # pragma: no cover
        commit = "?"
    return (
        f"Machine: {model}, {os.cpu_count()} logical CPUs, Linux {platform.release()}. "
        f"Versions: {', '.join(versions)}. Commit: {commit}."
    )


def replace_section(output: Path, title: str, section: str) -> None:
    """Put ``section`` (starting with ``## {title}``) in place of that section of ``output``.

    The section runs to the next ``## `` heading (or the end); a file without it gets
    the section appended, a missing file a ``# Benchmarks`` title first.
    """
    text = output.read_text() if output.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"## {re.escape(title)}\n.*?(?=\n## |\Z)", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section.rstrip("\n") + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    output.write_text(text)


def write_section(output: Path, title: str, intro: str, cases: list[Case], notes: str = "") -> None:
    """Append one question's table to ``output``."""
    with open(output, "a") as f:
        f.write(f"\n## {title}\n\n{intro}\n\n{table(cases)}\n")
        if notes:
            f.write(f"\n{notes}\n")


def parse(description: str, cases: str | None = None) -> Any:
    """The common command line of every benchmark script (``--cases`` where ``cases`` is given)."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    if cases is not None:
        parser.add_argument("--cases", default=cases, help=f"which questions (default {cases})")
    parser.add_argument("--quick", action="store_true", help="small sizes, few rounds")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--classes", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--frameworks", default="numpy,torch,jax,tf")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument(
        "--no-generic", action="store_true", help="leave out wxent's generic-path contenders"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="another wxent src folder whose JAX softmax rules are timed beside this one's",
    )
    args = parser.parse_args()
    if args.rows is None:
        args.rows = 256 if args.quick else 4096
    if args.classes is None:
        args.classes = 2048 if args.quick else 32768
    if args.rounds is None:
        args.rounds = 3 if args.quick else 5
    args.frameworks = set(args.frameworks.split(","))
    if cases is not None:
        args.cases = set(args.cases.split(","))
    return args


def setup_frameworks() -> None:
    """Quiet TensorFlow, keep JAX on the CPU in float32."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("JAX_PLATFORMS", "cpu")


def softplus(x: np.ndarray) -> np.ndarray:
    """``log(1 + exp(x))`` in float64 without overflow."""
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def binary_focal_reference(kind: str, x: np.ndarray, z: np.ndarray) -> float:
    """The float64 mean of ``sigmoid_focal_loss(gamma=2, alpha=0.25)`` (``kind="focal"``)
    or of ``asymmetric_loss()`` (gamma_pos=0, gamma_neg=4, clip=0.05), from the
    docstring formulas."""
    x = x.astype(np.float64)
    z = z.astype(np.float64)
    minus_log_p, minus_log_q = softplus(-x), softplus(x)
    if kind == "focal":
        pos = 0.25 * np.exp(-2.0 * minus_log_q) * minus_log_p
        neg = 0.75 * np.exp(-2.0 * minus_log_p) * minus_log_q
        return float((z * pos + (1 - z) * neg).mean())
    p_m = np.maximum(np.exp(-minus_log_p) - 0.05, 0.0)
    neg = np.where(p_m > 0, p_m**4 * -np.log1p(-p_m), 0.0)
    return float((z * minus_log_p + (1 - z) * neg).mean())


#: Worker-script source of ``best_us(run, calls, repeats)``: microseconds per call of
#: ``run``, the best of ``repeats`` loops of ``calls`` calls after 20 warm-up calls (for
#: the scripts :func:`alternate_trees` runs; ``warmup`` calls other than 20 where given,
#: and another ``clock`` than wall time, such as ``time.process_time``, where given).
BEST_US = """
import time
def best_us(run, calls, repeats, warmup=20, clock=time.perf_counter):
    for _ in range(warmup):
        run()
    best = float("inf")
    for _ in range(repeats):
        start = clock()
        for _ in range(calls):
            run()
        best = min(best, (clock() - start) / calls * 1e6)
    return best
"""


def before_after_runs(
    description: str, before: str, worker: str, cases: Any
) -> tuple[dict[str, str], dict[str, list[dict[str, float]]]]:
    """A before/after script's trees and the results of its worker over them.

    Parses ``--before`` (an older ``src`` folder), ``--rounds``, ``--calls`` and
    ``--repeats``; runs ``worker`` (with :data:`BEST_US` defined) on ``argv`` ``calls
    repeats json(cases)`` in each tree, alternating (:func:`alternate_trees`).
    """
    import json

    args = _before_after_args(description, before)
    trees = {"before": args.before, "after": str(ROOT / "src")}
    argv = [str(args.calls), str(args.repeats), json.dumps(cases)]
    return trees, alternate_trees(BEST_US + worker, trees, argv, args.rounds)


def _before_after_args(description: str, before: str) -> Any:
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--before", default=before)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    return parser.parse_args()


def alternate_trees(
    worker: str, trees: dict[str, str], args: list[str], rounds: int
) -> dict[str, list[dict[str, float]]]:
    """Run the script ``worker`` once per tree per round, the trees alternating.

    Each run is a fresh process with ``PYTHONPATH`` set to the tree's ``src`` folder and
    ``args`` as its arguments; it prints a JSON object of numbers on its last line. The
    order of the trees is reversed every other round. Returns each tree's objects.
    """
    import json
    import sys
    import tempfile

    results: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "worker.py"
        script.write_text(worker)
        for r in range(rounds):
            order = list(trees) if r % 2 == 0 else list(trees)[::-1]
            for name in order:
                env = dict(os.environ, PYTHONPATH=trees[name], TF_CPP_MIN_LOG_LEVEL="3")
                done = subprocess.run(
                    [sys.executable, str(script), *args],
                    env=env, capture_output=True, text=True, check=True,
                )  # fmt: skip
                results[name].append(dict(json.loads(done.stdout.strip().splitlines()[-1])))
    return results


def print_ratio_table(trees: Any, results: Any, cases: Any) -> None:
    """The Markdown table of :func:`before_after_runs`' medians: before, after, their ratio."""
    print("| call | before us | after us | after/before |")
    print("|---|---:|---:|---:|")
    for case in cases:
        before, after = (statistics.median(r[case] for r in results[t]) for t in trees)
        print(f"| {case} | {before:.0f} | {after:.0f} | {after / before:.2f} |")
