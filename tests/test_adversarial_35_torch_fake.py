"""wxent calls on PyTorch fake tensors (``FakeTensorMode``).

Shape propagation and memory estimates run a model and its loss on fake tensors, which
carry shapes and dtypes but no values (like the meta device). wxent read its check flag
from them and failed inside PyTorch (``DataDependentOutputException``). Fake tensors are
now treated as traced values: the shape and dtype checks run, the value checks cannot,
and the result is a fake tensor of the right shape and dtype.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensor, FakeTensorMode

import wxent
import wxent.torch as wt

COSTS = 1.0 - np.eye(3)

CALLS = {
    "softmax_cross_entropy": lambda x, y, z: wxent.softmax_cross_entropy(
        x, y, class_weight=[1, 2, 3], sample_weight=torch.ones(4)
    ),
    "softmax_probabilities": lambda x, y, z: wxent.softmax_cross_entropy(
        x, torch.full((4, 3), 1 / 3)
    ),
    "softmax_focal_loss": lambda x, y, z: wxent.softmax_focal_loss(x, y),
    "sigmoid_cross_entropy": lambda x, y, z: wxent.sigmoid_cross_entropy(
        x, z, pos_weight=[1, 2, 3]
    ),
    "asymmetric_loss": lambda x, y, z: wxent.asymmetric_loss(x, z),
    "cost_sensitive_cross_entropy": lambda x, y, z: wxent.cost_sensitive_cross_entropy(x, y, COSTS),
    "module": lambda x, y, z: wt.SoftmaxCrossEntropy(class_weight=[1.0, 2.0, 3.0])(x, y),
    "recall": lambda x, y, z: wxent.recall(x, y),
    "expected_cost": lambda x, y, z: wxent.expected_cost(x, y, COSTS),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_fake_tensors_give_fake_results(name: str) -> None:
    with FakeTensorMode():
        x = torch.randn(4, 3, requires_grad=True)
        y = torch.zeros(4, dtype=torch.long)
        z = torch.zeros(4, 3)
        out = CALLS[name](x, y, z)
        assert isinstance(out, FakeTensor)
        assert out.shape == () and out.dtype == torch.float32


def test_fake_tensors_still_get_shape_errors() -> None:
    with FakeTensorMode():
        x = torch.randn(4, 3)
        with pytest.raises(ValueError, match="Invalid value for argument `class_weight`"):
            wxent.softmax_cross_entropy(x, torch.zeros(4, dtype=torch.long), class_weight=[1, 2])
