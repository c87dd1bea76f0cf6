"""Count the device operations of a wxent call: what a CUDA run would launch.

A checked call (``validate=True``, the default) costs its kernels plus every small torch
operation that its checks, label preparation and flag read issue; on a GPU each of those
is a launch paid in host time. :class:`DeviceOps` counts them on CPU tensors, with the
Triton kernels run by Triton's interpreter (``TRITON_INTERPRET=1``,
``WXENT_KERNELS=triton``):

* every ATen operation that would launch device work: arithmetic, comparisons,
  reductions, fills (``zeros``, ``full``), copies and casts, gathers;
* not the ones that only describe memory (views, ``reshape`` of contiguous data,
  ``expand``, ``detach``, ``empty``/``empty_like``/``empty_strided``, ``set_``,
  ``resize_``, ``lift_fresh``): no kernel runs for them;
* each Triton kernel launch once (by kernel name), and none of the ATen operations that
  Triton's interpreter issues to run it on the host (its own bookkeeping);
* the host read (``item``, ``_local_scalar_dense``) once.

Run as a script to print the counts of the standard cases (BENCHMARKS.md, GPU section)::

    TRITON_INTERPRET=1 WXENT_KERNELS=triton python tests/device_ops.py
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode

#: ATen operations that allocate or describe memory only: no device work.
FREE = {
    "empty",
    "empty_like",
    "empty_strided",
    "detach",
    "set_",
    "resize_",
    "lift_fresh",
    "alias",
    "_reshape_alias",
    "_unsafe_view",
    "view",
    "expand",
    "as_strided",
    "is_pinned",
    "_has_compatible_shallow_copy_type",
}
#: ATen operations that read a value on the host (a device-to-host copy and a wait).
READS = {"_local_scalar_dense", "is_nonzero", "equal"}


class DeviceOps(TorchDispatchMode):
    """Count the device operations issued inside the ``with`` block.

    Attributes:
        ops: ATen operations that launch device work, by name.
        kernels: Triton kernel launches, by kernel name.
        reads: host reads of device values.
    """

    def __init__(self) -> None:
        super().__init__()
        self.ops: Counter[str] = Counter()
        self.kernels: Counter[str] = Counter()
        self.reads = 0
        self._inside_kernel = 0

    @property
    def total(self) -> int:
        """Every device operation: ATen launches, Triton launches and host reads."""
        return sum(self.ops.values()) + sum(self.kernels.values()) + self.reads

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        if not self._inside_kernel:
            name = func.overloadpacket.__name__
            if name in READS:
                self.reads += 1
            elif name not in FREE and not func.is_view:
                self.ops[name] += 1
        return func(*args, **(kwargs or {}))

    @contextlib.contextmanager
    def _kernels(self) -> Iterator[None]:
        """Count Triton launches, and hide the interpreter's own ATen operations."""
        from triton.runtime.interpreter import InterpretedFunction

        original = InterpretedFunction.run
        counter = self

        def run(fn: Any, *args: Any, **kwargs: Any) -> Any:
            counter.kernels[fn.fn.__name__] += 1
            counter._inside_kernel += 1
            try:
                return original(fn, *args, **kwargs)
            finally:
                counter._inside_kernel -= 1

        InterpretedFunction.run = run  # type: ignore[method-assign]
        try:
            yield
        finally:
            InterpretedFunction.run = original  # type: ignore[method-assign]

    def __enter__(self) -> DeviceOps:
        self._stack = contextlib.ExitStack()
        self._stack.enter_context(self._kernels())
        return super().__enter__()  # type: ignore[no-any-return]

    def __exit__(self, *exc: Any) -> None:
        super().__exit__(*exc)
        self._stack.close()

    def report(self) -> str:
        """One line: the total, then the operations by name."""
        parts = [f"{k}={n}" for k, n in sorted((self.ops + self.kernels).items())]
        return f"{self.total} ({self.reads} read): " + " ".join(parts)


def count(call: Callable[[], Any]) -> DeviceOps:
    """The device operations of ``call()`` (warmed up once first: caches, compilation)."""
    call()
    with DeviceOps() as ops:
        call()
    return ops


def cases(
    n: int = 64, c: int = 1000, seed: int = 0, validate: bool = True
) -> dict[str, Callable[[], Any]]:
    """The standard calls (forward, the loss alone), checked by default."""
    import wxent

    rng = np.random.default_rng(seed)
    x = torch.tensor(rng.normal(size=(n, c)), dtype=torch.float32, requires_grad=True)
    y = torch.tensor(rng.integers(0, c, n))
    y[1] = -100
    plain = y.clamp(0)
    cw = torch.tensor(rng.uniform(0.5, 2.0, c), dtype=torch.float32)
    sw = torch.tensor(rng.uniform(0.5, 2.0, n), dtype=torch.float32)
    z = torch.tensor(rng.uniform(size=(n, c)) < 0.1, dtype=torch.float32)
    pw = torch.tensor(rng.uniform(0.5, 4.0, c), dtype=torch.float32)
    z_ignored = z.clone()
    z_ignored[0, : c // 2] = -1.0
    soft = torch.softmax(torch.tensor(rng.normal(size=(n, c)), dtype=torch.float32), -1)
    costs = torch.tensor(rng.uniform(0.0, 2.0, (c, c)), dtype=torch.float32)
    v = {"validate": validate}
    ce, focal = wxent.softmax_cross_entropy, wxent.softmax_focal_loss
    return {
        "softmax CE": lambda: ce(x, plain, **v),
        "softmax CE, class_weight + ignore_index + smoothing 0.1": lambda: ce(
            x, y, class_weight=cw, ignore_index=-100, label_smoothing=0.1, **v
        ),
        "softmax CE, + sample_weight, weighted_mean": lambda: ce(
            x,
            y,
            class_weight=cw,
            sample_weight=sw,
            ignore_index=-100,
            reduction="weighted_mean",
            **v,
        ),
        "softmax CE, probability labels, class_weight + smoothing 0.1": lambda: ce(
            x, soft, class_weight=cw, label_smoothing=0.1, **v
        ),
        "sigmoid CE, pos_weight": lambda: wxent.sigmoid_cross_entropy(x, z, pos_weight=pw, **v),
        "sigmoid CE, ignore_label, weighted_mean": lambda: wxent.sigmoid_cross_entropy(
            x, z_ignored, ignore_label=-1.0, reduction="weighted_mean", **v
        ),
        "sigmoid focal, alpha 0.25": lambda: wxent.sigmoid_focal_loss(x, z, alpha=0.25, **v),
        "asymmetric": lambda: wxent.asymmetric_loss(x, z, **v),
        "softmax focal, class_weight + ignore_index": lambda: focal(
            x, y, class_weight=cw, ignore_index=-100, **v
        ),
        "expected cost, class_weight + ignore_index": lambda: wxent.expected_cost_loss(
            x, y, costs, class_weight=cw, ignore_index=-100, **v
        ),
        "cost-sensitive CE, smoothing 0.1": lambda: wxent.cost_sensitive_cross_entropy(
            x, plain, costs, cost_weight=0.5, label_smoothing=0.1, **v
        ),
    }


def main() -> None:
    """Print the device operations of each standard case, checked and unchecked."""
    assert os.environ.get("TRITON_INTERPRET") == "1", "run with TRITON_INTERPRET=1"
    assert os.environ.get("WXENT_KERNELS") == "triton", "run with WXENT_KERNELS=triton"
    unchecked = cases(validate=False)
    for name, call in cases().items():
        print(f"{name}\n  checked   {count(call).report()}")
        print(f"  unchecked {count(unchecked[name]).report()}")


if __name__ == "__main__":
    main()
