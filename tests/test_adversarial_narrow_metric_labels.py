"""Metrics of integer labels whose dtype cannot hold the number of classes.

``tests/test_narrow_labels.py`` covers the losses. The metrics compared the labels with
``C`` in the labels' own dtype: PyTorch and JAX cast ``257`` to uint8 as ``1``, so every
uint8 label but 0 was "out of range" and counted nowhere (silently, as the traced path
must), and ``confusion_matrix`` of six samples summed to one.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow as tf
import torch

import wxent

CASES = [
    ("uint8", 257, [0, 255, 254, 128, 1, 2, 255]),
    ("int8", 130, [0, 127, 126, 100, 1, 2, 127]),
]
IDS = [c[0] for c in CASES]


def _data(num_classes: int, labels: list[int]) -> tuple[np.ndarray, np.ndarray]:
    x = np.random.default_rng(num_classes).normal(size=(len(labels), num_classes))
    x = x.astype(np.float32)
    x[np.arange(len(labels)), labels] += 5.0  # mostly right: the diagonal is counted
    x[-1] = 0.0
    x[-1, 3] = 1.0  # one wrong decision
    return x, np.asarray(labels)


FRAMEWORKS = {
    "numpy": (lambda a: a, lambda a, dt: a.astype(dt)),
    "torch": (torch.tensor, lambda a, dt: torch.tensor(a.astype(dt))),
    "jax": (jnp.asarray, lambda a, dt: jnp.asarray(a.astype(dt))),
    "tensorflow": (tf.constant, lambda a, dt: tf.constant(a.astype(dt))),
}


def _metrics(x, y, num_classes: int) -> dict[str, np.ndarray]:
    costs = 1.0 - np.eye(num_classes)
    acc = wxent.MetricAccumulator().update(x, y).compute(average=None)
    return {
        "confusion_matrix": np.asarray(wxent.confusion_matrix(x, y)),
        "recall": np.asarray(wxent.recall(x, y, average=None)),
        "precision": np.asarray(wxent.precision(x, y, average=None)),
        "expected_cost": np.asarray(wxent.expected_cost(x, y, costs)),
        "ignored": np.asarray(wxent.confusion_matrix(x, y, ignore_index=2)),
        "accumulated": np.asarray(acc["confusion_matrix"]),
    }


@pytest.mark.parametrize("framework", sorted(FRAMEWORKS))
@pytest.mark.parametrize("dtype,num_classes,labels", CASES, ids=IDS)
def test_narrow_labels_are_all_counted(framework, dtype, num_classes, labels) -> None:
    x, y = _data(num_classes, labels)
    want = _metrics(x, y.astype(np.int64), num_classes)
    assert want["confusion_matrix"].sum() == len(labels)
    logits, make_labels = FRAMEWORKS[framework]
    got = _metrics(logits(x), make_labels(y, dtype), num_classes)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], err_msg=name)


@pytest.mark.parametrize("dtype,num_classes,labels", CASES, ids=IDS)
def test_narrow_labels_traced(dtype, num_classes, labels) -> None:
    x, y = _data(num_classes, labels)
    want = np.asarray(wxent.confusion_matrix(x, y.astype(np.int64)))
    jitted = jax.jit(wxent.confusion_matrix)(jnp.asarray(x), jnp.asarray(y.astype(dtype)))
    np.testing.assert_array_equal(np.asarray(jitted), want)
    graph = tf.function(wxent.confusion_matrix)(tf.constant(x), tf.constant(y.astype(dtype)))
    np.testing.assert_array_equal(graph.numpy(), want)
