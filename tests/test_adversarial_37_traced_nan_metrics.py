"""Metrics of NaN logits where no check reads them (traced, or ``validate=False``).

Eagerly a NaN logit is an error. Traced, the softmax decision of a row holding one was
the framework's argmax of NaN, which differs between frameworks (JAX counted class 0,
TensorFlow class 1 for the same row), and the scores were silent numbers. Now such a
row (sigmoid: such an element) counts nowhere in the confusion counts, the same on
every framework, and the scores and the expected cost of the call are NaN, as the loss
of such logits is.
"""

from __future__ import annotations

import numpy as np
import pytest

import wxent

NAN = float("nan")
X = np.array([[0.0, 1.0, 2.0], [NAN, 0.0, 0.0], [3.0, 0.0, 0.0]], np.float32)
Y = np.array([2, 2, 0])
Z = np.array([[0, 1, 1], [1, 1, 0], [1, 0, 0]], np.float32)
COUNTS = [[1, 0, 0], [0, 0, 0], [0, 0, 1]]  # the NaN row counts nowhere
SIGMOID = [[[1, 0], [0, 1]], [[1, 0], [1, 1]], [[2, 0], [0, 1]]]  # nor the NaN element


def _calls(trace):  # type: ignore[no-untyped-def]
    return {
        "confusion": trace(lambda x, y: wxent.confusion_matrix(x, y, costs=1.0 - np.eye(3))),
        "sigmoid": trace(lambda x, z: wxent.confusion_matrix(x, z)),
        "recall": trace(lambda x, y: wxent.recall(x, y, average=None)),
        "precision": trace(lambda x, z: wxent.precision(x, z)),
        "cost": trace(lambda x, y: wxent.expected_cost(x, y, 1.0 - np.eye(3))),
    }


def _check(got: dict) -> None:  # type: ignore[type-arg]
    assert np.asarray(got["confusion"]).tolist() == COUNTS
    assert np.asarray(got["sigmoid"]).tolist() == SIGMOID
    for name in ("recall", "precision", "cost"):
        assert np.isnan(np.asarray(got[name])).all(), (name, got[name])


@pytest.mark.parametrize("framework", ["jax", "tensorflow", "numpy"])
def test_nan_logits_count_nowhere_and_make_the_scores_nan(framework: str) -> None:
    if framework == "jax":
        import jax

        calls = _calls(jax.jit)
        got = {k: f(X, Z if k in ("sigmoid", "precision") else Y) for k, f in calls.items()}
    elif framework == "tensorflow":
        import tensorflow as tf

        calls = _calls(lambda f: tf.function(f, autograph=False))
        got = {
            k: f(tf.constant(X), tf.constant(Z if k in ("sigmoid", "precision") else Y))
            for k, f in calls.items()
        }
    else:
        got = {
            "confusion": wxent.confusion_matrix(X, Y, costs=1.0 - np.eye(3), validate=False),
            "sigmoid": wxent.confusion_matrix(X, Z, validate=False),
            "recall": wxent.recall(X, Y, average=None, validate=False),
            "precision": wxent.precision(X, Z, validate=False),
            "cost": wxent.expected_cost(X, Y, 1.0 - np.eye(3), validate=False),
        }
    _check(got)
    with pytest.raises(ValueError, match="NaN value"):  # eagerly, checked: an error
        wxent.recall(X, Y)
