"""Multi-label logits with no label (``(N, 0)``) in the metrics, tuners and calibration.

The metrics, ``tune_thresholds``, ``calibrate`` and ``expected_calibration_error``
failed inside the framework on ``(N, 0)`` logits ("cannot reshape array of size 0 into
shape (0,newaxis)"), and ``Calibration(scale=[])`` inside NumPy ("zero-size array to
reduction operation maximum"). Both are wxent's ``ValueError`` now, like softmax logits
with no class; an empty batch ``(0, L)`` still counts nothing.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import wxent

CALLS = {
    "recall": lambda x, z: wxent.recall(x, z),
    "confusion_matrix": lambda x, z: wxent.confusion_matrix(x, z),
    "accumulator": lambda x, z: wxent.MetricAccumulator().update(x, z),
    "tune_thresholds": lambda x, z: wxent.tune_thresholds(x, z),
    "calibrate": lambda x, z: wxent.calibrate(x, z, method="platt"),
    "expected_calibration_error": lambda x, z: wxent.expected_calibration_error(x, z),
}


@pytest.mark.parametrize("framework", ["numpy", "torch"])
@pytest.mark.parametrize("name", sorted(CALLS))
def test_logits_without_labels_are_refused(name: str, framework: str) -> None:
    x = np.zeros((4, 0), np.float32)
    if framework == "torch":
        x = torch.tensor(x)
    with pytest.raises(ValueError, match=r"argument `logits`. Expected at least one label"):
        CALLS[name](x, x)


def test_empty_batch_still_counts_nothing() -> None:
    x = np.zeros((0, 3), np.float32)
    assert wxent.recall(x, x) == 0.0
    np.testing.assert_array_equal(wxent.tune_thresholds(x, x), np.zeros(3))


@pytest.mark.parametrize("name", ["scale", "bias"])
def test_calibration_parameter_without_labels_is_refused(name: str) -> None:
    values = {"scale": 1.0, "bias": 0.0, name: []}
    with pytest.raises(ValueError, match=rf"argument `{name}`.*shape \(0,\)"):
        wxent.Calibration(method="platt", **values)
