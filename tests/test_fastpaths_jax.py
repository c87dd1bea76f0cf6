"""The JAX rule of integer-label softmax cross-entropy under ``jax.jit``.

Traced calls mask the rows that do not count and take the ``+inf`` limits inside the
rule's own reductions (``src/wxent/_fastpaths/jax.py``): no full-size operation runs
ahead of it. Values, gradients and Hessian-vector products equal the generic path's
(fast paths off) and float64, with ignored rows holding NaN, rows holding ``+inf``, zero
weights, label smoothing and ``vmap``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import wxent
from jaxpr_tools import dot_generals
from wxent import _fastpaths

N, C = 6, 5


def _data():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((N, C)).astype(np.float32)
    x[1, 2] = x[1, 4] = np.inf  # target among two +inf entries: log 2, gradient 0
    x[2, 0] = np.inf  # target finite in a +inf row: inf
    x[3, :] = np.nan  # ignored below: loss 0, gradient 0
    x[4, 1] = -np.inf
    labels = np.array([0, 2, 3, -100, 0, 4])
    weight = np.array([1.0, 2.0, 0.5, 3.0, 1.5], np.float32)
    return jnp.asarray(x), jnp.asarray(labels), jnp.asarray(weight)


def _loss(eps, reduction="sum", rows=slice(None)):
    _, labels, weight = _data()

    def f(z):
        return wxent.softmax_cross_entropy(
            z,
            labels[rows],
            class_weight=weight,
            ignore_index=-100,
            label_smoothing=eps,
            reduction=reduction,
        )

    return f


def _generic(monkeypatch, compute):
    monkeypatch.setattr(_fastpaths, "ENABLED", False)
    try:
        return compute()
    finally:
        monkeypatch.setattr(_fastpaths, "ENABLED", True)


def _full_size_ops(jaxpr, shape):
    """Equations outside the rule (and its ``cond``) with an output of ``shape``."""
    found = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name in ("custom_jvp_call", "cond"):
            continue
        found += [eqn for var in eqn.outvars if getattr(var.aval, "shape", None) == shape]
        for param in eqn.params.values():
            inner = getattr(param, "jaxpr", None)
            if inner is not None and hasattr(inner, "eqns"):
                found += _full_size_ops(inner, shape)
    return found


def test_nothing_full_size_runs_ahead_of_the_rule():
    finite = jnp.zeros_like(_data()[0])
    for eps in (0.0, 0.1):
        for reduction in ("mean", "weighted_mean", "none"):
            jaxpr = jax.make_jaxpr(_loss(eps, reduction))(finite).jaxpr
            assert _full_size_ops(jaxpr, (N, C)) == [], (eps, reduction)
            assert "custom_jvp_call" in str(jaxpr)  # the rule ran


@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_values_and_gradients_equal_the_generic_path(monkeypatch, eps):
    x, _, _ = _data()
    f = _loss(eps)
    got = jax.jit(f)(x), jax.jit(jax.grad(f))(x)
    want = _generic(monkeypatch, lambda: (jax.jit(f)(x), jax.jit(jax.grad(f))(x)))
    assert float(got[0]) == pytest.approx(float(want[0]), rel=1e-6)
    assert np.isinf(float(got[0]))  # row 2: a finite target in a +inf row
    grad = np.asarray(got[1])
    assert np.all(np.isfinite(grad))
    assert np.all(grad[1:4] == 0.0)  # +inf rows and the ignored NaN row
    np.testing.assert_allclose(grad, np.asarray(want[1]), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_finite_rows_match_float64(eps):
    x, labels, weight = _data()
    keep = [0, 1, 3, 4]  # the finite row, the log-2 row, the ignored row, a -inf entry
    f = _loss(eps, "none", rows=np.array(keep))
    got = np.asarray(jax.jit(f)(x[np.array(keep)]))
    x64 = np.asarray(x, np.float64)[keep]
    y = np.asarray(labels)[keep]
    want = []
    for row, label in zip(x64, y, strict=True):
        if label < 0:
            want.append(0.0)
            continue
        lim = np.where(np.isposinf(row), 0.0, -np.inf) if np.isposinf(row).any() else row
        lse = np.log(np.sum(np.exp(lim - np.max(lim)))) + np.max(lim)
        mean = 0.0 if np.isposinf(row).all() else np.mean(lim)
        ce = (1 - eps) * (lse - lim[label]) + (eps * (lse - mean) if eps else 0.0)
        want.append(float(weight[label]) * ce)
    np.testing.assert_allclose(got, want, rtol=2e-6)


@pytest.mark.parametrize("classes", [3, 4096])
@pytest.mark.parametrize("offset", [0.0, 15.9, 16.1, -40.0, 1e4])
def test_smoothing_term_at_any_offset_matches_float64(classes, offset):
    # On CPUs the smoothing term's row sums come from a plain product with ones while every
    # |row maximum| is at most 16 (a cond); beyond, from the sum about the first logit.
    # Either way: float32 rounding of the shifted-logit float64 value. Rows of nearly
    # equal logits are the worst case for the plain sum (the term is about log C). Each
    # row is its own batch, so that rows take both branches.
    rng = np.random.default_rng(9)
    spread = np.array([[1e-3], [1.0], [8.0], [1e-3]])
    x = (offset + spread * rng.standard_normal((4, classes))).astype(np.float32)
    x[3, 0] = offset + 30.0  # one far above the rest: the term is large
    labels = np.array([0, 1, 2, 0])
    f = jax.jit(
        lambda z, y: wxent.softmax_cross_entropy(z, y, label_smoothing=0.3, reduction="none")
    )
    rows = [f(jnp.asarray(x[i : i + 1]), jnp.asarray(labels[i : i + 1])) for i in range(4)]
    got = np.concatenate([np.asarray(r, np.float64) for r in rows])
    x64 = x.astype(np.float64)
    z = x64 - x64.max(axis=1, keepdims=True)
    log_total = np.log(np.exp(z).sum(axis=1))
    picked = z[np.arange(4), labels]
    want = 0.7 * (log_total - picked) + 0.3 * (log_total - z.mean(axis=1))
    np.testing.assert_allclose(got, want, rtol=2e-6)
    jaxpr = jax.make_jaxpr(f)(jnp.asarray(x), jnp.asarray(labels)).jaxpr
    assert bool(dot_generals(jaxpr)) == (jax.default_backend() == "cpu")


def test_hessian_vector_products_equal_the_generic_path(monkeypatch):
    rng = np.random.default_rng(5)
    x = jnp.asarray(rng.standard_normal((N, C)).astype(np.float32))
    t = jnp.asarray(rng.standard_normal((N, C)).astype(np.float32))
    f = _loss(0.1, "weighted_mean")

    def hvp(z):
        return jax.jvp(jax.grad(f), (z,), (t,))[1]

    got = jax.jit(hvp)(x)
    want = _generic(monkeypatch, lambda: jax.jit(hvp)(x))
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-4, atol=1e-6)


def test_vmap_over_batches_with_and_without_infinite_rows(monkeypatch):
    x, _, _ = _data()
    batch = jnp.stack([x, jnp.where(jnp.isfinite(x), x, 0.0)])
    f = _loss(0.1, "weighted_mean")
    got = jax.jit(jax.vmap(jax.grad(f)))(batch)
    want = _generic(monkeypatch, lambda: jax.jit(jax.vmap(jax.grad(f)))(batch))
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-7)
    assert np.all(np.isfinite(np.asarray(got)))


def _soft_data():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((N, C)).astype(np.float32)
    t = rng.random((N, C)).astype(np.float32)
    t[0, 1] = 0.0
    x[0, 1] = -np.inf  # target 0 at a -inf logit: contributes 0
    x[1, 2] = x[1, 4] = np.inf  # targets at both and elsewhere: inf (0 without smoothing
    t[1] = [0.0, 0.0, 0.25, 0.0, 0.75]  # below: the targets lie on the +inf entries)
    x[3, :] = np.nan  # weight 0 below: loss 0, gradients 0
    x[4, 0] = -np.inf  # a positive target at a -inf logit: inf, finite gradients
    t = t / t.sum(axis=1, keepdims=True)
    w = np.array([1.0, 2.0, 0.5, 0.0, 1.5, 1.0], np.float32)
    return jnp.asarray(x), jnp.asarray(t), jnp.asarray(w)


@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_probability_labels_equal_the_generic_path(monkeypatch, eps):
    x, t, w = _soft_data()

    def f(z, labels):
        return wxent.softmax_cross_entropy(
            z, labels, sample_weight=w, label_smoothing=eps, reduction="sum"
        )

    def run():
        grads = jax.jit(jax.grad(f, argnums=(0, 1)))(x, t)
        return jax.jit(f)(x, t), grads[0], grads[1]

    got, want = run(), _generic(monkeypatch, run)
    assert np.isinf(float(got[0]))  # row 4 (and, with smoothing, the +inf row 1)
    assert float(got[0]) == pytest.approx(float(want[0]), rel=1e-6)
    for g, h in zip(got[1:], want[1:], strict=True):
        g, h = np.asarray(g), np.asarray(h)
        assert not np.isnan(g).any()
        assert np.all(g[3] == 0.0)  # the NaN row of weight 0
        np.testing.assert_array_equal(np.isinf(g), np.isinf(h))
        np.testing.assert_allclose(g, h, rtol=1e-5, atol=1e-6)
    assert np.all(np.asarray(got[1])[1] == 0.0)  # the +inf row's logits
    f1 = jax.jit(lambda z: wxent.softmax_cross_entropy(z, t, label_smoothing=eps, reduction="none"))
    assert np.isfinite(float(f1(x)[1])) == (eps == 0.0)  # smoothing puts mass off +inf


def test_probability_labels_match_float64_and_hvp(monkeypatch):
    rng = np.random.default_rng(9)
    x = jnp.asarray(rng.standard_normal((N, C)).astype(np.float32))
    t = jax.nn.softmax(jnp.asarray(rng.standard_normal((N, C)).astype(np.float32)))
    v = jnp.asarray(rng.standard_normal((N, C)).astype(np.float32))
    got = np.asarray(jax.jit(lambda z: wxent.softmax_cross_entropy(z, t, reduction="none"))(x))
    x64, t64 = np.asarray(x, np.float64), np.asarray(t, np.float64)
    lse = np.log(np.exp(x64).sum(axis=1))
    np.testing.assert_allclose(got, -(t64 * (x64 - lse[:, None])).sum(axis=1), rtol=2e-6)

    def hvp(z):
        grad = jax.grad(lambda u: wxent.softmax_cross_entropy(u, t, label_smoothing=0.1))
        return jax.jvp(grad, (z,), (v,))[1]

    want = _generic(monkeypatch, lambda: jax.jit(hvp)(x))
    np.testing.assert_allclose(np.asarray(jax.jit(hvp)(x)), np.asarray(want), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("probabilities", [False, True])
def test_shard_map_over_the_batch(probabilities):
    # The rules' lax.cond branches vary over the mesh axis alike (a type error otherwise).
    from jax.sharding import Mesh
    from jax.sharding import PartitionSpec as P

    rng = np.random.default_rng(11)
    x = jnp.asarray(rng.standard_normal((N, C)).astype(np.float32))
    labels = jnp.asarray(rng.integers(0, C, N).astype(np.int32))
    if probabilities:
        labels = jax.nn.softmax(jnp.asarray(rng.standard_normal((N, C)).astype(np.float32)))
    mesh = Mesh(np.array(jax.devices()[:1]), ("batch",))

    def step(z, y):
        num, den = wxent.loss_terms(wxent.softmax_cross_entropy, z, y, label_smoothing=0.1)
        return wxent.safe_divide(jax.lax.psum(num, "batch"), jax.lax.psum(den, "batch"))

    sharded = jax.shard_map(step, mesh=mesh, in_specs=(P("batch"), P("batch")), out_specs=P())
    got = jax.jit(jax.value_and_grad(lambda z: sharded(z, labels)))(x)
    want = jax.value_and_grad(
        lambda z: wxent.softmax_cross_entropy(z, labels, label_smoothing=0.1)
    )(x)
    assert float(got[0]) == pytest.approx(float(want[0]), rel=1e-6)
    np.testing.assert_allclose(np.asarray(got[1]), np.asarray(want[1]), rtol=1e-5, atol=1e-7)
