"""Concrete weights, costs and priors of the logits' framework in a call that reads nothing.

A ``jax.jit`` function that closes over a JAX array (``class_weight = jnp.asarray(w)``
built once outside the step) holds that array as a concrete constant, and a
``torch.func`` transform of the logits passes plain tensors as weights. Their values
were known, yet neither checked (the call reads nothing) nor poisoned (they were not
traced): a negative cost or weight was used as it was, and the loss or metric came out
a plain, wrong number (JAX ``jit``: the expected-cost, cost-sensitive, class- and
sample-weighted, ``pos_weight`` and logit-adjusted losses, and the metrics). They get the
traced values' rule now: NaN where the eager check would raise; valid values give the
eager result.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from torch.func import grad

import wxent

X = jnp.asarray(np.random.default_rng(35).normal(size=(4, 3)), jnp.float32)
Y = jnp.array([0, 1, 2, 0])
Z = (X > 0).astype(jnp.float32)
GOOD = {
    "costs": jnp.asarray(1.0 - np.eye(3), jnp.float32),
    "weights": jnp.array([1.0, 2.0, 0.5]),
    "sample": jnp.ones(4),
    "prior": jnp.array([0.2, 0.3, 0.5]),
}
BAD = {
    "costs": GOOD["costs"].at[1, 2].set(-1.0),
    "weights": jnp.array([1.0, -2.0, 0.5]),
    "sample": jnp.array([1.0, -1.0, 1.0, 1.0]),
    "prior": jnp.array([0.0, 0.5, 0.5]),
}

CALLS = {
    "expected_cost_loss": lambda v: lambda x: wxent.expected_cost_loss(x, Y, v["costs"]),
    "cost_sensitive_cross_entropy": lambda v: (
        lambda x: wxent.cost_sensitive_cross_entropy(x, Y, v["costs"])
    ),
    "class_weight": lambda v: (
        lambda x: wxent.softmax_cross_entropy(x, Y, class_weight=v["weights"])
    ),
    "sample_weight": lambda v: (
        lambda x: wxent.softmax_cross_entropy(x, Y, sample_weight=v["sample"])
    ),
    "pos_weight": lambda v: lambda x: wxent.sigmoid_cross_entropy(x, Z, pos_weight=v["weights"]),
    "class_prior": lambda v: lambda x: wxent.logit_adjusted_cross_entropy(x, Y, v["prior"]),
    "expected_cost": lambda v: lambda x: wxent.expected_cost(x, Y, v["costs"]),
    "recall, costs": lambda v: lambda x: wxent.recall(x, Y, costs=v["costs"]),
    "recall, sample_weight": lambda v: lambda x: wxent.recall(x, Y, sample_weight=v["sample"]),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_jit_closure_constant_that_fails_a_check_gives_nan(name: str) -> None:
    with pytest.raises(ValueError, match="Invalid value for argument"):
        CALLS[name](BAD)(X)  # eagerly: the check
    assert np.isnan(np.asarray(jax.jit(CALLS[name](BAD))(X)))


@pytest.mark.parametrize("name", sorted(CALLS))
def test_jit_closure_constant_that_passes_gives_the_eager_value(name: str) -> None:
    call = CALLS[name](GOOD)
    np.testing.assert_allclose(np.asarray(jax.jit(call)(X)), np.asarray(call(X)), rtol=1e-6)


def test_torch_func_grad_with_a_negative_class_weight_is_nan() -> None:
    x, y = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])

    def loss(w: torch.Tensor):
        return lambda logits: wxent.softmax_cross_entropy(logits, y, class_weight=w)

    bad = grad(loss(torch.tensor([1.0, -1.0, 1.0])))(x)
    assert torch.isnan(bad[1]).all() and not torch.isnan(bad[[0, 2, 3]]).any()
    good = torch.tensor([1.0, 2.0, 0.5])
    expected = torch.func.grad(lambda logits: loss(good)(logits))(x)
    logits = x.clone().requires_grad_()
    loss(good)(logits).backward()
    torch.testing.assert_close(expected, logits.grad)
