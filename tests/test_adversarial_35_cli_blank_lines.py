"""Blank lines in a CSV label file read by ``wxent weights``.

pyarrow's reader skipped empty lines, so a blank line between labels (a missing label,
one sample lost) went unnoticed: the counts and weights came out of the other rows. A
blank line between labels is now a row whose labels are missing, an error naming that
row (as a missing value is); blank lines after the last label end the file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wxent import cli


def _run(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    try:
        code = cli.main(["weights", str(path), *extra])
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("text", "row"),
    [
        (b"y\n0\n1\n\n1\n2\n", 3),
        (b"y\r\n0\r\n\r\n1\r\n", 2),
        (b"y\n\n0\n1\n", 1),
        (b"a,y\n0,1\n\n1,2\n", 2),
    ],
)
def test_blank_line_between_labels_is_a_missing_label(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: bytes, row: int
) -> None:
    path = tmp_path / "labels.csv"
    path.write_bytes(text)
    code, out, err = _run(path, capsys, "--column", "y")
    assert code == 2 and not out
    assert err.strip().splitlines() == [
        f"wxent: error: missing label in column 'y', row {row} (1 in all)"
    ]


def test_blank_line_in_multi_label_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "tags.csv"
    path.write_bytes(b"a,b\n0,1\n1,0\n\n1,1\n")
    code, _, err = _run(path, capsys, "--multi-label")
    assert code == 2 and "missing label in column 'a', row 3" in err


def test_whitespace_line_names_its_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "labels.csv"
    path.write_bytes(b"y\ncat\n  \ndog\n")
    code, _, err = _run(path, capsys, "--column", "y")
    assert code == 2 and "missing label (blank) in column 'y', row 2" in err


@pytest.mark.parametrize("end", [b"", b"\n", b"\n\n", b"\n\n\n\n", b"\r\n\r\n"])
def test_blank_lines_at_the_end_are_not_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], end: bytes
) -> None:
    path = tmp_path / "labels.csv"
    path.write_bytes(b"y\n0\n1\n1\n2" + end)
    code, out, _ = _run(path, capsys, "--column", "y", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["samples"] == 4 and report["counts"] == [1, 2, 1]
