// The report's loader (kosbert_viz.report): runs right after the plotly.js block, early in the page. It holds the
// decoder every data block goes through, the Worker that prepares the page's data (window.kvData(), called once the
// data blocks are parsed), and the one promise every script that draws waits on (window.kvPlotlyReady: plotly.js
// decompressed and run). Its settings come from the JSON block kv-config that precedes it (the base85 alphabet of
// the data blocks, the Worker threshold); this file is the same in every report.
(function() {
  "use strict";
  window.PlotlyConfig = {MathJaxConfig: "local"};  // read by plotly.js when it runs
  var CONFIG = JSON.parse(document.getElementById("kv-config").textContent);
  var MARK = function(m) { if (window.performance && performance.mark) performance.mark(m); };
  MARK("kosbert-viz:loader");
  // Everything that turns the data blocks into arrays and hover strings. Self-contained: the page runs it in a
  // Worker built from its source (core.toString()), and on the main thread when no Worker can be started.
  // A: the 85 characters of the data blocks' base85 (kv-config's alphabet).
  function core(A) {
    "use strict";
    var T = new Uint8Array(128);
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
  var C = core(CONFIG.alphabet);
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
    var source = '"use strict";\nvar C = (' + core.toString() + ")(" + JSON.stringify(CONFIG.alphabet) + ");\n";
    url = URL.createObjectURL(new Blob([source + WORKER_MAIN], {type: "text/javascript"}));
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
  var minPoints = typeof window.kvWorkerMinPoints === "number" ? window.kvWorkerMinPoints : CONFIG.workerMinPoints;
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
