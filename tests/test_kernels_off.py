"""``WXENT_KERNELS=off`` turns off every custom-gradient rule of wxent's, on every framework.

With it the framework differentiates the generic formulas (the escape hatch the
forward-mode error of the PyTorch focal rules names): the JAX softmax rules (integer and
probability labels) and focal rules leave the jaxpr, the TensorFlow softmax, sigmoid and
focal rules leave the traced graph, the PyTorch focal rules leave the autograd graph. The
values and gradients stay the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow as tf
import torch

import wxent
from conftest import assert_close

MODES = ["auto", "off"]


def _data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    x = (2 * rng.normal(size=(6, 5))).astype(np.float32)
    t = rng.dirichlet(np.ones(5), size=6).astype(np.float32)
    return {
        "x": x,
        "y": np.array([0, 1, 2, 3, 4, 1]),
        "t": t,
        "z": (t > 0.2).astype(np.float32),
    }


# (name, loss(logits, data as the framework's tensors), the marker of the rule:
#  JAX: a custom_jvp_call in the jaxpr; TensorFlow: an op type in the traced graph)
CASES: list[tuple[str, Callable[[Any, dict[str, Any]], Any], str]] = [
    (
        "softmax_int",
        lambda x, d: wxent.softmax_cross_entropy(x, d["y"], label_smoothing=0.1),
        "SparseSoftmaxCrossEntropyWithLogits",
    ),
    ("softmax_prob", lambda x, d: wxent.softmax_cross_entropy(x, d["t"]), "-"),
    (
        "sigmoid",
        lambda x, d: wxent.sigmoid_cross_entropy(x, d["z"], pos_weight=2.0, neg_weight=0.5),
        "IdentityN",
    ),
    ("sigmoid_focal", lambda x, d: wxent.sigmoid_focal_loss(x, d["z"]), "IdentityN"),
    ("asymmetric", lambda x, d: wxent.asymmetric_loss(x, d["z"]), "IdentityN"),
    ("softmax_focal", lambda x, d: wxent.softmax_focal_loss(x, d["y"]), "IdentityN"),
]
JAX_RULES = {"softmax_int", "softmax_prob", "sigmoid", "sigmoid_focal", "asymmetric"}
JAX_RULES |= {"softmax_focal"}
TF_RULES = {"softmax_int", "sigmoid", "sigmoid_focal", "asymmetric", "softmax_focal"}
TORCH_RULES = {"sigmoid_focal", "asymmetric", "softmax_focal"}


def _jax(loss, mode, monkeypatch):
    monkeypatch.setenv("WXENT_KERNELS", mode)
    d = {k: jnp.asarray(v) for k, v in _data().items()}
    x = d["x"]
    jaxpr = str(jax.make_jaxpr(lambda a: loss(a, d))(x))
    value, grad = jax.jit(jax.value_and_grad(lambda a: loss(a, d)))(x)
    return "custom_jvp_call" in jaxpr, np.asarray(value), np.asarray(grad)


def _tf(loss, marker, mode, monkeypatch):
    monkeypatch.setenv("WXENT_KERNELS", mode)
    d = {k: tf.constant(v) for k, v in _data().items()}

    def step(a):
        with tf.GradientTape() as tape:
            tape.watch(a)
            value = loss(a, d)
        return value, tape.gradient(value, a)

    fn = tf.function(step).get_concrete_function(tf.TensorSpec((6, 5), tf.float32))
    types = {op.type for op in fn.graph.get_operations()}
    value, grad = step(d["x"])  # eagerly
    return marker in types, value.numpy(), grad.numpy()


def _torch(loss, mode, monkeypatch):
    monkeypatch.setenv("WXENT_KERNELS", mode)
    d = {k: torch.tensor(v) for k, v in _data().items()}
    x = d["x"].clone().requires_grad_(True)
    value = loss(x, d)
    names = []
    stack = [value.grad_fn]
    while stack:  # every node of the autograd graph
        node = stack.pop()
        if node is not None:
            names.append(type(node).__name__)
            stack.extend(f for f, _ in node.next_functions)
    (grad,) = torch.autograd.grad(value, x)
    own = any(n.startswith(("SigmoidFamily", "SoftmaxSparse", "SoftmaxDense")) for n in names)
    return own, value.detach().numpy(), grad.numpy()


@pytest.mark.parametrize(("case", "loss", "marker"), CASES, ids=[c[0] for c in CASES])
def test_kernels_off_leaves_the_generic_formulas(monkeypatch, case, loss, marker):
    runs = {
        "jax": (lambda mode: _jax(loss, mode, monkeypatch), JAX_RULES),
        "tf": (lambda mode: _tf(loss, marker, mode, monkeypatch), TF_RULES),
        "torch": (lambda mode: _torch(loss, mode, monkeypatch), TORCH_RULES),
    }
    for framework, (run, rules) in runs.items():
        (rule_on, value_on, grad_on), (rule_off, value_off, grad_off) = run("auto"), run("off")
        assert rule_on == (case in rules), (framework, "default")
        assert not rule_off, (framework, "WXENT_KERNELS=off")
        assert_close(value_on, value_off, rtol=1e-5, atol=1e-6)
        assert_close(grad_on, grad_off, rtol=1e-5, atol=1e-6)
