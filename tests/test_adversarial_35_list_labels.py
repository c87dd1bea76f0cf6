"""Python lists as labels of the host-side tuners and calibration measures.

"Labels may be Python lists" holds for the losses, metrics and the accumulator, but
``tune_thresholds``, ``calibrate``, ``expected_calibration_error`` and
``reliability_bins`` refused a list ("an array of the same framework as `logits`"),
for logits of every framework. They read labels on the host and now take a list as the
array it holds.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import wxent

X = np.random.default_rng(35).normal(size=(8, 3)).astype(np.float32)
Y = np.array([0, 1, 2, 1, 0, 2, 2, 1])
Z = (X > 0.3).astype(np.float32)

CALLS = {
    "tune_sigmoid": (lambda x, y: wxent.tune_thresholds(x, y), Z),
    "tune_softmax": (lambda x, y: wxent.tune_thresholds(x, y), Y),
    "calibrate": (lambda x, y: wxent.calibrate(x, y).scale, Y),
    "platt": (lambda x, y: wxent.calibrate(x, y, method="platt").bias, Z),
    "ece": (lambda x, y: wxent.expected_calibration_error(x, y), Y),
    "reliability_bins": (lambda x, y: wxent.calibration.reliability_bins(x, y)[0], Z),
}


@pytest.mark.parametrize("framework", ["numpy", "torch"])
@pytest.mark.parametrize("name", sorted(CALLS))
def test_list_labels_equal_array_labels(name: str, framework: str) -> None:
    call, labels = CALLS[name]
    x = torch.tensor(X) if framework == "torch" else X
    y = torch.tensor(labels) if framework == "torch" else labels
    np.testing.assert_allclose(np.asarray(call(x, labels.tolist())), np.asarray(call(x, y)))


def test_list_of_text_labels_is_refused() -> None:
    with pytest.raises(TypeError, match="Invalid type for argument `labels`"):
        wxent.tune_thresholds(X[:, 0], ["a", "b"] * 4)
