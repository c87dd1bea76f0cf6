"""linear_cross_entropy at infinite logits: the unfused loss's limits on every path.

``inputs @ weight.T + bias`` is infinite where an input, a weight or the bias is, or where
the matmul leaves the dtype's range. The unfused :func:`wxent.softmax_cross_entropy` of
those logits takes the softmax's limits (``tests/test_softmax_limits.py``): a row holding
``+inf`` costs 0 (a single ``+inf`` on the target), ``log k`` (``k`` tied ones) or
``inf``, with gradient 0, ``-inf`` on the target costs ``inf`` with a finite gradient.
The fused chunk steps (torch operations, the Triton kernel, JAX) take the same limits in
the graph: also with ``validate=False``, under ``torch.compile(fullgraph=True)``,
``jax.jit`` and ``tf.function``, where nothing is read back. The reference is the float64
loss of the logits as the matmul gives them (float32, overflow included), its gradient
carried through the matmul in float64 (``0 * inf`` is NaN there as in any matmul).

An infinite entry of ``inputs`` or ``weight`` is refused by a checked eager call (its
gradient through the matmul meets ``0 * inf``, a NaN for its partner): those cases run
unchecked or traced only, where the loss takes the limits and that gradient is NaN.
"""

from __future__ import annotations

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow as tf
import torch

import wxent
from wxent._fastpaths import select, triton_softmax

# torch.compile instantiates every autograd.Function it traces and warns about it itself
pytestmark = pytest.mark.filterwarnings("ignore:.*should not be instantiated:DeprecationWarning")

INF = math.inf
RNG = np.random.default_rng(3)
N, D, V = 6, 3, 5
X0 = RNG.normal(size=(N, D)).astype(np.float32)
W0 = RNG.normal(size=(V, D)).astype(np.float32)
B0 = (RNG.normal(size=V) * 0.5).astype(np.float32)
Y0 = np.array([2, 0, 3, 2, 4, 1])
SAMPLE_WEIGHT = np.array([1.0, 0.5, 2.0, 1.5, 0.0, 1.0], np.float32)
CLASS_WEIGHT = [1.0, 2.0, 0.5, 1.5, 1.0]


def _case(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """``(inputs, weight, bias, labels)`` of each way to infinite logits."""
    x, w, b, y = X0.copy(), W0.copy(), B0.copy(), Y0.copy()
    if name == "matmul-overflow":  # 1e38 * 10 leaves float32 inside the matmul
        x = np.array([[1e38], [1.0], [1e38], [-2.0], [5e37], [0.5]], np.float32)
        w = np.array([[10.0], [-10.0], [1.0], [10.0], [2.0]], np.float32)
        # rows 0 and 2: (+inf, -inf, 1e38, +inf, 2e38); row 4: (+inf, -inf, 5e37, +inf, 1e38)
        y = np.array([0, 1, 2, 3, 4, 1])  # one of two +inf on the target; +inf elsewhere
        return x, w, None, y
    if name == "inputs":  # an infinite feature: a row of +inf and -inf logits
        x[1, 0] = INF
        x[4, 2] = -INF
        w[:, 0] = np.abs(w[:, 0]) + 0.1  # row 1: +inf everywhere but where w is negative
        w[3, 0] = -1.0
        return x, w, b, y
    if name == "weight":  # a weight column of +inf: +inf or -inf logits by the sign of x
        x[:, 1] = [1.0, -1.0, 2.0, 0.5, -0.5, 1.5]
        w[2, 1] = INF
        return x, w, b, y  # rows 0, 2, 3, 5: +inf at class 2 (the target of 0 and 3)
    if name == "bias":  # +inf biases: tied +inf in every row; a -inf bias masks a class
        b[1] = INF
        b[3] = INF
        b[0] = -INF
        return x, w, b, np.array([1, 3, 0, 2, 1, 4])  # on one of two +inf: log 2
    if name == "nan-inputs":  # no limit: NaN logits in row 1
        x[1, 0] = np.nan
        return x, w, b, y
    if name == "only-minus-inf":  # no limit: every logit of every row -inf
        return x, w, np.full(V, -INF, np.float32), y
    if name == "minus-inf":  # only -inf: on the target it costs inf, elsewhere nothing
        b[2] = -INF
        b[4] = -INF
        return x, w, b, y
    raise AssertionError(name)


CASES = ["matmul-overflow", "inputs", "weight", "bias", "minus-inf"]
# cases whose infinite logits come from an infinite factor of the matmul: refused when checked
FACTOR_CASES = {"inputs", "weight"}


def _logits(x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    """The logits as the matmul gives them (float32, overflow included), in float64."""
    with np.errstate(over="ignore", invalid="ignore"):
        z = np.float32(x.astype(np.float32) @ w.astype(np.float32).T)
        if b is not None:
            z = z + b.astype(np.float32)
    return z.astype(np.float64)


def _options(kind: str) -> dict:
    return {
        "plain": {},
        "weighted": {"class_weight": CLASS_WEIGHT, "sample_weight": SAMPLE_WEIGHT},
        "smoothed": {"label_smoothing": 0.1, "class_weight": CLASS_WEIGHT},
        "ignored": {"ignore_index": 3},
    }[kind]


def _upstream(n: int) -> np.ndarray:
    return np.linspace(0.5, 1.5, n)


def _reference(x, w, b, y, reduction, **options):
    """Value and gradients (inputs, weight, bias) of the unfused loss, in float64.

    As documented for the projection losses, rows that count nothing (ignored, or of
    weight 0 with a non-finite input) have their inputs set to 0 first.
    """
    weight = (
        np.asarray(options.get("sample_weight", 1.0))
        * np.asarray(options.get("class_weight", np.ones(V)), np.float64)[y]
    )
    ignored = y == options.get("ignore_index", -1)
    idle = ignored | ((weight == 0) & ~np.isfinite(x).all(axis=1))
    x = np.where(idle[:, None], np.float32(0.0), x)
    logits = torch.tensor(_logits(x, w, b), requires_grad=True)
    opts = dict(options)
    if "sample_weight" in opts:
        opts["sample_weight"] = torch.tensor(opts["sample_weight"], dtype=torch.float64)
    out = wxent.softmax_cross_entropy(
        logits, torch.tensor(y), reduction=reduction, validate=False, **opts
    )
    g = torch.tensor(_upstream(len(y))) if reduction == "none" else torch.ones(())
    (grad,) = torch.autograd.grad(out, logits, g)
    gz = grad.numpy()
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    with np.errstate(invalid="ignore"):  # 0 * inf: NaN, as in the matmul's gradient
        gx = (gz[:, :, None] * w64[None, :, :]).sum(axis=1)
        gw = (gz[:, :, None] * x64[:, None, :]).sum(axis=0)
    gx[idle] = 0.0  # (the inputs of those rows are replaced: no gradient reaches them)
    gb = None if b is None else gz.sum(axis=0)
    return out.detach().numpy(), gx, gw, gb


def _torch_run(x, w, b, y, reduction, *, compiled=False, dtype=torch.float32, **options):
    xt = torch.tensor(x, dtype=dtype, requires_grad=True)
    wt = torch.tensor(w, dtype=dtype, requires_grad=True)
    bt = None if b is None else torch.tensor(b, requires_grad=True)
    opts = dict(options)
    if "sample_weight" in opts:
        opts["sample_weight"] = torch.tensor(opts["sample_weight"])

    def f(a, c, d, labels):
        return wxent.linear_cross_entropy(
            a, c, labels, bias=d, reduction=reduction, chunk_size=4, **opts
        )

    if compiled:
        torch._dynamo.reset()
        f = torch.compile(f, fullgraph=True, backend="aot_eager")
    out = f(xt, wt, bt, torch.tensor(y))
    g = torch.tensor(_upstream(len(y)), dtype=out.dtype) if reduction == "none" else None
    wrt = [xt, wt] + ([] if bt is None else [bt])
    grads = torch.autograd.grad(out, wrt, g)
    gb = None if bt is None else grads[2].double().numpy()
    return out.detach().double().numpy(), grads[0].double().numpy(), grads[1].double().numpy(), gb


def _jax_run(x, w, b, y, reduction, *, jit=False, dtype=jnp.float32, **options):
    opts = dict(options)
    u = jnp.asarray(_upstream(len(y)), jnp.float32)

    def f(a, c, d):
        out = wxent.linear_cross_entropy(
            a, c, jnp.asarray(y), bias=d, reduction=reduction, chunk_size=4, **opts
        )
        scalar = jnp.sum(jnp.where(u != 0, u * out, 0.0)) if reduction == "none" else out
        return scalar, out

    vg = jax.value_and_grad(f, argnums=(0, 1) if b is None else (0, 1, 2), has_aux=True)
    if jit:
        vg = jax.jit(vg)
    bj = None if b is None else jnp.asarray(b)
    (_, out), grads = vg(jnp.asarray(x, dtype), jnp.asarray(w, dtype), bj)
    gb = None if b is None else np.asarray(grads[2], np.float64)
    as64 = [np.asarray(v, np.float64) for v in (out, grads[0], grads[1])]
    return (*as64, gb)


def _tf_run(x, w, b, y, reduction, *, function=False, **options):
    opts = dict(options)
    xt, wt = tf.Variable(x), tf.Variable(w)
    bt = None if b is None else tf.Variable(b)
    u = tf.constant(_upstream(len(y)), tf.float32)

    def f():
        with tf.GradientTape() as tape:
            out = wxent.linear_cross_entropy(
                xt, wt, tf.constant(y), bias=bt, reduction=reduction, chunk_size=4, **opts
            )
            scalar = tf.reduce_sum(u * out) if reduction == "none" else out
        wrt = [xt, wt] + ([] if bt is None else [bt])
        return out, tape.gradient(scalar, wrt)

    if function:
        f = tf.function(f)
    out, grads = f()
    gb = None if bt is None else grads[2].numpy().astype(np.float64)
    return out.numpy().astype(np.float64), *(g.numpy().astype(np.float64) for g in grads[:2]), gb


MODES = {
    "torch": lambda *a, **k: _torch_run(*a, **k),
    "torch-compile": lambda *a, **k: _torch_run(*a, compiled=True, **k),
    "jax": lambda *a, **k: _jax_run(*a, **k),
    "jax-jit": lambda *a, **k: _jax_run(*a, jit=True, **k),
    "tf": lambda *a, **k: _tf_run(*a, **k),
    "tf-function": lambda *a, **k: _tf_run(*a, function=True, **k),
}
TRACED = {"torch-compile", "jax-jit", "tf-function"}


def _plain(convert, to_numpy):
    """A direct call on concrete arrays (no autodiff): the eager default, checks included."""

    def call(x, w, b, y, reduction, **options):
        out = wxent.linear_cross_entropy(
            convert(x),
            convert(w),
            convert(y),
            bias=None if b is None else convert(b),
            reduction=reduction,
            chunk_size=4,
            **options,
        )
        return to_numpy(out).astype(np.float64)

    return call


PLAIN = {
    "torch": _plain(torch.tensor, lambda t: t.numpy()),
    "jax": _plain(jnp.asarray, np.asarray),
    "tf": _plain(tf.constant, lambda t: t.numpy()),
}


def _assert_same(got, expected, rtol=2e-5, atol=2e-6) -> None:
    """Equal infinities and NaN where the reference has them, close elsewhere."""
    names = ("loss", "grad inputs", "grad weight", "grad bias")
    for name, a, e in zip(names[: len(expected)], got, expected, strict=True):
        if e is None:
            assert a is None, name
            continue
        a, e = np.asarray(a, np.float64), np.asarray(e, np.float64)
        np.testing.assert_array_equal(np.isnan(a), np.isnan(e), err_msg=name)
        np.testing.assert_array_equal(np.isposinf(a), np.isposinf(e), err_msg=name)
        np.testing.assert_array_equal(np.isneginf(a), np.isneginf(e), err_msg=name)
        np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=name)


def test_the_cases_hold_the_limits_they_are_named_for():
    # Each case must reach what it tests: +inf rows of each kind (one of two tied on the
    # target, elsewhere), -inf on a target, logits that are infinite only in float32, and a
    # gradient of the logits that is 0 in every +inf row.
    with np.errstate(over="ignore"):
        assert np.isfinite(np.float64(1e38) * 10) and np.isinf(np.float32(1e38) * 10)
    losses = {c: _reference(*_case(c), "none")[0] for c in CASES}
    log2 = math.log(2)
    assert losses["matmul-overflow"].tolist()[::2] == [log2, INF, INF]
    assert np.isfinite(losses["matmul-overflow"][1::2]).all()
    assert losses["bias"][[0, 1, 4]].tolist() == [log2] * 3
    assert np.isposinf(losses["bias"][[2, 3, 5]]).all()
    assert losses["weight"][[0, 3]].tolist() == [0.0, 0.0]
    assert np.isposinf(losses["weight"][[2, 5]]).all()
    assert losses["inputs"][1] == math.log(4) and np.isposinf(losses["inputs"][4])
    assert np.isposinf(losses["minus-inf"][[0, 3, 4]]).all()
    assert np.isfinite(losses["minus-inf"][[1, 2, 5]]).all()
    for case in CASES:
        x, w, b, y = _case(case)
        logits = torch.tensor(_logits(x, w, b), requires_grad=True)
        out = wxent.softmax_cross_entropy(logits, torch.tensor(y), reduction="sum", validate=False)
        (gz,) = torch.autograd.grad(out, logits)
        rows = np.isposinf(logits.detach().numpy()).any(axis=1)
        assert rows.any() == (case != "minus-inf")
        assert np.all(gz.numpy()[rows] == 0.0) and np.isfinite(gz.numpy()).all()


# traced calls read nothing: checked and unchecked are one call there
CALLS = [(m, v) for m in MODES for v in (True, False) if not (v and m in TRACED)]


@pytest.mark.parametrize(("mode", "validate"), CALLS, ids=[f"{m}-{v}" for m, v in CALLS])
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("reduction", ["none", "sum", "mean", "weighted_mean"])
def test_values_and_gradients_are_the_unfused_limits(mode, case, reduction, validate):
    x, w, b, y = _case(case)
    refused = validate and case in FACTOR_CASES
    if refused:  # a checked eager call names the infinite factor
        # (jax.value_and_grad traces the call: nothing is read there, as under jax.jit)
        for run in (PLAIN[mode],) if mode == "jax" else (MODES[mode], PLAIN[mode]):
            with pytest.raises(ValueError, match=f"`{case}`.*infinite value"):
                run(x, w, b, y, reduction, validate=validate)
        if mode != "jax":
            return
    got = MODES[mode](x, w, b, y, reduction, validate=validate)
    expected = _reference(x, w, b, y, reduction)
    _assert_same(got, expected)
    if validate and mode in PLAIN and not refused:  # concrete arrays: checked, the one read
        _assert_same((PLAIN[mode](x, w, b, y, reduction),), expected[:1])


# (the ignored row of "weight" has NaN logits, 0 * inf: test_rows_that_count_nothing...)
OPTION_CASES = [
    (c, o)
    for c in CASES
    for o in ("weighted", "smoothed", "ignored")
    if (c, o) != ("weight", "ignored")
]


# torch.compile traces the code torch runs eagerly with validate=False (every case and
# reduction compiled: test_values_and_gradients_are_the_unfused_limits)
@pytest.mark.parametrize("mode", [m for m in MODES if m != "torch-compile"])
@pytest.mark.parametrize(("case", "options"), OPTION_CASES)
def test_options_at_the_limits(mode, case, options):
    # Class and sample weights (one of 0 on a row of infinite loss), label smoothing
    # (a +inf row costs inf unless all its logits are +inf), ignore_index (rows of
    # infinite loss ignored).
    x, w, b, y = _case(case)
    for reduction in ("none", "mean", "weighted_mean"):
        got = MODES[mode](x, w, b, y, reduction, validate=False, **_options(options))
        _assert_same(got, _reference(x, w, b, y, reduction, **_options(options)))


@pytest.mark.parametrize("mode", ["torch", "jax", "jax-jit"])
def test_bfloat16_inputs_at_the_limits(mode):
    # 16-bit operands: the matmul runs in bf16 (float32 accumulation), the softmax in float32.
    for case in CASES:
        x, w, b, y = _case(case)
        x = np.asarray(torch.tensor(x).bfloat16().float())
        w = np.asarray(torch.tensor(w).bfloat16().float())
        dtype = torch.bfloat16 if mode == "torch" else jnp.bfloat16
        for reduction in ("none", "mean"):
            got = MODES[mode](x, w, b, y, reduction, validate=False, dtype=dtype)
            expected = _reference(x, w, b, y, reduction)
            _assert_same(got, expected, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("mode", ["torch", "jax"])
def test_the_default_call_takes_the_limits_without_a_second_pass(mode, monkeypatch):
    # The limits are the chunk steps' own: the checked default call runs the fused
    # sweep once, and no generic (unfused) recomputation follows.
    from wxent import _projection
    from wxent._fastpaths import linear as fast

    calls = {"fused": 0, "generic": 0}

    def counted(name, original):
        def call(*args, **kwargs):
            calls[name] += 1
            return original(*args, **kwargs)

        return call

    monkeypatch.setattr(fast, "total", counted("fused", fast.total))
    monkeypatch.setattr(
        _projection, "_generic_losses", counted("generic", _projection._generic_losses)
    )
    x, w, b, y = _case("bias")
    got = PLAIN[mode](x, w, b, y, "mean")
    _assert_same((got,), _reference(x, w, b, y, "mean")[:1])
    assert calls == {"fused": 1, "generic": 0}


def test_second_order_gradients_take_the_limits():
    # create_graph=True recomputes from the materialised logits: the limits there too.
    x, w, b, y = _case("bias")
    xt = torch.tensor(x, requires_grad=True)
    bt = torch.tensor(b)
    for reduction in ("mean", "none"):
        out = wxent.linear_cross_entropy(
            xt, torch.tensor(w), torch.tensor(y), bias=bt, reduction=reduction, validate=False
        )
        (g,) = torch.autograd.grad(out.sum(), xt, create_graph=True)
        expected = _reference(x, w, b, y, reduction)[1]
        if reduction == "none":
            expected = _reference_unit_upstream(x, w, b, y)
        np.testing.assert_allclose(g.detach().double().numpy(), expected, rtol=2e-5, atol=2e-6)


def _reference_unit_upstream(x, w, b, y):
    logits = torch.tensor(_logits(x, w, b), requires_grad=True)
    out = wxent.softmax_cross_entropy(logits, torch.tensor(y), reduction="none", validate=False)
    (gz,) = torch.autograd.grad(out.sum(), logits)
    return gz.numpy() @ w.astype(np.float64)


@pytest.mark.parametrize("reduction", ["none", "mean"])
@pytest.mark.parametrize("case", CASES)
def test_the_triton_chunk_step_takes_the_limits(monkeypatch, case, reduction):
    assert os.environ.get("TRITON_INTERPRET") == "1", "tests/conftest.py sets it"
    monkeypatch.setenv("WXENT_KERNELS", "triton")
    monkeypatch.setattr(triton_softmax, "MAX_BLOCK", 4)  # loops over several blocks
    monkeypatch.setattr(triton_softmax, "BACKWARD_BLOCK", 4)
    select.LAUNCHES.clear()
    x, w, b, y = _case(case)
    for options in ("plain", "smoothed"):
        # (the interpreter's NumPy meets exp(1e38) and inf - inf, as the GPU does quietly)
        with np.errstate(all="ignore"):
            got = _torch_run(x, w, b, y, reduction, validate=False, **_options(options))
        assert select.LAUNCHES["linear_cross_entropy"] > 0, "the kernel did not run"
        _assert_same(got, _reference(x, w, b, y, reduction, **_options(options)))


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("case", ["nan-inputs", "only-minus-inf"])
def test_nan_logits_stay_nan_and_are_reported_when_checked(mode, case):
    # NaN inputs and rows of only -inf have no limit: the unfused loss is NaN there. An
    # eager checked call names `inputs` (as before); unchecked and traced calls give
    # NaN, never a number.
    x, w, b, y = _case(case)
    for reduction in ("none", "mean"):
        got = MODES[mode](x, w, b, y, reduction, validate=False)
        _assert_same(got, _reference(x, w, b, y, reduction))
        assert np.isnan(got[0]).any()
        if mode in PLAIN:
            with pytest.raises(ValueError, match="`inputs`"):
                PLAIN[mode](x, w, b, y, reduction)


@pytest.mark.parametrize("mode", ["torch", "torch-compile", "jax", "jax-jit", "triton"])
def test_rows_that_count_nothing_get_gradient_0_even_at_nan_logits(mode, monkeypatch):
    # An ignored row's inputs are set to 0, and 0 times an infinite weight is a NaN logit:
    # its gradient was NaN on the fused paths (the coefficient 0 times NaN), and reached
    # every weight through the matmul. The unfused loss gives 0 there.
    x, w, b, y = _case("weight")
    options = _options("ignored")
    assert np.isnan(_logits(np.where((y == 3)[:, None], 0.0, x), w, b)).any()
    run = MODES.get(mode)
    if mode == "triton":
        monkeypatch.setenv("WXENT_KERNELS", "triton")
        select.LAUNCHES.clear()

        def run(*a, **k):
            with np.errstate(all="ignore"):
                return _torch_run(*a, **k)

    for reduction in ("none", "mean"):
        got = run(x, w, b, y, reduction, validate=False, **options)
        _assert_same(got, _reference(x, w, b, y, reduction, **options))
        assert np.isfinite(got[2]).all()
    if mode == "triton":
        assert select.LAUNCHES["linear_cross_entropy"] > 0, "the kernel did not run"


# (inductor's first CPU lowering in a process imports torch.utils.mkldnn, which warns)
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
def test_inductor_compiles_the_limits_into_one_graph():
    # The default backend: the in-place limit of the chunk step lowered by inductor.
    x, w, _, y = _case("matmul-overflow")
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)

    def f(a, c, labels):
        return wxent.linear_cross_entropy(a, c, labels, chunk_size=4, reduction="sum")

    torch._dynamo.reset()
    out = torch.compile(f, fullgraph=True)(xt, wt, torch.tensor(y))
    grads = torch.autograd.grad(out, (xt, wt))
    got = (out.detach().double().numpy(), *(g.double().numpy() for g in grads), None)
    _assert_same(got, _reference(x, w, None, y, "sum"))
