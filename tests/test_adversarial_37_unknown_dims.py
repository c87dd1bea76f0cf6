"""Unknown and symbolic dimensions (``tf.function`` signatures with ``None``, ``jax.export``).

* ``tune_thresholds``, ``calibrate`` and ``expected_calibration_error`` run on the host
  and refuse traced logits; with an unknown dimension they failed first with Python's
  ``int(None)`` ``TypeError`` while reading the shape. They now refuse them with the
  same message as traced logits of known shape.
* ``predict`` with a threshold or offsets per class, under ``jax.export`` with a symbolic
  number of classes, failed inside JAX's broadcasting; it now refuses them in wxent's
  words, as the losses' per-class weights are refused there.
* ``wxent.keras`` metrics and losses called in a ``tf.function`` whose signature has an
  unknown rank failed inside TensorFlow ("Cannot iterate over a shape with unknown
  rank"); they now refuse it in wxent's words, naming ``y_true``, ``y_pred`` or
  ``sample_weight``.
* ``linear_cross_entropy`` exported with a symbolic batch failed inside JAX
  (``InconclusiveDimensionOperation`` while chunking the rows); it now runs, equal to the
  eager call (``sampled_softmax_cross_entropy`` ran already).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import wxent

RNG = np.random.default_rng(37)
X = RNG.normal(size=(6, 3)).astype(np.float32)
Y = np.array([0, 1, 2, 1, 0, 2], np.int32)
Z = (X > 0).astype(np.float32)

HOST: list[tuple[str, Callable[..., Any], np.ndarray]] = [
    ("tune_thresholds", lambda x, t: wxent.tune_thresholds(x, t), Z),
    ("calibrate", lambda x, t: wxent.calibrate(x, t), Y),
    ("expected_calibration_error", lambda x, t: wxent.expected_calibration_error(x, t), Y),
]


@pytest.mark.parametrize(("name", "call", "labels"), HOST, ids=[h[0] for h in HOST])
def test_host_functions_refuse_logits_of_unknown_shape(
    name: str, call: Callable[..., Any], labels: np.ndarray
) -> None:
    import tensorflow as tf

    signature = [
        tf.TensorSpec([None, None], tf.float32),
        tf.TensorSpec([None] * labels.ndim, tf.as_dtype(labels.dtype)),
    ]
    traced = tf.function(call, input_signature=signature, autograph=False)
    with pytest.raises(TypeError, match=r"argument `logits`\. Expected a concrete array"):
        traced(tf.constant(X), tf.constant(labels))


def test_predict_refuses_per_class_options_with_symbolic_classes() -> None:
    import jax
    from jax import export

    spec = jax.ShapeDtypeStruct(export.symbolic_shape("b, c"), np.float32)
    for option in ("threshold", "offsets"):
        call = jax.jit(lambda x, o=option: wxent.predict(x, **{o: [0.0, 0.5, -0.5]}))
        with pytest.raises(ValueError, match=f"argument `{option}`.*symbolic"):
            export.export(call)(spec)
    known = jax.ShapeDtypeStruct(export.symbolic_shape("b, 3"), np.float32)
    exported = export.export(jax.jit(lambda x: wxent.predict(x, offsets=[0.0, 0.5, -0.5])))(known)
    assert (
        np.asarray(exported.call(X)).tolist() == wxent.predict(X, offsets=[0, 0.5, -0.5]).tolist()
    )


def test_linear_cross_entropy_exports_with_a_symbolic_batch() -> None:
    import jax
    import jax.numpy as jnp
    from jax import export

    host_weight = RNG.normal(size=(5, 3)).astype(np.float32)
    weight = jnp.asarray(host_weight)
    labels = np.array([0, 4, 2, 1, 3, 0], np.int32)

    def loss(x: Any, y: Any, w: Any) -> Any:
        return wxent.linear_cross_entropy(x, w, y, reduction="none")

    scope = export.SymbolicScope()
    specs = (
        jax.ShapeDtypeStruct(export.symbolic_shape("b, 3", scope=scope), np.float32),
        jax.ShapeDtypeStruct(export.symbolic_shape("b", scope=scope), np.int32),
        jax.ShapeDtypeStruct((5, 3), np.float32),
    )
    exported = export.export(jax.jit(loss))(*specs)
    got = exported.call(X, labels, weight)
    want = loss(X, labels, host_weight)  # (NumPy's eager call: the same values)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5)


def test_keras_metrics_and_losses_refuse_tensors_of_unknown_rank() -> None:
    import tensorflow as tf

    import wxent.keras as wk

    for metric, labels in (
        (wk.FBetaScore(beta=2.0), Z),
        (wk.ExpectedCost(1.0 - np.eye(3)), Y),
        (wk.SoftmaxCrossEntropy(), Y),
    ):
        for unknown in ("y_true", "y_pred"):
            signature = [
                tf.TensorSpec(None if unknown == "y_true" else labels.shape, labels.dtype),
                tf.TensorSpec(None if unknown == "y_pred" else X.shape, tf.float32),
            ]
            method = getattr(metric, "update_state", metric.__call__)
            update = tf.function(method, input_signature=signature, autograph=False)
            with pytest.raises(ValueError, match=f"argument `{unknown}`.*of unknown rank"):
                update(tf.constant(labels), tf.constant(X))
