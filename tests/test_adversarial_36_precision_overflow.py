"""16-bit results beyond their dtype's range: ``inf``, on NumPy without a warning.

A float16 loss above 65504, or logits moved past it by ``adjust_logits``,
``unweight_logits`` or a ``Calibration``, is ``inf``, as each framework's cast makes it;
NumPy alone added a ``RuntimeWarning`` ("overflow encountered in cast"), an error where
warnings are errors, and so did ``safe_divide`` for a quotient beyond its dtype's range.
"""

from __future__ import annotations

import numpy as np
import pytest

import wxent
from conftest import ARRAY_OF, as_float

FRAMEWORKS = ARRAY_OF


BIG = np.array([[65504.0, -65504.0, 0.0], [60000.0, 65000.0, -65504.0]], np.float16)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_16_bit_results_beyond_the_range_are_inf_without_a_warning(framework: str) -> None:
    """(Warnings are errors in this suite: NumPy's "overflow encountered" failed.)"""
    make = FRAMEWORKS[framework]
    x, labels = make(BIG), make(np.array([0, 2]))
    calls = {
        "softmax none": lambda: wxent.softmax_cross_entropy(x, labels, reduction="none")[1],
        "softmax sum": lambda: wxent.softmax_cross_entropy(x, labels, reduction="sum"),
        "sigmoid none": lambda: wxent.sigmoid_cross_entropy(
            x, make(np.zeros((2, 3), np.float16)), neg_weight=2.0, reduction="none"
        )[1, 1],
        "adjust_logits": lambda: wxent.adjust_logits(x, [1e-9, 0.5, 0.5])[0, 0],
        "unweight_logits": lambda: wxent.unweight_logits(x, pos_weight=[1e-9, 1.0, 1.0])[0, 0],
        "class_weight": lambda: wxent.unweight_logits(x, class_weight=[1e-9, 1.0, 1.0])[0, 0],
        "temperature": lambda: wxent.Calibration("temperature", 2.0, 0.0)(x)[0, 0],
        "platt": lambda: wxent.Calibration("platt", [2.0, 1.0, 1.0], [0.0, 0.0, 0.0])(x)[0, 0],
        "safe_divide": lambda: wxent.safe_divide(x, 0.5)[0, 0],
    }
    for name, call in calls.items():
        assert as_float(call()) == np.inf, name
    # and the float32 ones: the product or quotient beyond float32's range
    x32 = make(np.array([[3e38, -3e38]], np.float32))
    assert as_float(wxent.Calibration("temperature", 2.0, 0.0)(x32)[0, 0]) == np.inf
    assert as_float(wxent.safe_divide(x32, 1e-3)[0, 1]) == -np.inf
    # the mean fits: it is exact
    mean = wxent.softmax_cross_entropy(x, labels)
    assert abs(as_float(mean) - 130496 / 2) <= 32
