"""PyTorch adapter: every wxent loss as a ``torch.nn.Module`` criterion.

Each class wraps one function of :mod:`wxent` (the names are the function names in
CamelCase) and takes the function's options as constructor arguments::

    criterion = wxent.torch.SigmoidCrossEntropy(pos_weight=pos_weight)
    loss = criterion(logits, labels)               # == wxent.sigmoid_cross_entropy(...)
    loss = criterion(logits, labels, sample_weight=w)

* Weights, costs and priors (``pos_weight``, ``neg_weight``, ``class_weight``,
  ``alpha``, ``costs``, ``class_prior``, ... and any option given as a list, an
  array or a tensor) are registered as **buffers**: they follow ``.to(device)`` and
  ``.double()``, and they are saved in ``state_dict``. The other options (numbers,
  strings) are plain attributes.
* ``class_axis=1`` by default, the PyTorch convention for ``(N, C)`` and
  channels-first ``(N, C, H, W)`` logits (the functions default to ``-1``).
* ``forward(logits, labels, sample_weight=None)``: the per-batch ``sample_weight``
  is an argument of the call, not of the constructor.
* The modules are ``torch.compile``-able: value checks run eagerly and are skipped
  while compiling (as under ``jax.jit``).

All classes are built by one mechanism, :class:`WxentLoss` and the table
``_LOSSES`` below: adding a loss to the adapter is one entry.

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
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch

import wxent
from wxent import _validation as v

__all__ = ["WxentLoss"]

_POSITIONAL = inspect.Parameter.POSITIONAL_OR_KEYWORD


class WxentLoss(torch.nn.Module):
    """Base class: a ``torch.nn.Module`` calling one wxent loss function.

    Subclasses set :attr:`function` (the wxent loss) and :attr:`tensor_options` (the
    option names always held as buffers). The function's extra positional arguments
    (``costs``, ``class_prior``) become positional constructor arguments and buffers.
    """

    function: ClassVar[Callable[..., Any]]
    tensor_options: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *args: Any, **options: Any) -> None:
        super().__init__()
        signature = inspect.signature(type(self).function)
        params = list(signature.parameters.values())[2:]  # after logits, labels
        positional = [p.name for p in params if p.kind is _POSITIONAL]
        try:
            bound = signature.bind(None, None, *args, **options)
        except TypeError as error:
            raise TypeError(f"{type(self).__name__}: {error}") from None
        given = dict(bound.arguments)
        given.pop(next(iter(signature.parameters)))  # logits
        given.pop(list(signature.parameters)[1])  # labels
        if "class_axis" in signature.parameters and "class_axis" not in given:
            given["class_axis"] = 1
        self._positional: tuple[str, ...] = tuple(n for n in positional if n in given)
        self._buffers_given: list[str] = []
        self._options: dict[str, Any] = {}
        for name, value in given.items():
            if name in self._positional or name in self.tensor_options or _is_array(value):
                if value is not None:
                    value = _as_buffer(name, value)
                self.register_buffer(name, value)
                self._buffers_given.append(name)
            else:
                self._options[name] = value

    def forward(self, logits: torch.Tensor, labels: torch.Tensor, sample_weight: Any = None) -> Any:
        """The loss of a batch, as ``function(logits, labels, ...)`` with the stored options.

        Args:
            logits: floating tensor, classes along ``class_axis`` (1 by default).
            labels: as for the wrapped function.
            sample_weight: optional per-batch weights, as for the wrapped function.

        Returns:
            The loss tensor (0-d, or per element for ``reduction="none"``).
        """
        args = [getattr(self, name) for name in self._positional]
        kwargs = dict(self._options)
        for name in self._buffers_given:
            if name not in self._positional:
                kwargs[name] = getattr(self, name)
        if sample_weight is not None:
            kwargs["sample_weight"] = sample_weight
        return type(self).function(logits, labels, *args, **kwargs)

    def extra_repr(self) -> str:
        """The options and the shapes of the buffers, for ``repr``."""
        parts = []
        for name in self._buffers_given:
            value = getattr(self, name)
            shape = None if value is None else tuple(value.shape)
            parts.append(f"{name}=None" if shape is None else f"{name}=<tensor {shape}>")
        parts += [f"{k}={val!r}" for k, val in self._options.items()]
        return ", ".join(parts)


def _is_array(value: Any) -> bool:
    return isinstance(value, (list, tuple, np.ndarray, torch.Tensor))


def _as_buffer(name: str, value: Any) -> torch.Tensor:
    """A floating tensor for a weight/cost/prior, checked when its values are known."""
    if isinstance(value, torch.Tensor):
        if value.dtype.is_floating_point:
            tensor = value.detach().clone()
        else:
            tensor = value.detach().to(torch.get_default_dtype())
    else:
        if isinstance(value, bool):
            raise v.type_error(name, "numbers, a list or an array of numbers", repr(value))
        try:
            host = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise v.type_error(
                name, "numbers, a list or an array of numbers", f"{name}={v._short(value)}"
            ) from None
        tensor = torch.as_tensor(host, dtype=torch.get_default_dtype())
    if tensor.device.type != "meta":
        v.check_finite_nonnegative(name, tensor.detach().cpu().double().numpy())
    return tensor


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


# One entry per loss: (function name in wxent, options always held as buffers).
# The class name is the function name in CamelCase.
_LOSSES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("sigmoid_cross_entropy", ("pos_weight", "neg_weight")),
    ("softmax_cross_entropy", ("class_weight",)),
    ("sigmoid_focal_loss", ("alpha", "pos_weight", "neg_weight")),
    ("softmax_focal_loss", ("class_weight",)),
    ("asymmetric_loss", ("pos_weight", "neg_weight")),
    ("logit_adjusted_cross_entropy", ("class_weight",)),
    ("expected_cost_loss", ("class_weight",)),
    ("cost_sensitive_cross_entropy", ("class_weight",)),
    ("confusion_weighted_cross_entropy", ("class_weight",)),
)


def _build(function_name: str, tensor_options: tuple[str, ...]) -> type[WxentLoss]:
    name = _camel(function_name)
    doc = (
        f"``torch.nn.Module`` for :func:`wxent.{function_name}`.\n\n"
        f"Constructor arguments are the options of :func:`wxent.{function_name}` "
        "(``class_axis=1`` by default); weights, costs and priors are buffers. "
        "``forward(logits, labels, sample_weight=None)`` returns the loss.\n"
    )
    namespace = {
        "function": staticmethod(getattr(wxent, function_name)),
        "tensor_options": tensor_options,
        "__doc__": doc,
        "__module__": __name__,
        "__qualname__": name,
    }
    return type(name, (WxentLoss,), namespace)


for _function_name, _tensor_options in _LOSSES:
    globals()[_camel(_function_name)] = _build(_function_name, _tensor_options)
    __all__.append(_camel(_function_name))

if TYPE_CHECKING:  # the classes built above, spelled out for type checkers and IDEs
    SigmoidCrossEntropy: type[WxentLoss]
    SoftmaxCrossEntropy: type[WxentLoss]
    SigmoidFocalLoss: type[WxentLoss]
    SoftmaxFocalLoss: type[WxentLoss]
    AsymmetricLoss: type[WxentLoss]
    LogitAdjustedCrossEntropy: type[WxentLoss]
    ExpectedCostLoss: type[WxentLoss]
    CostSensitiveCrossEntropy: type[WxentLoss]
    ConfusionWeightedCrossEntropy: type[WxentLoss]
