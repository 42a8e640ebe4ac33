"""The report's explorer layer: compressed embedded data and the script that opens it.

plotly.js, the figure, the texts and the per-point arrays travel gzip-compressed and base85-encoded
(:data:`B85_ALPHABET`: no ``<``, ``&``, quotes or backslash) inside ``<script type="application/octet-stream">``
blocks; the page opens them with the browser's own ``DecompressionStream`` (no extra runtime, no network)
and runs plotly.js with an indirect ``eval``. The texts are stored once, as a character-dictionary stream
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

import numpy as np

from kosbert_viz._util.columns import MAX_CATEGORIES, category_codes, category_columns
from kosbert_viz._util.validation import normalize_text
from kosbert_viz.viz.scatter import figure_json, hover_text

__all__ = ["report_payload", "read_report", "encode_texts", "decode_texts", "b85encode", "b85decode",
           "plotly_block", "LOADER_JS", "UI_CSS", "UI_HTML", "UI_JS", "MAX_CATEGORIES", "MAX_REPORT_FILTERS",
           "B85_ALPHABET"]

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
    return (f'<script type="application/octet-stream" id="kv-{key}" data-encoding="gzip+base85" '
            f'data-length="{len(packed)}">{b85encode(packed)}</script>')


@functools.lru_cache(maxsize=2)
def _plotly_block(version: str) -> str:
    from plotly.offline import get_plotlyjs

    return _block("plotly", get_plotlyjs().encode("utf-8"), level=9)


def plotly_block() -> str:
    """plotly.js as a compressed data block (built once per plotly version); :data:`LOADER_JS` runs it."""
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
        meta.update(n=n, names={str(int(k)): str(v) for k, v in (names or {}).items()},
                    columns={c: v for c, (v, _) in cols.items()})
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
    return {"figure": _block("figure", fig_text.encode("utf-8")),
            "meta": _block("meta", meta_text.encode("utf-8")),
            "texts": _block("texts", stream),
            "binary": _block("binary", binary)}


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
            is_start[p + 1:covered + 1] = False
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
    return [joined[bounds[k]:bounds[k + 1]] for k in range(len(ends))]


# Runs right after the plotly.js block, early in the page: the decoder every data block goes through, the Worker
# that prepares the page's data (window.kvData(), called once the data blocks are parsed), and the one promise
# every script that draws waits on (plotly.js decompressed and run).
WORKER_MIN_POINTS = 20_000  # reports with fewer points prepare their data without a Worker

LOADER_JS = r"""
(function() {
  "use strict";
  var MARK = function(m) { if (window.performance && performance.mark) performance.mark(m); };
  MARK("kosbert-viz:loader");
  // Everything that turns the data blocks into arrays and hover strings. Self-contained: the page runs it in a
  // Worker built from its source (core.toString()), and on the main thread when no Worker can be started.
  function core() {
    "use strict";
    var A = "__ALPHABET__", T = new Uint8Array(128);
    for (var a = 0; a < A.length; a++) T[A.charCodeAt(a)] = a;
    function b85(s, n) {  // base85 text -> its first n bytes (5 characters per 4 bytes)
      var out = new Uint8Array(Math.floor(s.length / 5) * 4);
      for (var i = 0, j = 0; i + 4 < s.length; i += 5, j += 4) {
        var v = (((T[s.charCodeAt(i)] * 85 + T[s.charCodeAt(i + 1)]) * 85 + T[s.charCodeAt(i + 2)]) * 85
                 + T[s.charCodeAt(i + 3)]) * 85 + T[s.charCodeAt(i + 4)];
        out[j] = v >>> 24; out[j + 1] = (v >>> 16) & 255; out[j + 2] = (v >>> 8) & 255; out[j + 3] = v & 255;
      }
      return out.subarray(0, n);
    }
    function gunzip(bytes) {
      return new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"))).arrayBuffer();
    }
    function esc(s) { return /[&<>]/.test(s) ? s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;") : s; }
    function wide(c) {  // East Asian wide/full-width (the ranges that matter for Korean reviews)
      if (c < 0x1100) return false;
      if (c >= 0xAC00 && c <= 0xD7A3) return true;
      return (c >= 0x1100 && c <= 0x115F) || (c >= 0x2E80 && c <= 0x303E) || (c >= 0x3041 && c <= 0x33FF) ||
             (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xA000 && c <= 0xA4CF) ||
             (c >= 0xA960 && c <= 0xA97F) || (c >= 0xF900 && c <= 0xFAFF) ||
             (c >= 0xFE30 && c <= 0xFE4F) || (c >= 0xFF00 && c <= 0xFF60) || (c >= 0xFFE0 && c <= 0xFFE6) ||
             (c >= 0x1F300 && c <= 0x1F64F) || (c >= 0x1F900 && c <= 0x1F9FF) || (c >= 0x20000 && c <= 0x3FFFD);
    }
    // whitespace as Python's str.split() sees it (JS's \s also takes U+FEFF, misses U+001C..U+001F and U+0085)
    var WS = "\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
    var SPACES = new RegExp("[" + WS + "]+"), ONE_LINE = new RegExp("^[^" + WS + "]+(?: [^" + WS + "]+)*$");
    // The same lines as kosbert_viz.viz.scatter.hover_text (display columns: a Hangul syllable is 2; words kept whole
    // where they fit, longer runs cut at the column limit), in one pass over char codes: 100k texts in ~0.1 s.
    function hover(text, wrapAt, maxChars) {
      var t = ONE_LINE.test(text) ? text : text.split(SPACES).filter(Boolean).join(" ");
      if (t.length > maxChars) {  // more UTF-16 units than allowed characters: count code points
        for (var q = 0, cps = 0; q < t.length && cps < maxChars; q++, cps++) {
          var h = t.charCodeAt(q);
          if (h >= 0xD800 && h <= 0xDBFF) q++;
        }
        if (q < t.length) t = t.substring(0, q) + "\u2026";
      }
      var lines = [], lineStart = 0, curW = 0, i = 0, n = t.length;
      while (i < n) {  // one word: [ws, i)
        var ws = i, w = 0;
        for (; i < n; i++) {
          var c = t.charCodeAt(i);
          if (c === 32) break;
          if (c >= 0xD800 && c <= 0xDBFF && i + 1 < n) { c = t.codePointAt(i); i++; }
          w += wide(c) ? 2 : 1;
        }
        if (curW && curW + 1 + w <= wrapAt) { curW += 1 + w; i++; continue; }
        if (curW) lines.push(t.substring(lineStart, ws - 1));
        var p = ws;
        while (w > wrapAt) {  // split an over-long word at the column limit
          var pw = 0, k = p;
          while (k < i) {
            var cc = t.charCodeAt(k), len = 1;
            if (cc >= 0xD800 && cc <= 0xDBFF && k + 1 < i) { cc = t.codePointAt(k); len = 2; }
            var cw = wide(cc) ? 2 : 1;
            if (pw + cw > wrapAt && k > p) break;
            pw += cw; k += len;
          }
          lines.push(t.substring(p, k)); p = k; w -= pw;
        }
        lineStart = p; curW = w; i++;
      }
      if (curW) lines.push(t.substring(lineStart, n));
      if (!lines.length) return "";
      for (var j = 0; j < lines.length; j++) lines[j] = esc(lines[j]);
      return lines.join("<br>");
    }
    // the texts: rank codes (0 ends a text; < 240 one byte, 240..254 + 1 byte, 255 + 3 bytes) -> one string, n + 1 starts
    function decodeTexts(bytes, chars, n) {
      var table = [0].concat(Array.from(chars, function(c) { return c.codePointAt(0); }));
      var units = new Uint16Array(bytes.length * 2), starts = new Uint32Array(n + 1), u = 0, k = 0;
      for (var i = 0; i < bytes.length;) {
        var b = bytes[i++], r;
        if (b < 240) r = b;
        else if (b < 255) r = 240 + ((b - 240) << 8) + bytes[i++];
        else { r = 4080 + bytes[i] + (bytes[i + 1] << 8) + (bytes[i + 2] << 16); i += 3; }
        if (r === 0) { starts[++k] = u; continue; }
        var c = table[r];
        if (c < 0x10000) units[u++] = c;
        else { c -= 0x10000; units[u++] = 0xD800 + (c >> 10); units[u++] = 0xDC00 + (c & 1023); }
      }
      return {all: new TextDecoder("utf-16le", {ignoreBOM: true}).decode(units.subarray(0, u)), starts: starts};
    }
    function unplane(buf, off, m) {  // four byte planes -> little-endian 4-byte values
      var src = new Uint8Array(buf, off, 4 * m), out = new Uint8Array(4 * m);
      for (var p = 0; p < 4; p++) for (var i = 0, base = p * m; i < m; i++) out[4 * i + p] = src[base + i];
      return out.buffer;
    }
    function now() { return performance.timeOrigin + performance.now(); }
    // [[base85, length] of kv-figure, kv-meta, kv-texts, kv-binary] -> everything the page draws from: strings and
    // ArrayBuffers only (hover strings of a trace as one string and its n + 1 offsets), cheap to post back
    function prepare(blocks) {
      var at = {start: now()};
      return Promise.all(blocks.map(function(b) { return gunzip(b85(b[0], b[1])); })).then(function(parts) {
        var dec = new TextDecoder("utf-8"), meta = JSON.parse(dec.decode(parts[1])), n = meta.n, buf = parts[3], off = 0;
        var out = {fig: dec.decode(parts[0]), meta: meta, cols: [], traces: [], at: at}, transfer = [];
        at.opened = now();
        var tx = decodeTexts(new Uint8Array(parts[2]), meta.chars, n), all = tx.all, starts = tx.starts;
        out.all = all; out.starts = starts.buffer; transfer.push(starts.buffer);
        at.texts = now();
        function take(len) { var b = unplane(buf, off, len); off += len * 4; transfer.push(b); return b; }
        out.X = take(n); out.Y = take(n); out.L = take(n);
        Object.keys(meta.columns).forEach(function() { out.cols.push(take(n)); });
        var X = new Float32Array(out.X), Y = new Float32Array(out.Y);
        meta.traces.forEach(function(t) {
          var idx = new Int32Array(unplane(buf, off + t.offset * 4, t.length)), m = t.length;
          if (t.delta) for (var i = 1; i < m; i++) idx[i] += idx[i - 1];
          var xs = new Float32Array(m), ys = new Float32Array(m), text = new Array(m), ends = new Uint32Array(m + 1);
          for (var j = 0; j < m; j++) {
            var s = idx[j];
            text[j] = hover(all.substring(starts[s], starts[s + 1]), meta.wrap, meta.max_chars);
            ends[j + 1] = ends[j] + text[j].length; xs[j] = X[s]; ys[j] = Y[s];
          }
          out.traces.push({trace: t.trace, idx: idx.buffer, xs: xs.buffer, ys: ys.buffer, hover: text.join(""), ends: ends.buffer});
          transfer.push(idx.buffer, xs.buffer, ys.buffer, ends.buffer);
        });
        at.hover = now();
        return {data: out, transfer: transfer};
      });
    }
    function unpack(b) {  // [base85, length] -> the gunzipped UTF-8 text
      return gunzip(b85(b[0], b[1])).then(function(buf) { return new TextDecoder("utf-8").decode(buf); });
    }
    return {hover: hover, prepare: prepare, b85: b85, gunzip: gunzip, unpack: unpack};
  }
  var C = core();
  window.kvCore = C;
  // The worker starts now, while the page is still being parsed, and first unpacks plotly.js. A Worker only gets
  // going, and only gets the messages posted to it, once its page's main thread is free for a moment, which it is
  // not while plotly.js runs: so plotly.js runs once the worker has answered (plotly.js's source) before the blocks
  // were posted, which then reach it directly, or else once it says it has them ("got").
  var WORKER_MAIN = "self.onmessage = function(e) {\n"
    + "  if (e.data.plotly) { C.unpack(e.data.plotly).then(function(src) { self.postMessage({plotly: src}); })"
    + ".catch(function(err) { self.postMessage({plotlyError: String(err)}); }); return; }\n"
    + "  self.postMessage({got: true});\n"
    + "  C.prepare(e.data.blocks).then(function(r) { self.postMessage({ok: r.data}, r.transfer); })"
    + ".catch(function(err) { self.postMessage({error: String(err)}); });\n};";
  function block(id) {
    var el = document.getElementById(id);
    if (!el) throw new Error("no data block " + id);
    return [el.textContent, Number(el.getAttribute("data-length"))];
  }
  function blocks() { return ["kv-figure", "kv-meta", "kv-texts", "kv-binary"].map(block); }
  function onPage() { window.__kvPrepared = "page"; return C.prepare(blocks()).then(function(r) { return r.data; }); }
  function deferred() { var d = {}; d.promise = new Promise(function(res, rej) { d.resolve = res; d.reject = rej; }); return d; }
  var started = deferred(), go = started.resolve, fromWorker = deferred(), plotlyFromWorker = deferred(), worker = null;
  fromWorker.promise.catch(function() {});  // handled in kvData (a page without data blocks never asks for it)
  var url = null, finished = {plotly: false, data: false}, gotBlocks = false, noData = false;
  function stopWorker() { if (worker) { worker.terminate(); worker = null; URL.revokeObjectURL(url); } }
  function startWorker() {
    url = URL.createObjectURL(new Blob(['"use strict";\nvar C = (' + core.toString() + ")();\n" + WORKER_MAIN],
                                       {type: "text/javascript"}));
    worker = new Worker(url);
    worker.onmessage = function(e) {
      var d = e.data;
      if (d.got) { MARK("kosbert-viz:worker"); gotBlocks = true; go(); return; }
      if ("plotly" in d || d.plotlyError) {
        finished.plotly = true; MARK("kosbert-viz:plotly-from-worker");
        if (d.plotlyError) plotlyFromWorker.reject(new Error(d.plotlyError)); else plotlyFromWorker.resolve(d.plotly);
      } else {
        finished.data = true;
        if (d.error) fromWorker.reject(new Error(d.error)); else fromWorker.resolve(d.ok);
      }
      if (finished.plotly && (finished.data || noData)) stopWorker();
    };
    worker.onerror = function(e) {
      if (e.preventDefault) e.preventDefault();
      stopWorker();
      var err = new Error("worker: " + (e.message || "failed"));
      fromWorker.reject(err); plotlyFromWorker.reject(err);
    };
    worker.postMessage({plotly: block("kv-plotly")});
  }
  // a Worker pays from ~20k points (0.43 s of data work at 100k; starting one costs ~0.05-0.1 s): the page says
  // how many it holds (data-kv-points on this script); window.kvWorkerMinPoints overrides the threshold
  var me = document.currentScript, points = Number(me && me.getAttribute("data-kv-points")) || 0;
  var minPoints = typeof window.kvWorkerMinPoints === "number" ? window.kvWorkerMinPoints : WORKER_MIN_POINTS;
  if (points >= minPoints) {
    try { startWorker(); } catch (err) { fromWorker.reject(err); plotlyFromWorker.reject(err); }
  } else {
    var none = new Error("no worker");
    none.quiet = true;
    fromWorker.reject(none); plotlyFromWorker.reject(none);
  }
  // Called by the page script once the data blocks are parsed: window.kvPrepared, the page's data, from the Worker
  // (prepared while plotly.js runs here) or on this thread when no Worker started or it failed. plotly.js runs once
  // the worker has the blocks (or after 0.5 s, the data then prepared here); at DOMContentLoaded when the page has no data.
  window.kvData = function() {
    if (window.kvPrepared) return window.kvPrepared;
    if (worker) {
      try { worker.postMessage({blocks: blocks()}); window.__kvPrepared = "worker"; } catch (err) { fromWorker.reject(err); }
    }
    unpackHere();
    window.kvPrepared = fromWorker.promise.catch(function(err) {
      if (!err.quiet) window.__kvWorkerError = String(err);
      go(); return onPage();
    });
    if (worker && finished.plotly) {  // the worker runs (it sent plotly.js): it gets the blocks without this thread
      go();
    } else {
      // a worker that has not taken the blocks by now (this thread was free): on the page.
      // window.kvWorkerGiveUpMs overrides the 0.5 s (tests on a loaded machine pin the Worker path with it)
      var giveUp = typeof window.kvWorkerGiveUpMs === "number" ? window.kvWorkerGiveUpMs : 500;
      setTimeout(function() {
        if (!gotBlocks) { fromWorker.reject(new Error("the worker did not take the data in " + giveUp + " ms")); stopWorker(); }
        go();
      }, giveUp);
    }
    return window.kvPrepared;
  };
  document.addEventListener("DOMContentLoaded", function() {
    if (!window.kvPrepared) { noData = true; go(); unpackHere(); if (finished.plotly) stopWorker(); }
  });
  function unpack(id) {  // a data block as text, gunzipped here
    try { var b = block(id); } catch (err) { return Promise.reject(err); }
    return C.unpack(b);
  }
  // plotly.js's source from the worker, or unpacked here when the worker fails, has not answered in 2 s or has not
  // answered when the page is parsed (this thread is free then, a slow worker would hold plotly.js up): first wins
  var here = null, plotlySource = new Promise(function(resolve, reject) {
    here = function() { if (here) { here = null; unpack("kv-plotly").then(resolve, reject); } };
    plotlyFromWorker.promise.then(resolve, function() { if (here) here(); });
    setTimeout(function() { if (here) here(); }, 2000);
  });
  function unpackHere() { if (here && !finished.plotly) here(); }
  window.kvPlotlyReady = Promise.all([plotlySource, started.promise]).then(function(parts) {
    MARK("kosbert-viz:plotly-unpacked");
    (0, eval)(parts[0]);  // plotly's UMD wrapper sets window.Plotly
    MARK("kosbert-viz:plotly");
    if (!window.Plotly) throw new Error("plotly.js did not define window.Plotly");
    return window.Plotly;
  });
  window.kvPlotlyReady.catch(function(err) { console.error("kosbert_viz report: plotly.js did not load: " + err); });
})();
""".replace("__ALPHABET__", B85_ALPHABET).replace("WORKER_MIN_POINTS", str(WORKER_MIN_POINTS))

UI_CSS = """
#kv-tools { display: flex; flex-wrap: wrap; gap: 8px 14px; align-items: flex-start; margin: 8px 0; font-size: 14px; }
#kv-tools label { display: flex; flex-direction: column; gap: 2px; }
#kv-tools select[multiple] { min-width: 150px; max-width: 260px; height: 90px; }
#kv-search { width: 240px; padding: 4px 6px; font-size: 14px; }
#kv-selection { margin-top: 10px; }
#kv-table-wrap { max-height: 420px; overflow: auto; border: 1px solid #ddd; }
table#kv-table { border-collapse: collapse; width: 100%; font-size: 13px; }
table#kv-table th { position: sticky; top: 0; background: #f3f3f3; cursor: pointer; text-align: left; }
table#kv-table td, table#kv-table th { border-bottom: 1px solid #eee; padding: 4px 6px; vertical-align: top; }
table#kv-table td.num { text-align: right; color: #666; }
#kv-loading { color: #666; }
"""

UI_HTML = """
<div id="kv-tools">
  <label>search <input id="kv-search" type="search" placeholder="찾기 / search: 환불, 배송 …" autocomplete="off"></label>
  <label>themes <select id="kv-theme-filter" multiple></select></label>
  <span id="kv-cat-filters" style="display:contents"></span>
  <div><button id="kv-clear" type="button">clear selection</button>
       <button id="kv-csv" type="button">download CSV</button><br>
       <small>lasso: drag on the map · box: the toolbar's box tool</small></div>
</div>
<div id="map-wrap"><p id="kv-loading">Opening the map…</p></div>
<div id="kv-selection"><p id="kv-count"></p>
  <div id="kv-table-wrap"><table id="kv-table"><thead></thead><tbody></tbody></table></div></div>
"""

# The page script. Everything user-written goes through textContent or esc(); nothing through innerHTML.
UI_JS = r"""
(function() {
  "use strict";
  var MARK = function(m) { if (window.performance && performance.mark) performance.mark(m); };
  MARK("kosbert-viz:start");
  var C = window.kvCore, hover = C.hover, prepared = window.kvData();
  function split(all, ends) {
    var e = new Uint32Array(ends), out = new Array(e.length - 1);
    for (var i = 0; i < out.length; i++) out[i] = all.substring(e[i], e[i + 1]);
    return out;
  }
  function csvCell(v) { v = String(v); return /[",\r\n]/.test(v) ? '"' + v.replace(/"/g, '""') + '"' : v; }

  Promise.all([prepared, window.kvPlotlyReady]).then(function(parts) {
    var p = parts[0], meta = p.meta, n = meta.n, origin = performance.timeOrigin;
    ["opened", "texts", "hover"].forEach(function(k) {  // where the data work ended, in this page's timeline
      try { performance.mark("kosbert-viz:" + k, {startTime: p.at[k] - origin}); } catch (e) { /* old browsers */ }
    });
    MARK("kosbert-viz:prepared");
    var fig = JSON.parse(p.fig);
    meta.texts = split(p.all, p.starts);
    var X = new Float32Array(p.X), Y = new Float32Array(p.Y), L = new Int32Array(p.L);
    var colNames = Object.keys(meta.columns), colCodes = {}, traceIdx = {};
    colNames.forEach(function(c, k) { colCodes[c] = new Int32Array(p.cols[k]); });
    p.traces.forEach(function(t) {
      traceIdx[t.trace] = new Int32Array(t.idx);
      var d = fig.data[t.trace];
      d.text = split(t.hover, t.ends); d.x = new Float32Array(t.xs); d.y = new Float32Array(t.ys);
    });
    MARK("kosbert-viz:unpacked");
    function themeName(code) { return code < 0 ? "noise" : (meta.names[String(code)] || ("cluster " + code)); }
    var hasPoints = n > 0;
    var searchTrace = -1;
    if (hasPoints && fig.data.length && fig.data.some(function(t) { return t.type === "scattergl"; })) {
      fig.data.push({type: "scattergl", mode: "markers", name: "search", x: [], y: [], text: [], showlegend: false,
                     hovertemplate: "%{text}<extra>search</extra>",
                     marker: {size: 9, color: "rgba(255,212,0,0.95)", line: {width: 1.2, color: "#111"}}});
      searchTrace = fig.data.length - 1;
      fig.layout.dragmode = "lasso";
    }
    var gd = document.getElementById("map");
    document.getElementById("kv-loading").remove();
    return Plotly.newPlot(gd, fig.data, fig.layout, {responsive: true, displaylogo: false}).then(function() {
      MARK("kosbert-viz:drawn");
      if (!hasPoints) return;
      setup(gd, meta, X, Y, L, colNames, colCodes, traceIdx, themeName, searchTrace);
    });
  }).catch(function(err) { console.error("kosbert_viz report: " + err); });

  function setup(gd, meta, X, Y, L, colNames, colCodes, traceIdx, themeName, searchTrace) {
    var n = meta.n, texts = meta.texts;
    var state = {lasso: null, hits: null, query: "", sortKey: "index", asc: true};
    var keep = new Uint8Array(n).fill(1);
    var normTexts = null;  // lower-cased NFC texts, built on the first search
    var themeSel = document.getElementById("kv-theme-filter");
    var codes = Object.keys(meta.names).map(Number).sort(function(a, b) { return a - b; });
    var anyNoise = false;
    for (var i = 0; i < n; i++) if (L[i] < 0) { anyNoise = true; break; }
    if (anyNoise) codes.push(-1);
    codes.forEach(function(c) { var o = document.createElement("option"); o.value = String(c); o.textContent = themeName(c); themeSel.appendChild(o); });
    var catBox = document.getElementById("kv-cat-filters"), catSels = {};
    colNames.forEach(function(c) {
      var lab = document.createElement("label"); lab.textContent = c;
      var sel = document.createElement("select"); sel.multiple = true; sel.className = "kv-cat-filter"; sel.dataset.col = c;
      meta.columns[c].forEach(function(v, j) { var o = document.createElement("option"); o.value = String(j); o.textContent = v; sel.appendChild(o); });
      lab.appendChild(sel); catBox.appendChild(lab); catSels[c] = sel; sel.addEventListener("change", applyFilters);
    });
    themeSel.addEventListener("change", applyFilters);
    var originals = {};
    Object.keys(traceIdx).forEach(function(t) { var d = gd.data[t]; originals[t] = {x: d.x, y: d.y, text: d.text}; });

    function chosen(sel) { return Array.from(sel.selectedOptions).map(function(o) { return Number(o.value); }); }
    function applyFilters() {
      var th = chosen(themeSel), thSet = new Set(th), cats = {};
      colNames.forEach(function(c) { var v = chosen(catSels[c]); if (v.length) cats[c] = new Set(v); });
      for (var i = 0; i < n; i++) {
        var ok = !th.length || thSet.has(L[i] < 0 ? -1 : L[i]);
        for (var c in cats) if (ok && !cats[c].has(colCodes[c][i])) ok = false;
        keep[i] = ok ? 1 : 0;
      }
      var ids = [], xs = [], ys = [], tx = [];
      Object.keys(traceIdx).forEach(function(t) {
        var idx = traceIdx[t], o = originals[t], x = [], y = [], txt = [];
        for (var j = 0; j < idx.length; j++) if (keep[idx[j]]) { x.push(o.x[j]); y.push(o.y[j]); txt.push(o.text[j]); }
        ids.push(Number(t)); xs.push(x); ys.push(y); tx.push(txt);
      });
      Plotly.restyle(gd, {x: xs, y: ys, text: tx}, ids).then(function() { render(); drawHits(); });
    }
    function inPolygon(px, py, xs, ys) {
      var inside = false;
      for (var i = 0, j = xs.length - 1; i < xs.length; j = i++) {
        if (((ys[i] > py) !== (ys[j] > py)) && (px < (xs[j] - xs[i]) * (py - ys[i]) / (ys[j] - ys[i]) + xs[i])) inside = !inside;
      }
      return inside;
    }
    gd.on("plotly_selected", function(ev) {
      if (!ev) return;  // a click without a drag
      var out = [];
      if (ev.lassoPoints && ev.lassoPoints.x) {
        var xs = ev.lassoPoints.x.map(Number), ys = ev.lassoPoints.y.map(Number);
        var x0 = Math.min.apply(null, xs), x1 = Math.max.apply(null, xs), y0 = Math.min.apply(null, ys), y1 = Math.max.apply(null, ys);
        for (var i = 0; i < n; i++) {
          if (!keep[i] || X[i] < x0 || X[i] > x1 || Y[i] < y0 || Y[i] > y1) continue;
          if (inPolygon(X[i], Y[i], xs, ys)) out.push(i);
        }
      } else if (ev.range && ev.range.x) {
        var rx = ev.range.x, ry = ev.range.y;
        for (var k = 0; k < n; k++) if (keep[k] && X[k] >= Math.min(rx[0], rx[1]) && X[k] <= Math.max(rx[0], rx[1])
                                     && Y[k] >= Math.min(ry[0], ry[1]) && Y[k] <= Math.max(ry[0], ry[1])) out.push(k);
      } else { return; }
      state.lasso = out;
      window.__kvSelection = out;
      render();
    });
    gd.on("plotly_deselect", function() { state.lasso = null; window.__kvSelection = null; render(); });
    document.getElementById("kv-clear").addEventListener("click", function() {
      state.lasso = null; window.__kvSelection = null; Plotly.restyle(gd, {selectedpoints: [null]}); render();
    });
    var search = document.getElementById("kv-search"), timer = null;
    search.addEventListener("input", function() { clearTimeout(timer); timer = setTimeout(runSearch, 150); });
    function runSearch() {
      var q = search.value.normalize("NFC").trim().toLowerCase();
      state.query = q;
      if (!q) { state.hits = null; render(); drawHits(); return; }
      if (!normTexts) normTexts = texts.map(function(t) { return t.normalize("NFC").toLowerCase(); });
      var hits = [];
      for (var i = 0; i < n; i++) if (normTexts[i].indexOf(q) !== -1) hits.push(i);
      state.hits = hits;
      render(); drawHits();
    }
    function drawHits() {
      if (searchTrace < 0) return;
      var x = [], y = [], t = [], cap = 20000;
      (state.hits || []).forEach(function(i) {
        if (!keep[i] || x.length >= cap) return;
        x.push(X[i]); y.push(Y[i]); t.push(hover(texts[i], meta.wrap, meta.max_chars));
      });
      Plotly.restyle(gd, {x: [x], y: [y], text: [t]}, [searchTrace]);
    }
    function current() {
      if (state.lasso === null && state.hits === null) return null;
      var base = state.lasso !== null ? state.lasso : state.hits, out = [];
      var hitSet = (state.lasso !== null && state.hits !== null) ? new Set(state.hits) : null;
      base.forEach(function(i) { if (keep[i] && (!hitSet || hitSet.has(i))) out.push(i); });
      return out;
    }
    var head = document.querySelector("#kv-table thead"), body = document.querySelector("#kv-table tbody");
    var cols = ["index", "theme"].concat(colNames, ["text"]);
    var tr = document.createElement("tr");
    cols.forEach(function(c) {
      var th = document.createElement("th"); th.textContent = c; th.dataset.key = c;
      th.addEventListener("click", function() { state.asc = state.sortKey === c ? !state.asc : true; state.sortKey = c; render(); });
      tr.appendChild(th);
    });
    head.appendChild(tr);
    function cell(i, c) {
      if (c === "index") return i;
      if (c === "theme") return themeName(L[i]);
      if (c === "text") return texts[i];
      return meta.columns[c][colCodes[c][i]];
    }
    function render() {
      var rows = current(), count = document.getElementById("kv-count");
      body.textContent = "";
      window.__kvRows = rows;
      if (rows === null) { count.textContent = "Lasso a region of the map or search to list texts here."; return; }
      var key = state.sortKey, sign = state.asc ? 1 : -1;
      if (key !== "index") rows = rows.slice().sort(function(a, b) {
        var u = cell(a, key), v = cell(b, key);
        return (u < v ? -1 : u > v ? 1 : a - b) * sign;
      }); else if (!state.asc) rows = rows.slice().reverse();
      var shown = Math.min(rows.length, 1000), frag = document.createDocumentFragment();
      for (var r = 0; r < shown; r++) {
        var row = document.createElement("tr");
        cols.forEach(function(c) { var td = document.createElement("td"); td.textContent = String(cell(rows[r], c)); if (c === "index") td.className = "num"; row.appendChild(td); });
        frag.appendChild(row);
      }
      body.appendChild(frag);
      count.textContent = rows.length.toLocaleString() + " texts" + (state.query ? " matching \u201c" + state.query + "\u201d" : "")
        + (state.lasso !== null ? " in the selection" : "") + (rows.length > shown ? " (first " + shown + " shown; the CSV has all)" : "");
    }
    document.getElementById("kv-csv").addEventListener("click", function() {
      var rows = current() || [];
      var lines = [cols.map(csvCell).join(",")];
      rows.forEach(function(i) { lines.push(cols.map(function(c) { return csvCell(cell(i, c)); }).join(",")); });
      var blob = new Blob(["\ufeff" + lines.join("\r\n") + "\r\n"], {type: "text/csv;charset=utf-8"});
      var a = document.createElement("a");
      a.href = URL.createObjectURL(blob); a.download = "selection.csv";
      document.body.appendChild(a); a.click(); a.remove();
      setTimeout(function() { URL.revokeObjectURL(a.href); }, 5000);
    });
    render();
    window.__kvReady = true;
  }
})();
"""


def _read_block(html_text: str, key: str) -> bytes:
    import re

    m = re.search(rf'<script type="application/octet-stream" id="kv-{key}" data-encoding="gzip\+base85" '
                  rf'data-length="(\d+)">([^<]*)</script>', html_text)
    if m is None:
        raise ValueError(f"not a kosbert_viz report: no kv-{key} data block")
    return gzip.decompress(b85decode(m.group(2), int(m.group(1))))


def _check_report_format(html_text: str) -> None:
    """Say which kind of page it is when it is not a report of this format (older reports, other pages)."""
    if 'data-encoding="gzip+base85"' in html_text:
        return
    if 'data-encoding="gzip+base64"' in html_text:
        raise ValueError("this report was written by an older kosbert_viz (gzip+base64 data blocks); read_report "
                         "reads the current format (gzip+base85): write the report again with kv.write_report")
    if "kosbert_viz" in html_text:
        raise ValueError("this report was written by an older kosbert_viz, before reports embedded their data "
                         "(texts, themes, positions); write it again with kv.write_report to read it back")
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
    return {"figure": fig, "meta": meta, "x": x, "y": y, "labels": labels, "columns": columns,
            "plotly_js": blocks["plotly"].decode("utf-8")}
