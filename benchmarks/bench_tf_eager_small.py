"""Eager TensorFlow losses at a small size (64 x 10 float32): this tree against another one.

The per-call overhead of default eager calls, where the work is dispatch, not arithmetic:
microseconds per call of the loss alone ("fwd") and of the loss and the logits' gradient
under a ``tf.GradientTape`` ("fwd+bwd"), next to the ``tf.nn`` function with the same
options (the peers). Each measurement runs in a fresh process with ``PYTHONPATH`` set to
one wxent ``src`` folder (``--before`` against this checkout's), the two trees
alternating, their order reversed every other round; a process times ``--calls`` calls
``--repeats`` times after a warm-up and reports the fastest repeat. The table gives the
median over the rounds.

    git -C /work/main archive <commit> src | tar -x -C /tmp/tfeager_old
    python benchmarks/bench_tf_eager_small.py --before /tmp/tfeager_old/src --rounds 5
"""

from __future__ import annotations

import statistics

from common import before_after_runs

CASES = {
    "peer: tf.nn.sparse_softmax_cross_entropy_with_logits, mean": (
        "tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, a))"
    ),
    "softmax_cross_entropy": "wxent.softmax_cross_entropy(a, y)",
    "softmax_cross_entropy, validate=False": "wxent.softmax_cross_entropy(a, y, validate=False)",
    "softmax_cross_entropy, class_weight, ignore_index, weighted_mean": (
        "wxent.softmax_cross_entropy(a, y, class_weight=cw, ignore_index=-100, "
        "reduction='weighted_mean')"
    ),
    "peer: tf.nn.softmax_cross_entropy_with_logits (probabilities), mean": (
        "tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(p, a))"
    ),
    "softmax_cross_entropy, probability labels, smoothing 0.1": (
        "wxent.softmax_cross_entropy(a, p, label_smoothing=0.1)"
    ),
    "peer: tf.nn.weighted_cross_entropy_with_logits (pos_weight), mean": (
        "tf.reduce_mean(tf.nn.weighted_cross_entropy_with_logits(z, a, pw))"
    ),
    "sigmoid_cross_entropy, pos_weight": "wxent.sigmoid_cross_entropy(a, z, pos_weight=pw)",
    "sigmoid_focal_loss, alpha=0.25": "wxent.sigmoid_focal_loss(a, z, alpha=0.25)",
    "softmax_focal_loss": "wxent.softmax_focal_loss(a, y)",
}

WORKER = r"""
import json, sys, time
import tensorflow as tf
import wxent
calls, repeats = int(sys.argv[1]), int(sys.argv[2])
cases = json.loads(sys.argv[3])
tf.random.set_seed(0)
x = tf.random.normal((64, 10)); y = tf.random.uniform((64,), 0, 10, dtype=tf.int64)
cw = tf.random.uniform((10,)) + 0.5
z = tf.cast(tf.random.uniform((64, 10)) > 0.5, tf.float32); pw = tf.random.uniform((10,)) + 0.5
p = tf.nn.softmax(tf.random.normal((64, 10)))
out = {}
for name, expr in cases.items():
    f = eval("lambda a: " + expr)
    def grad():
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = f(x)
        return tape.gradient(loss, x)
    for mode, run in (("fwd", lambda: f(x)), ("fwd+bwd", grad)):
        out[name + "|" + mode] = best_us(run, calls, repeats)
print(json.dumps(out))
"""


def main() -> None:
    trees, results = before_after_runs(
        __doc__.splitlines()[0], "/tmp/tfeager_old/src", WORKER, CASES
    )
    print("| loss | before fwd us | after fwd us | before fwd+bwd us | after fwd+bwd us |")
    print("|---|---:|---:|---:|---:|")
    for case in CASES:
        cells = []
        for mode in ("fwd", "fwd+bwd"):
            for tree in trees:
                cells.append(statistics.median(r[case + "|" + mode] for r in results[tree]))
        before_fwd, after_fwd, before_bwd, after_bwd = cells
        print(
            f"| {case} | {before_fwd:.0f} | {after_fwd:.0f} | {before_bwd:.0f} | {after_bwd:.0f} |"
        )


if __name__ == "__main__":
    main()
