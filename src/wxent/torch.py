"""PyTorch adapter: every wxent loss as a ``torch.nn.Module`` criterion.

Each class wraps one function of :mod:`wxent` (the names are the function names in
CamelCase) and takes the function's options as constructor arguments::

    criterion = wxent.torch.SigmoidCrossEntropy(pos_weight=pos_weight)
    loss = criterion(logits, labels)               # == wxent.sigmoid_cross_entropy(...)
    loss = criterion(logits, labels, sample_weight=w)

* Every option is checked at construction, with the function's own errors (a reduction
  typo, ``label_smoothing=2.0``, ``gamma=-1``, a negative weight raise there, not at the
  first batch).
* Weights, costs and priors (``pos_weight``, ``neg_weight``, ``alpha``, ``class_weight``,
  ``costs``, ``class_prior``, ``weights``) are **buffers**: they follow ``.to(device)``
  and ``.double()``, and they are saved in ``state_dict``. A ``torch.nn.Parameter``
  given there is registered as a parameter instead (a learned weight: it takes gradients).
  The other options (numbers, strings) are attributes (``criterion.reduction``).
* Options assigned after construction (``criterion.reduction = "none"``,
  ``criterion.class_weight = [...]``) are checked as in the constructor and then used
  (a tensor assigned to a weight is checked by the next call).
* Assigning a name that is an option of another wxent loss or of a PyTorch loss module but
  not of this one (``criterion.weight = w`` on :class:`SoftmaxCrossEntropy`, whose
  per-class weight is ``class_weight``) is an ``AttributeError`` naming the option to use:
  it would otherwise be stored and never read. So is a new attribute whose name is close
  to one of this loss's options (``criterion.pos_wieght = w``: "did you mean
  ``pos_weight``?"); other new attributes are stored, as on every module.
* Built on the meta device (deferred initialisation), ``to_empty(device=...)`` leaves the
  buffers uninitialised, as for every PyTorch module; :meth:`WxentLoss.reset_parameters`
  then restores the weights, costs and priors given at construction (or assigned since).
* ``torch.jit.script`` and ``torch.jit.trace`` are refused with a ``TypeError`` (a trace
  would record one path of wxent's Python and drop its checks): use ``torch.compile`` or
  ``torch.export``.
* ``class_axis=1`` by default, the PyTorch convention for ``(N, C)`` and channels-first
  ``(N, C, H, W)`` logits (the functions default to ``-1``). 1-D logits have no axis 1:
  their only axis is the class axis, as for PyTorch's unbatched inputs. So softmax logits
  ``(C,)`` take a 0-d label, and binary logits ``(N,)`` with labels ``(N,)`` work as with
  ``BCEWithLogitsLoss``: a weight of shape ``(1,)`` (``pos_weight=torch.tensor([3.0])``)
  applies to every element, one of shape ``(N,)`` to each.
* ``forward(logits, labels, sample_weight=None)``: the per-batch ``sample_weight``
  is an argument of the call, not of the constructor.
* The losses that fuse the output projection take its operands in the call, as their
  functions do: :class:`LinearCrossEntropy` ``forward(inputs, weight, labels, bias=None,
  sample_weight=None)``, :class:`SampledSoftmaxCrossEntropy` the same and
  ``sampled_values=None``. They have no ``class_axis`` (the classes are ``weight``'s rows).
* The modules are ``torch.compile``-able: value checks run eagerly and are skipped
  while compiling (as under ``jax.jit``).

Example:
    >>> import torch, wxent.torch
    >>> criterion = wxent.torch.SoftmaxCrossEntropy(class_weight=[1.0, 2.0, 0.5])
    >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
    >>> labels = torch.tensor([0, 2])
    >>> bool(torch.isclose(criterion(logits, labels),
    ...      wxent.softmax_cross_entropy(logits, labels, class_weight=[1.0, 2.0, 0.5],
    ...                                  class_axis=1)))
    True
    >>> sorted(criterion.state_dict())
    ['class_weight']
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch

import wxent
from wxent import _adapter_options as table
from wxent import _fx
from wxent import _namespace as ns
from wxent import _validation as v
from wxent._fastpaths import linear_torch as _linear_torch  # noqa: F401  (registers wxent::linear_sweep)

__all__ = [
    "AsymmetricLoss",
    "ConfusionWeightedCrossEntropy",
    "CostSensitiveCrossEntropy",
    "ExpectedCostLoss",
    "LinearCrossEntropy",
    "LogitAdjustedCrossEntropy",
    "SampledSoftmaxCrossEntropy",
    "SigmoidCrossEntropy",
    "SigmoidFocalLoss",
    "SoftmaxCrossEntropy",
    "SoftmaxFocalLoss",
    "WxentLoss",
]

_AXIS = table.CLASS_AXIS["torch"]


class WxentLoss(torch.nn.Module):
    """Base class: a ``torch.nn.Module`` calling one wxent loss function.

    A subclass sets :attr:`function` and passes its constructor's arguments
    (``locals()``) on; the per-class options of :mod:`wxent._adapter_options` become
    buffers, the others attributes.
    """

    function: ClassVar[Callable[..., Any]]

    def __init__(self, arguments: dict[str, Any]) -> None:
        super().__init__()
        options = table.constructor_options(arguments)
        if not ns.torch_is_compiling():
            table.check_options(type(self).function, options)
        spec = table.LOSSES[type(self).function.__name__]
        self._family = spec.family
        self._sigmoid = spec.family == "sigmoid"
        self._arrays = tuple(k for k in options if k in spec.arrays)
        self._option_names = tuple(k for k in options if k not in spec.arrays)
        for name in self._option_names:
            object.__setattr__(self, name, options[name])
        self._given: dict[str, torch.Tensor] = {}
        for name in self._arrays:
            _register(self, name, options[name])
        if not ns.torch_is_compiling():
            _warn_costs(self)
        self._built = True

    def __setattr__(self, name: str, value: Any) -> None:
        """Options assigned after construction are checked as in the constructor, then used.

        Tensors (and ``None``) assigned to a weight go to ``torch.nn.Module`` as they are,
        unchecked until the next call: replication for data parallelism assigns them so.
        A name that is an option elsewhere but not here is an ``AttributeError``.
        """
        if self.__dict__.get("_built"):
            if name in self._option_names + self._arrays:
                array = name in self._arrays
                if not (array and (value is None or isinstance(value, torch.Tensor))):
                    options = self._current()
                    options[name] = value
                    table.check_options(type(self).function, options)
                    if array:
                        _register(self, name, value, like=getattr(self, name))
                        _warn_costs(self)
                        return
                elif array:  # the tensor itself is what reset_parameters restores
                    learned = isinstance(value, torch.nn.Parameter)
                    kept = None if value is None or learned else value.detach()
                    _remember(self, name, kept)
            elif name in _FOREIGN_OPTIONS:
                raise self._foreign(name, value)
            elif not self._known(name):
                error = table.misspelt_error(
                    f"wxent.torch.{type(self).__name__}",
                    name,
                    value,
                    self._arrays + self._option_names,
                )
                if error is not None:
                    raise error
        super().__setattr__(name, value)

    def _known(self, name: str) -> bool:
        """Whether ``name`` is already an attribute (of the instance or its class)."""
        return (
            name in self.__dict__
            or name in self._buffers
            or name in self._parameters
            or name in self._modules
            or hasattr(type(self), name)
        )

    def _foreign(self, name: str, value: Any) -> AttributeError:
        """The error for an option of another loss (it would be stored and never read)."""
        return table.foreign_error(
            f"wxent.torch.{type(self).__name__}",
            name,
            value,
            self._family,
            self._arrays + self._option_names,
        )

    def reset_parameters(self) -> None:
        """Restore the weights, costs and priors given at construction (or assigned since).

        For deferred initialisation: a criterion built on the meta device and moved with
        ``to_empty(device=...)`` has uninitialised buffers, as every PyTorch module does;
        this fills them again, on their device and in their dtype. Learned weights
        (``torch.nn.Parameter``) and tensors given on the meta device (no values) are
        left as they are.
        """
        with torch.no_grad():
            for name, host in self._given.items():
                buffer = self._buffers.get(name)
                if buffer is not None and buffer.device.type != "meta":
                    buffer.copy_(host.to(dtype=buffer.dtype))

    def _current(self) -> dict[str, Any]:
        """Every option as it stands: the attributes, and the buffers (or parameters)."""
        options = {k: getattr(self, k) for k in self._option_names}
        options.update({k: getattr(self, k) for k in self._arrays})
        return options

    def __prepare_scriptable__(self) -> Any:
        """``torch.jit.script`` cannot compile wxent's Python: refused with a clear error."""
        raise TypeError(
            f"wxent.torch.{type(self).__name__} cannot be compiled by torch.jit.script: "
            "the loss is Python code that TorchScript does not run. Use torch.compile, "
            "or call the module eagerly."
        )

    def forward(self, logits: torch.Tensor, labels: Any, sample_weight: Any = None) -> Any:
        """The loss of a batch, as ``function(logits, labels, ...)`` with the stored options.

        Args:
            logits: floating tensor, classes along ``class_axis`` (1 by default; 0 for
                1-D logits).
            labels: as for the wrapped function.
            sample_weight: optional per-batch weights, as for the wrapped function.

        Returns:
            The loss tensor (0-d, or per element for ``reduction="none"``).
        """
        node = _traced(self, logits, labels, sample_weight)
        if node is not None:  # torch.fx.symbolic_trace: one node that calls the module
            return node
        options = {name: getattr(self, name) for name in self._option_names}
        arrays = {name: getattr(self, name) for name in self._arrays}
        if logits.ndim == 1 and options["class_axis"] == _AXIS:
            options["class_axis"] = 0
            if self._sigmoid:  # binary logits (N,): a (1,) weight is the one label's
                arrays = {k: _one(a) for k, a in arrays.items()}
        return type(self).function(logits, labels, sample_weight=sample_weight, **arrays, **options)

    def extra_repr(self) -> str:
        """The buffers' shapes and the options that differ from the defaults, for ``repr``."""
        defaults = {k: p.default for k, p in inspect.signature(type(self)).parameters.items()}
        parts = [
            f"{name}=<tensor {tuple(value.shape)}>"
            for name in self._arrays
            if (value := getattr(self, name)) is not None
        ]
        parts += [
            f"{k}={getattr(self, k)!r}"
            for k in self._option_names
            if k == "class_axis" or getattr(self, k) != defaults[k]
        ]
        return ", ".join(parts)


def _call(module: torch.nn.Module, *args: Any) -> Any:
    """``module(*args)``: the node a symbolic trace records for a wxent.torch module."""
    return module(*args)


def _traced(module: torch.nn.Module, *args: Any) -> Any:
    """While a symbolic trace runs with a proxy in ``args``: the node ``_call(module, *args)``."""
    if not _fx.tracing():
        return None
    return _fx.record(_call, (module, *args), {}, f"wxent.torch.{type(module).__name__}")


def _warn_costs(module: torch.nn.Module) -> None:
    """The ``CostMatrixWarning`` of a cost matrix with dominated columns, once, when given.

    The functions look for dominated columns in host matrices, at every call; a
    criterion's calls pass its buffer, a tensor they never copy to the host, and the
    construction's probe holds its warnings back: so the criterion searches the host copy
    it keeps for ``reset_parameters`` here, where the matrix is given (the constructor,
    an assignment), and the warning points at that line.
    """
    given = module.__dict__.get("_given", {}).get("costs")
    if given is None:
        return
    from wxent.cost_matrix import _warn_dominated

    _warn_dominated("costs", given.numpy())


def _one(weight: torch.Tensor | None) -> torch.Tensor | None:
    return weight.reshape(()) if weight is not None and tuple(weight.shape) == (1,) else weight


def _register(
    module: torch.nn.Module, name: str, value: Any, like: torch.Tensor | None = None
) -> None:
    """Keep a weight, cost or prior already checked by the probe.

    A ``torch.nn.Parameter`` is registered as it is (a learned weight: it takes gradients
    and the optimizer updates it); anything else becomes a buffer holding a floating copy,
    on the device of ``like`` (the buffer it replaces) when given.
    """
    if isinstance(value, torch.nn.Parameter):
        module._buffers.pop(name, None)
        module.register_parameter(name, value)
        _remember(module, name, None)
        return
    if isinstance(value, torch.Tensor) and value.requires_grad:
        raise v.type_error(
            name,
            "a torch.nn.Parameter for a learned weight (it then takes gradients), or a "
            "tensor that does not require grad",
            f"{name}, a tensor that requires grad but is not a Parameter (a copy of it "
            "would take no gradient)",
        )
    tensor = None if value is None else _as_buffer(value)
    if tensor is not None and like is not None and not isinstance(value, torch.Tensor):
        dtype = like.dtype if like.dtype.is_floating_point else tensor.dtype
        tensor = tensor.to(device=like.device, dtype=dtype)
    module._parameters.pop(name, None)
    module.register_buffer(name, tensor)
    if tensor is None or (isinstance(value, torch.Tensor) and tensor.device.type == "meta"):
        _remember(module, name, None)
    elif isinstance(value, torch.Tensor):
        _remember(module, name, tensor.detach().to("cpu", copy=True))
    else:  # numbers, lists, NumPy: on the host (also when built on the meta device)
        host = torch.as_tensor(np.asarray(value, dtype=np.float64), device="cpu")
        _remember(module, name, host)


def _remember(module: torch.nn.Module, name: str, values: torch.Tensor | None) -> None:
    """Keep ``values`` for :meth:`WxentLoss.reset_parameters` (``None``: nothing to restore).

    A new dictionary each time: replicas for data parallelism share the module's
    ``__dict__`` entries, and their assignments must not change the original's.
    """
    given = {k: g for k, g in module.__dict__.get("_given", {}).items() if k != name}
    if values is not None and values.device.type != "meta":
        given[name] = values
    object.__setattr__(module, "_given", given)


def _as_buffer(value: Any) -> torch.Tensor:
    """A floating tensor (a copy) for a weight, cost or prior already checked by the probe."""
    if isinstance(value, torch.Tensor):
        if value.dtype.is_floating_point:
            return value.detach().clone()
        return value.detach().to(torch.get_default_dtype())
    host = np.asarray(value, dtype=np.float64)
    return torch.as_tensor(host, dtype=torch.get_default_dtype())


# Assigned to a criterion that lacks them, these names are refused (never read otherwise).
_FOREIGN_OPTIONS = table.foreign_options()


class SigmoidCrossEntropy(WxentLoss):
    """Criterion for :func:`wxent.sigmoid_cross_entropy` (binary and multi-label logits).

    The arguments are the function's options (``class_axis=1`` here). Like
    ``BCEWithLogitsLoss(pos_weight=...)`` with class weights, label smoothing and ignored
    labels; ``(N,)`` binary logits take ``(N,)`` labels.
    """

    function = staticmethod(wxent.sigmoid_cross_entropy)

    def __init__(
        self,
        *,
        pos_weight: Any = None,
        neg_weight: Any = None,
        label_smoothing: float = 0.0,
        ignore_label: float | None = None,
        class_axis: int = _AXIS,
        reduction: str = "mean",
        validate: bool = True,
    ) -> None:
        super().__init__(locals())


class SoftmaxCrossEntropy(WxentLoss):
    """Criterion for :func:`wxent.softmax_cross_entropy` (class indices or probabilities).

    The arguments are the function's options (``class_axis=1`` here), as for
    ``CrossEntropyLoss(weight=...)`` with wxent's reductions.
    """

    function = staticmethod(wxent.softmax_cross_entropy)

    def __init__(
        self,
        *,
        class_weight: Any = None,
        label_smoothing: float = 0.0,
        ignore_index: int | None = None,
        class_axis: int = _AXIS,
        reduction: str = "mean",
        validate: bool = True,
        inplace_backward: bool = False,
    ) -> None:
        super().__init__(locals())


class SigmoidFocalLoss(WxentLoss):
    """Criterion for :func:`wxent.sigmoid_focal_loss`; the arguments are its options."""

    function = staticmethod(wxent.sigmoid_focal_loss)

    def __init__(
        self,
        *,
        gamma: float = 2.0,
        alpha: Any = None,
        pos_weight: Any = None,
        neg_weight: Any = None,
        label_smoothing: float = 0.0,
        ignore_label: float | None = None,
        class_axis: int = _AXIS,
        reduction: str = "mean",
        validate: bool = True,
    ) -> None:
        super().__init__(locals())


class SoftmaxFocalLoss(WxentLoss):
    """Criterion for :func:`wxent.softmax_focal_loss`; the arguments are its options."""

    function = staticmethod(wxent.softmax_focal_loss)

    def __init__(
        self,
        *,
        gamma: float = 2.0,
        class_weight: Any = None,
        label_smoothing: float = 0.0,
        ignore_index: int | None = None,
        class_axis: int = _AXIS,
        reduction: str = "mean",
        validate: bool = True,
    ) -> None:
        super().__init__(locals())


class AsymmetricLoss(WxentLoss):
    """Criterion for :func:`wxent.asymmetric_loss`; the arguments are its options."""

    function = staticmethod(wxent.asymmetric_loss)

    def __init__(
        self,
        *,
        gamma_pos: float = 0.0,
        gamma_neg: float = 4.0,
        clip: float = 0.05,
        pos_weight: Any = None,
        neg_weight: Any = None,
        label_smoothing: float = 0.0,
        ignore_label: float | None = None,
        class_axis: int = _AXIS,
        reduction: str = "mean",
        validate: bool = True,
    ) -> None:
        super().__init__(locals())


class LogitAdjustedCrossEntropy(WxentLoss):
    """Criterion for :func:`wxent.logit_adjusted_cross_entropy`; ``class_prior`` is a buffer."""

    function = staticmethod(wxent.logit_adjusted_cross_entropy)

    def __init__(
        self,
        class_prior: Any,
        *,
        tau: float = 1.0,
        class_weight: Any = None,
        label_smoothing: float = 0.0,
        ignore_index: int | None = None,
        class_axis: int = _AXIS,
        reduction: str = "mean",
        validate: bool = True,
    ) -> None:
        super().__init__(locals())


class ExpectedCostLoss(WxentLoss):
    """Criterion for :func:`wxent.expected_cost_loss`; ``costs[true, predicted]`` is a buffer."""

    function = staticmethod(wxent.expected_cost_loss)

    def __init__(
        self,
        costs: Any,
        *,
        class_weight: Any = None,
        ignore_index: int | None = None,
        class_axis: int = _AXIS,
        reduction: str = "mean",
        validate: bool = True,
    ) -> None:
        super().__init__(locals())


class CostSensitiveCrossEntropy(WxentLoss):
    """Criterion for :func:`wxent.cost_sensitive_cross_entropy`; ``costs`` is a buffer."""

    function = staticmethod(wxent.cost_sensitive_cross_entropy)

    def __init__(
        self,
        costs: Any,
        *,
        cost_weight: float = 1.0,
        class_weight: Any = None,
        label_smoothing: float = 0.0,
        ignore_index: int | None = None,
        class_axis: int = _AXIS,
        reduction: str = "mean",
        validate: bool = True,
    ) -> None:
        super().__init__(locals())


class ConfusionWeightedCrossEntropy(WxentLoss):
    """Criterion for :func:`wxent.confusion_weighted_cross_entropy`; ``weights`` is a buffer."""

    function = staticmethod(wxent.confusion_weighted_cross_entropy)

    def __init__(
        self,
        weights: Any,
        *,
        class_weight: Any = None,
        label_smoothing: float = 0.0,
        ignore_index: int | None = None,
        class_axis: int = _AXIS,
        reduction: str = "mean",
        validate: bool = True,
    ) -> None:
        super().__init__(locals())


class _ProjectionLoss(WxentLoss):
    """Base of the modules over the losses that fuse the output projection.

    Their calls take the projection's operands, as the functions do; they have no
    ``class_axis`` (the classes are ``weight``'s rows).
    """

    def forward(  # type: ignore[override]
        self,
        inputs: torch.Tensor,
        weight: torch.Tensor,
        labels: Any,
        bias: torch.Tensor | None = None,
        sample_weight: Any = None,
    ) -> Any:
        """``function(inputs, weight, labels, bias=..., sample_weight=...)``, stored options.

        Args:
            inputs: ``(N, D)`` features.
            weight: ``(V, D)`` class embeddings (the projection's weight).
            labels: integer ``(N,)`` classes.
            bias: optional ``(V,)`` biases.
            sample_weight: optional per-batch weights, a scalar or ``(N,)``.

        Returns:
            The loss tensor (0-d, or ``(N,)`` for ``reduction="none"``).
        """
        node = _traced(self, inputs, weight, labels, bias, sample_weight)
        if node is not None:  # torch.fx.symbolic_trace: one node that calls the module
            return node
        return type(self).function(
            inputs, weight, labels, bias=bias, sample_weight=sample_weight, **self._current()
        )


class LinearCrossEntropy(_ProjectionLoss):
    """Criterion for :func:`wxent.linear_cross_entropy`: the output projection and the loss.

    The arguments are the function's options; ``class_weight`` is a buffer. The
    projection's operands come with each call, as for the function (a language model's
    head is usually a parameter of the model, not of the criterion)::

        criterion = wxent.torch.LinearCrossEntropy(ignore_index=-100, label_smoothing=0.1)
        loss = criterion(hidden, model.lm_head.weight, labels)   # never all the logits
    """

    function = staticmethod(wxent.linear_cross_entropy)

    def __init__(
        self,
        *,
        class_weight: Any = None,
        label_smoothing: float = 0.0,
        ignore_index: int | None = None,
        chunk_size: int | None = None,
        reduction: str = "mean",
        validate: bool = True,
    ) -> None:
        super().__init__(locals())


class SampledSoftmaxCrossEntropy(_ProjectionLoss):
    """Criterion for :func:`wxent.sampled_softmax_cross_entropy` (very many classes).

    The arguments are the function's options; ``class_weight`` is a buffer. The
    projection's operands come with each call. Each call draws ``num_sampled`` classes on
    the host: with ``seed=None`` from fresh randomness, with an integer ``seed`` from a
    NumPy generator seeded once at construction (or when ``seed`` is assigned), so that
    every call draws new classes and a run repeats from the same seed. The generator's
    position is not part of ``state_dict``. Under ``torch.compile`` pass
    ``sampled_values`` to each call (see the function); without them the host draw
    breaks the graph, and the seeded sequence runs as in eager calls.
    """

    function = staticmethod(wxent.sampled_softmax_cross_entropy)

    def __init__(
        self,
        num_sampled: int,
        *,
        remove_accidental_hits: bool = True,
        seed: int | None = None,
        class_weight: Any = None,
        ignore_index: int | None = None,
        reduction: str = "mean",
        validate: bool = True,
    ) -> None:
        super().__init__(locals())

    def forward(  # type: ignore[override]
        self,
        inputs: torch.Tensor,
        weight: torch.Tensor,
        labels: Any,
        bias: torch.Tensor | None = None,
        sample_weight: Any = None,
        sampled_values: Any = None,
    ) -> Any:
        """As :meth:`_ProjectionLoss.forward`, drawing the classes as the class says.

        ``sampled_values``: the function's ``(sampled, true_expected_count,
        sampled_expected_count)`` instead of a draw.
        """
        node = _traced(self, inputs, weight, labels, bias, sample_weight, sampled_values)
        if node is not None:  # torch.fx.symbolic_trace: one node that calls the module
            return node
        options = self._current()
        if options["seed"] is not None and sampled_values is None:
            options["seed"] = self._next_seed()
        return type(self).function(
            inputs, weight, labels, bias=bias, sample_weight=sample_weight,
            sampled_values=sampled_values, **options,
        )  # fmt: skip

    def __setattr__(self, name: str, value: Any) -> None:
        """As :class:`WxentLoss`; assigning ``seed`` starts its sequence of draws again."""
        super().__setattr__(name, value)
        if name == "seed":
            self.__dict__.pop("_draws", None)

    @torch.compiler.disable  # run at each call: a traced draw would be one constant seed
    def _next_seed(self) -> int:
        """The seed of this call's draw, the next of the sequence started by ``seed``."""
        return int(self._generator().integers(2**63))

    def _generator(self) -> np.random.Generator:
        """The generator of the per-call seeds (made from ``seed`` at its first use)."""
        made = self.__dict__.get("_draws")
        if made is None:
            made = np.random.default_rng(self.__dict__["seed"])
            object.__setattr__(self, "_draws", made)
        return made
