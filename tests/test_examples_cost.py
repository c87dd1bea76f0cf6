"""The cost-sensitive digits example runs and cost-aware decisions lower the mean cost."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROW = re.compile(r"^(?P<name>\S.*?)\s{2,}(?P<cost>\d+\.\d+)\s+(?P<accuracy>\d+\.\d+)$")


def test_cost_sensitive_digits_example():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), *filter(None, [env.get("PYTHONPATH")])])
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "cost_sensitive_digits.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rows = {}
    for line in result.stdout.splitlines():
        match = ROW.match(line)
        if match:
            rows[match["name"]] = (float(match["cost"]), float(match["accuracy"]))
    assert set(rows) == {
        "plain CE + argmax",
        "plain CE + bayes_decision",
        "cost-sensitive CE + bayes_decision",
        "confusion-weighted CE + argmax",
    }, result.stdout
    argmax_cost = rows["plain CE + argmax"][0]
    assert rows["plain CE + bayes_decision"][0] < argmax_cost
    assert rows["cost-sensitive CE + bayes_decision"][0] < argmax_cost
    assert all(0.5 < accuracy <= 1.0 for _, accuracy in rows.values())
