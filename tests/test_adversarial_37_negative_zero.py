"""Negative zeros in per-element losses (``reduction="none"``).

PyTorch's cross-entropy of a sure class is ``-log p = -0.0`` (its native kernel and
the projection's ``-log_softmax``), and a weighted loss kept the sign: the softmax
family and ``linear_cross_entropy`` returned ``-0.0`` on PyTorch where NumPy, JAX and
TensorFlow return ``+0.0``. They now return ``+0.0`` there too. (The reductions already
gave ``+0.0``: their sums start from ``+0.0``.)
"""

from __future__ import annotations

import numpy as np
import pytest

import wxent

LOGITS = np.array([[0.0, -1e4, -1e4], [1e4, 0.0, 0.0], [1.0, 2.0, 3.0]], np.float32)
LABELS = np.array([0, 0, 1])


def _eye(x: object) -> object:
    eye = np.eye(3, dtype=np.float32)
    return eye if isinstance(x, np.ndarray) else type(x)(eye)  # (the weight's framework)


def _positive_zeros(result: object) -> None:
    values = np.asarray(result, dtype=np.float64)
    zeros = values == 0
    assert zeros.any(), values
    assert not np.signbit(values[zeros]).any(), values.tolist()


@pytest.mark.parametrize(
    "call",
    [
        lambda x, y: wxent.softmax_cross_entropy(x, y, reduction="none"),
        lambda x, y: wxent.softmax_cross_entropy(
            x, y, reduction="none", sample_weight=np.array([2.0, 0.0, 1.0], np.float32)
        ),
        lambda x, y: wxent.logit_adjusted_cross_entropy(
            x, y, [0.2, 0.3, 0.5], tau=0.0, reduction="none"
        ),
        lambda x, y: wxent.confusion_weighted_cross_entropy(
            x, y, 1.0 + np.eye(3), reduction="none"
        ),
        lambda x, y: wxent.linear_cross_entropy(x, _eye(x), y, reduction="none"),
    ],
    ids=["softmax", "weighted", "logit_adjusted", "confusion_weighted", "linear"],
)
def test_sure_classes_lose_positive_zero_on_torch(call: object) -> None:
    import torch

    got = call(torch.tensor(LOGITS), torch.tensor(LABELS))  # type: ignore[operator]
    _positive_zeros(got.detach().numpy())
    want = call(LOGITS, LABELS)  # type: ignore[operator]
    _positive_zeros(want)
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-6)
