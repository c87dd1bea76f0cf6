"""The ``wxent demo`` command: the sparse multi-label story, and its --plot checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from test_cli import assert_one_line_error, run
from wxent import cli


def test_demo_weighting_lifts_recall(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "demo.png"
    code, out, err = run(
        ["demo", "--samples", "8000", "--epochs", "5", "--json", "--plot", str(png)], capsys
    )
    assert code == 0
    results = json.loads(out)
    models = results["models"]
    plain = models["plain sigmoid cross-entropy"]
    weighted = models["pos_weight = negatives/positives"]
    moved = next(v for k, v in models.items() if "cost_threshold" in k)
    assert plain["recall"] < 0.2
    assert weighted["recall"] > 0.5 and weighted["recall"] > 4 * plain["recall"]
    # the price of the recall: most positive predictions are wrong (plain makes few or none)
    assert weighted["precision"] < 0.3
    assert plain["precision"] == 0.0 or plain["precision"] > weighted["precision"]
    assert moved["recall"] > 0.5 and moved["threshold"] < 0
    assert moved["threshold"] == pytest.approx(results["setup"]["cost_threshold"])
    assert any(k.startswith("focal") for k in models)
    assert any(k.startswith("asymmetric") for k in models)
    assert 25 < results["setup"]["mean_pos_weight"] < 35
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "trained plain sigmoid cross-entropy" in err  # progress on stderr


def test_demo_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["demo", "--samples", "600", "--epochs", "1", "--no-plot"], capsys)
    assert code == 0
    header = next(line for line in out.splitlines() if line.startswith("model"))
    assert header.split() == ["model", "recall", "precision", "F1"]
    for name in (
        "plain sigmoid cross-entropy",
        "pos_weight",
        "focal",
        "asymmetric",
        "cost_threshold",
    ):
        assert name in out
    assert "plot:" not in out


def test_demo_without_torch_is_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = cli.importlib.util.find_spec
    monkeypatch.setattr(
        cli.importlib.util, "find_spec", lambda name: None if name == "torch" else real(name)
    )
    code, out, err = run(["demo"], capsys)
    assert out == ""
    assert_one_line_error(code, err, "the demo needs torch", "pip install")


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("plots", "is a directory"),
        ("noext", "unsupported plot format '(no extension)'"),
        ("demo.txt", "unsupported plot format '.txt'"),
        ("missing/demo.png", "no such directory"),
    ],
)
def test_demo_plot_path_checked_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, fragment: str
) -> None:
    (tmp_path / "plots").mkdir()
    code, out, err = run(["demo", "--plot", str(tmp_path / name)], capsys)
    assert out == ""
    assert_one_line_error(code, err, "--plot", fragment)  # one line: nothing was trained
    for ok in ("a.png", "a.PDF", "a.svg"):
        cli._check_plot(str(tmp_path / ok))
