"""Framework execution modes and contexts around the losses and metrics.

``torch.autocast`` (wxent's own matmuls keep their dtype; the fused projection runs as
the unfused ``F.linear`` would), ``torch.compile(dynamic=True, fullgraph=True)`` (Python
numbers the compiler makes symbolic), errors raised while ``torch.compile`` traces,
``torch.func.vmap`` over channels-first logits, inference mode, and TensorFlow's sparse
and ragged tensors.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import wxent

C = 4
COSTS = np.array([[0.0, 1.0, 2.0, 3.0], [1.0, 0.0, 1.5, 1.0], [4.0, 1.0, 0.0, 1.0], [1, 2, 3, 0]])


def _data(n: int = 8, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, C, generator=g) * 3
    y = torch.randint(0, C, (n,), generator=g)
    yp = torch.softmax(torch.randn(n, C, generator=g), dim=-1)
    z = (torch.rand(n, C, generator=g) > 0.5).float()
    return x, y, yp, z


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_linear_cross_entropy_under_autocast_is_the_loss_of_the_cast_inputs(reduction):
    g = torch.Generator().manual_seed(1)
    h = torch.randn(10, 16, generator=g, requires_grad=True)
    w = torch.randn(7, 16, generator=g, requires_grad=True)
    b = torch.randn(7, generator=g, requires_grad=True)
    y = torch.randint(0, 7, (10,), generator=g)
    for bias in (None, b):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            fused = wxent.linear_cross_entropy(
                h, w, y, bias=bias, reduction=reduction, chunk_size=3
            )
            logits = F.linear(h, w, bias)
        assert fused.dtype == torch.float32 and logits.dtype == torch.bfloat16
        low = [t if t is None else t.bfloat16() for t in (h, w, bias)]
        cast = wxent.linear_cross_entropy(*low[:2], y, bias=low[2], reduction=reduction)
        bf16 = {"rtol": 2**-7, "atol": 1e-6}  # (cast: a bfloat16 result)
        torch.testing.assert_close(fused, cast.float(), **bf16)
        wrt = (h, w) if bias is None else (h, w, b)
        grads = torch.autograd.grad(fused.sum(), wrt)
        if bias is None:  # the unfused loss (with a bias, wxent rounds once, not twice)
            unfused = F.cross_entropy(logits.float(), y, reduction=reduction)
            torch.testing.assert_close(fused, unfused)
            expected = torch.autograd.grad(unfused.sum(), wrt)
        else:
            expected = torch.autograd.grad(cast.float().sum(), wrt)
        for got, want in zip(grads, expected, strict=True):  # 16-bit GEMMs: their rounding
            assert got.dtype == torch.float32
            torch.testing.assert_close(got, want, rtol=0, atol=2**-6 * float(want.abs().max()))


def test_losses_of_float32_logits_keep_float32_inside_autocast():
    x, y, yp, _ = _data()
    calls = [
        lambda: wxent.expected_cost_loss(x, yp, COSTS, reduction="none"),
        lambda: wxent.cost_sensitive_cross_entropy(x, yp, COSTS, reduction="none"),
        lambda: wxent.expected_cost_loss(x, y, COSTS, reduction="none"),
        lambda: wxent.softmax_cross_entropy(x, yp, reduction="none"),
        lambda: wxent.softmax_focal_loss(x, yp, reduction="none"),
    ]
    for call in calls:
        plain = call()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            inside = call()
        assert inside.dtype == torch.float32
        torch.testing.assert_close(inside, plain, rtol=0, atol=0)


def _losses_of(axis, eps, weight, alpha, thr):
    """Every loss and metric with options held in Python variables (symbolic when compiled)."""

    def run(x, y, yp, z):
        return [
            wxent.softmax_cross_entropy(x, y, class_axis=axis, label_smoothing=eps),
            wxent.softmax_cross_entropy(x, yp, class_axis=axis, sample_weight=weight),
            wxent.sigmoid_cross_entropy(x, z, class_axis=axis, pos_weight=weight),
            wxent.sigmoid_focal_loss(x, z, class_axis=axis, alpha=alpha),
            wxent.asymmetric_loss(x, z, class_axis=axis, clip=eps),
            wxent.softmax_focal_loss(x, y, class_axis=axis, gamma=weight),
            wxent.expected_cost_loss(x, y, COSTS, class_axis=axis),
            wxent.logit_adjusted_cross_entropy(x, y, [0.1, 0.2, 0.3, 0.4], class_axis=axis),
            wxent.recall(x, z, threshold=thr),
            wxent.fbeta_score(x, y, class_axis=axis, average="macro"),
            wxent.confusion_matrix(x, y, class_axis=axis).float().sum(),
            wxent.predict(x, threshold=thr).float().sum(),
        ]

    return run


def test_compile_dynamic_fullgraph_with_options_in_variables():
    run = _losses_of(-1, 0.1, 2.0, 0.25, 0.3)
    compiled = torch.compile(run, fullgraph=True, dynamic=True, backend="eager")
    for n in (6, 9):
        got, want = compiled(*_data(n, seed=n)), run(*_data(n, seed=n))
        for a, b in zip(got, want, strict=True):
            torch.testing.assert_close(a, b)


def test_errors_raised_while_compiling_carry_the_message():
    x, y, _, _ = _data()

    def bad(a, b):
        return wxent.softmax_cross_entropy(a, b, label_smoothing=1.5)

    message = r"Expected a float in \[0, 1\]. Received: label_smoothing=1.5"
    with pytest.raises(Exception, match=message):  # (the compiler's own exception type)
        torch.compile(bad, fullgraph=True, backend="eager")(x, y)
    with pytest.raises(ValueError, match=message):
        torch.compile(bad, backend="eager")(x, y)


def test_vmap_over_channels_first_cost_losses_and_decisions():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(3, 2, C, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, C, (3, 2, 5), generator=g)
    yp = torch.softmax(torch.randn(3, 2, C, 5, generator=g, dtype=torch.float64), dim=2)
    calls = [
        lambda a, b, p: wxent.expected_cost_loss(a, b, COSTS, class_axis=1),
        lambda a, b, p: wxent.expected_cost_loss(a, p, COSTS, class_axis=1),
        lambda a, b, p: wxent.cost_sensitive_cross_entropy(a, b, COSTS, class_axis=1),
        lambda a, b, p: wxent.bayes_decision(a, COSTS, class_axis=1),
        lambda a, b, p: wxent.expected_cost(a, b, COSTS, class_axis=1),
    ]
    for call in calls:
        batched = torch.func.vmap(call)(x, y, yp)
        expected = torch.stack([torch.as_tensor(call(x[i], y[i], yp[i])) for i in range(3)])
        torch.testing.assert_close(batched, expected.to(batched.dtype))
    loss = calls[2]
    grads = torch.func.vmap(torch.func.grad(loss))(x, y, yp)
    for i in range(3):
        xi = x[i].clone().requires_grad_(True)
        (ref,) = torch.autograd.grad(loss(xi, y[i], yp[i]), xi)
        torch.testing.assert_close(grads[i], ref)


def test_inference_mode_no_grad_and_strided_logits_give_the_plain_values():
    x, y, yp, z = _data()
    calls = [
        lambda a: wxent.softmax_cross_entropy(a, y, class_weight=[1.0, 2.0, 3.0, 0.5]),
        lambda a: wxent.softmax_cross_entropy(a, yp, label_smoothing=0.1),
        lambda a: wxent.sigmoid_focal_loss(a, z, alpha=0.25),
        lambda a: wxent.softmax_focal_loss(a, y),
        lambda a: wxent.asymmetric_loss(a, z),
        lambda a: wxent.linear_cross_entropy(a, torch.eye(C), y),
    ]
    strided = torch.cat([x, x], dim=1)[:, ::2]  # a view: stride 2 along the classes
    strided.copy_(x)
    for call in calls:
        plain = call(x)
        with torch.inference_mode():
            inference = call(x.clone())
        with torch.no_grad():
            no_grad = call(x)
        for got in (inference, no_grad, call(strided), call(x.t().contiguous().t())):
            torch.testing.assert_close(got, plain)


def test_tensorflow_sparse_and_ragged_tensors_are_refused_as_such():
    import tensorflow as tf

    x = tf.zeros((3, C))
    sparse = tf.sparse.from_dense(tf.eye(3, C))
    ragged = tf.ragged.constant([[0], [1, 2], [3]])
    with pytest.raises(TypeError, match=r"`labels`.*dense tensor.*SparseTensor"):
        wxent.sigmoid_cross_entropy(x, sparse)
    with pytest.raises(TypeError, match=r"`labels`.*dense tensor.*RaggedTensor"):
        wxent.softmax_cross_entropy(x, ragged)
    with pytest.raises(TypeError, match=r"`sample_weight`.*dense tensor.*RaggedTensor"):
        wxent.softmax_cross_entropy(
            x, tf.constant([0, 1, 2]), sample_weight=tf.ragged.constant([[1.0], [1.0], [1.0]])
        )


def test_jax_sparse_arrays_are_refused_as_such():
    import jax.numpy as jnp
    from jax.experimental import sparse

    x = jnp.zeros((3, C))
    z = sparse.BCOO.fromdense(jnp.eye(3, C))
    with pytest.raises(TypeError, match=r"`labels`.*dense array \(x.todense\(\)\).*BCOO"):
        wxent.sigmoid_cross_entropy(x, z)
    with pytest.raises(TypeError, match=r"`sample_weight`.*dense array.*BCOO"):
        wxent.sigmoid_cross_entropy(x, jnp.eye(3, C), sample_weight=z)


# (inductor's first CPU lowering in a process imports torch.utils.mkldnn, which warns)
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
def test_loss_terms_compile_to_one_graph():
    # the terms request around the loss is traced (a data-parallel step compiled whole)
    x, y = torch.randn(4, 3), torch.tensor([0, 1, 2, 1])
    cw = torch.tensor([1.0, 2.0, 3.0])

    def terms(a, b):
        return wxent.loss_terms(
            wxent.softmax_cross_entropy, a, b, class_weight=cw, reduction="weighted_mean"
        )

    num, den = torch.compile(terms, fullgraph=True)(x, y)
    want_num, want_den = terms(x, y)
    torch.testing.assert_close(num, want_num)
    torch.testing.assert_close(den, want_den)
    assert float(den) == float(cw[y].sum())
