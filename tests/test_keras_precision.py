"""wxent.keras metrics past 2**24 in their float32 variables, on every Keras backend.

The counts of ``Recall``/``Precision``/``FBetaScore`` and the cost and weight sums of
``ExpectedCost`` are float32 variables: a plain ``assign_add`` onto ``2**24`` drops
weight-1 samples. :data:`SCRIPT` runs in ``tests/test_keras_training.py``'s process of
each backend, eagerly and compiled (``tf.function`` with XLA on TensorFlow, ``jax.jit`` of
the stateless update on JAX); results are compared with float64 references.
"""

from __future__ import annotations

import textwrap

SCRIPT = textwrap.dedent(
    """
    import numpy as np, keras
    import wxent.keras as wk

    BACKEND = keras.backend.backend()
    BIG, UNITS = np.float32(2.0**24), 40
    COSTS = [[0.0, 1.0], [3.0, 0.0]]
    # Sigmoid: one positive of weight 2**24 predicted negative, then weight-1 positives,
    # alternately predicted positive (tp) and negative (fn).
    SIG = [(np.array([1.0], "float32"), np.array([-2.0], "float32"), np.array([BIG]))]
    SIG += [
        (np.array([1.0], "float32"), np.array([2.0 if i % 2 else -2.0], "float32"),
         np.ones(1, "float32"))
        for i in range(UNITS)
    ]
    # Softmax: logits [2, 0] decide class 0; labels alternately 0 (cost 0) and 1 (cost 3).
    SOFT = [(np.array([0]), np.array([[2.0, 0.0]], "float32"), np.array([BIG]))]
    SOFT += [(np.array([i % 2]), np.array([[2.0, 0.0]], "float32"), np.ones(1, "float32"))
             for i in range(UNITS)]
    RECALL = (UNITS // 2) / (np.float64(BIG) + UNITS)
    COST = 3.0 * (UNITS // 2) / (np.float64(BIG) + UNITS)

    def eager(metric, batches):
        for y, x, w in batches:
            metric.update_state(y, x, sample_weight=w)
        return float(np.asarray(metric.result()))

    def compiled(metric, batches):
        if BACKEND == "tensorflow":
            import tensorflow as tf
            step = tf.function(metric.update_state, jit_compile=True)
            for y, x, w in batches:
                step(tf.constant(y), tf.constant(x), sample_weight=tf.constant(w))
            return float(np.asarray(metric.result()))
        if BACKEND == "jax":
            import jax
            step = jax.jit(metric.stateless_update_state)
            state = [v.value for v in metric.variables]
            for y, x, w in batches:
                state = step(state, y, x, sample_weight=w)
            return float(np.asarray(metric.stateless_result(state)))
        return eager(metric, batches)

    for run in (eager, compiled):
        got = run(wk.Recall(), SIG)
        assert abs(got - RECALL) <= 1e-7 * RECALL, (run.__name__, got, RECALL)
        got = run(wk.ExpectedCost(COSTS), SOFT)
        assert abs(got - COST) <= 1e-6 * COST, (run.__name__, got, COST)
    m = wk.Recall()
    eager(m, SIG)
    m.reset_state()
    assert float(np.asarray(m.result())) == 0.0
    assert eager(m, SIG[1:]) == 0.5  # the errors were reset with the counts
    print("OK", BACKEND)
    """
)
