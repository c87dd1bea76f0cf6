"""Eager JAX metrics at a small size (64 x 10 float32 logits): this tree against another one.

The per-call overhead of eager JAX metric calls, as an evaluation loop pays it every
batch: microseconds per call of ``wxent.confusion_matrix``, ``precision``, ``recall``,
``fbeta_score`` and ``expected_cost`` (softmax logits with integer labels, sigmoid
logits with 0/1 labels), a threshold sweep (a new threshold each call), and
``wxent.MetricAccumulator.update``. Each measurement runs in a fresh process with
``PYTHONPATH`` set to one wxent ``src`` folder (``--before`` against this checkout's),
the two trees alternating, their order reversed every other round; a process times
``--calls`` calls ``--repeats`` times after a warm-up of 20 calls and reports the fastest
repeat. The table gives the median over the rounds.

    git -C /work/main archive <commit> src | tar -x -C /tmp/jm_old
    python benchmarks/bench_jax_metrics.py --before /tmp/jm_old/src --rounds 5
"""

from __future__ import annotations

from common import before_after_runs, print_ratio_table

#: name -> expression; ``x`` logits, ``y`` class indices, ``z`` 0/1 labels, ``c`` a NumPy
#: cost matrix, ``w`` one weight per sample (JAX), ``hw`` the same in NumPy, ``t()`` the
#: next of 7 thresholds, ``acc`` and ``accw`` accumulators (with ``c``).
CASES = {
    "confusion_matrix, softmax": "wxent.confusion_matrix(x, y)",
    "confusion_matrix, softmax, costs": "wxent.confusion_matrix(x, y, costs=c)",
    "precision, softmax, macro": "wxent.precision(x, y, average='macro')",
    "fbeta_score, softmax, macro, sample_weight": (
        "wxent.fbeta_score(x, y, average='macro', sample_weight=w)"
    ),
    "recall, sigmoid": "wxent.recall(x, z)",
    "recall, sigmoid, a new threshold each call": "wxent.recall(x, z, threshold=t())",
    "recall, sigmoid, NumPy sample_weight": "wxent.recall(x, z, sample_weight=hw)",
    "expected_cost, NumPy costs": "wxent.expected_cost(x, y, c)",
    "expected_cost, NumPy costs, sample_weight": "wxent.expected_cost(x, y, c, sample_weight=w)",
    "MetricAccumulator(costs).update": "acc.update(x, y)._sums",
    "MetricAccumulator(costs).update, sample_weight": "accw.update(x, y, w)._sums",
}

WORKER = r"""
import itertools, json, sys
import numpy as np
import jax, jax.numpy as jnp
import wxent
calls, repeats = int(sys.argv[1]), int(sys.argv[2])
cases = json.loads(sys.argv[3])
rng = np.random.default_rng(0)
hx = rng.normal(size=(64, 10)).astype(np.float32)
hy = rng.integers(0, 10, 64)
hz = (rng.random((64, 10)) > 0.5).astype(np.float32)
hw = rng.random(64).astype(np.float32)
c = np.ones((10, 10)) - np.eye(10)
c[1, 2] = 5.0
thresholds = itertools.cycle(np.linspace(-1.0, 1.0, 7).tolist())
data = dict(
    wxent=wxent, x=jnp.asarray(hx), y=jnp.asarray(hy), z=jnp.asarray(hz), w=jnp.asarray(hw),
    hw=hw, c=c, t=lambda: next(thresholds),
    acc=wxent.MetricAccumulator(costs=c), accw=wxent.MetricAccumulator(costs=c),
)
out = {}
for name, expr in cases.items():
    f = eval("lambda: " + expr, data)
    out[name] = best_us(lambda: jax.block_until_ready(f()), calls, repeats)
print(json.dumps(out))
"""


def main() -> None:
    trees, results = before_after_runs(__doc__.splitlines()[0], "/tmp/jm_old/src", WORKER, CASES)
    print_ratio_table(trees, results, CASES)


if __name__ == "__main__":
    main()
