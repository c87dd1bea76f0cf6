"""Eager JAX calls compile once: a repeated call, or its ``jax.grad``, compiles nothing.

Called outside ``jax.jit``, a loss runs its rules as cached compiled programs
(``_fastpaths/jax.py``, ``_fastpaths/focal_jax.py``, ``_jax_checks.py``). A rule holding a
``lax.cond`` that ran eagerly instead compiled that ``cond`` again on every call (its
branches and their derivatives are traced anew): the softmax cross-entropy's eager
``jax.value_and_grad`` took about 0.2 s per call at 64 x 10, with label smoothing or
probability labels its forward pass too. Counted here with JAX's own compile events.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.monitoring
import jax.numpy as jnp
import numpy as np
import pytest

import wxent
from conftest import jax_binds, jax_compiles

N, C, D = 12, 5, 4


def _data() -> dict[str, Any]:
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((N, C)), jnp.float32)
    y = jnp.asarray(rng.integers(0, C, N))
    return {
        "x": x,
        "y": y,
        "y_ignored": y.at[0].set(-100),
        "p": jax.nn.softmax(jnp.asarray(rng.standard_normal((N, C)), jnp.float32)),
        "z": jnp.asarray(rng.uniform(size=(N, C)) < 0.4, jnp.float32),
        "w": jnp.asarray(rng.uniform(0.5, 2.0, C), jnp.float32),
        "s": jnp.asarray(rng.uniform(0.5, 2.0, N), jnp.float32),
        "cost": 1.0 - jnp.eye(C),
        "h": jnp.asarray(rng.standard_normal((N, D)), jnp.float32),
        "W": jnp.asarray(rng.standard_normal((C, D)), jnp.float32),
    }


def _cases() -> dict[str, Callable[[dict[str, Any], Any], Any]]:
    prior = jnp.asarray([0.4, 0.3, 0.15, 0.1, 0.05])
    return {
        "softmax_cross_entropy": lambda d, x: wxent.softmax_cross_entropy(x, d["y"]),
        "softmax_cross_entropy smoothing": lambda d, x: wxent.softmax_cross_entropy(
            x, d["y"], label_smoothing=0.1
        ),
        "softmax_cross_entropy weights, ignore_index, weighted_mean": lambda d, x: (
            wxent.softmax_cross_entropy(
                x,
                d["y_ignored"],
                class_weight=d["w"],
                sample_weight=d["s"],
                ignore_index=-100,
                reduction="weighted_mean",
            )
        ),
        "softmax_cross_entropy probabilities": lambda d, x: wxent.softmax_cross_entropy(
            x, d["p"], label_smoothing=0.1
        ),
        "softmax_focal_loss": lambda d, x: wxent.softmax_focal_loss(x, d["y"], gamma=2.0),
        "logit_adjusted_cross_entropy": lambda d, x: wxent.logit_adjusted_cross_entropy(
            x, d["y"], class_prior=prior
        ),
        "sigmoid_cross_entropy": lambda d, x: wxent.sigmoid_cross_entropy(
            x, d["z"], pos_weight=d["w"], label_smoothing=0.1
        ),
        "sigmoid_focal_loss": lambda d, x: wxent.sigmoid_focal_loss(x, d["z"], alpha=0.25),
        "asymmetric_loss": lambda d, x: wxent.asymmetric_loss(x, d["z"]),
        "expected_cost_loss": lambda d, x: wxent.expected_cost_loss(x, d["y"], d["cost"]),
        "cost_sensitive_cross_entropy": lambda d, x: wxent.cost_sensitive_cross_entropy(
            x, d["y"], d["cost"], label_smoothing=0.1
        ),
        "confusion_weighted_cross_entropy": lambda d, x: wxent.confusion_weighted_cross_entropy(
            x, d["y"], d["cost"]
        ),
        "linear_cross_entropy": lambda d, h: wxent.linear_cross_entropy(
            h, d["W"], d["y"], label_smoothing=0.1
        ),
        "sampled_softmax_cross_entropy": lambda d, h: wxent.sampled_softmax_cross_entropy(
            h, d["W"], d["y"], num_sampled=3, seed=0
        ),
    }


CASES = _cases()


@pytest.mark.parametrize("name", list(CASES))
def test_a_repeated_eager_call_and_its_gradient_compile_nothing(name):
    d = _data()
    loss = CASES[name]
    arg = (
        d["h"]
        if name.endswith(("linear_cross_entropy", "sampled_softmax_cross_entropy"))
        else d["x"]
    )

    def f(a):
        return loss(d, a)

    grad = jax.value_and_grad(f)
    for _ in range(2):  # the first calls compile (and fill the caches)
        jax.block_until_ready((f(arg), grad(arg)))
    with jax_compiles() as forward:
        value = jax.block_until_ready(f(arg))
    with jax_compiles() as backward:
        again, g = jax.block_until_ready(grad(arg))
    assert (len(forward), len(backward)) == (0, 0), (
        f"{name}: an eager call compiled {len(forward)} program(s), its value_and_grad "
        f"{len(backward)}"
    )
    assert np.isfinite(float(value)) and float(again) == pytest.approx(float(value), rel=1e-6)
    assert np.all(np.isfinite(np.asarray(g)))


def test_the_compiled_rule_gives_the_traced_callers_values():
    """Eagerly and under a caller's ``jit`` the rule is one program: the same numbers."""
    d = _data()
    x = d["x"].at[1, 2].set(jnp.inf).at[2, 0].set(1e4)

    def f(a):
        return wxent.softmax_cross_entropy(
            a, d["y"], class_weight=d["w"], label_smoothing=0.1, reduction="sum"
        )

    eager = jax.value_and_grad(f)(x)
    traced = jax.jit(jax.value_and_grad(f))(x)
    np.testing.assert_array_equal(np.asarray(eager[0]), np.asarray(traced[0]))
    np.testing.assert_array_equal(np.asarray(eager[1]), np.asarray(traced[1]))


SCHEDULED = {
    "softmax_cross_entropy": lambda d, x, eps: wxent.softmax_cross_entropy(
        x, d["y"], label_smoothing=eps
    ),
    "softmax_cross_entropy probabilities": lambda d, x, eps: wxent.softmax_cross_entropy(
        x, d["p"], label_smoothing=eps
    ),
    "sigmoid_cross_entropy": lambda d, x, eps: wxent.sigmoid_cross_entropy(
        x, d["z"], pos_weight=d["w"], label_smoothing=eps
    ),
}

# Other options a schedule may change (value, the values after it), against the generic path
OPTION_SCHEDULES = {
    "softmax_focal_loss gamma": (
        lambda d, x, g: wxent.softmax_focal_loss(x, d["y"], gamma=g),
        (2.0, 1.5, 0.7, 3.2),
    ),
    "softmax_focal_loss gamma, smoothing": (
        lambda d, x, g: wxent.softmax_focal_loss(x, d["y"], gamma=g, label_smoothing=0.1),
        (2.0, 1.5, 0.7),
    ),
    "sigmoid_focal_loss gamma": (
        lambda d, x, g: wxent.sigmoid_focal_loss(x, d["z"], gamma=g, alpha=0.25),
        (2.0, 1.5, 0.7, 3.2),
    ),
    "asymmetric_loss gamma_neg": (
        lambda d, x, g: wxent.asymmetric_loss(x, d["z"], gamma_neg=g),
        (4.0, 3.0, 2.5),
    ),
    "asymmetric_loss clip": (
        lambda d, x, c: wxent.asymmetric_loss(x, d["z"], clip=c),
        (0.05, 0.1, 0.3),
    ),
    "asymmetric_loss high clip": (
        lambda d, x, c: wxent.asymmetric_loss(x, d["z"], clip=c),
        (0.6, 0.75, 0.999),
    ),
}


@pytest.mark.parametrize("name", list(OPTION_SCHEDULES))
def test_a_focal_option_schedule_compiles_once(name, monkeypatch):
    """A new gamma or clip per eager call runs the programs already compiled."""
    from wxent import _fastpaths

    d = _data()
    loss, values = OPTION_SCHEDULES[name]
    x = d["x"].at[0, 1].set(30.0).at[1, 2].set(-30.0)
    grad = jax.value_and_grad(lambda a, v: loss(d, a, v))
    jax.block_until_ready((loss(d, x, values[0]), grad(x, values[0])))
    for v in values[1:]:
        with jax_compiles() as seen:
            value, g = jax.block_until_ready(grad(x, v))
            plain = jax.block_until_ready(loss(d, x, v))
        assert len(seen) == 0, f"{name}={v} compiled {len(seen)} program(s)"
        with monkeypatch.context() as m:
            m.setattr(_fastpaths, "ENABLED", False)
            ref_value, ref_g = jax.value_and_grad(lambda a, v=v: loss(d, a, v))(x)
        assert float(plain) == float(value)
        assert float(value) == pytest.approx(float(ref_value), rel=2e-6)
        np.testing.assert_allclose(np.asarray(g), np.asarray(ref_g), rtol=2e-5, atol=1e-7)


def _smoothed_reference(name: str, d: dict[str, Any], eps: float) -> float:
    x = np.asarray(d["x"], np.float64)
    if name.startswith("sigmoid"):
        t = np.asarray(d["z"], np.float64) * (1 - eps) + eps / 2
        w = np.asarray(d["w"], np.float64)
        log_p, log_q = -np.logaddexp(0, -x), -np.logaddexp(0, x)
        return float(np.mean(-(w * t * log_p + (1 - t) * log_q)))
    log_p = x - np.log(np.sum(np.exp(x), axis=1, keepdims=True))
    t = np.asarray(d["p"], np.float64) if "prob" in name else np.eye(C)[np.asarray(d["y"])]
    t = t * (1 - eps) + eps / C
    return float(np.mean(-np.sum(t * log_p, axis=1)))


@pytest.mark.parametrize("name", list(SCHEDULED))
def test_a_label_smoothing_schedule_compiles_once(name):
    """A new smoothing value per eager call (a schedule) runs the programs already compiled."""
    d, loss = _data(), SCHEDULED[name]
    grad = jax.value_and_grad(lambda a, eps: loss(d, a, eps))
    jax.block_until_ready((loss(d, d["x"], 0.05), grad(d["x"], 0.05)))
    for eps in (0.1, 0.35, 0.8):
        with jax_compiles() as seen:
            value, g = jax.block_until_ready(grad(d["x"], eps))
            plain = jax.block_until_ready(loss(d, d["x"], eps))
        assert len(seen) == 0, f"{name}: label_smoothing={eps} compiled {len(seen)} program(s)"
        reference = _smoothed_reference(name, d, eps)
        assert float(plain) == pytest.approx(reference, rel=1e-6)
        assert float(value) == pytest.approx(reference, rel=1e-6)
        assert np.all(np.isfinite(np.asarray(g)))


METRICS = {  # name: (call, the most primitives an eager call binds)
    "confusion_matrix": (lambda d, a: wxent.confusion_matrix(a, d["y"]), 12),
    "precision": (lambda d, a: wxent.precision(a, d["y"], average="macro"), 20),
    "expected_cost": (lambda d, a: wxent.expected_cost(a, d["y"], np.asarray(d["cost"])), 24),
}


@pytest.mark.parametrize("name", list(METRICS))
def test_an_eager_metric_counts_in_compiled_scatters(name):
    """The class counts' scatter-adds are one compiled call each, not ~8 eager operations."""
    d = _data()
    call, budget = METRICS[name]
    for _ in range(2):  # (the second call compiles the whole metric: _jax_metric_graphs)
        jax.block_until_ready(call(d, d["x"]))
    with jax_binds() as seen:
        got = jax.block_until_ready(call(d, d["x"]))
    assert len(seen) <= budget, seen
    host = {k: np.asarray(v) for k, v in d.items()}
    np.testing.assert_allclose(np.asarray(got), np.asarray(call(host, host["x"])), rtol=1e-6)
