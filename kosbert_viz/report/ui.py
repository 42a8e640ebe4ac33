"""The report's explorer layer: compressed embedded data and the script that opens it.

plotly.js, the figure, the texts and the per-point arrays travel gzip-compressed and base85-encoded
(:data:`B85_ALPHABET`: no ``<``, ``&``, quotes or backslash) inside ``<script type="application/octet-stream">``
blocks; the page opens them with the browser's own ``DecompressionStream`` (no extra runtime, no network)
and runs plotly.js with an indirect ``eval``. The page's code is ``static/`` (``loader.js``, ``report.js``,
``figures.js``, ``report.css`` and the page template ``report.html``), inlined unchanged into every report;
its settings come as JSON (:func:`config_island`). The texts are stored once, as a character-dictionary stream
(each distinct character ranked by count, one byte for the most frequent 239, see :func:`encode_texts`),
decoded in the page into one UTF-16 buffer. The hover labels are rebuilt from them in the page (wrapped by
display width, escaped); the search box, the filters, the lasso table and the CSV download read the same
array. That data work runs in a Worker (started from a ``blob:`` of the loader's own code, the CSP allows
``worker-src blob:``) while the main thread runs plotly.js, for pages of at least ``WORKER_MIN_POINTS``
points; smaller pages, and pages whose Worker does not start, fails or stays silent, do it on the main thread. User text only ever reaches the page as data: table cells and filter options are filled with
``textContent``, hover strings are entity-escaped.
"""

from __future__ import annotations

import functools
import gzip
import json
import string
from importlib import resources

import numpy as np

from kosbert_viz._util.columns import MAX_CATEGORIES, category_codes, category_columns
from kosbert_viz._util.validation import normalize_text
from kosbert_viz.viz.scatter import figure_json, hover_text

__all__ = [
    "report_payload",
    "read_report",
    "encode_texts",
    "decode_texts",
    "b85encode",
    "b85decode",
    "plotly_block",
    "static_text",
    "page_template",
    "json_island",
    "config_island",
    "MAX_CATEGORIES",
    "MAX_REPORT_FILTERS",
    "B85_ALPHABET",
    "WORKER_MIN_POINTS",
]

MAX_REPORT_FILTERS = 8  # category columns (kosbert_viz._util.columns) that become filters and CSV columns, in order

# printable ASCII less " & ' / < = > \ ` : nothing in a block can end the <script> or look like markup
B85_ALPHABET = "".join(c for c in map(chr, range(33, 127)) if c not in "\"&'/<=>\\`")
assert len(B85_ALPHABET) == 85
_B85 = np.frombuffer(B85_ALPHABET.encode("ascii"), np.uint8)
_B85_INV = np.full(128, 255, np.uint8)
_B85_INV[_B85] = np.arange(85, dtype=np.uint8)

# text stream codes: rank 0 ends a text; ranks < ONE_BYTE are one byte, then a prefix byte + 1 byte, then 255 + 3 bytes
ONE_BYTE = 240
_TWO_BYTE_END = ONE_BYTE + (255 - ONE_BYTE) * 256


def b85encode(raw: bytes) -> str:
    """Bytes as base85 text, 5 characters per 4 bytes (the last group zero-padded; keep ``len(raw)``).

    >>> b85decode(b85encode(b"kosbert"), 7)
    b'kosbert'
    """
    words = np.frombuffer(raw + b"\0" * (-len(raw) % 4), ">u4").astype(np.int64)
    digits = np.empty((len(words), 5), np.uint8)
    for k in range(4, -1, -1):
        words, digits[:, k] = np.divmod(words, 85)
    return _B85[digits].tobytes().decode("ascii")


def b85decode(text: str, length: int) -> bytes:
    """The inverse of :func:`b85encode`: the first ``length`` bytes."""
    d = _B85_INV[np.frombuffer(text.encode("ascii"), np.uint8)].reshape(-1, 5).astype(np.int64)
    if (d == 255).any():
        raise ValueError("got a character outside the base85 alphabet, expected report data")
    words = (((d[:, 0] * 85 + d[:, 1]) * 85 + d[:, 2]) * 85 + d[:, 3]) * 85 + d[:, 4]
    return words.astype(">u4").tobytes()[:length]


def _block(key: str, raw: bytes, level: int = 6) -> str:
    packed = gzip.compress(raw, compresslevel=level, mtime=0)
    return (
        f'<script type="application/octet-stream" id="kv-{key}" data-encoding="gzip+base85" '
        f'data-length="{len(packed)}">{b85encode(packed)}</script>'
    )


@functools.lru_cache(maxsize=2)
def _plotly_block(version: str) -> str:
    from plotly.offline import get_plotlyjs

    return _block("plotly", get_plotlyjs().encode("utf-8"), level=9)


def plotly_block() -> str:
    """plotly.js as a compressed data block (built once per plotly version); ``static/loader.js`` runs it."""
    from plotly.offline import get_plotlyjs_version

    return _plotly_block(get_plotlyjs_version())


def _category_columns(data, n):
    """{name: (values, codes)} of the first ``MAX_REPORT_FILTERS`` category columns of ``data`` (the explorer's
    rule, :mod:`kosbert_viz._util.columns`), values in list order, ``''`` for missing."""
    cols = {}
    if data is None:
        return cols
    for name in [c for c in category_columns(data) if len(data[c]) == n][:MAX_REPORT_FILTERS]:
        cols[str(name)] = category_codes(data[name])
    return cols


def _planes(a: np.ndarray) -> bytes:
    """A 4-byte array as its four byte planes (all lowest bytes, then the next ...): gzip packs those tighter."""
    return np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).view(np.uint8).reshape(-1, 4).T.tobytes()


def _unplanes(raw: bytes, dtype: str, count: int, offset: int) -> np.ndarray:
    planes = np.frombuffer(raw, np.uint8, count=4 * count, offset=offset).reshape(4, count)
    return np.ascontiguousarray(planes.T).view(dtype).reshape(-1)


def report_payload(figure, *, texts=None, coords=None, labels=None, names=None, data=None) -> dict:
    """The four data blocks of a report (``<script>`` elements): ``figure``, ``meta`` (theme names, category
    columns, the text dictionary), ``texts`` (the text stream) and ``binary`` (the per-point arrays).

    Traces drawn by :func:`kosbert_viz.cluster_map` know which text each point is (``_kv_index``);
    their hover strings and coordinates are left out of the file and rebuilt in the page. The binary
    block holds x, y (float32), labels, category codes and the traces' point indices (int32; differences
    when ascending), each array as four byte planes.
    """
    fig = figure.to_plotly_json() if hasattr(figure, "to_plotly_json") else dict(figure)
    traces = []
    index_parts = []
    offset = 0
    have_points = texts is not None and coords is not None
    if have_points and hasattr(figure, "data"):
        for i, (tr, tr_json) in enumerate(zip(figure.data, fig["data"])):
            idx = getattr(tr, "_kv_index", None)
            if idx is None or tr_json.get("text") is None:
                continue
            idx = np.asarray(idx, dtype=np.int32)
            if tr_json.get("z") is not None:  # 3-D: keep the trace as drawn
                continue
            for key in ("text", "x", "y"):  # rebuilt in the page from the texts and coordinates
                tr_json.pop(key, None)
            delta = bool(len(idx) < 2 or (np.diff(idx) >= 0).all())
            traces.append({"trace": i, "offset": offset, "length": int(len(idx)), "delta": delta})
            index_parts.append(np.diff(idx, prepend=0).astype(np.int32) if delta else idx)
            offset += len(idx)
    meta = {"format": 2, "n": 0, "chars": "", "names": {}, "columns": {}, "traces": traces}
    binary = stream = b""
    if have_points:
        n = len(texts)
        xy = np.asarray(coords, dtype=np.float32)[:, :2]
        lab = np.zeros(n, np.int32) if labels is None else np.asarray(labels).astype(np.int32)
        cols = _category_columns(data, n)
        meta["chars"], stream = encode_texts(normalize_text(str(t)) for t in texts)
        meta.update(
            n=n,
            names={str(int(k)): str(v) for k, v in (names or {}).items()},
            columns={c: v for c, (v, _) in cols.items()},
        )
        parts = [xy[:, 0], xy[:, 1], lab]
        parts += [codes for _, codes in cols.values()]
        parts += index_parts
        binary = b"".join(_planes(p) for p in parts)
    lay = fig.get("layout") or {}
    kvmeta = (lay.get("meta") or {}).get("kosbert_viz") or {}
    meta["wrap"] = int(kvmeta.get("wrap", 60))
    meta["max_chars"] = int(kvmeta.get("max_chars", 300))
    fig_text = normalize_text(figure_json(fig))  # lone surrogates as U+FFFD, like every text of the report
    meta_text = json.dumps(meta, ensure_ascii=False, separators=(",", ":"))
    return {
        "figure": _block("figure", fig_text.encode("utf-8")),
        "meta": _block("meta", meta_text.encode("utf-8")),
        "texts": _block("texts", stream),
        "binary": _block("binary", binary),
    }


def encode_texts(texts) -> tuple[str, bytes]:
    """``(chars, stream)``: the distinct characters by rank and every text as rank codes, 0 after each text.

    Ranks 1.. go to characters by count (most frequent first, ties by code point); a rank below 240 is one
    byte, below 240 + 15 * 256 a prefix byte (240..254) and a low byte, beyond that 255 and three bytes
    (little-endian). Vectorised: the texts as one UTF-32 array, ``np.unique`` with counts.

    >>> chars, stream = encode_texts(["배송", "배달"])
    >>> chars, stream
    ('배달송', b'\\x01\\x03\\x00\\x01\\x02\\x00')
    """
    texts = list(texts)
    lengths = np.fromiter((len(t) for t in texts), np.int64, len(texts))
    cps = np.frombuffer("".join(texts).encode("utf-32-le"), np.uint32)
    counts = np.bincount(cps, minlength=1)
    present = np.flatnonzero(counts)  # code points, ascending
    order = present[np.argsort(-counts[present], kind="stable")]  # by count, ties by code point
    rank = np.zeros(len(counts), np.int64)
    rank[order] = np.arange(1, len(order) + 1)
    codes = np.insert(rank[cps], np.cumsum(lengths), 0)
    one, two = codes < ONE_BYTE, (codes >= ONE_BYTE) & (codes < _TWO_BYTE_END)
    size = np.where(one, 1, np.where(two, 2, 4))
    pos = np.cumsum(size) - size
    out = np.zeros(int(size.sum()), np.uint8)
    out[pos[one]] = codes[one]
    r = codes[two] - ONE_BYTE
    out[pos[two]], out[pos[two] + 1] = ONE_BYTE + (r >> 8), r & 255
    three = ~(one | two)
    r = codes[three] - _TWO_BYTE_END
    out[pos[three]] = 255
    for k in range(3):
        out[pos[three] + 1 + k] = (r >> (8 * k)) & 255
    chars = order.astype("<u4").tobytes().decode("utf-32-le")
    return chars, out.tobytes()


def decode_texts(chars: str, stream: bytes) -> list[str]:
    """The inverse of :func:`encode_texts`, what the page's script does (here in numpy).

    >>> decode_texts(*encode_texts(["배송", "", "🙂 ok"]))
    ['배송', '', '🙂 ok']
    """
    b = np.frombuffer(stream, np.uint8).astype(np.int64)
    is_start = np.ones(len(b), bool)
    covered = -1  # the bytes after a prefix byte belong to its code: walk only the (rarer) prefix bytes
    for p in np.flatnonzero(b >= ONE_BYTE).tolist():
        if p > covered:
            covered = p + (1 if b[p] < 255 else 3)
            is_start[p + 1 : covered + 1] = False
    pos = np.flatnonzero(is_start)
    first = b[pos]
    value = first.copy()
    two = (first >= ONE_BYTE) & (first < 255)
    value[two] = ONE_BYTE + ((first[two] - ONE_BYTE) << 8) + b[pos[two] + 1]
    four = first == 255
    value[four] = _TWO_BYTE_END + b[pos[four] + 1] + (b[pos[four] + 2] << 8) + (b[pos[four] + 3] << 16)
    table = np.concatenate([[0], np.frombuffer(chars.encode("utf-32-le"), "<u4")]).astype("<u4")
    joined = table[value[value != 0]].tobytes().decode("utf-32-le")
    ends = np.flatnonzero(value == 0)
    bounds = np.concatenate([[0], ends - np.arange(len(ends))])  # code points before each end marker
    return [joined[bounds[k] : bounds[k + 1]] for k in range(len(ends))]


# The page's code lives in static/ (loader.js, report.js, figures.js, report.css, report.html): constant files,
# inlined into every report as they are; what changes from report to report reaches them as data blocks.
WORKER_MIN_POINTS = 20_000  # reports with fewer points prepare their data without a Worker
_JSON_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


@functools.lru_cache(maxsize=16)
def static_text(name: str) -> str:
    """A file of the report's ``static/`` folder (its JavaScript, CSS or HTML template) as text."""
    return (resources.files("kosbert_viz.report") / "static" / name).read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def page_template() -> string.Template:
    """The report's page, ``static/report.html``: ``$name`` slots for HTML-escaped fragments (fill with
    ``substitute``, so a missing slot fails)."""
    return string.Template(static_text("report.html"))


def json_island(element_id: str, json_text: str) -> str:
    """JSON text as a ``<script type="application/json">`` block; ``<``, ``>``, ``&``, U+2028 and U+2029 as
    ``\\u`` escapes, so no text can end the script or read as markup. The page reads it with ``JSON.parse``.

    >>> json_island("kv-x", '{"t": "</script>"}')
    '<script type="application/json" id="kv-x">{"t": "\\\\u003c/script\\\\u003e"}</script>'
    """
    return f'<script type="application/json" id="{element_id}">{json_text.translate(_JSON_ESCAPES)}</script>'


def config_island() -> str:
    """The loader's settings (``kv-config``): the base85 alphabet of the data blocks and the Worker threshold."""
    return json_island("kv-config", json.dumps({"alphabet": B85_ALPHABET, "workerMinPoints": WORKER_MIN_POINTS}))


def _read_block(html_text: str, key: str) -> bytes:
    import re

    m = re.search(
        rf'<script type="application/octet-stream" id="kv-{key}" data-encoding="gzip\+base85" '
        rf'data-length="(\d+)">([^<]*)</script>',
        html_text,
    )
    if m is None:
        raise ValueError(f"not a kosbert_viz report: no kv-{key} data block")
    return gzip.decompress(b85decode(m.group(2), int(m.group(1))))


def _check_report_format(html_text: str) -> None:
    """Say which kind of page it is when it is not a report of this format (older reports, other pages)."""
    if 'data-encoding="gzip+base85"' in html_text:
        return
    if 'data-encoding="gzip+base64"' in html_text:
        raise ValueError(
            "this report was written by an older kosbert_viz (gzip+base64 data blocks); read_report "
            "reads the current format (gzip+base85): write the report again with kv.write_report"
        )
    if "kosbert_viz" in html_text:
        raise ValueError(
            "this report was written by an older kosbert_viz, before reports embedded their data "
            "(texts, themes, positions); write it again with kv.write_report to read it back"
        )
    raise ValueError("not a kosbert_viz report: no kv-figure data block (expected a page from kv.write_report)")


def read_report(html_text: str) -> dict:
    """The data a report embeds, decoded as the page decodes it: ``figure`` (hover texts and coordinates
    filled back in), ``meta`` (texts, theme names, category columns), the per-point arrays and
    ``plotly_js`` (the embedded plotly.js source).

    >>> data = read_report(kv.write_report(tm, "report.html").read_text(encoding="utf-8"))
    >>> len(data["meta"]["texts"]) == len(tm.texts), len(data["labels"]) == len(tm.texts)
    (True, True)
    """
    _check_report_format(html_text)
    blocks = {key: _read_block(html_text, key) for key in ("plotly", "figure", "meta", "texts", "binary")}
    fig = json.loads(blocks["figure"].decode("utf-8"))
    meta = json.loads(blocks["meta"].decode("utf-8"))
    meta["texts"] = decode_texts(meta["chars"], blocks["texts"])
    n, buf, off = meta["n"], blocks["binary"], 0

    def take(dtype, count):
        nonlocal off
        arr = _unplanes(buf, dtype, count, off)
        off += 4 * count
        return arr

    x, y, labels = take("<f4", n), take("<f4", n), take("<i4", n)
    columns = {c: take("<i4", n) for c in meta["columns"]}
    for t in meta["traces"]:
        idx = _unplanes(buf, "<i4", t["length"], off + 4 * t["offset"])
        if t["delta"]:
            idx = np.cumsum(idx, dtype=np.int64).astype(np.int32)
        trace = fig["data"][t["trace"]]
        trace["x"], trace["y"] = x[idx].tolist(), y[idx].tolist()
        trace["text"] = [hover_text(meta["texts"][i], width=meta["wrap"], max_chars=meta["max_chars"]) for i in idx]
        trace["_kv_index"] = idx.tolist()
    return {
        "figure": fig,
        "meta": meta,
        "x": x,
        "y": y,
        "labels": labels,
        "columns": columns,
        "plotly_js": blocks["plotly"].decode("utf-8"),
    }
