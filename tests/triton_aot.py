"""Compile every Triton kernel of wxent for an sm_90 (Hopper) GPU, without a GPU.

Run by ``tests/test_triton.py`` in a process of its own (without ``TRITON_INTERPRET``),
with the installed Triton and with Triton 3.6 (what torch 2.11's CUDA builds ship);
prints ``compiled`` once per kernel configuration and fails on a compile error or a
register spill. Every optional feature of each kernel is switched on; the forward
kernels of the softmax family (loops whose per-block sums Triton's passes rewrite) are
also compiled with each switch off in turn and each mode at each value (Triton 3.6
failed the probability-label kernel without class weights only). ``--sweep`` does that
for every kernel (a few minutes; run it when a kernel changes); ``--plain`` compiles
each kernel once, every feature on (the installed Triton's check in ``make test``: the
variations run with Triton 3.6, whose compiler failed one, and each compile takes a
second of the suite's time on a CI machine without a cache).
"""

from __future__ import annotations

import sys
from typing import Any

#: Constexpr switches that take more values than on/off.
MODES = {
    "CW_MODE": (0, 1, 2),
    "SW_MODE": (0, 1, 2),
    "DENOM": (0, 1, 2),
    "G_MODE": (0, 1, 2),
    "SHARE": (0, 1, 2),
    "FINISH": (0, 1, 2),
    "PROBE": (0, 1, 2),
    "PHASE": (0, 1),
    "COST": (0, 1, 2),
}
SWEEP = "--sweep" in sys.argv
PLAIN = "--plain" in sys.argv


def variants(constexprs: dict) -> list[dict]:
    """``constexprs`` and, one at a time, each switch flipped and each mode's values."""
    out = [dict(constexprs)]
    for key, value in constexprs.items():
        if isinstance(value, bool):
            out.append({**constexprs, key: not value})
        elif key in MODES:
            out += [{**constexprs, key: m} for m in MODES[key] if m != value]
    return out


def compile_kernel(
    fn: Any, signature: dict, constexprs: dict, num_warps: int, vary: bool = False
) -> None:
    """Compile ``fn``; ``vary`` (or ``--sweep``): every :func:`variants` of its switches,
    with 16-bit and with float32 logits (Triton 3.6 failed on float32 pointers only)."""
    if PLAIN or not (vary or SWEEP):
        _compile(fn, signature, constexprs, num_warps)
        return
    wide = {k: ("*fp32" if v == "*bf16" else v) for k, v in signature.items()}
    for each in variants(constexprs):
        if each.get("COST") and each.get("LANES"):
            continue  # (refused by the kernel: the expected cost keeps one maximum per row)
        for sig in (signature, wide) if wide != signature else (signature,):
            _compile(fn, sig, each, num_warps)


def _compile(fn: Any, signature: dict, constexprs: dict, num_warps: int) -> None:
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    signature = {**signature, **dict.fromkeys(constexprs, "constexpr")}
    source = ASTSource(fn=fn, signature=signature, constexprs=constexprs)
    kernel = triton.compile(
        source, target=GPUTarget("cuda", 90, 32), options={"num_warps": num_warps}
    )
    assert "ld.local" not in kernel.asm["ptx"], f"{fn.__name__}: register spills"
    print("compiled", flush=True)


def main() -> None:
    from wxent._fastpaths import (
        triton_checks,
        triton_common,
        triton_sigmoid,
        triton_softmax,
        triton_softmax_focal,
        triton_softmax_soft,
        triton_weights,
    )

    rows = {"x_ptr": "*bf16", "x_row_stride": "i64", "grad_ptr": "*bf16"}
    weights = {"labels_ptr": "*i64", "cw_ptr": "*fp32", "sw_ptr": "*fp32"}
    modes = {"HAS_IGNORE": True, "CW_MODE": 2, "SW_MODE": 2, "HAS_SMOOTH": True}
    forward = {"x_ptr": "*bf16", "x_row_stride": "i64", **weights, "out_ptr": "*fp32"}
    forward.update({"lse_ptr": "*fp32", "status_ptr": "*i32", "costs_ptr": "*fp32"})
    forward.update({"n_rows": "i32", "n_cols": "i32", "eps": "fp32", "ignore": "i64"})
    forward["cost_weight"] = "fp32"
    for lanes, shape in ((True, (1, 8192)), (False, (1, 16384)), (True, (8, 256))):
        constexprs = {**modes, "DENOM": 2, "STORE_LSE": True, "LANES": lanes}
        constexprs.update({"CHECK": True, "CHECK_SW": True, "COST": 0})
        constexprs.update({"ROWS": shape[0], "BLOCK": shape[1]})
        vary = shape == (1, 16384)
        compile_kernel(triton_softmax._forward_kernel, forward, constexprs, 16, vary)
    for shape in ((1, 16384), (8, 256)):  # cross-entropy + expected cost (no lanes)
        constexprs = {**modes, "DENOM": 2, "STORE_LSE": True}
        constexprs.update({"CHECK": True, "CHECK_SW": True, "COST": 2, "LANES": False})
        constexprs.update({"ROWS": shape[0], "BLOCK": shape[1]})
        compile_kernel(triton_softmax._forward_kernel, forward, constexprs, 16, True)
    backward = {**rows, "grad_row_stride": "i64", **weights, "lse_ptr": "*fp32"}
    backward.update({"g_ptr": "*bf16", "inv_ptr": "*fp32", "costs_ptr": "*fp32"})
    backward.update({"n_rows": "i32", "n_cols": "i32", "eps": "fp32", "ignore": "i64"})
    backward["cost_weight"] = "fp32"
    for g_mode, cost in ((0, 0), (2, 0), (0, 1), (2, 1), (0, 2), (2, 2)):
        constexprs = {**modes, "G_MODE": g_mode, "COST": cost, "ROWS": 1, "BLOCK": 8192}
        compile_kernel(triton_softmax._backward_kernel, backward, constexprs, 16)
    focal = {**rows, **weights, "loss_ptr": "*fp32", "denom_ptr": "*fp32", "status_ptr": "*i32"}
    focal.update({"n_rows": "i32", "n_cols": "i32", "eps": "fp32", "gamma": "fp32"})
    focal.update({"ignore": "i64", "inv_const": "fp32", "n_den": "i32"})
    focal_flags = {**modes, "MODULATE": True, "COMPUTE_GRAD": True, "DENOM": 2, "CHECK": True}
    focal_flags.update({"CHECK_SW": True, "DEN_BLOCK": 64, "BLOCK": 8192})
    compile_kernel(triton_softmax_focal._softmax_focal_kernel, focal, focal_flags, 16, True)
    denominator = {**weights, "out_ptr": "*fp32", "n_rows": "i32", "n_cols": "i32"}
    denominator["ignore"] = "i64"
    constexprs = {"HAS_IGNORE": True, "CW_MODE": 2, "SW_MODE": 2, "WEIGHTED": True}
    constexprs["ROWS"] = 1024
    compile_kernel(triton_softmax_focal._denominator_kernel, denominator, constexprs, 4)
    pointers = ["x_ptr", "z_ptr", "q_ptr", "r_ptr", "s_ptr", "out_ptr", "grad_ptr"]
    sigmoid = {**dict.fromkeys(pointers, "*fp32"), "denom_ptr": "*fp32", "status_ptr": "*i32"}
    sigmoid.update(dict.fromkeys(["n_rows", "n_cols", "q_stride", "r_stride"], "i32"))
    sigmoid.update(dict.fromkeys(["ignore", "eps", "gamma_pos", "gamma_neg", "clip"], "fp32"))
    sigmoid.update(dict.fromkeys(["keep", "inv_const", "alpha_pos", "alpha_neg"], "fp32"))
    switches = ["HAS_Q", "HAS_R", "HAS_ALPHA", "HAS_IGNORE", "HAS_SMOOTH"]
    switches += ["MOD_POS", "MOD_NEG"]
    for phase in (0, 1):
        sigmoid_flags = {
            **dict.fromkeys(switches, True),
            **dict.fromkeys(["CLIP", "COMPUTE_GRAD", "CHECK", "STORE_LOSS"], True),
            "DENOM": 2,
            "SHARE": 2,
            "CHECK_SW": True,
            "PHASE": phase,
            "PER_ELEMENT": phase == 1,
            "SW_MODE": 2,
            "BLOCK_R": 4,
            "BLOCK_C": 1024,
        }
        compile_kernel(triton_sigmoid._sigmoid_kernel, sigmoid, sigmoid_flags, 8)
    soft = {"x_ptr": "*bf16", "x_row_stride": "i64", "y_ptr": "*bf16", "y_row_stride": "i64"}
    soft_forward = {**soft, "cw_ptr": "*fp32", "sw_ptr": "*fp32", "out_ptr": "*fp32"}
    soft_forward.update({"stats_ptr": "*fp32", "bad_ptr": "*i32", "n_rows": "i32"})
    soft_forward.update({"n_cols": "i32", "eps": "fp32", "tol": "fp32"})
    soft_modes = {"CW_MODE": 2, "SW_MODE": 2, "HAS_SMOOTH": True}
    for shape, warps in (((1, 8192), 16), ((8, 256), 8)):
        constexprs = {**soft_modes, "DENOM": 2, "STORE_STATS": True, "CHECK": True}
        constexprs.update({"ROWS": shape[0], "BLOCK": shape[1]})
        vary = shape == (1, 8192)
        compile_kernel(triton_softmax_soft._forward_kernel, soft_forward, constexprs, warps, vary)
    soft_backward = {**soft, "grad_ptr": "*bf16", "grad_row_stride": "i64"}
    soft_backward.update({"stats_ptr": "*fp32", "g_ptr": "*bf16", "inv_ptr": "*fp32"})
    soft_backward.update({"n_rows": "i32", "n_cols": "i32", "eps": "fp32"})
    constexprs = {"HAS_SMOOTH": True, "G_MODE": 0, "ROWS": 1, "BLOCK": 8192}
    compile_kernel(triton_softmax_soft._backward_kernel, soft_backward, constexprs, 32)
    scale = {"grad_ptr": "*bf16", "g_ptr": "*fp32", "n_elements": "i64", "group": "i64"}
    compile_kernel(triton_common._scale_kernel, scale, {"PER_GROUP": True, "BLOCK": 4096}, 8)
    scaling = {"a": "*fp32", "na": "i32", "out_a": "*fp32", "b": "*fp32", "nb": "i32"}
    scaling["out_b"] = "*fp32"
    constexprs = {"HAS_B": True, "JOINT": True, "BLOCK": triton_weights.BLOCK}
    compile_kernel(triton_weights._scale_kernel, scaling, constexprs, 8)
    settle = {"total_ptr": "*fp32", "n_total": "i32", "den_ptr": "*fp32", "n_den": "i32"}
    settle.update({"n_const": "fp32", "out_ptr": "*bf16", "inv_ptr": "*fp32"})
    settle.update({"word_ptr": "*i32", "status_ptr": "*i32", "n_status": "i32"})
    for i in range(4):
        settle.update({f"a{i}_ptr": "*fp32", f"n{i}": "i32", f"code{i}": "i32"})
    settle.update({"x_ptr": "*bf16", "x_row_stride": "i64", "n_cols": "i32", "n_probe": "i32"})
    settle["tol"] = "fp32"
    for probe, atomic in ((1, True), (2, False)):
        constexprs = {"FINISH": 2, "CHECK": True, "ATOMIC": atomic, "PROBE": probe}
        constexprs.update(BLOCK=1024, WIDE=triton_checks.WIDE)
        compile_kernel(triton_checks._settle_kernel, settle, constexprs, 8)


if __name__ == "__main__":
    main()
