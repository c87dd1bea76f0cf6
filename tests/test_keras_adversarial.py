"""wxent.keras as Keras uses it: masks on every backend, tf.distribute replicas, configs.

Keras keeps the mask of a JAX array in a table (JAX arrays take no attributes), divides a
batch mean by the number of ``tf.distribute`` replicas, and its masks mark padding that
metrics leave out. The scripts of the JAX mask and the replicas run in
``tests/test_keras_training.py``'s process of their backend.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import wxent
import wxent.keras as wk
from conftest import assert_close

COSTS = [[0.0, 1.0, 1.0], [1.0, 0.0, 4.0], [1.0, 1.0, 0.0]]


def test_metrics_leave_masked_elements_out() -> None:
    """A Keras mask on y_pred (sequence padding) counts nowhere, as the loss takes it."""
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4, 6, 3)).astype(np.float32)
    classes = rng.integers(0, 3, size=(4, 6))
    tags = (rng.random((4, 6, 3)) < 0.5).astype(np.float32)
    mask = np.arange(6)[None, :] < np.array([[2], [6], [3], [1]])
    sw = rng.random(4).astype(np.float32)
    y_pred = tf.constant(logits)
    y_pred._keras_mask = tf.constant(mask)
    cost = wk.ExpectedCost(COSTS)
    cost.update_state(classes, y_pred, sample_weight=sw)
    weights = np.broadcast_to(sw[:, None], mask.shape) * mask
    want = wxent.expected_cost(logits, classes, COSTS, sample_weight=weights)
    assert_close(cost.result(), want, rtol=1e-6, atol=1e-7)
    for metric, function in [(wk.Recall(), wxent.recall), (wk.Precision(), wxent.precision)]:
        metric.update_state(tags, y_pred)
        assert_close(metric.result(), function(logits[mask], tags[mask]), rtol=1e-6, atol=1e-7)


def test_per_element_weight_times_mask() -> None:
    """Sigmoid weights per element of y_pred and a mask over (B, T) multiply element-wise."""
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(2, 3, 3)).astype(np.float32)  # T == L: no accidental fit
    tags = (rng.random((2, 3, 3)) < 0.5).astype(np.float32)
    weight = rng.random((2, 3, 3)).astype(np.float32)
    mask = np.array([[True, True, False], [True, False, False]])
    y_pred = tf.constant(logits)
    y_pred._keras_mask = tf.constant(mask)
    got = wk.SigmoidCrossEntropy(reduction="sum")(tags, y_pred, sample_weight=weight)
    want = wxent.sigmoid_cross_entropy(
        logits, tags, sample_weight=weight * mask[..., None], reduction="sum"
    )
    assert_close(got, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    ("name", "y_pred", "sample_weight", "expected"),
    [
        ("SoftmaxCrossEntropy", (5, 3), (4,), r"broadcast to \(5,\). Received: sample_weight of "),
        ("SoftmaxCrossEntropy", (5, 3), (5, 3), r"broadcast to \(5,\). Received: sample_weight "),
        ("SigmoidFocalLoss", (5, 2, 3), (5, 3), r"broadcast to \(5, 2\) or the shape of `y_pred`"),
    ],
)
def test_sample_weight_that_does_not_broadcast(
    name: str, y_pred: tuple[int, ...], sample_weight: tuple[int, ...], expected: str
) -> None:
    """A ValueError naming sample_weight, not the backend's broadcasting error."""
    logits = np.zeros(y_pred, np.float32)
    labels = np.zeros(y_pred[:-1], np.int64) if "Softmax" in name else logits
    with pytest.raises(ValueError, match=r"argument `sample_weight`. Expected .*" + expected):
        getattr(wk, name)()(labels, logits, sample_weight=np.ones(sample_weight, np.float32))


def test_expected_cost_with_classes_unknown_while_tracing() -> None:
    """An unknown class axis is not a wrong one: the error says what is missing."""
    metric = wk.ExpectedCost(COSTS)
    spec = [tf.TensorSpec([None], tf.int64), tf.TensorSpec([None, None], tf.float32)]
    logits = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 3.0]], np.float32)
    with pytest.raises(ValueError, match=r"`y_pred`. Expected a known number of classes"):
        tf.function(metric.update_state, input_signature=spec)(np.array([1, 2]), logits)


@pytest.mark.parametrize("dtype", [np.int64, np.uint8, np.bool_])
def test_one_hot_rows_of_integers_or_booleans(dtype: type) -> None:
    """As Keras' CategoricalCrossentropy and wxent.keras.ExpectedCost take them."""
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(6, 3)).astype(np.float32)
    labels = rng.integers(0, 3, size=6)
    one_hot = np.eye(3)[labels].astype(dtype)
    for loss in (wk.SoftmaxCrossEntropy(), wk.CostSensitiveCrossEntropy(COSTS)):
        assert_close(loss(one_hot, logits), loss(labels, logits), rtol=1e-6, atol=1e-7)


def test_confusion_metric_weights_per_time_step_with_channels_first_logits() -> None:
    """(B, L, T) logits with class_axis=1: a (B, T) weight or mask is one per time step."""
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(4, 3, 3)).astype(np.float32)  # L == T: no accidental fit
    tags = (rng.random((4, 3, 3)) < 0.5).astype(np.float32)
    weight = rng.random((4, 3)).astype(np.float32)
    mask = rng.random((4, 3)) < 0.7
    y_pred = tf.constant(logits)
    y_pred._keras_mask = tf.constant(mask)
    metric = wk.Recall(class_axis=1)
    metric.update_state(tags, y_pred, sample_weight=weight)
    per_element = np.broadcast_to((weight * mask)[:, None, :], logits.shape)
    want = wxent.recall(logits, tags, sample_weight=per_element, class_axis=1)
    assert_close(metric.result(), want, rtol=1e-6, atol=1e-7)


def test_loss_config_keeps_dtype() -> None:
    for dtype in ("float64", "mixed_bfloat16", None):
        loss = wk.SigmoidFocalLoss(pos_weight=[1.0, 2.0], dtype=dtype)
        config = loss.get_config()
        assert config["dtype"] == dtype
        clone = keras.losses.deserialize(keras.losses.serialize(loss))
        assert clone.dtype == loss.dtype and clone.get_config() == config
    logits = np.array([[0.3, -1.0]])
    got = wk.SigmoidFocalLoss.from_config(wk.SigmoidFocalLoss(dtype="float64").get_config())(
        np.array([[1.0, 0.0]]), logits
    )
    assert got.dtype == tf.float64


# Keras keeps the masks of JAX arrays in a table: the loss and metrics read it there (run by
# tests/test_keras_training.py in its process of the JAX backend).
JAX_MASK = """
import keras, numpy as np, wxent, wxent.keras as wk
assert keras.backend.backend() == "jax"
rng = np.random.default_rng(0)
x = rng.normal(size=(8, 5, 4)).astype("float32")
x[:, 3:] = 0.0
x[0, 1:] = 0.0
y = rng.integers(0, 3, size=(8, 5))
inputs = keras.Input((5, 4))
model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Masking(0.0)(inputs)))
costs = [[0.0, 1.0, 1.0], [1.0, 0.0, 4.0], [1.0, 1.0, 0.0]]
model.compile(loss=wk.SoftmaxCrossEntropy(reduction="sum"), metrics=[wk.ExpectedCost(costs)])
got = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
z = keras.ops.convert_to_numpy(model.predict(x, verbose=0))
mask = np.abs(x).sum(-1) > 0
want = float(wxent.softmax_cross_entropy(z[mask], y[mask], reduction="sum"))
assert abs(got["loss"] - want) < 1e-4 * want, (got, want)
want = float(wxent.expected_cost(z[mask], y[mask], costs))
assert abs(got["expected_cost"] - want) < 1e-6, (got, want)
print("OK")
"""


# Two replicas: the loss, its gradients and the reported value are Keras' own; the weighted
# mean is the whole batch's, as on one device (Keras' own loss averages the replicas'
# weighted means there). Run first by tests/test_keras_training.py in its process of the
# TensorFlow backend (the logical devices are set before TensorFlow starts).
TF_REPLICAS = """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras, numpy as np, wxent.keras as wk
rng = np.random.default_rng(0)
x = rng.normal(size=(64, 4)).astype("float32")
y = rng.integers(0, 3, size=64)
sw = rng.random(64).astype("float32")
start = [rng.normal(size=(4, 3)).astype("float32"), np.zeros(3, "float32")]
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
assert strategy.num_replicas_in_sync == 2
peer = keras.losses.SparseCategoricalCrossentropy
for reduction in ("sum_over_batch_size", "mean_with_sample_weight", "sum"):
    results = []
    ours = wk.SoftmaxCrossEntropy(reduction=reduction)
    # Keras' own loss: under the strategy, or (a weighted mean, which Keras' own loss
    # takes per replica and averages) on one device, the whole batch's weighted mean
    distributed = reduction != "mean_with_sample_weight"
    for loss, scope in ((peer(from_logits=True, reduction=reduction), distributed), (ours, True)):
        with strategy.scope() if scope else keras.name_scope("one_device"):
            model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
            model.set_weights(start)
            model.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss)
        fit = model.fit(x, y, sample_weight=sw, batch_size=64, shuffle=False, verbose=0)
        value = model.evaluate(x, y, sample_weight=sw, batch_size=64, verbose=0)
        results.append((fit.history["loss"][0], value, model.get_weights()[1]))
    (keras_fit, keras_value, keras_bias), (fit, value, bias) = results
    assert abs(fit - keras_fit) < 1e-5 * keras_fit, (reduction, fit, keras_fit)
    assert abs(value - keras_value) < 1e-5 * keras_value, (reduction, value, keras_value)
    assert np.allclose(bias, keras_bias, rtol=1e-5, atol=1e-7), (reduction, bias, keras_bias)
print("OK")
"""


def _batch3() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(8, 3)).astype(np.float32)
    return logits, rng.integers(0, 3, size=8), (rng.random((8, 3)) < 0.5).astype(np.float32)


def test_loss_options_assigned_after_construction_are_checked_and_used() -> None:
    # a label-smoothing schedule in a callback assigned `loss.label_smoothing`: ignored before
    logits, classes, tags = _batch3()
    loss = wk.SoftmaxCrossEntropy(class_weight=[1.0, 2.0, 0.5])
    assert loss.label_smoothing == 0.0 and loss.class_weight.tolist() == [1.0, 2.0, 0.5]
    loss.label_smoothing = 0.3
    loss.class_weight = [5.0, 1.0, 1.0]
    loss.reduction = "sum"
    want = wxent.softmax_cross_entropy(
        logits, classes, class_weight=[5.0, 1.0, 1.0], label_smoothing=0.3, reduction="sum"
    )
    assert_close(loss(classes, logits), want, rtol=1e-6)
    config = loss.get_config()
    assert (config["label_smoothing"], config["reduction"]) == (0.3, "sum")
    assert config["class_weight"] == [5.0, 1.0, 1.0]
    with pytest.raises(ValueError, match=r"label_smoothing.*Received: label_smoothing=1.5"):
        loss.label_smoothing = 1.5
    with pytest.raises(ValueError, match=r"`reduction`.*Received: reduction='avg'"):
        loss.reduction = "avg"
    with pytest.raises(ValueError, match="class_weight"):
        loss.class_weight = [1.0, -1.0, 1.0]
    assert loss.label_smoothing == 0.3 and loss.reduction == "sum"  # unchanged by errors
    focal = wk.SigmoidFocalLoss()
    focal.gamma = 0.0
    focal.alpha = None
    want = wxent.sigmoid_cross_entropy(logits, tags)
    assert_close(focal(tags, logits), want, rtol=1e-6)


@pytest.mark.parametrize(
    ("loss", "name", "hint"),
    [
        (wk.SoftmaxCrossEntropy(), "weight", "class_weight"),
        (wk.SoftmaxCrossEntropy(), "from_logits", "always take logits"),
        (wk.SoftmaxCrossEntropy(), "axis", "class_axis"),
        (wk.SoftmaxCrossEntropy(), "ignore_class", "ignore_index"),
        (wk.SigmoidCrossEntropy(), "ignore_index", "ignore_label"),
        (wk.SoftmaxFocalLoss(), "alpha", "gamma"),
    ],
)
def test_loss_options_of_other_losses_are_refused(loss, name, hint) -> None:
    with pytest.raises(AttributeError, match=rf"`{name}`.*never be read.*{hint}.*Received"):
        setattr(loss, name, 0.5)


def test_metric_options_assigned_after_construction_are_checked_and_used() -> None:
    # `metric.threshold = t` after tuning was stored and ignored (the logit kept the old one)
    logits, classes, tags = _batch3()
    recall = wk.Recall()
    recall.threshold = 0.8
    recall.update_state(tags, logits)
    assert_close(recall.result(), wxent.recall(logits, tags, threshold=0.8), rtol=1e-6)
    probabilities = wk.Precision(from_logits=False, threshold=0.5)
    probabilities.threshold = 0.7
    probabilities.update_state(tags, 1 / (1 + np.exp(-logits)))
    want = wxent.precision(logits, tags, threshold=np.log(0.7 / 0.3))
    assert_close(probabilities.result(), want, rtol=1e-6)
    fbeta = wk.FBetaScore(beta=2.0, num_classes=3, average="macro")
    fbeta.beta = 0.5
    fbeta.update_state(tags, logits)
    assert fbeta.get_config()["beta"] == 0.5
    want = wxent.fbeta_score(logits, tags, beta=0.5, average="macro")
    assert_close(fbeta.result(), want, rtol=1e-6)
    for name, value, message in [
        ("threshold", float("nan"), "not NaN"),
        ("beta", -1.0, "beta"),
        ("average", "macr", "average"),
        ("num_classes", 4, "sizes its counts"),
    ]:
        with pytest.raises(ValueError, match=message):
            setattr(fbeta, name, value)
    assert fbeta.beta == 0.5 and fbeta.average == "macro"
    cost = wk.ExpectedCost(COSTS)
    cost.costs = [[0.0, 2.0, 2.0], [1.0, 0.0, 1.0], [3.0, 1.0, 0.0]]
    cost.update_state(classes, logits)
    want = wxent.expected_cost(logits, classes, cost.costs)
    assert_close(cost.result(), want, rtol=1e-6)
    with pytest.raises(ValueError, match="sizes its counts"):
        cost.costs = np.ones((2, 2))
