"""The candidates of :func:`wxent.sampled_softmax_cross_entropy`: a log-uniform sampler.

``P(k) = log((k + 2) / (k + 1)) / log(V + 1)`` for class ids ``k`` in ``[0, V)`` (class 0
the most frequent: sort classes by frequency), drawn without replacement on the host.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from wxent import _namespace as ns
from wxent import _prepare as prep
from wxent import _validation as v
from wxent._types import Array


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
    if xp is np:  # a probability of 1 (one class): log1p(-1) = -inf, Q = 1, no warning
        with np.errstate(divide="ignore"):
            return -np.expm1(tries * np.log1p(-probability))
    return -xp.expm1(tries * xp.log1p(-probability))


def candidates(
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
        if ns.capturing(inp.raw_logits):
            raise v.value_error(
                "sampled_values",
                "classes drawn on the device, passed as sampled_values, while a CUDA graph is "
                "captured (classes drawn on the host now would be the same on every replay)",
                "sampled_values=None",
            )
        sampled, tries = log_uniform_sample(num_sampled, num_classes, seed=seed)
        q_sampled = expected_count(log_uniform_probability(sampled, num_classes), tries)
        log_q_sampled = prep.config_array(
            "sampled_values", np.log(q_sampled), inp, check_values=False
        )
        p_true = xp.log1p(1.0 / (xp.astype(inp.labels, inp.dtype) + 1.0)) / math.log(
            num_classes + 1.0
        )
        log_q_true = prep.quietly(inp, lambda: xp.log(expected_count(p_true, tries, xp=xp)))
        return _index_array(xp, sampled, inp), log_q_true, log_q_sampled
    if not isinstance(sampled_values, (tuple, list)) or len(sampled_values) != 3:
        raise v.value_error(
            "sampled_values",
            "a tuple (sampled, true_expected_count, sampled_expected_count)",
            f"sampled_values={v._short(sampled_values)}",
        )
    sampled, true_count, sampled_count = sampled_values
    size = getattr(sampled, "shape", np.shape(sampled))
    if len(size) == 1 and size[0] is not None and int(size[0]) != num_sampled:
        raise v.value_error(
            "sampled_values",
            f"num_sampled={num_sampled} sampled classes (the `num_sampled` of the call)",
            f"{int(size[0])} sampled classes",
        )
    s_shape, t_shape, c_shape = (
        tuple(None if d is None else int(d) for d in getattr(a, "shape", np.shape(a)))
        for a in (sampled, true_count, sampled_count)
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
    dtype = getattr(sampled, "dtype", None)
    kind = v.dtype_name(dtype if dtype is not None else np.asarray(sampled).dtype)
    if not kind.startswith(("int", "uint")):  # (a float or bool class would be truncated)
        raise v.type_error(
            "sampled_values",
            "integer sampled classes (the first array of the triple)",
            f"sampled classes with dtype {kind}",
        )
    if ns.is_concrete(sampled):  # (S,) with S <= V: a per-class-sized read at most
        host = np.asarray(ns.to_numpy(sampled) if ns.is_array(sampled) else sampled)
        if inp.check_config and host.size and (host.min() < 0 or host.max() >= num_classes):
            raise v.value_error(
                "sampled_values",
                f"sampled classes in [0, {num_classes})",
                f"classes in [{host.min()}, {host.max()}]",
            )
    # expected counts are positive: a zero one is an infinite -log Q (a loss of 0 or inf)
    true_q = prep.config_array("sampled_values", true_count, inp, positive=True)
    if len(t_shape) == 2:
        true_q = xp.reshape(true_q, (-1,))
    sampled_q = prep.config_array("sampled_values", sampled_count, inp, positive=True)
    return _index_array(xp, sampled, inp), xp.log(true_q), xp.log(sampled_q)


def _index_array(xp: Any, sampled: Any, inp: prep.Inputs) -> Array:
    """Sampled class ids as an integer array of the inputs' framework and device."""
    if ns.is_array(sampled) and not isinstance(sampled, np.ndarray):
        if prep._same_framework(sampled, xp):
            device = getattr(inp.logits, "device", None)
            if ns.is_torch(sampled) and sampled.device != device:
                if sampled.device.type == "meta":  # no classes to read
                    raise v.value_error(
                        "sampled_values",
                        f"sampled classes on the device of `inputs` ({device})",
                        "sampled classes on the meta device, which holds no values",
                    )
                sampled = sampled.to(device)  # (S,) classes: moved, as weights are
            return xp.astype(sampled, inp.labels.dtype)
        sampled = ns.to_numpy(sampled)
    host = np.asarray(sampled).astype(np.int64)
    return ns.to_device(xp, host, inp.logits, dtype=inp.labels.dtype, name="sampled_values")
