"""JAX rule for softmax cross-entropy with integer labels (a ``custom_jvp``)."""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def jax_softmax_function() -> Any:
    import jax
    import jax.numpy as jnp

    def forward(x: Any, labels: Any, eps: float) -> tuple[Any, Any]:
        m = jnp.max(x, axis=1)
        m = jax.lax.stop_gradient(jnp.where(jnp.isfinite(m), m, 0.0))
        lse = jnp.log(jnp.sum(jnp.exp(x - m[:, None]), axis=1)) + m
        target = jnp.take_along_axis(x, labels[:, None], axis=1)[:, 0]
        loss = lse - target
        if eps:
            loss = (1.0 - eps) * loss + eps * (lse - jnp.mean(x, axis=1))
        return loss, lse

    # Autodiff of the generic path differentiates through the max, the where and the
    # exp separately; this rule gives the tangent from softmax = exp(x - lse) in one
    # fused pass. A custom_jvp (not a vjp) keeps forward mode and Hessians working;
    # reverse mode transposes the linear rule.
    @functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
    def softmax_ce(x: Any, labels: Any, eps: float) -> Any:
        return forward(x, labels, eps)[0]

    @softmax_ce.defjvp
    def jvp(eps: float, primals: Any, tangents: Any) -> Any:
        x, labels = primals
        x_dot = tangents[0]
        loss, lse = forward(x, labels, eps)
        # d loss = sum(softmax * dx) - (1 - eps) * dx[y] - eps * mean(dx); reverse mode
        # transposes the gather into a scatter of N values, as Optax's autodiff does.
        tangent = jnp.sum(jnp.exp(x - lse[:, None]) * x_dot, axis=1)
        tangent = tangent - (1.0 - eps) * jnp.take_along_axis(x_dot, labels[:, None], axis=1)[:, 0]
        if eps:
            tangent = tangent - eps * jnp.mean(x_dot, axis=1)
        return loss, tangent

    return softmax_ce
