"""uint64 class labels of 2**63 and above where the metrics and tuners read them.

The metrics, ``tune_thresholds``, ``calibrate`` and ``expected_calibration_error`` cast
integer labels to int64, which wraps ``2**64 - 1`` to ``-1``: with ``ignore_index=-1``
such a label was silently ignored (NumPy tuners, every PyTorch metric), and the NumPy
metrics' error named the wrapped value (``-1`` for ``18446744073709551615``). The losses
compared the labels in their own dtype and always raised: now everything does.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import wxent

X = np.random.default_rng(34).normal(size=(6, 3)).astype(np.float32)
LABELS = [2**64 - 1, 1, 2, 1, 0, 2]
COSTS = 1.0 - np.eye(3)

CALLS = {
    "confusion_matrix": lambda x, y, **kw: wxent.confusion_matrix(x, y, **kw),
    "recall": lambda x, y, **kw: wxent.recall(x, y, **kw),
    "fbeta_score": lambda x, y, **kw: wxent.fbeta_score(x, y, average="macro", **kw),
    "expected_cost": lambda x, y, **kw: wxent.expected_cost(x, y, COSTS, **kw),
    "tune_thresholds": lambda x, y, **kw: wxent.tune_thresholds(x, y, **kw),
    "calibrate": lambda x, y, **kw: wxent.calibrate(x, y, **kw),
    "softmax_cross_entropy": lambda x, y, **kw: wxent.softmax_cross_entropy(x, y, **kw),
}


def _inputs(framework: str) -> tuple[object, object]:
    labels = np.array(LABELS, np.uint64)
    if framework == "torch":
        return torch.tensor(X), torch.tensor(labels.astype(np.int64)).to(torch.uint64)
    return X, labels


@pytest.mark.parametrize("framework", ["numpy", "torch"])
@pytest.mark.parametrize("name", sorted(CALLS))
def test_huge_uint64_label_is_not_the_ignore_index(name: str, framework: str) -> None:
    """``2**64 - 1`` is out of range, not the ``ignore_index=-1`` it wraps to in int64."""
    x, y = _inputs(framework)
    with pytest.raises(ValueError, match=r"Invalid value for argument `labels`.*\[0, 3\)"):
        CALLS[name](x, y, ignore_index=-1)


@pytest.mark.parametrize("name", ["confusion_matrix", "recall", "expected_cost", "calibrate"])
def test_huge_uint64_label_is_named_as_given(name: str) -> None:
    """The NumPy error names the label the user passed, not its int64 wrap-around."""
    x, y = _inputs("numpy")
    with pytest.raises(ValueError, match="label value 18446744073709551615"):
        CALLS[name](x, y)
    with pytest.raises(ValueError, match="label value 18446744073709551615"):
        wxent.expected_calibration_error(x, y)
