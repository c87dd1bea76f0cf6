"""Run every benchmark and write BENCHMARKS.md (the entry point of ``make bench``).

Each ``bench_*.py`` answers one question; it checks every contender against a float64
reference before timing, runs the contenders interleaved in one process and appends
its table to the output. Each script runs in its own process with
``MALLOC_MMAP_THRESHOLD_=65536`` (see ``common.py`` for how memory is measured).

    python benchmarks/run.py                  # 4096 x 32768 float32 (slow on small CPUs)
    python benchmarks/run.py --quick          # small sizes, a smoke test
    python benchmarks/run.py --rows 1024 --classes 32768 --output BENCHMARKS.md
    python benchmarks/run.py --only bench_sigmoid --frameworks numpy,torch,jax
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

SCRIPTS = [
    "bench_sparse_softmax.py",
    "bench_soft_labels.py",
    "bench_sigmoid.py",
    "bench_torch_generic.py",
    "bench_linear.py",
    "bench_expected_cost.py",
    "bench_cli.py",
    "bench_thresholds.py",
    "bench_decisions.py",
    "bench_host.py",
    "bench_trace.py",
    "bench_numpy_focal.py",
]

HEADER = """# Benchmarks

Written by `make bench` (`python benchmarks/run.py`). Every contender is checked against a
float64 reference before it is timed ("check": ok = within 2e-4 relative); contenders of a
case run interleaved in one process; times are medians of {rounds} rounds after a warm-up;
"MiB" is the peak growth of the process's resident set while one call runs (inputs
excluded, outputs and gradients included; see `benchmarks/common.py`). Ratios are
ours/peer: below 1 means wxent is faster or leaner. PyTorch runs eagerly, JAX under
`jax.jit`, TensorFlow under `tf.function`.

{machine}

Size: {size}. Command: `{command}`.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rows", type=int)
    parser.add_argument("--classes", type=int)
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--only", default="", help="comma-separated script names")
    parser.add_argument("--frameworks", help="comma-separated subset of numpy,torch,jax,tf")
    parser.add_argument("--output", type=Path, default=HERE.parent / "BENCHMARKS.md")
    args = parser.parse_args()
    import common

    extra = []
    if args.quick:
        extra.append("--quick")
    for name in ("rows", "classes", "rounds", "frameworks"):
        if getattr(args, name) is not None:
            extra += [f"--{name}", str(getattr(args, name))]
    rows = args.rows or (256 if args.quick else 4096)
    classes = args.classes or (2048 if args.quick else 32768)
    rounds = args.rounds or (3 if args.quick else 5)
    command = "python benchmarks/run.py " + " ".join(sys.argv[1:])
    args.output.write_text(
        HEADER.format(
            rounds=rounds,
            machine=common.machine(),
            size=f"{rows} x {classes} float32 (linear: D = {128 if args.quick else 1024})",
            command=command.strip(),
        )
    )
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", TF_CPP_MIN_LOG_LEVEL="3")
    only = {s for s in args.only.split(",") if s}
    for script in SCRIPTS:
        if only and script not in only and script.removesuffix(".py") not in only:
            continue
        start = time.perf_counter()
        print(f"== {script}", flush=True)
        subprocess.run(
            [sys.executable, str(HERE / script), *extra, "--output", str(args.output)],
            check=True,
            env=env,
        )
        print(f"   {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
