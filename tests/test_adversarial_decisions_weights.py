"""Regressions of the adversarial pass over the decision side (see
``test_adversarial_decisions.py``): finite sample weights whose sums overflow.

Weights near ``1e308`` (float64) or ``3e38`` (float32) are finite and non-negative, so
they passed the checks, but their sums overflowed: tune_thresholds chose another
threshold and returned a NaN objective (with RuntimeWarnings), the softmax offsets
reached NumPy's "argmin of an empty sequence", calibrate returned the identity, and the
ECE and the metrics returned NaN. Nothing on the host depends on the weights' scale, so
the host paths rescale them exactly (by a power of two); the metrics, computed on the
logits' device, say so in an error, as class_weights does.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import wxent
from test_adversarial_config import FRAMEWORKS

RNG = np.random.default_rng(5)
X = RNG.normal(size=(40, 3)).astype(np.float32)
Y = np.argmax(X + RNG.gumbel(size=(40, 3)), axis=1)  # informative logits: finite fits
Z = (X + RNG.logistic(size=(40, 3)) > 0.5).astype(np.float32)
W = RNG.uniform(0.5, 2.0, size=40)


def _message(name: str) -> str:
    return rf"^Invalid (value|type) for argument `{re.escape(name)}`\. Expected .+ Received: .+"


HOST_CALLS = {
    "tune_thresholds (f1)": lambda w: wxent.tune_thresholds(
        X, Z, sample_weight=np.repeat(w[:, None], 3, axis=1)
    ),
    "tune_thresholds (per sample)": lambda w: wxent.tune_thresholds(X, Z, sample_weight=w),
    "tune_thresholds (cost)": lambda w: wxent.tune_thresholds(
        X[:, 0],
        Z[:, 0],
        objective="expected_cost",
        cost_fp=1.0,
        cost_fn=3.0,
        sample_weight=w,
        return_objective=True,
    ),
    "tune_thresholds (balanced accuracy)": lambda w: wxent.tune_thresholds(
        X[:, 0], Z[:, 0], objective="balanced_accuracy", sample_weight=w, return_objective=True
    ),
    "tune_thresholds (recall at precision)": lambda w: wxent.tune_thresholds(
        X[:, 0],
        Z[:, 0],
        objective="recall_at_precision",
        precision=0.5,
        sample_weight=w,
        return_objective=True,
    ),
    "tune_thresholds (softmax)": lambda w: wxent.tune_thresholds(
        X, Y, sample_weight=w, return_objective=True
    ),
    "tune_thresholds (softmax cost)": lambda w: wxent.tune_thresholds(
        X,
        Y,
        objective="expected_cost",
        costs=1 - np.eye(3),
        sample_weight=w,
        return_objective=True,
    ),
    "calibrate (temperature)": lambda w: wxent.calibrate(X, Y, sample_weight=w).scale,
    "calibrate (platt)": lambda w: np.array(
        [
            getattr(wxent.calibrate(X, Z, method="platt", sample_weight=w), a)
            for a in ("scale", "bias")
        ]
    ),
    "expected_calibration_error": lambda w: wxent.expected_calibration_error(X, Y, sample_weight=w),
}


@pytest.mark.parametrize("case", sorted(HOST_CALLS))
@pytest.mark.parametrize("scale", [1e300, 2.0**1000 * 1.5])
def test_host_fits_do_not_depend_on_the_scale_of_huge_weights(case, scale):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        huge = HOST_CALLS[case](W * scale)
    plain = HOST_CALLS[case](W)
    np.testing.assert_allclose(_flat(huge), _flat(plain), rtol=1e-7)


def _flat(result):
    parts = result if isinstance(result, tuple) else (result,)
    return np.concatenate([np.ravel(np.asarray(p, dtype=np.float64)) for p in parts])


@pytest.mark.parametrize("framework", sorted(FRAMEWORKS))
def test_metrics_refuse_weights_whose_sums_overflow(framework):
    to = FRAMEWORKS[framework]
    x, y, z = to(X), to(Y), to(Z)
    top = 1e308 if framework == "numpy" else 3e38  # the counts' dtype: float64, float32
    big = to((np.full(40, top)).astype(np.float64 if framework == "numpy" else np.float32))
    calls = [
        lambda w: wxent.precision(x, y, sample_weight=w),
        lambda w: wxent.recall(x, z, sample_weight=w),
        lambda w: wxent.fbeta_score(x, z, sample_weight=w, average=None),
        lambda w: wxent.confusion_matrix(x, y, sample_weight=w),
        lambda w: wxent.expected_cost(x, y, 1 - np.eye(3), sample_weight=w),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=_message("sample_weight")) as info:
            call(big)
        assert "overflow" in str(info.value)
    # finite sums of large weights: the scores of the unit weights
    large = to((np.full(40, top / 100)).astype(np.float64 if framework == "numpy" else np.float32))
    unit = to(np.ones(40, np.float64 if framework == "numpy" else np.float32))
    for call in calls[:3]:
        np.testing.assert_allclose(
            np.asarray(call(large), dtype=np.float64),
            np.asarray(call(unit), dtype=np.float64),
            rtol=1e-5,
        )
