"""Compile every Triton kernel of wxent for an sm_90 (Hopper) GPU, without a GPU.

Run by ``tests/test_triton.py`` in a process of its own (without ``TRITON_INTERPRET``);
prints ``compiled`` once per kernel configuration and fails on a compile error or a
register spill. Every optional feature of each kernel is switched on.
"""

from __future__ import annotations

from typing import Any


def compile_kernel(fn: Any, signature: dict, constexprs: dict, num_warps: int) -> None:
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
        triton_common,
        triton_sigmoid,
        triton_softmax,
        triton_softmax_focal,
        triton_softmax_soft,
    )

    rows = {"x_ptr": "*bf16", "x_row_stride": "i64", "grad_ptr": "*bf16"}
    per_row = {"labels_ptr": "*i64", "valid_ptr": "*u8", "w_ptr": "*fp32", "loss_ptr": "*fp32"}
    flags = dict.fromkeys(["HAS_VALID", "HAS_W", "HAS_SMOOTH", "COMPUTE_GRAD", "HAS_DENOM"], True)
    weights = {"labels_ptr": "*i64", "valid_ptr": "*u8", "cw_ptr": "*fp32", "sw_ptr": "*fp32"}
    modes = {"HAS_VALID": True, "CW_MODE": 2, "SW_MODE": 2, "HAS_SMOOTH": True}
    forward = {"x_ptr": "*bf16", "x_row_stride": "i64", **weights, "out_ptr": "*fp32"}
    forward.update({"lse_ptr": "*fp32", "n_rows": "i32", "n_cols": "i32", "eps": "fp32"})
    for lanes, shape in ((True, (1, 8192)), (False, (1, 16384)), (True, (8, 256))):
        constexprs = {**modes, "DENOM": 2, "STORE_LSE": True, "LANES": lanes}
        constexprs.update({"ROWS": shape[0], "BLOCK": shape[1]})
        compile_kernel(triton_softmax._forward_kernel, forward, constexprs, 16)
    backward = {**rows, "grad_row_stride": "i64", **weights, "lse_ptr": "*fp32"}
    backward.update({"g_ptr": "*bf16", "inv_ptr": "*fp32"})
    backward.update({"n_rows": "i32", "n_cols": "i32", "eps": "fp32"})
    for per_row_g in (False, True):
        constexprs = {**modes, "PER_ROW_G": per_row_g, "ROWS": 1, "BLOCK": 8192}
        compile_kernel(triton_softmax._backward_kernel, backward, constexprs, 16)
    finish = {"total_ptr": "*fp32", "denom_ptr": "*fp32", "out_ptr": "*bf16", "inv_ptr": "*fp32"}
    finish["n_const"] = "fp32"
    compile_kernel(triton_common._finish_kernel, finish, {"MODE": 2}, 1)
    focal = {**rows, **per_row, "inv_denom_ptr": "*fp32", "n_cols": "i32", "eps": "fp32"}
    focal["gamma"] = "fp32"
    focal_flags = {**flags, "MODULATE": True, "BLOCK": 8192}
    compile_kernel(triton_softmax_focal._softmax_focal_kernel, focal, focal_flags, 16)
    pointers = ["x_ptr", "z_ptr", "q_ptr", "r_ptr", "s_ptr", "out_ptr", "grad_ptr"]
    sigmoid = {**dict.fromkeys(pointers, "*fp32"), "denom_ptr": "*fp32", "bad_ptr": "*i32"}
    sigmoid.update(dict.fromkeys(["n_rows", "n_cols", "q_stride", "r_stride"], "i32"))
    sigmoid.update(dict.fromkeys(["ignore", "eps", "gamma_pos", "gamma_neg", "clip"], "fp32"))
    switches = ["WEIGHTED", "HAS_Q", "HAS_R", "HAS_IGNORE", "HAS_SMOOTH", "MOD_POS", "MOD_NEG"]
    for phase in (0, 1):
        sigmoid_flags = {
            **dict.fromkeys(switches, True),
            **dict.fromkeys(["CLIP", "COMPUTE_GRAD", "HAS_DENOM", "CHECK", "STORE_LOSS"], True),
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
        compile_kernel(triton_softmax_soft._forward_kernel, soft_forward, constexprs, warps)
    soft_backward = {**soft, "grad_ptr": "*bf16", "grad_row_stride": "i64"}
    soft_backward.update({"stats_ptr": "*fp32", "g_ptr": "*bf16", "inv_ptr": "*fp32"})
    soft_backward.update({"n_rows": "i32", "n_cols": "i32", "eps": "fp32"})
    constexprs = {"HAS_SMOOTH": True, "PER_ROW_G": True, "ROWS": 1, "BLOCK": 8192}
    compile_kernel(triton_softmax_soft._backward_kernel, soft_backward, constexprs, 32)
    scale = {"grad_ptr": "*bf16", "g_ptr": "*fp32", "n_elements": "i64", "group": "i64"}
    compile_kernel(triton_common._scale_kernel, scale, {"PER_GROUP": True, "BLOCK": 4096}, 8)


if __name__ == "__main__":
    main()
