"""wxent.keras options given as another framework's 16-bit arrays.

A ``wxent.keras`` loss or metric keeps its per-class options (``class_weight``,
``pos_weight``, costs, priors, thresholds) as host data, read with Keras' own conversion:
on the TensorFlow backend a PyTorch bfloat16 tensor failed inside PyTorch ("Got
unsupported ScalarType BFloat16"), while the wxent functions take it (its values, as a
NumPy array's). They are read as the functions read them now (checked here on the
TensorFlow backend; the conversion does not depend on it).
"""

from __future__ import annotations

import jax.numpy as jnp
import keras
import numpy as np
import pytest
import torch

import wxent
import wxent.keras as wk

X = np.random.default_rng(36).normal(size=(8, 3)).astype(np.float32)
Y = np.arange(8) % 3
T = (X > 0).astype(np.float32)
COSTS = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 1.0], [4.0, 1.0, 0.0]])
MAKERS = {
    "torch bfloat16": lambda a: torch.tensor(a, dtype=torch.bfloat16),
    "torch float16": lambda a: torch.tensor(a, dtype=torch.float16),
    "jax bfloat16": lambda a: jnp.asarray(a, dtype=jnp.bfloat16),
}


@pytest.mark.parametrize("kind", MAKERS)
def test_16_bit_arrays_of_another_framework_as_options(kind: str) -> None:
    make = MAKERS[kind]  # every value below is exact in bfloat16
    cases = [
        (wk.SoftmaxCrossEntropy(class_weight=make([1.0, 2.0, 3.0])), Y,
         wxent.softmax_cross_entropy(X, Y, class_weight=[1.0, 2.0, 3.0])),
        (wk.SigmoidCrossEntropy(pos_weight=make([1.0, 2.0, 0.5])), T,
         wxent.sigmoid_cross_entropy(X, T, pos_weight=[1.0, 2.0, 0.5])),
        (wk.LogitAdjustedCrossEntropy(make([0.25, 0.25, 0.5])), Y,
         wxent.logit_adjusted_cross_entropy(X, Y, [0.25, 0.25, 0.5])),
        (wk.ExpectedCostLoss(make(COSTS)), Y, wxent.expected_cost_loss(X, Y, COSTS)),
    ]  # fmt: skip
    for loss, labels, want in cases:
        clone = keras.losses.deserialize(keras.losses.serialize(loss))
        for criterion in (loss, clone):
            got = float(keras.ops.convert_to_numpy(criterion(labels, X)))
            assert abs(got - float(want)) <= 1e-6 * float(want), type(loss).__name__
    metric = wk.ExpectedCost(make(COSTS))
    metric.update_state(Y, X)
    assert float(metric.result()) == pytest.approx(float(wxent.expected_cost(X, Y, COSTS)))
    assert metric.get_config()["costs"] == COSTS.tolist()
    recall = wk.Recall(threshold=make([0.5, -0.5, 0.0]), average=None, num_classes=3)
    recall.update_state(T, X)
    want = wxent.recall(X, T, threshold=np.array([0.5, -0.5, 0.0]), average=None)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(recall.result()), want)
