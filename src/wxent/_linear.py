"""The output projection fused with softmax cross-entropy, chunked over rows.

``linear_cross_entropy(inputs, weight, labels)`` equals
``softmax_cross_entropy(inputs @ weight.T + bias, labels)`` without ever holding the
``(N, V)`` logits: rows are processed ``chunk_size`` at a time. On PyTorch
(``torch.autograd.Function``) and JAX (``jax.custom_vjp`` over a ``lax.scan``) the
backward pass recomputes each chunk's logits from ``inputs``, ``weight`` and the saved
per-row log-sum-exp, so the memory of forward *and* backward is ``O(chunk_size * V)``
beyond the parameters and their gradients. NumPy, array-api-strict and TensorFlow
use a chunked forward written against the Array API; TensorFlow differentiates it
with its own autodiff, which keeps every chunk's logits for the backward pass (the
forward is lean, the backward is not).
"""

from __future__ import annotations

import functools
import numbers
from typing import Any

from wxent import _core
from wxent import _namespace as ns
from wxent import _prepare as prep
from wxent import _validation as v
from wxent._losses import softmax_sample_weight

Array = Any

#: Default chunk: as many rows as keep one chunk of logits at about 2**23 elements
#: (32 MiB in float32), at least 1 row.
CHUNK_ELEMENTS = 2**23


def linear_cross_entropy(
    inputs: Array,
    weight: Array,
    labels: Array,
    *,
    bias: Array | None = None,
    class_weight: Any = None,
    sample_weight: Any = None,
    label_smoothing: float = 0.0,
    ignore_index: int | None = None,
    chunk_size: int | None = None,
    reduction: str = "mean",
    validate: bool = True,
) -> Array:
    """Softmax cross-entropy of ``inputs @ weight.T + bias`` without materialising the logits.

    With ``x = inputs @ weight.T + bias`` (never held in full), the result is exactly
    :func:`wxent.softmax_cross_entropy` ``(x, labels, ...)`` with the same options::

        l_i = w_i * [(1 - eps) * (lse(x_i) - x_i[y_i]) + eps * (lse(x_i) - mean_c x_ic)]

    with ``w_i = sample_weight[i] * class_weight[y_i]``. Rows are processed
    ``chunk_size`` at a time; on PyTorch and JAX a custom backward recomputes each
    chunk's logits (``grad_x = (softmax(x) - t) * g``), so neither pass stores more
    than one chunk of logits. On TensorFlow the forward is chunked but autodiff keeps
    the chunks for the backward pass.

    Args:
        inputs: floating ``(N, D)`` features (the last hidden layer).
        weight: floating ``(V, D)`` output projection (``torch.nn.Linear`` layout),
            same framework as ``inputs``.
        labels: integer ``(N,)`` class indices in ``[0, V)`` or ``ignore_index``.
        bias: optional ``(V,)`` bias.
        class_weight: one non-negative weight per class ``(V,)`` (or a scalar).
        sample_weight: a scalar or one weight per row ``(N,)``.
        label_smoothing: ``eps`` in ``[0, 1]``; targets ``y * (1 - eps) + eps / V``.
        ignore_index: an integer label to ignore (0 loss, 0 gradient, not counted).
        chunk_size: rows per chunk; ``None`` picks ``max(1, 2**23 // V)`` rows
            (about 32 MiB of float32 logits per chunk).
        reduction: ``"none"``, ``"sum"``, ``"mean"`` or ``"weighted_mean"``, as for
            every wxent loss.
        validate: check label, weight and input values on concrete arrays.

    Returns:
        The loss in the inputs' framework and dtype: 0-d, or ``(N,)`` for
        ``reduction="none"``.

    Raises:
        TypeError: for wrong types or dtypes.
        ValueError: for wrong shapes or values.

    Example:
        >>> import numpy as np, wxent
        >>> rng = np.random.default_rng(0)
        >>> h = rng.normal(size=(6, 4)).astype(np.float32)
        >>> w = rng.normal(size=(10, 4)).astype(np.float32)
        >>> y = np.array([0, 3, 9, 2, 2, 5])
        >>> fused = wxent.linear_cross_entropy(h, w, y, chunk_size=4)
        >>> full = wxent.softmax_cross_entropy(h @ w.T, y)
        >>> bool(np.isclose(fused, full))
        True
    """
    xp = v.check_logits(inputs, "inputs")
    v.check_logits(weight, "weight")
    _check_same_framework("weight", weight, inputs)
    v.check_labels_array(labels, inputs)
    v.check_reduction(reduction)
    validate = v.check_bool("validate", validate)
    eps = v.check_fraction("label_smoothing", label_smoothing)
    ignore = v.check_optional_int("ignore_index", ignore_index)
    in_shape = v.static_shape(inputs)
    w_shape = v.static_shape(weight)
    if len(in_shape) != 2:
        raise v.value_error(
            "inputs", "a 2-D array (N, D)", f"inputs of shape {v.shape_str(in_shape)}"
        )
    if len(w_shape) != 2 or not v.shapes_match(w_shape[1:], in_shape[1:]):
        raise v.value_error(
            "weight",
            f"a 2-D array (V, D) with D={in_shape[1]} (the last dimension of `inputs`)",
            f"weight of shape {v.shape_str(w_shape)}",
        )
    num_classes = w_shape[0]
    if not v.is_integer(xp, labels.dtype):
        raise v.type_error(
            "labels", "integer class indices", f"labels with dtype {v.dtype_name(labels.dtype)}"
        )
    label_shape = v.static_shape(labels)
    if len(label_shape) != 1 or not v.shapes_match(label_shape, in_shape[:1]):
        raise v.value_error(
            "labels",
            f"integer class indices of shape ({in_shape[0]},) (one per row of `inputs`)",
            f"labels of shape {v.shape_str(label_shape)}",
        )
    chunk = _check_chunk_size(chunk_size)
    concrete = validate and all(ns.is_concrete(a) for a in (inputs, weight, labels))
    if concrete:
        v.check_no_nan("inputs", ns.to_numpy(inputs))
        v.check_no_nan("weight", ns.to_numpy(weight))
        if num_classes is not None:
            v.check_class_indices(ns.to_numpy(labels), int(num_classes), ignore)

    inp, x, w, b = prep.projection_inputs(
        xp,
        inputs,
        weight,
        labels,
        bias,
        num_classes=num_classes,
        ignore=ignore,
        concrete=concrete,
        validate=validate,
    )
    idx = inp.labels

    n = in_shape[0]
    if chunk is None:
        chunk = max(1, CHUNK_ELEMENTS // int(num_classes)) if num_classes else 1
    if n is not None:
        chunk = max(1, min(chunk, int(n)))
    losses = per_row_losses(xp, x, w, b, idx, eps, chunk)
    weights = softmax_sample_weight(inp, class_weight, sample_weight)
    values = prep.multiply(weights, losses)
    return prep.finish(inp, values, weights, reduction)


def _check_same_framework(name: str, value: Array, inputs: Array) -> None:
    if not ns.is_array(value) or not prep._same_framework(value, ns.namespace(inputs)):
        raise v.type_error(
            name,
            f"an array of the same framework as `inputs` ({type(inputs).__name__})",
            f"{name} of type {type(value).__name__}",
        )


def _check_chunk_size(chunk_size: Any) -> int | None:
    if chunk_size is None:
        return None
    expected, received = "a positive integer or None", f"chunk_size={chunk_size!r}"
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, numbers.Integral):
        raise v.type_error("chunk_size", expected, received)
    if int(chunk_size) < 1:
        raise v.value_error("chunk_size", expected, received)
    return int(chunk_size)


def per_row_losses(
    xp: Any, x: Array, w: Array, b: Array | None, y: Array, eps: float, chunk: int
) -> Array:
    """Unweighted per-row softmax cross-entropy of ``x @ w.T + b``, chunked over rows."""
    if ns.is_torch_namespace(xp):
        return _torch_function().apply(x, w, b, y, eps, chunk)
    if ns.is_jax_namespace(xp):
        import jax.numpy as jnp

        bias = jnp.zeros((w.shape[0],), dtype=x.dtype) if b is None else b
        return _jax_function()(x, w, bias, y, eps, chunk)
    return _generic_losses(xp, x, w, b, y, eps, chunk)


def _generic_losses(
    xp: Any, x: Array, w: Array, b: Array | None, y: Array, eps: float, chunk: int
) -> Array:
    """Chunked forward over the Array API (autodiff, where any, goes through it)."""
    n = x.shape[0]
    wt = xp.matrix_transpose(w)
    starts = [0] if n is None else list(range(0, int(n), chunk))
    parts = []
    for start in starts:
        stop = None if n is None else min(start + chunk, int(n))
        logits = xp.matmul(x[start:stop, ...], wt)
        if b is not None:
            logits = logits + b
        parts.append(
            _core.softmax_cross_entropy_indices(
                logits, y[start:stop], axis=1, label_smoothing=eps, xp=xp
            )
        )
    return parts[0] if len(parts) == 1 else xp.concat(parts, axis=0)


# ----------------------------------------------------------------------------- PyTorch


@functools.cache
def _torch_function() -> Any:
    import torch

    class LinearCrossEntropy(torch.autograd.Function):
        """Chunked forward; the backward recomputes chunk logits from the saved lse."""

        @staticmethod
        def forward(ctx: Any, x: Any, w: Any, b: Any, y: Any, eps: float, chunk: int) -> Any:
            n = x.shape[0]
            out = x.new_empty(n)
            lse_all = x.new_empty(n)
            wt = w.t()
            for s in range(0, n, chunk):
                e = min(s + chunk, n)
                xc = x[s:e]
                logits = xc @ wt if b is None else torch.addmm(b, xc, wt)
                lse = torch.logsumexp(logits, dim=1)
                target = logits.gather(1, y[s:e, None]).squeeze(1)
                loss = lse - target
                if eps:
                    loss = (1.0 - eps) * loss + eps * (lse - logits.mean(dim=1))
                out[s:e] = loss
                lse_all[s:e] = lse
            ctx.save_for_backward(x, w, b, y, lse_all)
            ctx.eps = eps
            ctx.chunk = chunk
            return out

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            x, w, b, y, lse_all = ctx.saved_tensors
            eps, chunk = ctx.eps, ctx.chunk
            need_x, need_w, need_b = ctx.needs_input_grad[:3]
            n, num_classes = x.shape[0], w.shape[0]
            gx = torch.empty_like(x) if need_x else None
            gw = torch.zeros_like(w) if need_w else None
            gb = torch.zeros_like(b) if (b is not None and need_b) else None
            wt = w.t()
            for s in range(0, n, chunk):
                e = min(s + chunk, n)
                xc = x[s:e]
                p = xc @ wt if b is None else torch.addmm(b, xc, wt)
                p.sub_(lse_all[s:e, None]).exp_()  # softmax, one exp per logit, in place
                gc = g[s:e, None]
                p.mul_(gc)
                p.scatter_add_(1, y[s:e, None], gc * -(1.0 - eps))
                if eps:
                    p.sub_(gc * (eps / num_classes))
                if gx is not None:
                    torch.mm(p, w, out=gx[s:e])
                if gw is not None:
                    gw.addmm_(p.t(), xc)
                if gb is not None:
                    gb.add_(p.sum(dim=0))
            return gx, gw, gb, None, None, None

    return LinearCrossEntropy


# ----------------------------------------------------------------------------- JAX


@functools.cache
def _jax_function() -> Any:
    import jax
    import jax.numpy as jnp

    def chunks(x: Any, y: Any, chunk: int) -> tuple[Any, Any, int]:
        n = x.shape[0]
        k = -(-n // chunk)
        pad = k * chunk - n
        if pad:
            x = jnp.pad(x, ((0, pad), (0, 0)))
            y = jnp.pad(y, (0, pad))
        return x.reshape(k, chunk, x.shape[1]), y.reshape(k, chunk), n

    def forward(x: Any, w: Any, b: Any, y: Any, eps: float, chunk: int) -> tuple[Any, Any]:
        xs, ys, n = chunks(x, y, chunk)

        def body(carry: Any, xy: Any) -> tuple[Any, Any]:
            xc, yc = xy
            logits = xc @ w.T + b
            lse = jax.nn.logsumexp(logits, axis=1)
            target = jnp.take_along_axis(logits, yc[:, None], axis=1)[:, 0]
            loss = lse - target
            if eps:
                loss = (1.0 - eps) * loss + eps * (lse - jnp.mean(logits, axis=1))
            return carry, (loss, lse)

        _, (loss, lse) = jax.lax.scan(body, None, (xs, ys))
        return loss.reshape(-1)[:n], lse.reshape(-1)[:n]

    @functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5))
    def linear_ce(x: Any, w: Any, b: Any, y: Any, eps: float, chunk: int) -> Any:
        return forward(x, w, b, y, eps, chunk)[0]

    def fwd(x: Any, w: Any, b: Any, y: Any, eps: float, chunk: int) -> Any:
        loss, lse = forward(x, w, b, y, eps, chunk)
        return loss, (x, w, b, y, lse)

    def bwd(eps: float, chunk: int, res: Any, g: Any) -> Any:
        x, w, b, y, lse = res
        n, num_classes = x.shape[0], w.shape[0]
        xs, ys, _ = chunks(x, y, chunk)
        pad = xs.shape[0] * chunk - n
        gs = jnp.pad(g, (0, pad)).reshape(-1, chunk)
        ls = jnp.pad(lse, (0, pad)).reshape(-1, chunk)

        def body(carry: Any, item: Any) -> tuple[Any, Any]:
            gw, gb = carry
            xc, yc, gc, lc = item
            p = jnp.exp(xc @ w.T + b - lc[:, None]) * gc[:, None]
            onehot = jax.nn.one_hot(yc, num_classes, dtype=p.dtype)
            dlogits = p - onehot * ((1.0 - eps) * gc[:, None])
            if eps:
                dlogits = dlogits - (eps / num_classes) * gc[:, None]
            return (gw + dlogits.T @ xc, gb + jnp.sum(dlogits, axis=0)), dlogits @ w

        init = (jnp.zeros_like(w), jnp.zeros_like(b))
        (gw, gb), gx = jax.lax.scan(body, init, (xs, ys, gs, ls))
        return gx.reshape(-1, x.shape[1])[:n], gw, gb, None

    linear_ce.defvjp(fwd, bwd)
    return linear_ce
