"""Eager JAX and TensorFlow sigmoid and focal losses on CPU: this tree against another one.

Each measurement runs in a fresh process with ``PYTHONPATH`` set to one wxent ``src``
folder (``--before``, default ``/tmp/jaxtf_before/src``, against this checkout's), the
two trees alternating, their order reversed every other round; a process times ``--calls``
eager calls after a warm-up and reports the median. The table gives the median over
the rounds. Inputs: ``(N, 1000)`` float32 logits (standard normal), labels with about
10% ones and class indices (softmax losses), as ``jnp`` arrays (results waited for with
``block_until_ready``) or ``tf.constant`` (read with ``.numpy()``); NumPy is the floor.

    git -C /work/main archive <commit> src | tar -x -C /tmp/jaxtf_before
    python benchmarks/bench_eager_jaxtf.py --rows 256,4096 --rounds 5
    python benchmarks/bench_eager_jaxtf.py --frameworks tf --cases focal,asymmetric

``--frameworks`` and ``--cases`` (substrings of the case names) select the rows. The
"value and gradient" cases take the logits' gradient of the summed loss too (a
``tf.GradientTape``, ``jax.grad``); NumPy has no floor for them. Prints a Markdown
table (milliseconds per call).
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

CASES = {
    "sigmoid_cross_entropy": "wxent.sigmoid_cross_entropy(X, Z)",
    "sigmoid_cross_entropy, validate=False": "wxent.sigmoid_cross_entropy(X, Z, validate=False)",
    "sigmoid_cross_entropy, pos_weight (C,)": "wxent.sigmoid_cross_entropy(X, Z, pos_weight=Q)",
    "sigmoid_focal_loss": "wxent.sigmoid_focal_loss(X, Z)",
    "asymmetric_loss": "wxent.asymmetric_loss(X, Z)",
    "softmax_cross_entropy": "wxent.softmax_cross_entropy(X, Y)",
    "softmax_cross_entropy, smoothing 0.1": (
        "wxent.softmax_cross_entropy(X, Y, label_smoothing=0.1)"
    ),
    "softmax_cross_entropy, class_weight": "wxent.softmax_cross_entropy(X, Y, class_weight=W)",
    "softmax_focal_loss": "wxent.softmax_focal_loss(X, Y)",
    "softmax_focal_loss, smoothing 0.1": "wxent.softmax_focal_loss(X, Y, label_smoothing=0.1)",
    "sigmoid_focal_loss, value and gradient": "grad(lambda a: wxent.sigmoid_focal_loss(a, Z))",
    "asymmetric_loss, value and gradient": "grad(lambda a: wxent.asymmetric_loss(a, Z))",
    "softmax_focal_loss, value and gradient": "grad(lambda a: wxent.softmax_focal_loss(a, Y))",
    "softmax_cross_entropy, value and gradient": (
        "grad(lambda a: wxent.softmax_cross_entropy(a, Y))"
    ),
    "softmax_cross_entropy, class_weight, value and gradient": (
        "grad(lambda a: wxent.softmax_cross_entropy(a, Y, class_weight=W))"
    ),
}

WORKER = r"""
import json, statistics, sys, time
import numpy as np
fw, rows, calls = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
cases = json.loads(sys.argv[4])
import wxent
rng = np.random.default_rng(0)
x = rng.normal(size=(rows, 1000)).astype(np.float32)
z = (rng.uniform(size=(rows, 1000)) < 0.1).astype(np.float32)
q = rng.uniform(0.5, 3.0, 1000).astype(np.float32)
y = rng.integers(0, 1000, rows).astype(np.int32)
W = rng.uniform(0.5, 2.0, 1000).astype(np.float32)
if fw == "jax":
    import jax.numpy as jnp
    X, Z, Q, Y = jnp.asarray(x), jnp.asarray(z), jnp.asarray(q), jnp.asarray(y)
    wait = lambda r: r.block_until_ready()
    import jax
    grad = lambda f: jax.grad(f)(X)
elif fw == "tf":
    import tensorflow as tf
    X, Z, Q, Y = tf.constant(x), tf.constant(z), tf.constant(q), tf.constant(y)
    wait = lambda r: r.numpy()
    def grad(f):
        with tf.GradientTape() as tape:
            tape.watch(X)
            value = f(X)
        return tape.gradient(value, X)
else:
    X, Z, Q, Y = x, z, q, y
    wait = lambda r: r
    grad = None  # (no gradient)
out = {}
for name, expr in cases.items():
    if grad is None and "grad(" in expr:
        continue
    f = eval("lambda: " + expr)
    for _ in range(5):
        wait(f())
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        wait(f())
        times.append(time.perf_counter() - start)
    out[name] = statistics.median(times) * 1e3
print(json.dumps(out))
"""


def _run(worker: Path, src: Path, fw: str, rows: int, calls: int, cases: dict) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(src))
    args = [sys.executable, str(worker), fw, str(rows), str(calls), json.dumps(cases)]
    out = subprocess.run(args, capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="/tmp/jaxtf_before/src")
    parser.add_argument("--rows", default="256")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--frameworks", default="jax,tf")
    parser.add_argument("--cases", default="", help="substrings of the case names to run")
    args = parser.parse_args()
    trees = {"before": Path(args.before), "after": ROOT / "src"}
    wanted = [w for w in args.cases.split(",") if w]
    cases = {k: e for k, e in CASES.items() if not wanted or any(w in k for w in wanted)}
    with tempfile.TemporaryDirectory() as tmp:
        worker = Path(tmp) / "worker.py"
        worker.write_text(WORKER)
        print("| N | framework | loss | before ms | after ms | before / after |")
        print("|---:|---|---|---:|---:|---:|")
        for rows in (int(r) for r in args.rows.split(",")):
            calls = args.calls if rows <= 1024 else max(5, args.calls // 4)
            floor = _run(worker, trees["after"], "numpy", rows, calls, cases)
            for fw in args.frameworks.split(","):
                got: dict[str, dict[str, list[float]]] = {t: {} for t in trees}
                for i in range(args.rounds):
                    order = list(trees) if i % 2 == 0 else list(reversed(trees))
                    for tree in order:
                        for name, ms in _run(worker, trees[tree], fw, rows, calls, cases).items():
                            got[tree].setdefault(name, []).append(ms)
                for name in cases:
                    b = statistics.median(got["before"][name])
                    a = statistics.median(got["after"][name])
                    print(
                        f"| {rows} | {fw} | {name} | {b:.2f} | {a:.2f} | {b / a:.1f}x |",
                        flush=True,
                    )
            for name in cases:
                if "gradient" in name:  # (NumPy has none)
                    continue
                print(f"| {rows} | numpy (floor) | {name} | | {floor[name]:.2f} | |", flush=True)


if __name__ == "__main__":
    main()
