"""How fast, and in how much memory, does ``wxent weights`` read a 25M-row label CSV?

The question of the hardening issue: a single-column CSV of 25 million class labels
must be counted in at most 5 s and 1 GB peak (the command line used to take 34 s and
3 GB through Python's ``csv`` module). The file is generated in /tmp; each run is a
fresh ``python -m wxent weights FILE --json`` subprocess, whose wall time and peak
resident set (``wait4``'s ``ru_maxrss``, the whole process: interpreter, NumPy, pyarrow)
are measured. Its counts are checked against ``np.bincount`` (or ``np.unique``) of the
generated labels before any timing. Integer labels and text labels are both measured.

    python benchmarks/bench_cli.py                    # 25M rows, section in BENCHMARKS.md
    python benchmarks/bench_cli.py --quick            # 1M rows
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

TITLE = "## Command line: `wxent weights` on a single-column label CSV"
NAMES = np.array(["cat", "dog", "emu", "fox", "gnu", "yak", "owl", "eel", "ant", "bee"])


def make_csv(path: Path, rows: int, kind: str, seed: int = 0) -> np.ndarray:
    """A header ``label`` and ``rows`` labels of 10 classes, skewed (class 0 common)."""
    rng = np.random.default_rng(seed)
    p = 0.5 ** np.arange(1, 11)
    labels = rng.choice(10, size=rows, p=p / p.sum())
    with path.open("wb") as f:
        f.write(b"label\n")
        step = 1_000_000
        for start in range(0, rows, step):
            part = labels[start : start + step]
            if kind == "int":
                lines = np.empty((part.size, 2), dtype=np.uint8)
                lines[:, 0] = part + ord("0")
                lines[:, 1] = ord("\n")
                f.write(lines.tobytes())
            else:
                f.write(("\n".join(NAMES[part].tolist()) + "\n").encode())
    return labels


def run_once(path: Path) -> tuple[float, float, dict]:
    """Wall seconds, peak RSS (MiB) and the JSON report of one CLI subprocess."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "wxent", "weights", str(path), "--json"], stdout=out, env=env
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(f"wxent weights failed with status {proc.returncode}")
        out.seek(0)
        report = json.loads(out.read())
    return wall, usage.ru_maxrss / 1024, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rows", type=int)
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--classes", type=int, help=argparse.SUPPRESS)  # run.py passes these
    parser.add_argument("--frameworks", help=argparse.SUPPRESS)
    args = parser.parse_args()
    rows = args.rows or (1_000_000 if args.quick else 25_000_000)
    rounds = args.rounds or 3
    import common

    lines = [
        "",
        TITLE,
        "",
        f"{rows:,} rows, 10 classes, one label per line; each run is a fresh "
        "`python -m wxent weights FILE --json` process (interpreter start and imports "
        f"included); median of {rounds} runs; peak = the process's maximum resident set. "
        "Target (hardening issue): at most 5 s and 1 GB at 25M rows.",
        "",
        "| labels | file MiB | wall s (median) | wall s (min..max) | peak RSS MiB | check |",
        "|---|---:|---:|---:|---:|---|",
    ]
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        for kind in ("int", "text"):
            path = Path(tmp) / f"labels_{kind}.csv"
            labels = make_csv(path, rows, kind)
            expected = np.bincount(labels, minlength=10).tolist()
            if kind == "text":  # classes sorted by name
                order = np.argsort(NAMES)
                expected = [expected[i] for i in order]
            walls, peaks = [], []
            wall, peak, report = run_once(path)  # warm-up (file cache) and the check
            check = "ok" if report["counts"] == expected else "WRONG COUNTS"
            for _ in range(rounds):
                wall, peak, _ = run_once(path)
                walls.append(wall)
                peaks.append(peak)
            size = path.stat().st_size / 2**20
            lines.append(
                f"| {kind} | {size:.0f} | {statistics.median(walls):.2f} | "
                f"{min(walls):.2f}..{max(walls):.2f} | {max(peaks):.0f} | {check} |"
            )
            print(lines[-1], flush=True)
    load = os.getloadavg()[0]
    lines += ["", f"{common.machine()} Load average during the runs: {load:.1f}.", ""]
    section = "\n".join(lines)
    text = args.output.read_text() if args.output.exists() else ""
    # Replace this script's earlier section (up to the next section), or append it.
    pattern = re.compile(re.escape(TITLE) + r".*?(?=\n## |\Z)", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section.strip() + "\n", text)
    else:
        text = text.rstrip() + "\n" + section
    args.output.write_text(text)


if __name__ == "__main__":
    main()
