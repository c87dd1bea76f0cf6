"""wxent.keras as Keras 3 trains with it: mixed precision, data parallelism, fit's options.

Each backend runs :data:`TRAINING` in a subprocess (``KERAS_BACKEND`` is read at import;
JAX sees two host CPU devices for ``keras.distribution.DataParallel``): every loss under
the ``mixed_float16`` and ``mixed_bfloat16`` policies against the float32 model and Keras'
own losses, ``fit(class_weight=...)`` with wxent's ``class_weight``, ``tf.data`` sample
weights, partial last batches with ``steps_per_execution``, and the ``LogitsWarning`` of a
softmax last layer under ``jit_compile=True``. The metrics' dtypes and the value check of
widened 16-bit predictions run in-process on TensorFlow.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import wxent
import wxent.keras as wk
from adapter_cases import CASES, COSTS
from conftest import assert_close
from test_adversarial_36_keras_metric_attributes import ATTRIBUTES
from test_keras_adapter import FIT_SCRIPT
from test_keras_adversarial import JAX_MASK, TF_REPLICAS
from test_keras_precision import SCRIPT as PAST_2_24

SRC = str(Path(__file__).resolve().parents[1] / "src")
TESTS = str(Path(__file__).resolve().parent)


def _run(backend: str, scripts: dict[str, str]) -> None:
    """Run each of ``scripts`` (by name) in one process of the Keras ``backend``.

    Each script runs in a namespace of its own, ``BACKEND`` set; the process prints ``OK``.
    """
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"  # JAX: two CPU devices
    env["PYTHONPATH"] = os.pathsep.join([SRC, TESTS, env.get("PYTHONPATH", "")])
    sources = {name: textwrap.dedent(script) for name, script in scripts.items()}
    program = (
        f"BACKEND = {backend!r}\n"
        f"for name, source in {sources!r}.items():\n"
        "    exec(compile(source, name, 'exec'), {'BACKEND': BACKEND, '__name__': '__main__'})\n"
        "print('OK', BACKEND)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", program],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"OK {backend}" in proc.stdout, proc.stdout[-3000:]


@pytest.mark.parametrize("dtype", ["mixed_float16", "float16", "mixed_bfloat16", "bfloat16"])
def test_metric_counts_stay_float32_under_a_16_bit_dtype(dtype: str) -> None:
    # counts cast to the 16-bit compute dtype per batch: 3747 true positives became 3744
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3000, 3)).astype(np.float32)
    tags = (rng.random((3000, 3)) < 0.5).astype(np.float32)
    classes = rng.integers(0, 3, size=3000)
    weight = rng.random(3000).astype(np.float32) * 3.0
    recall = wk.Recall(dtype=dtype)
    precision = wk.Precision(dtype=dtype, num_classes=3, average=None)
    cost = wk.ExpectedCost(COSTS, dtype=dtype)
    for _ in range(2):
        recall.update_state(tags, logits)
        precision.update_state(tags, logits, sample_weight=weight)
        cost.update_state(classes, logits, sample_weight=weight)
    for metric in (recall, precision, cost):
        assert {keras.backend.standardize_dtype(w.dtype) for w in metric.variables} == {"float32"}
    tp = np.sum((logits > 0) & (tags > 0)) * 2
    assert float(keras.ops.convert_to_numpy(recall.confusion)[1, 1]) == tp
    assert_close(recall.result(), wxent.recall(logits, tags), rtol=1e-6, atol=0)
    per_element = np.broadcast_to(weight[:, None], tags.shape)
    want = wxent.precision(logits, tags, average=None, sample_weight=per_element)
    assert_close(precision.result(), want, rtol=1e-5, atol=0)
    want = wxent.expected_cost(logits, classes, COSTS, sample_weight=weight)
    assert_close(cost.result(), want, rtol=1e-5, atol=0)


def test_metric_counts_in_float64_under_a_float64_dtype() -> None:
    metric = wk.FBetaScore(dtype="float64")
    assert keras.backend.standardize_dtype(metric.confusion.dtype) == "float64"
    logits = np.array([[0.5, -1.0, 2.0]])
    metric.update_state(np.array([[1.0, 1.0, 0.0]]), logits, sample_weight=np.array([0.1]))
    assert metric.result().dtype == tf.float64


@pytest.mark.parametrize("dtype", [tf.float16, tf.bfloat16])
@pytest.mark.parametrize("classes", [3, 10])
def test_value_check_sees_16_bit_probabilities_cast_to_the_loss_dtype(
    dtype: tf.DType, classes: int
) -> None:
    # bfloat16 softmax rows cast to float32 sum to 1 only within 16-bit rounding: missed
    logits = np.random.default_rng(classes).normal(size=(16, classes)).astype(np.float32)
    labels = np.arange(16) % classes
    probabilities = tf.nn.softmax(tf.cast(logits, dtype))  # unmarked, as on JAX
    for loss in (wk.SoftmaxCrossEntropy(), wk.SoftmaxFocalLoss(reduction=None)):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            loss(labels, probabilities)
            loss(labels, probabilities)
            loss(labels, tf.cast(logits, dtype))  # 16-bit logits: no warning
        found = [str(w.message) for w in record if w.category is wk.LogitsWarning]
        assert len(found) == 1 and "look like the output of a softmax" in found[0], found


@pytest.mark.parametrize("name", ["Recall", "Precision", "FBetaScore"])
def test_per_label_metric_with_another_number_of_labels(name: str) -> None:
    # counts (4, 2, 2) added to the variable (3, 2, 2): the framework's broadcasting error
    metric = getattr(wk, name)(num_classes=3, average="macro")
    logits = np.zeros((5, 4), np.float32)
    message = r"`y_pred`. Expected 3 labels along class_axis=-1 .*Received: y_pred of shape "
    with pytest.raises(ValueError, match=message + r"\(5, 4\)"):
        metric.update_state(np.ones((5, 4), np.float32), logits)
    spec = [tf.TensorSpec([None, 4], tf.float32)] * 2
    with pytest.raises(ValueError, match=message + r"\(None, 4\)"):
        tf.function(metric.update_state, input_signature=spec)(logits, logits)
    assert float(keras.ops.sum(metric.confusion)) == 0.0


def test_registered_names_for_lookups() -> None:
    """keras.losses.get takes a dict with the registered name (strings: Keras' own only)."""
    loss = keras.losses.get(
        {"class_name": "wxent>SoftmaxCrossEntropy", "config": {"label_smoothing": 0.1}}
    )
    assert isinstance(loss, wk.SoftmaxCrossEntropy) and loss.label_smoothing == 0.1
    metric = keras.metrics.get({"class_name": "wxent>ExpectedCost", "config": {"costs": COSTS}})
    assert isinstance(metric, wk.ExpectedCost) and metric.costs.tolist() == COSTS
    for name in [*CASES, "Recall", "Precision", "FBetaScore", "ExpectedCost"]:
        assert keras.saving.get_registered_object(f"wxent>{name}") is getattr(wk, name)


TRAINING = """
import warnings
import keras, numpy as np, tensorflow as tf, wxent, wxent.keras as wk
from adapter_cases import CASES, COSTS, snake
assert keras.backend.backend() == BACKEND
rng = np.random.default_rng(0)
x = rng.normal(size=(32, 4)).astype("float32")
tags = (x[:, :3] + rng.normal(size=(32, 3)) > 0.5).astype("float32")
classes = np.argmax(x[:, :3] + rng.normal(size=(32, 3)), axis=1)
sw = rng.random(32).astype("float32")
start = [rng.normal(size=(4, 3)).astype("float32"), np.zeros(3, "float32")]
z = x @ start[0]

def model(loss, metrics=(), weighted=(), lr=0.1, **options):
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    m.set_weights(start)
    m.compile(optimizer=keras.optimizers.SGD(lr), loss=loss, metrics=list(metrics),
              weighted_metrics=list(weighted), **options)
    return m

def close(got, want, rtol, what):
    assert np.isfinite(got) and abs(got - want) <= rtol * abs(want) + 1e-6, (what, got, want)

# 1. Mixed precision: float16/bfloat16 logits; the loss computes in float32 (its dtype),
# LossScaleOptimizer under mixed_float16; values within 16-bit rounding of the float64
# reference; metrics count in float32. Every loss is called on the 16-bit logits and fit
# under mixed_float16 on TensorFlow; FEW otherwise (the same path; on JAX, fit only: each
# eager JAX op compiles on its first call, seconds per loss).
FEW = ("SoftmaxCrossEntropy", "SigmoidFocalLoss", "CostSensitiveCrossEntropy")
for policy, rtol in (("mixed_float16", 2e-3), ("mixed_bfloat16", 2e-2)):
    keras.mixed_precision.set_dtype_policy(policy)
    for name, (family, args, options) in CASES.items():
        if BACKEND != "tensorflow" and name not in FEW:
            continue
        y = tags if family == "sigmoid" else classes
        want = float(getattr(wxent, snake(name))(z.astype("float64"), y, *args, **options))
        metrics = ([wk.Recall(), wk.FBetaScore(num_classes=3, average="macro")]
                   if family == "sigmoid" else [wk.ExpectedCost(COSTS)])
        m = model(getattr(wk, name)(*args, **options), metrics)
        if BACKEND != "jax":
            logits = m(x)
            assert keras.backend.standardize_dtype(logits.dtype) == policy[6:], logits.dtype
            value = m.loss(y, logits)
            assert keras.backend.standardize_dtype(value.dtype) == "float32", value.dtype
            close(float(keras.ops.convert_to_numpy(value)), want, rtol, (policy, name))
            # a loss of dtype=policy computes in 16 bits, as Keras' own losses of that dtype
            value = getattr(wk, name)(*args, **options, dtype=policy)(y, logits)
            assert keras.backend.standardize_dtype(value.dtype) == policy[6:], value.dtype
            value = float(keras.ops.convert_to_numpy(keras.ops.cast(value, "float32")))
            close(value, want, 2 * rtol, (policy, name, "dtype"))
        if policy == "mixed_bfloat16" and name not in FEW:
            continue
        scaled = type(m.optimizer).__name__ == "LossScaleOptimizer"
        assert scaled == (policy == "mixed_float16"), type(m.optimizer)
        hist = m.fit(x, y, batch_size=32, epochs=1, verbose=0).history
        close(hist["loss"][0], want, rtol, (policy, name, "fit"))  # before the update
        assert all(np.isfinite(v).all() for v in hist.values()), (policy, name, hist)
        weights = m.get_weights()
        assert all(np.isfinite(w).all() for w in weights), (policy, name)
        assert weights[1].dtype == np.float32 and np.abs(weights[1]).max() > 0, weights
        for metric in metrics:
            dtypes = {keras.backend.standardize_dtype(v.dtype) for v in metric.variables}
            assert dtypes == {"float32"}, (metric, dtypes)
    # Keras' own losses under the same policy give the same values as wxent's
    m = model(None)
    for ours, theirs, y in [] if BACKEND == "jax" else [
        (wk.SoftmaxCrossEntropy(), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
         classes),
        (wk.SigmoidCrossEntropy(), keras.losses.BinaryCrossentropy(from_logits=True), tags),
    ]:
        a, b = ours(y, m(x)), theirs(y, m(x))
        assert a.dtype == b.dtype, (a.dtype, b.dtype)
        close(float(keras.ops.convert_to_numpy(a)), float(keras.ops.convert_to_numpy(b)), 1e-5,
              (policy, ours.name))
    # a softmax last layer under a 16-bit policy: the warning on every backend (JAX: where
    # the step runs eagerly, evaluate with jit_compile=False; compiled JAX steps carry no mark)
    a = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    a.compile(loss=wk.SoftmaxCrossEntropy(), jit_compile=False if BACKEND == "jax" else "auto")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        a.evaluate(x, classes, batch_size=32, verbose=0)
    found = [w for w in record if w.category is wk.LogitsWarning]
    assert len(found) == 1, (policy, [str(w.message) for w in record])
keras.mixed_precision.set_dtype_policy("float32")

# 2. fit(class_weight=) multiplies wxent's class_weight (Keras passes it as sample weights)
fit_weight = {0: 1.0, 1: 3.0, 2: 0.5}
per_sample = np.array([fit_weight[int(c)] for c in classes], "float32")
values = {}
for own in (None, [2.0, 1.0, 0.5]):
    m = model(wk.SoftmaxCrossEntropy(class_weight=own), lr=0.0)
    got = m.fit(x, classes, class_weight=fit_weight, batch_size=32, verbose=0).history["loss"][0]
    want = float(wxent.softmax_cross_entropy(z, classes, class_weight=own,
                                             sample_weight=per_sample))
    close(got, want, 1e-5, ("class_weight", own))
    values[own is None] = got
keras_value = model(keras.losses.SparseCategoricalCrossentropy(from_logits=True), lr=0.0).fit(
    x, classes, class_weight=fit_weight, batch_size=32, verbose=0).history["loss"][0]
close(values[True], keras_value, 1e-5, "fit(class_weight=) alone: as Keras' own loss")

# 3. sample weights as tf.data elements ((B,) and (B, 1)), validation data with weights,
# weighted_metrics, names of evaluate(return_dict=True)
for shape in ((32,), (32, 1)) if BACKEND == "tensorflow" else ((32, 1),):
    data = tf.data.Dataset.from_tensor_slices((x, classes, sw.reshape(shape))).batch(32)
    m = model(wk.CostSensitiveCrossEntropy(COSTS, reduction="mean_with_sample_weight"),
              metrics=[wk.ExpectedCost(COSTS, name="cost")],
              weighted=[wk.ExpectedCost(COSTS)], lr=0.0)
    hist = m.fit(data, validation_data=data, epochs=1, verbose=0).history
    assert sorted(hist) == ["cost", "expected_cost", "loss", "val_cost", "val_expected_cost",
                            "val_loss"], hist
    got = m.evaluate(data, verbose=0, return_dict=True)
    want = float(wxent.cost_sensitive_cross_entropy(z, classes, COSTS, sample_weight=sw,
                                                    reduction="weighted_mean"))
    close(got["loss"], want, 1e-5, shape)
    close(hist["val_loss"][0], want, 1e-5, shape)
    close(got["expected_cost"], float(wxent.expected_cost(z, classes, COSTS, sample_weight=sw)),
          1e-5, shape)
    close(got["cost"], float(wxent.expected_cost(z, classes, COSTS)), 1e-5, shape)
    assert np.allclose(keras.ops.convert_to_numpy(m.predict(x, verbose=0)), z, atol=1e-5)

# 4. partial last batches, several steps per execution (not on PyTorch), macro metrics
masked = tags.copy()
masked[rng.random(masked.shape) < 0.15] = -1.0
for steps, jit in [(1, False)] if BACKEND == "torch" else [(1, False), (3, True)]:
    metrics = [wk.Recall(num_classes=3, average="macro", ignore_label=-1.0),
               wk.FBetaScore(beta=2.0, num_classes=3, average=None, ignore_label=-1.0)]
    m = model(wk.SigmoidFocalLoss(ignore_label=-1.0), weighted=metrics, lr=0.0,
              steps_per_execution=steps, jit_compile=jit)
    got = m.evaluate(x, masked, sample_weight=sw, batch_size=7, verbose=0, return_dict=True)
    weight = np.broadcast_to(sw[:, None], masked.shape)
    want = wxent.recall(z, masked, average="macro", ignore_label=-1.0, sample_weight=weight)
    close(got["recall"], float(want), 1e-5, (steps, jit))
    want = wxent.fbeta_score(z, masked, beta=2.0, average=None, ignore_label=-1.0,
                             sample_weight=weight)
    assert np.allclose(got["fbeta_score"], want, atol=1e-6), (steps, jit, got, want)

# 5. a softmax last layer under jit_compile=True: the warning where Keras marks the output
a = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
a.compile(optimizer="sgd", loss=wk.SoftmaxCrossEntropy(), jit_compile=True)
with warnings.catch_warnings(record=True) as record:
    warnings.simplefilter("always")
    a.fit(x, classes, batch_size=32, epochs=1, verbose=0)
found = [w for w in record if w.category is wk.LogitsWarning]
assert len(found) == (0 if BACKEND == "jax" else 1), [str(w.message) for w in record]
"""

DATA_PARALLEL = """
# 6. JAX: keras.distribution.DataParallel over two CPU devices equals one device
import jax
assert len(jax.devices()) == 2, jax.devices()
cases = [  # ignored labels and weights: the denominators are the whole batch's
    (lambda: wk.SigmoidFocalLoss(ignore_label=-1.0, reduction="mean_with_sample_weight"),
     lambda: [wk.Recall(ignore_label=-1.0), wk.Precision(num_classes=3, average=None)], masked),
]
for make_loss, make_metrics, y in cases:
    results = []
    for distribution in (None, keras.distribution.DataParallel(devices=jax.devices())):
        keras.distribution.set_distribution(distribution)
        metrics = make_metrics()
        m = model(make_loss(), weighted=metrics)
        before = m.evaluate(x, y, sample_weight=sw, batch_size=16, verbose=0, return_dict=True)
        counts = [  # each count with the rounding errors kept beside it
            np.asarray(v) + np.asarray(getattr(metric, v.name + "_error"))
            for metric in metrics
            for v in metric.variables
            if not v.name.endswith("_error")
        ]
        hist = m.fit(x, y, sample_weight=sw, batch_size=16, verbose=0, shuffle=False).history
        results.append((before, counts, hist["loss"][0], m.get_weights()))
        keras.distribution.set_distribution(None)
    (one, one_counts, one_fit, one_weights), (two, two_counts, two_fit, two_weights) = results
    for key in one:
        assert np.allclose(two[key], one[key], rtol=1e-6, atol=1e-7), (key, two, one)
    for a, b in zip(one_counts, two_counts):
        assert np.allclose(a, b, rtol=1e-6, atol=1e-6), (a, b)  # summed over the shards once
    assert one_counts[0].sum() > 0
    close(two_fit, one_fit, 1e-6, "fit")
    for a, b in zip(one_weights, two_weights):
        assert np.allclose(a, b, rtol=1e-6, atol=1e-7), (a, b)
"""


@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_training_on_each_backend(backend: str) -> None:
    # (scripts of other files, run in this process of each backend: each start of an
    # interpreter importing Keras and the frameworks took seconds)
    scripts = {"replicas": TF_REPLICAS} if backend == "tensorflow" else {}  # (devices first)
    scripts["training"] = TRAINING + (DATA_PARALLEL if backend == "jax" else "")
    if backend != "tensorflow":  # (TensorFlow: in-process, with fit, in that file)
        scripts["attributes"] = ATTRIBUTES  # the metrics' misspelt options on this backend
    if backend == "jax":
        scripts["mask"] = JAX_MASK  # tests/test_keras_adversarial.py
    scripts["fit"] = FIT_SCRIPT  # tests/test_keras_adapter.py's models
    scripts["past 2**24"] = PAST_2_24  # tests/test_keras_precision.py
    _run(backend, scripts)
