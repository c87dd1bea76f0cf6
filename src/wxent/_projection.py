"""The losses that project features onto the classes themselves.

:func:`linear_cross_entropy` is softmax cross-entropy of ``inputs @ weight.T + bias``
without holding the ``(N, V)`` logits; :func:`sampled_softmax_cross_entropy` estimates it
from a log-uniform sample of classes. Both share one input check
(:func:`_projection_inputs`) and one value check (:func:`_check_values`: a single flag
computed in the arrays' framework, on their device, read once). The PyTorch and JAX
kernels of the linear loss live in :mod:`wxent._fastpaths.linear`; NumPy,
array-api-strict and TensorFlow use the chunked Array API forward below (TensorFlow
differentiates it with its own autodiff).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np

from wxent import _fx, _reduction
from wxent import _namespace as ns
from wxent import _prepare as prep
from wxent import _validation as v
from wxent._core import numerics
from wxent._core import softmax as core_softmax
from wxent._fastpaths import linear as fast
from wxent._fastpaths import select
from wxent._sampler import candidates
from wxent._softmax import softmax_sample_weight
from wxent._types import Array


@dataclass
class _Inputs(prep.Inputs):
    """Prepared inputs whose ``logits`` field holds the uncast ``inputs (N, D)``.

    ``dtype`` is the compute dtype (float32 for 16-bit inputs): weights, biases and
    losses use it, while the matmuls run in the inputs' own dtype.
    """

    compute_dtype: Any = None
    classes_are: ClassVar[str | None] = "(the rows of `weight`)"
    scores_are: ClassVar[str] = "inputs"

    @property
    def dtype(self) -> Any:
        """The compute dtype."""
        return self.compute_dtype


class _Projection(NamedTuple):
    inp: _Inputs
    x: Array
    w: Array
    b: Array | None
    num_classes: int | None
    n: int | None
    ignore: int | None
    bad_labels: Array | None  # (N,) bool, when values are checked


def _host_labels(labels: Any, inputs: Array) -> Any:
    """Labels given as a Python list (as every wxent loss takes them) on the inputs' device."""
    if isinstance(labels, (list, tuple)) and ns.is_array(inputs):
        v.check_logits(inputs, "inputs")
        return prep.labels_array(labels, inputs)
    return labels


def _projection_inputs(
    inputs: Array,
    weight: Array,
    labels: Array,
    bias: Any,
    *,
    reduction: Any,
    validate: Any,
    ignore_index: Any,
    known_classes: bool = False,
) -> _Projection:
    """Check and prepare ``inputs (N, D)``, ``weight (V, D)``, ``labels (N,)`` and ``bias (V,)``.

    ``inputs`` and ``weight`` keep their dtype (casting them is the kernels' choice);
    labels become gather-ready indices (ignored ones 0, out-of-range ones clamped when
    values are checked, so that no gather reads out of bounds before the check fires).
    """
    xp = v.check_logits(inputs, "inputs")
    v.check_logits(weight, "weight")
    if not ns.is_array(weight) or not prep._same_framework(weight, xp):
        raise v.type_error(
            "weight",
            f"an array of the same framework as `inputs` ({type(inputs).__name__})",
            f"weight of type {type(weight).__name__}",
        )
    v.check_labels_array(labels, inputs, "inputs")
    v.check_same_device("weight", weight, inputs, "inputs")
    v.check_same_device("labels", labels, inputs, "inputs")
    v.check_reduction(reduction)
    validate = v.check_bool("validate", validate)
    ignore = v.check_optional_int("ignore_index", ignore_index)
    in_shape, w_shape = v.static_shape(inputs), v.static_shape(weight)
    if len(in_shape) != 2:
        raise v.value_error(
            "inputs", "a 2-D array (N, D)", f"inputs of shape {v.shape_str(in_shape)}"
        )
    if (
        len(w_shape) != 2
        or not v.shapes_match(w_shape[1:], in_shape[1:])
        or (known_classes and w_shape[0] is None)
    ):
        raise v.value_error(
            "weight",
            f"a 2-D array (V, D) with D={in_shape[1]} (the last dimension of `inputs`)",
            f"weight of shape {v.shape_str(w_shape)}",
        )
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
    num_classes = w_shape[0]
    v.check_has_classes(w_shape, 0, "weight")
    concrete = validate and all(ns.is_concrete(a) for a in (inputs, weight, labels))
    idx, valid = prep.class_indices(xp, labels, ignore)
    bad = None
    if num_classes is not None:  # ignored labels are 0: never bad
        bad = idx < 0
        if int(num_classes) <= np.iinfo(v.dtype_name(idx.dtype)).max:
            bad = bad | (idx >= num_classes)
        idx = xp.where(bad, xp.zeros_like(idx), idx)
    inp = _Inputs(
        xp,
        inputs,
        inputs.dtype,
        1,
        num_classes,
        concrete,
        idx,
        valid,
        True,
        in_shape[:1],
        validate,
        compute_dtype=prep._compute_dtype(xp, inputs.dtype),
    )
    b = None
    if bias is not None:
        b_shape = v.static_shape(bias) if hasattr(bias, "shape") else np.shape(bias)
        if len(b_shape) != 1 or not v.shapes_match(b_shape, (num_classes,)):
            received = f"bias of shape {v.shape_str(b_shape)}"
            raise v.value_error("bias", f"one value per class, shape ({num_classes},)", received)
        b = prep.config_array("bias", bias, inp, check_values=False)
    if not concrete:  # traced or validate=False: nothing raises, an out-of-range label
        inp.out_of_range, bad = bad, None  # gives a NaN loss (never a wrapped index)
    return _Projection(inp, inputs, weight, b, num_classes, in_shape[0], ignore, bad)


def _check_values(
    p: _Projection,
    losses: Array,
    labels: Array,
    weights: Array | None,
    factors: tuple[Array, Array | tuple[Array, ...]],
) -> None:
    """Out-of-range labels, NaN losses and infinite factors: one flag, read with the rest.

    A NaN in ``inputs`` or ``weight`` (or a NaN logit from them) makes the per-row loss
    NaN, so the losses are checked, not every input. Only rows that count are read:
    the others' inputs were set to 0 (:func:`~wxent._prepare.zero_rows`), and 0 times an
    infinite weight is a NaN logit that counts nothing. Only when the flag is set are the
    inputs inspected (on their device) to name the culprit, with the messages of
    :mod:`wxent._validation`. Infinite logits give no NaN (every path takes the softmax's
    limits there, as the unfused loss does), except where the unfused loss has one too.

    ``factors`` are the matmul's operands as the caller gave them (``inputs`` with the rows
    that count nothing set to 0, and ``weight``, or the rows of it that the call reads):
    an infinite entry there is an error, since its gradient through the matmul meets
    ``0 * inf`` (a NaN gradient for its partner; the loss alone would take its limits).
    Infinite logits from the bias or from a matmul beyond the dtype's range are fine.
    """
    inp = p.inp
    if not inp.validate:
        return
    xp = inp.xp
    nan = xp.isnan(losses)
    keep = prep.counted(inp, weights)
    if keep is not None:
        nan = xp.logical_and(nan, keep)
    flag = xp.any(nan)
    for factor in factors:
        infinite = _any_infinite(xp, factor)
        if infinite is not None:
            flag = flag | infinite
    if p.bad_labels is not None:
        flag = flag | xp.any(p.bad_labels)
    inp.add_check(flag, lambda: _diagnose(p, labels, nan, factors))


def _any_infinite(xp: Any, factor: Array | tuple[Array, ...]) -> Array | None:
    """Whether ``factor`` (an array, or a tuple of arrays) holds ``+-inf``: a 0-d flag.

    No temporary of the array's size is made (``abs(a) == inf`` would be two: gigabytes
    at large vocabularies). PyTorch computes one reduction, ``vector_norm(a, inf) == inf``,
    outside autocast (which would compute the norm from a float32 copy) and outside the
    autograd graph; NumPy, JAX (eager, where each operation is materialised) and
    TensorFlow take the maximum and the minimum (a NaN makes both comparisons false: the
    NaN check reports it). ``None`` when there is nothing to check (empty arrays).
    """
    torch = ns.torch_of(xp)
    flag = None
    for a in factor if isinstance(factor, tuple) else (factor,):
        if torch is not None:
            if a.numel() == 0:
                continue
            with torch.no_grad(), ns.no_autocast(a):
                part = torch.linalg.vector_norm(a.detach(), ord=math.inf) == math.inf
        elif 0 in v.static_shape(a):  # (an unknown size is reduced: TF's empty max is -inf)
            continue
        else:
            part = (xp.max(a) == math.inf) | (xp.min(a) == -math.inf)
        flag = part if flag is None else flag | part
    return flag


def _diagnose(
    p: _Projection, labels: Array, nan: Array, factors: tuple[Array, Array | tuple[Array, ...]]
) -> None:
    """The error path of :func:`_check_values`: name the culprit (host reads allowed)."""
    xp = p.inp.xp
    for name, arr in (("inputs", p.x), ("weight", p.w), ("bias", p.b)):
        if arr is None:
            continue
        count = int(xp.sum(xp.astype(xp.isnan(arr), xp.int32)))
        if count:
            raise v.value_error(name, "numbers without NaN", f"{count} NaN value(s) in `{name}`")
    for name, arr, full in zip(("inputs", "weight"), factors, (p.x, p.w), strict=True):
        infinite = _any_infinite(xp, arr)
        if infinite is not None and bool(infinite):  # (the count: of the whole array)
            count = int(xp.sum(xp.astype(xp.abs(full) == math.inf, xp.int32)))
            raise v.value_error(
                name,
                "finite numbers (the gradient through `inputs @ weight.T` of an infinite "
                "entry is 0 * inf; infinite logits belong in `bias`)",
                f"{count} infinite value(s) in `{name}`",
            )
    bad = p.bad_labels
    if bad is not None and bool(xp.any(bad)):
        count = int(xp.sum(xp.astype(bad, xp.int32)))
        first = int(labels[int(xp.argmax(xp.astype(bad, xp.int32)))])
        raise v.value_error(
            "labels",
            f"class indices in [0, {p.num_classes})"
            + ("" if p.ignore is None else f" or ignore_index={p.ignore}"),
            f"label value {first} ({count} out-of-range label(s))",
        )
    count = int(xp.sum(xp.astype(nan, xp.int32)))
    raise v.value_error(
        "inputs",
        "inputs, weight and bias whose logits `inputs @ weight.T + bias` give no NaN loss",
        f"a NaN loss in {count} row(s) (for instance from +inf and -inf logits in a row)",
    )


# ----------------------------------------------------------------------------- linear


@_fx.leaf
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
    ``chunk_size`` at a time. On PyTorch and JAX the matmuls run in the inputs' dtype
    (bf16/fp16 operands with float32 accumulation; no float32 copy of ``inputs`` or
    ``weight``), the softmax and the loss in float32, and for every reduction but
    ``"none"`` the gradient is computed during the forward pass when one is needed (three
    matmuls per chunk for forward and backward together; the backward pass only scales).
    That gradient cannot be differentiated again (a clear ``NotImplementedError``). With
    ``reduction="none"`` the backward pass recomputes each chunk's logits. On NumPy and
    TensorFlow the forward is chunked and TensorFlow's autodiff keeps the chunks.
    Inside ``torch.autocast``, float32 ``inputs`` and ``weight`` are first cast to the
    autocast dtype (the matmuls ``F.linear`` would run there); the result stays float32.

    Infinite logits (an infinite bias, or a matmul beyond the dtype's range) take the
    limits of the unfused loss on every path, checked or not, eager or traced: a row
    holding ``+inf`` costs 0 (one ``+inf``, on the label), ``log k`` (the label among
    ``k`` tied ones) or ``inf`` (the label elsewhere), with gradient 0 in that row. An
    infinite entry of ``inputs`` or ``weight`` (in a row that counts) is an error in a
    checked eager call (a ``ValueError`` naming it): the gradient through the matmul
    multiplies it by the logits' gradient, 0 in those rows, and ``0 * inf`` would be a
    NaN gradient for the other factor (``inputs`` for an infinite weight), in every row;
    an infinite parameter or feature is a diverged model, and infinite logits belong in
    ``bias`` (``-inf`` masks a class). Unchecked and traced calls take the loss's limits
    there too, and that gradient is NaN. NaN logits (and rows of only ``-inf``) give a
    NaN loss, an error in a checked eager call. Rows that count nothing (ignored, or of
    weight 0 with a non-finite input) have their inputs set to 0 first: no gradient
    reaches those inputs.

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
        chunk_size: rows per chunk; ``None`` picks ``max(1, 2**23 // V)`` rows on CPUs
            (32 MiB of float32 logits) and a multiple of 256 rows holding about 2**27
            logits on accelerators (1024 rows at V=131072).
        reduction: ``"none"``, ``"sum"``, ``"mean"`` or ``"weighted_mean"``, as for
            every wxent loss.
        validate: check label values, that no input gives a NaN loss, and that
            ``inputs`` and ``weight`` are finite, on concrete arrays (one flag, computed on
            the arrays' device, read once).

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
    labels = _host_labels(labels, inputs)
    p = _projection_inputs(
        inputs,
        weight,
        labels,
        bias,
        reduction=reduction,
        validate=validate,
        ignore_index=ignore_index,
    )
    eps = v.check_fraction("label_smoothing", label_smoothing)
    chunk = _check_chunk_size(chunk_size)
    inp, xp = p.inp, p.inp.xp
    weights = softmax_sample_weight(inp, class_weight, sample_weight, reduction)
    p = p._replace(x=prep.zero_rows(inp, weights, p.x))  # NaN where nothing counts: 0
    factors = (p.x, p.w)  # (as given: before any cast)
    # torch.func transforms (vmap writes no batched chunk into a plain buffer) and
    # forward-mode dual tensors (the chunks' autograd functions have no forward rule,
    # the Triton chunk step would drop the tangent): the generic path
    torch_path = (
        ns.is_torch_namespace(xp)
        and not select._transforms_active()
        and not select.forward_ad(p.x, p.w, p.b)
    )
    if torch_path and ns.torch_autocast_dtype(p.x) is not None:
        p = _autocast(p)  # as the unfused `linear` would run under torch.autocast
    if torch_path and p.x.dtype != p.w.dtype:  # torch's matmuls take one dtype
        common = xp.result_type(p.x, p.w)
        p = p._replace(x=prep._cast(xp, p.x, common), w=prep._cast(xp, p.w, common))
    jax_path = ns.is_jax_namespace(xp)
    if (torch_path or jax_path) and p.num_classes is not None and p.n is not None:
        if chunk is None:
            accelerator = fast.on_accelerator(p.x, torch_path)
            chunk = fast.default_chunk(
                p.num_classes, p.n, accelerator=accelerator, torch_path=torch_path
            )
        chunk = max(1, min(chunk, p.n))
        args = (torch_path, p.x, p.w, p.b, inp.labels)
        if reduction == "none":
            losses = fast.rows(*args, eps, chunk)
            _check_values(p, losses, labels, weights, factors)
            return prep.finish(inp, prep.weigh(inp, weights, losses), weights, reduction)
        terms = _reduction.take_terms_request()
        coef, den = _coefficients(inp, weights, reduction, terms)
        total, losses = fast.total(*args, coef, eps, chunk)
        _check_values(p, losses, labels, weights, factors)
        prep.settle(inp, total)  # the one host read: every pending check and NaN in total
        if terms:
            return prep.terms_in_compute_dtype(xp, (total, den), inp.out_dtype)
        return prep._cast(xp, total, inp.out_dtype)
    if chunk is None:
        chunk = max(1, fast.CPU_CHUNK_ELEMENTS // int(p.num_classes)) if p.num_classes else 1
    x, w = prep._cast(xp, p.x, inp.dtype), prep._cast(xp, p.w, inp.dtype)
    # (NumPy: a matmul beyond the dtype's range gives infinite logits, whose limits are taken)
    losses = prep.quietly(inp, lambda: _generic_losses(xp, x, w, p.b, inp.labels, eps, chunk))
    _check_values(p, losses, labels, weights, factors)
    return prep.finish(inp, prep.weigh(inp, weights, losses), weights, reduction)


def _autocast(p: Any) -> Any:
    """``inputs`` and ``weight`` in ``torch.autocast``'s dtype (float32 ones only).

    Inside an autocast region the unfused ``F.linear(inputs, weight, bias)`` runs in
    bfloat16 or float16; the fused loss then is the one of the inputs cast to that dtype
    (16-bit matmuls with float32 accumulation, float32 softmax; without a bias, exactly
    :func:`softmax_cross_entropy` of the unfused logits), returned in the caller's
    dtype as torch's own losses are under autocast. Gradients reach the caller's
    float32 tensors through the casts.
    """
    import torch

    low = ns.torch_autocast_dtype(p.x)

    def cast(t: Any) -> Any:
        return t.to(low) if t is not None and t.dtype == torch.float32 else t

    return p._replace(x=cast(p.x), w=cast(p.w))  # (the bias stays in the compute dtype)


def _coefficients(
    inp: _Inputs, weights: Array | None, reduction: Any, terms: bool
) -> tuple[Array, Array]:
    """Per-row coefficients ``c`` with ``loss = sum(c * l)``, and the reduction's denominator.

    ``c = w * valid / denominator`` (the denominator of :mod:`wxent._reduction`, a zero
    one giving ``c = 0``); for ``"sum"`` and terms requests ``c = w * valid``.
    """
    xp = inp.xp
    coef = xp.ones_like(inp.labels, dtype=inp.dtype)
    if inp.out_of_range is not None:  # traced labels outside [0, V): a NaN loss
        coef = xp.where(inp.out_of_range, xp.full_like(coef, math.nan), coef)
    if weights is not None:
        coef = coef * weights
    if inp.valid is not None:
        coef = xp.where(inp.valid, coef, xp.zeros_like(coef))
    zeros = xp.zeros_like(coef)
    den = _reduction.reduce(xp, zeros, weights, inp.valid, reduction, terms=True).denominator
    if reduction != "sum" and not terms:
        coef = coef / xp.where(den == 0, xp.ones_like(den), den)
    return coef, den


def _check_chunk_size(chunk_size: Any) -> int | None:
    if chunk_size is None:
        return None
    expected, received = "a positive integer or None", f"chunk_size={chunk_size!r}"
    number = v.integer_value(chunk_size)
    if number is None:
        raise v.type_error("chunk_size", expected, received)
    if number < 1:
        raise v.value_error("chunk_size", expected, received)
    return number


def _generic_losses(
    xp: Any, x: Array, w: Array, b: Array | None, y: Array, eps: float, chunk: int
) -> Array:
    """Chunked forward over the Array API (autodiff, where any, goes through it)."""
    n = v.static_shape(x)[0]  # None: unknown or symbolic (jax.export), one chunk
    wt = xp.matrix_transpose(w)
    starts = [0] if n is None else (list(range(0, int(n), chunk)) or [0])
    parts = []
    for start in starts:
        stop = None if n is None else min(start + chunk, int(n))
        logits = xp.matmul(x[start:stop, ...], wt)
        if b is not None:
            logits = logits + b
        parts.append(
            core_softmax.softmax_cross_entropy_indices(
                logits, y[start:stop], axis=1, label_smoothing=eps, xp=xp
            )
        )
    return parts[0] if len(parts) == 1 else xp.concat(parts, axis=0)


# ----------------------------------------------------------------------------- sampled


@_fx.leaf
def sampled_softmax_cross_entropy(
    inputs: Array,
    weight: Array,
    labels: Array,
    *,
    num_sampled: int,
    bias: Array | None = None,
    remove_accidental_hits: bool = True,
    seed: int | None = None,
    sampled_values: tuple[Any, Any, Any] | None = None,
    class_weight: Any = None,
    sample_weight: Any = None,
    ignore_index: int | None = None,
    reduction: str = "mean",
    validate: bool = True,
) -> Array:
    """Sampled softmax cross-entropy over ``V`` classes, for training with very many classes.

    ``num_sampled`` distinct classes ``S`` are drawn for the whole batch from the
    log-uniform distribution ``P(k) = log((k + 2) / (k + 1)) / log(V + 1)`` without
    replacement (draws are repeated until ``num_sampled`` distinct classes are found,
    after ``T`` draws). With ``x_ik = inputs_i . weight_k + bias_k`` and the expected
    counts ``Q(k) = 1 - (1 - P(k))^T``, per row::

        l_i = w_i * [logsumexp(u_i0, u_i1, ..., u_iS) - u_i0]
        u_i0 = x_i,y_i - log Q(y_i);   u_ij = x_i,S_j - log Q(S_j)

    where, with ``remove_accidental_hits``, sampled classes equal to ``y_i`` are left
    out of row ``i``. ``w_i = sample_weight[i] * class_weight[y_i]``; the reductions are
    those of every wxent loss. Given ``sampled_values`` (the triple returned by
    ``tf.random.log_uniform_candidate_sampler``) the per-row losses equal
    ``tf.nn.sampled_softmax_loss`` with the same triple (one true class per row).

    The draw is made on the host with NumPy (``seed`` makes it deterministic). Under
    ``jax.jit`` or ``tf.function`` it happens once, at trace time, and ``torch.compile``
    cannot trace it: pass a fresh ``sampled_values`` per step (from ``wxent._sampler``'s
    ``log_uniform_sample`` and ``expected_count``, or TensorFlow's sampler). Use the
    full loss (:func:`wxent.linear_cross_entropy`) for evaluation.

    Args:
        inputs: floating ``(N, D)`` features.
        weight: floating ``(V, D)`` class embeddings, same framework.
        labels: integer ``(N,)`` true classes.
        num_sampled: number of distinct sampled classes, in ``[1, V]``.
        bias: optional ``(V,)`` class biases.
        remove_accidental_hits: leave a row's true class out of its sampled classes.
        seed: integer seed of the sampler (``None``: fresh randomness each call).
        sampled_values: ``(sampled (S,), true_expected_count (N,) or (N, 1),
            sampled_expected_count (S,))`` to use instead of drawing.
        class_weight: one weight per class ``(V,)`` (weights a row by its true class).
        sample_weight: a scalar or one weight per row ``(N,)``.
        ignore_index: an integer label to ignore.
        reduction: ``"none"``, ``"sum"``, ``"mean"`` or ``"weighted_mean"``.
        validate: check label values, that no input gives a NaN loss, and that
            ``inputs`` and the rows of ``weight`` the call reads are finite (as for
            :func:`linear_cross_entropy`), on concrete arrays (one flag, read once).

    Returns:
        The loss in the inputs' framework and dtype: 0-d, or ``(N,)`` for
        ``reduction="none"``.

    Raises:
        TypeError: for wrong types or dtypes.
        ValueError: for wrong shapes or values.

    Example:
        >>> import numpy as np, wxent
        >>> rng = np.random.default_rng(0)
        >>> h = rng.normal(size=(4, 3)).astype(np.float32)
        >>> w = rng.normal(size=(1000, 3)).astype(np.float32)
        >>> y = np.array([1, 5, 2, 900])
        >>> a = wxent.sampled_softmax_cross_entropy(h, w, y, num_sampled=20, seed=1)
        >>> b = wxent.sampled_softmax_cross_entropy(h, w, y, num_sampled=20, seed=1)
        >>> bool(a == b) and a.shape == ()
        True
    """
    labels = _host_labels(labels, inputs)
    p = _projection_inputs(
        inputs,
        weight,
        labels,
        bias,
        reduction=reduction,
        validate=validate,
        ignore_index=ignore_index,
        known_classes=True,
    )
    remove_hits = v.check_bool("remove_accidental_hits", remove_accidental_hits)
    seed = v.check_optional_int("seed", seed)
    if seed is not None and seed < 0:  # NumPy's generators take none
        raise v.value_error("seed", "a non-negative integer or None", f"seed={seed}")
    num_classes = int(p.num_classes or 0)
    sampled_count = v.integer_value(num_sampled)
    if sampled_count is None or not 1 <= sampled_count <= num_classes:
        expected = f"an integer in [1, {num_classes}] (the number of classes)"
        if sampled_count is not None:
            raise v.value_error("num_sampled", expected, f"num_sampled={num_sampled!r}")
        raise v.type_error("num_sampled", expected, f"num_sampled={num_sampled!r}")
    inp, xp = p.inp, p.inp.xp
    weights = softmax_sample_weight(inp, class_weight, sample_weight, reduction)
    p = p._replace(x=prep.zero_rows(inp, weights, p.x))  # NaN where nothing counts: 0
    x, w, b, idx = prep._cast(xp, p.x, inp.dtype), prep._cast(xp, p.w, inp.dtype), p.b, inp.labels
    sampled, log_q_true, log_q_sampled = candidates(
        inp, sampled_values, sampled_count, num_classes, seed, p.n
    )
    w_true, w_sampled = xp.take(w, idx, axis=0), xp.take(w, sampled, axis=0)
    true_logits = prep.quietly(inp, lambda: xp.sum(x * w_true, axis=1))
    sampled_logits = prep.quietly(inp, lambda: xp.matmul(x, xp.matrix_transpose(w_sampled)))
    if b is not None:
        true_logits = true_logits + xp.take(b, idx, axis=0)
        sampled_logits = sampled_logits + xp.take(b, sampled, axis=0)
    # log Q is subtracted from the shifted logits x - max(x) of each row, not from x, where
    # it rounds away at large logits (float32 logits 1e8 are 8 apart); softmax is
    # shift-invariant.
    logits = xp.concat([xp.expand_dims(true_logits, axis=1), sampled_logits], axis=1)
    z = prep.quietly(inp, lambda: numerics.shifted_logits(logits, axis=1, xp=xp))
    true_z = z[:, :1] - xp.expand_dims(log_q_true, axis=1)
    sampled_z = z[:, 1:] - log_q_sampled
    if remove_hits:
        hit = xp.expand_dims(idx, axis=1) == xp.expand_dims(xp.astype(sampled, idx.dtype), axis=0)
        sampled_z = xp.where(hit, xp.full_like(sampled_z, -math.inf), sampled_z)
    logits = xp.concat([true_z, sampled_z], axis=1)
    losses = core_softmax.softmax_cross_entropy_indices(
        logits, xp.zeros_like(idx), axis=1, label_smoothing=0.0, xp=xp
    )
    # the rows of `weight` the call reads (the true classes' of rows that count, as their
    # inputs are 0 otherwise, and the sampled ones), masked only for a checked call
    true_rows = w_true
    if inp.validate and inp.valid is not None:
        true_rows = xp.where(xp.expand_dims(inp.valid, axis=1), w_true, 0.0)
    _check_values(p, losses, labels, weights, (p.x, (true_rows, w_sampled)))
    return prep.finish(inp, prep.weigh(inp, weights, losses), weights, reduction)
