"""Host time of the CUDA kernel path, measured without a GPU (kernel launches stubbed).

On a GPU a loss call of moderate size is bound by the host: the device waits for the
Python that runs before the first kernel launch, and a whole call at training batch
sizes costs what its Python costs. This script runs wxent's kernel path on CPU tensors
(``WXENT_KERNELS=triton`` with ``TRITON_INTERPRET=1``) with every Triton launch replaced
by a stub that only writes zeros into the buffers it is given (no kernel runs, so the
values are not checked: ``tests/test_triton*.py`` checks them), and reports per call,
in microseconds of wall time (medians over interleaved rounds, one torch thread):

* ``to forward``: from the call to the launch of the kernel that reads the logits (the
  device's idle time at the start of a call on a GPU, less Triton's own launcher);
* ``forward``: the whole forward call (launches, the checked call's one read);
* ``forward+backward``: the call and ``backward()``.

Triton's launcher (a few microseconds per launch on CUDA) is not included. With
``--before SRC`` another wxent source tree runs in its own process, alternating.

    python benchmarks/bench_launch_host.py
    python benchmarks/bench_launch_host.py --before /path/to/other/src
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _measure(rounds: int, calls: int) -> dict[str, list[float]]:
    os.environ["WXENT_KERNELS"] = "triton"
    os.environ["TRITON_INTERPRET"] = "1"
    import torch
    import triton  # noqa: F401  (imported before TensorFlow in one process)

    import wxent
    from wxent._fastpaths import select, triton_softmax

    torch.set_num_threads(1)
    first: list[float] = []
    given: set[int] = set()

    def stub(self: Any, grid: Any) -> Any:
        def launch(*args: Any, **kwargs: Any) -> None:
            if self.fn.__name__ not in ("_scale_kernel",) and not first:
                first.append(time.perf_counter())
            for t in (*args, *kwargs.values()):
                if isinstance(t, torch.Tensor) and t.data_ptr() not in given:
                    t.zero_()

        return launch

    type(triton_softmax._forward_kernel).__getitem__ = stub  # every kernel's class
    from bench_host import labels_and_weights

    n, c = 64, 1000
    x = torch.randn(n, c, generator=torch.Generator().manual_seed(1), requires_grad=True)
    y, y_ign, cw, z, pw = labels_and_weights(n, c)
    given.update(t.data_ptr() for t in (x, y, y_ign, cw, z, pw))
    cases = {
        "softmax CE, mean": lambda v: wxent.softmax_cross_entropy(x, y, validate=v),
        "softmax CE, class weights + ignore_index, weighted_mean": lambda v: (
            wxent.softmax_cross_entropy(
                x, y_ign, class_weight=cw, ignore_index=-100, reduction="weighted_mean",
                validate=v,
            )
        ),
        "sigmoid CE, pos_weight": lambda v: wxent.sigmoid_cross_entropy(
            x, z, pos_weight=pw, validate=v
        ),
        "sigmoid_focal_loss": lambda v: wxent.sigmoid_focal_loss(x, z, alpha=0.25, validate=v),
        "softmax_focal_loss, ignore_index": lambda v: wxent.softmax_focal_loss(
            x, y_ign, ignore_index=-100, validate=v
        ),
    }  # fmt: skip
    results: dict[str, list[float]] = {}
    before = sum(select.LAUNCHES.values())
    for _ in range(rounds + 1):  # the first round warms up
        for name, call in cases.items():
            for validate in (True, False):
                key = f"{name}|{'default' if validate else 'validate=False'}"
                parts: dict[str, list[float]] = {"to forward": [], "forward": [], "fwd+bwd": []}
                for _ in range(calls):
                    first.clear()
                    start = time.perf_counter()
                    loss = call(validate)
                    mid = time.perf_counter()
                    loss.backward()
                    end = time.perf_counter()
                    parts["to forward"].append(first[0] - start)
                    parts["forward"].append(mid - start)
                    parts["fwd+bwd"].append(end - start)
                for part, times in parts.items():
                    results.setdefault(f"{key}|{part}", []).append(statistics.median(times) * 1e6)
    if sum(select.LAUNCHES.values()) == before:
        raise AssertionError("no kernel was launched: the kernel path did not run")
    return {k: v[1:] for k, v in results.items()}


def _worker(src: str, rounds: int, calls: int) -> dict[str, list[float]]:
    env = dict(os.environ, PYTHONPATH=src)
    command = [sys.executable, __file__, "--worker", "--rounds", str(rounds), "--calls", str(calls)]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if out.returncode:
        raise RuntimeError(f"worker for {src} failed:\n{out.stderr}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=100, help="calls per case per round")
    parser.add_argument("--repeats", type=int, default=3, help="worker alternations")
    parser.add_argument("--before", help="a src/ directory of wxent to compare with")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(_measure(args.rounds, args.calls)))
        return
    sides = {"after": str(ROOT / "src")}
    if args.before:
        sides = {"before": args.before, **sides}
    times: dict[str, dict[str, list[float]]] = {side: {} for side in sides}
    for _ in range(args.repeats):
        for side, src in sides.items():
            for key, values in _worker(src, args.rounds, args.calls).items():
                times[side].setdefault(key, []).extend(values)
    header = "| loss | options | part | " + " | ".join(f"{s} µs" for s in sides) + " |"
    print(header)
    print("|---|---|---|" + "---:|" * len(sides))
    for key in times["after"]:
        name, options, part = key.split("|")
        cells = [f"{statistics.median(times[s][key]):.0f}" for s in sides]
        if args.before:
            ratio = statistics.median(times["after"][key]) / statistics.median(times["before"][key])
            cells[-1] += f" ({ratio:.2f}x)"
        print(f"| {name} | {options} | {part} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
