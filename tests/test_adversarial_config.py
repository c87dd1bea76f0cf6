"""Regressions of a second adversarial pass: configuration, shapes and host-side fits.

Each test names the class of input that used to reach a framework (a NumPy, PyTorch, JAX
or TensorFlow traceback), give a NaN or inf, or give a silently wrong number, and checks
it on every framework it touches.
"""

from __future__ import annotations

import re

import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow as tf
import torch

import wxent

FRAMEWORKS = {
    "numpy": np.asarray,
    "torch": torch.as_tensor,
    "jax": jnp.asarray,
    "tf": tf.convert_to_tensor,
}
ALL = sorted(FRAMEWORKS)
SOFTMAX_CALLS = {
    "softmax_cross_entropy": lambda x, y: wxent.softmax_cross_entropy(x, y),
    "softmax_focal_loss": lambda x, y: wxent.softmax_focal_loss(x, y),
    "logit_adjusted_cross_entropy": lambda x, y: wxent.logit_adjusted_cross_entropy(
        x, y, np.zeros(0) + 1.0
    ),
    "expected_cost_loss": lambda x, y: wxent.expected_cost_loss(x, y, np.zeros((0, 0))),
    "confusion_matrix": lambda x, y: wxent.confusion_matrix(x, y),
    "bayes_decision": lambda x, y: wxent.bayes_decision(x, np.zeros((0, 0))),
    "tune_thresholds": lambda x, y: wxent.tune_thresholds(x, y),
    "calibrate": lambda x, y: wxent.calibrate(x, y),
}


def _message(name: str) -> str:
    return rf"^Invalid (value|type) for argument `{re.escape(name)}`\. Expected .+ Received: .+"


# ----------------------------------------------------------------------------- no classes


@pytest.mark.parametrize("framework", ALL)
@pytest.mark.parametrize("call", sorted(SOFTMAX_CALLS))
@pytest.mark.parametrize("rows", [0, 4])
def test_softmax_logits_without_classes_are_an_error(framework, call, rows):
    x = FRAMEWORKS[framework](np.zeros((rows, 0), np.float32))
    y = FRAMEWORKS[framework](np.zeros(rows, np.int64))
    with pytest.raises(ValueError, match=_message("logits")) as info:
        SOFTMAX_CALLS[call](x, y)
    assert f"({rows}, 0)" in str(info.value)


@pytest.mark.parametrize("framework", ALL)
def test_probability_labels_without_classes_are_an_error(framework):
    x = FRAMEWORKS[framework](np.zeros((3, 0), np.float32))
    with pytest.raises(ValueError, match=_message("logits")):
        wxent.softmax_cross_entropy(x, x)


def test_sigmoid_logits_without_labels_still_give_an_empty_loss():
    x = np.zeros((3, 0), np.float32)
    assert wxent.sigmoid_cross_entropy(x, x, reduction="none").shape == (3, 0)
    assert float(wxent.sigmoid_cross_entropy(x, x)) == 0.0


# ----------------------------------------------------------------------------- what weights are


BAD_NUMBERS = {
    "ragged list": [1.0, [2.0], 3.0],
    "complex scalar": 1j,
    "complex array": np.array([1.0, 1j, 1.0]),
    "strings": np.array(["1", "2", "3"]),
    "masked array": np.ma.masked_array([1.0, 2.0, 3.0], mask=[0, 1, 0]),
}


@pytest.mark.parametrize("framework", ALL)
@pytest.mark.parametrize("kind", sorted(BAD_NUMBERS))
def test_weights_that_are_not_plain_real_numbers_are_a_type_error(framework, kind):
    x = FRAMEWORKS[framework](np.zeros((4, 3), np.float32))
    y = FRAMEWORKS[framework](np.array([0, 1, 2, 0]))
    z = FRAMEWORKS[framework](np.zeros((4, 3), np.float32))
    value = BAD_NUMBERS[kind]
    with pytest.raises(TypeError, match=_message("class_weight")):
        wxent.softmax_cross_entropy(x, y, class_weight=value)
    with pytest.raises(TypeError, match=_message("pos_weight")):
        wxent.sigmoid_cross_entropy(x, z, pos_weight=value)
    per_sample = {
        "ragged list": [1.0, [2.0], 3.0, 4.0],
        "complex scalar": 1j,
        "complex array": np.array([1.0, 1j, 1.0, 1.0]),
        "strings": np.array(["1", "2", "3", "4"]),
        "masked array": np.ma.masked_array(np.ones(4), mask=[0, 1, 0, 0]),
    }[kind]
    with pytest.raises(TypeError, match=_message("sample_weight")):
        wxent.softmax_cross_entropy(x, y, sample_weight=per_sample)
    with pytest.raises(TypeError, match=_message("sample_weight")):
        wxent.recall(x, y, sample_weight=per_sample)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix's own
@pytest.mark.parametrize("kind", ["matrix", "masked"])
def test_numpy_subclasses_as_logits_or_labels_are_a_type_error(kind):
    """np.matrix multiplied as matrices (a NumPy error, or a wrong loss); masks were dropped."""
    x = np.zeros((4, 3), np.float32)
    odd = np.asmatrix(x) if kind == "matrix" else np.ma.masked_array(x, mask=x > 0)
    with pytest.raises(TypeError, match=_message("logits")):
        wxent.softmax_cross_entropy(odd, np.array([0, 1, 2, 0]))
    with pytest.raises(TypeError, match=_message("logits")):
        wxent.precision(odd, np.array([0, 1, 2, 0]))
    if kind == "masked":
        with pytest.raises(TypeError, match=_message("labels")):
            wxent.sigmoid_cross_entropy(x, np.ma.masked_array(x, mask=x > 0))
        with pytest.raises(TypeError, match=_message("labels")):
            wxent.label_counts(np.ma.masked_array([0, 1, 2], mask=[0, 0, 1]))


def test_complex_sample_weight_of_label_counts_is_a_type_error():
    with pytest.raises(TypeError, match=_message("sample_weight")):
        wxent.label_counts(np.array([0, 1, 1]), sample_weight=np.ones(3) * 1j)


# ----------------------------------------------------------------------------- the compute dtype


@pytest.mark.parametrize("framework", ALL)
def test_weights_that_overflow_the_compute_dtype_are_an_error(framework):
    """1e300 is finite in float64 but inf in float32: it gave inf, or NaN for weighted_mean."""
    x = FRAMEWORKS[framework](np.zeros((4, 3), np.float32))
    y = FRAMEWORKS[framework](np.array([0, 1, 2, 0]))
    z = FRAMEWORKS[framework](np.zeros((4, 3), np.float32))
    big = np.full(4, 1e300)
    same = FRAMEWORKS[framework](big) if framework != "jax" else big  # JAX: float32 already
    calls = {
        "sample_weight": lambda: wxent.softmax_cross_entropy(
            x, y, sample_weight=same, reduction="weighted_mean"
        ),
        "class_weight": lambda: wxent.softmax_cross_entropy(x, y, class_weight=[1e300, 1, 1]),
        "pos_weight": lambda: wxent.sigmoid_cross_entropy(x, z, pos_weight=1e300),
        "costs": lambda: wxent.expected_cost_loss(x, y, np.full((3, 3), 1e300)),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError, match=_message(name)) as info:
            call()
        assert "float32" in str(info.value) and "1e+300" in str(info.value)
    costs = np.full((3, 3), 1e300)
    with pytest.raises(ValueError, match=_message("costs")):
        wxent.bayes_decision(x, FRAMEWORKS[framework](costs) if framework != "jax" else costs)
    if framework == "numpy":  # NumPy metrics sum weights in float64: 1e300 fits
        assert wxent.recall(x, y, sample_weight=same) == pytest.approx(0.5)  # accuracy
    else:
        with pytest.raises(ValueError, match=_message("sample_weight")):
            wxent.recall(x, y, sample_weight=same)


@pytest.mark.parametrize("framework", ["numpy", "torch", "tf"])  # JAX: float32 without x64
def test_float64_logits_keep_float64_weights(framework):
    x = FRAMEWORKS[framework](np.zeros((2, 3), np.float64))
    y = FRAMEWORKS[framework](np.array([0, 1]))
    loss = wxent.softmax_cross_entropy(x, y, sample_weight=1e300, reduction="weighted_mean")
    assert float(loss) == pytest.approx(np.log(3.0))


@pytest.mark.parametrize("framework", ALL)
def test_priors_that_round_to_zero_in_the_compute_dtype_are_an_error(framework):
    """1e-300 is positive in float64 but 0 in float32: its log made an infinite loss."""
    x = FRAMEWORKS[framework](np.zeros((4, 3), np.float32))
    y = FRAMEWORKS[framework](np.array([0, 1, 2, 0]))
    with pytest.raises(ValueError, match=_message("class_prior")):
        wxent.logit_adjusted_cross_entropy(x, y, [1e-300, 0.5, 0.5])
    with pytest.raises(ValueError, match=_message("class_prior")):
        wxent.adjust_logits(x, [1e-300, 0.5, 0.5])


# ----------------------------------------------------------------------------- F-beta


@pytest.mark.parametrize("framework", ALL)
@pytest.mark.parametrize("beta", [1e10, 1e20, 1e200])
def test_fbeta_of_a_huge_beta_is_the_recall(framework, beta):
    rng = np.random.default_rng(0)
    x = FRAMEWORKS[framework](rng.normal(size=(40, 3)).astype(np.float32))
    z = FRAMEWORKS[framework]((rng.random((40, 3)) > 0.5).astype(np.float32))
    w = FRAMEWORKS[framework](np.ones(40, np.float32))
    recall = float(wxent.recall(x, z, sample_weight=w))
    assert float(wxent.fbeta_score(x, z, beta=beta, sample_weight=w)) == pytest.approx(recall)
    assert float(wxent.fbeta_score(x, z, beta=beta)) == pytest.approx(recall)


@pytest.mark.parametrize("beta", [0.0, 1e-200, 0.5, 1.0, 2.0, 1e200])
def test_tune_thresholds_takes_any_beta(beta):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 3))
    z = (rng.random((60, 3)) < 0.3).astype(np.float64)
    t = wxent.tune_thresholds(x, z, objective="fbeta", beta=beta)
    offsets = wxent.tune_thresholds(x, z.argmax(axis=1), objective="fbeta", beta=beta)
    assert np.isfinite(t).all() and np.isfinite(offsets).all()
    f = [wxent.fbeta_score(x[:, j], z[:, j], beta=beta, threshold=t[j]) for j in range(3)]
    for j in range(3):  # the tuned threshold is at least as good as a few others
        for other in (-1.0, 0.0, 1.0):
            assert f[j] >= wxent.fbeta_score(x[:, j], z[:, j], beta=beta, threshold=other) - 1e-12


def test_fbeta_matches_scikit_learn_for_ordinary_betas():
    from sklearn import metrics as sklearn_metrics

    rng = np.random.default_rng(2)
    x = rng.normal(size=(200,))
    z = (rng.random(200) < 0.4).astype(int)
    for beta in (0.0, 0.3, 1.0, 3.0):
        expected = sklearn_metrics.fbeta_score(z, (x > 0).astype(int), beta=beta)
        assert wxent.fbeta_score(x, z, beta=beta) == pytest.approx(expected, rel=1e-12)


# ----------------------------------------------------------------------------- calibration


@pytest.mark.parametrize("scale", [1e-30, 1e-12, 1e-3, 1e3, 1e6, 1e12, 1e30])
def test_calibration_is_equivariant_to_the_scale_of_the_logits(scale):
    """Logits of magnitude 1e6 gave the identity (T = 1) without a word."""
    rng = np.random.default_rng(0)
    z = (rng.random((2000, 2)) < 0.3).astype(np.float64)
    x = (2 * z - 1) + 2 * rng.normal(size=z.shape)
    base_t = wxent.calibrate(x, z).temperature
    base_p = wxent.calibrate(x, z, method="platt")
    scaled = (x * scale).astype(np.float32)
    np.testing.assert_allclose(wxent.calibrate(scaled, z).temperature, base_t * scale, rtol=1e-5)
    platt = wxent.calibrate(scaled, z, method="platt")
    np.testing.assert_allclose(np.asarray(platt.scale) * scale, base_p.scale, rtol=1e-5)
    np.testing.assert_allclose(platt.bias, base_p.bias, rtol=1e-5, atol=1e-7)
    y = rng.integers(0, 3, 2000)
    xs = rng.normal(size=(2000, 3))
    xs[np.arange(2000), y] += 1.5
    base = wxent.calibrate(xs, y).temperature
    assert wxent.calibrate(xs * scale, y).temperature == pytest.approx(base * scale, rel=1e-5)


def test_expected_calibration_error_with_infinite_softmax_logits():
    x = np.array([[np.inf, 0.0, 0.0], [np.inf, np.inf, 0.0], [1.0, -np.inf, 0.0]])
    y = np.array([0, 1, 2])
    mean, freq, weight = wxent.calibration.reliability_bins(x, y, bins=4)
    # confidences 1 (hit), 0.5 (argmax 0: a miss), softmax([1, 0]) max (a miss)
    p3 = 1 / (1 + np.exp(-1.0))
    assert weight.tolist() == [0.0, 0.0, 2.0, 1.0]
    assert mean[2] == pytest.approx((0.5 + p3) / 2) and freq[2] == 0.0
    assert mean[3] == 1.0 and freq[3] == 1.0
    ece = wxent.expected_calibration_error(x, y, bins=4)
    assert ece == pytest.approx((0.5 + p3) / 3)
    with pytest.raises(ValueError, match=_message("logits")):
        wxent.expected_calibration_error(np.array([[-np.inf, -np.inf]]), np.array([0]))


# ----------------------------------------------------------------------------- counting


@pytest.mark.parametrize(
    "labels",
    [np.array([0, 2**62]), np.array([0, 2**64 - 1], np.uint64), np.array([0.0, 1e300])],
    ids=["int64", "uint64", "float"],
)
def test_huge_integer_labels_are_an_error_not_an_allocation(labels):
    with pytest.raises(ValueError, match=_message("labels")) as info:
        wxent.label_counts(labels)
    assert "-1" not in str(info.value)  # no wrap-around in the message
    with pytest.raises(ValueError, match=_message("num_classes")):
        wxent.label_counts(np.array([0, 1]), num_classes=10**12)


def test_huge_ids_count_as_class_names():
    ids = np.array([2**62, 5, 2**62])
    assert wxent.label_counts(ids, classes=[5, 2**62]).tolist() == [1.0, 2.0]


# ----------------------------------------------------------------------------- torch.func


def _vmap_cases(x, zi, zf):
    return {
        "sample_weight": (
            lambda w: wxent.softmax_cross_entropy(x, zi, sample_weight=w),
            torch.rand(3, 4),
        ),
        "class_weight": (
            lambda w: wxent.softmax_cross_entropy(x, zi, class_weight=w),
            torch.rand(3, 3) + 0.1,
        ),
        "pos_weight": (
            lambda w: wxent.sigmoid_cross_entropy(x, zf, pos_weight=w),
            torch.rand(3, 3),
        ),
        "costs": (lambda c: wxent.expected_cost_loss(x, zi, c), torch.rand(2, 3, 3)),
        "class_prior": (
            lambda p: wxent.logit_adjusted_cross_entropy(x, zi, p),
            torch.rand(2, 3) + 0.1,
        ),
        "bayes_decision": (lambda c: wxent.bayes_decision(x, c), torch.rand(2, 3, 3)),
        "recall": (lambda w: wxent.recall(x, zi, sample_weight=w), torch.rand(3, 4)),
        "threshold": (lambda t: wxent.recall(x, zf, threshold=t), torch.rand(3, 3) - 0.5),
        "expected_cost": (lambda c: wxent.expected_cost(x, zi, c), torch.rand(2, 3, 3)),
    }


@pytest.mark.parametrize(
    "case",
    [
        "sample_weight",
        "class_weight",
        "pos_weight",
        "costs",
        "class_prior",
        "bayes_decision",
        "recall",
        "threshold",
        "expected_cost",
    ],
)
def test_torch_vmap_over_an_option_only(case):
    """vmap over weights (logits unbatched) read a batched flag: a functorch .item() error."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, generator=g)
    zi = torch.tensor([0, 1, 2, 1])
    zf = (torch.rand(4, 3, generator=g) > 0.5).float()
    f, values = _vmap_cases(x, zi, zf)[case]
    out = torch.func.vmap(f)(values)
    expected = torch.stack([f(value) for value in values])
    torch.testing.assert_close(out.double(), expected.double(), rtol=1e-6, atol=1e-6)


def test_torch_autograd_through_pos_weight():
    """A pos_weight that requires a gradient went to a native op without one for it."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, generator=g)
    z = (torch.rand(4, 3, generator=g) > 0.5).float()
    w = torch.tensor([1.0, 2.0, 0.5], requires_grad=True)
    wxent.sigmoid_cross_entropy(x, z, pos_weight=w).backward()
    positive = z * torch.nn.functional.softplus(-x)  # d loss / d pos_weight
    torch.testing.assert_close(w.grad, positive.sum(0) / x.numel())


# ----------------------------------------------------------------------------- traced labels

TRACED_CALLS = {
    "softmax_cross_entropy": lambda x, y, r: wxent.softmax_cross_entropy(x, y, reduction=r),
    "softmax_focal_loss": lambda x, y, r: wxent.softmax_focal_loss(x, y, reduction=r),
    "logit_adjusted_cross_entropy": lambda x, y, r: wxent.logit_adjusted_cross_entropy(
        x, y, [0.2, 0.3, 0.5], reduction=r
    ),
    "expected_cost_loss": lambda x, y, r: wxent.expected_cost_loss(
        x, y, 1.0 - np.eye(3), class_weight=[1.0, 2.0, 3.0], reduction=r
    ),
    "confusion_weighted_cross_entropy": lambda x, y, r: wxent.confusion_weighted_cross_entropy(
        x, y, np.ones((3, 3)), reduction=r
    ),
    "linear_cross_entropy": lambda x, y, r: wxent.linear_cross_entropy(
        x, x[:3] * 0 + 1, y, reduction=r
    ),
}


def _traced(framework: str, f, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if framework == "jax":
        import jax

        return np.asarray(jax.jit(f)(x, y))
    if framework == "tf":
        return tf.function(f)(tf.constant(x), tf.constant(y)).numpy()
    return torch.compile(f, backend="eager", fullgraph=False)(
        torch.as_tensor(x), torch.as_tensor(y)
    ).numpy()


# (torch.compile: seconds of tracing per loss; three losses of distinct code paths there)
@pytest.mark.parametrize(
    ("framework", "call"),
    [
        (framework, call)
        for call in sorted(TRACED_CALLS)
        for framework in ("jax", "tf", "torch")
        if framework != "torch"
        or call in ("softmax_cross_entropy", "expected_cost_loss", "linear_cross_entropy")
    ],
)
def test_traced_labels_out_of_range_give_nan_losses(framework, call):
    """Under tracing nothing can raise: TF's gather raised, JAX wrapped -2 around to class 1."""
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    y = np.array([0, 1, 5, -2])
    f = TRACED_CALLS[call]
    out = _traced(framework, lambda a, b: f(a, b, "none"), x, y)
    eager = np.asarray(f(x, np.array([0, 1, 0, 0]), "none"))[:2]
    np.testing.assert_allclose(out[:2], eager, rtol=1e-5)
    assert np.isnan(out[2:]).all()
    assert np.isnan(_traced(framework, lambda a, b: f(a, b, "mean"), x, y))
    ok = _traced(framework, lambda a, b: f(a, b, "mean"), x, np.array([0, 1, 2, 1]))
    assert ok == pytest.approx(float(f(x, np.array([0, 1, 2, 1]), "mean")), rel=1e-5)


def test_jax_gradient_of_an_out_of_range_label_is_zero_not_a_wrapped_class():
    import jax

    x = np.random.default_rng(0).normal(size=(3, 3)).astype(np.float32)
    g = jax.jit(jax.grad(lambda a, b: wxent.softmax_cross_entropy(a, b, reduction="sum")))(
        x, np.array([0, -2, 7])
    )
    assert (np.asarray(g)[1:] == 0).all()


# ----------------------------------------------------------------------------- more inputs


@pytest.mark.parametrize(
    "call",
    [
        lambda a, b, c: wxent.softmax_cross_entropy(a, b, class_weight=[1.0, 2.0, 3.0]),
        lambda a, b, c: wxent.softmax_focal_loss(a, b),
        lambda a, b, c: wxent.logit_adjusted_cross_entropy(a, b, [0.2, 0.3, 0.5]),
        lambda a, b, c: wxent.expected_cost_loss(a, b, 1.0 - np.eye(3)),
        lambda a, b, c: wxent.confusion_weighted_cross_entropy(a, b, np.ones((3, 3))),
        lambda a, b, c: wxent.sigmoid_cross_entropy(a, c, pos_weight=[1.0, 2.0, 3.0]),
        lambda a, b, c: wxent.sigmoid_focal_loss(a, c, alpha=0.25),
        lambda a, b, c: wxent.asymmetric_loss(a, c),
        lambda a, b, c: wxent.bayes_decision(a, 1.0 - np.eye(3)),
        lambda a, b, c: wxent.recall(a, c),
        lambda a, b, c: wxent.expected_cost(a, b, 1.0 - np.eye(3)),
    ],
    ids=["sce", "sfl", "lace", "ecl", "cwce", "sig", "sigfl", "asl", "bayes", "recall", "ec"],
)
def test_jax_export_with_a_symbolic_batch(call):
    """A symbolic dimension reached int(): JAX's InconclusiveDimensionOperation."""
    import jax
    import jax.numpy as jnp
    from jax import export

    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 3)).astype(np.float32)
    y = np.array([0, 1, 2, 1, 0], np.int32)
    z = (rng.random((5, 3)) > 0.5).astype(np.float32)
    (n,) = export.symbolic_shape("n")
    specs = [
        jax.ShapeDtypeStruct((n, 3), jnp.float32),
        jax.ShapeDtypeStruct((n,), jnp.int32),
        jax.ShapeDtypeStruct((n, 3), jnp.float32),
    ]
    exported = export.export(jax.jit(call))(*specs)
    np.testing.assert_allclose(exported.call(x, y, z), call(x, y, z), rtol=1e-6)


def test_jax_export_with_symbolic_classes_and_a_fixed_vector_is_an_error():
    import jax
    import jax.numpy as jnp
    from jax import export

    n, c = export.symbolic_shape("n, c")
    specs = (jax.ShapeDtypeStruct((n, c), jnp.float32), jax.ShapeDtypeStruct((n,), jnp.int32))
    f = jax.jit(lambda a, b: wxent.softmax_cross_entropy(a, b, class_weight=[1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match=_message("class_weight")):
        export.export(f)(*specs)
    g = jax.jit(lambda a, b: wxent.softmax_cross_entropy(a, b))  # nothing of fixed shape
    x = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
    y = np.array([0, 4, 2, 1], np.int32)
    np.testing.assert_allclose(export.export(g)(*specs).call(x, y), g(x, y), rtol=1e-6)


def test_jax_forward_mode_through_linear_cross_entropy():
    """jacfwd and hessian met the kernel's custom_vjp: a JAX TypeError."""
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(4, 3)).astype(np.float32))
    w = jnp.asarray(rng.normal(size=(5, 3)).astype(np.float32))
    y = jnp.asarray([0, 1, 2, 4])

    def dense(a):
        z = a @ w.T
        return jnp.mean(jax.nn.logsumexp(z, axis=1) - z[jnp.arange(4), y])

    def fused(a):
        return wxent.linear_cross_entropy(a, w, y)

    np.testing.assert_allclose(jax.jacfwd(fused)(x), jax.grad(dense)(x), atol=1e-6)
    np.testing.assert_allclose(jax.hessian(fused)(x), jax.hessian(dense)(x), atol=1e-6)


@pytest.mark.filterwarnings("ignore:.*in (beta|prototype) sta:UserWarning")  # torch's own
@pytest.mark.parametrize("layout", ["sparse_coo", "sparse_csr", "nested"])
def test_torch_sparse_and_nested_tensors_are_a_type_error(layout):
    x = torch.randn(4, 3)
    make = {
        "sparse_coo": lambda t: t.to_sparse(),
        "sparse_csr": lambda t: t.to_sparse_csr(),
        "nested": lambda t: torch.nested.nested_tensor([t, t[:2]]),
    }[layout]
    y = torch.tensor([0, 1, 2, 1])
    z = (torch.rand(4, 3) > 0.5).float()
    with pytest.raises(TypeError, match=_message("logits")):
        wxent.softmax_cross_entropy(make(x), y)
    if layout != "nested":
        with pytest.raises(TypeError, match=_message("labels")):
            wxent.sigmoid_cross_entropy(x, make(z))
        with pytest.raises(TypeError, match=_message("labels")):
            wxent.recall(x, make(z))
        with pytest.raises(TypeError, match=_message("sample_weight")):
            wxent.sigmoid_cross_entropy(x, z, sample_weight=make(torch.ones(4, 3)))


@pytest.mark.parametrize("dtype", ["uint16", "uint32", "uint64"])
def test_torch_unsigned_labels(dtype):
    """torch has no min/max or comparison kernels for these: NotImplementedError."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 3, generator=g)
    y = torch.tensor([0, 1, 2, 1, 0, 2])
    z = (torch.rand(6, 3, generator=g) > 0.5).int()
    t = getattr(torch, dtype)
    assert float(wxent.sigmoid_cross_entropy(x, z.to(t))) == float(
        wxent.sigmoid_cross_entropy(x, z.float())
    )
    assert float(wxent.recall(x, y.to(t))) == float(wxent.recall(x, y))
    assert float(wxent.recall(x, z.to(t))) == float(wxent.recall(x, z))
    with pytest.raises(ValueError, match=_message("labels")):
        wxent.sigmoid_cross_entropy(x, (z * 2).to(t))
    with pytest.raises(ValueError, match=_message("labels")):
        wxent.recall(x, (y + 3).to(t))


@pytest.mark.parametrize("framework", ALL)
@pytest.mark.parametrize("label", [1, np.int64(1), np.int32(1)], ids=["int", "int64", "int32"])
def test_a_scalar_label_for_unbatched_logits(framework, label):
    x = FRAMEWORKS[framework](np.array([0.5, 2.0, -1.0], np.float32))
    expected = float(wxent.softmax_cross_entropy(x, FRAMEWORKS[framework](np.array(1))))
    assert float(wxent.softmax_cross_entropy(x, label)) == pytest.approx(expected)


@pytest.mark.parametrize("framework", ["jax", "tf"])
def test_traced_negative_weights_give_nan_not_a_negative_loss(framework):
    """Inside a compiled step no check can raise: a negative weight gave a negative loss."""
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    y = np.array([0, 1, 2, 1])
    z = (x > 0).astype(np.float32)
    w = np.array([1.0, -1.0, 1.0, 2.0], np.float32)

    def run(f, *arrays):
        if framework == "jax":
            import jax

            return np.asarray(jax.jit(f)(*arrays))
        return tf.function(f)(*(tf.constant(a) for a in arrays)).numpy()

    out = run(
        lambda a, b, s: wxent.softmax_cross_entropy(a, b, sample_weight=s, reduction="none"),
        x,
        y,
        w,
    )
    ok = wxent.softmax_cross_entropy(x, y, sample_weight=np.abs(w), reduction="none")
    assert np.isnan(out[1]) and np.allclose(out[[0, 2, 3]], ok[[0, 2, 3]], rtol=1e-6)
    out = run(
        lambda a, b, q: wxent.sigmoid_cross_entropy(a, b, pos_weight=q, reduction="none"),
        x,
        z,
        w[:3],
    )
    assert np.isnan(out[:, 1]).all() and np.isfinite(out[:, [0, 2]]).all()
    assert np.isnan(
        run(lambda a, b, c: wxent.softmax_cross_entropy(a, b, class_weight=c), x, y, w[:3])
    )
    good = run(lambda a, b, s: wxent.softmax_cross_entropy(a, b, sample_weight=s), x, y, np.abs(w))
    assert good == pytest.approx(float(wxent.softmax_cross_entropy(x, y, sample_weight=np.abs(w))))


def test_keras_fit_with_labels_out_of_range_gives_a_nan_loss():
    """TensorFlow's gather raised an InvalidArgumentError from inside the compiled step."""
    import keras

    import wxent.keras

    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype(np.float32)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile("sgd", loss=wxent.keras.SoftmaxCrossEntropy())
    history = model.fit(x, rng.integers(1, 4, 32), epochs=1, verbose=0, batch_size=32)
    assert np.isnan(history.history["loss"][0])
    history = model.fit(x, rng.integers(0, 3, 32), epochs=1, verbose=0, batch_size=32)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.parametrize("framework", ALL)
def test_metric_accumulators_pickle_and_merge_across_processes(framework):
    """Shards merged across processes are pickled: the kept namespace module was not."""
    import copy
    import pickle

    rng = np.random.default_rng(0)
    x = FRAMEWORKS[framework](rng.normal(size=(6, 3)).astype(np.float32))
    y = FRAMEWORKS[framework](np.array([0, 1, 2, 1, 0, 2]))
    shard = wxent.MetricAccumulator().update(x, y)
    merged = pickle.loads(pickle.dumps(shard)) + copy.deepcopy(shard)
    both = wxent.MetricAccumulator().update(x, y).update(x, y).compute()
    out = merged.compute()
    assert float(out["recall"]) == pytest.approx(float(both["recall"]))
    np.testing.assert_array_equal(np.asarray(out["confusion_matrix"]), both["confusion_matrix"])
    assert pickle.loads(pickle.dumps(wxent.MetricAccumulator())).update(x, y).compute()


@pytest.mark.parametrize("dynamic", [False, True])
@pytest.mark.parametrize(
    "call",
    [
        lambda a, b: wxent.expected_cost_loss(a, b, [[0, 1, 1], [1, 0, 1], [1, 1, 0]]),
        lambda a, b: wxent.cost_sensitive_cross_entropy(a, b, np.ones((3, 3))),
        lambda a, b: wxent.bayes_decision(a, [[0, 1, 1], [1, 0, 1], [1, 1, 0]]),
        lambda a, b: wxent.softmax_cross_entropy(a, b, class_weight=[1.0, 2.0, 3.0]),
        lambda a, b: wxent.fbeta_score(a, b, beta=2.0, average="macro"),
    ],
    ids=["ecl", "csce", "bayes", "sce", "fbeta"],
)
def test_torch_compile_fullgraph_with_host_matrices(call, dynamic):
    """A host cost matrix's dominated-column warning broke the graph (ndarray.tobytes)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 3, generator=g)
    y = torch.tensor([0, 1, 2, 1, 0])
    compiled = torch.compile(call, fullgraph=True, dynamic=dynamic, backend="aot_eager")
    torch.testing.assert_close(compiled(x, y), call(x, y))


def test_scalar_factors_that_the_compute_dtype_cannot_hold_are_an_error():
    """cost_weight=1e308 or tau=1e308 overflowed float32: inf or NaN losses."""
    x = np.zeros((2, 3), np.float32)
    y = np.array([0, 1])
    with pytest.raises(ValueError, match=_message("cost_weight")):
        wxent.cost_sensitive_cross_entropy(x, y, 1.0 - np.eye(3), cost_weight=1e308)
    with pytest.raises(ValueError, match=_message("tau")):
        wxent.logit_adjusted_cross_entropy(x, y, [0.2, 0.3, 0.5], tau=1e308)
    with pytest.raises(ValueError, match=_message("tau")):
        wxent.adjust_logits(x, [0.2, 0.3, 0.5], tau=1e308)
    wide = wxent.cost_sensitive_cross_entropy(
        x.astype(np.float64), y, 1 - np.eye(3), cost_weight=1e300
    )
    assert float(wide) == pytest.approx(1e300 * 2 / 3)


@pytest.mark.parametrize("kind", ["complex", "masked", "ragged"])
def test_host_fits_refuse_weights_that_are_not_plain_real_numbers(kind):
    """tune_thresholds, calibrate and the ECE cast complex weights to their real part."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 3))
    z = (rng.random((6, 3)) > 0.5).astype(np.float64)
    w = {
        "complex": np.ones(6) * 1j,
        "masked": np.ma.masked_array(np.ones(6), mask=[0, 1, 0, 0, 0, 0]),
        "ragged": [1.0, [1.0], 1.0, 1.0, 1.0, 1.0],
    }[kind]
    for call in (
        lambda: wxent.tune_thresholds(x, z, sample_weight=w),
        lambda: wxent.calibrate(x, z, sample_weight=w),
        lambda: wxent.expected_calibration_error(x, z, sample_weight=w),
    ):
        with pytest.raises(TypeError, match=_message("sample_weight")):
            call()
    if kind == "masked":
        with pytest.raises(TypeError, match=_message("offsets")):
            wxent.predict(x, offsets=np.ma.masked_array([0.0, 1.0, 0.0], mask=[0, 1, 0]))
        with pytest.raises(TypeError, match=_message("threshold")):
            wxent.recall(x, z, threshold=np.ma.masked_array([0.0, 1.0, 0.0], mask=[0, 1, 0]))


@pytest.mark.parametrize("framework", ALL)
def test_unweight_logits_refuses_weights_that_round_to_zero(framework):
    """pos_weight=1e-300 became 0 in float32: its log made the logits inf."""
    x = FRAMEWORKS[framework](np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=_message("pos_weight")):
        wxent.unweight_logits(x, pos_weight=1e-300)
    out = np.asarray(wxent.unweight_logits(x, class_weight=[1.0, 2.0, 4.0]))
    np.testing.assert_allclose(out[0], [0.0, -np.log(2.0), -np.log(4.0)], rtol=1e-6)


@pytest.mark.parametrize("framework", ALL)
def test_projection_losses_without_classes_or_with_a_negative_seed(framework):
    """V=0 reached a NumPy reduction; seed=-1 NumPy's generator."""
    conv = FRAMEWORKS[framework]
    x = conv(np.ones((4, 5), np.float32))
    w = conv(np.ones((6, 5), np.float32))
    y = conv(np.array([0, 1, 5, 2]))
    for call in (
        lambda: wxent.linear_cross_entropy(x, conv(np.ones((0, 5), np.float32)), y),
        lambda: wxent.sampled_softmax_cross_entropy(
            x, conv(np.ones((0, 5), np.float32)), y, num_sampled=1
        ),
    ):
        with pytest.raises(ValueError, match=_message("weight")):
            call()
    with pytest.raises(ValueError, match=_message("seed")):
        wxent.sampled_softmax_cross_entropy(x, w, y, num_sampled=2, seed=-1)


@pytest.mark.parametrize("framework", ALL)
def test_focal_gammas_that_the_compute_dtype_cannot_hold_are_an_error(framework):
    """gamma=1e39 is inf in float32: a NaN gradient where every gamma >= 0 promises none."""
    x = FRAMEWORKS[framework](np.array([[2.0, -1.0, 0.5], [30.0, -30.0, 0.0]], np.float32))
    y = FRAMEWORKS[framework](np.array([0, 2]))
    z = FRAMEWORKS[framework](np.array([[1.0, 0.0, 1.0], [1.0, 0.0, 0.0]], np.float32))
    with pytest.raises(ValueError, match=_message("gamma")):
        wxent.softmax_focal_loss(x, y, gamma=1e39)
    with pytest.raises(ValueError, match=_message("gamma")):
        wxent.sigmoid_focal_loss(x, z, gamma=1e39)
    with pytest.raises(ValueError, match=_message("gamma_neg")):
        wxent.asymmetric_loss(x, z, gamma_neg=1e39)
    assert float(wxent.sigmoid_focal_loss(x, z, gamma=1e38)) == 0.0


@pytest.mark.parametrize("framework", ["jax", "tf", "torch"])
def test_traced_confusion_weights_are_checked_where_labels_read_them(framework):
    """Integer labels read one confusion weight per sample: a traced weight matrix is
    checked on those entries (the same NaN as the whole matrix's check, in N values)."""
    import jax

    rng = np.random.default_rng(2)
    x = rng.normal(size=(6, 4)).astype(np.float32)
    y = np.array([0, 1, 2, 3, 1, 0])
    good = rng.uniform(0.5, 2.0, (4, 4)).astype(np.float32)

    def f(a, b, m):
        return wxent.confusion_weighted_cross_entropy(a, b, m, reduction="none")

    def traced(m: np.ndarray) -> np.ndarray:
        if framework == "jax":
            return np.asarray(jax.jit(f)(x, y, m))
        if framework == "tf":
            return tf.function(f)(tf.constant(x), tf.constant(y), tf.constant(m)).numpy()
        run = torch.compile(f, backend="eager", fullgraph=False)
        return run(torch.as_tensor(x), torch.as_tensor(y), torch.as_tensor(m)).numpy()

    np.testing.assert_allclose(traced(good), f(x, y, good), rtol=1e-5)
    predicted = np.argmax(x, axis=1)
    for bad_value in (-1.0, np.nan, -np.inf):
        bad = good.copy()
        bad[y[1], predicted[1]] = bad_value
        out = traced(bad)
        hit = (y == y[1]) & (predicted == predicted[1])
        np.testing.assert_array_equal(np.isnan(out), hit)
