"""The wxent command line: weights tables and JSON, every error path, the demo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.utils.class_weight import compute_class_weight

import wxent
from wxent import _labelfile, cli
from wxent._labelfile import CliError

SRC = str(Path(__file__).resolve().parents[1] / "src")


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = cli.main(argv)
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("wxent: error: ")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def labels() -> np.ndarray:
    return np.array([0, 1, 1, 2, 2, 2, 2, 0, 2, 1, 2, 2])


@pytest.fixture
def multi_hot() -> np.ndarray:
    rng = np.random.default_rng(0)
    m = (rng.random((40, 4)) < [0.5, 0.1, 0.25, 0.05]).astype(np.int64)
    m[0] = 1  # every label has a positive
    return m


def _csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    path.write_text("\n".join(",".join(map(str, r)) for r in [header, *rows]) + "\n")
    return path


# ----------------------------------------------------------------------------- weights


def test_weights_csv_json_matches_class_weights(
    tmp_path: Path, labels: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    f = _csv(tmp_path / "y.csv", ["id", "y"], [[i, y] for i, y in enumerate(labels)])
    code, out, err = run(["weights", str(f), "--column", "y", "--json"], capsys)
    assert code == 0 and err == ""
    report = json.loads(out)
    assert report["counts"] == [2, 3, 7]
    assert report["samples"] == labels.size
    np.testing.assert_allclose(report["frequencies"], np.array([2, 3, 7]) / 12)
    assert set(report["weights"]) == {
        "balanced",
        "inverse",
        "inverse_sqrt",
        "effective_number",
        "median_frequency",
    }
    for scheme, weights in report["weights"].items():
        np.testing.assert_allclose(weights, wxent.class_weights(labels, scheme=scheme))
    # scikit-learn's "balanced" is the same formula
    np.testing.assert_allclose(
        report["weights"]["balanced"],
        compute_class_weight("balanced", classes=np.arange(3), y=labels),
    )


def test_weights_table_is_aligned(
    tmp_path: Path, labels: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    f = _csv(tmp_path / "y.csv", ["label"], [[y] for y in labels])
    code, out, _ = run(["weights", str(f)], capsys)
    assert code == 0
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("class"))
    table = lines[header : header + 4]
    assert len({len(line) for line in table}) == 1  # right-aligned columns end together
    assert table[0].split() == [
        "class",
        "count",
        "frequency",
        "balanced",
        "inverse",
        "inverse_sqrt",
        "effective_number",
        "median_frequency",
    ]
    assert table[3].split()[:2] == ["2", "7"]


def test_weights_csv_with_byte_order_mark_and_crlf(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "excel.csv"
    f.write_bytes(b"\xef\xbb\xbflabel,x\r\n1,0.5\r\n0,0.1\r\n1,0.2\r\n")
    code, out, _ = run(["weights", str(f), "--column", "label", "--json"], capsys)
    assert code == 0
    assert json.loads(out)["counts"] == [1, 2]


def test_weights_normalize_option(
    tmp_path: Path, labels: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    np.save(tmp_path / "y.npy", labels)
    code, out, _ = run(["weights", str(tmp_path / "y.npy"), "--normalize", "sum", "--json"], capsys)
    assert code == 0
    for weights in json.loads(out)["weights"].values():
        assert sum(weights) == pytest.approx(1.0)


def test_weights_parquet_and_npy_agree(
    tmp_path: Path, labels: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    pq.write_table(pa.table({"y": labels, "other": labels * 0.5}), tmp_path / "y.parquet")
    np.save(tmp_path / "y.npy", labels)
    _, from_parquet, _ = run(
        ["weights", str(tmp_path / "y.parquet"), "--column", "y", "--json"], capsys
    )
    _, from_npy, _ = run(["weights", str(tmp_path / "y.npy"), "--json"], capsys)
    a, b = json.loads(from_parquet), json.loads(from_npy)
    assert a["counts"] == b["counts"] == [2, 3, 7]
    assert a["weights"] == b["weights"]


def test_weights_multi_label(
    tmp_path: Path, multi_hot: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    names = ["a", "b", "c", "d"]
    f = _csv(tmp_path / "m.csv", names, multi_hot.tolist())
    code, out, _ = run(["weights", str(f), "--multi-label", "--json"], capsys)
    assert code == 0
    report = json.loads(out)
    assert report["labels"] == names
    assert report["positives"] == multi_hot.sum(0).tolist()
    assert report["negatives"] == (1 - multi_hot).sum(0).tolist()
    np.testing.assert_allclose(report["weights"]["pos_weight"], wxent.pos_weights(multi_hot))
    np.save(tmp_path / "m.npy", multi_hot.astype(np.float32))
    code, out, _ = run(["weights", str(tmp_path / "m.npy"), "--multi-label"], capsys)
    assert code == 0 and "pos_weight" in out
    # a subset of the label columns
    code, out, _ = run(
        ["weights", str(f), "--multi-label", "--column", "b", "--column", "d", "--json"], capsys
    )
    assert json.loads(out)["labels"] == ["b", "d"]
    # --max-weight caps
    code, out, _ = run(["weights", str(f), "--multi-label", "--max-weight", "2", "--json"], capsys)
    assert max(json.loads(out)["weights"]["pos_weight"]) <= 2.0


def test_zero_count_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    np.save(tmp_path / "gap.npy", np.array([0, 0, 2, 2, 2]))
    code, _, err = run(["weights", str(tmp_path / "gap.npy")], capsys)
    assert_one_line_error(code, err, "no sample for class(es) [1] of 3", "--zero-count zero")
    code, out, _ = run(
        ["weights", str(tmp_path / "gap.npy"), "--zero-count", "zero", "--json"], capsys
    )
    assert code == 0
    report = json.loads(out)
    assert report["counts"] == [2, 0, 3]
    assert report["weights"]["inverse"][1] == 0.0


# ----------------------------------------------------------------------------- errors


def test_error_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = _csv(tmp_path / "good.csv", ["y", "x"], [[0, 1.0], [1, 2.0]])
    bad_float = _csv(tmp_path / "float.csv", ["y"], [[0], [1.5]])
    negative = _csv(tmp_path / "neg.csv", ["y"], [[0], [-1]])
    missing_value = _csv(tmp_path / "hole.csv", ["y", "x"], [[0, 1], ["", 2]])
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("y,x\n0,1\n1\n")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    header_only = _csv(tmp_path / "header.csv", ["y"], [])
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81garbage")
    broken_parquet = tmp_path / "broken.parquet"
    broken_parquet.write_bytes(b"not a parquet file")
    broken_npy = tmp_path / "broken.npy"
    broken_npy.write_bytes(b"not an npy file")
    float_npy = tmp_path / "float.npy"
    np.save(float_npy, np.array([0.0, 0.5]))
    matrix_npy = tmp_path / "matrix.npy"
    np.save(matrix_npy, np.eye(3))
    vector_npy = tmp_path / "vector.npy"
    np.save(vector_npy, np.array([0, 1, 1]))
    tensor_npy = tmp_path / "tensor.npy"
    np.save(tensor_npy, np.zeros((2, 2, 2)))
    pickled = tmp_path / "obj.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    pq.write_table(pa.table({"y": ["a", "b"]}), tmp_path / "strings.parquet")
    cases = [
        (["weights", str(tmp_path / "nope.csv")], "no such file"),
        (["weights", str(tmp_path)], "is a directory"),
        (["weights", str(tmp_path / "labels.xlsx")], "no such file"),
        (["weights", str(good), "--column", "z"], "--column 'z': no such column"),
        (["weights", str(good)], "choose one with --column NAME"),
        (["weights", str(bad_float)], "non-integer label 1.5 in column 'y', row 2"),
        (["weights", str(negative)], "negative class label -1"),
        (["weights", str(missing_value), "--column", "y"], "missing label"),
        (["weights", str(ragged), "--column", "y"], "line 3"),
        (["weights", str(empty)], "is empty"),
        (["weights", str(header_only)], "holds no labels"),
        (["weights", str(binary)], "not UTF-8"),
        (["weights", str(broken_parquet)], "cannot read"),
        (["weights", str(broken_npy)], "cannot read"),
        (["weights", str(pickled)], "cannot read"),
        (["weights", str(float_npy)], "non-integer label 0.5"),
        (["weights", str(matrix_npy)], "--multi-label"),
        (["weights", str(tensor_npy)], "expected (N,) or (N, L)"),
        (["weights", str(vector_npy), "--column", "y"], "--column, --columns and --exclude apply"),
        (["weights", str(good), "--multi-label"], "is not 0 or 1"),
        (["weights", str(tmp_path / "strings.parquet"), "--multi-label"], "holds string values"),
        (["weights", str(good), "--column", "y", "--normalize", "max"], "invalid choice"),
        (["weights", str(good), "--column", "y", "--beta", "2"], "beta"),
        (["weights", str(good), "--bogus"], "unrecognized arguments"),
        (["weights"], "required: file"),
        ([], "choose a command"),
        (["frobnicate"], "invalid choice"),
        (["demo", "--epochs", "0"], "--epochs must be a positive integer"),
        (["demo", "--seed", "-1", "--no-plot"], "--seed must be an integer in [0, 2**64)"),
        (["demo", "--seed", str(2**70), "--no-plot"], "--seed must be an integer in [0, 2**64)"),
        (["demo", "--samples", "ten"], "invalid int value"),
        (["demo", "--plot", str(tmp_path / "no" / "dir.png")], "no such directory"),
    ]
    (tmp_path / "labels.xlsx").write_bytes(b"")
    cases[2] = (["weights", str(tmp_path / "labels.xlsx")], "unsupported file type '.xlsx'")
    for argv, fragment in cases:
        code, out, err = run(argv, capsys)
        assert out == "", argv
        assert_one_line_error(code, err, fragment)


def test_module_entry_point_error_has_no_traceback(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(
        [sys.executable, "-m", "wxent", "weights", str(tmp_path / "missing.parquet")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"wxent: error: no such file: {tmp_path / 'missing.parquet'}"
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "wxent", "--version"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0 and wxent.__version__ in proc.stdout


# ----------------------------------------------------------------------------- class names


def test_weights_string_labels_csv_parquet_npy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labels = ["dog", "cat", "dog", "emu", "dog", "cat"]
    expected = wxent.class_weights(labels, as_dict=True)
    sk = compute_class_weight("balanced", classes=np.array(["cat", "dog", "emu"]), y=labels)
    csv_file = _csv(tmp_path / "pets.csv", ["id", "pet"], list(enumerate(labels)))
    pq.write_table(pa.table({"pet": labels}), tmp_path / "pets.parquet")
    pq.write_table(
        pa.table({"pet": pa.array(labels).dictionary_encode()}), tmp_path / "cat.parquet"
    )
    np.save(tmp_path / "pets.npy", np.array(labels))
    for f, extra in [
        (csv_file, ["--column", "pet"]),
        (tmp_path / "pets.parquet", []),
        (tmp_path / "cat.parquet", []),
        (tmp_path / "pets.npy", []),
    ]:
        code, out, err = run(["weights", str(f), *extra, "--json"], capsys)
        assert code == 0, err
        report = json.loads(out)
        assert report["classes"] == ["cat", "dog", "emu"]
        assert report["counts"] == [2, 3, 1]
        balanced = report["weights"]["balanced"]
        assert dict(zip(report["classes"], balanced, strict=True)) == pytest.approx(expected)
        np.testing.assert_allclose(balanced, sk, rtol=1e-12)


def test_weights_bool_labels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = _csv(tmp_path / "b.csv", ["spam"], [["true"], ["false"], ["false"], ["True"], ["false"]])
    code, out, _ = run(["weights", str(f), "--format", "python", "--scheme", "balanced"], capsys)
    assert code == 0
    namespace: dict[str, object] = {}
    exec(out, namespace)  # the output is Python you can paste
    flags = [True, False, False, True, False]
    assert namespace["class_weight"] == pytest.approx(wxent.class_weights(flags, as_dict=True))
    assert list(namespace["class_weight"]) == [False, True]


def test_weights_format_python_every_scheme(
    tmp_path: Path, labels: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    np.save(tmp_path / "y.npy", labels)
    code, out, _ = run(["weights", str(tmp_path / "y.npy"), "--format", "python"], capsys)
    assert code == 0
    namespace: dict[str, object] = {}
    exec(out, namespace)
    for scheme in cli.SCHEMES:
        got = namespace[f"class_weight_{scheme}"]
        assert got == pytest.approx(wxent.class_weights(labels, scheme=scheme, as_dict=True))
        assert all(type(k) is int for k in got)


def test_weights_multi_label_by_glob_and_exclude(
    tmp_path: Path, multi_hot: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    names = ["tag_a", "tag_b", "tag_c", "tag_d"]
    rows = [[i, f"note {i}", *r] for i, r in enumerate(multi_hot.tolist())]
    f = _csv(tmp_path / "tags.csv", ["id", "text", *names], rows)
    table = {"id": np.arange(len(rows)), **{n: multi_hot[:, i] for i, n in enumerate(names)}}
    pq.write_table(pa.table(table), tmp_path / "tags.parquet")
    expected = wxent.pos_weights(multi_hot).tolist()
    for argv in (
        [str(f), "--columns", "tag_*"],
        [str(f), "--exclude", "id", "--exclude", "text"],
        [str(tmp_path / "tags.parquet"), "--columns", "tag_*"],
        [str(tmp_path / "tags.parquet"), "--exclude", "id"],
    ):
        code, out, err = run(["weights", *argv, "--multi-label", "--json"], capsys)
        assert code == 0, err
        report = json.loads(out)
        assert report["labels"] == names
        np.testing.assert_allclose(report["weights"]["pos_weight"], expected)
    code, out, _ = run(["weights", str(f), "--columns", "tag_[bd]", "--multi-label"], capsys)
    assert code == 0 and "tag_b" in out and "tag_a" not in out
    code, out, _ = run(
        ["weights", str(f), "--columns", "tag_*", "--multi-label", "--format", "python"], capsys
    )
    namespace: dict[str, object] = {}
    exec(out, namespace)
    assert namespace["labels"] == names
    assert namespace["pos_weight"] == pytest.approx(expected)


def test_bool_columns_as_multi_label(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pq.write_table(
        pa.table({"a": [True, False, False], "b": [True, True, False]}), tmp_path / "b.pq"
    )
    code, out, _ = run(["weights", str(tmp_path / "b.pq"), "--multi-label", "--json"], capsys)
    assert code == 0
    assert json.loads(out)["weights"]["pos_weight"] == [2.0, 0.5]


# ----------------------------------------------------------------------------- hardening


def test_huge_label_never_allocates_by_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labels = np.array([0, 1, 1, 50_000_000])
    tracemalloc.start()
    try:
        with pytest.raises(CliError, match=r"--zero-count zero or --zero-count max"):
            _labelfile.count_column("y", labels, "raise")
        with pytest.raises(CliError, match=r"makes 50000001 classes"):
            _labelfile.count_column("y", labels, "zero")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000  # a dense count would take 400 MB
    f = _csv(tmp_path / "big.csv", ["y"], [[y] for y in labels])
    code, _, err = run(["weights", str(f)], capsys)
    assert_one_line_error(
        code, err, "no sample for class(es) [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]", "49999988 more"
    )
    assert "--zero-count zero" in err


def test_errors_name_the_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    np.save(tmp_path / "y.npy", np.array([0, 1, 1]))
    f = str(tmp_path / "y.npy")
    for argv, fragment in [
        ([f, "--max-weight", "0", "--multi-label"], "--max-weight must be a finite number > 0"),
        ([f, "--beta", "1"], "--beta must be in [0, 1)"),
        ([f, "--json", "--format", "table"], "--json and --format table disagree"),
        ([f, "--multi-label", "--scheme", "inverse"], "--scheme applies to class labels"),
        # a flag of the other kind of labels is an error, never silently ignored
        ([f, "--multi-label", "--beta", "0.5"], "--beta applies to class labels"),
        ([f, "--max-weight", "3"], "--max-weight caps pos_weight"),
    ]:
        code, out, err = run(["weights", *argv], capsys)
        assert out == ""
        assert_one_line_error(code, err, fragment)
    message = 'Invalid value for argument `zero_count`. Expected ... Received: zero_count="zero"'
    assert cli._flags(message) == (
        "Invalid value for argument --zero-count. Expected ... Received: --zero-count zero"
    )
    assert cli._flags("Received: max_weight=-1.0") == "Received: --max-weight -1.0"


def test_malformed_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad_row = tmp_path / "latin1.csv"
    bad_row.write_bytes(b"y\ncat\n\xe9t\xe9\n")
    dup = _csv(tmp_path / "dup.csv", ["y", "y"], [[0, 1]])
    tags = _csv(tmp_path / "tags.csv", ["tag_a", "note"], [[1, "x"], [0, "y"]])
    dates = tmp_path / "d.parquet"
    pq.write_table(pa.table({"d": pa.array([1, 2], pa.date32())}), dates)
    blank = tmp_path / "blank.csv"
    blank.write_text("\n\n")
    for argv, fragment in [
        ([str(bad_row)], "column 'y' is not UTF-8 text"),
        ([str(dup), "--column", "y"], "two columns named 'y'"),
        ([str(tags), "--multi-label"], "label 'note' holds string values"),
        ([str(tags), "--columns", "nope_*"], "--columns 'nope_*' matches no column"),
        ([str(tags), "--exclude", "*"], "left after --exclude"),
        ([str(tags), "--column", "nope"], "--column 'nope': no such column"),
        ([str(dates)], "holds date32[day] values, not class labels"),
        ([str(blank)], "is empty"),
    ]:
        code, out, err = run(["weights", *argv], capsys)
        assert out == "", argv
        assert_one_line_error(code, err, fragment)


def test_tsv_names_with_blanks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "y.tsv"
    f.write_text("id\tpet\n1\t cat\n2\tdog \n3\tcat\n")
    code, out, _ = run(["weights", str(f), "--column", "pet", "--json"], capsys)
    assert code == 0
    assert json.loads(out)["classes"] == ["cat", "dog"]
    assert json.loads(out)["counts"] == [2, 1]
    f.write_text("id\tpet\n1\tcat\n2\t  \n")
    code, _, err = run(["weights", str(f), "--column", "pet"], capsys)
    assert_one_line_error(code, err, "missing label (blank) in column 'pet'")


def test_a_header_row_that_reads_as_labels_is_noted(tmp_path, capsys):
    # a file of bare labels: its first label is the header, not counted; a note says so
    bare = tmp_path / "labels.txt"
    bare.write_text("3\n0\n1\n1\n2\n0\n")
    code, out, err = run(["weights", str(bare), "--json"], capsys)
    assert code == 0 and json.loads(out)["samples"] == 5
    assert err.startswith("wxent: note: the header row of") and "'3'" in err
    hot = tmp_path / "tags.csv"
    hot.write_text("1,0\n0,1\n1,1\n")
    code, out, err = run(["weights", str(hot), "--multi-label", "--json"], capsys)
    assert code == 0 and "'1', '0'" in err
    named = tmp_path / "named.csv"
    named.write_text("label\n0\n1\n")
    code, out, err = run(["weights", str(named), "--json"], capsys)
    assert code == 0 and err == ""
    columns = tmp_path / "columns.csv"  # pandas' default names of three label columns
    columns.write_text("0,1,2\n1,0,1\n0,1,1\n")
    code, out, err = run(["weights", str(columns), "--multi-label", "--json"], capsys)
    assert code == 0 and err == ""


@pytest.mark.parametrize(
    "values,message",
    [
        ([0.0, 1.5, 2.0], "non-integer label 1.5 in column 'y', row 2"),
        ([0.0, 1.0, -1.0], "negative class label -1.0 in column 'y', row 3"),
    ],
)
def test_weights_parquet_float16_bad_label_names_its_row(
    tmp_path: Path, values: list[float], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A float16 Parquet column: Arrow's ``index`` has no kernel for it; the row is found
    all the same (the message was Arrow's ``ArrowNotImplementedError``)."""
    pq.write_table(pa.table({"y": pa.array(values, pa.float16())}), tmp_path / "h.parquet")
    code, out, err = run(["weights", str(tmp_path / "h.parquet")], capsys)
    assert code == 2 and out == ""
    assert err == f"wxent: error: {message}" + (
        " (labels are class indices)\n" if "negative" in message else "\n"
    )
