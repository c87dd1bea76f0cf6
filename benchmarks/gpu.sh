#!/usr/bin/env bash
# The GPU benchmark on a CUDA machine (writes the "## GPU" section of BENCHMARKS.md).
#
# Packages the machine lacks (liger-kernel, cut-cross-entropy, array-api-compat) travel as
# wheels in .whl/ (see BENCHMARKS.md, "GPU"); they are installed into /tmp/site, which goes
# first on PYTHONPATH with src/. Arguments are passed to benchmarks/gpu.py (e.g. --quick).
# The log and BENCHMARKS.md are copied to $OUT when it is set.
set -uo pipefail
cd "$(dirname "$0")/.."
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
fi
export PYTHONPATH="/tmp/site:$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
out="${OUT:-/tmp}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python3 benchmarks/gpu_capture.py 2>&1 | tee "$out/gpu_capture.log"
python3 benchmarks/gpu.py "$@" 2>&1 | tee "$out/gpu.log"
status=${PIPESTATUS[0]}
cp BENCHMARKS.md "$out/BENCHMARKS.md" 2>/dev/null || true
exit "$status"
