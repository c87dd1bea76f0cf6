"""Option schedules in eager JAX and TensorFlow: a new option value every call.

A user who anneals ``label_smoothing``, a focal ``gamma`` or the asymmetric loss's
``clip`` (a new value each step) in an eager training loop calls the loss with a value it
has not seen. Each measurement runs in a fresh process with ``PYTHONPATH`` set to one
wxent ``src`` folder (``--before`` against ``--after``, by default this checkout's), the
two trees alternating for ``--rounds`` rounds (``common.alternate_trees``). A process
warms each case up with one value (its first compilation), then times ``--calls``
calls, each with a new value, and reports the median milliseconds per call. Default
options otherwise; 64 x 10 float32 logits, class indices or multi-hot labels.

    git -C /work/main archive <commit> src | tar -x -C /tmp/options_before
    python benchmarks/bench_option_schedule.py --before /tmp/options_before/src

Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path

from common import alternate_trees

ROOT = Path(__file__).resolve().parent.parent

# name: (call of logits ``a`` and the option's value ``e``, first value, step)
CASES = {
    "softmax_cross_entropy, label_smoothing": (
        "wxent.softmax_cross_entropy(a, Y, label_smoothing=e)",
        0.1,
        1e-4,
    ),
    "sigmoid_cross_entropy, label_smoothing": (
        "wxent.sigmoid_cross_entropy(a, Z, label_smoothing=e)",
        0.1,
        1e-4,
    ),
    "softmax_focal_loss, label_smoothing": (
        "wxent.softmax_focal_loss(a, Y, label_smoothing=e)",
        0.1,
        1e-4,
    ),
    "sigmoid_focal_loss, label_smoothing": (
        "wxent.sigmoid_focal_loss(a, Z, label_smoothing=e)",
        0.1,
        1e-4,
    ),
    "softmax_focal_loss, gamma": ("wxent.softmax_focal_loss(a, Y, gamma=e)", 2.0, 1e-3),
    "sigmoid_focal_loss, gamma": ("wxent.sigmoid_focal_loss(a, Z, gamma=e)", 2.0, 1e-3),
    "asymmetric_loss, gamma_neg": ("wxent.asymmetric_loss(a, Z, gamma_neg=e)", 4.0, 1e-3),
    "asymmetric_loss, clip": ("wxent.asymmetric_loss(a, Z, clip=e)", 0.05, 1e-4),
}

WORKER = r"""
import json, statistics, sys, time
import numpy as np
framework, calls = sys.argv[1], int(sys.argv[2])
cases = json.loads(sys.argv[3])
rng = np.random.default_rng(0)
x = rng.standard_normal((64, 10)).astype(np.float32)
y = rng.integers(0, 10, 64)
z = (rng.uniform(size=(64, 10)) < 0.2).astype(np.float32)
if framework == "jax":
    import jax, jax.numpy as jnp
    X, Y, Z = jnp.asarray(x), jnp.asarray(y), jnp.asarray(z)
    def run(f, e, grad):
        out = jax.value_and_grad(f)(X, e) if grad else f(X, e)
        jax.block_until_ready(out)
else:
    import tensorflow as tf
    X, Y, Z = tf.constant(x), tf.constant(y), tf.constant(z)
    def run(f, e, grad):
        if not grad:
            return f(X, e).numpy()
        with tf.GradientTape() as g:
            g.watch(X)
            loss = f(X, e)
        return g.gradient(loss, X).numpy()
import wxent
out = {}
for name, (expr, first, step) in cases.items():
    f = eval("lambda a, e: " + expr, {"wxent": wxent, "Y": Y, "Z": Z})
    for grad in (False, True):
        run(f, first / 2, grad)  # the first value compiles
        times = []
        for i in range(calls):
            start = time.perf_counter()
            run(f, first + (i + (1000 if grad else 0)) * step, grad)
            times.append(time.perf_counter() - start)
        out[f"{name}|{grad}"] = 1e3 * statistics.median(times)
print(json.dumps(out))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="an older wxent src folder")
    parser.add_argument("--after", default=str(ROOT / "src"), help="default: this checkout's")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--calls", type=int, default=9)
    args = parser.parse_args()
    trees = {"before": args.before, "after": args.after}
    os.environ.setdefault("JAX_PLATFORMS", "cpu")  # (the workers inherit it)
    results: dict[tuple[str, str], dict[str, list[float]]] = {}
    for framework in ("jax", "tf"):
        worker_args = [framework, str(args.calls), json.dumps(CASES)]
        runs = alternate_trees(WORKER, trees, worker_args, args.rounds)
        for tree, objects in runs.items():
            for got in objects:
                for key, ms in got.items():
                    results.setdefault((framework, key), {}).setdefault(tree, []).append(ms)
    print("| framework | loss, option | call | before ms | after ms |")
    print("|---|---|---|---:|---:|")
    for (framework, key), by_tree in results.items():
        name, grad = key.split("|")
        call = "value and gradient" if grad == "True" else "forward"
        before, after = (statistics.median(by_tree[t]) for t in ("before", "after"))
        print(f"| {framework} | {name} | {call} | {before:.1f} | {after:.1f} |")


if __name__ == "__main__":
    main()
