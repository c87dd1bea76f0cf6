"""JAX rule for softmax cross-entropy with integer labels (a ``custom_jvp``).

Everything the generic path does with full ``(N, C)`` passes before its losses happens
here inside the rule's own reductions, so that XLA fuses it into them: on CPU a
``where`` over the logits ahead of the reductions was measured to cost as much as the
whole loss (a 4x slower forward at 1024 x 32768 float32):

* rows holding ``+inf`` take their limit (that of
  :func:`wxent._core.numerics.limit_logits`: the softmax is uniform over the ``+inf``
  entries, the loss ``log k`` or ``inf``, the gradient 0) from per-row terms: the
  count ``k`` of ``+inf`` entries, counted (a ``lax.cond``) only when a row holds one;
* rows that do not count (``keep`` false: ignored — what :func:`wxent._inputs.shield`
  zeroes on the generic path) have loss 0 and gradient 0 exactly, also where their
  logits are NaN (never 0 * NaN); rows of weight 0 count here (their loss is their
  weight's gradient), and a NaN loss (a NaN logit, or a row of only ``-inf``: of weight
  0, else the result is NaN) has gradient 0.
"""

from __future__ import annotations

import functools
from typing import Any


def on_cpu() -> bool:
    """Whether the rules are traced for CPUs (the default backend).

    There they take their CPU forms: :func:`reuse_exponentials` and the row sums of
    :func:`_mean_below`.
    """
    import jax

    return bool(jax.default_backend() == "cpu")


def reuse_exponentials() -> bool:
    """Whether the rules' tangent softmax reuses the forward pass's exponentials.

    On CPUs, where the exponential is the dear step, XLA keeps ``e = exp(x - s)`` from
    the forward pass (one full-size array) and the gradient needs no second
    exponential (measured: BENCHMARKS.md, "one exponential per logit"). On
    accelerators memory traffic is the dear step and the extra array is extra memory
    (the softmax target is at most one logits' worth): there the tangent recomputes
    ``exp((x - hi) - lo)`` from the logits it reads anyway. Chosen when the rule is traced,
    from the default backend.
    """
    return on_cpu()


def _split(s: Any, log_total: Any) -> tuple[Any, Any]:
    """``s + log_total`` as ``hi + lo`` exactly (per row): ``hi`` the rounded sum.

    ``lse = s + log_total`` rounds ``log_total`` away at large ``|x|`` (``1e4`` and beyond
    in float32), so ``x - lse`` cancels; ``(x - hi) - lo`` does not (``x - hi`` is exact
    near the maximum). Written so, and not as ``(x - s) - log_total``, the per-element
    expression shares no ``x - s`` with the exponentials: XLA would keep that one as a
    full-size array (measured 1.3-1.4x the rule's time). ``lo`` is 0 where the sum is
    not finite (those rows keep their limits).
    """
    import jax.numpy as jnp

    hi = s + log_total
    back = hi - s
    lo = (s - (hi - back)) + (log_total - back)
    return hi, jnp.where(jnp.isfinite(lo), lo, 0.0)


# Below this |row maximum| the row sums of the logits themselves give mean(x) - s to float32
# rounding (a relative error of at most ~1.6e-6 of the smoothing term, measured at
# 2 to 131072 classes): the error of the sum grows with |s| while the term is at least
# log C.
_PLAIN_SUM_BOUND = 16.0


def _mean_below(x: Any, s: Any) -> Any:
    """``mean(x - s)`` per row (``s``: the finite row maximum, 0 for an infinite one).

    Taken about the row's first logit (finite, else 0), ``mean(x - ref) + (ref - s)``
    is accurate at any ``|x|`` (``mean(x) - s`` rounds to the ulp of the row sum at
    large ``|x|``, where the two cancel), and independent of the maximum, so that XLA
    can read the logits for it in the maximum's pass (about ``s`` it was a pass more:
    1.6-2.3x the rule's forward time). On CPUs a subtraction fused into a row sum runs at
    1.5-2x a plain row sum (measured at 2048 x 32768 float32: 22 ms against 14 ms, and
    10 ms as a matrix-vector product with ones), so there, while every ``|s|`` is at most
    :data:`_PLAIN_SUM_BOUND`, the row sums come from ``x @ ones`` at full float32
    precision; a batch with a larger maximum takes the form about ``ref``
    (a ``lax.cond``; an empty batch takes the plain form).
    """
    import jax
    import jax.numpy as jnp

    def about_first(x: Any, s: Any) -> Any:
        first = x[:, 0]
        ref = jnp.where(jnp.isfinite(first), first, 0.0)
        return jnp.mean(x - ref[:, None], axis=1) + (ref - s)

    if not on_cpu():
        return about_first(x, s)

    def plain(x: Any, s: Any) -> Any:
        ones = jnp.ones((x.shape[1],), x.dtype)
        total = jnp.matmul(x, ones, precision=jax.lax.Precision.HIGHEST)
        return total / x.shape[1] - s

    small = jnp.max(jnp.abs(s), initial=0.0) <= _PLAIN_SUM_BOUND
    return jax.lax.cond(small, plain, about_first, x, s)


def _softmax(x: Any, hi: Any, lo: Any, e: Any, total: Any, live: Any) -> Any:
    """The softmax of the rows of ``x``, 0 in rows not ``live``.

    ``e = exp(x - s)`` (``s`` the finite row maximum, 0 for an infinite one) and
    ``total`` its row sum are the forward pass's own terms: where
    :func:`reuse_exponentials`, the softmax is ``e / total`` (no second exponential),
    else ``exp((x - hi) - lo)`` with ``hi + lo = s + log(total)`` (:func:`_split`),
    never ``exp(x - lse)``, which cancels at large ``|x|``. In a live row (one
    that counts and holds no ``+inf``) with a finite maximum, ``total >= 1`` and every
    ``e`` is in ``[0, 1]``; a row of NaN or of ``-inf`` only gives NaN either way (as its
    loss is).
    """
    import jax.numpy as jnp

    if reuse_exponentials():
        return jnp.where(live[:, None], e * (1.0 / total)[:, None], 0.0)
    return jnp.where(live[:, None], jnp.exp((x - hi[:, None]) - lo[:, None]), 0.0)


@functools.cache
def jax_softmax_function() -> Any:
    """``softmax_ce(x, labels, keep, eps)``: per-row losses of ``(N, C)`` logits.

    ``labels``: ``(N,)`` class indices (0 where ``keep`` is false); ``keep``: ``(N,)``
    bool; ``eps``: the label smoothing (a value of the compiled call, see :func:`_compiled`).
    """
    import jax
    import jax.numpy as jnp

    def limits(x: Any) -> tuple[Any, Any]:
        # The count of +inf entries per row: the sum of the limit's exponentials.
        k = jnp.sum(jnp.where(x == jnp.inf, 1.0, 0.0).astype(x.dtype), axis=1)
        return jnp.log(k), k == x.shape[1]

    def finite(x: Any) -> tuple[Any, Any]:
        # Zeros of the logits' own kind (under shard_map both branches must vary alike).
        zeros = jnp.where(False, x[:, 0], 0.0)
        return zeros, zeros != 0

    def forward(x: Any, labels: Any, keep: Any, eps: Any, mode: int) -> tuple[Any, Any, Any]:
        # The losses, and the exponentials and row sums the tangent's softmax is made of
        # (the softmax itself is formed in the JVP rule only: an eager call without a
        # derivative never builds it).
        m = jnp.max(x, axis=1)
        row_inf = m == jnp.inf
        s = jax.lax.stop_gradient(jnp.where(jnp.isfinite(m), m, 0.0))
        e = jnp.exp(x - s[:, None])
        total = jnp.sum(e, axis=1)
        # In the shifted logits z = x - s: -log p_y = log_total - z_y. (lse - x_y, with
        # lse = s + log_total, rounds log_total away at large |x|: 0 for a loss of 3e-4
        # at logits 1e4 in float32.)
        log_total = jnp.log(total)
        # Rows holding +inf take their limit (s is 0 there); the count runs only when one
        # does (an elementwise select inside the sum above was measured at 2.5x its time).
        log_k, all_inf = jax.lax.cond(jnp.any(row_inf), limits, finite, x)
        log_total = jnp.where(row_inf, log_k, log_total)
        picked = jnp.take_along_axis(x, labels[:, None], axis=1)[:, 0] - s
        target = jnp.where(row_inf, jnp.where(picked == jnp.inf, 0.0, -jnp.inf), picked)
        loss = log_total - target
        hi, lo = _split(s, log_total)
        if mode:
            smooth = log_total - _mean_below(x, s)
            limit = log_total - jnp.where(all_inf, 0.0, -jnp.inf)
            spread = jnp.where(row_inf, limit, smooth)
            # (smoothed's formula; at full smoothing the label's loss, maybe inf, drops out)
            loss = spread if mode == 1 else (1.0 - eps) * loss + eps * spread
        # (a NaN loss: a NaN logit, or only -inf, in a row of weight 0: gradient 0)
        live = jnp.logical_and(jnp.logical_and(keep, ~row_inf), ~jnp.isnan(loss))
        return jnp.where(keep, loss, 0.0), (hi, lo, e, total), live

    # Autodiff of the generic path differentiates through the max, the where and the
    # exp separately; this rule gives the tangent from the forward pass's own
    # exponentials (one exp per logit for the loss and its gradient) in one fused pass.
    # A custom_jvp (not a vjp) keeps forward mode and Hessians working; reverse mode
    # transposes the linear rule.
    @functools.partial(jax.custom_jvp, nondiff_argnums=(4,))
    def softmax_ce(x: Any, labels: Any, keep: Any, eps: Any, mode: int) -> Any:
        return forward(x, labels, keep, eps, mode)[0]

    @softmax_ce.defjvp
    def jvp(mode: int, primals: Any, tangents: Any) -> Any:
        x, labels, keep, eps = primals  # (eps is a checked number: no tangent)
        x_dot = tangents[0]
        loss, (hi, lo, e, total), live = forward(x, labels, keep, eps, mode)
        eps = _factor(eps, mode)
        p = _softmax(x, hi, lo, e, total, live)
        # d loss = sum(softmax * dx) - (1 - eps) * dx[y] - eps * mean(dx) where the row
        # counts and is finite, else 0; reverse mode transposes the gather into a
        # scatter of N values, as autodiff of the plain formula does.
        own = (1.0 - eps) * jnp.take_along_axis(x_dot, labels[:, None], axis=1)[:, 0]
        if mode:
            own = own + eps * jnp.mean(x_dot, axis=1)
        tangent = jnp.sum(p * x_dot, axis=1) - jnp.where(live, own, 0.0)
        return loss, tangent

    return _compiled(softmax_ce)


@functools.cache
def jax_softmax_probability_function() -> Any:
    """``softmax_ce(x, t, keep, eps)``: per-row losses of ``(N, C)`` logits, probability labels.

    ``l = -sum_c t'_c * log_softmax(x)_c`` with ``t' = t * (1 - eps) + eps / C`` and
    ``0 * log 0 = 0``, as the generic path; differentiable in ``x`` and ``t`` (a label
    without a gradient costs nothing: its tangent is a symbolic zero). Rows holding
    ``+inf`` and rows that do not count (``keep`` false) as in :func:`jax_softmax_function`.
    """
    import jax
    import jax.numpy as jnp
    from jax.custom_derivatives import SymbolicZero

    def smooth(t: Any, eps: Any, mode: int) -> Any:
        return t * (1.0 - eps) + eps / t.shape[1] if mode else t

    def limits(x: Any, t: Any) -> tuple[Any, Any]:
        # Limit rows: log_softmax is -log k at the k +inf entries, -inf elsewhere.
        at_inf = x == jnp.inf
        log_k = jnp.log(jnp.sum(jnp.where(at_inf, 1.0, 0.0).astype(x.dtype), axis=1))
        mass = jnp.sum(jnp.where(at_inf, t, 0.0), axis=1)
        off = jnp.any(jnp.logical_and(~at_inf, t != 0), axis=1)
        return mass * log_k + jnp.where(off, jnp.inf, 0.0), log_k

    def finite(x: Any, t: Any) -> tuple[Any, Any]:
        zeros = jnp.where(False, x[:, 0] + t[:, 0], 0.0)  # as the other branch varies
        return zeros, zeros

    def forward(x: Any, t: Any, keep: Any, eps: Any, mode: int) -> tuple[Any, ...]:
        ts = smooth(t, eps, mode)
        m = jnp.max(x, axis=1)
        row_inf = m == jnp.inf
        s = jax.lax.stop_gradient(jnp.where(jnp.isfinite(m), m, 0.0))
        e = jnp.exp(x - s[:, None])
        total = jnp.sum(e, axis=1)
        limit, log_k = jax.lax.cond(jnp.any(row_inf), limits, finite, x, ts)
        log_total = jnp.where(row_inf, log_k, jnp.log(total))  # s is 0 in those rows
        # log p = (x - hi) - lo with hi + lo = s + log_total (_split): x - (s + log_total)
        # rounds log_total away at large |x|.
        hi, lo = _split(s, log_total)
        shift, log_t = hi[:, None], lo[:, None]
        loss = -jnp.sum(ts * ((x - shift) - log_t), axis=1)
        # 0 * -inf = 0 where t' is 0: the plain product is NaN only there (or at NaN
        # logits); the select is paid only then (inside the sum it was measured at 1.4x
        # the plain product's time). The branches take the inputs, not a (N, C) result.
        loss = jax.lax.cond(
            jnp.any(jnp.isnan(loss)),
            lambda x, ts, shift, log_t: (
                -jnp.sum(jnp.where(ts == 0, 0.0, ts * ((x - shift) - log_t)), axis=1)
            ),
            lambda x, ts, shift, log_t: loss,
            x,
            ts,
            shift,
            log_t,
        )
        loss = jnp.where(keep, jnp.where(row_inf, limit, loss), 0.0)
        return loss, ts, (hi, lo), row_inf, (e, total)

    @functools.partial(jax.custom_jvp, nondiff_argnums=(4,))
    def softmax_ce(x: Any, t: Any, keep: Any, eps: Any, mode: int) -> Any:
        return forward(x, t, keep, eps, mode)[0]

    def jvp(mode: int, primals: Any, tangents: Any) -> Any:
        x, t, keep, eps = primals  # (eps is a checked number: no tangent)
        x_dot, t_dot, _, _ = tangents
        loss, ts, (hi, lo), row_inf, (e, total) = forward(x, t, keep, eps, mode)
        tangent = jnp.zeros_like(loss)
        if not isinstance(x_dot, SymbolicZero):
            # d loss / dx = S * softmax - t' in the rows that count and are finite; the
            # softmax from the forward pass's exponentials (one exp per logit in all).
            live = jnp.logical_and(jnp.logical_and(keep, ~row_inf), ~jnp.isnan(loss))
            p = _softmax(x, hi, lo, e, total, live)
            mass = jnp.sum(ts, axis=1)
            dx = mass * jnp.sum(p * x_dot, axis=1) - jnp.sum(ts * x_dot, axis=1)
            tangent = tangent + jnp.where(live, dx, 0.0)
        if not isinstance(t_dot, SymbolicZero):
            # d loss / dt' = -log_softmax in the rows that count, also where t' is 0
            # (a hard label); 0 only where t' is 0 and log_softmax is -inf (0 * log 0),
            # as the generic path's product (``safe_mul``).
            log_p = (x - hi[:, None]) - lo[:, None]
            limit = jnp.where(x == jnp.inf, -hi[:, None], -jnp.inf)  # hi = log k there
            log_p = jnp.where(row_inf[:, None], limit, log_p)
            counts = jnp.logical_and(keep, ~jnp.isnan(loss))[:, None]
            counted = jnp.logical_and(counts, (ts != 0) | jnp.isfinite(log_p))
            grad_t = jnp.where(counted, -log_p, 0.0)
            if mode:
                t_dot = t_dot * (1.0 - eps)
            tangent = tangent + jnp.sum(grad_t * t_dot, axis=1)
        return loss, tangent

    softmax_ce.defjvp(jvp, symbolic_zeros=True)
    return _compiled(softmax_ce)


def _factor(eps: Any, mode: int) -> Any:
    """The smoothing the rules compute with: exactly ``1.0`` at full smoothing (mode 1).

    At ``eps = 1`` the label's own loss has weight 0, also where it is infinite
    (:func:`wxent._core.numerics.smoothed`), which only a known 1 can say.
    """
    return 1.0 if mode == 1 else eps


def _mode(eps: float) -> int:
    """0: no smoothing, 1: full smoothing, 2: anything between (a static argument)."""
    return 0 if eps == 0.0 else 1 if eps == 1.0 else 2


def _compiled(rule: Any) -> Any:
    """``rule(x, labels, keep, eps)`` compiled once per shape, dtype and smoothing mode.

    Called eagerly, the rule would run as one dispatch per operation, and each of its
    ``lax.cond`` as a compilation of its own: the branches' derivatives (and, with label
    smoothing or probability labels, the branches themselves) are traced anew per call,
    so every eager call, and every eager ``jax.grad``, compiled again (0.1-0.6 s per call
    at 64 x 10). Compiled, an eager call runs one cached executable, its derivative
    another; inside a caller's ``jit`` the call is inlined as before. The label smoothing
    is a value of the compiled call, not part of its key: an eager smoothing schedule
    (a new value per step) compiles three variants at most (none, full, partial), not one
    per value.
    """
    import jax

    jitted = jax.jit(rule, static_argnums=(4,))

    def call(x: Any, labels: Any, keep: Any, eps: float) -> Any:
        return jitted(x, labels, keep, eps, _mode(eps))

    return call
