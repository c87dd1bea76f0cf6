"""tf.function calls wxent as Python: AutoGraph converts none of its functions.

Converting wxent's code (its source parsed, every function rewritten) made the first
trace of a loss take seconds; wxent builds its graph control flow itself.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.autograph.impl import api as autograph_api

import wxent
import wxent.keras as wk

C = 4


@pytest.fixture
def converted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The modules of every function AutoGraph converts while the test runs."""
    seen: list[str] = []
    original = autograph_api._convert_actual

    def record(entity, program_ctx):
        seen.append(getattr(entity, "__module__", "") or "")
        return original(entity, program_ctx)

    monkeypatch.setattr(autograph_api, "_convert_actual", record)
    return seen


def _calls():
    costs = 1.0 - np.eye(C)
    loss = wk.SoftmaxCrossEntropy(class_weight=[1.0, 2.0, 0.5, 1.0], label_smoothing=0.1)
    recall = wk.Recall(num_classes=C, average="macro")

    def metric(x, y, z):
        recall.update_state(z, x)
        return recall.result()

    return [
        lambda x, y, z: wxent.softmax_cross_entropy(x, y, class_weight=[1.0, 2, 3, 4]),
        lambda x, y, z: wxent.sigmoid_focal_loss(x, z, sample_weight=tf.ones(8)),
        lambda x, y, z: wxent.asymmetric_loss(x, z),
        lambda x, y, z: wxent.expected_cost_loss(x, y, costs),
        lambda x, y, z: wxent.linear_cross_entropy(x, tf.eye(C), y),
        lambda x, y, z: wxent.recall(x, z, average="macro"),
        lambda x, y, z: wxent.bayes_decision(x, costs),
        lambda x, y, z: wxent.predict(x),
        lambda x, y, z: loss(y, x),
        metric,
    ]


@pytest.mark.parametrize("index", range(len(_calls())))
def test_tf_function_converts_no_wxent_function(converted: list[str], index: int) -> None:
    rng = np.random.default_rng(index)
    x = tf.constant(rng.normal(size=(8, C)).astype(np.float32))
    y = tf.constant(rng.integers(0, C, size=8))
    z = tf.constant((rng.random((8, C)) < 0.5).astype(np.float32))
    call = _calls()[index]
    got = tf.function(call)(x, y, z)  # autograph on: tf.function's default
    want = tf.function(_calls()[index], autograph=False)(x, y, z)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6)
    assert converted, "the test's own function is converted: the recorder must see it"
    assert [m for m in converted if m.split(".")[0] == "wxent"] == []
