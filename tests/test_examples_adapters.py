"""The adapter examples run as scripts and show what the README claims."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_example(name: str, **env_extra: str) -> str:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **env_extra)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    return result.stdout


def _row(out: str, prefix: str) -> list[float]:
    line = next(line for line in out.splitlines() if line.startswith(prefix))
    return [float(x) for x in re.findall(r"\d+\.\d+", line[len(prefix) :])]


@pytest.mark.parametrize("keras_backend", ["tensorflow"])
def test_keras_multilabel_example(keras_backend: str) -> None:
    out = run_example("keras_multilabel.py", KERAS_BACKEND=keras_backend)
    assert f"Keras backend: {keras_backend}" in out
    plain_recall, _ = _row(out, "SigmoidCrossEntropy() ")
    weighted_recall, weighted_precision = _row(out, "SigmoidCrossEntropy(pos_weight=neg/pos)")
    assert plain_recall < 0.2
    assert weighted_recall > 0.5
    assert weighted_precision < 0.3


def test_torch_weighted_softmax_example() -> None:
    out = run_example("torch_weighted_softmax.py")
    plain = _row(out, "SoftmaxCrossEntropy() ")
    weighted = _row(out, "SoftmaxCrossEntropy(class_weight=...)")
    # per-class recalls then macro recall: the rarest class and the macro recall improve
    assert weighted[3] > plain[3]
    assert weighted[-1] > plain[-1]
    assert "state_dict keys: ['class_weight']" in out
    assert "segmentation loss (N, C, H, W):" in out


def test_which_loss_example() -> None:
    out = run_example("which_loss.py")
    for name in (
        "softmax_cross_entropy",
        "sigmoid_cross_entropy",
        "pos_weight=",
        "class_weight=",
        "sample_weight=",
        'reduction="none"',
        "label_smoothing=",
        "ignore_label=",
        "sigmoid_focal_loss",
        "asymmetric_loss",
        "logit_adjusted_cross_entropy",
        "cost_sensitive_cross_entropy",
        "bayes_decision",
        "confusion_weighted_cross_entropy",
        "linear_cross_entropy",
        "sampled_softmax_cross_entropy",
    ):
        assert name in out, name
    assert out.count("    -> ") >= 19
    assert "class ids and one-hot labels give the same loss: True" in out
