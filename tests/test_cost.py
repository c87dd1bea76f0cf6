"""Cost-sensitive softmax losses and cost matrices, on every backend."""

from __future__ import annotations

import re
import warnings

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import reference_cost as ref
import wxent
from conftest import assert_close
from reference import numeric_grad
from wxent.cost_matrix import CostMatrixWarning, check_cost_matrix, dominated_columns

C = 4
LOSSES = {
    "expected_cost": wxent.expected_cost_loss,
    "cost_sensitive": wxent.cost_sensitive_cross_entropy,
    "confusion_weighted": wxent.confusion_weighted_cross_entropy,
}


def _data(rng, n=6, c=C, scale=2.0):
    logits = (scale * rng.standard_normal((n, c))).astype(np.float32)
    labels = rng.integers(0, c, size=n)
    costs = rng.uniform(0.0, 3.0, size=(c, c))
    np.fill_diagonal(costs, 0.0)
    return logits, labels, costs


def _softmax64(x, axis=-1):
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# ----------------------------------------------------------------------------- values


def test_expected_cost_one_minus_identity_is_one_minus_p_true(backend, rng):
    logits, labels, _ = _data(rng, n=8)
    costs = 1.0 - np.eye(C)
    out = backend.call(
        lambda x, y: wxent.expected_cost_loss(x, y, costs, reduction="none"), logits, labels
    )
    p = _softmax64(logits)
    assert_close(out, 1.0 - p[np.arange(8), labels])


@settings(max_examples=25, deadline=None)
@given(
    logits=hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=2, max_side=6),
        elements=st.floats(-30, 30, width=32),
    ),
    data=st.data(),
)
def test_expected_cost_one_minus_identity_property(logits, data):
    n, c = logits.shape
    labels = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    out = wxent.expected_cost_loss(logits, labels, 1.0 - np.eye(c), reduction="none")
    p = _softmax64(logits)
    np.testing.assert_allclose(out, 1.0 - p[np.arange(n), labels], atol=3e-6)


def test_soft_labels_match_double_sum(backend, rng):
    logits, _, costs = _data(rng)
    soft = rng.dirichlet(np.ones(C), size=6).astype(np.float32)
    out = backend.call(
        lambda x, y: wxent.expected_cost_loss(x, y, costs, reduction="none"), logits, soft
    )
    p = _softmax64(logits)
    double_sum = np.array(
        [
            sum(soft[i, a] * costs[a, j] * p[i, j] for a in range(C) for j in range(C))
            for i in range(6)
        ]
    )
    assert_close(out, double_sum)
    assert_close(out, ref.cost_family(logits, soft, costs, kind="expected_cost", reduction="none"))


def _full_options(kind, rng, reduction):
    options = dict(
        class_weight=rng.uniform(0.5, 2.0, size=C),
        sample_weight=rng.uniform(0.5, 2.0, size=7),
        ignore_index=-100,
        reduction=reduction,
    )
    if kind != "expected_cost":
        options["label_smoothing"] = 0.1
    if kind == "cost_sensitive":
        options["cost_weight"] = 0.7
    return options


@pytest.mark.parametrize("kind", list(LOSSES))
def test_values_match_reference(backend, rng, kind):
    logits, labels, costs = _data(rng, n=7)
    labels[2] = -100
    options = _full_options(kind, rng, "weighted_mean")
    loss = LOSSES[kind]
    out = backend.call(lambda x, y: loss(x, y, costs, **options), logits, labels)
    assert_close(out, ref.cost_family(logits, labels, costs, kind=kind, **options))


@pytest.mark.parametrize("kind", list(LOSSES))
@pytest.mark.parametrize("reduction", ["none", "sum", "mean", "weighted_mean"])
def test_every_reduction_matches_reference(rng, kind, reduction):
    logits, labels, costs = _data(rng, n=7)
    labels[2] = -100
    options = _full_options(kind, rng, reduction)
    out = LOSSES[kind](logits, labels, costs, **options)
    assert_close(out, ref.cost_family(logits, labels, costs, kind=kind, **options))


@pytest.mark.parametrize("kind", list(LOSSES))
def test_class_axis_one(backend, rng, kind):
    logits = rng.standard_normal((3, C, 5)).astype(np.float32)
    labels = rng.integers(0, C, size=(3, 5))
    _, _, costs = _data(rng)
    loss = LOSSES[kind]
    out = backend.call(
        lambda x, y: loss(x, y, costs, class_axis=1, reduction="none"), logits, labels
    )
    expected = ref.cost_family(logits, labels, costs, kind=kind, class_axis=1, reduction="none")
    assert out.shape == (3, 5)
    assert_close(out, expected)


@pytest.mark.parametrize("kind", list(LOSSES))
def test_costs_as_framework_array(backend, rng, kind):
    """A cost matrix of the logits' framework works, also traced (jit / tf.function)."""
    logits, labels, costs = _data(rng)
    loss = LOSSES[kind]
    out = backend.call(lambda x, y, c: loss(x, y, c), logits, labels, costs.astype(np.float32))
    assert_close(out, ref.cost_family(logits, labels, costs, kind=kind))


@pytest.mark.parametrize("kind", list(LOSSES))
def test_integer_one_hot_and_soft_labels_agree(ad_backend, rng, kind):
    logits, labels, costs = _data(rng)
    one_hot = np.eye(C, dtype=np.float32)[labels]
    cw = rng.uniform(0.5, 2.0, size=C)
    loss = LOSSES[kind]
    options = dict(class_weight=cw, reduction="weighted_mean")
    v_int, g_int = ad_backend.value_and_grad(
        lambda x, y: loss(x, y, costs, **options), logits, labels
    )
    v_hot, g_hot = ad_backend.value_and_grad(
        lambda x, y: loss(x, y, costs, **options), logits, one_hot
    )
    assert_close(v_int, v_hot)
    assert_close(g_int, g_hot)


def test_cost_sensitive_is_ce_plus_weighted_expected_cost(backend, rng):
    logits, labels, costs = _data(rng)

    def f(x, y):
        total = wxent.cost_sensitive_cross_entropy(x, y, costs, cost_weight=2.5, reduction="none")
        ce = wxent.softmax_cross_entropy(x, y, reduction="none")
        ec = wxent.expected_cost_loss(x, y, costs, reduction="none")
        return total - (ce + 2.5 * ec)

    assert_close(backend.call(f, logits, labels), np.zeros(6))
    zero = backend.call(
        lambda x, y: (
            wxent.cost_sensitive_cross_entropy(x, y, costs, cost_weight=0.0)
            - wxent.softmax_cross_entropy(x, y)
        ),
        logits,
        labels,
    )
    assert_close(zero, 0.0)


# ----------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("kind", list(LOSSES))
@pytest.mark.parametrize("soft", [False, True], ids=["indices", "soft"])
def test_gradients_match_float64_reference(ad_backend, rng, kind, soft):
    logits, labels, costs = _data(rng, n=5)
    if soft:
        labels = rng.dirichlet(np.ones(C), size=5).astype(np.float32)
        options: dict = {"class_weight": [1.0, 2.0, 0.5, 1.5], "reduction": "weighted_mean"}
    else:
        labels[1] = -1
        options = {"class_weight": [1.0, 2.0, 0.5, 1.5], "ignore_index": -1}
    if kind == "cost_sensitive":
        options["cost_weight"] = 1.7
    loss = LOSSES[kind]
    value, grad = ad_backend.value_and_grad(
        lambda x, y: loss(x, y, costs, **options), logits, labels
    )
    expected = ref.cost_family(logits, labels, costs, kind=kind, **options)
    expected_grad = numeric_grad(
        lambda x: ref.cost_family(x, labels, costs, kind=kind, **options), logits
    )
    assert_close(value, expected)
    assert_close(grad, expected_grad, rtol=1e-4, atol=1e-5)


def test_confusion_weighted_is_constant_weight_times_ce(backend, rng):
    logits, labels, _ = _data(rng, n=10)
    weights = rng.uniform(0.5, 4.0, size=(C, C))
    constant = weights[labels, np.argmax(logits, axis=-1)]
    out = backend.call(
        lambda x, y: wxent.confusion_weighted_cross_entropy(x, y, weights, reduction="none"),
        logits,
        labels,
    )
    ce = backend.call(
        lambda x, y: wxent.softmax_cross_entropy(x, y, reduction="none"), logits, labels
    )
    assert_close(out, constant * ce)


def test_confusion_weighted_gradient_is_scaled_ce_gradient(ad_backend, rng):
    """No gradient through the argmax: each row's gradient is CE's times the weight."""
    logits, labels, _ = _data(rng, n=10)
    weights = rng.uniform(0.5, 4.0, size=(C, C))
    constant = weights[labels, np.argmax(logits, axis=-1)]
    _, g_cw = ad_backend.value_and_grad(
        lambda x, y: wxent.confusion_weighted_cross_entropy(x, y, weights, reduction="sum"),
        logits,
        labels,
    )
    _, g_ce = ad_backend.value_and_grad(
        lambda x, y: wxent.softmax_cross_entropy(x, y, reduction="sum"), logits, labels
    )
    assert_close(g_cw, constant[:, None] * g_ce)


def test_stable_for_huge_logits(ad_backend):
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]], dtype=np.float32)
    labels = np.array([1, 2])
    costs = wxent.cost_matrix(3, costs={(1, 0): 5.0})
    for loss in LOSSES.values():
        value, grad = ad_backend.value_and_grad(lambda x, y, f=loss: f(x, y, costs), logits, labels)
        assert np.isfinite(value) and np.isfinite(grad).all()
    value, _ = ad_backend.value_and_grad(
        lambda x, y: wxent.expected_cost_loss(x, y, costs, reduction="sum"), logits, labels
    )
    assert_close(value, 5.0)  # sample 0 puts all mass on the 5.0 mistake, sample 1 is right


def test_float16_in_float16_out(rng):
    logits, labels, costs = _data(rng)
    out = wxent.expected_cost_loss(logits.astype(np.float16), labels, costs)
    assert out.dtype == np.float16
    assert_close(out, ref.cost_family(logits, labels, costs, kind="expected_cost"), rtol=2e-3)


@pytest.mark.parametrize("kind", list(LOSSES))
@pytest.mark.parametrize("reduction", ["mean", "weighted_mean"])
def test_loss_terms(rng, kind, reduction):
    logits, labels, costs = _data(rng)
    labels[0] = -1
    loss = LOSSES[kind]
    options = dict(class_weight=[1.0, 2.0, 3.0, 0.5], ignore_index=-1, reduction=reduction)
    num, den = wxent.loss_terms(loss, logits, labels, costs, **options)
    assert_close(wxent.safe_divide(num, den), loss(logits, labels, costs, **options))


def test_nothing_valid_gives_zero(ad_backend):
    logits = np.zeros((2, 3), dtype=np.float32)
    labels = np.array([-1, -1])
    for loss in LOSSES.values():
        value, grad = ad_backend.value_and_grad(
            lambda x, y, f=loss: f(x, y, 1 - np.eye(3), ignore_index=-1), logits, labels
        )
        assert float(value) == 0.0 and not np.any(grad)


# ----------------------------------------------------------------------------- validation


def _msg(text: str) -> str:
    return re.escape(text)


@pytest.mark.parametrize("kind", list(LOSSES))
def test_cost_matrix_shape_errors(rng, kind):
    logits, labels, _ = _data(rng)
    name = "weights" if kind == "confusion_weighted" else "costs"
    loss = LOSSES[kind]
    with pytest.raises(
        ValueError,
        match=_msg(
            f"Invalid value for argument `{name}`. Expected a square matrix of shape (4, 4), "
            f"one row and column per class. Received: {name} of shape (3, 3)"
        ),
    ):
        loss(logits, labels, 1 - np.eye(3))
    with pytest.raises(ValueError, match=_msg(f"{name} of shape (4,)")):
        loss(logits, labels, np.ones(4))
    with pytest.raises(
        TypeError, match=_msg(f"Invalid type for argument `{name}`. Expected a (4, 4) matrix")
    ):
        loss(logits, labels, 1.0)
    with pytest.raises(TypeError, match=_msg(f"Expected a matrix of numbers. Received: {name}=")):
        loss(logits, labels, [["a"] * 4] * 4)


BAD_VALUES = {"negative value": -1.0, "1 NaN value(s)": np.nan, "an infinite value": np.inf}


@pytest.mark.parametrize("kind", list(LOSSES))
def test_cost_matrix_value_errors(eager_backend, rng, kind):
    """Host configuration is checked whenever validate=True."""
    logits, labels, _ = _data(rng)
    name = "weights" if kind == "confusion_weighted" else "costs"
    loss = LOSSES[kind]
    for text, value in BAD_VALUES.items():
        costs = 1 - np.eye(C)
        costs[0, 1] = value
        expected = (
            f"Invalid value for argument `{name}`. Expected finite non-negative values. "
            f"Received: {text}"
        )
        with pytest.raises(ValueError, match=_msg(expected)):
            eager_backend.call(lambda x, y, c=costs: loss(x, y, c), logits, labels)


# Eager JAX is absent: the core's is_concrete() treats every JAX array as traced, so
# value checks on JAX arrays do not run there (host configuration is checked above).
@pytest.mark.parametrize("name", ["numpy", "strict", "torch", "tf"])
@pytest.mark.parametrize("kind", list(LOSSES))
def test_framework_cost_matrix_value_errors(rng, kind, name):
    """A cost matrix of the logits' framework is checked when concrete."""
    from conftest import EAGER_BACKENDS

    backend = next(b for b in EAGER_BACKENDS if b.name == name)
    logits, labels, _ = _data(rng)
    loss = LOSSES[kind]
    for text, value in BAD_VALUES.items():
        costs = (1 - np.eye(C)).astype(np.float32)
        costs[0, 1] = value
        with pytest.raises(ValueError, match=_msg(text)):
            backend.call(lambda x, y, c: loss(x, y, c), logits, labels, costs)


def test_validate_false_skips_value_checks(rng):
    logits, labels, _ = _data(rng)
    costs = 1 - np.eye(C)
    costs[0, 1] = -1.0
    out = wxent.expected_cost_loss(logits, labels, costs, validate=False)
    assert np.isfinite(out)


def test_cost_weight_errors(rng):
    logits, labels, costs = _data(rng)
    with pytest.raises(
        ValueError,
        match=_msg(
            "Invalid value for argument `cost_weight`. Expected a finite float >= 0. "
            "Received: cost_weight=-1.0"
        ),
    ):
        wxent.cost_sensitive_cross_entropy(logits, labels, costs, cost_weight=-1.0)
    with pytest.raises(TypeError, match=_msg("Invalid type for argument `cost_weight`")):
        wxent.cost_sensitive_cross_entropy(logits, labels, costs, cost_weight="1")


def test_dominated_column_warns(rng):
    logits, labels, _ = _data(rng)
    costs = 1 - np.eye(C)
    costs[:, 3] = 2.0  # predicting 3 always costs more than predicting 0
    with pytest.warns(
        CostMatrixWarning, match=_msg("predicting 3 is never better than predicting 0")
    ):
        wxent.expected_cost_loss(logits, labels, costs)
    with pytest.warns(CostMatrixWarning, match="wxent reads costs\\[true, predicted\\]"):
        wxent.bayes_decision(logits, costs)
    with pytest.warns(CostMatrixWarning):
        check_cost_matrix(costs)
    assert dominated_columns(costs) == [(3, 0)]


@pytest.mark.parametrize(
    "costs",
    [
        1 - np.eye(C),
        np.zeros((C, C)),
        np.ones((C, C)),  # all columns equal: indifferent, not dominated
        wxent.cost_matrix(C, costs={(1, 2): 1.2, (3, 0): 10.0}),
    ],
    ids=["one-minus-identity", "zeros", "ones", "few-exceptions"],
)
def test_no_warning_for_usual_matrices(rng, costs):
    logits, labels, _ = _data(rng)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        wxent.expected_cost_loss(logits, labels, costs)
        wxent.cost_sensitive_cross_entropy(logits, labels, costs)
        wxent.bayes_decision(logits, costs)
    assert dominated_columns(costs) == []


def test_confusion_weights_never_warn(rng):
    logits, labels, _ = _data(rng)
    weights = np.ones((C, C))
    weights[:, 2] = 3.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        wxent.confusion_weighted_cross_entropy(logits, labels, weights)


# ----------------------------------------------------------------------------- cost_matrix


def test_cost_matrix_by_index_and_name():
    by_index = wxent.cost_matrix(3, costs={(1, 2): 1.2})
    by_name = wxent.cost_matrix(["A", "B", "C"], costs={("B", "C"): 1.2})
    expected = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.2], [1.0, 1.0, 0.0]])
    np.testing.assert_array_equal(by_index, expected)
    np.testing.assert_array_equal(by_name, expected)
    custom = wxent.cost_matrix(2, default=3.0, diagonal=0.5, costs={(0, 0): 0.0})
    np.testing.assert_array_equal(custom, [[0.0, 3.0], [3.0, 0.5]])
    assert by_index.dtype == np.float64


def test_cost_matrix_errors():
    with pytest.raises(
        ValueError,
        match=_msg(
            "Invalid value for argument `costs`. Expected class names from ['A', 'B']. "
            "Received: unknown class 'Z'"
        ),
    ):
        wxent.cost_matrix(["A", "B"], costs={("A", "Z"): 1.0})
    with pytest.raises(
        ValueError, match=_msg("Expected class indices in [0, 2). Received: class 2")
    ):
        wxent.cost_matrix(2, costs={(0, 2): 1.0})
    with pytest.raises(
        ValueError, match=_msg("Expected keys that are (true, predicted) pairs. Received: key 0")
    ):
        wxent.cost_matrix(2, costs={0: 1.0})  # type: ignore[dict-item]
    with pytest.raises(
        ValueError, match=_msg("Expected a finite number >= 0. Received: costs[(0, 1)]=-2.0")
    ):
        wxent.cost_matrix(2, costs={(0, 1): -2.0})
    with pytest.raises(
        TypeError, match=_msg("Expected a finite number >= 0. Received: costs[(0, 1)]='x'")
    ):
        wxent.cost_matrix(2, costs={(0, 1): "x"})
    with pytest.raises(
        ValueError,
        match=_msg(
            "Invalid value for argument `default`. Expected a finite number >= 0. "
            "Received: default=inf"
        ),
    ):
        wxent.cost_matrix(2, default=float("inf"))
    with pytest.raises(
        ValueError, match=_msg("Expected distinct class names. Received: class name 'A' twice")
    ):
        wxent.cost_matrix(["A", "A"])
    with pytest.raises(
        ValueError, match=_msg("Expected a number of classes >= 1. Received: classes=0")
    ):
        wxent.cost_matrix(0)
    with pytest.raises(
        TypeError,
        match=_msg("Expected a number of classes or a list of class names. Received: classes='AB'"),
    ):
        wxent.cost_matrix("AB")
    with pytest.raises(TypeError, match=_msg("Expected a mapping {(true, predicted): cost}")):
        wxent.cost_matrix(2, costs=[((0, 1), 1.0)])  # type: ignore[arg-type]


def test_cost_matrix_warns_on_dominated_column():
    with pytest.warns(
        CostMatrixWarning, match=_msg("predicting 1 is never better than predicting 0")
    ):
        wxent.cost_matrix(2, costs={(0, 1): 5.0, (1, 1): 2.0})


def test_check_cost_matrix_shape():
    with pytest.raises(
        ValueError, match=_msg("Expected a square matrix. Received: costs of shape (2, 3)")
    ):
        check_cost_matrix(np.ones((2, 3)))


def test_core_cost_uses_only_standard_names():
    """Every ``xp.<name>`` of the cost core exists in each namespace, the TF shim included."""
    import ast
    from pathlib import Path

    import array_api_compat.numpy
    import array_api_compat.torch
    import array_api_strict
    import jax.numpy

    from wxent import _tf_namespace
    from wxent._core import cost as _core_cost

    tree = ast.parse(Path(_core_cost.__file__).read_text())
    names = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "xp"
    }
    assert {"argmin", "argmax", "matmul", "take"} <= names
    for namespace in (
        array_api_compat.numpy,
        array_api_compat.torch,
        jax.numpy,
        array_api_strict,
        _tf_namespace,
    ):
        missing = sorted(n for n in names if not hasattr(namespace, n))
        assert not missing, (namespace.__name__, missing)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1), shift=st.floats(-50.0, 50.0), kind=st.sampled_from(list(LOSSES))
)
def test_row_shift_changes_nothing(seed, shift, kind):
    rng = np.random.default_rng(seed)
    logits, labels, costs = _data(rng)
    loss = LOSSES[kind]
    base = loss(logits.astype(np.float64), labels, costs, reduction="none")
    moved = loss(logits.astype(np.float64) + shift, labels, costs, reduction="none")
    np.testing.assert_allclose(moved, base, rtol=1e-5, atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), kind=st.sampled_from(list(LOSSES)))
def test_ignoring_equals_dropping(seed, kind):
    rng = np.random.default_rng(seed)
    logits, labels, costs = _data(rng, n=8)
    drop = rng.random(8) < 0.4
    ignored = np.where(drop, -1, labels)
    cw = rng.uniform(0.5, 2.0, size=C)
    loss = LOSSES[kind]
    for reduction in ("sum", "mean", "weighted_mean"):
        kept = loss(logits[~drop], labels[~drop], costs, class_weight=cw, reduction=reduction)
        out = loss(logits, ignored, costs, class_weight=cw, ignore_index=-1, reduction=reduction)
        np.testing.assert_allclose(out, kept, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", list(LOSSES))
def test_soft_labels_with_class_axis_one(rng, kind):
    logits = rng.standard_normal((3, C, 5)).astype(np.float32)
    soft = np.moveaxis(rng.dirichlet(np.ones(C), size=(3, 5)), -1, 1).astype(np.float32)
    _, _, costs = _data(rng)
    options = dict(class_axis=1, reduction="none", class_weight=rng.uniform(0.5, 2, size=C))
    out = LOSSES[kind](logits, soft, costs, **options)
    assert_close(out, ref.cost_family(logits, soft, costs, kind=kind, **options))


def _dominated_brute(c):
    pairs = []
    for k in range(c.shape[1]):
        for j in range(c.shape[1]):
            if j != k and np.all(c[:, k] >= c[:, j]) and np.any(c[:, k] > c[:, j]):
                pairs.append((k, j))
                break
    return pairs


def test_dominated_columns_vectorised_and_cached_by_content(rng):
    for _ in range(5):
        c = rng.integers(0, 3, size=(6, 6)).astype(float)
        assert dominated_columns(c) == _dominated_brute(c)
        assert dominated_columns(c) == _dominated_brute(c)  # second call: from the cache
        c[0, 0] += 5.0  # same object, new content: not the cached answer
        assert dominated_columns(c) == _dominated_brute(c)


@pytest.mark.parametrize("size", [0, 1, 2, 7, 65, 150])
def test_dominated_columns_equal_brute_force_across_row_chunks(rng, size):
    # few distinct values: many ties, equal columns and dominations, rows past one chunk
    for trial in range(4):
        c = rng.integers(0, 2 if trial % 2 else 3, size=(size, size)).astype(float)
        if trial == 3:
            c[:, : size // 2] = c[:, :1]  # a run of equal columns
        assert dominated_columns(c) == _dominated_brute(c)
        assert dominated_columns(c.astype(np.float32)) == _dominated_brute(c)
    for shape in [(size, 3), (3, size)]:  # not square: the pivot row is row 0
        c = rng.integers(0, 3, size=shape).astype(float)
        assert dominated_columns(c) == _dominated_brute(c)


def test_dominated_columns_of_a_large_matrix_follow_its_content(rng):
    # over 2**20 entries the cache key is a one-pass form of the matrix, not a hash
    c = rng.uniform(0.5, 1.0, size=(1100, 1100)).astype(np.float32)
    np.fill_diagonal(c, 0.0)
    c[:, 7] = c[:, 3] + 0.25
    c[7, 7] = c[7, 3]  # column 7 costs more than column 3 everywhere but row 7
    assert dominated_columns(c) == [(7, 3)]
    c[:] = c.T.copy()  # transposed in place: row 7 now exceeds row 3
    assert dominated_columns(c) == _dominated_brute(c)
    assert dominated_columns(c) != [(7, 3)]


def test_the_loss_searches_a_large_matrix_within_a_budget(rng, monkeypatch):
    import sys

    cm = sys.modules["wxent.cost_matrix"]
    logits = rng.standard_normal((2, 300)).astype(np.float32)
    labels = np.array([0, 5])
    equal = np.ones((300, 300), np.float32)  # every column a candidate of every other
    monkeypatch.setattr(cm, "_WARN_BUDGET", 10_000)
    searched = []
    search = cm._dominated_search
    monkeypatch.setattr(
        cm, "_dominated_search", lambda c, budget: searched.append(search(c, budget)) or None
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        wxent.expected_cost_loss(logits, labels, equal)
    assert searched == [None]  # stopped at the budget: no warning, no full search
    monkeypatch.undo()
    assert dominated_columns(equal) == []  # the public function always searches to the end
    planted = 1 - np.eye(300)
    planted[:, 9] = 2.0
    with pytest.warns(CostMatrixWarning, match=_msg("predicting 9 is never better")):
        wxent.expected_cost_loss(logits, labels, planted)  # the default budget is enough


def test_dominated_warning_names_at_most_ten_columns(rng):
    logits, labels, _ = _data(rng, c=30)
    costs = 1 - np.eye(30)
    costs[:, 15:] = 2.0  # 15 dominated columns
    with pytest.warns(CostMatrixWarning) as record:
        wxent.expected_cost_loss(logits, labels, costs)
    text = str(record[0].message)
    assert "predicting 24 is never better than predicting 0, and 5 more" in text
    assert "predicting 25 " not in text
    assert "never predicts 15, 16" in text and "and 5 more columns" in text
    assert len(dominated_columns(costs)) == 15


def test_a_numpy_cost_matrix_is_not_copied_per_call(rng):
    import tracemalloc

    costs = np.ones((1024, 1024), np.float32)  # 4 MiB; a float64 copy would be 8 MiB
    np.fill_diagonal(costs, 0.0)
    logits = rng.standard_normal((2, 1024)).astype(np.float32)
    labels = np.array([0, 3])
    for loss in (wxent.expected_cost_loss, wxent.cost_sensitive_cross_entropy):
        loss(logits, labels, costs)  # the first call searches and caches
        tracemalloc.start()
        try:
            loss(logits, labels, costs)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 1 << 20, peak


def test_cost_weight_whose_product_with_the_costs_overflows_is_refused(eager_backend):
    # cost_weight * costs beyond float32: the loss is inf and its gradient NaN (inf - inf)
    x = np.array([[1.0, 2.0, 3.0], [3.0, 1.0, 0.0]], np.float32)
    costs = np.array([[0, 3e38, 1], [1, 0, 3e38], [1, 1, 0]], np.float32)
    logits, labels = eager_backend.asarray(x), eager_backend.asarray(np.array([0, 1]))
    for matrix in (costs, eager_backend.asarray(costs)):
        with pytest.raises(ValueError, match=r"`cost_weight`.*largest cost \(3e\+38\)"):
            eager_backend.numpy(
                wxent.cost_sensitive_cross_entropy(logits, labels, matrix, cost_weight=10.0)
            )
        value = wxent.cost_sensitive_cross_entropy(logits, labels, matrix, cost_weight=1.0)
        assert np.isfinite(eager_backend.numpy(value))
