"""Framework transforms: jax.vmap / jax.grad / jax.jit, torch.compile, tf.function gradients."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import torch

import wxent
from conftest import assert_close
from reference import sigmoid_ce, softmax_ce


def test_jax_vmap_over_batches(rng):
    x = rng.normal(size=(3, 5, 4)).astype(np.float32)
    y = rng.integers(0, 4, size=(3, 5))
    cw = [1.0, 2.0, 0.5, 3.0]

    def per_batch(a, b):
        return wxent.softmax_cross_entropy(a, b, class_weight=cw, reduction="weighted_mean")

    got = jax.vmap(per_batch)(jnp.asarray(x), jnp.asarray(y))
    expected = [
        softmax_ce(x[i], y[i], class_weight=cw, reduction="weighted_mean") for i in range(3)
    ]
    assert_close(got, expected)
    grads = jax.jit(jax.vmap(jax.grad(per_batch)))(jnp.asarray(x), jnp.asarray(y))
    assert grads.shape == x.shape and np.isfinite(np.asarray(grads)).all()


def test_jax_grad_with_respect_to_pos_weight_array(rng):
    # weights passed as arrays of the logits' framework stay differentiable
    x = jnp.asarray(rng.normal(size=(4, 3)).astype(np.float32))
    z = jnp.asarray((rng.uniform(size=(4, 3)) < 0.5).astype(np.float32))
    g = jax.grad(lambda q: wxent.sigmoid_cross_entropy(x, z, pos_weight=q, reduction="sum"))(
        jnp.ones(3)
    )
    # d/dq_c of sum q_c z softplus(-x) = sum over rows of z * softplus(-x)
    expected = (np.asarray(z) * np.logaddexp(0, -np.asarray(x))).sum(axis=0)
    assert_close(g, expected)


def test_torch_compile(rng):
    x = rng.normal(size=(6, 4)).astype(np.float32)
    y = rng.integers(0, 4, size=(6,))
    z = (rng.uniform(size=(6, 4)) < 0.3).astype(np.float32)

    def step(a, b, c):
        return wxent.softmax_cross_entropy(
            a, b, class_weight=[1.0, 2.0, 3.0, 4.0], label_smoothing=0.1
        ) + wxent.sigmoid_cross_entropy(a, c, pos_weight=[3.0, 1.0, 1.0, 2.0])

    compiled = torch.compile(step, backend="aot_eager", fullgraph=True)
    xt = torch.tensor(x, requires_grad=True)
    out = compiled(xt, torch.tensor(y), torch.tensor(z))
    out.backward()
    expected = softmax_ce(
        x, y, class_weight=[1.0, 2.0, 3.0, 4.0], label_smoothing=0.1
    ) + sigmoid_ce(x, z, pos_weight=[3.0, 1.0, 1.0, 2.0])
    assert_close(out.detach(), expected)
    xe = torch.tensor(x, requires_grad=True)
    step(xe, torch.tensor(y), torch.tensor(z)).backward()
    assert_close(xt.grad, xe.grad)
