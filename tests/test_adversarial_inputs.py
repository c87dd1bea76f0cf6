"""Inputs a user can reach that once produced a framework error, a warning or a wrong number.

Each test names the input and asserts the behaviour the contract asks for (SPEC section
3): a wxent error naming the argument, or the same value and gradient as the plain case.
"""

from __future__ import annotations

import warnings

import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow as tf
import torch

import wxent
from wxent import _namespace as ns
from wxent import cli

# ----------------------------------------------------------------------------- torch.compile


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

    torch._dynamo.reset()
    xc = torch.tensor(x, requires_grad=True)
    out = torch.compile(loss, backend="aot_eager", fullgraph=True)(xc)
    out.backward()
    xe = torch.tensor(x, requires_grad=True)
    expected = loss(xe)
    expected.backward()
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(xc.grad.numpy(), xe.grad.numpy(), rtol=1e-6, atol=1e-7)


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
