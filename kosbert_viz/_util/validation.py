"""Input checks shared by every entry point (one place, as scikit-learn's ``check_array``).

Texts, embeddings, labels and cache roots are checked here and nowhere else, so that the same
mistake gets the same message from ``encode``, ``keywords``, ``search``, ``cluster_map`` and the CLI.

>>> check_texts(["배송", "환불"])
['배송', '환불']
>>> check_texts("배송이 늦어요")
Traceback (most recent call last):
...
TypeError: texts must be a collection of str (a list, a pandas Series ...), got a single str: wrap it in a list (['배송이 늦어요'])
"""

from __future__ import annotations

import os
import re
import unicodedata
import warnings
from pathlib import Path

import numpy as np

from kosbert_viz.exceptions import NotATextError

__all__ = [
    "check_texts",
    "normalize_text",
    "check_embeddings",
    "check_labels",
    "check_cache_root",
    "check_positive_int",
    "NotATextError",
]

SURROGATE = re.compile("[\ud800-\udfff]")


def normalize_text(text: str) -> str:
    """The form every text is encoded, cached, tokenised and shown in: Unicode NFC, lone surrogates as U+FFFD.

    macOS often writes decomposed Hangul (NFD): ``"배송"`` then has 5 code points, not 2.

    >>> len(normalize_text(unicodedata.normalize("NFD", "배송")))
    2
    >>> normalize_text("ok\\ud83d")
    'ok\ufffd'
    """
    if SURROGATE.search(text):
        text = SURROGATE.sub("\ufffd", text)
    return unicodedata.normalize("NFC", text)


def _is_missing(value) -> bool:
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return True
    try:
        missing = value != value  # NaN
        return bool(missing) if isinstance(missing, (bool, np.bool_)) else False
    except Exception:  # pd.NA: "boolean value of NA is ambiguous"
        return True


def _row_error(i: int, value, name: str) -> NotATextError:
    kind = "missing (None/NaN/pd.NA)" if _is_missing(value) else type(value).__name__
    hint = (
        " Drop the rows without a text first: texts.dropna(), or df.dropna(subset=[column]) to keep the"
        " other columns in step (filled with '', they would be mapped as empty texts)."
        if _is_missing(value)
        else " Convert them first, e.g. texts.astype(str)."
    )
    return NotATextError(f"{name}[{i}] is {kind}, expected str.{hint}")


def _single_str_error(name: str, text: str) -> TypeError:
    shown = text if len(text) <= 20 else text[:20] + "..."
    return TypeError(
        f"{name} must be a collection of str (a list, a pandas Series ...), got a single str: "
        f"wrap it in a list ([{shown!r}])"
    )


def iter_texts(texts, *, name: str = "texts", offset: int = 0, warn_surrogates: bool = True):
    """Yield NFC texts one by one (for generators); raise on a non-str row with its index."""
    warned = False
    for i, t in enumerate(texts, offset):
        if not isinstance(t, str):
            raise _row_error(i, t, name)
        if warn_surrogates and not warned and SURROGATE.search(t):
            warnings.warn(
                f"{name}[{i}] holds a lone surrogate (a broken emoji, common in scraped chat logs); "
                f"it is replaced with U+FFFD (further rows are not reported)",
                UserWarning,
                stacklevel=3,
            )
            warned = True
        yield normalize_text(t)


_CHUNK = 4096  # texts checked together by _nfc_rows


def _nfc_rows(items: list, name: str) -> list[str]:
    """What ``list(iter_texts(items))`` gives, checked a chunk of texts at a time instead of text by text.

    Each chunk is joined with "\\n", a starter that composes with nothing, so the joined text is NFC
    exactly when every row is, and normalising it normalises each row on its own. A chunk with a row
    that is not a ``str`` or holds a lone surrogate hands the rest to :func:`iter_texts` (its error names
    the row; its warning is given once). 1M short reviews, against text by text: 0.48x the time when
    they are NFC, 0.60x when all are NFD (a macOS export), 0.86x when all are NFD and hold a newline
    (``benchmarks/bench_check_texts.py``).

    >>> _nfc_rows(["배송", unicodedata.normalize("NFD", "환불"), "a\\nb"], "texts") == ["배송", "환불", "a\\nb"]
    True
    """
    out: list[str] = []
    for start in range(0, len(items), _CHUNK):
        chunk = items[start : start + _CHUNK]
        if not all(type(t) is str for t in chunk):
            break
        joined = "\n".join(chunk)
        if SURROGATE.search(joined):
            break
        normalised = unicodedata.normalize("NFC", joined)  # the same object when it is NFC already
        if normalised is joined or normalised == joined:
            out.extend(chunk)
        elif joined.count("\n") == len(chunk) - 1:  # no row holds a newline: split the normalised text back
            out.extend(normalised.split("\n"))
        else:
            out.extend(unicodedata.normalize("NFC", t) for t in chunk)
    else:
        return out
    out.extend(iter_texts(items[start:], name=name, offset=start))
    return out


def check_texts(texts, *, name: str = "texts", n: int | None = None, allow_empty: bool = True) -> list[str]:
    """A list of NFC strings from any collection of texts, with a clear error for anything else.

    A single ``str`` is refused (iterating it would treat each character as a text). ``None``,
    NaN and ``pd.NA`` rows are refused with their row index. Lone surrogates are replaced by U+FFFD
    with one warning that names the first row.
    """
    if isinstance(texts, str):
        raise _single_str_error(name, texts)
    if texts is None or isinstance(texts, (bytes, bytearray)) or not hasattr(texts, "__iter__"):
        raise TypeError(f"{name} must be a collection of str, got {type(texts).__name__}")
    if isinstance(texts, np.ndarray) and texts.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got an array of shape {texts.shape}")
    if hasattr(texts, "ndim") and getattr(texts, "ndim", 1) != 1:  # a DataFrame
        raise ValueError(
            f"{name} must be one column of texts, got a {type(texts).__name__} with "
            f"shape {getattr(texts, 'shape', '?')}: pick the column, e.g. df['review']"
        )
    out = _nfc_rows(texts if isinstance(texts, list) else list(texts), name)
    if n is not None and len(out) != n:
        raise ValueError(f"{name} has {len(out)} entries, expected {n} (one per row)")
    if not allow_empty and not out:
        raise ValueError(f"{name} is empty, expected at least one text")
    return out


def check_embeddings(
    X, *, name: str = "embeddings", n: int | None = None, dtype=np.float32, finite: bool = True, copy: bool = False
) -> np.ndarray:
    """A 2-D real float array (torch tensors and memmaps accepted); NaN/inf rows refused with their index."""
    if X is None:
        raise TypeError(f"{name} must be a 2-D array of shape (n_samples, dim), got None")
    if hasattr(X, "detach"):  # a torch tensor
        X = X.detach().cpu().numpy()
    if not isinstance(X, np.ndarray):
        try:
            X = np.asarray(X)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must be a 2-D numeric array, got {type(X).__name__}: {exc}") from None
    if X.dtype == object or not (np.issubdtype(X.dtype, np.number) or X.dtype == bool) or np.iscomplexobj(X):
        raise TypeError(f"{name} must be real numbers, got dtype {X.dtype}")
    if X.ndim != 2:
        hint = " (one vector? use X.reshape(1, -1))" if X.ndim == 1 else ""
        raise ValueError(f"{name} must be a 2-D array of shape (n_samples, dim), got shape {X.shape}{hint}")
    if X.shape[1] == 0:
        raise ValueError(f"{name} has 0 columns, expected at least 1")
    if n is not None and len(X) != n:
        raise ValueError(f"{name} has {len(X)} rows, expected {n} (one per text)")
    if dtype is not None and X.dtype != dtype:
        X = X.astype(dtype)
    elif copy:
        X = X.copy()
    if finite and X.size:
        bad = ~np.isfinite(X).all(axis=1)
        if bad.any():
            raise ValueError(f"{name} row {int(np.argmax(bad))} contains NaN or inf")
    return X


def check_labels(labels, *, n: int | None = None, name: str = "labels") -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (``-1`` = noise) and the original label of each code, from any hashable labels.

    Integer labels keep their values (so ``-1`` stays noise and cluster 7 stays 7). Strings,
    floats, booleans and pandas categoricals become codes ``0..k-1`` in sorted order; ``names[code]``
    is the original value. Missing values (None/NaN) become noise (``-1``).

    >>> codes, names = check_labels(["배송", "환불", "배송"])
    >>> codes.tolist(), names.tolist()
    ([0, 1, 0], ['배송', '환불'])
    >>> check_labels([3, -1, 3])[0].tolist()
    [3, -1, 3]
    """
    if isinstance(labels, str):
        raise TypeError(f"{name} must be one label per text, got a single str")
    if hasattr(labels, "cat") and hasattr(labels, "dtype") and str(labels.dtype) == "category":
        values = labels.cat.categories.to_numpy()
        codes = labels.cat.codes.to_numpy().astype(np.int64)  # -1 for missing
        if n is not None and len(codes) != n:
            raise ValueError(f"{name} has {len(codes)} entries, expected {n} (one per text)")
        return codes, np.asarray(values, dtype=object)
    if hasattr(labels, "to_numpy"):
        labels = labels.to_numpy()
    arr = np.asarray(labels) if not isinstance(labels, np.ndarray) else labels
    if arr.dtype.kind in "US" and not isinstance(labels, np.ndarray) and any(_is_missing(v) for v in labels):
        arr = np.asarray(list(labels), dtype=object)  # ["a", nan]: numpy would make the label "nan"
    if arr.ndim != 1:
        arr = np.asarray(list(labels), dtype=object)
        if arr.ndim != 1:
            raise ValueError(f"{name} must be 1-D (one label per text), got shape {arr.shape}")
    if n is not None and len(arr) != n:
        raise ValueError(f"{name} has {len(arr)} entries, expected {n} (one per text)")
    if arr.dtype.kind == "f" and len(arr) and np.all(np.isnan(arr) | (arr == np.round(arr))):
        arr = np.where(np.isnan(arr), -1, arr).astype(np.int64)  # whole-number floats (a column with NaN)
    if arr.dtype.kind == "b":
        arr = arr.astype(object)
    if arr.dtype.kind in "iu":
        codes = arr.astype(np.int64)
        if (codes < -1).any():
            raise ValueError(f"{name} must be >= -1 (-1 = noise), got {int(codes.min())}")
        ids = np.unique(codes[codes >= 0])
        names = np.empty(int(ids.max()) + 1 if len(ids) else 0, dtype=object)
        names[ids] = ids
        return codes, names
    values = arr.astype(object)
    missing = np.array([_is_missing(v) for v in values], dtype=bool)
    try:
        uniq = sorted(set(values[~missing].tolist()))
    except TypeError:  # mixed types: order by their text
        uniq = sorted(set(values[~missing].tolist()), key=str)
    pos = {v: i for i, v in enumerate(uniq)}
    codes = np.full(len(values), -1, np.int64)
    for i in np.flatnonzero(~missing):
        try:
            codes[i] = pos[values[i]]
        except TypeError:
            raise TypeError(
                f"{name}[{i}] is {type(values[i]).__name__}, which cannot be a label "
                f"(labels must be hashable: numbers, strings, categories)"
            ) from None
    names = np.empty(len(uniq), dtype=object)
    names[:] = uniq
    return codes, names


QUOTE_LIMIT = 200  # characters of user data an error message quotes


def quoted(value, limit: int = QUOTE_LIMIT) -> str:
    """``repr(value)`` for a message, cut to ``limit`` characters (a 5M-character header is not repeated).

    >>> quoted("x" * 1000, 12)
    "'xxxxxxxxx... (1,002 characters)"
    """
    r = repr(value)
    return r if len(r) <= limit else f"{r[: limit - 2]}... ({len(r):,} characters)"


def cut_long_texts(texts: list, limit: int, reader: str, *, rows: bool = True, stacklevel: int = 3) -> list:
    """``texts`` with each cut to ``limit`` characters, and one warning (how many, the first one) when any is.

    For readers whose memory or time grows with a text's length (an encoder, keyword analysis).
    ``rows``: the texts are the caller's rows, so the warning names the first long one's row
    (an encoder's de-duplicated texts are not: the warning quotes the text's start instead).

    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     cut = cut_long_texts(["짧다", "가" * 10], 4, "the reader")
    >>> cut, len(w)
    (['짧다', '가가가가'], 1)
    """
    long = [i for i, t in enumerate(texts) if len(t) > limit]
    if not long:
        return texts
    first = texts[long[0]]
    where = f"row {long[0]}, " if rows else ""
    warnings.warn(
        f"{len(long):,} text(s) longer than the {limit:,} characters {reader} reads were cut (first: "
        f"{where}{len(first):,} characters, {first[:40]!r}...)",
        UserWarning,
        stacklevel=stacklevel,
    )
    return [t[:limit] if len(t) > limit else t for t in texts]


def identical_rows(X) -> tuple[np.ndarray, np.ndarray]:
    """Group byte-identical rows of a 2-D array: (group of each row, size of each group).

    >>> group, sizes = identical_rows(np.array([[1.0, 2.0], [3.0, 4.0], [1.0, 2.0]]))
    >>> bool(group[0] == group[2]), sorted(sizes.tolist())
    (True, [1, 2])
    """
    X = np.ascontiguousarray(X)
    _, group, counts = np.unique(
        X.view(np.dtype((np.void, X.dtype.itemsize * X.shape[1]))).ravel(), return_inverse=True, return_counts=True
    )
    return group.ravel(), counts


def check_positive_int(value, name: str, *, minimum: int = 1, maximum: int | None = None, allow_none: bool = False):
    """``value`` as an int in ``[minimum, maximum]``; bools, floats with a fraction and strings refused."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise TypeError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        rng = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise ValueError(f"{name} must be {rng}, got {value}")
    return value


def check_cache_root(path, *, what: str = "cache folder") -> Path:
    """A folder path for a cache: refused with a clear error when it is an existing file."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"the {what} must be a path, got {type(path).__name__}")
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        env = (
            " (from $KOSBERT_VIZ_CACHE)"
            if os.environ.get("KOSBERT_VIZ_CACHE")
            and Path(os.environ["KOSBERT_VIZ_CACHE"]).expanduser() in (p, *p.parents)
            else ""
        )
        raise NotADirectoryError(
            f"the {what} {str(p)!r}{env} is a file, expected a folder: "
            f"point it at a folder, or pass cache=None to keep nothing on disk"
        )
    return p
