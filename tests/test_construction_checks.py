"""Configuration is refused where it is given: constructors check what no batch accepts.

A bad threshold or cost matrix handed to an accumulator, a calibration or a Keras metric
used to pass the constructor and fail at the first batch, far from the line that made
it. And errors about a Keras batch name the arrays as Keras users pass them.
"""

from __future__ import annotations

import re

import jax.numpy as jnp
import keras
import numpy as np
import pytest
import tensorflow as tf
import torch

import wxent
import wxent.keras as wk

NAN, INF = float("nan"), float("inf")
FRAMEWORKS = {
    "numpy": np.asarray,
    "torch": torch.from_numpy,
    "jax": jnp.asarray,
    "tf": tf.constant,
}


def _msg(text: str) -> str:
    return re.escape(text)


# ----------------------------------------------------------------------------- accumulator

ACCUMULATOR_ERRORS = [
    ({"threshold": NAN}, ValueError, "`threshold`. Expected logits that are not NaN"),
    ({"threshold": [0.0, NAN]}, ValueError, "`threshold`. Expected logits that are not NaN"),
    (
        {"threshold": [[0.0]]},
        ValueError,
        "`threshold`. Expected a scalar logit or one per label, a vector of shape (L,). "
        "Received: threshold of shape (1, 1)",
    ),
    ({"threshold": "a"}, TypeError, "`threshold`. Expected a logit (a number) or one per"),
    ({"threshold": True}, TypeError, "Received: threshold=True"),
    ({"costs": [[0, 1], [1]]}, TypeError, "`costs`. Expected a matrix of numbers"),
    ({"costs": [1.0, 2.0]}, ValueError, "`costs`. Expected a square matrix"),
    ({"costs": [[0, -1], [1, 0]]}, ValueError, "`costs`. Expected finite non-negative"),
    ({"costs": [[0, NAN], [1, 0]]}, ValueError, "1 NaN value(s) in `costs`"),
    (
        {"costs": [[0, 1], [1, 0]], "threshold": 1.0},
        ValueError,
        "`threshold`. Expected the default 0.0 with costs",
    ),
    ({"ignore_index": 1.5}, TypeError, "`ignore_index`. Expected an integer or None"),
    ({"ignore_label": NAN}, ValueError, "`ignore_label`. Expected a finite number or None"),
    ({"ignore_label": 0.5}, ValueError, "`ignore_label`. Expected a value outside [0, 1]"),
    (
        {"ignore_index": -1, "ignore_label": -1},
        ValueError,
        "`ignore_label`. Expected None with ignore_index",
    ),
    ({"class_axis": 1.0}, TypeError, "`class_axis`. Expected an integer axis of `logits`"),
]


@pytest.mark.parametrize(("options", "kind", "message"), ACCUMULATOR_ERRORS)
def test_accumulator_refuses_bad_options_at_construction(options, kind, message):
    with pytest.raises(kind, match=_msg(message)):
        wxent.MetricAccumulator(**options)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_accumulator_refuses_bad_framework_options_at_construction(framework):
    make = FRAMEWORKS[framework]
    with pytest.raises(ValueError, match=_msg("`threshold`. Expected logits that are not NaN")):
        wxent.MetricAccumulator(threshold=make(np.array([0.0, np.nan], np.float32)))
    with pytest.raises(ValueError, match=_msg("a vector of shape (L,). Received: threshold")):
        wxent.MetricAccumulator(threshold=make(np.zeros((2, 2), np.float32)))
    with pytest.raises(ValueError, match=_msg("`costs`. Expected a square matrix")):
        wxent.MetricAccumulator(costs=make(np.ones((2, 3), np.float32)))
    with pytest.raises(ValueError, match=_msg("negative value -1.0 in `costs`")):
        wxent.MetricAccumulator(costs=make(np.array([[0.0, -1.0], [1.0, 0.0]], np.float32)))
    if framework != "numpy":  # NumPy booleans are numbers to np.asarray(dtype=float64)
        with pytest.raises(TypeError, match=_msg("`threshold`. Expected a real dtype")):
            wxent.MetricAccumulator(threshold=make(np.array([True, False])))


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_accumulator_takes_good_framework_options(framework):
    """What the checks at construction let through still counts as before."""
    make = FRAMEWORKS[framework]
    rng = np.random.default_rng(3)
    x = rng.standard_normal((12, 3)).astype(np.float32)
    z = (rng.random((12, 3)) < 0.5).astype(np.float32)
    t = np.array([0.0, 0.5, INF], np.float32)  # inf: never positive
    acc = wxent.MetricAccumulator(threshold=make(t)).update(make(x), make(z))
    want = wxent.confusion_matrix(x, z, threshold=t)
    np.testing.assert_array_equal(np.asarray(acc.compute()["confusion_matrix"]), want)
    y = rng.integers(0, 3, size=12)
    costs = make((1 - np.eye(3)).astype(np.float32))
    acc = wxent.MetricAccumulator(costs=costs, ignore_index=-1).update(make(x), make(y))
    np.testing.assert_allclose(
        float(acc.compute()["expected_cost"]), wxent.expected_cost(x, y, 1 - np.eye(3)), rtol=1e-6
    )


# ----------------------------------------------------------------------------- calibration

CALIBRATION_ERRORS = [
    ({"method": "isotonic"}, ValueError, '`method`. Expected one of "temperature", "platt"'),
    ({"scale": NAN}, ValueError, "`scale`. Expected finite values. Received: scale=nan"),
    ({"scale": "a"}, TypeError, "`scale`. Expected numbers"),
    ({"scale": True}, TypeError, "`scale`. Expected a float or one per label"),
    ({"scale": [[1.0]]}, ValueError, "`scale`. Expected a float or one per label, shape (L,)"),
    ({"scale": -1.0}, ValueError, "`scale`. Expected scale >= 0 (1 / temperature) and bias 0"),
    ({"bias": 1.0}, ValueError, "`bias`. Expected scale >= 0 (1 / temperature) and bias 0"),
    (
        {"method": "platt", "scale": [1.0, 2.0], "bias": [0.0, 0.0, 0.0]},
        ValueError,
        "`bias`. Expected a float or one per label, shape (2,) like `scale`",
    ),
    ({"class_axis": "x"}, TypeError, "`class_axis`. Expected an integer axis of `logits`"),
]


@pytest.mark.parametrize(("options", "kind", "message"), CALIBRATION_ERRORS)
def test_calibration_refuses_bad_parameters_at_construction(options, kind, message):
    options = {"method": "temperature", "scale": 1.0, "bias": 0.0, **options}
    with pytest.raises(kind, match=_msg(message)):
        wxent.Calibration(**options)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_calibration_built_by_hand_applies_on_every_framework(framework):
    """Parameters given as lists or arrays of any framework become float64 NumPy."""
    make = FRAMEWORKS[framework]
    scale = make(np.array([0.5, 2.0], np.float32))
    cal = wxent.Calibration("platt", scale, [1.0, -1.0])
    assert isinstance(cal.scale, np.ndarray) and cal.scale.dtype == np.float64
    assert isinstance(cal.bias, np.ndarray)
    x = np.array([[2.0, 3.0], [-1.0, 0.0]], np.float32)
    out = cal(make(x))
    np.testing.assert_allclose(np.asarray(out), x * [0.5, 2.0] + [1.0, -1.0], rtol=1e-6)
    with pytest.raises(ValueError, match=_msg("`scale`. Expected finite values")):
        wxent.Calibration("temperature", make(np.array(np.inf, np.float32)), 0.0)


# ----------------------------------------------------------------------------- Keras names


def test_keras_metric_threshold_errors_show_the_value_given():
    with pytest.raises(ValueError, match=_msg("not NaN. Received: threshold=nan")):
        wk.Recall(threshold=NAN)
    with pytest.raises(ValueError, match=_msg("not NaN. Received: threshold=[0.0, nan]")):
        wk.Precision(threshold=[0.0, NAN])
    with pytest.raises(ValueError, match=_msg("a probability in [0, 1] with from_logits=False")):
        wk.FBetaScore(threshold=NAN, from_logits=False)


@pytest.mark.parametrize("bad", [1.5, -0.25, NAN])
@pytest.mark.parametrize("cls", [wk.Recall, wk.Precision, wk.FBetaScore])
def test_keras_probability_metrics_name_y_pred(cls, bad):
    metric = cls(from_logits=False)
    y_pred = np.array([[0.2, bad], [0.9, 0.1]], np.float32)
    y_true = np.array([[0.0, 1.0], [1.0, 0.0]], np.float32)
    message = "Invalid value for argument `y_pred`. Expected probabilities in [0, 1] with "
    with pytest.raises(ValueError, match=_msg(message + "from_logits=False. Received: value")):
        metric.update_state(y_true, y_pred)
    assert float(np.sum(keras.ops.convert_to_numpy(metric.confusion))) == 0.0
    metric.update_state(y_true, np.clip(np.nan_to_num(y_pred), 0, 1))  # 0 and 1 are fine
    with pytest.raises(ValueError, match=_msg(message)):
        wk.ExpectedCost(1 - np.eye(2), from_logits=False).update_state([1, 0], y_pred)


def test_keras_batch_errors_name_y_true_and_y_pred():
    x = np.array([[0.5, np.nan], [0.2, -0.1]], np.float32)
    z = np.array([[0.0, 1.0], [1.0, 0.0]], np.float32)
    nan = "Invalid value for argument `y_pred`. Expected numbers without NaN. Received: 1 NaN "
    for call in (
        lambda: wk.Recall().update_state(z, x),
        lambda: wk.SigmoidCrossEntropy()(z, x),
        lambda: wk.SoftmaxFocalLoss()(np.array([0, 1]), x),
    ):
        with pytest.raises(ValueError, match=_msg(nan + "value(s) in `y_pred`")):
            call()
    bad = np.array([0, 3])
    indices = "Invalid value for argument `y_true`. Expected class indices in [0, 2)"
    for call in (
        lambda: wk.ExpectedCost(1 - np.eye(2)).update_state(bad, np.zeros((2, 2), np.float32)),
        lambda: wk.SoftmaxCrossEntropy()(bad, np.zeros((2, 2), np.float32)),
    ):
        with pytest.raises(ValueError, match=_msg(indices)):
            call()
    with pytest.raises(ValueError, match=_msg("argument `y_true`. Expected 0/1 labels")):
        wk.Precision().update_state(z + 0.5, np.zeros((2, 2), np.float32))
    # outside the adapter the functions keep their own names
    with pytest.raises(ValueError, match=_msg("argument `logits`. Expected numbers without")):
        wxent.recall(x, z)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_projection_names_a_nan_bias(framework):
    """A NaN in ``bias`` was reported as a NaN loss under the name `inputs`."""
    make = FRAMEWORKS[framework]
    rng = np.random.default_rng(5)
    h = rng.standard_normal((4, 3)).astype(np.float32)
    w = rng.standard_normal((5, 3)).astype(np.float32)
    y = np.array([0, 1, 2, 3])
    bias = np.array([0.0, np.nan, 0.0, 0.0, 0.0], np.float32)
    message = "Invalid value for argument `bias`. Expected numbers without NaN. Received: 1 NaN"
    for b in (bias, make(bias)):
        with pytest.raises(ValueError, match=_msg(message)):
            wxent.linear_cross_entropy(make(h), make(w), make(y), bias=b)
