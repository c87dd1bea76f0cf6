"""Focal and asymmetric losses at infinite and huge logits: exact limits, finite gradients.

A logit of ``±inf`` (a masked class, a saturated unit) or a huge finite one (``±1e4``,
``±1e38`` in float32) must give the loss's limit and a finite gradient equal to the
gradient's limit, on every framework with autodiff, with hard and soft (smoothed) labels.
The float64 references below are the analytic derivatives of the docstring formulas,
written with the limits spelled out (``p log p -> 0`` at ``p = 0``); they are checked
against finite differences of the float64 oracles at ordinary points first.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import reference_imbalance as ref
import wxent
from conftest import assert_close
from reference import log_sigmoid, numeric_grad

INF = math.inf
# One row of every kind of logit; each row of the label matrix is one kind of label.
X_ROW = [-INF, INF, -1e38, 1e38, -3e38, 3e38, -1e4, 1e4, -30.0, 25.0, -2.0, 0.0, 0.7]
LABEL_ROWS = [0.0, 1.0, 0.3]


def _sigmoid_case() -> tuple[np.ndarray, np.ndarray]:
    x = np.array([X_ROW] * len(LABEL_ROWS), dtype=np.float32)
    z = np.array([[z] * len(X_ROW) for z in LABEL_ROWS], dtype=np.float32)
    return x, z


def _as_float32(a: np.ndarray) -> np.ndarray:
    """The float32 rounding of a float64 result (beyond float32's range: ``inf``)."""
    with np.errstate(over="ignore"):
        return np.asarray(a, dtype=np.float64).astype(np.float32)


def _sigmoid(x: float) -> float:
    return ref.sigmoid(x)


def _focal_term_grad(x: float, gamma: float) -> float:
    """``d/dx [-(1 - p)**gamma log p]`` with ``p = sigmoid(x)``, in float64, limits exact."""
    p = _sigmoid(x)
    one_minus_p = _sigmoid(-x)
    p_log_p = 0.0 if p == 0.0 else p * -log_sigmoid(x)
    return -(one_minus_p**gamma) * (one_minus_p + gamma * p_log_p)


def _clipped_negative_grad(x: float, gamma: float, clip: float) -> float:
    """``d/dx [-p_m**gamma log(1 - p_m)]``, ``p_m = max(p - clip, 0)``, in float64."""
    p = _sigmoid(x)
    p_m = p - clip
    if p_m <= 0.0:
        return 0.0
    one_minus = _sigmoid(-x) + clip
    d_pm = p_m**gamma / one_minus
    if gamma != 0.0:
        d_pm += gamma * p_m ** (gamma - 1.0) * -math.log(one_minus)
    return p * _sigmoid(-x) * d_pm


def _binary_grad(x, z, *, positive, negative, pos_weight, neg_weight, label_smoothing):
    """Element-wise gradient of ``sum(q t A(x) + r (1 - t) B(x))`` from the term derivatives."""
    out = np.zeros(x.shape)
    for idx in np.ndindex(x.shape):
        t = float(z[idx]) * (1 - label_smoothing) + label_smoothing / 2
        c = idx[-1]
        xi = float(x[idx])
        g = 0.0 if t == 0 else t * pos_weight[c] * positive(xi)
        g += 0.0 if t == 1 else (1 - t) * neg_weight * negative(xi)
        out[idx] = g
    return out


def test_float64_term_gradients_match_finite_differences():
    xs = np.array([-7.0, -2.0, -0.3, 0.0, 0.4, 1.5, 6.0])
    for gamma in (0.0, 0.5, 2.0):
        for xi in xs:
            pos = numeric_grad(
                lambda a, g=gamma: (1 - _sigmoid(a[0])) ** g * -log_sigmoid(a[0]), [xi]
            )
            assert_close(_focal_term_grad(xi, gamma), pos[0], rtol=1e-6, atol=1e-9)
            neg = numeric_grad(
                lambda a, g=gamma: (
                    max(_sigmoid(a[0]) - 0.05, 0.0) ** g
                    * -math.log(1 - max(_sigmoid(a[0]) - 0.05, 0.0))
                ),
                [xi],
            )
            assert_close(_clipped_negative_grad(xi, gamma, 0.05), neg[0], rtol=1e-6, atol=1e-9)


SIGMOID_CASES = {
    "focal-g0": dict(loss="focal", gamma=0.0),
    "focal-g0.5": dict(loss="focal", gamma=0.5, alpha=0.25),
    "focal-g2": dict(loss="focal", gamma=2.0, alpha=0.25),
    "focal-g4": dict(loss="focal", gamma=4.0),
    "asl-default": dict(loss="asl"),
    "asl-gpos1": dict(loss="asl", gamma_pos=1.0, gamma_neg=4.0, clip=0.05),
    "asl-clip0": dict(loss="asl", gamma_pos=0.5, gamma_neg=0.5, clip=0.0),
    "asl-clip0-g2": dict(loss="asl", gamma_pos=2.0, gamma_neg=4.0, clip=0.0),
}


def _sigmoid_loss(case: dict, label_smoothing: float, reduction: str):
    opts = {k: v for k, v in case.items() if k != "loss"}
    n = len(X_ROW)
    opts.update(
        pos_weight=np.linspace(0.5, 2.0, n).tolist(),
        neg_weight=1.5,
        label_smoothing=label_smoothing,
        reduction=reduction,
    )
    if case["loss"] == "focal":
        return (lambda a, b: wxent.sigmoid_focal_loss(a, b, **opts)), opts
    return (lambda a, b: wxent.asymmetric_loss(a, b, **opts)), opts


def _sigmoid_expected(case: dict, opts: dict, x, z):
    n = len(X_ROW)
    q = np.asarray(opts["pos_weight"], float)
    r = float(opts["neg_weight"])
    ref_opts = {k: v for k, v in opts.items() if k != "reduction"}
    if case["loss"] == "focal":
        gamma = case["gamma"]
        alpha = case.get("alpha")
        qa = q * (1.0 if alpha is None else alpha)
        ra = r * (1.0 if alpha is None else 1.0 - alpha)
        value = ref.sigmoid_focal(x, z, reduction="none", **ref_opts)
        grad = _binary_grad(
            x,
            z,
            positive=lambda a: _focal_term_grad(a, gamma),
            negative=lambda a: -_focal_term_grad(-a, gamma),
            pos_weight=qa,
            neg_weight=ra,
            label_smoothing=opts["label_smoothing"],
        )
        return value, grad
    gamma_pos = case.get("gamma_pos", 0.0)
    gamma_neg = case.get("gamma_neg", 4.0)
    clip = case.get("clip", 0.05)
    value = ref.asymmetric(x, z, reduction="none", **ref_opts)

    def negative(a: float) -> float:
        if clip == 0.0:
            return -_focal_term_grad(-a, gamma_neg)
        return _clipped_negative_grad(a, gamma_neg, clip)

    grad = _binary_grad(
        x,
        z,
        positive=lambda a: _focal_term_grad(a, gamma_pos),
        negative=negative,
        pos_weight=q,
        neg_weight=r,
        label_smoothing=opts["label_smoothing"],
    )
    assert grad.shape == (len(LABEL_ROWS), n)
    return value, grad


@pytest.mark.parametrize("finite", [False, True], ids=["with-inf", "finite"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize("case", list(SIGMOID_CASES), ids=str)
def test_sigmoid_family_limits_numpy(monkeypatch, case, label_smoothing, dtype, finite):
    """NumPy (its blocked kernel; at infinite logits the exact path): the float64 limits.

    Without infinite logits no term is ``0 * inf``: the kernel's values are the result
    (the generic formulas never run).
    """
    from wxent._core import sigmoid as core_sigmoid

    spec = SIGMOID_CASES[case]
    x, z = _sigmoid_case()
    if finite:
        keep = np.isfinite(x[0])
        x, z = x[:, keep], z[:, keep]
        monkeypatch.setattr(core_sigmoid, "binary_terms", None)  # (a call would raise)
    _, opts = _sigmoid_loss(spec, label_smoothing, "none")
    opts["pos_weight"] = opts["pos_weight"][: x.shape[1]]
    kw = {k: v for k, v in spec.items() if k != "loss"} | opts
    if spec["loss"] == "focal":
        value = wxent.sigmoid_focal_loss(x.astype(dtype), z, **kw)
        kw.pop("reduction")
        expected = ref.sigmoid_focal(x.astype(np.float64), z, reduction="none", **kw)
    else:
        value = wxent.asymmetric_loss(x.astype(dtype), z, **kw)
        kw.pop("reduction")
        expected = ref.asymmetric(x.astype(np.float64), z, reduction="none", **kw)
    assert value.dtype == dtype and not np.isnan(value).any()
    if dtype == np.float32:
        assert_close(value, _as_float32(expected), rtol=1e-5, atol=1e-6)
    else:
        assert_close(value, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize("case", list(SIGMOID_CASES), ids=str)
def test_sigmoid_family_limits(ad_backend, case, label_smoothing):
    spec = SIGMOID_CASES[case]
    x, z = _sigmoid_case()
    f_none, opts = _sigmoid_loss(spec, label_smoothing, "none")
    f_sum, _ = _sigmoid_loss(spec, label_smoothing, "sum")
    expected_value, expected_grad = _sigmoid_expected(spec, opts, x, z)
    # Element-wise values: the limits (0 on the target's side, inf on the other), as float32.
    expected_value = _as_float32(expected_value)
    value = ad_backend.call(f_none, x, z)
    assert not np.isnan(value).any()
    assert_close(value, expected_value, rtol=1e-5, atol=1e-6)
    # The gradient of the sum: finite everywhere and equal to the float64 derivative.
    _, grad = ad_backend.value_and_grad(f_sum, x, z)
    assert np.isfinite(grad).all(), grad
    assert_close(grad, expected_grad, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("loss", ["focal", "asl", "asl-clip0"])
def test_issue_reproducers_have_zero_gradient(ad_backend, loss):
    # A logit infinitely on its target's side costs nothing, and its gradient is 0.
    x = np.array([[-INF, INF]], dtype=np.float32)
    z = np.array([[0.0, 1.0]], dtype=np.float32)
    for gamma in (0.3, 0.5, 1.0, 2.0):
        if loss == "focal":

            def f(a, b, g=gamma):
                return wxent.sigmoid_focal_loss(a, b, gamma=g, alpha=0.25, reduction="sum")

        elif loss == "asl":

            def f(a, b, g=gamma):
                return wxent.asymmetric_loss(a, b, gamma_pos=g, reduction="sum")

        else:

            def f(a, b, g=gamma):
                return wxent.asymmetric_loss(a, b, gamma_neg=g, clip=0.0, reduction="sum")

        value, grad = ad_backend.value_and_grad(f, x, z)
        assert float(value) == 0.0
        assert np.array_equal(grad, np.zeros_like(x))


# ----------------------------------------------------------------------------- softmax focal


SOFTMAX_X = np.array(
    [
        [-INF, 0.0, 1.0, 2.0],  # a masked class
        [-1e38, 0.0, 1.0, 2.0],  # a huge negative logit
        [-1e4, 0.5, -1.0, 2.0],  # label on the far class: a confident mistake
        [1e4, 0.0, -1e4, 1.0],  # p of the top class rounds to 1
        [1e38, 0.0, -5.0, 3.0],  # -log p of the label is 1e38
        [-INF, -INF, 0.0, 1.0],  # two masked classes
        [-INF, 5.0, -INF, -INF],  # a single finite logit
        [0.3, -1.2, 2.0, 0.1],  # an ordinary row
    ],
    dtype=np.float32,
)
SOFTMAX_Y = np.array([1, 2, 0, 0, 3, 3, 1, 2])


def _softmax_f64(row: np.ndarray) -> tuple[list[float], list[float]]:
    """``p`` and ``log p`` of a float64 row with ``-inf`` entries."""
    m = max(row)
    lse = m + math.log(sum(math.exp(v - m) for v in row))
    log_p = [v - lse for v in row]
    return [math.exp(v) for v in log_p], log_p


def _softmax_focal_grad(x: np.ndarray, targets: np.ndarray, gamma: float) -> np.ndarray:
    """Gradient of ``sum_rows sum_c t_c F_c``, ``F_c = -(1 - p_c)**gamma log p_c``, float64.

    ``dF_c/dx_j = (delta_cj - p_j) * k_c`` with ``k_c = -(1 - p_c)**gamma * (1 - gamma *
    p_c log p_c / (1 - p_c))``; the ratio is 0 at ``p_c = 0`` and -1 at ``p_c = 1``;
    ``1 - p_c`` is the sum of the other classes' probabilities.
    """
    x = np.asarray(x, dtype=np.float64)
    out = np.zeros_like(x)
    for i, row in enumerate(x):
        p, log_p = _softmax_f64(row)
        k = []
        for c in range(len(row)):
            rest = sum(p[j] for j in range(len(row)) if j != c)
            if p[c] == 0.0:
                ratio = 0.0
            elif rest == 0.0:
                ratio = -1.0
            else:
                ratio = p[c] * log_p[c] / rest
            k.append(-(rest**gamma) * (1.0 - gamma * ratio))
        tk = sum(float(targets[i, c]) * k[c] for c in range(len(row)))
        for j in range(len(row)):
            out[i, j] = float(targets[i, j]) * k[j] - p[j] * tk
    return out


def _smoothed(y: np.ndarray, c: int, eps: float) -> np.ndarray:
    return np.eye(c)[y] * (1 - eps) + eps / c


def test_float64_softmax_gradient_matches_finite_differences(rng):
    x = rng.normal(size=(3, 4))
    y = np.array([0, 2, 3])
    for gamma, eps in [(0.0, 0.0), (0.5, 0.0), (2.0, 0.2)]:
        expected = numeric_grad(
            lambda a, g=gamma, e=eps: ref.softmax_focal(
                a, y, gamma=g, label_smoothing=e, reduction="sum"
            ),
            x,
        )
        got = _softmax_focal_grad(x, _smoothed(y, 4, eps), gamma)
        assert_close(got, expected, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize("labels", ["indices", "probabilities"])
def test_softmax_focal_limits(ad_backend, gamma, label_smoothing, labels):
    x, y = SOFTMAX_X, SOFTMAX_Y
    y_in = y if labels == "indices" else np.eye(4, dtype=np.float32)[y]
    opts = dict(gamma=gamma, label_smoothing=label_smoothing, class_weight=[1.0, 2.0, 0.5, 1.5])

    def f_none(a, b):
        return wxent.softmax_focal_loss(a, b, reduction="none", **opts)

    def f_sum(a, b):
        return wxent.softmax_focal_loss(a, b, reduction="sum", **opts)

    value = ad_backend.call(f_none, x, y_in)
    expected_value = _as_float32(ref.softmax_focal(x, y, reduction="none", **opts))
    assert not np.isnan(value).any()
    assert_close(value, expected_value, rtol=1e-5, atol=1e-6)
    _, grad = ad_backend.value_and_grad(f_sum, x, y_in)
    assert np.isfinite(grad).all(), grad
    weights = np.array(opts["class_weight"])[y][:, None]
    expected = weights * _softmax_focal_grad(x, _smoothed(y, 4, label_smoothing), gamma)
    assert_close(grad, expected, rtol=1e-5, atol=1e-6)


def test_softmax_focal_issue_reproducer(ad_backend):
    # The masked class gets gradient 0, the row the gradient of the row without it.
    x = np.array([[-INF, 0.0, 1.0]], dtype=np.float32)
    for gamma in (0.5, 2.0):

        def f(a, b, g=gamma):
            return wxent.softmax_focal_loss(a, b, gamma=g, reduction="sum")

        value, grad = ad_backend.value_and_grad(f, x, np.array([1]))
        dropped_value, dropped = ad_backend.value_and_grad(f, x[:, 1:], np.array([0]))
        assert np.isfinite(grad).all()
        assert_close(value, dropped_value, rtol=1e-6)
        assert grad[0, 0] == 0.0
        assert_close(grad[:, 1:], dropped, rtol=1e-6, atol=1e-7)


def test_soft_targets_zero_on_masked_class(ad_backend):
    x = np.array([[-INF, 0.0, 1.0], [2.0, -INF, -1e38]], dtype=np.float32)
    t = np.array([[0.0, 0.3, 0.7], [1.0, 0.0, 0.0]], dtype=np.float32)
    value, grad = ad_backend.value_and_grad(
        lambda a, b: wxent.softmax_focal_loss(a, b, gamma=0.5, reduction="sum"), x, t
    )
    assert_close(value, ref.softmax_focal(x, t, gamma=0.5, reduction="sum"), rtol=1e-6)
    assert_close(grad, _softmax_focal_grad(x, t, 0.5), rtol=1e-5, atol=1e-7)


# ----------------------------------------------------------------------------- huge gamma


@pytest.mark.parametrize("gamma", [1e3, 1e6, 1e10, 1e20])
@pytest.mark.parametrize("labels", ["indices", "probabilities"])
def test_softmax_focal_float32_follows_float64_at_huge_gamma(backend, gamma, labels):
    """``log(1 - p)`` of a small ``p`` was ``log(S_others) - log(S)``, which cancels in
    float32 once ``p`` is below its precision: a factor ``(1 - p)**gamma`` of 1 and a loss
    of ``-log p`` (18.8 where float64 gives 7.7e-31 at gamma=1e10)."""
    rng = np.random.default_rng(4)
    x = (8.0 * rng.normal(size=(2000, 10))).astype(np.float32)
    y = rng.integers(0, 10, size=2000)
    z = np.eye(10, dtype=np.float32)[y] * 0.9 + 0.01 if labels == "probabilities" else y

    def loss(a, b):
        return wxent.softmax_focal_loss(a, b, gamma=gamma, reduction="none")

    got = backend.call(loss, x, z)
    want = wxent.softmax_focal_loss(x.astype(np.float64), z, gamma=gamma, reduction="none")
    shown = want > 1e-30  # below: float32 has no such numbers
    assert shown.any()
    np.testing.assert_allclose(got[shown], want[shown], rtol=5e-4)
    assert np.all(got[~shown] < 1e-29)


@pytest.mark.parametrize("gamma", [1e6, 1e10])
def test_softmax_focal_float32_gradient_follows_float64_at_huge_gamma(gamma):
    """The custom gradients of PyTorch and JAX read the same ``log(1 - p)``."""
    import jax
    import torch

    rng = np.random.default_rng(5)
    x = (8.0 * rng.normal(size=(300, 10))).astype(np.float32)
    y = rng.integers(0, 10, size=300)
    grads = {}
    for dtype in (torch.float32, torch.float64):
        xt = torch.tensor(x, dtype=dtype, requires_grad=True)
        wxent.softmax_focal_loss(xt, torch.tensor(y), gamma=gamma, reduction="sum").backward()
        grads[dtype] = xt.grad.numpy().astype(np.float64)
    want = grads[torch.float64]
    big = np.abs(want) > 1e-30
    assert big.sum() > 10
    np.testing.assert_allclose(grads[torch.float32][big], want[big], rtol=2e-3, atol=1e-30)
    yj = jax.numpy.asarray(y)
    g = jax.grad(lambda a: wxent.softmax_focal_loss(a, yj, gamma=gamma, reduction="sum"))(x)
    np.testing.assert_allclose(np.asarray(g, np.float64)[big], want[big], rtol=2e-3, atol=1e-30)
