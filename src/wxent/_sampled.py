"""Sampled softmax cross-entropy with a log-uniform (Zipfian) candidate sampler.

A training-time estimate of the full softmax cross-entropy over very many classes: the
true class competes with ``num_sampled`` classes drawn once per batch from the
log-uniform distribution ``P(k) = log((k + 2) / (k + 1)) / log(V + 1)`` (class 0 the
most frequent: sort classes by frequency), without replacement. The logits are
corrected by ``-log Q`` (Q the expected count of a class in the sample) and sampled
classes equal to a row's true class are removed from that row ("accidental hits").
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from wxent import _core
from wxent import _namespace as ns
from wxent import _prepare as prep
from wxent import _validation as v
from wxent._losses import softmax_sample_weight

Array = Any


def log_uniform_probability(k: np.ndarray, num_classes: int) -> np.ndarray:
    """``P(k) = log((k + 2) / (k + 1)) / log(V + 1)`` for class ids ``k`` in ``[0, V)``."""
    k = np.asarray(k, dtype=np.float64)
    return np.log1p(1.0 / (k + 1.0)) / math.log(num_classes + 1.0)


def log_uniform_sample(
    num_sampled: int, num_classes: int, *, seed: int | None = None
) -> tuple[np.ndarray, int]:
    """Draw ``num_sampled`` distinct classes from the log-uniform distribution.

    Classes are drawn one at a time (``floor(exp(u * log(V + 1))) - 1`` with ``u``
    uniform, which has the distribution above) and repeats are rejected until
    ``num_sampled`` distinct classes are found.

    Returns:
        The distinct classes (int64, in draw order) and the number of draws made.
    """
    rng = np.random.default_rng(seed)
    log_range = math.log(num_classes + 1.0)
    found: dict[int, None] = {}
    tries = 0
    while len(found) < num_sampled:
        batch = max(2 * (num_sampled - len(found)), 16)
        draws = np.floor(np.exp(rng.uniform(size=batch) * log_range)).astype(np.int64) - 1
        draws = np.clip(draws, 0, num_classes - 1)
        for k in draws.tolist():
            tries += 1
            found.setdefault(k, None)
            if len(found) == num_sampled:
                break
    return np.fromiter(found, dtype=np.int64, count=num_sampled), tries


def expected_count(probability: Any, tries: int, *, xp: Any = np) -> Any:
    """Expected number of times a class appears in a unique sample: ``1 - (1 - p)^tries``.

    The approximation TensorFlow's unique samplers document: the chance that a class
    is drawn at least once in ``tries`` independent draws.
    """
    return -xp.expm1(tries * xp.log1p(-probability))


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
    ``jax.jit`` or ``tf.function`` it happens once, at trace time: pass a fresh
    ``sampled_values`` per step (from :func:`log_uniform_sample` and
    :func:`expected_count`, or TensorFlow's sampler) to resample. Use the full loss
    (:func:`wxent.linear_cross_entropy`) for evaluation.

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
        validate: check label and weight values on concrete arrays.

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
    xp = v.check_logits(inputs, "inputs")
    v.check_logits(weight, "weight")
    if not ns.is_array(weight) or not prep._same_framework(weight, xp):
        raise v.type_error(
            "weight",
            f"an array of the same framework as `inputs` ({type(inputs).__name__})",
            f"weight of type {type(weight).__name__}",
        )
    v.check_labels_array(labels, inputs)
    v.check_reduction(reduction)
    validate = v.check_bool("validate", validate)
    remove_hits = v.check_bool("remove_accidental_hits", remove_accidental_hits)
    ignore = v.check_optional_int("ignore_index", ignore_index)
    seed = v.check_optional_int("seed", seed)
    in_shape = v.static_shape(inputs)
    w_shape = v.static_shape(weight)
    if len(in_shape) != 2:
        raise v.value_error(
            "inputs", "a 2-D array (N, D)", f"inputs of shape {v.shape_str(in_shape)}"
        )
    if len(w_shape) != 2 or not v.shapes_match(w_shape[1:], in_shape[1:]) or w_shape[0] is None:
        raise v.value_error(
            "weight",
            f"a 2-D array (V, D) with D={in_shape[1]} (the last dimension of `inputs`)",
            f"weight of shape {v.shape_str(w_shape)}",
        )
    num_classes = int(w_shape[0])
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
    if (
        isinstance(num_sampled, bool)
        or not isinstance(num_sampled, numbers.Integral)
        or not 1 <= int(num_sampled) <= num_classes
    ):
        expected = f"an integer in [1, {num_classes}] (the number of classes)"
        if isinstance(num_sampled, numbers.Integral) and not isinstance(num_sampled, bool):
            raise v.value_error("num_sampled", expected, f"num_sampled={num_sampled!r}")
        raise v.type_error("num_sampled", expected, f"num_sampled={num_sampled!r}")
    num_sampled = int(num_sampled)
    concrete = validate and all(ns.is_concrete(a) for a in (inputs, weight, labels))
    if concrete:
        v.check_no_nan("inputs", ns.to_numpy(inputs))
        v.check_class_indices(ns.to_numpy(labels), num_classes, ignore)

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

    sampled, log_q_true, log_q_sampled = _candidates(
        inp, sampled_values, num_sampled, num_classes, seed, in_shape[0]
    )
    true_logits = xp.sum(x * xp.take(w, idx, axis=0), axis=1)
    w_sampled = xp.take(w, sampled, axis=0)
    sampled_logits = xp.matmul(x, xp.matrix_transpose(w_sampled))
    if b is not None:
        true_logits = true_logits + xp.take(b, idx, axis=0)
        sampled_logits = sampled_logits + xp.take(b, sampled, axis=0)
    true_logits = true_logits - log_q_true
    sampled_logits = sampled_logits - log_q_sampled
    if remove_hits:
        hit = xp.expand_dims(idx, axis=1) == xp.expand_dims(xp.astype(sampled, idx.dtype), axis=0)
        sampled_logits = xp.where(hit, xp.full_like(sampled_logits, -math.inf), sampled_logits)
    logits = xp.concat([xp.expand_dims(true_logits, axis=1), sampled_logits], axis=1)
    zeros = xp.zeros_like(idx)
    losses = _core.softmax_cross_entropy_indices(logits, zeros, axis=1, label_smoothing=0.0, xp=xp)
    weights = softmax_sample_weight(inp, class_weight, sample_weight)
    values = prep.multiply(weights, losses)
    return prep.finish(inp, values, weights, reduction)


def _candidates(
    inp: prep.Inputs,
    sampled_values: Any,
    num_sampled: int,
    num_classes: int,
    seed: int | None,
    n: int | None,
) -> tuple[Array, Array, Array]:
    """The sampled classes and the ``log Q`` of the true and the sampled classes."""
    xp = inp.xp
    if sampled_values is None:
        sampled, tries = log_uniform_sample(num_sampled, num_classes, seed=seed)
        q_sampled = expected_count(log_uniform_probability(sampled, num_classes), tries)
        log_q_sampled = prep.config_array(
            "sampled_values", np.log(q_sampled), inp, check_values=False
        )
        p_true = xp.log1p(1.0 / (xp.astype(inp.labels, inp.dtype) + 1.0)) / math.log(
            num_classes + 1.0
        )
        log_q_true = xp.log(-xp.expm1(tries * xp.log1p(-p_true)))
        return _index_array(xp, sampled, inp), log_q_true, log_q_sampled
    if not isinstance(sampled_values, (tuple, list)) or len(sampled_values) != 3:
        raise v.value_error(
            "sampled_values",
            "a tuple (sampled, true_expected_count, sampled_expected_count)",
            f"sampled_values={v._short(sampled_values)}",
        )
    sampled, true_count, sampled_count = sampled_values
    s_shape = tuple(getattr(sampled, "shape", np.shape(sampled)))
    t_shape = tuple(getattr(true_count, "shape", np.shape(true_count)))
    c_shape = tuple(getattr(sampled_count, "shape", np.shape(sampled_count)))
    s_shape, t_shape, c_shape = (
        tuple(None if d is None else int(d) for d in s) for s in (s_shape, t_shape, c_shape)
    )
    if (
        len(s_shape) != 1
        or not v.shapes_match(c_shape, s_shape)
        or not (v.shapes_match(t_shape, (n,)) or v.shapes_match(t_shape, (n, 1)))
    ):
        raise v.value_error(
            "sampled_values",
            f"shapes (S,), ({n},) or ({n}, 1), and (S,)",
            f"shapes {s_shape}, {t_shape} and {c_shape}",
        )
    if ns.is_concrete(sampled):
        host = np.asarray(ns.to_numpy(sampled) if ns.is_array(sampled) else sampled)
        if inp.validate and host.size and (host.min() < 0 or host.max() >= num_classes):
            raise v.value_error(
                "sampled_values",
                f"sampled classes in [0, {num_classes})",
                f"classes in [{host.min()}, {host.max()}]",
            )
    true_q = prep.config_array("sampled_values", true_count, inp)
    if len(t_shape) == 2:
        true_q = xp.reshape(true_q, (-1,))
    sampled_q = prep.config_array("sampled_values", sampled_count, inp)
    return _index_array(xp, sampled, inp), xp.log(true_q), xp.log(sampled_q)


def _index_array(xp: Any, sampled: Any, inp: prep.Inputs) -> Array:
    """Sampled class ids as an integer array of the inputs' framework and device."""
    if ns.is_array(sampled) and not isinstance(sampled, np.ndarray):
        if prep._same_framework(sampled, xp):
            return xp.astype(sampled, inp.labels.dtype)
        sampled = ns.to_numpy(sampled)
    host = np.asarray(sampled).astype(np.int64)
    if ns.is_tf_namespace(xp):
        return xp.asarray(host, dtype=inp.labels.dtype)
    return xp.asarray(host, dtype=inp.labels.dtype, device=ns.device(inp.logits))
