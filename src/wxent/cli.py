"""The ``wxent`` command line: ``wxent weights FILE`` and ``wxent demo``.

* ``wxent weights FILE [--column NAME | --columns GLOB] [--exclude GLOB] [--multi-label]
  [--format table|json|python]`` reads a label file (CSV or TSV with a header row,
  Parquet, or ``.npy``) and prints the label counts, the frequencies and the weights of
  every scheme of :func:`wxent.class_weights` (or, with ``--multi-label``, the
  ``pos_weight`` of every label column from :func:`wxent.pos_weights`): an aligned
  table, JSON, or Python you can paste (``class_weight = {...}``). Labels are integer
  class indices, or class names (text, true/false).
* ``wxent demo`` trains the sparse multi-label story (30 labels, one positive in 30)
  with plain, ``pos_weight``, focal and asymmetric losses in PyTorch and prints recall,
  precision and F1 side by side (see :mod:`wxent._demo`).

Every error (a missing or unreadable file, a wrong column, a bad label, a bad option)
prints one line on stderr, ``wxent: error: ...``, naming the flag at fault, and exits
with status 2 — never a traceback. The command line holds no math of its own: files are
read and counted by :mod:`wxent._labelfile`, weights come from wxent.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

import wxent
from wxent import _labelfile as lf
from wxent._labelfile import CliError

__all__ = ["main"]

SCHEMES = ("balanced", "inverse", "inverse_sqrt", "effective_number", "median_frequency")
# The formats matplotlib writes (``FigureCanvasBase.get_supported_filetypes()``).
PLOT_FORMATS = (
    *(".png", ".pdf", ".svg", ".svgz", ".eps", ".ps", ".jpg", ".jpeg", ".webp"),
    *(".tif", ".tiff", ".pgf", ".raw", ".rgba"),
)
# wxent's argument names as the flags that set them (errors name what the user typed).
FLAGS = {
    "zero_count": "--zero-count",
    "max_weight": "--max-weight",
    "normalize": "--normalize",
    "beta": "--beta",
    "scheme": "--scheme",
}


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        _fail(message)


def _fail(message: str) -> NoReturn:
    text = " ".join(str(message).split())
    sys.stderr.write(f"wxent: error: {text}\n")
    raise SystemExit(2)


def _flags(message: str) -> str:
    """A wxent message with argument names turned into the flags that set them."""
    for name, flag in FLAGS.items():
        message = re.sub(rf'{name}=("?)([\w.+-]+)\1', rf"{flag} \2", message)
        message = message.replace(f"`{name}`", flag)
    return message


# ----------------------------------------------------------------------------- weights


def _options(args: argparse.Namespace) -> None:
    """The options wxent would refuse, refused here in the flags' words."""
    if args.beta is not None and not (0.0 <= args.beta < 1.0):
        raise CliError(f"--beta must be in [0, 1), got {args.beta}")
    if args.max_weight is not None and not (math.isfinite(args.max_weight) and args.max_weight > 0):
        raise CliError(f"--max-weight must be a finite number > 0, got {args.max_weight}")
    if args.json and args.format not in (None, "json"):
        raise CliError(f"--json and --format {args.format} disagree: choose one")
    args.format = "json" if args.json else (args.format or "table")
    if args.multi_label and (args.scheme or args.normalize or args.beta is not None):
        flag = "--scheme" if args.scheme else "--normalize" if args.normalize else "--beta"
        raise CliError(f"{flag} applies to class labels, not --multi-label (pos_weight)")
    if not args.multi_label and args.max_weight is not None:
        raise CliError("--max-weight caps pos_weight: it applies to --multi-label only")
    if args.beta is None:
        args.beta = 0.999


def _weights(args: argparse.Namespace) -> int:
    _options(args)
    path = Path(args.file)
    lf.check_path(path)
    names, columns = lf.read(path, args.column, args.columns, args.exclude)
    _note_label_like_header(path, names, args.multi_label)
    if args.multi_label:
        report = _multi_label_report(path, names, columns, args)
    else:
        report = _class_report(path, names, columns, args)
    sys.stdout.write({"json": _json, "python": _python, "table": _table}[args.format](report))
    return 0


def _note_label_like_header(path: Path, names: list[str], multi_label: bool) -> None:
    """A note on stderr where a CSV's header row reads as labels (a file without a header?).

    The first row of a CSV or TSV is its header: in a file of bare labels it is the first
    label, taken as the column's name and not counted. Integer names of class-label
    columns, or 0/1 names of all label columns, are what such a row looks like.
    """
    if path.suffix.lower() not in (".csv", ".tsv", ".txt") or not names:
        return
    if multi_label:
        looks = all(n.strip().lower() in ("0", "1", "true", "false") for n in names)
    else:
        looks = len(names) == 1 and names[0].strip().lstrip("-").isdigit()
    if looks:
        shown = ", ".join(map(repr, names[:10])) + (" ..." if len(names) > 10 else "")
        sys.stderr.write(
            f"wxent: note: the header row of {path} ({shown}) reads as labels: it names the "
            "columns and is not counted (a file of bare labels needs a header row)\n"
        )


def _class_report(
    path: Path, names: list[str], columns: list[Any], args: argparse.Namespace
) -> dict[str, Any]:
    if len(names) != 1:
        shown = ", ".join(map(repr, names[:10])) + (" ..." if len(names) > 10 else "")
        if path.suffix.lower() == ".npy":  # --column is for CSV and Parquet
            raise CliError(
                f"{path} holds a matrix of {len(names)} label columns: pass --multi-label "
                "for 0/1 label columns, or save one column of class labels (N,)"
            )
        raise CliError(
            f"{path} has {len(names)} label columns ({shown}): choose one with --column NAME "
            "(or pass --multi-label for 0/1 label columns)"
        )
    column = lf.count_column(names[0], columns[0], args.zero_count)
    assert column.counts is not None
    counts = column.counts.astype(np.float64)
    schemes = (args.scheme,) if args.scheme else SCHEMES
    weights = {
        scheme: wxent.class_weights(
            counts=counts,
            scheme=scheme,
            normalize=args.normalize,
            beta=args.beta,
            zero_count=args.zero_count,
        ).tolist()
        for scheme in schemes
    }
    return {
        "file": str(path),
        "kind": "class labels",
        "column": column.name,
        "samples": column.samples,
        "classes": [_plain(c) for c in column.classes],
        "counts": [int(c) for c in column.counts],
        "frequencies": (counts / counts.sum()).tolist(),
        "normalize": args.normalize,
        "weights": weights,
    }


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _multi_label_report(
    path: Path, names: list[str], columns: list[Any], args: argparse.Namespace
) -> dict[str, Any]:
    stats = [lf.multi_hot(name, column) for name, column in zip(names, columns, strict=True)]
    rows = stats[0][0] if stats else 0
    if rows == 0:
        raise CliError(f"{path} holds no rows")
    counts = np.array([[s[1] for s in stats], [s[2] for s in stats]], dtype=np.float64)
    zero = counts[1] == 0
    if zero.any() and args.zero_count == "raise":
        missing = [names[i] for i in np.flatnonzero(zero)[:10]]
        raise CliError(
            f"no positive for label(s) {missing} of {len(names)}: pass --zero-count zero or "
            "--zero-count max"
        )
    pos_weight = wxent.pos_weights(
        counts=counts, max_weight=args.max_weight, zero_count=args.zero_count
    )
    return {
        "file": str(path),
        "kind": "multi-label",
        "samples": rows,
        "labels": names,
        "negatives": [s[1] for s in stats],
        "positives": [s[2] for s in stats],
        "frequencies": (counts[1] / rows).tolist(),
        "weights": {"pos_weight": pos_weight.tolist()},
    }


def _json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2) + "\n"


def _python(report: dict[str, Any]) -> str:
    """Python you can paste: ``class_weight = {...}`` (or ``pos_weight = [...]``)."""
    if report["kind"] == "multi-label":
        return (
            f"# {report['file']}: {report['samples']} rows; wxent.pos_weights\n"
            f"labels = {report['labels']!r}\n"
            f"pos_weight = {report['weights']['pos_weight']!r}\n"
        )
    lines = [f"# {report['file']}, column {report['column']!r}: {report['samples']} labels"]
    norm = f", normalize={report['normalize']!r}" if report["normalize"] else ""
    for scheme, weights in report["weights"].items():
        pairs = ", ".join(f"{c!r}: {w!r}" for c, w in zip(report["classes"], weights, strict=True))
        name = "class_weight" if len(report["weights"]) == 1 else f"class_weight_{scheme}"
        lines.append(f"{name} = {{{pairs}}}  # wxent.class_weights(scheme={scheme!r}{norm})")
    return "\n".join(lines) + "\n"


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
        schemes = list(report["weights"])
        header = ["class", "count", "frequency", *schemes]
        rows = []
        for i, c in enumerate(report["classes"]):
            row = [str(c), str(report["counts"][i]), f"{report['frequencies'][i]:.4f}"]
            row += [f"{report['weights'][s][i]:.4g}" for s in schemes]
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


def _check_plot(path_text: str) -> None:
    """A plot path matplotlib can write, checked before any training."""
    path = Path(path_text)
    if path.is_dir():
        raise CliError(f"--plot {path_text}: is a directory (give a file name such as demo.png)")
    suffix = path.suffix.lower()
    if suffix not in PLOT_FORMATS:
        raise CliError(
            f"--plot {path_text}: unsupported plot format {suffix or '(no extension)'!r} "
            "(use .png, .pdf or .svg)"
        )
    if not path.resolve().parent.is_dir():
        raise CliError(f"--plot {path_text}: no such directory {path.parent}")


def _demo(args: argparse.Namespace) -> int:
    for name in ("samples", "epochs", "hidden"):
        if getattr(args, name) < 1:
            raise CliError(f"--{name} must be a positive integer, got {getattr(args, name)}")
    if not 0 <= args.seed < 2**64:  # what NumPy and torch both take as a seed
        raise CliError(f"--seed must be an integer in [0, 2**64), got {args.seed}")
    if not args.no_plot:
        _check_plot(args.plot)
    needed = ["torch"] if args.no_plot else ["torch", "matplotlib"]
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        raise CliError(f"the demo needs {' and '.join(missing)}: pip install 'wxent[torch,cli]'")
    from wxent import _demo

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


def _weights_parser(sub: Any) -> None:
    w = sub.add_parser(
        "weights",
        help="label counts and the weights of every scheme from a label file",
        description="Label counts, frequencies and the weights of every class_weights "
        "scheme (or pos_weight with --multi-label) from a CSV, Parquet or .npy file. "
        "Labels are integer class indices or class names (text, true/false).",
    )
    w.add_argument(
        "file",
        help=(
            "a .csv/.tsv (header row; a .csv whose header has semicolons and no comma is "
            "read with semicolons), .parquet or .npy label file"
        ),
    )
    w.add_argument(
        "--column",
        action="append",
        metavar="NAME",
        help="a label column (repeat to choose several label columns with --multi-label)",
    )
    w.add_argument(
        "--columns",
        action="append",
        metavar="GLOB",
        help="label columns by pattern, e.g. 'tag_*' (with --multi-label)",
    )
    w.add_argument(
        "--exclude", action="append", metavar="GLOB", help="leave out columns, e.g. 'id'"
    )
    w.add_argument(
        "--multi-label", action="store_true", help="one 0/1 column per label: pos_weight"
    )
    w.add_argument(
        "--format",
        choices=["table", "json", "python"],
        default=None,
        help="table (default), json, or python to paste (class_weight = {...})",
    )
    w.add_argument("--json", action="store_true", help="the same as --format json")
    w.add_argument("--scheme", choices=SCHEMES, default=None, help="only this scheme")
    w.add_argument(
        "--normalize", choices=["sum", "mean"], default=None, help="normalise class weights"
    )
    w.add_argument("--beta", type=float, default=None, help="beta of effective_number (0.999)")
    w.add_argument(
        "--zero-count",
        choices=["raise", "zero", "max"],
        default="raise",
        help="weight of a class (or label) that never occurs (default: an error)",
    )
    w.add_argument(
        "--max-weight", type=float, default=None, help="cap pos_weight (with --multi-label)"
    )
    w.set_defaults(run=_weights)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="wxent",
        description="Weighted and cost-sensitive cross-entropy: weights from your labels, "
        "and a demo of what weighting buys.",
    )
    parser.add_argument("--version", action="version", version=f"wxent {wxent.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _weights_parser(sub)
    d = sub.add_parser(
        "demo",
        help="train the sparse multi-label story with plain, pos_weight, focal and ASL",
        description="30 labels, each positive with probability 1/30, one weak feature per "
        "label: plain training predicts almost all zeros; weighting lifts recall.",
    )
    d.add_argument("--plot", default="wxent-demo.png", help="plot path: .png, .pdf or .svg")
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
        _fail(_flags(lf.one_line(error)))
    except MemoryError:
        _fail("out of memory")
    except OSError as error:
        _fail(f"{error.strerror or lf.one_line(error)}: {error.filename or ''}".rstrip(": "))
    except KeyboardInterrupt:
        sys.stderr.write("wxent: interrupted\n")
        return 130
    except Exception as error:  # never a traceback
        _fail(f"{type(error).__name__}: {lf.one_line(error)}")
