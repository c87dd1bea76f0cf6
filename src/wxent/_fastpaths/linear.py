"""The linear cross-entropy kernels of PyTorch and JAX: chunked, gradient in the forward pass.

``inputs (N, D) @ weight.T (V, D) + bias`` is never held in full: rows are processed
``chunk`` at a time. Each chunk's matmuls run in the inputs' own dtype (bf16/fp16 operands,
fp32 accumulation inside the GEMM); the softmax and the loss run in float32 per chunk
(``chunk_step`` of :mod:`~wxent._fastpaths.linear_torch` and
:mod:`~wxent._fastpaths.linear_jax`; on CUDA the softmax cross-entropy Triton kernel,
which writes the chunk's gradient over its logits). Every chunk step takes the unfused
loss's limits in rows holding ``+inf`` (loss ``0``, ``log k`` or ``inf``, gradient 0) by
itself, in the graph: no read, the same under ``jit``/``torch.compile`` and unchecked.

Memory beyond the inputs and the returned gradients: one chunk (see
:data:`ACCELERATOR_CHUNK_ELEMENTS`) and the accumulator of ``grad_weight``, float32 on
PyTorch (as accurate as one rounding of the float32 result) and, for 16-bit weights on
JAX accelerators, the 16-bit output itself (see :mod:`~wxent._fastpaths.linear_jax`).

Two differentiable entries per framework, chosen here:

* :func:`total` ``(x, w, b, y, coef)``: ``sum_i coef_i * l_i`` (0 where ``coef_i == 0``)
  and the per-row losses ``l``. When a gradient is needed, the gradient of the total with
  respect to ``x``, ``w`` and ``b`` is computed during the forward pass (three GEMMs per
  chunk in all: logits, ``grad_x``, ``grad_w``), and the backward pass only scales it by
  the upstream scalar. The gradient with respect to ``coef`` is ``l``.
* :func:`rows` ``(x, w, b, y)``: the per-row losses (``reduction="none"``); the backward
  pass recomputes each chunk's logits (the upstream gradient is a vector known only then).

Weights, masks and the reduction are decided by the caller (``wxent._projection``); the
coefficient vector carries them in.
"""

from __future__ import annotations

from typing import Any

from wxent._types import Array

#: Default chunk on CPUs: about 2**23 logits (32 MiB of float32) per chunk.
CPU_CHUNK_ELEMENTS = 2**23

#: Default chunk on accelerators: rows holding about 2**27 logits (256 MiB in bf16, 512
#: MiB in float32), rounded down to a multiple of 256 rows (large GEMM tiles), at least
#: 256 rows: 1024 rows at V=131072. Larger chunks cost memory (the chunk's logits, and
#: on JAX its float32 logits and 16-bit gradient side by side); smaller ones cost time
#: (each chunk's grad_weight GEMM reads and writes the whole (V, D) accumulator).
ACCELERATOR_CHUNK_ELEMENTS = 2**27
#: PyTorch on CUDA: 2**29 logits (4096 rows at V=131072, 1 GiB of bf16 logits). Its
#: grad_weight accumulator is float32 (2 GiB at 131072 x 4096), read and written by every
#: chunk's GEMM: 4 chunks of 16384 rows move 16 GiB for it where 16 chunks move 64 GiB.
TORCH_ACCELERATOR_CHUNK_ELEMENTS = 2**29


def on_accelerator(x: Any, torch_path: bool) -> bool:
    """Whether PyTorch (``torch_path``) or JAX inputs live on an accelerator."""
    if torch_path:
        return bool(x.device.type != "cpu")
    import jax

    if isinstance(x, jax.core.Tracer):
        return bool(jax.default_backend() != "cpu")
    return any(d.platform != "cpu" for d in x.devices())


def default_chunk(
    num_classes: int, num_rows: int, *, accelerator: bool, torch_path: bool = False
) -> int:
    """Rows per chunk: by the number of logits a chunk holds and the kind of device."""
    v = max(1, int(num_classes))
    if accelerator:
        budget = TORCH_ACCELERATOR_CHUNK_ELEMENTS if torch_path else ACCELERATOR_CHUNK_ELEMENTS
        rows = budget // v // 256 * 256
        rows = max(256, rows)
    else:
        rows = max(1, CPU_CHUNK_ELEMENTS // v)
    return max(1, min(rows, int(num_rows)))


def total(
    torch_path: bool,
    x: Array,
    w: Array,
    b: Array | None,
    y: Array,
    coef: Array,
    eps: float,
    chunk: int,
) -> tuple[Array, Array]:
    """``(sum(coef * l), l)`` on PyTorch (``torch_path``) or JAX; see the module's notes."""
    if torch_path:
        from wxent._fastpaths import linear_torch as kernels
    else:
        from wxent._fastpaths import linear_jax as kernels  # type: ignore[no-redef]
    return kernels.total(x, w, b, y, coef, eps, chunk)


def rows(
    torch_path: bool, x: Array, w: Array, b: Array | None, y: Array, eps: float, chunk: int
) -> Array:
    """The per-row losses on PyTorch (``torch_path``) or JAX; see the module's notes."""
    if torch_path:
        from wxent._fastpaths import linear_torch as kernels
    else:
        from wxent._fastpaths import linear_jax as kernels  # type: ignore[no-redef]
    return kernels.rows(x, w, b, y, eps, chunk)
