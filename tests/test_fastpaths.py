"""Fast paths: the same losses and gradients as the generic Array API path."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import wxent
from conftest import assert_close
from focal_cases import SIGMOID_OPTIONS
from reference import softmax_ce
from wxent import _fastpaths
from wxent._fastpaths import numpy as numpy_kernels

CASES = [
    {"reduction": "mean"},
    {"class_weight": "cw", "ignore_index": -1, "reduction": "weighted_mean"},
    {"class_weight": "cw", "label_smoothing": 0.2, "ignore_index": -1, "reduction": "mean"},
    {"sample_weight": "sw", "label_smoothing": 0.1, "reduction": "sum"},
    {"label_smoothing": 1.0, "ignore_index": -1, "reduction": "none"},
]


def _data(shape=(6, 9), seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    x = (3 * rng.normal(size=shape)).astype(dtype)
    y = rng.integers(0, shape[-1], shape[:-1])
    y.reshape(-1)[1] = -1
    cw = rng.uniform(0.2, 3.0, shape[-1])
    sw = rng.uniform(0.0, 2.0, shape[:-1])
    return x, y, cw, sw


def _kw(case, cw, sw):
    out = dict(case)
    if out.get("class_weight") == "cw":
        out["class_weight"] = cw
    if out.get("sample_weight") == "sw":
        out["sample_weight"] = sw
    return out


def _labels(y, case):
    return y if "ignore_index" in case else np.where(y < 0, 0, y)


def _both(monkeypatch, fn):
    """``fn()`` with the fast paths on, then with them off."""
    fast = fn()
    monkeypatch.setattr(_fastpaths, "ENABLED", False)
    generic = fn()
    monkeypatch.setattr(_fastpaths, "ENABLED", True)
    return fast, generic


@pytest.mark.parametrize("shape", [(6, 9), (2, 3, 7)])
@pytest.mark.parametrize("case", CASES)
def test_numpy_blocked_kernel_matches_generic(monkeypatch, case, shape):
    x, y, cw, sw = _data(shape)
    y = _labels(y, case)
    kw = _kw(case, cw, sw)
    monkeypatch.setattr(numpy_kernels, "BLOCK_ELEMENTS", 20)  # several blocks, a ragged last one
    fast, generic = _both(monkeypatch, lambda: wxent.softmax_cross_entropy(x, y, **kw))
    assert_close(fast, generic, rtol=1e-6, atol=1e-6)
    assert_close(fast, softmax_ce(x, y, **kw), rtol=1e-5, atol=1e-5)


def test_numpy_kernel_one_exp_per_logit(monkeypatch):
    x, y, *_ = _data((5, 8))
    y = np.where(y < 0, 0, y)
    calls = []
    real_exp = np.exp

    def counting_exp(a, *args, **kwargs):
        calls.append(np.size(a))
        return real_exp(a, *args, **kwargs)

    monkeypatch.setattr(numpy_kernels.np, "exp", counting_exp)
    numpy_kernels.numpy_softmax_losses(x, y, 0.1)
    assert sum(calls) == x.size


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES)
def test_torch_native_kernel_matches_generic(monkeypatch, case, dtype):
    x, y, cw, sw = _data((6, 9), seed=1, dtype=dtype)
    y = _labels(y, case)
    kw = _kw(case, cw, sw)

    def run():
        xt = torch.tensor(x, requires_grad=True)
        out = wxent.softmax_cross_entropy(xt, torch.tensor(y), **kw)
        (out.sum() if out.ndim else out).backward()
        return out.detach().numpy(), xt.grad.numpy(), out.grad_fn

    (fv, fg, fn), (gv, gg, gn) = _both(monkeypatch, run)
    assert_close(fv, gv, rtol=1e-6, atol=1e-6)
    assert_close(fg, gg, rtol=1e-5, atol=1e-7)
    assert fn is not None and gn is not None


def _graph_names(out):
    names, stack = [], [out.grad_fn]
    while stack:
        node = stack.pop()
        if node is not None:
            names.append(type(node).__name__)
            stack.extend(n for n, _ in node.next_functions)
    return names


def test_torch_native_kernel_is_used(monkeypatch):
    x, y, *_ = _data((4, 5), seed=2)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.tensor(np.abs(y))
    fast, generic = _both(
        monkeypatch, lambda: _graph_names(wxent.softmax_cross_entropy(xt, yt, reduction="none"))
    )
    assert any("NllLoss" in n for n in fast)
    assert not any("NllLoss" in n for n in generic)


def test_torch_matches_native_cross_entropy_where_semantics_coincide():
    x, y, cw, _ = _data((8, 6), seed=3)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.tensor(y)
    ours = wxent.softmax_cross_entropy(
        xt, yt, class_weight=cw, ignore_index=-1, reduction="weighted_mean"
    )
    ours.backward()
    xn = torch.tensor(x, requires_grad=True)
    native = torch.nn.functional.cross_entropy(
        xn, yt, weight=torch.tensor(cw, dtype=torch.float32), ignore_index=-1
    )
    native.backward()
    assert_close(ours.detach(), native.detach(), rtol=1e-6)
    assert_close(xt.grad, xn.grad, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("case", CASES[1:4])
def test_jax_custom_vjp_matches_generic(monkeypatch, case, jit):
    x, y, cw, sw = _data((6, 9), seed=4)
    y = _labels(y, case)
    kw = _kw(case, cw, sw)

    def run():
        def f(a):
            return wxent.softmax_cross_entropy(a, jnp.asarray(y, dtype=jnp.int32), **kw)

        g = jax.value_and_grad(f)
        return (jax.jit(g) if jit else g)(jnp.asarray(x))

    (fv, fg), (gv, gg) = _both(monkeypatch, run)
    assert_close(fv, gv, rtol=1e-6, atol=1e-6)
    assert_close(fg, gg, rtol=1e-5, atol=1e-7)


def test_negative_infinite_logits_stay_finite_on_every_fast_path():
    x = np.array([[-np.inf, 1.0, 2.0], [0.5, -np.inf, 0.0]], dtype=np.float32)
    y = np.array([2, 0])
    expected = softmax_ce(np.where(np.isinf(x), -1e30, x), y, reduction="sum")
    assert_close(wxent.softmax_cross_entropy(x, y, reduction="sum"), expected)
    xt = torch.tensor(x, requires_grad=True)
    out = wxent.softmax_cross_entropy(xt, torch.tensor(y), reduction="sum")
    out.backward()
    assert_close(out.detach(), expected)
    assert xt.grad[0, 0] == 0 and torch.isfinite(xt.grad).all()
    value, grad = jax.value_and_grad(
        lambda a: wxent.softmax_cross_entropy(a, jnp.asarray(y), reduction="sum")
    )(jnp.asarray(x))
    assert_close(value, expected)
    assert float(grad[0, 0]) == 0.0 and bool(jnp.isfinite(grad).all())


def test_generic_path_is_kept_for_other_layouts(monkeypatch):
    # class_axis=1 on 3-D logits and probability labels do not take a fast path.
    seen = []
    real = _fastpaths.numpy_softmax_losses
    monkeypatch.setattr(_fastpaths, "numpy_softmax_losses", lambda *a: seen.append(1) or real(*a))
    x = _data((2, 4, 3))[0]
    wxent.softmax_cross_entropy(x, np.zeros((2, 3), np.int64), class_axis=1)
    wxent.softmax_cross_entropy(x, np.full(x.shape, 1 / 3, np.float32))
    assert seen == []
    wxent.softmax_cross_entropy(x, np.zeros((2, 4), np.int64))
    assert seen == [1]


def test_jax_rule_supports_forward_mode_and_hessians(monkeypatch):
    x, y, cw, _ = _data((3, 4), seed=5)
    y = np.where(y < 0, 0, y)

    def f(a):
        return wxent.softmax_cross_entropy(a, jnp.asarray(y), class_weight=cw, label_smoothing=0.1)

    (fh, fj), (gh, gj) = _both(
        monkeypatch, lambda: (jax.hessian(f)(jnp.asarray(x)), jax.jacfwd(f)(jnp.asarray(x)))
    )
    assert_close(fh, gh, rtol=1e-5, atol=1e-6)
    assert_close(fj, gj, rtol=1e-5, atol=1e-7)


def _soft(shape, seed):
    rng = np.random.default_rng(seed)
    t = rng.uniform(size=shape) ** 3
    t[..., 0] = 0.0  # zero targets, where 0 * log p must be 0
    return (t / t.sum(axis=-1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("eps", [0.0, 0.3])
@pytest.mark.parametrize("shape", [(6, 9), (2, 3, 7)])
def test_numpy_probability_kernel_matches_generic(monkeypatch, shape, eps):
    x = _data(shape, seed=6)[0]
    x.reshape(-1, shape[-1])[2, 0] = -np.inf  # zero target at -inf: costs nothing
    t = _soft(shape, 7)
    cw = np.linspace(0.5, 2.0, shape[-1])
    monkeypatch.setattr(numpy_kernels, "BLOCK_ELEMENTS", 20)
    kw = {"class_weight": cw, "label_smoothing": eps, "reduction": "none"}
    fast, generic = _both(monkeypatch, lambda: wxent.softmax_cross_entropy(x, t, **kw))
    assert_close(fast, generic, rtol=1e-5, atol=1e-6)
    finite = np.where(np.isinf(x), -1e30, x)
    if eps == 0.0:
        assert_close(fast, softmax_ce(finite, t, **kw), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_torch_probability_labels_match_generic(monkeypatch, eps):
    x = _data((6, 9), seed=8)[0]
    t = _soft((6, 9), 9)
    kw = {"class_weight": np.linspace(0.5, 2.0, 9), "label_smoothing": eps}

    def run():
        xt = torch.tensor(x, requires_grad=True)
        out = wxent.softmax_cross_entropy(xt, torch.tensor(t), **kw)
        out.backward()
        return out.detach().numpy(), xt.grad.numpy(), _graph_names(out)

    (fv, fg, fn), (gv, gg, gn) = _both(monkeypatch, run)
    assert_close(fv, gv, rtol=1e-6, atol=1e-6)
    assert_close(fg, gg, rtol=1e-5, atol=1e-7)
    assert any("SoftTargetCE" in n for n in fn) and not any("SoftTargetCE" in n for n in gn)


SIGMOID_CASES = [
    ({"pos_weight": "q"}, -1),
    ({"pos_weight": "q", "label_smoothing": 0.2, "reduction": "weighted_mean"}, -1),
    ({"pos_weight": 3.0, "sample_weight": "s", "ignore_label": -1.0, "reduction": "sum"}, -1),
    ({"pos_weight": "q", "ignore_label": -1.0, "reduction": "none"}, 1),
    ({}, -1),
]


@pytest.mark.parametrize(("case", "axis"), SIGMOID_CASES)
def test_torch_sigmoid_native_kernel_matches_generic(monkeypatch, case, axis):
    rng = np.random.default_rng(10)
    shape = (4, 5) if axis == -1 else (3, 5, 2, 2)
    x = (3 * rng.normal(size=shape)).astype(np.float32)
    z = (rng.uniform(size=shape) < 0.3).astype(np.float32)
    if "ignore_label" in case:
        z.reshape(-1)[[1, 6]] = -1.0
    kw = dict(case, class_axis=axis)
    if kw.get("pos_weight") == "q":
        kw["pos_weight"] = rng.uniform(1.0, 5.0, 5)
    if kw.get("sample_weight") == "s":
        kw["sample_weight"] = rng.uniform(0.0, 2.0, shape)

    def run():
        xt = torch.tensor(x, requires_grad=True)
        out = wxent.sigmoid_cross_entropy(xt, torch.tensor(z), **kw)
        out.sum().backward()
        return out.detach().numpy(), xt.grad.numpy(), _graph_names(out)

    (fv, fg, fn), (gv, gg, _) = _both(monkeypatch, run)
    assert_close(fv, gv, rtol=1e-6, atol=1e-6)
    assert_close(fg, gg, rtol=1e-5, atol=1e-7)
    assert any("BinaryCrossEntropyWithLogits" in n for n in fn)


def test_torch_sigmoid_falls_back_for_infinite_logits_and_neg_weight():
    x = torch.tensor([[-np.inf, np.inf, 0.5]], requires_grad=True)
    z = torch.tensor([[0.0, 1.0, 1.0]])
    out = wxent.sigmoid_cross_entropy(x, z, pos_weight=2.0, reduction="sum")
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(x.grad).all()
    assert not any("BinaryCrossEntropyWithLogits" in n for n in _graph_names(out))
    finite = torch.tensor([[0.2, 1.0, 0.5]], requires_grad=True)
    out = wxent.sigmoid_cross_entropy(finite, z, neg_weight=2.0)
    assert not any("BinaryCrossEntropyWithLogits" in n for n in _graph_names(out))


@pytest.mark.parametrize(
    ("case", "axis"),
    [*SIGMOID_CASES, ({"pos_weight": "q", "neg_weight": 0.5, "label_smoothing": 0.1}, -1)],
)
def test_numpy_sigmoid_kernel_matches_generic(monkeypatch, case, axis):
    rng = np.random.default_rng(11)
    shape = (7, 5) if axis == -1 else (3, 5, 2, 2)
    x = (3 * rng.normal(size=shape)).astype(np.float32)
    z = (rng.uniform(size=shape) < 0.3).astype(np.float32)
    if "ignore_label" in case:
        z.reshape(-1)[[1, 6]] = -1.0
    kw = dict(case, class_axis=axis)
    if kw.get("pos_weight") == "q":
        kw["pos_weight"] = rng.uniform(1.0, 5.0, 5)
    if kw.get("sample_weight") == "s":
        kw["sample_weight"] = rng.uniform(0.0, 2.0, shape)
    monkeypatch.setattr(numpy_kernels, "BLOCK_ELEMENTS", 12)
    fast, generic = _both(monkeypatch, lambda: wxent.sigmoid_cross_entropy(x, z, **kw))
    assert_close(fast, generic, rtol=1e-6, atol=1e-6)


def test_numpy_sigmoid_kernel_one_exp_per_logit_and_infinite_fallback(monkeypatch):
    x = np.array([[-np.inf, np.inf, 0.5]], dtype=np.float32)
    z = np.array([[0.0, 1.0, 1.0]], dtype=np.float32)
    assert float(wxent.sigmoid_cross_entropy(x[:, :2], z[:, :2], pos_weight=2.0)) == 0.0
    calls = []
    real_exp = np.exp

    def counting_exp(a, *args, **kwargs):
        calls.append(np.size(a))
        return real_exp(a, *args, **kwargs)

    monkeypatch.setattr(numpy_kernels.np, "exp", counting_exp)
    finite = np.ones((4, 6), np.float32)
    numpy_kernels.numpy_sigmoid_losses(finite, np.zeros_like(finite), None, None)
    assert sum(calls) == finite.size


@pytest.mark.parametrize("pos_weight", [None, 3.0])
@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_sigmoid_small_losses_keep_their_digits(backend, pos_weight):
    # far on the label's side the loss is log1p(exp(-|x|)): tiny, but not 0. Forming
    # softplus(x) - x rounded label 1 at logit 17 to 0 in the NumPy kernel.
    x = np.array([[17.0, 30.0, -17.0, 12.0, -9.0, 0.0, 3.0, -15.0, 60.0]], np.float32)
    z = np.array([[1, 1, 0, 1, 0, 1, 0.3, 0, 1]], np.float32)
    x64 = x.astype(np.float64)
    q = 1.0 if pos_weight is None else pos_weight
    expected = q * z * np.logaddexp(0, -x64) + (1 - z) * np.logaddexp(0, x64)
    conv = np.asarray if backend == "numpy" else jnp.asarray
    got = wxent.sigmoid_cross_entropy(conv(x), conv(z), pos_weight=pos_weight, reduction="none")
    np.testing.assert_allclose(np.asarray(got), expected, rtol=2e-6, atol=0)


# ---------------------------------------------------------------- NumPy focal / asymmetric

FAMILY_REDUCTIONS = ["none", "sum", "mean", "weighted_mean"]
#: Huge finite logits (the far branches of the generic formulas) and ordinary ones.
FAMILY_FINITE = [-1e30, 1e30, -3e4, 3e4, -1e3 - 1, 1e3 + 1, -90.0, 90.0, -30.0, 25.0, 0.0]


def _family(name: str, shape: tuple[int, ...], rng: np.random.Generator, axis: int = -1):
    """The loss of ``SIGMOID_OPTIONS[name]`` as ``f(x, z, **extra)``."""
    opts = dict(SIGMOID_OPTIONS[name])
    loss = wxent.sigmoid_focal_loss if opts.pop("loss") == "focal" else wxent.asymmetric_loss
    if opts.get("sample_weight") == "element":
        opts["sample_weight"] = rng.uniform(0.0, 2.0, shape)
        opts["sample_weight"].reshape(-1)[:3] = 0.0
    return lambda x, z, **extra: loss(x, z, **{**opts, "class_axis": axis, **extra})


def _family_data(rng, shape, dtype, special):
    x = 3.0 * rng.normal(size=shape)
    x.reshape(-1)[: len(special)] = special
    z = (rng.uniform(size=shape) < 0.3).astype(np.float64)
    z.reshape(-1)[-4:] = rng.uniform(size=4)  # soft labels
    return x.astype(dtype), z.astype(dtype)


@pytest.fixture
def family_kernel(monkeypatch):
    """Counts the NumPy focal/asymmetric kernel's calls and the generic formulas' (blocks
    of 7 elements or rows: several, a ragged last one)."""
    from wxent._core import sigmoid as core_sigmoid

    calls = {"kernel": 0, "generic": 0}
    kernel, terms = _fastpaths.numpy_sigmoid_family_losses, core_sigmoid.binary_terms

    def spy_kernel(*args, **kwargs):
        calls["kernel"] += 1
        return kernel(*args, **kwargs)

    def spy_terms(*args, **kwargs):
        calls["generic"] += 1
        return terms(*args, **kwargs)

    monkeypatch.setattr(_fastpaths, "numpy_sigmoid_family_losses", spy_kernel)
    monkeypatch.setattr(core_sigmoid, "binary_terms", spy_terms)
    monkeypatch.setattr(numpy_kernels, "BLOCK_ELEMENTS", 7)
    return calls


@pytest.mark.parametrize("reduction", FAMILY_REDUCTIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(SIGMOID_OPTIONS))
def test_numpy_focal_kernel_matches_generic_at_finite_logits(
    monkeypatch, family_kernel, name, dtype, reduction
):
    """Every option, every reduction, huge finite logits: the kernel alone, the generic values."""
    rng = np.random.default_rng(20)
    x, z = _family_data(rng, (6, 5), dtype, FAMILY_FINITE)
    f = _family(name, x.shape, rng)
    fast = f(x, z, reduction=reduction)
    assert family_kernel == {"kernel": 1, "generic": 0}  # no fallback at finite logits
    fast_again, generic = _both(monkeypatch, lambda: f(x, z, reduction=reduction))
    assert family_kernel["generic"] == 1
    assert fast.dtype == generic.dtype == dtype
    assert not np.isnan(fast).any()
    rtol = 1e-6 if dtype == np.float32 else 1e-13
    assert_close(fast, generic, rtol=rtol, atol=0.0)
    assert_close(fast_again, fast, rtol=0.0, atol=0.0)


@pytest.mark.parametrize("reduction", FAMILY_REDUCTIONS)
@pytest.mark.parametrize("name", list(SIGMOID_OPTIONS))
def test_numpy_focal_kernel_infinite_logits_take_the_exact_limits(
    monkeypatch, family_kernel, name, reduction
):
    """``±inf`` on both sides of hard and soft labels: NaN in the kernel where 0 meets inf,
    then the exact path, so the values are the generic path's (its limits), never NaN."""
    rng = np.random.default_rng(21)
    x, z = _family_data(rng, (6, 5), np.float32, [-np.inf, np.inf] * 2 + FAMILY_FINITE[:4])
    z.reshape(-1)[:4] = [0.0, 1.0, 1.0, 0.0]  # each infinity on its label's side and not
    f = _family(name, x.shape, rng)
    fast, generic = _both(monkeypatch, lambda: f(x, z, reduction=reduction))
    assert family_kernel["kernel"] == 1
    assert not np.isnan(fast).any()
    assert_close(fast, generic, rtol=1e-6, atol=0.0)


@pytest.mark.parametrize(
    "opts",
    [
        dict(gamma=2.0, alpha=0.25, pos_weight=[1, 2, 3, 4, 5.0]),
        dict(gamma=0.5, alpha=[0.1, 0.2, 0.5, 0.7, 1.0], neg_weight=[1, 0, 2, 1, 1.0]),
        dict(gamma_pos=1.0, gamma_neg=2.0, clip=0.1, neg_weight=[1, 3, 2, 1, 1.0]),
        dict(gamma_pos=0.0, gamma_neg=0.0, clip=0.2, pos_weight=[1, 3, 2, 1, 1.0]),
    ],
)
@pytest.mark.parametrize("reduction", ["none", "weighted_mean"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_focal_kernel_per_class_weights_on_another_axis(
    monkeypatch, family_kernel, opts, reduction, dtype
):
    rng = np.random.default_rng(22)
    x, z = _family_data(rng, (3, 5, 2, 2), dtype, FAMILY_FINITE)
    loss = wxent.sigmoid_focal_loss if "gamma" in opts else wxent.asymmetric_loss
    kw = dict(opts, class_axis=1, reduction=reduction, label_smoothing=0.1)
    fast, generic = _both(monkeypatch, lambda: loss(x, z, **kw))
    assert family_kernel == {"kernel": 1, "generic": 1}
    assert_close(fast, generic, rtol=1e-6 if dtype == np.float32 else 1e-13, atol=0.0)


@pytest.mark.parametrize("loss", [wxent.sigmoid_focal_loss, wxent.asymmetric_loss])
def test_numpy_focal_kernel_nan_logits(monkeypatch, family_kernel, loss):
    """A NaN logit is an error; where it does not count (ignored, weight 0) the loss is the
    generic path's finite value."""
    rng = np.random.default_rng(23)
    x, z = _family_data(rng, (4, 5), np.float32, [np.nan, -np.inf, np.inf])
    z[0, 1:3] = [0.0, 1.0]  # the infinities on their labels' side: finite losses
    with pytest.raises(ValueError, match="NaN"):
        loss(x, z)
    z_ignored = z.copy()
    z_ignored[0, 0] = -1.0
    weights = np.ones(x.shape, np.float32)
    weights[0, 0] = 0.0
    for kw in (
        dict(labels=z_ignored, ignore_label=-1.0),
        dict(labels=z, sample_weight=weights, reduction="sum"),
        dict(labels=z, pos_weight=[0, 1, 1, 1, 1.0], neg_weight=[0, 1, 1, 1, 1.0]),
    ):
        fast, generic = _both(monkeypatch, lambda kw=kw: loss(x, **kw))
        assert np.isfinite(fast), kw
        assert_close(fast, generic, rtol=1e-6, atol=0.0)
    assert family_kernel["kernel"] == 4


def test_numpy_focal_kernel_is_branch_free(monkeypatch):
    """No ``where``, masked copy or boolean indexing over the logits in the kernel: on CPUs
    a mask that follows the logits' signs costs a branch misprediction per few elements
    (BENCHMARKS.md). A comparison makes a mask only for ``gamma_neg = 0`` with a clip."""

    def forbidden(*args, **kwargs):
        raise AssertionError("a data-dependent selection in the kernel")

    for name in ("where", "copyto", "putmask", "place", "select", "nonzero", "greater"):
        monkeypatch.setattr(numpy_kernels.np, name, forbidden)
    rng = np.random.default_rng(24)
    x, z = _family_data(rng, (8, 9), np.float32, FAMILY_FINITE)
    for opts in (
        dict(gamma_pos=2.0, gamma_neg=2.0, clip=0.0),
        dict(gamma_pos=0.0, gamma_neg=4.0, clip=0.05),
        dict(gamma_pos=0.5, gamma_neg=0.0, clip=0.0),
    ):
        out = numpy_kernels.numpy_sigmoid_family_losses(
            x, z, np.float32(0.25), np.ones(9, np.float32), **opts
        )
        assert np.isfinite(out).all()
