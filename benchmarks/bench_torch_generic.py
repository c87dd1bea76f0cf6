"""How fast is wxent's generic (Array API) path on PyTorch, eager and under torch.compile?

The generic path is what runs for a loss without a fast path, and for every loss when
the fast paths are off (``WXENT_KERNELS=off`` and ``wxent._fastpaths.ENABLED = False``,
both set here). Each loss is timed forward (under ``no_grad``) and forward+backward,
``validate=False``, against PyTorch's native ``F.cross_entropy`` (softmax family) or
``F.binary_cross_entropy_with_logits`` (sigmoid family), eager and compiled, on the same
inputs: the floor of one fused pass over the logits.

    python benchmarks/bench_torch_generic.py                       # eager and compiled
    python benchmarks/bench_torch_generic.py --compiled            # torch.compile only
    python benchmarks/bench_torch_generic.py --before /path/to/older/src

``--before SRC`` also times the wxent found in ``SRC`` (another checkout's ``src``):
each version runs in its own worker process (one wxent per process), the workers
alternate (``--processes`` pairs), and the medians pool every worker's rounds. Every
contender is first checked against a float64 value: wxent against the NumPy formulas
below, the native peers against themselves on float64 inputs.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import numpy as np

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"

#: (key, row label, family). The family picks the native peer.
LOSSES = [
    ("softmax_ce", "softmax_cross_entropy (class weights, ignore_index, smoothing 0.1)", "softmax"),
    ("softmax_ce_prob", "softmax_cross_entropy (probability labels)", "softmax"),
    ("sigmoid_ce", "sigmoid_cross_entropy (per-class pos_weight)", "sigmoid"),
    ("sigmoid_focal", "sigmoid_focal_loss (gamma=2, alpha=0.25)", "sigmoid"),
    ("asymmetric", "asymmetric_loss (defaults)", "sigmoid"),
    ("softmax_focal", "softmax_focal_loss (gamma=2, ignore_index)", "softmax"),
    ("expected_cost", "expected_cost_loss", "softmax"),
]

IGNORE = -100
EPS = 0.1


def _log_softmax(x: np.ndarray) -> np.ndarray:
    m = x.max(axis=1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))


def reference(key: str, data: dict[str, np.ndarray]) -> float:
    """The float64 loss (``reduction="mean"``), from the docstring formulas."""
    x = data["x"].astype(np.float64)
    if key == "expected_cost":
        x = data["xc"].astype(np.float64)
        p = np.exp(_log_softmax(x))
        return float((data["costs"][data["yc"]] * p).sum(axis=1).mean())
    if key in ("softmax_ce", "softmax_focal"):
        y = data["y"]
        valid = y != IGNORE
        log_p = _log_softmax(x)[valid]
        yv = y[valid]
        lp = log_p[np.arange(len(yv)), yv]
        if key == "softmax_focal":
            return float((-((-np.expm1(lp)) ** 2) * lp).sum() / valid.sum())
        loss = (1 - EPS) * -lp + EPS * -log_p.mean(axis=1)
        return float((data["w"][yv] * loss).sum() / valid.sum())
    if key == "softmax_ce_prob":
        return float(-(data["p"] * _log_softmax(x)).sum(axis=1).mean())
    z = data["z"].astype(np.float64)
    if key == "sigmoid_ce":
        minus_log_p, minus_log_q = common.softplus(-x), common.softplus(x)
        return float((data["w"] * z * minus_log_p + (1 - z) * minus_log_q).mean())
    return common.binary_focal_reference("focal" if key == "sigmoid_focal" else "asymmetric", x, z)


def make_data(rows: int, classes: int, cost_classes: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    y = rng.integers(0, classes, size=rows)
    y[rng.random(rows) < 0.1] = IGNORE
    p = rng.random((rows, classes))
    return {
        "x": (2 * rng.standard_normal((rows, classes))).astype(np.float32),
        "y": y,
        "p": (p / p.sum(axis=1, keepdims=True)).astype(np.float32),
        "z": (rng.random((rows, classes)) < 0.03).astype(np.float32),
        "w": (0.5 + rng.random(classes)).astype(np.float32),
        "xc": (2 * rng.standard_normal((rows, cost_classes))).astype(np.float32),
        "yc": rng.integers(0, cost_classes, size=rows),
        "costs": (1 - np.eye(cost_classes) + rng.random((cost_classes, cost_classes)))
        .clip(0, None)
        .astype(np.float32),
    }


def losses(key: str, t: dict[str, Any]) -> tuple[Callable[..., Any], Callable[..., Any], str]:
    """(wxent loss of the logits, native peer of the logits, logits name) for ``key``."""
    import torch.nn.functional as F

    import wxent

    fixed = {"validate": False}
    if key == "softmax_ce":
        y, w = t["y"], t["w"]
        return (
            lambda a: wxent.softmax_cross_entropy(
                a, y, class_weight=w, ignore_index=IGNORE, label_smoothing=EPS, **fixed
            ),
            lambda a: F.cross_entropy(a, y, weight=w, ignore_index=IGNORE, label_smoothing=EPS),
            "x",
        )
    if key == "softmax_ce_prob":
        p = t["p"]
        return (
            lambda a: wxent.softmax_cross_entropy(a, p, **fixed),
            lambda a: F.cross_entropy(a, p),
            "x",
        )
    if key == "softmax_focal":
        y = t["y"]
        return (
            lambda a: wxent.softmax_focal_loss(a, y, gamma=2.0, ignore_index=IGNORE, **fixed),
            lambda a: F.cross_entropy(a, y, ignore_index=IGNORE),
            "x",
        )
    if key == "expected_cost":
        yc, costs = t["yc"], t["costs"]
        return (
            lambda a: wxent.expected_cost_loss(a, yc, costs, **fixed),
            lambda a: F.cross_entropy(a, yc),
            "xc",
        )
    z, w = t["z"], t["w"]
    peer = (
        (lambda a: F.binary_cross_entropy_with_logits(a, z, pos_weight=w))
        if (key == "sigmoid_ce")
        else (lambda a: F.binary_cross_entropy_with_logits(a, z))
    )
    if key == "sigmoid_ce":
        ours = lambda a: wxent.sigmoid_cross_entropy(a, z, pos_weight=w, **fixed)  # noqa: E731
    elif key == "sigmoid_focal":
        ours = lambda a: wxent.sigmoid_focal_loss(a, z, gamma=2.0, alpha=0.25, **fixed)  # noqa: E731
    else:
        ours = lambda a: wxent.asymmetric_loss(a, z, **fixed)  # noqa: E731
    return ours, peer, "x"


def _timers(loss: Callable[..., Any], x: Any, compiled: bool) -> dict[str, Callable[[], Any]]:
    """Forward (no_grad) and forward+backward callables of ``loss`` at ``x``."""
    import torch

    fwd_fn = torch.compile(loss, fullgraph=True, dynamic=False) if compiled else loss
    both_fn = torch.compile(loss, fullgraph=True, dynamic=False) if compiled else loss
    xg = x.clone().requires_grad_(True)

    def forward() -> Any:
        with torch.no_grad():
            return fwd_fn(x)

    def both() -> Any:
        xg.grad = None
        value = both_fn(xg)
        value.backward()
        return xg.grad

    return {"forward": forward, "forward+backward": both}


def worker(args: Any) -> None:
    """Time every case with the wxent of ``args.worker``; write the times as JSON."""
    import gc
    import time

    import torch

    import wxent
    from wxent import _fastpaths

    os.environ["WXENT_KERNELS"] = "off"
    _fastpaths.ENABLED = False
    assert Path(wxent.__file__).resolve().is_relative_to(args.worker.resolve()), wxent.__file__
    if args.threads:
        torch.set_num_threads(args.threads)
    data = make_data(args.rows, args.classes, args.cost_classes)
    t = {k: torch.from_numpy(v) for k, v in data.items()}
    t64 = {k: (v.double() if v.is_floating_point() else v) for k, v in t.items()}
    modes = args.modes.split(",")
    out: dict[str, Any] = {}
    for key, _label, _family in LOSSES:
        if args.only and key not in args.only.split(","):
            continue
        ours, peer, xname = losses(key, t)
        _, peer64, _ = losses(key, t64)
        x = t[xname]
        ref = reference(key, data)
        peer_ref = float(peer64(t64[xname]))
        contenders = {f"ours {mode}": _timers(ours, x, mode == "compiled") for mode in modes}
        contenders["peer eager"] = _timers(peer, x, compiled=False)
        contenders["peer compiled"] = _timers(peer, x, compiled=True)
        for direction in ("forward", "forward+backward"):
            fns = {name: c[direction] for name, c in contenders.items()}
            for name, fn in fns.items():  # warm-up (compilation), then the check
                fn()
                if direction == "forward":
                    got, want = float(fn()), ref if name.startswith("ours") else peer_ref
                    if abs(got - want) > 2e-4 * max(1.0, abs(want)):
                        raise AssertionError(f"{key} {name}: {got!r} vs float64 {want!r}")
            times: dict[str, list[float]] = {name: [] for name in fns}
            for _ in range(args.rounds):
                for name, fn in fns.items():
                    gc.collect()
                    start = time.perf_counter()
                    fn()
                    times[name].append(time.perf_counter() - start)
            memory = {name: common.peak_memory_mib(fn) for name, fn in fns.items()}
            out[f"{key}|{direction}"] = {"times": times, "memory": memory}
            print(
                f"  {key:15s} {direction:16s} "
                + " ".join(f"{n}={statistics.median(v) * 1e3:.1f}ms" for n, v in times.items()),
                flush=True,
            )
    Path(args.json).write_text(json.dumps(out))


def _run_worker(src: Path, args: Any, modes: str) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        path = f.name
    command = [
        sys.executable, __file__, "--worker", str(src), "--json", path,
        "--rows", str(args.rows), "--classes", str(args.classes),
        "--cost-classes", str(args.cost_classes), "--rounds", str(args.rounds),
        "--modes", modes, "--only", args.only, "--threads", str(args.threads),
    ]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(src), MALLOC_MMAP_THRESHOLD_="65536")
    print(f"== worker {src} ({modes})", flush=True)
    subprocess.run(command, check=True, env=env)
    result: dict[str, Any] = json.loads(Path(path).read_text())
    os.unlink(path)
    return result


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1e3 if samples else float("nan")


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few rounds")
    parser.add_argument("--rows", type=int)
    parser.add_argument("--classes", type=int)
    parser.add_argument("--cost-classes", type=int, help="classes of expected_cost_loss")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--compiled", action="store_true", help="torch.compile rows only")
    parser.add_argument("--eager", action="store_true", help="eager rows only")
    parser.add_argument("--before", type=Path, help="another wxent src to time beside this one")
    parser.add_argument("--processes", type=int, default=2, help="worker pairs (with --before)")
    parser.add_argument("--only", default="", help="comma-separated loss keys")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--frameworks", default="torch")
    parser.add_argument("--output", type=Path, default=HERE.parent / "BENCHMARKS.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--no-generic", action="store_true", help="(run.py's flag; ignored)")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--json", help=argparse.SUPPRESS)
    parser.add_argument("--modes", default="eager,compiled", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.rows = args.rows or (128 if args.quick else 1024)
    args.classes = args.classes or (1024 if args.quick else 8192)
    args.cost_classes = args.cost_classes or min(args.classes, 256 if args.quick else 1024)
    args.rounds = args.rounds or (3 if args.quick else 5)
    if args.worker is not None:
        worker(args)
        return
    if "torch" not in args.frameworks.split(","):
        return
    modes = "compiled" if args.compiled else "eager" if args.eager else "eager,compiled"
    versions = [("after", SRC)]
    if args.before is not None:
        versions = [("before", args.before.resolve()), ("after", SRC)]
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in versions}
    for _ in range(args.processes if args.before is not None else 1):
        for name, src in versions:
            runs[name].append(_run_worker(src, args, modes))
    write(args, modes, versions, runs)


def write(args: Any, modes: str, versions: list[Any], runs: dict[str, Any]) -> None:
    """Pool the workers' rounds into one table (ms medians, peak MiB) and append it."""
    before = "before" in runs
    label = {k: lbl for k, lbl, _ in LOSSES}
    cols: list[tuple[str, str]] = []  # (header, key into the pooled medians)
    for mode in modes.split(","):
        if before:
            cols += [(f"{mode} before ms", f"before ours {mode}")]
        cols += [(f"{mode} ms", f"after ours {mode}")]
        if before:
            cols += [(f"{mode} after/before", f"ratio {mode}")]
    cols += [("native eager ms", "peer eager"), ("native compiled ms", "peer compiled")]
    for mode in modes.split(","):  # each version against the native peer of its own workers
        suffix = " (before, after)" if before else ""
        cols += [(f"{mode}/native {mode}{suffix}", f"native {mode}")]
    cols += [(f"{mode} MiB" + (" before, after" if before else ""), f"mib {mode}")
             for mode in modes.split(",")]  # fmt: skip
    lines = [
        "| loss | direction | " + " | ".join(h for h, _ in cols) + " |",
        "|---|---|" + "---:|" * len(cols),
    ]
    for key in runs["after"][0]:
        loss, direction = key.split("|")
        pooled: dict[str, list[float]] = {}
        mib: dict[str, list[float]] = {}
        for version, results in runs.items():
            for result in results:
                for name, samples in result[key]["times"].items():
                    pooled.setdefault(f"{version} {name}", []).extend(samples)
                    if not name.startswith("ours"):
                        pooled.setdefault(name, []).extend(samples)
                for name, value in result[key]["memory"].items():
                    if name.startswith("ours"):
                        mib.setdefault(f"{version} {name}", []).append(value)
        med = {k: _median_ms(v) for k, v in pooled.items()}
        cells = []
        for _header, ref in cols:
            kind, _, mode = ref.partition(" ")
            if ref in med:
                cells.append(f"{med[ref]:.1f}")
            elif kind == "ratio":
                mode = ref.split(" ")[1]
                cells.append(f"{med[f'after ours {mode}'] / med[f'before ours {mode}']:.2f}")
            elif kind == "native":
                peer = "peer eager" if mode == "eager" else "peer compiled"
                ratios = [
                    f"{med[f'{v} ours {mode}'] / med[f'{v} {peer}']:.2f}"
                    for v in (("before", "after") if before else ("after",))
                ]
                cells.append(", ".join(ratios))
            else:  # memory
                values = [
                    f"{statistics.median(mib[f'{v} ours {mode}']):.0f}"
                    for v in (("before", "after") if before else ("after",))
                ]
                cells.append(", ".join(values))
        lines.append(f"| {label[loss]} | {direction} | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print(table)
    if args.no_write:
        return
    command = "python benchmarks/bench_torch_generic.py " + " ".join(sys.argv[1:])
    with open(args.output, "a") as f:
        f.write(
            f"\n## PyTorch generic path (fast paths off), {args.rows}x{args.classes} float32\n\n"
            "wxent's generic Array API path (`WXENT_KERNELS=off`, "
            "`wxent._fastpaths.ENABLED = False`), `validate=False`, reduction `mean`, on the "
            "CPU, eager and under `torch.compile(fullgraph=True, dynamic=False)`; forward "
            "under `no_grad`, forward+backward from the logits. Native = "
            "`F.cross_entropy` (softmax family, with the same weights, ignore_index and "
            "smoothing where it has them) or `F.binary_cross_entropy_with_logits` (sigmoid "
            "family), eager and compiled: one fused pass, the floor. `expected_cost_loss` at "
            f"{args.rows}x{args.cost_classes}. Medians of {args.rounds} interleaved rounds"
            + (
                f" in each of {args.processes} alternating worker pairs (before = the wxent "
                f"of `{args.before}`, after = this checkout)"
                if before
                else ""
            )
            + "; MiB = peak resident growth of one call. "
            f"Command: `{command.strip()}`. {common.machine()}\n\n{table}\n"
        )


if __name__ == "__main__":
    main()
