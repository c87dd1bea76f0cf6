"""Bayes decisions and cost thresholds from logits."""

from __future__ import annotations

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow as tf
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import reference_cost as ref
import wxent

C = 5


def _msg(text: str) -> str:
    return re.escape(text)


def _random_costs(rng, c=C):
    costs = rng.uniform(0.0, 5.0, size=(c, c))
    np.fill_diagonal(costs, 0.0)
    return costs


# ----------------------------------------------------------------------------- bayes_decision


def test_bayes_decision_is_brute_force_argmin(backend, rng):
    logits = (2.0 * rng.standard_normal((40, C))).astype(np.float32)
    costs = _random_costs(rng)
    out = backend.call(lambda x: wxent.bayes_decision(x, costs), logits)
    expected, margin = ref.bayes_decision(logits, costs)
    clear = margin > 1e-4  # near ties may go either way in float32
    assert clear.sum() > 30
    np.testing.assert_array_equal(out[clear], expected[clear])


def test_bayes_decision_with_one_minus_identity_is_argmax(backend, rng):
    logits = (3.0 * rng.standard_normal((40, C))).astype(np.float32)
    out = backend.call(lambda x: wxent.bayes_decision(x, 1 - np.eye(C)), logits)
    np.testing.assert_array_equal(out, np.argmax(logits, axis=-1))


def test_bayes_decision_class_axis_and_framework_costs(backend, rng):
    logits = rng.standard_normal((3, C, 4)).astype(np.float32)
    costs = _random_costs(rng).astype(np.float32)
    out = backend.call(lambda x, c: wxent.bayes_decision(x, c, class_axis=1), logits, costs)
    expected, margin = ref.bayes_decision(logits, costs, class_axis=1)
    assert out.shape == (3, 4)
    clear = margin > 1e-4
    np.testing.assert_array_equal(out[clear], expected[clear])


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_classes=st.integers(2, 6))
def test_bayes_decision_minimises_expected_cost(seed, n_classes):
    """No other prediction has a smaller expected cost (up to float32 rounding)."""
    rng = np.random.default_rng(seed)
    logits = (4.0 * rng.standard_normal((20, n_classes))).astype(np.float32)
    costs = _random_costs(rng, n_classes)
    decisions = wxent.bayes_decision(logits, costs)
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p = p / p.sum(-1, keepdims=True)
    risks = p.astype(np.float64) @ costs
    chosen = risks[np.arange(20), decisions]
    assert np.all(chosen <= risks.min(-1) + 1e-5 * (1 + risks.min(-1)))


def test_bayes_decision_returns_framework_integers(rng):
    logits = rng.standard_normal((4, 3)).astype(np.float32)
    costs = 1 - np.eye(3)
    out_t = wxent.bayes_decision(torch.from_numpy(logits), costs)
    assert isinstance(out_t, torch.Tensor) and not out_t.dtype.is_floating_point
    out_j = jax.jit(lambda x: wxent.bayes_decision(x, costs))(jnp.asarray(logits))
    assert isinstance(out_j, jax.Array) and jnp.issubdtype(out_j.dtype, jnp.integer)
    out_tf = tf.function(lambda x: wxent.bayes_decision(x, costs))(tf.constant(logits))
    assert isinstance(out_tf, tf.Tensor) and out_tf.dtype.is_integer
    out_np = wxent.bayes_decision(logits, costs)
    assert isinstance(out_np, np.ndarray) and out_np.dtype.kind == "i"


def test_bayes_decision_errors(rng):
    logits = rng.standard_normal((4, 3)).astype(np.float32)
    with pytest.raises(
        ValueError,
        match=_msg(
            "Invalid value for argument `costs`. Expected a square matrix of shape (3, 3), one "
            "row and column per class. Received: costs of shape (2, 2)"
        ),
    ):
        wxent.bayes_decision(logits, np.ones((2, 2)))
    with pytest.raises(ValueError, match=_msg("Received: negative value")):
        wxent.bayes_decision(logits, -np.ones((3, 3)))
    with pytest.raises(TypeError, match=_msg("Invalid type for argument `logits`")):
        wxent.bayes_decision(np.zeros((2, 3), dtype=np.int64), 1 - np.eye(3))
    with pytest.raises(ValueError, match=_msg("Invalid value for argument `class_axis`")):
        wxent.bayes_decision(logits, 1 - np.eye(3), class_axis=2)
    nan = logits.copy()
    nan[0, 0] = np.nan
    with pytest.raises(ValueError, match=_msg("Received: 1 NaN value(s) in `logits`")):
        wxent.bayes_decision(nan, 1 - np.eye(3))


# ----------------------------------------------------------------------------- cost_threshold

costs_st = st.floats(0.0, 100.0, allow_nan=False)


@settings(max_examples=25, deadline=None)
@given(
    cost_fp=st.floats(0.01, 100.0),
    cost_fn=st.floats(0.01, 100.0),
    cost_tp=st.floats(0.0, 1.0),
    cost_tn=st.floats(0.0, 1.0),
)
def test_cost_threshold_is_elkan_logit(cost_fp, cost_fn, cost_tp, cost_tn):
    cost_fp, cost_fn = cost_fp + cost_tn, cost_fn + cost_tp  # both regrets > 0
    t = wxent.cost_threshold(cost_fp=cost_fp, cost_fn=cost_fn, cost_tp=cost_tp, cost_tn=cost_tn)
    p_star = ref.elkan_threshold(cost_fp, cost_fn, cost_tp, cost_tn)
    assert math.isclose(t, math.log(p_star / (1 - p_star)), rel_tol=1e-9, abs_tol=1e-9)


@settings(max_examples=50, deadline=None)
@given(
    logit=st.floats(-40.0, 40.0),
    cost_fp=costs_st,
    cost_fn=costs_st,
    cost_tp=costs_st,
    cost_tn=costs_st,
)
def test_deciding_with_cost_threshold_minimises_expected_cost(
    logit, cost_fp, cost_fn, cost_tp, cost_tn
):
    a, b = cost_fp - cost_tn, cost_fn - cost_tp
    if (a == 0 and b == 0) or (a < 0 and b < 0):
        with pytest.raises(ValueError, match="Invalid value for argument `cost_fp`"):
            wxent.cost_threshold(cost_fp=cost_fp, cost_fn=cost_fn, cost_tp=cost_tp, cost_tn=cost_tn)
        return
    t = wxent.cost_threshold(cost_fp=cost_fp, cost_fn=cost_fn, cost_tp=cost_tp, cost_tn=cost_tn)
    positive, negative = ref.binary_expected_costs(logit, cost_fp, cost_fn, cost_tp, cost_tn)
    chosen, other = (positive, negative) if logit > t else (negative, positive)
    assert chosen <= other + 1e-9 * (1 + abs(other))
    # and the decision agrees with the sigmoid logits metrics use
    decided = wxent.confusion_matrix(np.array([logit]), np.array([1]), threshold=t)
    assert decided[1, 1] == (logit > t)


def test_cost_threshold_degenerate_cases():
    assert wxent.cost_threshold(cost_fp=1.0, cost_fn=1.0) == 0.0
    assert wxent.cost_threshold(cost_fp=0.0, cost_fn=1.0) == -math.inf  # positive never worse
    assert wxent.cost_threshold(cost_fp=2.0, cost_fn=1.0, cost_tp=1.0) == math.inf
    assert wxent.cost_threshold(cost_fp=1.0, cost_fn=0.0, cost_tp=2.0) == math.inf
    with pytest.raises(
        ValueError,
        match=_msg(
            "Invalid value for argument `cost_fp`. Expected costs under which the decision "
            "matters (cost_fp != cost_tn or cost_fn != cost_tp). Received: cost_fp=1.0, "
            "cost_fn=2.0, cost_tp=2.0, cost_tn=1.0"
        ),
    ):
        wxent.cost_threshold(cost_fp=1.0, cost_fn=2.0, cost_tp=2.0, cost_tn=1.0)
    with pytest.raises(ValueError, match=_msg("are the arguments swapped?")):
        wxent.cost_threshold(cost_fp=0.0, cost_fn=0.0, cost_tp=1.0, cost_tn=1.0)
    with pytest.raises(
        ValueError,
        match=_msg(
            "Invalid value for argument `cost_fn`. Expected a finite number >= 0. "
            "Received: cost_fn=-1.0"
        ),
    ):
        wxent.cost_threshold(cost_fp=1.0, cost_fn=-1.0)
    with pytest.raises(ValueError, match=_msg("Received: cost_tp=inf")):
        wxent.cost_threshold(cost_fp=1.0, cost_fn=1.0, cost_tp=math.inf)
    with pytest.raises(
        TypeError,
        match=_msg(
            "Invalid type for argument `cost_fp`. Expected a finite number >= 0. "
            "Received: cost_fp='1'"
        ),
    ):
        wxent.cost_threshold(cost_fp="1", cost_fn=1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="cost_fn"):
        wxent.cost_threshold(cost_fp=1.0)  # type: ignore[call-arg]


def test_bayes_decision_returns_class_names(rng):
    names = ["cat", "dog", "fox"]
    costs = wxent.cost_matrix(names, costs={("fox", "cat"): 20.0, ("dog", "fox"): 3.0})
    logits = rng.standard_normal((12, 3)).astype(np.float32)
    indices = wxent.bayes_decision(logits, costs)
    for make in (np.asarray, torch.from_numpy, jnp.asarray, tf.constant):
        out = wxent.bayes_decision(make(logits), costs, classes=names)
        assert isinstance(out, np.ndarray)
        assert out.tolist() == [names[i] for i in indices]
    codes = wxent.bayes_decision(logits, costs, classes=[10, 20, 30])
    assert codes.tolist() == [[10, 20, 30][i] for i in indices]
    with pytest.raises(
        ValueError,
        match=_msg(
            "Invalid value for argument `classes`. Expected 3 class names, one per class of "
            "`logits`. Received: 2 name(s)"
        ),
    ):
        wxent.bayes_decision(logits, costs, classes=["cat", "dog"])
    with pytest.raises(TypeError, match=_msg("Invalid type for argument `classes`")):
        wxent.bayes_decision(logits, costs, classes="cat")
    with pytest.raises(TypeError, match=_msg("Expected None while tracing")):
        jax.jit(lambda x: wxent.bayes_decision(x, costs, classes=names))(jnp.asarray(logits))


def test_bayes_decision_reads_one_scalar(rng, monkeypatch):
    logits = torch.from_numpy(rng.standard_normal((8, 3)).astype(np.float32))
    reads = []
    for name in ("numpy", "cpu", "item", "tolist", "__bool__", "__float__", "__int__"):
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _name=name, _original=original, **kwargs):
            reads.append((_name, tuple(self.shape)))
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    wxent.bayes_decision(logits, 1 - np.eye(3))
    assert len(reads) == 1 and reads[0][1] == (), reads


def test_bayes_decision_checks_framework_costs_with_one_read(rng, monkeypatch):
    logits = torch.from_numpy(rng.standard_normal((8, 3)).astype(np.float32))
    costs = torch.from_numpy(1 - np.eye(3, dtype=np.float32))
    reads = []
    original = torch.Tensor.__bool__

    def counted(self):
        reads.append(tuple(self.shape))
        return original(self)

    monkeypatch.setattr(torch.Tensor, "__bool__", counted)
    monkeypatch.setattr(torch.Tensor, "numpy", lambda self: pytest.fail("host copy"))
    wxent.bayes_decision(logits, costs)
    assert reads == [()]
    monkeypatch.undo()
    for make in (torch.from_numpy, jnp.asarray, tf.constant):
        with pytest.raises(
            ValueError,
            match=_msg(
                "Invalid value for argument `costs`. Expected finite non-negative values. "
                "Received: negative value -1.0 in `costs`"
            ),
        ):
            wxent.bayes_decision(make(logits.numpy()), make(-np.ones((3, 3), np.float32)))
