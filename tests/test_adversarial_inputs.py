"""Inputs a user can reach that once produced a framework error, a warning or a wrong number.

Each test names the input and asserts the behaviour the contract asks for (SPEC section
3): a wxent error naming the argument, or the same value and gradient as the plain case.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow as tf
import torch

import wxent
from wxent import _namespace as ns
from wxent import cli

# ----------------------------------------------------------------------------- torch.compile


def compiled_matches_eager(fn, x, *, grad_rtol):
    """``torch.compile(fn, fullgraph=True)`` gives eager ``fn``'s value and gradient at ``x``."""
    torch._dynamo.reset()
    xc = torch.tensor(x, requires_grad=True)
    out = torch.compile(fn, backend="aot_eager", fullgraph=True)(xc)
    out.backward()
    xe = torch.tensor(x, requires_grad=True)
    expected = fn(xe)
    expected.backward()
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(xc.grad.numpy(), xe.grad.numpy(), rtol=grad_rtol, atol=1e-7)


# torch.compile instantiates every autograd.Function it traces and warns about it itself
@pytest.mark.filterwarnings("ignore:.*should not be instantiated:DeprecationWarning")
@pytest.mark.parametrize(
    "name", ["sigmoid_cross_entropy", "sigmoid_focal_loss", "asymmetric_loss", "cost_weight"]
)
def test_torch_compile_fullgraph_with_scalar_options(name):
    """Python-number options (``ignore_label``, ``cost_weight``) are checked without NumPy
    calls that the compiler would trace as tensors (a data-dependent branch, no graph)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 4)).astype(np.float32)
    z = (rng.random((5, 4)) < 0.4).astype(np.float32)
    z[0, 1] = -1.0
    y, zt, costs = torch.tensor([0, 3, 2, 1, 1]), torch.tensor(z), 1.0 - torch.eye(4)

    def loss(a):
        if name == "cost_weight":
            return wxent.cost_sensitive_cross_entropy(a, y, costs, cost_weight=0.5)
        return getattr(wxent, name)(a, zt, ignore_label=-1)

    compiled_matches_eager(loss, x, grad_rtol=1e-6)


# ----------------------------------------------------------------------------- read-only weights


def test_read_only_host_arrays_become_torch_tensors_of_their_own():
    """A read-only NumPy array (``np.broadcast_to``, a JAX array's view) is copied, not
    shared: torch would warn that it cannot write it, and the tensor would alias it."""
    host = np.broadcast_to(np.float32(2.0), (4,))
    like = torch.zeros(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = ns.to_device(ns.namespace(like), host, like, dtype=torch.float32)
    assert not np.shares_memory(t.numpy(), host)
    np.testing.assert_array_equal(t.numpy(), host)


@pytest.mark.parametrize("kind", ["broadcast", "jax", "frozen"])
def test_read_only_weights_with_torch_logits(kind):
    rng = np.random.default_rng(1)
    x = torch.tensor(rng.normal(size=(4, 5)), dtype=torch.float32)
    y = torch.tensor([0, 4, 2, 1])
    z = torch.tensor((rng.random((4, 5)) < 0.5).astype(np.float32))

    def ro(a):
        a = np.asarray(a, dtype=np.float32)
        if kind == "broadcast":
            return np.broadcast_to(a, a.shape)
        if kind == "jax":
            return jnp.asarray(a)
        a = a.copy()
        a.flags.writeable = False
        return a

    sw, cw = np.linspace(0.5, 2.0, 4), np.linspace(1.0, 3.0, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cases = [
            (
                wxent.softmax_cross_entropy(x, y, sample_weight=ro(sw), class_weight=ro(cw)),
                wxent.softmax_cross_entropy(x, y, sample_weight=sw, class_weight=cw),
            ),
            (
                wxent.sigmoid_cross_entropy(x, z, sample_weight=ro(sw), pos_weight=ro(cw)),
                wxent.sigmoid_cross_entropy(x, z, sample_weight=sw, pos_weight=cw),
            ),
            (
                wxent.expected_cost_loss(x, y, ro(1.0 - np.eye(5))),
                wxent.expected_cost_loss(x, y, 1.0 - np.eye(5)),
            ),
            (
                wxent.logit_adjusted_cross_entropy(x, y, ro(np.full(5, 0.2))),
                wxent.logit_adjusted_cross_entropy(x, y, np.full(5, 0.2)),
            ),
        ]
    for got, expected in cases:
        assert float(got) == float(expected)


# ----------------------------------------------------------------------------- tune_thresholds


@pytest.mark.parametrize("framework", ["numpy", "torch", "jax", "tf"])
@pytest.mark.parametrize(
    "objective, options",
    [
        ("f1", {}),
        ("balanced_accuracy", {}),
        ("expected_cost", {"cost_fp": 1.0, "cost_fn": 2.0}),
        ("precision_at_recall", {"recall": 0.25}),
    ],
)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.filterwarnings("ignore::wxent.ThresholdWarning")  # recall unreachable without data
def test_tune_thresholds_with_a_label_column_wholly_ignored(
    framework, objective, options, weighted
):
    """A label whose every entry is ignored is tuned as a label without samples (0, as
    for N=0), and the other labels as if it were not there (was an IndexError)."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(24, 3)).astype(np.float32)
    z = (rng.random((24, 3)) < 0.5).astype(np.float32)
    z[:, 1] = -1.0
    sw = rng.uniform(0.5, 2.0, 24) if weighted else None
    convert = {
        "numpy": np.asarray,
        "torch": torch.tensor,
        "jax": jnp.asarray,
        "tf": tf.constant,
    }[framework]
    kw = {"objective": objective, "sample_weight": sw, "return_objective": True, **options}
    t, score = wxent.tune_thresholds(convert(x), convert(z), ignore_label=-1, **kw)
    keep = [0, 2]
    t_rest, score_rest = wxent.tune_thresholds(x[:, keep], z[:, keep], **kw)
    np.testing.assert_array_equal(t[keep], t_rest)
    np.testing.assert_array_equal(score[keep], score_rest)
    empty_t, empty_score = wxent.tune_thresholds(x[:0], z[:0], **{**kw, "sample_weight": None})
    assert t[1] == empty_t[0] and score[1] == empty_score[0]
    # Every entry ignored, pooled over the labels: as no data at all.
    pooled = wxent.tune_thresholds(
        convert(x), convert(np.full_like(z, -1.0)), ignore_label=-1, per_label=False, **kw
    )
    assert pooled == wxent.tune_thresholds(
        x[:0], z[:0], per_label=False, **{**kw, "sample_weight": None}
    )


# ----------------------------------------------------------------------------- the CLI


@pytest.mark.parametrize(
    "text", ["1e300", "99999999999999999999999", "9.3e18"], ids=["1e300", "1e23", "9.3e18"]
)
@pytest.mark.parametrize("suffix", [".csv", ".npy"])
def test_cli_class_label_beyond_int64(tmp_path, capsys, text, suffix):
    """A whole float label too large for int64 is a one-line error, not a wrapped-around
    index (an IndexError and a NumPy cast warning)."""
    path = tmp_path / f"labels{suffix}"
    if suffix == ".csv":
        path.write_text(f"label\n{text}\n1\n0\n")
    else:
        np.save(path, np.array([float(text), 1.0, 0.0]))
    try:
        code = cli.main(["weights", str(path)])
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    _, err = capsys.readouterr()
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("wxent: error: class label ")
    assert "too large" in err and "Traceback" not in err and "IndexError" not in err


@pytest.mark.parametrize(
    "text", ['label\n"1\n2\n0\n', 'label\n"a\nb"\nc\n'], ids=["open", "closed"]
)
def test_cli_label_spanning_lines(tmp_path, capsys, text):
    """An unterminated quote swallowed the rows after it into one class named "1\\n2"
    (counts silently wrong); a label spanning lines is a one-line error."""
    path = tmp_path / "labels.csv"
    path.write_text(text)
    try:
        code = cli.main(["weights", str(path)])
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    assert code == 2 and not out
    assert err == "wxent: error: label in column 'label' spans lines (an unterminated quote?)\n"


# ----------------------------------------------------------------------------- excluded rows

NAN, INF = float("nan"), float("inf")
SOFTMAX_LOSSES = {
    "softmax_cross_entropy": lambda x, y, **kw: wxent.softmax_cross_entropy(x, y, **kw),
    "softmax_focal_loss": lambda x, y, **kw: wxent.softmax_focal_loss(x, y, gamma=1.5, **kw),
    "logit_adjusted": lambda x, y, **kw: wxent.logit_adjusted_cross_entropy(
        x, y, [0.1, 0.2, 0.3, 0.4], **kw
    ),
    "expected_cost": lambda x, y, **kw: wxent.expected_cost_loss(x, y, 1.0 - np.eye(4), **kw),
    "cost_sensitive": lambda x, y, **kw: wxent.cost_sensitive_cross_entropy(
        x, y, 1.0 - np.eye(4), label_smoothing=0.1, **kw
    ),
    "confusion_weighted": lambda x, y, **kw: wxent.confusion_weighted_cross_entropy(
        x, y, 2.0 - np.eye(4), **kw
    ),
}
SIGMOID_LOSSES = {
    "sigmoid_cross_entropy": lambda x, z, **kw: wxent.sigmoid_cross_entropy(
        x, z, pos_weight=[2.0, 1.0, 1.0, 0.5], **kw
    ),
    "sigmoid_focal_loss": lambda x, z, **kw: wxent.sigmoid_focal_loss(x, z, alpha=0.25, **kw),
    "asymmetric_loss": lambda x, z, **kw: wxent.asymmetric_loss(x, z, clip=0.05, **kw),
}


def _excluded_case(family: str, kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Logits with NaN (and, softmax, a row of only -inf) where nothing counts, the same
    logits with those entries finite, labels, and the options that exclude them."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, 4)).astype(np.float32)
    if family == "softmax":
        y = np.array([3, 0, 3, 1, 2])
        bad = np.zeros_like(x, dtype=bool)
        bad[0, 1] = True  # a NaN in row 0
        bad[2] = True  # row 2: only -inf
        kw: dict = {}
        if kind == "ignored":
            y[[0, 2]] = -100
            kw["ignore_index"] = -100
        elif kind == "sample_weight":
            kw["sample_weight"] = np.array([0.0, 1.0, 0.0, 2.0, 0.5], np.float32)
        else:  # class 3 weighs 0: rows 0 and 2
            kw["class_weight"] = [1.0, 2.0, 0.5, 0.0]
        bad_x = np.where(bad, np.where(np.arange(5)[:, None] == 2, -INF, NAN), x)
        return bad_x.astype(np.float32), x, y, kw
    z = (rng.random((5, 4)) < 0.4).astype(np.float32)
    bad = np.zeros_like(x, dtype=bool)
    kw = {}
    if kind == "ignored":
        bad[[0, 3], [1, 2]] = True
        z[bad] = -1.0
        kw["ignore_label"] = -1
    else:  # sample 0 weighs 0 (one weight per sample)
        bad[0, [0, 2]] = True
        kw["sample_weight"] = np.array([0.0, 1.0, 2.0, 1.0, 0.5], np.float32)
    return np.where(bad, NAN, x).astype(np.float32), x, z, kw


def _excluded_cases() -> list:
    cases = [
        pytest.param("softmax", name, kind, id=f"{name}-{kind}")
        for name in SOFTMAX_LOSSES
        for kind in ("ignored", "sample_weight", "class_weight")
    ]
    cases += [
        pytest.param("sigmoid", name, kind, id=f"{name}-{kind}")
        for name in SIGMOID_LOSSES
        for kind in ("ignored", "sample_weight")
    ]
    return cases


@pytest.mark.parametrize("family, name, kind", _excluded_cases())
def test_nan_logits_where_nothing_counts_get_gradient_zero(ad_backend, family, name, kind):
    """Ignored elements and elements of weight 0 contribute 0 to the loss *and* to the
    gradient, also where their logits are NaN or (softmax) all -inf: the gradient there
    was 0 * NaN = NaN on every framework but the fused kernels."""
    bad_x, good_x, labels, kw = _excluded_case(family, kind)
    loss = (SOFTMAX_LOSSES if family == "softmax" else SIGMOID_LOSSES)[name]
    excluded = np.isnan(bad_x) | np.isinf(bad_x)
    if family == "softmax":
        excluded = np.repeat(excluded.any(axis=1, keepdims=True), 4, axis=1)
    weights = {k: val for k, val in kw.items() if k == "sample_weight"}

    def f(x, lab, *sw):
        return loss(x, lab, **{**kw, **dict(zip(weights, sw, strict=True))})

    value, grad = ad_backend.value_and_grad(f, bad_x, labels, *weights.values())
    ref_value, ref_grad = ad_backend.value_and_grad(f, good_x, labels, *weights.values())
    assert np.isfinite(value) and np.isfinite(grad).all()
    np.testing.assert_allclose(value, ref_value, rtol=1e-6)
    assert np.all(grad[excluded] == 0.0)
    np.testing.assert_allclose(grad[~excluded], ref_grad[~excluded], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", ["softmax_cross_entropy", "sigmoid_cross_entropy"])
def test_nan_logits_where_nothing_counts_with_validate_false_on_the_host(name):
    """On CPU tensors reading the flag costs no device sync: ``validate=False`` gets the
    same zero gradient."""
    family = "softmax" if name.startswith("softmax") else "sigmoid"
    bad_x, good_x, labels, kw = _excluded_case(family, "ignored")
    loss = (SOFTMAX_LOSSES if family == "softmax" else SIGMOID_LOSSES)[name]
    grads = []
    for x in (bad_x, good_x):
        xt = torch.tensor(x, requires_grad=True)
        loss(xt, torch.tensor(labels), validate=False, **kw).backward()
        grads.append(xt.grad.numpy())
    excluded = ~np.isfinite(bad_x)
    if family == "softmax":
        excluded = np.repeat(excluded.any(axis=1, keepdims=True), 4, axis=1)
    assert np.all(grads[0][excluded] == 0.0)
    np.testing.assert_allclose(grads[0][~excluded], grads[1][~excluded], rtol=1e-6)


@pytest.mark.parametrize("clip", [0.05, 0.0])
def test_asymmetric_loss_nan_logit_on_a_negative_is_an_error(eager_backend, clip):
    """A NaN logit on a counted negative (label 0) was a silent loss of 0 with the
    probability margin ``clip``: ``p - clip > 0`` is false for NaN."""
    x = np.array([[NAN, 0.5], [0.2, -0.3]], np.float32)
    z = np.array([[0.0, 1.0], [1.0, 0.0]], np.float32)
    with pytest.raises(ValueError, match=r"argument `logits`. Expected numbers without NaN"):
        eager_backend.call(lambda a, b: wxent.asymmetric_loss(a, b, clip=clip), x, z)
    traced = jnp.asarray(x)  # under jit nothing is read: the NaN reaches the result
    out = jax.jit(lambda a: wxent.asymmetric_loss(a, jnp.asarray(z), clip=clip))(traced)
    assert np.isnan(np.asarray(out))


# ----------------------------------------------------------------------------- the Triton paths


@pytest.fixture
def triton_kernels(monkeypatch):
    """The Triton kernels under Triton's interpreter, as in tests/test_triton.py."""
    import os

    from wxent._fastpaths import select

    assert os.environ.get("TRITON_INTERPRET") == "1", "tests/conftest.py sets it"
    monkeypatch.setenv("WXENT_KERNELS", "triton")
    monkeypatch.setattr(select, "_BROKEN", set())
    select.LAUNCHES.clear()
    return select.LAUNCHES


@pytest.mark.parametrize(
    "name, kind",
    [
        ("softmax_cross_entropy", "ignored"),
        ("softmax_cross_entropy", "sample_weight"),
        ("softmax_focal_loss", "class_weight"),
        ("sigmoid_cross_entropy", "ignored"),
        ("sigmoid_cross_entropy", "sample_weight"),
        ("asymmetric_loss", "sample_weight"),
    ],
)
@pytest.mark.parametrize("validate", [True, False])
def test_triton_kernels_give_the_generic_zero_gradient_where_nothing_counts(
    triton_kernels, monkeypatch, name, kind, validate
):
    """The kernels and the generic path agree where excluded logits are NaN: loss and
    gradient 0 there (the sigmoid kernel multiplied a zero sample weight by NaN)."""
    family = "softmax" if name.startswith("softmax") else "sigmoid"
    bad_x, good_x, labels, kw = _excluded_case(family, kind)
    loss = (SOFTMAX_LOSSES if family == "softmax" else SIGMOID_LOSSES)[name]
    if "sample_weight" in kw:
        kw["sample_weight"] = torch.tensor(kw["sample_weight"])
    results = []
    for mode, x in (("triton", bad_x), ("off", bad_x), ("off", good_x)):
        monkeypatch.setenv("WXENT_KERNELS", mode)
        before = sum(triton_kernels.values())
        xt = torch.tensor(x, requires_grad=True)
        with np.errstate(all="ignore"):  # the interpreter's NumPy meets NaN and inf
            out = loss(xt, torch.tensor(labels), reduction="sum", validate=validate, **kw)
            out.backward()
        assert (sum(triton_kernels.values()) > before) == (mode == "triton")
        results.append((out.item(), xt.grad.numpy()))
    (kernel, k_grad), (generic, g_grad), (finite, f_grad) = results
    np.testing.assert_allclose([kernel, generic], finite, rtol=1e-5)
    excluded = ~np.isfinite(bad_x)
    if family == "softmax":
        excluded = np.repeat(excluded.any(axis=1, keepdims=True), 4, axis=1)
    for grad in (k_grad, g_grad):
        assert np.all(grad[excluded] == 0.0)
        np.testing.assert_allclose(grad[~excluded], f_grad[~excluded], rtol=1e-5, atol=1e-7)


def test_triton_asymmetric_loss_nan_logit_on_a_negative_is_an_error(triton_kernels):
    x = torch.tensor([[NAN, 0.5], [0.2, -0.3]])
    z = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    with np.errstate(all="ignore"), pytest.raises(ValueError, match="without NaN"):
        wxent.asymmetric_loss(x, z, clip=0.05)
    assert triton_kernels["sigmoid_family"] >= 1


# ----------------------------------------------------------------------------- linear CE


def _linear_problem():
    rng = np.random.default_rng(5)
    h = rng.normal(size=(6, 3)).astype(np.float32)
    w = rng.normal(size=(5, 3)).astype(np.float32)
    y = np.array([0, 4, -100, 1, 2, 3])
    return h, w, y


@pytest.mark.parametrize("framework", ["torch", "jax", "tf", "numpy"])
@pytest.mark.parametrize("kind", ["ignored", "sample_weight"])
@pytest.mark.parametrize("loss", ["linear", "sampled"])
def test_projection_nan_inputs_in_rows_that_do_not_count(framework, kind, loss):
    """A NaN feature row that is ignored or weighs 0 (padding) costs nothing: the loss
    equals the one with that row finite, and no gradient is NaN (was an error on
    PyTorch, and NaN gradients for every weight on JAX: 0 * NaN in grad_W)."""
    h, w, y = _linear_problem()
    bad = h.copy()
    bad[2, 1] = NAN
    kw: dict = {"ignore_index": -100} if kind == "ignored" else {}
    if kind == "sample_weight":
        y = np.where(y < 0, 0, y)
        kw["sample_weight"] = np.array([1.0, 2.0, 0.0, 1.0, 0.5, 1.0], np.float32)
    if loss == "sampled":
        kw.update(num_sampled=3, seed=0)
    f = wxent.linear_cross_entropy if loss == "linear" else wxent.sampled_softmax_cross_entropy

    def value_and_grads(hh):
        if framework == "torch":
            ht, wt = torch.tensor(hh, requires_grad=True), torch.tensor(w, requires_grad=True)
            out = f(ht, wt, torch.tensor(y), **kw)
            out.backward()
            return out.item(), ht.grad.numpy(), wt.grad.numpy()
        if framework == "jax":
            g = jax.value_and_grad(lambda a, b: f(a, b, jnp.asarray(y), **kw), argnums=(0, 1))
            out, (gh, gw) = g(jnp.asarray(hh), jnp.asarray(w))
            return float(out), np.asarray(gh), np.asarray(gw)
        if framework == "tf":
            ht, wt = tf.constant(hh), tf.constant(w)
            with tf.GradientTape() as tape:
                tape.watch([ht, wt])
                out = f(ht, wt, tf.constant(y), **kw)
            gh, gw = tape.gradient(out, [ht, wt])
            return float(out), tf.convert_to_tensor(gh).numpy(), tf.convert_to_tensor(gw).numpy()
        out = f(hh, w, y, **kw)
        return float(out), np.zeros_like(hh), np.zeros_like(w)

    value, gh, gw = value_and_grads(bad)
    ref, rh, rw = value_and_grads(h)
    np.testing.assert_allclose(value, ref, rtol=1e-6)
    assert np.isfinite(gh).all() and np.isfinite(gw).all()
    assert np.all(gh[2] == 0.0)
    np.testing.assert_allclose(gw, rw, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.delete(gh, 2, 0), np.delete(rh, 2, 0), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("dtypes", [("float16", "float32"), ("float64", "float32")])
def test_linear_cross_entropy_torch_inputs_and_weight_of_two_dtypes(dtypes):
    """torch's matmul refuses two dtypes (a RuntimeError from inside torch): they are
    promoted, as NumPy, JAX and TensorFlow do, and the result has the inputs' dtype."""
    h, w, y = _linear_problem()
    a, b = (getattr(torch, d) for d in dtypes)
    ht = torch.tensor(h, dtype=a, requires_grad=True)
    wt = torch.tensor(w, dtype=b, requires_grad=True)
    out = wxent.linear_cross_entropy(ht, wt, torch.tensor(y), ignore_index=-100)
    out.backward()
    assert out.dtype == a and ht.grad.dtype == a and wt.grad.dtype == b
    common = torch.promote_types(a, b)
    expected = wxent.softmax_cross_entropy(
        ht.detach().to(common) @ wt.detach().to(common).T, torch.tensor(y), ignore_index=-100
    )
    np.testing.assert_allclose(float(out.detach()), float(expected), rtol=1e-3)


@pytest.mark.parametrize("loss", ["linear", "sampled"])
def test_projection_bias_as_a_list(loss):
    """A bias given as a list of numbers is configuration like any weight (the error
    claimed it had shape ())."""
    h, w, y = _linear_problem()
    bias = [0.5, -0.25, 0.0, 1.0, 2.0]
    kw: dict = {"ignore_index": -100}
    f = wxent.linear_cross_entropy
    if loss == "sampled":
        f, kw = wxent.sampled_softmax_cross_entropy, {**kw, "num_sampled": 3, "seed": 0}
    got = f(h, w, y, bias=bias, **kw)
    assert float(got) == float(f(h, w, y, bias=np.array(bias, np.float32), **kw))
    with pytest.raises(ValueError, match=r"Received: bias of shape \(4,\)"):
        f(h, w, y, bias=bias[:4], **kw)


def test_linear_cross_entropy_under_torch_func_vmap_and_grad():
    """vmap wrote batched chunks into a plain buffer (a RuntimeError from inside torch)."""
    h, w, y = _linear_problem()
    wt, yt = torch.tensor(w), torch.tensor(y)

    def f(a):
        return wxent.linear_cross_entropy(a, wt, yt, ignore_index=-100, chunk_size=2)

    batch = torch.stack([torch.tensor(h), torch.tensor(h[::-1].copy())])
    got = torch.func.vmap(f)(batch)
    expected = torch.stack([f(batch[0]), f(batch[1])])
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-6)
    grads = torch.func.vmap(torch.func.grad(f))(batch)
    for i in range(2):
        a = batch[i].clone().requires_grad_(True)
        f(a).backward()
        np.testing.assert_allclose(grads[i].numpy(), a.grad.numpy(), rtol=1e-5, atol=1e-7)


# ----------------------------------------------------------------------------- Keras metrics


@pytest.mark.parametrize("name", ["Recall", "Precision", "FBetaScore"])
def test_keras_metric_threshold_of_two_dimensions(name):
    """A (1, L) threshold named a wrong expected shape ((2,), whatever L was)."""
    import wxent.keras as wk

    with pytest.raises(ValueError) as info:
        getattr(wk, name)(threshold=[[0.0, 0.5, 1.0]])
    message = str(info.value)
    assert "Invalid value for argument `threshold`" in message
    assert "one per label, a vector of shape (L,)" in message
    assert "Received: threshold of shape (1, 3)" in message


# torch.compile instantiates every autograd.Function it traces and warns about it itself
@pytest.mark.filterwarnings("ignore:.*should not be instantiated:DeprecationWarning")
def test_sampled_softmax_under_torch_compile_with_sampled_values():
    """The NumPy draw cannot be traced (the docs say so); given ``sampled_values`` the
    loss compiles into one graph and equals the eager call."""
    from wxent._sampler import expected_count, log_uniform_probability, log_uniform_sample

    h, w, y = _linear_problem()
    y = np.where(y < 0, 0, y)
    sampled, tries = log_uniform_sample(3, 5, seed=0)
    values = (
        torch.tensor(sampled),
        torch.tensor(expected_count(log_uniform_probability(y, 5), tries), dtype=torch.float32),
        torch.tensor(
            expected_count(log_uniform_probability(sampled, 5), tries), dtype=torch.float32
        ),
    )
    wt, yt = torch.tensor(w), torch.tensor(y)

    def f(a):
        return wxent.sampled_softmax_cross_entropy(a, wt, yt, num_sampled=3, sampled_values=values)

    compiled_matches_eager(f, h, grad_rtol=1e-5)


@pytest.mark.parametrize(
    "name, options",
    [
        ("sigmoid_cross_entropy", {"pos_weight": [1.0, 0.0, 2.0, 1.0]}),
        ("sigmoid_cross_entropy", {"neg_weight": [1.0, 0.0, 2.0, 1.0]}),
        ("sigmoid_focal_loss", {"alpha": [0.25, 1.0, 0.5, 0.5]}),
        ("asymmetric_loss", {"pos_weight": [1.0, 0.0, 2.0, 1.0], "clip": 0.05}),
    ],
    ids=["pos_weight", "neg_weight", "alpha", "asymmetric"],
)
def test_nan_logit_whose_per_class_weight_is_zero(ad_backend, name, options):
    """A zero pos_weight/neg_weight/alpha makes an element count nothing without a NaN
    in its loss (0 * term is 0): its NaN logit still gets gradient 0."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(4, 4)).astype(np.float32)
    z = (rng.random((4, 4)) < 0.5).astype(np.float32)
    zero_is_positive = "pos_weight" in options
    if name == "sigmoid_focal_loss":  # alpha = 1: the negatives of label 1 weigh 0
        zero_is_positive = False
    z[:, 1] = 1.0 if zero_is_positive else 0.0
    bad = x.copy()
    bad[[0, 2], 1] = NAN

    def f(a, b):
        return getattr(wxent, name)(a, b, **options)

    value, grad = ad_backend.value_and_grad(f, bad, z)
    ref_value, ref_grad = ad_backend.value_and_grad(f, x, z)
    np.testing.assert_allclose(value, ref_value, rtol=1e-6)
    assert np.isfinite(grad).all() and np.all(grad[[0, 2], 1] == 0.0)
    keep = ~np.isnan(bad)
    np.testing.assert_allclose(grad[keep], ref_grad[keep], rtol=1e-5, atol=1e-7)


def test_nan_logit_that_smoothing_makes_count_is_an_error():
    """With label smoothing both terms of every element count: a NaN logit there is the
    NaN-logits error, not zeroed as if its zero pos_weight excluded it."""
    x = torch.tensor([[NAN, 0.5], [0.2, -0.3]], requires_grad=True)
    z = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match="without NaN"):
        wxent.sigmoid_cross_entropy(x, z, pos_weight=[0.0, 1.0], label_smoothing=0.1)
    out = wxent.sigmoid_cross_entropy(x, z, pos_weight=[0.0, 1.0])  # counts nothing: fine
    out.backward()
    assert torch.isfinite(x.grad).all() and x.grad[0, 0] == 0.0


# ----------------------------------------------------------------------------- decisions


@pytest.mark.parametrize("name", ["bayes_decision", "expected_cost", "confusion_matrix"])
def test_cost_decisions_on_a_row_of_only_minus_inf(eager_backend, name):
    """A row of only -inf logits has no probabilities: deciding its least-cost class was a
    silent class 0 (and a NumPy warning); it is the losses' error."""
    x = np.random.default_rng(8).normal(size=(3, 3)).astype(np.float32)
    x[1] = -np.inf
    y = np.array([0, 1, 2])
    costs = 1.0 - np.eye(3)
    calls = {
        "bayes_decision": lambda a, b: wxent.bayes_decision(a, costs),
        "expected_cost": lambda a, b: wxent.expected_cost(a, b, costs),
        "confusion_matrix": lambda a, b: wxent.confusion_matrix(a, b, costs=costs),
    }
    with pytest.raises(ValueError, match=r"`logits`. Expected at least one value above -inf"):
        eager_backend.call(calls[name], x, y)
    if name == "bayes_decision":  # unchecked: a decision, without NumPy's warnings
        out = eager_backend.call(lambda a: wxent.bayes_decision(a, costs, validate=False), x)
        assert out.shape == (3,)


# ------------------------------------------------- class indices outside [0, C), unchecked

UNCHECKED_LOSSES = {
    "softmax_ce": lambda x, y: wxent.softmax_cross_entropy(x, y, **UNCHECKED),
    "softmax_ce_smoothed": lambda x, y: wxent.softmax_cross_entropy(
        x, y, label_smoothing=0.1, class_weight=np.arange(1.0, 5.0), **UNCHECKED
    ),
    "softmax_focal": lambda x, y: wxent.softmax_focal_loss(x, y, **UNCHECKED),
    "logit_adjusted": lambda x, y: wxent.logit_adjusted_cross_entropy(
        x, y, class_prior=np.full(4, 0.25), **UNCHECKED
    ),
    "expected_cost": lambda x, y: wxent.expected_cost_loss(x, y, 1 - np.eye(4), **UNCHECKED),
    "cost_sensitive": lambda x, y: wxent.cost_sensitive_cross_entropy(
        x, y, 1 - np.eye(4), **UNCHECKED
    ),
    "confusion_weighted": lambda x, y: wxent.confusion_weighted_cross_entropy(
        x, y, 2 - np.eye(4), **UNCHECKED
    ),
}
UNCHECKED = {"validate": False, "reduction": "none"}


@pytest.mark.parametrize("name", list(UNCHECKED_LOSSES))
@pytest.mark.parametrize("bad", [-1, 4, -5])
def test_unchecked_labels_outside_the_classes_give_a_nan_loss(eager_backend, name, bad):
    # validate=False skips the range check: the element's loss is NaN on every framework
    # (it was a wrapped index on NumPy and JAX, a gather error on torch and TensorFlow)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 4)).astype(np.float32)
    y = np.array([0, bad, 2, 3])
    loss = UNCHECKED_LOSSES[name]
    out = eager_backend.call(loss, x, y)
    assert np.isnan(out[1]) and np.isfinite(np.delete(out, 1)).all()
    good = eager_backend.call(loss, x, np.array([0, 1, 2, 3]))
    np.testing.assert_allclose(np.delete(out, 1), np.delete(good, 1), rtol=1e-6)


@pytest.mark.parametrize("bad", [-1, 6])
def test_unchecked_projection_labels_outside_the_classes_give_a_nan_loss(eager_backend, bad):
    rng = np.random.default_rng(4)
    inputs = rng.standard_normal((3, 5)).astype(np.float32)
    weight = rng.standard_normal((6, 5)).astype(np.float32)
    y = np.array([0, bad, 2])
    out = eager_backend.call(
        lambda a, w, t: wxent.linear_cross_entropy(a, w, t, **UNCHECKED), inputs, weight, y
    )
    assert np.isnan(out[1]) and np.isfinite(out[[0, 2]]).all()
