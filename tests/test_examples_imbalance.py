"""The imbalance examples run as scripts and show what their README sections claim."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_example(name: str) -> str:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_sparse_multilabel_example():
    out = run_example("sparse_multilabel.py")
    mean = float(re.search(r"pos_weight from the training labels: mean ([\d.]+)", out).group(1))
    assert 27.0 < mean < 31.0  # negatives / positives with ~1 positive in 30 labels
    rows = {
        m.group(1): (float(m.group(2)), float(m.group(3)))
        for m in re.finditer(r"(\w+): accuracy ([\d.]+)\s+recall ([\d.]+)", out)
    }
    plain_acc, plain_recall = rows["plain"]
    _, weighted_recall = rows["pos_weight"]
    assert plain_acc > 0.95  # "accuracy is high" ...
    assert plain_recall < 0.3  # ... "recall near zero"
    assert weighted_recall > 0.6 and weighted_recall > 3 * plain_recall
    f1 = {
        m.group(1): float(m.group(2))
        for m in re.finditer(r"^\s*(.+?): accuracy .* F1 ([\d.]+)$", out, re.M)
    }
    for name in ("plain", "pos_weight"):  # thresholds tuned on a validation split
        assert f1[f"{name} + tuned thresholds"] > f1[name] + 0.1, name


def test_imbalanced_multiclass_example():
    out = run_example("imbalanced_multiclass.py")
    rows = {}
    for m in re.finditer(r"^\s*(\w+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$", out, re.M):
        rows[m.group(1)] = [float(m.group(i)) for i in range(2, 6)]
    assert set(rows) == {"plain", "class_weight", "logit_adjusted", "adjust_logits"}
    plain = rows.pop("plain")
    assert plain[2] < 0.4  # the rarest class is rarely predicted
    for name, (_, _, rare, balanced) in rows.items():
        assert rare > 0.6, name
        assert balanced > plain[3] + 0.1, name
