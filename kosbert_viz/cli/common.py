"""What the commands share: the user-mistake error, the input table, the output checks, the model.

Every check here runs before any model is loaded or any text encoded, and a failed one raises
:class:`CLIError` with one line that says what to change. Imports of heavy modules stay inside the
functions, so that ``kosbert-viz --help`` starts fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from kosbert_viz.embed.models import (
        MultiDeviceEncoder,
        OfflineEncoder,
        SentenceTransformerEncoder,
    )

__all__ = [
    "CLIError",
    "BANNER",
    "MODEL_HINT",
    "encoder_or_offline",
    "check_output",
    "check_writable_under",
    "check_count",
    "check_csv_output",
    "write_csv",
    "read_input",
    "nonempty_texts",
    "column_error",
]

BANNER = "!" * 78


class CLIError(Exception):
    """A user mistake: printed as one ``error: ...`` line, exit status 2."""


MODEL_HINT = {
    "map": (
        "  On the command line: --model ./ko-sbert-multitask (a downloaded folder), --model offline "
        "(the offline encoder, lower Korean quality), or --offline-fallback (use the offline encoder only "
        "when ko-sbert cannot be loaded); or set KOSBERT_VIZ_MODEL."
    ),
    "demo": (
        "  On the command line: drop --no-fallback (demo then falls back to the offline encoder), or pass "
        "--model ./ko-sbert-multitask (a downloaded folder) or --model offline; or set KOSBERT_VIZ_MODEL."
    ),
    "evaluate": (
        "  On the command line: --model ./ko-sbert-multitask (a downloaded folder) or --model offline; "
        "or set KOSBERT_VIZ_MODEL."
    ),
}


def encoder_or_offline(
    model, allow_offline: bool, command: str = "map", precision: str = "auto"
) -> tuple[SentenceTransformerEncoder | OfflineEncoder | MultiDeviceEncoder, str | None]:
    """Load the ko-sbert model; with allow_offline, fall back loudly to the offline encoder."""
    from kosbert_viz.embed.models import OFFLINE_ALIAS, ModelLoadError, OfflineEncoder, load_encoder, resolve_model_name

    offline_ok = precision in ("auto", OfflineEncoder.precision)
    if not offline_ok and resolve_model_name(model)[0] == OFFLINE_ALIAS:
        raise CLIError(
            f"--precision {precision}: the offline encoder computes in {OfflineEncoder.precision} only; "
            "leave --precision out"
        )
    try:
        return load_encoder(model, precision=precision), None
    except ModelLoadError as exc:
        if not allow_offline:
            raise ModelLoadError(f"{exc}\n{MODEL_HINT[command]}") from None
        notice = (
            "The ko-sbert model could not be loaded, so this report was made with the OFFLINE "
            "fallback model (multilingual Universal Sentence Encoder v3, fast-universal-sentence-"
            "encoder). Its Korean quality is lower (KorSTS ~71 vs 84.7 Spearman). "
            "Provide the model (see README) for real results."
        )
        if not offline_ok:
            notice += f" (--precision {precision} does not apply to it: it computes in {OfflineEncoder.precision}.)"
        print(f"{BANNER}\n{notice}\nReason:\n{exc}\n{BANNER}", file=sys.stderr, flush=True)
        try:
            return OfflineEncoder(), notice
        except ImportError as imp:
            raise CLIError(f"{exc}\n\nThe offline fallback is not installed either: {imp}") from None


# -- outputs -----------------------------------------------------------------------
def _check_file_target(value, flag: str, example: str) -> Path:
    """An output file given as ``flag value``, checked writable before any work: not a folder, not read-only,
    its folder writable (``example``: the file name the error suggests inside a folder)."""
    text = str(value)
    path = Path(text).expanduser()
    if path.is_dir() or text.endswith(("/", os.sep)):
        raise CLIError(f"{flag} {text} is a folder, expected a file name: use {flag} {path / example}")
    if path.exists() and not os.access(path, os.W_OK):
        raise CLIError(f"{flag} {text} exists and is read-only; choose another {flag} path or make it writable")
    check_writable_under(path, f"{flag} {text}", f"{flag} path")
    return path


def check_output(output) -> Path:
    """The report path (-o), checked writable before any work: not a folder, its folder writable."""
    text = str(output)
    path = Path(text).expanduser()
    folder = path.is_dir() or text.endswith(("/", os.sep))  # refused below, without the note
    if not folder and path.suffix.lower() not in (".html", ".htm"):
        print(f"note: -o {text} does not end in .html; browsers may not open it as a report", file=sys.stderr)
    return _check_file_target(output, "-o", "report.html")


def check_csv_output(value) -> Path | None:
    """--csv: a file path (not a folder) that can be written, checked before any work; None when not given."""
    return None if value is None else _check_file_target(value, "--csv", "themes.csv")


def write_csv(df, path: Path) -> Path:
    """``df`` as UTF-8 CSV with a byte-order mark (Excel opens Hangul right), written atomically."""
    from kosbert_viz._util.atomic import write_atomic

    write_atomic(path, df.to_csv(index=False).encode("utf-8-sig"))
    return path


def check_writable_under(path: Path, what: str, other: str) -> None:
    """The nearest existing folder above ``path`` (the writers create missing ones) must take a new file."""
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise CLIError(f"{what} cannot be written: {parent} is a file, not a folder; choose another {other}")
    import tempfile

    try:
        fd, probe = tempfile.mkstemp(prefix=".kosbert_viz-write-check-", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise CLIError(
            f"{what} cannot be written: the folder {parent} is not writable ({reason}); choose another {other}"
        ) from None


def check_count(value, flag: str, minimum: int, what: str) -> None:
    if value is not None and value < minimum:
        raise CLIError(f"{flag} {value}: expected {what}")


# -- the input table ---------------------------------------------------------------
def read_input(args) -> tuple[pd.DataFrame, dict]:
    """The input table (kosbert_viz.io.tables.read_table), with one stderr line on what was detected."""
    from kosbert_viz.io.tables import TableError, read_table, sep_name

    try:
        df, info = read_table(args.file, sep=args.sep, encoding=args.encoding, sheet=args.sheet)
    except (TableError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    name = Path(args.file).name
    if info.get("sheet") is not None:
        print(f"read {name}: sheet {info['sheet']!r}, {info['rows']:,} rows", file=sys.stderr)
    elif info.get("encoding") is not None:
        said = [f"encoding {info['encoding']}" + (" (detected)" if info.get("encoding_detected") else "")]
        said.append(f"separator {sep_name(info['sep'])}" + (" (detected)" if info.get("sep_detected") else ""))
        print(f"read {name}: {info['rows']:,} rows, " + ", ".join(said), file=sys.stderr)
    return df, info


def nonempty_texts(df, args) -> tuple[pd.DataFrame, pd.Series]:
    """The rows with a non-empty text (one stderr line on how many were skipped), the first --limit of them."""
    texts = df[args.text_col].astype(str)
    keep = texts.str.strip() != ""
    if (~keep).any():
        print(f"skipping {int((~keep).sum())} empty rows", file=sys.stderr)
    df, texts = df[keep], texts[keep]
    if args.limit:
        df, texts = df.head(args.limit), texts.head(args.limit)
    return df, texts


def column_error(col: str, flag: str, df, args) -> CLIError:
    """The error for a column that is not in the table: the nearest name, or the separator to pass."""
    import difflib

    from kosbert_viz._util.validation import quoted  # imports numpy: not at start-up

    cols = [str(c) for c in df.columns]
    near = difflib.get_close_matches(col, [c for c in cols if len(c) <= 1000], n=1)
    hint = f"; did you mean {flag} {near[0]!r}?" if near else ""
    seps = [c for c in ",;\t|" if len(cols) == 1 and c in cols[0]]
    if seps:
        hint = f"; the header {quoted(cols[0])} was not split: pass the separator, e.g. --sep {seps[0]!r}"
    return CLIError(f"column {quoted(col)} not in {args.file}; columns are {quoted(cols)}{hint}")
