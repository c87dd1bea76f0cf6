"""Weights from counts anywhere in the float64 range: never inf, never NaN.

The weights of every scheme and normalisation are compared with a 60-digit reference
(mpmath) on counts from the smallest subnormal to the largest float; where float64
cannot hold a weight, wxent refuses with its message instead of returning inf, NaN or a
silent 0.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import wxent

SCHEMES = ["balanced", "inverse", "inverse_sqrt", "effective_number", "median_frequency"]
NORMALIZE = [None, "sum", "mean"]
TOO_WIDE = r"Expected counts whose (weights|frequencies) fit in float64"

mpmath.mp.dps = 60


def reference(counts: list[float], scheme: str, normalize: str | None, beta: float) -> list:
    """The weights in 60-digit arithmetic (every count > 0)."""
    n = [mpmath.mpf(c) for c in counts]
    size = len(n)
    if scheme == "balanced":
        w = [sum(n) / (size * c) for c in n]
    elif scheme == "inverse":
        w = [1 / c for c in n]
    elif scheme == "inverse_sqrt":
        w = [1 / mpmath.sqrt(c) for c in n]
    elif scheme == "effective_number":
        b = mpmath.mpf(beta)
        w = [(1 - b) / -mpmath.expm1(c * mpmath.log(b)) for c in n] if beta else [1] * size
    else:
        s = sorted(n)
        k = len(s)
        median = s[k // 2] if k % 2 else (s[k // 2 - 1] + s[k // 2]) / 2
        w = [median / c for c in n]
    if normalize == "sum":
        w = [x / sum(w) for x in w]
    elif normalize == "mean":
        w = [x * size / sum(w) for x in w]
    return w


def representable(w: list) -> bool:
    """Every weight within the normal float64 range (subnormals lose digits)."""
    return all(mpmath.mpf("2.3e-308") <= x <= mpmath.mpf("1.7e308") for x in w)


# Counts spanning the float64 range: subnormal, tiny, ordinary, huge.
extreme = st.one_of(
    st.floats(5e-324, 1e-300),
    st.floats(1e-300, 1e-10),
    st.floats(1e-10, 1e10),
    st.floats(1e10, 1.7976931348623157e308),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(extreme, min_size=1, max_size=6),
    st.sampled_from(SCHEMES),
    st.sampled_from(NORMALIZE),
    st.sampled_from([0.0, 0.5, 0.999, 0.9999999]),
)
def test_every_output_finite_positive_or_refused(counts, scheme, normalize, beta):
    expected = reference(counts, scheme, normalize, beta)
    try:
        got = wxent.class_weights(counts=counts, scheme=scheme, normalize=normalize, beta=beta)
    except ValueError as error:
        assert "fit in float64" in str(error)
        # Refused only where float64 cannot hold the answer.
        assert not representable(expected), (counts, scheme, normalize, expected)
        return
    assert np.isfinite(got).all() and (got > 0).all(), (counts, scheme, normalize, got)
    for g, e in zip(got, expected, strict=True):
        if e >= mpmath.mpf("2.3e-308"):  # normal range: full precision
            assert math.isclose(g, float(e), rel_tol=1e-12), (counts, scheme, normalize)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(1e-150, 1e150), min_size=1, max_size=6),
    st.sampled_from(SCHEMES),
    st.sampled_from(NORMALIZE),
)
def test_never_refused_when_representable(counts, scheme, normalize):
    # Weight ratios up to 1e300 fit, whatever the scale of the counts.
    got = wxent.class_weights(counts=counts, scheme=scheme, normalize=normalize)
    assert np.isfinite(got).all() and (got > 0).all()
    if normalize == "sum":
        assert math.isclose(got.sum(), 1.0, rel_tol=1e-12)


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("normalize", NORMALIZE)
def test_issue_reproducers(scheme, normalize):
    same = wxent.class_weights(counts=[1e308, 1e308], scheme=scheme, normalize=normalize)
    assert np.isfinite(same).all() and same[0] == same[1] > 0
    if normalize is not None:
        np.testing.assert_allclose(same, [0.5, 0.5] if normalize == "sum" else [1.0, 1.0])
    if normalize is None and scheme != "inverse_sqrt":  # 1e320 is beyond float64
        with pytest.raises(ValueError, match=r"`counts`. " + TOO_WIDE):
            wxent.class_weights(counts=[1e-320, 1], scheme=scheme)
    else:
        w = wxent.class_weights(counts=[1e-320, 1], scheme=scheme, normalize=normalize)
        assert np.isfinite(w).all() and (w > 0).all() and w[0] > w[1]


@pytest.mark.parametrize("zero_count", ["zero", "max"])
@pytest.mark.parametrize("normalize", NORMALIZE)
def test_zero_count_policies_at_extreme_counts(zero_count, normalize):
    w = wxent.class_weights(counts=[1e308, 0.0, 1e300], zero_count=zero_count, normalize=normalize)
    assert np.isfinite(w).all()
    assert (w[1] == 0.0) if zero_count == "zero" else (w[1] == w.max() > 0)
    assert w[0] > 0 and w[2] > 0


def test_pos_weights_extreme_counts():
    # A ratio beyond float64: capped when max_weight is given, else refused.
    capped = wxent.pos_weights(counts=[[1e308, 1.0], [1e-320, 1.0]], max_weight=50.0)
    np.testing.assert_array_equal(capped, [50.0, 1.0])
    with pytest.raises(ValueError, match=r"`counts`. " + TOO_WIDE):
        wxent.pos_weights(counts=[[1e308, 1.0], [1e-320, 1.0]])
    with pytest.raises(ValueError, match=TOO_WIDE):  # 5e-324 / 1e308 underflows to 0
        wxent.pos_weights(counts=[[5e-324], [1e308]])
    huge = wxent.pos_weights(counts=[[1e308, 0.0], [1e308, 1e-300]])
    np.testing.assert_array_equal(huge, [1.0, 0.0])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(extreme, extreme), min_size=1, max_size=5))
def test_pos_weights_finite_or_refused(pairs):
    counts = np.array(pairs).T
    exact = [mpmath.mpf(n) / mpmath.mpf(p) for n, p in pairs]
    try:
        got = wxent.pos_weights(counts=counts)
    except ValueError as error:
        assert "fit in float64" in str(error)
        assert not representable(exact)
        return
    assert np.isfinite(got).all() and (got > 0).all()
    for g, e in zip(got, exact, strict=True):
        if e >= mpmath.mpf("2.3e-308"):
            assert math.isclose(g, float(e), rel_tol=1e-15)


@settings(max_examples=200, deadline=None)
@given(st.lists(extreme, min_size=1, max_size=6), st.sampled_from(["raise", "laplace"]))
def test_class_prior_finite_positive_or_refused(counts, zero_count):
    try:
        prior = wxent.class_prior(counts=counts, zero_count=zero_count)
    except ValueError as error:
        assert "fit in float64" in str(error)
        n = [mpmath.mpf(c) + (1 if zero_count == "laplace" else 0) for c in counts]
        assert min(n) / sum(n) < mpmath.mpf("2.3e-308")
        return
    assert np.isfinite(prior).all() and (prior > 0).all()
    assert math.isclose(prior.sum(), 1.0, rel_tol=1e-12)


def test_class_prior_issue_shape():
    np.testing.assert_allclose(wxent.class_prior(counts=[1e308, 1e308]), [0.5, 0.5])
    with pytest.raises(ValueError, match=TOO_WIDE):
        wxent.class_prior(counts=[1e308, 1e-300])


def test_sample_weights_whose_sum_overflows():
    with pytest.raises(ValueError, match=r"`sample_weight`. Expected weights whose sum"):
        wxent.class_weights([0, 0, 1], sample_weight=[1e308, 1e308, 1.0])
    with pytest.raises(ValueError, match=r"`sample_weight`. Expected weights whose sum"):
        wxent.pos_weights(np.eye(2)[[0, 0, 1]], sample_weight=[1e308, 1e308, 1.0])
