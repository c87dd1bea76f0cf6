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


COST_LOSSES = {
    "expected_cost": wxent.expected_cost_loss,
    "cost_sensitive": wxent.cost_sensitive_cross_entropy,
    "confusion_weighted": wxent.confusion_weighted_cross_entropy,
}


@pytest.mark.parametrize("name", sorted(COST_LOSSES))
@pytest.mark.parametrize(
    "logits_shape,matrix_shape",
    [
        ([None, None, 3], [None, None]),
        ([None, None, None], [None, None]),
        ([None, None, None], [None, 3]),
        ([2, 5, 3], [None, None]),
    ],
)
def test_traced_matrix_of_unknown_size(name, logits_shape, matrix_shape):
    """A cost or weight matrix passed through a TensorSpec of unknown size, integer labels.

    The confusion-weighted loss read ``weights[y, argmax(x)]`` through a flat index
    ``y * C + argmax(x)`` with ``C`` taken from the matrix's static shape: ``None`` ended
    in TensorFlow's "None values not supported" while the graph was traced.
    """
    loss = COST_LOSSES[name]
    matrix = tf.constant(1.0 + COSTS) if name == "confusion_weighted" else tf.constant(COSTS)

    def call(x, y, m):
        return loss(x, y, m, reduction="none", ignore_index=1)

    graph = tf.function(
        call,
        input_signature=[
            tf.TensorSpec(logits_shape, tf.float32),
            tf.TensorSpec([None, None], tf.int64),
            tf.TensorSpec(matrix_shape, tf.float32),
        ],
    )
    x, y = _data(2, 5)
    want = call(x, y, matrix).numpy()
    np.testing.assert_allclose(graph(x, y, matrix).numpy(), want, rtol=1e-5, atol=1e-6)
    channels_first = tf.function(
        lambda x, y, m: loss(x, y, m, class_axis=1),
        input_signature=[
            tf.TensorSpec([None, None, None], tf.float32),
            tf.TensorSpec([None, None], tf.int64),
            tf.TensorSpec([None, None], tf.float32),
        ],
    )
    np.testing.assert_allclose(
        channels_first(tf.transpose(x, [0, 2, 1]), y, matrix).numpy(),
        loss(x, y, matrix).numpy(),
        rtol=1e-5,
    )
