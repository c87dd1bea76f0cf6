"""Sparse and ragged arrays given as cost matrices, tuning weights or calibration values.

Logits, labels and per-class weights of a sparse or ragged layout get wxent's
``TypeError`` asking for a dense array. Cost matrices (TensorFlow ``SparseTensor`` and
``RaggedTensor``) were refused with a dump of the tensor instead; and the host-side
tuners failed inside PyTorch ("can't convert Sparse layout tensor to numpy") for a
sparse ``sample_weight`` (``tune_thresholds``, ``calibrate``), a sparse cost matrix
(``tune_thresholds(objective="expected_cost")``, ``check_cost_matrix``) or a sparse
``pos_weight`` (``unweight_logits``). All now get the one message.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import wxent
from wxent.cost_matrix import check_cost_matrix

X = torch.randn(6, 3, generator=torch.Generator().manual_seed(35))
Y = torch.tensor([0, 1, 2, 1, 0, 2])
Z = (X > 0.2).float()
COSTS = torch.tensor(1.0 - np.eye(3), dtype=torch.float32)
SPARSE_W = torch.ones(6).to_sparse()

TORCH_CALLS = {
    "tune_sigmoid_weights": (
        "sample_weight",
        lambda: wxent.tune_thresholds(X, Z, sample_weight=SPARSE_W),
    ),
    "tune_softmax_weights": (
        "sample_weight",
        lambda: wxent.tune_thresholds(X, Y, sample_weight=SPARSE_W),
    ),
    "calibrate_weights": ("sample_weight", lambda: wxent.calibrate(X, Y, sample_weight=SPARSE_W)),
    "tune_costs": (
        "costs",
        lambda: wxent.tune_thresholds(X, Y, objective="expected_cost", costs=COSTS.to_sparse()),
    ),
    "check_cost_matrix": ("costs", lambda: check_cost_matrix(COSTS.to_sparse())),
    "unweight_logits": (
        "pos_weight",
        lambda: wxent.unweight_logits(X, pos_weight=torch.ones(3).to_sparse()),
    ),
}


@pytest.mark.parametrize("name", sorted(TORCH_CALLS))
def test_torch_sparse_value_gets_the_dense_message(name: str) -> None:
    argument, call = TORCH_CALLS[name]
    with pytest.raises(
        TypeError, match=rf"Invalid type for argument `{argument}`. Expected a dense tensor"
    ):
        call()


@pytest.mark.parametrize("layout", ["sparse", "ragged"])
def test_tensorflow_sparse_cost_matrix_gets_the_dense_message(layout: str) -> None:
    import tensorflow as tf

    dense = tf.constant(1.0 - np.eye(3), tf.float32)
    costs = (
        tf.sparse.from_dense(dense) if layout == "sparse" else tf.RaggedTensor.from_tensor(dense)
    )
    x, y = tf.constant(X.numpy()), tf.constant(Y.numpy())
    for call in (
        lambda: wxent.expected_cost_loss(x, y, costs),
        lambda: wxent.bayes_decision(x, costs),
        lambda: wxent.expected_cost(x, y, costs),
    ):
        with pytest.raises(TypeError, match=r"argument `costs`. Expected a dense tensor") as info:
            call()
        assert "indices=" not in str(info.value) and "RaggedTensor [" not in str(info.value)
