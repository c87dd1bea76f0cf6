"""wxent.keras: each loss equals its function; configs round-trip; models save, load and fit
on the TensorFlow, JAX and PyTorch Keras backends (:data:`FIT_SCRIPT`, which
``tests/test_keras_training.py`` runs in its subprocess of each backend)."""

from __future__ import annotations

import inspect
import textwrap
import warnings
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf

import wxent
import wxent.keras as wk
from adapter_cases import CASES, COSTS, C, data, snake
from conftest import assert_close

LOSSES = [n for n in wk.__all__ if n in CASES]
METRICS = ("Recall", "Precision", "FBetaScore", "ExpectedCost")


def _data(family: str, shape: tuple[int, ...], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    return data(family, shape, -1, seed)


def _loss(cls_name: str, **extra: Any) -> wk.WxentLoss:
    _, args, options = CASES[cls_name]
    return getattr(wk, cls_name)(*args, **{**options, **extra})


def _function(name: str, logits: Any, labels: Any, **extra: Any) -> Any:
    _, args, options = CASES[name]
    return getattr(wxent, snake(name))(logits, labels, *args, **options, **extra)


def test_every_loss_class_is_written_out_over_its_function() -> None:
    assert sorted(LOSSES) == sorted(CASES)
    assert sorted(set(wk.__all__) - set(LOSSES)) == sorted([*METRICS, "LogitsWarning", "WxentLoss"])
    source = inspect.getsource(wk)
    for name in LOSSES:
        cls = getattr(wk, name)
        assert f"class {name}(WxentLoss):" in source and cls.__doc__
        assert cls.function is getattr(wxent, snake(name))
        params = inspect.signature(cls).parameters
        function_params = list(inspect.signature(cls.function).parameters)[2:]
        function_params.remove("sample_weight")
        function_params.remove("reduction")
        assert list(params) == [*function_params, "reduction", "name", "dtype"]
        assert params["class_axis"].default == -1
        assert params["reduction"].default == "sum_over_batch_size"


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("shape", [(6, C), (2, 4, C)], ids=["2d", "3d"])
def test_loss_equals_function(name: str, shape: tuple[int, ...]) -> None:
    family = CASES[name][0]
    logits, labels = _data(family, shape)
    loss = _loss(name)
    got = loss(tf.constant(labels), tf.constant(logits))
    assert_close(got, _function(name, logits, labels), rtol=1e-5, atol=1e-6)
    # per-sample Keras weights, broadcast over the remaining sample axes
    sw = np.random.default_rng(1).random(shape[0]).astype(np.float32)
    sample_shape = shape[:-1]
    full = np.broadcast_to(sw.reshape((-1,) + (1,) * (len(sample_shape) - 1)), sample_shape)
    got = loss(labels, logits, sample_weight=sw)
    assert_close(got, _function(name, logits, labels, sample_weight=full), rtol=1e-5, atol=1e-6)
    # gradients through Keras' call path
    x = tf.Variable(logits)
    with tf.GradientTape(persistent=True) as tape:
        ours = loss(labels, x)
        theirs = _function(name, x, tf.constant(labels))
    assert_close(tape.gradient(ours, x), tape.gradient(theirs, x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("reduction", "wxent_reduction"),
    [
        ("sum_over_batch_size", "mean"),
        ("mean", "mean"),
        ("sum", "sum"),
        (None, "none"),
        ("none", "none"),
        ("mean_with_sample_weight", "weighted_mean"),
        ("weighted_mean", "weighted_mean"),
    ],
)
def test_reductions_map_onto_wxent(reduction: str | None, wxent_reduction: str) -> None:
    logits, labels = _data("softmax", (7, C))
    loss = wk.SoftmaxCrossEntropy(class_weight=[1.0, 3.0, 0.5], reduction=reduction)
    got = loss(labels, logits)
    want = wxent.softmax_cross_entropy(
        logits, labels, class_weight=[1.0, 3.0, 0.5], reduction=wxent_reduction
    )
    assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert wk.SoftmaxCrossEntropy.from_config(loss.get_config()).get_config() == loss.get_config()


def test_default_equals_wxent_mean_with_ignored_labels() -> None:
    logits, labels = _data("sigmoid", (5, C))
    labels[0, 1] = -1.0
    labels[3, 2] = -1.0
    loss = wk.SigmoidCrossEntropy(pos_weight=2.0, ignore_label=-1.0)
    want = wxent.sigmoid_cross_entropy(logits, labels, pos_weight=2.0, ignore_label=-1.0)
    assert_close(loss(labels, logits), want, rtol=1e-6, atol=1e-7)
    # the mean divides by the 13 valid elements, not by 15
    total = wxent.sigmoid_cross_entropy(
        logits, labels, pos_weight=2.0, ignore_label=-1.0, reduction="sum"
    )
    assert_close(loss(labels, logits), float(total) / 13, rtol=1e-6, atol=1e-7)


def test_keras_mask_multiplies_the_weights() -> None:
    logits, labels = _data("softmax", (2, 4, C))
    mask = np.array([[True, True, False, False], [True, True, True, False]])
    x = tf.constant(logits)
    x._keras_mask = tf.constant(mask)
    got = wk.SoftmaxCrossEntropy(reduction="sum")(labels, x)
    want = wxent.softmax_cross_entropy(
        logits, labels, sample_weight=mask.astype(np.float32), reduction="sum"
    )
    assert_close(got, want, rtol=1e-6, atol=1e-6)


def test_float_and_trailing_axis_indices() -> None:
    logits, labels = _data("softmax", (6, C))
    loss = wk.SoftmaxCrossEntropy()
    want = wxent.softmax_cross_entropy(logits, labels)
    assert_close(loss(labels.astype(np.float32), logits), want, rtol=1e-6, atol=1e-7)
    assert_close(loss(labels[:, None], logits), want, rtol=1e-6, atol=1e-7)
    one_hot = np.eye(C, dtype=np.float32)[labels]
    assert_close(loss(one_hot, logits), want, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", LOSSES)
def test_get_config_round_trip(name: str) -> None:
    loss = _loss(name, reduction="sum", name="my_loss")
    config = loss.get_config()
    assert config["name"] == "my_loss" and config["reduction"] == "sum"
    clone = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(clone) is type(loss)
    assert clone.get_config() == config
    logits, labels = _data(CASES[name][0], (4, C))
    assert_close(clone(labels, logits), loss(labels, logits), rtol=1e-6, atol=1e-7)


def test_loss_errors() -> None:
    with pytest.raises(
        ValueError, match=r"Invalid value for argument `reduction`. Expected one of"
    ):
        wk.SigmoidCrossEntropy(reduction="average")
    with pytest.raises(TypeError, match=r"SigmoidCrossEntropy.__init__\(\) got an unexpected"):
        wk.SigmoidCrossEntropy(class_weight=[1.0])
    with pytest.raises(ValueError, match=r"Invalid value for argument `pos_weight`. Expected"):
        wk.SigmoidCrossEntropy(pos_weight=[1.0, -1.0])
    with pytest.raises(
        TypeError, match=r"Invalid type for argument `pos_weight`. Expected numbers"
    ):
        wk.SigmoidCrossEntropy(pos_weight=np.array(["a"]))
    with pytest.raises(TypeError, match=r"Invalid type for argument `class_axis`. Expected an int"):
        wk.SoftmaxCrossEntropy(class_axis="last")
    with pytest.raises(ValueError, match=r"Invalid value for argument `gamma`. Expected a finite"):
        wk.SoftmaxFocalLoss(gamma=-1.0)
    with pytest.raises(ValueError, match=r"argument `label_smoothing`. Expected a float in"):
        wk.SigmoidCrossEntropy(label_smoothing=2.0)
    with pytest.raises(ValueError, match=r"Invalid value for argument `costs`. Expected a square"):
        wk.ExpectedCostLoss([[0.0, 1.0, 2.0]])


def test_dense1_binary_logits_take_1d_labels() -> None:
    rng = np.random.default_rng(9)
    logits = rng.normal(size=(8, 1)).astype(np.float32)
    labels = (rng.random(8) < 0.4).astype(np.float32)
    sw = rng.random(8).astype(np.float32)
    for name in ("SigmoidCrossEntropy", "SigmoidFocalLoss", "AsymmetricLoss"):
        loss = getattr(wk, name)(pos_weight=3.0)
        function = getattr(wxent, snake(name))
        want = function(logits[:, 0], labels, pos_weight=3.0, sample_weight=sw)
        assert_close(loss(labels, logits, sample_weight=sw), want, rtol=1e-6, atol=1e-7)
        assert_close(
            loss(labels[:, None], logits[:, 0]),
            function(logits[:, 0], labels, pos_weight=3.0),
            rtol=1e-6,
            atol=1e-7,
        )
    # the peer: Keras' own binary cross-entropy takes the same set-up
    peer = keras.losses.BinaryCrossentropy(from_logits=True)(labels, logits)
    assert_close(wk.SigmoidCrossEntropy()(labels, logits), peer, rtol=1e-6, atol=1e-7)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss=wk.SigmoidCrossEntropy(pos_weight=2.0))
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    z = model.predict(x, verbose=0)
    want = wxent.sigmoid_cross_entropy(z[:, 0], y, pos_weight=2.0)
    assert_close(model.evaluate(x, y, verbose=0), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bad", [0.5, 1.7, float("nan")])
def test_non_integral_float_indices_raise(bad: float) -> None:
    logits, labels = _data("softmax", (4, C))
    floats = labels.astype(np.float32)
    floats[2] = bad
    for name in ("SoftmaxCrossEntropy", "ExpectedCostLoss"):
        with pytest.raises(
            ValueError,
            match=r"Invalid value for argument `y_true`. Expected class indices: whole numbers "
            r"when given as floats. Received: label value",
        ):
            _loss(name)(floats, logits)
    # validate=False reads nothing: the index is truncated as Keras' sparse losses do
    if bad != bad:  # NaN: no index at all
        return
    got = wk.SoftmaxCrossEntropy(validate=False)(floats, logits)
    labels[2] = int(bad)
    assert_close(got, wxent.softmax_cross_entropy(logits, labels), rtol=1e-6, atol=1e-7)


def test_logits_warning_for_activation_outputs() -> None:
    rng = np.random.default_rng(10)
    x = rng.normal(size=(32, 4)).astype(np.float32)
    y = rng.integers(0, C, size=32)
    for activation, loss, target in [
        ("softmax", wk.SoftmaxCrossEntropy(class_weight=[1.0, 2.0, 1.0]), y),
        ("sigmoid", wk.SigmoidCrossEntropy(), np.eye(C, dtype=np.float32)[y]),
    ]:
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(C, activation=activation)])
        model.compile(optimizer="adam", loss=loss)
        with pytest.warns(wk.LogitsWarning) as record:
            model.fit(x, target, epochs=2, batch_size=8, verbose=0)
        messages = [str(w.message) for w in record if w.category is wk.LogitsWarning]
        assert len(messages) == 1, messages  # once per loss, not per step
        assert type(loss).__name__ in messages[0] and "logits" in messages[0]
    # eager outputs of the activations are marked as well
    probs = keras.activations.softmax(tf.constant(x[:, :C]))
    with pytest.warns(wk.LogitsWarning, match=r"`SoftmaxFocalLoss` received the output"):
        wk.SoftmaxFocalLoss()(y, probs)


def test_logits_warning_from_values_once_per_loss() -> None:
    """Unmarked probabilities (NumPy, or any eager tensor): wxent's value check warns."""
    rng = np.random.default_rng(12)
    x = rng.normal(size=(32, C)).astype(np.float32)
    probs = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    y = rng.integers(0, C, size=32)
    loss = wk.SoftmaxFocalLoss(gamma=2.0)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for _ in range(3):
            loss(y, probs)
        loss.call(y, probs)
    found = [str(w.message) for w in record if w.category is wxent.LogitsWarning]
    assert found == [
        "`SoftmaxFocalLoss` received predictions that look like the output of a softmax "
        "activation: probabilities, not logits. wxent losses take logits: drop the activation "
        "of the last layer and apply it when predicting."
    ]
    assert wk.LogitsWarning is wxent.LogitsWarning
    with warnings.catch_warnings():
        warnings.simplefilter("error", wxent.LogitsWarning)
        wk.SoftmaxFocalLoss(validate=False)(y, probs)
        wk.SoftmaxFocalLoss()(y, x)


def test_no_logits_warning_for_logits(recwarn: pytest.WarningsRecorder) -> None:
    rng = np.random.default_rng(11)
    x = rng.normal(size=(32, 4)).astype(np.float32)
    y = rng.integers(0, C, size=32)
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, activation="sigmoid")(inputs)  # not the output
    model = keras.Model(inputs, keras.layers.Dense(C)(hidden))
    model.compile(optimizer="adam", loss=wk.SoftmaxCrossEntropy())
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert not [w for w in recwarn if w.category is wk.LogitsWarning]


def test_sequence_model_fits_on_batches_of_varying_shape() -> None:
    """(B, T, C) logits: tf.function retraces with unknown B and T, as for Keras' own loss."""
    rng = np.random.default_rng(13)
    batches = [
        (
            rng.normal(size=(b, t, 4)).astype(np.float32),
            rng.integers(0, C, size=(b, t)),
            rng.random(b).astype(np.float32),
        )
        for b, t in [(4, 5), (3, 7), (5, 2), (2, 9), (4, 5), (6, 3)]
    ]

    def stream() -> Any:
        while True:
            yield from batches

    options: dict[str, Any] = {"class_weight": [1.0, 2.0, 3.0], "label_smoothing": 0.1}
    for name in ("SoftmaxCrossEntropy", "SoftmaxFocalLoss"):
        inputs = keras.Input((None, 4))
        model = keras.Model(inputs, keras.layers.Dense(C)(inputs))
        model.compile(optimizer="adam", loss=getattr(wk, name)(**options))
        history = model.fit(
            stream(), epochs=2, steps_per_epoch=len(batches), shuffle=False, verbose=0
        )
        assert np.isfinite(history.history["loss"]).all()
        for x, y, sw in batches[:3]:
            z = model.predict_on_batch(x)
            got = model.evaluate(x, y, sample_weight=sw, verbose=0)
            full = np.broadcast_to(sw[:, None], y.shape)
            want = getattr(wxent, snake(name))(z, y, sample_weight=full, **options)
            assert_close(got, want, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- metrics


def _counts(labels: np.ndarray, logits: np.ndarray, threshold: float, axis: int = 0) -> Any:
    valid = (labels >= 0) & (labels <= 1)
    pos = (labels >= 0.5) & valid
    neg = valid & ~pos
    pred = logits > threshold
    return ((pred & pos).sum(axis), (pred & neg).sum(axis), (~pred & pos).sum(axis))


def test_confusion_metrics_match_counts() -> None:
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(40, 4)).astype(np.float32)
    labels = (rng.random((40, 4)) < 0.4).astype(np.float32)
    labels[0, 0] = -1.0  # unknown: ignored
    unknown = {"ignore_label": -1.0}
    metrics = {
        "recall": wk.Recall(**unknown),
        "precision": wk.Precision(threshold=0.5, **unknown),
        "f2": wk.FBetaScore(beta=2.0, **unknown),
        "recall_per_label": wk.Recall(average=None, num_classes=4, **unknown),
        "precision_macro": wk.Precision(average="macro", num_classes=4, **unknown),
        "recall_prob": wk.Recall(from_logits=False, **unknown),
    }
    probs = 1 / (1 + np.exp(-logits))
    for key, m in metrics.items():
        y_pred = probs if key == "recall_prob" else logits
        m.update_state(labels[:20], y_pred[:20])
        m.update_state(labels[20:], y_pred[20:])
    tp, fp, fn = _counts(labels, logits, 0.0, axis=None)
    assert_close(metrics["recall"].result(), tp / (tp + fn))
    tp5, fp5, _ = _counts(labels, logits, 0.5, axis=None)
    assert_close(metrics["precision"].result(), tp5 / (tp5 + fp5))
    assert_close(metrics["f2"].result(), 5 * tp / (5 * tp + 4 * fn + fp))
    tpc, fpc, fnc = _counts(labels, logits, 0.0)
    assert_close(metrics["recall_per_label"].result(), tpc / (tpc + fnc))
    assert_close(metrics["precision_macro"].result(), np.mean(tpc / (tpc + fpc)))
    tpp, _, fnp = _counts(labels, probs, 0.5, axis=None)
    assert_close(metrics["recall_prob"].result(), tpp / (tpp + fnp))
    assert_close(metrics["recall_prob"].result(), metrics["recall"].result())
    for m in metrics.values():
        m.reset_state()
        assert float(np.sum(np.asarray(m.result()))) == 0.0
    # without ignore_label an unknown label is an error, as in wxent.recall
    with pytest.raises(ValueError, match=r"Invalid value for argument `y_true`. Expected 0/1"):
        wk.Recall().update_state(labels, logits)
    # inside a compiled step it cannot raise: the element counts nowhere
    compiled = wk.Recall()
    tf.function(compiled.update_state)(tf.constant(labels), tf.constant(logits))
    assert_close(compiled.result(), tp / (tp + fn))


def test_metrics_equal_wxent_decision_functions() -> None:
    rng = np.random.default_rng(6)
    logits = rng.normal(size=(50, 5)).astype(np.float32)
    labels = (rng.random((50, 5)) < 0.3).astype(np.float32)
    for metric, function in [
        (wk.Recall(threshold=0.3), wxent.recall),
        (wk.Precision(threshold=0.3), wxent.precision),
        (wk.FBetaScore(beta=2.0, threshold=0.3), wxent.fbeta_score),
    ]:
        metric.update_state(labels, logits)
        kwargs = {"beta": 2.0} if isinstance(metric, wk.FBetaScore) else {}
        assert_close(metric.result(), function(logits, labels, threshold=0.3, **kwargs))
    for average in ("macro", None):
        metric = wk.Recall(average=average, num_classes=5)
        metric.update_state(labels, logits)
        assert_close(metric.result(), wxent.recall(logits, labels, average=average))
    classes = rng.integers(0, 5, size=50)
    costs = rng.random((5, 5)) * (1 - np.eye(5))
    metric = wk.ExpectedCost(costs)
    metric.update_state(classes, logits)
    assert_close(metric.result(), wxent.expected_cost(logits, classes, costs), rtol=1e-5)


def test_multi_output_and_3d_targets_fit() -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(32, 6, 4)).astype(np.float32)
    tags = (rng.random((32, 6, 3)) < 0.1).astype(np.float32)  # (B, T, L) multi-label
    kind = rng.integers(0, 3, size=(32,))
    inputs = keras.Input((6, 4))
    per_step = keras.layers.Dense(3, name="tags")(inputs)
    pooled = keras.layers.Dense(3, name="kind")(keras.layers.GlobalAveragePooling1D()(inputs))
    model = keras.Model(inputs, {"tags": per_step, "kind": pooled})
    model.compile(
        optimizer="adam",
        loss={
            "tags": wk.SigmoidCrossEntropy(pos_weight=[9.0, 9.0, 9.0]),
            "kind": wk.SoftmaxCrossEntropy(class_weight=[1.0, 2.0, 3.0]),
        },
    )
    model.fit(x, {"tags": tags, "kind": kind}, epochs=1, batch_size=16, verbose=0)
    result = model.evaluate(x, {"tags": tags, "kind": kind}, verbose=0, return_dict=True)
    out = model.predict(x, verbose=0)
    want_tags = wxent.sigmoid_cross_entropy(out["tags"], tags, pos_weight=9.0)
    want_kind = wxent.softmax_cross_entropy(out["kind"], kind, class_weight=[1.0, 2.0, 3.0])
    assert_close(result["loss"], float(want_tags) + float(want_kind), rtol=1e-4, atol=1e-5)


def test_streamed_metrics_equal_wxent_with_weights_and_absent_classes() -> None:
    rng = np.random.default_rng(14)
    logits = rng.normal(size=(30, 4)).astype(np.float32)
    labels = (rng.random((30, 4)) < 0.4).astype(np.float32)
    labels[:, 3], logits[:, 3] = 0.0, -5.0  # a label never present nor predicted
    sw = rng.random(30).astype(np.float32)
    cases = [
        (wk.Recall(average="macro", num_classes=4), wxent.recall, {"average": "macro"}),
        (wk.Precision(average=None, num_classes=4), wxent.precision, {"average": None}),
        (
            wk.FBetaScore(beta=0.5, threshold=0.2),
            wxent.fbeta_score,
            {"beta": 0.5, "threshold": 0.2},
        ),
    ]
    for metric, function, options in cases:
        metric.update_state(labels[:12], logits[:12], sample_weight=sw[:12])
        metric.update_state(labels[12:], logits[12:], sample_weight=sw[12:])
        want = function(logits, labels, sample_weight=sw, **options)
        assert_close(metric.result(), want, rtol=1e-6, atol=1e-7)
    classes = rng.integers(0, 4, size=30)
    costs = rng.random((4, 4)) * (1 - np.eye(4))
    metric = wk.ExpectedCost(costs)
    metric.update_state(classes[:12], logits[:12], sample_weight=sw[:12])
    metric.update_state(classes[12:], logits[12:], sample_weight=sw[12:])
    want = wxent.expected_cost(logits, classes, costs, sample_weight=sw)
    assert_close(metric.result(), want, rtol=1e-5, atol=1e-6)


def test_confusion_metric_sample_weight() -> None:
    labels = np.array([[1.0, 1.0], [1.0, 0.0]], dtype=np.float32)
    logits = np.array([[1.0, -1.0], [-1.0, 1.0]], dtype=np.float32)
    m = wk.Recall()
    m.update_state(labels, logits, sample_weight=np.array([3.0, 1.0]))
    assert_close(m.result(), 3.0 / 7.0)  # tp = 3, fn = 3 + 1


def test_expected_cost_metric() -> None:
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(30, C)).astype(np.float32)
    labels = rng.integers(0, C, size=30)
    costs = np.array(COSTS) * np.array([[1.0], [3.0], [1.0]])
    m = wk.ExpectedCost(costs)
    m.update_state(labels[:10], logits[:10])
    m.update_state(np.eye(C, dtype=np.float32)[labels[10:]], logits[10:])
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    decision = np.argmin(p @ costs, axis=-1)
    assert_close(m.result(), costs[labels, decision].mean(), rtol=1e-6)
    # the Bayes decision is never worse on average than argmax under the model
    m.reset_state()
    assert float(m.result()) == 0.0
    m.update_state(labels[:, None], logits, sample_weight=np.arange(30.0))
    w = np.arange(30.0)
    assert_close(m.result(), (w * costs[labels, decision]).sum() / w.sum(), rtol=1e-6)
    probs = wk.ExpectedCost(costs, from_logits=False)  # the same decisions from probabilities
    probs.update_state(labels[:, None], p.astype(np.float32), sample_weight=np.arange(30.0))
    assert_close(probs.result(), m.result(), rtol=1e-6)


def test_expected_cost_metric_checks_labels() -> None:
    costs = 1 - np.eye(3)
    logits = np.zeros((2, 3), dtype=np.float32)
    for labels, message in [
        ([0, -1], r"Expected class indices in \[0, 3\). Received: label value -1"),
        ([0, 5], r"Expected class indices in \[0, 3\). Received: label value 5"),
        ([0.0, 1.5], r"Expected class indices: whole numbers when given as floats"),
    ]:
        m = wk.ExpectedCost(costs)
        with pytest.raises(ValueError, match=r"Invalid value for argument `y_true`. " + message):
            m.update_state(np.array(labels), logits)
        assert float(m.count) == 0.0  # nothing was counted
    # inside a compiled step nothing can be read: the bad samples leave the mean
    rng = np.random.default_rng(12)
    logits = rng.normal(size=(10, 3)).astype(np.float32)
    labels = rng.integers(0, 3, size=10)
    bad = labels.copy()
    bad[[1, 4, 7]] = [-1, 3, 100]
    m = wk.ExpectedCost(costs)
    tf.function(m.update_state)(tf.constant(bad), tf.constant(logits))
    keep = np.ones(10, dtype=bool)
    keep[[1, 4, 7]] = False
    assert float(m.count) == 7.0
    assert_close(m.result(), wxent.expected_cost(logits[keep], labels[keep], costs), rtol=1e-6)


def test_metric_configs_round_trip() -> None:
    metrics = [
        wk.Recall(threshold=1.0, name="r"),
        wk.Precision(from_logits=False),
        wk.FBetaScore(beta=0.5, average="macro", num_classes=3),
        wk.ExpectedCost(COSTS, from_logits=False),
    ]
    for m in metrics:
        clone = keras.metrics.deserialize(keras.metrics.serialize(m))
        assert type(clone) is type(m)
        assert clone.get_config() == m.get_config()


def test_metric_errors() -> None:
    with pytest.raises(ValueError, match=r"Invalid value for argument `average`. Expected one of"):
        wk.Recall(average="weighted")
    with pytest.raises(ValueError, match=r"Invalid value for argument `num_classes`. Expected the"):
        wk.Recall(average=None)
    with pytest.raises(ValueError, match=r"Invalid value for argument `num_classes`. Expected a"):
        wk.Recall(num_classes=0)
    with pytest.raises(
        TypeError, match=r"Invalid type for argument `from_logits`. Expected a bool"
    ):
        wk.Precision(from_logits="yes")
    for threshold in ("0.5", b"0.5", True, None, [0.1, "a"]):
        if threshold is None:
            continue
        with pytest.raises(
            TypeError, match=r"Invalid type for argument `threshold`. Expected a logit"
        ):
            wk.Precision(threshold=threshold)
    with pytest.raises(ValueError, match=r"Invalid value for argument `threshold`. Expected a sc"):
        wk.Recall(threshold=[0.1, 0.2], num_classes=3, average=None)
    with pytest.raises(ValueError, match=r"Invalid value for argument `threshold`. Expected a pro"):
        wk.Recall(threshold=1.5, from_logits=False)
    with pytest.raises(ValueError, match=r"Invalid value for argument `beta`. Expected a finite"):
        wk.FBetaScore(beta=-1.0)
    with pytest.raises(TypeError, match=r"Invalid type for argument `class_axis`. Expected an int"):
        wk.Recall(class_axis=1.0)
    with pytest.raises(ValueError, match=r"Invalid value for argument `costs`. Expected a square"):
        wk.ExpectedCost([1.0, 2.0])
    with pytest.raises(ValueError, match=r"Invalid value for argument `costs`. Expected finite"):
        wk.ExpectedCost([[0.0, -1.0], [1.0, 0.0]])
    m = wk.ExpectedCost(COSTS)
    with pytest.raises(
        ValueError, match=r"Invalid value for argument `y_pred`. Expected 3 classes"
    ):
        m.update_state(np.array([0]), np.zeros((1, 2), dtype=np.float32))


def test_metric_thresholds_as_wxent_takes_them() -> None:
    rng = np.random.default_rng(8)
    logits = rng.normal(size=(40, 3)).astype(np.float32)
    labels = (rng.random((40, 3)) < 0.4).astype(np.float32)
    per_label = [-0.5, 0.0, 1.0]
    for threshold in (per_label, float("inf"), float("-inf")):  # cost_threshold gives +-inf
        metric = wk.FBetaScore(threshold=threshold, average=None, num_classes=3)
        metric.update_state(labels, logits)
        want = wxent.fbeta_score(logits, labels, threshold=threshold, average=None)
        assert_close(metric.result(), want)
        clone = keras.metrics.deserialize(keras.metrics.serialize(metric))
        assert clone.get_config() == metric.get_config()
    # probabilities: the same decisions with the threshold as a probability
    probs = 1 / (1 + np.exp(-logits.astype(np.float64)))
    metric = wk.Recall(threshold=0.7, from_logits=False)
    metric.update_state(labels, probs)
    assert_close(metric.result(), wxent.recall(logits, labels, threshold=np.log(0.7 / 0.3)))


def test_metric_takes_per_label_thresholds_of_any_kind() -> None:
    import jax.numpy as jnp
    import torch
    from sklearn import metrics as skm

    rng = np.random.default_rng(9)
    logits = rng.normal(size=(64, 3)).astype(np.float32)
    labels = (rng.random((64, 3)) < 0.3).astype(np.float32)
    tuned = wxent.tune_thresholds(logits, labels, objective="f1")  # NumPy, one per label
    decided = (logits > tuned).astype(int)
    kinds = [
        tuned,
        tuned.tolist(),
        tf.constant(tuned, dtype=tf.float32),
        torch.tensor(tuned, requires_grad=True),
        jnp.asarray(tuned),
        keras.Variable(tuned),
    ]
    for threshold in kinds:
        for cls, average, want in [
            (wk.Recall, "micro", skm.recall_score(labels, decided, average="micro")),
            (wk.Precision, "macro", skm.precision_score(labels, decided, average="macro")),
            (wk.FBetaScore, None, skm.f1_score(labels, decided, average=None)),
        ]:
            metric = cls(threshold=threshold, average=average, num_classes=3)
            metric.update_state(labels[:40], logits[:40])
            metric.update_state(labels[40:], logits[40:])
            assert_close(metric.result(), want, rtol=1e-6, atol=1e-7)
            function = {wk.Recall: wxent.recall, wk.Precision: wxent.precision}.get(
                cls, wxent.fbeta_score
            )
            assert_close(
                metric.result(), function(logits, labels, threshold=tuned, average=average)
            )
            config = metric.get_config()
            assert isinstance(config["threshold"], list) and len(config["threshold"]) == 3
            clone = keras.metrics.deserialize(keras.metrics.serialize(metric))
            assert clone.get_config() == config
    # per-label probabilities with from_logits=False
    probs = 1 / (1 + np.exp(-logits.astype(np.float64)))
    metric = wk.Recall(threshold=np.array([0.2, 0.5, 0.7]), from_logits=False)
    metric.update_state(labels, probs)
    want = skm.recall_score(labels, (probs > [0.2, 0.5, 0.7]).astype(int), average="micro")
    assert_close(metric.result(), want, rtol=1e-6)
    # the length is checked against each batch's labels, eagerly and when traced
    message = (
        r"Invalid value for argument `threshold`. Expected a scalar logit or one per "
        r"label, shape \(2,\) along class_axis. Received: threshold of shape \(3,\)"
    )
    metric = wk.FBetaScore(threshold=tuned)
    with pytest.raises(ValueError, match=message):
        metric.update_state(labels[:, :2], logits[:, :2])
    with pytest.raises(ValueError, match=message):
        tf.function(metric.update_state)(tf.constant(labels[:, :2]), tf.constant(logits[:, :2]))
    assert float(ops_sum(metric.confusion)) == 0.0  # nothing was counted
    with pytest.raises(ValueError, match=r"Invalid value for argument `threshold`"):
        wk.Recall(threshold=[[0.0, 1.0]])


def ops_sum(x: Any) -> Any:
    return keras.ops.convert_to_numpy(keras.ops.sum(x))


def test_saved_model_with_wxent_loss_and_metric_loads(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = (x[:, :3] + rng.normal(size=(64, 3)) > 1.0).astype(np.float32)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)]
    )
    model.compile(
        optimizer="adam",
        loss=wk.SigmoidCrossEntropy(pos_weight=[2.0, 3.0, 4.0]),
        metrics=[wk.Recall(), wk.FBetaScore(beta=2.0)],
    )
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.loss, wk.SigmoidCrossEntropy)
    assert loaded.loss.get_config() == model.loss.get_config()
    assert_close(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    before = model.evaluate(x, y, verbose=0, return_dict=True)
    after = loaded.evaluate(x, y, verbose=0, return_dict=True)
    assert set(after) == set(before) == {"loss", "recall", "fbeta_score"}
    for key in before:
        assert_close(after[key], before[key], rtol=1e-5, atol=1e-6)
    logits = model.predict(x, verbose=0)
    assert_close(
        before["loss"],
        wxent.sigmoid_cross_entropy(logits, y, pos_weight=[2, 3, 4]),
        rtol=1e-4,
        atol=1e-5,
    )


# Models fit, save and load on each Keras backend: run by tests/test_keras_training.py in
# its process of each backend (a process per backend and file took seconds of imports).
FIT_SCRIPT = textwrap.dedent(
    """
    import warnings
    import keras, numpy as np, wxent, wxent.keras as wk
    assert keras.backend.backend() == BACKEND, keras.backend.backend()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 4)).astype("float32")
    y = (x[:, :3] + rng.normal(size=(96, 3)) > 1.2).astype("float32")
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    m.compile(optimizer=keras.optimizers.Adam(0.05),
              loss=wk.SigmoidCrossEntropy(pos_weight=[3.0, 3.0, 3.0]),
              metrics=[wk.Recall(from_logits=True), wk.Precision()])
    hist = m.fit(x, y, epochs=3, batch_size=32, verbose=0).history
    assert hist["loss"][-1] < hist["loss"][0], hist
    res = m.evaluate(x, y, verbose=0, return_dict=True)
    z = keras.ops.convert_to_numpy(m.predict(x, verbose=0))
    want = float(wxent.sigmoid_cross_entropy(z, y, pos_weight=3.0))
    assert abs(res["loss"] - want) < 1e-4 * max(1.0, want), (res, want)
    pred, pos = z > 0, y > 0.5
    assert abs(res["recall"] - (pred & pos).sum() / pos.sum()) < 1e-6, res
    # multi-class with a cost matrix: softmax loss on integer targets, ExpectedCost metric
    costs = [[0, 1, 1], [1, 0, 1.2], [1, 1, 0]]
    labels = np.argmax(x[:, :3], axis=1)
    s = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    s.compile(optimizer="adam", loss=wk.SoftmaxCrossEntropy(class_weight=[1.0, 2.0, 1.0]),
              metrics=[wk.ExpectedCost(costs)])
    s.fit(x, labels, epochs=1, batch_size=32, verbose=0)
    r = s.evaluate(x, labels, verbose=0, return_dict=True)
    z = keras.ops.convert_to_numpy(s.predict(x, verbose=0))
    p = np.exp(z - z.max(1, keepdims=True)); p /= p.sum(1, keepdims=True)
    cost = np.asarray(costs)[labels, np.argmin(p @ np.asarray(costs), 1)].mean()
    assert abs(r["expected_cost"] - cost) < 1e-5, (r, cost)
    want = float(wxent.softmax_cross_entropy(z, labels, class_weight=[1.0, 2.0, 1.0]))
    assert abs(r["loss"] - want) < 1e-4 * max(1.0, want), (r, want)
    # bad labels for ExpectedCost: eager calls raise wxent's error; compiled steps leave
    # the sample out (PyTorch's evaluate runs eagerly: it raises)
    for bad in ([0, -1], [0, 5], [0.0, 1.5]):
        try:
            wk.ExpectedCost(costs).update_state(np.array(bad), np.zeros((2, 3), "float32"))
        except ValueError as error:
            assert "Invalid value for argument `y_true`" in str(error), error
        else:
            raise AssertionError(bad)
    wrong = labels.copy()
    wrong[:4] = [-1, 3, 7, -5]
    e = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    e.set_weights(s.get_weights())
    zero = lambda y_true, y_pred: keras.ops.sum(y_pred) * 0.0  # only the metric reads labels
    e.compile(loss=zero, metrics=[wk.ExpectedCost(costs)])
    try:
        r = e.evaluate(x, wrong, verbose=0, return_dict=True)
        assert BACKEND != "torch", r
        cost = np.asarray(costs)[labels[4:], np.argmin(p[4:] @ np.asarray(costs), 1)].mean()
        assert abs(r["expected_cost"] - cost) < 1e-5, (r, cost)
    except ValueError as error:
        assert BACKEND == "torch" and "class indices in [0, 3)" in str(error), error
    try:  # non-integral float class indices: an error where values can be read
        s.loss(np.array([0.5, 1.0]), z[:2])
    except ValueError as error:
        assert "whole numbers" in str(error), error
    else:
        raise AssertionError("0.5 taken as a class index")
    # the standard binary set-up: Dense(1) logits, (B,) labels
    b = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    b.compile(optimizer="adam", loss=wk.SigmoidCrossEntropy(pos_weight=2.0))
    b.fit(x, y[:, 0], epochs=1, batch_size=32, verbose=0)
    zb = keras.ops.convert_to_numpy(b.predict(x, verbose=0))
    want = float(wxent.sigmoid_cross_entropy(zb[:, 0], y[:, 0], pos_weight=2.0))
    got = b.evaluate(x, y[:, 0], verbose=0)
    assert abs(got - want) < 1e-4 * max(1.0, want), (got, want)
    # probabilities in: Keras marks activation outputs on TensorFlow and PyTorch, not JAX
    a = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    a.compile(optimizer="adam", loss=wk.SoftmaxCrossEntropy())
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        a.fit(x, labels, epochs=2, batch_size=32, verbose=0)
    found = [str(w.message) for w in record if w.category is wk.LogitsWarning]
    assert len(found) == (0 if BACKEND == "jax" else 1), found
    # per-label thresholds tuned on the model's logits, given as a backend tensor
    from sklearn import metrics as skm
    z = keras.ops.convert_to_numpy(m.predict(x, verbose=0))  # the multi-label model
    tuned = wxent.tune_thresholds(z, y, objective="f1")
    for threshold in (keras.ops.convert_to_tensor(tuned), tuned.tolist()):
        metrics = [wk.Recall(threshold=threshold, average="macro", num_classes=3),
                   wk.FBetaScore(threshold=threshold, average=None, num_classes=3)]
        m.compile(optimizer="adam", loss=wk.SigmoidCrossEntropy(), metrics=metrics)
        r = m.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
        decided = (z > tuned).astype(int)
        want = skm.recall_score(y, decided, average="macro")
        assert abs(r["recall"] - want) < 1e-6, (r, want)
        assert abs(r["recall"] - float(wxent.recall(z, y, threshold=tuned, average="macro"))) < 1e-6
        f1 = keras.ops.convert_to_numpy(metrics[1].result())
        assert np.allclose(f1, skm.f1_score(y, decided, average=None), atol=1e-6), f1
        config = metrics[1].get_config()
        assert config["threshold"] == [float(t) for t in tuned], config
        clone = keras.metrics.deserialize(keras.metrics.serialize(metrics[1]))
        assert clone.get_config() == config
    try:
        wk.Recall(threshold=tuned).update_state(y[:, :2], z[:, :2])
    except ValueError as error:
        assert "Expected a scalar logit or one per label, shape (2,)" in str(error), error
    else:
        raise AssertionError("a threshold per label of the wrong length was taken")
    # eager calls on unmarked probabilities: wxent's value check, once per loss
    loss = wk.SigmoidCrossEntropy()
    probs = (1 / (1 + np.exp(-x[:, :3]))).astype("float32")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        loss(y, probs)
        loss(y, keras.ops.convert_to_tensor(probs))
        wk.SigmoidCrossEntropy(validate=False)(y, probs)
        loss(y, x[:, :3])
    found = [str(w.message) for w in record if w.category is wk.LogitsWarning]
    assert len(found) == 1 and "look like the output of a sigmoid" in found[0], found
    # errors name the arrays as Keras passes them: y_pred, y_true
    for metric in (wk.Recall(from_logits=False), wk.ExpectedCost(costs, from_logits=False)):
        y_bad = keras.ops.convert_to_tensor(np.array([[0.2, 1.5, 0.1]], "float32"))
        try:
            metric.update_state(np.array([[0.0, 1.0, 0.0]]) if metric.name == "recall" else
                                np.array([1]), y_bad)
        except ValueError as error:
            assert "argument `y_pred`. Expected probabilities in [0, 1]" in str(error), error
        else:
            raise AssertionError("probabilities outside [0, 1] were taken")
    try:
        wk.SoftmaxCrossEntropy()(np.array([0, 4]), np.zeros((2, 3), "float32"))
    except ValueError as error:
        assert "argument `y_true`. Expected class indices in [0, 3)" in str(error), error
    else:
        raise AssertionError("class index 4 of 3 was taken")
    """
)
