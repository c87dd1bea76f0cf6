"""Eager metrics at a small size (64 x 10 float32 logits): this tree against another one.

The per-call overhead of default eager metric calls, as a Keras step or an evaluation
loop pays it every batch: microseconds per call of ``wxent.confusion_matrix``,
``precision``, ``recall``, ``fbeta_score`` and ``expected_cost`` (softmax logits with
integer labels, sigmoid logits with 0/1 labels), of the ``wxent.keras`` metrics'
``update_state`` (TensorFlow backend), next to TensorFlow's and Keras' own (the peers),
and of the same functions on eager JAX and PyTorch arrays. Each measurement runs in a
fresh process with ``PYTHONPATH`` set to one wxent ``src`` folder (``--before`` against
this checkout's), the two trees alternating, their order reversed every other round; a
process times ``--calls`` calls ``--repeats`` times after a warm-up of 20 calls and
reports the fastest repeat. The table gives the median over the rounds.

    git -C /work/main archive <commit> src | tar -x -C /tmp/tfm_old
    python benchmarks/bench_tf_metrics.py --before /tmp/tfm_old/src --rounds 5
"""

from __future__ import annotations

from common import before_after_runs, print_ratio_table

#: name -> (framework, expression); ``x`` logits, ``y`` class indices, ``z`` 0/1 labels,
#: ``c`` a NumPy cost matrix, ``ct`` the same as a tensor, ``w`` one weight per sample.
CASES = {
    "peer: tf.math.confusion_matrix(argmax)": (
        "tf",
        "tf.math.confusion_matrix(y, tf.argmax(x, axis=-1), num_classes=10)",
    ),
    "confusion_matrix, softmax": ("tf", "wxent.confusion_matrix(x, y)"),
    "confusion_matrix, softmax, costs": ("tf", "wxent.confusion_matrix(x, y, costs=c)"),
    "precision, softmax": ("tf", "wxent.precision(x, y)"),
    "fbeta_score, softmax, macro": ("tf", "wxent.fbeta_score(x, y, average='macro')"),
    "recall, sigmoid": ("tf", "wxent.recall(x, z)"),
    "recall, sigmoid, sample_weight": ("tf", "wxent.recall(x, z, sample_weight=w)"),
    "expected_cost, NumPy costs": ("tf", "wxent.expected_cost(x, y, c)"),
    "expected_cost, tensor costs": ("tf", "wxent.expected_cost(x, y, ct)"),
    "expected_cost, NumPy costs, sample_weight": (
        "tf",
        "wxent.expected_cost(x, y, c, sample_weight=w)",
    ),
    "peer: keras.metrics.Recall().update_state": ("tf", "kr.update_state(z, x)"),
    "keras Recall().update_state": ("tf", "wr.update_state(z, x)"),
    "keras FBetaScore(num_classes=10, average='macro').update_state": (
        "tf",
        "wf.update_state(z, x)",
    ),
    "keras ExpectedCost(costs).update_state": ("tf", "we.update_state(y, x)"),
    "JAX: confusion_matrix, softmax": ("jax", "wxent.confusion_matrix(x, y)"),
    "JAX: recall, sigmoid": ("jax", "wxent.recall(x, z)"),
    "JAX: expected_cost, NumPy costs": ("jax", "wxent.expected_cost(x, y, c)"),
    "PyTorch: confusion_matrix, softmax": ("torch", "wxent.confusion_matrix(x, y)"),
    "PyTorch: recall, sigmoid": ("torch", "wxent.recall(x, z)"),
    "PyTorch: expected_cost, NumPy costs": ("torch", "wxent.expected_cost(x, y, c)"),
}

WORKER = r"""
import json, os, sys, time
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import numpy as np
calls, repeats = int(sys.argv[1]), int(sys.argv[2])
cases = json.loads(sys.argv[3])
rng = np.random.default_rng(0)
hx = rng.normal(size=(64, 10)).astype(np.float32)
hy = rng.integers(0, 10, 64)
hz = (rng.random((64, 10)) > 0.5).astype(np.float32)
hw = rng.random(64).astype(np.float32)
c = np.ones((10, 10)) - np.eye(10)
c[1, 2] = 5.0
frameworks = {fw for fw, _ in cases.values()}
data = {}
if "tf" in frameworks:
    import tensorflow as tf, keras
    import wxent, wxent.keras
    data["tf"] = dict(
        tf=tf, wxent=wxent, x=tf.constant(hx), y=tf.constant(hy), z=tf.constant(hz),
        w=tf.constant(hw), c=c, ct=tf.constant(c, tf.float32),
        kr=keras.metrics.Recall(), wr=wxent.keras.Recall(),
        wf=wxent.keras.FBetaScore(num_classes=10, average="macro"),
        we=wxent.keras.ExpectedCost(c),
    )
if "jax" in frameworks:
    import jax.numpy as jnp
    import wxent
    data["jax"] = dict(wxent=wxent, x=jnp.asarray(hx), y=jnp.asarray(hy), z=jnp.asarray(hz), c=c)
if "torch" in frameworks:
    import torch
    import wxent
    data["torch"] = dict(
        wxent=wxent, x=torch.from_numpy(hx), y=torch.from_numpy(hy), z=torch.from_numpy(hz), c=c
    )
out = {}
for name, (fw, expr) in cases.items():
    f = eval("lambda: " + expr, data[fw])
    value = f()
    if hasattr(value, "block_until_ready"):
        run = lambda: f().block_until_ready()
    else:
        run = f
    out[name] = best_us(run, calls, repeats)
print(json.dumps(out))
"""


def main() -> None:
    trees, results = before_after_runs(__doc__.splitlines()[0], "/tmp/tfm_old/src", WORKER, CASES)
    print_ratio_table(trees, results, CASES)


if __name__ == "__main__":
    main()
