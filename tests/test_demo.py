"""The demo's decision step: tuned thresholds and calibration on the sparse multi-label story."""

from __future__ import annotations

from pathlib import Path

import pytest

from wxent import _demo


@pytest.mark.slow
def test_tuned_thresholds_beat_every_fixed_threshold_and_calibration_lowers_ece(
    tmp_path: Path,
) -> None:
    png = tmp_path / "demo.png"
    results = _demo.run(samples=8000, epochs=5, plot=str(png), progress=False)
    models = results["models"]
    tuned = models[_demo.TUNED]
    fixed = {name: r for name, r in models.items() if name != _demo.TUNED}
    assert len(fixed) == 5  # four losses at threshold 0 and the cost_threshold row
    for name, row in fixed.items():
        assert tuned["f1"] > row["f1"], name
    assert results["tuned_beats_fixed"] is True
    assert len(results["tuned_thresholds"]) == 30
    c = results["calibration"]
    assert c["ece_before"] > 0.2  # pos_weight inflates every probability
    assert c["ece_log_w_shift"] < c["ece_before"] / 10
    assert c["ece_platt"] < c["ece_before"] / 10
    assert results["setup"]["validation_rows"] == 4000
    text = _demo.format_results(results)
    assert _demo.TUNED in text
    assert f"micro-F1 {tuned['f1']:.3f} >" in text
    assert f"{c['ece_before']:.3f} raw" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
