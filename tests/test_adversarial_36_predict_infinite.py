"""``predict(logits, offsets=b)`` where ``logits + b`` is infinite or has no value.

In a row holding ``+inf`` the first ``+inf`` entry won whatever the offsets, and a
``+inf`` logit with a ``-inf`` offset made ``inf - inf``, a NaN that argmax took as the
largest value (class 0, or that class, depending on the framework). The classes are now
ranked by their offset's infinity, then their logit's, then the finite rest (shifted
logit plus offset), then the first index: an offset ``-inf`` excludes its class, an
offset ``+inf`` forces it, and among ``+inf`` logits the larger offset wins, on every
framework, eager and traced. A NaN is an error where it can be read and ``-1`` (no
class) where the call is traced.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
import tensorflow as tf
import torch

import wxent
from conftest import Backend

INF = np.inf
X = np.array(
    [
        [INF, 5.0, INF, 0.0],  # two +inf logits: the larger offset
        [INF, 1.0, 2.0, 3.0],  # +inf logit on an excluded class: the finite ones decide
        [-INF, -INF, -INF, -INF],  # no logit decides: the largest offset
        [1.0, 2.0, 3.0, 4.0],
        [INF, INF, INF, INF],
        [1e8, 1e8 - 8.0, 0.0, 0.0],  # offsets count at any magnitude
        [-3e38, 3e38, -3e38, 0.0],  # a shifted logit beyond float32: saturates
        [-INF, 7.0, -INF, -INF],
        [3e38, -3e38, -3e38, -3e38],  # (not -inf, which would tie with class 0)
    ],
    dtype=np.float32,
)
OFFSETS = [
    np.array([-INF, 0.0, 1.0, 0.5]),
    np.array([0.0, 9.0, INF, INF]),
    np.array([-INF, -INF, -INF, -INF]),
    np.array([INF, 0.0, -INF, 2.0]),
]


def _reference(x: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The documented ranking, one class at a time, in Python floats."""

    def part(v: float) -> int:
        return 0 if np.isfinite(v) else int(np.sign(v))

    out = []
    for row in x.astype(np.float64):
        finite = row[np.isfinite(row)]
        top = finite.max() if finite.size else 0.0
        keys = [
            (
                part(b[c]),
                part(row[c]),
                (row[c] - top if np.isfinite(row[c]) else 0.0)
                + (b[c] if np.isfinite(b[c]) else 0.0),
                -c,
            )
            for c in range(row.shape[0])
        ]
        out.append(-max(keys)[3])
    return np.array(out)


def test_reference_examples() -> None:
    np.testing.assert_array_equal(_reference(X, OFFSETS[0]), [2, 3, 2, 3, 2, 1, 1, 1, 1])
    np.testing.assert_array_equal(_reference(X, OFFSETS[1]), [2, 3, 2, 3, 2, 2, 3, 2, 2])
    # every offset -inf: the same for every class, so the logits decide
    np.testing.assert_array_equal(_reference(X, OFFSETS[2]), [0, 0, 0, 3, 0, 0, 1, 1, 0])


def test_infinite_logits_and_offsets(backend: Backend) -> None:
    for b in OFFSETS[:2]:
        got = backend.call(lambda x, b=b: wxent.predict(x, offsets=b), X)
        np.testing.assert_array_equal(got, _reference(X, b), err_msg=str(b))
    for number in (-INF, INF):  # one number for every class decides nothing
        got = backend.call(lambda x, n=number: wxent.predict(x, offsets=n), X)
        np.testing.assert_array_equal(got, _reference(X, np.zeros(4)))


def test_offsets_along_another_class_axis() -> None:
    b = OFFSETS[0]
    for x in (X.T.copy(), torch.tensor(X.T.copy())):
        got = np.asarray(wxent.predict(x, offsets=b, class_axis=0))
        np.testing.assert_array_equal(got, _reference(X, b))


def _offset_predict(x: object, o: object) -> object:
    return wxent.predict(x, offsets=o)


# One compiled function per framework, for both tests below (same shapes: compiled once)
_JIT = jax.jit(_offset_predict)
_FUNCTION = tf.function(_offset_predict)
_COMPILED = torch.compile(_offset_predict, backend="eager", fullgraph=True)
TRACED = {
    "jax.jit": lambda a, o: _JIT(a, jax.numpy.asarray(o)),
    "tf.function": lambda a, o: _FUNCTION(tf.constant(a), tf.constant(o)),
    "torch.compile": lambda a, o: _COMPILED(torch.tensor(a), torch.tensor(o)),
}


def test_offsets_of_the_logits_framework_traced() -> None:
    b = OFFSETS[3].astype(np.float32)
    for name, run in TRACED.items():
        np.testing.assert_array_equal(np.asarray(run(X, b)), _reference(X, b), err_msg=name)
    host = torch.compile(lambda x: wxent.predict(x, offsets=OFFSETS[0]), backend="eager")
    np.testing.assert_array_equal(host(torch.tensor(X)), _reference(X, OFFSETS[0]))


def test_nan_never_decides() -> None:
    x = X.copy()
    x[1, 2] = np.nan
    b = OFFSETS[0].astype(np.float32)
    nan_b = np.array([0.0, np.nan, 0.0, 0.0], np.float32)
    with pytest.raises(ValueError, match=r"`logits`\. Expected numbers without NaN"):
        wxent.predict(torch.tensor(x), offsets=b)
    with pytest.raises(ValueError, match=r"`offsets`\. Expected numbers that are not NaN"):
        wxent.predict(torch.tensor(X), offsets=torch.tensor(nan_b))
    want = _reference(X, b)
    want[1] = -1  # the row holding NaN: no class
    for name, run in TRACED.items():
        np.testing.assert_array_equal(np.asarray(run(x, b)), want, err_msg=name)
        np.testing.assert_array_equal(np.asarray(run(X, nan_b)), [-1] * len(X), err_msg=name)
