"""linear_cross_entropy: the projection fused with softmax CE, chunked over rows."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import wxent
from conftest import assert_close
from reference import softmax_ce
from wxent import _namespace as ns

N, D, V = 9, 5, 13

OPTIONS = [
    {},
    {"reduction": "sum"},
    {"class_weight": "cw", "reduction": "weighted_mean"},
    {"class_weight": "cw", "label_smoothing": 0.2, "ignore_index": -1, "reduction": "mean"},
    {
        "class_weight": "cw",
        "sample_weight": "sw",
        "label_smoothing": 0.1,
        "ignore_index": -1,
        "reduction": "weighted_mean",
    },
    {"label_smoothing": 0.3, "ignore_index": -1, "reduction": "none"},
]


def _data(seed: int = 0):
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(N, D)).astype(np.float32)
    w = rng.normal(size=(V, D)).astype(np.float32)
    b = rng.normal(size=V).astype(np.float32)
    y = rng.integers(0, V, N)
    y[[2, 5]] = -1
    cw = rng.uniform(0.2, 3.0, V)
    sw = rng.uniform(0.0, 2.0, N)
    return h, w, b, y, cw, sw


def _options(opts, cw, sw):
    out = dict(opts)
    if out.get("class_weight") == "cw":
        out["class_weight"] = cw
    if out.get("sample_weight") == "sw":
        out["sample_weight"] = sw
    return out


def _labels(y, opts):
    return y if "ignore_index" in opts else np.where(y < 0, 0, y)


def _materialised(h, w, y, *, bias, **kw):
    xp = ns.namespace(h)
    logits = xp.matmul(h, xp.matrix_transpose(w)) + bias
    return wxent.softmax_cross_entropy(logits, y, **kw)


@pytest.mark.parametrize(
    ("opts", "chunk_size"), list(zip(OPTIONS, [1, 4, None, 4, 2, 9], strict=True))
)
def test_values_match_softmax_ce_reference(backend, opts, chunk_size):
    h, w, b, y, cw, sw = _data()
    kw = _options(opts, cw, sw)
    y = _labels(y, opts)
    got = backend.call(
        lambda h_, w_, y_, b_: wxent.linear_cross_entropy(
            h_, w_, y_, bias=b_, chunk_size=chunk_size, **kw
        ),
        h,
        w,
        y,
        b,
    )
    logits = h.astype(np.float64) @ w.T.astype(np.float64) + b
    assert_close(got, softmax_ce(logits, y, **kw), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("wrt", ["inputs", "weight", "bias"])
@pytest.mark.parametrize("opts", OPTIONS[2:5])
def test_gradients_match_materialised_logits(ad_backend, opts, wrt):
    h, w, b, y, cw, sw = _data(1)
    kw = _options(opts, cw, sw)
    y = _labels(y, opts)
    order = {"inputs": (0, 1, 2), "weight": (1, 0, 2), "bias": (2, 0, 1)}[wrt]

    def wrap(loss):
        def f(first, second, third, labels):
            args = [None, None, None]
            for pos, value in zip(order, (first, second, third), strict=True):
                args[pos] = value
            return loss(args[0], args[1], labels, bias=args[2], **kw)

        return f

    arrays = [(h, w, b)[i] for i in order]

    def fused(h_, w_, y_, bias, **k):
        return wxent.linear_cross_entropy(h_, w_, y_, bias=bias, chunk_size=4, **k)

    value, grad = ad_backend.value_and_grad(wrap(fused), *arrays, y)
    ref_value, ref_grad = ad_backend.value_and_grad(wrap(_materialised), *arrays, y)
    assert_close(value, ref_value, rtol=1e-5, atol=1e-6)
    assert_close(grad, ref_grad, rtol=1e-4, atol=1e-6)
    assert np.abs(grad).max() > 0


def test_torch_gradients_without_bias_and_frozen_weight():
    h, w, _, y, cw, _ = _data(2)
    y = np.where(y < 0, 0, y)
    ht = torch.tensor(h, requires_grad=True)
    wt = torch.tensor(w)  # frozen: no gradient requested
    wxent.linear_cross_entropy(ht, wt, torch.tensor(y), class_weight=cw, chunk_size=2).backward()
    h2 = torch.tensor(h, requires_grad=True)
    wxent.softmax_cross_entropy(h2 @ wt.T, torch.tensor(y), class_weight=cw).backward()
    assert wt.grad is None
    assert_close(ht.grad, h2.grad, rtol=1e-5, atol=1e-7)


def test_ignored_rows_have_zero_gradient_and_count_nowhere():
    h, w, b, y, *_ = _data(3)
    ht = torch.tensor(h, requires_grad=True)
    loss = wxent.linear_cross_entropy(
        ht, torch.tensor(w), torch.tensor(y), bias=torch.tensor(b), ignore_index=-1, chunk_size=3
    )
    loss.backward()
    ignored = y == -1
    assert np.all(ht.grad.numpy()[ignored] == 0)
    keep = ~ignored
    dropped = wxent.linear_cross_entropy(h[keep], w, y[keep], bias=b)
    assert_close(loss.detach().numpy(), dropped, rtol=1e-5)


def test_loss_terms_give_the_loss():
    h, w, b, y, cw, _ = _data(4)
    kw = {"bias": b, "class_weight": cw, "ignore_index": -1, "reduction": "weighted_mean"}
    num, den = wxent.loss_terms(wxent.linear_cross_entropy, h, w, y, **kw)
    assert_close(wxent.safe_divide(num, den), wxent.linear_cross_entropy(h, w, y, **kw))
    assert_close(den, cw[y[y >= 0]].sum(), rtol=1e-6)


def test_half_precision_computes_in_float32():
    h, w, _, y, *_ = _data(5)
    y = np.where(y < 0, 0, y)
    half = torch.tensor(h).half(), torch.tensor(w).half()
    out = wxent.linear_cross_entropy(*half, torch.tensor(y))
    assert out.dtype == torch.float16
    ref = softmax_ce(h.astype(np.float16).astype(np.float64) @ w.astype(np.float16).T, y)
    assert_close(out.float().numpy(), ref, rtol=2e-3)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 12),
    chunk=st.integers(1, 15),
    eps=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
)
def test_chunk_size_does_not_change_the_result(n, chunk, eps, seed):
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(n, 3))
    w = rng.normal(size=(7, 3))
    y = rng.integers(0, 7, n)
    kw = {"label_smoothing": eps, "reduction": "none"}
    assert_close(
        wxent.linear_cross_entropy(h, w, y, chunk_size=chunk, **kw),
        wxent.linear_cross_entropy(h, w, y, chunk_size=n, **kw),
        rtol=1e-12,
        atol=1e-12,
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"inputs": np.zeros((2, 3, 1), np.float32)}, ValueError, r"`inputs`. Expected a 2-D"),
        ({"inputs": np.zeros((2, 3), np.int32)}, TypeError, r"`inputs`. Expected a floating"),
        ({"weight": np.zeros((4, 2), np.float32)}, ValueError, r"`weight`. Expected a 2-D .*D=3"),
        ({"weight": torch.zeros(4, 3)}, TypeError, r"`weight`. Expected an array of the same"),
        ({"labels": np.zeros(2, np.float32)}, TypeError, r"`labels`. Expected integer class"),
        ({"labels": np.zeros(3, np.int64)}, ValueError, r"`labels`. Expected integer .*\(2,\)"),
        ({"labels": np.array([0, 4])}, ValueError, r"class indices in \[0, 4\)"),
        ({"bias": np.zeros(3, np.float32)}, ValueError, r"`bias`. Expected one value per class"),
        ({"chunk_size": 0}, ValueError, r"`chunk_size`. Expected a positive integer"),
        ({"chunk_size": 1.5}, TypeError, r"`chunk_size`. Expected a positive integer"),
        ({"class_weight": [1.0, 2.0]}, ValueError, r"`class_weight`. Expected a scalar or one"),
        ({"sample_weight": np.ones(3)}, ValueError, r"`sample_weight`. Expected a scalar"),
        ({"reduction": "avg"}, ValueError, r"`reduction`. Expected one of"),
        ({"label_smoothing": 2.0}, ValueError, r"`label_smoothing`. Expected a float in"),
        (
            {"inputs": np.array([[np.nan, 0, 0], [0, 0, 0]], np.float32)},
            ValueError,
            r"`inputs`",
        ),
    ],
)
def test_errors(kwargs, error, match):
    args = {
        "inputs": np.zeros((2, 3), np.float32),
        "weight": np.zeros((4, 3), np.float32),
        "labels": np.array([0, 3]),
    }
    options = {k: val for k, val in kwargs.items() if k not in args}
    args.update({k: val for k, val in kwargs.items() if k in args})
    with pytest.raises(error, match=match):
        wxent.linear_cross_entropy(args["inputs"], args["weight"], args["labels"], **options)


@pytest.mark.parametrize("dtype", [np.uint8, np.int32])
def test_narrow_integer_labels(backend, dtype):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, 4)).astype(np.float32)
    w = rng.normal(size=(6, 4)).astype(np.float32)
    y = rng.integers(0, 6, size=(5,))
    got = backend.call(
        lambda a, b, c: wxent.linear_cross_entropy(a, b, c, class_weight=[1, 2, 3, 1, 2, 3]),
        x,
        w,
        y.astype(dtype),
    )
    assert_close(got, softmax_ce(x @ w.T, y, class_weight=[1, 2, 3, 1, 2, 3]))
    got = backend.call(
        lambda a, b, c: wxent.sampled_softmax_cross_entropy(a, b, c, num_sampled=6, seed=0),
        x,
        w,
        y.astype(dtype),
    )
    assert np.isfinite(got).all()


@pytest.mark.parametrize("reduction", ["mean", "sum", "weighted_mean", "none"])
def test_empty_inputs_give_zero(backend, reduction):
    def f(h_, w_, y_):
        return wxent.linear_cross_entropy(
            h_, w_, y_, class_weight=[1.0, 2.0, 3.0], reduction=reduction
        )

    got = backend.call(
        f, np.zeros((0, 5), np.float32), np.ones((3, 5), np.float32), np.zeros(0, int)
    )
    assert got.shape == ((0,) if reduction == "none" else ())
    assert np.all(got == 0)
    got = backend.call(
        lambda h_, w_, y_: wxent.sampled_softmax_cross_entropy(
            h_, w_, y_, num_sampled=2, seed=0, reduction=reduction
        ),
        np.zeros((0, 5), np.float32),
        np.ones((3, 5), np.float32),
        np.zeros(0, int),
    )
    assert got.shape == ((0,) if reduction == "none" else ())
    assert np.all(got == 0)


@pytest.mark.parametrize("loss", ["linear", "sampled"])
def test_empty_inputs_have_a_zero_gradient(ad_backend, loss):
    def f(w_, h_, y_):
        if loss == "linear":
            return wxent.linear_cross_entropy(h_, w_, y_, label_smoothing=0.1)
        return wxent.sampled_softmax_cross_entropy(h_, w_, y_, num_sampled=2, seed=0)

    value, grad = ad_backend.value_and_grad(
        f, np.ones((3, 5), np.float32), np.zeros((0, 5), np.float32), np.zeros(0, int)
    )
    assert value == 0
    assert grad.shape == (3, 5) and np.all(grad == 0)


@pytest.mark.parametrize("reduction", ["mean", "none", "weighted_mean", "sum"])
def test_double_backward_gives_the_hessian_vector_product_of_the_materialised_loss(reduction):
    gen = torch.Generator().manual_seed(0)
    h = torch.randn(7, 4, dtype=torch.float64, generator=gen, requires_grad=True)
    w = torch.randn(9, 4, dtype=torch.float64, generator=gen, requires_grad=True)
    b = torch.randn(9, dtype=torch.float64, generator=gen, requires_grad=True)
    y = torch.tensor([0, 3, 8, -1, 2, 2, 5])
    kw = {
        "class_weight": torch.linspace(0.5, 2.0, 9, dtype=torch.float64),
        "ignore_index": -1,
        "label_smoothing": 0.1,
        "reduction": reduction,
    }
    vh, vw = torch.randn(7, 4, dtype=torch.float64), torch.randn(9, 4, dtype=torch.float64)
    results = []
    for loss in (
        lambda: wxent.linear_cross_entropy(h, w, y, bias=b, chunk_size=3, **kw),
        lambda: wxent.softmax_cross_entropy(h @ w.T + b, y, **kw),
    ):
        out = loss()
        if reduction == "none":
            out = (out * torch.arange(7.0, dtype=torch.float64)).sum()
        gh, gw = torch.autograd.grad(out, (h, w), create_graph=True)
        hvp = torch.autograd.grad((gh * vh).sum() + (gw * vw).sum(), (h, w, b))
        results.append([t.detach().numpy() for t in (gh, gw, *hvp)])
    for ours, theirs in zip(*results, strict=True):
        assert_close(ours, theirs, rtol=1e-10, atol=1e-12)
    assert np.abs(results[0][2]).max() > 0


def test_nan_weight_is_rejected_by_both_losses(eager_backend):
    h, w, _, y, *_ = _data(6)
    y = np.where(y < 0, 0, y)
    w = w.copy()
    w[y[0], 1] = np.nan
    for loss in (
        lambda h_, w_, y_: wxent.linear_cross_entropy(h_, w_, y_),
        lambda h_, w_, y_: wxent.sampled_softmax_cross_entropy(h_, w_, y_, num_sampled=3, seed=0),
    ):
        with pytest.raises(ValueError, match=r"`weight`. Expected numbers without NaN.*1 NaN"):
            eager_backend.call(loss, h, w, y)


@pytest.mark.parametrize("framework", ["torch", "jax"])
def test_bad_labels_raise_after_a_memory_safe_gather(framework):
    h, w, _, y, *_ = _data(7)
    y = np.where(y < 0, 0, y)
    y[[1, 4]] = [V + 3, -2]
    arrays = (h, w, y)
    if framework == "torch":
        arrays = tuple(torch.tensor(a) for a in arrays)
    else:
        import jax.numpy as jnp

        arrays = tuple(jnp.asarray(a) for a in arrays)
    for reduction in ("mean", "none"):
        with pytest.raises(ValueError, match=r"label value 16 \(2 out-of-range label\(s\)\)"):
            wxent.linear_cross_entropy(*arrays, reduction=reduction)


@pytest.mark.parametrize("reduction", ["weighted_mean", "sum", "mean"])
def test_torch_gradients_with_respect_to_the_weights(reduction):
    h, w, _, y, cw, sw = (torch.tensor(a) for a in _data(8))

    def grads(loss):
        s, c = sw.clone().requires_grad_(True), cw.clone().requires_grad_(True)
        out = loss(s, c)
        out.backward()
        return out.detach().numpy(), s.grad.numpy(), c.grad.numpy()

    kw = {"ignore_index": -1, "reduction": reduction}
    ours = grads(
        lambda s, c: wxent.linear_cross_entropy(
            h, w, y, sample_weight=s, class_weight=c, chunk_size=4, **kw
        )
    )
    theirs = grads(
        lambda s, c: wxent.softmax_cross_entropy(h @ w.T, y, sample_weight=s, class_weight=c, **kw)
    )
    for a, b in zip(ours, theirs, strict=True):
        assert_close(a, b, rtol=1e-5, atol=1e-7)
    assert np.abs(ours[2]).max() > 0
