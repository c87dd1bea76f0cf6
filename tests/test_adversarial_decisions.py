"""Regressions of an adversarial pass over the decision side: thresholds, decisions,
calibration, metrics and the accumulator, with every input a user can reach.

Each test names a class of input that used to reach Python or a framework (an
OverflowError, a RuntimeWarning, a MemoryError), give a NaN or inf, or give a silently
wrong number, and checks the whole class (every function and framework it touches).
"""

from __future__ import annotations

import re
import warnings

import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
import tensorflow as tf
import torch

import wxent
from test_adversarial_config import FRAMEWORKS
from wxent import _threshold_search as search

ALL = sorted(FRAMEWORKS)
HUGE = 10**400  # a Python integer that no float holds


def _message(name: str) -> str:
    return rf"^Invalid (value|type) for argument `{re.escape(name)}`\. Expected .+ Received: .+"


def _data(framework: str = "numpy"):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 3)).astype(np.float32)
    y = np.array([0, 1, 2, 0, 1, 2])
    z = (rng.random((6, 3)) > 0.5).astype(np.float32)
    to = FRAMEWORKS[framework]
    return to(x), to(y), to(z)


# ----------------------------------------------------------------------------- huge integers

# Every numeric option, given a Python integer beyond float64 (10**400): float() raised
# OverflowError (no argument named) in the scalar checks, the host configuration mover,
# the thresholds, offsets, cost matrices and cost thresholds.
HUGE_CALLS = {
    "threshold (predict)": lambda x, y, z: wxent.predict(x, threshold=HUGE),
    "threshold (predict, list)": lambda x, y, z: wxent.predict(x, threshold=[HUGE, 0, 0]),
    "offsets (predict)": lambda x, y, z: wxent.predict(x, offsets=HUGE),
    "threshold (precision)": lambda x, y, z: wxent.precision(x, z, threshold=-HUGE),
    "beta (fbeta_score)": lambda x, y, z: wxent.fbeta_score(x, y, beta=HUGE),
    "label_smoothing": lambda x, y, z: wxent.softmax_cross_entropy(x, y, label_smoothing=HUGE),
    "class_weight": lambda x, y, z: wxent.softmax_cross_entropy(x, y, class_weight=[HUGE, 1, 1]),
    "sample_weight": lambda x, y, z: wxent.softmax_cross_entropy(x, y, sample_weight=HUGE),
    "pos_weight": lambda x, y, z: wxent.sigmoid_cross_entropy(x, z, pos_weight=HUGE),
    "ignore_label": lambda x, y, z: wxent.sigmoid_cross_entropy(x, z, ignore_label=HUGE),
    "gamma": lambda x, y, z: wxent.sigmoid_focal_loss(x, z, gamma=HUGE),
    "alpha": lambda x, y, z: wxent.sigmoid_focal_loss(x, z, alpha=HUGE),
    "clip": lambda x, y, z: wxent.asymmetric_loss(x, z, clip=HUGE),
    "tau": lambda x, y, z: wxent.adjust_logits(x, [0.2, 0.3, 0.5], tau=HUGE),
    "cost_weight": lambda x, y, z: wxent.cost_sensitive_cross_entropy(
        x, y, 1 - np.eye(3), cost_weight=HUGE
    ),
    "costs (cost_matrix)": lambda x, y, z: wxent.cost_matrix(3, costs={(0, 1): HUGE}),
    "beta (class_weights)": lambda x, y, z: wxent.class_weights(
        np.array([0, 1, 1]), scheme="effective_number", beta=HUGE
    ),
    "max_weight": lambda x, y, z: wxent.pos_weights(np.array([[0, 1], [1, 1]]), max_weight=HUGE),
    "beta (tune_thresholds)": lambda x, y, z: wxent.tune_thresholds(
        x, z, objective="fbeta", beta=HUGE
    ),
    "cost_fp": lambda x, y, z: wxent.tune_thresholds(
        x, z, objective="expected_cost", cost_fp=HUGE, cost_fn=1.0
    ),
    "precision": lambda x, y, z: wxent.tune_thresholds(
        x, z, objective="recall_at_precision", precision=HUGE
    ),
    "beta (accumulator)": lambda x, y, z: wxent.MetricAccumulator().update(x, y).compute(beta=HUGE),
    "pos_weight (unweight_logits)": lambda x, y, z: wxent.unweight_logits(x, pos_weight=HUGE),
    "cost_fn (cost_threshold)": lambda x, y, z: wxent.cost_threshold(cost_fp=1, cost_fn=HUGE),
}


@pytest.mark.parametrize("case", sorted(HUGE_CALLS))
def test_integers_beyond_float64_are_a_value_error_naming_the_argument(case):
    name = case.split(" ")[0]
    with pytest.raises(ValueError, match=_message(name)):
        HUGE_CALLS[case](*_data())


@pytest.mark.parametrize("framework", ["torch", "jax", "tf"])
def test_integers_beyond_float64_with_framework_logits(framework):
    x, y, z = _data(framework)
    for call in ("threshold (predict)", "class_weight", "pos_weight", "threshold (precision)"):
        with pytest.raises(ValueError, match=_message(call.split(" ")[0])):
            HUGE_CALLS[call](x, y, z)


# ----------------------------------------------------------------------------- extreme thresholds


@pytest.mark.parametrize(
    ("dtype", "top"),
    [
        (np.float16, 60000.0),
        (np.float32, 3e38),
        (ml_dtypes.bfloat16, 3e38),
        (np.float64, 1e308),
    ],
)
def test_thresholds_beyond_logits_at_the_edge_of_their_dtype_stay_finite(dtype, top):
    """Nothing (everything) positive past a logit near the dtype's largest magnitude: the
    step ``max(1, |u|)`` overflowed to +-inf, with a RuntimeWarning for half precision."""
    x = np.array([top, 0.0, 1.0]).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nothing = wxent.tune_thresholds(x, np.zeros(3))
        everything = wxent.tune_thresholds(-x, np.ones(3))
    assert np.isfinite(nothing) and np.isfinite(everything)
    assert not wxent.predict(x, threshold=nothing).any()
    assert wxent.predict(-x, threshold=everything).all()
    assert float(nothing) >= float(x.max()) and float(everything) < float((-x).min())


def test_everything_positive_below_the_most_negative_number_is_minus_inf():
    """No finite number of the dtype lies below its most negative one: ``-inf`` selects all."""
    for dtype in (np.float16, np.float64):
        low = -np.finfo(dtype).max
        x = np.array([low, 0.0], dtype=dtype)
        t = search.threshold_between(np.array([0.0, float(low)]), 2, np.dtype(dtype).name)
        assert t == -np.inf
        assert wxent.tune_thresholds(x, np.ones(2)) == -np.inf
        assert wxent.predict(x, threshold=-np.inf).all()


# ----------------------------------------------------------------------------- integer options


INTEGER_OPTIONS = {
    "tune_thresholds": ("max_iter", lambda n: wxent.tune_thresholds(*_data()[:2], max_iter=n)),
    "calibrate": ("max_iter", lambda n: wxent.calibrate(*_data()[:2], max_iter=n).scale),
    "expected_calibration_error": (
        "bins",
        lambda n: wxent.expected_calibration_error(*_data()[:2], bins=n),
    ),
}


@pytest.mark.parametrize("case", sorted(INTEGER_OPTIONS))
def test_positive_integer_options_take_numpy_integers_and_refuse_other_types(case):
    """``np.int64(10)`` was refused as "not a positive integer"; a float was a ValueError."""
    name, call = INTEGER_OPTIONS[case]
    np.testing.assert_array_equal(call(np.int64(10)), call(10))
    for bad in (2.5, "3", True, np.bool_(True)):
        with pytest.raises(TypeError, match=_message(name)):
            call(bad)
    with pytest.raises(ValueError, match=_message(name)):
        call(np.int32(0))


# ----------------------------------------------------------------------------- traced inputs


def test_calibration_errors_for_traced_arrays_speak_of_calibration():
    """The traced-array error of calibrate and ECE spoke of tuning thresholds."""
    import jax

    x, y, _ = _data("jax")
    for f in (wxent.calibrate, wxent.expected_calibration_error):
        with pytest.raises(TypeError, match=_message("logits")) as info:
            jax.jit(f)(x, y)
        assert "calibration" in str(info.value) and "threshold" not in str(info.value)


# ----------------------------------------------------------------------------- NaN logits

# The post-hoc transforms of logits passed NaN through without a word (adjust_logits and
# bayes_decision refused them); ``predict(offsets=)`` even chose another class on
# TensorFlow (its argmax skips NaN) than on NumPy, PyTorch and JAX.
NAN_CALLS = {
    "predict (threshold)": lambda x: wxent.predict(x, threshold=0.5),
    "predict (offsets)": lambda x: wxent.predict(x, offsets=[0.0, 1.0, 0.0]),
    "unweight_logits (pos_weight)": lambda x: wxent.unweight_logits(x, pos_weight=2.0),
    "unweight_logits (class_weight)": lambda x: wxent.unweight_logits(x, class_weight=[1, 2, 3]),
    "Calibration": lambda x: wxent.Calibration("platt", np.array([2.0, 1.0, 0.5]), 0.5)(x),
    "adjust_logits": lambda x: wxent.adjust_logits(x, [0.2, 0.3, 0.5]),
    "bayes_decision": lambda x: wxent.bayes_decision(x, 1 - np.eye(3)),
}


@pytest.mark.parametrize("framework", ALL)
@pytest.mark.parametrize("call", sorted(NAN_CALLS))
def test_logit_transforms_and_decisions_refuse_nan_logits(framework, call):
    x = np.array([[0.5, np.nan, 1.0], [0.0, 1.0, 2.0]], dtype=np.float32)
    with pytest.raises(ValueError, match=_message("logits")) as info:
        NAN_CALLS[call](FRAMEWORKS[framework](x))
    assert "1 NaN value(s)" in str(info.value)
    finite = FRAMEWORKS[framework](np.nan_to_num(x))
    assert not np.isnan(np.asarray(NAN_CALLS[call](finite), dtype=np.float64)).any()


def test_logit_transforms_still_trace_with_nan_logits():
    """Under jax.jit nothing can be read: the transforms trace, as the docs say."""
    import jax

    x = jnp.array([[0.5, np.nan, 1.0]])
    for call in ("predict (threshold)", "unweight_logits (pos_weight)", "Calibration"):
        out = np.asarray(jax.jit(NAN_CALLS[call])(x))
        assert out.shape == (1, 3)


# ----------------------------------------------------------------------------- calibration


@pytest.mark.parametrize("framework", ALL)
def test_a_zero_calibration_scale_maps_infinite_logits_to_zero_not_nan(framework):
    """``inf * 0`` was NaN (with a RuntimeWarning on NumPy); the limit of a zero scale is 0."""
    x = FRAMEWORKS[framework](np.array([[np.inf, -np.inf, 1.0]], dtype=np.float32))
    scalar = wxent.Calibration("temperature", 0.0, 0.0)
    vector = wxent.Calibration("platt", np.array([0.0, 0.0, 2.0]), np.array([1.0, -1.0, 0.0]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(np.asarray(scalar(x)), [[0.0, 0.0, 0.0]])
        np.testing.assert_array_equal(np.asarray(vector(x)), [[1.0, -1.0, 2.0]])


def test_calibration_of_denormal_logits_keeps_a_finite_scale():
    """Logits near 1e-310: the scale given back overflowed to inf (0 * inf is NaN)."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=200) * 1e-310
    z = (rng.random(200) < 0.5).astype(float)
    for method in ("temperature", "platt"):
        cal = wxent.calibrate(x, z, method=method)
        assert np.isfinite(cal.scale) and np.isfinite(cal.bias)
        assert not np.isnan(cal(np.array([0.0, np.inf, -np.inf, 1e-310]))).any()


def test_expected_calibration_error_with_more_bins_than_memory():
    """``bins=10**12`` allocated three arrays of 10**12 floats (a MemoryError); only the
    occupied bins count. With a bin per sample the ECE is the mean |label - p|."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=300)
    z = (rng.random(300) < 0.4).astype(float)
    p = 1 / (1 + np.exp(-x))
    for bins in (10**12, 2**53):
        ece = wxent.expected_calibration_error(x, z, bins=bins)
        assert ece == pytest.approx(np.mean(np.abs(z - p)), rel=1e-12)
    with pytest.raises(ValueError, match=_message("bins")):
        wxent.expected_calibration_error(x, z, bins=2**53 + 1)
    # a few bins: the dense reliability diagram gives the same number
    mean, freq, weight = wxent.calibration.reliability_bins(x, z, bins=7)
    assert wxent.expected_calibration_error(x, z, bins=7) == pytest.approx(
        np.sum(weight * np.abs(freq - mean)) / weight.sum(), rel=1e-12
    )


# ----------------------------------------------------------------------------- accumulators

C3 = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 1.0], [5.0, 1.0, 0.0]])
MISMATCHED = {
    "costs and none": ({"costs": C3}, {}),
    "two cost matrices": ({"costs": C3}, {"costs": 2 * C3}),
    "with and without a matrix": ({}, {"confusion": False}),
    "ignore_index": ({"ignore_index": 0}, {}),
    "threshold": ({"threshold": 1.0}, {"threshold": [0.0, 1.0, 0.0]}),
}


@pytest.mark.parametrize("case", sorted(MISMATCHED))
def test_accumulators_of_other_decisions_do_not_merge(case):
    """Shards counted under other decisions merged silently: a confusion matrix of half
    the data, an expected cost over one shard, counts of two decision rules added up."""
    first, second = MISMATCHED[case]
    x, y, z = _data()
    labels = z if "threshold" in first else y
    a = wxent.MetricAccumulator(**first).update(x, labels)
    b = wxent.MetricAccumulator(**second).update(x, labels)
    for merge in (lambda: a.merge(b), lambda: b.merge(a), lambda: a + b, lambda: sum([a, b])):
        with pytest.raises(ValueError, match=_message("other")):
            merge()
    same = wxent.MetricAccumulator(**first).update(x, labels)
    merged = (a + same).compute()
    assert merged["precision"] == pytest.approx(a.compute()["precision"])


def test_accumulators_with_equal_options_of_other_types_merge():
    x, y, _ = _data("torch")
    a = wxent.MetricAccumulator(costs=C3).update(x, y)
    b = wxent.MetricAccumulator(costs=torch.as_tensor(C3.tolist())).update(x, y)
    assert (a + b).compute()["expected_cost"] == pytest.approx(float(a.compute()["expected_cost"]))


# ----------------------------------------------------------------------------- Keras metrics


def test_keras_probability_thresholds_break_ties_as_keras_does():
    """``from_logits=False``: a probability equal to the threshold (both written 0.3) was
    counted positive (the threshold's logit came from float64 0.3, the probability's from
    float32 0.3): recall 0.8 where keras.metrics.Recall says 0.4. Checked in a compiled
    ``evaluate`` too (the threshold is a tensor of the step)."""
    import keras

    from wxent import keras as wk

    p = np.array([0.3, 0.7, 0.5, 0.1, 0.9, 0.2999999, 0.3], np.float32)
    y = np.array([1, 1, 1, 0, 0, 1, 1], np.float32)
    for t in (0.3, 0.5, 0.2999999, 0.0, 1.0):
        for ours, peer in (
            (wk.Recall(threshold=t, from_logits=False), keras.metrics.Recall(thresholds=t)),
            (wk.Precision(threshold=t, from_logits=False), keras.metrics.Precision(thresholds=t)),
        ):
            ours.update_state(y, p)
            peer.update_state(y, p)
            assert float(ours.result()) == pytest.approx(float(peer.result()), abs=1e-7), t
    model = keras.Sequential([keras.Input((1,)), keras.layers.Identity()])
    model.compile(
        loss="mse",
        metrics=[
            wk.Recall(threshold=0.3, from_logits=False, name="ours"),
            keras.metrics.Recall(thresholds=0.3, name="peer"),
        ],
        jit_compile=False,
    )
    out = model.evaluate(p[:, None], y[:, None], verbose=0, return_dict=True)
    assert out["ours"] == pytest.approx(out["peer"]) == pytest.approx(0.4)


def test_keras_probabilities_just_above_the_threshold_are_positive():
    """``from_logits=False``: probabilities one to three float32 ulps above the threshold
    (0.12428328) were counted negative, their logits ``log(p) - log1p(-p)`` in float32
    not above the threshold's (the map is not monotone there): recall 3/7 where
    keras.metrics.Recall says 6/7. Also per label, and in a compiled ``evaluate``."""
    import keras

    from wxent import keras as wk

    t = np.float32(0.12428328)
    p = np.nextafter(t, np.float32(1)) + np.arange(6, dtype=np.float32) * np.spacing(t)
    p = np.concatenate([[t], p, [t - np.spacing(t)]]).astype(np.float32)
    y = np.ones(p.shape, np.float32)
    for ours, peer in (
        (wk.Recall(threshold=t, from_logits=False), keras.metrics.Recall(thresholds=float(t))),
        (
            wk.Precision(threshold=t, from_logits=False),
            keras.metrics.Precision(thresholds=float(t)),
        ),
    ):
        ours.update_state(y, p)
        peer.update_state(y, p)
        assert float(ours.result()) == pytest.approx(float(peer.result()), abs=1e-7)
    per_label = wk.Recall(threshold=[float(t), 0.0], from_logits=False, average=None, num_classes=2)
    per_label.update_state(np.ones((p.size, 2)), np.stack([p, p], axis=1))
    np.testing.assert_allclose(np.asarray(per_label.result()), [6 / 8, 1.0], atol=1e-7)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Identity()])
    model.compile(
        loss="mse", metrics=[wk.Recall(threshold=float(t), from_logits=False, name="ours")]
    )
    out = model.evaluate(p[:, None], y[:, None], verbose=0, return_dict=True)
    assert out["ours"] == pytest.approx(6 / 8)


def test_keras_metric_sample_weight_of_another_batch_is_a_value_error():
    """A (3,) weight for a batch of 7 reached the backend's broadcast (InvalidArgumentError,
    RuntimeError or a JAX ValueError without an argument's name)."""
    from wxent import keras as wk

    x, y, _ = _data()
    for metric, labels, logits in (
        (wk.Recall(), y[:6] % 2, x[:, 0]),
        (wk.ExpectedCost(C3), y, x),
    ):
        with pytest.raises(ValueError, match=_message("sample_weight")) as info:
            metric.update_state(labels, logits, sample_weight=np.ones(3))
        assert "(3,)" in str(info.value)
        metric.update_state(labels, logits, sample_weight=np.ones((6, 1)))  # Keras' (B, 1)


def test_keras_recall_takes_labels_with_a_trailing_axis_for_1d_logits():
    from wxent import keras as wk

    x, y, _ = _data()
    flat, column = wk.Recall(), wk.Recall()
    flat.update_state(y % 2, x[:, 0])
    column.update_state((y % 2)[:, None], x[:, 0])
    assert float(column.result()) == float(flat.result()) == float(wxent.recall(x[:, 0], y % 2))


# ----------------------------------------------------------------------------- label dtypes


@pytest.mark.parametrize(
    "call",
    [wxent.label_counts, wxent.class_weights, wxent.class_prior],
    ids=["label_counts", "class_weights", "class_prior"],
)
def test_float16_class_labels_count_without_a_runtime_warning(call):
    """Whole-number float16 labels were compared with 2.0**63 in float16 (an overflow
    RuntimeWarning, an error under ``-W error``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        half = call(np.array([0.0, 1.0, 2.0, 2.0], np.float16))
        torch_half = call(torch.tensor([0.0, 1.0, 2.0, 2.0], dtype=torch.float16))
    np.testing.assert_array_equal(half, call(np.array([0, 1, 2, 2])))
    np.testing.assert_array_equal(torch_half, half)


# ----------------------------------------------------------------------------- cost matrices


def test_cost_matrix_takes_a_numpy_array_of_names_and_refuses_unhashable_ones():
    """An encoder's ``classes_`` (a NumPy array) was a TypeError; a list of lists reached
    Python's ``unhashable type`` error."""
    names = np.array(["cat", "dog", "fox"])
    np.testing.assert_array_equal(
        wxent.cost_matrix(names, costs={("dog", "fox"): 3.0}),
        wxent.cost_matrix(["cat", "dog", "fox"], costs={("dog", "fox"): 3.0}),
    )
    assert wxent.cost_matrix(np.array([3, 7]), costs={(7, 3): 2.0})[1, 0] == 2.0
    with pytest.raises(TypeError, match=_message("classes")):
        wxent.cost_matrix([["cat"], ["dog"]])
    with pytest.raises(TypeError, match=_message("classes")):
        wxent.cost_matrix(np.array([["cat"], ["dog"]]))


# ----------------------------------------------------------------------------- mixed frameworks

FOREIGN = {"numpy": "torch", "torch": "jax", "jax": "tf", "tf": "torch"}


def _expected_cost(logits, labels, costs):
    return wxent.expected_cost(logits, labels, costs)


@pytest.mark.parametrize("framework", ALL)
def test_metric_configuration_of_another_framework_is_moved_like_in_the_losses(framework):
    """A concrete ``threshold`` or ``costs`` of another framework was a TypeError in the
    metrics and the accumulator, while the losses, predict and bayes_decision moved it.
    (``sample_weight`` is data, like the labels: of the logits' framework.)"""
    x, y, z = _data(framework)
    other = FRAMEWORKS[FOREIGN[framework]]
    t = np.array([0.5, -0.25, 0.0])
    binary = np.array([[0.0, 1.0], [4.0, 0.0]])
    cases = [  # (function, data, configuration)
        (wxent.recall, (x, z), {"threshold": t}),
        (wxent.fbeta_score, (x[:, 0], z[:, 0]), {"threshold": 0.3}),
        (wxent.confusion_matrix, (x, y), {"costs": C3}),
        (lambda a, b, costs: wxent.expected_cost(a, b, costs), (x, y), {"costs": C3}),
        (
            lambda a, b, costs: wxent.expected_cost(a, b, costs),
            (x[:, 0], z[:, 0]),
            {"costs": binary},
        ),
    ]
    for f, data, options in cases:
        expected = np.asarray(f(*data, **options), dtype=np.float64)
        moved = {k: other(np.asarray(val)) for k, val in options.items()}
        np.testing.assert_allclose(np.asarray(f(*data, **moved), dtype=np.float64), expected)
    acc = wxent.MetricAccumulator(costs=other(C3)).update(x, y)
    assert float(acc.compute()["expected_cost"]) == pytest.approx(
        float(wxent.expected_cost(x, y, C3)), rel=1e-6
    )


def test_traced_configuration_of_another_framework_is_still_a_type_error():
    import jax

    x, _, z = _data("torch")
    with pytest.raises(TypeError, match=_message("threshold")):
        jax.jit(lambda t: wxent.precision(x, z, threshold=t))(jnp.zeros(3))


@pytest.mark.parametrize(
    "call",
    [wxent.precision, wxent.tune_thresholds, wxent.calibrate, wxent.softmax_cross_entropy],
    ids=["precision", "tune_thresholds", "calibrate", "softmax_cross_entropy"],
)
def test_one_logit_per_sample_with_flat_01_labels_names_the_binary_shape(call):
    """Dense(1) logits ``(N, 1)`` with ``(N,)`` 0/1 labels read as one class: the error said
    only "class indices in [0, 1)"; it now names the binary form."""
    x = np.random.default_rng(3).normal(size=(6, 1)).astype(np.float32)
    y = np.array([0, 1, 1, 0, 1, 0])
    with pytest.raises(ValueError, match=_message("labels")) as info:
        call(x, y)
    assert "binary (sigmoid) output" in str(info.value) and "(N, 1)" in str(info.value)


# ----------------------------------------------------------------------------- unknown classes


def test_per_class_vectors_apply_where_tf_function_leaves_the_classes_unknown():
    """predict's per-label threshold and a per-label Calibration refused logits of shape
    (None, None) ("Expected 3 labels ... Received (None, None)"), where bayes_decision and
    unweight_logits take the vector's length; with known classes a wrong length is an error."""
    x = np.random.default_rng(4).normal(size=(5, 3)).astype(np.float32)
    t = np.array([0.0, 1.0, -0.5])
    cal = wxent.Calibration("platt", np.array([2.0, 1.0, 0.5]), np.array([0.0, 1.0, 0.0]))
    spec = [tf.TensorSpec([None, None], tf.float32)]
    calls = {
        "threshold": (lambda a: wxent.predict(a, threshold=t), x > t),
        "offsets": (lambda a: wxent.predict(a, offsets=t), np.argmax(x + t, axis=-1)),
        "Calibration": (cal, x * cal.scale + cal.bias),
    }
    for f, expected in calls.values():
        out = tf.function(f, input_signature=spec)(tf.constant(x)).numpy()
        np.testing.assert_allclose(out, expected, rtol=1e-6)
    with pytest.raises(ValueError, match=_message("threshold")):
        wxent.predict(x[:, :2], threshold=t)
    with pytest.raises(ValueError, match=_message("logits")):
        cal(x[:, :2])
