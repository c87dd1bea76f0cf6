"""PyTorch uint64 class labels of 2**63 and above in the metrics, and uint64 ``ignore_index``.

The PyTorch metrics widen uint64 labels to int64 (PyTorch has no comparison kernels for
uint64), saturating 2**63 and above at 2**63 - 1: their error named that saturated value
instead of the label given, and an ``ignore_index`` of 2**63 or above (``2**64 - 1``, a
"missing" marker of uint64 data) ignored nothing in the metrics while the losses ignored
it. ``tune_thresholds`` of softmax logits with such an ``ignore_index`` failed inside
NumPy (``bincount`` of the int64 wrap-around). The metrics, the accumulator and the
tuner now agree with the losses on every framework.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import wxent

X = np.random.default_rng(35).normal(size=(6, 3)).astype(np.float32)
COSTS = 1.0 - np.eye(3)
MISSING = 2**64 - 1

CALLS = {
    "confusion_matrix": lambda x, y, **kw: wxent.confusion_matrix(x, y, **kw),
    "recall": lambda x, y, **kw: wxent.recall(x, y, **kw),
    "expected_cost": lambda x, y, **kw: wxent.expected_cost(x, y, COSTS, **kw),
    "accumulator": lambda x, y, **kw: wxent.MetricAccumulator(**kw).update(x, y).compute(),
    "tune_thresholds": lambda x, y, **kw: wxent.tune_thresholds(x, y, **kw),
    "softmax_cross_entropy": lambda x, y, **kw: wxent.softmax_cross_entropy(x, y, **kw),
}


def _inputs(framework: str, first: int) -> tuple[object, object]:
    labels = np.array([first, 1, 2, 1, 0, 2], np.uint64)
    if framework == "torch":
        return torch.tensor(X), torch.from_numpy(labels)
    return X, labels


@pytest.mark.parametrize("name", sorted(CALLS))
def test_torch_uint64_label_is_named_as_given(name: str) -> None:
    x, y = _inputs("torch", 2**63 + 5)
    with pytest.raises(ValueError, match="label value 9223372036854775813 "):
        CALLS[name](x, y)
    with pytest.raises(ValueError, match="label value 9223372036854775813 "):
        CALLS[name](x, y, ignore_index=MISSING)


def _plain(result: object) -> object:
    if isinstance(result, dict):
        return {k: _plain(v) for k, v in result.items()}
    if isinstance(result, torch.Tensor):
        return result.numpy()
    return np.asarray(result)


@pytest.mark.parametrize("framework", ["numpy", "torch"])
@pytest.mark.parametrize("name", sorted(CALLS))
def test_uint64_ignore_index_above_int64_is_ignored(name: str, framework: str) -> None:
    """``ignore_index=2**64 - 1`` leaves that label out, as dropping the sample does."""
    x, y = _inputs(framework, MISSING)
    got = _plain(CALLS[name](x, y, ignore_index=MISSING))
    want = _plain(CALLS[name](X[1:], np.array([1, 2, 1, 0, 2])))
    if isinstance(want, dict):
        assert got.keys() == want.keys()
        for key in want:
            np.testing.assert_allclose(got[key], want[key], rtol=1e-6)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_torch_metric_label_shape_error_names_the_given_dtype() -> None:
    labels = torch.tensor([0, 1, 1], dtype=torch.uint16)
    with pytest.raises(ValueError, match="dtype uint16"):
        wxent.recall(torch.zeros(1, 3), labels)
