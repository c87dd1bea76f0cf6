"""The linear cross-entropy kernels of PyTorch and JAX: chunked, gradient in the forward pass.

``inputs (N, D) @ weight.T (V, D) + bias`` is never held in full: rows are processed
``chunk`` at a time. Each chunk's matmuls run in the inputs' own dtype (bf16/fp16 operands,
fp32 accumulation inside the GEMM); the softmax and the loss run in float32 per chunk
(``chunk_step`` of :mod:`~wxent._fastpaths.linear_torch` and
:mod:`~wxent._fastpaths.linear_jax`, the one place a fused kernel can replace).

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

from wxent._types import Array

#: Default chunk on CPUs: about 2**23 logits (32 MiB of float32) per chunk.
CPU_CHUNK_ELEMENTS = 2**23

#: Default chunk on accelerators: rows whose float32 logits take about 2 GiB, rounded
#: down to a multiple of 256 rows (large GEMM tiles), at least 256 rows. On an H200 at
#: N=16384, D=4096, V=131072 bf16 (4096 rows): forward+backward 106 ms and 8.1 GiB
#: beyond the inputs, against 114 ms and 5.1 GiB at 1 GiB (2048 rows) and 128 ms and
#: 4.4 GiB at 1024 rows (benchmarks/linear_gpu_check.py).
ACCELERATOR_CHUNK_BYTES = 2**31


def default_chunk(num_classes: int, num_rows: int, *, accelerator: bool) -> int:
    """Rows per chunk: by bytes of float32 logits and the kind of device."""
    v = max(1, int(num_classes))
    if accelerator:
        rows = ACCELERATOR_CHUNK_BYTES // (4 * v) // 256 * 256
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
