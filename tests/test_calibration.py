"""calibrate, unweight_logits and the expected calibration error."""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy import optimize, special
from sklearn.linear_model import LogisticRegression

import wxent


def _msg(text):
    return re.escape(text)


def _sample(rng, probs):
    """One class per row of ``probs`` (inverse CDF)."""
    return (rng.random((probs.shape[0], 1)) > probs.cumsum(axis=1)).sum(axis=1)


# ----------------------------------------------------------------------------- float64 optimum


def test_softmax_temperature_equals_the_float64_optimum(rng):
    truth = 1.5 * rng.normal(size=(3000, 5))
    labels = _sample(rng, special.softmax(truth, axis=1))
    logits = (2.5 * truth).astype(np.float32)
    weight = rng.uniform(0.2, 2.0, size=3000)

    def nll(t, w):
        z = logits.astype(np.float64) / t
        per = special.logsumexp(z, axis=1) - z[np.arange(3000), labels]
        return np.sum(w * per) / np.sum(w)

    for w in (None, weight):
        cal = wxent.calibrate(logits, labels, sample_weight=w)
        ref = optimize.minimize_scalar(
            nll,
            bounds=(0.05, 50),
            args=(np.ones(3000) if w is None else w,),
            method="bounded",
            options={"xatol": 1e-12},
        )
        assert cal.method == "temperature" and cal.bias == 0.0
        assert cal.temperature == pytest.approx(ref.x, rel=1e-6)
    assert 2.0 < cal.temperature < 3.0


@pytest.mark.parametrize("method", ["temperature", "platt"])
def test_sigmoid_fits_per_label_equal_the_float64_optimum(method, rng):
    truth = rng.normal(size=(4000, 3)) - 1.0
    labels = (rng.random((4000, 3)) < special.expit(truth)).astype(np.float32)
    logits = (np.array([3.0, 0.5, 1.0]) * truth + np.array([1.0, 0.0, -2.0])).astype(np.float32)
    cal = wxent.calibrate(logits, labels, method=method)
    for j in range(3):
        x, z = logits[:, j].astype(np.float64), labels[:, j]

        def nll(p, x=x, z=z):
            t = p[0] * x + (p[1] if method == "platt" else 0.0)
            return np.mean(np.logaddexp(0, t) - z * t)

        start = [1.0, 0.0] if method == "platt" else [1.0]
        ref = optimize.minimize(nll, start, method="BFGS", options={"gtol": 1e-12}).x
        scale = cal.scale[j]
        assert scale == pytest.approx(ref[0], rel=1e-5)
        if method == "platt":
            assert cal.bias[j] == pytest.approx(ref[1], rel=1e-5, abs=1e-7)
            lr = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10000)
            lr.fit(x[:, None], z)
            assert scale == pytest.approx(lr.coef_[0, 0], rel=1e-4)
            assert cal.bias[j] == pytest.approx(lr.intercept_[0], rel=1e-4, abs=1e-6)
    if method == "platt":
        np.testing.assert_allclose(cal.bias, [-1.0 / 3.0, 0.0, 2.0], atol=0.25)
        assert cal.temperature is None
    else:
        np.testing.assert_allclose(cal.temperature, 1.0 / cal.scale)


def test_one_fit_for_all_labels_and_binary_logits(rng):
    truth = rng.normal(size=(2000, 2))
    labels = (rng.random((2000, 2)) < special.expit(truth)).astype(np.float32)
    pooled = wxent.calibrate(2.0 * truth, labels, per_label=False)
    binary = wxent.calibrate(2.0 * truth.ravel(), labels.ravel())
    assert isinstance(pooled.temperature, float)
    assert pooled.temperature == pytest.approx(binary.temperature, rel=1e-9)
    assert pooled.temperature == pytest.approx(2.0, rel=0.1)


# ----------------------------------------------------------------------------- frameworks


def test_calibration_applies_in_every_framework(backend, rng):
    logits = rng.normal(size=(20, 3)).astype(np.float32)
    labels = (rng.random((20, 3)) < 0.4).astype(np.float32)
    cal = wxent.calibrate(logits, labels, method="platt")
    out = backend.call(cal, logits)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, logits * cal.scale + cal.bias, rtol=1e-6, atol=1e-6)
    first = np.moveaxis(logits.reshape(4, 5, 3), -1, 1).copy()
    cal1 = wxent.calibrate(
        first, np.moveaxis(labels.reshape(4, 5, 3), -1, 1).copy(), method="platt", class_axis=1
    )
    np.testing.assert_allclose(cal1.scale, cal.scale, rtol=1e-9)
    out = backend.call(cal1, first)
    expected = first * cal.scale[None, :, None] + cal.bias[None, :, None]
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_fitting_reads_every_framework(eager_backend, rng):
    logits = rng.normal(size=(200, 4)).astype(np.float32)
    labels = rng.integers(0, 4, size=200)
    expected = wxent.calibrate(logits, labels).temperature
    out = wxent.calibrate(eager_backend.asarray(logits), eager_backend.asarray(labels))
    assert out.temperature == pytest.approx(expected, rel=1e-9)
    ece = wxent.expected_calibration_error(logits, labels)
    assert wxent.expected_calibration_error(
        eager_backend.asarray(logits), eager_backend.asarray(labels)
    ) == pytest.approx(ece, rel=1e-6)


def test_unweight_logits_in_every_framework(backend, rng):
    logits = rng.normal(size=(6, 3)).astype(np.float32)
    w = np.array([2.0, 0.5, 9.0])
    out = backend.call(lambda x: wxent.unweight_logits(x, pos_weight=w, neg_weight=2.0), logits)
    np.testing.assert_allclose(out, logits - np.log(w) + np.log(2.0), rtol=1e-6)
    out = backend.call(lambda x: wxent.unweight_logits(x, class_weight=w, class_axis=1), logits)
    np.testing.assert_allclose(out, logits - np.log(w), rtol=1e-6)


# ----------------------------------------------------------------------------- log w shift


def _lr(x, y, **kwargs):
    return LogisticRegression(C=np.inf, tol=1e-12, max_iter=10000, **kwargs).fit(x, y)


def test_log_w_shift_recovers_the_unweighted_probabilities_exactly(rng):
    # a saturated model (one-hot cells): each fit reproduces its cell's weighted odds
    cells = rng.integers(0, 6, size=20000)
    x = np.eye(6)[cells]
    p = np.linspace(0.03, 0.4, 6)[cells]
    y = (rng.random(20000) < p).astype(int)
    plain = _lr(x, y, fit_intercept=False)
    for w in (4.0, 29.0):
        weighted = _lr(x, y, fit_intercept=False, class_weight={0: 1.0, 1: w})
        by_sample = _lr(x, y, fit_intercept=False).fit(x, y, sample_weight=np.where(y, w, 1.0))
        for model in (weighted, by_sample):
            logits = model.decision_function(np.eye(6))
            fixed = special.expit(wxent.unweight_logits(logits, pos_weight=w))
            np.testing.assert_allclose(fixed, plain.predict_proba(np.eye(6))[:, 1], atol=1e-6)
            assert np.abs(special.expit(logits) - fixed).max() > 0.1  # the shift matters
    # softmax: multinomial with class weights, logits - log w_c
    y3 = _sample(
        rng,
        np.stack([np.full(6, 0.7), np.linspace(0.05, 0.25, 6), np.linspace(0.25, 0.05, 6)], axis=1)[
            cells
        ],
    )
    plain3 = _lr(x, y3, fit_intercept=False)
    cw = np.array([1.0, 6.0, 3.0])
    weighted3 = _lr(x, y3, fit_intercept=False, class_weight=dict(enumerate(cw)))
    fixed = special.softmax(
        wxent.unweight_logits(weighted3.decision_function(np.eye(6)), class_weight=cw), axis=1
    )
    np.testing.assert_allclose(fixed, plain3.predict_proba(np.eye(6)), atol=1e-6)


def test_log_w_shift_on_a_well_specified_continuous_model(rng):
    n = 200000
    x = rng.normal(size=(n, 3))
    y = (rng.random(n) < special.expit(x @ [1.0, -0.5, 0.8] - 2.5)).astype(int)
    test = rng.normal(size=(500, 3))
    plain = _lr(x, y).predict_proba(test)[:, 1]
    weighted = _lr(x, y, class_weight={0: 1.0, 1: 12.0})
    fixed = special.expit(wxent.unweight_logits(weighted.decision_function(test), pos_weight=12.0))
    assert np.abs(fixed - plain).max() < 0.02  # sampling noise of two fits
    assert np.abs(weighted.predict_proba(test)[:, 1] - plain).max() > 0.3


# ----------------------------------------------------------------------------- ECE


def _ece_loop(prob, hit, bins):
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = [
            (p, h)
            for p, h in zip(prob, hit, strict=True)
            if lo <= p < hi or (b == bins - 1 and p == 1.0)
        ]
        if inside:
            ps, hs = zip(*inside, strict=True)
            total += len(inside) / len(prob) * abs(np.mean(hs) - np.mean(ps))
    return total


def test_ece_equals_a_loop_and_falls_after_calibration(rng):
    truth = 1.5 * rng.normal(size=(3000, 4))
    labels = _sample(rng, special.softmax(truth, axis=1))
    logits = 3.0 * truth
    probs = special.softmax(logits, axis=1)
    expected = _ece_loop(probs.max(axis=1), probs.argmax(axis=1) == labels, 10)
    assert wxent.expected_calibration_error(logits, labels, bins=10) == pytest.approx(expected)
    before = wxent.expected_calibration_error(logits, labels)
    after = wxent.expected_calibration_error(wxent.calibrate(logits, labels)(logits), labels)
    assert after < before / 3
    z = (rng.random((500, 2)) < 0.3).astype(np.float32)
    x = rng.normal(size=(500, 2)) + z
    expected = _ece_loop(special.expit(x).ravel(), z.ravel(), 15)
    assert wxent.expected_calibration_error(x, z) == pytest.approx(expected)
    mean, freq, weight = wxent.calibration.reliability_bins(x, z, bins=15)
    assert weight.sum() == 1000 and mean.shape == freq.shape == (15,)


# ----------------------------------------------------------------------------- errors


def test_errors_name_the_argument(rng):
    logits = rng.normal(size=(8, 3))
    labels = rng.integers(0, 3, size=8)
    with pytest.raises(ValueError, match=_msg('`method`. Expected "temperature" or "platt"')):
        wxent.calibrate(logits, labels, method="isotonic")
    with pytest.raises(ValueError, match=_msg('"temperature" for softmax logits')):
        wxent.calibrate(logits, labels, method="platt")
    with pytest.raises(ValueError, match=_msg("`class_weight`. Expected either pos_weight")):
        wxent.unweight_logits(logits)
    with pytest.raises(ValueError, match=_msg("a zero in `pos_weight`")):
        wxent.unweight_logits(logits, pos_weight=[1.0, 0.0, 2.0])
    with pytest.raises(ValueError, match=_msg("`pos_weight`. Expected a scalar or one value")):
        wxent.unweight_logits(logits, pos_weight=[1.0, 2.0])
    with pytest.raises(ValueError, match=_msg("`bins`. Expected a positive integer")):
        wxent.expected_calibration_error(logits, labels, bins=0)
    cal = wxent.calibrate(logits, (logits > 0).astype(float), method="platt")
    with pytest.raises(ValueError, match=_msg("3 labels along class_axis=-1")):
        cal(rng.normal(size=(4, 2)))


def test_calibration_and_unweighting_trace_under_torch_compile(rng):
    import torch

    x = rng.normal(size=(50, 3)).astype(np.float32)
    z = (rng.random((50, 3)) < 0.3).astype(np.float32)
    cal = wxent.calibrate(x, z, method="platt")
    f = torch.compile(cal, backend="eager", fullgraph=True)
    np.testing.assert_allclose(f(torch.from_numpy(x)).numpy(), x * cal.scale + cal.bias, rtol=1e-5)
    g = torch.compile(
        lambda a: wxent.unweight_logits(a, pos_weight=[2.0, 3.0, 4.0]),
        backend="eager",
        fullgraph=True,
    )
    np.testing.assert_allclose(
        g(torch.from_numpy(x)).numpy(), x - np.log([2.0, 3.0, 4.0]), rtol=1e-5
    )
