"""Copies and round trips of the objects that hold state.

A copy of a ``MetricAccumulator`` (``copy.copy``, the usual snapshot) must not share its
counts with the original: updating one used to count the batch in both. Criteria whose
weights were given as arrays of another framework (JAX, TensorFlow, PyTorch) keep their
values through ``pickle``, ``copy.deepcopy`` and Keras' config.
"""

from __future__ import annotations

import copy
import json
import pickle

import jax.numpy as jnp
import keras
import numpy as np
import pytest
import tensorflow as tf
import torch

import wxent
import wxent.keras as wk
import wxent.torch as wt


def _data(seed=0, n=24, c=4):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, c)).astype(np.float32)
    z = (rng.random((n, c)) < 0.4).astype(np.float32)
    y = rng.integers(0, c, n)
    costs = rng.uniform(0.5, 2.0, (c, c))
    np.fill_diagonal(costs, 0.0)
    return x, z, y, costs


@pytest.mark.parametrize("framework", ["numpy", "torch"])
@pytest.mark.parametrize("options", [{}, {"costs": "costs"}])
def test_accumulator_copy_is_a_snapshot(framework, options):
    """Updating a copy (or the original) leaves the other's counts as they were."""
    x, z, y, costs = _data()
    if framework == "torch":
        x, z, y = torch.as_tensor(x), torch.as_tensor(z), torch.as_tensor(y)
    options = {"costs": costs} if options else {}
    labels = y if options else z
    acc = wxent.MetricAccumulator(**options).update(x[:12], labels[:12])
    before = acc.compute(average="macro")
    snapshot = copy.copy(acc)
    snapshot.update(x[12:], labels[12:])
    for key, value in acc.compute(average="macro").items():
        np.testing.assert_array_equal(np.asarray(value), np.asarray(before[key]), err_msg=key)
    whole = wxent.MetricAccumulator(**options).update(x, labels).compute(average="macro")
    for key, value in snapshot.compute(average="macro").items():
        np.testing.assert_allclose(
            np.asarray(value), np.asarray(whole[key]), rtol=1e-6, err_msg=key
        )
    acc.update(x[12:], labels[12:])  # and the other way round
    for key, value in snapshot.compute(average="macro").items():
        np.testing.assert_allclose(
            np.asarray(value), np.asarray(whole[key]), rtol=1e-6, err_msg=key
        )


CONVERT = {
    "torch": torch.as_tensor,
    "jax": jnp.asarray,
    "tensorflow": tf.constant,
}


@pytest.mark.parametrize("framework", list(CONVERT))
def test_criteria_from_other_frameworks_round_trip(framework):
    """Weights given as any framework's arrays survive pickle, deepcopy and Keras' config."""
    x, z, y, costs = _data(1)
    cw = np.array([0.5, 1.0, 2.0, 4.0], dtype=np.float32)
    as_array = CONVERT[framework]
    torch_criteria = [
        (wt.SoftmaxCrossEntropy(class_weight=as_array(cw), reduction="weighted_mean"), y),
        (wt.ExpectedCostLoss(as_array(costs.astype(np.float32))), y),
        (wt.SigmoidCrossEntropy(pos_weight=as_array(cw)), z),
    ]
    for criterion, labels in torch_criteria:
        X, L = torch.as_tensor(x), torch.as_tensor(labels)
        want = criterion(X, L)
        for copied in (pickle.loads(pickle.dumps(criterion)), copy.deepcopy(criterion)):
            torch.testing.assert_close(copied(X, L), want)
    keras_losses = [
        (wk.SoftmaxCrossEntropy(class_weight=as_array(cw), reduction="weighted_mean"), y),
        (wk.ExpectedCostLoss(as_array(costs.astype(np.float32))), y),
        (wk.SigmoidCrossEntropy(pos_weight=as_array(cw)), z),
    ]
    for loss, labels in keras_losses:
        want = float(loss(labels, x))
        config = json.loads(json.dumps(keras.saving.serialize_keras_object(loss)))
        for copied in (
            pickle.loads(pickle.dumps(loss)),
            copy.deepcopy(loss),
            keras.saving.deserialize_keras_object(config),
        ):
            np.testing.assert_allclose(float(copied(labels, x)), want, rtol=1e-6)
