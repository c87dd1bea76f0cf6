"""calibrate stops when there is nothing left to fit.

On separable data (every label on its logit's side) the likelihood has no finite optimum:
the fit ran all ``max_iter`` Newton steps (82 s at a million rows) to return an arbitrary
large scale. Temperature scaling now returns its bound without a step, Platt scaling stops
when the likelihood stops improving, and fits with an optimum give what they gave.
Steps are counted by wrapping the Newton solver; nothing here is timed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import wxent
from conftest import EAGER_BACKENDS
from wxent import _calibration_fit as fit


@pytest.fixture
def steps(monkeypatch):
    """The Newton steps of the calls that follow: ``steps["n"]``, and the fits run."""
    counted = {"n": 0, "fits": 0}
    newton = fit._newton

    def counting(loss, grad_hess, start, max_iter, lower):
        counted["fits"] += 1

        def counted_grad_hess(p):
            counted["n"] += 1
            return grad_hess(p)

        return newton(loss, counted_grad_hess, start, max_iter, lower)

    monkeypatch.setattr(fit, "_newton", counting)
    return counted


def _separable(rng, n=4000, c=4):
    x = rng.normal(size=(n, c))
    return x, x.argmax(axis=1)


@pytest.mark.parametrize("backend", EAGER_BACKENDS, ids=lambda b: b.name)
def test_separable_softmax_takes_the_bound_without_a_step(backend, steps, rng):
    x, y = _separable(rng)
    x = x.astype(np.float32)
    cal = wxent.calibrate(backend.asarray(x), backend.asarray(y))
    assert steps["n"] == 0 and steps["fits"] == 0
    z = np.sort(x.astype(np.float64) * cal.scale, axis=1)
    margins = z[:, -1] - z[:, -2]
    # the smallest margin calibrated to 37 nats plus log(C - 1): every probability is 1
    assert margins.min() == pytest.approx(fit.SATURATED + math.log(3), rel=1e-6)
    p = np.exp(z - z[:, -1:])
    assert np.all(p.sum(axis=1) == 1.0)  # float64: the others' mass rounds away
    # more steps could not do better: the likelihood only falls as the scale grows
    assert wxent.calibrate(x, y, max_iter=1).temperature == pytest.approx(cal.temperature)


@pytest.mark.parametrize("backend", EAGER_BACKENDS, ids=lambda b: b.name)
def test_separable_sigmoid_temperature_takes_the_bound_without_a_step(backend, steps, rng):
    x = rng.normal(size=(3000, 3)).astype(np.float32)  # as every backend takes it
    z = (x > 0).astype(np.float32)
    w = rng.uniform(0.5, 2.0, size=3000)
    cal = wxent.calibrate(backend.asarray(x), backend.asarray(z), sample_weight=backend.asarray(w))
    assert steps["n"] == 0
    smallest = np.abs(x.astype(np.float64)).min(axis=0)
    np.testing.assert_allclose(cal.scale * smallest, fit.SATURATED, rtol=1e-12)
    # equivariant to the logits' scale, as every fit
    again = wxent.calibrate(x.astype(np.float64) * 1e-20, z, sample_weight=w)
    np.testing.assert_allclose(again.scale * 1e-20, cal.scale, rtol=1e-12)


def test_a_label_on_the_wrong_side_is_fitted(steps, rng):
    """One counted mistake gives a finite optimum: the bound is not taken."""
    x = rng.normal(size=2000)
    z = (x > 0).astype(float)
    z[np.argmax(np.abs(x))] = 1 - z[np.argmax(np.abs(x))]  # the most confident one, wrong
    cal = wxent.calibrate(x, z)
    assert steps["n"] > 0
    assert cal.scale * np.abs(x).min() < fit.SATURATED
    # the same mistake with weight 0 counts nothing: separable again
    w = np.ones(2000)
    w[np.argmax(np.abs(x))] = 0.0
    before = steps["n"]
    bound = wxent.calibrate(x, z, sample_weight=w)
    assert steps["n"] == before
    keep = w > 0
    assert bound.scale * np.abs(x[keep]).min() == pytest.approx(fit.SATURATED)


def test_separable_platt_stops_when_the_likelihood_stops_improving(steps, rng):
    x = rng.normal(size=20000)
    for z in ((x > 0).astype(float), (x > 0.7).astype(float), np.ones(20000)):
        steps["n"] = 0
        cal = wxent.calibrate(x, z, method="platt", max_iter=10_000)
        assert 0 < steps["n"] < 100, steps  # all 10_000 before
        t = cal.scale * x + cal.bias
        nll = np.mean(np.logaddexp(0.0, t) - z * t)
        assert nll < 1e-12


@pytest.mark.parametrize("method", ["temperature", "platt"])
def test_fits_with_an_optimum_are_unchanged(steps, rng, method, monkeypatch):
    """Against the same Newton iteration run for all of max_iter (no early stop)."""
    n = 5000
    truth = rng.normal(size=(n, 3))
    z = (rng.random((n, 3)) < 1 / (1 + np.exp(-truth))).astype(float)
    logits = 2.5 * truth + (0.5 if method == "platt" else 0.0)
    cal = wxent.calibrate(logits, z, method=method, max_iter=200)
    used = steps["n"]
    assert used < 3 * 30  # a few Newton steps per label
    monkeypatch.setattr(fit, "IMPROVEMENT", -1.0)  # never stop: every step of max_iter
    full = wxent.calibrate(logits, z, method=method, max_iter=200)
    assert steps["n"] - used > 3 * 150  # (backtracking ends some fits earlier)
    np.testing.assert_allclose(cal.scale, full.scale, rtol=1e-9)
    np.testing.assert_allclose(cal.bias, full.bias, rtol=1e-9, atol=1e-12)
    labels = rng.integers(0, 4, size=n)
    x = rng.normal(size=(n, 4))
    x[np.arange(n), labels] += 1.0
    monkeypatch.setattr(fit, "IMPROVEMENT", 1e-13)
    a = wxent.calibrate(3.0 * x, labels, max_iter=200).temperature
    monkeypatch.setattr(fit, "IMPROVEMENT", -1.0)
    b = wxent.calibrate(3.0 * x, labels, max_iter=200).temperature
    assert a == pytest.approx(b, rel=1e-9)
