"""The streaming accumulator of the metrics: batches in, shards merged, metrics out."""

from __future__ import annotations

import dataclasses
import functools
import sys
from typing import Any

import array_api_compat
import numpy as np

from wxent import _fx
from wxent import _metric_counts as mc
from wxent import _metric_inputs as mi
from wxent import _namespace as ns
from wxent import _validation as v
from wxent._core.numerics import fold_error, two_sum

__all__ = ["MetricAccumulator"]


class MetricAccumulator:
    """Streaming metrics: update batch by batch, merge shards, compute at the end.

    Keeps the per-class counts of every batch in the batches' framework, on their device
    (NumPy: host counts), so an evaluation loop never copies logits to the host; unweighted
    counts stay integers. Floating sums (weighted counts, and the cost and weight behind
    ``"expected_cost"``) in float32 are compensated: each running sum keeps, beside it on
    the device, the rounding error of every addition (an exact two-sum, a few elementwise
    operations on per-class arrays per batch), so counts stay exact far past ``2**24``
    (weight-1 samples added to a float32 count of ``2**24`` would otherwise be lost);
    ``compute()`` adds the two once, and the results keep the batches' float dtype. One
    path on every device (including those without float64, and JAX without
    ``jax_enable_x64``); float64 sums (NumPy, float64 logits) are plain. Each batch's own
    counts are summed in its dtype. Accumulators add (``a + b``, ``sum(...)``) like
    :class:`~wxent.LabelCounter`: each shard counts its part, the parts merge exactly, and
    ``compute()`` equals the metrics of all batches at once. ``update`` is eager (it keeps
    state); the metric functions themselves trace.

    Args:
        threshold: sigmoid logits: a logit, or one per label.
        costs: a cost matrix: decisions are the cost-optimal ones (``bayes_decision``,
            or the ``cost_threshold`` of a ``2 x 2`` matrix for sigmoid logits) and
            ``compute()`` adds the expected cost.
        ignore_index: softmax only: an integer label to leave out.
        ignore_label: sigmoid only: a label value (e.g. ``-1``) to leave out.
        class_axis: the class (label) axis.
        confusion: keep the confusion matrix (``(C, C)`` for softmax logits: turn it off
            for very many classes; precision, recall and F need only ``C`` counts).
        validate: check every batch as the metric functions do.

    Raises:
        TypeError, ValueError: at construction, for options that no batch accepts (a
            NaN or non-numeric threshold, a threshold of two or more dimensions, a cost
            matrix that is not square, finite and non-negative, a threshold other than
            0 with costs, both ignore markers); what depends on the batches (the number
            of classes, sigmoid or softmax logits) at ``update``.

    Example:
        >>> import numpy as np, wxent
        >>> acc = wxent.MetricAccumulator()
        >>> for x, y in [([[2.0, 0.0], [0.0, 1.0]], [0, 0]), ([[0.0, 3.0]], [1])]:
        ...     _ = acc.update(np.array(x), np.array(y))
        >>> result = acc.compute(average="macro")
        >>> result["confusion_matrix"].tolist(), round(result["recall"], 4)
        ([[1, 1], [0, 1]], 0.75)
    """

    def __init__(
        self,
        *,
        threshold: Any = 0.0,
        costs: Any = None,
        ignore_index: int | None = None,
        ignore_label: float | None = None,
        class_axis: int = -1,
        confusion: bool = True,
        validate: bool = True,
    ) -> None:
        self.confusion = v.check_bool("confusion", confusion)
        mi.check_options(threshold, costs, ignore_index, ignore_label, class_axis)
        self._options = dict(
            threshold=threshold,
            costs=costs,
            ignore_index=ignore_index,
            ignore_label=ignore_label,
            class_axis=class_axis,
            validate=v.check_bool("validate", validate),
        )
        self.reset()

    def reset(self) -> MetricAccumulator:
        """Forget every batch; returns ``self``."""
        self._first: mc.Counts | None = None
        self._sums: dict[bool, dict[str, Any]] = {False: {}, True: {}}  # by weighted
        # The rounding errors of the float32 sums (same keys; see two_sum).
        self._errors: dict[bool, dict[str, Any]] = {False: {}, True: {}}
        self._wrapped: Any = None  # int32 sums (JAX without x64) that passed 2**31 - 1
        return self

    def update(self, logits: Any, labels: Any, sample_weight: Any = None) -> MetricAccumulator:
        """Add the counts of one batch (arrays of the first batch's framework); ``self``.

        Eager only: the accumulator keeps the batches' counts, which a ``jax.jit`` or
        ``tf.function`` trace cannot hand out of the trace (a ``TypeError`` naming the
        array; ``torch.compile`` runs it as Python). A compiled step returns its logits
        (or the counts of :func:`wxent.confusion_matrix`), and the loop updates outside.
        """
        for name, value in (
            ("logits", logits),
            ("labels", labels),
            ("sample_weight", sample_weight),
        ):
            _check_eager(name, value)
        counts = _count(
            logits,
            labels,
            sample_weight=sample_weight,
            matrix=self.confusion,
            need_costs=self._options["costs"] is not None,
            **self._options,
        )
        self._add(counts, sample_weight is not None, mc.parts(counts, self.confusion), {})
        return self

    def _add(
        self,
        counts: mc.Counts,
        weighted: bool,
        parts: dict[str, Any],
        errors: dict[str, Any],
        other: bool = False,
    ) -> None:
        """Add counts of a batch, or with ``other`` of a merged accumulator (errors name it)."""
        first = self._first
        if first is not None and mi.framework(counts.tp) != mi.framework(first.tp):
            raise v.type_error(
                "other" if other else "logits",
                f"the framework of the first batch ({type(first.tp).__name__})",
                f"{'counts' if other else 'logits'} of type {type(counts.tp).__name__}",
            )
        if first is not None and (
            first.kind != counts.kind or first.tp.shape[0] != counts.tp.shape[0]
        ):
            raise v.value_error(
                "other" if other else "labels",
                f"{first.kind} batches with {first.tp.shape[0]} classes (labels), like the "
                "previous ones",
                f"{counts.kind} batches with {counts.tp.shape[0]}",
            )
        self._first = first or counts
        xp, anchor = self._first.xp, self._first.tp
        parts = {name: _to(value, anchor) for name, value in parts.items()}
        errors = {name: _to(error, anchor) for name, error in errors.items() if name in parts}
        sums, kept = self._sums[weighted], self._errors[weighted]
        state = (dict(sums), dict(kept), self._wrapped)
        if ns.is_jax_namespace(xp) and parts.keys() <= sums.keys():  # one compiled call
            state = _jax_accumulate()(*state, parts, errors)
        else:
            state = _accumulate(xp, *state, parts, errors)
        sums.update(state[0])
        kept.update(state[1])
        self._wrapped = state[2]

    def merge(self, other: MetricAccumulator) -> MetricAccumulator:
        """Add the counts of another accumulator (a shard) into this one; ``self``."""
        if not isinstance(other, MetricAccumulator):
            raise v.type_error(
                "other", "a MetricAccumulator", f"an object of type {type(other).__name__}"
            )
        differ = [name for name in _DECISION_OPTIONS if not _same(self, other, name)]
        if differ:  # counts of other decisions (or without a matrix) would mix silently
            shown = "; ".join(
                f"a different `{n}`: {_shown(other, n)} (here {_shown(self, n)})" for n in differ
            )
            raise v.value_error(
                "other",
                "an accumulator of the same decisions (threshold, costs, ignore_index, "
                "ignore_label, class_axis, confusion)",
                shown,
            )
        if other._first is None:
            return self
        if other._wrapped is not None:  # a shard whose counts wrapped already
            wrapped = other._wrapped if self._first is None else _to(other._wrapped, self._first.tp)
            self._wrapped = wrapped if self._wrapped is None else self._wrapped | wrapped
        for weighted, parts in other._sums.items():
            if parts:  # with the shard's rounding errors, added to this one's
                self._add(other._first, weighted, parts, other._errors[weighted], other=True)
        return self

    def __copy__(self) -> MetricAccumulator:
        """A copy whose later updates leave this accumulator alone (a snapshot).

        The counts are arrays that updates replace, never change in place: the copy
        shares them, with dictionaries of its own (a plain shallow copy shared those, so
        updating the copy counted the batch in the original too).
        """
        copied = object.__new__(type(self))
        copied.__dict__.update(self.__dict__)
        copied._options = dict(self._options)
        copied._sums = {k: dict(parts) for k, parts in self._sums.items()}
        copied._errors = {k: dict(parts) for k, parts in self._errors.items()}
        return copied

    def __getstate__(self) -> dict[str, Any]:
        """Picklable (shards merge across processes): the array namespace is not kept."""
        state = dict(self.__dict__)
        if self._first is not None:
            state["_first"] = dataclasses.replace(self._first, xp=None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """The namespace back from the counts' arrays."""
        state.setdefault("_errors", {False: {}, True: {}})  # pickled before errors were kept
        first = state["_first"]
        if first is not None:
            state["_first"] = dataclasses.replace(first, xp=ns.namespace(first.tp))
        self.__dict__.update(state)

    def __add__(self, other: Any) -> MetricAccumulator:
        """A new accumulator holding the counts of both (shards merge)."""
        if isinstance(other, int) and other == 0:  # sum() starts from 0
            return self
        merged = MetricAccumulator(confusion=self.confusion, **self._options)
        return merged.merge(self).merge(other)

    __radd__ = __add__

    def compute(self, *, average: str | None = "micro", beta: float = 1.0) -> dict[str, Any]:
        """The metrics of every batch so far.

        Args:
            average: ``"micro"``, ``"macro"`` or ``None``, as in :func:`precision`.
            beta: the ``beta`` of ``"fbeta_score"``.

        Returns:
            ``{"precision", "recall", "fbeta_score"}`` (plus ``"confusion_matrix"`` when
            kept, ``"expected_cost"`` with ``costs``), as the metric functions return them.

        Raises:
            ValueError: before the first batch, or when an integer count passed what
                its dtype holds (JAX without ``jax_enable_x64`` counts in int32).
        """
        mc.check_average(average)
        beta = v.check_nonnegative_number("beta", beta)
        first = self._first
        if first is None:
            raise v.value_error("update", "at least one batch before compute()", "no batch")
        if self._wrapped is not None and bool(self._wrapped):
            raise v.value_error(
                "update",
                "counts that int32 holds (at most 2**31 - 1 per class; JAX counts in int32 "
                "unless jax_enable_x64 is set: enable it for int64 counts)",
                "more samples than int32 counts",
            )
        sums = [
            {n: fold_error(s, self._errors[weighted].get(n), xp=first.xp) for n, s in parts.items()}
            for weighted, parts in self._sums.items()
        ]
        counts, total = mc.combine(first, sums)
        out = {
            "precision": mc.scores(counts, "precision", average),
            "recall": mc.scores(counts, "recall", average),
            "fbeta_score": mc.scores(counts, "fbeta", average, beta),
        }
        if "matrix" in total:
            out["confusion_matrix"] = total["matrix"]
        if "cost" in total:
            result = mc.safe_divide(first.xp, total["cost"], total["weight"])
            out["expected_cost"] = float(result) if first.numpy else result
        return out


def _count(logits: Any, labels: Any, **options: Any) -> mc.Counts:
    """The counts of a batch; of JAX logits, a repeated call as one compiled program."""
    jax = sys.modules.get("jax")
    if jax is not None and isinstance(logits, jax.Array):
        from wxent import _jax_metric_graphs

        return _jax_metric_graphs.run(mc.count, logits, labels, **options)
    return mc.count(logits, labels, **options)


def _accumulate(
    xp: Any,
    sums: dict[str, Any],
    kept: dict[str, Any],
    wrapped: Any,
    parts: dict[str, Any],
    errors: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any], Any]:
    """The running ``sums``, their rounding errors ``kept`` and ``wrapped`` flag, updated."""
    for name, value in parts.items():
        error = errors.get(name)
        if name not in sums:
            sums[name] = value
        elif _compensated(xp, value):
            sums[name], rounding = two_sum(sums[name], value)
            error = rounding if error is None else error + rounding
        else:
            sums[name] = sums[name] + value
        if error is not None:  # running rounding errors: small, so float32 holds them
            kept[name] = error if name not in kept else kept[name] + error
        if _narrow(sums[name]):
            # Counts are non-negative: an int32 sum past 2**31 - 1 wraps below 0. The
            # flag stays on the device (no host read per batch); compute() reads it.
            flag = xp.any(sums[name] < 0)
            wrapped = flag if wrapped is None else wrapped | flag
    return sums, kept, wrapped


@functools.cache
def _jax_accumulate() -> Any:
    """:func:`_accumulate` of JAX sums as one compiled call (the same operations).

    Eagerly each batch's additions, two-sums and wrap flags were some twenty dispatches;
    compiled once per parts' shapes and dtypes (XLA does not reassociate the two-sum).
    """
    import jax

    xp = array_api_compat.array_namespace(jax.numpy.zeros(()))
    return jax.jit(functools.partial(_accumulate, xp))


def _to(value: Any, anchor: Any) -> Any:
    """``value`` moved onto the devices of ``anchor`` (the first batch's counts).

    PyTorch tensors and JAX arrays (batches on other devices, or sharded over several:
    the sums of every batch live where the first batch's do); ``None`` and others as
    they are.
    """
    if value is None:
        return None
    if ns.is_torch(value) and ns.is_torch(anchor):
        return value if value.device == anchor.device else value.to(anchor.device)
    if array_api_compat.is_jax_array(value) and array_api_compat.is_jax_array(anchor):
        return ns.follow_jax(value, anchor)
    return value


def _compensated(xp: Any, value: Any) -> bool:
    """A float sum below float64 (float32 counts), whose additions keep their rounding errors."""
    return ns.float_dtype_name(xp, getattr(value, "dtype", None)) not in (None, "float64")


def _check_eager(name: str, value: Any) -> None:
    """``value`` is no JAX tracer or symbolic TensorFlow tensor (state cannot leave a trace)."""
    _fx.refuse(name, value)  # nor a torch.fx proxy
    if not ns.is_array(value) or ns.is_torch(value) or ns.is_concrete(value):
        return
    raise v.type_error(
        name,
        "concrete values (MetricAccumulator.update keeps state and runs eagerly, outside "
        "jax.jit and tf.function; the metric functions such as wxent.confusion_matrix trace)",
        f"a traced {type(value).__name__}",
    )


def _narrow(value: Any) -> bool:
    """An int32 array (JAX counts without x64), which the running sums can overflow."""
    return str(getattr(value, "dtype", "")) == "int32"


_DECISION_OPTIONS = (
    "threshold",
    "costs",
    "ignore_index",
    "ignore_label",
    "class_axis",
    "confusion",
)


def _option(acc: MetricAccumulator, name: str) -> Any:
    return acc.confusion if name == "confusion" else acc._options[name]


def _host(value: Any) -> Any:
    """An option as a host value that compares by content (arrays of any framework)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    try:
        return np.asarray(ns.to_numpy(value) if ns.is_array(value) else value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return value


def _same(a: MetricAccumulator, b: MetricAccumulator, name: str) -> bool:
    x, y = _host(_option(a, name)), _host(_option(b, name))
    if isinstance(x, np.ndarray) and isinstance(y, np.ndarray):
        return x.shape == y.shape and bool(np.array_equal(x, y, equal_nan=True))
    return bool(x is y or (type(x) is type(y) and x == y))


def _shown(acc: MetricAccumulator, name: str) -> str:
    return v._short(_option(acc, name))
