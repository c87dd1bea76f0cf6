"""TensorFlow graphs with unknown dimensions (Keras sequence models, ``input_signature``)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import wxent

COSTS = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.2], [1.0, 1.0, 0.0]], np.float32)
CW = [1.0, 2.0, 3.0]

LOSSES = {
    "softmax": lambda x, y: wxent.softmax_cross_entropy(x, y, class_weight=CW),
    "softmax_smoothing": lambda x, y: wxent.softmax_cross_entropy(
        x, y, class_weight=CW, label_smoothing=0.1, reduction="weighted_mean"
    ),
    "softmax_focal": lambda x, y: wxent.softmax_focal_loss(x, y, class_weight=CW),
    "focal_smoothing": lambda x, y: wxent.softmax_focal_loss(x, y, label_smoothing=0.2),
    "expected_cost": lambda x, y: wxent.expected_cost_loss(x, y, COSTS),
    "cost_sensitive": lambda x, y: wxent.cost_sensitive_cross_entropy(x, y, COSTS),
    "confusion_weighted": lambda x, y: wxent.confusion_weighted_cross_entropy(x, y, 1 + COSTS),
    "logit_adjusted": lambda x, y: wxent.logit_adjusted_cross_entropy(x, y, [0.5, 0.3, 0.2]),
    "none": lambda x, y: wxent.softmax_cross_entropy(x, y, class_weight=CW, reduction="none"),
}


def _data(batch: int, steps: int) -> tuple[tf.Tensor, tf.Tensor]:
    rng = np.random.default_rng(batch * 10 + steps)
    x = rng.normal(size=(batch, steps, 3)).astype(np.float32)
    y = rng.integers(0, 3, size=(batch, steps))
    return tf.constant(x), tf.constant(y, tf.int64)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_unknown_batch_and_time_dimensions(name):
    loss = LOSSES[name]
    graph = tf.function(
        loss,
        input_signature=[
            tf.TensorSpec([None, None, 3], tf.float32),
            tf.TensorSpec([None, None], tf.int64),
        ],
    )
    for batch, steps in ((2, 5), (3, 1), (1, 4)):
        x, y = _data(batch, steps)
        np.testing.assert_allclose(graph(x, y).numpy(), loss(x, y).numpy(), rtol=1e-5, atol=1e-6)


def test_unknown_class_count_with_label_smoothing():
    def loss(x, y):
        return wxent.softmax_cross_entropy(x, y, label_smoothing=0.1)

    graph = tf.function(
        loss,
        input_signature=[tf.TensorSpec([None, None], tf.float32), tf.TensorSpec([None], tf.int64)],
    )
    x = tf.constant(np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32))
    y = tf.constant([0, 4, 2, 1], tf.int64)
    np.testing.assert_allclose(graph(x, y).numpy(), loss(x, y).numpy(), rtol=1e-6)
    soft = tf.one_hot(y, 5)
    graph_soft = tf.function(loss, input_signature=[tf.TensorSpec([None, None], tf.float32)] * 2)
    np.testing.assert_allclose(graph_soft(x, soft).numpy(), loss(x, y).numpy(), rtol=1e-5)


def test_bayes_decision_with_unknown_dimensions():
    graph = tf.function(
        lambda x: wxent.bayes_decision(x, COSTS),
        input_signature=[tf.TensorSpec([None, None, 3], tf.float32)],
    )
    x, _ = _data(2, 4)
    np.testing.assert_array_equal(graph(x).numpy(), wxent.bayes_decision(x, COSTS).numpy())


def test_unknown_rank_is_a_wxent_error():
    graph = tf.function(
        lambda x, y: wxent.softmax_cross_entropy(x, y),
        input_signature=[tf.TensorSpec(None, tf.float32), tf.TensorSpec(None, tf.int64)],
    )
    with pytest.raises(ValueError, match=r"Invalid value for argument `logits`.*unknown rank"):
        graph(tf.zeros((2, 3)), tf.zeros((2,), tf.int64))
