"""Type names shared by the modules of wxent.

Arrays of every supported framework (NumPy, PyTorch, JAX, TensorFlow) flow through the
same code, so an array is typed as :data:`Array` (any of them) and a namespace as
:data:`Namespace` (an Array API namespace, or the TensorFlow shim).
"""

from __future__ import annotations

from typing import Any, Literal

#: An array of any supported framework.
Array = Any

#: An Array API namespace (``array_api_compat`` wrapper, or :mod:`wxent._tf_namespace`).
Namespace = Any

#: The reductions every loss accepts.
Reduction = Literal["none", "sum", "mean", "weighted_mean"]

#: The reductions, in the order the messages list them.
REDUCTIONS: tuple[str, ...] = ("none", "sum", "mean", "weighted_mean")
