"""ml_dtypes scalars (``ml_dtypes.bfloat16(0.1)``) as the number options.

A NumPy float16 scalar was taken wherever a number is (``numbers.Real`` knows it), a
bfloat16 one was a ``TypeError`` that showed the number itself as what was received
("Expected a finite float >= 0. Received: gamma=2"): ``label_smoothing``, ``gamma``,
``tau``, ``cost_weight``, ``beta``, ``precision``, ``max_weight``, ``ignore_label``, the
costs of ``cost_threshold`` and ``cost_matrix``, a ``Calibration``'s scalars. They are
now numbers everywhere, checked like the others (NaN and infinity refused as values).
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

import wxent

BF = ml_dtypes.bfloat16
RNG = np.random.default_rng(36)
X = RNG.normal(size=(8, 3)).astype(np.float32)
Y = np.arange(8) % 3
T = (X > 0).astype(np.float32)
U = np.where(X > 1, -1.0, T).astype(np.float32)  # -1: unknown
PRIOR = [0.2, 0.3, 0.5]

CALLS = {
    "label_smoothing": lambda n: wxent.softmax_cross_entropy(X, Y, label_smoothing=n(0.25)),
    "gamma": lambda n: wxent.softmax_focal_loss(X, Y, gamma=n(2.0)),
    "alpha": lambda n: wxent.sigmoid_focal_loss(X, T, alpha=n(0.25)),
    "asymmetric": lambda n: wxent.asymmetric_loss(X, T, gamma_neg=n(4.0), clip=n(0.0625)),
    "tau": lambda n: wxent.logit_adjusted_cross_entropy(X, Y, PRIOR, tau=n(0.5)),
    "adjust_logits": lambda n: wxent.adjust_logits(X, PRIOR, tau=n(0.5)),
    "cost_weight": lambda n: wxent.cost_sensitive_cross_entropy(
        X, Y, 1 - np.eye(3), cost_weight=n(0.5)
    ),
    "ignore_label": lambda n: wxent.sigmoid_cross_entropy(X, U, ignore_label=n(-1.0)),
    "recall ignore_label": lambda n: wxent.recall(X, U, ignore_label=n(-1.0)),
    "fbeta": lambda n: wxent.fbeta_score(X, T, beta=n(2.0)),
    "tune fbeta": lambda n: wxent.tune_thresholds(X, T, objective="fbeta", beta=n(2.0)),
    "tune precision": lambda n: wxent.tune_thresholds(
        X, T, objective="recall_at_precision", precision=n(0.5)
    ),
    "tune costs": lambda n: wxent.tune_thresholds(
        X, T, objective="expected_cost", cost_fp=n(1.0), cost_fn=n(3.0)
    ),
    "cost_threshold": lambda n: wxent.cost_threshold(cost_fp=n(1.0), cost_fn=n(3.0)),
    "cost_matrix": lambda n: wxent.cost_matrix(
        3, default=n(2.0), diagonal=n(0.0), costs={(0, 1): n(5.0)}
    ),
    "max_weight": lambda n: wxent.pos_weights(T, max_weight=n(2.0)),
    "effective_number": lambda n: wxent.class_weights(Y, scheme="effective_number", beta=n(0.5)),
    "Calibration": lambda n: wxent.Calibration("platt", n(2.0), n(0.5))(X),
}


@pytest.mark.parametrize("name", CALLS)
def test_bfloat16_scalars_are_numbers(name: str) -> None:
    got = CALLS[name](BF)
    want = CALLS[name](float)  # every value above is exact in bfloat16
    np.testing.assert_allclose(np.asarray(got, np.float64), np.asarray(want, np.float64))


def test_other_ml_dtypes_scalars_and_bad_values() -> None:
    want = wxent.softmax_focal_loss(X, Y, gamma=2.0)
    for number in (ml_dtypes.float8_e4m3fn(2.0), ml_dtypes.int4(2)):
        assert float(wxent.softmax_focal_loss(X, Y, gamma=number)) == float(want)
    with pytest.raises(ValueError, match=r"Received: label_smoothing=nan"):
        wxent.softmax_cross_entropy(X, Y, label_smoothing=BF(float("nan")))
    with pytest.raises(ValueError, match=r"Received: gamma=inf"):
        wxent.softmax_focal_loss(X, Y, gamma=BF(float("inf")))
    with pytest.raises(ValueError, match=r"Received: cost_fp=-1"):
        wxent.cost_threshold(cost_fp=BF(-1.0), cost_fn=1.0)
