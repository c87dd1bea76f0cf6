"""The accel issue's targets, read from the rows of ``benchmarks/gpu.py``."""

from __future__ import annotations

from typing import Any

GIB = 2.0**30


def _row(rows: list[dict], prefix: str) -> dict | None:
    for row in rows:
        if row["contender"].startswith(prefix) and "error" not in row:
            return row
    return None


def _fmt(row: dict | None) -> str:
    return "-" if row is None else f"{row['ms']:.2f} ms, {row.get('gib', float('nan')):.2f} GiB"


def _status(ok: bool | None) -> str:
    return "not measured" if ok is None else ("met" if ok else "missed")


def _time_target(ours: dict | None, peers: list[dict | None], factor: float = 1.0) -> Any:
    live = [p for p in peers if p is not None]
    if ours is None or not live:
        return None, "-"
    best = min(p["ms"] for p in live)
    return ours["ms"] <= factor * best, f"{ours['ms'] / best:.2f}x the fastest peer"


def targets(results: list[tuple[Any, list[dict]]]) -> list[str]:
    """Markdown lines: one row per target, met or missed."""
    by_key = {case.key: (case, rows) for case, rows in results}
    lines = ["| target | measured | status |", "|---|---|---|"]
    for key in ("softmax_fp32", "softmax_bf16"):
        if key not in by_key:
            continue
        case, rows = by_key[key]
        ours = _row(rows, "wxent (default")
        inplace = _row(rows, "wxent inplace")
        peers = [_row(rows, "Liger"), _row(rows, "torch.compile")]
        ok, ratio = _time_target(ours, peers)
        memory_ok = None if ours is None else ours["gib"] * GIB <= case.logits_bytes * 1.01
        inplace_ok = None if inplace is None else inplace["gib"] * GIB <= 0.05 * case.logits_bytes
        both = None if ok is None or memory_ok is None else ok and memory_ok
        lines.append(
            f"| {case.title}: time <= 1.0x min(Liger, torch.compile), extra memory <= 1x logits "
            f"| wxent {_fmt(ours)} ({ratio}); Liger {_fmt(peers[0])}; compile {_fmt(peers[1])} "
            f"| {_status(both)} |"
        )
        lines.append(
            f"| same, `inplace_backward=True`: extra memory ~0 | {_fmt(inplace)} "
            f"| {_status(inplace_ok)} |"
        )
    if "softmax_soft" in by_key:  # the softmax CE targets, for probability labels
        case, rows = by_key["softmax_soft"]
        ours = _row(rows, "wxent (default")
        ok, ratio = _time_target(ours, [_row(rows, "torch.compile")])
        memory_ok = None if ours is None else ours["gib"] * GIB <= case.logits_bytes * 1.01
        both = None if ok is None or memory_ok is None else ok and memory_ok
        lines.append(
            f"| {case.title}: time <= 1.0x torch.compile, extra memory <= 1x logits "
            f"| wxent {_fmt(ours)} ({ratio}) | {_status(both)} |"
        )
    if "sigmoid" in by_key:
        case, rows = by_key["sigmoid"]
        ours = _row(rows, "wxent (default")
        ok, ratio = _time_target(ours, [_row(rows, "torch.compile")])
        lines.append(
            f"| {case.title}: time <= 1.0x torch.compile | wxent {_fmt(ours)} ({ratio}) "
            f"| {_status(ok)} |"
        )
    for key in ("sigmoid_focal", "asymmetric", "softmax_focal"):
        if key not in by_key:
            continue
        case, rows = by_key[key]
        ours = _row(rows, "wxent (default")
        ok, ratio = _time_target(ours, [_row(rows, "torch.compile(wxent")])
        memory_ok = None if ours is None else ours["gib"] * GIB <= case.logits_bytes * 1.01
        both = None if ok is None or memory_ok is None else ok and memory_ok
        lines.append(
            f"| {case.title}: time <= 1.0x torch.compile(wxent loss), extra memory <= 1x "
            f"logits | wxent {_fmt(ours)} ({ratio}) | {_status(both)} |"
        )
    if "linear" in by_key:
        case, rows = by_key["linear"]
        ours = _row(rows, "wxent class weights")
        liger, cce = _row(rows, "Liger"), _row(rows, "cut-cross")
        ok, ratio = _time_target(ours, [liger])
        memory_ok = None if ours is None or cce is None else ours["gib"] <= cce["gib"]
        both = None if ok is None or memory_ok is None else ok and memory_ok
        lines.append(
            f"| {case.title}, class weights + smoothing: time <= 1.0x Liger, memory <= 1.0x CCE "
            f"| wxent {_fmt(ours)} ({ratio}); Liger {_fmt(liger)}; CCE {_fmt(cce)} "
            f"| {_status(both)} |"
        )
    if "jax_linear" in by_key:
        case, rows = by_key["jax_linear"]
        ours, peer = _row(rows, "wxent"), _row(rows, "matmul")
        ok, ratio = _time_target(ours, [peer], 1.2)
        memory_ok = (
            None
            if ours is None or peer is None or not peer["gib"]
            else ours["gib"] <= 0.25 * peer["gib"]
        )
        both = None if ok is None or memory_ok is None else ok and memory_ok
        lines.append(
            f"| {case.title}: time <= 1.2x matmul + Optax at <= 25% of its memory "
            f"| wxent {_fmt(ours)} ({ratio}); Optax {_fmt(peer)} | {_status(both)} |"
        )
    return lines
