// The report's page script (kosbert_viz.report): runs after the data blocks, draws the map once plotly.js and the
// page's data are ready (loader.js), then wires the search box, the filters, the lasso table and the CSV download.
// Everything user-written goes through textContent or esc(); nothing through innerHTML.
(function() {
  "use strict";
  var MARK = function(m) { if (window.performance && performance.mark) performance.mark(m); };
  MARK("kosbert-viz:start");
  var C = window.kvCore, hover = C.hover, prepared = window.kvData();
  var T = JSON.parse(document.getElementById("kv-labels").textContent);  // the page's words (report/labels.py)
  function fill(s, values) { return s.replace(/\{(\w+)\}/g, function(m, k) { return String(values[k]); }); }
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
    function themeName(code) { return code < 0 ? T.js_noise : (meta.names[String(code)] || (T.js_theme_n + code)); }
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
      if (window.kvLabels) window.kvLabels.attach(gd);  // names placed at the real size, again after each zoom
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
    var heading = {index: T.js_col_index, theme: T.js_col_theme, text: T.js_col_text};
    var tr = document.createElement("tr");
    cols.forEach(function(c) {
      var th = document.createElement("th"); th.textContent = heading[c] || c; th.dataset.key = c;
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
      if (rows === null) { count.textContent = T.js_empty; return; }
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
      count.textContent = fill(T.js_texts, {n: rows.length.toLocaleString()}) + (state.query ? fill(T.js_matching, {q: state.query}) : "")
        + (state.lasso !== null ? T.js_in_selection : "") + (rows.length > shown ? fill(T.js_first, {shown: shown}) : "");
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
