"""Custom gradients of the focal and asymmetric losses (torch, JAX) against the generic path.

Every option of the three losses, every reduction, float32/float64/bfloat16 and infinite
logits: values and gradients of the custom gradient equal those of the generic formulas
(``wxent._fastpaths.ENABLED = False``), a counter proves the custom gradient ran, the
tensors PyTorch keeps for the backward pass are counted, and the transforms work
(double backward, ``torch.func``, ``jax.jit``/``vmap``/Hessians) or fail clearly.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import wxent
from conftest import assert_close
from focal_cases import SIGMOID_OPTIONS, SOFTMAX_OPTIONS, clip_case, softmax_data
from wxent import _fastpaths
from wxent._fastpaths import focal

INF = math.inf
REDUCTIONS = ["none", "sum", "mean", "weighted_mean"]


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Names of the custom gradients that returned a result during the test."""
    calls: list[str] = []
    for name in ("sigmoid_family", "softmax_focal"):
        original = getattr(focal, name)

        def spy(*args: Any, _f: Callable[..., Any] = original, _n: str = name, **kw: Any) -> Any:
            out = _f(*args, **kw)
            if out is not None:
                calls.append(_n)
            return out

        monkeypatch.setattr(focal, name, spy)
    yield calls


def _generic(monkeypatch: pytest.MonkeyPatch, f: Callable[[], Any]) -> Any:
    with monkeypatch.context() as m:
        m.setattr(_fastpaths, "ENABLED", False)
        return f()


def _binary_data(rng: np.random.Generator, n: int = 6, c: int = 5, *, inf: bool = True):
    x = rng.normal(scale=3.0, size=(n, c))
    if inf:
        x[0, 0], x[1, 1], x[2, 2], x[3, 3], x[0, 4] = -INF, INF, -1e38, 1e4, -INF
    z = (rng.random((n, c)) < 0.4).astype(np.float64)
    z[n - 1] = rng.random(c)  # soft labels
    z[0, 1] = -1.0  # unknown
    z[1, 1] = 1.0  # +inf on its target's side
    z[0, 0] = z[0, 4] = 0.0  # -inf on its target's side
    return x, z


TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16}
TOLERANCE = {"float32": 2e-6, "float64": 1e-12, "bfloat16": 1e-2}


def _torch_value_and_grad(f, x, labels, dtype):
    xt = torch.tensor(x, dtype=TORCH_DTYPES[dtype], requires_grad=True)
    out = f(xt, torch.tensor(labels))
    out.backward(torch.ones_like(out))
    return out.detach().double().numpy(), xt.grad.double().numpy()


def _check_torch(monkeypatch, ran, f, x, labels, dtype, name):
    value, grad = _torch_value_and_grad(f, x, labels, dtype)
    # (twice where a host call's inexact result at infinite logits was recomputed)
    assert ran and set(ran) == {name}
    ran.clear()
    ref_value, ref_grad = _generic(monkeypatch, lambda: _torch_value_and_grad(f, x, labels, dtype))
    assert ran == []
    tol = TOLERANCE[dtype]
    assert np.isfinite(grad).all()
    assert_close(value, ref_value, rtol=tol, atol=tol)
    assert_close(grad, ref_grad, rtol=tol, atol=tol)


def _sigmoid_fn(case: str, reduction: str, n: int = 6, c: int = 5, ignore_label: Any = -1.0):
    opts = dict(SIGMOID_OPTIONS[case])
    loss = opts.pop("loss")
    if opts.get("sample_weight") == "element":
        opts["sample_weight"] = np.linspace(0.0, 2.0, n * c).reshape(n, c)
    fn = wxent.sigmoid_focal_loss if loss == "focal" else wxent.asymmetric_loss
    return lambda a, b: fn(a, b, ignore_label=ignore_label, reduction=reduction, **opts)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", list(SIGMOID_OPTIONS))
def test_torch_sigmoid_family_matches_generic(monkeypatch, ran, rng, case, reduction):
    x, z = _binary_data(rng)
    _check_torch(monkeypatch, ran, _sigmoid_fn(case, reduction), x, z, "float32", "sigmoid_family")


@pytest.mark.parametrize("dtype", ["float64", "bfloat16"])
@pytest.mark.parametrize("case", ["focal-g0.5-per-class", "asl", "asl-clip0"])
def test_torch_sigmoid_family_dtypes(monkeypatch, ran, rng, case, dtype):
    x, z = _binary_data(rng, inf=dtype != "bfloat16")
    _check_torch(monkeypatch, ran, _sigmoid_fn(case, "mean"), x, z, dtype, "sigmoid_family")


@pytest.mark.parametrize("reduction", ["none", "weighted_mean"])
@pytest.mark.parametrize("case", list(SIGMOID_OPTIONS))
def test_torch_sigmoid_family_finite_logits(monkeypatch, ran, rng, case, reduction):
    """All-finite logits on the host take the branch-free path: equal to the generic one.

    Huge finite logits (``±1e30``, ``±1e4``) sit at the edges of every formula; the loss
    and its derivative are computed without a selection by value (``where``,
    ``masked_fill``), which a CPU runs as a mispredicted branch per element.
    """
    x, z = _binary_data(rng, inf=False)
    x[0, 0], x[1, 1], x[2, 2], x[3, 3], x[4, 4] = -1e30, 1e30, -1e4, 1e4, 0.0
    z[z < 0] = 0.0
    f = _sigmoid_fn(case, reduction, ignore_label=None)
    _check_torch(monkeypatch, ran, f, x, z, "float32", "sigmoid_family")
    ops: list[str] = []
    selections: list[str] = []

    class Ops(torch.utils._python_dispatch.TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            name = func.overloadpacket.__name__
            ops.append(name)
            selecting = name in ("where", "masked_fill", "masked_fill_", "masked_select", "index")
            if selecting and isinstance(out, torch.Tensor) and out.numel() >= x.size:
                selections.append(name)
            return out

    xt = torch.tensor(x, dtype=torch.float32, requires_grad=True)
    with Ops():
        f(xt, torch.tensor(z)).sum().backward()
    assert ops and not selections, selections


def test_torch_sigmoid_family_nan_and_inf_logits_unchecked(monkeypatch, ran, rng):
    """NaN logits (``validate=False``) give NaN where the generic path does, and only there.

    Zero weights beside NaN and infinite logits: the per-element losses keep the generic
    path's zeros (a weight-0 term is 0, also at an infinite logit) and NaNs.
    """
    x, z = _binary_data(rng)
    x[4, 0], x[5, 2] = math.nan, math.nan
    z = np.where(z < 0, 0.0, z)
    for case in ("focal-g0.5-per-class", "asl-gpos", "asl-gneg0", "asl-plain"):
        opts = dict(SIGMOID_OPTIONS[case])
        fn = wxent.sigmoid_focal_loss if opts.pop("loss") == "focal" else wxent.asymmetric_loss
        opts["neg_weight"] = [1.0, 0.0, 2.0, 0.0, 1.0]

        def value(fn=fn, opts=opts):
            xt = torch.tensor(x, dtype=torch.float32)
            out = fn(xt, torch.tensor(z), reduction="none", validate=False, **opts)
            return out.double().numpy()

        got = value()
        assert ran.pop() == "sigmoid_family"
        expected = _generic(monkeypatch, value)
        assert_close(got, expected, rtol=2e-6, atol=2e-6)  # NaN where (and only where) NaN
        assert np.isnan(got).any() and not np.isnan(got[:4]).any()


def _softmax_fn(case: str, reduction: str, *, indices: bool = True):
    opts = dict(SOFTMAX_OPTIONS[case])
    if indices:
        opts["ignore_index"] = -100
    return lambda a, b: wxent.softmax_focal_loss(a, b, reduction=reduction, **opts)


def _probabilities(rng, y, c=5):
    t = rng.random((len(y), c))
    t[:, 0] = 0.0  # zero target on the masked class of row 0
    return t / t.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", list(SOFTMAX_OPTIONS))
def test_torch_softmax_focal_matches_generic(monkeypatch, ran, rng, case, reduction):
    x, y = softmax_data(rng)
    _check_torch(monkeypatch, ran, _softmax_fn(case, reduction), x, y, "float32", "softmax_focal")


@pytest.mark.parametrize("case", list(SOFTMAX_OPTIONS))
def test_torch_softmax_focal_probabilities(monkeypatch, ran, rng, case):
    x, y = softmax_data(rng)
    t = _probabilities(rng, y)
    opts = {k: v for k, v in SOFTMAX_OPTIONS[case].items() if k != "sample_weight"}
    fn = lambda a, b: wxent.softmax_focal_loss(a, b, reduction="sum", **opts)  # noqa: E731
    _check_torch(monkeypatch, ran, fn, x, t, "float32", "softmax_focal")


@pytest.mark.parametrize("dtype", ["float64", "bfloat16"])
@pytest.mark.parametrize("case", ["g0.5-weights", "g2-smooth"])
def test_torch_softmax_focal_dtypes(monkeypatch, ran, rng, case, dtype):
    x, y = softmax_data(rng, inf=dtype != "bfloat16")
    _check_torch(monkeypatch, ran, _softmax_fn(case, "mean"), x, y, dtype, "softmax_focal")


def test_classes_not_last_use_the_generic_path(ran, rng):
    x = rng.normal(size=(2, 3, 4)).astype(np.float32)
    y = rng.integers(0, 3, size=(2, 4))
    got = wxent.softmax_focal_loss(torch.tensor(x), torch.tensor(y), class_axis=1)
    expected = wxent.softmax_focal_loss(torch.tensor(np.moveaxis(x, 1, -1).copy()), torch.tensor(y))
    assert ran == ["softmax_focal"]  # only the last-axis call
    assert_close(got.numpy(), expected.numpy(), rtol=1e-6)


def test_kernels_off_disables_the_custom_gradient(monkeypatch, ran, rng):
    x, z = _binary_data(rng)
    monkeypatch.setenv("WXENT_KERNELS", "off")
    wxent.sigmoid_focal_loss(torch.tensor(x), torch.tensor(z), ignore_label=-1.0)
    wxent.softmax_focal_loss(torch.tensor(x), torch.tensor(np.array([0, 1, 2, 3, 4, 0])))
    assert ran == []


# ----------------------------------------------------------------------------- memory


def _saved_bytes(f: Callable[[torch.Tensor], torch.Tensor], *held: torch.Tensor) -> int:
    """Bytes of the tensors autograd keeps for backward, beyond the caller's own ``held``."""
    storages: dict[int, int] = {}
    base = {t.untyped_storage().data_ptr() for t in held}
    x = held[0]

    def pack(t: torch.Tensor) -> torch.Tensor:
        ptr = t.untyped_storage().data_ptr()
        if ptr not in base:
            storages[ptr] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        f(x)
    return sum(storages.values())


@pytest.mark.parametrize(
    ("name", "per_element"),
    [("sigmoid_focal", 1), ("asymmetric", 1), ("softmax_indices", 0), ("softmax_smoothed", 1)],
)
def test_backward_keeps_at_most_one_logits_worth(monkeypatch, rng, name, per_element):
    n, c = 64, 512
    x = torch.tensor(rng.normal(size=(n, c)), dtype=torch.float32, requires_grad=True)
    z = torch.tensor((rng.random((n, c)) < 0.1).astype(np.float32))
    y = torch.tensor(rng.integers(0, c, size=n))
    losses = {
        "sigmoid_focal": lambda a: wxent.sigmoid_focal_loss(a, z, alpha=0.25),
        "asymmetric": lambda a: wxent.asymmetric_loss(a, z),
        "softmax_indices": lambda a: wxent.softmax_focal_loss(a, y, ignore_index=0),
        "softmax_smoothed": lambda a: wxent.softmax_focal_loss(a, y, label_smoothing=0.1),
    }
    logits_bytes = n * c * 4
    saved = _saved_bytes(losses[name], x, z, y)
    # The derivative (or nothing but per-row values), the labels' mask, small vectors.
    assert saved <= per_element * logits_bytes + logits_bytes // 4 + 64 * n
    generic = _generic(monkeypatch, lambda: _saved_bytes(losses[name], x, z, y))
    assert generic >= 4 * logits_bytes  # what the custom gradient saves


# ----------------------------------------------------------------------------- transforms


def test_torch_double_backward_matches_generic(monkeypatch, rng):
    x, z = _binary_data(rng, inf=False)
    y = rng.integers(0, 5, size=6)
    fns = [
        (lambda a: wxent.sigmoid_focal_loss(a, torch.tensor(z), gamma=0.5, ignore_label=-1.0)),
        (lambda a: wxent.asymmetric_loss(a, torch.tensor(z), gamma_pos=1.0, ignore_label=-1.0)),
        (lambda a: wxent.softmax_focal_loss(a, torch.tensor(y), gamma=1.5)),
        (lambda a: wxent.softmax_focal_loss(a, torch.tensor(y), label_smoothing=0.2)),
    ]
    v = torch.tensor(rng.normal(size=x.shape))

    def hvp(f):
        xt = torch.tensor(x, requires_grad=True)
        (g,) = torch.autograd.grad(f(xt), xt, create_graph=True)
        (h,) = torch.autograd.grad((g * v).sum(), xt)
        return g.detach().numpy(), h.numpy()

    for f in fns:
        g, h = hvp(f)
        g0, h0 = _generic(monkeypatch, lambda f=f: hvp(f))
        assert_close(g, g0, rtol=1e-12, atol=1e-14)
        assert_close(h, h0, rtol=1e-10, atol=1e-12)


# torch.func warns from inside PyTorch on first use (its own use of torch.jit.script).
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_torch_func_takes_the_generic_path(ran, rng):
    # Under torch.func transforms the generic formulas run, so that every mode works.
    x, z = _binary_data(rng, inf=False)
    z[0, 1] = 0.0
    zt, xt = torch.tensor(z), torch.tensor(x)

    def f(a):
        return wxent.sigmoid_focal_loss(a, zt, alpha=0.25, validate=False)

    grad = torch.func.grad(f)(xt)
    hess = torch.func.hessian(f)(xt)
    assert ran == []
    expected = torch.autograd.functional.hessian(f, xt)
    assert_close(hess.numpy(), expected.numpy(), rtol=1e-12, atol=1e-14)
    assert ran == ["sigmoid_family"]  # the plain call takes the custom gradient
    xg = xt.clone().requires_grad_(True)
    f(xg).backward()
    assert_close(grad.numpy(), xg.grad.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_forward_mode_dual_tensors_take_the_generic_formulas(ran, rng):
    """A dual tensor that also requires a gradient: no custom rule, the exact tangent.

    (tests/test_forward_ad.py checks every loss; this one also that the rule is not run.)
    """
    x, z = _binary_data(rng, inf=False)
    z[0, 1] = 0.0
    xt = torch.tensor(x, requires_grad=True)
    loss = wxent.sigmoid_focal_loss(xt, torch.tensor(z), validate=False)
    (grad,) = torch.autograd.grad(loss, xt)
    assert ran == ["sigmoid_family"]
    with torch.autograd.forward_ad.dual_level():
        dual = torch.autograd.forward_ad.make_dual(xt, torch.ones_like(xt))
        out = wxent.sigmoid_focal_loss(dual, torch.tensor(z), validate=False)
        tangent = torch.autograd.forward_ad.unpack_dual(out).tangent
    assert ran == ["sigmoid_family"]  # not again
    assert_close(tangent.item(), grad.sum().item(), rtol=1e-12, atol=1e-14)


def test_gradient_of_labels_and_weights(monkeypatch, rng):
    x, z = _binary_data(rng, inf=False)
    z[0, 1] = 0.0

    def grads():
        zt = torch.tensor(z, requires_grad=True)
        alpha = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5], dtype=torch.float64, requires_grad=True)
        t = torch.tensor(_probabilities(rng, np.zeros(6, int)), requires_grad=True)
        xt = torch.tensor(x)
        loss = wxent.sigmoid_focal_loss(xt, zt, alpha=alpha, validate=False)
        loss = loss + wxent.asymmetric_loss(xt, zt, clip=0.1)
        loss = loss + wxent.softmax_focal_loss(xt, t, label_smoothing=0.1)
        loss.backward()
        return zt.grad.numpy(), alpha.grad.numpy(), t.grad.numpy()

    state = rng.bit_generator.state
    got = grads()
    rng.bit_generator.state = state
    expected = _generic(monkeypatch, grads)
    for a, b in zip(got, expected, strict=True):
        assert_close(a, b, rtol=1e-12, atol=1e-14)


# ----------------------------------------------------------------------------- JAX


def _jax_value_and_grad(f, x, labels, dtype, jit):
    g = jax.value_and_grad(lambda a, b: jnp.sum(f(a, b)))
    g = jax.jit(g) if jit else g
    value, grad = g(jnp.asarray(x, dtype=dtype), jnp.asarray(labels))
    return np.asarray(value, np.float64), np.asarray(grad, np.float64)


# Eagerly the rules run compiled too (one program per option kinds and reduction): every
# reduction eagerly, two of them under a caller's jit (each jit case compiles both paths).
@pytest.mark.parametrize(
    ("reduction", "jit"),
    [(r, False) for r in REDUCTIONS] + [("none", True), ("weighted_mean", True)],
    ids=[f"{r}-eager" for r in REDUCTIONS] + ["none-jit", "weighted_mean-jit"],
)
def test_jax_matches_generic(monkeypatch, ran, rng, reduction, jit):
    x, z = _binary_data(rng)
    xs, y = softmax_data(rng)
    t = _probabilities(rng, y)
    cases = [
        (_sigmoid_fn(case, reduction), x, z.astype(np.float32), "sigmoid_family")
        for case in SIGMOID_OPTIONS
    ]
    cases += [
        (_softmax_fn(c, reduction), xs, y.astype(np.int32), "softmax_focal")
        for c in SOFTMAX_OPTIONS
    ]
    cases.append(
        (
            _softmax_fn("g2-smooth", reduction, indices=False),
            xs,
            t.astype(np.float32),
            "softmax_focal",
        )
    )
    for f, a, b, name in cases:
        ran.clear()
        value, grad = _jax_value_and_grad(f, a, b, jnp.float32, jit)
        assert ran == [name]
        ref_value, ref_grad = _generic(
            monkeypatch, functools.partial(_jax_value_and_grad, f, a, b, jnp.float32, jit)
        )
        assert np.isfinite(grad).all()
        assert_close(value, ref_value, rtol=2e-6, atol=2e-6)
        assert_close(grad, ref_grad, rtol=2e-6, atol=2e-6)


def test_jax_bfloat16(monkeypatch, rng):
    x, z = _binary_data(rng, inf=False)
    f = _sigmoid_fn("asl-gpos", "mean")
    value, grad = _jax_value_and_grad(f, x, z.astype(np.float32), jnp.bfloat16, False)
    ref_value, ref_grad = _generic(
        monkeypatch, lambda: _jax_value_and_grad(f, x, z.astype(np.float32), jnp.bfloat16, False)
    )
    assert_close(value, ref_value, rtol=1e-2, atol=1e-3)
    assert_close(grad, ref_grad, rtol=1e-2, atol=1e-3)


def test_jax_vmap_hessian_and_label_gradients(monkeypatch, rng):
    x, z = _binary_data(rng, inf=False)
    z[0, 1] = 0.0
    y = rng.integers(0, 5, size=6)
    xj, zj, yj = jnp.asarray(x, jnp.float32), jnp.asarray(z, jnp.float32), jnp.asarray(y, jnp.int32)

    def compute():
        per_row = jax.vmap(
            lambda a, b: wxent.softmax_focal_loss(a[None], b[None], gamma=0.5, validate=False)
        )(xj, yj)
        hess = jax.hessian(lambda a: wxent.sigmoid_focal_loss(a, zj, gamma=0.5))(xj)
        hess2 = jax.hessian(lambda a: wxent.softmax_focal_loss(a, yj, label_smoothing=0.1))(xj)
        dz = jax.grad(lambda b: wxent.asymmetric_loss(xj, b, gamma_pos=1.0, validate=False))(zj)
        return [np.asarray(a) for a in (per_row, hess, hess2, dz)]

    got = compute()
    expected = _generic(monkeypatch, compute)
    for a, b in zip(got, expected, strict=True):
        assert_close(a, b, rtol=1e-4, atol=1e-6)


CLIP_BACKENDS = ["numpy", "numpy-generic", "torch", "torch-generic", "jax", "jax-generic"]


@pytest.mark.parametrize("backend", CLIP_BACKENDS)
@pytest.mark.parametrize("gamma", [0.0, 4.0])
@pytest.mark.parametrize("clip", [0.999, 0.9])
def test_asymmetric_clip_near_one_keeps_its_digits(monkeypatch, backend, gamma, clip):
    """float32 against float64: ``p - clip`` of ``p`` near 1 cancelled (1.7e-4 relative
    error at ``clip = 0.999``), and ``-log(sigmoid(-x) + clip)`` of a number near 1 too;
    ``(1 - clip) - sigmoid(-x)`` and ``log1p`` keep a few ulps, values and gradients."""
    x, z, loss, grad = clip_case(clip, gamma)
    framework, _, generic = backend.partition("-")
    if generic:
        monkeypatch.setattr(_fastpaths, "ENABLED", False)
    kw = {"gamma_pos": 0.0, "gamma_neg": gamma, "clip": clip, "reduction": "none"}
    if framework == "numpy":
        got = wxent.asymmetric_loss(x, z, **kw)
        got_grad = None
    elif framework == "torch":
        xt = torch.tensor(x, requires_grad=True)
        out = wxent.asymmetric_loss(xt, torch.tensor(z), **kw)
        out.sum().backward()
        got, got_grad = out.detach().numpy(), xt.grad.numpy()
    else:
        zj = jnp.asarray(z)
        got, got_grad = jax.value_and_grad(
            lambda a: wxent.asymmetric_loss(a, zj, **{**kw, "reduction": "sum"})
        )(jnp.asarray(x))
        got = wxent.asymmetric_loss(jnp.asarray(x), zj, **kw)
    np.testing.assert_allclose(np.asarray(got), loss, rtol=1e-5, atol=0)
    if got_grad is not None:
        np.testing.assert_allclose(np.asarray(got_grad), grad, rtol=1e-5, atol=0)
