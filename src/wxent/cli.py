"""The ``wxent`` command line: ``wxent weights FILE`` and ``wxent demo``.

* ``wxent weights FILE [--column NAME] [--multi-label] [--json]`` reads a label file
  (CSV with a header row, Parquet, or ``.npy``) and prints the label counts, the
  frequencies and the weights of every scheme of :func:`wxent.class_weights` (or, with
  ``--multi-label``, the ``pos_weight`` of every label from :func:`wxent.pos_weights`)
  as an aligned table, or as JSON.
* ``wxent demo`` trains the sparse multi-label story (30 labels, one positive in 30)
  with plain, ``pos_weight``, focal and asymmetric losses in PyTorch and prints recall,
  precision and F1 side by side (see :mod:`wxent._demo`).

Every error (a missing or unreadable file, a wrong column, a non-integer label, a bad
option) prints one line on stderr, ``wxent: error: ...``, and exits with status 2 —
never a traceback. The command line holds no math of its own: it calls wxent.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

import wxent

__all__ = ["main"]

SCHEMES = ("balanced", "inverse", "inverse_sqrt", "effective_number", "median_frequency")


class CliError(Exception):
    """A user error: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        _fail(message)


def _fail(message: str) -> NoReturn:
    text = " ".join(str(message).split())
    sys.stderr.write(f"wxent: error: {text}\n")
    raise SystemExit(2)


# ----------------------------------------------------------------------------- reading


def _read_columns(path: Path, columns: list[str] | None) -> tuple[list[str], list[list[Any]]]:
    """Named columns of a CSV or Parquet file (all columns when ``columns`` is None)."""
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        try:
            import pyarrow.parquet as pq
        except ImportError:  # pragma: no cover - pyarrow is in the cli extra
            raise CliError("reading Parquet needs pyarrow: pip install 'wxent[cli]'") from None
        try:
            schema_names = list(pq.read_schema(path).names)
        except Exception as error:
            raise CliError(f"cannot read {path} as Parquet: {_one_line(error)}") from None
        names = _select(path, schema_names, columns)
        try:
            table = pq.read_table(path, columns=names)
        except Exception as error:
            raise CliError(f"cannot read {path} as Parquet: {_one_line(error)}") from None
        return names, [table.column(n).to_pylist() for n in names]
    delimiter = "\t" if suffix == ".tsv" else ","
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle, delimiter=delimiter))
    except UnicodeDecodeError:
        raise CliError(f"cannot read {path} as CSV: it is not UTF-8 text") from None
    except csv.Error as error:
        raise CliError(f"cannot read {path} as CSV: {_one_line(error)}") from None
    rows = [row for row in rows if row]
    if not rows:
        raise CliError(f"{path} is empty (expected a header row and one label per row)")
    header = [h.strip() for h in rows[0]]
    names = _select(path, header, columns)
    index = [header.index(n) for n in names]
    data: list[list[Any]] = [[] for _ in names]
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise CliError(
                f"{path}, line {line}: {len(row)} fields where the header has {len(header)}"
            )
        for values, i in zip(data, index, strict=True):
            values.append(row[i].strip())
    return names, data


def _select(path: Path, available: list[str], columns: list[str] | None) -> list[str]:
    if columns is None:
        return available
    for name in columns:
        if name not in available:
            raise CliError(
                f"no column {name!r} in {path} (columns: {', '.join(map(repr, available))})"
            )
    return list(columns)


def _integer(value: Any, where: str) -> int:
    """A label value as an int: ints, integral floats and their text forms."""
    if isinstance(value, bool):
        return int(value)
    if value is None or value == "":
        raise CliError(f"missing label {where}")
    if isinstance(value, (int, np.integer)):
        return int(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise CliError(f"non-integer label {value!r} {where}") from None
    if not math.isfinite(number) or number != int(number):
        raise CliError(f"non-integer label {value!r} {where}")
    return int(number)


def _class_labels(path: Path, column: list[str] | None) -> tuple[str, np.ndarray]:
    """One column of class labels as int64."""
    if path.suffix.lower() == ".npy":
        array = _load_npy(path)
        if array.ndim == 2 and array.shape[1] == 1:
            array = array[:, 0]
        if array.ndim != 1:
            raise CliError(
                f"{path} holds an array of shape {array.shape}: class labels are 1-D "
                "(pass --multi-label for a 0/1 matrix)"
            )
        if column:
            raise CliError("--column applies to CSV and Parquet files, not .npy")
        return "labels", _integers(array, f"in {path}")
    names, data = _read_columns(path, column)
    if len(names) != 1:
        raise CliError(
            f"{path} has {len(names)} columns ({', '.join(map(repr, names))}): choose the "
            "label column with --column NAME (or pass --multi-label for a 0/1 matrix)"
        )
    values = [_integer(x, f"in column {names[0]!r}, row {i + 1}") for i, x in enumerate(data[0])]
    return names[0], np.asarray(values, dtype=np.int64)


def _integers(array: np.ndarray, where: str) -> np.ndarray:
    if array.dtype.kind in "iub":
        return array.astype(np.int64)
    if array.dtype.kind == "f":
        bad = ~np.isfinite(array) | (array != np.round(array))
        if bad.any():
            raise CliError(f"non-integer label {array[bad][0].item()!r} {where}")
        return array.astype(np.int64)
    raise CliError(f"non-integer labels of dtype {array.dtype} {where}")


def _multi_hot(path: Path, column: list[str] | None) -> tuple[list[str], np.ndarray]:
    """A 0/1 matrix ``(N, L)`` and the names of its labels."""
    if path.suffix.lower() == ".npy":
        if column:
            raise CliError("--column applies to CSV and Parquet files, not .npy")
        array = _load_npy(path)
        if array.ndim != 2:
            raise CliError(f"{path} holds an array of shape {array.shape}: expected (N, L)")
        matrix = _integers(array, f"in {path}")
        names = [str(i) for i in range(matrix.shape[1])]
    else:
        names, data = _read_columns(path, column)
        columns = [
            [_integer(x, f"in column {name!r}, row {i + 1}") for i, x in enumerate(values)]
            for name, values in zip(names, data, strict=True)
        ]
        matrix = np.asarray(columns, dtype=np.int64).T.reshape(-1, len(names))
    bad = (matrix != 0) & (matrix != 1)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise CliError(
            f"label {names[col]!r}, row {row + 1}: value {matrix[row, col]} is not 0 or 1 "
            "(a multi-label matrix holds 0/1)"
        )
    return names, matrix


def _load_npy(path: Path) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as error:
        raise CliError(f"cannot read {path} as .npy: {_one_line(error)}") from None
    if not isinstance(array, np.ndarray):  # pragma: no cover - .npz is rejected by suffix
        raise CliError(f"{path} does not hold a single array")
    return array


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


# ----------------------------------------------------------------------------- weights


def _weights(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.exists():
        raise CliError(f"no such file: {path}")
    if path.is_dir():
        raise CliError(f"{path} is a directory, not a label file")
    if path.suffix.lower() not in (".csv", ".tsv", ".txt", ".parquet", ".pq", ".npy"):
        raise CliError(
            f"unsupported file type {path.suffix or '(none)'!r} for {path}: expected .csv, "
            ".tsv, .parquet or .npy"
        )
    report = _multi_label_report(path, args) if args.multi_label else _class_report(path, args)
    if args.json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        sys.stdout.write(_table(report))
    return 0


def _class_report(path: Path, args: argparse.Namespace) -> dict[str, Any]:
    column, labels = _class_labels(path, args.column)
    if labels.size == 0:
        raise CliError(f"{path} holds no labels")
    if labels.min() < 0:
        raise CliError(f"negative class label {int(labels.min())} in {path}")
    counts = wxent.label_counts(labels)
    weights = {
        scheme: wxent.class_weights(
            counts=counts,
            scheme=scheme,
            normalize=args.normalize,
            beta=args.beta,
            zero_count=args.zero_count,
        ).tolist()
        for scheme in SCHEMES
    }
    total = float(counts.sum())
    return {
        "file": str(path),
        "kind": "class labels",
        "column": column,
        "samples": int(labels.size),
        "classes": list(range(counts.shape[0])),
        "counts": [int(c) for c in counts],
        "frequencies": (counts / total).tolist(),
        "normalize": args.normalize,
        "weights": weights,
    }


def _multi_label_report(path: Path, args: argparse.Namespace) -> dict[str, Any]:
    names, matrix = _multi_hot(path, args.column)
    if matrix.shape[0] == 0:
        raise CliError(f"{path} holds no rows")
    counts = wxent.label_counts(matrix, multi_label=True)
    pos_weight = wxent.pos_weights(
        counts=counts, max_weight=args.max_weight, zero_count=args.zero_count
    )
    return {
        "file": str(path),
        "kind": "multi-label",
        "samples": int(matrix.shape[0]),
        "labels": names,
        "negatives": [int(c) for c in counts[0]],
        "positives": [int(c) for c in counts[1]],
        "frequencies": (counts[1] / matrix.shape[0]).tolist(),
        "weights": {"pos_weight": pos_weight.tolist()},
    }


def _table(report: dict[str, Any]) -> str:
    if report["kind"] == "multi-label":
        header = ["label", "negatives", "positives", "frequency", "pos_weight"]
        rows = [
            [name, str(n), str(p), f"{f:.4f}", f"{w:.4g}"]
            for name, n, p, f, w in zip(
                report["labels"],
                report["negatives"],
                report["positives"],
                report["frequencies"],
                report["weights"]["pos_weight"],
                strict=True,
            )
        ]
        title = f"{report['file']}: {report['samples']} rows, {len(rows)} labels (multi-label)"
    else:
        header = ["class", "count", "frequency", *SCHEMES]
        rows = []
        for c in report["classes"]:
            row = [str(c), str(report["counts"][c]), f"{report['frequencies'][c]:.4f}"]
            row += [f"{report['weights'][s][c]:.4g}" for s in SCHEMES]
            rows.append(row)
        norm = report["normalize"]
        title = (
            f"{report['file']}: {report['samples']} labels in column {report['column']!r}, "
            f"{len(rows)} classes; class_weights(scheme=...)"
            + (f", normalize={norm!r}" if norm else "")
        )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [title, ""]
    for r in [header, *rows]:
        cells = [r[0].ljust(widths[0])] + [
            cell.rjust(w) for cell, w in zip(r[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- demo


def _demo(args: argparse.Namespace) -> int:
    needed = ["torch"] if args.no_plot else ["torch", "matplotlib"]
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        raise CliError(f"the demo needs {' and '.join(missing)}: pip install 'wxent[torch,cli]'")
    if not args.no_plot and not Path(args.plot).resolve().parent.is_dir():
        raise CliError(f"cannot write the plot {args.plot}: no such directory")
    from wxent import _demo

    for name in ("samples", "epochs", "hidden"):
        if getattr(args, name) < 1:
            raise CliError(f"--{name} must be a positive integer, got {getattr(args, name)}")
    results = _demo.run(
        samples=args.samples,
        epochs=args.epochs,
        hidden=args.hidden,
        seed=args.seed,
        plot=None if args.no_plot else args.plot,
        progress=True,  # on stderr: stdout stays clean for --json
    )
    if args.json:
        sys.stdout.write(json.dumps(results, indent=2) + "\n")
    else:
        sys.stdout.write(_demo.format_results(results))
    return 0


# ----------------------------------------------------------------------------- main


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="wxent",
        description="Weighted and cost-sensitive cross-entropy: weights from your labels, "
        "and a demo of what weighting buys.",
    )
    parser.add_argument("--version", action="version", version=f"wxent {wxent.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    w = sub.add_parser(
        "weights",
        help="label counts and the weights of every scheme from a label file",
        description="Label counts, frequencies and the weights of every class_weights "
        "scheme (or pos_weight with --multi-label) from a CSV, Parquet or .npy file.",
    )
    w.add_argument("file", help="a .csv/.tsv (header row), .parquet or .npy label file")
    w.add_argument(
        "--column",
        action="append",
        metavar="NAME",
        help="the label column (repeat to choose the label columns with --multi-label)",
    )
    w.add_argument(
        "--multi-label", action="store_true", help="the file is a 0/1 matrix, one column a label"
    )
    w.add_argument("--json", action="store_true", help="print JSON instead of a table")
    w.add_argument(
        "--normalize", choices=["sum", "mean"], default=None, help="normalise class weights"
    )
    w.add_argument("--beta", type=float, default=0.999, help="beta of effective_number (0.999)")
    w.add_argument(
        "--zero-count",
        choices=["raise", "zero", "max"],
        default="raise",
        help="weight of a class (or label) that never occurs (default: an error)",
    )
    w.add_argument("--max-weight", type=float, default=None, help="cap pos_weight")
    w.set_defaults(run=_weights)
    d = sub.add_parser(
        "demo",
        help="train the sparse multi-label story with plain, pos_weight, focal and ASL",
        description="30 labels, each positive with probability 1/30, one weak feature per "
        "label: plain training predicts almost all zeros; weighting lifts recall.",
    )
    d.add_argument("--plot", default="wxent-demo.png", help="PNG path (wxent-demo.png)")
    d.add_argument("--no-plot", action="store_true", help="do not write the plot")
    d.add_argument("--json", action="store_true", help="print the results as JSON")
    d.add_argument("--seed", type=int, default=0, help="random seed (0)")
    d.add_argument("--samples", type=int, default=20000, help=argparse.SUPPRESS)
    d.add_argument("--epochs", type=int, default=8, help=argparse.SUPPRESS)
    d.add_argument("--hidden", type=int, default=64, help=argparse.SUPPRESS)
    d.set_defaults(run=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``wxent`` command line.

    Args:
        argv: the arguments (``sys.argv[1:]`` when ``None``).

    Returns:
        The exit status (0); errors exit with status 2 through ``SystemExit``.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        _fail("choose a command: weights or demo (see wxent --help)")
    try:
        return int(args.run(args))
    except CliError as error:
        _fail(str(error))
    except (ValueError, TypeError) as error:  # wxent's own messages name the problem
        _fail(_one_line(error))
    except OSError as error:
        _fail(f"{error.strerror or _one_line(error)}: {error.filename or ''}".rstrip(": "))
    except KeyboardInterrupt:
        sys.stderr.write("wxent: interrupted\n")
        return 130
    except Exception as error:  # never a traceback
        _fail(f"{type(error).__name__}: {_one_line(error)}")
