"""Label files for the command line: read columns, count them in NumPy.

CSV and TSV files are parsed by pyarrow's multi-threaded CSV reader (only the chosen
columns are converted), Parquet by pyarrow, ``.npy`` by NumPy. Each label column is
counted without ever allocating by label *value*: integer labels are counted with
``np.bincount`` only when their largest value is at most the number of rows, otherwise
with ``np.unique``; strings through pyarrow's hash-based ``value_counts``. A label
``50_000_000`` therefore reports its 49,999,998 empty classes at once instead of
allocating gigabytes. Every problem raises :class:`CliError` with a one-line message.
"""

from __future__ import annotations

import contextlib
import csv
import fnmatch
import io
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq", ".npy")
MAX_CLASSES = 1 << 20  # integer labels above this make a table nobody can read
MAX_BLOCK = 1 << 30  # the longest CSV row (header included) read


class CliError(Exception):
    """A user error: printed as one line, exit status 2."""


@dataclass
class Column:
    """The counts of one label column.

    ``classes`` are the class values in order (``range(C)`` for integer class
    indices); ``present``/``present_counts`` hold the classes seen, sparse, so that a
    zero-count check needs no dense array.
    """

    name: str
    samples: int
    indexed: bool
    classes: list[Any]
    counts: np.ndarray | None
    present: np.ndarray | None = None
    present_counts: np.ndarray | None = None


def one_line(error: BaseException) -> str:
    """An exception's message on one line."""
    return " ".join(str(error).split()) or type(error).__name__


def check_path(path: Path) -> None:
    """An existing regular file with a supported suffix."""
    if not path.exists():
        raise CliError(f"no such file: {path}")
    if path.is_dir():
        raise CliError(f"{path} is a directory, not a label file")
    if path.suffix.lower() not in SUFFIXES:
        raise CliError(
            f"unsupported file type {path.suffix or '(none)'!r} for {path}: expected .csv, "
            ".tsv, .parquet or .npy"
        )


# ----------------------------------------------------------------------------- columns


def select(
    path: Path,
    available: list[str],
    names: list[str] | None,
    globs: list[str] | None,
    exclude: list[str] | None,
) -> list[str]:
    """The chosen columns: ``--column`` names, ``--columns`` globs, minus ``--exclude``."""
    listing = ", ".join(map(repr, available[:20])) + (" ..." if len(available) > 20 else "")
    chosen: list[str] = []
    for name in names or []:
        if name not in available:
            raise CliError(f"--column {name!r}: no such column in {path} (columns: {listing})")
        chosen.append(name)
    for pattern in globs or []:
        matched = [a for a in available if fnmatch.fnmatchcase(a, pattern)]
        if not matched:
            raise CliError(
                f"--columns {pattern!r} matches no column of {path} (columns: {listing})"
            )
        chosen += matched
    if not names and not globs:
        chosen = list(available)
    chosen = list(dict.fromkeys(chosen))
    for pattern in exclude or []:
        chosen = [c for c in chosen if not fnmatch.fnmatchcase(c, pattern)]
    if not chosen:
        raise CliError(f"no label column of {path} is left after --exclude")
    if len(set(available)) != len(available):
        dup = next(a for i, a in enumerate(available) if a in available[:i])
        if dup in chosen:
            raise CliError(f"{path} has two columns named {dup!r}")
    return chosen


def read(
    path: Path,
    names: list[str] | None,
    globs: list[str] | None,
    exclude: list[str] | None,
) -> tuple[list[str], list[Any]]:
    """The chosen columns of a file: names, and pyarrow or NumPy arrays."""
    suffix = path.suffix.lower()
    if suffix == ".npy":
        if names or globs or exclude:
            raise CliError("--column, --columns and --exclude apply to CSV and Parquet, not .npy")
        return _npy(path)
    try:
        import pyarrow  # noqa: F401
    except ImportError:  # pragma: no cover - pyarrow is in the cli extra
        raise CliError("reading CSV and Parquet needs pyarrow: pip install 'wxent[cli]'") from None
    if suffix in (".parquet", ".pq"):
        return _parquet(path, names, globs, exclude)
    return _csv(path, names, globs, exclude, "\t" if suffix == ".tsv" else None)


def _npy(path: Path) -> tuple[list[str], list[Any]]:
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise CliError(f"cannot read {path} as .npy: {one_line(error)}") from None
    if not isinstance(array, np.ndarray):  # pragma: no cover - .npz is refused by suffix
        raise CliError(f"{path} does not hold a single array")
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim == 1:
        return ["labels"], [array]
    if array.ndim == 2:
        return [str(i) for i in range(array.shape[1])], [array[:, i] for i in range(array.shape[1])]
    raise CliError(f"{path} holds an array of shape {array.shape}: expected (N,) or (N, L)")


def _parquet(
    path: Path, names: list[str] | None, globs: list[str] | None, exclude: list[str] | None
) -> tuple[list[str], list[Any]]:
    import pyarrow.parquet as pq

    try:
        available = list(pq.read_schema(path).names)
    except Exception as error:
        raise CliError(f"cannot read {path} as Parquet: {one_line(error)}") from None
    chosen = select(path, available, names, globs, exclude)
    try:
        table = pq.read_table(path, columns=chosen)
    except Exception as error:
        raise CliError(f"cannot read {path} as Parquet: {one_line(error)}") from None
    return chosen, [table.column(i) for i in range(table.num_columns)]


def _first_line(path: Path) -> str:
    with path.open("rb") as handle:
        first = handle.readline(MAX_BLOCK)  # whole: a wide header is not cut short
    if not first.strip():
        raise CliError(f"{path} is empty (expected a header row and one label per row)")
    try:
        return first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CliError(f"cannot read {path} as CSV: it is not UTF-8 text") from None


def _delimiter(header: str) -> str:
    """``,``; or ``;`` (or a tab) where the header row has those and no comma.

    Spreadsheets in many locales write CSV with semicolons: read with commas, such a
    file was one column named ``a;b`` whose labels were ``"1;0"`` — counted as names.
    """
    if "," not in header:
        found = [d for d in (";", "\t") if d in header]
        if len(found) == 1:
            return found[0]
    return ","


def _header(text: str, delimiter: str) -> list[str]:
    with _wide_fields():
        row = next(csv.reader(io.StringIO(text), delimiter=delimiter), [])
    return [h.strip() for h in row]


@contextlib.contextmanager
def _wide_fields() -> Iterator[None]:
    """The csv module's field limit (128 KiB) raised to a block's, for this read only."""
    previous = csv.field_size_limit(MAX_BLOCK)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _csv(
    path: Path,
    names: list[str] | None,
    globs: list[str] | None,
    exclude: list[str] | None,
    delimiter: str | None,
) -> tuple[list[str], list[Any]]:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    text = _first_line(path)
    delimiter = delimiter or _delimiter(text)  # None: read from the header row
    header = _header(text, delimiter)
    chosen = select(path, header, names, globs, exclude)
    bad_rows: list[Any] = []

    def invalid(row: Any) -> str:
        bad_rows.append(row.actual_columns)
        return "error"

    block = 1 << 20  # pyarrow's default; a row longer than a block needs a larger one
    while True:
        try:
            with _unraisable_into(bad_rows):
                table = pcsv.read_csv(
                    path,
                    read_options=pcsv.ReadOptions(
                        column_names=header, skip_rows=1, block_size=block
                    ),
                    parse_options=pcsv.ParseOptions(  # a blank line: a row of nulls
                        delimiter=delimiter, invalid_row_handler=invalid, ignore_empty_lines=False
                    ),
                    convert_options=pcsv.ConvertOptions(
                        include_columns=chosen, null_values=[""], strings_can_be_null=True
                    ),
                )
            break
        except pa.ArrowInvalid as error:
            if bad_rows:
                raise CliError(_ragged(path, delimiter, len(header))) from None
            if "block" in str(error) and block < MAX_BLOCK:  # a header or row of > 1 MiB
                block *= 8
                continue
            raise CliError(f"cannot read {path} as CSV: {one_line(error)}") from None
    trailing = _trailing_blank_lines(path)  # not rows: the file's end
    if trailing:
        table = table.slice(0, max(table.num_rows - trailing, 0))
    columns = []
    for name in chosen:
        column = table.column(name)
        if pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type):
            raise CliError(f"cannot read {path} as CSV: column {name!r} is not UTF-8 text")
        columns.append(column)
    return chosen, columns


def _trailing_blank_lines(path: Path) -> int:
    """How many empty lines end the file (after its last line's terminator).

    A blank line between labels is a row whose labels are missing (an error naming the
    row); blank lines after the last label are the end of the file, not rows.
    """
    newlines, chunk = 0, 1 << 12
    with path.open("rb") as handle:
        end = handle.seek(0, os.SEEK_END)
        while end > 0:
            start = max(end - chunk, 0)
            handle.seek(start)
            block = handle.read(end - start)
            tail = block.rstrip(b"\r\n")
            newlines += block.count(b"\n", len(tail))
            if tail:
                break
            end = start
    return max(newlines - 1, 0)


@contextlib.contextmanager
def _unraisable_into(seen: list[Any]) -> Iterator[None]:
    """Errors raised around the bad-row callback kept in ``seen``, not printed.

    pyarrow decodes a row with the wrong number of fields before it calls the handler; a
    row that is not UTF-8 fails there, and Python printed that error as "Exception
    ignored in ..." with a traceback. It is a bad row like the others.
    """
    previous = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: seen.append(unraisable.exc_value)
    try:
        yield
    finally:
        sys.unraisablehook = previous


def _ragged(path: Path, delimiter: str, width: int) -> str:
    """Where the first row with the wrong number of fields is (the error path only)."""
    with (
        path.open(newline="", encoding="utf-8-sig", errors="replace") as handle,
        _wide_fields(),
    ):
        for line, row in enumerate(csv.reader(handle, delimiter=delimiter), start=1):
            if row and len(row) != width:
                return f"{path}, line {line}: {len(row)} fields where the header has {width}"
    return f"cannot read {path} as CSV: rows with a wrong number of fields"  # pragma: no cover


# ----------------------------------------------------------------------------- counting


def _missing(name: str, mask: np.ndarray) -> CliError:
    row = int(np.argmax(mask)) + 1
    return CliError(f"missing label in column {name!r}, row {row} ({int(mask.sum())} in all)")


def to_numpy(name: str, column: Any) -> np.ndarray:
    """A column without nulls as a NumPy array (strings stay pyarrow-side)."""
    if isinstance(column, np.ndarray):
        return column
    if column.null_count:
        raise _missing(name, np.asarray(column.is_null().to_numpy(zero_copy_only=False)))
    return np.asarray(column.to_numpy())


def count_column(name: str, column: Any, zero_count: str) -> Column:
    """Class counts of one label column (integers, whole floats, bools or strings).

    The column is reduced to its distinct values and their counts first (pyarrow's
    hash-based ``value_counts``, or NumPy), and every check runs on those: a 25M-row
    column is never copied.
    """
    if len(column) == 0:
        raise CliError(f"column {name!r} holds no labels")
    values, counts = _distinct(name, column)
    kind = values.dtype.kind
    if kind in "USO":  # class names, stripped of surrounding blanks, sorted
        merged: dict[str, int] = {}
        for x, n in zip(values.tolist(), counts.tolist(), strict=True):
            key = (x.decode("utf-8", "replace") if isinstance(x, bytes) else x).strip()
            merged[key] = merged.get(key, 0) + n
        if "" in merged:
            raise CliError(f"missing label (blank) in column {name!r}{_first_text_row(column, '')}")
        if any("\n" in key or "\r" in key for key in merged):  # rows swallowed by a quote
            raise CliError(f"label in column {name!r} spans lines (an unterminated quote?)")
        _check_one_kind(name, column, merged)
        text = sorted(merged)
        return Column(name, len(column), False, text, np.array([merged[t] for t in text]))
    if kind == "b":
        trues = int(counts[values].sum())
        both = np.array([len(column) - trues, trues])
        if zero_count == "raise" and not both.all():  # named false/true, not [0] of `counts`
            absent = "false" if trues else "true"
            raise CliError(
                f"column {name!r}: no sample for class {absent} of 2 (true/false labels): "
                "pass --zero-count zero or --zero-count max"
            )
        return Column(name, len(column), False, [False, True], both)
    if kind == "f":
        bad = ~np.isfinite(values) | (values != np.round(values))
        if bad.any():
            value = values[bad][0].item()
            row = _first_row(column, value)
            raise CliError(f"non-integer label {value!r} in column {name!r}, row {row}")
    if kind in "uf" and float(values.max()) >= 2.0**63:  # beyond int64 (no wrap-around)
        raise CliError(f"class label {int(values.max())} in column {name!r} is too large")
    if values.min() < 0:
        low = values.min().item()
        raise CliError(
            f"negative class label {low} in column {name!r}, row {_first_row(column, low)} "
            "(labels are class indices)"
        )
    labels = values.astype(np.int64)
    order = np.argsort(labels)
    return _from_present(name, len(column), labels[order], counts[order], zero_count)


_INTEGER = re.compile(r"[+-]?\d+")


def _check_one_kind(name: str, column: Any, merged: dict[str, int]) -> None:
    """Text labels that are not integer class indices with a few that are not.

    A column of integers with one ``NA``, ``?`` or ``cat`` is read as text: counted
    as names, ``0`` would become the class ``"0"`` (sorted ``"0", "1", "10", "2"``)
    beside the class ``"NA"``. As ``class_weights`` refuses labels of two kinds, such a
    column is an error naming the first label of the other kind.
    """
    integers = [bool(_INTEGER.fullmatch(key)) for key in merged]
    if any(integers) and not all(integers):
        number = next(k for k, i in zip(merged, integers, strict=True) if i)
        text = next(k for k, i in zip(merged, integers, strict=True) if not i)
        where = _first_text_row(column, text)
        raise CliError(
            f"column {name!r} mixes integer class indices (e.g. {number!r}) and text labels "
            f"({text!r}{where}): a missing-label marker? Leave missing labels out, or make "
            "every label a class name"
        )


def _first_text_row(column: Any, text: str) -> str:
    """``, row N`` where the label ``text`` (stripped) first occurs (error messages only)."""
    import pyarrow.compute as pc

    try:
        index = pc.index(pc.utf8_trim_whitespace(column), text).as_py()
    except Exception:  # pragma: no cover - the row is a courtesy
        return ""
    return f", row {index + 1}" if index is not None and index >= 0 else ""


def _distinct(name: str, column: Any) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of a column (no nulls) and how often each occurs."""
    if isinstance(column, np.ndarray):
        if column.dtype.kind not in "iufbUS":
            raise CliError(f"column {name!r} holds {column.dtype} values, not class labels")
        if column.dtype.kind in "iu":
            low, high = int(column.min()), int(column.max())
            if low >= 0 and high < max(column.size, 1 << 16):  # costs no more than the labels
                dense = np.bincount(column, minlength=high + 1)
                present = np.flatnonzero(dense)
                return present, dense[present].astype(np.int64)
        values, counts = np.unique(column, return_counts=True)  # never by label value
        return values, counts.astype(np.int64)
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
        kind = column.type
    types = pa.types
    if not (
        types.is_integer(kind)
        or types.is_floating(kind)
        or types.is_boolean(kind)
        or types.is_string(kind)
        or types.is_large_string(kind)
    ):
        raise CliError(f"column {name!r} holds {kind} values, not class labels")
    if column.null_count:
        raise _missing(name, np.asarray(column.is_null().to_numpy(zero_copy_only=False)))
    if types.is_integer(kind):
        bounds = pc.min_max(column)
        low, high = bounds["min"].as_py(), bounds["max"].as_py()
        if low >= 0 and high < max(len(column), 1 << 16):  # dense, chunk by chunk, no copy
            dense = np.zeros(high + 1, dtype=np.int64)
            chunks = column.chunks if hasattr(column, "chunks") else [column]
            for chunk in chunks:
                dense += np.bincount(chunk.to_numpy(zero_copy_only=False), minlength=high + 1)
            present = np.flatnonzero(dense)
            return present, dense[present]
    table = pc.value_counts(column)
    field = table.field("values")
    if types.is_string(kind) or types.is_large_string(kind):
        values = np.array(field.to_pylist(), dtype=object)
    else:
        values = np.asarray(field.to_numpy(zero_copy_only=False))
    return values, np.asarray(table.field("counts").to_numpy(), dtype=np.int64)


def _first_row(column: Any, value: Any) -> int:
    """The 1-based row where ``value`` first occurs (error messages only)."""
    if isinstance(column, np.ndarray):
        same = column == value if value == value else np.isnan(column)
        return int(np.argmax(same)) + 1
    import pyarrow.compute as pc

    if value != value:
        return int(np.argmax(np.asarray(pc.is_nan(column).to_numpy(zero_copy_only=False)))) + 1
    try:
        return int(pc.index(column, value).as_py()) + 1
    except NotImplementedError:  # no kernel for the type (float16): look in NumPy
        return _first_row(np.asarray(column.to_numpy(zero_copy_only=False)), value)


def _from_present(
    name: str, samples: int, present: np.ndarray, present_counts: np.ndarray, zero_count: str
) -> Column:
    """Class-index counts from the sorted classes present, dense only when affordable."""
    size = int(present[-1]) + 1
    column = Column(name, samples, True, [], None, present, present_counts)
    if present.size < size and zero_count == "raise":
        raise CliError(_zero_message(name, present, size))
    if size > MAX_CLASSES:
        raise CliError(
            f"class label {size - 1} in column {name!r} makes {size} classes (labels are class "
            f"indices 0..C-1; at most {MAX_CLASSES} are supported here)"
        )
    counts = np.zeros(size, dtype=np.int64)
    counts[present] = present_counts
    column.classes, column.counts = list(range(size)), counts
    return column


def _zero_message(name: str, present: np.ndarray, size: int) -> str:
    """The first classes without samples, found from the sorted classes present."""
    shown: list[int] = []
    expected = 0
    for value in [*present.tolist(), size]:
        while expected < value and len(shown) < 10:
            shown.append(expected)
            expected += 1
        if len(shown) >= 10:
            break
        expected = value + 1
    total = size - present.size
    more = f" and {total - len(shown)} more" if total > len(shown) else ""
    return (
        f"column {name!r}: no sample for class(es) {shown}{more} of {size} (labels are class "
        "indices 0..C-1): pass --zero-count zero or --zero-count max"
    )


def multi_hot(name: str, column: Any) -> tuple[int, int, int]:
    """``(rows, negatives, positives)`` of one 0/1 label column."""
    if len(column) == 0:
        return 0, 0, 0
    if not isinstance(column, np.ndarray):
        import pyarrow as pa

        if not (
            pa.types.is_integer(column.type)
            or pa.types.is_floating(column.type)
            or pa.types.is_boolean(column.type)
        ):
            raise CliError(
                f"label {name!r} holds {column.type} values: a multi-label column holds 0/1 "
                "(or true/false)"
            )
    values = to_numpy(name, column)
    if values.dtype.kind not in "iufb":
        raise CliError(f"label {name!r} holds {values.dtype} values: expected 0/1")
    positives = int(np.count_nonzero(values == 1))
    negatives = int(np.count_nonzero(values == 0))
    if positives + negatives != values.size:
        bad = (values != 0) & (values != 1)
        row = int(np.argmax(bad))
        raise CliError(
            f"label {name!r}, row {row + 1}: value {values[row].item()!r} is not 0 or 1 "
            "(a multi-label matrix holds 0/1)"
        )
    return values.size, negatives, positives
