"""``torch.compile`` of ``linear_cross_entropy`` over changing batch sizes (CPU, inductor).

Wall time of each forward + backward call of a compiled loss (the first call of a new
batch size includes its compilation), then the steady-state median of the compiled and
the eager call at the first size. Default options: on the CPU, chunks of 2**23 logits
(1024 rows at 8192 classes), 1 to 4 row chunks per batch.

    python benchmarks/bench_linear_compile.py
"""

from __future__ import annotations

import statistics
import time
import warnings

import torch

import wxent

warnings.filterwarnings("ignore")


def main() -> None:
    torch.manual_seed(0)
    d, v = 256, 8192
    weight = torch.randn(v, d, requires_grad=True)

    def loss(h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return wxent.linear_cross_entropy(h, weight, y)  # default options

    compiled = torch.compile(loss)
    calls = []
    for n in (4096, 4096, 3000, 3500, 2048, 4096, 1000, 2600):
        h = torch.randn(n, d, requires_grad=True)
        y = torch.randint(0, v, (n,))
        start = time.perf_counter()
        compiled(h, y).backward()
        calls.append(f"{n}: {time.perf_counter() - start:.2f} s")
    h = torch.randn(4096, d, requires_grad=True)
    y = torch.randint(0, v, (4096,))
    steady = {}
    for name, fn in (("compiled", compiled), ("eager", loss)):
        times = []
        for _ in range(5):
            start = time.perf_counter()
            fn(h, y).backward()
            times.append(time.perf_counter() - start)
        steady[name] = statistics.median(times) * 1e3
    print("; ".join(calls))
    print(
        f"steady state at 4096 rows: compiled {steady['compiled']:.0f} ms, "
        f"eager {steady['eager']:.0f} ms"
    )


if __name__ == "__main__":
    main()
