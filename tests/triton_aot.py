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
    from wxent._fastpaths import triton_common, triton_sigmoid, triton_softmax, triton_softmax_focal

    rows = {"x_ptr": "*bf16", "x_row_stride": "i64", "grad_ptr": "*bf16"}
    per_row = {"labels_ptr": "*i64", "valid_ptr": "*u8", "w_ptr": "*fp32", "loss_ptr": "*fp32"}
    flags = dict.fromkeys(["HAS_VALID", "HAS_W", "HAS_SMOOTH", "COMPUTE_GRAD", "HAS_DENOM"], True)
    softmax = {**rows, "grad_row_stride": "i64", **per_row, "inv_denom_ptr": "*fp32"}
    softmax.update({"gcoef_ptr": "*fp32", "n_cols": "i32", "eps": "fp32"})
    softmax_flags = {**flags, "HAS_GCOEF": True, "BLOCK": 8192}
    compile_kernel(triton_softmax._softmax_ce_kernel, softmax, softmax_flags, 16)
    focal = {**rows, **per_row, "inv_denom_ptr": "*fp32", "n_cols": "i32", "eps": "fp32"}
    focal["gamma"] = "fp32"
    focal_flags = {**flags, "MODULATE": True, "BLOCK": 8192}
    compile_kernel(triton_softmax_focal._softmax_focal_kernel, focal, focal_flags, 16)
    pointers = ["x_ptr", "z_ptr", "q_ptr", "r_ptr", "s_ptr", "out_ptr", "grad_ptr"]
    sigmoid = {**dict.fromkeys(pointers, "*fp32"), "inv_denom_ptr": "*fp32"}
    sigmoid.update(dict.fromkeys(["n_rows", "n_cols", "q_stride", "r_stride"], "i32"))
    sigmoid.update(dict.fromkeys(["ignore", "eps", "gamma_pos", "gamma_neg", "clip"], "fp32"))
    switches = ["WEIGHTED", "HAS_Q", "HAS_R", "HAS_IGNORE", "HAS_SMOOTH", "MOD_POS", "MOD_NEG"]
    for phase in (0, 1):
        sigmoid_flags = {
            **dict.fromkeys(switches, True),
            **dict.fromkeys(["CLIP", "COMPUTE_GRAD", "HAS_DENOM"], True),
            "PHASE": phase,
            "PER_ELEMENT": phase == 1,
            "SW_MODE": 2,
            "BLOCK_R": 4,
            "BLOCK_C": 1024,
        }
        compile_kernel(triton_sigmoid._sigmoid_kernel, sigmoid, sigmoid_flags, 8)
    scale = {"grad_ptr": "*bf16", "g_ptr": "*fp32", "n_elements": "i64", "group": "i64"}
    compile_kernel(triton_common._scale_kernel, scale, {"PER_GROUP": True, "BLOCK": 4096}, 8)


if __name__ == "__main__":
    main()
