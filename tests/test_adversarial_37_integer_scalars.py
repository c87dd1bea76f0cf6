"""Integer options given as ml_dtypes' integer scalars (``ml_dtypes.int4(3)``, ``uint4``, ``int2``).

They are no ``numbers.Integral`` and have no ``__index__``, so every integer option
(``ignore_index``, ``class_axis``, ``num_classes``, ``chunk_size``, ``num_sampled``,
``seed``, the classes of ``cost_matrix``, ``bins``) refused them with a ``TypeError``
that showed the integer itself as what was received ("Expected an integer or None.
Received: ignore_index=3"). They are now taken as their value, as NumPy's integer
scalars of every width are; booleans and floats are still refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ml_dtypes
import numpy as np
import pytest

import wxent

RNG = np.random.default_rng(37)
X = RNG.normal(size=(6, 4)).astype(np.float32)
Y = np.array([0, 3, 2, 1, 3, 0])
Z = (X > 0).astype(np.float32)
W = RNG.normal(size=(4, 4)).astype(np.float32)
INT = [ml_dtypes.int4, ml_dtypes.uint4, np.uint8, np.int16, np.uint64]
if hasattr(ml_dtypes, "int2"):
    INT.append(ml_dtypes.int2)

CASES = [
    ("ignore_index", lambda k: wxent.softmax_cross_entropy(X, Y, ignore_index=k), 1),
    ("class_axis", lambda k: wxent.sigmoid_cross_entropy(X.T[None], Z.T[None], class_axis=k), 1),
    ("ignore_index", lambda k: wxent.recall(X, Y, ignore_index=k, average="macro"), 1),
    ("num_classes", lambda k: wxent.label_counts(Y, num_classes=k), 5),
    ("num_classes", lambda k: wxent.class_weights(counts=wxent.LabelCounter(k).counts + 1), 5),
    ("chunk_size", lambda k: wxent.linear_cross_entropy(X, W, Y, chunk_size=k), 3),
    (
        "num_sampled",
        lambda k: wxent.sampled_softmax_cross_entropy(X, W, Y, num_sampled=k, seed=k),
        2,
    ),
    ("classes", lambda k: wxent.cost_matrix(k), 3),
    ("class key", lambda k: wxent.cost_matrix(3, costs={(k, 0): 5.0}), 1),
    ("bins", lambda k: wxent.expected_calibration_error(X, Y, bins=k), 3),
]


@pytest.mark.parametrize(("option", "call", "value"), CASES, ids=[c[0] for c in CASES])
def test_integer_scalars_are_their_value(
    option: str, call: Callable[[Any], Any], value: int
) -> None:
    want = np.asarray(call(value))
    for kind in INT:
        if int(kind(value)) != value:  # (int2 holds -2 to 1)
            continue
        got = np.asarray(call(kind(value)))
        assert got.dtype == want.dtype and np.array_equal(got, want), (option, kind)


def test_booleans_and_floats_are_still_refused() -> None:
    for bad in (True, np.bool_(True), 1.0, ml_dtypes.bfloat16(1.0)):
        with pytest.raises(TypeError, match="ignore_index"):
            wxent.softmax_cross_entropy(X, Y, ignore_index=bad)
