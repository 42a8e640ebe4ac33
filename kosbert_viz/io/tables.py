"""Reading the tables Korean analysts actually have: CP949 CSVs from Excel, ``;`` or tab files, ``.xlsx``.

:func:`read_table` detects the text encoding (UTF-8 with or without BOM, UTF-16 with BOM, CP949 /
EUC-KR, then charset-normalizer) and the separator (``,`` ``;`` tab ``|``), and says which it used.
Every column comes back as ``str`` (a missing cell is ``""``). A file it cannot read gets an error
that names the file, the problem and the fix; never a pandas traceback.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "reviews.csv"
>>> _ = path.write_bytes("리뷰;평점\\n배송이 빨라요;5\\n환불이 늦어요;1\\n".encode("cp949"))
>>> df, info = read_table(path)
>>> df["리뷰"].tolist(), info["encoding"], info["sep"]
(['배송이 빨라요', '환불이 늦어요'], 'cp949', ';')
"""

from __future__ import annotations

import bz2
import codecs
import csv
import gzip
import lzma
import os
from pathlib import Path
from typing import TYPE_CHECKING

from kosbert_viz._util.extras import require
from kosbert_viz.exceptions import TableError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["read_table", "TableError"]

SEPARATORS = (",", ";", "\t", "|")
_SEP_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_EXCEL = (".xlsx", ".xlsm")
_PARQUET = (".parquet", ".pq")
_TEXT = (".csv", ".tsv", ".tab", ".txt", ".dat", "")
_COMPRESSED = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
_PANDAS_COMPRESSION = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz"}
_ONE_COLUMN = "\x1f"  # a header without any separator: the file is one column (its texts may hold commas)
_BLOCK = 1 << 20


def sep_name(sep: str | None) -> str:
    """``'\\t'`` -> ``'tab'`` (for messages)."""
    if sep is None or sep == _ONE_COLUMN:
        return "none (one column)"
    return _SEP_NAMES.get(sep, repr(sep))


def _parse_sep(sep: str) -> str:
    """The separator as typed on a command line: ``\\t``, ``tab``, ``;`` ..."""
    named = {"\\t": "\t", "tab": "\t", "tsv": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "\\|": "|"}
    sep = named.get(sep.lower() if isinstance(sep, str) else sep, sep)
    if not isinstance(sep, str) or len(sep) != 1:
        raise ValueError(f"sep must be one character such as ',' ';' '\\t' or '|', got {sep!r}")
    return sep


def _check_encoding(encoding: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except (LookupError, TypeError):
        raise ValueError(
            f"unknown encoding {encoding!r}, expected a codec name such as 'utf-8', 'cp949', "
            "'euc-kr' or 'utf-16'; leave it out to detect the encoding"
        ) from None


def _suffixes(path: Path) -> tuple[str, str | None]:
    """(the table suffix, the compression suffix or None): ``a.tsv.gz`` -> ('.tsv', '.gz')."""
    suffix = path.suffix.lower()
    if suffix in _COMPRESSED:
        return Path(path.stem).suffix.lower(), suffix
    return suffix, None


def _open(path: Path, compression: str | None):
    return _COMPRESSED[compression](path, "rb") if compression else open(path, "rb")


def _decode_error(path: Path, encoding: str, failure, explicit: bool) -> TableError:
    pos, bad = failure
    hint = (
        "leave out the encoding to detect it, or try 'cp949' (Korean Excel CSV) or 'utf-8'"
        if explicit
        else "pass the encoding explicitly (e.g. --encoding utf-16 on the command line, encoding='...' in Python)"
    )
    return TableError(f"{path} is not valid {encoding}: bytes {bad} at byte {pos:,} cannot be decoded; {hint}")


def _decodes(path: Path, compression: str | None, encoding: str) -> tuple[int, str] | None:
    """None when the whole file decodes with ``encoding``, else (the byte offset, the bad bytes in hex)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0
    with _open(path, compression) as fh:
        while True:
            block = fh.read(_BLOCK)
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                return offset + exc.start, exc.object[exc.start : exc.start + 4].hex(" ")
            if not block:
                return None
            offset += len(block)


def _detect_encoding(path: Path, compression: str | None, head: bytes) -> str:
    """UTF-8 (BOM), UTF-16 (BOM), UTF-8, CP949 (a superset of EUC-KR), then charset-normalizer."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    binary = b"\x00" in head  # NUL bytes: UTF-16 without a BOM, or not text at all
    first_error = None
    for candidate in () if binary else ("utf-8", "cp949"):
        err = _decodes(path, compression, candidate)
        if err is None:
            return candidate
        first_error = first_error or err
    try:
        from charset_normalizer import from_bytes

        with _open(path, compression) as fh:
            sample = fh.read(4 * _BLOCK)
        best = from_bytes(sample).best()
    except ImportError:  # pragma: no cover - a core dependency
        best = None
    if best is not None and best.encoding and _decodes(path, compression, best.encoding) is None:
        name = codecs.lookup(best.encoding).name
        if not binary or name.startswith("utf-16") or name.startswith("utf-32"):
            return name
    if binary:
        raise TableError(
            f"{path} looks like a binary file (it holds NUL bytes), not a text table; "
            "expected CSV/TSV/TXT text, .xlsx or .parquet (or pass the encoding explicitly)"
        )
    pos, bad = first_error
    raise TableError(
        f"{path} is neither UTF-8 nor CP949/EUC-KR (bytes {bad} at byte {pos:,} cannot be "
        "decoded) and its encoding could not be detected; pass it explicitly "
        "(e.g. --encoding utf-16 on the command line, encoding='...' in Python)"
    )


def _sniff_sep(text: str, suffix: str) -> str:
    """The separator whose header splits into >= 2 fields and whose rows agree with it best."""
    lines = text.splitlines()
    if len(lines) > 1 and not text.endswith(("\n", "\r")):
        lines = lines[:-1]  # the head may end inside a line
    lines = [ln for ln in lines[:50] if ln.strip()]
    if not lines:
        return "\t" if suffix in (".tsv", ".tab") else ","
    default = "\t" if suffix in (".tsv", ".tab") else ","
    best, best_score = None, None
    for sep in SEPARATORS:
        try:
            rows = [r for r in csv.reader(lines, delimiter=sep) if r]
        except csv.Error:
            continue
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        agree = sum(len(r) == width for r in rows) / len(rows)
        score = (agree, sep == default, width)
        if best_score is None or score > best_score:
            best, best_score = sep, score
    return best if best is not None else _ONE_COLUMN


def _as_str_frame(df):
    """Every column and column name as str; missing cells as ``""``."""
    df = df.copy()
    df.columns = [str(c) for c in df.columns]
    for col in df.columns:
        s = df[col]
        mask = s.isna()
        df[col] = s.astype(object).where(~mask, "").astype(str)
    return df


def _read_excel(path: Path, sheet):
    require("openpyxl", extra="excel", feature=f"reading {path.suffix} files (or save the sheet as CSV)")
    import pandas as pd

    try:
        book = pd.ExcelFile(path, engine="openpyxl")
    except Exception as exc:
        raise TableError(
            f"{path} could not be opened as an Excel workbook ({type(exc).__name__}: {exc}); "
            "is it really an .xlsx file? Save it again from Excel, or as CSV"
        ) from None
    with book:
        names = book.sheet_names
        if sheet is None:
            chosen = names[0]
        elif isinstance(sheet, int) and not isinstance(sheet, bool):
            if not 0 <= sheet < len(names):
                raise ValueError(
                    f"sheet {sheet} does not exist in {path}, expected 0..{len(names) - 1}; sheets are {names}"
                )
            chosen = names[sheet]
        elif str(sheet) in names:
            chosen = str(sheet)
        elif str(sheet).isdigit() and int(sheet) < len(names):
            chosen = names[int(sheet)]
        else:
            raise ValueError(f"sheet {sheet!r} is not in {path}; sheets are {names}")
        try:
            df = pd.read_excel(book, sheet_name=chosen, dtype=str)
        except ValueError as exc:  # an empty sheet, malformed cells
            raise TableError(f"sheet {chosen!r} of {path} could not be read: {exc}") from None
    return df, {"format": "xlsx", "sheet": chosen, "sheets": names, "encoding": None, "sep": None}


def read_table(path, *, sep: str | None = None, encoding: str | None = None, sheet=None) -> tuple[pd.DataFrame, dict]:
    """Read a CSV, TSV, TXT, Parquet or Excel (.xlsx) file as a DataFrame of str columns.

    Parameters
    ----------
    path : str or path
        ``.csv``, ``.tsv``, ``.txt`` (optionally ``.gz``/``.bz2``/``.xz``), ``.parquet``, ``.xlsx``.
    sep : str, optional
        Field separator. Default: sniffed from the header and first lines among ``,`` ``;``
        tab and ``|`` (a header without any of them is one column). ``"\\t"`` and ``"tab"`` mean tab.
    encoding : str, optional
        Default: detected; UTF-8 with BOM, UTF-16 with BOM, UTF-8, CP949 (Korean Excel; it reads
        EUC-KR too), then charset-normalizer's guess.
    sheet : str or int, optional
        Excel sheet name or index (default: the first sheet).

    Returns
    -------
    (pandas.DataFrame, dict)
        The table (every cell a ``str``, missing cells ``""``) and what was used: ``format``,
        ``encoding``, ``encoding_detected``, ``sep``, ``sep_detected``, ``rows``, ``columns``
        (and ``sheet`` for Excel).

    Raises
    ------
    FileNotFoundError, IsADirectoryError
        The path does not exist or is a folder.
    TableError (a ValueError)
        Empty, header only, undecodable or malformed; the message says what to change.
    ValueError
        An unknown encoding name, a bad ``sep`` or a missing sheet.

    Example
    -------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "chat.txt"
    >>> _ = path.write_text("text\\tlabel\\n앱이 자꾸 꺼져요\\t오류\\n", encoding="utf-8-sig")
    >>> df, info = read_table(path)
    >>> df.to_dict("records"), info["encoding"], info["sep"]
    ([{'text': '앱이 자꾸 꺼져요', 'label': '오류'}], 'utf-8-sig', '\\t')
    """
    import pandas as pd

    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path, got {type(path).__name__}")
    path = Path(path).expanduser()
    if not path.exists():
        near = []
        if path.parent.is_dir():
            import difflib

            names = [p.name for p in path.parent.iterdir() if p.is_file()][:10_000]
            near = difflib.get_close_matches(path.name, names, n=3, cutoff=0.6)
        raise FileNotFoundError(f"{path} does not exist" + (f"; did you mean {', '.join(near)}?" if near else ""))
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder, expected a file (.csv, .tsv, .txt, .parquet or .xlsx)")
    if encoding is not None:
        encoding = _check_encoding(encoding)
    if sep is not None:
        sep = _parse_sep(sep)
    suffix, compression = _suffixes(path)
    if path.stat().st_size == 0:
        raise TableError(f"{path} is empty (0 bytes), expected a header line and at least one row")

    if suffix in _EXCEL and not compression:
        df, info = _read_excel(path, sheet)
    elif suffix == ".xls":
        raise TableError(f"{path} is an old-style .xls workbook; save it as .xlsx or CSV (UTF-8) in Excel")
    elif suffix in _PARQUET and not compression:
        try:
            df = pd.read_parquet(path)
        except Exception as exc:
            raise TableError(f"{path} could not be read as Parquet ({type(exc).__name__}: {exc})") from None
        info = {"format": "parquet", "encoding": None, "sep": None}
    else:
        df, info = _read_text(path, suffix, compression, sep, encoding)

    if len(df.columns) == 0:
        raise TableError(f"{path} has no columns, expected a header line and at least one row")
    if len(df) == 0:
        raise TableError(
            f"{path} has a header ({', '.join(map(str, df.columns[:8]))}) but no rows, "
            "expected at least one row of data"
        )
    df = _as_str_frame(df)
    info.update(path=str(path), rows=len(df), columns=list(df.columns))
    return df, info


def _read_text(path: Path, suffix: str, compression: str | None, sep: str | None, encoding: str | None):
    import pandas as pd

    with _open(path, compression) as fh:
        head = fh.read(1 << 16)
    if not head.strip(b" \t\r\n\x00") or head in (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        raise TableError(f"{path} holds no text (only blanks or a BOM), expected a header line and rows")
    detected = encoding is None
    if detected:
        encoding = _detect_encoding(path, compression, head)
    else:
        if encoding == "utf-8" and head.startswith(codecs.BOM_UTF8):
            encoding = "utf-8-sig"  # else the BOM would end up in the first column's name
        err = _decodes(path, compression, encoding)
        if err is not None:
            raise _decode_error(path, encoding, err, explicit=True)
    try:
        head_text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(head)
    except LookupError:  # pragma: no cover - checked above
        raise ValueError(f"unknown encoding {encoding!r}") from None
    sep_detected = sep is None
    if sep_detected:
        sep = _sniff_sep(head_text.lstrip("\ufeff"), suffix)
    try:
        df = pd.read_csv(
            path,
            sep=sep,
            encoding=encoding,
            dtype=str,
            keep_default_na=False,
            compression=_PANDAS_COMPRESSION.get(compression),
            skip_blank_lines=True,
        )
    except pd.errors.EmptyDataError:
        raise TableError(f"{path} holds no columns, expected a header line and at least one row") from None
    except pd.errors.ParserError as exc:
        msg = str(exc).strip().splitlines()[-1]
        hint = (
            f"the separator was detected as {sep_name(sep)}; pass --sep (sep=...) if that is wrong, "
            "or quote fields that contain it"
            if sep_detected
            else "check --sep (sep=...), or quote fields that contain the separator"
        )
        raise TableError(f"{path} is not a consistent table with separator {sep_name(sep)}: {msg}; {hint}") from None
    except UnicodeDecodeError as exc:  # pragma: no cover - the whole file was decoded above
        raise _decode_error(
            path, encoding, (exc.start, exc.object[exc.start : exc.start + 4].hex(" ")), explicit=not detected
        ) from None
    fmt = {".tsv": "tsv", ".tab": "tsv", ".txt": "txt"}.get(suffix, "csv")
    info = {
        "format": fmt,
        "encoding": encoding,
        "encoding_detected": detected,
        "sep": None if sep == _ONE_COLUMN else sep,
        "sep_detected": sep_detected,
    }
    return df, info
