"""Edge cases of the projection losses: infinite logits on the fused paths, the sampler's inputs."""

from __future__ import annotations

import contextlib
import math

import jax.numpy as jnp
import numpy as np
import pytest
import torch

import wxent
import wxent.torch as wt

# One feature: inputs 1e38 times weights 10 overflow float32 to +inf (and -10 to -inf)
# inside the matmul, as they do in the unfused logits `inputs @ weight.T`.
X = np.array([[1e38], [1.0], [1e38], [-2.0]], dtype=np.float32)
W = np.array([[10.0], [-10.0], [1.0], [10.0]], dtype=np.float32)
Y = np.array([0, 1, 2, 3])
BACKENDS = {"torch": torch.tensor, "jax": jnp.asarray}


def _unfused(x: np.ndarray, w: np.ndarray, y: np.ndarray, **options: object) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        logits = x @ w.T
    return np.asarray(wxent.softmax_cross_entropy(logits, y, **options))


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("target", [0, 2], ids=["target-inf", "target-finite"])
def test_infinite_logits_from_the_matmul_take_the_unfused_limits(backend, reduction, target):
    conv = BACKENDS[backend]
    y = Y.copy()
    y[0] = target  # row 0: logits (+inf, -inf, 1e38, +inf)
    expected = _unfused(X, W, y, reduction=reduction)
    got = wxent.linear_cross_entropy(conv(X), conv(W), conv(y), reduction=reduction, chunk_size=2)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-6)


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_infinite_inputs_and_bias_match_the_unfused_loss(backend):
    conv = BACKENDS[backend]
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 3)).astype(np.float32)
    w = rng.normal(size=(5, 3)).astype(np.float32)
    b = np.zeros(5, np.float32)
    x_inf = x.copy()
    x_inf[1, 1] = np.inf
    b[2] = np.inf
    y = np.array([0, 4, 2, 1])
    for inputs, bias in ((x_inf, None), (x, b)):
        with np.errstate(invalid="ignore"):
            logits = inputs @ w.T + (0 if bias is None else bias)
        expected = np.asarray(wxent.softmax_cross_entropy(logits, y, reduction="none"))
        b_arg = None if bias is None else conv(bias)
        # (an infinite input is refused by a checked call: tests/test_linear_limits.py)
        got = wxent.linear_cross_entropy(
            conv(inputs), conv(w), conv(y), bias=b_arg, reduction="none", validate=bias is not None
        )
        np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-6)


def test_infinite_logits_gradient_and_loss_terms_match_the_unfused_loss():
    xs = torch.tensor(X, requires_grad=True)
    ws = torch.tensor(W, requires_grad=True)
    loss = wxent.linear_cross_entropy(xs, ws, torch.tensor(Y), chunk_size=3)
    loss.backward()
    xu = torch.tensor(X, requires_grad=True)
    wu = torch.tensor(W, requires_grad=True)
    ref = wxent.softmax_cross_entropy(xu @ wu.T, torch.tensor(Y))
    ref.backward()
    torch.testing.assert_close(loss, ref)
    torch.testing.assert_close(xs.grad, xu.grad)
    torch.testing.assert_close(ws.grad, wu.grad)
    terms = wxent.loss_terms(
        wxent.linear_cross_entropy, torch.tensor(X), torch.tensor(W), torch.tensor(Y)
    )
    assert isinstance(terms, wxent.LossTerms)
    torch.testing.assert_close(terms.numerator / terms.denominator, ref.detach())


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_nan_inputs_are_still_named(backend):
    conv = BACKENDS[backend]
    x = X.copy()
    x[1, 0] = np.nan
    with pytest.raises(ValueError, match="`inputs`"):
        wxent.linear_cross_entropy(conv(x), conv(W), conv(Y))


def test_one_class_sampler_warns_nothing():
    x = np.ones((3, 2), np.float32)
    w = np.ones((1, 2), np.float32)
    out = wxent.sampled_softmax_cross_entropy(x, w, np.zeros(3, np.int64), num_sampled=1, seed=0)
    assert float(out) == 0.0


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("which", [1, 2])
def test_zero_expected_counts_are_refused(backend, which):
    conv = np.asarray if backend == "numpy" else torch.tensor
    x = np.ones((2, 3), np.float32)
    w = np.arange(12, dtype=np.float32).reshape(4, 3)
    values = [np.array([2, 3]), np.array([0.5, 0.5], np.float32), np.array([0.5, 0.5], np.float32)]
    values[which][1] = 0.0  # -log Q = +inf: a loss of 0 (true) or inf (sampled) before
    values = [values[0], conv(values[1]), conv(values[2])]
    with pytest.raises(ValueError, match=r"sampled_values.*positive expected counts"):
        wxent.sampled_softmax_cross_entropy(
            conv(x), conv(w), conv(np.array([0, 1])), num_sampled=2, sampled_values=tuple(values)
        )


def test_sampled_values_must_hold_num_sampled_classes():
    x = np.ones((2, 3), np.float32)
    w = np.ones((6, 3), np.float32)
    values = (np.array([2, 3, 4]), np.full(2, 0.5), np.full(3, 0.5))
    with pytest.raises(ValueError, match=r"sampled_values.*num_sampled=2"):
        wxent.sampled_softmax_cross_entropy(
            x, w, np.array([0, 1]), num_sampled=2, sampled_values=values
        )


def test_numpy_matmul_overflow_warns_nothing():
    got = wxent.linear_cross_entropy(X, W, Y, reduction="none")
    np.testing.assert_allclose(got, _unfused(X, W, Y, reduction="none"), rtol=1e-6)
    out = wxent.sampled_softmax_cross_entropy(X, W, Y, num_sampled=2, seed=0, reduction="none")
    assert out.shape == (4,)


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax", "tensorflow"])
@pytest.mark.parametrize("name", ["linear_cross_entropy", "sampled_softmax_cross_entropy"])
def test_rows_that_count_nothing_do_not_fail_the_nan_check(backend, name):
    # An ignored row's inputs are set to 0, and 0 times an infinite weight is a NaN logit
    # there: the checked call raised "a NaN loss in 1 row(s)" for data that is fine
    # without the ignored row. Only rows that count are checked (ignored, weight 0).
    # An infinite weight is itself refused by a checked call (its gradient through the
    # matmul is 0 * inf): the ignored row's NaN input is what a checked call sees here.
    import tensorflow as tf

    conv = {"numpy": np.asarray, "torch": torch.tensor, "jax": jnp.asarray}.get(
        backend, tf.constant
    )
    h = np.array([[1.0, 0.5], [0.3, -0.2], [0.7, 0.1]], np.float32)
    w = np.array([[0.2, 0.1], [np.inf, 0.3], [0.5, -0.4]], np.float32)
    fn = getattr(wxent, name)
    extra = {"num_sampled": 2, "seed": 0} if name.startswith("sampled") else {}
    h_nan = h.copy()
    h_nan[1, 0] = np.nan  # (in the row that counts nothing)
    w_finite = np.nan_to_num(w, posinf=1.0)
    for y, sw in (([0, -100, 2], None), ([0, 1, 2], [1.0, 0.0, 1.0])):
        kw = {"ignore_index": -100, "reduction": "none", **extra}
        if sw is not None:
            kw["sample_weight"] = conv(np.asarray(sw, np.float32))
        unchecked = fn(conv(h), conv(w), conv(np.asarray(y)), validate=False, **kw)
        assert np.asarray(unchecked)[1] == 0.0
        with pytest.raises(ValueError, match=r"`weight`.*1 infinite value"):
            fn(conv(h), conv(w), conv(np.asarray(y)), **kw)
        checked = fn(conv(h_nan), conv(w_finite), conv(np.asarray(y)), **kw)
        unchecked = fn(conv(h_nan), conv(w_finite), conv(np.asarray(y)), validate=False, **kw)
        np.testing.assert_array_equal(np.asarray(checked), np.asarray(unchecked))
        assert np.asarray(checked)[1] == 0.0
    bad = h.copy()
    bad[0, 0] = np.nan  # a NaN in a row that counts is still an error
    with pytest.raises(ValueError, match="NaN value"):
        fn(conv(bad), conv(np.nan_to_num(w, posinf=1.0)), conv(np.asarray([0, 1, 2])), **extra)


@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("name", ["linear_cross_entropy", "sampled_softmax_cross_entropy"])
def test_meta_tensors_give_a_meta_loss(name, reduction):
    # Shape inference on the meta device (no values): the autocast query raised
    # "unknown device type for autocast" from inside torch for the linear loss.
    meta = {"device": "meta"}
    h = torch.empty(5, 3, requires_grad=True, **meta)
    w, b = torch.empty(7, 3, **meta), torch.empty(7, **meta)
    y = torch.zeros(5, dtype=torch.int64, **meta)
    extra = {"num_sampled": 2, "seed": 0} if name.startswith("sampled") else {}
    out = getattr(wxent, name)(h, w, y, bias=b, reduction=reduction, **extra)
    assert out.device.type == "meta" and out.shape == ((5,) if reduction == "none" else ())
    module = wt.LinearCrossEntropy().to("meta") if not extra else wt.SampledSoftmaxCrossEntropy(2)
    assert module(h, w, y).device.type == "meta"


_H = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))
_TABLES = {"costs": torch.rand(4, 4), "weights": torch.rand(4, 4) + 0.1}
_DEVICE_CALLS = {
    "softmax_cross_entropy": lambda y: wxent.softmax_cross_entropy(_H, y),
    "softmax_focal_loss": lambda y: wxent.softmax_focal_loss(_H, y),
    "logit_adjusted_cross_entropy": lambda y: wxent.logit_adjusted_cross_entropy(
        _H, y, class_prior=[0.25] * 4
    ),
    "expected_cost_loss": lambda y: wxent.expected_cost_loss(_H, y, costs=_TABLES["costs"]),
    "cost_sensitive_cross_entropy": lambda y: wxent.cost_sensitive_cross_entropy(
        _H, y, costs=_TABLES["costs"]
    ),
    "confusion_weighted_cross_entropy": lambda y: wxent.confusion_weighted_cross_entropy(
        _H, y, weights=_TABLES["weights"]
    ),
    # (these two returned a number computed from the missing values of meta labels)
    "sigmoid_cross_entropy": lambda y: wxent.sigmoid_cross_entropy(_H, _binary(y)),
    "sigmoid_focal_loss": lambda y: wxent.sigmoid_focal_loss(_H, _binary(y)),
    "asymmetric_loss": lambda y: wxent.asymmetric_loss(_H, _binary(y)),
    "linear_cross_entropy": lambda y: wxent.linear_cross_entropy(_H, torch.ones(5, 4), y),
    "sampled_softmax_cross_entropy": lambda y: wxent.sampled_softmax_cross_entropy(
        _H, torch.ones(5, 4), y, num_sampled=2, seed=0
    ),
}


_PROJECTIONS = ("linear_cross_entropy", "sampled_softmax_cross_entropy")


def _binary(y: torch.Tensor) -> torch.Tensor:
    return torch.zeros(3, 4, device=y.device)


@pytest.mark.parametrize("name", sorted(_DEVICE_CALLS))
def test_labels_on_another_device_name_labels(name):
    # PyTorch raised from inside the loss ("Tensor on device cpu is not on the expected
    # device meta!"), and three sigmoid losses returned a number read from meta labels.
    y = torch.zeros(3, dtype=torch.int64, device="meta")
    like = "inputs" if name in _PROJECTIONS else "logits"
    pattern = rf"`labels`. Expected an array on the device of `{like}` \(cpu\).*meta device"
    with pytest.raises(ValueError, match=pattern):
        _DEVICE_CALLS[name](y)
    assert _DEVICE_CALLS[name](torch.zeros(3, dtype=torch.int64)).device.type == "cpu"


@pytest.mark.parametrize("name", ["linear_cross_entropy", "sampled_softmax_cross_entropy"])
def test_weight_and_sampled_classes_on_another_device_are_named(name):
    # A meta weight gave a number (1e34) on the linear loss, a RuntimeError on the sampled.
    y = torch.tensor([0, 1, 4])
    extra = {"num_sampled": 2, "seed": 0} if name.startswith("sampled") else {}
    with pytest.raises(ValueError, match=r"`weight`. Expected an array on the device of `inputs`"):
        getattr(wxent, name)(_H, torch.ones(5, 4, device="meta"), y, **extra)
    if extra:
        values = (torch.tensor([1, 2], device="meta"), torch.ones(3), torch.ones(2))
        with pytest.raises(ValueError, match=r"`sampled_values`. Expected sampled classes on"):
            wxent.sampled_softmax_cross_entropy(
                _H, torch.ones(5, 4), y, num_sampled=2, sampled_values=values
            )


@pytest.mark.parametrize("name", _PROJECTIONS)
@pytest.mark.parametrize("argument", ["class_weight", "sample_weight", "bias"])
def test_configuration_messages_name_inputs_not_logits(name, argument):
    # The projection losses take `inputs`; the messages of their configuration arrays
    # said "on the device of `logits`", an argument they do not have.
    y = torch.tensor([0, 1, 4])
    extra = {"num_sampled": 2, "seed": 0} if name.startswith("sampled") else {}
    value = torch.ones(5 if argument != "sample_weight" else 3, device="meta")
    pattern = rf"`{argument}`. Expected values on the device of `inputs` \(cpu\)"
    with pytest.raises(ValueError, match=pattern):
        getattr(wxent, name)(_H, torch.ones(5, 4), y, **{argument: value}, **extra)


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax", "tensorflow"])
@pytest.mark.parametrize("classes", [[1.0, 2.0, 5.5], [True, False, True]], ids=["float", "bool"])
def test_sampled_classes_that_are_not_integers_are_refused(backend, classes):
    # A float class 5.5 was truncated to 5, and booleans read as classes 1, 0, 1.
    import tensorflow as tf

    conv = {"numpy": np.asarray, "torch": torch.tensor, "jax": jnp.asarray}.get(
        backend, tf.constant
    )
    x, w = np.ones((2, 3), np.float32), np.ones((8, 3), np.float32)
    values = (conv(np.asarray(classes)), conv(np.full(2, 0.5)), conv(np.full(3, 0.5)))
    with pytest.raises(TypeError, match=r"`sampled_values`. Expected integer sampled classes"):
        wxent.sampled_softmax_cross_entropy(
            conv(x), conv(w), conv(np.array([0, 1])), num_sampled=3, sampled_values=values
        )
    with pytest.raises(TypeError, match=r"sampled classes with dtype"):
        wxent.sampled_softmax_cross_entropy(
            x, w, np.array([0, 1]), num_sampled=3, sampled_values=(classes, [0.5] * 2, [0.5] * 3)
        )
    ints = (conv(np.array([1, 2, 5])), conv(np.full(2, 0.5)), conv(np.full(3, 0.5)))
    out = wxent.sampled_softmax_cross_entropy(
        conv(x), conv(w), conv(np.array([0, 1])), num_sampled=3, sampled_values=ints
    )
    assert np.isfinite(np.asarray(out))


def _infinite_factor_call(backend, name, which, **kw):
    """A checked call whose ``which`` (inputs or weight) holds one +inf, gradients requested.

    The loss alone would take the limits, but the gradient through the matmul meets
    ``0 * inf``: it was NaN with respect to the other factor (``inputs`` for an infinite
    weight) in every row, also in rows of loss 0.
    """
    import tensorflow as tf

    x = np.array([[1.0, 0.5], [0.3, -0.2], [0.7, 0.1], [-0.4, 0.9]], np.float32)
    w = np.array([[0.2, 0.1], [0.5, 0.3], [0.5, -0.4]], np.float32)
    (w if which == "weight" else x)[1, 0] = np.inf
    y = np.array([1, 1, 0, 2])
    fn = getattr(wxent, name)
    extra = {"num_sampled": 2, "seed": 0, **kw} if name.startswith("sampled") else kw
    if backend == "torch":
        xt, wt_ = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
        out = fn(xt, wt_, torch.tensor(y), **extra)
        return torch.autograd.grad(out.sum(), (xt, wt_))
    if backend == "tensorflow":
        xv, wv = tf.Variable(x), tf.Variable(w)
        with tf.GradientTape() as tape:
            out = tf.reduce_sum(fn(xv, wv, tf.constant(y), **extra))
        return tape.gradient(out, [xv, wv])
    conv = np.asarray if backend == "numpy" else jnp.asarray
    return fn(conv(x), conv(w), conv(y), **extra)


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax", "tensorflow"])
@pytest.mark.parametrize("name", ["linear_cross_entropy", "sampled_softmax_cross_entropy"])
@pytest.mark.parametrize("which", ["weight", "inputs"])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_an_infinite_factor_is_named_by_a_checked_call(backend, name, which, reduction):
    with pytest.raises(ValueError, match=f"argument `{which}`.*1 infinite value"):
        _infinite_factor_call(backend, name, which, reduction=reduction)


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_an_infinite_weight_is_named_on_the_triton_chunk_path(monkeypatch, reduction):
    from wxent._fastpaths import select

    monkeypatch.setenv("WXENT_KERNELS", "triton")
    select.LAUNCHES.clear()
    with np.errstate(all="ignore"), pytest.raises(ValueError, match=r"`weight`.*infinite"):
        _infinite_factor_call("torch", "linear_cross_entropy", "weight", reduction=reduction)
    assert select.LAUNCHES["linear_cross_entropy"] > 0, "the kernel did not run"


def test_infinite_logits_from_the_bias_keep_finite_gradients():
    # The documented way to infinite logits (masking or forcing a class): no error, and
    # gradients without NaN for inputs, weight and bias.
    rng = np.random.default_rng(4)
    x = torch.tensor(rng.normal(size=(5, 3)).astype(np.float32), requires_grad=True)
    w = torch.tensor(rng.normal(size=(4, 3)).astype(np.float32), requires_grad=True)
    b = torch.tensor([0.0, -np.inf, np.inf, 0.0], requires_grad=True)
    out = wxent.linear_cross_entropy(x, w, torch.tensor([2, 0, 2, 3, 2]), bias=b)
    grads = torch.autograd.grad(out, (x, w, b))
    assert all(torch.isfinite(g).all() for g in grads)


def test_the_sampled_loss_checks_only_the_rows_of_weight_it_reads():
    w = np.ones((50, 2), np.float32)
    w[49] = np.inf  # never a true class here, and drawn with probability ~1%
    x = np.ones((3, 2), np.float32)
    values = (np.array([3, 7]), np.full(3, 0.5, np.float32), np.full(2, 0.5, np.float32))
    out = wxent.sampled_softmax_cross_entropy(
        x, w, np.array([0, 1, 2]), num_sampled=2, sampled_values=values
    )
    assert np.isfinite(out)


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax", "tensorflow"])
def test_the_sampled_loss_leaves_the_weight_row_of_an_ignored_label_unchecked(backend):
    # An ignored row's label becomes a safe class (0) for the gather: that row of
    # `weight` is not read by the loss, so an infinite entry there is no error; a row
    # that counts with the same class is.
    import tensorflow as tf

    conv = {"numpy": np.asarray, "torch": torch.tensor, "jax": jnp.asarray}.get(
        backend, tf.constant
    )
    w = np.ones((50, 2), np.float32)
    w[0] = np.inf
    x = np.ones((3, 2), np.float32)
    values = (np.array([3, 7]), np.full(3, 0.5, np.float32), np.full(2, 0.5, np.float32))
    values = tuple(conv(a) for a in values)

    def call(labels):
        return wxent.sampled_softmax_cross_entropy(
            conv(x), conv(w), conv(np.array(labels)), num_sampled=2, sampled_values=values,
            ignore_index=-100,
        )  # fmt: skip

    assert np.isfinite(float(call([-100, 1, 2])))
    with pytest.raises(ValueError, match="infinite value"):
        call([0, 1, 2])


@pytest.mark.parametrize("autocast", [False, True])
def test_the_infinity_check_allocates_nothing_of_the_weights_size(autocast):
    # `abs(weight) == inf` made two temporaries of the weight's size (gigabytes at large
    # vocabularies; under autocast a float32 copy first): one reduction now, 0-d outputs.
    from torch.utils._python_dispatch import TorchDispatchMode

    from wxent import _namespace as ns
    from wxent import _projection

    sizes: list[int] = []

    class Sizes(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if not func.is_view:  # (views of the weight allocate nothing)
                leaves = torch.utils._pytree.tree_leaves(out)
                sizes.extend(t.numel() for t in leaves if isinstance(t, torch.Tensor))
            return out

    w = torch.randn(64, 32, requires_grad=True)
    cast = torch.autocast("cpu", dtype=torch.bfloat16) if autocast else contextlib.nullcontext()
    with cast, Sizes():
        flag = _projection._any_infinite(ns.namespace(w), (w, w[:3]))
    assert max(sizes) == 1 and not bool(flag), sizes
    w.data[5, 7] = -math.inf
    assert bool(_projection._any_infinite(ns.namespace(w), (w[:3], w)))
    assert _projection._any_infinite(ns.namespace(w), w[:0]) is None


@pytest.mark.parametrize("backend", ["numpy", "jax", "tensorflow"])
def test_the_infinity_check_of_other_backends_is_two_reductions(backend):
    # NumPy, eager JAX and TensorFlow materialise each operation: `abs(weight) == inf`
    # made two temporaries of the weight's size. A maximum and a minimum now.
    import tensorflow as tf

    from wxent import _namespace as ns
    from wxent import _projection

    conv = {"numpy": np.asarray, "jax": jnp.asarray, "tensorflow": tf.constant}[backend]
    w = np.random.default_rng(0).normal(size=(64, 32)).astype(np.float32)

    def check(*arrays):
        flag = _projection._any_infinite(ns.namespace(conv(w)), tuple(map(conv, arrays)))
        return None if flag is None else bool(flag)

    assert check(w, w[:3]) is False
    for value in (math.inf, -math.inf):
        bad = w.copy()
        bad[5, 7] = value
        assert check(w[:3], bad) is True
        assert check(bad[5:6]) is True and check(bad[6:]) is False
    assert check(w[:0]) is None
    if backend == "jax":
        import jax

        eager = jax.make_jaxpr(lambda a: _projection._any_infinite(ns.namespace(a), a))
        primitives = {e.primitive.name for e in eager(jnp.asarray(w)).jaxpr.eqns}
        assert primitives <= {"reduce_max", "reduce_min", "eq", "or"}, primitives
