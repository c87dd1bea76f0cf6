"""How long does the first call of a wxent loss inside ``tf.function`` take?

A TensorFlow training step is a ``tf.function``; its first call traces the Python it
runs. With ``tf.function``'s default ``autograph=True``, AutoGraph rewrites every function
that the traced function calls, recursively, from its source, unless the function is
marked not to be converted (wxent marks its own: ``wxent._autograph``). This script
measures the first call (trace, graph building and one run) of a ``tf.function`` calling a
wxent function on 64 x 10 float32 logits, as users run it (``autograph=True``), against
the same with ``autograph=False`` and against TensorFlow's own loss as the floor. Each
measurement runs in a fresh process (a trace is cached per process); every value is
checked against a float64 NumPy reference first.

    python benchmarks/bench_trace.py                              # this checkout
    python benchmarks/bench_trace.py --before /path/to/other/src  # and another one

Writes (replaces) the section "## First trace under tf.function" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CASES = ["softmax_cross_entropy", "sigmoid_focal_loss", "recall", "tf_peer"]

WORKER = r"""
import json, math, sys, time
import numpy as np
import tensorflow as tf
import wxent

case, autograph = sys.argv[1], sys.argv[2] == "1"
rng = np.random.default_rng(0)
x = rng.normal(size=(64, 10)).astype(np.float32)
y = np.arange(64) % 10
z = (rng.random((64, 10)) < 0.3).astype(np.float32)
x64 = x.astype(np.float64)
lse = np.log(np.exp(x64 - x64.max(1, keepdims=True)).sum(1)) + x64.max(1)
logp = x64 - lse[:, None]
cw = np.linspace(0.5, 2.0, 10)
if case == "softmax_cross_entropy":
    f = lambda a, b, c: wxent.softmax_cross_entropy(a, b, class_weight=cw, label_smoothing=0.1)
    nll = -(0.9 * logp[np.arange(64), y] + 0.1 * logp.mean(1))
    want = float(np.mean(cw[y] * nll))
elif case == "sigmoid_focal_loss":
    f = lambda a, b, c: wxent.sigmoid_focal_loss(a, c, sample_weight=tf.ones(64))
    p = 1 / (1 + np.exp(-x64))
    pt = np.where(z == 1, p, 1 - p)
    want = float(np.mean(-((1 - pt) ** 2) * np.log(pt)))  # gamma 2, no alpha (defaults)
elif case == "recall":
    f = lambda a, b, c: wxent.recall(a, c, average="macro")
    pred = x64 > 0
    want = float(np.mean((pred & (z == 1)).sum(0) / (z == 1).sum(0)))
else:
    f = lambda a, b, c: tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(b, a))
    want = float(np.mean(-logp[np.arange(64), y]))
args = (tf.constant(x), tf.constant(y), tf.constant(z))
g = tf.function(f, autograph=autograph)
start = time.perf_counter()
got = float(g(*args))
seconds = time.perf_counter() - start
assert abs(got - want) <= 2e-5 * max(1.0, abs(want)), (case, got, want)
print(json.dumps({"seconds": seconds}))
"""


def _measure(worker: Path, src: Path, case: str, autograph: bool) -> float:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(src))
    out = subprocess.run(
        [sys.executable, str(worker), case, "1" if autograph else "0"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    return float(json.loads(out.strip().splitlines()[-1])["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per cell")
    parser.add_argument("--before", type=Path, help="another checkout's src, measured too")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    args, _ = parser.parse_known_args()  # (run.py's size options do not apply here)
    sides = {"after": ROOT / "src"}
    if args.before is not None:
        sides = {"before": args.before, **sides}
    cells: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        # a file, not `python -c`: AutoGraph leaves code without a source file unconverted
        worker = Path(tmp) / "first_trace.py"
        worker.write_text(WORKER)
        for _ in range(args.repeats):  # interleaved: every cell once per repeat
            for case in CASES:
                for side, src in sides.items():
                    for autograph in (True, False):
                        if case == "tf_peer" and side == "before":
                            continue
                        key = f"{case}|{side}|{autograph}"
                        seconds = _measure(worker, src, case, autograph)
                        cells.setdefault(key, []).append(seconds)
    med = {k: statistics.median(t) for k, t in cells.items()}
    _write(args, med, sides)


def _write(args: argparse.Namespace, med: dict[str, float], sides: dict[str, Path]) -> None:
    import common

    before = "before" in sides
    head = "| function | autograph=True (default) s | autograph=False s |"
    rule = "|---|---:|---:|"
    if before:
        head = "| function | default s, before | default s, after | autograph=False s, after |"
        rule = "|---|---:|---:|---:|"
    lines = [head, rule]
    for case in CASES:
        name = (
            "`tf.nn.sparse_softmax_cross_entropy_with_logits` (floor)"
            if case == "tf_peer"
            else f"`wxent.{case}`"
        )
        after = [med[f"{case}|after|True"], med[f"{case}|after|False"]]
        if before:
            b = med.get(f"{case}|before|True")
            lines.append(
                f"| {name} | {'-' if b is None else f'{b:.2f}'} | {after[0]:.2f} | {after[1]:.2f} |"
            )
        else:
            lines.append(f"| {name} | {after[0]:.2f} | {after[1]:.2f} |")
    compared = f" Before: `{sides['before']}`." if before else ""
    intro = (
        "Seconds of the first call of a `tf.function` (trace, graph, one run) on 64 x 10 "
        "float32 logits, each in a fresh process, medians of "
        f"{args.repeats} interleaved repeats (`python benchmarks/bench_trace.py"
        f"{' --before ...' if before else ''}`). Cases: softmax cross-entropy with class "
        "weights and label smoothing 0.1, sigmoid focal loss with sample weights, macro "
        f"recall.{compared} {common.machine()}"
    )
    section = "\n".join(["## First trace under tf.function", "", intro, "", *lines, ""])
    print(section)
    common.replace_section(args.output, "First trace under tf.function", section)


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    main()
