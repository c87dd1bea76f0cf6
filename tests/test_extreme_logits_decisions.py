"""Offsets, priors and corrections added to large logits: decisions, adjusted losses, fits.

A per-class number added to float32 logits of ``1e8`` (spacing 8) or ``3e38`` rounds
away: ``predict(logits, offsets=b)``, ``logit_adjusted_cross_entropy`` and the log-Q
correction of ``sampled_softmax_cross_entropy`` must add it to the shifted logits
``x - max(x)``, also under ``tf.function`` (whose constant folding moves a constant added
to a difference past it). Each value is compared with a float64 reference computed on
the shifted logits. Thresholds from the host compare as the metrics compare them, and
``calibrate`` fits float64 logits near ``1.8e308`` without overflow.
"""

from __future__ import annotations

import numpy as np
import pytest

import wxent
from conftest import Backend, assert_close

C = 4
_BIG = np.float32(3.4e38)
INF = np.inf


def _rows() -> np.ndarray:
    rows = []
    for m in (1e4, 1e6, 1e8):
        for s in (1.0, -1.0):
            top = s * m
            rows += [[top] * C, [top, top - 8.0, top - 16.0, top - 8.0]]
        rows.append([m, m - 8.0, 0.0, m - 16.0])
    rows += [[-_BIG] * C, [_BIG] * C, [_BIG, -_BIG, 0.0, _BIG]]
    rows += [[INF, 0.0, INF, -INF], [INF, -INF, 0.0, 1.0], [-INF, 3.0, 1e8, -INF]]
    return np.asarray(rows, dtype=np.float32)


X = _rows()
N = X.shape[0]
Y = np.arange(N) % C
OFFSETS = np.array([0.0, 9.0, 17.0, -3.0])  # 9 > 8 and 17 > 16: they decide
PRIOR = np.array([0.5, 0.25, 0.125, 0.125])


def _shifted(offsets: object = 0.0) -> np.ndarray:
    """``x - max(x) + offsets`` in float64; a row holding ``+inf``: 0 at its ``+inf``
    entries, ``-inf`` elsewhere (an offset leaves ``+inf`` as it is: their limit is shared).
    """
    x = X.astype(np.float64)
    top = x.max(axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        z = x - top + offsets
    return np.where(np.isposinf(top), np.where(x == INF, 0.0, -INF), z)


def _ce(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    top = z.max(axis=1, keepdims=True)
    return np.log(np.exp(z - top).sum(axis=1)) + top[:, 0] - z[np.arange(z.shape[0]), y]


def test_predict_offsets(backend: Backend) -> None:
    expected = np.argmax(_shifted(OFFSETS), axis=1)
    # +inf rows: the +inf entry of the largest offset (0 and 2 are +inf, 2 has offset 17;
    # the other +inf rows hold one +inf entry)
    expected[-3] = 2
    got = backend.call(lambda x: wxent.predict(x, offsets=OFFSETS), X)
    np.testing.assert_array_equal(got, expected)
    assert expected[1] == 1  # offsets decide at 1e4


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
def test_predict_offsets_dtypes(dtype: str) -> None:
    import torch

    x = torch.tensor(X[:5]).to(getattr(torch, dtype))  # the 1e4 rows (float16 holds them)
    z = x.double().numpy()
    expected = np.argmax(z - z.max(axis=1, keepdims=True) + OFFSETS, axis=1)
    np.testing.assert_array_equal(wxent.predict(x, offsets=OFFSETS).numpy(), expected)


def test_predict_threshold_as_the_metrics(backend: Backend) -> None:
    # float32 rounds 16777219 to 16777220 (ties to even): the logit 16777220 is above it.
    x = np.array([16777220.0, 16777218.0, -2.0], dtype=np.float32)
    got = backend.call(lambda a: wxent.predict(a, threshold=16777219.0), x)
    np.testing.assert_array_equal(got, [True, False, False])
    got = backend.call(lambda a: wxent.predict(a, threshold=np.array([16777219.0])), x[:, None])
    np.testing.assert_array_equal(got[:, 0], [True, False, False])
    assert wxent.recall(x, np.array([1, 1, 0]), threshold=16777219.0) == 0.5


def test_logit_adjusted_cross_entropy(ad_backend: Backend) -> None:
    z = _shifted(np.log(PRIOR))
    finite = np.isfinite(X).all(axis=1)
    with np.errstate(over="ignore"):
        expected = _ce(z, Y).astype(np.float32)  # 6.8e38 overflows: inf
    f = lambda x, y: wxent.logit_adjusted_cross_entropy(x, y, PRIOR, reduction="none")  # noqa: E731
    assert_close(ad_backend.call(f, X, Y), expected, rtol=1e-5, atol=1e-6)
    # The gradient: softmax(z) - onehot(y) in finite rows, 0 in rows holding +inf.
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    grad = np.where(finite[:, None], p - np.eye(C)[Y], 0.0)
    counted = np.isfinite(expected)
    xs, ys = X[counted], Y[counted]
    total, g = ad_backend.value_and_grad(
        lambda x, y: wxent.logit_adjusted_cross_entropy(x, y, PRIOR, reduction="sum"), xs, ys
    )
    assert_close(total, expected[counted].sum(), rtol=1e-5)
    assert_close(g, grad[counted], rtol=1e-4, atol=1e-6)


def test_logit_adjustment_does_not_overflow(backend: Backend) -> None:
    # tau * log(1e-5) overflows float32 for every class: the constant factor changes nothing.
    x = np.array([[0.0, 1.0, 2.0], [1e8, 1e8, 1e8]], dtype=np.float32)
    prior = [1e-5, 1e-5, 2e-5]
    got = backend.call(
        lambda a, y: wxent.logit_adjusted_cross_entropy(
            a, y, prior, tau=3e38, reduction="none", validate=False
        ),
        x,
        np.array([2, 2]),
    )
    assert_close(got, [0.0, 0.0])
    got = backend.call(
        lambda a, y: wxent.logit_adjusted_cross_entropy(a, y, prior, tau=3e38, reduction="none"),
        x,
        np.array([0, 1]),
    )
    assert_close(got, [3e38 * np.log(2.0)] * 2, rtol=1e-6)  # tau * log(2e-5 / 1e-5)


def test_sampled_softmax_log_q(ad_backend: Backend) -> None:
    m = 1e8
    weight = np.array([[m], [m - 8.0], [m - 16.0], [0.0], [m]], dtype=np.float32)
    inputs = np.ones((3, 1), dtype=np.float32)
    labels = np.array([0, 1, 4])
    sampled = np.array([1, 2, 3])
    true_q, sampled_q = np.array([1.0, 0.5, 0.25]), np.array([0.5, 0.25, 0.125])
    logits = inputs.astype(np.float64) @ weight.T.astype(np.float64)
    u = np.concatenate(
        [(logits[np.arange(3), labels] - np.log(true_q))[:, None], logits[:, sampled]], axis=1
    )
    u -= u.max(axis=1, keepdims=True)  # exact: the values are 8 apart
    u[:, 1:] -= np.log(sampled_q)
    u[1, 1] = -INF  # the accidental hit: class 1 in row 1
    expected = _ce(u, np.zeros(3, dtype=np.int64))

    def f(w: object, h: object, y: object) -> object:
        return wxent.sampled_softmax_cross_entropy(
            h, w, y, num_sampled=3, sampled_values=(sampled, true_q, sampled_q), reduction="none"
        )

    assert_close(ad_backend.call(f, weight, inputs, labels), expected, rtol=1e-5, atol=1e-7)


def test_calibrate_float64_range() -> None:
    top = np.finfo(np.float64).max
    x = np.array([[top, -top, 0.0], [0.0, 1.0, 2.0], [-top, 0.0, top], [1.0, 0.0, -top]])
    labels = np.array([0, 1, 2, 1])
    cal = wxent.calibrate(x, labels)
    assert np.isfinite(cal.scale) and cal.scale > 0
    # The fit does not depend on the logits' magnitude: the same data 2**-10 times as large.
    same = wxent.calibrate(x * 2.0**-10, labels)
    assert_close(cal.scale, same.scale * 2.0**-10, rtol=1e-12)
    sig = np.array([top, -top, top, 0.5])
    for method in ("temperature", "platt"):
        fitted = wxent.calibrate(sig, np.array([1.0, 0.0, 0.0, 1.0]), method=method)
        assert np.isfinite(fitted.scale) and np.isfinite(fitted.bias)


def test_calibration_beyond_float32_is_an_error_on_float32_logits(backend: Backend) -> None:
    # Fitted on float64 logits near 1e-45: the scale is beyond float32's range, where it
    # would be inf (every calibrated logit inf or NaN). Applied to float64 logits it holds.
    tiny = np.array([[3e-45, 0.0, -3e-45], [0.0, 6e-45, 3e-45]])
    cal = wxent.Calibration("temperature", 2.6e46, 0.0)
    assert_close(cal(tiny), tiny * 2.6e46, rtol=1e-15)
    for bad, name in [
        (cal, "scale"),
        (wxent.Calibration("platt", np.array([1.0, 1e-39, 1.0]), 0.0), "scale"),
        (wxent.Calibration("platt", 1.0, np.array([0.0, -1e39, 0.0])), "bias"),
    ]:
        with pytest.raises(ValueError, match=f"`{name}`.*float32 holds.*Calibration.{name}="):
            backend.call(bad, tiny.astype(np.float32))
    zero = wxent.Calibration("temperature", np.array([0.0, 1.0, 1e38]), 0.0)  # 0 is exact
    got = backend.call(zero, np.array([[np.inf, 2.0, 1.0]], np.float32))
    np.testing.assert_array_equal(got, np.array([[0.0, 2.0, 1e38]], np.float32))
