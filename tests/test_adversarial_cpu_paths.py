"""Adversarial inputs for the CPU fast paths, against the generic path and float64 references.

The paths under test: the branch-free PyTorch host focal/asymmetric rules (inexact at
infinite logits, recomputed by the call's one read), the PyTorch expected-cost autograd
function, the blocked NumPy focal/asymmetric kernel, the compiled eager JAX sigmoid rule
and the TensorFlow sigmoid/focal rules compiled as ``tf.function`` graphs. Each case
compares values and gradients with the generic path (``wxent._fastpaths.ENABLED =
False``) or a float64 reference, or checks that bad input raises wxent's own error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import tensorflow as tf
import torch

import wxent
from wxent import _fastpaths

nan, inf = float("nan"), float("inf")
COSTS = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 1.0], [2.0, 1.0, 0.0]], np.float32)


def _torch_value_grad(
    loss: Callable[..., Any], x: np.ndarray, *args: Any, generic: bool = False, **kw: Any
) -> tuple[np.ndarray, np.ndarray]:
    """The loss and its gradient with respect to the logits (PyTorch, CPU)."""
    saved = _fastpaths.ENABLED
    _fastpaths.ENABLED = not generic
    try:
        xt = torch.tensor(x, requires_grad=True)
        value = loss(xt, *args, **kw)
        value.sum().backward()
        assert xt.grad is not None
        return value.detach().numpy(), xt.grad.numpy()
    finally:
        _fastpaths.ENABLED = saved


# ---------------------------------------------------------------- weighted_mean, zero weights

SOFTMAX_LOSSES: dict[str, Callable[..., Any]] = {
    "softmax_ce": wxent.softmax_cross_entropy,
    "softmax_ce_smooth": lambda x, y, **k: wxent.softmax_cross_entropy(
        x, y, label_smoothing=0.1, **k
    ),
    "softmax_focal": wxent.softmax_focal_loss,
    "expected_cost": lambda x, y, **k: wxent.expected_cost_loss(x, y, COSTS, **k),
    "cost_ce": lambda x, y, **k: wxent.cost_sensitive_cross_entropy(x, y, COSTS, **k),
}
SIGMOID_LOSSES: dict[str, Callable[..., Any]] = {
    "sigmoid_ce": wxent.sigmoid_cross_entropy,
    "sigmoid_ce_pos": lambda x, z, **k: wxent.sigmoid_cross_entropy(x, z, pos_weight=3.0, **k),
    "focal": wxent.sigmoid_focal_loss,
    "focal_alpha": lambda x, z, **k: wxent.sigmoid_focal_loss(x, z, alpha=0.25, **k),
    "asymmetric": wxent.asymmetric_loss,
}
BAD_ROWS = [[nan, 0.0, 1.0], [inf, 0.0, 1.0], [inf, inf, 0.0], [-inf, -inf, -inf]]


@pytest.mark.parametrize("row", BAD_ROWS, ids=["nan", "inf", "two_inf", "all_-inf"])
@pytest.mark.parametrize("weight", ["sample_weight", "class_weight"])
@pytest.mark.parametrize("name", sorted(SOFTMAX_LOSSES))
def test_softmax_weighted_mean_of_zero_weights_has_zero_gradient(
    name: str, weight: str, row: list[float]
) -> None:
    # All weights 0: the inexact host path's NaN at the bad row was hidden by the
    # division by a zero sum of weights (the result 0, its gradient NaN).
    x = np.array([row, [0.0, 1.0, 2.0]], np.float32)
    y = torch.tensor([0, 0])
    kw = (
        {"sample_weight": np.zeros(2, np.float32)}
        if weight == "sample_weight"
        else {"class_weight": np.array([0.0, 1.0, 1.0], np.float32)}
    )
    loss = SOFTMAX_LOSSES[name]
    value, grad = _torch_value_grad(loss, x, y, reduction="weighted_mean", **kw)
    g_value, g_grad = _torch_value_grad(loss, x, y, reduction="weighted_mean", generic=True, **kw)
    assert float(value) == 0.0 == float(g_value)
    np.testing.assert_array_equal(grad, np.zeros_like(x))
    np.testing.assert_array_equal(g_grad, np.zeros_like(x))


@pytest.mark.parametrize("first", [[nan, 1.0], [inf, -inf], [-inf, inf]], ids=str)
@pytest.mark.parametrize("name", sorted(SIGMOID_LOSSES))
def test_sigmoid_weighted_mean_of_zero_weights_has_zero_gradient(
    name: str, first: list[float]
) -> None:
    x = np.array([first, [0.0, 1.0]], np.float32)
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    loss = SIGMOID_LOSSES[name]
    kw = {"sample_weight": np.zeros(2, np.float32), "reduction": "weighted_mean"}
    value, grad = _torch_value_grad(loss, x, z, **kw)
    assert float(value) == 0.0
    np.testing.assert_array_equal(grad, np.zeros_like(x))


# ---------------------------------------------------------------- TensorFlow: tf.Variable weights

X_TF = np.array([[0.5, -1.0, 2.0], [1.0, 0.0, -3.0], [30.0, -40.0, 0.25]], np.float32)
Z_TF = np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.0, 1.0, 1.0]], np.float32)
VARIABLE_WEIGHTS = {
    "sample_weight_scalar": ("sample_weight", np.float32(2.0)),
    "sample_weight_per_sample": ("sample_weight", np.array([0.5, 2.0, 0.0], np.float32)),
    "sample_weight_full": ("sample_weight", np.linspace(0, 2, 9, dtype=np.float32).reshape(3, 3)),
    "pos_weight": ("pos_weight", np.array([1.0, 2.0, 3.0], np.float32)),
    "pos_weight_scalar": ("pos_weight", np.float32(4.0)),
    "neg_weight": ("neg_weight", np.array([0.5, 0.0, 3.0], np.float32)),
}
TF_SIGMOID = {
    "sigmoid_ce": lambda x, z, **k: wxent.sigmoid_cross_entropy(x, z, **k),
    "sigmoid_ce_smooth": lambda x, z, **k: wxent.sigmoid_cross_entropy(
        x, z, label_smoothing=0.2, **k
    ),
    "focal": lambda x, z, **k: wxent.sigmoid_focal_loss(x, z, **k),
    "asymmetric": lambda x, z, **k: wxent.asymmetric_loss(x, z, **k),
}


def _tf_value_grads(
    loss: Callable[..., Any], weight: str, value: np.ndarray, reduction: str, *, variable: bool
) -> list[np.ndarray]:
    """Loss, gradient of the logits and gradient of the weight (a variable or a tensor)."""
    x = tf.constant(X_TF)
    w = tf.Variable(value) if variable else tf.constant(value)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        if not variable:
            tape.watch(w)
        out = loss(x, tf.constant(Z_TF), reduction=reduction, **{weight: w})
    grads = tape.gradient(out, [x, w])
    return [out.numpy(), *(g.numpy() for g in grads)]


@pytest.mark.parametrize("reduction", ["mean", "weighted_mean", "sum"])
@pytest.mark.parametrize("case", sorted(VARIABLE_WEIGHTS))
@pytest.mark.parametrize("name", sorted(TF_SIGMOID))
def test_tf_variable_weights_under_a_tape(name: str, case: str, reduction: str) -> None:
    # A tf.Variable weight reached the compiled sigmoid rule and crashed inside
    # TensorFlow under a tape; its gradient must be the generic path's.
    weight, value = VARIABLE_WEIGHTS[case]
    loss = TF_SIGMOID[name]
    got = _tf_value_grads(loss, weight, value, reduction, variable=True)
    saved = _fastpaths.ENABLED
    _fastpaths.ENABLED = False
    try:
        want = _tf_value_grads(loss, weight, value, reduction, variable=False)
    finally:
        _fastpaths.ENABLED = saved
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)
    assert all(np.isfinite(a).all() for a in got)


@pytest.mark.parametrize("name", ["sigmoid_ce", "focal", "asymmetric"])
def test_tf_variable_logits_labels_and_weights(name: str) -> None:
    x, z = tf.Variable(X_TF), tf.Variable(Z_TF)
    w = tf.Variable(np.array([1.0, 2.0, 3.0], np.float32))
    loss = TF_SIGMOID[name]
    with tf.GradientTape() as tape:
        out = loss(x, z, pos_weight=w, sample_weight=tf.Variable(np.float32(0.5)))
    gx, gw = tape.gradient(out, [x, w])
    saved = _fastpaths.ENABLED
    _fastpaths.ENABLED = False
    try:
        xc, wc = tf.constant(X_TF), tf.constant(w.numpy())
        with tf.GradientTape() as tape:
            tape.watch([xc, wc])
            ref = loss(xc, tf.constant(Z_TF), pos_weight=wc, sample_weight=0.5)
        rx, rw = tape.gradient(ref, [xc, wc])
    finally:
        _fastpaths.ENABLED = saved
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=2e-6)
    np.testing.assert_allclose(gx.numpy(), rx.numpy(), rtol=2e-5, atol=1e-7)
    np.testing.assert_allclose(gw.numpy(), rw.numpy(), rtol=2e-5, atol=1e-7)


# ---------------------------------------------------------------- PyTorch sigmoid CE: overflow


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("pos_weight", [2.0, [2.0, 1.0]], ids=["scalar", "per_class"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_torch_sigmoid_pos_weight_at_the_largest_logits_is_finite(
    dtype: Any, pos_weight: Any, reduction: str
) -> None:
    # The native kernel with pos_weight forms (1 + (q - 1) t) * softplus(-x), which
    # overflowed to inf at x = -3e38 (float32) where the loss, 3e38, is finite.
    big = float(np.finfo(dtype).max) * 0.9
    x = np.array([[-big, 1.0], [3.0, -2.0]], dtype)
    z = torch.tensor([[0.5, 0.0], [0.0, 1.0]], dtype=torch.from_numpy(x).dtype)
    q = pos_weight if isinstance(pos_weight, float) else torch.tensor(pos_weight, dtype=z.dtype)
    kw = {"pos_weight": q, "reduction": reduction}
    value, grad = _torch_value_grad(wxent.sigmoid_cross_entropy, x, z, **kw)
    g_value, g_grad = _torch_value_grad(wxent.sigmoid_cross_entropy, x, z, generic=True, **kw)
    assert np.isfinite(value).all()
    np.testing.assert_allclose(value, g_value, rtol=1e-6)
    np.testing.assert_allclose(grad, g_grad, rtol=1e-6, atol=1e-7)


# ------------------------------------------------------- fast paths against the generic path

EXTREME = np.array(
    [[inf, -inf, 0.0, 1e4], [-1e4, 1e38, -1e38, 0.5], [-inf, 3.0, inf, -2.0]], np.float64
)
EXTREME_LABELS = np.array([[1.0, 0.0, 0.3, 0.0], [1.0, 0.0, 1.0, 0.7], [0.0, 1.0, 1.0, 0.0]])
FAMILY: dict[str, Callable[..., Any]] = {
    "focal_2": lambda x, z, **k: wxent.sigmoid_focal_loss(x, z, **k),
    "focal_0.5_alpha": lambda x, z, **k: wxent.sigmoid_focal_loss(x, z, gamma=0.5, alpha=0.25, **k),
    "focal_2.5_smooth": lambda x, z, **k: wxent.sigmoid_focal_loss(
        x, z, gamma=2.5, label_smoothing=0.2, **k
    ),
    "asym": lambda x, z, **k: wxent.asymmetric_loss(x, z, **k),
    "asym_clip0": lambda x, z, **k: wxent.asymmetric_loss(x, z, clip=0.0, gamma_pos=1.0, **k),
    "asym_clip.999": lambda x, z, **k: wxent.asymmetric_loss(x, z, clip=0.999, gamma_neg=2.5, **k),
}
FAMILY_WEIGHTS: dict[str, dict[str, Any]] = {
    "none": {},
    "pos_per_class": {"pos_weight": np.array([0.0, 1.0, 2.0, 3.0])},
    "neg_zero": {"neg_weight": 0.0},
    "sample_zero_row": {"sample_weight": np.array([0.0, 1.0, 2.0])},
    "sample_subnormal": {"sample_weight": np.full((3, 4), 1e-40)},
    "sample_huge": {"sample_weight": np.full(3, 1e30)},
}


@pytest.mark.parametrize("reduction", ["none", "mean", "weighted_mean"])
@pytest.mark.parametrize("weights", sorted(FAMILY_WEIGHTS))
@pytest.mark.parametrize("name", sorted(FAMILY))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_host_focal_paths_match_the_generic_path_at_extreme_logits(
    dtype: Any, name: str, weights: str, reduction: str
) -> None:
    x = EXTREME.astype(dtype)
    # Finite where the float is: 1e38 in float32 stays, the float64 values are the same.
    loss = FAMILY[name]
    kw = {k: np.asarray(v, dtype) for k, v in FAMILY_WEIGHTS[weights].items()}
    kw["reduction"] = reduction
    z_np = EXTREME_LABELS.astype(dtype)
    z_t = torch.from_numpy(z_np)
    with np.errstate(all="ignore"):  # (the float64 -> float32 cast of 1e40 etc.)
        value, grad = _torch_value_grad(loss, x, z_t, **kw)
        g_value, g_grad = _torch_value_grad(loss, x, z_t, generic=True, **kw)
    saved = _fastpaths.ENABLED
    try:
        np_value = np.asarray(loss(x, z_np, **kw))
        _fastpaths.ENABLED = False
        np_generic = np.asarray(loss(x, z_np, **kw))
    finally:
        _fastpaths.ENABLED = saved
    rtol = 2e-5 if dtype == np.float32 else 1e-12
    for a, b in [(value, g_value), (np_value, np_generic), (np_value, g_value)]:
        assert not np.isnan(a).any()
        np.testing.assert_allclose(a, b, rtol=rtol, atol=0)
    assert not np.isnan(grad).any()
    scale = np.abs(g_grad[np.isfinite(g_grad)]).max(initial=1.0)
    np.testing.assert_allclose(grad, g_grad, rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("reduction", ["sum", "mean", "weighted_mean", "none"])
@pytest.mark.parametrize(
    "loss",
    [wxent.sigmoid_cross_entropy, wxent.sigmoid_focal_loss, wxent.asymmetric_loss],
    ids=lambda f: f.__name__,
)
def test_numpy_losses_beyond_the_float_range_are_inf_without_a_warning(
    loss: Callable[..., Any], reduction: str
) -> None:
    # Losses of 3e38 whose sum (or whose product with a weight of 10) exceeds float32:
    # inf, as PyTorch gives, not a RuntimeWarning (an error where warnings are errors).
    x = np.array([[3e38, -3e38, 1.0], [2e38, 2e38, 0.0]], np.float32)
    z = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], np.float32)
    s = np.array([10.0, 1.0], np.float32)
    for enabled in (True, False):
        saved = _fastpaths.ENABLED
        _fastpaths.ENABLED = enabled
        try:
            got = np.asarray(loss(x, z, sample_weight=s, reduction=reduction))
        finally:
            _fastpaths.ENABLED = saved
        want = loss(torch.from_numpy(x), torch.from_numpy(z), sample_weight=s, reduction=reduction)
        np.testing.assert_array_equal(np.isinf(got), np.isinf(want.numpy()))
        np.testing.assert_allclose(got, want.numpy(), rtol=2e-6)
