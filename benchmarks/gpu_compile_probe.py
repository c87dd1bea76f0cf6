"""GPU probe: which option makes ``torch.compile`` of a wxent loss disagree with float64.

``python3 benchmarks/gpu_compile_probe.py`` on a CUDA machine (``WXENT_BENCH_DEVICE=cpu``:
a smoke test at small sizes). For ``softmax_cross_entropy`` and ``softmax_focal_loss``
with ``ignore_index`` (the losses ``gpu_agree.py`` found wrong under ``torch.compile`` on
CUDA), each option is varied alone, and each variant is compiled with Inductor and with
``aot_eager`` (the same traced graph without Inductor's code): relative errors of the
loss and the gradient against the float64 generic path, the gradient's error split into
ignored and kept rows. Inductor's generated code of the first variant goes to
``$OUT/inductor_code.txt`` when ``OUT`` is set.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_cases  # noqa: E402
import torch  # noqa: E402

import wxent  # noqa: E402

CUDA = gpu_cases.DEV == "cuda"
N, C = (256, 32768) if CUDA else (64, 512)


def _variants() -> dict[str, Any]:
    ce = wxent.softmax_cross_entropy
    focal = wxent.softmax_focal_loss
    cw_ig = {"ignore_index": -100}
    return {
        "CE cw+ignore+smooth (gpu.py)": lambda i, v: ce(
            v, i["y"], class_weight=i["cw"], label_smoothing=0.1, **cw_ig
        ),
        "CE ignore only": lambda i, v: ce(v, i["y"], **cw_ig),
        "CE ignore, sum": lambda i, v: ce(v, i["y"], reduction="sum", **cw_ig),
        "CE ignore, none (summed)": lambda i, v: ce(v, i["y"], reduction="none", **cw_ig).sum(),
        "CE ignore, validate=False": lambda i, v: ce(v, i["y"], validate=False, **cw_ig),
        "CE no ignored rows": lambda i, v: ce(v, i["y_kept"]),
        "CE ignore_index, none ignored": lambda i, v: ce(v, i["y_kept"], **cw_ig),
        "CE ignore, C/16 classes": lambda i, v: ce(v[:, : C // 16], i["y_narrow"], **cw_ig),
        "focal ignore (gpu.py)": lambda i, v: focal(v, i["y"], gamma=2.0, **cw_ig),
        "focal no ignored rows": lambda i, v: focal(v, i["y_kept"], gamma=2.0),
    }


def _run(loss: Any, inputs: dict, dtype: Any = None) -> tuple[Any, Any]:
    x = inputs["x"].detach().clone()
    x = x.to(dtype) if dtype is not None else x
    x.requires_grad_()
    value = loss(inputs, x)
    value.backward()
    return value.detach().double(), x.grad.double()


def _report(got: tuple, ref: tuple, ignored: Any) -> str:
    scale_l = ref[0].abs().clamp_min(1e-30)
    scale_g = ref[1].abs().max().clamp_min(1e-30)
    loss_err = float((got[0] - ref[0]).abs() / scale_l)
    diff = (got[1] - ref[1]).abs()
    kept = float(diff[~ignored].max() / scale_g) if bool((~ignored).any()) else 0.0
    gone = float(diff[ignored].max() / scale_g) if bool(ignored.any()) else 0.0
    flag = "ok" if max(loss_err, kept, gone) < 2e-4 else "MISMATCH"
    return f"{flag} loss {loss_err:.1e}, grad kept rows {kept:.1e}, ignored rows {gone:.1e}"


def main() -> None:
    inputs = gpu_cases._sigmoid_inputs(N, C, seed=2)
    inputs["y_kept"] = torch.where(inputs["y"] < 0, 0, inputs["y"])
    narrow = inputs["y"] % (C // 16)
    inputs["y_narrow"] = torch.where(inputs["y"] < 0, inputs["y"], narrow)
    ignored = inputs["y"] < 0
    out = os.environ.get("OUT")
    want_code = bool(out)
    print(f"torch {torch.__version__}, {N}x{C}", flush=True)
    for name, loss in _variants().items():
        with gpu_cases.kernels("off"):
            ref = _run(loss, inputs, torch.float64)
        rows_ignored = (
            ignored
            if "no ignored" not in name and "none ignored" not in name
            else (torch.zeros_like(ignored))
        )
        for backend in ("inductor", "aot_eager"):
            torch._dynamo.reset()
            try:
                compiled = torch.compile(loss, backend=backend, fullgraph=True, dynamic=False)
                if want_code and backend == "inductor":
                    from torch._inductor.utils import run_and_get_code

                    got, codes = run_and_get_code(_run, compiled, inputs)
                    (Path(out) / "inductor_code.txt").write_text("\n\n".join(codes))
                    want_code = False
                else:
                    got = _run(compiled, inputs)
                print(f"{name} [{backend}]: {_report(got, ref, rows_ignored)}", flush=True)
            except Exception as exc:
                print(f"{name} [{backend}]: error {type(exc).__name__}: {str(exc)[:160]}")
        got = _run(loss, inputs)
        print(f"{name} [eager]: {_report(got, ref, rows_ignored)}", flush=True)


if __name__ == "__main__":
    main()
