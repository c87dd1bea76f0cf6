"""Logits that look like probabilities warn (wxent.LogitsWarning), within the one read.

The check looks at a bounded view of the first logits (``_value_checks.probe``) while the
call's value checks run (``validate=True``, concrete arrays); compiled and traced calls
neither check nor warn.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import array_api_strict
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow as tf
import torch

import wxent
from test_host_reads import READ_SIZE, _count_jax_reads, _count_torch_reads
from wxent import _value_checks as checks

FRAMEWORKS: dict[str, Callable[[Any], Any]] = {
    "numpy": np.asarray,
    "torch": torch.as_tensor,
    "jax": jnp.asarray,
    "tensorflow": tf.constant,
    "array_api_strict": array_api_strict.asarray,  # the standard alone
}
N, C = 64, 5
COST = (1.0 - np.eye(C)).astype(np.float32)


def _sigmoid_losses(x: Any, z: Any, **kw: Any) -> list[Any]:
    return [
        wxent.sigmoid_cross_entropy(x, z, pos_weight=[2.0] * C, **kw),
        wxent.sigmoid_focal_loss(x, z, **kw),
        wxent.asymmetric_loss(x, z, **kw),
    ]


def _softmax_losses(x: Any, y: Any, **kw: Any) -> list[Any]:
    return [
        wxent.softmax_cross_entropy(x, y, class_weight=[1.0, 2.0, 1.0, 1.0, 3.0], **kw),
        wxent.softmax_focal_loss(x, y, **kw),
        wxent.logit_adjusted_cross_entropy(x, y, [0.4, 0.3, 0.1, 0.1, 0.1], **kw),
        wxent.expected_cost_loss(x, y, COST, **kw),
        wxent.cost_sensitive_cross_entropy(x, y, COST, **kw),
        wxent.confusion_weighted_cross_entropy(x, y, 1.0 + COST, **kw),
    ]


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(N, C)).astype(np.float32)
    z = (rng.uniform(size=(N, C)) < 0.3).astype(np.float32)
    y = rng.integers(0, C, size=N)
    return logits, z, y


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return (e / e.sum(axis=axis, keepdims=True)).astype(x.dtype)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-x))).astype(x.dtype)


def _logits_warnings(record: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in record if w.category is wxent.LogitsWarning]


@pytest.mark.parametrize("framework", sorted(FRAMEWORKS))
def test_probabilities_warn_on_every_loss(framework: str) -> None:
    conv = FRAMEWORKS[framework]
    logits, z, y = _data()
    for losses, probs, target, activation in [
        (_sigmoid_losses, _sigmoid(logits), z, "sigmoid"),
        (_softmax_losses, _softmax(logits), y, "softmax"),
        (_softmax_losses, _softmax(logits), np.eye(C, dtype=np.float32)[y], "softmax"),
    ]:
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            results = losses(conv(probs), conv(target))
        found = _logits_warnings(record)
        assert len(found) == len(results), (activation, found)  # one per call
        for message in found:
            assert message.startswith("Argument `logits` looks like probabilities"), message
            assert f"before the {activation}" in message and "[0, 1]" in message, message
        # the loss itself is unchanged: a warning, not an error
        assert float(np.asarray(results[0])) == pytest.approx(
            float(np.asarray(losses(conv(probs), conv(target), validate=False)[0])), rel=1e-6
        )


def test_warning_points_at_the_callers_line() -> None:
    logits, z, _ = _data()
    with pytest.warns(wxent.LogitsWarning) as record:
        wxent.sigmoid_cross_entropy(_sigmoid(logits), z)
    assert record[0].filename == __file__


@pytest.mark.parametrize("framework", sorted(FRAMEWORKS))
def test_logits_and_unchecked_calls_do_not_warn(framework: str) -> None:
    conv = FRAMEWORKS[framework]
    rng = np.random.default_rng(1)
    logits, z, y = _data(1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", wxent.LogitsWarning)
        # validate=False: no check, no warning
        _sigmoid_losses(conv(_sigmoid(logits)), conv(z), validate=False)
        _softmax_losses(conv(_softmax(logits)), conv(y), validate=False)
        # ordinary logits, also of small magnitude (a fresh model), at realistic sizes
        for scale in (3.0, 0.01, 1e-4):
            for n, c in ((256, C), (32, 1000), (4096, 1)):
                x = (scale * rng.normal(size=(n, c))).astype(np.float32)
                labels = (rng.uniform(size=(n, c)) < 0.1).astype(np.float32)
                wxent.sigmoid_cross_entropy(conv(x), conv(labels))
                if c > 1:
                    wxent.softmax_cross_entropy(conv(x), conv(rng.integers(0, c, size=n)))
        # a zero-initialised head: constant logits
        wxent.sigmoid_cross_entropy(conv(np.zeros((N, C), np.float32)), conv(z))
        wxent.softmax_cross_entropy(conv(np.full((N, C), 0.2, np.float32)), conv(y))
        # values in [0, 1] whose rows do not sum to 1: not softmax outputs
        wxent.softmax_cross_entropy(conv(_sigmoid(logits)), conv(y))
        # segmentation logits (B, C, H, W) with class_axis=1
        seg = (0.01 * rng.normal(size=(2, 3, 16, 16))).astype(np.float32)
        wxent.softmax_cross_entropy(
            conv(seg), conv(rng.integers(0, 3, size=(2, 16, 16))), class_axis=1
        )
        # too few values to judge (fewer than PROBE_MIN)
        small = _sigmoid(logits[:2, :])
        wxent.sigmoid_cross_entropy(conv(small), conv(z[:2]))


def test_channel_axis_and_16_bit_probabilities_warn() -> None:
    rng = np.random.default_rng(2)
    seg = rng.normal(size=(2, 3, 16, 16)).astype(np.float32)
    labels = rng.integers(0, 3, size=(2, 16, 16))
    with pytest.warns(wxent.LogitsWarning, match="rows sums to 1 along class_axis"):
        wxent.softmax_cross_entropy(_softmax(seg, axis=1), labels, class_axis=1)
    half = torch.softmax(torch.as_tensor(rng.normal(size=(N, 300))), -1).to(torch.bfloat16)
    with pytest.warns(wxent.LogitsWarning):
        wxent.softmax_cross_entropy(half, torch.as_tensor(rng.integers(0, 300, size=N)))


def test_probe_is_bounded() -> None:
    big = np.zeros((100_000, 100), np.float32)
    index = checks.probe(big, 1, softmax=False)
    assert index is not None and big[index].size <= checks.PROBE_SIZE
    assert np.shares_memory(big[index], big)  # a view, not a copy
    vocab = np.zeros((8, 16, 50_000), np.float32)  # softmax keeps whole rows: one row here
    index = checks.probe(vocab, 2, softmax=True)
    assert index is not None and vocab[index].shape == (1, 1, 50_000)
    seg = np.zeros((16, 21, 256, 256), np.float32)
    index = checks.probe(seg, 1, softmax=True)
    assert index is not None and seg[index].shape[1] == 21 and seg[index].size <= checks.PROBE_SIZE
    assert checks.probe(np.zeros((3, 10), np.float32), 1, softmax=False) is None  # < PROBE_MIN
    assert checks.probe(np.zeros((64, 1), np.float32), 1, softmax=True) is None  # one class
    # only the probe is looked at: probabilities after it are not seen
    rng = np.random.default_rng(3)
    x = rng.normal(size=(10_000, 4)).astype(np.float32)
    z = (rng.uniform(size=x.shape) < 0.5).astype(np.float32)
    mixed = np.concatenate([x[:2000], _sigmoid(x[2000:])])
    with warnings.catch_warnings():
        warnings.simplefilter("error", wxent.LogitsWarning)
        wxent.sigmoid_cross_entropy(mixed, z)
    with pytest.warns(wxent.LogitsWarning):
        wxent.sigmoid_cross_entropy(mixed[::-1].copy(), z)


def test_errors_come_before_the_warning() -> None:
    logits, z, _ = _data()
    bad = z.copy()
    bad[0, 0] = 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("error", wxent.LogitsWarning)
        with pytest.raises(ValueError, match="labels"):
            wxent.sigmoid_cross_entropy(_sigmoid(logits), bad)
        with pytest.raises(ValueError, match="class indices"):
            wxent.softmax_cross_entropy(_softmax(logits), np.full(N, C))


def test_one_scalar_read_while_warning() -> None:
    logits, z, y = _data()
    probs, soft = torch.as_tensor(_sigmoid(logits)), torch.as_tensor(_softmax(logits))
    for call in (
        lambda: wxent.sigmoid_cross_entropy(probs, torch.as_tensor(z)),
        lambda: wxent.softmax_cross_entropy(soft, torch.as_tensor(y)),
    ):
        with pytest.warns(wxent.LogitsWarning), _count_torch_reads() as reads:
            call()
        assert len(reads) == 1 and reads[0] <= READ_SIZE, reads  # one transfer, a few values
    jprobs = jnp.asarray(_softmax(logits))
    with pytest.warns(wxent.LogitsWarning), _count_jax_reads() as jreads:
        wxent.softmax_focal_loss(jprobs, jnp.asarray(y))
    assert jreads == [1], jreads


def test_compiled_and_traced_calls_do_not_warn() -> None:
    logits, z, y = _data()
    probs, soft = _sigmoid(logits), _softmax(logits)
    with warnings.catch_warnings():
        warnings.simplefilter("error", wxent.LogitsWarning)

        def torch_step(a: Any, b: Any, c: Any) -> Any:
            return wxent.softmax_cross_entropy(a, b) + wxent.sigmoid_cross_entropy(a, c)

        compiled = torch.compile(torch_step, backend="aot_eager", fullgraph=True)
        out = compiled(torch.as_tensor(soft), torch.as_tensor(y), torch.as_tensor(z))
        assert torch.isfinite(out)
        jitted = jax.jit(lambda a, b: wxent.softmax_cross_entropy(a, b))
        assert np.isfinite(float(jitted(jnp.asarray(soft), jnp.asarray(y))))
        grad = jax.grad(lambda a: wxent.sigmoid_cross_entropy(a, jnp.asarray(z)))
        assert np.isfinite(np.asarray(grad(jnp.asarray(probs)))).all()
        graph = tf.function(lambda a, b: wxent.sigmoid_focal_loss(a, b))
        assert np.isfinite(float(graph(tf.constant(probs), tf.constant(z))))
